"""cryoSPARC ``.cs`` files: structured numpy arrays saved with ``np.save``."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cryolatent.errors import InputError
from cryolatent.forward import geometry

POSE_FIELDS = ("alignments3D/pose", "alignments3D/shift")
CTF_FIELDS = (
    "ctf/df1_A",
    "ctf/df2_A",
    "ctf/df_angle_rad",
    "ctf/accel_kv",
    "ctf/cs_mm",
    "ctf/amp_contrast",
)


def read_cs(path: str | os.PathLike) -> np.ndarray:
    """Load a ``.cs`` file as a structured array (pickled content is refused)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("no such file", path)
    try:
        records = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(
                "not a numpy .cs file, or it holds Python objects (pickled data is refused)", path
            ) from None
        raise InputError(f"not a cryoSPARC .cs file ({str(exc).splitlines()[0]})", path) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read .cs file ({exc})", path) from None
    if not isinstance(records, np.ndarray) or records.dtype.names is None or records.ndim != 1:
        raise InputError("not a cryoSPARC .cs file (expected a 1-D structured array)", path)
    return records


def has_fields(records: np.ndarray, names) -> bool:
    """Whether the records have every field of ``names``."""
    return all(n in records.dtype.names for n in names)


def _require(records: np.ndarray, names, what: str, path) -> None:
    missing = [n for n in names if n not in records.dtype.names]
    if missing:
        raise InputError(f"missing required field(s) {', '.join(missing)} for {what}", path)


def cs_box(records: np.ndarray, path=None, D: int | None = None) -> int:
    """Box size from ``blob/shape`` (else ``D``)."""
    if "blob/shape" in records.dtype.names and len(records):
        return int(np.asarray(records["blob/shape"])[0].ravel()[0])
    if D is None:
        raise InputError("the box size (blob/shape) is not in the file and was not given", path)
    return int(D)


def cs_apix(records: np.ndarray, path=None, apix: float | None = None) -> np.ndarray:
    """Per-particle pixel size from ``blob/psize_A`` (else ``apix``)."""
    if "blob/psize_A" in records.dtype.names:
        return records["blob/psize_A"].astype(np.float64)
    if apix is None:
        raise InputError("the pixel size (blob/psize_A) is not in the file and was not given", path)
    return np.full(len(records), float(apix))


def blob_paths(records: np.ndarray, path=None) -> tuple[np.ndarray, list[str]]:
    """Factorised ``blob/path``: per-record codes and the unique names (``>`` stripped)."""
    _require(records, ("blob/path", "blob/idx"), "particle images", path)
    raw = records["blob/path"]
    uniq, codes = np.unique(raw, return_inverse=True)
    names = []
    for u in uniq:
        s = u.decode("utf-8", "replace") if isinstance(u, (bytes, np.bytes_)) else str(u)
        names.append(s[1:] if s.startswith(">") else s)
    return codes.astype(np.int64).ravel(), names


