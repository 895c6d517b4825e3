"""The panel's trajectory section without a browser: waypoints clicked on the scatter -> a kNN path,
a PC traversal, frames decoded lazily, the .mrc series, the path drawn on the scatter, errors."""

from __future__ import annotations

import numpy as np
import pytest

from _panel_fixtures import lobes_decoder, panel_state, synthetic_latentset, synthetic_state
from cryolatent.io import read_volume
from cryolatent.tl.embedding import pca_embed
from cryolatent.volumes import Decoder
from cryolatent.widgets import LatentPanel, ScatterView
from cryolatent.widgets.state import PanelState
from cryolatent.widgets.trajectory_state import nearest_particles, resample_legs
from cryolatent.widgets.trajectory_view import TrajectoryView


@pytest.fixture
def state():
    return synthetic_state(n=600, box=16, seed=2)


def _view(state, scatter=True) -> TrajectoryView:
    return TrajectoryView(state, scatter=ScatterView(state) if scatter else None)


def _pairs(buf: bytes) -> np.ndarray:
    return np.frombuffer(buf, np.float32).reshape(-1, 2)


def _click(view, *positions) -> None:
    view.adding.value = True
    for p in positions:
        view.state.set_point(p)


def _curve_state(n: int = 300, decode=None, **kw) -> PanelState:
    """Particles along an arc in a 3-D latent space (a long kNN path from one end to the other)."""
    t = np.linspace(0, np.pi, n)
    rng = np.random.default_rng(0)
    z = np.c_[np.cos(t) * 5, np.sin(t) * 5, 0.05 * rng.normal(size=n)]
    return panel_state({"z": z}, decode=decode, **kw)


def test_clicks_add_waypoints_only_while_on_and_the_path_runs_through_them(state):
    v = _view(state)
    m = v.model
    state.set_point(7)
    assert m.waypoints == []  # the toggle is off: a click only shows its volume
    _click(v, 5, 5, 126)  # far apart in one cluster (the clusters are not joined by the kNN graph)
    assert m.waypoints == [5, 126]  # the same point twice in a row counts once
    assert state.current_point == 126 and state.volume is not None  # the click still shows its volume
    v.build_button.click()
    assert m.n_built >= 3 and state.message_level == "info"
    np.testing.assert_allclose(m.z[0], state.ls.z[5], atol=1e-6)
    np.testing.assert_allclose(m.z[-1], state.ls.z[126], atol=1e-6)
    assert m.particles[0] == 5 and m.particles[-1] == 126 and list(m.marks) == [0, m.n_built - 1]
    v.slider.value = 1  # showing a frame rings its particle: no new waypoint
    assert m.waypoints == [5, 126] and state.current_point == m.particles[1]
    v.undo.click()
    assert m.waypoints == [5] and m.z is None  # a new waypoint list: the old path is gone
    v.clear.click()
    assert m.waypoints == []


def test_a_long_path_is_thinned_to_n_frames_evenly_keeping_the_waypoints():
    st = _curve_state(300, decode=lobes_decoder(8).fn)
    v = _view(st)
    v.frames.value = 9
    v.neighbours.value = 6
    _click(v, 0, 150, 299)
    v.build_button.click()
    m = v.model
    assert m.n_built == 9 and list(m.particles[m.marks]) == [0, 150, 299]
    steps = np.linalg.norm(np.diff(m.z, axis=0), axis=1)
    assert steps.max() < 1.5 * steps.min()  # evenly spaced along the arc
    assert np.all(np.diff(m.particles) > 0)  # in path order


def test_resample_legs_splits_frames_by_leg_length():
    z = np.c_[np.arange(100.0), np.zeros(100)]
    legs = [np.arange(0, 21), np.arange(20, 100)]  # 20 and 79 long
    pos, marks = resample_legs(z, legs, 12)
    assert len(pos) == 12 and list(pos[marks]) == [0, 20, 99]
    assert np.sum((pos > 0) & (pos < 20)) == 2  # 2 of the 9 interior frames on the leg 20/99 of the length
    few, marks = resample_legs(z, legs, 2)  # fewer frames than waypoints: the waypoints
    assert list(few) == [0, 20, 99] and list(marks) == [0, 1, 2]


