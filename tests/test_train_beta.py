"""The KL weight schedule (KL annealing) and its configuration."""

from __future__ import annotations

import pytest

from cryolatent.errors import InputError
from cryolatent.training.config import TrainConfig
from cryolatent.training.schedules import beta_at


def test_constant_beta_without_warmup():
    assert beta_at(0.125, 0, epoch=1, step=0, n_steps=10) == 0.125


def test_linear_ramp_over_warmup_epochs():
    assert beta_at(1.0, 2, epoch=1, step=0, n_steps=10) == 0.0
    assert beta_at(1.0, 2, epoch=1, step=5, n_steps=10) == pytest.approx(0.25)
    assert beta_at(1.0, 2, epoch=2, step=5, n_steps=10) == pytest.approx(0.75)
    assert beta_at(1.0, 2, epoch=3, step=0, n_steps=10) == 1.0


def test_warmup_round_trips_and_is_validated():
    cfg = TrainConfig()
    cfg.data.particles = "p.mrcs"
    cfg.optim.beta_warmup = 1.5
    assert TrainConfig.from_yaml(cfg.to_yaml()).optim.beta_warmup == 1.5
    cfg.optim.beta_warmup = -1
    with pytest.raises((InputError, ValueError), match="beta_warmup"):
        cfg.validate()