def cs_poses(records: np.ndarray, path=None, D: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Poses from ``alignments3D/pose`` (rotation vector) and ``alignments3D/shift`` (px)."""
    _require(records, POSE_FIELDS, "poses", path)
    rots = geometry.rotvec_to_matrix_cryosparc(records["alignments3D/pose"].reshape(-1, 3))
    box = cs_box(records, path, D)
    trans = records["alignments3D/shift"].reshape(-1, 2).astype(np.float64) / box
    return rots.reshape(-1, 3, 3).astype(np.float32), trans.astype(np.float32)


def cs_ctf(records: np.ndarray, path=None, D: int | None = None, apix: float | None = None) -> np.ndarray:
    """CTF parameters ``(N, 9)`` float32 (cryoDRGN columns) from ``ctf/*`` fields."""
    _require(records, CTF_FIELDS, "CTF", path)
    n = len(records)
    phase = (
        np.degrees(records["ctf/phase_shift_rad"].astype(np.float64))
        if "ctf/phase_shift_rad" in records.dtype.names
        else np.zeros(n)
    )
    cols = [
        np.full(n, cs_box(records, path, D), dtype=np.float64),
        cs_apix(records, path, apix),
        records["ctf/df1_A"].astype(np.float64),
        records["ctf/df2_A"].astype(np.float64),
        np.degrees(records["ctf/df_angle_rad"].astype(np.float64)),
        records["ctf/accel_kv"].astype(np.float64),
        records["ctf/cs_mm"].astype(np.float64),
        records["ctf/amp_contrast"].astype(np.float64),
        phase,
    ]
    return np.stack(cols, axis=1).astype(np.float32)


def records_to_frame(records: np.ndarray) -> pd.DataFrame:
    """A DataFrame view of structured records; vector fields become ``name/0``, ``name/1``..."""
    cols = {}
    for name in records.dtype.names:
        values = records[name]
        if values.ndim == 1:
            cols[name] = values
        else:
            flat = values.reshape(len(values), -1)
            for j in range(flat.shape[1]):
                cols[f"{name}/{j}"] = flat[:, j]
    return pd.DataFrame(cols)


def build_records(
    paths: list[str],
    file_ids: np.ndarray,
    file_index: np.ndarray,
    D: int,
    apix: float | None,
    uid: np.ndarray,
    poses: tuple[np.ndarray, np.ndarray] | None = None,
    ctf: np.ndarray | None = None,
) -> np.ndarray:
    """Minimal cryoSPARC particle records for a stack that did not come from a ``.cs``
    (without ``blob/psize_A`` when the pixel size ``apix`` is unknown)."""
    n = len(file_ids)
    width = max([len(p.encode()) for p in paths] + [1])
    fields = [
        ("uid", "<u8"),
        ("blob/path", f"S{width}"),
        ("blob/idx", "<u4"),
        ("blob/shape", "<u4", (2,)),
        *([("blob/psize_A", "<f4")] if apix else []),
        ("blob/sign", "<f4"),
    ]
    if ctf is not None:
        fields += [(f, "<f4") for f in (*CTF_FIELDS, "ctf/phase_shift_rad")]
    if poses is not None:
        fields += [("alignments3D/pose", "<f4", (3,)), ("alignments3D/shift", "<f4", (2,))]
    rec = np.zeros(n, dtype=fields)
    rec["uid"] = uid
    rec["blob/path"] = np.array([p.encode() for p in paths], dtype=f"S{width}")[file_ids]
    rec["blob/idx"] = file_index
    rec["blob/shape"] = D
    if apix:
        rec["blob/psize_A"] = apix
    rec["blob/sign"] = 1.0
    if ctf is not None:
        set_ctf(rec, ctf)
    if poses is not None:
        set_poses(rec, poses, D)
    return rec


def set_ctf(records: np.ndarray, ctf: np.ndarray) -> None:
    """Write cryoDRGN CTF rows into the ``ctf/*`` fields that the records have."""
    values = {
        "ctf/df1_A": ctf[:, 2],
        "ctf/df2_A": ctf[:, 3],
        "ctf/df_angle_rad": np.radians(ctf[:, 4].astype(np.float64)),
        "ctf/accel_kv": ctf[:, 5],
        "ctf/cs_mm": ctf[:, 6],
        "ctf/amp_contrast": ctf[:, 7],
        "ctf/phase_shift_rad": np.radians(ctf[:, 8].astype(np.float64)),
    }
    for name, val in values.items():
        if name in records.dtype.names:
            records[name] = val


def set_poses(records: np.ndarray, poses: tuple[np.ndarray, np.ndarray], D: int) -> None:
    """Write poses into ``alignments3D/pose`` and ``alignments3D/shift`` when present."""
    rots, trans = poses
    if "alignments3D/pose" in records.dtype.names:
        records["alignments3D/pose"] = geometry.matrix_to_rotvec_cryosparc(rots).reshape(-1, 3)
    if "alignments3D/shift" in records.dtype.names:
        records["alignments3D/shift"] = np.asarray(trans, np.float64) * D
