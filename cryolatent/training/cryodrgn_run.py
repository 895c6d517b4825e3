"""A cryoDRGN ``train_vae`` folder opened where a run of ours is: its latents, its decoder, its pixel size.

:func:`open_run` is what the commands and :func:`cryolatent.volumes.run_decoder` call with a
folder: a :class:`~cryolatent.training.run.Run` for ours, a :class:`CryodrgnRun` for
cryoDRGN's (``config.yaml`` with ``dataset_args`` and ``model_args``, ``weights.N.pkl``,
``z.N.pkl``). Both have ``load_model(epoch, device) -> (model, info)`` (``info``: ``D``,
``norm``, ``epoch``) and ``pixel_size()``. cryoDRGN's weights are a plain torch state dict,
read with ``weights_only=True``; its decoder becomes ours by
:func:`cryolatent.nn.cryodrgn.decoder_from_cryodrgn`.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryolatent.errors import CryolatentError, InputError, describe_error
from cryolatent.io import pixel_size, read_ctf, read_particles
from cryolatent.io.cryodrgn import is_cryodrgn_run, read_cryodrgn_config, read_cryodrgn_run
from cryolatent.io.validate import validate_apix
from cryolatent.nn.cryodrgn import DecoderOnly, UnsupportedModel, decoder_from_cryodrgn
from cryolatent.training.checkpoint import _refusal
from cryolatent.training.model import resolve_device
from cryolatent.training.run import Run


def _epoch_of(path: Path) -> int:
    return int(re.fullmatch(r"weights\.(\d+)\.pkl", path.name).group(1))


@dataclass
class CryodrgnRun:
    """A cryoDRGN ``train_vae`` output folder.

    Attributes
    ----------
    outdir
        The folder.
    config
        Its ``config.yaml``.
    """

    outdir: Path
    config: dict

    @classmethod
    def open(cls, outdir: str | os.PathLike) -> "CryodrgnRun":
        """Open a cryoDRGN run folder (an :class:`InputError` when it is not one)."""
        outdir = Path(outdir)
        return cls(outdir, read_cryodrgn_config(outdir))

    @property
    def D(self) -> int:
        """Training box in pixels (cryoDRGN's lattice has ``D + 1`` points a side)."""
        lattice = self.config.get("lattice_args") or {}
        if "D" not in lattice:
            raise InputError("config.yaml has no lattice_args.D (the training box)", self.outdir / "config.yaml")
        return int(lattice["D"]) - 1

    @property
    def norm(self) -> float:
        """The standard deviation the training images were divided by (``dataset_args.norm[1]``)."""
        norm = (self.config.get("dataset_args") or {}).get("norm")
        try:
            return float(norm[1])
        except (TypeError, IndexError, ValueError):
            raise InputError(f"config.yaml has no dataset_args.norm [mean, std] (got {norm!r})",
                             self.outdir / "config.yaml") from None

    def epochs(self) -> list[int]:
        """Epochs with a ``weights.N.pkl``, as cryoDRGN numbers them."""
        return sorted(_epoch_of(p) for p in self.outdir.glob("weights.*.pkl") if re.fullmatch(r"weights\.\d+\.pkl", p.name))

    def weights_path(self, epoch: int | None = None) -> Path:
        """``weights.EPOCH.pkl``; default ``weights.pkl``, else the latest ``weights.N.pkl``."""
        if epoch is not None and epoch >= 0:
            path = self.outdir / f"weights.{epoch}.pkl"
            if not path.is_file():
                have = ", ".join(map(str, self.epochs())) or "none"
                raise InputError(f"has no weights for epoch {epoch} (have: {have})", self.outdir)
            return path
        if (self.outdir / "weights.pkl").is_file():
            return self.outdir / "weights.pkl"
        epochs = self.epochs()
        if not epochs:
            raise InputError("holds no weights.pkl or weights.N.pkl", self.outdir)
        return self.outdir / f"weights.{epochs[-1]}.pkl"

    def load_model(self, epoch: int | None = None, device: str | torch.device | None = "cpu"
                   ) -> tuple[DecoderOnly, dict[str, Any]]:
        """``(model, info)``: the run's decoder as ours (in eval mode on ``device``) and
        ``{"D", "norm", "epoch", "weights"}``."""
        path = self.weights_path(epoch)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            reason = _refusal(exc).replace("cryolatent checkpoint", "cryoDRGN weights file")
            raise InputError(reason.replace("checkpoint", "weights file"), path) from None
        state = ckpt.get("model_state_dict") if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise InputError("not a cryoDRGN weights file (no model_state_dict)", path)
        try:
            decoder = decoder_from_cryodrgn(state, self.config.get("model_args") or {}, self.D)
        except (UnsupportedModel, KeyError, RuntimeError) as exc:
            raise InputError(f"cannot load this cryoDRGN decoder: {exc}", path) from None
        model = DecoderOnly(decoder, self.D).to(resolve_device(device)).eval()
        return model, {"D": self.D, "norm": self.norm, "epoch": ckpt.get("epoch"), "weights": os.fspath(path)}

    def z(self, epoch: int | None = None) -> np.ndarray:
        """The latent means ``z.pkl`` (or ``z.EPOCH.pkl``)."""
        return read_cryodrgn_run(self.outdir, epoch)[0]

    def pixel_size(self) -> float | None:
        """Pixel size (Angstrom) of the training images: the particle file's (its headers, or the
        CTF file's apix column), scaled from the file's box to the training box. None (with a
        warning) when no file gives one or they cannot be read any more."""
        args = self.config.get("dataset_args") or {}
        if not args.get("particles"):
            return None
        try:
            stack = read_particles(args["particles"], datadir=args.get("datadir"))
            if not stack.apix and args.get("ctf"):
                stack.ctf = read_ctf(args["ctf"], D=stack.D)
            apix = pixel_size(stack)
            validate_apix(apix, stack.source)
        except (CryolatentError, OSError) as exc:
            warnings.warn(f"the pixel size of cryoDRGN run {self.outdir} is unknown: {describe_error(exc)}",
                          stacklevel=2)
            return None
        return None if apix is None else apix * stack.D / self.D


def open_run(outdir: str | os.PathLike) -> Run | CryodrgnRun:
    """The run in ``outdir``: cryoDRGN's when its ``config.yaml`` is cryoDRGN's, else ours."""
    return CryodrgnRun.open(outdir) if is_cryodrgn_run(outdir) else Run.open(outdir)
