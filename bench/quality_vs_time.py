#!/usr/bin/env python3
"""How long until the maps are as good as cryoDRGN's: per-conformation FSC-AUC after every epoch
against wall-clock training time, for cryoDRGN 4.3.1 and for cryolatent variants (the training
levers of :mod:`cryolatent.training.pixels`).

For every method and training seed, one training run with a checkpoint per epoch; then, for each
epoch's checkpoint, the latent means (cryoDRGN: its ``z.N.pkl``; ours: the encoder of that
checkpoint) and the volumes at each ground-truth bin's median latent (both decoded by cryolatent:
cryoDRGN's ``weights.N.pkl`` through :mod:`cryolatent.nn.cryodrgn`, checked against
``cryodrgn eval_vol`` by ``bench/check_cryodrgn_decoder.py``), scored against the ground truth.
The time axis is the sum of each program's own per-epoch training times (cryoDRGN's ``run.log``
epoch lines, our ``train_log.csv``): start-up and the scoring are left out of both.

Writes ``bench/work/qvt_<name>.json``, the plot ``bench/quality_vs_time_<name>.png`` and (unless
``--no-results``) a section of ``bench/RESULTS.md``. Run it alone on a quiet machine::

    .venv/bin/python bench/quality_vs_time.py bench/work/het_n4000_seed2 --epochs 20 --seeds 0,1 \\
        --variants baseline,march,march+sub
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shlex
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from run_bench import ground_truth, run_child, thread_env  # noqa: E402

from cryolatent import io as clio  # noqa: E402
from cryolatent.tl import metrics  # noqa: E402
from cryolatent.training.cryodrgn_run import CryodrgnRun  # noqa: E402
from cryolatent.training.evaluate import embed, eval_volumes  # noqa: E402

WORK = BENCH / "work"
RESULTS = BENCH / "RESULTS.md"
SIZES = ["--enc-dim", "256", "--enc-layers", "3", "--dec-dim", "256", "--dec-layers", "3"]  # the "small" preset
VARIANTS = {  # cryolatent train flags of each variant (on top of --preset small)
    "baseline": [],
    "march": ["--march-epochs", "4", "--march-start", "0.25"],
    "sub": ["--pixel-fraction", "0.35", "--keep-radius", "0.25"],
    "march+sub": ["--march-epochs", "4", "--march-start", "0.25", "--pixel-fraction", "0.35", "--keep-radius", "0.25"],
    # the feature-grid decoder: grids up to 32 points per unit frequency (2-pixel cells), a small MLP
    "grid": ["--pe-type", "grid", "--grid-res", "32", "--dec-dim", "64", "--dec-layers", "1"],
    "grid128": ["--pe-type", "grid", "--grid-res", "32", "--dec-dim", "128", "--dec-layers", "2"],
    "grid128_lr2e-3": ["--pe-type", "grid", "--grid-res", "32", "--dec-dim", "128", "--dec-layers", "2", "--grid-lr", "2e-3"],
    "grid128_wd": ["--pe-type", "grid", "--grid-res", "32", "--dec-dim", "128", "--dec-layers", "2",
                   "--grid-weight-decay", "1e-3"],
    "grid128_decay": ["--pe-type", "grid", "--grid-res", "32", "--dec-dim", "128", "--dec-layers", "2",
                      "--grid-lr-decay", "0.5"],
    "grid_fine": ["--pe-type", "grid", "--grid-lr", "1e-3", "--dec-dim", "64", "--dec-layers", "1"],  # cells of 1 pixel
    # the same Fourier-feature decoder, half as wide (3 x 128): about a third of the decoder's arithmetic
    "mlp128": ["--dec-dim", "128"],
    "mlp128_lr3e-4": ["--dec-dim", "128", "--lr", "3e-4"],
    "mlp128_lr3e-4+sub": ["--dec-dim", "128", "--lr", "3e-4", "--pixel-fraction", "0.35", "--keep-radius", "0.25"],
    # the preset (the later --preset wins): mlp128_lr3e-4+sub with the learning rate falling (half cosine,
    # to 0.1 x) over the last 10 epochs; fast_nodecay: the preset before that decay; fast_decay5: over 5
    "fast": ["--preset", "fast"],
    "fast_nodecay": ["--preset", "fast", "--lr-decay-epochs", "0"],
    "fast_decay5": ["--preset", "fast", "--lr-decay-epochs", "5"],
    # Fourier features and coarse grids side by side (grid_res 16: 4-pixel cells), MLP 3 x 128
    "hybrid128x3": ["--pe-type", "gaussian+grid", "--grid-res", "16", "--grid-levels", "2", "--dec-dim", "128"],
}


def _motion_spearman(z: np.ndarray, truth: dict) -> float:
    """The latent's grasp of the continuous motion: one hinge (``t``): |Spearman| of PC1 with ``t``
    within each state, averaged; two independent hinges (``t``, ``t2``; the two-domain molecule): in
    the common state, each hinge against the better of PC1 and PC2, averaged."""
    if "t2" not in truth:
        return float(np.mean([metrics.pc1_spearman(z, truth["t"], subset=truth["state"] == st)
                              for st in np.unique(truth["state"])]))
    common = truth["state"] == np.bincount(truth["state"]).argmax()
    return float(np.mean([metrics.pc_spearman(z, truth[c], subset=common, n_pcs=2) for c in ("t", "t2")]))


def _scores(z: np.ndarray, truth: dict, decode, apix: float) -> dict:
    s = metrics.per_conformation_fsc(z, truth["label"], truth["volumes"], decode, apix=apix)
    return {"fsc_auc": float(np.mean([c.auc for c in s])), "pc1_spearman": _motion_spearman(z, truth),
            "state_accuracy": float(metrics.state_separation(z, truth["state"]))}


def train_cryodrgn(args, data: Path, seed: int, defaults: bool) -> Path:
    """cryoDRGN train_vae, a checkpoint per epoch; ``defaults``: its own batch size (16) and AMP,
    else batch 8 as cryolatent."""
    name = f"drgn{'_defaults' if defaults else ''}_{data.name}_e{args.epochs}_s{seed}"
    out = WORK / "qvt" / name
    if (out / "train_vae" / f"weights.{args.epochs}.pkl").exists() and args.reuse:
        return out / "train_vae"
    cmd = [str(BENCH / ".venv-cryodrgn/bin/cryodrgn"), "train_vae", str(data / "particles.mrcs"),
           "--poses", str(data / "poses.pkl"), "--ctf", str(data / "ctf.pkl"), "--zdim", str(args.zdim),
           "-n", str(args.epochs), "--seed", str(seed), "-o", str(out / "train_vae"), "--checkpoint", "1",
           "--no-analysis", *SIZES, *([] if defaults else ["-b", "8", "--no-amp"])]
    run_child(cmd, out / "train.log", thread_env(args.threads))
    return out / "train_vae"


def cryodrgn_curve(run_dir: Path, truth: dict, apix: float) -> list[dict]:
    """Per epoch: cumulative training seconds (its run.log) and the scores of that epoch's weights."""
    text = (run_dir / "run.log").read_text()
    secs = []
    for h, m, s in re.findall(r"=====> Epoch: \d+ .*Finished in (\d+):(\d+):([\d.]+)", text):
        secs.append(int(h) * 3600 + int(m) * 60 + float(s))
    run = CryodrgnRun.open(run_dir)
    curve, t = [], 0.0
    for epoch, sec in enumerate(secs, start=1):
        t += sec
        model, info = run.load_model(epoch)
        z = np.asarray(clio.load_pkl(run_dir / f"z.{epoch}.pkl"), dtype=np.float32)
        decode = lambda zz: eval_volumes(run_dir, zz, model=model, norm=info["norm"])  # noqa: E731
        curve.append({"epoch": epoch, "time_s": round(t, 2), **_scores(z, truth, decode, apix)})
        print(json.dumps(curve[-1]), flush=True)
    return curve


