"""Downsample a particle stack by Fourier cropping to a smaller box (-D), in chunks.

PARTICLES may be an .mrcs stack, a .txt list of stacks, a RELION .star or a
cryoSPARC .cs file. The output .mrcs has pixel size apix * D / D_new, where apix
is --apix or the input's (MRC header, .star optics, .cs records); without one
the output header has voxel size 0 (unknown).
"""

from __future__ import annotations

import argparse

from cryolatent.commands._args import add_apix
from cryolatent.io.downsample import downsample_stack
from cryolatent.io.mrc import read_mrc_header

NAME = "downsample"
HELP = "downsample particle images by Fourier cropping"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("particles", metavar="PARTICLES", help=".mrcs, .txt, .star or .cs")
    parser.add_argument("-D", type=int, required=True, dest="D", help="new box size (even)")
    parser.add_argument("-o", "--out", required=True, help="output .mrcs")
    parser.add_argument("--chunk-size", type=int, default=1000, help="images per chunk")
    parser.add_argument("--datadir", help="folder of the stacks a .star/.cs refers to")
    add_apix(parser, "PARTICLES' headers or metadata")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    downsample_stack(
        args.particles,
        args.D,
        args.out,
        chunk_size=args.chunk_size,
        force=args.force,
        progress=not args.no_progress,
        datadir=args.datadir,
        apix=args.apix,
    )
    print(args.out)
    if read_mrc_header(args.out).apix is None:
        print(f"note: the pixel size is unknown ({args.particles} gives none): {args.out} has voxel size 0; "
              "give --apix to record one")
    return 0
