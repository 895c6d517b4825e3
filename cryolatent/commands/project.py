"""Show a project: its particle source, pixel size, training box, and the tree of runs and selections."""

from __future__ import annotations

import argparse

from cryolatent.project import Project

NAME = "project"
HELP = "show a project's source, runs and selections"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the project folder")


def run(args: argparse.Namespace) -> int:
    print(Project.open(args.dir).tree())
    return 0
