"""MRC files: validated headers, streamed stack writing, volumes.

Particle images are read by :mod:`cryolatent.io.particles` with positional reads
at the offsets computed here; this module only parses and checks headers and
writes files.

A pixel size is never made up: a header without a voxel size reads as
``apix = None``, and ``apix=None`` writes a header with voxel size 0 (the MRC
way of saying "unknown").
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Iterable

import mrcfile
import numpy as np
from mrcfile.mrcobject import MrcObject

from cryolatent.errors import InputError
from cryolatent.outputs import atomic_path

MRC_HEADER_BYTES = 1024
_SUPPORTED_MODES = {0, 1, 2, 6, 12}  # int8, int16, float32, uint16, float16


@dataclass(frozen=True)
class MrcHeader:
    """The parts of an MRC header needed to read its data.

    Attributes
    ----------
    path
        The file.
    nx, ny, nz
        Columns, rows and sections (images in a stack).
    dtype
        Data type of the stored values, with the file's byte order.
    data_offset
        Byte offset of the first data value (1024 + extended header).
    apix
        Voxel size along x in Angstrom, or None when the header has none.
    """

    path: str
    nx: int
    ny: int
    nz: int
    dtype: np.dtype
    data_offset: int
    apix: float | None

    @property
    def image_bytes(self) -> int:
        """Bytes per image (one section)."""
        return self.nx * self.ny * self.dtype.itemsize


_MAX_SIDE = 1 << 20


def _parse_header(raw: bytes) -> np.record:
    """The header record in the byte order its machine stamp (or its values) says.

    Parsed with numpy rather than ``mrcfile.open(header_only=True)``, which
    allocates the extended header that a garbage file claims (gigabytes).
    """
    little = np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE).view(np.recarray)[0]
    big = np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE.newbyteorder(">")).view(np.recarray)[0]

    def plausible(h) -> bool:
        return int(h.mode) in _SUPPORTED_MODES and 0 < int(h.nx) <= _MAX_SIDE and 0 < int(h.ny) <= _MAX_SIDE

    try:
        order = mrcfile.utils.byte_order_from_machine_stamp(little.machst)
    except ValueError:
        order = None
    first, second = (big, little) if order == ">" else (little, big)
    if plausible(first) or not plausible(second):
        return first
    return second


def read_mrc_header(path: str | os.PathLike) -> MrcHeader:
    """Read and check an MRC header against the file size.

    Parameters
    ----------
    path
        An ``.mrc``/``.mrcs`` file.

    Returns
    -------
    MrcHeader

    Raises
    ------
    InputError
        Missing file, not an MRC file, unsupported mode, or a header that
        disagrees with the file size (truncated or padded file).
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path) from None
    if size < MRC_HEADER_BYTES:
        raise InputError(f"not an MRC file (only {size} bytes, shorter than the 1024-byte MRC header)", path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MRC_HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path) from None
    header = _parse_header(raw)
    nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
    mode, nsymbt = int(header.mode), int(header.nsymbt)
    if min(nx, ny, nz) <= 0 or nsymbt < 0 or max(nx, ny) > _MAX_SIDE:
        raise InputError(f"not an MRC file (invalid header: size {nx} x {ny} x {nz}, mode {mode})", path)
    if mode not in _SUPPORTED_MODES:
        raise InputError(
            f"not an MRC file or unsupported MRC mode {mode} (supported: 0, 1, 2, 6, 12)", path
        )
    order = ">" if header.dtype["mode"].byteorder == ">" else "<"
    dtype = np.dtype(mrcfile.utils.dtype_from_mode(mode)).newbyteorder(order)
    offset = MRC_HEADER_BYTES + nsymbt
    expected = offset + nx * ny * nz * dtype.itemsize
    if size != expected:
        what = "file is truncated" if size < expected else "header disagrees with the data size"
        raise InputError(
            f"{what}: header says {nz} images of {nx}x{ny} {dtype.name} "
            f"({expected} bytes) but the file has {size} bytes",
            path,
        )
    apix = None
    mx, cella_x = int(header.mx), float(header.cella.x)
    if mx > 0 and np.isfinite(cella_x) and cella_x > 0:
        apix = round(cella_x / mx, 6)
    return MrcHeader(path, nx, ny, nz, np.dtype(dtype), offset, apix)


def _voxel_size(apix: float | None, path) -> float:
    """The header voxel size of ``apix``: 0 (unknown) for None; refuses a non-positive or non-finite value."""
    if apix is None:
        return 0.0
    if not (np.isfinite(apix) and apix > 0):
        raise InputError(f"pixel size {apix} A is not a positive number", path)
    return float(apix)


