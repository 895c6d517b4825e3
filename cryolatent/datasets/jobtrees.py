"""Simulated particles laid out as the job folders RELION and cryoSPARC write (for tests and tutorials).

- :func:`relion_job`: a RELION 3.1+ project folder with ``Extract/job007/Movies/mic_NNNN.mrcs``
  stacks and ``Refine3D/job012/run_data.star`` (an optics table of two groups at 300 and
  200 kV, ``rlnImageName`` as ``000012@Extract/job007/Movies/mic_0003.mrcs`` relative to
  the project folder, origins in Angstrom);
- :func:`cryosparc_job`: a cryoSPARC project folder with ``J40/extract/*_particles.mrcs``
  and ``J42/J42_particles.cs`` (``blob/path`` relative to the project folder, CTF and
  alignment fields, and passthrough fields such as ``location/*`` and ``ctf/exp_group_id``).

The particles are the built-in flexible molecule (:mod:`.simulate`); the ground truth
(``labels.npy``, ``poses.pkl``, ``ctf.pkl`` in the particles' order) goes to ``truth/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from cryolatent import io as clio
from cryolatent.datasets.simulate import SimulationConfig, simulate_particles
from cryolatent.forward.geometry import matrix_to_euler_relion
from cryolatent.io import cs as cs_io
from cryolatent.outputs import check_folder, save_npy

PER_MICROGRAPH = 50


def _simulate(n: int, box: int, apix: float, snr: float, seed: int, progress: bool) -> dict:
    """Two optics groups: the first half at 300 kV, the rest at 200 kV."""
    half = n // 2
    parts = [simulate_particles(SimulationConfig(n_particles=m, box=box, apix=apix, snr=snr, seed=seed + g,
                                                 voltage=kv), progress=progress)
             for g, (m, kv) in enumerate(((half, 300.0), (n - half, 200.0)))]
    sim = {k: np.concatenate([p[k] for p in parts]) for k in ("images", "rots", "trans", "ctf", "label")}
    sim["group"] = np.repeat([1, 2], [half, n - half])
    return sim


def _new_folder(root: Path, force: bool) -> None:
    check_folder(root, empty=True, force=force)
    root.mkdir(parents=True, exist_ok=True)


def _write_stacks(root: Path, images: np.ndarray, apix: float, name) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Micrograph stacks of ``PER_MICROGRAPH`` particles; their relative paths, each particle's stack and index."""
    paths, mic = [], np.arange(len(images)) // PER_MICROGRAPH
    for k in range(int(mic.max()) + 1):
        rel = name(k)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        clio.write_mrcs(root / rel, images[mic == k], apix=apix, force=True)
        paths.append(rel)
    return paths, mic, np.arange(len(images)) % PER_MICROGRAPH


def _write_truth(root: Path, sim: dict) -> None:
    (root / "truth").mkdir(exist_ok=True)
    save_npy(root / "truth" / "labels.npy", sim["label"], force=True)
    clio.write_poses_pkl(root / "truth" / "poses.pkl", sim["rots"], sim["trans"], force=True)
    clio.write_ctf_pkl(root / "truth" / "ctf.pkl", sim["ctf"], force=True)


