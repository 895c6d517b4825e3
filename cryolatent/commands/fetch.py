"""Download a dataset (a URL or a name from data_manifest.yaml) or generate a simulated one.

A URL is saved to -o (a file, or an existing folder); a manifest name is
written into the folder -o. With --sha256 the download is verified and
discarded on mismatch; without a known checksum nothing is verified, and a
warning says so.
"""

from __future__ import annotations

import argparse

from cryolatent.datasets import manifest as datasets
from cryolatent.errors import InputError

NAME = "fetch"
HELP = "download a dataset (URL or manifest name) or generate a simulated one"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME|URL", help="manifest name or URL")
    parser.add_argument("-o", "--out", dest="out", help="destination file or folder")
    parser.add_argument("--sha256", help="expected sha256 (hex) of a URL's file")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--list", action="store_true", help="list the manifest's datasets")
    parser.add_argument("--manifest", help="a manifest YAML (default: the repository's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.list:
        manifest = datasets.load_manifest(args.manifest)
        for name, entry in manifest["datasets"].items():
            print(datasets.summary(name, entry))
        return 0
    if not args.name or not args.out:
        raise InputError("give NAME|URL and -o DEST (or --list)")
    path = datasets.fetch(
        args.name,
        args.out,
        sha256=args.sha256,
        force=args.force,
        manifest=args.manifest,
        progress=not args.no_progress,
    )
    print(path)
    if not datasets.is_url(args.name):
        steps = datasets.dataset_info(args.name, args.manifest).get("preprocess", [])
        if steps:
            print("next steps:")
            for step in steps:
                print(f"  {step}")
    return 0
