"""The feature-grid decoder (``pe_type="grid"``, :class:`cryolatent.nn.encodings.GridEncoding`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryolatent.forward.lattice import Lattice
from cryolatent.nn.decoder import CoordinateDecoder, canonicalize, eval_volume, render
from cryolatent.nn.encodings import GridEncoding, grid_resolutions, make_encoding
from cryolatent.training.data import ArrayStack
from cryolatent.training.loop import train
from cryolatent.training.model import build_from_config, make_optimizer, set_lrs

from _nn_helpers import assert_resumes_bit_identically, make_blob_dataset, one_thread, tiny_config

D = 16


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


def _grids(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [g for m in module.modules() if isinstance(m, GridEncoding) for g in m.grids]


def _decoder(zdim: int = 3, seed: int = 0, pe_type: str = "grid") -> CoordinateDecoder:
    torch.manual_seed(seed)
    dec = CoordinateDecoder(make_encoding(pe_type, D, grid_levels=3, grid_features=2, seed=seed), 32, 1, zdim)
    with torch.no_grad():  # features far from their small start, so that every level matters
        for grid in _grids(dec):
            grid.normal_()
    return dec


def test_resolutions_are_even_geometric_and_end_at_the_box():
    assert grid_resolutions(64, 4) == [8, 16, 32, 64]
    res = grid_resolutions(200, 5)
    assert res[0] == 8 and res[-1] == 200 and all(r % 2 == 0 for r in res) and res == sorted(res)
    ratios = np.diff(np.log(res))
    assert np.allclose(ratios, ratios.mean(), atol=0.1)
    assert grid_resolutions(128, 1) == [128] and grid_resolutions(64, 3, finest=32) == [8, 16, 32]


def test_trilinear_features_reproduce_a_linear_function_of_the_frequency():
    """Trilinear interpolation is exact for linear functions: this pins which grid axis is kx, ky, kz."""
    enc = GridEncoding([8, 14], features=3)
    with torch.no_grad():
        for r, grid in zip(enc.resolutions, enc.grids):
            kz = torch.linspace(0, 0.5, r // 2 + 1)[:, None, None]
            ky = torch.linspace(-0.5, 0.5, r + 1)[None, :, None]
            kx = torch.linspace(-0.5, 0.5, r + 1)[None, None, :]
            grid[0, 0] = kx + 0 * ky + 0 * kz
            grid[0, 1] = ky + 0 * kx + 0 * kz
            grid[0, 2] = 3 * kz + 2 * kx - ky
    k, _ = canonicalize(torch.rand(500, 3) - 0.5)
    out = enc(k)
    want = torch.stack([k[:, 0], k[:, 1], 3 * k[:, 2] + 2 * k[:, 0] - k[:, 1]], -1)
    for level in range(2):
        assert torch.allclose(out[:, 3 * level : 3 * level + 3], want, atol=1e-5)
    assert torch.allclose(out[:, 6:], 2 * k)  # then the coordinates
    assert out.shape == (500, enc.out_dim)


def test_the_hybrid_encoding_is_the_fourier_features_then_the_grid():
    enc = make_encoding("gaussian+grid", D, grid_levels=2, grid_features=3, grid_res=8, seed=4)
    fourier = make_encoding("gaussian", D, seed=4)
    grid = make_encoding("grid", D, grid_levels=2, grid_features=3, grid_res=8, seed=4)
    k, _ = canonicalize(torch.rand(200, 3) - 0.5)
    assert enc.out_dim == fourier.out_dim + grid.out_dim == enc(k).shape[-1]
    assert torch.equal(enc(k), torch.cat([fourier(k), grid(k)], -1))
    cfg = tiny_config("x.mrcs", grid_lr=0.03)
    cfg.model.pe_type = "gaussian+grid"
    model = build_from_config(cfg, D)
    opt = make_optimizer(model, cfg)  # its grids train at grid_lr, its Fourier features are a fixed buffer
    assert [g["lr"] for g in opt.param_groups] == [cfg.optim.lr, 0.03]
    assert {id(p) for p in opt.param_groups[1]["params"]} == {id(g) for g in _grids(model)} != set()


@pytest.mark.parametrize("pe_type", ["grid", "gaussian+grid"])
def test_the_grid_decoder_is_hermitian(pe_type):
    """``F(-k) = conj F(k)`` everywhere, the ``kz = 0`` plane included, so its volumes are real."""
    dec = _decoder(pe_type=pe_type)
    z = torch.randn(2, 3)
    k = torch.rand(2, 300, 3) - 0.5
    k[:, :50, 2] = 0  # on the kz = 0 plane (ties broken on ky, then kx)
    k[:, 50:60, 1:] = 0
    a, b = dec.ft(k, z)
    a2, b2 = dec.ft(-k, z)
    assert torch.allclose(a, a2) and torch.allclose(b, -b2)
    assert b.abs().max() > 1e-3  # not trivially symmetric: the imaginary part is not zero
    lat = Lattice(D)
    rots = torch.linalg.qr(torch.randn(2, 3, 3))[0]
    full = dec.hartley(lat.masked_coords @ rots, z)
    assert torch.allclose(render(dec, lat, rots, z), full, atol=1e-5)  # half the slice gives all of it


def test_the_volume_cache_follows_the_grid():
    dec = _decoder(zdim=2)
    z = torch.zeros(2)
    before = eval_volume(dec, z, D)
    assert torch.equal(before, eval_volume(dec, z, D))
    with torch.no_grad():
        _grids(dec)[-1].mul_(2)  # an optimiser step on the grid alone
    assert not torch.allclose(before, eval_volume(dec, z, D))


def test_grids_get_their_own_learning_rate():
    cfg = tiny_config("x.mrcs", grid_lr=0.02, grid_weight_decay=0.5)
    cfg.model.pe_type = "grid"
    model = build_from_config(cfg, D)
    opt = make_optimizer(model, cfg)
    assert [g["lr"] for g in opt.param_groups] == [cfg.optim.lr, 0.02]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.5]
    cfg.optim.grid_lr_decay = 0.5
    set_lrs(opt, cfg, 3)  # the third epoch: two halvings, the rest untouched
    assert [g["lr"] for g in opt.param_groups] == [cfg.optim.lr, 0.005]
    grid_ids = {id(p) for p in opt.param_groups[1]["params"]}
    assert grid_ids == {id(g) for g in model.decoder.encoding.grids}
    assert len(opt.param_groups[0]["params"]) + len(grid_ids) == len(list(model.parameters()))
    cfg.model.pe_type = "gaussian"
    assert len(make_optimizer(build_from_config(cfg, D), cfg).param_groups) == 1


def test_training_a_grid_decoder_learns_and_resumes_bit_identically(tmp_path):
    images, rots, trans, ctf, _ = make_blob_dataset(48, D, seed=1)
    stack = ArrayStack(images, (rots, trans), ctf, apix=4.0)
    cfg = tiny_config("memory", epochs=6, pixel_fraction=0.5, keep_radius=0.3, grid_lr_decay=0.7)
    cfg.model.pe_type, cfg.model.grid_levels, cfg.model.grid_features = "grid", 2, 4
    full = train(cfg, tmp_path / "a", stack=stack, progress=False)
    losses = [h["loss"] for h in full.history]
    assert all(np.isfinite(losses)) and max(losses[-2:]) < 0.95 * losses[0]
    assert_resumes_bit_identically(cfg, stack, tmp_path / "b", full, stop_after=3)


@pytest.mark.parametrize("key, value", [("grid_res", 7), ("grid_levels", 0), ("grid_features", 0)])
def test_bad_grid_settings_are_refused(key, value):
    from cryolatent.errors import InputError

    cfg = tiny_config("x.mrcs")
    setattr(cfg.model, key, value)
    with pytest.raises(InputError, match=key):
        cfg.validate()
    cfg = tiny_config("x.mrcs", grid_lr=0)
    with pytest.raises(InputError, match="grid learning rate"):
        cfg.validate()
    cfg = tiny_config("x.mrcs", grid_weight_decay=-1)
    with pytest.raises(InputError, match="grid_weight_decay"):
        cfg.validate()
    for decay in (0, 1.5):
        with pytest.raises(InputError, match="grid_lr_decay"):
            tiny_config("x.mrcs", grid_lr_decay=decay).validate()
