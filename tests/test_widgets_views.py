"""Views without a browser: state -> view traits, gesture messages -> state + acks,
isosurfaces, and the composed panel's controls."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _panel_fixtures import synthetic_latentset, synthetic_state
from cryolatent.selection import Selection
from cryolatent.widgets import LatentPanel, ScatterView, VolumeView
from cryolatent.widgets.scatter import plotly_js


@pytest.fixture
def state():
    return synthetic_state(n=600, box=32, seed=2)


@pytest.fixture
def sent(monkeypatch):
    """Messages the widgets send to the front end: [(widget, content, buffers)]."""
    out = []
    import ipywidgets

    monkeypatch.setattr(
        ipywidgets.Widget, "send", lambda self, content, buffers=None: out.append((self, content, buffers))
    )
    return out


def _msg(view, kind, seq, idx, **extra):
    buf = np.asarray(idx, dtype=np.int32).tobytes()
    content = {"type": "select", "kind": kind, "seq": seq, "view": "v1", "n": len(idx), **extra}
    view._handle_custom_msg(content, [memoryview(buf)])


def test_state_pushes_to_view(state):
    view = ScatterView(state)
    x = np.frombuffer(view.x, np.float32)
    np.testing.assert_allclose(x, state.xy[:, 0].astype(np.float32))
    assert view.selectedpoints is None and view.color_kind == "categorical"
    state.select_clusters([2])
    expected = set(np.flatnonzero(state.labels["kmeans"] == 2))
    assert set(view.selectedpoints) == expected
    state.set_filter("defocus_A", 15000, None)
    assert set(view.selectedpoints) == set(state.kept_positions) < expected
    state.colour_by = "defocus_A"
    assert view.color_kind == "continuous" and view.color_title == "defocus_A"
    state.colour_by = "none"
    assert view.color_kind == "none" and view.color == b""
    state.set_axes("z", 2, 5)
    np.testing.assert_allclose(np.frombuffer(view.y, np.float32), state.embeddings["z"][:, 5].astype(np.float32))
    assert view.y_label == "z[5]"
    state.set_point(11)
    assert view.point == 11


def test_gestures_in_quick_succession_are_applied_in_order_and_acked(state, sent, tmp_path):
    log = tmp_path / "log.jsonl"
    view = ScatterView(state, log_path=log)
    rng = np.random.default_rng(0)
    gestures = []
    for seq in range(1, 31):
        kind = ["box", "lasso", "click"][seq % 3]
        idx = rng.choice(state.n, size=1 if kind == "click" else rng.integers(0, 200), replace=False)
        gestures.append((kind, seq, idx))
        _msg(view, kind, seq, idx)
    acks = [c for w, c, _ in sent if w is view and c.get("type") == "ack"]
    assert [a["seq"] for a in acks] == list(range(1, 31))
    assert all(a["view"] == "v1" and not a["error"] for a in acks)
    assert [a["n"] for a in acks] == [len(i) for _, _, i in gestures]
    assert view.n_received == 30
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["kind"] == "view"
    records = [r for r in records if r["kind"] != "view"]
    assert [(r["kind"], r["seq"]) for r in records] == [(k, s) for k, s, _ in gestures]
    last_sel = [g for g in gestures if g[0] != "click"][-1][2]
    last_click = [g for g in gestures if g[0] == "click"][-1][2]
    assert set(state.kept_positions) == set(last_sel) == set(view.selectedpoints)
    assert state.current_point == last_click[0] == view.point
    assert state.history[-1]["kind"] in ("box", "lasso")


def test_gesture_log_describes_the_view_and_defaults_to_env(state, tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("CRYOLATENT_WIDGET_LOG", str(log))
    view = ScatterView(state)  # log_path from the environment
    assert view.log_path == str(log)
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert rec["kind"] == "view" and rec["embedding"] == state.embedding
    np.testing.assert_allclose(np.c_[rec["x"], rec["y"]], state.xy)
    codes = np.asarray(rec["labels"])
    cats = np.asarray(rec["categories"])
    assert state.colour_by == "kmeans"
    np.testing.assert_array_equal(cats[codes], state.labels["kmeans"].astype(str))
    # changing the axes logs the new coordinates; a non-categorical colour drops labels
    state.set_axes("z", 2, 5)
    state.colour_by = "defocus_A"
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["kind"] == "view" and last["embedding"] == "z" and (last["x_dim"], last["y_dim"]) == (2, 5)
    np.testing.assert_allclose(last["y"], state.embeddings["z"][:, 5])
    assert "labels" not in last
    # an explicit empty path turns the log off even with the variable set
    before = log.read_text()
    quiet = ScatterView(synthetic_state(n=50, seed=3), log_path="")
    assert quiet.log_path is None and log.read_text() == before
    monkeypatch.delenv("CRYOLATENT_WIDGET_LOG")
    assert ScatterView(state).log_path is None


def test_deselect_bad_gestures_and_plotly_request(state, sent):
    view = ScatterView(state)
    _msg(view, "box", 1, [1, 2, 3])
    _msg(view, "deselect", 2, [])
    assert state.selection is None and view.selectedpoints is None
    _msg(view, "box", 3, [10**6])  # out of range: error message + ack, state unchanged
    _msg(view, "wiggle", 4, [])
    acks = [c for _, c, _ in sent if c.get("type") == "ack"]
    assert [a["seq"] for a in acks] == [1, 2, 3, 4]
    assert acks[2]["error"] and acks[3]["error"] and state.message_level == "error"
    assert state.selection is None
    view._handle_custom_msg({"type": "need_plotly"}, [])
    content, buffers = sent[-1][1], sent[-1][2]
    assert content == {"type": "plotly_js"} and buffers[0] is plotly_js()
    assert b"window.Plotly" in plotly_js()[-300:]


def test_volume_view_follows_point_and_threshold(state):
    vv = VolumeView(state)
    assert vv.mesh.n_faces == 0 and vv.slider.disabled
    state.set_point(3)
    n1 = vv.mesh.n_faces
    assert n1 > 0 and not vv.slider.disabled
    mean, std = float(state.volume.mean()), float(state.volume.std())  # the slider is in σ of the shown volume
    assert vv.slider.min == pytest.approx((float(state.volume.min()) - mean) / std)
    assert vv.slider.value == pytest.approx((state.threshold - mean) / std)
    vv.slider.value = vv.slider.max * 0.8  # tighter surface
    assert state.threshold == pytest.approx(mean + vv.slider.value * std) and 0 < vv.mesh.n_faces < n1
    assert "point 3" in vv.mesh.title and "triangles" in vv.info.value
    vv.slider.value = vv.slider.max  # the slider's end: no surface, a message, no error
    assert vv.mesh.n_faces == 0 and "no surface" in vv.info.value


def test_volume_view_mesh_is_the_librarys_centred_isosurface(state):
    from cryolatent import volumes

    vv = VolumeView(state)
    state.set_point(5)
    verts, faces = volumes.isosurface(state.volume, state.threshold, apix=state.apix, centred=True)
    assert vv.mesh.n_faces == len(faces) > 0
    np.testing.assert_allclose(np.frombuffer(vv.mesh.vertices, np.float32).reshape(-1, 3), verts)


def test_click_at_box_64_draws_a_mesh(sent):
    st = synthetic_state(n=200, box=64, seed=0)
    view, vv = ScatterView(st), VolumeView(st)
    _msg(view, "click", 1, [5])
    assert vv.mesh.n_faces > 0


def test_napari_button_reflects_availability(state, monkeypatch):
    from cryolatent.widgets import napari_view

    monkeypatch.setattr(napari_view, "napari_available", lambda: False)
    vv = VolumeView(state)
    assert vv.napari_button.disabled and "not installed" in vv.napari_button.tooltip
    monkeypatch.setattr(napari_view, "napari_available", lambda: True)
    vv = VolumeView(state)
    assert not vv.napari_button.disabled
    assert vv.send_to_napari() is None and state.message_level == "warning"  # no volume yet


def _click(button):
    button._click_handlers(button)


def _button(panel, label):
    from ipywidgets import Button

    def walk(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from walk(c)

    return next(w for w in walk(panel) if isinstance(w, Button) and w.description == label)


def test_panel_controls_drive_state(state, tmp_path):
    from cryolatent.io import load_index

    p = LatentPanel(state)
    p.embedding.value = "pca"
    dims = [v for _, v in p.x_dim.options if isinstance(v, int)]
    assert state.embedding == "pca" and dims == [0, 1, 2, 3]
    p.y_dim.value = 3
    assert state.y_dim == 3 and p.scatter.y_label == "pca[3]"
    # any covariate can be an axis: defocus against pca[0]
    assert ("defocus_A", "defocus_A") in p.x_dim.options
    p.y_dim.value = "defocus_A"
    assert state.y_column == "defocus_A" and p.scatter.y_label == "defocus_A"
    np.testing.assert_array_equal(np.frombuffer(p.scatter.y, np.float32),
                                  state.covariates["defocus_A"].astype(np.float32))
    p.y_dim.value = 3
    assert state.y_column == "" and p.scatter.y_label == "pca[3]"
    p.colour.value = "density"
    assert p.scatter.color_kind == "continuous"
    # tool, selection mode and undo are the scatter's toolbar (in the page); they map to the state
    assert not hasattr(p, "dragmode") and p.scatter.dragmode == "lasso"
    p.scatter.select_mode = "add"  # the page's "add" button
    assert state.select_mode == "add"
    state.select_mode = "intersect"
    assert p.scatter.select_mode == "intersect"
    state.select_mode = "replace"

    p.clusters.value = (0, 2)
    _click(_button(p, "select"))
    assert set(state.labels["kmeans"][state.kept_positions]) == {0, 2}
    assert "kept" in p.status.value and f"{state.n_kept:,}" in p.status.value
    p.sel_name.value = "a"
    _click(_button(p, "save as"))
    assert p.named.options == ("a",) and p.comb_a.options == ("a",)
    _click(_button(p, "invert"))
    assert set(state.labels["kmeans"][state.kept_positions]) == {1}

    p.cov.value = "defocus_A"
    p.cov_range.value = (10000.0, 20000.0)
    _click(_button(p, "apply"))
    assert state.filters["defocus_A"] == (10000.0, 20000.0)

    # export: empty -> message, nothing written; then a real one; then no silent overwrite
    state.select_indices([])
    p.export_path.value = str(tmp_path / "x.pkl")
    _click(_button(p, "export"))
    assert not (tmp_path / "x.pkl").exists() and "empty" in p.status.value
    _click(_button(p, "clear filters"))
    state.select_indices([4, 5, 6])
    _click(_button(p, "export"))
    np.testing.assert_array_equal(load_index(tmp_path / "x.pkl"), [4, 5, 6])
    state.select_indices([7])
    _click(_button(p, "export"))
    assert "exist" in p.status.value
    p.overwrite.value = True
    _click(_button(p, "export"))
    np.testing.assert_array_equal(load_index(tmp_path / "x.pkl"), [7])
    # the selection and the rest in one step; neither written when one of them exists
    p.export_rest.value, p.overwrite.value = True, False
    p.export_path.value = str(tmp_path / "y.pkl")
    (tmp_path / "y_inverse.pkl").write_text("old")
    _click(_button(p, "export"))
    assert not (tmp_path / "y.pkl").exists() and "y_inverse.pkl already exists" in p.status.value
    (tmp_path / "y_inverse.pkl").unlink()
    _click(_button(p, "export"))
    np.testing.assert_array_equal(load_index(tmp_path / "y.pkl"), [7])
    rest = load_index(tmp_path / "y_inverse.pkl")
    assert len(rest) == state.n - 1 and 7 not in rest and "and the other" in p.status.value
    p.export_rest.value = False

    # selections survive a "kernel restart": a fresh panel loads them from disk (Selection JSON)
    p.overwrite.value = False
    p.sel_path.value = str(tmp_path / "sel")
    _click(_button(p, "save"))
    assert Selection.load(tmp_path / "sel" / "a.json", state.ls) == state.selections["a"]
    _click(_button(p, "save"))  # again: refused without "overwrite"
    assert p.state.message_level == "error" and "exists" in p.status.value
    fresh = LatentPanel.from_latentset(synthetic_latentset(n=600, seed=2))
    fresh.sel_path.value = str(tmp_path / "sel")
    _click(_button(fresh, "load"))
    assert fresh.named.options == ("a",)
    assert fresh.state.selection == state.selection and fresh.state.n_kept == state.n_kept == 1

    # bad input from a control becomes a message, not an exception
    p.comb_a.value = p.comb_b.value = None
    _click(_button(p, "combine"))
    assert p.state.message_level == "warning"


def test_gestures_carry_their_mode_and_undo(state, sent, tmp_path):
    log = tmp_path / "log.jsonl"
    view = ScatterView(state, log_path=log)
    a, b = np.arange(0, 40), np.arange(30, 60)
    _msg(view, "box", 1, a)
    view.select_mode = "add"  # the toolbar's mode: gestures without a mode of their own use it
    _msg(view, "lasso", 2, b)
    np.testing.assert_array_equal(state.selection.indices, np.arange(60))
    assert view.n_undo == state.n_undo == 2
    # the mode the gesture was drawn in wins over a mode change Python has not seen yet
    _msg(view, "box", 3, np.arange(50, 60), mode="subtract")
    np.testing.assert_array_equal(state.selection.indices, np.arange(50))
    _msg(view, "box", 4, np.arange(45, 200), mode="intersect")
    np.testing.assert_array_equal(state.selection.indices, np.arange(45, 50))
    _msg(view, "undo", 5, [])
    np.testing.assert_array_equal(state.selection.indices, np.arange(50))
    np.testing.assert_array_equal(view.selectedpoints, np.arange(50))
    _msg(view, "undo", 6, [])
    _msg(view, "undo", 7, [])
    np.testing.assert_array_equal(state.selection.indices, a)
    _msg(view, "box", 8, [1], mode="sideways")  # refused, acked with the error, selection kept
    acks = [c for w, c, _ in sent if w is view and c.get("type") == "ack"]
    assert [x["seq"] for x in acks] == list(range(1, 9)) and acks[-1]["error"] and not acks[-2]["error"]
    np.testing.assert_array_equal(state.selection.indices, a)
    modes = [json.loads(line).get("mode") for line in log.read_text().splitlines()[1:]]
    assert modes[:4] == [None, None, "subtract", "intersect"]
    view.select_mode = "nonsense"  # a bad value from the page becomes a message, the state keeps its mode
    assert state.select_mode == "add" and state.message_level == "error"


def test_hover_labels_carry_the_original_particle_index():
    from _panel_fixtures import panel_state

    rng = np.random.default_rng(0)
    index = np.array([7, 3, 99, 12, 40])
    st = panel_state({"z": rng.normal(size=(5, 2))}, index=index)
    view = ScatterView(st)
    assert np.array_equal(np.frombuffer(view.particle, dtype=np.int32), index)



def test_outline_gestures_select_in_python_with_their_mode(state, sent, tmp_path):
    """The page sends a box range or a lasso outline (data units), no indices: Python selects."""
    log = tmp_path / "log.jsonl"
    view = ScatterView(state, log_path=log)
    x, y = state.xy.T
    (x0, x1), (y0, y1) = np.quantile(x, [0.2, 0.7]), np.quantile(y, [0.1, 0.6])
    box = {"type": "select", "kind": "box", "seq": 1, "view": "v", "mode": "replace", "t": 1.0,
           "range": {"x": [x1, x0], "y": [y0, y1]}}
    view._handle_custom_msg(box, [])
    want = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    np.testing.assert_array_equal(state.kept_positions, want)
    cx, cy = np.median(x), np.median(y)
    t = np.linspace(0, 2 * np.pi, 13)[:-1]
    lasso = {"x": list(cx + np.ptp(x) / 5 * np.cos(t)), "y": list(cy + np.ptp(y) / 5 * np.sin(t))}
    msg = {"type": "select", "kind": "lasso", "seq": 2, "view": "v", "mode": "subtract", "lasso": lasso}
    view._handle_custom_msg(msg, [])
    from cryolatent.selection import in_polygon

    inside = np.flatnonzero(in_polygon(state.xy, np.c_[lasso["x"], lasso["y"]]))
    assert 0 < len(inside) and len(np.intersect1d(inside, want)) > 0
    np.testing.assert_array_equal(state.kept_positions, np.setdiff1d(want, inside))
    acks = [c for _, c, _ in sent if c.get("type") == "ack"]
    assert [(a["seq"], a["n"], a["n_kept"]) for a in acks] == [(1, len(want), len(want)),
                                                            (2, len(inside), state.n_kept)]
    recs = [json.loads(line) for line in log.read_text().splitlines()][1:]
    assert recs[0]["indices"] == want.tolist() and recs[1]["indices"] == inside.tolist()
    assert recs[0]["sent_at"] == 1.0 and recs[0]["received"] <= recs[0]["applied"]


def test_hover_columns_are_sent_after_the_first_draw(state, sent):
    view = ScatterView(state)
    assert view.hover_columns() == ["kmeans", "defocus_A", "log_likelihood"]
    view._handle_custom_msg({"type": "need_hover"}, [])
    content, buffers = sent[-1][1], sent[-1][2]
    assert content["type"] == "hover" and content["names"] == view.hover_columns()
    cats, codes = content["categories"][0], np.frombuffer(buffers[0], np.float32)
    np.testing.assert_array_equal(np.asarray(cats)[codes.astype(int)], state.labels["kmeans"].astype(str))
    np.testing.assert_allclose(np.frombuffer(buffers[1], np.float32), state.covariates["defocus_A"], rtol=1e-6)
    assert content["categories"][1] is None


def test_marker_size_shrinks_with_the_number_of_points():
    from cryolatent.widgets.scatter import marker_size

    sizes = [marker_size(n) for n in (1_000, 100_000, 1_000_000)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


def test_sections_open_on_demand_and_redraw_only_while_open(state):
    p = LatentPanel(state)
    assert p.sections.selected_index is None and p.views == {}  # nothing built until opened
    assert list(p.sections.titles) == ["particles", "covariate histograms", "trajectory", "latent pairs",
                                       "3-D view"]  # no project: no retrain
    pairs = p.open_section("latent pairs")
    assert p.sections.selected_index == 3 and pairs.live
    first = pairs.image.value
    assert first[:4] == b"\x89PNG"
    state.select_clusters([1])
    assert pairs.image.value != first  # open: follows the selection
    p.open_section(None)
    shown = pairs.image.value
    state.select_clusters([2])
    assert not pairs.live and pairs.image.value == shown  # closed: left alone ...
    p.open_section("latent pairs")
    assert pairs.image.value != shown  # ... and brought up to date when opened again
    gallery = p.open_section("particles")
    assert gallery is p.views["particles"] and not pairs.live
