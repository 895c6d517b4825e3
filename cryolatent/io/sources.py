"""Open a particle file by its extension: ``.mrcs``, ``.txt`` stack lists, RELION ``.star``, cryoSPARC ``.cs``.

Each reader resolves the stack files the particle file names (``--datadir``,
relative paths) and returns a lazy :class:`~cryolatent.io.particles.ParticleStack`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cryolatent.errors import InputError
from cryolatent.io import cs as cs_io
from cryolatent.io import star as star_io
from cryolatent.io.mrc import MrcHeader, read_mrc_header
from cryolatent.io.particles import ParticleStack
from cryolatent.io.paths import resolve_stack
from cryolatent.io.validate import validate_apix


def _from_locations(
    files: list[str],
    file_ids: np.ndarray,
    file_index: np.ndarray,
    source: str,
    names: list[str] | None = None,
    headers: list[MrcHeader] | None = None,
) -> tuple[list[MrcHeader], int]:
    """Check every stack header and every index; return headers and the box size."""
    if headers is None:
        headers = [read_mrc_header(f) for f in files]
    D = None
    for h in headers:
        if h.nx != h.ny:
            raise InputError(f"images are not square ({h.nx} x {h.ny} pixels)", h.path)
        if D is None:
            D = h.nx
        elif h.nx != D:
            raise InputError(f"has {h.nx}x{h.nx} images but {headers[0].path} has {D}x{D}", h.path)
    if len(file_ids):
        if file_index.min() < 0:
            k = int(np.argmin(file_index))
            name = names[file_ids[k]] if names else files[file_ids[k]]
            raise InputError(f"invalid image index {int(file_index[k]) + 1}@{name} (indices start at 1)", source)
        limits = np.array([h.nz for h in headers], dtype=np.int64)[file_ids]
        bad = np.flatnonzero(file_index >= limits)
        if len(bad):
            k = int(bad[0])
            h = headers[file_ids[k]]
            name = names[file_ids[k]] if names else h.path
            raise InputError(
                f"image index out of range: particle {k} is image {int(file_index[k]) + 1} of {name} "
                f"but {h.path} has only {h.nz} images",
                source,
            )
    return headers, int(D)


def _first_apix(headers: list[MrcHeader]) -> float | None:
    for h in headers:
        if h.apix is not None:
            return h.apix
    return None


def _read_mrcs(path: str) -> ParticleStack:
    full = os.path.abspath(path)
    header = read_mrc_header(full)
    n = header.nz
    ids, idx = np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64)
    headers, D = _from_locations([full], ids, idx, path, headers=[header])
    return ParticleStack([full], ids, idx, headers, D, headers[0].apix, source=path)


def _read_txt(path: str) -> ParticleStack:
    folder = Path(path).parent
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read list of stacks ({exc})", path) from None
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not names:
        raise InputError("lists no particle stacks", path)
    files = []
    for name in names:
        p = Path(name)
        full = p if p.is_absolute() else folder / p
        if not full.is_file():
            raise InputError(f"lists a missing file {name} (looked for {full})", path)
        files.append(os.path.abspath(full))
    headers = [read_mrc_header(f) for f in files]
    ids = np.concatenate([np.full(h.nz, i, dtype=np.int32) for i, h in enumerate(headers)])
    idx = np.concatenate([np.arange(h.nz, dtype=np.int64) for h in headers])
    headers, D = _from_locations(files, ids, idx, path, headers=headers)
    return ParticleStack(files, ids, idx, headers, D, _first_apix(headers), source=path)


def parse_image_names(names: pd.Series, path=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Split ``idx@path`` names (vectorised).

    Returns
    -------
    index
        0-based image index per particle (a name without ``@`` means image 1).
    codes
        Per-particle index into ``paths``.
    paths
        Unique stack names as written.
    """
    s = names.astype(str)
    parts = s.str.partition("@")
    has_at = parts[1] == "@"
    stack_names = parts[2].where(has_at, parts[0]).str.strip()
    idx_str = parts[0].where(has_at, "1").str.strip()
    idx = pd.to_numeric(idx_str, errors="coerce")
    if idx.isna().any():
        k = int(np.flatnonzero(idx.isna().to_numpy())[0])
        raise InputError(f"bad rlnImageName {s.iloc[k]!r} on particle {k} (expected index@stack)", path)
    codes, uniques = pd.factorize(stack_names)
    paths = [re.sub(r":mrcs?$", "", str(u)) for u in uniques]  # RELION's "file.mrcs:mrcs" form
    return idx.to_numpy(dtype=np.int64) - 1, codes.astype(np.int32), paths


