"""Using a trained run: embed particles, generate volumes, read latent points.

Imports, one way: model, run <- evaluate <- loop.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from cryolatent.errors import InputError
from cryolatent.io import load_dataset, load_pkl
from cryolatent.training.config import TrainConfig
from cryolatent.training.data import EpochBatchSampler, ParticleData, check_stack, make_loader, model_inputs
from cryolatent.training.model import autocast_dtype, make_preprocessor
from cryolatent.training.run import Run, load_model

__all__ = ["check_box", "check_z", "embed", "encode_stack", "eval_volumes", "load_model", "read_z"]


def check_z(z, zdim: int, source: str | os.PathLike | None = None) -> np.ndarray:
    """``z`` as ``(M, zdim)`` float32 latent points; an :class:`InputError` naming ``source``
    (the ``--z`` argument or the ``--zfile`` file) when a point has another length or is not finite."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    if z.ndim != 2 or z.shape[1] != zdim:
        k = z.shape[-1] if z.ndim else 0
        raise InputError(f"latent points of {k} dimension(s) but the model has zdim = {zdim}", source)
    if not np.isfinite(z).all():
        raise InputError("latent points must be finite (NaN or inf found)", source)
    return z


def check_box(downsample: int | None, D: int) -> int:
    """The output box: ``downsample`` (even, 2..D) or ``D``; an :class:`InputError` naming ``--downsample``."""
    n = D if downsample is None else int(downsample)
    if n % 2 or n > D or n < 2:
        raise InputError(f"--downsample must be an even box size from 2 to the training box {D}, got {n}")
    return n


@torch.no_grad()
def encode_stack(model, data: ParticleData, config: TrainConfig, device: torch.device,
                 batch_size: int = 256, num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of every particle of ``data``, in order."""
    mu, logvar, _ = encode_and_score(model, data, config, device, batch_size, num_workers, score=False)
    return mu, logvar


@torch.no_grad()
def encode_and_score(model, data: ParticleData, config: TrainConfig, device: torch.device, batch_size: int = 256,
                     num_workers: int = 0, score: bool = True, dtype: torch.dtype | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Posterior means, log-variances and (``score``, when poses are known) each particle's
    reconstruction error: the mean squared difference between its masked Hartley pixels and the
    model's rendering at its posterior mean, in the training loss's units. ``dtype``: autocast."""
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=False)
    loader = make_loader(data, sampler, num_workers)
    mus, logvars, errors = [], [], []
    model.eval()
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        x, target = model_inputs(model.lattice, batch["images"], batch.get("trans_px"), config.model.enc_input)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            if score and "rots" in batch:
                pred, mu, logvar = model(x, batch["rots"], batch.get("ctf"), sample=False)
                errors.append(((pred.float() - target.float()) ** 2).mean(-1).cpu())
            else:
                mu, logvar = model.encode(x, batch.get("ctf"))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    error = torch.cat(errors).numpy().astype(np.float32) if errors else None
    return torch.cat(mus).numpy().astype(np.float32), torch.cat(logvars).numpy().astype(np.float32), error


