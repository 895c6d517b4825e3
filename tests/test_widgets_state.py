"""PanelState without any UI: selections (Selection objects), filters, colours, volumes
(through a cached volumes.Decoder), export and persistence (Selection JSON)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from _panel_fixtures import panel_state, synthetic_state
from cryolatent.latent import LatentSet
from cryolatent.selection import Selection
from cryolatent.volumes import default_threshold
from cryolatent.tl.embedding import knn_density
from cryolatent.widgets.state import PanelState


@pytest.fixture
def grid_state():
    """A 10x10 grid of points at integer (x, y) (position 10 y + x); labels = y // 4; covariates x, y."""
    x, y = np.meshgrid(np.arange(10.0), np.arange(10.0))
    xy = np.c_[x.ravel(), y.ravel()]
    z = np.c_[xy, xy.sum(1), np.zeros(100)]
    labels = {"cluster": (xy[:, 1] // 4).astype(int)}
    cov = {"defocus_A": xy[:, 0] * 1000.0, "score": xy[:, 1]}
    calls = []

    def decode(zs):  # the volume of point (x, y) is filled with its position 10 y + x
        calls.extend(int(10 * zi[1] + zi[0]) for zi in zs)
        return np.stack([np.full((4, 4, 4), 10 * zi[1] + zi[0], np.float32) for zi in zs])

    st = panel_state({"umap": xy, "z": z}, cov, labels, decode)
    st.decode_calls = calls
    return st


def test_importing_state_pulls_in_no_ui():
    import subprocess

    code = "import sys, cryolatent.widgets.state; print(any(m in sys.modules for m in ('ipywidgets', 'plotly', 'anywidget')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_defaults(grid_state):
    s = grid_state
    assert s.embedding == "umap" and (s.x_dim, s.y_dim) == (0, 1) and set(s.embeddings) == {"z", "umap"}
    assert s.colour_by == "cluster" and s.label_key == "cluster"
    assert s.selection is None and s.n_kept == 100 and s.highlighted is None
    assert s.colour_options == ["none", "density", "cluster", "defocus_A", "score"]


def test_state_holds_the_latentset_and_selections(grid_state):
    s = grid_state
    assert isinstance(s.ls, LatentSet) and s.embeddings["umap"] is s.ls.emb["umap"]
    sel = s.select_box(0, 1, 0, 1)
    assert isinstance(sel, Selection) and s.selection is sel and sel.name == "box"
    assert sel.indices.tolist() == [0, 1, 10, 11]
    # the panel's selections are the library's: they combine with Selections made outside it
    outside = Selection.from_indices(s.ls, [1, 2], "outside")
    assert (s.selection | outside).indices.tolist() == [0, 1, 2, 10, 11]
    s.select_indices(outside, mode="intersect")
    assert s.kept_positions.tolist() == [1]
    with pytest.raises(ValueError, match="another dataset"):
        s.select_indices(Selection([0], 100, fingerprint="0" * 16))


def test_axes_any_embedding(grid_state):
    s = grid_state
    s.set_axes("z", 2, 0)
    np.testing.assert_array_equal(s.xy[:, 0], s.embeddings["z"][:, 2])
    with pytest.raises(Exception):
        s.embedding = "tsne"
    with pytest.raises(Exception):
        s.x_dim = 7


def test_select_box_polygon_indices_clusters(grid_state):
    s = grid_state
    m = s.select_box(2, 4, 6, 5)  # corners in any order, inclusive
    assert len(m) == 3 * 2 and s.n_kept == 6
    m = s.select_polygon([(-0.5, -0.5), (2.5, -0.5), (-0.5, 2.5)])  # triangle: x + y <= 2
    assert set(m.indices) == {i for i in range(100) if i % 10 + i // 10 <= 2} and s.history[-1]["kind"] == "lasso"
    with pytest.raises(ValueError):  # the library's polygon check
        s.select_polygon([(0, 0), (1, 1)])
    s.select_indices([1, 5, 7])
    assert set(s.kept_positions) == {1, 5, 7}
    s.select_indices(np.array([5, 9]), mode="add")
    assert set(s.kept_positions) == {1, 5, 7, 9}
    s.select_indices([5], mode="subtract")
    assert set(s.kept_positions) == {1, 7, 9}
    s.select_indices(iter([7, 9, 11]), mode="intersect")  # any iterable
    assert set(s.kept_positions) == {7, 9}
    s.select_clusters([2])
    assert s.n_kept == 20 and set(s.labels["cluster"][s.kept_positions]) == {2}
    with pytest.raises(ValueError):
        s.select_indices([100])
    with pytest.raises(ValueError, match="mode"):
        s.select_indices([1], mode="xor")


def test_invert_clear_and_named_algebra(grid_state):
    s = grid_state
    a = s.save_selection("a", s.select_box(0, 4, 0, 9)).mask  # x <= 4
    b = s.save_selection("b", s.select_box(0, 9, 0, 4)).mask  # y <= 4
    assert len(s.combine("a", "b", "union")) == (a | b).sum() == 75
    assert len(s.combine("a", "b", "intersection")) == 25
    np.testing.assert_array_equal(s.combine("a", "b", "difference").mask, a & ~b)
    s.combine("a", "b", "union", name="ab")
    np.testing.assert_array_equal(s.selections["ab"].mask, a | b)
    assert s.selections["ab"].name == "ab"
    # De Morgan over the named sets
    assert s.invert("ab") == (s.invert("a") & s.invert("b"))
    s.use_selection("a")
    s.invert()
    np.testing.assert_array_equal(s.selection.mask, ~a)
    s.clear_selection()
    assert s.selection is None and s.n_kept == 100
    s.invert()  # inverting "nothing selected" selects everything
    assert s.n_kept == 100
    s.delete_selection("ab")
    assert set(s.selections) == {"a", "b"}
    with pytest.raises(KeyError):
        s.use_selection("ab")
    with pytest.raises(ValueError, match="op"):
        s.combine("a", "b", "xor")
    with pytest.raises(ValueError, match="name"):
        s.save_selection("current")  # reserved for the kept particles on disk


def test_selection_changes_notify_observers(grid_state):
    s = grid_state
    seen = []
    s.observe(lambda c: seen.append((c["name"], None if c["new"] is None else len(c["new"]))),
              names=["selection", "selections"])
    s.select_indices([1, 2])
    s.save_selection("two")
    s.clear_selection()
    assert seen == [("selection", 2), ("selections", 1), ("selection", None)]


def test_filters_and_kept(grid_state):
    s = grid_state
    s.set_filter("defocus_A", 2000, 5000)  # x in 2..5
    assert s.n_kept == 40 and s.highlighted is not None and len(s.highlighted) == 40
    s.set_filter("score", hi=1)  # and y in 0..1
    assert s.n_kept == 8
    s.select_clusters([0])  # y in 0..3: still 8
    assert s.n_kept == 8
    np.testing.assert_array_equal(s.kept_indices, [2, 3, 4, 5, 12, 13, 14, 15])
    s.clear_filter("score")
    assert s.n_kept == 16
    s.clear_filter()
    assert s.n_kept == 40 and s.filters == {}
    with pytest.raises(KeyError):
        s.set_filter("nope", 0, 1)


def test_colour_values(grid_state):
    s = grid_state
    v, categorical, cats = s.colour_values()
    assert categorical and cats == [0, 1, 2] and v.max() == 2
    s.colour_by = "defocus_A"
    v, categorical, _ = s.colour_values()
    assert not categorical and v[3] == 3000
    s.colour_by = "density"
    assert s.colour_values()[0].shape == (100,)
    with pytest.raises(Exception):
        s.colour_by = "nothing"


def test_knn_density_higher_in_dense_blob():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(scale=0.1, size=(200, 2)), rng.normal(scale=3.0, size=(200, 2))]
    d = knn_density(x)
    assert d[:200].mean() > d[200:].mean() + 3


def test_density_computed_once(grid_state, monkeypatch):
    import cryolatent.widgets.state as mod

    calls = []
    real = mod.knn_density
    monkeypatch.setattr(mod, "knn_density", lambda x, k=15: calls.append(1) or real(x, k))
    grid_state.colour_by = "density"
    grid_state.colour_values()
    grid_state.colour_values()
    assert len(calls) == 1


def test_point_volume_is_decoded_once_and_threshold_is_the_librarys(grid_state):
    s = grid_state
    s.set_point(7)
    s.set_point(7)
    assert s.current_point == 7 and s.volume[0, 0, 0] == 7 and s.decode_calls == [7]  # one cache: the Decoder's
    s.set_point(200)
    assert s.message_level == "error" and s.current_point == 7
    st = synthetic_state(n=50, box=16, seed=0)
    vol = st.set_point(3)
    assert st.threshold == pytest.approx(default_threshold(vol)) == pytest.approx(np.percentile(vol, 99))
    st.threshold = 0.5 * float(vol.max())  # a threshold inside the next volume's range is kept
    st.set_point(4)
    assert st.threshold == pytest.approx(0.5 * float(vol.max()))


def test_decoder_errors_become_messages():
    def bad(z):
        raise RuntimeError("no GPU")

    s = panel_state({"u": np.zeros((3, 2))}, decode=bad)
    assert s.set_point(1) is None
    assert s.message_level == "error" and "no GPU" in s.message
    s2 = panel_state({"u": np.zeros((3, 2))})
    assert s2.set_point(1) is None and s2.message_level == "warning"
    with pytest.raises(RuntimeError, match="no decoder"):
        s2.volume_at(1)


def test_export_delegates_and_empty_writes_nothing(grid_state, tmp_path):
    s = grid_state
    got = []
    s.exporter = lambda pos, path, kind, force=False: got.append((pos.copy(), path, kind))
    s.select_box(100, 200, 100, 200)  # empty
    assert s.export(tmp_path / "a.star", "star") is None
    assert got == [] and s.message_level == "error" and "empty" in s.message
    s.select_indices([3, 4])
    assert s.export(tmp_path / "a.star", "star") is not None
    np.testing.assert_array_equal(got[0][0], [3, 4])
    assert got[0][2] == "star"
    assert s.export(tmp_path / "a.x", "xyz") is None and s.message_level == "error"


def test_default_export_writes_cryodrgn_index_with_original_indices(tmp_path):
    from cryolatent.io import load_index

    s = panel_state({"u": np.arange(10.0).reshape(5, 2)}, index=np.array([10, 11, 12, 13, 14]))
    s.select_indices([0, 3])
    path = s.export(tmp_path / "ind.pkl")
    np.testing.assert_array_equal(load_index(path), [10, 13])
    assert not (tmp_path / "ind_inverse.pkl").exists()
    assert s.export(tmp_path / "ind.pkl") is None and "exist" in s.message  # no silent overwrite
    assert s.export(tmp_path / "ind.pkl", force=True) is not None
    assert s.export(tmp_path / "p.star", "star") is None and "stack" in s.message


def test_selections_are_saved_as_selection_json_and_reload_after_restart(grid_state, tmp_path):
    s = grid_state
    s.save_selection("left side", s.select_box(0, 3, 0, 9))
    s.select_clusters([1])
    s.set_filter("defocus_A", 1000, None)
    folder = tmp_path / "sel"
    written = s.save_selections(folder)
    assert sorted(p.name for p in written) == ["current.json", "left_side.json"]
    # the library's format: Selection.load reads each file back, checked against the dataset
    left = Selection.load(folder / "left_side.json", s.ls)
    assert left.name == "left side" and left == s.selections["left side"]
    assert Selection.load(folder / "current.json", s.ls).indices.tolist() == s.kept_positions.tolist()
    assert json.loads((folder / "current.json").read_text())["format"] == "cryolatent.Selection"
    # a fresh panel (a kernel restart) gets the named selections and the kept particles back
    fresh = panel_state(s.embeddings, s.covariates, s.labels)
    fresh.load_selections(folder)
    assert fresh.selections == s.selections and fresh.selections["left side"].name == "left side"
    np.testing.assert_array_equal(fresh.kept_mask, s.kept_mask)
    assert fresh.n_kept == s.n_kept == 36 and fresh.filters == {}  # y in 4..7, x >= 1
    # never overwrite without force; nothing is written when refused
    s.save_selection("other", [1, 2])
    assert s.save_selections(folder) is None and s.message_level == "error" and "exists" in s.message
    assert not (folder / "other.json").exists()
    assert len(s.save_selections(folder, force=True)) == 3
    assert Selection.load(folder / "other.json", s.ls).indices.tolist() == [1, 2]
    # another dataset's selections are refused, and nothing changes
    other = panel_state({"u": np.zeros((7, 2))})
    other.load_selections(folder)
    assert other.message_level == "error" and "another dataset" in other.message and other.selections == {}
    other.load_selections(tmp_path / "nothing here")
    assert other.message_level == "error" and "no saved selections" in other.message


def test_nothing_selected_reloads_as_nothing_selected(grid_state, tmp_path):
    grid_state.save_selections(tmp_path / "sel")
    fresh = panel_state(grid_state.embeddings, grid_state.covariates, grid_state.labels)
    fresh.select_indices([1])
    fresh.load_selections(tmp_path / "sel")
    assert fresh.selection is None and fresh.highlighted is None and fresh.n_kept == 100


def test_bad_inputs_named():
    with pytest.raises(ValueError, match="embedding"):
        PanelState(LatentSet(np.zeros((4, 0))))
    with pytest.raises(ValueError, match="rows"):
        LatentSet(np.zeros((4, 2)), emb={"u": np.zeros((3, 2))})


def test_over_a_latentset(tmp_path):
    from cryolatent.io import load_index
    from cryolatent.volumes import Decoder

    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"orig_index": np.array([4, 8, 9, 12]), "defocus_A": [1.0, 2.0, 3.0, 4.0]})
    ls = LatentSet(rng.normal(size=(4, 3)), obs, emb={"umap": rng.normal(size=(4, 2))})
    ls.obs["kmeans"] = np.array([0, 1, 1, 2])
    calls = []
    dec = Decoder(lambda z: calls.append(len(z)) or np.repeat(z[:, :1, None, None], 4, 1) * np.ones((1, 4, 4, 4)), apix=2.5)
    s = PanelState(ls, dec)
    assert s.embedding == "umap" and set(s.embeddings) == {"z", "umap"} and s.decoder is dec
    assert set(s.labels) == {"kmeans"} and set(s.covariates) == {"defocus_A"} and s.apix == 2.5
    np.testing.assert_array_equal(s.index, [4, 8, 9, 12])
    s.select_clusters([1])
    np.testing.assert_array_equal(s.kept_indices, [8, 9])
    vol = s.set_point(2)
    assert vol.shape == (4, 4, 4) and np.isclose(vol[0, 0, 0], ls.z[2, 0])
    s.set_point(2)
    assert calls == [1] and len(dec._cache) == 1  # cached once, in the Decoder
    path = s.export(tmp_path / "sel.pkl")
    np.testing.assert_array_equal(load_index(path), [8, 9])  # original indices, via Selection
    assert not (tmp_path / "sel_inverse.pkl").exists()
    assert s.export(tmp_path / "sel.star", "star") is None and s.message_level == "error"
    # a plain callable is wrapped in a Decoder; basis picks the first view
    s2 = PanelState(ls, lambda z: np.zeros((len(z), 4, 4, 4)), basis="z", apix=3.0)
    assert isinstance(s2.decoder, Decoder) and s2.decoder.apix == 3.0 and s2.embedding == "z"


