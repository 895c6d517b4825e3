#!/usr/bin/env python3
"""Run the reference peer (cryoDRGN 4.3.1, external program) on a dataset folder.

Given a folder with ``particles.mrcs``, ``poses.pkl`` and ``ctf.pkl`` (the files
``cryolatent simulate`` writes), this script

1. runs ``cryodrgn train_vae`` (from ``bench/.venv-cryodrgn``, made by
   ``bench/setup_cryodrgn.sh``) with a given architecture, zdim and number of epochs,
   under ``/usr/bin/time -v`` so that the child's peak RSS is recorded
   (falls back to ``resource.getrusage(RUSAGE_CHILDREN)``);
2. parses cryoDRGN's ``run.log`` for the wall time of every epoch (the
   ``# =====> Epoch: N ... Finished in H:MM:SS`` lines; this excludes the
   per-epoch ``eval_z`` pass and the checkpoint writes, which are in the total);
3. runs ``cryodrgn eval_vol`` at chosen latent points (by default, when the folder
   has ``labels.npy``: the mean ``z`` of the particles of each ground-truth label,
   and also the ``z`` of the particle nearest that mean), so that volume metrics
   can be computed against the ground-truth volumes by cryolatent's own code;
4. writes a JSON summary (``summary.json`` in the run folder and a copy
   ``bench/work/cryodrgn_<name>.json``) with timings, peak RSS, the paths of
   ``z.pkl``, ``weights.pkl``, ``config.yaml`` and of the evaluated volumes with
   the z value and label of each.

cryoDRGN is never imported here: it only runs as a subprocess.  The script needs
Python 3.10+ with numpy (e.g. the project venv: ``.venv/bin/python``).

Example::

    .venv/bin/python bench/cryodrgn_reference.py bench/work/sim1000 --epochs 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
DEFAULT_CRYODRGN = BENCH / ".venv-cryodrgn" / "bin" / "cryodrgn"
WORK = BENCH / "work"

EPOCH_RE = re.compile(
    r"# =====> Epoch: (\d+) Average gen loss = ([-+0-9.eE]+|nan), KLD = ([-+0-9.eE]+|nan), "
    r"total loss = ([-+0-9.eE]+|nan); Finished in ([0-9:.]+|[0-9]+ days?, [0-9:.]+)"
)
TOTAL_RE = re.compile(r"Finished in ([^()\n]+) \(([^()\n]+) per epoch\)")


def parse_timedelta(text: str) -> float:
    """``'0:01:02.500000'`` or ``'1 day, 0:00:01'`` -> seconds."""
    text = text.strip()
    days = 0
    m = re.match(r"(\d+) days?, (.*)", text)
    if m:
        days, text = int(m.group(1)), m.group(2)
    h, mi, s = text.split(":")
    return days * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


def mrc_shape(path: Path) -> tuple[int, int, int]:
    """(nz, ny, nx) from an MRC header, without any MRC library."""
    with open(path, "rb") as f:
        nx, ny, nz = np.frombuffer(f.read(12), dtype="<i4")
    if not (0 < nx < 100000):  # big-endian file
        nx, ny, nz = (int(v.byteswap()) for v in (nx, ny, nz))
    return int(nz), int(ny), int(nx)


def parse_time_v(text: str) -> dict:
    """Pick the useful fields out of GNU ``/usr/bin/time -v`` output."""
    out = {}
    keys = {
        "Maximum resident set size (kbytes)": ("peak_rss_kb", int),
        "User time (seconds)": ("user_s", float),
        "System time (seconds)": ("sys_s", float),
        "Percent of CPU this job got": ("cpu_percent", lambda v: float(v.rstrip("%"))),
        "Exit status": ("time_exit_status", int),
    }
    for line in text.splitlines():
        line = line.strip()
        for key, (name, conv) in keys.items():
            if line.startswith(key + ":"):
                try:
                    out[name] = conv(line.split(":", 1)[1].strip())
                except ValueError:
                    pass
        if line.startswith("Elapsed (wall clock) time"):
            wall = line.rsplit(" ", 1)[-1]
            parts = [float(x) for x in wall.split(":")]
            out["time_wall_s"] = round(sum(v * 60 ** i for i, v in enumerate(reversed(parts))), 2)
    return out


def run_measured(cmd: list[str], log_path: Path, env: dict, nice: int) -> dict:
    """Run ``cmd``; stdout+stderr to ``log_path``; wall time and peak RSS of the child."""
    time_bin = "/usr/bin/time" if Path("/usr/bin/time").exists() else shutil.which("time")
    use_time_v = False
    if time_bin:
        probe = subprocess.run([time_bin, "-v", "true"], capture_output=True, text=True)
        use_time_v = probe.returncode == 0 and "Maximum resident set size" in probe.stderr
    time_file = log_path.with_suffix(".time.txt")
    full = list(cmd)
    if use_time_v:
        full = [time_bin, "-v", "-o", str(time_file)] + full
    if nice:
        full = ["nice", "-n", str(nice)] + full
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        proc = subprocess.run(full, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {
        "command": shlex.join(cmd),
        "returncode": proc.returncode,
        "wall_s": round(wall, 3),
        "log": str(log_path),
        "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if use_time_v and time_file.exists():
        res.update(parse_time_v(time_file.read_text()))
        res["peak_rss_source"] = "/usr/bin/time -v"
    else:
        # ru_maxrss of RUSAGE_CHILDREN is the max over all waited-for children (kB on Linux)
        res["peak_rss_kb"] = int(after.ru_maxrss)
        res["user_s"] = round(after.ru_utime - before.ru_utime, 3)
        res["sys_s"] = round(after.ru_stime - before.ru_stime, 3)
        res["peak_rss_source"] = "getrusage(RUSAGE_CHILDREN) (max over all children so far)"
    if "peak_rss_kb" in res:
        res["peak_rss_mib"] = round(res["peak_rss_kb"] / 1024, 1)
    return res


def load_z(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        z = pickle.load(f)
    return np.asarray(z, dtype=np.float64)


def load_labels(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".npz":
        return np.load(path)["label"]
    if path.suffix == ".pkl":
        with open(path, "rb") as f:
            return np.asarray(pickle.load(f))
    return np.loadtxt(path, dtype=np.int64)


def choose_z_points(args, z: np.ndarray, dataset: Path) -> tuple[np.ndarray, list[dict]]:
    """Latent points to evaluate, with a description of each."""
    if args.zfile:
        pts = (np.load(args.zfile) if args.zfile.endswith(".npy") else np.loadtxt(args.zfile))
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, z.shape[1])
        return pts, [{"source": "zfile", "row": i} for i in range(len(pts))]
    if args.z_indices:
        idx = [int(i) for i in args.z_indices.split(",") if i.strip()]
        return z[idx], [{"source": "particle", "particle": i} for i in idx]
    labels_path = Path(args.labels) if args.labels else dataset / "labels.npy"
    if labels_path.exists():
        labels = load_labels(labels_path).reshape(-1)
        if len(labels) != len(z):
            raise SystemExit(f"{labels_path}: {len(labels)} labels for {len(z)} particles")
        pts, info = [], []
        for lab in np.unique(labels):
            sel = np.nonzero(labels == lab)[0]
            mean = z[sel].mean(0)
            nearest = int(sel[np.argmin(((z[sel] - mean) ** 2).sum(1))])
            pts.append(mean)
            info.append({"source": "label_mean", "label": int(lab), "n_particles": int(len(sel))})
            if args.label_medoids:
                pts.append(z[nearest])
                info.append({"source": "label_nearest_particle", "label": int(lab), "particle": nearest})
        return np.stack(pts), info
    # no labels: the mean z and the origin
    pts = np.stack([z.mean(0), np.zeros(z.shape[1])])
    return pts, [{"source": "z_mean"}, {"source": "origin"}]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="folder with particles.mrcs, poses.pkl, ctf.pkl (and optionally labels.npy)")
    p.add_argument("--particles", help="particle stack (default: DATASET/particles.mrcs)")
    p.add_argument("--poses", help="default: DATASET/poses.pkl")
    p.add_argument("--ctf", help="default: DATASET/ctf.pkl; 'none' for no CTF")
    p.add_argument("--name", help="run name (default: <dataset folder name>_z<zdim>_e<epochs>)")
    p.add_argument("-o", "--outdir", help="run folder (default: bench/work/cryodrgn_<name>)")
    p.add_argument("--cryodrgn", default=str(DEFAULT_CRYODRGN), help="cryodrgn executable (default: %(default)s)")
    g = p.add_argument_group("train_vae (cryoDRGN flag names in brackets)")
    g.add_argument("--zdim", type=int, default=8, help="[--zdim] (default: %(default)s)")
    g.add_argument("-n", "--epochs", type=int, default=1, help="[-n] (default: %(default)s)")
    g.add_argument("-b", "--batch-size", type=int, default=8, help="[-b] (default: %(default)s)")
    g.add_argument("--enc-dim", type=int, default=256, help="[--enc-dim] (default: %(default)s)")
    g.add_argument("--enc-layers", type=int, default=3, help="[--enc-layers] (default: %(default)s)")
    g.add_argument("--dec-dim", type=int, default=256, help="[--dec-dim] (default: %(default)s)")
    g.add_argument("--dec-layers", type=int, default=3, help="[--dec-layers] (default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="[--seed] (default: %(default)s)")
    g.add_argument("--analyze", action="store_true",
                   help="let train_vae run `cryodrgn analyze` at the end (default: pass --no-analysis)")
    g.add_argument("--extra", default="", help="further train_vae arguments, one quoted string, e.g. \"--lr 1e-4\"")
    g.add_argument("--threads", type=int, default=None,
                   help="OMP/MKL/torch intra-op threads for the child (default: torch's default = all cores)")
    g.add_argument("--nice", type=int, default=10, help="run children under `nice -n` (0: off; default: %(default)s)")
    g.add_argument("--force", action="store_true", help="delete an existing run folder first")
    g.add_argument("--reuse", action="store_true",
                   help="do not train again if the run folder has a finished train_vae (z.pkl): "
                        "re-parse its logs and (re)do eval_vol only")
    e = p.add_argument_group("eval_vol (volumes for metrics)")
    e.add_argument("--no-eval", action="store_true", help="skip eval_vol")
    e.add_argument("--zfile", help="latent points to evaluate: .txt (np.loadtxt) or .npy, shape (K, zdim)")
    e.add_argument("--z-indices", help="evaluate at the z of these particles, e.g. 0,10,20")
    e.add_argument("--labels", help="per-particle labels (.npy/.npz/.pkl/.txt; default DATASET/labels.npy): "
                                    "evaluate at each label's mean z")
    e.add_argument("--label-medoids", action="store_true",
                   help="also evaluate at the particle nearest each label's mean z")
    e.add_argument("--apix", type=float, default=None,
                   help="[eval_vol --Apix] (default: from ctf.pkl column 1, else 1)")
    args = p.parse_args(argv)

    dataset = Path(args.dataset).resolve()
    particles = Path(args.particles or dataset / "particles.mrcs").resolve()
    poses = Path(args.poses or dataset / "poses.pkl").resolve()
    ctf = None if (args.ctf or "").lower() == "none" else Path(args.ctf or dataset / "ctf.pkl").resolve()
    cryodrgn = Path(args.cryodrgn)
    for f in [particles, poses, cryodrgn] + ([ctf] if ctf else []):
        if not f.exists():
            raise SystemExit(f"missing: {f}" + ("  (run bench/setup_cryodrgn.sh)" if f == cryodrgn else ""))

    name = args.name or f"{dataset.name}_z{args.zdim}_e{args.epochs}"
    outdir = Path(args.outdir).resolve() if args.outdir else WORK / f"cryodrgn_{name}"
    train_dir = outdir / "train_vae"
    reuse = args.reuse and (train_dir / "z.pkl").exists()
    if outdir.exists() and not reuse:
        if not args.force:
            raise SystemExit(f"{outdir} exists; pass --force to replace it (or --reuse)")
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    nz, ny, nx = mrc_shape(particles) if particles.suffix in (".mrcs", ".mrc") else (None, None, None)
    apix = args.apix
    if apix is None and ctf is not None:
        with open(ctf, "rb") as f:
            apix = float(np.asarray(pickle.load(f))[0, 1])
    apix = apix or 1.0

    env = dict(os.environ)
    if args.threads:
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            env[k] = str(args.threads)

    # ---- train_vae ------------------------------------------------------------------
    cmd = [str(cryodrgn), "train_vae", str(particles), "--poses", str(poses)]
    if ctf:
        cmd += ["--ctf", str(ctf)]
    cmd += ["--zdim", str(args.zdim), "-n", str(args.epochs), "-b", str(args.batch_size),
            "--enc-dim", str(args.enc_dim), "--enc-layers", str(args.enc_layers),
            "--dec-dim", str(args.dec_dim), "--dec-layers", str(args.dec_layers),
            "--seed", str(args.seed), "-o", str(train_dir)]
    if not args.analyze:
        cmd.append("--no-analysis")
    cmd += shlex.split(args.extra)
    prev_eval = None
    if reuse:
        prev = outdir / "summary.json"
        prev_summary = json.loads(prev.read_text()) if prev.exists() else {}
        train = prev_summary.get("train_vae") or {"command": shlex.join(cmd)}
        prev_eval = prev_summary.get("eval_vol")
        tfile = outdir / "train_vae.time.txt"
        if tfile.exists():
            train.update(parse_time_v(tfile.read_text()))
            train["peak_rss_source"] = "/usr/bin/time -v"
            if "peak_rss_kb" in train:
                train["peak_rss_mib"] = round(train["peak_rss_kb"] / 1024, 1)
        train.setdefault("returncode", 0)
        train["reused"] = True
        print(f"[cryodrgn_reference] reusing {train_dir}", flush=True)
    else:
        print(f"[cryodrgn_reference] {shlex.join(cmd)}", flush=True)
        train = run_measured(cmd, outdir / "train_vae.log", env, args.nice)

    epochs = []
    total = None
    run_log = train_dir / "run.log"
    if run_log.exists():
        text = run_log.read_text(errors="replace")
        for m in EPOCH_RE.finditer(text):
            sec = parse_timedelta(m.group(5))
            epochs.append({
                "epoch": int(m.group(1)),
                "gen_loss": float(m.group(2)), "kld": float(m.group(3)), "loss": float(m.group(4)),
                "train_s": round(sec, 3),
                "particles_per_s": round(nz / sec, 2) if nz and sec > 0 else None,
            })
        m = TOTAL_RE.search(text)
        if m:
            total = {"total_s": round(parse_timedelta(m.group(1)), 3),
                     "per_epoch_incl_eval_s": round(parse_timedelta(m.group(2)), 3)}
    train["epochs"] = epochs
    if "user_s" in train and "sys_s" in train:
        # CPU seconds of the whole child (start-up, data loading, training, eval_z, checkpoints):
        # less sensitive to other jobs on the machine than the wall times are
        train["cpu_s"] = round(train["user_s"] + train["sys_s"], 2)
    train["cryodrgn_reported"] = total
    if epochs:
        times = [e["train_s"] for e in epochs]
        train["mean_epoch_s"] = round(float(np.mean(times)), 3)
        train["mean_particles_per_s"] = round(nz / float(np.mean(times)), 2) if nz else None

    z_pkl = train_dir / "z.pkl"
    summary = {
        "tool": "cryoDRGN",
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                 "threads": args.threads, "nice": args.nice},
        "cryodrgn_version": subprocess.run([str(cryodrgn), "--version"], capture_output=True,
                                           text=True).stdout.strip() or None,
        "dataset": {"folder": str(dataset), "particles": str(particles), "poses": str(poses),
                    "ctf": str(ctf) if ctf else None, "n_particles": nz, "box": nx, "apix": apix},
        "params": {"zdim": args.zdim, "epochs": args.epochs, "batch_size": args.batch_size,
                   "enc_dim": args.enc_dim, "enc_layers": args.enc_layers, "dec_dim": args.dec_dim,
                   "dec_layers": args.dec_layers, "seed": args.seed, "extra": args.extra,
                   "analyze": args.analyze},
        "train_vae": train,
        "outputs": {"outdir": str(train_dir), "z_pkl": str(z_pkl) if z_pkl.exists() else None,
                    "weights_pkl": str(train_dir / "weights.pkl") if (train_dir / "weights.pkl").exists() else None,
                    "config_yaml": str(train_dir / "config.yaml") if (train_dir / "config.yaml").exists() else None,
                    "run_log": str(run_log) if run_log.exists() else None},
        "eval_vol": prev_eval if args.no_eval else None,
    }

    # ---- eval_vol -------------------------------------------------------------------
    ok = train["returncode"] == 0 and z_pkl.exists()
    if ok and not args.no_eval:
        z = load_z(z_pkl)
        pts, info = choose_z_points(args, z, dataset)
        zfile = outdir / "zpoints.txt"
        np.savetxt(zfile, pts, fmt="%.8g")
        vol_dir = outdir / "volumes"
        cmd = [str(cryodrgn), "eval_vol", str(train_dir / "weights.pkl"), "-c", str(train_dir / "config.yaml"),
               "-o", str(vol_dir), "--zfile", str(zfile), "--Apix", str(apix)]
        print(f"[cryodrgn_reference] {shlex.join(cmd)}", flush=True)
        ev = run_measured(cmd, outdir / "eval_vol.log", env, args.nice)
        vols = []
        for i, (zz, meta) in enumerate(zip(pts, info), start=1):  # eval_vol: vol_001.mrc, ...
            path = vol_dir / f"vol_{i:03d}.mrc"
            vols.append({"path": str(path) if path.exists() else None, "z": [float(v) for v in zz], **meta})
        ev["zfile"] = str(zfile)
        ev["volumes"] = vols
        summary["eval_vol"] = ev
        ok = ev["returncode"] == 0

    (outdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    WORK.mkdir(parents=True, exist_ok=True)
    copy = WORK / f"cryodrgn_{name}.json"
    if copy.resolve() != (outdir / "summary.json").resolve():
        copy.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[cryodrgn_reference] train_vae rc={train['returncode']} wall={train.get('wall_s', train.get('time_wall_s'))}s "
          f"peak_rss={train.get('peak_rss_mib')} MiB epochs={[e['train_s'] for e in epochs]} "
          f"particles/s={train.get('mean_particles_per_s')}")
    print(f"[cryodrgn_reference] summary: {outdir / 'summary.json'} (copy: {copy})")
    if not ok:
        print(f"[cryodrgn_reference] FAILED; see {outdir}/*.log", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