def train_ours(args, data: Path, seed: int, variant: str) -> Path:
    out = WORK / "qvt" / f"ours_{variant}_{data.name}_e{args.epochs}_s{seed}"
    if (out / f"weights.{args.epochs}.pt").exists() and args.reuse:
        return out
    cmd = [str(ROOT / ".venv/bin/cryolatent"), "train", str(data / "particles.mrcs"), "--poses", str(data / "poses.pkl"),
           "--ctf", str(data / "ctf.pkl"), "--zdim", str(args.zdim), "--preset", "small", "--batch-size",
           str(args.batch_size), "--epochs", str(args.epochs), "--seed", str(seed), "-o", str(out), "--force",
           "--no-progress", *VARIANTS[variant], *shlex.split(args.ours_args)]
    run_child(cmd, out.parent / f"{out.name}.log", thread_env(args.threads))
    return out


def ours_curve(out: Path, truth: dict, apix: float) -> list[dict]:
    with open(out / "train_log.csv") as fh:
        log = list(csv.DictReader(fh))
    curve, t = [], 0.0
    for row in log:
        epoch = int(row["epoch"])
        t += float(row["seconds"])
        z = embed(out, epoch=epoch)
        decode = lambda zz: eval_volumes(out, zz, epoch=epoch)  # noqa: E731
        curve.append({"epoch": epoch, "time_s": round(t, 2), **_scores(z, truth, decode, apix)})
        print(json.dumps(curve[-1]), flush=True)
    return curve