def test_synthetic_state_volumes_differ():
    s = synthetic_state(n=500, box=32, seed=1)
    a = s.volume_at(int(np.argmin(s.embeddings["z"][:, 0])))
    b = s.volume_at(int(np.argmax(s.embeddings["z"][:, 0])))
    assert a.shape == (32, 32, 32) and not np.allclose(a, b)


def test_selection_modes_give_the_selection_algebra(grid_state):
    s = grid_state
    a, b = np.arange(0, 20), np.arange(10, 30)
    for mode, want in [("replace", b), ("add", np.union1d(a, b)), ("subtract", np.setdiff1d(a, b)),
                       ("intersect", np.intersect1d(a, b))]:
        s.select_indices(a)
        s.select_indices(b, mode=mode, kind="box")
        np.testing.assert_array_equal(s.selection.indices, want, err_msg=mode)
    # mode=None follows select_mode (the panel's mode buttons); an unknown mode is refused
    s.select_indices(a)
    s.select_mode = "subtract"
    s.select_indices(b, mode=None)
    np.testing.assert_array_equal(s.selection.indices, np.arange(10))
    with pytest.raises(Exception):
        s.select_mode = "xor"
    assert s.select_mode == "subtract"


def test_add_mode_builds_a_union_of_regions(grid_state):
    s = grid_state
    s.select_mode = "add"
    x, y = s.xy.T
    boxes = [(x.min(), np.percentile(x, 20), y.min(), np.percentile(y, 20)),
             (np.percentile(x, 60), x.max(), np.percentile(y, 50), y.max()),
             (np.percentile(x, 30), np.percentile(x, 40), y.min(), y.max())]
    want = np.zeros(s.n, bool)
    for x0, x1, y0, y1 in boxes:
        s.select_box(x0, x1, y0, y1, mode=None)
        want |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        np.testing.assert_array_equal(s.selection.mask, want)
    assert 0 < want.sum() < s.n


