#!/usr/bin/env python3
"""Check that cryolatent decodes a cryoDRGN-trained run as ``cryodrgn eval_vol`` does.

Given the folder that ``bench/cryodrgn_reference.py`` wrote (a ``train_vae`` run, the latent
points it evaluated in ``zpoints.txt`` and cryoDRGN's volumes), this script

1. runs ``cryolatent eval-vol TRAIN_VAE --zfile zpoints.txt -o ...`` (our CLI on cryoDRGN's
   folder: its ``config.yaml`` and ``weights.pkl`` read by cryolatent, with ``weights_only``);
2. runs ``cryodrgn eval_vol`` again with ``--downsample`` and on an epoch's ``weights.N.pkl``,
   and ours with ``--downsample`` / ``--epoch N``;
3. compares each pair of volumes: shape, Pearson correlation, relative RMS difference, and the
   voxel size in the headers; writes ``bench/cryodrgn_decoder_results.json``.

cryoDRGN runs only as an external program from ``bench/.venv-cryodrgn``. Example::

    .venv/bin/python bench/cryodrgn_reference.py bench/work/sim_dec64 --epochs 2 --zdim 8 \\
        --z-indices 0,100,200,300,400 -o bench/work/cryodrgn_dec64
    .venv/bin/python bench/check_cryodrgn_decoder.py bench/work/cryodrgn_dec64
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
CRYODRGN = HERE / ".venv-cryodrgn" / "bin" / "cryodrgn"
CRYOLATENT = [sys.executable, "-m", "cryolatent"]
TARGET = 0.99


def _run(cmd: list[str]) -> None:
    print("$", " ".join(map(str, cmd)), flush=True)
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(map(str, cmd))}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _read(path: Path) -> tuple[np.ndarray, float]:
    with mrcfile.open(path, permissive=True) as m:
        return np.asarray(m.data, dtype=np.float64), float(m.voxel_size.x)


def _compare(theirs: Path, ours: Path) -> dict:
    a, apix_a = _read(theirs)
    b, apix_b = _read(ours)
    if a.shape != b.shape:
        return {"theirs": str(theirs), "ours": str(ours), "shape": [a.shape, b.shape], "corr": None}
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    rel = float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(a**2)))
    return {"theirs": theirs.name, "ours": ours.name, "shape": list(a.shape), "corr": corr, "rel_rms_diff": rel,
            "apix_theirs": apix_a, "apix_ours": apix_b}


def _pairs(their_dir: Path, our_dir: Path, n: int) -> list[dict]:
    # cryoDRGN numbers volumes from 1 (--vol-start-index), cryolatent from 0
    return [_compare(their_dir / f"vol_{i + 1:03d}.mrc", our_dir / f"vol_{i:03d}.mrc") for i in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference", help="folder written by bench/cryodrgn_reference.py (train_vae/, zpoints.txt, volumes/)")
    p.add_argument("--downsample", type=int, default=32, help="also compare at this box (default: %(default)s)")
    p.add_argument("-o", "--output", default=str(HERE / "cryodrgn_decoder_results.json"))
    args = p.parse_args(argv)

    ref = Path(args.reference).resolve()
    summary = json.loads((ref / "summary.json").read_text())
    train = ref / "train_vae"
    zfile = ref / "zpoints.txt"
    apix = str(summary["eval_vol"].get("apix") or _read(ref / "volumes" / "vol_001.mrc")[1])
    n = len(np.atleast_2d(np.loadtxt(zfile)))
    work = ref / "cryolatent_check"
    shutil.rmtree(work, ignore_errors=True)
    cases = []

    _run([*CRYOLATENT, "eval-vol", train, "--zfile", zfile, "-o", work / "full"])
    cases.append({"case": "weights.pkl, full box", "pairs": _pairs(ref / "volumes", work / "full", n)})

    _run([CRYODRGN, "eval_vol", train / "weights.pkl", "-c", train / "config.yaml", "-o", work / "theirs_ds",
          "--zfile", zfile, "--Apix", apix, "--downsample", args.downsample])
    _run([*CRYOLATENT, "eval-vol", train, "--zfile", zfile, "-o", work / "ours_ds", "--downsample", args.downsample])
    cases.append({"case": f"weights.pkl, --downsample {args.downsample}", "pairs": _pairs(work / "theirs_ds", work / "ours_ds", n)})

    epochs = sorted(int(f.name.split(".")[1]) for f in train.glob("weights.*.pkl"))
    if epochs:
        e = epochs[0]
        _run([CRYODRGN, "eval_vol", train / f"weights.{e}.pkl", "-c", train / "config.yaml", "-o", work / "theirs_epoch",
              "--zfile", zfile, "--Apix", apix])
        _run([*CRYOLATENT, "eval-vol", train, "--zfile", zfile, "-o", work / "ours_epoch", "--epoch", e])
        cases.append({"case": f"weights.{e}.pkl (--epoch {e})", "pairs": _pairs(work / "theirs_epoch", work / "ours_epoch", n)})

    corrs = [pr["corr"] for c in cases for pr in c["pairs"]]
    ok = all(c is not None and c > TARGET for c in corrs)
    result = {"reference": str(ref), "config": summary.get("config") or summary.get("args"), "n_points": n,
              "target_corr": TARGET, "min_corr": min(c for c in corrs if c is not None) if any(corrs) else None,
              "pass": ok, "cases": cases, "machine": platform.platform()}
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    for c in cases:
        cs = [pr["corr"] for pr in c["pairs"]]
        rel = [pr.get("rel_rms_diff") for pr in c["pairs"]]
        print(f"{c['case']:32s} corr min {min(cs):.6f} max {max(cs):.6f}; relative RMS difference max {max(rel):.2e}")
    print(f"{'PASS' if ok else 'FAIL'}: every correlation > {TARGET}; results in {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
