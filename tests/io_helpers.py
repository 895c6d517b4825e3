"""Small builders of particle files for the io tests (independent of cryolatent's writers)."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np

from cryolatent.forward import geometry


def make_stack(path, n: int = 10, D: int = 8, apix: float | None = 1.5, seed: int = 0, dtype=np.float32):
    """Write an MRC stack with mrcfile; return its images."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, D, D)).astype(dtype)
    with mrcfile.new(path, data, overwrite=True) as mrc:
        mrc.set_image_stack()
        if apix is not None:
            mrc.voxel_size = apix
    return data


def star_text(blocks: dict[str, tuple[list[str], list[list]]]) -> str:
    """STAR file text: ``{block: (columns, rows)}``."""
    out = []
    for name, (cols, rows) in blocks.items():
        out += ["", f"data_{name}", "", "loop_"]
        out += [f"_{c} #{i + 1}" for i, c in enumerate(cols)]
        out += [" ".join(str(v) for v in row) for row in rows]
        out.append("")
    return "\n".join(out) + "\n"


def write_text(path, text: str) -> Path:
    path = Path(path)
    path.write_text(text)
    return path


# A few pose/CTF values shared by the star/cs/pkl comparisons.
EULER = np.array([[90.0, 0.0, 0.0], [10.0, 20.0, 30.0], [-45.0, 120.0, 170.0], [200.0, 60.0, -10.0]])
SHIFT_PX = np.array([[3.0, -1.0], [0.5, 2.0], [-4.0, 0.0], [1.25, -2.5]])
DEFOCUS = np.array(
    [[15000.0, 14000.0, 30.0], [20000.0, 19000.0, -10.0], [12000.0, 12500.0, 85.0], [30000.0, 28000.0, 0.0]]
)


def star_31(stack_name: str, n: int = 4, D: int = 8, groups=(1, 2, 1, 2), apix=(1.5, 2.0)) -> str:
    """A RELION 3.1 particle STAR with two optics groups, poses and CTF."""
    optics_cols = [
        "rlnOpticsGroup",
        "rlnOpticsGroupName",
        "rlnImagePixelSize",
        "rlnImageSize",
        "rlnVoltage",
        "rlnSphericalAberration",
        "rlnAmplitudeContrast",
        "rlnImageDimensionality",
    ]
    optics_rows = [
        [1, "opticsGroup1", apix[0], D, 300.0, 2.7, 0.1, 2],
        [2, "opticsGroup2", apix[1], D, 200.0, 2.0, 0.07, 2],
    ]
    cols = [
        "rlnImageName",
        "rlnOpticsGroup",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnDefocusU",
        "rlnDefocusV",
        "rlnDefocusAngle",
        "rlnPhaseShift",
    ]
    rows = []
    for i in range(n):
        g = groups[i % len(groups)]
        px = apix[(g - 1) % len(apix)]
        e, s, d = EULER[i % 4], SHIFT_PX[i % 4], DEFOCUS[i % 4]
        rows.append([f"{i + 1:06d}@{stack_name}", g, *e, s[0] * px, s[1] * px, *d, 0.0])
    return star_text({"optics": (optics_cols, optics_rows), "particles": (cols, rows)})


def star_30(stack_name: str, n: int = 4, apix: float = 1.5) -> str:
    """A RELION 3.0 single-table STAR with poses (pixel origins) and CTF."""
    cols = [
        "rlnImageName",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
        "rlnOriginX",
        "rlnOriginY",
        "rlnDefocusU",
        "rlnDefocusV",
        "rlnDefocusAngle",
        "rlnVoltage",
        "rlnSphericalAberration",
        "rlnAmplitudeContrast",
        "rlnDetectorPixelSize",
        "rlnMagnification",
    ]
    rows = []
    for i in range(n):
        e, s, d = EULER[i % 4], SHIFT_PX[i % 4], DEFOCUS[i % 4]
        rows.append([f"{i + 1}@{stack_name}", *e, *s, *d, 300.0, 2.7, 0.1, apix, 10000.0])
    return star_text({"": (cols, rows)})


def cs_records(stack_name: str, n: int = 4, D: int = 8, apix: float = 1.5, prefix: str = ">") -> np.ndarray:
    """cryoSPARC-like particle records equivalent to :func:`star_30` (same poses and CTF)."""
    dtype = [
        ("uid", "<u8"),
        ("blob/path", "S64"),
        ("blob/idx", "<u4"),
        ("blob/shape", "<u4", (2,)),
        ("blob/psize_A", "<f4"),
        ("ctf/accel_kv", "<f4"),
        ("ctf/cs_mm", "<f4"),
        ("ctf/amp_contrast", "<f4"),
        ("ctf/df1_A", "<f4"),
        ("ctf/df2_A", "<f4"),
        ("ctf/df_angle_rad", "<f4"),
        ("ctf/phase_shift_rad", "<f4"),
        ("alignments3D/pose", "<f4", (3,)),
        ("alignments3D/shift", "<f4", (2,)),
    ]
    rec = np.zeros(n, dtype=dtype)
    idx = np.arange(n) % 4
    rec["uid"] = np.arange(n) + 1000
    rec["blob/path"] = (prefix + stack_name).encode()
    rec["blob/idx"] = np.arange(n)
    rec["blob/shape"] = D
    rec["blob/psize_A"] = apix
    rec["ctf/accel_kv"] = 300.0
    rec["ctf/cs_mm"] = 2.7
    rec["ctf/amp_contrast"] = 0.1
    rec["ctf/df1_A"] = DEFOCUS[idx, 0]
    rec["ctf/df2_A"] = DEFOCUS[idx, 1]
    rec["ctf/df_angle_rad"] = np.radians(DEFOCUS[idx, 2])
    rots = geometry.euler_relion_to_matrix(EULER[idx])
    rec["alignments3D/pose"] = geometry.matrix_to_rotvec_cryosparc(rots)
    rec["alignments3D/shift"] = SHIFT_PX[idx]
    return rec


def save_cs(path, records) -> Path:
    """np.save to a path ending in .cs (no .npy suffix appended)."""
    path = Path(path)
    with open(path, "wb") as f:
        np.save(f, records)
    return path
