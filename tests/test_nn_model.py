from __future__ import annotations

import pytest
import torch

from cryolatent.nn import MLP, Encoder, HetVAE, build_model, vae_loss
from cryolatent.nn.decoder import CoordinateDecoder
from cryolatent.nn.encodings import make_encoding

SIZES = dict(enc_dim=32, enc_layers=2, dec_dim=24, dec_layers=2, pe_type="geom_lowf", pe_dim=None)


def test_mlp_structure():
    mlp = MLP(5, 8, 3, 2)
    assert len(mlp.hidden) == 3
    assert mlp(torch.randn(4, 5)).shape == (4, 2)
    assert mlp(torch.randn(4, 7, 5), shift=torch.randn(4, 1, 8)).shape == (4, 7, 2)
    plain = MLP(5, 8, 0, 2, residual=False)
    assert plain(torch.randn(3, 5)).shape == (3, 2)


def test_encoder_shapes():
    enc = Encoder(100, 16, 1, zdim=4)
    mu, logvar = enc(torch.randn(3, 100))
    assert mu.shape == logvar.shape == (3, 4)
    with pytest.raises(ValueError):
        Encoder(100, 16, 1, zdim=0)


def test_vae_forward_and_backward():
    D, B = 16, 3
    model = build_model(D, 4, **SIZES)
    x = torch.randn(B, model.lattice.n_masked)
    rots = torch.eye(3).expand(B, 3, 3)
    ctf = torch.tensor([[D, 2.0, 1e4, 1.2e4, 30, 300, 2.7, 0.1, 0]] * B)
    pred, mu, logvar = model(x, rots, ctf)
    assert pred.shape == (B, model.lattice.n_masked)
    assert mu.shape == logvar.shape == (B, 4)
    loss, recon, kl = vae_loss(pred, x, mu, logvar, beta=0.25)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.encoder.mlp.inp.in_features == model.lattice.n_masked
    # the deterministic path uses mu
    p1, _, _ = model(x, rots, ctf, sample=False)
    p2, _, _ = model(x, rots, ctf, sample=False)
    assert torch.equal(p1, p2)


def test_lattice_not_in_state_dict():
    model = build_model(16, 2, **SIZES)
    assert not any(k.startswith("lattice") for k in model.state_dict())


def test_homogeneous_model():
    model = build_model(16, 0, **SIZES)
    assert model.encoder is None and model.zdim == 0
    pred, mu, logvar = model(None, torch.eye(3)[None])
    assert pred.shape == (1, model.lattice.n_masked) and mu is None


def test_mismatched_parts():
    dec = CoordinateDecoder(make_encoding("none", 8), 8, 1, zdim=2)
    from cryolatent.forward.lattice import Lattice

    with pytest.raises(ValueError):
        HetVAE(None, dec, Lattice(8))
    with pytest.raises(ValueError):
        HetVAE(Encoder(10, 8, 1, 3), dec, Lattice(8))


def test_autocast_bf16_forward():
    model = build_model(16, 2, **SIZES)
    x = torch.randn(2, model.lattice.n_masked)
    rots = torch.eye(3).expand(2, 3, 3)
    ref, _, _ = model(x, rots, sample=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, mu, _ = model(x, rots, sample=False)
    assert out.dtype == torch.float32 and mu.dtype == torch.float32
    assert (out - ref).abs().max() < 0.05 * ref.abs().max() + 1e-3
