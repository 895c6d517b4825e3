"""A ``cryolatent`` command running in its own process, with its progress: what the panel's
"train in the background" starts, so the notebook's kernel stays free."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


class BackgroundRun:
    """``cryolatent ARGS`` in a child process; its output goes to ``log``.

    Parameters
    ----------
    args
        The command's arguments after ``cryolatent`` (e.g. ``["train", "--project", ...]``).
    outdir
        The run folder the command trains into (its ``train_log.csv`` tells the epochs done).
    epochs
        Epochs the run will train (for :attr:`fraction`).
    log
        File for the command's output (its folder is made).
    """

    def __init__(self, args: Sequence[str], outdir: str | os.PathLike, epochs: int, log: str | os.PathLike):
        self.args = [str(a) for a in args]
        self.outdir, self.epochs, self.log = Path(outdir), int(epochs), Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cryolatent", *self.args, "--no-progress"],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def epochs_done(self) -> int:
        """Epochs in the run's training log so far."""
        from cryolatent.training.run import LOG_NAME

        path = self.outdir / LOG_NAME
        try:
            return max(0, len(path.read_text().splitlines()) - 1)
        except OSError:
            return 0

    @property
    def fraction(self) -> float:
        return 1.0 if self.returncode == 0 else min(1.0, self.epochs_done / max(self.epochs, 1))

    def last_line(self) -> str:
        """The last line the command printed (its one-line error when it failed)."""
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """End the command (the run stays resumable from its last checkpoint)."""
        if self.running:
            self.proc.terminate()
            self.proc.wait(30)
