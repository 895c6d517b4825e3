"""The training loop: :func:`train`.

One epoch visits every particle once in shuffled minibatches; after each epoch
the log gets a row and a checkpoint is written (see
:mod:`cryolatent.training.checkpoint`).  ``resume=True`` restarts after the last
checkpoint and, on CPU with the same settings, ends with exactly the weights an
uninterrupted run would have.

Imports, one way: config, model <- run <- evaluate <- loop (the loop writes the
run folder that :class:`~cryolatent.training.run.Run` reads).
"""

from __future__ import annotations

import contextlib
import csv
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from cryolatent._version import __version__
from cryolatent.errors import CryolatentError, InputError
from cryolatent.nn.losses import vae_loss
from cryolatent.outputs import atomic_path, check_folder, new_folders, save_npy
from cryolatent.training import distributed as dist_utils
from cryolatent.training.checkpoint import (
    LATEST,
    list_epochs,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cryolatent.training.config import TrainConfig
from cryolatent.training.data import (
    EpochBatchSampler,
    ParticleData,
    check_stack,
    make_loader,
    model_inputs,
    sample_indices,
)
from cryolatent.training.evaluate import encode_and_score
from cryolatent.training.model import (
    autocast_dtype, build_from_config, make_optimizer, make_preprocessor, open_stack, set_lrs,
)
from cryolatent.training.pixels import batch_pixels
from cryolatent.training.run import CONFIG_NAME, LOG_FIELDS, LOG_NAME, RECON_ERROR_NAME, RUN_FILES, Run, read_log
from cryolatent.training.schedules import beta_at


class TrainingDiverged(CryolatentError):
    """The loss became NaN/inf or exploded; the last good checkpoint is kept."""


# ---------------------------------------------------------------------------
# helpers


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    da, db = a.__dict__, b.__dict__
    return [f"{prefix}{k}: {da[k]!r} != {db[k]!r}" for k in da if da[k] != db.get(k)]


def _check_outdir(outdir: Path, config: TrainConfig, resume: bool, force: bool) -> dict | None:
    """Check ``outdir`` against ``resume``/``force``, changing nothing; return the checkpoint to resume from (or None)."""
    check_folder(outdir)
    cfg_path = outdir / CONFIG_NAME
    has_run = cfg_path.exists() or (outdir / LATEST).exists() or bool(list_epochs(outdir))
    if resume:
        if not has_run:
            raise InputError("holds no run to resume (no config.yaml / weights.pt)", outdir)
        if cfg_path.exists():
            stored = TrainConfig.from_yaml(cfg_path)
            diff = _differences(stored.model, config.model, "model.") + _differences(stored.data, config.data, "data.")
            if diff:
                raise InputError(f"--resume with different settings than the stored run ({'; '.join(diff)})", outdir)
        latest = outdir / LATEST
        if not latest.exists():
            return None  # killed during the first epoch: start over
        return load_checkpoint(latest)
    if has_run and not force:
        raise InputError("already holds a training run; pass --resume to continue it or --force to replace it", outdir)
    return None


def _clear_run(outdir: Path) -> None:
    """Remove the files of a run in ``outdir`` (``--force``, once every input has been checked)."""
    for name in RUN_FILES:
        (outdir / name).unlink(missing_ok=True)
    for e in list_epochs(outdir):
        (outdir / f"weights.{e}.pt").unlink(missing_ok=True)


@contextlib.contextmanager
def _undo_unless_saved(outdir: Path, enabled: bool) -> Iterator[None]:
    """Create ``outdir`` (and missing parents); if the body raises before a checkpoint
    is saved, remove the configuration and log it wrote and the folders it made."""
    if not enabled:
        yield
        return
    made = not outdir.exists()
    with new_folders(outdir / CONFIG_NAME):
        outdir.mkdir(exist_ok=True)
        try:
            yield
        except BaseException:
            if not list_epochs(outdir):
                for name in (CONFIG_NAME, LOG_NAME):
                    (outdir / name).unlink(missing_ok=True)
                if made:
                    with contextlib.suppress(OSError):
                        outdir.rmdir()  # only if nothing else is in it
            raise


def _write_log(outdir: Path, rows: list[dict]) -> None:
    with atomic_path(outdir / LOG_NAME, force=True) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r[k] for k in LOG_FIELDS})


def _append_log(outdir: Path, row: dict) -> None:
    path = outdir / LOG_NAME
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row[k] for k in LOG_FIELDS})


def _call(callbacks: Iterable, hook: str, *args) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is None and hook == "on_epoch_end" and callable(cb):
            fn = cb
        if fn is not None:
            fn(*args)


