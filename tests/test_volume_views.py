"""The panel's volume views without a browser: low-pass, central slices, σ threshold, pins, saving .mrc."""

from __future__ import annotations

import io

import mrcfile
import numpy as np
import pytest
from PIL import Image

from _panel_fixtures import panel_state
from cryolatent import volumes
from cryolatent.pl.maps import slices_png, slices_rgb
from cryolatent.volumes import Decoder
from cryolatent.widgets.volume_state import ShownVolume, VolumePins, known_apix
from cryolatent.widgets.volume_view import VolumeView

D = 24


def blobs(z: np.ndarray) -> np.ndarray:
    """A Gaussian blob moving with ``z[:, 0]`` plus a fine checkerboard (what a low-pass removes)."""
    g = np.arange(D, dtype=np.float32) - D // 2
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    checker = 0.05 * (-1.0) ** (zz + yy + xx)
    out = [np.exp(-((xx - 4 * zi[0]) ** 2 + (yy - 2 * zi[1]) ** 2 + zz**2) / 8.0) + checker for zi in z]
    return np.stack(out).astype(np.float32)


def make_state(n: int = 12, **kwargs):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 2))
    return panel_state({"z": z}, decode=blobs, index=np.arange(100, 100 + n), **kwargs)


@pytest.fixture
def state():
    return make_state(apix=2.5)


def _click(button) -> None:
    button._click_handlers(button)


# ---------------------------------------------------------------- library: low-pass, slices
def _power_by_radius(vol: np.ndarray):
    f = np.abs(np.fft.rfftn(vol)) ** 2
    return f, volumes._radius(vol.shape)


def test_lowpass_leaves_no_power_beyond_the_cutoff_and_keeps_what_is_below_the_edge():
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(32, 32, 32)).astype(np.float32)
    out = volumes.lowpass(vol, 8.0, apix=2.0)  # cutoff 2/8 = 0.25 cycles per voxel
    assert out.shape == vol.shape and out.dtype == np.float32
    p_in, r = _power_by_radius(vol)
    p_out, _ = _power_by_radius(out)
    assert p_out[r >= 0.25].sum() < 1e-8 * p_in[r >= 0.25].sum()
    below = r <= 0.25 - 2.0 / 32  # inside the cosine edge: untouched
    np.testing.assert_allclose(p_out[below], p_in[below], rtol=1e-3, atol=1e-3)
    edge = (r > 0.25 - 2.0 / 32) & (r < 0.25)
    assert 0 < p_out[edge].sum() < p_in[edge].sum()  # a soft edge, not a hard cut


def test_lowpass_units_constant_and_off():
    rng = np.random.default_rng(2)
    vol = rng.normal(size=(16, 16, 16)).astype(np.float32)
    assert volumes.lowpass(vol, None) is vol and volumes.lowpass(vol, None, 3.0) is vol
    np.testing.assert_allclose(volumes.lowpass(vol, 4.0), volumes.lowpass(vol, 8.0, apix=2.0), atol=1e-6)  # px = Å / apix
    const = np.full((16, 16, 16), 3.5, np.float32)
    np.testing.assert_allclose(volumes.lowpass(const, 5.0, 1.0), const, rtol=1e-6)
    assert not np.allclose(volumes.lowpass(vol, 5.0, 1.0), vol, atol=1e-3)
    with pytest.raises(ValueError, match="positive"):
        volumes.lowpass(vol, -2.0)


def test_central_slices_are_the_planes_through_the_centre():
    vol = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    z, y, x = volumes.central_slices(vol)
    np.testing.assert_array_equal(z, vol[2])
    np.testing.assert_array_equal(y, vol[:, 2])
    np.testing.assert_array_equal(x, vol[:, :, 3])


