"""RELION ``.star`` files (3.0 single table, 3.1+ optics + particles)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from cryolatent.errors import InputError
from cryolatent.forward import geometry

POSE_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
CTF_REQUIRED = (
    "rlnDefocusU",
    "rlnDefocusV",
    "rlnDefocusAngle",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
)
# Per-optics-group columns: moved into data_optics when writing RELION 3.1.
OPTICS_COLUMNS = (
    "rlnImagePixelSize",
    "rlnImageSize",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
    "rlnImageDimensionality",
)


def read_star(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read a particle ``.star`` file.

    Returns
    -------
    particles
        The particle table (one row per particle), columns without ``_``.
    optics
        The ``data_optics`` table for RELION 3.1+, else None.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("no such file", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            blocks = starfile.read(path, always_dict=True)
        except Exception as exc:  # starfile/pandas raise many types on garbage
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot parse STAR file ({msg})", path) from None
    tables = {k: v for k, v in blocks.items() if isinstance(v, pd.DataFrame)}
    optics = tables.get("optics")
    particles = tables.get("particles")
    if particles is None:
        named = [v for k, v in tables.items() if k != "optics" and "rlnImageName" in v.columns]
        others = [v for k, v in tables.items() if k != "optics"]
        if named:
            particles = named[0]
        elif len(others) == 1:
            particles = others[0]
    if particles is None:
        raise InputError("no particle table found (not a RELION particle STAR file?)", path)
    particles = particles.reset_index(drop=True)
    if optics is not None:
        optics = optics.reset_index(drop=True)
    return particles, optics


def star_column(
    particles: pd.DataFrame, optics: pd.DataFrame | None, name: str, path=None
) -> np.ndarray | None:
    """Per-particle values of column ``name``, joined from the optics table if needed.

    Returns None when neither table has the column.
    """
    if name in particles.columns:
        return particles[name].to_numpy()
    if optics is None or name not in optics.columns:
        return None
    if len(optics) == 1 and ("rlnOpticsGroup" not in particles.columns or "rlnOpticsGroup" not in optics.columns):
        return np.full(len(particles), optics[name].iloc[0])
    if "rlnOpticsGroup" not in particles.columns or "rlnOpticsGroup" not in optics.columns:
        raise InputError(
            "several optics groups but no rlnOpticsGroup column to join them", path
        )
    table = pd.Series(optics[name].to_numpy(), index=optics["rlnOpticsGroup"].to_numpy())
    values = particles["rlnOpticsGroup"].map(table)
    if values.isna().any():
        bad = particles["rlnOpticsGroup"][values.isna()].iloc[0]
        raise InputError(f"particle names optics group {bad}, which data_optics lacks", path)
    return values.to_numpy()


def star_numbers(particles: pd.DataFrame, optics: pd.DataFrame | None, name: str, path=None) -> np.ndarray | None:
    """:func:`star_column` as float64 numbers (None when absent); an :class:`InputError`
    naming the file, the column and the value when one is not a number."""
    values = star_column(particles, optics, name, path)
    return None if values is None else _numbers(values, name, path)


def star_apix(particles: pd.DataFrame, optics: pd.DataFrame | None, path=None) -> np.ndarray | None:
    """Per-particle pixel size (rlnImagePixelSize, else rlnDetectorPixelSize/rlnMagnification);
    None when the file has neither; an :class:`InputError` for a value that is not a positive number."""
    apix = star_numbers(particles, optics, "rlnImagePixelSize", path)
    if apix is None:
        det = star_numbers(particles, optics, "rlnDetectorPixelSize", path)
        mag = star_numbers(particles, optics, "rlnMagnification", path)
        if det is None or mag is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            apix = det * 1e4 / mag
    ok = np.isfinite(apix) & (apix > 0)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise InputError(f"particle {row}: pixel size {apix[row]} A is not a positive number", path)
    return apix


def _numbers(values, name: str, path) -> np.ndarray:
    """``values`` as float64; an :class:`InputError` naming the column when one is not a number."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        row, bad = next((i, v) for i, v in enumerate(values) if not _is_number(v))
        raise InputError(f"column {name} of particle {row} holds {bad!r}, not a number", path) from None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _per_particle(values, default, n: int, what: str, path) -> np.ndarray:
    if values is not None:
        return np.asarray(values, dtype=np.float64)
    if default is None:
        raise InputError(f"{what} is not in the file and was not given", path)
    return np.full(n, float(default))


def _require(particles, optics, names, what, path) -> None:
    missing = [
        c
        for c in names
        if c not in particles.columns and (optics is None or c not in optics.columns)
    ]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)} for {what}", path)


