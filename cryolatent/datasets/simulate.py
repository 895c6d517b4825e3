"""Simulated particle datasets: the embedded default and user volumes.

The built-in molecule is made of Gaussian blobs: a rigid body, an arm that
swings about a hinge (continuous coordinate ``t`` in [0, 1]) and a small extra
domain that is bound in about half the particles (discrete ``state`` 0/1).
Projections of Gaussian blobs are Gaussian, so its images are exact; its
ground-truth volumes are the same blobs sampled on the voxel grid.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from cryolatent import io as clio
from cryolatent._version import __version__

from cryolatent.forward import fourier
from cryolatent.errors import InputError
from cryolatent.forward.geometry import random_rotations
from cryolatent.forward.lattice import image_lattice
from cryolatent.forward.projection import form_images, project_volume
from cryolatent.outputs import save_npy, save_npz


@dataclass
class HingeMolecule:
    """Blob model of a flexible molecule, in fractions of the box.

    ``centers``: ``(n, 3)`` positions (x, y, z) about the box centre; ``sigma``: blob
    widths; ``part``: 0 = body, 1 = arm (rotates by ``t * hinge_deg`` about
    ``hinge_axis`` through ``hinge_point``), 2 = extra domain (present in state 1,
    moves with the body).
    """

    centers: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    part: np.ndarray
    hinge_point: np.ndarray
    hinge_axis: np.ndarray
    hinge_deg: float = 60.0

    @classmethod
    def default(cls, seed: int = 0) -> "HingeMolecule":
        """The embedded default: a chiral body of 48 blobs, a 12-blob arm and an 8-blob extra domain."""
        rng = np.random.default_rng(seed)
        body = rng.normal(size=(48, 3)) * [0.09, 0.06, 0.05] + [-0.05, 0.0, 0.0]
        steps = np.arange(12)
        arm = np.stack([np.linspace(0.06, 0.24, 12), 0.02 * np.sin(steps), 0.03 * np.cos(steps)], 1)
        arm += rng.normal(size=arm.shape) * 0.01
        extra = rng.normal(size=(8, 3)) * 0.025 + [-0.08, 0.1, 0.06]
        centers = np.concatenate([body, arm, extra])
        part = np.repeat([0, 1, 2], [len(body), len(arm), len(extra)])
        sigma = 0.02 * rng.uniform(0.8, 1.25, len(centers))
        weight = rng.uniform(0.7, 1.0, len(centers))
        axis = np.array([0.0, 0.3, 1.0])
        return cls(centers, sigma, weight, part, np.array([0.06, 0.0, 0.0]), axis / np.linalg.norm(axis))

    def blob_centers(self, t: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blob positions ``(n_conf, n_blobs, 3)`` and weights ``(n_conf, n_blobs)`` per conformation."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        state = np.broadcast_to(np.atleast_1d(state), t.shape)
        angle = np.deg2rad(t * self.hinge_deg)
        a = self.hinge_axis
        K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        rot = np.eye(3) + np.sin(angle)[:, None, None] * K + (1 - np.cos(angle))[:, None, None] * (K @ K)
        centers = np.broadcast_to(self.centers, (len(t),) + self.centers.shape).copy()
        arm = self.part == 1
        centers[:, arm] = (centers[:, arm] - self.hinge_point) @ rot.transpose(0, 2, 1) + self.hinge_point
        weights = np.broadcast_to(self.weight, (len(t), len(self.weight))).copy()
        weights[:, self.part == 2] *= (state == 1)[:, None]
        return centers, weights

    def volume(self, D: int, t: float, state: int) -> np.ndarray:
        """The ground-truth map ``(D, D, D)`` ``[z, y, x]`` of one conformation."""
        centers, weights = self.blob_centers(np.array([t]), np.array([state]))
        c = centers[0] * D
        s = self.sigma * D
        grid = np.arange(D) - D // 2
        vol = np.zeros((D, D, D))
        for (x, y, z), si, wi in zip(c, s, weights[0]):
            if wi == 0:
                continue
            gx = np.exp(-((grid - x) ** 2) / (2 * si**2))
            gy = np.exp(-((grid - y) ** 2) / (2 * si**2))
            gz = np.exp(-((grid - z) ** 2) / (2 * si**2))
            vol += wi * gz[:, None, None] * gy[None, :, None] * gx[None, None, :]
        return vol.astype(np.float32)

    def projections(self, D: int, rots: np.ndarray, t: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Exact noise-free projections ``(B, D, D)`` for poses ``rots`` and conformations."""
        centers, weights = self.blob_centers(t, state)
        c2 = torch.from_numpy(np.einsum("bij,bnj->bni", rots, centers * D)[..., :2])  # (B, n, 2) pixels
        s = torch.from_numpy(self.sigma * D)
        amp = torch.from_numpy(weights) * np.sqrt(2 * np.pi) * s  # line integral of a 3-D Gaussian
        grid = torch.arange(D, dtype=torch.float64) - D // 2
        gx = torch.exp(-((grid[None, None, :] - c2[..., 0:1]) ** 2) / (2 * s[None, :, None] ** 2))  # (B, n, D)
        gy = torch.exp(-((grid[None, None, :] - c2[..., 1:2]) ** 2) / (2 * s[None, :, None] ** 2))
        return torch.einsum("bn,bny,bnx->byx", amp, gy, gx).float().numpy()


