"""Which pixels a training batch renders: frequency marching and stochastic subsampling.

The decoder costs one evaluation per pixel pair of the half-slice (:mod:`cryolatent.nn.decoder`),
so rendering fewer pixels is the direct way to train faster. Two ways, used alone or together:

- **frequency marching** (coarse to fine, as cryoDRGN-AI's ``frequency_marching`` output mask):
  the batches of the first ``march_epochs`` render only the pixels within a radius that grows
  linearly from ``march_start`` x Nyquist to Nyquist; the loss is the mean over those pixels.
  Early epochs at a quarter of the radius cost about a sixteenth of the pixels.
- **stochastic subsampling**: each batch renders every pixel within ``keep_radius`` x Nyquist and
  a uniform random fraction of the others, weighted by the inverse of their probability, so
  that the loss is an unbiased estimate of the full-slice loss (the encoder still sees every
  pixel).

Pixels come in Friedel pairs (``p`` and ``M - 1 - p`` of the masked lattice): a subset is
given by its first-half indices and always holds both pixels of a pair.
"""

from __future__ import annotations

import torch

from cryolatent.forward.lattice import Lattice, PixelSubset, subset
from cryolatent.training.schedules import march_radius


def radius_px(lattice: Lattice) -> torch.Tensor:
    """``(n_half,)`` radius of each first-half masked pixel, in lattice pixels (``|k| * D``)."""
    return lattice.masked_coords[: lattice.n_half, :2].norm(dim=-1) * lattice.D


def within(lattice: Lattice, fraction: float) -> PixelSubset | None:
    """The pixels within ``fraction`` x Nyquist (None: all of them)."""
    if fraction >= 1.0:
        return None
    r = radius_px(lattice)
    half = torch.nonzero(r <= fraction * (lattice.D // 2) + 1e-6).squeeze(1)
    return subset(lattice, half)


def sample(lattice: Lattice, fraction: float, keep_radius: float, generator: torch.Generator | None = None,
           within_fraction: float = 1.0) -> PixelSubset | None:
    """A random subset of about ``fraction`` of the pixels (inside ``within_fraction`` x Nyquist):
    all of those within ``keep_radius`` x Nyquist, and each of the others with one probability
    ``q``, weighted ``1 / q``. ``norm`` is the number of pixels sampled from, so the weighted
    loss is unbiased for the loss over all of them. None when nothing would be dropped."""
    if fraction >= 1.0:
        return None if within_fraction >= 1.0 else within(lattice, within_fraction)
    nyquist = lattice.D // 2
    r = radius_px(lattice)
    pool = torch.nonzero(r <= within_fraction * nyquist + 1e-6).squeeze(1)
    kept = pool[r[pool] <= keep_radius * nyquist + 1e-6]
    rest = pool[r[pool] > keep_radius * nyquist + 1e-6]
    want = fraction * len(pool) - len(kept)
    if len(rest) == 0 or want >= len(rest):
        return within(lattice, within_fraction) if within_fraction < 1.0 else None
    q = max(want, 1.0) / len(rest)
    drawn = rest[torch.rand(len(rest), generator=generator, device=rest.device) < q]
    half = torch.cat([kept, drawn]).sort().values
    w = torch.ones(len(half), device=half.device)
    w[torch.isin(half, drawn)] = 1.0 / q
    full = subset(lattice, pool)
    return subset(lattice, half, w, norm=len(full.pixels))


def batch_pixels(lattice: Lattice, *, march_start: float, march_epochs: float, pixel_fraction: float,
                 keep_radius: float, epoch: int, step: int, n_steps: int,
                 generator: torch.Generator | None = None) -> PixelSubset | None:
    """The pixels of one training batch under the configured levers (None: every pixel)."""
    radius = march_radius(march_start, march_epochs, epoch, step, n_steps)
    return sample(lattice, pixel_fraction, keep_radius, generator, within_fraction=radius)
