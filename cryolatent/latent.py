"""LatentSet: the latent means of a run with per-particle covariates and results.

One object holds an analysis (as AnnData does for scanpy):

- ``obs``: a DataFrame, one row per particle (``orig_index``, defocus, pose
  angles, cluster labels, selections...);
- ``emb``: name -> ``(N, d)`` array (``"z"``, ``"pca"``, ``"umap"``...);
- ``uns``: step -> ``{"params": ..., "version": ..., ...}`` (JSON-safe).

It is saved as a folder (``obs.csv``, ``emb.npz``, ``uns.json``,
``meta.json``) without pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryolatent._version import __version__
from cryolatent.errors import InputError
from cryolatent.forward.geometry import matrix_to_euler_relion
from cryolatent.io.cryodrgn import is_cryodrgn_run, read_cryodrgn_run
from cryolatent.io.dataset import load_dataset
from cryolatent.training.config import TrainConfig
from cryolatent.training.run import CONFIG_NAME, DATA_PATHS, Run

FORMAT = "cryolatent.LatentSet"


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays/scalars and tuples turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return os.fspath(value)
    return value


class LatentSet:
    """Latent means of ``N`` particles with their covariates and analysis results.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means (stored as ``emb["z"]``).
    obs
        Per-particle table (default: ``orig_index`` = ``0..N-1``).
    emb, uns
        Further embeddings and recorded steps.
    outdir
        The training run folder, when there is one.

    Attributes
    ----------
    stack
        The run's :class:`~cryolatent.io.ParticleStack` (not saved), or None;
        see :meth:`open_stack`.
    """

    def __init__(
        self,
        z,
        obs: pd.DataFrame | None = None,
        *,
        emb: dict[str, np.ndarray] | None = None,
        uns: dict[str, Any] | None = None,
        outdir: str | os.PathLike | None = None,
    ):
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[:, None]
        if z.ndim != 2:
            raise ValueError(f"z must be (N, zdim), got shape {z.shape}")
        n = len(z)
        if obs is None:
            obs = pd.DataFrame({"orig_index": np.arange(n, dtype=np.int64)})
        if len(obs) != n:
            raise ValueError(f"obs has {len(obs)} rows but z has {n}")
        if "orig_index" not in obs:
            obs = obs.assign(orig_index=np.arange(n, dtype=np.int64))
        self.obs = obs.reset_index(drop=True)
        self.emb: dict[str, np.ndarray] = {"z": z}
        for key, value in (emb or {}).items():
            self.set_emb(key, value)
        self.uns: dict[str, Any] = dict(uns or {})
        self.outdir = None if outdir is None else Path(outdir)
        self.stack = None

    # ---- basics -------------------------------------------------------
    @property
    def z(self) -> np.ndarray:
        """``(N, zdim)`` latent means."""
        return self.emb["z"]

    @property
    def n_obs(self) -> int:
        """Number of particles."""
        return len(self.obs)

    def __len__(self) -> int:
        return self.n_obs

    def __repr__(self) -> str:
        obs = ", ".join(map(str, self.obs.columns))
        emb = ", ".join(f"{k} {v.shape[1]}" for k, v in self.emb.items())
        return f"LatentSet({self.n_obs} particles; obs: {obs}; emb: {emb}; uns: {', '.join(self.uns)})"

    def set_emb(self, key: str, value) -> None:
        """Store an ``(N, d)`` embedding under ``key``."""
        arr = np.asarray(value)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or len(arr) != self.n_obs:
            raise ValueError(f"embedding {key!r} must have {self.n_obs} rows, got shape {arr.shape}")
        self.emb[key] = arr

    def record(self, step: str, params: dict[str, Any], **results: Any) -> None:
        """Record a step in ``uns[step]``: its parameters, version and small results."""
        self.uns[step] = jsonable({"params": params, "version": __version__, **results})

    def require(self, key: str, hint: str, where: str = "emb") -> None:
        """Raise ValueError naming ``hint`` (e.g. ``"run pca(ls) first"``) if ``key`` is missing."""
        store = {"emb": self.emb, "obs": self.obs.columns, "uns": self.uns}[where]
        if key not in store:
            raise ValueError(f"no {where}[{key!r}] in this LatentSet: {hint}")

    # ---- from a run ----------------------------------------------------
    @classmethod
    def from_cryodrgn(cls, folder: str | os.PathLike, epoch: int | None = None, particles=None,
                      datadir: str | os.PathLike | None = None) -> "LatentSet":
        """Open the latent means of a cryoDRGN ``train_vae`` run, with the covariates of its particles.

        The particles, poses, CTF and index file come from the run's ``config.yaml`` (or give
        ``particles``, a file or an opened stack, and ``datadir``); indices stay original indices,
        so selections export as for cryolatent's own runs. Volumes come from the run's weights:
        ``volumes.run_decoder(folder)`` loads its decoder (:mod:`cryolatent.nn.cryodrgn`).
        """
        z, data = read_cryodrgn_run(folder, epoch)
        stack = particles if particles is not None and not isinstance(particles, (str, os.PathLike)) else None
        if stack is None:
            source = particles or data["particles"]
            try:
                stack = load_dataset(source, poses=None if particles else data["poses"],
                                     ctf=None if particles else data["ctf"], ind=data["ind"],
                                     datadir=datadir or data["datadir"])
            except (InputError, OSError) as exc:
                warnings.warn(f"particles of the cryoDRGN run not loaded, so no covariates: {exc}", stacklevel=2)
        obs = _matching_covariates(stack, len(z), data["z"])
        ls = cls(z, obs, outdir=Path(folder))
        ls.stack = stack
        ls.uns["cryodrgn"] = jsonable({"folder": os.fspath(Path(folder).resolve()), "data": data})
        return ls

    @classmethod
    def from_run(cls, outdir: str | os.PathLike, particles=None) -> "LatentSet":
        """Open the latent means of a training run, with particle covariates.

        Parameters
        ----------
        outdir
            Training output folder (``z.npy``, ``weights.pt``, ``config.yaml``), or a cryoDRGN
            ``train_vae`` folder (opened by :meth:`from_cryodrgn`).
        particles
            A particle file or :class:`~cryolatent.io.ParticleStack` (default:
            the run's, from ``config.yaml``; skipped with a warning when
            unreadable). Covariates (defocus, pose angles, original indices)
            come from it. A file given here is read with its own poses/CTF
            and the run's index file (when readable); for anything else pass
            a stack opened with :func:`~cryolatent.io.load_dataset`.

        Raises
        ------
        InputError
            Missing ``z.npy``/``weights.pt``, or a ``z.npy`` whose row count
            differs from the particle count.
        """
        outdir = Path(outdir)
        if not outdir.is_dir():
            raise InputError("no such training output folder", outdir)
        if is_cryodrgn_run(outdir):  # a cryoDRGN train_vae folder opens where a run of ours does
            return cls.from_cryodrgn(outdir, particles=particles)
        missing = [name for name in ("z.npy", "weights.pt") if not (outdir / name).is_file()]
        if missing:
            raise InputError(f"not a finished training run: missing {' and '.join(missing)}", outdir)
        z_path = outdir / "z.npy"
        try:
            z = np.load(z_path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot read latent means ({str(exc).splitlines()[0]})", z_path) from None
        if z.ndim == 1:
            z = z[:, None]
        if z.ndim != 2:
            raise InputError(f"expected an (N, zdim) array, got shape {z.shape}", z_path)
        run = _open_run(outdir)
        data = {k: getattr(run.config.data, k) for k in DATA_PATHS}
        stack = _open_particles(run, particles)
        obs = _matching_covariates(stack, len(z), z_path)
        error = run.recon_error()
        if error is not None and len(error) == len(z):
            obs = pd.DataFrame(index=range(len(z))) if obs is None else obs
            obs["recon_error"] = error
        ls = cls(z, obs, outdir=outdir)
        ls.stack = stack
        ls.uns["run"] = jsonable({"outdir": os.fspath(outdir.resolve()), "data": data})
        return ls

    def open_stack(self, particles=None):
        """The particle stack of these latent rows (in order), opened on demand.

        Parameters
        ----------
        particles
            A particle file or stack to use instead of the run's.
        """
        if particles is None and self.stack is not None:
            return self.stack
        recorded = self.uns.get("run") or {}
        data = recorded.get("data") or {}
        if particles is None and not data.get("particles"):
            raise InputError("no particle stack known for this LatentSet; pass particles=")
        paths = {k: v for k, v in data.items() if k in DATA_PATHS and v is not None}
        run = Run(Path(recorded.get("outdir", ".")), TrainConfig().update(paths))
        stack = _open_particles(run, particles, strict=True)
        if len(stack) != self.n_obs:
            raise InputError(f"has {len(stack)} particles but the LatentSet has {self.n_obs}", stack.source)
        if particles is None:
            self.stack = stack
        return stack

    # ---- saving ---------------------------------------------------------
    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write to a folder: ``obs.csv``, ``emb.npz``, ``uns.json``, ``meta.json``.

        The folder is written next to ``path`` and renamed into place; an
        existing ``path`` is replaced only with ``force``.
        """
        path = Path(path)
        if path.exists() and not force:
            raise InputError("output exists; pass --force (force=True) to overwrite", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            self.obs.to_csv(tmp / "obs.csv", index=False)
            np.savez(tmp / "emb.npz", **self.emb)
            (tmp / "uns.json").write_text(json.dumps(jsonable(self.uns), indent=1))
            meta = {
                "format": FORMAT,
                "version": __version__,
                "n_obs": self.n_obs,
                "obs_dtypes": {c: str(t) for c, t in self.obs.dtypes.items()},
                "outdir": None if self.outdir is None else os.fspath(self.outdir),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatentSet":
        """Read a folder written by :meth:`save`."""
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            raise InputError("not a saved LatentSet (no meta.json)", path)
        try:
            meta = json.loads(meta_path.read_text())
            uns = json.loads((path / "uns.json").read_text())
            with np.load(path / "emb.npz", allow_pickle=False) as f:
                emb = {k: f[k] for k in f.files}
            obs = pd.read_csv(path / "obs.csv")
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read saved LatentSet ({str(exc).splitlines()[0]})", path) from None
        if meta.get("format") != FORMAT or "z" not in emb:
            raise InputError("not a saved LatentSet", path)
        for col, dtype in meta.get("obs_dtypes", {}).items():
            if col in obs:
                try:
                    obs[col] = obs[col].astype(dtype)
                except (TypeError, ValueError) as exc:  # kept as read, and said so
                    warnings.warn(f"{path / 'obs.csv'}: column {col!r} kept as read, not as {dtype} "
                                  f"({' '.join(str(exc).split())})", stacklevel=2)
        z = emb.pop("z")
        return cls(z, obs, emb=emb, uns=uns, outdir=meta.get("outdir"))


def _matching_covariates(stack, n: int, z_path) -> pd.DataFrame | None:
    """:func:`covariates` of ``stack`` (None without one), refused unless it has the ``n`` rows of ``z_path``."""
    if stack is None:
        return None
    if len(stack) != n:
        raise InputError(f"has {n} latent rows but the particles ({stack.source}) have {len(stack)}", z_path)
    return covariates(stack)


def covariates(stack) -> pd.DataFrame:
    """Per-particle table of a stack: ``orig_index``, defocus and pose columns when known.

    Columns: ``orig_index``; ``defocus_A`` (mean of dfU, dfV), ``astigmatism_A``
    (dfU - dfV), ``defocus_angle``; ``rot``, ``tilt``, ``psi`` (RELION Euler
    angles, degrees), ``shift_x_px``, ``shift_y_px``.
    """
    obs = pd.DataFrame({"orig_index": np.asarray(stack.orig_index, dtype=np.int64)})
    if stack.ctf is not None:
        ctf = np.asarray(stack.ctf, dtype=np.float64)
        obs["defocus_A"] = 0.5 * (ctf[:, 2] + ctf[:, 3])
        obs["astigmatism_A"] = ctf[:, 2] - ctf[:, 3]
        obs["defocus_angle"] = ctf[:, 4]
    if stack.poses is not None:
        rots, trans = stack.poses
        euler = np.asarray(matrix_to_euler_relion(rots)).reshape(-1, 3)
        obs["rot"], obs["tilt"], obs["psi"] = euler[:, 0], euler[:, 1], euler[:, 2]
        shift = np.asarray(trans, dtype=np.float64) * stack.D
        obs["shift_x_px"], obs["shift_y_px"] = shift[:, 0], shift[:, 1]
    return obs


def _open_run(outdir: Path) -> Run:
    """The run of ``outdir``; without particles (and, when unreadable, with a warning) when
    its ``config.yaml`` is missing or unreadable."""
    path = outdir / CONFIG_NAME
    if path.is_file():
        try:
            return Run.open(outdir)
        except (OSError, ValueError) as exc:  # InputError is a ValueError; so is a malformed log
            warnings.warn(f"{path}: unreadable run ({getattr(exc, 'problem', exc)}); no covariates", stacklevel=3)
    return Run(outdir, TrainConfig())


def _open_particles(run: Run, particles=None, strict: bool = False):
    """The run's (or the given) particles with poses and CTF; None if unreadable and not strict."""
    if particles is not None and not isinstance(particles, (str, os.PathLike)):
        return particles  # an opened stack
    if particles is None and not run.config.data.particles:
        return None
    try:
        return run.open_particles(particles)
    except (InputError, OSError) as exc:
        if particles is not None or strict:
            raise
        warnings.warn(f"particles of the run not loaded, so no covariates: {exc}", stacklevel=3)
        return None
