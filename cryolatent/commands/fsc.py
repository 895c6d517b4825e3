"""Fourier shell correlation between two maps.

Prints the resolution at FSC 0.5 and 0.143 and the normalised area under the
curve; optionally writes the curve (--out-txt) and a plot (--plot).
"""

from __future__ import annotations

import argparse

import numpy as np

from cryolatent import io as clio
from cryolatent.errors import InputError
from cryolatent import pl
from cryolatent.reconstruct.fsc import fsc, soft_sphere_mask
from cryolatent.outputs import atomic_path, check_writable

NAME = "fsc"
HELP = "FSC curve, resolution (0.5, 0.143) and AUC of two maps"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("map_a", metavar="A.mrc")
    parser.add_argument("map_b", metavar="B.mrc")
    parser.add_argument("--mask", nargs="?", const="sphere", metavar="MASK.mrc",
                        help="real-space mask: a .mrc file, or no value for a soft sphere")
    parser.add_argument("--apix", type=float, help="pixel size (A); default: from the header of A")
    parser.add_argument("--out-txt", help="write the curve here")
    parser.add_argument("--plot", help="write a PNG plot here")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")


def run(args: argparse.Namespace) -> int:
    for out in (args.out_txt, args.plot):  # refuse before writing anything
        if out:
            check_writable(out, args.force)
    vol_a, apix_a = clio.read_volume(args.map_a)
    vol_b, _ = clio.read_volume(args.map_b)
    if vol_a.shape != vol_b.shape:
        raise InputError(f"shape {vol_b.shape} differs from {args.map_a}'s {vol_a.shape}", args.map_b)
    mask = None
    if args.mask == "sphere":
        mask = soft_sphere_mask(vol_a.shape[0])
    elif args.mask:
        mask, _ = clio.read_volume(args.mask)
        if mask.shape != vol_a.shape:
            raise InputError(f"mask shape {mask.shape} differs from the maps' {vol_a.shape}", args.mask)
    apix = args.apix or apix_a or 1.0
    res = fsc(vol_a, vol_b, mask=mask, apix=apix)
    if args.out_txt:
        with atomic_path(args.out_txt, args.force) as tmp:
            tmp.write_text(res.to_text())
    if args.plot:
        pl.savefig(pl.fsc({"A vs B": res}), args.plot, args.force)
    print(f"FSC 0.5: {res.resolution_05:.2f} A")
    print(f"FSC 0.143: {res.resolution_0143:.2f} A")
    print(f"AUC: {res.auc:.4f}")
    if not np.isfinite(res.fsc).all():  # pragma: no cover - defensive
        raise InputError("FSC is not finite (empty maps?)", args.map_a)
    return 0
