"""Simulated particle datasets: built-in molecules and user volumes.

The built-in molecules are made of Gaussian blobs. ``hinge`` (the embedded
default): a rigid body, an arm that swings about a hinge (continuous coordinate
``t`` in [0, 1]) and a small extra domain that is bound in about half the
particles (discrete ``state`` 0/1). ``two-domain``: a body, two arms swinging
independently about two hinges (``t`` and ``t2``) and a larger extra domain
bound in 5% of the particles. Projections of Gaussian blobs are Gaussian, so the
images are exact; the ground-truth volumes are the same blobs sampled on the
voxel grid, one per state and bin of each hinge coordinate.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from cryolatent import io as clio
from cryolatent._version import __version__
from cryolatent.datasets.molecules import (  # noqa: F401 - the molecules are part of this module's API
    MOLECULES,
    BlobMolecule,
    Hinge,
    HingeMolecule,
    TwoDomainMolecule,
    conformation_labels,
    coordinate_names,
    label_conformations,
    sample_conformations,
)
from cryolatent.errors import InputError
from cryolatent.forward import fourier
from cryolatent.forward.geometry import random_rotations
from cryolatent.forward.lattice import image_lattice
from cryolatent.forward.projection import form_images, project_volume
from cryolatent.outputs import save_npy, save_npz


@dataclass
class SimulationConfig:
    """Parameters of a simulated dataset (recorded in ``simulation.yaml``)."""

    n_particles: int = 2000
    box: int = 64
    apix: float = 3.0
    snr: float | None = 0.1
    seed: int = 0
    molecule: str = "hinge"
    max_shift_px: float = 3.0
    defocus_min: float = 10000.0
    defocus_max: float = 25000.0
    astigmatism_max: float = 600.0
    voltage: float = 300.0
    cs: float = 2.7
    amplitude_contrast: float = 0.1
    n_t_bins: int | None = None  # ground-truth bins per hinge coordinate; None: the molecule's (hinge 10, two-domain 4)
    p_state1: float | None = None  # fraction in state 1; None: the molecule's (hinge 0.5, two-domain 0.05)
    volumes: list = field(default_factory=list)

    def validate(self) -> "SimulationConfig":
        """Raise :class:`InputError` naming the argument of a value that makes no dataset."""
        if self.molecule not in MOLECULES:
            raise InputError(f"--molecule must be one of {', '.join(MOLECULES)}, got {self.molecule!r}")
        finite = np.isfinite
        checks = [
            (self.n_particles >= 1, f"-n/--n-particles must be >= 1, got {self.n_particles}"),
            (self.box >= 8 and self.box % 2 == 0, f"-D/--box must be an even number >= 8, got {self.box}"),
            (finite(self.apix) and self.apix > 0, f"--apix must be a positive pixel size in A, got {self.apix}"),
            (self.snr is None or (finite(self.snr) and self.snr > 0), f"--snr must be > 0 (0: no noise), got {self.snr}"),
            (finite(self.max_shift_px) and self.max_shift_px >= 0, f"--max-shift must be >= 0, got {self.max_shift_px}"),
            (self.defocus_min > 0 and self.defocus_max >= self.defocus_min, "defocus range must be positive and ordered"),
            (self.p_state1 is None or 0 <= self.p_state1 <= 1, f"p_state1 must be in [0, 1], got {self.p_state1}"),
            (self.n_t_bins is None or self.n_t_bins >= 1, f"n_t_bins must be >= 1, got {self.n_t_bins}"),
            (not self.volumes or self.molecule == "hinge", "--molecule and --volumes exclude each other"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def resolved(self) -> "SimulationConfig":
        """A copy with the molecule's own ``p_state1`` and ``n_t_bins`` where they are None."""
        mol = MOLECULES[self.molecule]
        return replace(self, p_state1=mol.p_state1 if self.p_state1 is None else self.p_state1,
                       n_t_bins=mol.n_t_bins if self.n_t_bins is None else self.n_t_bins)


