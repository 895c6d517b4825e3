#!/usr/bin/env python3
"""Data-pipeline benchmark: lazily read vs in-memory particle stacks, and memory against N (issue #11).

Builds *sparse* particle stacks (an MRC header, then the file extended to its full
size: a 10^6 x 64 x 64 stack is a 16 GB file that occupies a few MB of disk; real
noise images are written only where the training run samples its normalisation),
with cryoDRGN ``poses.pkl`` (identity rotations) and ``ctf.pkl`` (constant rows).
Each measurement runs in a fresh subprocess through exactly the path training
takes (:func:`~cryolatent.training.model.open_stack`, ``fit_std`` on the sampled
images, :class:`~cryolatent.training.data.ParticleData`,
:class:`~cryolatent.training.data.EpochBatchSampler`, ``make_loader``) and reports

* images/s (preprocessed batches drawn from the DataLoader, steady state, median
  of ``--repeats`` epochs) with a full shuffle and with ``shuffle_block`` > 1, for
  the lazy stack at every N and for the same images held in memory
  (:class:`~cryolatent.training.data.ArrayStack`) at ``--n-small``;
* the time to the first batch of an epoch (what the sampler does per epoch);
* peak resident memory (``ru_maxrss``) of opening + iterating, and the bytes of
  per-particle metadata (poses, CTF, locations) it holds.

Reads of a sparse file's holes cost no disk I/O: the lazy numbers are the
pipeline's own overhead (system calls, copies), as with a stack in the page cache.

Usage (from the repository root)::

    .venv/bin/python bench/data_bench.py                   # 10^4, 10^5, 10^6 particles of 64 x 64
    .venv/bin/python bench/data_bench.py --sizes 2000,20000 --n-small 20000 --images 400   # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from cryolatent.io import read_mrc_header, write_ctf_pkl, write_poses_pkl  # noqa: E402
from cryolatent.io.mrc import MRC_HEADER_BYTES, _stack_header  # noqa: E402
from cryolatent.training.data import sample_indices  # noqa: E402

APIX = 3.0
NORM_SAMPLES = 1000  # TrainConfig().data.norm_samples


# ---------------------------------------------------------------------------
# the sparse dataset


def make_sparse_dataset(folder: Path, n: int, D: int, seed: int = 0) -> dict:
    """Write (once) a sparse ``particles.mrcs`` of ``n`` images of ``D x D`` with ``poses.pkl`` and ``ctf.pkl``.

    Noise images are written at the positions training samples for its normalising
    standard deviation (``seed``); every other image is a hole (zeros).

    Returns
    -------
    dict
        ``particles``, ``poses``, ``ctf`` paths and ``disk_mib`` (blocks the stack occupies).
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / f"{k}{ext}" for k, ext in (("particles", ".mrcs"), ("poses", ".pkl"), ("ctf", ".pkl"))}
    stack, size = paths["particles"], MRC_HEADER_BYTES + n * D * D * 4
    fresh = stack.exists() and stack.stat().st_size == size and all(p.exists() for p in paths.values())
    if not fresh:
        rng = np.random.default_rng(seed)
        with open(stack, "wb") as f:
            f.write(_stack_header(n, D, APIX, (-4.0, 4.0, 0.0, 1.0)))
            f.truncate(size)
            for i in sample_indices(n, NORM_SAMPLES, seed).tolist():
                f.seek(MRC_HEADER_BYTES + i * D * D * 4)
                f.write(rng.normal(size=(D, D)).astype("<f4").tobytes())
        read_mrc_header(stack)  # checks the size against the header
        rots = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3))
        write_poses_pkl(paths["poses"], rots, np.zeros((n, 2), np.float32), force=True)
        row = np.array([D, APIX, 15000, 15000, 0, 300, 2.7, 0.1, 0], np.float32)
        write_ctf_pkl(paths["ctf"], np.broadcast_to(row, (n, 9)), force=True)
    out = {k: str(p) for k, p in paths.items()}
    out["file_gib"] = round(size / 2**30, 2)
    out["disk_mib"] = round(stack.stat().st_blocks * 512 / 2**20, 1)
    return out


# ---------------------------------------------------------------------------
# one measurement (runs in its own process)


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def metadata_bytes(arrays: list) -> int:
    """Bytes of the distinct buffers of ``arrays`` (numpy arrays or tensors; None skipped)."""
    seen = {}
    for a in arrays:
        if a is None:
            continue
        a = a.numpy() if hasattr(a, "numpy") else np.asarray(a)
        seen[a.__array_interface__["data"][0]] = a.nbytes
    return sum(seen.values())


