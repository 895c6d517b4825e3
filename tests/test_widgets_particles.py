"""Particle gallery: the image filters and grid (pl.particles), the model (ParticleGallery) and its view."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cryolatent.forward.ctf import ctf_from_params
from cryolatent.forward.fourier import fft_center, ifft_center
from cryolatent.forward.lattice import frequency_grid
from cryolatent.forward.projection import project_volume
from cryolatent.io import load_dataset
from cryolatent.latent import LatentSet, covariates
from cryolatent.pl.particles import image_grid, image_grid_png, lowpass_images, phase_flip
from cryolatent.training.data import effective_ctf
from cryolatent.widgets.particle_state import (NO_STACK, ParticleGallery, find_stack, fourier_crop_volume,
                                               resolution_options)
from cryolatent.widgets.state import PanelState

from _nn_helpers import write_blob_dataset
from _panel_fixtures import lobes_decoder, synthetic_state

D = 16
N = 40


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _blob(D: int, sigma: float = 1.5, at=(0.0, 0.0)) -> np.ndarray:
    x = np.arange(D) - D // 2
    yy, xx = np.meshgrid(x, x, indexing="ij")
    return np.exp(-((xx - at[0]) ** 2 + (yy - at[1]) ** 2) / (2 * sigma**2))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    parts, poses, ctf = write_blob_dataset(tmp_path_factory.mktemp("blobs"), n=N, D=D)
    return load_dataset(parts, poses=poses, ctf=ctf)


def _state(stack, decoder=True) -> PanelState:
    rng = np.random.default_rng(0)
    ls = LatentSet(rng.normal(size=(N, 2)), covariates(stack), emb={"umap": rng.normal(size=(N, 2))})
    ls.stack = stack
    return PanelState(ls, lobes_decoder(D, apix=stack.apix) if decoder else None)


# ---------------------------------------------------------------- filters
def test_lowpass_keeps_a_constant_and_removes_power_beyond_the_cutoff():
    const = np.full((2, D, D), 3.5, np.float32)
    assert np.allclose(lowpass_images(const, 4.0), 3.5, atol=1e-5)
    img = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)
    out = lowpass_images(img, 8.0)  # 8 px: nothing finer than 1/8 cycles per pixel
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij"))
    before, after = np.abs(np.fft.fft2(img)) ** 2, np.abs(np.fft.fft2(out)) ** 2
    assert after[k >= 1 / 8].max() < 1e-6 * before.max()
    assert np.allclose(after[k < 1 / 8 - 2 / 64], before[k < 1 / 8 - 2 / 64], rtol=1e-3)  # inside the edge: untouched
    assert after[k >= 1 / 8].sum() < 1e-6 * before[k >= 1 / 8].sum()
    assert np.allclose(lowpass_images(img, 16.0, apix=2.0), out, atol=1e-5)  # 16 Å at 2 Å/px = 8 px
    assert lowpass_images(img, None) is not img and np.array_equal(lowpass_images(img, None), img)
    with pytest.raises(ValueError, match="positive"):
        lowpass_images(img, 0.0)


def test_phase_flip_of_a_ctf_modulated_image_gives_the_image_with_abs_ctf():
    rows = np.array([[D, 2.0, 1.2e4, 1.0e4, 30.0, 300.0, 2.7, 0.1, 0.0],
                     [D, 2.0, 2.0e4, 2.1e4, 100.0, 300.0, 2.7, 0.07, 0.0]])
    c = ctf_from_params(frequency_grid(D).reshape(-1, 2), rows).reshape(2, D, D)
    F = fft_center(np.stack([_blob(D, at=(1, -2)), _blob(D, 1.2, at=(-2, 1))]))
    modulated = ifft_center(F * c).real
    expected = ifft_center(F * np.abs(c)).real
    assert np.abs(modulated - expected).max() > 0.1 * np.abs(expected).max()  # the flip has work to do
    flipped = phase_flip(modulated, rows)
    assert flipped.dtype == np.float32 and flipped.shape == (2, D, D)
    assert np.allclose(flipped, expected, atol=1e-4 * np.abs(expected).max())
    assert np.allclose(phase_flip(modulated[1], rows[1]), expected[1], atol=1e-4 * np.abs(expected).max())
    with pytest.raises(ValueError, match="one CTF row"):
        phase_flip(modulated, rows[:1])


def test_fourier_crop_of_a_volume_samples_the_same_map_more_coarsely():
    x = np.arange(32) - 16
    zz, yy, xx = np.meshgrid(x, x, x, indexing="ij")
    vol = np.exp(-((xx - 2) ** 2 + yy**2 + (zz + 4) ** 2) / (2 * 3.0**2)).astype(np.float32)
    small = fourier_crop_volume(vol, 16)
    assert small.shape == (16, 16, 16) and small.dtype == np.float32
    assert np.allclose(small, vol[::2, ::2, ::2], atol=1e-4)  # coarse grid points are every other fine one
    assert np.allclose(fourier_crop_volume(np.full((32,) * 3, 2.0, np.float32), 15), 2.0, atol=1e-5)  # 15 -> 14
    assert fourier_crop_volume(vol, 32) is vol and fourier_crop_volume(vol, 40) is vol


# ---------------------------------------------------------------- grid
def test_image_grid_lays_out_tiles_each_normalised_on_its_own():
    rng = np.random.default_rng(2)
    imgs = [rng.normal(size=(24, 24)) for _ in range(7)]
    grid = image_grid(imgs, ncols=3, size=24, gap=2)
    assert grid.shape == (3 * 26 - 2, 3 * 26 - 2) and grid.dtype == np.uint8
    scaled = image_grid([100 + 7 * im for im in imgs], ncols=3, size=24, gap=2)
    assert np.array_equal(grid, scaled)  # per-tile mean/std: offset and scale do not show
    assert (grid[52:, 26:] == 255).all()  # tiles 8 and 9 do not exist: white
    assert (grid[24:26] == 255).all()  # the gap
    assert grid[:24, :24].std() > 20  # a tile has contrast
    flat = image_grid([np.ones((8, 8)), None], ncols=2, size=8)
    assert (flat[:, :8] == 128).all() and (flat[:, 10:] == 255).all()  # a flat tile is mid grey, None white
    resized = image_grid([rng.normal(size=(40, 40))], size=16)
    assert resized.shape == (16, 16)
    png = image_grid_png(imgs, 3, 24, gap=2, labels=["#1", "", "#3"])
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "L" and decoded.size == (76, 76)
    arr = np.asarray(decoded)
    assert not np.array_equal(arr[:10, :24], grid[:10, :24]) and np.array_equal(arr[:10, 26:50], grid[:10, 26:50])
    assert np.array_equal(arr[12:], grid[12:])  # labels only touch the corners


# ---------------------------------------------------------------- the model over a real stack
def test_gallery_shows_a_reproducible_sample_of_the_kept_particles(stack):
    s = _state(stack)
    g = ParticleGallery(s, n_sample=12, ncols=4, size=D)
    assert g.available and g.message == "" and g.apix == pytest.approx(stack.apix)
    first = g.positions.copy()
    assert len(first) == 12 and np.all(np.diff(first) > 0) and set(first) <= set(range(N))
    expected = image_grid(list(stack.images(first)), 4, D, labels=[f"#{i}" for i in s.index[first]])
    assert np.array_equal(_decode(g.png), expected)  # the stack's images, in order
    assert g.caption.startswith("12 of 40 kept particles (seed 0): ")
    assert g.caption.endswith(", ".join(str(i) for i in s.index[first]))
    g.resample()
    assert g.seed == 1 and not np.array_equal(g.positions, first)
    g.seed = 0
    assert np.array_equal(g.positions, first)  # a seed gives the same sample
    s.select_indices(np.arange(0, N, 5))  # 8 kept: all shown
    assert g.positions.tolist() == list(range(0, N, 5)) and _decode(g.png).shape == (2 * (D + 2) - 2, 4 * (D + 2) - 2)
    s.set_filter("defocus_A", 1e9)  # nothing kept
    assert len(g.positions) == 0 and g.png == b"" and "no kept particles" in g.message


def test_clicked_particle_and_its_model_projection_lead_the_grid(stack):
    s = _state(stack)
    g = ParticleGallery(s, n_sample=6, ncols=6, size=D)
    rows_before = _decode(g.png).shape[0]
    s.set_point(7)
    assert _decode(g.png).shape[0] == rows_before + D + 2  # one more row: the clicked particle and the model
    assert g.caption.startswith(f"clicked: particle {s.index[7]} (point 7), beside it the model's projection")
    rots, trans = stack.poses

    def expected(p: int) -> np.ndarray:
        proj = project_volume(s.volume_at(p), rots[p:p + 1], trans[p:p + 1], effective_ctf(stack.ctf[p:p + 1], D))[0]
        assert np.allclose(g.projection(p), proj)
        tiles = [stack.images([p])[0], proj, None, None, None, None] + list(stack.images(g.positions))
        labels = [f"#{s.index[p]}", "model", "", "", "", ""] + [f"#{i}" for i in s.index[g.positions]]
        return image_grid(tiles, 6, D, labels=labels)

    assert np.array_equal(_decode(g.png), expected(7))
    s.set_point(9)  # another point: its own volume's projection
    assert np.array_equal(_decode(g.png), expected(9))
    g.show_model = False
    assert "model" not in g.caption and _decode(g.png).shape[0] == rows_before + D + 2


def test_phase_flip_and_lowpass_apply_to_the_particles_and_the_projection(stack):
    s = _state(stack)
    g = ParticleGallery(s, n_sample=4, ncols=4, size=D)
    pos = g.positions
    raw = stack.images(pos)
    assert np.array_equal(g.shown(raw, pos), raw)
    g.phase_flip = True
    assert np.allclose(g.shown(raw, pos), phase_flip(raw, effective_ctf(stack.ctf[pos], D)))
    g.resolution = 12.0
    both = lowpass_images(phase_flip(raw, effective_ctf(stack.ctf[pos], D)), 12.0, stack.apix)
    assert np.allclose(g.shown(raw, pos), both, atol=1e-5)
    assert g.caption.endswith("[phase-flipped, low-pass 12 Å]")
    expected = image_grid(list(both), 4, D, labels=[f"#{i}" for i in s.index[pos]])
    assert np.array_equal(_decode(g.png), expected)
    half = g.shown(raw[:, ::2, ::2], pos)  # a projection of half the box: the same physical resolution
    assert np.allclose(half, lowpass_images(phase_flip(raw[:, ::2, ::2], effective_ctf(stack.ctf[pos], D // 2)),
                                            12.0, 2 * stack.apix), atol=1e-5)
    assert resolution_options(stack.apix) == [r for r in (4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0)
                                              if r >= 2 * stack.apix]
    assert resolution_options(None)[0] == 2.0


def test_a_hidden_gallery_redraws_only_when_live_again(stack):
    s = _state(stack)
    g = ParticleGallery(s, n_sample=4, ncols=4, size=D)
    g.live = False
    png, caption = g.png, g.caption
    s.select_indices(np.arange(10))
    g.resample()
    assert g.png == png and g.caption == caption and g.stale
    g.live = True
    assert not g.stale and g.caption.startswith("4 of 10 kept particles (seed 1)") and g.png != png


def test_no_decoder_or_no_poses_shows_the_particle_alone(stack):
    s = _state(stack, decoder=False)
    g = ParticleGallery(s, n_sample=3, ncols=3, size=D)
    s.set_point(2)
    assert not g.can_project and "model" not in g.caption and g.caption.startswith("clicked: particle")
    no_poses = load_dataset(stack.source, ctf=stack.ctf)
    s2 = _state(no_poses)
    g2 = ParticleGallery(s2, n_sample=3, ncols=3, size=D)
    s2.set_point(2)
    assert "no model projection: the particles have no poses" in g2.message
    g2.phase_flip = True  # a CTF, so flipping works
    assert "CTF" not in g2.message


# ---------------------------------------------------------------- without particle images
def test_without_a_particle_stack_the_gallery_says_so_and_stays_empty(tmp_path):
    s = synthetic_state(200)
    g = ParticleGallery(s)
    assert not g.available and g.message == NO_STACK and g.png == b"" and g.caption == ""
    s.set_point(3)
    s.select_box(-50, 50, -50, 50)
    g.resample()
    g.phase_flip = True
    assert g.png == b"" and g.message == NO_STACK and s.message_level != "error"
    ls = LatentSet(np.zeros((5, 2)))
    ls.uns["run"] = {"outdir": str(tmp_path), "data": {"particles": str(tmp_path / "missing.mrcs")}}
    got, why = find_stack(ls)
    assert got is None and why.startswith("no particle images: ") and "missing.mrcs" in why


def test_a_stack_of_another_size_or_unreadable_images_become_messages(stack):
    s = synthetic_state(30)
    g = ParticleGallery(s, stack=stack)
    assert not g.available and f"the stack has {N} particles, the panel 30" in g.message

    class Broken:
        D, apix, ctf, poses = stack.D, stack.apix, None, None

        def __len__(self):
            return N

        def images(self, idx):
            raise OSError(5, "Input/output error", "particles.mrcs")

    s2 = _state(stack)
    g2 = ParticleGallery(s2, stack=Broken())
    assert g2.png == b"" and g2.message == "particle images not shown: particles.mrcs: Input/output error"
    assert s2.message_level == "error"


# ---------------------------------------------------------------- the view
def test_gallery_view_draws_the_model_and_drives_it(stack):
    from cryolatent.widgets.particles import GalleryView

    s = _state(stack)
    v = GalleryView(s, n_sample=8, ncols=4, size=D)
    g = v.gallery
    assert "cl-gallery" in v.image._dom_classes and "cl-resample" in v.resample_button._dom_classes
    assert v.image.value == g.png and g.png and v.image.layout.display == ""
    before = v.image.value
    v.resample_button.click()
    assert g.seed == 1 and v.image.value == g.png != before
    v.flip.value = True
    assert g.phase_flip and "phase-flipped" in v.caption.value
    v.lowpass.value = v.lowpass.options[3][1]
    assert g.resolution == v.lowpass.options[3][1]
    v.lowpass.value = 0.0
    assert g.resolution is None
    v.model.value = False
    assert not g.show_model
    s.set_filter("defocus_A", 1e9)
    assert v.image.layout.display == "none" and "no kept particles" in v.note.value


def test_gallery_view_without_a_stack_is_one_line():
    from cryolatent.widgets.particles import GalleryView

    v = GalleryView(synthetic_state(100))
    assert v.children == (v.note,) and "no particle stack" in v.note.value