def test_undo_restores_exactly_the_previous_selection_and_is_bounded(grid_state):
    from cryolatent.widgets.state import UNDO_DEPTH

    s = grid_state
    assert s.n_undo == 0 and not s.undo() and s.message_level == "warning"
    s.select_indices([1, 2, 3])
    s.select_indices([3, 4], mode="add")
    s.clear_selection()
    s.select_indices([7], mode="add")
    seen = []
    while s.n_undo:
        assert s.undo()
        seen.append(None if s.selection is None else s.selection.indices.tolist())
    assert seen == [None, [1, 2, 3, 4], [1, 2, 3], None]
    assert s.selection is None
    # one step per gesture, even one that leaves the selection as it was
    s.select_indices([1, 2, 3])
    s.select_indices([2], mode="add")
    assert s.undo() and s.selection.indices.tolist() == [1, 2, 3]
    assert s.undo() and s.selection is None and s.n_undo == 0
    # redo-free: a new selection after undo starts a new history; the history is bounded
    for i in range(UNDO_DEPTH + 20):
        s.select_indices([i])
    assert s.n_undo == UNDO_DEPTH
    for _ in range(UNDO_DEPTH):
        assert s.undo()
    np.testing.assert_array_equal(s.selection.indices, [19])
    assert not s.undo() and s.selection.indices.tolist() == [19]


