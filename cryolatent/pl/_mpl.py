"""Matplotlib helpers shared by the figure modules.

The library never switches the matplotlib backend: pyplot picks its default
(Agg without a display, the inline backend in Jupyter), and ``MPLBACKEND`` rules.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryolatent.outputs import atomic_path


def pyplot():
    """``matplotlib.pyplot``, imported on first use (it is slow to import)."""
    import matplotlib.pyplot as plt

    return plt


def savefig(fig, path: str | os.PathLike, force: bool = False, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG atomically (refused over an existing file unless ``force``) and close it."""
    with atomic_path(path, force) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return Path(path)
