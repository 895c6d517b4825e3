"""The learning-rate decay over the last epochs: its shape, its use in training, its settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _nn_helpers import assert_resumes_bit_identically, make_blob_dataset, one_thread, tiny_config
from cryolatent.errors import InputError
from cryolatent.training.data import ArrayStack
from cryolatent.training.config import TrainConfig
from cryolatent.training.loop import train
from cryolatent.training.model import build_from_config, make_optimizer, set_lrs
from cryolatent.training.schedules import lr_factor

D = 16


def test_constant_without_decay():
    assert {lr_factor(20, 0, 0.1, e, s, 10) for e in (1, 20) for s in (0, 9)} == {1.0}


def test_half_cosine_over_the_last_epochs():
    # 10 epochs of 4 batches, decay over the last 4 epochs to 0.1
    assert lr_factor(10, 4, 0.1, epoch=6, step=3, n_steps=4) == 1.0  # 5.75 epochs done: before the decay
    assert lr_factor(10, 4, 0.1, epoch=7, step=0, n_steps=4) == 1.0  # 6 epochs done: its start
    assert lr_factor(10, 4, 0.1, epoch=9, step=0, n_steps=4) == pytest.approx(0.55)  # half way: the mean
    assert lr_factor(10, 4, 0.1, epoch=8, step=0, n_steps=4) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi / 4)))
    factors = [lr_factor(10, 4, 0.1, e, s, 4) for e in range(1, 11) for s in range(4)]
    assert all(a >= b for a, b in zip(factors, factors[1:]))  # never rises
    assert factors[-1] > 0.1 and lr_factor(10, 4, 0.1, epoch=11, step=0, n_steps=4) == pytest.approx(0.1)


def test_decay_longer_than_training_starts_at_once():
    assert lr_factor(2, 4, 0.5, epoch=1, step=0, n_steps=1) < 1.0


def test_set_lrs_scales_every_group():
    cfg = tiny_config("x.mrcs", epochs=4, lr_decay_epochs=2, lr_final=0.2, grid_lr=0.02)
    cfg.model.pe_type = "grid"
    opt = make_optimizer(build_from_config(cfg, D), cfg)
    set_lrs(opt, cfg, epoch=1)
    assert [g["lr"] for g in opt.param_groups] == [cfg.optim.lr, 0.02]
    set_lrs(opt, cfg, epoch=5)  # past the end: the final factor
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2 * cfg.optim.lr, 0.2 * 0.02])


def test_training_with_decay_uses_it_and_resumes_bit_identically(tmp_path, monkeypatch):
    import cryolatent.training.loop as loop

    images, rots, trans, ctf, _ = make_blob_dataset(48, D, seed=1)
    stack = ArrayStack(images, (rots, trans), ctf, apix=4.0)
    cfg = tiny_config("memory", epochs=3, lr_decay_epochs=2, lr_final=0.1)
    seen: list[float] = []

    def spy(optimizer, config, *args):
        set_lrs(optimizer, config, *args)
        seen.append(optimizer.param_groups[0]["lr"] / config.optim.lr)

    with one_thread():
        monkeypatch.setattr(loop, "set_lrs", spy)
        full = train(cfg, tmp_path / "a", stack=stack, progress=False)
        monkeypatch.undo()
        n_steps = len(seen) // 3
        assert seen == pytest.approx([lr_factor(3, 2, 0.1, e, s, n_steps) for e in (1, 2, 3) for s in range(n_steps)])
        assert seen[0] == 1.0 and seen[-1] < 0.2  # every batch got its rate: constant, then falling
        assert_resumes_bit_identically(cfg, stack, tmp_path / "b", full, stop_after=2)
        plain = train(tiny_config("memory", epochs=3), tmp_path / "c", stack=stack, progress=False)
    assert any(not torch.equal(v, full.model.state_dict()[k]) for k, v in plain.model.state_dict().items())


@pytest.mark.parametrize("key, value", [("lr_decay_epochs", -1), ("lr_final", 0), ("lr_final", 1.5)])
def test_bad_decay_settings_are_refused(key, value):
    cfg = tiny_config("x.mrcs")
    setattr(cfg.optim, key, value)
    with pytest.raises(InputError, match=key):
        cfg.validate()


def test_decay_settings_round_trip():
    cfg = TrainConfig()
    cfg.data.particles = "p.mrcs"
    cfg.optim.lr_decay_epochs, cfg.optim.lr_final = 6.5, 0.05
    back = TrainConfig.from_yaml(cfg.to_yaml()).optim
    assert (back.lr_decay_epochs, back.lr_final) == (6.5, 0.05)
