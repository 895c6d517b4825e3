"""The Fourier-slice operator on voxel volumes, its adjoint, and image formation.

A central slice of a volume's centred 3-D transform, rotated by pose ``R``,
is sampled at ``k3 = k2 @ R`` (``k2 = (kx, ky, 0)`` in cycles per pixel times
the box, i.e. in lattice units). Sampling uses trilinear interpolation on an
optionally zero-padded (oversampled) transform; :func:`insert_slices` is the
exact adjoint of :func:`extract_slices` and is what back-projection uses.
"""

from __future__ import annotations

import numpy as np
import torch

from cryolatent.forward import fourier
from cryolatent.forward.ctf import ctf_from_params
from cryolatent.forward.lattice import image_lattice


def _trilinear(points: torch.Tensor, size: int):
    """Corner indices (flat) and weights for trilinear interpolation in a cube grid.

    ``points`` are ``(..., 3)`` fractional grid indices ordered (x, y, z) for an
    array ``[z, y, x]`` of side ``size``. Returns ``(..., 8)`` flat indices and
    weights; points whose cell is not inside the grid get weight 0.
    """
    base = torch.floor(points)
    frac = points - base
    base = base.long()
    inside = ((base >= 0) & (base <= size - 2)).all(-1)
    base = base.clamp(0, size - 2)
    flat0 = (base[..., 2] * size + base[..., 1]) * size + base[..., 0]
    step = torch.tensor([size * size, size, 1], device=points.device)
    corners = torch.tensor([[dz, dy, dx] for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)], device=points.device)
    indices = flat0.unsqueeze(-1) + corners @ step
    fx, fy, fz = frac.unbind(-1)
    wx = torch.stack([1 - fx, fx], -1)
    wy = torch.stack([1 - fy, fy], -1)
    wz = torch.stack([1 - fz, fz], -1) * inside.unsqueeze(-1)
    weights = (wz[..., :, None, None] * wy[..., None, :, None] * wx[..., None, None, :]).flatten(-3)
    return indices, weights


def _grid_points(coords: torch.Tensor, rots: torch.Tensor, size: int, oversample: float) -> torch.Tensor:
    """Rotated lattice coordinates (B, M, 3) as fractional indices of a ``size`` grid."""
    k3 = coords.to(rots.dtype) @ rots  # (B, M, 3) in lattice units of the unpadded box
    return k3 * oversample + size // 2


def volume_transform(vol, pad: int = 2) -> torch.Tensor:
    """Centred 3-D FFT of a real ``(D, D, D)`` volume zero-padded to ``pad * D``."""
    vol = torch.as_tensor(np.asarray(vol) if not isinstance(vol, torch.Tensor) else vol)
    D = vol.shape[-1]
    P = pad * D
    start = (P - D) // 2
    padded = torch.zeros((P, P, P), dtype=torch.float64 if vol.dtype == torch.float64 else torch.float32)
    padded[start : start + D, start : start + D, start : start + D] = vol
    return fourier.fft_center(padded, ndim=3)


def extract_slices(vol_ft: torch.Tensor, rots: torch.Tensor, coords: torch.Tensor, oversample: float) -> torch.Tensor:
    """Sample central slices of a centred Fourier volume.

    Parameters
    ----------
    vol_ft
        ``(P, P, P)`` complex centred transform (e.g. from :func:`volume_transform`).
    rots
        ``(B, 3, 3)`` pose matrices.
    coords
        ``(M, 3)`` image lattice coordinates in unpadded lattice units.
    oversample
        ``P / D``: grid units per lattice unit.

    Returns
    -------
    ``(B, M)`` complex samples.
    """
    size = vol_ft.shape[-1]
    idx, w = _trilinear(_grid_points(coords, rots.to(torch.float32), size, oversample), size)
    flat = vol_ft.reshape(-1)
    return (flat[idx] * w.to(flat.real.dtype)).sum(-1)