def _epoch_rate(loader, sampler, epoch: int, n_batches: int) -> tuple[float, float]:
    """``(seconds to the first batch, images/s of the next n_batches)`` of one epoch."""
    sampler.set_epoch(epoch)
    t = time.perf_counter()
    it = iter(loader)
    next(it)  # the epoch's start: ordering the particles (and starting workers)
    first = time.perf_counter() - t
    t, count = time.perf_counter(), 0
    for _, batch in zip(range(n_batches), it):
        count += batch["images"].shape[0]
    return first, count / (time.perf_counter() - t)


def measure(spec: dict) -> dict:
    """Open the dataset as training does and draw ``spec['images']`` preprocessed images per epoch.

    ``spec`` keys: ``particles, poses, ctf, n, block, paired, batch_size, images, repeats,
    threads, num_workers, seed``. ``paired``: also load the images in memory and alternate
    lazy and in-memory epochs (the same batches), so that a busy machine slows both alike.
    """
    import torch

    from cryolatent.training.config import TrainConfig
    from cryolatent.training.data import ArrayStack, EpochBatchSampler, ParticleData, check_stack, make_loader
    from cryolatent.training.model import make_preprocessor, open_stack

    torch.set_num_threads(spec["threads"])
    base = _peak_rss_mib()  # after every import: the growth is the data path's own
    cfg = TrainConfig()
    cfg.data.particles, cfg.data.poses, cfg.data.ctf = spec["particles"], spec["poses"], spec["ctf"]
    cfg.data.shuffle_block = spec["block"]
    cfg.optim.batch_size, cfg.optim.seed = spec["batch_size"], spec["seed"]
    t0 = time.perf_counter()
    stack = open_stack(cfg)
    check_stack(stack)
    opened = _peak_rss_mib() - base
    pre = make_preprocessor(cfg, stack.D)
    pre.fit_std(stack.images(sample_indices(len(stack), cfg.data.norm_samples, cfg.optim.seed)))
    datas = {"lazy": ParticleData(stack, pre)}
    open_s = time.perf_counter() - t0
    if spec["paired"]:
        memory = ArrayStack(stack.images(np.arange(len(stack))), stack.poses, stack.ctf, stack.apix)
        datas["memory"] = ParticleData(memory, pre)
    data = datas["lazy"]
    meta = metadata_bytes([stack.file_ids, stack.file_index, stack.orig_index, *stack.poses, stack.ctf,
                           data.rots, data.trans_px, data.ctf])

    n_batches = max(1, spec["images"] // cfg.optim.batch_size)
    rates: dict[str, list[float]] = {k: [] for k in datas}
    first: dict[str, list[float]] = {k: [] for k in datas}
    for mode, d in datas.items():  # one unmeasured epoch each: caches, allocator
        sampler = EpochBatchSampler(len(stack), cfg.optim.batch_size, cfg.optim.seed, block=cfg.data.shuffle_block)
        _epoch_rate(make_loader(d, sampler, spec["num_workers"], cfg.runtime.prefetch_factor), sampler, 0, 2)
    for epoch in range(1, spec["repeats"] + 1):
        for mode, d in datas.items():
            sampler = EpochBatchSampler(len(stack), cfg.optim.batch_size, cfg.optim.seed,
                                        block=cfg.data.shuffle_block)
            loader = make_loader(d, sampler, spec["num_workers"], cfg.runtime.prefetch_factor)
            f, r = _epoch_rate(loader, sampler, epoch, n_batches)
            first[mode].append(f)
            rates[mode].append(r)
    out = {
        **{k: spec[k] for k in ("n", "block", "paired", "batch_size", "num_workers")}, "D": stack.D,
        "images_per_s": {k: round(float(np.median(v)), 1) for k, v in rates.items()},
        "images_per_s_all": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "first_batch_s": round(float(np.median(first["lazy"])), 4), "open_s": round(open_s, 3),
        "metadata_mib": round(meta / 2**20, 1), "base_rss_mib": round(base, 1),
        "opened_growth_mib": round(opened, 1), "peak_growth_mib": round(_peak_rss_mib() - base, 1),
    }
    if spec["paired"]:
        out["lazy_over_memory"] = round(float(np.median(np.divide(rates["lazy"], rates["memory"]))), 3)
    return out


def run_case(spec: dict) -> dict:
    """:func:`measure` in a fresh interpreter (its own peak RSS)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed: {spec}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# report


def markdown(args, paired: list[dict], lazy: list[dict], datasets: dict) -> str:
    """Two tables: lazy vs in-memory at ``--n-small``; the lazy stack against N."""
    sizes = ", ".join(f"N = {n}: {d['file_gib']} GiB, {d['disk_mib']} MiB on disk" for n, d in datasets.items())
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/data_bench.py"] + sys.argv[1:])
    lines = [f"Generated by `bench/data_bench.py` on {dt.datetime.now().isoformat(timespec='seconds')} "
             f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} torch "
             f"thread(s), {args.num_workers} DataLoader workers).", "", "```", cmd, "```", "",
             f"Box {args.box}, batch {args.batch_size}; images/s of preprocessed batches from the training "
             f"DataLoader, {args.images} images per epoch, median of {args.repeats} epochs. "
             f"Sparse stacks: {sizes}.",
             "", f"Lazy (read on demand) vs in memory, N = {args.n_small}, alternating epochs in one process:", "",
             "| shuffle block | lazy images/s | in-memory images/s | lazy / in-memory |", "|---|---|---|---|"]
    for r in paired:
        ips = r["images_per_s"]
        lines.append(f"| {r['block']} | {ips['lazy']:.0f} | {ips['memory']:.0f} | {r['lazy_over_memory']:.2f} |")
    memory = {r["block"]: r["images_per_s"]["memory"] for r in paired}
    lines += ["", "The lazy stack against N (each row a fresh process):", "",
              "| N | shuffle block | images/s | / in-memory | first batch (s) | open (s) | metadata (MiB) "
              "| RSS growth, opened (MiB) | RSS growth, peak (MiB) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in lazy:
        ips = r["images_per_s"]["lazy"]
        rel = f"{ips / memory[r['block']]:.2f}" if r["block"] in memory else ""
        lines.append(f"| {r['n']} | {r['block']} | {ips:.0f} | {rel} | {r['first_batch_s']:.3f} | "
                     f"{r['open_s']:.2f} | {r['metadata_mib']:.1f} | {r['opened_growth_mib']:.0f} | "
                     f"{r['peak_growth_mib']:.0f} |")
    lines += ["", f"/ in-memory: over the in-memory images/s of the first table (N = {args.n_small}, same block). "
              "First batch: from the start of an epoch (the sampler orders N particles). RSS growth is peak "
              "`ru_maxrss` minus the RSS after imports: *opened* once particles, poses and CTF are read and "
              f"checked; *peak* also with the normalisation ({NORM_SAMPLES} sampled images, the same at every N) "
              "and the batches. Metadata: per-particle arrays held (poses, CTF, file locations)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=BENCH / "work" / "data_bench", help="folder for the sparse stacks")
    p.add_argument("--out", type=Path, default=BENCH / "data_results.json")
    p.add_argument("--sizes", default="10000,100000,1000000", help="N of the lazy stacks (comma-separated)")
    p.add_argument("--n-small", type=int, default=20000, help="N also loaded in memory for the comparison")
    p.add_argument("--box", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--shuffle-blocks", default="1,64", help="shuffle_block values (1: a full shuffle)")
    p.add_argument("--images", type=int, default=2000, help="images drawn per measured epoch")
    p.add_argument("--repeats", type=int, default=5, help="measured epochs (the median is reported)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (small per-batch FFTs gain nothing from more; on a busy machine they lose)")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return 0

    sizes = sorted({int(s) for s in args.sizes.split(",")})
    blocks = [int(b) for b in args.shuffle_blocks.split(",")]
    datasets = {n: make_sparse_dataset(args.work / f"n{n}_D{args.box}", n, args.box, args.seed)
                for n in sorted(set(sizes) | {args.n_small})}
    common = {"batch_size": args.batch_size, "images": args.images, "repeats": args.repeats,
              "threads": args.threads, "num_workers": args.num_workers, "seed": args.seed}

    def case(n: int, block: int, paired: bool) -> dict:
        d = datasets[n]
        spec = {**common, "n": n, "block": block, "paired": paired,
                "particles": d["particles"], "poses": d["poses"], "ctf": d["ctf"]}
        result = run_case(spec)
        print(json.dumps(result), flush=True)
        return result

    paired = [case(args.n_small, b, True) for b in blocks]
    lazy = [case(n, b, False) for n in sizes for b in blocks]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items() if k != "child"},
                                    "datasets": datasets, "paired": paired, "lazy": lazy}, indent=1))
    print(markdown(args, paired, lazy, datasets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
