"""Every frequency lattice, in one place.

- :func:`frequency_grid` the centred ``D``-box grid in cycles per pixel (numpy),
  used for CTFs, FSC shells and masks;
- :func:`image_lattice` the pixels of a ``D``-box image inside a circle, in lattice
  units (``k * D``), for the voxel forward model and back-projection;
- :func:`volume_lattice` a ``(D+1)^3`` grid on ``[-extent, extent]`` where the
  coordinate decoder is evaluated to render a volume;
- :class:`Lattice` the ``(D+1) x (D+1)`` Hartley training lattice (below), and
  :class:`PixelSubset` a set of its Friedel pairs that a batch renders.

The (D+1) x (D+1) Hartley training lattice.

A centred Hartley image of even size D is symmetrized to ``D+1`` pixels per
side (:func:`cryolatent.forward.fourier.symmetrize_ht`), so its grid is symmetric about
the origin: pixel ``[i, j]`` (array order ``[y, x]``) has frequency
``(x, y) = (-0.5 + j/D, -0.5 + i/D)`` cycles per pixel, and the flattened pixel
``p`` is the mirror (``k -> -k``) of pixel ``n - 1 - p``.  Every subset that is
selected by a centrosymmetric mask keeps that property, which lets the decoder
evaluate only half of a slice (:mod:`cryolatent.nn.decoder`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def frequency_grid(D: int, ndim: int = 2) -> np.ndarray:
    """Centred frequency coordinates of a D-box, in cycles per pixel.

    Returns an array of shape ``(D,)*ndim + (ndim,)`` whose last axis is ordered
    ``(kx, ky[, kz])`` while the grid axes are ``[.., y, x]`` (array order), with
    ``k = (i - D//2) / D``.
    """
    k = (np.arange(D) - D // 2) / D
    axes = np.meshgrid(*([k] * ndim), indexing="ij")  # axes[0] varies along the first array axis
    return np.stack(axes[::-1], axis=-1)


def image_lattice(D: int, radius: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattice coordinates of a D-box image, in pixels of frequency (``k * D``).

    Returns
    -------
    coords
        ``(M, 3)`` float tensor ``(kx, ky, 0)`` of the pixels inside the circle.
    flat_index
        ``(M,)`` long tensor: their positions in the flattened ``(D, D)`` image.
    """
    k = torch.from_numpy(frequency_grid(D, 2).reshape(-1, 2) * D).float()
    radius = D / 2 if radius is None else radius
    inside = (k**2).sum(-1) <= radius**2
    flat_index = torch.nonzero(inside).squeeze(1)
    coords = torch.cat([k[flat_index], torch.zeros(len(flat_index), 1)], dim=1)
    return coords, flat_index


def volume_lattice(D: int, extent: float = 0.5) -> torch.Tensor:
    """``((D+1)**3, 3)`` coordinates ``(x, y, z)`` on ``[-extent, extent]``, flattened in array order ``[z, y, x]``."""
    ax = torch.linspace(-extent, extent, D + 1, dtype=torch.float64)
    zz, yy, xx = torch.meshgrid(ax, ax, ax, indexing="ij")
    return torch.stack([xx, yy, zz], -1).reshape(-1, 3)


class Lattice(nn.Module):
    """Lattice coordinates, circular mask and Hartley-space translation for box ``D``.

    Parameters
    ----------
    D
        Image box size in pixels (even).
    radius
        Mask radius in lattice pixels (``|k| * D <= radius``); default ``D // 2``.
    include_dc
        Keep the origin in the mask.

    Attributes
    ----------
    coords
        ``(n, 3)`` coordinates ``(x, y, 0)`` on ``[-0.5, 0.5]`` of the
        ``n = (D+1)**2`` pixels, flattened in array order ``[y, x]``.
    mask
        ``(n,)`` bool, the pixels kept for training.
    index
        ``(M,)`` flat indices of the masked pixels (centrosymmetric order).
    masked_coords, masked_freqs
        ``(M, 3)`` coordinates / ``(M, 2)`` frequencies (cycles per pixel) of the masked pixels.
    n_half
        Number of leading masked pixels whose mirrors are the rest (the origin included).

    All tensors are non-persistent buffers: ``lattice.to(device)`` moves them and
    they never enter a ``state_dict``.
    """

    def __init__(self, D: int, radius: float | None = None, include_dc: bool = True):
        super().__init__()
        if D < 2 or D % 2:
            raise ValueError(f"the box size must be even and >= 2, got {D}")
        self.D = int(D)
        self.radius = float(D // 2 if radius is None else radius)
        self.include_dc = bool(include_dc)
        ax = torch.linspace(-0.5, 0.5, D + 1, dtype=torch.float64)
        y, x = torch.meshgrid(ax, ax, indexing="ij")
        coords = torch.stack([x, y, torch.zeros_like(x)], -1).reshape(-1, 3)
        r2 = ((coords[:, :2] * D) ** 2).sum(-1)
        mask = r2 <= self.radius**2 + 1e-6
        if not include_dc:
            mask[(D + 1) ** 2 // 2] = False
        index = torch.nonzero(mask).squeeze(1)
        self.register_buffer("coords", coords.float(), persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("masked_coords", coords[index].float(), persistent=False)
        self.register_buffer("masked_freqs", coords[index, :2].float(), persistent=False)
        self.n_half = (len(index) + 1) // 2

    @property
    def size(self) -> int:
        """Pixels per side of the lattice, ``D + 1``."""
        return self.D + 1

    @property
    def n_masked(self) -> int:
        """Number of masked pixels ``M``."""
        return int(self.index.numel())

    def select(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, D+1, D+1)`` lattice images -> ``(B, M)`` masked pixels."""
        return images.reshape(*images.shape[:-2], -1)[..., self.index]

    def translate(self, ht: torch.Tensor, trans_px: torch.Tensor, masked: bool = True) -> torch.Tensor:
        """Shift Hartley images so that ``F(k)`` is multiplied by ``exp(-2 pi i k.t)``.

        ``H'(k) = cos(2 pi k.t) H(k) + sin(2 pi k.t) H(-k)``; with ``t`` the particle
        offset in pixels (``trans * D``) this centres a recorded particle.

        Parameters
        ----------
        ht
            ``(B, M)`` masked pixels (``masked=True``) or ``(B, D+1, D+1)`` /
            ``(B, (D+1)**2)`` lattice images.
        trans_px
            ``(B, 2)`` offsets ``(tx, ty)`` in pixels.
        """
        shape = ht.shape
        flat = ht.reshape(shape[0], -1)
        freqs = self.masked_freqs if masked else self.coords[:, :2]
        # elementwise (not a matmul) so that autocast never rounds the phases
        t = trans_px.to(freqs.dtype)
        phase = (2 * math.pi) * (t[:, None, 0] * freqs[:, 0] + t[:, None, 1] * freqs[:, 1])  # (B, M)
        out = torch.cos(phase) * flat + torch.sin(phase) * flat.flip(-1)
        return out.reshape(shape)


@dataclass
class PixelSubset:
    """Pixels a batch renders.

    Attributes
    ----------
    half
        ``(S,)`` sorted indices into the first ``lattice.n_half`` masked pixels.
    mirrored
        ``(S,)`` bool: the pixels of ``half`` whose mirror is another pixel (all but the origin).
    pixels
        ``(P,)`` the masked pixels they stand for: ``half``, then their mirrors (the origin once).
    weights
        ``(P,)`` loss weight of each pixel (None: all 1).
    norm
        The loss is ``sum(weights * err) / norm`` per image: ``P`` for a plain subset (a mean over
        it), the full pixel count for an importance-weighted one (an unbiased estimate).
    """

    half: torch.Tensor
    mirrored: torch.Tensor
    pixels: torch.Tensor
    weights: torch.Tensor | None
    norm: float


def subset(lattice: Lattice, half: torch.Tensor, weights_half: torch.Tensor | None = None,
           norm: float | None = None) -> PixelSubset:
    """The :class:`PixelSubset` of first-half pixels ``half`` (sorted), with optional per-pair weights."""
    M = lattice.n_masked
    origin = M % 2 == 1  # an odd count: the last first-half pixel is the origin, its own mirror
    mirror_keep = half != (lattice.n_half - 1) if origin else torch.ones_like(half, dtype=torch.bool)
    pixels = torch.cat([half, (M - 1 - half)[mirror_keep]])
    weights = None if weights_half is None else torch.cat([weights_half, weights_half[mirror_keep]])
    return PixelSubset(half, mirror_keep, pixels, weights, float(len(pixels) if norm is None else norm))
