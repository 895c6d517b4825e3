"""The ``cryolatent`` command line: one subcommand per module in ``cryolatent.commands``.

Each command module defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_args(parser)`` and ``run(args)``; ``run`` only turns arguments into calls
to the library functions that the notebooks use too.

Every failure prints one line, ``cryolatent CMD: error: <file or argument>: <problem>``,
and exits non-zero. A failure that is not one of cryolatent's own errors (a
library's ``ValueError``, a torch error) also writes its traceback to a log file
named in that line; ``cryolatent --debug CMD ...`` raises it instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from typing import Sequence

from cryolatent import commands
from cryolatent._version import __version__
from cryolatent.errors import CryolatentError


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
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a failure")
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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException) -> str:
    """The one-line message of a failure: its file or argument first, where it names one."""
    if isinstance(exc, CryolatentError):
        return _one_line(exc)
    if isinstance(exc, OSError):
        what = exc.strerror or exc.__class__.__name__
        where = exc.filename if exc.filename is not None else ""
        return _one_line(f"{where}: {what}" if where else f"{what} ({exc})")
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size, box or subset)"
    message = _one_line(exc) or exc.__class__.__name__
    return f"{message} ({exc.__class__.__name__})"


def _log_traceback(command: str, exc: BaseException) -> str | None:
    """Write the traceback of an unexpected failure to a log file; its path, or None if it cannot be written."""
    try:
        fd, path = tempfile.mkstemp(prefix=f"cryolatent-{command}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return path
    except OSError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cryolatent`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        result = args._run(args)
    except KeyboardInterrupt:
        print(f"cryolatent {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure a user can cause: one line, the traceback in a log
        if args.debug:
            raise
        message = describe(exc)
        if not isinstance(exc, (CryolatentError, OSError)):
            log = _log_traceback(args.command, exc)
            if log:
                message += f" [traceback in {log}; --debug shows it]"
        print(f"cryolatent {args.command}: error: {message}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