def relion_job(root: str | os.PathLike, n: int = 300, box: int = 96, apix: float = 2.0, snr: float = 0.1,
               seed: int = 0, force: bool = False, progress: bool = False) -> Path:
    """A RELION project folder with extracted particles and a refinement's ``run_data.star``; returns its path."""
    root = Path(root)
    _new_folder(root, force)
    sim = _simulate(n, box, apix, snr, seed, progress)
    paths, mic, idx = _write_stacks(root, sim["images"], apix, lambda k: f"Extract/job007/Movies/mic_{k:04d}.mrcs")
    ctf = sim["ctf"]
    optics = pd.DataFrame({
        "rlnOpticsGroupName": ["opticsGroup1", "opticsGroup2"],
        "rlnOpticsGroup": [1, 2],
        "rlnMicrographOriginalPixelSize": [apix / 2, apix / 2],
        "rlnVoltage": [300.0, 200.0],
        "rlnSphericalAberration": [float(ctf[0, 6])] * 2,
        "rlnAmplitudeContrast": [float(ctf[0, 7])] * 2,
        "rlnImagePixelSize": [apix, apix],
        "rlnImageSize": [box, box],
        "rlnImageDimensionality": [2, 2],
    })
    euler = matrix_to_euler_relion(sim["rots"])
    rng = np.random.default_rng(seed)
    particles = pd.DataFrame({
        "rlnCoordinateX": rng.uniform(100, 3900, n).round(1),
        "rlnCoordinateY": rng.uniform(100, 3900, n).round(1),
        "rlnImageName": [f"{i + 1:06d}@{paths[m]}" for m, i in zip(mic, idx)],
        "rlnMicrographName": [f"MotionCorr/job002/Movies/mic_{m:04d}.mrc" for m in mic],
        "rlnOpticsGroup": sim["group"],
        "rlnDefocusU": ctf[:, 2].astype(np.float64),
        "rlnDefocusV": ctf[:, 3].astype(np.float64),
        "rlnDefocusAngle": ctf[:, 4].astype(np.float64),
        "rlnPhaseShift": ctf[:, 8].astype(np.float64),
        "rlnCtfBFactor": np.zeros(n),
        "rlnAngleRot": euler[:, 0],
        "rlnAngleTilt": euler[:, 1],
        "rlnAnglePsi": euler[:, 2],
        "rlnOriginXAngst": sim["trans"][:, 0].astype(np.float64) * box * apix,
        "rlnOriginYAngst": sim["trans"][:, 1].astype(np.float64) * box * apix,
        "rlnClassNumber": np.ones(n, dtype=int),
        "rlnRandomSubset": np.arange(n) % 2 + 1,
    })
    star = root / "Refine3D" / "job012" / "run_data.star"
    star.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({"optics": optics, "particles": particles}, star, overwrite=True)
    _write_truth(root, sim)
    return star


def cryosparc_job(root: str | os.PathLike, n: int = 300, box: int = 96, apix: float = 2.0, snr: float = 0.1,
                  seed: int = 0, force: bool = False, progress: bool = False) -> Path:
    """A cryoSPARC project folder with an extraction job and a refinement's exported ``J42_particles.cs``."""
    root = Path(root)
    _new_folder(root, force)
    sim = _simulate(n, box, apix, snr, seed, progress)
    paths, mic, idx = _write_stacks(root, sim["images"], apix,
                                    lambda k: f"J40/extract/{1000 + k}_mic_{k:04d}_particles.mrcs")
    uid = np.random.default_rng(seed).integers(1, 2**62, n, dtype=np.uint64)
    base = cs_io.build_records(paths, mic, idx, box, apix, uid, (sim["rots"], sim["trans"]), sim["ctf"])
    width = max(len(p) for p in paths) + 8
    extra = [("ctf/type", "S8"), ("ctf/exp_group_id", "<u4"), ("alignments3D/psize_A", "<f4"),
             ("alignments3D/split", "<u4"), ("location/micrograph_path", f"S{width}"),
             ("location/center_x_frac", "<f4"), ("location/center_y_frac", "<f4")]
    rec = np.zeros(n, dtype=base.dtype.descr + extra)
    for name in base.dtype.names:
        rec[name] = base[name]
    rec["ctf/type"] = b"imported"
    rec["ctf/exp_group_id"] = sim["group"]
    rec["alignments3D/psize_A"] = apix
    rec["alignments3D/split"] = np.arange(n) % 2
    rec["location/micrograph_path"] = [f"J2/motioncorrected/mic_{m:04d}.mrc".encode() for m in mic]
    rng = np.random.default_rng(seed + 7)
    rec["location/center_x_frac"], rec["location/center_y_frac"] = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    cs = root / "J42" / "J42_particles.cs"
    cs.parent.mkdir(parents=True, exist_ok=True)
    save_npy(cs, rec, force=True)  # a .cs is a .npy of structured records
    _write_truth(root, sim)
    return cs