def test_slices_png_shape_and_it_follows_the_volume():
    a, b = blobs(np.array([[0.0, 0.0], [1.0, -1.0]]))
    png = slices_png([a], size=128)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (3 * 120 + 2 * 3, 120)  # 24 px upscaled x5, gaps of 3
    assert slices_png([b], size=128) != png
    rgb = slices_rgb([a, b, a - b], diverging=[False, False, True], size=D)
    assert rgb.shape == (3 * D + 2 * 3, 3 * D + 2 * 3, 3)
    diff = (a - b)[D // 2][::-1]  # the z slice of A - B, drawn first axis up
    row = rgb[2 * (D + 3): 2 * (D + 3) + D, :D].astype(int)
    red, blue = diff > 0.2, diff < -0.2
    assert red.any() and blue.any()
    assert (row[red][:, 0] == 255).all() and (row[red][:, 2] < 255).all()
    assert (row[blue][:, 2] == 255).all() and (row[blue][:, 0] < 255).all()


# ---------------------------------------------------------------- threshold in σ, low-pass in the view
def test_sigma_slider_round_trip(state):
    vv = VolumeView(state)
    state.set_point(3)
    vol = state.volume
    mean, std = float(vol.mean()), float(vol.std())
    vv.slider.value = 1.7
    assert state.threshold == pytest.approx(mean + 1.7 * std, rel=1e-6)
    state.threshold = float(mean + 2.25 * std)
    assert vv.slider.value == pytest.approx(2.25)
    assert vv.shown.sigma(vv.shown.threshold_at(-0.3)) == pytest.approx(-0.3)
    assert "triangles at 2.25 σ (" in vv.info.value
    assert vv.slider.description == "threshold (σ)"


def test_lowpass_slider_filters_what_is_shown_and_keeps_sigma(state):
    vv = VolumeView(state)
    state.set_point(2)
    slices_before, sigma = vv.slices.value, vv.slider.value
    assert slices_before and vv.shown.volume is state.volume
    vv.lowpass.value = 10.0  # Å: 4 voxels at 2.5 Å
    expected = volumes.lowpass(state.volume, 10.0, 2.5)
    np.testing.assert_array_equal(vv.shown.volume, expected)
    assert vv.slider.value == pytest.approx(sigma, abs=1e-6)
    assert vv.shown.sigma() == pytest.approx(sigma, abs=1e-6)
    assert vv.slices.value != slices_before
    verts, faces = volumes.isosurface(expected, state.threshold, apix=state.apix, max_faces=60_000, centred=True)
    assert vv.mesh.n_faces == len(faces) > 0
    np.testing.assert_allclose(np.frombuffer(vv.mesh.vertices, np.float32).reshape(-1, 3), verts)
    assert "low-pass 10 Å" in vv.mesh.title
    vv.lowpass.value = 0.0  # off
    assert vv.shown.resolution is None and vv.shown.volume is state.volume


def test_lowpass_options_in_pixels_when_the_pixel_size_is_unknown():
    st = make_state()
    vv = VolumeView(st)
    assert known_apix(st) is None and vv.lowpass.options[0] == ("off", 0.0)
    labels = [lab for lab, _ in vv.lowpass.options[1:]]
    assert labels[0] == "2 px" and labels[-1] == "20 px"
    assert all(lab.endswith("Å") for lab, _ in VolumeView(make_state(apix=1.5)).lowpass.options[1:])


def test_css_classes_for_the_browser_tests(state):
    vv = VolumeView(state)
    for widget, css in ((vv.slices, "cl-slices"), (vv.lowpass, "cl-lowpass"), (vv.pin_button, "cl-pin"),
                        (vv.compare_button, "cl-compare"), (vv.save_button, "cl-save-volume"),
                        (vv.compare_view, "cl-compare-view")):
        assert css in widget._dom_classes, css


# ---------------------------------------------------------------- pins and the difference
def test_pins_keep_the_newest_and_difference_is_a_minus_b(state):
    shown = ShownVolume(state)
    pins = VolumePins(shown, max_pins=3)
    assert pins.pin() is None and state.message_level == "warning"
    for p in (0, 1, 2, 3):
        state.set_point(p)
        pins.pin()
    assert pins.labels == [f"point {p} (particle {100 + p})" for p in (1, 2, 3)]
    state.set_point(2)
    pins.pin()  # the same label again: replaced, moved to the newest
    assert pins.labels[-1] == "point 2 (particle 102)" and len(pins.pins) == 3
    a, b = pins.labels[0], pins.labels[-1]
    diff = pins.difference(a, b)
    np.testing.assert_array_equal(diff, state.volume_at(1) - state.volume_at(2))
    assert np.abs(diff).max() > 0
    assert not pins.difference(a, a).any()
    assert pins.compare(a, "nothing") is None and state.message_level == "error" and "nothing" in state.message
    pins.unpin(a)
    assert a not in pins.labels


def test_compare_button_draws_a_b_and_their_difference(state):
    vv = VolumeView(state)
    _click(vv.compare_button)
    assert state.message_level == "warning" and vv.compare_view.layout.display == "none"
    state.set_point(0)
    _click(vv.pin_button)
    vv.lowpass.value = 10.0
    _click(vv.pin_button)  # the same point, low-passed: a second pin
    assert vv.pins.labels == ["point 0 (particle 100)", "point 0 (particle 100), low-pass 10 Å"]
    assert vv.pin_a.value == vv.pins.labels[1] and vv.pin_b.value == vv.pins.labels[0]
    _click(vv.compare_button)
    assert vv.compare_view.layout.display == "" and vv.compare_view.value
    img = Image.open(io.BytesIO(vv.compare_view.value))
    assert img.size[1] > 2 * img.size[0] / 3  # three rows: A, B, A - B
    assert "A − B" in vv.compare_info.value
    vv.pins.unpin(vv.pins.labels[0])
    assert vv.compare_view.layout.display == "none"


# ---------------------------------------------------------------- saving .mrc
def test_save_writes_the_shown_volume_with_the_voxel_size(state, tmp_path):
    vv = VolumeView(state)
    state.set_point(4)
    assert vv.save_path.value == "volume_point4.mrc"
    vv.lowpass.value = 10.0
    vv.save_path.value = str(tmp_path / "v.mrc")
    _click(vv.save_button)
    assert state.message_level == "info" and "v.mrc" in state.message and "2.5 Å" in state.message
    with mrcfile.open(tmp_path / "v.mrc") as m:
        np.testing.assert_allclose(m.data, vv.shown.volume)
        assert float(m.voxel_size.x) == pytest.approx(2.5)


def test_save_refuses_to_overwrite_unless_ticked(state, tmp_path):
    vv = VolumeView(state)
    state.set_point(1)
    target = tmp_path / "v.mrc"
    target.write_bytes(b"keep me")
    vv.save_path.value = str(target)
    _click(vv.save_button)
    assert state.message_level == "error" and "overwrite" in state.message
    assert target.read_bytes() == b"keep me"
    vv.overwrite.value = True
    _click(vv.save_button)
    assert state.message_level == "info"
    with mrcfile.open(target) as m:
        np.testing.assert_array_equal(m.data, state.volume)


def test_save_failure_writes_nothing_and_says_why(state, tmp_path):
    shown = ShownVolume(state)
    assert shown.save(tmp_path / "early.mrc") is None and state.message_level == "warning"
    state.set_point(0)
    (tmp_path / "a_file").write_text("x")
    assert shown.save(tmp_path / "a_file" / "v.mrc") is None
    assert state.message_level == "error" and "not saved" in state.message
    assert shown.save("  ") is None and "file name" in state.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_save_with_an_unknown_pixel_size_writes_voxel_size_zero(tmp_path):
    st = make_state()
    assert st.apix == 1.0 and known_apix(st) is None
    st.set_point(0)
    assert ShownVolume(st).save(tmp_path / "v.mrc") is not None and "unknown" in st.message
    with mrcfile.open(tmp_path / "v.mrc") as m:
        assert float(m.voxel_size.x) == 0.0
    from cryolatent.widgets.state import PanelState

    known = PanelState(st.ls, Decoder(blobs, apix=1.0))
    assert known_apix(known) == 1.0  # a decoder's real 1 Å is kept
