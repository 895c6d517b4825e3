"""Downsampling particle images by Fourier cropping, streamed in chunks.

Cropping the centred transform of a ``D x D`` image to its central
``D_new x D_new`` frequencies and transforming back resamples the image on a
grid ``D / D_new`` times coarser (pixel size ``apix * D / D_new``), keeping every
frequency up to the new Nyquist limit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from cryolatent.errors import InputError
from cryolatent.forward.fourier import fft_center, ifft_center
from cryolatent.io.mrc import write_mrcs
from cryolatent.io.sources import read_particles
from cryolatent.io.validate import validate_apix
from cryolatent.outputs import check_writable


def check_size(D: int, D_new: int, where: str | os.PathLike | None = None) -> None:
    """Raise :class:`InputError` unless ``D_new`` is even, positive and ``<= D``."""
    if D_new <= 0 or D_new % 2:
        raise InputError(f"-D {D_new}: the new box size must be a positive even number", where)
    if D_new > D:
        raise InputError(f"-D {D_new} is larger than the box size {D}; only downsampling", where)


def fourier_crop(images: np.ndarray, D_new: int) -> np.ndarray:
    """Downsample images ``(..., D, D)`` to ``(..., D_new, D_new)`` by Fourier cropping.

    Values keep their scale (a constant image stays the same constant), so the
    output samples the same band-limited function on a coarser grid.

    Parameters
    ----------
    images
        Real images, last two axes square.
    D_new
        New box size, even and ``<= D``.

    Returns
    -------
    np.ndarray
        float32 images ``(..., D_new, D_new)``.
    """
    images = np.asarray(images)
    D = images.shape[-1]
    if images.ndim < 2 or images.shape[-2] != D:
        raise InputError(f"images must be square (..., D, D), not {images.shape}")
    check_size(D, D_new)
    if D_new == D:
        return images.astype(np.float32, copy=True)
    # Origin at D//2 maps to D_new//2: the crop starts at D//2 - D_new//2.
    start = D // 2 - D_new // 2
    f = fft_center(np.ascontiguousarray(images, dtype=np.float32))
    f = np.ascontiguousarray(f[..., start:start + D_new, start:start + D_new])
    out = ifft_center(f).real
    # Unnormalised forward FFT, 1/N inverse: the mean scales by (D/D_new)^2.
    out *= (D_new / D) ** 2
    return out.astype(np.float32, copy=False)


def _crop_chunks(stack, D_new: int, chunk_size: int, bar) -> Iterator[np.ndarray]:
    for _, images in stack.iter_chunks(chunk_size):
        out = fourier_crop(images, D_new)
        bar.update(len(out))
        yield out


def downsample_stack(
    stack,
    D_new: int,
    out_path: str | os.PathLike,
    chunk_size: int = 1000,
    force: bool = False,
    progress: bool = True,
    datadir: str | os.PathLike | None = None,
    apix: float | None = None,
) -> Path:
    """Fourier-crop every image of a particle stack and write an ``.mrcs``.

    Images are read, cropped and written ``chunk_size`` at a time, so memory
    stays bounded whatever the stack's size; the output appears only when
    complete. The header's pixel size is ``apix * D / D_new``, where ``apix`` is the
    input's (given, else its files': MRC header, ``.star`` optics, ``.cs`` records);
    when no pixel size is known the header has voxel size 0 (unknown).

    Parameters
    ----------
    stack
        A :class:`cryolatent.io.ParticleStack`, or a path to one
        (``.mrcs``/``.txt``/``.star``/``.cs``) read with ``read_particles``.
    D_new
        New box size, even and ``<= D``.
    out_path
        Output ``.mrcs``.
    chunk_size
        Images per chunk.
    force
        Overwrite ``out_path``.
    progress
        Show a tqdm progress bar.
    datadir
        Folder for relative image paths in a ``.star``/``.cs`` (when ``stack`` is a path).
    apix
        Pixel size of the input images in Angstrom (default: the stack's; None when unknown).

    Returns
    -------
    Path
        ``out_path``.
    """
    if chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, not {chunk_size}")
    validate_apix(apix, "--apix")
    check_writable(out_path, force)
    if not isinstance(stack, (str, os.PathLike)):
        _write(stack, D_new, out_path, chunk_size, force, progress, None, apix)
    else:
        opened = read_particles(stack, datadir=datadir)
        try:
            _write(opened, D_new, out_path, chunk_size, force, progress, stack, apix)
        finally:
            opened.close()
    return Path(out_path)


def _write(
    stack,
    D_new: int,
    out_path: str | os.PathLike,
    chunk_size: int,
    force: bool,
    progress: bool,
    source: str | os.PathLike | None,
    apix: float | None,
) -> None:
    """Crop ``stack`` chunk by chunk into ``out_path`` (atomic, via :func:`~cryolatent.io.mrc.write_mrcs`)."""
    from tqdm.auto import tqdm

    D = int(stack.D)
    check_size(D, D_new, source)
    apix = apix or getattr(stack, "apix", None)  # None: unknown, written as voxel size 0
    n = len(stack)
    with tqdm(total=n, unit="img", desc="downsample", disable=not progress) as bar:
        write_mrcs(
            out_path,
            _crop_chunks(stack, D_new, chunk_size, bar),
            apix=None if apix is None else float(apix) * D / D_new,
            force=force,
            n_images=n,
        )
