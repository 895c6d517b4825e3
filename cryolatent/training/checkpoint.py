"""Checkpoints: ``OUTDIR/weights.<epoch>.pt`` and ``OUTDIR/weights.pt``.

A checkpoint is a dict of tensors and plain containers only, so that it loads
with ``torch.load(..., weights_only=True)``:

``model``, ``optimizer`` (state dicts), ``epoch`` (1-based, completed),
``rng`` (torch, CUDA, numpy and Python generator states), ``config`` (YAML text),
``norm`` (the data standard deviation), ``D`` (box), ``ref_loss``, ``version``.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryolatent.errors import InputError
from cryolatent.outputs import atomic_path

LATEST = "weights.pt"
_EPOCH_RE = re.compile(r"^weights\.(\d+)\.pt$")


def epoch_path(outdir: str | os.PathLike, epoch: int) -> Path:
    """``OUTDIR/weights.<epoch>.pt``."""
    return Path(outdir) / f"weights.{int(epoch)}.pt"


def list_epochs(outdir: str | os.PathLike) -> list[int]:
    """Epochs with a ``weights.<epoch>.pt`` in ``outdir``, ascending."""
    out = []
    if Path(outdir).is_dir():
        for p in Path(outdir).iterdir():
            m = _EPOCH_RE.match(p.name)
            if m:
                out.append(int(m.group(1)))
    return sorted(out)


def rng_state() -> dict[str, Any]:
    """Current torch / CUDA / numpy / Python RNG states as tensors and plain containers."""
    key, keys, pos, has_gauss, cached = np.random.get_state()
    version, pystate, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": str(key), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": list(pystate), "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["key"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(outdir: str | os.PathLike, epoch: int, payload: dict[str, Any]) -> Path:
    """Write ``weights.<epoch>.pt`` and ``weights.pt`` atomically; return the former.

    The checkpoint is serialised in memory first, so that a full disk is an
    ``OSError`` naming the file (torch reports failed writes as a ``RuntimeError``).
    """
    payload = dict(payload, epoch=int(epoch))
    path = epoch_path(outdir, epoch)
    buffer = BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path, force=True) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    with atomic_path(Path(outdir) / LATEST, force=True) as tmp_latest:
        shutil.copyfile(path, tmp_latest)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); one-line error if unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such checkpoint", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise InputError(_refusal(exc), path) from None
    required = ("model", "config", "D", "norm", "epoch")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        raise InputError("not a cryolatent checkpoint (missing model/config)", path)
    return ckpt


def _refusal(exc: BaseException) -> str:
    """Our one-line reason for a file ``torch.load(weights_only=True)`` refused (never torch's advice
    to load it unrestricted, which would run whatever the file names)."""
    text = str(exc)
    found = re.search(r"unsupported GLOBAL (\S+)", text)
    if found:
        return (f"refusing to load: not a cryolatent checkpoint (it names the Python object {found.group(1)}, "
                "which a checkpoint never holds; nothing in it was run)")
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        return "corrupt or unreadable checkpoint (not a torch file of tensors and plain containers; nothing in it was run)"
    if isinstance(exc, EOFError) or not text.strip():
        return "empty or truncated checkpoint"
    return f"corrupt or unreadable checkpoint ({' '.join(text.split())[:200]})"


def find_checkpoint(outdir: str | os.PathLike, epoch: int | None = None) -> Path:
    """Path of epoch ``epoch``'s checkpoint, or of the latest (``weights.pt``)."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise InputError("not a training output folder", outdir)
    if epoch is None or epoch < 0:
        path = outdir / LATEST
        if not path.is_file():
            epochs = list_epochs(outdir)
            if not epochs:
                raise InputError("holds no checkpoint (weights.pt)", outdir)
            path = epoch_path(outdir, epochs[-1])
        return path
    path = epoch_path(outdir, epoch)
    if not path.is_file():
        have = ", ".join(map(str, list_epochs(outdir))) or "none"
        raise InputError(f"has no checkpoint for epoch {epoch} (have: {have})", outdir)
    return path
