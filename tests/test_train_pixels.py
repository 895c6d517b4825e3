"""Rendering fewer pixels per batch: frequency marching and stochastic subsampling (cryolatent.training.pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryolatent.forward.lattice import Lattice
from cryolatent.nn.decoder import CoordinateDecoder, render
from cryolatent.nn.encodings import make_encoding
from cryolatent.nn.losses import recon_loss, vae_loss
from cryolatent.training.data import ArrayStack
from cryolatent.training.loop import train
from cryolatent.training.pixels import batch_pixels, radius_px, sample, within
from cryolatent.training.schedules import march_radius

from _nn_helpers import assert_resumes_bit_identically, make_blob_dataset, one_thread, tiny_config

D = 16


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.mark.parametrize("include_dc", [True, False])
def test_a_subset_holds_whole_friedel_pairs(include_dc):
    lat = Lattice(D, include_dc=include_dc)
    sub = within(lat, 0.5)
    M = lat.n_masked
    pix = set(sub.pixels.tolist())
    assert len(pix) == len(sub.pixels)  # each pixel once (the origin too)
    assert all(M - 1 - p in pix for p in pix)  # ... with its mirror
    r = (lat.masked_coords[sub.pixels, :2].norm(dim=-1) * D).numpy()
    r_all = (lat.masked_coords[:, :2].norm(dim=-1) * D).numpy()
    assert r.max() <= 0.5 * D / 2 + 1e-6 and (r_all <= 0.5 * D / 2 + 1e-6).sum() == len(pix)  # exactly those inside


def test_rendering_a_subset_gives_the_full_rendering_at_those_pixels():
    torch.manual_seed(0)
    lat = Lattice(D)
    dec = CoordinateDecoder(make_encoding("gaussian", D), 16, 1, zdim=2)
    rots = torch.linalg.qr(torch.randn(3, 3, 3)).Q
    z, ctf = torch.randn(3, 2), torch.rand(3, lat.n_masked) + 0.5
    with torch.no_grad():
        full = render(dec, lat, rots, z, ctf)
        for sub in (within(lat, 0.4), sample(lat, 0.3, 0.2, torch.Generator().manual_seed(1))):
            part = render(dec, lat, rots, z, ctf, sub)
            torch.testing.assert_close(part, full[:, sub.pixels], rtol=1e-5, atol=1e-6)


def test_the_marching_radius_grows_linearly_to_nyquist():
    assert march_radius(0.25, 4, 1, 0, 10) == 0.25
    assert march_radius(0.25, 4, 3, 0, 10) == pytest.approx(0.25 + 0.75 * 2 / 4)
    assert march_radius(0.25, 4, 2, 5, 10) == pytest.approx(0.25 + 0.75 * 1.5 / 4)
    assert march_radius(0.25, 4, 5, 0, 10) == 1.0 and march_radius(0.25, 4, 9, 3, 10) == 1.0
    assert march_radius(0.25, 0, 1, 0, 10) == 1.0  # off
    lat = Lattice(64)
    quarter = batch_pixels(lat, march_start=0.25, march_epochs=4, pixel_fraction=1.0, keep_radius=0.25,
                           epoch=1, step=0, n_steps=10)
    assert 0.05 < len(quarter.pixels) / lat.n_masked < 0.08  # a quarter of the radius: ~1/16 of the pixels
    assert batch_pixels(lat, march_start=0.25, march_epochs=4, pixel_fraction=1.0, keep_radius=0.25,
                        epoch=5, step=0, n_steps=10) is None  # marching over: every pixel


def test_subsampled_loss_is_unbiased_for_the_full_loss():
    lat = Lattice(D)
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(4, lat.n_masked, generator=g), torch.randn(4, lat.n_masked, generator=g)
    pred = pred * (1 + 3 * (radius_px(lat).repeat(2)[: lat.n_masked] / D))  # errors that grow with radius
    full = float(recon_loss(pred, target))
    draws = []
    for _ in range(3000):
        sub = sample(lat, 0.3, 0.25, g)
        assert sub.weights is not None and sub.norm == lat.n_masked
        draws.append(float(recon_loss(pred[:, sub.pixels], target[:, sub.pixels], sub.weights, sub.norm)))
    draws = np.array(draws)
    assert abs(draws.mean() - full) < 4 * draws.std() / np.sqrt(len(draws))  # unbiased ...
    assert draws.std() > 0.01 * full  # ... and really random
    fractions = [len(sample(lat, 0.3, 0.25, g).pixels) / lat.n_masked for _ in range(200)]
    assert np.mean(fractions) == pytest.approx(0.3, abs=0.03)


def test_kl_keeps_the_full_slice_normalisation():
    mu, logvar = torch.ones(2, 3), torch.zeros(2, 3)
    pred = target = torch.zeros(2, 10)
    loss, _, kl = vae_loss(pred, target, mu, logvar, beta=1.0, weights=torch.ones(10), norm=100.0, n_pixels=100)
    assert float(loss) == pytest.approx(float(kl) / 100)


def test_training_with_both_levers_learns_and_resumes_bit_identically(tmp_path):
    images, rots, trans, ctf, _ = make_blob_dataset(48, D, seed=1)
    stack = ArrayStack(images, (rots, trans), ctf, apix=4.0)
    cfg = tiny_config("memory", epochs=3, march_epochs=2, march_start=0.3, pixel_fraction=0.5, keep_radius=0.2)
    full = train(cfg, tmp_path / "a", stack=stack, progress=False)
    losses = [h["loss"] for h in full.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert_resumes_bit_identically(cfg, stack, tmp_path / "b", full, stop_after=1)


@pytest.mark.parametrize("key, value", [("march_start", 0), ("pixel_fraction", 1.5), ("keep_radius", -0.1),
                                        ("march_epochs", -1)])
def test_bad_lever_settings_are_refused(key, value):
    from cryolatent.errors import InputError

    cfg = tiny_config("x.mrcs")
    setattr(cfg.optim, key, value)
    with pytest.raises(InputError, match=key):
        cfg.validate()