def _to_device(batch: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    return {k: v.to(device, non_blocking=nb) for k, v in batch.items()}


# ---------------------------------------------------------------------------
# the loop


def train(
    config: TrainConfig,
    outdir: str | Path,
    callbacks: Iterable[Callable | Any] = (),
    *,
    resume: bool = False,
    force: bool = False,
    stack=None,
    progress: bool = True,
) -> Run:
    """Train the VAE (or, with ``zdim = 0``, a homogeneous decoder).

    Parameters
    ----------
    config
        The run's settings (:class:`~cryolatent.training.config.TrainConfig`).
    outdir
        Output folder: ``config.yaml``, ``train_log.csv``, ``weights.<epoch>.pt``,
        ``weights.pt`` and, at the end, ``z.npy`` / ``z_logvar.npy``.
    callbacks
        Objects with optional ``on_epoch_end(metrics: dict)`` and
        ``on_batch_end(epoch: int, step: int, n_steps: int)`` methods, or plain
        callables (called as ``on_epoch_end``).  ``metrics`` holds
        ``epoch, loss, recon, kl, seconds, particles_per_s``.
    resume
        Continue the run in ``outdir`` after its last checkpoint.
    force
        Replace a run already in ``outdir``.
    stack
        An already opened particle stack (default: open ``config.data``).
    progress
        Show a progress bar per epoch.

    Returns
    -------
    Run
        With ``history`` and the trained ``model``.

    Nothing is written (nor an old run removed with ``force``) until the settings,
    the output folder and the particles with their poses, CTF and index file have
    been read and checked; a failure before the first checkpoint removes what this
    call wrote and the folders it made.

    Raises
    ------
    InputError
        An unusable setting, output folder or input file (named in the message).
    TrainingDiverged
        The loss became non-finite or exploded (the last checkpoint is kept).
    """
    config.validate()
    outdir = Path(outdir)
    env = dist_utils.env_info()
    device = dist_utils.local_device(config.runtime.device, env)
    owns_group = env.enabled and not torch.distributed.is_initialized()
    info = dist_utils.init(device)
    try:
        return _train(config, outdir, list(callbacks), resume, force, stack, progress, info, device)
    finally:
        if owns_group:
            dist_utils.cleanup()


def _train(config, outdir, callbacks, resume, force, stack, progress, info, device) -> Run:
    """Check the output folder and read the data before anything is written; then train."""
    ckpt = _check_outdir(outdir, config, resume, force) if info.is_main else None
    dist_utils.barrier()
    if not info.is_main and resume and (outdir / LATEST).exists():
        ckpt = load_checkpoint(outdir / LATEST)
    if stack is None:
        stack = open_stack(config)
    check_stack(stack)
    D = stack.D
    pre = make_preprocessor(config, D)
    if ckpt is not None:
        if int(ckpt["D"]) != D:
            raise InputError(f"the particles are {D} pixels but the run to resume was trained on {ckpt['D']}-pixel "
                             "particles", getattr(stack, "source", None) or outdir)
        pre.std = float(ckpt["norm"])
    else:
        try:
            pre.fit_std(stack.images(sample_indices(len(stack), config.data.norm_samples, config.optim.seed)))
        except ValueError as exc:
            raise InputError(str(exc), getattr(stack, "source", None)) from None
    with _undo_unless_saved(outdir, info.is_main and not resume):
        if info.is_main and force and not resume:
            _clear_run(outdir)
        return _fit(config, outdir, callbacks, ckpt, stack, pre, progress, info, device)


def _fit(config, outdir, callbacks, ckpt, stack, pre, progress, info, device) -> Run:
    opt_cfg, rt = config.optim, config.runtime
    D, N = stack.D, len(stack)
    torch.manual_seed(opt_cfg.seed)
    np.random.seed(opt_cfg.seed)
    random.seed(opt_cfg.seed)
    model = build_from_config(config, D).to(device)
    optimizer = make_optimizer(model, config)
    start_epoch, ref_loss = 0, None
    history: list[dict] = []
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise InputError(f"checkpoint does not fit this model ({str(exc).splitlines()[0]})", outdir) from None
        if info.is_main:
            set_rng_state(ckpt["rng"])
        start_epoch = int(ckpt["epoch"])
        ref_loss = ckpt.get("ref_loss")
        history = [r for r in read_log(outdir) if r["epoch"] <= start_epoch]
        if info.is_main:
            _write_log(outdir, history)
    if info.rank:
        torch.manual_seed(opt_cfg.seed + 7919 * info.rank + start_epoch)
    if info.is_main:
        config.version = __version__
        config.to_yaml(outdir / CONFIG_NAME)

    dtype = autocast_dtype(device, rt.amp)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    net = model
    if info.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if rt.compile:
        net = torch.compile(net)

    data = ParticleData(stack, pre)
    sampler = EpochBatchSampler(N, opt_cfg.batch_size, opt_cfg.seed, block=config.data.shuffle_block,
                                rank=info.rank, world_size=info.world_size)
    loader = make_loader(data, sampler, rt.num_workers, rt.prefetch_factor, pin_memory=device.type == "cuda")
    lattice = model.lattice
    beta = config.beta
    check_every = 1 if device.type == "cpu" else 25
    last_good = outdir / LATEST

    for epoch in range(start_epoch + 1, opt_cfg.epochs + 1):
        sampler.set_epoch(epoch)
        model.train()
        pixel_rng = torch.Generator(device=device).manual_seed(opt_cfg.seed * 1_000_003 + epoch * 7919 + info.rank)
        sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, recon, kl, count
        t0 = time.perf_counter()
        bar = _progress(loader, len(sampler), epoch, opt_cfg.epochs, progress and info.is_main)
        for step, batch in enumerate(bar):
            set_lrs(optimizer, config, epoch, step, len(sampler))
            batch = _to_device(batch, device)
            x, target = model_inputs(lattice, batch["images"], batch["trans_px"], config.model.enc_input)
            pix = batch_pixels(lattice, march_start=opt_cfg.march_start, march_epochs=opt_cfg.march_epochs,
                               pixel_fraction=opt_cfg.pixel_fraction, keep_radius=opt_cfg.keep_radius,
                               epoch=epoch, step=step, n_steps=len(sampler), generator=pixel_rng)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                pred, mu, logvar = net(x if model.zdim else None, batch["rots"], batch.get("ctf"), pixels=pix)
            beta_t = beta_at(beta, opt_cfg.beta_warmup, epoch, step, len(sampler))
            if pix is None:
                loss, recon, kl = vae_loss(pred, target, mu, logvar, beta_t)
            else:
                loss, recon, kl = vae_loss(pred, target[:, pix.pixels], mu, logvar, beta_t, pix.weights, pix.norm,
                                           lattice.n_masked)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            n = pred.shape[0]
            sums += torch.stack([loss.detach() * n, recon.detach() * n, kl.detach() * n,
                                 torch.tensor(float(n), device=device)]).double()
            if step % check_every == 0 or step == len(sampler) - 1:
                value = float(loss.detach())
                if ref_loss is None:
                    ref_loss = value
                _check_loss(value, ref_loss, opt_cfg.diverge_factor, epoch, step, last_good, device)
                if hasattr(bar, "set_postfix") and step % 10 == 0:
                    bar.set_postfix(loss=f"{value:.4f}")
            _call(callbacks, "on_batch_end", epoch, step, len(sampler))
        dist_utils.all_reduce_sum(sums)
        seconds = time.perf_counter() - t0
        tot = sums.tolist()
        metrics = {
            "epoch": epoch, "loss": tot[0] / tot[3], "recon": tot[1] / tot[3], "kl": tot[2] / tot[3],
            "seconds": seconds, "particles_per_s": tot[3] / seconds,
        }
        _check_loss(metrics["loss"], ref_loss, opt_cfg.diverge_factor, epoch, None, last_good, device)
        history.append(metrics)
        if info.is_main:
            payload = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng_state(),
                "config": config.to_yaml(), "norm": pre.std, "D": D, "ref_loss": ref_loss,
                "version": __version__,
            }
            save_checkpoint(outdir, epoch, payload)
            _append_log(outdir, metrics)
        _call(callbacks, "on_epoch_end", dict(metrics))
        dist_utils.barrier()

    model.eval()
    if info.is_main and model.zdim:
        mu, logvar, error = encode_and_score(model, data, config, device, batch_size=max(64, opt_cfg.batch_size),
                                             dtype=dtype)
        for name, arr in (("z.npy", mu), ("z_logvar.npy", logvar), (RECON_ERROR_NAME, error)):
            if arr is not None:
                save_npy(outdir / name, arr, force=True)
    dist_utils.barrier()
    return Run(outdir, config, history, model, pre.std)


def _progress(loader, total: int, epoch: int, epochs: int, enabled: bool):
    if not enabled:
        return loader
    return tqdm(loader, total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False)


def _check_loss(value: float, ref: float | None, factor: float, epoch: int, step, last_good: Path, device) -> None:
    bad = not math.isfinite(value)
    exploded = ref is not None and math.isfinite(value) and value > factor * max(abs(ref), 1e-12)
    bad = dist_utils.broadcast_flag(bad or exploded, device) if torch.distributed.is_initialized() else (bad or exploded)
    if not bad:
        return
    where = f"epoch {epoch}" + (f", batch {step}" if step is not None else "")
    what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g} (first loss {ref:.3g})"
    keep = f"the last good checkpoint is {last_good}" if last_good.exists() else "no checkpoint was written"
    raise TrainingDiverged(f"training diverged: the loss {what} at {where}; {keep}; try a lower --lr")
