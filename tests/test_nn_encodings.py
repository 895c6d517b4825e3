from __future__ import annotations

import math

import pytest
import torch

from cryolatent.nn.encodings import PE_TYPES, make_encoding


FIXED = [t for t in PE_TYPES if "grid" not in t]  # the learned grids: tests/test_nn_grid.py


@pytest.mark.parametrize("pe_type", FIXED)
def test_out_dim_and_bounds(pe_type):
    D = 16
    enc = make_encoding(pe_type, D)
    coords = torch.rand(5, 7, 3) - 0.5
    out = enc(coords)
    assert out.shape == (5, 7, enc.out_dim)
    assert out.abs().max() <= 1.0 + 1e-6
    expected = 3 if pe_type == "none" else 6 * (D // 2)
    assert enc.out_dim == expected


@pytest.mark.parametrize("pe_type", [t for t in FIXED if t != "none"])
def test_pe_dim_sets_the_width(pe_type):
    enc = make_encoding(pe_type, 32, pe_dim=5)
    assert enc.out_dim == 30
    assert enc(torch.zeros(2, 3)).shape == (2, 30)


def test_geom_lowf_frequency_range():
    D = 64
    enc = make_encoding("geom_lowf", D)
    f = enc.freqs
    assert f.numel() == D // 2
    assert f.max().item() == pytest.approx(D / 2) and f.min().item() == pytest.approx(1.0)
    ratios = f[1:] / f[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))  # geometric
    # the shortest wavelength (in lattice pixels) is 4 pi, beyond Nyquist's 2
    assert 2 * math.pi / f.max().item() * D == pytest.approx(4 * math.pi)


def test_geom_ft_reaches_nyquist():
    D = 32
    f = make_encoding("geom_ft", D).freqs
    assert f.max().item() == pytest.approx(D * math.pi)
    assert f.min().item() == pytest.approx(2 * math.pi)


def test_gaussian_is_seeded_and_saved():
    a = make_encoding("gaussian", 16, seed=3)
    b = make_encoding("gaussian", 16, seed=3)
    c = make_encoding("gaussian", 16, seed=4)
    assert torch.equal(a.B, b.B) and not torch.equal(a.B, c.B)
    assert "B" in a.state_dict()


def test_unknown_type():
    with pytest.raises(ValueError, match="unknown positional encoding"):
        make_encoding("fourier", 16)


def test_encoding_is_float32_under_autocast():
    enc = make_encoding("gaussian", 64)
    coords = torch.rand(10, 3) - 0.5
    ref = enc(coords)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(coords)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref)
