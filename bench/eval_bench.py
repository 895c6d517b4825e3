#!/usr/bin/env python3
"""Evaluation speed: ``cryolatent eval-vol`` seconds per volume, and the streaming volume landscape.

(a) ``cryolatent eval-vol`` (the CLI's own path: load the checkpoint, decode, write one .mrc a
volume) of N volumes at each box for each decoder preset (``small`` 3 x 256, ``paper`` 3 x 1024);
the time of writing the .mrc files alone is measured apart.
(b) The landscape analysis (``cryolatent.tl.landscape.sample_landscape``: N k-means centres of
synthetic latent points decoded, masked, volume PCA, clustering, cluster means), streamed in
chunks; for comparison, in memory (decode every volume, then ``volume_landscape``). cryoDRGN users
report 20-30 minutes per 100 volumes for ``analyze_landscape_full`` (cryoDRGN issue #405).

Untrained models (the timings do not depend on the weights), float32 as ``eval-vol``. Each
measurement runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own; the
baseline is the child's peak before the measured step (imports, model, one warm-up volume).

Usage (from the repository root; run it alone)::

    .venv/bin/python bench/eval_bench.py                 # 100 volumes, D 64 and 128, small and paper
    .venv/bin/python bench/eval_bench.py --n-volumes 3 --boxes 32 --presets small --out /tmp/e.json

Writes ``bench/eval_results.json`` (``--out``) and prints markdown tables for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------- in the child process
def peak_rss_mib() -> float:
    """This process's peak resident memory so far (MiB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_model(preset: str, D: int, zdim: int, device: str, seed: int = 0):
    """An untrained model of ``preset`` for box ``D`` and its configuration."""
    import torch

    from cryolatent.training.config import TrainConfig
    from cryolatent.training.model import build_from_config

    torch.manual_seed(seed)
    config = TrainConfig.from_preset(preset, zdim=zdim)
    return build_from_config(config, D).to(device).eval(), config


def make_run(folder: Path, preset: str, D: int, zdim: int) -> Path:
    """A training-run folder (``config.yaml``, ``weights.pt``) of an untrained model, as ``eval-vol`` reads."""
    from cryolatent._version import __version__
    from cryolatent.training.checkpoint import save_checkpoint

    model, config = build_model(preset, D, zdim, "cpu")
    folder.mkdir(parents=True, exist_ok=True)
    config.to_yaml(folder / "config.yaml")
    save_checkpoint(folder, 0, {"model": model.state_dict(), "config": config.to_yaml(), "norm": 1.0, "D": D,
                                "version": __version__})
    return folder


def latent_points(n: int, zdim: int, seed: int = 0) -> np.ndarray:
    """``(n, zdim)`` float32 latent points in 12 Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(12, zdim))
    return (centres[rng.integers(0, 12, size=n)] + rng.normal(scale=0.6, size=(n, zdim))).astype(np.float32)


def child_eval_vol(spec: dict) -> dict:
    """``cryolatent eval-vol`` of ``n_volumes`` points: wall time, then writing the .mrc files alone."""
    from cryolatent.cli import main
    from cryolatent.io import write_volume

    work = Path(spec["work"])
    run = make_run(work / "run", spec["preset"], spec["D"], spec["zdim"])
    zfile = work / "z.npy"
    np.save(zfile, latent_points(spec["n_volumes"], spec["zdim"], seed=1))
    base = peak_rss_mib()
    argv = ["eval-vol", str(run), "--zfile", str(zfile), "-o", str(work / "vols"), "--device", spec["device"]]
    t0 = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"eval-vol failed: {' '.join(argv)}")
    wall = time.perf_counter() - t0
    peak = peak_rss_mib()
    vol = np.zeros((spec["D"],) * 3, np.float32)
    t0 = time.perf_counter()
    (work / "again").mkdir()
    for i in range(spec["n_volumes"]):
        write_volume(work / "again" / f"vol_{i:03d}.mrc", vol + i)
    write = time.perf_counter() - t0
    n = spec["n_volumes"]
    return {"wall_s": wall, "s_per_volume": wall / n, "write_s_per_volume": write / n,
            "decode_s_per_volume": (wall - write) / n, "peak_rss_mib": peak, "baseline_rss_mib": base}


def child_landscape(spec: dict) -> dict:
    """The landscape of ``n_volumes`` decoded volumes, streamed or in memory."""
    import torch

    from cryolatent.tl.clustering import kmeans_cluster
    from cryolatent.tl.landscape import sample_landscape, volume_landscape
    from cryolatent.training.evaluate import eval_volumes

    model, _ = build_model(spec["preset"], spec["D"], spec["zdim"], spec["device"])
    decode_s = [0.0]

    def decode(z: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        vols = eval_volumes(None, z, model=model, norm=1.0)
        decode_s[0] += time.perf_counter() - t0
        return vols

    import sklearn.cluster  # noqa: F401  (imported before the clock starts)
    import sklearn.decomposition  # noqa: F401

    z = latent_points(spec["n_particles"], spec["zdim"])
    decode(z[:1])  # warm-up: the decoder's input-layer cache
    decode_s[0] = 0.0
    m, opts = spec["n_volumes"], {"n_pcs": min(10, spec["n_volumes"]), "n_clusters": min(5, spec["n_volumes"])}
    base = peak_rss_mib()
    t0 = time.perf_counter()
    if spec["mode"] == "streaming":
        Path(spec["work"]).mkdir(parents=True, exist_ok=True)
        sample_landscape(z, decode, m, chunk_size=spec["chunk_size"], spool_dir=spec["work"], progress=False, **opts)
    else:  # what sample_landscape did before streaming: every volume in memory
        km = kmeans_cluster(z, m, n_init=1 if m > 50 else 10)
        volume_landscape(decode(z[km.center_indices]), **opts)
    wall = time.perf_counter() - t0
    out = {"wall_s": wall, "s_per_volume": wall / m, "decode_s": decode_s[0], "analysis_s": wall - decode_s[0],
           "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": base}
    if spec["device"].startswith("cuda"):
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def child(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    return (child_eval_vol if spec["kind"] == "eval-vol" else child_landscape)(spec)


# ---------------------------------------------------------------- the parent
def run_child(spec: dict, threads: int) -> dict:
    """Run one measurement in a fresh interpreter; its JSON result (the last line of its output)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"measurement {spec} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    keep = ("kind", "mode", "preset", "D", "n_volumes", "chunk_size", "device", "threads")
    return {**{k: spec[k] for k in keep if k in spec},
            **{k: round(v, 4 if "per_volume" in k else 2) for k, v in out.items()}}


