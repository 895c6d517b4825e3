from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cryolatent.forward.fourier import fft_center, ht_center, ifft_center, symmetrize_ht
from cryolatent.forward.geometry import random_rotations
from cryolatent.forward.lattice import Lattice
from cryolatent.nn.decoder import CoordinateDecoder, canonicalize, eval_volume, masked_ctf, render
from cryolatent.nn.encodings import make_encoding
from cryolatent.training.data import Preprocessor

from _nn_helpers import BlobDecoder


def _decoder(D=16, zdim=3, dtype=torch.float32):
    torch.manual_seed(0)
    dec = CoordinateDecoder(make_encoding("geom_lowf", D), 32, 2, zdim)
    return dec.to(dtype)


def test_lattice_is_centrosymmetric():
    lat = Lattice(16)
    c = lat.masked_coords
    assert torch.equal(c, -c.flip(0))
    assert lat.n_half == (lat.n_masked + 1) // 2
    assert torch.equal(c[lat.n_half - 1], torch.zeros(3))  # the origin closes the first half
    assert lat.coords.shape == (17 * 17, 3)
    # array order [y, x]: pixel [0, 1] has x = -0.5 + 1/16, y = -0.5
    assert torch.allclose(lat.coords[1], torch.tensor([-0.5 + 1 / 16, -0.5, 0.0]))
    assert not Lattice(16, include_dc=False).mask[17 * 17 // 2]


def test_canonical_half_space():
    c = torch.randn(1000, 3)
    c[:10, 2] = 0
    c[:3, 1] = 0
    cc, flip = canonicalize(c)
    cm, flipm = canonicalize(-c)
    assert torch.equal(cc, cm)
    assert torch.equal(flip, ~flipm)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_half_slice_equals_full_slice(dtype):
    D, B = 16, 4
    lat = Lattice(D).to(dtype)
    dec = _decoder(D, 3, dtype)
    rots = torch.as_tensor(random_rotations(B, 1), dtype=dtype)
    rots[0] = torch.eye(3, dtype=dtype)  # exercise the kz == 0 tie-break
    z = torch.randn(B, 3, dtype=dtype)
    with torch.no_grad():
        fast = render(dec, lat, rots, z)
        full = dec.hartley(lat.masked_coords.to(dtype) @ rots, z)
    assert fast.shape == (B, lat.n_masked)
    # -(k @ R) == (-k) @ R bit for bit, and the network sees identical canonical inputs
    assert torch.equal(fast, full), (fast - full).abs().max()


def test_hartley_of_mirror():
    dec = _decoder()
    k = torch.rand(50, 3) - 0.5
    z = torch.randn(1, 3)
    with torch.no_grad():
        a, b = dec.ft(k, z)
        h_neg = dec.hartley(-k, z)
    assert torch.allclose(h_neg, a + b, atol=1e-6)


def test_homogeneous_decoder_and_shapes():
    dec = CoordinateDecoder(make_encoding("none", 8), 16, 1, zdim=0)
    lat = Lattice(8)
    rots = torch.eye(3).expand(2, 3, 3)
    out = render(dec, lat, rots, None, masked_ctf(lat, torch.tensor([[8, 1.0, 1e4, 1e4, 0, 300, 2.7, 0.1, 0]] * 2)))
    assert out.shape == (2, lat.n_masked)
    assert torch.isfinite(out).all()


def _gauss_image(D, center_xy, sigma):
    x = np.arange(D) - D // 2
    yy, xx = np.meshgrid(x, x, indexing="ij")
    return np.exp(-((xx - center_xy[0]) ** 2 + (yy - center_xy[1]) ** 2) / (2 * sigma**2))


def test_translation_matches_fft_shift():
    D = 32
    rng = np.random.default_rng(0)
    img = rng.normal(size=(D, D))
    t = np.array([2.3, -4.7])  # pixels
    # centring: multiply F by exp(-2 pi i k.t)
    k = (np.arange(D) - D // 2) / D
    ky, kx = np.meshgrid(k, k, indexing="ij")
    shifted = ifft_center(fft_center(img) * np.exp(-2j * np.pi * (kx * t[0] + ky * t[1]))).real
    lat = Lattice(D).double()
    h = torch.from_numpy(symmetrize_ht(ht_center(img)))[None]
    moved = lat.translate(h.reshape(1, -1), torch.from_numpy(t[None]), masked=False).reshape(D + 1, D + 1)
    ref = ht_center(shifted)
    inner = (kx**2 + ky**2) < (0.5 - 1.0 / D) ** 2  # the Nyquist ring of a fractional shift is ambiguous
    assert np.allclose(moved[:-1, :-1].numpy()[inner], ref[inner], atol=1e-8)
    # the masked variant agrees with the full one
    masked = lat.translate(lat.select(h), torch.from_numpy(t[None]))
    assert torch.allclose(masked, lat.select(moved[None]), atol=1e-10)


def test_translation_centres_a_shifted_particle():
    D = 32
    t = np.array([3.0, -2.0])
    img = _gauss_image(D, -t, 2.0)  # the recorded particle is the projection moved by -t
    centred = _gauss_image(D, (0, 0), 2.0)
    lat = Lattice(D).double()
    h = lat.select(torch.from_numpy(symmetrize_ht(ht_center(img)))[None])
    out = lat.translate(h, torch.from_numpy(t[None]))
    ref = lat.select(torch.from_numpy(symmetrize_ht(ht_center(centred)))[None])
    assert torch.allclose(out, ref, atol=1e-8)


def test_eval_volume_blob_orientation():
    D = 32
    c = (5.0, -3.0, 7.0)  # (cx, cy, cz) pixels
    vol = eval_volume(BlobDecoder(c, sigma_px=1.5), None, D).numpy()
    assert vol.shape == (D, D, D)
    peak = np.unravel_index(np.argmax(vol), vol.shape)
    assert peak == (D // 2 + 7, D // 2 - 3, D // 2 + 5)
    assert vol.sum() == pytest.approx(1.0, rel=1e-4)  # F(0) = 1 is the sum of the volume
    assert vol.max() == pytest.approx((2 * math.pi * 1.5**2) ** -1.5, rel=0.02)


def test_eval_volume_downsample_keeps_position_and_scale():
    D = 32
    c = (4.0, -6.0, 2.0)
    full = eval_volume(BlobDecoder(c, sigma_px=3.0), None, D, norm=2.0).numpy()
    small = eval_volume(BlobDecoder(c, sigma_px=3.0), None, D, norm=2.0, out_box=16).numpy()
    assert small.shape == (16, 16, 16)
    peak = np.unravel_index(np.argmax(small), small.shape)
    assert peak == (8 + 1, 8 - 3, 8 + 2)
    assert small.max() == pytest.approx(full.max(), rel=0.1)
    assert small.sum() == pytest.approx(full.sum() / 8, rel=1e-3)  # same density, 8x fewer voxels


def test_render_matches_projection_of_the_blob():
    D = 32
    c = np.array([5.0, -3.0, 4.0])
    sigma = 1.5
    R = random_rotations(1, 7)[0]
    lat = Lattice(D).double()
    pred = render(BlobDecoder(c, sigma), lat, torch.from_numpy(R)[None])[0]
    # k3 = k2 @ R, so F3(k2 @ R) = G exp(-2 pi i k2.(R c)): the projection is a blob at (R c)_xy
    cxy = (R @ c)[:2]
    img = _gauss_image(D, cxy, sigma) / (2 * math.pi * sigma**2)
    ref = lat.select(torch.from_numpy(symmetrize_ht(ht_center(img)))[None])[0]
    assert torch.allclose(pred, ref, atol=2e-4), (pred - ref).abs().max()


def test_eval_volume_projects_to_the_rendered_slice():
    """eval_volume's volume, projected along z, is the (un-normalised) image the model renders
    for the identity pose: the volume has the orientation and scale of the training data
    (sign-inverted particles, i.e. positive protein for white particles)."""
    D = 16
    c = (2.0, 1.0, -3.0)
    dec = BlobDecoder(c, 1.2)
    vol = eval_volume(dec, None, D, norm=3.0).double()
    proj = vol.sum(0).numpy()  # identity pose: project along z
    lat = Lattice(D).double()
    pred = render(dec, lat, torch.eye(3, dtype=torch.float64)[None]) * 3.0
    pre = Preprocessor(D, invert=False, window=False)
    ref = lat.select(pre(proj[None]).double())
    assert torch.allclose(pred, ref, atol=1e-3 * ref.abs().max())


def test_latent_input_initialised_like_one_concatenated_layer():
    torch.manual_seed(0)
    enc = make_encoding("gaussian", 64)
    dec = CoordinateDecoder(enc, 256, 1, zdim=8)
    bound = 1 / math.sqrt(enc.out_dim + 8)
    for w in (dec.mlp.inp.weight, dec.mlp.inp.bias, dec.z_in.weight):
        assert float(w.abs().max()) <= bound
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.15)
    # so z moves the first layer no more than a positional feature does
    assert float(dec.z_in.weight.std()) == pytest.approx(float(dec.mlp.inp.weight.std()), rel=0.15)


def test_eval_volume_reuses_the_input_layer_until_the_weights_change():
    """Volumes after the first reuse the cached z-independent input layer: the same volume as
    evaluating everything, for any z; a weight update renews the cache."""
    torch.manual_seed(0)
    dec = CoordinateDecoder(make_encoding("gaussian", 16), hidden=32, layers=2, zdim=3)
    z1, z2 = torch.randn(1, 3), torch.randn(1, 3)
    plain = [eval_volume(_Uncached(dec), z, 16, chunk=500) for z in (z1, z2)]
    first = eval_volume(dec, z1, 16, chunk=500)
    key = dec._input_cache[0]
    second = eval_volume(dec, z2, 16, chunk=500)
    assert dec._input_cache[0] == key  # reused
    torch.testing.assert_close(first, plain[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(second, plain[1], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        dec.mlp.inp.weight.mul_(0.5)  # as an optimiser step would (in place)
    changed = eval_volume(dec, z1, 16, chunk=500)
    assert dec._input_cache[0] != key
    torch.testing.assert_close(changed, eval_volume(_Uncached(dec), z1, 16, chunk=500), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(changed, first)


class _Uncached(torch.nn.Module):
    """A decoder seen only through ``ft`` (no cache): the reference evaluation."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def ft(self, coords, z=None):
        return self.dec.ft(coords, z)
