"""Argument types and messages shared by the subcommands (not a subcommand: the name starts with ``_``)."""

from __future__ import annotations

import argparse
import math

from cryolatent.reconstruct.fsc import PIXELS_NOTE


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (e.g. a pixel size)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_apix(parser: argparse.ArgumentParser, what: str) -> None:
    """Register ``--apix``: the pixel size when the files do not give it (or to override them)."""
    parser.add_argument("--apix", type=positive_float, default=None, metavar="A",
                        help=f"pixel size in Angstrom (default: {what}; unknown: results in pixels)")


def pixels_note(where: str) -> str:
    """The line printed when no pixel size is known: results are in pixels."""
    return f"note: {PIXELS_NOTE} ({where}); give --apix for Angstrom"
