"""Resolving the stack file names written inside ``.star``/``.cs``/``.txt`` files."""

from __future__ import annotations

import os
from pathlib import Path

from cryolatent.errors import InputError


def stack_candidates(name: str, base: str | os.PathLike) -> list[Path]:
    """Places to look for a stack named ``name`` in a metadata file.

    ``name`` itself when absolute, else ``base/name``; then ``base/basename(name)``
    (cryoDRGN users move stacks next to the star file or into ``--datadir``).
    """
    p = Path(name)
    base = Path(base)
    first = p if p.is_absolute() else base / p
    cands = [first]
    if base / p.name != first:
        cands.append(base / p.name)
    return cands


def resolve_stack(name: str, base: str | os.PathLike, source: str | os.PathLike) -> str:
    """Find the stack file ``name`` relative to ``base``.

    Raises
    ------
    InputError
        Naming ``source`` (the metadata file) and the missing stack.
    """
    cands = stack_candidates(name, base)
    for cand in cands:
        if cand.is_file():
            return os.path.abspath(cand)
    looked = ", ".join(str(c) for c in cands)
    raise InputError(f"names a missing particle stack {name} (looked for {looked})", source)


def relative_to(path: str, folder: str | os.PathLike) -> str:
    """``path`` relative to ``folder`` when possible, else absolute."""
    try:
        return os.path.relpath(path, os.path.abspath(folder))
    except ValueError:  # different drives on Windows
        return os.path.abspath(path)
