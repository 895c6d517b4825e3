"""The encoder sees CTF-phase-flipped Hartley images (cryoDRGN's convention)."""

from __future__ import annotations

import torch

from cryolatent.forward.ctf import ctf_from_params
from cryolatent.nn.vae import build_model


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


def test_default_model_uses_cryodrgns_random_fourier_features():
    """cryoDRGN's default encoding: sin/cos of 3 * pe_dim random directions B ~ N(0, (0.5 * D / 2)^2 I)."""
    from cryolatent.nn.encodings import GaussianEncoding
    from cryolatent.training.config import TrainConfig
    from cryolatent.training.model import build_from_config

    D = 32
    model = build_from_config(TrainConfig.from_preset("tiny", particles="p.mrcs"), D)
    enc = model.decoder.encoding
    assert isinstance(enc, GaussianEncoding)
    assert enc.B.shape == (3 * (D // 2), 3) and enc.out_dim == 6 * (D // 2)
    off_axis = (enc.B != 0).sum(1) == 3  # random directions, not the axes of a geometric encoding
    assert off_axis.all() and abs(float(enc.B.std() / (D / 2)) - 0.5) < 0.1
