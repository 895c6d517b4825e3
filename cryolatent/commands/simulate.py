"""Simulate a particle dataset with ground truth.

Without --volumes: a built-in flexible molecule of Gaussian blobs, chosen by
--molecule: hinge (the default: one arm on a hinge, an extra domain in half the
particles) or two-domain (two arms on independent hinges, t and t2, and a larger
extra domain in 5% of the particles). With --volumes: each
particle projects one of the given maps, picked at random. Writes
particles.mrcs, poses.pkl, ctf.pkl, particles.star, labels.npy,
ground_truth.npz, gt_volumes/ and simulation.yaml into OUTDIR: all of them, or on a
failure nothing (nor the parent folders made for OUTDIR).
"""

from __future__ import annotations

import argparse

from cryolatent.datasets.simulate import MOLECULES, simulate_dataset
from cryolatent.outputs import check_folder, naming, new_folders

NAME = "simulate"
HELP = "simulate particles (built-in flexible molecule or your maps) with ground truth"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.add_argument("-n", "--n-particles", type=int, default=2000, help="number of particles")
    parser.add_argument("-D", "--box", type=int, default=64, help="box size (pixels, even)")
    parser.add_argument("--apix", type=float, default=3.0, help="pixel size (A)")
    parser.add_argument("--snr", type=float, default=0.1, help="signal-to-noise ratio; 0 = no noise")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--molecule", choices=list(MOLECULES), default="hinge",
                        help="built-in molecule: hinge (one hinge, extra domain in 50%%) or two-domain "
                             "(two independent hinges t, t2; extra domain in 5%%)")
    parser.add_argument("--volumes", nargs="+", metavar="MRC", help="maps to project instead of the built-in molecule")
    parser.add_argument("--max-shift", type=float, default=3.0, help="largest in-plane shift (pixels)")
    parser.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    out = check_folder(args.outdir, empty=True, force=args.force)  # creates nothing
    with new_folders(out), naming(out):  # parent folders made for OUTDIR go again if the simulation fails
        outdir = _simulate(args)
    print(f"wrote {args.n_particles} particles to {outdir}/ (particles.mrcs, poses.pkl, ctf.pkl, particles.star)")
    return 0


def _simulate(args: argparse.Namespace):
    return simulate_dataset(
        args.outdir,
        n_particles=args.n_particles,
        box=args.box,
        apix=args.apix,
        snr=args.snr or None,
        seed=args.seed,
        molecule=args.molecule,
        volumes=args.volumes,
        max_shift_px=args.max_shift,
        force=args.force,
        progress=not args.no_progress,
    )
