"""Reading a cryoDRGN ``train_vae`` run folder: its latent means and the data it was trained on.

cryoDRGN writes ``config.yaml`` (``dataset_args``: particles, poses, ctf, ind, datadir,
invert_data; ``model_args``; ``lattice_args``), ``z.pkl`` / ``z.N.pkl`` (the latent means of
every trained particle, in order, as a pickled array) and ``weights*.pkl``. The first two are
read here; the pickles go through the restricted unpickler (arrays only), so a hostile file
is refused. The weights are read by :mod:`cryolatent.training.cryodrgn_run`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cryolatent.errors import InputError
from cryolatent.io.pkl import load_pkl

DATASET_KEYS = ("particles", "poses", "ctf", "ind", "datadir")


def _config(folder: Path) -> dict | None:
    """The run's ``config.yaml`` when it is a cryoDRGN one (with ``dataset_args``), else None."""
    try:
        doc = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("dataset_args"), dict) else None


def is_cryodrgn_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a cryoDRGN run's ``config.yaml`` (one with ``dataset_args``)."""
    return _config(Path(folder)) is not None


def read_cryodrgn_config(folder: str | os.PathLike) -> dict:
    """A cryoDRGN run's ``config.yaml`` (an :class:`InputError` naming the folder when it has none)."""
    config = _config(Path(folder))
    if config is None:
        raise InputError("not a cryoDRGN run folder (no config.yaml with dataset_args)", folder)
    return config


def read_cryodrgn_run(folder: str | os.PathLike, epoch: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The latent means ``z`` (``(N, zdim)``) of a cryoDRGN run and its ``dataset_args``.

    Parameters
    ----------
    folder
        The run's output folder (``cryodrgn train_vae -o``).
    epoch
        Read ``z.EPOCH.pkl`` (1-based, as cryoDRGN numbers them); default ``z.pkl``, else
        the latest ``z.N.pkl``.
    """
    folder = Path(folder)
    config = read_cryodrgn_config(folder)
    if epoch is not None:
        z_path = folder / f"z.{epoch}.pkl"
    elif (folder / "z.pkl").is_file():
        z_path = folder / "z.pkl"
    else:
        numbered = sorted(folder.glob("z.*.pkl"), key=lambda p: int(re.findall(r"z\.(\d+)\.pkl", p.name)[0]))
        if not numbered:
            raise InputError("has no z.pkl or z.N.pkl: the run has not finished an epoch", folder)
        z_path = numbered[-1]
    if not z_path.is_file():
        raise InputError("no such latent file", z_path)
    z = np.asarray(load_pkl(z_path), dtype=np.float32)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise InputError(f"expected an (N, zdim) array, got shape {z.shape}", z_path)
    args = config["dataset_args"]
    data = {k: args.get(k) for k in DATASET_KEYS}
    data["invert_data"] = bool(args.get("invert_data", True))
    data["z"] = os.fspath(z_path)
    return z, data
