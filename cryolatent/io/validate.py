"""Checks of poses, CTF rows and pixel sizes, run once where a dataset is loaded, whatever file they came from."""

from __future__ import annotations

import numpy as np

from cryolatent.errors import InputError

ROTATION_TOLERANCE = 1e-3  # float32 pose files are orthonormal to ~1e-6


CHUNK_ROWS = 1 << 14  # rows checked at a time: the float64 temporaries stay small however many particles


def _first_bad(rows_ok: np.ndarray) -> int:
    return int(np.flatnonzero(~rows_ok)[0])


def _first_failing(arrays: tuple[np.ndarray, ...], rows_ok) -> int | None:
    """The first row where ``rows_ok(*float64 chunks)`` is False, :data:`CHUNK_ROWS` rows at a time."""
    n = len(arrays[0])
    for start in range(0, n, CHUNK_ROWS):
        ok = rows_ok(*(np.asarray(a[start : start + CHUNK_ROWS], dtype=np.float64) for a in arrays))
        if not ok.all():
            return start + _first_bad(ok)
    return None


def validate_poses(rots: np.ndarray, trans: np.ndarray, source=None) -> None:
    """Raise :class:`InputError` unless every pose is a finite rotation (orthonormal, det +1)
    with a finite translation; ``source`` (the file) is named in the message."""
    checks = [
        (lambda r, t: np.isfinite(r).all(axis=(1, 2)) & np.isfinite(t).all(axis=1),
         "the pose of particle {} is not finite (NaN or inf)"),
        (lambda r, t: np.abs(r @ np.swapaxes(r, 1, 2) - np.eye(3)).max(axis=(1, 2)) < ROTATION_TOLERANCE,
         "the rotation of particle {} is not orthonormal"),
        (lambda r, t: np.linalg.det(r) > 0, "the rotation of particle {} is a reflection (determinant -1)"),
    ]
    for rows_ok, problem in checks:  # each check over every row before the next, as one would read them
        row = _first_failing((rots, trans), rows_ok)
        if row is not None:
            raise InputError(problem.format(row), source)


def validate_ctf(ctf: np.ndarray, source=None) -> None:
    """Raise :class:`InputError` unless every CTF row (cryoDRGN's 9 columns) is finite with a
    positive box, pixel size and voltage and an amplitude contrast in [0, 1]."""
    checks = [
        (lambda c: np.isfinite(c).all(axis=1), "CTF parameters are not finite (NaN or inf)"),
        (lambda c: c[:, 0] > 0, "CTF box size is not positive"),
        (lambda c: c[:, 1] > 0, "CTF pixel size is not positive"),
        (lambda c: c[:, 5] > 0, "CTF voltage is not positive"),
        (lambda c: (c[:, 7] >= 0) & (c[:, 7] <= 1), "CTF amplitude contrast is not in [0, 1]"),
    ]
    for rows_ok, problem in checks:
        row = _first_failing((ctf,), rows_ok)
        if row is not None:
            values = np.asarray(ctf[row], dtype=np.float64).tolist()
            raise InputError(f"particle {row}: {problem} (row {values})", source)


def validate_apix(apix: float | None, source=None) -> None:
    """Raise :class:`InputError` for a pixel size that is given but not a positive finite number."""
    if apix is not None and not (np.isfinite(apix) and apix > 0):
        raise InputError(f"pixel size {apix} A is not a positive number", source)
