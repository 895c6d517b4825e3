#!/usr/bin/env python3
"""Same data, same map: cryoDRGN ``backproject_voxel`` vs ``cryolatent backproject``.

On one simulated dataset (``cryolatent simulate``, noise-free by default) both
programs back-project the same ``particles.mrcs`` with the same ``poses.pkl`` and
``ctf.pkl`` (both with their default data-sign inversion).  The script then
reports

* real-space Pearson correlations: cryoDRGN map vs ours, and each vs the ground
  truth (the particle-count-weighted mean of the ground-truth volumes, which is
  what a back-projection of a heterogeneous set converges to);
* the same against transformed ground truths: flipped along z (hand check: must
  be lower), times -1 (sign check), shifted by +-1 voxel along each axis (origin
  check);
* an exhaustive search over the 48 axis permutations/flips (flips about the box
  centre D//2, i.e. the identity for voxel D//2), both signs and all circular
  integer shifts (by FFT), for the transform of one map that best matches the
  other (and each vs the ground truth), plus the centre-of-mass offsets (sub-voxel);
* FSC between the two maps (``cryolatent fsc`` and a numpy FSC) and of each map vs
  the ground truth;
* the wall time of each back-projection.

It writes ``bench/work/compare_backprojection/report.json`` and replaces the
section "Same data, same map (...)" in ``bench/RESULTS.md``.

cryoDRGN only runs as an external program from ``bench/.venv-cryodrgn``.  Run with
the project venv (it needs numpy and mrcfile)::

    .venv/bin/python bench/compare_backprojection.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import mrcfile
import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
CRYODRGN = BENCH / ".venv-cryodrgn" / "bin" / "cryodrgn"
CRYOLATENT = REPO / ".venv" / "bin" / "cryolatent"
HEADING = "## Same data, same map (cryoDRGN backproject_voxel vs cryolatent backproject)"
BEGIN = "<!-- BEGIN compare_backprojection.py (generated; edit the script, not this section) -->"
END = "<!-- END compare_backprojection.py -->"


# ------------------------------------------------------------------------------------ utils
def rel(p: Path | str) -> str:
    p = Path(p).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def run(cmd: list[str], log: Path, nice: int = 10) -> dict:
    full = (["nice", "-n", str(nice)] if nice else []) + [str(c) for c in cmd]
    print("$ " + shlex.join([str(c) for c in cmd]), flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(full, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"command failed (rc={proc.returncode}); log: {log}")
    return {"command": shlex.join([rel(c) if isinstance(c, Path) else str(c) for c in cmd]),
            "wall_s": round(wall, 2), "log": rel(log)}


def read_map(path: Path) -> tuple[np.ndarray, dict]:
    with mrcfile.open(path, permissive=True) as m:
        data = np.asarray(m.data, dtype=np.float64).copy()
        h = m.header
        info = {
            "shape": list(data.shape),
            "voxel_size": [round(float(m.voxel_size[a]), 4) for a in "xyz"],
            "origin": [round(float(h.origin[a]), 3) for a in "xyz"],
            "nxstart": [int(h.nxstart), int(h.nystart), int(h.nzstart)],
            "mapc_mapr_maps": [int(h.mapc), int(h.mapr), int(h.maps)],
        }
    return data, info


def corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        a, b = a[mask], b[mask]
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def flip_centered(v: np.ndarray, axis: int) -> np.ndarray:
    """Mirror about voxel D//2 (the box centre in cryoDRGN/RELION conventions)."""
    return np.roll(np.flip(v, axis), 1, axis)


def sphere(D: int, r: float) -> np.ndarray:
    g = np.arange(D) - D // 2
    z, y, x = np.meshgrid(g, g, g, indexing="ij")
    return (x * x + y * y + z * z) <= r * r


