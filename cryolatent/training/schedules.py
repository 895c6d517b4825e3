"""Per-batch schedules over training progress: KL warm-up, frequency marching, learning-rate decay.

A leaf of :mod:`cryolatent.training`. Every schedule is a pure function of the batch's place in
training (``epoch`` 1-based, ``step`` 0-based of ``n_steps``), so a resumed run sees the same values.
"""

from __future__ import annotations

import math


def epochs_done(epoch: int, step: int, n_steps: int) -> float:
    """Epochs trained before batch ``step`` (0-based) of ``n_steps`` in ``epoch`` (1-based)."""
    return epoch - 1 + step / max(n_steps, 1)


def beta_at(beta: float, warmup_epochs: float, epoch: int, step: int, n_steps: int) -> float:
    """KL weight at ``step`` of ``epoch`` (1-based): a linear ramp over ``warmup_epochs``, then ``beta``."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, epochs_done(epoch, step, n_steps) / warmup_epochs)


def march_radius(start: float, epochs: float, epoch: int, step: int, n_steps: int) -> float:
    """Frequency-marching radius (fraction of Nyquist) at ``step`` of ``epoch`` (1-based): linear
    from ``start`` at the first step to 1 after ``epochs`` epochs (1 when ``epochs`` is 0)."""
    if epochs <= 0:
        return 1.0
    return min(1.0, start + (1.0 - start) * (epochs_done(epoch, step, n_steps) / epochs))


def lr_factor(epochs: int, decay_epochs: float, final: float, epoch: int, step: int, n_steps: int) -> float:
    """The learning rates' factor at batch ``step`` (0-based) of ``n_steps`` in ``epoch`` (1-based).

    1 until the last ``decay_epochs`` of ``epochs``, then a half cosine down to ``final`` at the end of
    training (``decay_epochs`` 0: always 1).
    """
    if decay_epochs <= 0:
        return 1.0
    t = min(max((epochs_done(epoch, step, n_steps) - (epochs - decay_epochs)) / decay_epochs, 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))
