"""The project's exceptions; the CLI prints each as one line.

:class:`CryolatentError` is the base; :class:`InputError` means a user's file or
argument is unusable, other subclasses (e.g. ``TrainingDiverged``) report a
computation that went wrong on good input.
"""

from __future__ import annotations

import os


class CryolatentError(Exception):
    """Base of cryolatent's own errors: a one-line message, no traceback needed."""


class InputError(CryolatentError, ValueError):
    """A user's file or argument is unusable.

    The message names the file (when there is one) and the problem, on one line,
    so that the CLI can print it as ``cryolatent: error: <message>``.
    """

    def __init__(self, problem: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        message = problem if path is None else f"{self.path}: {problem}"
        super().__init__(" ".join(message.split()))


def describe_error(exc: BaseException) -> str:
    """One line saying what went wrong: the message of a cryolatent error, ``FILE: problem`` for an
    operating-system error, ``message (ExceptionType)`` for anything else."""
    if isinstance(exc, CryolatentError):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError):
        what = exc.strerror or exc.__class__.__name__
        return f"{exc.filename}: {what}" if exc.filename is not None else " ".join(f"{what} ({exc})".split())
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size, box or subset)"
    message = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"{message} ({exc.__class__.__name__})"
