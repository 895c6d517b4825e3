"""The ``cryolatent`` command line: one subcommand per module in ``cryolatent.commands``.

Each command module defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_args(parser)`` and ``run(args)``; ``run`` only turns arguments into calls
to the library functions that the notebooks use too.

Every failure prints one line, ``cryolatent CMD: error: <file or argument>: <problem>``,
and exits non-zero (2 for a malformed command line, 1 otherwise). A failure that
is not one of cryolatent's own errors (a library's ``ValueError``, a torch error)
also writes its traceback to a log file named in that line; ``cryolatent --debug
CMD ...`` raises it instead. Warnings (Python's and logged ones) are one line
each too: ``cryolatent CMD: warning: <message>``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import tempfile
import traceback
import warnings
from typing import Iterator, Sequence

from cryolatent import commands
from cryolatent._version import __version__
from cryolatent.errors import CryolatentError, describe_error


def _command_modules() -> list:
    modules = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        modules.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return modules


class UsageError(Exception):
    """A malformed command line (argparse's error), printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse without the usage block on an error: one line, ``PROG: error: MESSAGE (see PROG --help)``."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        raise UsageError(f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = _Parser(
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
    return describe_error(exc)


def _log_traceback(command: str, exc: BaseException) -> str | None:
    """Write the traceback of an unexpected failure to a log file; its path, or None if it cannot be written."""
    try:
        fd, path = tempfile.mkstemp(prefix=f"cryolatent-{command}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return path
    except OSError:
        return None


class _OneLine(logging.Formatter):
    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        return f"cryolatent {self.command}: {record.levelname.lower()}: {_one_line(record.getMessage())}"


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Print Python warnings and cryolatent's logged warnings as ``cryolatent CMD: warning: ...`` lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"cryolatent {command}: warning: {_one_line(message)}", file=sys.stderr)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(command))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("cryolatent")
    logger.addHandler(handler)
    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        finally:
            logger.removeHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cryolatent`` script; returns the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse would say so as the top-level parser; name the command instead
            prog = f"cryolatent {args.command}" if getattr(args, "command", None) else "cryolatent"
            raise UsageError(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see {prog} --help)")
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        with one_line_warnings(args.command):
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
