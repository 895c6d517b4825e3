"""The ``cryolatent`` command line: one subcommand per module in ``cryolatent.commands``.

Each command module defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_args(parser)`` and ``run(args)``; ``run`` only turns arguments into calls
to the library functions that the notebooks use too.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from cryolatent import commands
from cryolatent._version import __version__
from cryolatent.errors import CryolatentError, InputError


def _command_modules() -> list:
    modules = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        modules.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="cryolatent",
        description="Heterogeneous cryo-EM reconstruction (cryoDRGN-compatible files).",
    )
    parser.add_argument("--version", action="version", version=f"cryolatent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=(module.__doc__ or module.HELP).strip(),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.add_args(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cryolatent`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        result = args._run(args)
    except CryolatentError as exc:
        print(f"cryolatent {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cryolatent {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