def test_the_first_volume_is_drawn_at_the_librarys_threshold_not_zero():
    """A fresh panel has no threshold yet; the first clicked volume sets the library's default even
    when 0 lies inside its range, as in a decoded map (0 would draw half the voxels: noise)."""
    from _panel_fixtures import panel_state

    rng = np.random.default_rng(0)
    g = np.arange(16) - 8
    blob = np.exp(-(g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) / 8.0)

    def decode(zs):  # a blob on zero-mean noise: values below and above 0
        return np.stack([blob + 0.05 * rng.normal(size=blob.shape) for _ in zs]).astype(np.float32)

    st = panel_state({"z": rng.normal(size=(20, 2))}, decode=decode)
    assert np.isnan(st.threshold)
    vol = st.set_point(3)
    assert float(vol.min()) < 0 < float(vol.max())
    assert st.threshold == pytest.approx(default_threshold(vol)) and st.threshold > 0.1


def test_axes_from_any_column(grid_state):
    s = grid_state
    s.set_axes("z", 2, "defocus_A")  # x: z[2] = x + y; y: the defocus column
    np.testing.assert_array_equal(s.xy, np.c_[s.embeddings["z"][:, 2], s.covariates["defocus_A"]])
    assert (s.axis_label("x"), s.axis_label("y")) == ("z[2]", "defocus_A")
    # selections act on the axes shown: defocus >= 5000 and x + y <= 9
    mask = s.box_mask(-1, 9, 5000, 1e9)
    x, y = s.embeddings["umap"].T
    np.testing.assert_array_equal(mask, (x + y <= 9) & (x >= 5))
    s.set_axis("x", "score")
    s.set_axis("y", 0)
    assert (s.axis_label("x"), s.axis_label("y")) == ("score", "z[0]")
    np.testing.assert_array_equal(s.xy, np.c_[y, x])
    with pytest.raises(Exception, match="no column 'nope'"):
        s.set_axis("x", "nope")
    with pytest.raises(ValueError, match="axis must be"):
        s.set_axis("w", 0)
    s.set_axes("umap", 0, 1)
    assert (s.x_column, s.y_column) == ("", "")