def embed(
    outdir: str | os.PathLike,
    particles=None,
    poses=None,
    ctf=None,
    ind=None,
    datadir=None,
    epoch: int | None = None,
    batch_size: int = 256,
    device=None,
    return_logvar: bool = False,
):
    """Latent means of particles under a trained encoder.

    Parameters
    ----------
    outdir
        Training output folder.
    particles
        Particle file, or an opened stack (default: the training particles).
    poses
        Pose file (translations centre the images); default: the run's poses
        when ``particles`` is the training set.
    ind, datadir
        As for training.
    epoch
        Checkpoint epoch (default: the latest).

    Returns
    -------
    ``(N, zdim)`` float32 means (and ``(N, zdim)`` log-variances if ``return_logvar``).
    """
    model, ckpt = load_model(outdir, epoch, device)
    config = TrainConfig.from_yaml(ckpt["config"])
    if not model.zdim:
        raise InputError("the run is homogeneous (zdim = 0): there is nothing to embed", outdir)
    d = config.data
    paths = Run(Path(outdir), config).data_paths()  # the checkpoint's configuration, its paths resolved
    training_set = {Path(d.particles), Path(paths["particles"])}
    if particles is None or (isinstance(particles, (str, os.PathLike)) and Path(particles) in training_set):
        particles = particles or paths["particles"]
        poses = paths["poses"] if poses is None else poses
        ctf = paths["ctf"] if ctf is None else ctf
        ind = paths["ind"] if ind is None else ind
        datadir = paths["datadir"] if datadir is None else datadir
    if isinstance(particles, (str, os.PathLike)):
        stack = load_dataset(particles, poses=poses, ctf=ctf, ind=ind, datadir=datadir)
    else:
        stack = particles
    check_stack(stack)
    if stack.D != int(ckpt["D"]):
        raise InputError(f"the particles are {stack.D} pixels but the model of run {outdir} was trained on "
                         f"{ckpt['D']}-pixel particles", getattr(stack, "source", None))
    pre = make_preprocessor(config, stack.D, float(ckpt["norm"]))
    dev = next(model.parameters()).device
    mu, logvar = encode_stack(model, ParticleData(stack, pre), config, dev, batch_size)
    return (mu, logvar) if return_logvar else mu


def eval_volumes(
    outdir: str | os.PathLike,
    z,
    downsample: int | None = None,
    flip: bool = False,
    epoch: int | None = None,
    device=None,
    model=None,
    norm: float | None = None,
    amp: bool = False,
) -> np.ndarray:
    """Volumes of latent points.

    Parameters
    ----------
    outdir
        Training output folder.
    z
        ``(M, zdim)`` latent points (``(zdim,)`` for one); ignored, or ``(M, 0)``,
        for a homogeneous run.
    downsample
        Output box (even, at most the training box): crops the Fourier lattice.
    flip
        Mirror the volumes along z (the handedness flip).
    epoch
        Checkpoint epoch (default: the latest).
    model, norm
        A model already loaded (skips reading the checkpoint) and its data std.
    amp
        Evaluate the network in bf16 (fp16) autocast where the hardware has it:
        several times faster on CPUs with AVX512-BF16/AMX, for interactive views.

    Returns
    -------
    ``(M, n, n, n)`` float32 volumes ``[z, y, x]``.
    """
    if model is None:
        model, ckpt = load_model(outdir, epoch, device)
        norm = float(ckpt["norm"])
    D = model.lattice.D
    n = check_box(downsample, D)
    if model.zdim:
        zs = list(check_z(z, model.zdim))
    else:
        zs = [None] * (1 if z is None else max(1, len(np.atleast_2d(z))))
    out = np.empty((len(zs), n, n, n), dtype=np.float32)
    device = next(model.parameters()).device
    # a model may decode with conventions of its own (a cryoDRGN run's: cryolatent.nn.cryodrgn)
    volume_args = (lambda v: model.volume_args(n, v)) if hasattr(model, "volume_args") else (lambda v: {"norm": v})
    dtype = autocast_dtype(device, amp)
    for i, zi in enumerate(zs):
        zt = None if zi is None else torch.from_numpy(np.asarray(zi))
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            vol = model.decoder.eval_volume(zt, D, out_box=n, **volume_args(float(norm))).numpy()
        out[i] = vol[::-1] if flip else vol
    return out


def read_z(path: str | os.PathLike) -> np.ndarray:
    """Latent points from ``.npy``, ``.txt`` (whitespace-separated rows) or a cryoDRGN ``.pkl``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's "Empty input file": the check below says it
            if path.suffix == ".npy":
                z = np.load(path, allow_pickle=False)
            elif path.suffix == ".pkl":
                z = load_pkl(path)
            else:
                z = np.loadtxt(path, ndmin=2)
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(f"cannot read latent points ({' '.join(str(exc).split())})", path) from None
    if z.ndim != 2 or z.size == 0 or not np.all(np.isfinite(z)):
        raise InputError(f"expected a finite (M, zdim) array of latent points, got shape {z.shape}", path)
    return z
