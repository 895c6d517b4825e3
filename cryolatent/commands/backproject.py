"""CTF-weighted (Wiener) back-projection of particles with known poses.

Writes the map (-o X.mrc), two half-maps (X_half_a.mrc, X_half_b.mrc) from a
random split of the particles, and their FSC (X_fsc.txt, X_fsc.png): all of
them or, on a failure, none. Poses and CTF are read from --poses/--ctf (cryoDRGN
.pkl, .star or .cs), or else from the particle .star/.cs. The data sign is
inverted by default, as cryoDRGN does. The pixel size comes from the particle
files (or the CTF's apix column, or --apix); without one the maps' headers have
no voxel size and resolutions are in pixels.
"""

from __future__ import annotations

import argparse

from cryolatent.commands._args import add_apix, pixels_note
from cryolatent.consensus import consensus_map

NAME = "backproject"
HELP = "reconstruct a map by CTF-weighted back-projection, with half-maps and FSC"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("particles", metavar="PARTICLES", help=".mrcs, .txt, .star or .cs")
    parser.add_argument("-o", "--out", required=True, help="output map (.mrc)")
    parser.add_argument("--poses", help="poses (.pkl, .star or .cs); default: from PARTICLES")
    parser.add_argument("--ctf", help="CTF parameters (.pkl, .star or .cs); default: from PARTICLES")
    parser.add_argument("--ind", help="index file (.pkl) selecting particles")
    parser.add_argument("--datadir", help="folder of the stacks a .star/.cs refers to")
    add_apix(parser, "from PARTICLES' headers or metadata, else the CTF")
    parser.add_argument("--uninvert-data", dest="invert_data", action="store_false", help="do not invert the data sign")
    parser.add_argument("--no-ctf", dest="use_ctf", action="store_false", help="ignore the CTF")
    parser.add_argument("--pad", type=int, default=2, choices=(1, 2), help="Fourier oversampling (1 saves memory)")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    rec = consensus_map(
        args.particles,
        args.out,
        poses=args.poses,
        ctf=args.ctf,
        ind=args.ind,
        datadir=args.datadir,
        invert_data=args.invert_data,
        use_ctf=args.use_ctf,
        pad=args.pad,
        force=args.force,
        progress=not args.no_progress,
        apix=args.apix,
    )
    res = rec.fsc
    print(
        f"{args.out}: {rec.n_particles} particles; half-map FSC 0.5: {res.format(res.resolution_05)}, "
        f"0.143: {res.format(res.resolution_0143)}, AUC {res.auc:.3f}"
    )
    if rec.apix is None:
        print(pixels_note(f"{args.particles} gives none; the maps' headers have voxel size 0"))
    return 0
