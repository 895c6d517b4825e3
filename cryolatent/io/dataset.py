"""Reading poses and CTF from any supported file, and assembling a dataset."""

from __future__ import annotations

import os
import warnings

import numpy as np

from cryolatent.errors import InputError
from cryolatent.io import cs as cs_io
from cryolatent.io import star as star_io
from cryolatent.io.particles import ParticleStack
from cryolatent.io.sources import read_particles
from cryolatent.io.pkl import duplicates, load_index, load_pkl, validate_index
from cryolatent.io.validate import validate_apix, validate_ctf, validate_poses


def _ext(path) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def _floats(values, what: str, path) -> np.ndarray:
    """``values`` as a float32 array; an :class:`InputError` naming ``path`` when they are not numbers."""
    try:
        return np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"the {what} are not numbers", path) from None


def _check_finite(arr: np.ndarray, what: str, path) -> None:
    if not np.all(np.isfinite(arr)):
        row = int(np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))[0])
        raise InputError(f"{what} of particle {row} are not finite", path)


def read_poses(
    path: str | os.PathLike, D: int | None = None, apix: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read poses from a cryoDRGN ``.pkl``, RELION ``.star`` or cryoSPARC ``.cs``.

    Parameters
    ----------
    path
        The pose file.
    D, apix
        Box size and pixel size, used when the file does not have them
        (``.star`` translations are converted to box fractions).

    Returns
    -------
    rots, trans
        ``(N, 3, 3)`` float32 matrices and ``(N, 2)`` float32 translations in
        fractions of the box.
    """
    path = os.fspath(path)
    ext = _ext(path)
    if ext == ".pkl":
        data = load_pkl(path)
        if isinstance(data, (tuple, list)) and len(data) == 2:
            rots, trans = (_floats(x, "poses", path) for x in data)
        elif isinstance(data, np.ndarray):
            rots, trans = _floats(data, "poses", path), None
        else:
            raise InputError("expected cryoDRGN poses: a tuple (rots (N,3,3), trans (N,2)) or rots", path)
        if rots.ndim != 3 or rots.shape[1:] != (3, 3):
            raise InputError(f"rotations must be (N, 3, 3), got {rots.shape}", path)
        if trans is None:
            trans = np.zeros((len(rots), 2), np.float32)
        if trans.ndim != 2 or trans.shape[1] != 2 or len(trans) != len(rots):
            raise InputError(f"translations must be ({len(rots)}, 2), got {trans.shape}", path)
    elif ext == ".star":
        particles, optics = star_io.read_star(path)
        rots, trans = star_io.star_poses(particles, optics, path, D=D, apix=apix)
    elif ext == ".cs":
        rots, trans = cs_io.cs_poses(cs_io.read_cs(path), path, D=D)
    else:
        raise InputError(f"unknown pose file extension {ext!r}; expected .pkl, .star or .cs", path)
    _check_finite(rots, "rotations", path)
    _check_finite(trans, "translations", path)
    return rots, trans


def read_ctf(path: str | os.PathLike, D: int | None = None, apix: float | None = None) -> np.ndarray:
    """Read CTF parameters from a cryoDRGN ``.pkl``, RELION ``.star`` or cryoSPARC ``.cs``.

    Returns
    -------
    np.ndarray
        ``(N, 9)`` float32 rows: D, apix, dfU, dfV, dfang, voltage, Cs, w, phase_shift.
    """
    path = os.fspath(path)
    ext = _ext(path)
    if ext == ".pkl":
        data = load_pkl(path)
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 9:
            shape = getattr(data, "shape", type(data).__name__)
            raise InputError(f"expected a cryoDRGN CTF array of shape (N, 9), got {shape}", path)
        ctf = _floats(data, "CTF parameters", path)
    elif ext == ".star":
        particles, optics = star_io.read_star(path)
        ctf = star_io.star_ctf(particles, optics, path, D=D, apix=apix)
    elif ext == ".cs":
        ctf = cs_io.cs_ctf(cs_io.read_cs(path), path, D=D, apix=apix)
    else:
        raise InputError(f"unknown CTF file extension {ext!r}; expected .pkl, .star or .cs", path)
    _check_finite(ctf, "CTF parameters", path)
    return ctf


def pixel_size(stack) -> float | None:
    """The pixel size (Angstrom) of a stack's images, or None when no file gives it.

    From the particle files (MRC header, ``.star`` optics, ``.cs`` records: ``stack.apix``),
    else from the CTF's apix column (a cryoDRGN ``ctf.pkl``), scaled from the CTF's
    box (column 0) to the stack's. Never a default: None means unknown.
    """
    apix = getattr(stack, "apix", None)
    if apix:
        return float(apix)
    ctf = getattr(stack, "ctf", None)
    if ctf is not None and len(ctf):
        box, px = float(ctf[0, 0]), float(ctf[0, 1])
        if np.isfinite(px) and px > 0:
            return px * (box if box > 0 else stack.D) / stack.D
    return None


def _match_count(n_rows: int, what: str, source, n: int, ind: np.ndarray | None) -> bool:
    """True when rows are for the full stack, False when already filtered by ``ind``."""
    if n_rows == n:
        return True
    if ind is not None and n_rows == len(ind):
        return False
    extra = f" (or {len(ind)} after --ind)" if ind is not None else ""
    raise InputError(f"has {n_rows} {what} but the stack has {n} particles{extra}", source)


def load_dataset(
    particles: str | os.PathLike,
    poses=None,
    ctf=None,
    ind=None,
    datadir: str | os.PathLike | None = None,
) -> ParticleStack:
    """Open particles with their poses and CTF, optionally restricted to ``ind``.

    Parameters
    ----------
    particles
        Particle file (see :func:`read_particles`).
    poses, ctf
        Files (``.pkl``/``.star``/``.cs``) or arrays (``(rots, trans)``;
        ``(N, 9)``); default: whatever the particle ``.star``/``.cs`` holds.
        Rows may be for the full dataset or already filtered by ``ind``.
    ind
        0-based particle indices (array or ``.pkl``/``.npy``/``.txt`` file). An index
        listed twice is accepted (as cryoDRGN does: that particle is used twice),
        with a warning naming the file and the count.
    datadir
        Folder for relative stack paths.

    Returns
    -------
    ParticleStack
        The (subset) stack with ``.poses`` and ``.ctf`` attached.
    """
    stack = read_particles(particles, datadir=datadir)
    n = len(stack)

    ind_source = None
    if ind is not None:
        if isinstance(ind, (str, os.PathLike)):
            ind_source = os.fspath(ind)
            ind = load_index(ind)
        else:
            ind = validate_index(ind)
        if len(ind) == 0:
            raise InputError("the index is empty: it selects no particles", ind_source)
        if int(ind.max()) >= n:
            bad = int(ind[np.argmax(ind >= n)])
            raise InputError(f"index {bad} is out of range for a stack of {n} particles", ind_source)
        repeats, first = duplicates(ind)
        if repeats:  # as cryoDRGN: accepted, each listed particle used as often as it is listed
            warnings.warn(f"{ind_source or 'the index'}: {repeats} duplicate index(es) (first: {first}); "
                          "those particles are used more than once", stacklevel=2)

    pose_data, pose_src = stack.poses, stack.source
    if poses is not None:
        if isinstance(poses, (str, os.PathLike)):
            pose_src = os.fspath(poses)
            pose_data = read_poses(poses, D=stack.D, apix=stack.apix)
        else:
            pose_src = "poses"
            rots, trans = poses
            pose_data = (np.asarray(rots, np.float32), np.asarray(trans, np.float32))
    ctf_data, ctf_src = stack.ctf, stack.source
    if ctf is not None:
        if isinstance(ctf, (str, os.PathLike)):
            ctf_src = os.fspath(ctf)
            ctf_data = read_ctf(ctf, D=stack.D, apix=stack.apix)
        else:
            ctf_src = "ctf"
            ctf_data = np.asarray(ctf, np.float32)

    pose_full = pose_data is None or _match_count(len(pose_data[0]), "poses", pose_src, n, ind)
    ctf_full = ctf_data is None or _match_count(len(ctf_data), "CTF rows", ctf_src, n, ind)
    validate_apix(stack.apix, stack.source)
    if pose_data is not None:
        validate_poses(pose_data[0], pose_data[1], pose_src)
    if ctf_data is not None:
        validate_ctf(ctf_data, ctf_src)

    stack.poses, stack.ctf = None, None
    if ind is not None:
        stack = stack.subset(ind)
        if pose_data is not None and pose_full:
            pose_data = (pose_data[0][ind], pose_data[1][ind])
        if ctf_data is not None and ctf_full:
            ctf_data = ctf_data[ind]
    stack.poses, stack.ctf = pose_data, ctf_data
    return stack