def test_polygon_mask_is_in_polygon_over_the_shown_axes():
    from cryolatent.selection import in_polygon

    rng = np.random.default_rng(4)
    xy = rng.normal(size=(5000, 2))
    s = panel_state({"umap": xy}, {}, {}, None)
    t = np.linspace(0, 2 * np.pi, 23)[:-1]
    poly = np.c_[0.3 + 0.9 * np.cos(t) * (1 + 0.4 * np.sin(3 * t)), -0.2 + 0.7 * np.sin(t)]
    got = s.polygon_mask(poly)
    np.testing.assert_array_equal(got, in_polygon(xy, poly))
    assert 0 < got.sum() < len(xy)
    assert s.select_polygon(poly).mask.sum() == got.sum()
    with pytest.raises(ValueError):
        s.polygon_mask([(0, 0), (1, 1)])


def test_a_coarse_preview_is_shown_first_then_the_full_volume(grid_state):
    from cryolatent.volumes import Decoder

    s = grid_state
    full = s.decoder.fn
    s.decoder = Decoder(full, cache_size=8, preview=lambda zs: np.stack([np.full((2, 2, 2), 10 * z[1] + z[0], np.float32) for z in zs]))
    seen = []
    s.observe(lambda c: seen.append((c["new"].shape, s.volume_is_preview)), names="volume")
    s.set_point(23)
    assert seen == [((2, 2, 2), True), ((4, 4, 4), False)] and s.volume.shape == (4, 4, 4)
    seen.clear()
    s.set_point(23)  # cached: no preview
    assert seen == [] or seen == [((4, 4, 4), False)]
    assert s.decoder.cached(s.ls.z[23:24]) and not s.decoder.cached(s.ls.z[24:25])