def _read_star(path: str, datadir) -> ParticleStack:
    particles, optics = star_io.read_star(path)
    if "rlnImageName" not in particles.columns:
        raise InputError("missing required column rlnImageName", path)
    idx, codes, names = parse_image_names(particles["rlnImageName"], path)
    base = datadir if datadir is not None else Path(path).parent
    files = [resolve_stack(n, base, path) for n in names]
    headers, D = _from_locations(files, codes, idx, path, names)
    apix = _first_apix(headers)
    star_px = star_io.star_apix(particles, optics, path)
    if apix is None and star_px is not None and len(star_px):
        apix = float(star_px[0])
    stack = ParticleStack(
        files, codes, idx, headers, D, apix, metadata=particles, optics=optics, source=path
    )
    if star_io.has_columns(particles, optics, star_io.POSE_COLUMNS):
        stack.poses = star_io.star_poses(particles, optics, path, D=D, apix=apix)
    if star_io.has_columns(particles, optics, star_io.CTF_REQUIRED):
        stack.ctf = star_io.star_ctf(particles, optics, path, D=D, apix=apix)
    return stack


def _read_cs(path: str, datadir) -> ParticleStack:
    records = cs_io.read_cs(path)
    codes, names = cs_io.blob_paths(records, path)
    idx = records["blob/idx"].astype(np.int64)
    base = datadir if datadir is not None else Path(path).parent
    files = [resolve_stack(n, base, path) for n in names]
    headers, D = _from_locations(files, codes, idx, path, names)
    apix = _first_apix(headers)
    if apix is None and "blob/psize_A" in records.dtype.names and len(records):
        apix = float(records["blob/psize_A"][0])
    stack = ParticleStack(files, codes, idx, headers, D, apix, cs_records=records, source=path)
    if cs_io.has_fields(records, cs_io.POSE_FIELDS):
        stack.poses = cs_io.cs_poses(records, path, D=D)
    if cs_io.has_fields(records, cs_io.CTF_FIELDS):
        stack.ctf = cs_io.cs_ctf(records, path, D=D, apix=apix)
    return stack


def read_particles(path: str | os.PathLike, datadir: str | os.PathLike | None = None) -> ParticleStack:
    """Open particle images lazily.

    Parameters
    ----------
    path
        ``.mrcs``/``.mrc`` (one stack), ``.txt`` (stack paths, one a line),
        ``.star`` (RELION) or ``.cs`` (cryoSPARC).
    datadir
        Folder against which relative stack paths in a ``.star``/``.cs`` are
        resolved (default: the metadata file's folder).

    Returns
    -------
    ParticleStack
        With ``poses``/``ctf`` filled when the ``.star``/``.cs`` has them.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    known = {".mrcs", ".mrc", ".txt", ".star", ".cs"}
    if ext not in known:
        raise InputError(
            f"unknown particle file extension {ext!r}; expected .mrcs, .mrc, .txt, .star or .cs", path
        )
    if not os.path.isfile(path):
        raise InputError("no such file", path)
    if datadir is not None and not os.path.isdir(datadir):
        raise InputError("--datadir is not a folder", datadir)
    readers = {".mrcs": _read_mrcs, ".mrc": _read_mrcs, ".txt": _read_txt}
    if ext in readers:
        stack = readers[ext](path)
    else:
        stack = (_read_star if ext == ".star" else _read_cs)(path, datadir)
    validate_apix(stack.apix, path)  # a zero or negative pixel size in a .star/.cs is refused here
    return stack