def axis_transforms():
    """The 48 signed axis permutations of a (z, y, x) array, as (name, function)."""
    names = "zyx"
    for perm in itertools.permutations(range(3)):
        for flips in itertools.product([False, True], repeat=3):
            def f(v, perm=perm, flips=flips):
                out = np.transpose(v, perm)
                for ax, fl in enumerate(flips):
                    if fl:
                        out = flip_centered(out, ax)
                return out
            label = "transpose(" + ",".join(names[p] for p in perm) + ")" if perm != (0, 1, 2) else ""
            fl = [names[ax] for ax, fl_ in enumerate(flips) if fl_]
            label = (label + (" " if label else "") + ("flip " + "".join(fl) if fl else "")).strip() or "identity"
            det = np.linalg.det(np.eye(3)[list(perm)]) * (-1) ** sum(flips)
            yield label, int(round(det)), f


def best_transform(moving: np.ndarray, ref: np.ndarray) -> list[dict]:
    """For each of the 48 axis transforms of ``moving``: the circular shift and sign
    maximising the Pearson correlation with ``ref`` (exact, by FFT)."""
    D = ref.shape[0]
    r = ref - ref.mean()
    r /= np.sqrt((r * r).sum())
    Fr = np.fft.rfftn(r)
    out = []
    for name, det, f in axis_transforms():
        m = f(moving)
        m = m - m.mean()
        m /= np.sqrt((m * m).sum())
        cc = np.fft.irfftn(np.conj(np.fft.rfftn(m)) * Fr, s=r.shape, axes=(0, 1, 2))  # cc[s] = sum m(x) r(x+s)
        for sign in (1, -1):
            idx = np.unravel_index(np.argmax(sign * cc), cc.shape)
            shift = [int(i) if i <= D // 2 else int(i) - D for i in idx]  # ref(x+s) ~ m(x): m rolled by +s
            out.append({"transform": name, "det": det, "sign": sign, "shift_zyx": shift,
                        "corr": round(float(sign * cc[idx]), 4)})
    out.sort(key=lambda d: -d["corr"])
    return out


def center_of_mass(v: np.ndarray) -> np.ndarray:
    w = np.clip(v, 0, None)
    g = np.arange(v.shape[0]) - v.shape[0] // 2
    z, y, x = np.meshgrid(g, g, g, indexing="ij")
    s = w.sum()
    return np.array([(w * z).sum(), (w * y).sum(), (w * x).sum()]) / s


def subvoxel_shift(moving: np.ndarray, ref: np.ndarray, kmax: float = 0.25) -> list[float]:
    """Translation s (z, y, x voxels) with ref(x) ~ moving(x - s): weighted least-squares
    fit of the cross-power phase -2 pi k.s over |k| < kmax cycles/voxel."""
    D = ref.shape[0]
    k1 = np.fft.fftfreq(D)
    kz, ky, kx = np.meshgrid(k1, k1, k1, indexing="ij")
    R = np.fft.fftn(ref) * np.conj(np.fft.fftn(moving))
    sel = ((kz**2 + ky**2 + kx**2) < kmax**2) & ((kz**2 + ky**2 + kx**2) > 0)
    K = np.stack([kz[sel], ky[sel], kx[sel]], 1)
    phase = np.angle(R[sel])
    w = np.abs(R[sel])
    A = -2 * np.pi * K * np.sqrt(w)[:, None]
    sol, *_ = np.linalg.lstsq(A, phase * np.sqrt(w), rcond=None)
    return [round(float(v), 3) for v in sol]


def fsc_numpy(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    D = a.shape[0]
    fa = np.fft.fftshift(np.fft.fftn(a))
    fb = np.fft.fftshift(np.fft.fftn(b))
    g = np.arange(D) - D // 2
    z, y, x = np.meshgrid(g, g, g, indexing="ij")
    shell = np.round(np.sqrt(x * x + y * y + z * z)).astype(int).ravel()
    n = D // 2 + 1
    keep = shell < n
    s = shell[keep]
    fa, fb = fa.ravel()[keep], fb.ravel()[keep]
    num = np.bincount(s, (fa * np.conj(fb)).real, minlength=n)
    den = np.sqrt(np.bincount(s, np.abs(fa) ** 2, minlength=n) * np.bincount(s, np.abs(fb) ** 2, minlength=n))
    return np.arange(n) / D, np.divide(num, den, out=np.zeros(n), where=den > 0)


def crossing(freq, curve, thr):
    below = np.nonzero(curve[1:] < thr)[0]
    return float(freq[below[0] + 1]) if len(below) else float(freq[-1])


# ------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=str(WORK / "bp_sim2000"),
                   help="dataset folder (made with `cryolatent simulate` if missing; default: %(default)s)")
    p.add_argument("-n", "--n-particles", type=int, default=2000)
    p.add_argument("-D", "--box", type=int, default=64)
    p.add_argument("--snr", type=float, default=0.0, help="0 = noise-free (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--volumes", nargs="+", help="simulate from these maps instead of the built-in molecule")
    p.add_argument("--outdir", default=str(WORK / "compare_backprojection"))
    p.add_argument("--results", default=str(BENCH / "RESULTS.md"), help="markdown file to update ('' = none)")
    p.add_argument("--reuse", action="store_true", help="reuse existing maps in --outdir")
    p.add_argument("--nice", type=int, default=10)
    args = p.parse_args(argv)

    ds = Path(args.dataset).resolve()
    out = Path(args.outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    commands = {}
    prev_report = out / "report.json"
    prev_commands = json.loads(prev_report.read_text()).get("commands", {}) if prev_report.exists() else {}

    if not (ds / "particles.mrcs").exists():
        cmd = [CRYOLATENT, "simulate", "-o", ds, "-n", str(args.n_particles), "-D", str(args.box),
               "--snr", str(args.snr), "--seed", str(args.seed), "--no-progress", "--force"]
        if args.volumes:
            cmd += ["--volumes", *[Path(v).resolve() for v in args.volumes]]
        commands["simulate"] = run(cmd, out / "simulate.log", args.nice)

    parts, poses, ctf = ds / "particles.mrcs", ds / "poses.pkl", ds / "ctf.pkl"
    drgn_dir = out / "drgn"
    drgn_map = drgn_dir / "backproject.mrc"
    ours_map = out / "ours.mrc"
    if args.reuse:  # keep the record of the runs that made the maps being reused
        commands.update({k: v for k, v in prev_commands.items() if k != "fsc"})
    if not (args.reuse and drgn_map.exists()):
        commands["cryodrgn"] = run([CRYODRGN, "backproject_voxel", parts, "--poses", poses, "--ctf", ctf,
                                    "-o", drgn_dir], out / "cryodrgn_backproject.log", args.nice)
    if not (args.reuse and ours_map.exists()):
        commands["cryolatent"] = run([CRYOLATENT, "backproject", parts, "--poses", poses, "--ctf", ctf,
                                      "-o", ours_map, "--force", "--no-progress"],
                                     out / "cryolatent_backproject.log", args.nice)
    fsc_txt = out / "fsc_drgn_vs_ours.txt"
    commands["fsc"] = run([CRYOLATENT, "fsc", drgn_map, ours_map, "--out-txt", fsc_txt, "--force"],
                          out / "cryolatent_fsc.log", 0)
    fsc_cli_output = (out / "cryolatent_fsc.log").read_text().strip()

    drgn, drgn_hdr = read_map(drgn_map)
    ours, ours_hdr = read_map(ours_map)
    labels = np.load(ds / "labels.npy")
    gt_files = sorted((ds / "gt_volumes").glob("vol_*.mrc"))
    counts = np.bincount(labels, minlength=len(gt_files))
    gt = sum(c * read_map(f)[0] for c, f in zip(counts, gt_files) if c) / counts.sum()
    gt_hdr = read_map(gt_files[0])[1]
    D = gt.shape[0]
    mask = sphere(D, D // 2 - 1)

    maps = {"cryodrgn": drgn, "cryolatent": ours}
    report = {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "dataset": {"folder": rel(ds), "n_particles": int(len(labels)), "box": D,
                    "simulation": (ds / "simulation.yaml").read_text() if (ds / "simulation.yaml").exists() else None,
                    "ground_truth": "particle-count-weighted mean of gt_volumes/vol_*.mrc"},
        "commands": commands,
        "headers": {"cryodrgn": drgn_hdr, "cryolatent": ours_hdr, "ground_truth": gt_hdr},
        "corr": {}, "corr_masked": {}, "best_transform": {}, "center_of_mass_zyx": {}, "fsc": {},
    }

    variants = {
        "identity": gt,
        "flip_z (np.flip axis 0)": np.flip(gt, 0),
        "flip_z about centre (flip+roll 1)": flip_centered(gt, 0),
        "negated (-1x)": -gt,
    }
    for ax, nm in enumerate("zyx"):
        for s in (1, -1):
            variants[f"shift {nm}{s:+d}"] = np.roll(gt, s, ax)
    report["corr"]["cryodrgn_vs_cryolatent"] = round(corr(drgn, ours), 4)
    report["corr_masked"]["cryodrgn_vs_cryolatent"] = round(corr(drgn, ours, mask), 4)
    for name, m in maps.items():
        report["corr"][f"{name}_vs_gt"] = {k: round(corr(m, v), 4) for k, v in variants.items()}
        report["corr_masked"][f"{name}_vs_gt"] = {k: round(corr(m, v, mask), 4) for k, v in variants.items()}

    bt = {
        "cryolatent -> cryodrgn": best_transform(ours, drgn),
        "cryodrgn -> gt": best_transform(drgn, gt),
        "cryolatent -> gt": best_transform(ours, gt),
    }
    for k, v in bt.items():
        ident = next(d for d in v if d["transform"] == "identity" and d["sign"] == 1)
        report["best_transform"][k] = {"best": v[0], "runner_up": v[1], "identity_best_shift": ident,
                                       "best_mirror": next(d for d in v if d["det"] < 0)}

    com = {"ground_truth": center_of_mass(gt), "cryodrgn": center_of_mass(drgn), "cryolatent": center_of_mass(ours)}
    report["center_of_mass_zyx"] = {k: [round(float(x), 3) for x in v] for k, v in com.items()}
    report["center_of_mass_zyx"]["cryolatent_minus_cryodrgn"] = [
        round(float(x), 3) for x in com["cryolatent"] - com["cryodrgn"]]
    report["subvoxel_shift_zyx"] = {
        "cryolatent -> cryodrgn": subvoxel_shift(ours, drgn),
        "cryodrgn -> gt": subvoxel_shift(drgn, gt),
        "cryolatent -> gt": subvoxel_shift(ours, gt),
    }

    apix = drgn_hdr["voxel_size"][0] or 1.0
    pairs = {"cryodrgn_vs_cryolatent": (drgn, ours), "cryodrgn_vs_gt": (drgn, gt), "cryolatent_vs_gt": (ours, gt)}
    for k, (a, b) in pairs.items():
        freq, c = fsc_numpy(a, b)
        f05, f0143 = crossing(freq, c, 0.5), crossing(freq, c, 0.143)
        report["fsc"][k] = {
            "res_0.5_A": round(apix / f05, 2) if f05 > 0 else None,
            "res_0.143_A": round(apix / f0143, 2) if f0143 > 0 else None,
            "auc": round(float(c.mean()), 4),
            "curve": [round(float(x), 4) for x in c],
        }
    report["fsc"]["cryolatent_fsc_cli"] = fsc_cli_output

    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (out / "report.md").write_text(md)
    print(md)
    if args.results:
        update_results(Path(args.results), md)
    return 0


def markdown(r: dict) -> str:
    c, cm = r["corr"], r["corr_masked"]
    L = [HEADING, "", BEGIN, "",
         f"Generated by `bench/compare_backprojection.py` on {r['created']}; raw numbers in "
         f"`bench/work/compare_backprojection/report.json`.", "",
         f"Dataset: `{r['dataset']['folder']}`, {r['dataset']['n_particles']} particles, box {r['dataset']['box']}; "
         "ground truth = particle-count-weighted mean of the ground-truth volumes.", "",
         "Commands (run from the repository root):", "", "```"]
    for k, v in r["commands"].items():
        L.append(f"# {k}: {v['wall_s']} s wall (2-core shared machine)" if k in ("cryodrgn", "cryolatent", "simulate")
                 else f"# {k}")
        L.append(v["command"].replace(str(REPO) + "/", ""))
    L += ["```", "",
          f"Correlation cryoDRGN map vs cryolatent map: **{c['cryodrgn_vs_cryolatent']}** "
          f"(inside a sphere of radius D/2-1: {cm['cryodrgn_vs_cryolatent']}).", "",
          "Real-space correlation of each map with the ground truth and with transformed ground truths "
          "(whole box / inside the sphere):", "",
          "| ground truth variant | cryoDRGN | cryolatent |", "|---|---|---|"]
    for k in c["cryodrgn_vs_gt"]:
        L.append(f"| {k} | {c['cryodrgn_vs_gt'][k]} / {cm['cryodrgn_vs_gt'][k]} | "
                 f"{c['cryolatent_vs_gt'][k]} / {cm['cryolatent_vs_gt'][k]} |")
    L += ["", "Best of 48 axis permutations/flips x sign x all integer shifts (FFT search; shift is (z, y, x) "
          "voxels applied to the moving map):", "",
          "| moving -> reference | best transform | sign | shift zyx | corr | identity: best shift, corr | best mirror (det -1), corr |",
          "|---|---|---|---|---|---|---|"]
    for k, v in r["best_transform"].items():
        b, i, m = v["best"], v["identity_best_shift"], v["best_mirror"]
        L.append(f"| {k} | {b['transform']} | {b['sign']:+d} | {b['shift_zyx']} | {b['corr']} | "
                 f"{i['shift_zyx']}, {i['corr']} | {m['transform']} {m['shift_zyx']}, {m['corr']} |")
    com = r["center_of_mass_zyx"]
    L += ["", f"Centre of mass (z, y, x voxels from D//2, positive density): ground truth {com['ground_truth']}, "
              f"cryoDRGN {com['cryodrgn']}, cryolatent {com['cryolatent']} "
              f"(cryolatent - cryoDRGN = {com['cryolatent_minus_cryodrgn']}).", "",
          "Sub-voxel translation (z, y, x voxels; phase-slope fit over |k| < 0.25/voxel; "
          "the reference equals the moving map shifted by this): "
          + "; ".join(f"{k}: {v}" for k, v in r["subvoxel_shift_zyx"].items()) + ".", "",
          "FSC (numpy, unmasked, shells of one Fourier voxel; resolution in A at 0.5 / 0.143, "
          "the Nyquist value when the curve never drops below; AUC = mean FSC over shells 0..Nyquist; "
          "the last two shells are listed because they differ most):", "",
          "| pair | FSC=0.5 | FSC=0.143 | AUC | FSC shell D/2-1 | FSC shell D/2 |", "|---|---|---|---|---|---|"]
    for k in ("cryodrgn_vs_cryolatent", "cryodrgn_vs_gt", "cryolatent_vs_gt"):
        f = r["fsc"][k]
        L.append(f"| {k} | {f['res_0.5_A']} | {f['res_0.143_A']} | {f['auc']} | {f['curve'][-2]} | {f['curve'][-1]} |")
    L += ["", "`cryolatent fsc` on the two maps:", "", "```", r["fsc"]["cryolatent_fsc_cli"], "```", "",
          "Headers: cryoDRGN " + json.dumps(r["headers"]["cryodrgn"]) + "; cryolatent "
          + json.dumps(r["headers"]["cryolatent"]) + "; ground truth " + json.dumps(r["headers"]["ground_truth"]),
          "", END, ""]
    return "\n".join(L)


def update_results(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    if BEGIN in text and END in text:
        start = text.index(HEADING) if HEADING in text else text.index(BEGIN)
        stop = text.index(END) + len(END)
        text = text[:start] + section.rstrip("\n") + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(f"updated {path}")


if __name__ == "__main__":
    sys.exit(main())
