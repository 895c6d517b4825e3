"""A training run on disk, and the one reader of its folder.

:class:`Run` reads ``OUTDIR``: the configuration (``config.yaml``), the data
paths it names (resolved: as written, else relative to the run folder), the
particles' pixel size, the log (``train_log.csv``), the latents (``z.npy``) and
the model (``weights.pt`` / ``weights.<epoch>.pt``).  The loop writes the
folder; :mod:`~cryolatent.latent`, :mod:`~cryolatent.volumes`, the commands
and the notebooks read it through :class:`Run`.

Imports, one way: config, checkpoint, model <- run <- evaluate <- loop.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryolatent.errors import CryolatentError, InputError, describe_error
from cryolatent.io import ParticleStack, load_dataset, pixel_size, read_ctf, read_particles
from cryolatent.io.validate import validate_apix
from cryolatent.nn.vae import HetVAE
from cryolatent.training.checkpoint import find_checkpoint, load_checkpoint
from cryolatent.training.config import TrainConfig
from cryolatent.training.model import build_from_config, resolve_device

CONFIG_NAME = "config.yaml"
LOG_NAME = "train_log.csv"
LOG_FIELDS = ("epoch", "loss", "recon", "kl", "seconds", "particles_per_s")
RUN_FILES = ("config.yaml", "train_log.csv", "weights.pt", "z.npy", "z_logvar.npy", "recon_error.npy")
RECON_ERROR_NAME = "recon_error.npy"  # per-particle reconstruction error at the posterior mean, after training
DATA_PATHS = ("particles", "poses", "ctf", "ind", "datadir")


def read_log(outdir: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of ``OUTDIR/train_log.csv`` (empty if missing)."""
    path = Path(outdir) / LOG_NAME
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = []
        for row in csv.DictReader(fh):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if k in LOG_FIELDS})
        return rows


def resolve_path(outdir: str | os.PathLike, value: str | os.PathLike | None) -> str | None:
    """A path of a run's configuration: as written when it exists (or is absolute), else
    relative to the run folder when it exists there, else as written."""
    if value is None or not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        return value
    p = Path(value)
    if p.exists() or p.is_absolute():
        return os.fspath(p)
    q = Path(outdir) / p
    return os.fspath(q) if q.exists() else os.fspath(p)


def load_model(outdir: str | os.PathLike, epoch: int | None = None,
               device: str | torch.device | None = None) -> tuple[HetVAE, dict[str, Any]]:
    """Load a run's model from ``weights.pt`` (or ``weights.<epoch>.pt``).

    Needs only the checkpoint, which holds the configuration.

    Returns
    -------
    ``(model, checkpoint)``: the :class:`~cryolatent.nn.vae.HetVAE` in eval mode on
    ``device`` (``None``/``"auto"``: CUDA when available) and the checkpoint dict
    (``norm``, ``D``, ``config``, ``epoch``...).
    """
    path = find_checkpoint(outdir, epoch)
    ckpt = load_checkpoint(path)
    config = TrainConfig.from_yaml(ckpt["config"])
    model = build_from_config(config, int(ckpt["D"]))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise InputError(f"checkpoint does not match its configuration ({str(exc).splitlines()[0]})", path) from None
    model.to(resolve_device(device)).eval()
    return model, ckpt


@dataclass
class Run:
    """Handle on a training output folder (what :func:`~cryolatent.training.loop.train` returns).

    Attributes
    ----------
    outdir
        The folder.
    config
        Its configuration.
    history
        Per-epoch metrics (``train_log.csv`` rows).
    model
        The trained model when returned by ``train`` (else loaded on demand by :meth:`load_model`).
    norm
        Data standard deviation of the run.
    """

    outdir: Path
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    model: Any = None
    norm: float | None = None

    @classmethod
    def open(cls, outdir: str | os.PathLike) -> "Run":
        """Open an existing output folder (it needs a ``config.yaml``)."""
        outdir = Path(outdir)
        cfg = outdir / CONFIG_NAME
        if not cfg.is_file():
            raise InputError("is not a training output folder (no config.yaml)", outdir)
        return cls(outdir, TrainConfig.from_yaml(cfg), read_log(outdir))

    @property
    def epochs_done(self) -> int:
        """Last logged epoch (0 if none)."""
        return int(self.history[-1]["epoch"]) if self.history else 0

    def data_paths(self) -> dict[str, str | None]:
        """``particles``, ``poses``, ``ctf``, ``ind``, ``datadir`` of the configuration, resolved
        by :func:`resolve_path` (``particles`` is ``""`` when none is configured)."""
        return {k: resolve_path(self.outdir, getattr(self.config.data, k)) for k in DATA_PATHS}

    def open_particles(self, particles: str | os.PathLike | None = None) -> ParticleStack:
        """The run's particles with their poses, CTF and index file.

        Parameters
        ----------
        particles
            Another particle file to read instead: with its own poses/CTF (a
            ``.star``/``.cs``), the run's ``datadir`` and the run's index file
            when that exists.

        Raises
        ------
        InputError
            No particles configured, or unreadable files.
        """
        paths = self.data_paths()
        if particles is not None:
            ind = paths["ind"] if paths["ind"] and Path(paths["ind"]).is_file() else None
            return load_dataset(resolve_path(self.outdir, particles), ind=ind, datadir=paths["datadir"])
        if not paths["particles"]:
            raise InputError("the run's configuration names no particles", self.outdir / CONFIG_NAME)
        return load_dataset(paths["particles"], poses=paths["poses"], ctf=paths["ctf"], ind=paths["ind"],
                            datadir=paths["datadir"])

    def pixel_size(self) -> float | None:
        """Pixel size (Angstrom) of the run's particles: from the particle file (MRC headers,
        ``.star`` optics, ``.cs`` records), else the CTF file's apix column (scaled to the
        particles' box); see :func:`cryolatent.io.pixel_size`.

        None when no file gives one, or (with a warning naming the file) when the
        run's particles cannot be read any more: callers then report in pixels.
        """
        paths = self.data_paths()
        if not paths["particles"]:
            return None
        try:
            stack = read_particles(paths["particles"], datadir=paths["datadir"])
            if not stack.apix and paths["ctf"]:
                stack.ctf = read_ctf(paths["ctf"], D=stack.D)
            apix = pixel_size(stack)
            validate_apix(apix, stack.source)
        except (CryolatentError, OSError) as exc:  # moved or unreadable files: say so, then unknown
            warnings.warn(f"the pixel size of run {self.outdir} is unknown: {describe_error(exc)}", stacklevel=2)
            return None
        return apix

    def z(self, logvar: bool = False) -> np.ndarray:
        """``z.npy`` (or ``z_logvar.npy``): per-particle latent means, in particle order."""
        path = self.outdir / ("z_logvar.npy" if logvar else "z.npy")
        if not path.is_file():
            raise InputError("missing (training unfinished or zdim = 0)", path)
        return np.load(path)

    def recon_error(self) -> np.ndarray | None:
        """``recon_error.npy``: each particle's reconstruction error at its posterior mean after
        training (the loss's mean squared error over its masked pixels), or None for older runs."""
        path = self.outdir / RECON_ERROR_NAME
        return np.load(path) if path.is_file() else None

    def load_model(self, epoch: int | None = None, device: str | torch.device | None = "cpu"
                   ) -> tuple[HetVAE, dict[str, Any]]:
        """``(model, checkpoint)`` of ``epoch`` (default: the latest); sets :attr:`norm`."""
        model, ckpt = load_model(self.outdir, epoch=epoch, device=device)
        self.norm = float(ckpt["norm"])
        return model, ckpt