def first_time_at(curve: list[dict], level: float) -> float | None:
    """Wall-clock at which ``curve`` first reaches FSC-AUC ``level`` (linear between epochs)."""
    prev_t, prev_q = 0.0, None
    for p in curve:
        if p["fsc_auc"] >= level:
            if prev_q is None or prev_q >= level:
                return p["time_s"]
            return prev_t + (level - prev_q) / (p["fsc_auc"] - prev_q) * (p["time_s"] - prev_t)
        prev_t, prev_q = p["time_s"], p["fsc_auc"]
    return None


def value_at(curve: list[dict], time_s: float) -> float | None:
    """FSC-AUC of the last epoch finished by ``time_s``."""
    done = [p for p in curve if p["time_s"] <= time_s + 1e-9]
    return done[-1]["fsc_auc"] if done else None


def plot(runs: list[dict], path: Path, title: str, highlight: set[str] = frozenset()) -> None:
    """FSC-AUC against time, a line per run; cryoDRGN's runs and the ``highlight`` variants drawn bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {}
    for r in runs:
        c = colours.setdefault(r["method"], f"C{len(colours)}")
        t = [0] + [p["time_s"] / 60 for p in r["curve"]]
        q = [np.nan] + [p["fsc_auc"] for p in r["curve"]]
        bold = r["method"].startswith("cryoDRGN") or r["method"].removeprefix("cryolatent ") in highlight
        ax.plot(t, q, "-o", ms=3 if bold else 1.5, lw=1.8 if bold else 0.8, color=c, alpha=0.9 if bold else 0.35,
                label=f"{r['method']} (seed {r['seed']})")
    ax.set_xlabel("training time (min, own per-epoch times)")
    ax.set_ylabel("per-conformation FSC-AUC (mean)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(runs: list[dict]) -> list[dict]:
    """Per cryolatent run: time to reach the cryoDRGN runs' final FSC-AUC (same seed), as a
    fraction of cryoDRGN's total time, and its FSC-AUC at cryoDRGN's total time / 5 and at equal time."""
    rows = []
    for drgn in [r for r in runs if r["method"].startswith("cryoDRGN")]:
        final, total = drgn["curve"][-1]["fsc_auc"], drgn["curve"][-1]["time_s"]
        drgn_seeds = {r["seed"] for r in runs if r["method"] == drgn["method"]}
        # each of our runs against cryoDRGN's run of the same seed, or of every seed when it has none of its own
        for ours in [r for r in runs if not r["method"].startswith("cryoDRGN")
                     and (r["seed"] == drgn["seed"] or r["seed"] not in drgn_seeds)]:
            reach = first_time_at(ours["curve"], final)
            seed = drgn["seed"] if ours["seed"] == drgn["seed"] else f"{ours['seed']} (cryoDRGN: {drgn['seed']})"
            rows.append({"cryodrgn": drgn["method"], "ours": ours["method"], "seed": seed,
                         "cryodrgn_final_auc": final, "cryodrgn_time_s": total,
                         "ours_time_to_reach_s": reach, "fraction_of_cryodrgn_time": None if reach is None else reach / total,
                         "ours_auc_at_fifth": value_at(ours["curve"], total / 5),
                         "ours_auc_at_equal_time": value_at(ours["curve"], total),
                         "ours_final_auc": ours["curve"][-1]["fsc_auc"], "ours_time_s": ours["curve"][-1]["time_s"],
                         "pc1_spearman": (drgn["curve"][-1]["pc1_spearman"], ours["curve"][-1]["pc1_spearman"]),
                         "state_accuracy": (drgn["curve"][-1]["state_accuracy"], ours["curve"][-1]["state_accuracy"])})
    return rows


def markdown(args, runs, rows, png: Path, name: str) -> str:
    begin, end = f"<!-- BEGIN quality_vs_time.py {name} -->", f"<!-- END quality_vs_time.py {name} -->"
    f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    ended = lambda r: (f" (its last epoch: its {args.epochs} epochs ended at {r['ours_time_s'] / 60:.1f} min)"  # noqa: E731
                       if r["ours_time_s"] < r["cryodrgn_time_s"] else "")
    reach = lambda r: ("not reached" if r["ours_time_to_reach_s"] is None else  # noqa: E731
                       f"{r['ours_time_to_reach_s'] / 60:.1f} min ({r['fraction_of_cryodrgn_time']:.2f})")
    lines = [begin, "", f"Generated by `bench/quality_vs_time.py` on {dt.datetime.now().isoformat(timespec='seconds')} "
             f"({platform.machine()}, {os.cpu_count()} cores, one run at a time):", "", "```",
             "  ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/quality_vs_time.py"] + [a for a in sys.argv[1:] if a != "--report-only"]),
             "```", "", f"![FSC-AUC against training time]({png.name})", "",
             "| cryoDRGN run | cryolatent run | seed | cryoDRGN final AUC (its time, min) | cryolatent reaches it at "
             "(fraction of cryoDRGN's time) | cryolatent AUC at 1/5 of that time | at equal time | "
             "motion: PC1 Spearman (cryoDRGN / ours) | state accuracy (cryoDRGN / ours) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cryodrgn']} | {r['ours']} | {r['seed']} | {f(r['cryodrgn_final_auc'])} "
                     f"({r['cryodrgn_time_s'] / 60:.1f}) | "
                     f"{reach(r)} | {f(r['ours_auc_at_fifth'])} | "
                     f"{f(r['ours_auc_at_equal_time'])}{ended(r)} | {f(r['pc1_spearman'][0])} / {f(r['pc1_spearman'][1])} | "
                     f"{f(r['state_accuracy'][0])} / {f(r['state_accuracy'][1])} |")
    lines += ["", f"Raw curves: `bench/work/qvt_{name}.json`.", "", end]
    return "\n".join(lines), begin, end


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="a simulated dataset folder (cryolatent simulate): particles, poses, CTF, ground truth")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--zdim", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seeds", default="0")
    p.add_argument("--variants", default="baseline,march+sub", help=f"cryolatent variants: {', '.join(VARIANTS)}")
    p.add_argument("--cryodrgn", default="matched", help="matched (batch 8, float32), defaults (batch 16, AMP), "
                                                         "both, or none")
    p.add_argument("--ours-args", default="", help="further `cryolatent train` flags for every variant")
    p.add_argument("--highlight", default="fast,mlp128_lr3e-4+sub", help="variants drawn bold in the plot")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse", action="store_true", help="score runs already trained instead of training again, "
                                                       "and keep the curves already in bench/work/qvt_<name>.json")
    p.add_argument("--name", help="name of the outputs (default: the dataset folder's)")
    p.add_argument("--no-results", action="store_true", help="do not touch bench/RESULTS.md")
    p.add_argument("--report-only", action="store_true",
                   help="redo the plot and the table from bench/work/qvt_<name>.json (no training, no scoring)")
    args = p.parse_args(argv)
    data = Path(args.dataset).resolve()
    name = args.name or data.name
    truth = ground_truth(data)
    apix = float(clio.read_particles(data / "particles.mrcs").apix or 0) or None
    drgn_modes = {"matched": [False], "defaults": [True], "both": [False, True], "none": []}[args.cryodrgn]
    saved = WORK / f"qvt_{name}.json"
    old_runs = json.loads(saved.read_text())["runs"] if saved.exists() and (args.report_only or args.reuse) else []
    runs = old_runs if args.report_only else []

    def scored(label: str, seed: int, score):
        """A run's curve: with ``--reuse``, the one already scored for this method, seed and epochs."""
        for r in old_runs:
            if r["method"] == label and r["seed"] == seed and len(r["curve"]) == args.epochs:
                return r["curve"]
        return score()

    for seed in [] if args.report_only else [int(s) for s in args.seeds.split(",")]:
        for defaults in drgn_modes:
            label = "cryoDRGN 4.3.1 (batch 16, AMP)" if defaults else "cryoDRGN 4.3.1 (batch 8)"
            curve = scored(label, seed, lambda: cryodrgn_curve(train_cryodrgn(args, data, seed, defaults), truth, apix))
            runs.append({"method": label, "seed": seed, "curve": curve})
        for variant in [v for v in args.variants.split(",") if v]:
            curve = scored(f"cryolatent {variant}", seed,
                           lambda: ours_curve(train_ours(args, data, seed, variant), truth, apix))
            runs.append({"method": f"cryolatent {variant}", "seed": seed, "flags": VARIANTS[variant], "curve": curve})
        (WORK / f"qvt_{name}.json").write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))
    rows = summary(runs)
    png = BENCH / f"quality_vs_time_{name}.png"
    plot(runs, png, f"{name}: zdim {args.zdim}, {args.epochs} epochs (encoder 3 x 256; decoders as named)",
         set(args.highlight.split(",")))
    (WORK / f"qvt_{name}.json").write_text(json.dumps({"args": vars(args), "runs": runs, "summary": rows}, indent=1))
    text, begin, end = markdown(args, runs, rows, png, name)
    print(text)
    if not args.no_results:
        old = RESULTS.read_text()
        if begin in old:
            new = old.split(begin)[0] + text + old.split(end, 1)[1]
        else:
            new = old.rstrip() + f"\n\n## Quality against training time: {name}\n\n" + text + "\n"
        RESULTS.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
