"""Homogeneous reconstruction as a step: read a dataset, back-project, write maps and FSC."""

from __future__ import annotations

import os
from pathlib import Path

from cryolatent import io as clio
from cryolatent import pl
from cryolatent.errors import InputError
from cryolatent.outputs import atomic_path, check_writable
from cryolatent.reconstruct.backproject import Reconstruction, backproject


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The files a reconstruction writes beside ``out`` (``X.mrc``, ``X_half_a.mrc``, ...)."""
    out = Path(out)
    stem = out.with_suffix("")
    return {
        "volume": out,
        "half_a": Path(f"{stem}_half_a.mrc"),
        "half_b": Path(f"{stem}_half_b.mrc"),
        "fsc_txt": Path(f"{stem}_fsc.txt"),
        "fsc_png": Path(f"{stem}_fsc.png"),
    }


def consensus_map(
    particles: str | os.PathLike,
    out: str | os.PathLike,
    poses: str | os.PathLike | None = None,
    ctf: str | os.PathLike | None = None,
    ind=None,
    datadir: str | os.PathLike | None = None,
    invert_data: bool = True,
    use_ctf: bool = True,
    pad: int = 2,
    force: bool = False,
    progress: bool = True,
) -> Reconstruction:
    """Back-project ``particles`` (``.mrcs``/``.txt``/``.star``/``.cs``) and write the maps.

    Poses and CTF come from ``poses``/``ctf`` (cryoDRGN ``.pkl``, ``.star`` or ``.cs``)
    or, when not given, from the particle ``.star``/``.cs`` itself. Writes
    :func:`output_paths` ``(out)``; refuses to overwrite any of them without ``force``.
    """
    if Path(out).suffix.lower() != ".mrc":
        raise InputError("output map must end in .mrc", out)
    paths = output_paths(out)
    for path in paths.values():
        check_writable(path, force)
    with clio.load_dataset(particles, poses=poses, ctf=ctf, ind=ind, datadir=datadir) as stack:
        rec = backproject(stack, invert_data=invert_data, pad=pad, use_ctf=use_ctf, progress=progress)
    clio.write_volume(paths["half_a"], rec.half_a, apix=rec.apix, force=force)
    clio.write_volume(paths["half_b"], rec.half_b, apix=rec.apix, force=force)
    with atomic_path(paths["fsc_txt"], force) as tmp:
        tmp.write_text(rec.fsc.to_text())
    pl.savefig(pl.fsc({"half-maps": rec.fsc}, title=f"{Path(out).name}: half-map FSC"), paths["fsc_png"], force)
    clio.write_volume(paths["volume"], rec.volume, apix=rec.apix, force=force)
    return rec
