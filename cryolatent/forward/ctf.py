"""Contrast transfer function, in cryoDRGN's ``ctf.pkl`` parameterisation.

A CTF parameter row has 9 columns (cryoDRGN's ``ctf.pkl``):
``D, apix, dfU (A), dfV (A), dfang (deg), voltage (kV), Cs (mm), w, phase_shift (deg)``.
"""

from __future__ import annotations

import numpy as np
import torch

CTF_COLUMNS = ("D", "apix", "dfU", "dfV", "dfang", "voltage", "cs", "w", "phase_shift")


def electron_wavelength(voltage_kV):
    """Relativistic electron wavelength in Angstrom for an accelerating voltage in kV."""
    volts = voltage_kV * 1000.0
    return 12.2643247 / (volts + 0.978466e-6 * volts**2) ** 0.5


def compute_ctf(freqs_A, dfU, dfV, dfang, voltage, cs, w, phase_shift=0.0, bfactor=None):
    """Evaluate the CTF at spatial frequencies (torch tensors or numpy arrays).

    Parameters
    ----------
    freqs_A
        ``(..., 2)`` frequencies ``(sx, sy)`` in 1/Angstrom.
    dfU, dfV
        Defocus along the major / minor axis, Angstrom (positive = underfocus).
    dfang
        Astigmatism angle, degrees.
    voltage, cs, w, phase_shift
        kV, mm, amplitude contrast fraction, degrees.
    bfactor
        Optional envelope B-factor in A^2: multiplies by ``exp(-B s^2 / 4)``.

    Per-particle parameters broadcast against the leading axes of ``freqs_A``
    (pass them as ``(B, 1)`` for ``(B, M, 2)`` frequencies).
    """
    lib = torch if isinstance(freqs_A, torch.Tensor) else np
    sx, sy = freqs_A[..., 0], freqs_A[..., 1]
    s2 = sx**2 + sy**2
    angle = lib.arctan2(sy, sx)
    lam = electron_wavelength(voltage)
    cs_A = cs * 1e7
    df = 0.5 * (dfU + dfV + (dfU - dfV) * lib.cos(2 * (angle - dfang * np.pi / 180)))
    gamma = 2 * np.pi * (-0.5 * df * lam * s2 + 0.25 * cs_A * lam**3 * s2**2) - phase_shift * np.pi / 180
    ctf = (1 - w**2) ** 0.5 * lib.sin(gamma) - w * lib.cos(gamma)
    if bfactor is not None:
        ctf = ctf * lib.exp(-bfactor / 4 * s2)
    return ctf


def ctf_from_params(freqs_px, params, bfactor=None):
    """CTF for a batch of cryoDRGN parameter rows.

    Parameters
    ----------
    freqs_px
        ``(M, 2)`` lattice frequencies in cycles per pixel (e.g. ``frequency_grid(D)``).
    params
        ``(B, 9)`` rows in :data:`CTF_COLUMNS` order (torch or numpy).

    Returns
    -------
    ``(B, M)`` CTF values, same library as ``params``.
    """
    p = params
    apix = p[:, 1:2]
    freqs = freqs_px[None] / apix[..., None]
    return compute_ctf(
        freqs, p[:, 2:3], p[:, 3:4], p[:, 4:5], p[:, 5:6], p[:, 6:7], p[:, 7:8], p[:, 8:9], bfactor
    )
