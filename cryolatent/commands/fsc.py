"""Fourier shell correlation between two maps.

Prints the resolution at FSC 0.5 and 0.143 and the normalised area under the
curve; optionally writes the curve (--out-txt) and a plot (--plot), both or
neither. The pixel size is --apix, else the voxel size in the header of A (or
of B); without one, resolutions are periods in pixels (px) and frequencies 1/px.
"""

from __future__ import annotations

import argparse

import numpy as np

from cryolatent import io as clio
from cryolatent import pl
from cryolatent.commands._args import add_apix, pixels_note
from cryolatent.errors import InputError
from cryolatent.outputs import atomic_paths, check_writable
from cryolatent.reconstruct.fsc import fsc, soft_sphere_mask

NAME = "fsc"
HELP = "FSC curve, resolution (0.5, 0.143) and AUC of two maps"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map_a", metavar="A.mrc")
    parser.add_argument("map_b", metavar="B.mrc")
    parser.add_argument("--mask", nargs="?", const="sphere", metavar="MASK.mrc",
                        help="real-space mask: a .mrc file, or no value for a soft sphere")
    add_apix(parser, "the voxel size in the header of A, else of B")
    parser.add_argument("--out-txt", help="write the curve here")
    parser.add_argument("--plot", help="write a PNG plot here")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")


def run(args: argparse.Namespace) -> int:
    outputs = [out for out in (args.out_txt, args.plot) if out]
    if len(set(outputs)) < len(outputs):
        raise InputError("--out-txt and --plot name the same file", args.plot)
    for out in outputs:  # refuse before reading or writing anything
        check_writable(out, args.force)
    vol_a, apix_a = clio.read_volume(args.map_a)
    vol_b, apix_b = clio.read_volume(args.map_b)
    if vol_a.shape != vol_b.shape:
        raise InputError(f"shape {vol_b.shape} differs from {args.map_a}'s {vol_a.shape}", args.map_b)
    for path, vol in ((args.map_a, vol_a), (args.map_b, vol_b)):
        if not np.isfinite(vol).all():
            raise InputError("the map has NaN or infinite voxels", path)
    mask = None
    if args.mask == "sphere":
        mask = soft_sphere_mask(vol_a.shape[0])
    elif args.mask:
        mask, _ = clio.read_volume(args.mask)
        if mask.shape != vol_a.shape:
            raise InputError(f"mask shape {mask.shape} differs from the maps' {vol_a.shape}", args.mask)
    apix = args.apix or apix_a or apix_b
    res = fsc(vol_a, vol_b, mask=mask, apix=apix)
    figure = pl.fsc({"A vs B": res}) if args.plot else None
    with atomic_paths(outputs, args.force) as tmps:
        written = dict(zip(outputs, tmps))
        if args.out_txt:
            written[args.out_txt].write_text(res.to_text())
        if figure is not None:
            pl.savefig(figure, written[args.plot], force=True)
    print(f"FSC 0.5: {res.format(res.resolution_05)}")
    print(f"FSC 0.143: {res.format(res.resolution_0143)}")
    print(f"AUC: {res.auc:.4f}")
    if res.apix is None:
        print(pixels_note(f"no voxel size in the headers of {args.map_a} and {args.map_b}"))
    return 0
