"""Centred Fourier and Hartley transforms of images and volumes (torch or numpy in, same out).

The origin of a box of size D is index ``D // 2`` in both domains.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x):
    return (torch.from_numpy(np.asarray(x)), True) if not isinstance(x, torch.Tensor) else (x, False)


def _back(x: torch.Tensor, was_numpy: bool):
    return x.numpy() if was_numpy else x


def fft_center(x, ndim: int = 2):
    """Centred forward FFT over the last ``ndim`` axes: ``fftshift(fftn(ifftshift(x)))``."""
    t, was_np = _as_tensor(x)
    dims = tuple(range(-ndim, 0))
    out = torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(t, dim=dims), dim=dims), dim=dims)
    return _back(out, was_np)


def ifft_center(x, ndim: int = 2):
    """Inverse of :func:`fft_center` (complex output)."""
    t, was_np = _as_tensor(x)
    dims = tuple(range(-ndim, 0))
    out = torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(t, dim=dims), dim=dims), dim=dims)
    return _back(out, was_np)


def ht_center(x, ndim: int = 2):
    """Centred Hartley transform ``Re F - Im F`` over the last ``ndim`` axes."""
    f = fft_center(x, ndim)
    return f.real - f.imag


def iht_center(x, ndim: int = 2):
    """Inverse of :func:`ht_center` (the Hartley transform is its own inverse up to 1/N)."""
    t, was_np = _as_tensor(x)
    n = int(np.prod(t.shape[-ndim:]))
    out = ht_center(t, ndim) / n
    return _back(out, was_np)


def symmetrize_ht(ht):
    """Pad a centred Hartley image stack ``(..., D, D)`` (D even) to ``D+1`` by wrapping
    the -Nyquist row/column to +Nyquist, so the lattice is symmetric about the origin."""
    t, was_np = _as_tensor(ht)
    out = torch.cat([t, t[..., :1, :]], dim=-2)
    out = torch.cat([out, out[..., :, :1]], dim=-1)
    return _back(out, was_np)
