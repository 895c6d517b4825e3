"""Fourier shell correlation between two maps, its resolution and area under the curve.

With a pixel size (``apix``, Angstrom) resolutions are in Angstrom and frequencies
in 1/A; without one (``apix=None``: unknown) they are in pixels: a resolution is
the period of the shell in pixels (2 px is Nyquist) and frequencies are in 1/px.
No pixel size is ever assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cryolatent.forward import fourier
from cryolatent.forward.lattice import frequency_grid


PIXELS_NOTE = "the pixel size is unknown: resolutions are periods in pixels (px), frequencies in 1/px"
"""What a report of an FSC without a pixel size says once."""


@dataclass
class FSCResult:
    """An FSC curve and its summary numbers.

    ``freq`` is in cycles per pixel (0 .. 0.5). ``apix`` is the pixel size in
    Angstrom, or None when unknown; ``resolution_*`` are then in pixels instead
    of Angstrom (see :attr:`unit`). A curve that never drops below a threshold
    reports Nyquist (``2 * apix``, or 2 px).
    """

    freq: np.ndarray
    fsc: np.ndarray
    apix: float | None
    resolution_05: float
    resolution_0143: float
    auc: float

    @property
    def unit(self) -> str:
        """``"A"`` with a pixel size, ``"px"`` without."""
        return "A" if self.apix else "px"

    @property
    def frequency(self) -> np.ndarray:
        """Spatial frequency of each shell in 1/:attr:`unit` (1/A, or 1/px when the pixel size is unknown)."""
        return self.freq / self.apix if self.apix else self.freq

    def format(self, value: float, digits: int = 2) -> str:
        """A resolution with its unit, e.g. ``"6.40 A"`` or ``"4.20 px"``."""
        return f"{value:.{digits}f} {self.unit}"

    def to_text(self) -> str:
        """Two-column text table (frequency in 1/A, or 1/px without a pixel size; FSC)."""
        lines = [f"# freq_1/{self.unit}  fsc"]
        if not self.apix:
            lines.insert(0, f"# {PIXELS_NOTE}")
        lines += [f"{f:.6f}  {c:.6f}" for f, c in zip(self.frequency, self.fsc)]
        return "\n".join(lines) + "\n"


def _shell_index(D: int) -> np.ndarray:
    k = frequency_grid(D, 3) * D
    return np.round(np.sqrt((k**2).sum(-1))).astype(np.int64)


def fsc_curve(vol1, vol2, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """FSC of two ``(D, D, D)`` maps in shells of one Fourier pixel, up to Nyquist.

    Parameters
    ----------
    vol1, vol2
        Real maps on the same grid.
    mask
        Optional real-space mask (same shape), applied to both maps first.

    Returns
    -------
    freq, fsc
        ``freq`` in cycles per pixel for shells ``0 .. D//2``; ``fsc`` in [-1, 1].
    """
    v1 = np.asarray(vol1, dtype=np.float64)
    v2 = np.asarray(vol2, dtype=np.float64)
    if v1.shape != v2.shape or v1.ndim != 3 or len(set(v1.shape)) != 1:
        raise ValueError(f"FSC needs two cubic maps of the same shape, got {v1.shape} and {v2.shape}")
    if mask is not None:
        v1 = v1 * mask
        v2 = v2 * mask
    D = v1.shape[0]
    f1 = fourier.fft_center(torch.from_numpy(v1), ndim=3).numpy()
    f2 = fourier.fft_center(torch.from_numpy(v2), ndim=3).numpy()
    shells = _shell_index(D).ravel()
    n = D // 2 + 1
    keep = shells < n
    shells = shells[keep]
    f1 = f1.ravel()[keep]
    f2 = f2.ravel()[keep]
    cross = np.bincount(shells, (f1 * np.conj(f2)).real, minlength=n)
    p1 = np.bincount(shells, np.abs(f1) ** 2, minlength=n)
    p2 = np.bincount(shells, np.abs(f2) ** 2, minlength=n)
    denom = np.sqrt(p1 * p2)
    fsc = np.divide(cross, denom, out=np.zeros(n), where=denom > 0)
    return np.arange(n) / D, fsc


def resolution_at(freq: np.ndarray, fsc: np.ndarray, threshold: float) -> float:
    """First frequency (cycles/pixel) where the FSC drops below ``threshold``, interpolated.

    Returns the Nyquist frequency 0.5 if it never drops below.
    """
    below = np.nonzero(fsc[1:] < threshold)[0]
    if len(below) == 0:
        return float(freq[-1])
    i = below[0] + 1
    f0, f1, c0, c1 = freq[i - 1], freq[i], fsc[i - 1], fsc[i]
    if c0 == c1:
        return float(f0)
    return float(f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1))


def fsc(vol1, vol2, mask=None, apix: float | None = None) -> FSCResult:
    """FSC curve, resolution at 0.5 and 0.143 and normalised AUC.

    Resolutions are in Angstrom when ``apix`` (Angstrom per pixel) is given, else
    in pixels (``apix=None``: the pixel size is unknown). The AUC is the mean FSC
    over shells 1 .. Nyquist (trapezoid over frequency, divided by 0.5), so a
    perfect match gives 1.
    """
    if apix is not None and not (np.isfinite(apix) and apix > 0):
        raise ValueError(f"pixel size {apix} A is not a positive number")
    freq, curve = fsc_curve(vol1, vol2, mask)
    auc = float(np.trapezoid(curve[1:], freq[1:]) / (freq[-1] - freq[1])) if len(freq) > 2 else float(curve[-1])
    size = float(apix) if apix else 1.0  # a period in pixels when the pixel size is unknown

    def period(f):
        return size / f if f > 0 else float("inf")

    return FSCResult(
        freq=freq,
        fsc=curve,
        apix=float(apix) if apix else None,
        resolution_05=period(resolution_at(freq, curve, 0.5)),
        resolution_0143=period(resolution_at(freq, curve, 0.143)),
        auc=auc,
    )


def soft_sphere_mask(D: int, radius: float | None = None, width: float = 3.0) -> np.ndarray:
    """A spherical real-space mask with a raised-cosine edge (radius defaults to 0.45 D)."""
    radius = 0.45 * D if radius is None else radius
    k = frequency_grid(D, 3) * D  # pixel coordinates about the centre, same layout
    r = np.sqrt((k**2).sum(-1))
    edge = np.clip((r - radius) / width, 0, 1)
    return (0.5 * (1 + np.cos(np.pi * edge))).astype(np.float32)