def _random_ctf(cfg: SimulationConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    dfu = rng.uniform(cfg.defocus_min, cfg.defocus_max, n)
    dfv = dfu - rng.uniform(0, cfg.astigmatism_max, n)
    ctf = np.zeros((n, 9), dtype=np.float32)
    ctf[:, 0] = cfg.box
    ctf[:, 1] = cfg.apix
    ctf[:, 2], ctf[:, 3] = dfu, dfv
    ctf[:, 4] = rng.uniform(0, 180, n)
    ctf[:, 5], ctf[:, 6], ctf[:, 7] = cfg.voltage, cfg.cs, cfg.amplitude_contrast
    return ctf


def _finish_images(proj: np.ndarray, trans: np.ndarray, ctf: np.ndarray) -> np.ndarray:
    """Shift by ``-trans * D``, apply the CTF; returns ``ctf * projection`` images."""
    D = proj.shape[-1]
    coords, flat_index = image_lattice(D)
    proj_ft = fourier.fft_center(torch.from_numpy(proj).double(), ndim=2).reshape(len(proj), -1)[:, flat_index]
    return form_images(proj_ft, coords, flat_index, D, torch.from_numpy(trans), torch.from_numpy(ctf)).numpy()


def simulate_particles(cfg: SimulationConfig, batch_size: int = 256, progress: bool = True) -> dict:
    """Simulate particles in memory.

    Returns a dict with ``images`` ``(N, D, D)`` (white particles, as extracted by RELION:
    ``-(ctf * projection)`` plus Gaussian noise), ``rots``, ``trans`` (fraction of box),
    ``ctf`` ``(N, 9)``, ground truth ``t``, ``state``, ``label`` (index of the
    ground-truth volume nearest each particle's conformation), ``coords`` (each hinge
    coordinate by name: ``t``, and ``t2`` for two hinges), ``gt_volumes`` and
    ``gt_params`` (each ground-truth volume's conformation).
    """
    cfg = cfg.validate().resolved()
    rng = np.random.default_rng(cfg.seed)
    N, D = cfg.n_particles, cfg.box
    rots = random_rotations(N, rng)
    trans = (rng.uniform(-1, 1, (N, 2)) * cfg.max_shift_px / D).astype(np.float32)
    ctf = _random_ctf(cfg, rng, N)
    images = np.empty((N, D, D), dtype=np.float32)
    if cfg.volumes:
        vols = [np.asarray(v, dtype=np.float32) for v in cfg.volumes]
        label = rng.integers(0, len(vols), N)
        t = label.astype(np.float64)
        state = np.zeros(N, dtype=np.int64)
        gt_volumes = np.stack(vols)
        for i, vol in enumerate(tqdm(vols, desc="projecting volumes", disable=not progress)):
            sel = np.nonzero(label == i)[0]
            if len(sel):
                images[sel] = project_volume(vol, rots[sel], trans[sel], ctf[sel])
        gt_params = {"volume": np.arange(len(vols))}
        coords = {"t": t}
    else:
        mol = MOLECULES[cfg.molecule].default(cfg.seed)
        hinge_t, state = sample_conformations(mol, N, rng, cfg.p_state1)
        label = conformation_labels(hinge_t, state, cfg.n_t_bins)
        coords = dict(zip(coordinate_names(mol.n_hinges), hinge_t.T))
        t = coords["t"]
        gt_params = label_conformations(mol.n_hinges, cfg.n_t_bins)
        gt_t = np.stack([gt_params[name] for name in coords], 1)
        gt_volumes = np.stack([mol.volume(D, tk, sk) for tk, sk in zip(gt_t, gt_params["state"])])
        bar = tqdm(total=N, desc="simulating", unit="img", disable=not progress)
        for start in range(0, N, batch_size):
            sl = slice(start, start + batch_size)
            proj = mol.projections(D, rots[sl], hinge_t[sl], state[sl])
            images[sl] = _finish_images(proj, trans[sl], ctf[sl])
            bar.update(len(proj))
        bar.close()
    noise_std = 0.0
    if cfg.snr:
        signal_var = float(images[: min(N, 1000)].var())
        noise_std = float(np.sqrt(signal_var / cfg.snr))
    images = -images
    if noise_std > 0:
        for start in range(0, N, 4096):
            block = images[start : start + 4096]
            block += rng.normal(0, noise_std, block.shape).astype(np.float32)
    return {
        "images": images,
        "rots": rots.astype(np.float32),
        "trans": trans,
        "ctf": ctf,
        "t": t,
        "state": state,
        "label": label.astype(np.int64),
        "coords": coords,
        "gt_volumes": gt_volumes,
        "gt_params": gt_params,
        "noise_std": noise_std,
    }


def simulate_dataset(
    outdir: str | os.PathLike,
    n_particles: int = 2000,
    box: int = 64,
    apix: float = 3.0,
    snr: float | None = 0.1,
    seed: int = 0,
    molecule: str = "hinge",
    volumes: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    **kwargs,
) -> Path:
    """Simulate a dataset and write it to ``outdir`` (all or nothing).

    Writes ``particles.mrcs``, ``poses.pkl`` and ``ctf.pkl`` (cryoDRGN formats),
    ``particles.star`` (RELION 3.1), ``labels.npy`` (ground-truth volume index per
    particle), ``ground_truth.npz`` (``t`` (and ``t2`` for the two-domain molecule),
    ``state``, ``label`` per particle),
    ``gt_volumes/vol_###.mrc`` with ``gt_volumes/volumes.csv`` and ``simulation.yaml``.

    Parameters
    ----------
    molecule
        The built-in molecule: ``"hinge"`` (the default) or ``"two-domain"``.
    volumes
        Paths of ``.mrc`` maps to project instead of the built-in molecule (each
        particle picks one at random; all must share one box size).
    **kwargs
        Other :class:`SimulationConfig` fields (``p_state1``, ``n_t_bins``, ...).
    """

    outdir = Path(outdir)
    SimulationConfig(n_particles=n_particles, box=box if not volumes else 8, apix=apix, snr=snr, seed=seed,
                     molecule=molecule, volumes=list(volumes or []), **kwargs).validate()
    if outdir.exists() and not outdir.is_dir():
        raise InputError("exists and is not a folder", outdir)
    if outdir.exists() and any(outdir.iterdir()) and not force:
        raise InputError("output folder exists and is not empty; pass --force to replace it", outdir)
    vols = []
    for path in volumes or []:
        vol, vol_apix = clio.read_volume(path)
        if vols and vol.shape != vols[0].shape:
            raise InputError(f"box {vol.shape} differs from the first volume's {vols[0].shape}", path)
        vols.append(vol)
        box = vol.shape[0]
        apix = vol_apix or apix
    cfg = SimulationConfig(n_particles=n_particles, box=box, apix=apix, snr=snr, seed=seed, molecule=molecule,
                           volumes=vols, **kwargs).validate().resolved()
    sim = simulate_particles(cfg, progress=progress)

    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        clio.write_mrcs(tmp / "particles.mrcs", sim["images"], apix=apix)
        clio.write_poses_pkl(tmp / "poses.pkl", sim["rots"], sim["trans"])
        clio.write_ctf_pkl(tmp / "ctf.pkl", sim["ctf"])
        stack = clio.load_dataset(tmp / "particles.mrcs", poses=tmp / "poses.pkl", ctf=tmp / "ctf.pkl")
        clio.write_star(tmp / "particles.star", stack, stack_path="particles.mrcs")
        stack.close()
        save_npy(tmp / "labels.npy", sim["label"])
        save_npz(tmp / "ground_truth.npz", **sim["coords"], state=sim["state"], label=sim["label"])
        (tmp / "gt_volumes").mkdir()
        rows = ["volume,file," + ",".join(sim["gt_params"])]
        for i, vol in enumerate(sim["gt_volumes"]):
            clio.write_volume(tmp / "gt_volumes" / f"vol_{i:03d}.mrc", vol, apix=apix)
            rows.append(f"{i},vol_{i:03d}.mrc," + ",".join(str(v[i]) for v in sim["gt_params"].values()))
        (tmp / "gt_volumes" / "volumes.csv").write_text("\n".join(rows) + "\n")
        record = asdict(cfg)
        record["volumes"] = [str(p) for p in volumes or []]
        record.update(noise_std=sim["noise_std"], cryolatent_version=__version__,
                      generator="cryolatent.datasets.simulate.simulate_dataset")
        (tmp / "simulation.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        if outdir.exists():
            shutil.rmtree(outdir)
        os.replace(tmp, outdir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return outdir


def ground_truth_volumes(data_dir: str | os.PathLike) -> np.ndarray | None:
    """The ground-truth maps :func:`simulate_dataset` wrote (``gt_volumes/vol_###.mrc``, in label
    order) as ``(M, D, D, D)``, or None when the folder has none (real data)."""
    files = sorted((Path(data_dir) / "gt_volumes").glob("vol_*.mrc"))
    return np.stack([clio.read_volume(p)[0] for p in files]) if files else None

