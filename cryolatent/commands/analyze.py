"""Analyse a trained run: latent PCA/UMAP, k-means, centre volumes, loss curve.

Writes a report folder (PNG plots, .mrc volumes, README.txt, index.html) that
opens without Jupyter; the LatentSet is saved in it for notebooks. The folder
appears complete or not at all. Without a pixel size (--apix, or the run's
files) the volumes' headers have voxel size 0 and README.txt says so.
"""

from __future__ import annotations

import argparse

from cryolatent.commands._args import add_apix, positive_int
from cryolatent.report import analyze

NAME = "analyze"
HELP = "report on a trained run: latent embeddings, clusters and their volumes"


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent analyze``."""
    parser.add_argument("run", metavar="RUN", help="training run folder (read, not changed)")
    parser.add_argument("-o", "--output", metavar="REPORT", default=None, help="report folder (default: RUN/analyze)")
    parser.add_argument("--k", type=positive_int, default=20, help="number of k-means clusters (centre volumes)")
    parser.add_argument("--no-umap", action="store_true", help="skip the UMAP")
    parser.add_argument("--n-fit", type=positive_int, default=20000, help="UMAP is fitted on this many particles")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--downsample", type=int, default=None, help="volume box size (even, <= training box)")
    add_apix(parser, "the run's particles'; the volumes' voxels are this, scaled for --downsample")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--force", action="store_true", help="replace an existing report")


def run(args: argparse.Namespace) -> int:
    """Write the report."""
    report = analyze(args.run, args.output, k=args.k, force=args.force, umap=not args.no_umap,
                     n_fit=args.n_fit, seed=args.seed, downsample=args.downsample, device=args.device,
                     apix=args.apix)
    print(f"wrote the report to {report} (open {report / 'index.html'})")
    return 0
