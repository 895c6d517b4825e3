from __future__ import annotations

import math

import pytest
import torch

from cryolatent.nn.losses import kl_divergence, recon_loss, vae_loss


def test_recon_is_mean_square():
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    assert recon_loss(pred, target).item() == pytest.approx((1 + 4 + 1 + 9) / 4)


def test_kl_zero_at_prior():
    assert kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_kl_by_hand():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per particle: -0.5 * sum(1 + lv - mu^2 - e^lv)
    kl0 = -0.5 * ((1 + 0 - 1 - 1) + (1 + math.log(2) - 0 - 2))
    kl1 = -0.5 * ((1 - 1) + (1 + 0 - 4 - 1))
    assert kl_divergence(mu, logvar).item() == pytest.approx((kl0 + kl1) / 2)


def test_total_loss_normalisation():
    pred = torch.zeros(2, 4)
    target = torch.ones(2, 4)
    mu = torch.ones(2, 2)
    logvar = torch.zeros(2, 2)
    loss, recon, kl = vae_loss(pred, target, mu, logvar, beta=0.5)
    assert recon.item() == pytest.approx(1.0)
    assert kl.item() == pytest.approx(1.0)  # 0.5 * (1 + 1) per particle
    assert loss.item() == pytest.approx(1.0 + 0.5 * 1.0 / 4)


def test_homogeneous_loss_has_no_kl():
    loss, recon, kl = vae_loss(torch.zeros(1, 3), torch.ones(1, 3), None, None, beta=1.0)
    assert loss.item() == recon.item() == 1.0 and kl.item() == 0.0
