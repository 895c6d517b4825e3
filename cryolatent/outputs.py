"""Writing outputs safely: never half-written, never overwritten without ``force``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from cryolatent.errors import InputError


def check_writable(path: str | os.PathLike, force: bool = False) -> Path:
    """Check that ``path`` can be written, creating nothing.

    Refuses an existing file unless ``force``, an existing folder, a path under
    a file, and a folder this process may not write in; the message names the path.

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
    if path.is_dir():
        raise InputError("is a folder; give a file name", path)
    if path.exists() and not force:
        raise InputError("output exists; pass --force (force=True) to overwrite", path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{parent} is a file, not a folder", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in folder {parent} (permission denied)", path)
    return path


@contextlib.contextmanager
def new_folders(path: str | os.PathLike) -> Iterator[Path]:
    """Create the missing parent folders of ``path``; remove those it made if the body raises."""
    path = Path(path)
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for folder in missing:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Missing parent folders are made; if the body raises, the temporary file and
    the folders made for it are removed and ``path`` is untouched, so no partial
    output is ever left behind.

    Examples
    --------
    >>> with atomic_path("out.mrcs", force=True) as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    path = check_writable(path, force)
    with new_folders(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, path)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
