"""Make a project folder for your particles (or for the embedded default with --demo).

The project records the particle source, its pixel size and the training box;
every later step (preprocessing, consensus map, runs, selections, exports)
reads it and records what it made. Nothing is copied: the particle files are
read where they are.

Examples:
  cryolatent init myproj --particles Refine3D/job012/run_data.star --datadir . --box 128
  cryolatent init myproj --particles J42/J42_particles.cs --datadir /path/to/cryosparc/project
  cryolatent init myproj --particles particles.mrcs --poses poses.pkl --ctf ctf.pkl --apix 1.1
  cryolatent init demo --demo
"""

from __future__ import annotations

import argparse

from cryolatent.errors import InputError
from cryolatent.project import Project

NAME = "init"
HELP = "make a project folder for your particles (or the embedded default)"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the project folder (new or empty)")
    parser.add_argument("--particles", help="particle file: RELION .star, cryoSPARC .cs, .mrcs or .txt")
    parser.add_argument("--datadir", help="folder that the stack paths in a .star/.cs are relative to")
    parser.add_argument("--poses", help="cryoDRGN poses.pkl (or .star/.cs) when the particle file has none")
    parser.add_argument("--ctf", help="cryoDRGN ctf.pkl (or .star/.cs) when the particle file has none")
    parser.add_argument("--apix", type=float, help="pixel size (A) when the files do not have it, or to override it")
    parser.add_argument("--box", type=int, help="training box: particles are Fourier-cropped to it once "
                                                "[default: the particles' box, at most 128]")
    parser.add_argument("--demo", nargs="?", const="default", metavar="DATASET",
                        help="a project on the embedded default (a simulated dataset: default, tiny)")
    parser.add_argument("--force", action="store_true", help="make the project in a folder that is not empty")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.demo:
        if args.particles:
            raise InputError("--demo and --particles: give one of them")
        project = Project.demo(args.dir, args.demo, box=args.box, force=args.force, progress=not args.no_progress)
    elif not args.particles:
        raise InputError("--particles: give your particle file (or --demo for the embedded default)")
    else:
        project = Project.create(args.dir, args.particles, datadir=args.datadir, poses=args.poses, ctf=args.ctf,
                                 apix=args.apix, box=args.box, force=args.force)
    print(project.tree())
    return 0