@dataclass
class SimulationConfig:
    """Parameters of a simulated dataset (recorded in ``simulation.yaml``)."""

    n_particles: int = 2000
    box: int = 64
    apix: float = 3.0
    snr: float | None = 0.1
    seed: int = 0
    max_shift_px: float = 3.0
    defocus_min: float = 10000.0
    defocus_max: float = 25000.0
    astigmatism_max: float = 600.0
    voltage: float = 300.0
    cs: float = 2.7
    amplitude_contrast: float = 0.1
    n_t_bins: int = 10
    p_state1: float = 0.5
    volumes: list = field(default_factory=list)

    def validate(self) -> "SimulationConfig":
        """Raise :class:`InputError` naming the argument of a value that makes no dataset."""
        finite = np.isfinite
        checks = [
            (self.n_particles >= 1, f"-n/--n-particles must be >= 1, got {self.n_particles}"),
            (self.box >= 8 and self.box % 2 == 0, f"-D/--box must be an even number >= 8, got {self.box}"),
            (finite(self.apix) and self.apix > 0, f"--apix must be a positive pixel size in A, got {self.apix}"),
            (self.snr is None or (finite(self.snr) and self.snr > 0), f"--snr must be > 0 (0: no noise), got {self.snr}"),
            (finite(self.max_shift_px) and self.max_shift_px >= 0, f"--max-shift must be >= 0, got {self.max_shift_px}"),
            (self.defocus_min > 0 and self.defocus_max >= self.defocus_min, "defocus range must be positive and ordered"),
            (0 <= self.p_state1 <= 1, f"p_state1 must be in [0, 1], got {self.p_state1}"),
            (self.n_t_bins >= 1, f"n_t_bins must be >= 1, got {self.n_t_bins}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self


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
    ground-truth volume nearest each particle's conformation) and ``gt_volumes``.
    """
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
    else:
        mol = HingeMolecule.default(cfg.seed)
        t = rng.uniform(0, 1, N)
        state = (rng.uniform(0, 1, N) < cfg.p_state1).astype(np.int64)
        edges = np.linspace(0, 1, cfg.n_t_bins + 1)
        t_bin = np.clip(np.digitize(t, edges) - 1, 0, cfg.n_t_bins - 1)
        label = state * cfg.n_t_bins + t_bin
        centres = (edges[:-1] + edges[1:]) / 2
        gt_params = {
            "t": np.tile(centres, 2),
            "state": np.repeat([0, 1], cfg.n_t_bins),
        }
        gt_volumes = np.stack([mol.volume(D, tt, ss) for tt, ss in zip(gt_params["t"], gt_params["state"])])
        bar = tqdm(total=N, desc="simulating", unit="img", disable=not progress)
        for start in range(0, N, batch_size):
            sl = slice(start, start + batch_size)
            proj = mol.projections(D, rots[sl], t[sl], state[sl])
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
    volumes: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    **kwargs,
) -> Path:
    """Simulate a dataset and write it to ``outdir`` (all or nothing).

    Writes ``particles.mrcs``, ``poses.pkl`` and ``ctf.pkl`` (cryoDRGN formats),
    ``particles.star`` (RELION 3.1), ``labels.npy`` (ground-truth volume index per
    particle), ``ground_truth.npz`` (``t``, ``state``, ``label`` per particle),
    ``gt_volumes/vol_###.mrc`` with ``gt_volumes/volumes.csv`` and ``simulation.yaml``.

    Parameters
    ----------
    volumes
        Paths of ``.mrc`` maps to project instead of the built-in molecule (each
        particle picks one at random; all must share one box size).
    """

    outdir = Path(outdir)
    SimulationConfig(n_particles=n_particles, box=box if not volumes else 8, apix=apix, snr=snr, seed=seed,
                     **kwargs).validate()
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
    cfg = SimulationConfig(n_particles=n_particles, box=box, apix=apix, snr=snr, seed=seed, volumes=vols,
                           **kwargs).validate()
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
        save_npz(tmp / "ground_truth.npz", t=sim["t"], state=sim["state"], label=sim["label"])
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

