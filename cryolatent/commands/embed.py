"""Embed particles with a trained encoder: write their latent means (N x zdim, .npy)."""

from __future__ import annotations

import argparse

from cryolatent.commands._args import positive_int
from cryolatent.outputs import check_writable, save_npy
from cryolatent.training.evaluate import embed

NAME = "embed"
HELP = "latent means of particles under a trained encoder"


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent embed``."""
    parser.add_argument("outdir", help="training output folder")
    parser.add_argument("particles", nargs="?", default=None, help="particles (default: the training set)")
    parser.add_argument("-o", "--output", required=True, help="output .npy file")
    parser.add_argument("--poses", default=None, help="poses (default: the run's, for its particles)")
    parser.add_argument("--ctf", default=None, help="CTF parameters (default: the run's, for its particles; "
                        "else from a .star/.cs PARTICLES)")
    parser.add_argument("--ind", default=None, help="index file of the particles to embed")
    parser.add_argument("--datadir", default=None, help="folder of the stacks named in a .star/.cs")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: latest)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="particles per batch")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--force", action="store_true", help="overwrite the output")


def run(args: argparse.Namespace) -> int:
    """Embed and write ``z``."""
    check_writable(args.output, args.force)
    z = embed(args.outdir, args.particles, poses=args.poses, ctf=args.ctf, ind=args.ind, datadir=args.datadir,
              epoch=args.epoch, batch_size=args.batch_size, device=args.device)
    save_npy(args.output, z, args.force)
    print(f"wrote {z.shape[0]} x {z.shape[1]} latent means to {args.output}")
    return 0
