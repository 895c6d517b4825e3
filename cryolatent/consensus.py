"""The consensus map as a step: read a dataset, back-project, write the map, half-maps, FSC and its figure."""

from __future__ import annotations

import os
from pathlib import Path

from cryolatent import io as clio
from cryolatent import pl
from cryolatent.errors import InputError
from cryolatent.io.validate import validate_apix
from cryolatent.outputs import atomic_paths, check_writable
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
    apix: float | None = None,
) -> Reconstruction:
    """Back-project ``particles`` (``.mrcs``/``.txt``/``.star``/``.cs``) and write the maps.

    Poses and CTF come from ``poses``/``ctf`` (cryoDRGN ``.pkl``, ``.star`` or ``.cs``)
    or, when not given, from the particle ``.star``/``.cs`` itself. Writes
    :func:`output_paths` ``(out)``, all of them or none; refuses to overwrite any
    of them without ``force``. The pixel size is ``apix`` when given, else the
    particles' (:func:`cryolatent.io.pixel_size`); when neither is known the maps'
    headers have no voxel size and the FSC is in pixels.
    """
    if Path(out).suffix.lower() != ".mrc":
        raise InputError("output map must end in .mrc", out)
    if pad not in (1, 2):
        raise InputError(f"--pad must be 1 or 2, got {pad}")
    validate_apix(apix, "--apix")
    paths = output_paths(out)
    for path in paths.values():
        check_writable(path, force)
    with clio.load_dataset(particles, poses=poses, ctf=ctf, ind=ind, datadir=datadir) as stack:
        if len(stack) == 0:
            raise InputError("selects no particles", ind if isinstance(ind, (str, os.PathLike)) else particles)
        rec = backproject(stack, invert_data=invert_data, pad=pad, use_ctf=use_ctf, progress=progress, apix=apix)
    figure = pl.fsc({"half-maps": rec.fsc}, title=f"{Path(out).name}: half-map FSC")
    with atomic_paths(paths.values(), force) as (volume, half_a, half_b, fsc_txt, fsc_png):
        clio.write_volume(half_a, rec.half_a, apix=rec.apix, force=True)
        clio.write_volume(half_b, rec.half_b, apix=rec.apix, force=True)
        fsc_txt.write_text(rec.fsc.to_text())
        pl.savefig(figure, fsc_png, force=True)
        clio.write_volume(volume, rec.volume, apix=rec.apix, force=True)
    return rec
