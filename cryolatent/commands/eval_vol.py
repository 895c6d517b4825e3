"""Generate volumes of latent points from a trained run.

Writes DIR/vol_000.mrc, DIR/vol_001.mrc, ... one per latent point, in order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cryolatent.errors import InputError
from cryolatent.io import write_volume
from cryolatent.outputs import check_writable
from cryolatent.training.evaluate import eval_volumes, read_z
from cryolatent.training.run import Run

NAME = "eval-vol"
HELP = "generate volumes from a trained run at given latent points"


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent eval-vol``."""
    parser.add_argument("outdir", help="training output folder")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--z", help='one latent point, e.g. "0.1 -0.2 ..." (zdim values)')
    src.add_argument("--zfile", help="latent points, one a row (.npy, .txt, or cryoDRGN .pkl)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: latest)")
    parser.add_argument("--downsample", type=int, default=None, help="output box size (even, <= training box)")
    parser.add_argument("--apix", type=float, default=None, help="voxel size (default: the particles')")
    parser.add_argument("--flip", action="store_true", help="flip handedness (mirror along z)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--force", action="store_true", help="overwrite existing volumes")


def _z_points(args, zdim: int) -> np.ndarray:
    if args.zfile:
        return read_z(args.zfile)
    if args.z is not None:
        try:
            z = np.array([float(v) for v in args.z.replace(",", " ").split()], dtype=np.float32)
        except ValueError:
            raise InputError(f"--z must be numbers, got {args.z!r}") from None
        return z[None]
    if zdim:
        raise InputError("pass --z or --zfile")
    return np.zeros((1, 0), np.float32)


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the volumes."""
    trained = Run.open(args.outdir)
    model, ckpt = trained.load_model(args.epoch, args.device)
    z = _z_points(args, model.zdim)
    D = int(ckpt["D"])
    out = Path(args.output)
    names = [out / f"vol_{i:03d}.mrc" for i in range(len(z))]
    for name in names:  # refuse before computing anything
        check_writable(name, args.force)
    apix = args.apix or trained.pixel_size() or 1.0  # TODO(#9): report in pixels when unknown
    n = args.downsample or D
    if args.downsample:
        apix = apix * D / n
    vols = eval_volumes(args.outdir, z, downsample=args.downsample, flip=args.flip,
                        model=model, norm=float(ckpt["norm"]))
    if len(vols) != len(names):
        raise InputError("internal error: volume count mismatch")
    for name, vol in zip(names, vols):
        write_volume(name, vol, apix=apix, force=args.force)
    print(f"wrote {len(names)} volume(s) of {n}^3 voxels ({apix:.3f} A) to {out}")
    return 0
