#!/usr/bin/env python3
"""Heterogeneous-reconstruction benchmark: cryolatent (float32 and bf16) vs cryoDRGN 4.3.1.

Simulates a heterogeneous dataset (the built-in molecule: a continuous hinge
motion plus a discrete extra domain; box 64, SNR 0.1, realistic CTF), trains
each method with the same architecture, batch size and epochs, and scores it
cryoBench-style:

* per ground-truth conformation bin: decode the volume at the bin's median z and
  compute its FSC with the true volume (AUC and resolution at 0.5);
* |Spearman| of latent PC1 with the true hinge coordinate (within each state);
* cross-validated accuracy of a linear classifier of the discrete state from z;
* seconds per epoch, particles/s and peak memory of each training process.

cryoDRGN runs only as an external program from ``bench/.venv-cryodrgn`` (see
``bench/setup_cryodrgn.sh``), through ``bench/cryodrgn_reference.py``.

Usage (from the repository root)::

    .venv/bin/python bench/run_bench.py --n-particles 4000 --epochs 5
    .venv/bin/python bench/run_bench.py --skip-cryodrgn --modes bf16   # ours only
"""

from __future__ import annotations

import argparse
import csv
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
WORK = BENCH / "work"
RESULTS = BENCH / "RESULTS.md"
BEGIN, END = "<!-- BEGIN run_bench.py -->", "<!-- END run_bench.py -->"
sys.path.insert(0, str(ROOT))

from cryolatent import io as clio  # noqa: E402
from cryolatent.datasets.simulate import ground_truth_volumes  # noqa: E402
from cryolatent.tl import metrics  # noqa: E402
from cryolatent.training.config import PRESETS  # noqa: E402
from cryolatent.training.evaluate import eval_volumes  # noqa: E402

PRESET = "small"  # the networks of both methods (cryoDRGN gets the preset's sizes as flags)


