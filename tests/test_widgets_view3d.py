"""The panel's 3-D view without a browser: axis choices, the subsample, the binary traits,
clicks, and redrawing only while open."""

from __future__ import annotations

import numpy as np
import pytest

from _panel_fixtures import panel_state, synthetic_state
from cryolatent.widgets.latent_views import Scatter3DView, axis_options, default_axes, subsample


@pytest.fixture
def state():
    return synthetic_state(n=600, box=16, seed=3)


def _open(state, **kwargs) -> Scatter3DView:
    view = Scatter3DView(state, **kwargs)
    view.live = True
    return view


def test_axis_choices_are_every_dimension_of_each_embedding_with_three():
    rng = np.random.default_rng(0)
    s = panel_state({"z": rng.normal(size=(50, 4)), "umap": rng.normal(size=(50, 2)), "pca": rng.normal(size=(50, 3))})
    values = [v for _, v in axis_options(s)]
    assert sorted(values) == [("pca", 0), ("pca", 1), ("pca", 2), ("z", 0), ("z", 1), ("z", 2), ("z", 3)]  # no umap
    assert dict(axis_options(s))["pca[1]"] == ("pca", 1)
    assert default_axes(s) == [("pca", 0), ("pca", 1), ("pca", 2)]
    # without a 3-D PCA: the first latent dimensions
    s = panel_state({"z": rng.normal(size=(50, 5)), "pca": rng.normal(size=(50, 2))})
    assert default_axes(s) == [("z", 0), ("z", 1), ("z", 2)]
    view = Scatter3DView(s)
    assert view.axes == [("z", 0), ("z", 1), ("z", 2)]
    assert [dd.value for dd in view.dims] == view.axes and len(view.dims[0].options) == 5
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        default_axes(panel_state({"z": rng.normal(size=(50, 2))}))


def test_subsample_keeps_every_kept_point_under_the_cap():
    n, cap = 1000, 300
    assert np.array_equal(subsample(n, None, cap=2000), np.arange(n))  # under the cap: everything
    kept = np.zeros(n, bool)
    kept[np.random.default_rng(1).choice(n, 120, replace=False)] = True
    pos = subsample(n, kept, cap=cap)
    assert len(pos) == cap and len(np.unique(pos)) == cap and np.all(np.diff(pos) > 0)
    assert set(np.flatnonzero(kept)) <= set(pos)
    assert np.array_equal(pos, subsample(n, kept, cap=cap))  # seeded
    many = np.ones(n, bool)
    many[:100] = False
    pos = subsample(n, many, cap=cap)  # more kept than the cap: only kept ones
    assert len(pos) == cap and many[pos].all()
    assert len(subsample(n, None, cap=cap)) == cap


def test_view_caps_points_and_keeps_the_selection(state):
    state.select_clusters([1])
    view = _open(state, cap=250)
    pos = np.frombuffer(view.plot.position, np.int32)
    kept = np.frombuffer(view.plot.kept, np.int32)
    want = np.flatnonzero(state.labels["kmeans"] == 1)
    assert len(pos) == 250 and len(want) < 250
    np.testing.assert_array_equal(np.sort(pos[kept]), want)
    assert "250 of 600" in view.caption.value and "random sample" in view.caption.value


def test_traits_decode_to_the_chosen_coordinates(state):
    view = _open(state)
    pca = state.embeddings["pca"]
    np.testing.assert_array_equal(view.plot.coords(), pca[:, :3].astype(np.float32))
    assert view.plot.labels == ["pca[0]", "pca[1]", "pca[2]"]
    view.dims[0].value, view.dims[2].value = ("z", 5), ("pca", 3)
    z = state.embeddings["z"]
    want = np.c_[z[:, 5], pca[:, 1], pca[:, 3]].astype(np.float32)
    np.testing.assert_array_equal(view.plot.coords(), want)
    assert view.plot.labels == ["z[5]", "pca[1]", "pca[3]"]
    # colour as in the 2-D scatter: category codes of the drawn points; continuous values with their range
    codes, categorical, cats = state.colour_values()
    assert view.plot.color_kind == "categorical" and view.plot.categories == [str(c) for c in cats]
    np.testing.assert_array_equal(np.frombuffer(view.plot.color, np.float32), codes.astype(np.float32))
    state.colour_by = "defocus_A"
    d = state.covariates["defocus_A"]
    assert view.plot.color_kind == "continuous" and view.plot.color_range == [d.min(), d.max()]
    np.testing.assert_allclose(np.frombuffer(view.plot.color, np.float32), d.astype(np.float32))
    state.set_point(7)
    np.testing.assert_allclose(view.plot.point, want[7], rtol=1e-6)


def test_kept_points_follow_selection_and_filters(state):
    view = _open(state)
    assert not view.plot.has_selection and view.plot.kept == b""
    state.select_clusters([0, 2])
    state.set_filter("defocus_A", 12000, None)
    kept = np.frombuffer(view.plot.kept, np.int32)
    assert view.plot.has_selection
    np.testing.assert_array_equal(np.frombuffer(view.plot.position, np.int32)[kept], state.kept_positions)
    assert f"{len(kept):,} kept" in view.plot.title


def test_a_click_message_sets_the_current_point(state):
    view = _open(state)
    pos = np.frombuffer(view.plot.position, np.int32)
    view.plot._handle_custom_msg({"type": "click", "position": int(pos[42])}, [])
    assert state.current_point == pos[42]
    assert state.volume is not None and state.volume.shape == (16, 16, 16)
    np.testing.assert_allclose(view.plot.point, view.coords()[pos[42]], rtol=1e-6)
    view.plot._handle_custom_msg({"type": "click"}, [])  # malformed: ignored
    view.plot._handle_custom_msg({"type": "click", "position": state.n + 5}, [])  # out of range: said, not set
    assert state.current_point == pos[42] and "out of range" in state.message


def test_plotly_js_is_served_on_request(state, monkeypatch):
    import ipywidgets

    out = []
    monkeypatch.setattr(ipywidgets.Widget, "send", lambda self, content, buffers=None: out.append((content, buffers)))
    view = Scatter3DView(state)
    view.plot._handle_custom_msg({"type": "need_plotly"}, [])
    assert out[0][0] == {"type": "plotly_js"} and b"Plotly" in out[0][1][0][:100_000]
    assert "cryolatent-scatter3d" in str(view.plot._esm) and view.plot._view == "scatter3d"  # its own front end


def test_redrawn_only_while_live(state):
    view = Scatter3DView(state)  # as the panel makes it: not live until its section opens
    assert view.plot.x == b"" and view.stale
    view.live = True
    assert not view.stale and len(view.plot.coords()) == state.n
    view.live = False
    state.select_clusters([1])
    state.set_point(3)
    assert view.stale and view.plot.kept == b"" and view.plot.point == []  # closed: left alone ...
    view.live = True
    assert not view.stale and view.plot.has_selection  # ... and brought up to date when opened
    assert len(np.frombuffer(view.plot.kept, np.int32)) == state.n_kept and view.plot.point


def test_panel_section_builds_the_3d_view(state):
    from cryolatent.widgets import LatentPanel

    p = LatentPanel(state)
    view = p.open_section("3-D view")
    assert isinstance(view, Scatter3DView) and view.live and len(view.plot.coords()) == state.n
    p.open_section("latent pairs")
    assert not view.live