def insert_slices(
    target: torch.Tensor,
    values: torch.Tensor,
    rots: torch.Tensor,
    coords: torch.Tensor,
    oversample: float,
) -> torch.Tensor:
    """Adjoint of :func:`extract_slices`: add ``values`` into ``target`` in place.

    ``values`` is ``(B, M)`` for a ``(P, P, P)`` target, or ``(B, M, C)`` for a
    ``(P, P, P, C)`` target of ``C`` channels that share one interpolation
    (e.g. the real part, imaginary part and CTF weight of a back-projection).
    """
    size = target.shape[0]
    idx, w = _trilinear(_grid_points(coords, rots.to(torch.float32), size, oversample), size)
    w = w.to(values.real.dtype if values.is_complex() else values.dtype)
    if values.dim() == 2:
        contrib = values.unsqueeze(-1) * w  # (B, M, 8)
        target.view(-1).index_add_(0, idx.reshape(-1), contrib.reshape(-1).to(target.dtype))
    else:
        channels = values.shape[-1]
        contrib = values.unsqueeze(2) * w.unsqueeze(-1)  # (B, M, 8, C)
        target.view(-1, channels).index_add_(0, idx.reshape(-1), contrib.reshape(-1, channels).to(target.dtype))
    return target


def phase_shift(images_ft: torch.Tensor, coords: torch.Tensor, shifts_px: torch.Tensor, D: int) -> torch.Tensor:
    """Move images by ``shifts_px`` (``(B, 2)`` pixels, +x/+y) via their transforms.

    ``images_ft`` is ``(B, M)`` sampled at ``coords`` (lattice units); multiplies
    by ``exp(-2 pi i k . s)`` with ``k = coords / D``.
    """
    phase = -2 * np.pi * (coords[:, :2].to(shifts_px.dtype) / D) @ shifts_px.T  # (M, B)
    return images_ft * torch.polar(torch.ones_like(phase.T), phase.T)


def scatter_to_image(values: torch.Tensor, flat_index: torch.Tensor, D: int) -> torch.Tensor:
    """Place ``(B, M)`` lattice samples into zero-filled ``(B, D, D)`` centred transforms."""
    out = torch.zeros((values.shape[0], D * D), dtype=values.dtype)
    out[:, flat_index] = values
    return out.reshape(-1, D, D)


def form_images(
    proj_ft: torch.Tensor,
    coords: torch.Tensor,
    flat_index: torch.Tensor,
    D: int,
    trans: torch.Tensor | None = None,
    ctf: torch.Tensor | None = None,
) -> torch.Tensor:
    """Real-space images from projection transforms: shift by ``-trans*D`` and apply the CTF.

    Parameters
    ----------
    proj_ft
        ``(B, M)`` projection transforms on the lattice ``coords``.
    trans
        ``(B, 2)`` pose translations, fraction of box (the recorded particle sits
        at ``-trans * D`` pixels from the centre).
    ctf
        ``(B, 9)`` cryoDRGN CTF rows.
    """
    if trans is not None:
        proj_ft = phase_shift(proj_ft, coords, -trans.to(torch.float64) * D, D)
    if ctf is not None:
        c = ctf_from_params(coords[:, :2].to(torch.float64) / D, ctf.to(torch.float64))
        proj_ft = proj_ft * c
    img_ft = scatter_to_image(proj_ft.to(torch.complex64), flat_index, D)
    return fourier.ifft_center(img_ft, ndim=2).real.float()


def project_volume(
    vol,
    rots,
    trans=None,
    ctf=None,
    pad: int = 2,
    batch_size: int = 256,
) -> np.ndarray:
    """Noise-free images of a voxel volume (Fourier slice theorem), shifted and CTF-modulated.

    Parameters
    ----------
    vol
        ``(D, D, D)`` real volume, ``[z, y, x]``.
    rots
        ``(N, 3, 3)`` pose matrices; ``trans`` ``(N, 2)`` fraction of box; ``ctf`` ``(N, 9)``.
    pad
        Oversampling of the volume transform (2 keeps interpolation error small).

    Returns
    -------
    ``(N, D, D)`` float32 images: ``ctf * projection`` moved by ``-trans * D``.
    """
    vol = torch.as_tensor(np.asarray(vol, dtype=np.float32))
    D = vol.shape[-1]
    vol_ft = volume_transform(vol, pad)
    coords, flat_index = image_lattice(D)
    rots = torch.as_tensor(np.asarray(rots), dtype=torch.float32)
    out = np.empty((len(rots), D, D), dtype=np.float32)
    for start in range(0, len(rots), batch_size):
        sl = slice(start, start + batch_size)
        proj_ft = extract_slices(vol_ft, rots[sl], coords, pad)
        t = None if trans is None else torch.as_tensor(np.asarray(trans[sl]))
        c = None if ctf is None else torch.as_tensor(np.asarray(ctf[sl]))
        out[sl] = form_images(proj_ft, coords, flat_index, D, t, c).numpy()
    return out
