"""One exception type for bad user input, printed by the CLI as one line."""

from __future__ import annotations

import os


class InputError(ValueError):
    """A user's file or argument is unusable.

    The message names the file (when there is one) and the problem, on one line,
    so that the CLI can print it as ``cryolatent: error: <message>``.
    """

    def __init__(self, problem: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        message = problem if path is None else f"{self.path}: {problem}"
        super().__init__(" ".join(message.split()))
