"""Writing outputs safely: never half-written, never overwritten without ``force``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from cryolatent.errors import InputError


def check_writable(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse to overwrite ``path`` unless ``force``; create its parent folder.

    Parameters
    ----------
    path
        The output file that is about to be written.
    force
        Allow replacing an existing file.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.exists() and not force:
        raise InputError("output exists; pass --force (force=True) to overwrite", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    If the body raises, the temporary file is removed and ``path`` is untouched,
    so no partial output is ever left behind.

    Examples
    --------
    >>> with atomic_path("out.mrcs", force=True) as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    path = check_writable(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