def run_child(cmd: list[str], log: Path, env: dict) -> dict:
    """Run ``cmd`` with output to ``log``; wall time and the child's own peak RSS (os.wait4)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed (see {log}): {shlex.join(cmd)}")
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "command": shlex.join(cmd)}


def thread_env(threads: int) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    return env


def make_dataset(args) -> Path:
    data = WORK / f"het_n{args.n_particles}_seed{args.seed}"
    if not (data / "particles.mrcs").exists():
        run_child([str(ROOT / ".venv/bin/cryolatent"), "simulate", "-o", str(data), "-n", str(args.n_particles),
                   "-D", "64", "--apix", "3.0", "--snr", "0.1", "--seed", str(args.seed), "--force",
                   "--no-progress"], WORK / "logs" / "simulate.log", thread_env(args.threads))
    return data


def ground_truth(data: Path) -> dict:
    gt = np.load(data / "ground_truth.npz")
    second = {"t2": gt["t2"]} if "t2" in gt else {}  # the two-domain molecule's second hinge
    return {"label": gt["label"], "t": gt["t"], **second, "state": gt["state"], "volumes": ground_truth_volumes(data)}


def score(z: np.ndarray, truth: dict, decode, apix: float) -> dict:
    scores = metrics.per_conformation_fsc(z, truth["label"], truth["volumes"], decode, apix=apix)
    spear = [metrics.pc1_spearman(z, truth["t"], subset=truth["state"] == s) for s in (0, 1)]
    return {
        "fsc_auc_mean": float(np.mean([s.auc for s in scores])),
        "fsc_auc_min": float(np.min([s.auc for s in scores])),
        "res05_mean_A": float(np.mean([s.resolution_05 for s in scores])),
        "per_bin": [vars(s) for s in scores],
        "pc1_spearman_t": float(np.mean(spear)),
        "state_accuracy": metrics.state_separation(z, truth["state"]),
    }


def run_ours(args, data: Path, mode: str, truth: dict, train_seed: int = 0) -> dict:
    out = WORK / f"ours_{mode}{args.tag}_n{args.n_particles}_e{args.epochs}_s{train_seed}"
    cmd = [str(ROOT / ".venv/bin/cryolatent"), "train", str(data / "particles.mrcs"), "--poses", str(data / "poses.pkl"),
           "--ctf", str(data / "ctf.pkl"), "--zdim", str(args.zdim), "--preset", PRESET, "--batch-size", "8",
           "--epochs", str(args.epochs),
           "--seed", str(train_seed), "-o", str(out), "--force", "--no-progress",
           "--amp" if mode == "bf16" else "--no-amp", *shlex.split(args.ours_args)]
    child = run_child(cmd, WORK / "logs" / f"train_{mode}{args.tag}_s{train_seed}.log", thread_env(args.threads))
    with open(out / "train_log.csv") as fh:
        log = list(csv.DictReader(fh))
    secs = [float(r["seconds"]) for r in log]
    z = np.load(out / "z.npy")
    result = {"method": f"cryolatent {mode}", "train_seed": train_seed, **child,
              "epoch_s": secs, "particles_per_s": round(args.n_particles / float(np.median(secs)), 1)}
    result.update(score(z, truth, lambda zz: eval_volumes(out, zz), apix=3.0))
    return result


def run_cryodrgn(args, data: Path, truth: dict, train_seed: int = 0) -> dict:
    out = WORK / f"cryodrgn_n{args.n_particles}_e{args.epochs}_s{train_seed}"
    ref = [sys.executable, str(BENCH / "cryodrgn_reference.py"), str(data), "--epochs", str(args.epochs),
           "--zdim", str(args.zdim), "-o", str(out), "--threads", str(args.threads), "--nice", "0",
           "--seed", str(train_seed), *_size_flags()]
    if args.reuse_cryodrgn and (out / "summary.json").exists():
        tv = json.loads((out / "summary.json").read_text())["train_vae"]
        child = {"wall_s": tv.get("wall_s"), "peak_rss_mib": tv.get("peak_rss_mib"), "cpu_s": tv.get("cpu_s"),
                 "command": tv.get("command"), "reused": True}
    else:
        child = run_child(ref + ["--force", "--no-eval"], WORK / "logs" / f"cryodrgn_train_s{train_seed}.log",
                          thread_env(args.threads))
    summary = json.loads((out / "summary.json").read_text())
    z = np.asarray(clio.load_pkl(summary["outputs"]["z_pkl"]), dtype=np.float64)
    medians = metrics.median_latents(z, truth["label"])
    keys = sorted(medians)
    zfile = out / "bin_median_z.txt"
    np.savetxt(zfile, np.stack([medians[k] for k in keys]))
    run_child(ref + ["--reuse", "--zfile", str(zfile)], WORK / "logs" / f"cryodrgn_eval_s{train_seed}.log",
              thread_env(args.threads))
    summary = json.loads((out / "summary.json").read_text())
    vol_paths = [v["path"] for v in summary["eval_vol"]["volumes"]]
    vols = {tuple(np.round(medians[k], 6)): clio.read_volume(p)[0] for k, p in zip(keys, vol_paths)}

    def decode(zz):
        return np.stack([vols[tuple(np.round(row, 6))] for row in zz])

    epochs = [e["train_s"] for e in summary["train_vae"]["epochs"]]
    result = {"method": "cryoDRGN 4.3.1", "train_seed": train_seed, **child, "peak_rss_mib": summary["train_vae"].get("peak_rss_mib"),
              "epoch_s": epochs,
              "particles_per_s": round(args.n_particles / float(np.median(epochs)), 1) if epochs else None}
    result.update(score(z, truth, decode, apix=3.0))
    return result


def _row(label: str, seed: str, rs: list[dict]) -> str:
    """One table row; several runs (seeds) are averaged."""
    def mean(key):
        return float(np.mean([r[key] for r in rs]))

    med = float(np.mean([np.median(r["epoch_s"]) for r in rs if r["epoch_s"]] or [np.nan]))
    cpu = [r["cpu_s"] for r in rs if r.get("cpu_s") is not None]
    return (f"| {label} | {seed} | {med:.1f} | {mean('particles_per_s'):.1f} | "
            f"{np.mean(cpu) if cpu else float('nan'):.0f} | {max(r['peak_rss_mib'] for r in rs)} | "
            f"{mean('fsc_auc_mean'):.3f} ({mean('fsc_auc_min'):.3f}) | {mean('res05_mean_A'):.2f} | "
            f"{mean('pc1_spearman_t'):.3f} | {mean('state_accuracy'):.3f} |")


def _size_flags() -> list[str]:
    """The preset's network sizes as flags (the same names for cryodrgn_reference.py and cryoDRGN)."""
    v = PRESETS[PRESET].values
    return [a for k in ("enc_dim", "enc_layers", "dec_dim", "dec_layers") for a in ("--" + k.replace("_", "-"), str(v[k]))]


