"""The encoder sees CTF-phase-flipped Hartley images (cryoDRGN's convention)."""

from __future__ import annotations

import torch

from cryolatent.forward.ctf import ctf_from_params
from cryolatent.nn.vae import build_model
from cryolatent.training.config import ModelConfig


def test_encoder_input_is_multiplied_by_the_ctf_sign():
    model = build_model(16, 2, enc_dim=8, enc_layers=1, dec_dim=8, dec_layers=1, pe_type="gaussian", pe_dim=None)
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    M = model.lattice.n_masked
    x = torch.randn(2, M)
    ctf = torch.tensor([[16, 4.0, 20000, 19000, 30, 300, 2.7, 0.1, 0]] * 2)
    rots = torch.eye(3).expand(2, 3, 3)
    model(x, rots, ctf)
    sign = torch.sign(ctf_from_params(model.lattice.masked_freqs, ctf))
    assert (sign < 0).any() and (sign > 0).any()  # the CTF oscillates on this lattice
    assert torch.allclose(seen[0], x * sign)
    model(x, rots, None)  # without a CTF the input is left as it is
    assert torch.allclose(seen[1], x)


def test_default_positional_encoding_is_cryodrgns():
    assert ModelConfig().pe_type == "gaussian"
