"""Writing particle metadata of a :class:`ParticleStack` as ``.star`` or ``.cs``.

The pixel size written is the particles' own (CTF rows, ``.star`` optics, MRC
header); when none is known none is written: a ``.star`` then has no
``rlnImagePixelSize`` and its shifts are ``rlnOriginX/Y`` in pixels, a ``.cs``
has no ``blob/psize_A``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cryolatent.forward import geometry
from cryolatent.io import cs as cs_io
from cryolatent.io import star as star_io
from cryolatent.io.dataset import pixel_size
from cryolatent.io.particles import ParticleStack
from cryolatent.io.paths import relative_to
from cryolatent.outputs import atomic_path, save_npy


def _particle_apix(stack: ParticleStack, particles: pd.DataFrame) -> np.ndarray | None:
    """Per-particle pixel size of the images (the CTF's, scaled to the stack's box; the
    ``.star``'s; the header's), or None when unknown."""
    if stack.ctf is not None:
        ctf = np.asarray(stack.ctf, np.float64)
        box = np.where(ctf[:, 0] > 0, ctf[:, 0], stack.D)
        return ctf[:, 1] * box / stack.D
    px = star_io.star_apix(particles, stack.optics) if len(particles.columns) else None
    if px is not None:
        return px
    return None if not stack.apix else np.full(len(stack), float(stack.apix))


def write_star(
    path: str | os.PathLike,
    stack: ParticleStack,
    force: bool = False,
    stack_path: str | os.PathLike | None = None,
    names_relative_to: str | os.PathLike | None = None,
) -> None:
    """Write a RELION 3.1 ``.star`` for the particles of ``stack``.

    Parameters
    ----------
    path
        Output file (written atomically).
    stack
        A ParticleStack or subset; its metadata rows and optics table are kept,
        and its ``poses``/``ctf`` (when set) are written as RELION columns.
    force
        Overwrite an existing file.
    stack_path
        When the images were written to a new stack in this order, name it
        here: ``rlnImageName`` becomes ``i@stack_path``. Otherwise each name is
        rebuilt from the particle's resolved stack file, relative to
        ``names_relative_to``.
    names_relative_to
        The folder image names are relative to (RELION: its project folder, the
        ``--datadir`` of the source); default: the output's folder.
    """
    n = len(stack)
    out_dir = Path(os.fspath(path)).parent if names_relative_to is None else Path(names_relative_to)
    meta = stack.metadata if stack.cs_records is None else None
    particles = pd.DataFrame(index=range(n)) if meta is None else meta.reset_index(drop=True).copy()

    if stack_path is not None:
        names = pd.Series(np.arange(1, n + 1).astype(str)) + "@" + os.fspath(stack_path)
    else:
        rel = np.asarray([relative_to(f, out_dir) for f in stack.files], dtype=object)
        names = pd.Series((stack.file_index + 1).astype(str)) + "@" + pd.Series(rel[stack.file_ids])
    particles["rlnImageName"] = names.to_numpy()

    apix = _particle_apix(stack, particles)
    optics = stack.optics
    if optics is None or "rlnOpticsGroup" not in particles.columns:
        particles, optics = star_io.build_optics(particles, apix, stack.D, stack.ctf)

    if stack.poses is not None:
        rots, trans = stack.poses
        euler = geometry.matrix_to_euler_relion(np.asarray(rots, np.float64)).reshape(-1, 3)
        for j, name in enumerate(star_io.POSE_COLUMNS):
            particles[name] = euler[:, j]
        shift_px = np.asarray(trans, np.float64) * stack.D
        origin = ("rlnOriginX", "rlnOriginY", "rlnOriginXAngst", "rlnOriginYAngst")
        particles = particles.drop(columns=[c for c in origin if c in particles])
        if apix is None:  # no pixel size to convert with: RELION 3.0's pixel shifts
            particles["rlnOriginX"], particles["rlnOriginY"] = shift_px[:, 0], shift_px[:, 1]
        else:
            particles["rlnOriginXAngst"] = shift_px[:, 0] * apix
            particles["rlnOriginYAngst"] = shift_px[:, 1] * apix

    if stack.ctf is not None:
        ctf = np.asarray(stack.ctf, np.float64)
        particles["rlnDefocusU"] = ctf[:, 2]
        particles["rlnDefocusV"] = ctf[:, 3]
        particles["rlnDefocusAngle"] = ctf[:, 4]
        particles["rlnPhaseShift"] = ctf[:, 8]

    with atomic_path(path, force) as tmp:
        star_io.write_star_tables(tmp, particles, optics)


def write_cs(path: str | os.PathLike, stack: ParticleStack, force: bool = False) -> None:
    """Write the cryoSPARC records of ``stack`` (a ParticleStack or subset) as ``.cs``.

    Records from a ``.cs`` are kept (poses/CTF fields updated from
    ``stack.poses``/``stack.ctf`` when set); for other sources minimal records
    are built (``blob/*`` with paths relative to the output's folder, plus
    ``ctf/*`` and ``alignments3D/*`` when known).
    """
    if stack.cs_records is not None:
        records = stack.cs_records.copy()
        if stack.ctf is not None:
            cs_io.set_ctf(records, np.asarray(stack.ctf))
        if stack.poses is not None:
            cs_io.set_poses(records, stack.poses, stack.D)
    else:
        out_dir = Path(os.fspath(path)).parent
        rel = [relative_to(f, out_dir) for f in stack.files]
        records = cs_io.build_records(
            rel,
            stack.file_ids,
            stack.file_index,
            stack.D,
            pixel_size(stack),
            stack.orig_index.astype(np.uint64),
            stack.poses,
            None if stack.ctf is None else np.asarray(stack.ctf),
        )
    save_npy(path, records, force)
