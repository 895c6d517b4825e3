#!/usr/bin/env python3
"""Does cryoDRGN 4.3.1 accept the index file a cryolatent project exports?

1. makes a project on the ``tiny`` embedded default (``bench/work/ind_check``), trains one
   short run, keeps two thirds of its particles and exports them as ``keep.pkl``;
2. runs ``cryodrgn train_vae`` (external program, ``bench/.venv-cryodrgn``) on the project's
   preprocessed stack with ``--ind keep.pkl`` for one epoch;
3. checks that cryoDRGN trained on exactly those particles (its ``z.pkl`` has one row per
   kept particle), that ``cl.LatentSet.from_cryodrgn`` opens the run with the same original
   indices, and records the result in ``bench/RESULTS.md`` (unless ``--no-results``).

cryoDRGN is never imported: it only runs as a subprocess.

Example::

    .venv/bin/python bench/check_cryodrgn_ind.py
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import cryolatent as cl
from cryolatent.io.pkl import load_pkl

BENCH = Path(__file__).resolve().parent
CRYODRGN = BENCH / ".venv-cryodrgn" / "bin" / "cryodrgn"
SECTION = "## cryoDRGN reads cryolatent's index files"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=str(BENCH / "work" / "ind_check"))
    p.add_argument("--no-results", action="store_true", help="do not touch bench/RESULTS.md")
    args = p.parse_args(argv)
    if not CRYODRGN.exists():
        print(f"no cryoDRGN at {CRYODRGN}: run bash bench/setup_cryodrgn.sh first", file=sys.stderr)
        return 2
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    project = cl.Project.demo(work / "project", "tiny", box=32, progress=False)
    project.train("first", preset="tiny", zdim=2, epochs=1, progress=False)
    ls = project.latent("first")
    keep = cl.Selection.from_indices(ls, np.flatnonzero(np.arange(len(ls)) % 3 != 0), name="keep")
    ind = project.export(keep, ls, work / "keep.pkl")
    data = project.preprocess()
    out = work / "cryodrgn_run"
    cmd = [str(CRYODRGN), "train_vae", str(data["particles"]), "--poses", str(data["poses"]), "--ctf",
           str(data["ctf"]), "--ind", str(ind), "--zdim", "2", "-n", "1", "--enc-dim", "32", "--enc-layers", "2",
           "--dec-dim", "32", "--dec-layers", "2", "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    log = res.stdout + res.stderr
    z_files = sorted(out.glob("z*.pkl")) if out.exists() else []
    if res.returncode or not z_files:
        print(log[-3000:], file=sys.stderr)
        print("cryoDRGN did not train with the exported index file", file=sys.stderr)
        return 1
    z = load_pkl(z_files[-1])  # the restricted unpickler: arrays only
    filtered = re.findall(r"[Ff]iltered .*? (\d+) particles", log)
    ok = len(z) == len(keep)
    back = cl.LatentSet.from_cryodrgn(out)  # and cryolatent opens cryoDRGN's run, indices intact
    same = np.array_equal(back.obs["orig_index"].to_numpy(), keep.orig_index(ls))
    ok = ok and same
    line = (f"`cryodrgn train_vae ... --ind keep.pkl` on a project's preprocessed stack: trained on {len(z)} "
            f"particles, the {len(keep)} kept of {len(ls)} ({'as expected' if len(z) == len(keep) else 'MISMATCH'}"
            f"{'; its log: filtered to ' + filtered[-1] if filtered else ''}). `cl.LatentSet.from_cryodrgn` opens "
            f"that run with the same original indices: {'yes' if same else 'NO'}.")
    print(line)
    if not args.no_results:
        results = BENCH / "RESULTS.md"
        text = results.read_text()
        block = f"{SECTION}\n\nCommand: `.venv/bin/python bench/check_cryodrgn_ind.py`\n\n{line}\n"
        if SECTION in text:
            start = text.index(SECTION)
            end = text.find("\n## ", start + len(SECTION))
            text = text[:start] + block + (text[end:] if end >= 0 else "")
        else:
            text = text.rstrip() + "\n\n" + block
        results.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