def markdown(meta: dict, results: list[dict]) -> str:
    lines = [f"Evaluation benchmark ({meta['date']}, {meta['cpu']}, {meta['cores']} cores, "
             f"{meta['threads']} threads, device {meta['device']}), untrained decoders, float32:", ""]
    ev = [r for r in results if r["kind"] == "eval-vol"]
    if ev:
        lines += ["| `eval-vol` | D | volumes | wall (s) | s / volume | of which writing .mrc | peak RSS (MiB) "
                  "| above baseline (MiB) |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['preset']} | {r['D']} | {r['n_volumes']} | {r['wall_s']:.1f} | {r['s_per_volume']:.3f} | "
                  f"{r['write_s_per_volume']:.3f} | {r['peak_rss_mib']:.0f} | "
                  f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} |" for r in ev]
        lines.append("")
    land = [r for r in results if r["kind"] == "landscape"]
    if land:
        lines += ["| landscape | D | volumes | mode | wall (s) | s / volume | decoding (s) | analysis (s) "
                  "| peak RSS (MiB) | above baseline (MiB) |", "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['preset']} | {r['D']} | {r['n_volumes']} | {r['mode']}"
                  f"{' (chunks of %d)' % r['chunk_size'] if r['mode'] == 'streaming' else ''} | {r['wall_s']:.1f} | "
                  f"{r['s_per_volume']:.3f} | {r['decode_s']:.1f} | {r['analysis_s']:.1f} | "
                  f"{r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} |" for r in land]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-volumes", type=int, default=100)
    p.add_argument("--boxes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--presets", nargs="+", default=["small", "paper"], help="decoders timed by eval-vol")
    p.add_argument("--landscape-presets", nargs="*", default=["small"], help="decoders of the landscape runs")
    p.add_argument("--landscape-modes", nargs="*", default=["streaming", "inmemory"])
    p.add_argument("--chunk-size", type=int, default=16, help="volumes per chunk of the streaming landscape")
    p.add_argument("--n-particles", type=int, default=20000, help="latent points the landscape samples from")
    p.add_argument("--zdim", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workdir", help="folder for the runs and volumes (default: a temporary folder)")
    p.add_argument("--out", default=str(BENCH / "eval_results.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    base = dict(n_volumes=args.n_volumes, zdim=args.zdim, device=args.device, threads=args.threads,
                n_particles=args.n_particles, chunk_size=args.chunk_size)
    plan = [dict(base, kind="eval-vol", preset=pr, D=D) for D in args.boxes for pr in args.presets]
    plan += [dict(base, kind="landscape", preset=pr, D=D, mode=mode)
             for D in args.boxes for pr in args.landscape_presets for mode in args.landscape_modes]
    meta = {"date": dt.date.today().isoformat(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "threads": args.threads, "device": args.device,
            "python": platform.python_version()}
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="eval_bench_") as tmp:
        for i, spec in enumerate(plan):
            work = Path(tmp) / f"m{i}"
            results.append(run_child(dict(spec, work=str(work)), args.threads))
            shutil.rmtree(work, ignore_errors=True)
            print(json.dumps(results[-1]), flush=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(markdown(meta, results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
