"""Writing outputs safely: checked before anything is made, never half-written, never
overwritten without ``force``, and nothing left behind by a failure.

- :func:`check_writable` / :func:`check_folder` check an output file / folder and create nothing;
- :func:`atomic_path` writes one file through a temporary beside it;
- :func:`atomic_paths` writes several files that appear together or not at all;
- :func:`atomic_folder` builds a whole folder beside its place and moves it there at the end;
- :func:`new_folders` makes missing parent folders and removes them again on failure;
- :func:`naming` makes an error about a temporary file name the output it stands for;
- :func:`save_npy` writes a ``.npy`` that a full disk cannot silently truncate.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from cryolatent.errors import InputError


def _existing_ancestor(path: Path) -> Path:
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _check_place(path: Path) -> None:
    """Refuse ``path`` when its nearest existing ancestor is a file or not writable."""
    parent = _existing_ancestor(path.parent)
    if not parent.is_dir():
        raise InputError(f"{parent} is a file, not a folder", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in folder {parent} (permission denied)", path)


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
    _check_place(path)
    return path


def check_folder(path: str | os.PathLike, *, empty: bool = False, force: bool = False) -> Path:
    """Check that the output folder ``path`` can be made or written in, creating nothing.

    Refuses an existing file, a path under a file and a place this process may
    not write in; with ``empty``, also a folder that has files unless ``force``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder", path)
    if path.is_dir():
        if empty and not force and any(path.iterdir()):
            raise InputError("output folder exists and is not empty; pass --force to replace it", path)
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError("cannot write in this folder (permission denied)", path)
        return path
    _check_place(path)
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
    except BaseException:
        for folder in missing:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


_WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}
"""Errors of a write that carry no file name: they are the output's."""


def _as_target(exc: OSError, path: Path) -> OSError:
    """``exc`` naming the output ``path`` instead of a temporary file beside it."""
    return type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path))


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[Path]:
    """Make an operating-system error of the body about a temporary beside ``path``
    (``.NAME.*``), or a write error that names no file, name ``path`` instead."""
    path = Path(path)
    try:
        yield path
    except OSError as exc:
        if exc.filename is None and exc.errno in _WRITE_ERRORS:
            raise _as_target(exc, path) from None
        target = _instead_of_temporary(exc.filename, path)
        if target is not None:
            raise _as_target(exc, target) from None
        raise


def _instead_of_temporary(filename, path: Path) -> Path | None:
    """What ``filename`` stands for when it is (in) a temporary ``.NAME.*`` beside ``path``, else None."""
    if filename is None or not isinstance(filename, (str, os.PathLike)):
        return None
    name = Path(os.fspath(filename))
    try:
        rest = name.relative_to(path.parent)
    except ValueError:
        return None
    if not rest.parts or not rest.parts[0].startswith(f".{path.name}."):
        return None
    return path.joinpath(*rest.parts[1:])


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Missing parent folders are made; if the body raises, the temporary file and
    the folders made for it are removed and ``path`` is untouched, so no partial
    output is ever left behind. An operating-system error names ``path``.

    Examples
    --------
    >>> with atomic_path("out.mrcs", force=True) as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    path = check_writable(path, force)
    with new_folders(path), naming(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, path)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


@contextlib.contextmanager
def atomic_paths(paths: Iterable[str | os.PathLike], force: bool = False) -> Iterator[list[Path]]:
    """:func:`atomic_path` for several files: all are checked first, and they appear
    together when the body succeeds or not at all (nor the folders made for them).

    Examples
    --------
    >>> with atomic_paths(["a.mrc", "b.mrc"]) as (tmp_a, tmp_b):  # doctest: +SKIP
    ...     write_volume(tmp_a, a, force=True); write_volume(tmp_b, b, force=True)
    """
    paths = [check_writable(p, force) for p in paths]
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p, force)) for p in paths]


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; move it onto ``path`` on success.

    ``path`` must not exist, or be an empty folder, or (with ``force``) a folder
    that is then replaced; on failure the temporary folder and the parent
    folders made for it are removed and ``path`` is untouched.
    """
    path = check_folder(path, empty=True, force=force)
    with new_folders(path), naming(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
        try:
            yield tmp
            old = None
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.replace(path, old / path.name)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def save_npz(path: str | os.PathLike, force: bool = False, **arrays) -> Path:
    """``np.savez`` of ``arrays`` to ``path``, atomically and through memory (see :func:`save_npy`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return Path(path)


def save_npy(path: str | os.PathLike, array, force: bool = False) -> Path:
    """``np.save`` ``array`` to ``path`` atomically (no pickled objects), through memory: numpy
    writes a real file with C stdio and can lose a failed write (a full disk) without a word."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return Path(path)