def test_pc_trajectory_is_monotonic_along_that_component(state):
    v = _view(state)
    assert v.pc.options[-1] == ("PC8", 8)  # min(zdim, 10) components
    v.kind.value = "pc"
    v.pc.value = 2
    v.build_button.click()
    m = v.model
    assert m.n_built == 10 and m.particles is None and m.marks is None
    pca = pca_embed(state.ls.z, 2)
    proj = (m.z - pca.mean) @ pca.components[1]
    assert np.all(np.diff(proj) > 0)
    other = (m.z - pca.mean) @ pca.components[0]
    np.testing.assert_allclose(other, 0, atol=1e-4)  # nothing along PC1
    assert "PC2" in state.message and state.current_point == -1  # a stop is no particle


def test_pc_trajectory_uses_the_latentsets_pca_when_there_is_one():
    from cryolatent import tl

    ls = synthetic_latentset(400, seed=1)
    tl.pca(ls)
    st = PanelState(ls, lobes_decoder(8))
    v = _view(st, scatter=False)
    v.kind.value = "pc"
    v.build_button.click()
    np.testing.assert_allclose(v.model.z, tl.pc_traversal(ls, 1, 10), atol=1e-6)


def test_frames_are_decoded_when_shown_and_kept():
    calls = []

    def fn(z):
        calls.append(len(z))
        return lobes_decoder(8).fn(z)

    st = _curve_state(200)
    st.decoder = Decoder(fn, cache_size=0)  # no cache in the decoder: only the trajectory keeps volumes
    v = _view(st)
    _click(v, 0, 199)  # the clicks decode their own volumes
    calls.clear()
    v.build_button.click()
    m = v.model
    assert sum(calls) == 1 and m.decoded == [0]  # only the frame shown
    v.slider.value = 3
    v.slider.value = 0
    v.slider.value = 3
    assert sum(calls) == 2 and m.decoded == [0, 3]
    series = m.series()
    assert sum(calls) == m.n_built and len(series) == m.n_built  # the rest decoded once, in one call
    assert len(calls) == 3
    np.testing.assert_array_equal(series.particles, m.particles)


def test_moving_the_slider_shows_each_frame_in_the_panel(state):
    v = _view(state)
    _click(v, 5, 126)
    v.build_button.click()
    m = v.model
    assert m.n_built >= 3
    first = state.volume
    np.testing.assert_array_equal(first, m.volume(0))
    v.slider.value = 1
    assert state.volume is m.volume(1) and not np.array_equal(state.volume, first)
    assert state.current_point == m.particles[1] and "frame 2 of" in state.message
    strip_2 = v.strip.value
    v.slider.value = 2
    assert v.strip.value != strip_2 and v.strip.value[:4] == b"\x89PNG"
    assert "decoded so far: 1, 2, 3" in v.info.value


def test_the_strip_has_a_row_per_decoded_frame(state):
    from PIL import Image
    import io

    v = _view(state, scatter=False)
    v.kind.value = "pc"
    v.build_button.click()
    h1 = Image.open(io.BytesIO(v.strip.value)).size[1]
    v.model.series()
    h_all = Image.open(io.BytesIO(v.strip.value)).size[1]
    assert h_all > 5 * h1 and v.strip.layout.display == ""


def test_mrc_series_written_refused_then_overwritten(state, tmp_path):
    v = _view(state, scatter=False)
    v.kind.value = "pc"
    v.frames.value = 4
    v.build_button.click()
    out = tmp_path / "traj"
    v.folder.value = str(out)
    v.save.click()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["vol_000.mrc", "vol_001.mrc", "vol_002.mrc", "vol_003.mrc", "z_values.txt"]
    np.testing.assert_allclose(np.loadtxt(out / "z_values.txt"), v.model.z, atol=1e-4)
    np.testing.assert_allclose(read_volume(out / "vol_002.mrc")[0], v.model.volume(2), atol=1e-6)
    before = (out / "vol_000.mrc").read_bytes()
    v.pc.value = 2
    v.build_button.click()
    v.save.click()  # refused: overwrite is not ticked
    assert state.message_level == "error" and "overwrite" in state.message
    assert (out / "vol_000.mrc").read_bytes() == before
    v.overwrite.value = True
    v.save.click()
    assert state.message_level == "info" and (out / "vol_000.mrc").read_bytes() != before
    np.testing.assert_allclose(np.loadtxt(out / "z_values.txt"), v.model.z, atol=1e-4)