def has_columns(particles: pd.DataFrame, optics: pd.DataFrame | None, names) -> bool:
    """Whether every column of ``names`` is in the particle or optics table."""
    cols = set(particles.columns) | (set(optics.columns) if optics is not None else set())
    return all(c in cols for c in names)


def star_poses(
    particles: pd.DataFrame,
    optics: pd.DataFrame | None,
    path=None,
    D: int | None = None,
    apix: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poses from RELION columns: ``(N,3,3)`` rots and ``(N,2)`` trans (fraction of box)."""
    _require(particles, optics, POSE_COLUMNS, "poses", path)
    n = len(particles)
    euler = np.stack([_numbers(particles[c], c, path) for c in POSE_COLUMNS], axis=1)
    rots = geometry.euler_relion_to_matrix(euler).astype(np.float32)
    cols = set(particles.columns)
    if {"rlnOriginXAngst", "rlnOriginYAngst"} <= cols:
        px = star_apix(particles, optics, path)
        px = _per_particle(px, apix, n, "the pixel size (to convert rlnOriginXAngst)", path)
        shift = np.stack([_numbers(particles[c], c, path) for c in ("rlnOriginXAngst", "rlnOriginYAngst")],
                         axis=1) / px[:, None]
    elif {"rlnOriginX", "rlnOriginY"} <= cols:
        shift = np.stack([_numbers(particles[c], c, path) for c in ("rlnOriginX", "rlnOriginY")], axis=1)
    else:
        shift = np.zeros((n, 2))
    box = _per_particle(
        star_numbers(particles, optics, "rlnImageSize", path), D, n, "the box size (rlnImageSize)", path
    )
    trans = (shift / box[:, None]).astype(np.float32)
    return rots, trans


def star_ctf(
    particles: pd.DataFrame,
    optics: pd.DataFrame | None,
    path=None,
    D: int | None = None,
    apix: float | None = None,
) -> np.ndarray:
    """CTF parameters from RELION columns: ``(N, 9)`` float32 in cryoDRGN column order."""
    _require(particles, optics, CTF_REQUIRED, "CTF", path)
    n = len(particles)
    box = _per_particle(
        star_numbers(particles, optics, "rlnImageSize", path), D, n, "the box size (rlnImageSize)", path
    )
    px = _per_particle(star_apix(particles, optics, path), apix, n, "the pixel size", path)
    cols = [box, px]
    for name in CTF_REQUIRED:
        cols.append(star_numbers(particles, optics, name, path))
    phase = star_numbers(particles, optics, "rlnPhaseShift", path)
    cols.append(np.zeros(n) if phase is None else phase)
    return np.stack(cols, axis=1).astype(np.float32)


def write_star_tables(
    path: str | os.PathLike, particles: pd.DataFrame, optics: pd.DataFrame | None
) -> None:
    """Write the tables as a RELION 3.1 star file at ``path`` (no atomicity here)."""
    data = {} if optics is None else {"optics": optics}
    data["particles"] = particles
    starfile.write(data, Path(path), float_format="%.6f")


def build_optics(
    particles: pd.DataFrame,
    apix: np.ndarray | None,
    D: int,
    ctf: np.ndarray | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group particles into optics groups for a RELION 3.0 table or bare stack.

    Returns the particle table (with ``rlnOpticsGroup``, per-group columns
    removed) and the optics table (without ``rlnImagePixelSize`` when ``apix``
    is None: an unknown pixel size is not written).
    """
    n = len(particles)
    values = {} if apix is None else {"rlnImagePixelSize": np.asarray(apix, np.float64)}
    values["rlnImageSize"] = np.full(n, int(D))
    for name, col in (("rlnVoltage", 5), ("rlnSphericalAberration", 6), ("rlnAmplitudeContrast", 7)):
        if ctf is not None:
            values[name] = ctf[:, col].astype(np.float64)
        elif name in particles.columns:
            values[name] = particles[name].to_numpy(np.float64)
    keys = pd.DataFrame(values)
    if ctf is not None:  # float32 round-off must not split groups
        keys = keys.round(4)
    group_keys = list(keys.columns)
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
    optics = pd.DataFrame(list(uniques), columns=group_keys)
    optics.insert(0, "rlnOpticsGroupName", [f"opticsGroup{i + 1}" for i in range(len(optics))])
    optics.insert(0, "rlnOpticsGroup", np.arange(1, len(optics) + 1))
    optics["rlnImageSize"] = optics["rlnImageSize"].astype(int)
    optics["rlnImageDimensionality"] = 2
    drop = [c for c in (*OPTICS_COLUMNS, "rlnDetectorPixelSize", "rlnMagnification") if c in particles.columns]
    particles = particles.drop(columns=drop)
    particles["rlnOpticsGroup"] = codes + 1
    return particles, optics