def _networks() -> str:
    """``encoder and decoder 3 x 256`` for the preset in use."""
    v = PRESETS[PRESET].values
    if (v["enc_layers"], v["enc_dim"]) == (v["dec_layers"], v["dec_dim"]):
        return f"encoder and decoder {v['enc_layers']} x {v['enc_dim']}"
    return f"encoder {v['enc_layers']} x {v['enc_dim']}, decoder {v['dec_layers']} x {v['dec_dim']}"


def markdown(args, results: list[dict]) -> str:
    lines = [BEGIN, "", f"Generated by `bench/run_bench.py` on {dt.datetime.now().isoformat(timespec='seconds')} "
             f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads each, "
             "one run at a time).", "",
             "```", "  ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/run_bench.py"] + sys.argv[1:]), "```", "",
             f"Dataset: {args.n_particles} particles of the built-in molecule (10 hinge bins x 2 states), box 64, "
             f"3 A/px, SNR 0.1; zdim {args.zdim}, {_networks()}, batch 8, {args.epochs} epochs.", "",
             "| method | training seed | s/epoch (median) | particles/s | CPU s (whole run) | peak RSS (MiB) "
             "| FSC-AUC mean (min) | FSC 0.5 mean (A) | PC1 Spearman t | state accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    methods = list(dict.fromkeys(r["method"] for r in results))
    for method in methods:
        rs = [r for r in results if r["method"] == method]
        for r in rs:
            lines.append(_row(method, str(r.get("train_seed", 0)), [r]))
        if len(rs) > 1:
            lines.append(_row(f"**{method}, mean**", f"{len(rs)} seeds", rs))
    name = f"bench_n{args.n_particles}_e{args.epochs}.json"
    lines += ["", "Per-epoch seconds are each program's own training time per epoch (particles/s = particles / "
              "median epoch); CPU s counts the whole training process (start-up, data loading, cryoDRGN's "
              f"per-epoch z pass). Raw numbers in `bench/work/{name}`.", "", END]
    return "\n".join(lines)


def update_results(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + "\n\n## Heterogeneous reconstruction: cryolatent vs cryoDRGN\n\n" + text + "\n"
    RESULTS.write_text(new)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-particles", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--zdim", type=int, default=8)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="float32,bf16", help="cryolatent precisions to run")
    p.add_argument("--skip-cryodrgn", action="store_true")
    p.add_argument("--reuse-cryodrgn", action="store_true",
                   help="score the cryoDRGN run of an earlier invocation instead of training it again")
    p.add_argument("--train-seeds", default="0",
                   help="comma-separated training seeds; each method is trained once per seed")
    p.add_argument("--ours-args", default="", help="extra flags for `cryolatent train` (e.g. '--include-dc')")
    p.add_argument("--tag", default="", help="suffix for cryolatent's output folders (to keep variants apart)")
    p.add_argument("--no-results", action="store_true", help="do not touch bench/RESULTS.md")
    args = p.parse_args(argv)
    data = make_dataset(args)
    truth = ground_truth(data)
    results = []
    for train_seed in [int(s) for s in args.train_seeds.split(",")]:
        if not args.skip_cryodrgn:
            results.append(run_cryodrgn(args, data, truth, train_seed))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "per_bin"}, indent=1), flush=True)
        for mode in [m for m in args.modes.split(",") if m]:
            results.append(run_ours(args, data, mode, truth, train_seed))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "per_bin"}, indent=1), flush=True)
    name = f"bench_n{args.n_particles}_e{args.epochs}.json" if not args.no_results else "bench_scratch.json"
    (WORK / name).write_text(json.dumps(results, indent=1))
    text = markdown(args, results)
    print(text)
    if not args.no_results:
        update_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
