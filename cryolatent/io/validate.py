"""Checks of poses, CTF rows and pixel sizes, run once where a dataset is loaded, whatever file they came from."""

from __future__ import annotations

import numpy as np

from cryolatent.errors import InputError

ROTATION_TOLERANCE = 1e-3  # float32 pose files are orthonormal to ~1e-6


def _first_bad(rows_ok: np.ndarray) -> int:
    return int(np.flatnonzero(~rows_ok)[0])


def validate_poses(rots: np.ndarray, trans: np.ndarray, source=None) -> None:
    """Raise :class:`InputError` unless every pose is a finite rotation (orthonormal, det +1)
    with a finite translation; ``source`` (the file) is named in the message."""
    rots = np.asarray(rots, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    finite = np.isfinite(rots).all(axis=(1, 2)) & np.isfinite(trans).all(axis=1)
    if not finite.all():
        raise InputError(f"the pose of particle {_first_bad(finite)} is not finite (NaN or inf)", source)
    gram = rots @ np.swapaxes(rots, 1, 2)
    orthonormal = np.abs(gram - np.eye(3)).max(axis=(1, 2)) < ROTATION_TOLERANCE
    if not orthonormal.all():
        raise InputError(f"the rotation of particle {_first_bad(orthonormal)} is not orthonormal", source)
    proper = np.linalg.det(rots) > 0
    if not proper.all():
        raise InputError(f"the rotation of particle {_first_bad(proper)} is a reflection (determinant -1)", source)


def validate_ctf(ctf: np.ndarray, source=None) -> None:
    """Raise :class:`InputError` unless every CTF row (cryoDRGN's 9 columns) is finite with a
    positive box, pixel size and voltage and an amplitude contrast in [0, 1]."""
    ctf = np.asarray(ctf, dtype=np.float64)
    checks = [
        (np.isfinite(ctf).all(axis=1), "CTF parameters are not finite (NaN or inf)"),
        (ctf[:, 0] > 0, "CTF box size is not positive"),
        (ctf[:, 1] > 0, "CTF pixel size is not positive"),
        (ctf[:, 5] > 0, "CTF voltage is not positive"),
        ((ctf[:, 7] >= 0) & (ctf[:, 7] <= 1), "CTF amplitude contrast is not in [0, 1]"),
    ]
    for ok, problem in checks:
        if not ok.all():
            row = _first_bad(ok)
            raise InputError(f"particle {row}: {problem} (row {ctf[row].tolist()})", source)


def validate_apix(apix: float | None, source=None) -> None:
    """Raise :class:`InputError` for a pixel size that is given but not a positive finite number."""
    if apix is not None and not (np.isfinite(apix) and apix > 0):
        raise InputError(f"pixel size {apix} A is not a positive number", source)
