"""Generate volumes of latent points from a trained run (ours, or a cryoDRGN ``train_vae`` folder).

Writes DIR/vol_000.mrc, DIR/vol_001.mrc, ... one per latent point, in order:
all of them or, on a failure, none. The voxel size is the pixel size of the
training particles (--apix, else the run's files: particle headers, .star/.cs,
the CTF), scaled for --downsample; without one the headers have voxel size 0
(unknown).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cryolatent.commands._args import add_apix
from cryolatent.errors import InputError
from cryolatent.io import write_volume
from cryolatent.outputs import atomic_paths, check_folder, check_writable
from cryolatent.training.evaluate import check_box, check_z, eval_volumes, read_z
from cryolatent.training.cryodrgn_run import open_run

NAME = "eval-vol"
HELP = "generate volumes from a trained run at given latent points"


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent eval-vol``."""
    parser.add_argument("outdir", help="training output folder (cryolatent's, or cryoDRGN train_vae's)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--z", help='one latent point, e.g. "0.1 -0.2 ..." (zdim values)')
    src.add_argument("--zfile", help="latent points, one a row (.npy, .txt, or cryoDRGN .pkl)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--epoch", type=int, default=None,
                        help="checkpoint epoch (default: latest; for a cryoDRGN run, weights.EPOCH.pkl)")
    parser.add_argument("--downsample", type=int, default=None, help="output box size (even, <= training box)")
    add_apix(parser, "the run's particles'; the volumes' voxels are this, scaled for --downsample")
    parser.add_argument("--flip", action="store_true", help="flip handedness (mirror along z)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--force", action="store_true", help="overwrite existing volumes")


def _z_points(args: argparse.Namespace, zdim: int) -> np.ndarray:
    """The latent points of ``--z`` or ``--zfile``, checked against ``zdim``."""
    if args.zfile:
        return check_z(read_z(args.zfile), zdim, args.zfile)
    if args.z is not None:
        try:
            z = np.array([float(v) for v in args.z.replace(",", " ").split()], dtype=np.float32)
        except ValueError:
            raise InputError(f"--z must be numbers, got {args.z!r}") from None
        return check_z(z[None], zdim, "--z")
    if zdim:
        raise InputError(f"pass --z or --zfile (the model has zdim = {zdim})")
    return np.zeros((1, 0), np.float32)


def run(args: argparse.Namespace) -> int:
    """Check every input and output, evaluate, then write the volumes."""
    out = check_folder(args.output)
    trained = open_run(args.outdir)
    model, ckpt = trained.load_model(args.epoch, args.device)
    z = _z_points(args, model.zdim)
    D = int(ckpt["D"])
    n = check_box(args.downsample, D)
    names = [out / f"vol_{i:03d}.mrc" for i in range(len(z))]
    for name in names:  # refuse before computing anything
        check_writable(name, args.force)
    particle_apix = args.apix or trained.pixel_size()
    apix = None if particle_apix is None else particle_apix * D / n
    with atomic_paths(names, args.force) as tmps:  # one volume in memory at a time
        for tmp, zi in zip(tqdm(tmps, desc="volumes", unit="vol", disable=len(tmps) < 2), z):
            vol = eval_volumes(args.outdir, zi[None], downsample=args.downsample, flip=args.flip,
                               model=model, norm=float(ckpt["norm"]))[0]
            write_volume(tmp, vol, apix=apix, force=True)
    size = f"{apix:.3f} A voxels" if apix else "voxel size unknown: no pixel size in the run's files; give --apix"
    print(f"wrote {len(names)} volume(s) of {n}^3 voxels ({size}) to {Path(out)}")
    return 0
