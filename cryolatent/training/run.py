"""A training run on disk: its folder, configuration, log and latents."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cryolatent.errors import InputError
from cryolatent.training.config import TrainConfig

CONFIG_NAME = "config.yaml"
LOG_NAME = "train_log.csv"
LOG_FIELDS = ("epoch", "loss", "recon", "kl", "seconds", "particles_per_s")
RUN_FILES = ("config.yaml", "train_log.csv", "weights.pt", "z.npy", "z_logvar.npy")


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
        """Open an existing output folder."""
        outdir = Path(outdir)
        cfg = outdir / CONFIG_NAME
        if not cfg.is_file():
            raise InputError("is not a training output folder (no config.yaml)", outdir)
        return cls(outdir, TrainConfig.from_yaml(cfg), read_log(outdir))

    @property
    def epochs_done(self) -> int:
        """Last logged epoch (0 if none)."""
        return int(self.history[-1]["epoch"]) if self.history else 0

    def z(self, logvar: bool = False) -> np.ndarray:
        """``z.npy`` (or ``z_logvar.npy``): per-particle latent means, in particle order."""
        path = self.outdir / ("z_logvar.npy" if logvar else "z.npy")
        if not path.is_file():
            raise InputError("missing (training unfinished or zdim = 0)", path)
        return np.load(path)

    def load_model(self, epoch: int | None = None, device: str = "cpu"):
        """``(model, checkpoint)`` of ``epoch`` (default: the latest)."""
        from cryolatent.training.evaluate import load_model

        model, ckpt = load_model(self.outdir, epoch=epoch, device=device)
        self.norm = float(ckpt["norm"])
        return model, ckpt

    def plot_loss(self, ax=None):
        """Plot the loss curve (matplotlib); returns the axes."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        ep = [r["epoch"] for r in self.history]
        ax.plot(ep, [r["loss"] for r in self.history], label="loss")
        ax.plot(ep, [r["recon"] for r in self.history], label="recon")
        ax.set_xlabel("epoch")
        ax.legend()
        return ax
