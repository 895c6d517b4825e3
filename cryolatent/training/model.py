"""What a configuration builds: the model, the image preprocessing, the particles, the autocast dtype.

A leaf of :mod:`cryolatent.training`: it imports neither the run folder
(:mod:`~cryolatent.training.run`), the evaluation nor the loop, which all use it.
"""

from __future__ import annotations

import warnings

import torch

from cryolatent.errors import InputError
from cryolatent.io import ParticleStack, load_dataset
from cryolatent.nn.encodings import GridEncoding
from cryolatent.nn.vae import HetVAE, build_model
from cryolatent.training.config import TrainConfig
from cryolatent.training.data import Preprocessor
from cryolatent.training.schedules import lr_factor


def build_from_config(config: TrainConfig, D: int) -> HetVAE:
    """The model a configuration describes, for box ``D``."""
    m = config.model
    enc_in = D * D if m.enc_input == "real" else None
    return build_model(
        D, m.zdim, enc_dim=m.enc_dim, enc_layers=m.enc_layers, dec_dim=m.dec_dim,
        dec_layers=m.dec_layers, pe_type=m.pe_type, pe_dim=m.pe_dim, enc_in_dim=enc_in,
        include_dc=not m.ignore_dc, grid_levels=m.grid_levels, grid_features=m.grid_features,
        grid_res=m.grid_res,
    )


def make_optimizer(model: HetVAE, config: TrainConfig) -> torch.optim.Adam:
    """Adam over the model: feature grids (pe_type ``grid``) at ``grid_lr`` and ``grid_weight_decay``,
    the rest at ``lr`` and ``weight_decay``."""
    o = config.optim
    grids = [p for m in model.modules() if isinstance(m, GridEncoding) for p in m.parameters()]
    ids = {id(p) for p in grids}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": rest}]
    if grids:
        groups.append({"params": grids, "lr": o.grid_lr, "weight_decay": o.grid_weight_decay})
    return torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay)


def set_lrs(optimizer: torch.optim.Optimizer, config: TrainConfig, epoch: int, step: int = 0,
            n_steps: int = 1) -> None:
    """Set the learning rates for batch ``step`` of ``epoch`` (1-based): ``lr`` and the feature grids'
    ``grid_lr * grid_lr_decay ** (epoch - 1)``, both times :func:`lr_factor`."""
    o = config.optim
    f = lr_factor(o.epochs, o.lr_decay_epochs, o.lr_final, epoch, step, n_steps)
    optimizer.param_groups[0]["lr"] = o.lr * f
    for group in optimizer.param_groups[1:]:  # make_optimizer's grid group
        group["lr"] = o.grid_lr * o.grid_lr_decay ** (epoch - 1) * f


def make_preprocessor(config: TrainConfig, D: int, norm: float = 1.0) -> Preprocessor:
    """The image preprocessing of a configuration (``norm``: the data standard deviation)."""
    d = config.data
    return Preprocessor(D, invert=d.invert_data, window=d.window, window_in=d.window_in,
                        window_out=d.window_out, std=norm)


def open_stack(config: TrainConfig) -> ParticleStack:
    """Open the configured particles with their poses, CTF and index file (paths as configured)."""
    d = config.data
    return load_dataset(d.particles, poses=d.poses, ctf=d.ctf, ind=d.ind, datadir=d.datadir)


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype for ``device`` (None: full precision).

    bf16 where the hardware has it (CUDA with bf16, CPUs with AVX512-BF16/AMX),
    fp16 on older GPUs, else None (with a warning) on CPUs without fast bf16.
    """
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        try:
            ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            ok = False
        if ok:
            return torch.bfloat16
        warnings.warn("this CPU has no fast bfloat16; training in float32 (amp off)", stacklevel=3)
        return None
    return None


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else the CPU; anything else as given, checked.

    Raises
    ------
    InputError
        Naming ``--device``: not a device name, CUDA asked for on a machine without
        it, or a GPU number this machine does not have.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine "
                             f"(torch {torch.__version__}); use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s)")
    elif dev.type != "cpu" and not _backend_available(dev):
        raise InputError(f"--device {device}: {dev.type} is not available on this machine; use --device cpu or auto")
    return dev


def _backend_available(dev: torch.device) -> bool:
    """Whether torch can use a non-CUDA accelerator (``mps``, ``xpu``...) here."""
    backend = getattr(torch.backends, dev.type, None) or getattr(torch, dev.type, None)
    return bool(backend is not None and getattr(backend, "is_available", lambda: False)())