def test_show_path_puts_the_frames_and_waypoints_in_the_scatter(state):
    sc = ScatterView(state)
    v = TrajectoryView(state, scatter=sc)
    _click(v, 5, 126)
    np.testing.assert_allclose(_pairs(sc.path_marks), state.xy[[5, 126]], rtol=1e-6)  # before building
    assert sc.path == b""
    v.build_button.click()
    m = v.model
    np.testing.assert_allclose(_pairs(sc.path), state.xy[m.particles], rtol=1e-6)
    assert sc.path_frame == 0
    v.slider.value = 1
    assert sc.path_frame == 1
    state.set_axes("pca", 2, 3)  # new axes: the same frames where the points now are
    np.testing.assert_allclose(_pairs(sc.path), state.embeddings["pca"][m.particles][:, [2, 3]], rtol=1e-6)
    v.kind.value = "pc"
    v.build_button.click()
    at = [int(np.argmin(((state.ls.z - zi) ** 2).sum(1))) for zi in m.z]  # each stop at its nearest particle
    np.testing.assert_array_equal(nearest_particles(state.ls.z, m.z), at)
    np.testing.assert_allclose(_pairs(sc.path), state.xy[at], rtol=1e-6)
    assert sc.path_marks == b""  # no waypoints on a PC trajectory
    sc.show_path(None)
    assert sc.path == b"" and sc.path_marks == b"" and sc.path_frame == -1


def test_problems_are_status_messages_not_exceptions(state, tmp_path):
    v = _view(state)
    v.build_button.click()  # no waypoints
    assert state.message_level == "error" and "two waypoints" in state.message and v.model.z is None
    v.save.click()
    assert state.message_level == "warning" and "build" in state.message
    assert v.slider.disabled and v.save.disabled

    far = panel_state({"z": np.r_[np.zeros((20, 2)), np.full((20, 2), 100.0)] + np.arange(40)[:, None] * 1e-3},
                      decode=lobes_decoder(8).fn)
    w = _view(far)
    w.neighbours.value = 3
    _click(w, 0, 39)
    w.build_button.click()  # two clusters, no edge between them
    assert far.message_level == "error" and "not connected" in far.message and "k = 3" in far.message

    bare = _curve_state(100)  # no decoder: the path is drawn, no volumes
    b = _view(bare)
    _click(b, 1, 50)
    b.build_button.click()
    assert bare.message_level == "warning" and "no decoder" in bare.message and b.model.n_built >= 2
    b.slider.value = 1
    assert bare.message_level == "error" and "no decoder" in bare.message and bare.volume is None
    b.folder.value = str(tmp_path / "none")
    b.save.click()
    assert bare.message_level == "error" and not (tmp_path / "none").exists()


def test_napari_gets_one_4d_layer_or_a_message(state, monkeypatch):
    from cryolatent.widgets import napari_view

    class Viewer:  # what add_volume needs of a napari viewer
        def __init__(self):
            self.layers, self.dims = [], type("Dims", (), {"ndisplay": 2})()

        def add_image(self, data, **kwargs):
            self.layers.append(type("Layer", (), {"data": data, **kwargs})())
            return self.layers[-1]

    v = _view(state, scatter=False)
    v.kind.value = "pc"
    v.frames.value = 3
    v.build_button.click()
    monkeypatch.setattr(napari_view, "napari_available", lambda: False)
    assert v.model.to_napari(Viewer()) is None and "not installed" in state.message
    monkeypatch.setattr(napari_view, "napari_available", lambda: True)
    viewer = Viewer()
    layer = v.model.to_napari(viewer)
    assert layer.data.shape == (3, 16, 16, 16) and viewer.dims.ndisplay == 3 and layer.scale[0] == 1.0


def test_the_panel_opens_the_section_over_its_scatter(state):
    p = LatentPanel(state)
    view = p.open_section("trajectory")
    assert isinstance(view, TrajectoryView) and view.scatter is p.scatter
    assert {"cl-traj-waypoints", "cl-traj-build", "cl-traj-frame", "cl-traj-strip", "cl-traj-save",
            "cl-traj-path", "cl-traj-kind"} <= {c for w in (view.adding, view.build_button, view.slider, view.strip,
                                                             view.save, view.folder, view.kind) for c in w._dom_classes}