def _stack_header(n: int, D: int, apix: float | None, stats: tuple[float, float, float, float]) -> bytes:
    """1024 header bytes of a float32 image stack of ``n`` images of ``D x D`` (voxel size 0 when ``apix`` is None)."""
    obj = MrcObject()
    obj._create_default_attributes()
    obj.set_data(np.zeros((1, D, D), dtype=np.float32))
    obj.set_image_stack()
    obj.voxel_size = 0.0 if apix is None else float(apix)
    header = obj.header
    header.nz = n
    header.dmin, header.dmax, header.dmean, header.rms = stats
    data = header.tobytes()
    assert len(data) == MRC_HEADER_BYTES
    return data


def _as_chunks(images_or_chunks, chunk: int = 1000) -> Iterable[np.ndarray]:
    arr = images_or_chunks
    if hasattr(arr, "detach"):  # torch tensor
        arr = arr.detach().cpu().numpy()
    if isinstance(arr, np.ndarray):
        if arr.ndim == 2:
            arr = arr[None]
        return (arr[i : i + chunk] for i in range(0, len(arr), chunk))
    return iter(arr)


def write_mrcs(
    path: str | os.PathLike,
    images_or_chunks,
    apix: float | None = None,
    force: bool = False,
    n_images: int | None = None,
) -> int:
    """Write a float32 MRC image stack, streaming chunk by chunk.

    Parameters
    ----------
    path
        Output ``.mrcs`` file (written atomically).
    images_or_chunks
        An ``(N, D, D)`` array, or an iterable of ``(n, D, D)`` arrays (or of
        ``(indices, images)`` pairs as yielded by ``ParticleStack.iter_chunks``).
        Memory use is bounded by one chunk.
    apix
        Pixel size written as the header voxel size; None (unknown) writes 0.
    force
        Overwrite an existing file.
    n_images
        Expected number of images, checked when given.

    Returns
    -------
    int
        The number of images written.
    """
    n, D = 0, None
    lo, hi, total, total_sq = np.inf, -np.inf, 0.0, 0.0
    _voxel_size(apix, path)
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"\0" * MRC_HEADER_BYTES)
            for chunk in _as_chunks(images_or_chunks):
                if isinstance(chunk, tuple) and len(chunk) == 2:
                    chunk = chunk[1]
                if hasattr(chunk, "detach"):
                    chunk = chunk.detach().cpu().numpy()
                c = np.ascontiguousarray(chunk, dtype="<f4")
                if c.ndim == 2:
                    c = c[None]
                if c.ndim != 3 or c.shape[1] != c.shape[2]:
                    raise ValueError(f"images must be (n, D, D), got shape {c.shape}")
                if D is None:
                    D = c.shape[1]
                elif c.shape[1] != D:
                    raise ValueError(f"chunk of {c.shape[1]}x{c.shape[2]} images in a {D}x{D} stack")
                if len(c) == 0:
                    continue
                f.write(memoryview(c).cast("B"))
                n += len(c)
                lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
                c64 = c.astype(np.float64)
                total += float(c64.sum())
                total_sq += float((c64 * c64).sum())
            if n == 0 or D is None:
                raise ValueError("no images to write")
            if n_images is not None and n != n_images:
                raise ValueError(f"expected {n_images} images but got {n}")
            count = n * D * D
            mean = total / count
            rms = float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))
            f.seek(0)
            f.write(_stack_header(n, D, apix, (lo, hi, mean, rms)))
    return n


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read a cubic volume.

    Returns
    -------
    vol
        float32 ``(D, D, D)`` array, ``vol[z, y, x]``.
    apix
        Voxel size from the header, or None when the header has none (voxel size 0).
    """
    header = read_mrc_header(path)
    if not (header.nx == header.ny == header.nz):
        raise InputError(
            f"not a cubic volume: {header.nz} x {header.ny} x {header.nx} voxels", header.path
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with mrcfile.open(header.path, permissive=True) as mrc:
                vol = np.array(mrc.data, dtype=np.float32)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot read MRC volume ({exc})", header.path) from None
    vol = vol.reshape(header.nz, header.ny, header.nx)
    return vol, header.apix


def write_volume(
    path: str | os.PathLike, vol: np.ndarray, apix: float | None = None, force: bool = False
) -> None:
    """Write a float32 volume (``vol[z, y, x]``) with voxel size ``apix`` and origin 0.

    ``apix=None`` (an unknown pixel size) writes voxel size 0, which readers take as unknown.
    """
    if hasattr(vol, "detach"):
        vol = vol.detach().cpu().numpy()
    vol = np.asarray(vol, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"a volume must be 3-D, got shape {vol.shape}")
    voxel = _voxel_size(apix, path)
    with atomic_path(path, force) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(vol)
            mrc.voxel_size = voxel
            mrc.header.origin = (0.0, 0.0, 0.0)
            mrc.update_header_stats()
