"""Lazy particle stacks over one or many MRC files (opened by :mod:`cryolatent.io.sources`).

Images are read on demand with positional reads (``os.pread``) grouped by file,
so a stack never holds more than the batch asked for, and worker processes that
inherit open files (fork) do not share a file offset.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from cryolatent.errors import InputError
from cryolatent.io import cs as cs_io
from cryolatent.io.mrc import MrcHeader

MAX_OPEN_FILES = 64


class _FileCache:
    """Open file descriptors, least recently used closed first; shared by subsets."""

    def __init__(self, max_open: int = MAX_OPEN_FILES):
        self.max_open = max_open
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def read(self, file_id: int, path: str, buf: np.ndarray, offset: int) -> None:
        """Fill ``buf`` from ``path`` at byte ``offset`` (thread-safe)."""
        self.read_many(file_id, path, [(buf, offset)])

    def read_many(self, file_id: int, path: str, reads: Iterable[tuple[np.ndarray, int]]) -> None:
        """Fill each ``(buf, offset)`` of ``reads`` from ``path``, opening the file once (thread-safe)."""
        if self._pid != os.getpid():  # forked: reopen rather than share (or inherit a held lock)
            self._fds.clear()
            self._lock = threading.Lock()
            self._pid = os.getpid()
        with self._lock:  # an evicted descriptor must not be closed mid-read
            fd = self._fd(file_id, path)
            for buf, offset in reads:
                _pread_into(fd, buf, offset, path)

    def _fd(self, file_id: int, path: str) -> int:
        fd = self._fds.get(file_id)
        if fd is not None:
            self._fds.move_to_end(file_id)
            return fd
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise InputError(f"cannot open particle stack ({exc.strerror})", path) from None
        self._fds[file_id] = fd
        while len(self._fds) > self.max_open:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for fd in self._fds.values():
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._fds.clear()


def _pread_into(fd: int, buf: np.ndarray, offset: int, path: str) -> None:
    """Fill the C-contiguous ``buf`` from ``fd`` at byte ``offset`` (a short read is retried)."""
    if hasattr(os, "preadv") and os.preadv(fd, [buf], offset) == buf.nbytes:
        return
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        if hasattr(os, "preadv"):
            got = os.preadv(fd, [view[done:]], offset + done)
        else:  # pragma: no cover - platforms without preadv
            data = os.pread(fd, len(view) - done, offset + done)
            got = len(data)
            view[done : done + got] = data
        if got == 0:
            raise InputError(f"file is truncated: could not read {len(view)} bytes at offset {offset}", path)
        done += got


def _runs(sorted_unique: np.ndarray, max_len: int = 256) -> list[tuple[int, int]]:
    """``(start, stop)`` positions of runs of consecutive values (capped in length)."""
    n = len(sorted_unique)
    if n == 0:
        return []
    breaks = (np.flatnonzero(np.diff(sorted_unique) != 1) + 1).tolist()
    bounds = list(zip([0, *breaks], [*breaks, n]))
    if n <= max_len or all(b - a <= max_len for a, b in bounds):
        return bounds
    return [(s, min(s + max_len, b)) for a, b in bounds for s in range(a, b, max_len)]


_NATIVE_F4 = np.dtype(np.float32)


class ParticleStack:
    """Particle images read lazily from MRC stacks, with per-particle metadata.

    Attributes
    ----------
    D
        Box size (images are ``D x D``).
    apix
        Pixel size in Angstrom, or None.
    files
        Stack file paths; ``file_ids[i]`` indexes it for particle ``i``.
    file_ids, file_index
        Each particle's stack file and 0-based index inside it.
    orig_index
        Each particle's 0-based index in the dataset file as originally read.
    optics
        RELION 3.1 optics table, or None.
    cs_records
        cryoSPARC structured records of these particles, or None.
    poses
        ``(rots (N,3,3), trans (N,2))`` float32 (trans in box fractions), or None.
    ctf
        ``(N, 9)`` float32 cryoDRGN CTF parameters, or None.
    source
        The file the particles were read from.
    """

    def __init__(
        self,
        files: list[str],
        file_ids: np.ndarray,
        file_index: np.ndarray,
        headers: list[MrcHeader],
        D: int,
        apix: float | None = None,
        *,
        orig_index: np.ndarray | None = None,
        metadata: pd.DataFrame | None = None,
        optics: pd.DataFrame | None = None,
        cs_records: np.ndarray | None = None,
        poses: tuple[np.ndarray, np.ndarray] | None = None,
        ctf: np.ndarray | None = None,
        source: str | None = None,
        _cache: _FileCache | None = None,
    ):
        self.files = list(files)
        self.file_ids = np.asarray(file_ids, dtype=np.int32)
        self.file_index = np.asarray(file_index, dtype=np.int64)
        self._headers = list(headers)
        self.D = int(D)
        self.apix = None if apix is None else float(apix)
        n = len(self.file_ids)
        self.orig_index = (
            np.arange(n, dtype=np.int64) if orig_index is None else np.asarray(orig_index, dtype=np.int64)
        )
        self._metadata = metadata
        self.optics = optics
        self.cs_records = cs_records
        self.poses = poses
        self.ctf = ctf
        self.source = source
        self._cache = _cache if _cache is not None else _FileCache()

    # ---- basics -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.file_ids)

    def __repr__(self) -> str:
        return (
            f"ParticleStack({len(self)} particles of {self.D}x{self.D}, apix={self.apix}, "
            f"{len(self.files)} file(s), source={self.source!r})"
        )

    @property
    def metadata(self) -> pd.DataFrame | None:
        """Particle table rows (``.star``) or a DataFrame view of ``.cs`` records."""
        if self._metadata is None and self.cs_records is not None:
            self._metadata = cs_io.records_to_frame(self.cs_records)
        return self._metadata

    @metadata.setter
    def metadata(self, value: pd.DataFrame | None) -> None:
        self._metadata = value

    @property
    def locations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(paths, index_in_file)`` per particle (paths as an object array)."""
        return np.asarray(self.files, dtype=object)[self.file_ids], self.file_index

    def location(self, i: int) -> tuple[str, int]:
        """Stack path and 0-based index in that file of particle ``i``."""
        return self.files[self.file_ids[i]], int(self.file_index[i])

    # ---- reading ------------------------------------------------------
    def _positions(self, indices) -> np.ndarray:
        n = len(self)
        if isinstance(indices, slice):
            return np.arange(n, dtype=np.int64)[indices]
        pos = np.asarray(indices)
        if pos.dtype == bool:
            if pos.shape != (n,):
                raise IndexError(f"boolean mask of shape {pos.shape} for {n} particles")
            return np.flatnonzero(pos)
        if pos.size == 0:
            return np.zeros(0, dtype=np.int64)
        if not np.issubdtype(pos.dtype, np.integer):
            raise IndexError(f"particle indices must be integers, got {pos.dtype}")
        pos = pos.astype(np.int64).ravel()
        lo = pos.min()
        if lo < -n or pos.max() >= n:
            bad = pos[(pos < -n) | (pos >= n)][0]
            raise IndexError(f"particle index {bad} out of range for {n} particles")
        return np.where(pos < 0, pos + n, pos) if lo < 0 else pos

    def images(self, indices) -> np.ndarray:
        """Images of the particles ``indices`` (positions in this stack), in that order.

        Returns
        -------
        np.ndarray
            float32 ``(n, D, D)``, pixel values as stored.
        """
        pos = self._positions(indices)
        fids = self.file_ids[pos]
        fidx = self.file_index[pos]
        one_file = len(self.files) == 1 or len(pos) == 0 or bool((fids == fids[0]).all())
        if one_file and bool((np.diff(fidx) > 0).all()):  # sorted, distinct (training batches)
            out = self._read_sorted(int(fids[0]) if len(pos) else 0, fidx)
        else:
            out = np.empty((len(pos), self.D, self.D), dtype=np.float32)
            order = np.argsort(fids, kind="stable")
            for group in np.split(order, np.flatnonzero(np.diff(fids[order])) + 1):
                uniq, inverse = np.unique(fidx[group], return_inverse=True)
                out[group] = self._read_sorted(int(fids[group[0]]), uniq)[inverse.ravel()]
        if not np.isfinite(out).all():
            row = int(np.flatnonzero(~np.isfinite(out).all(axis=(1, 2)))[0])
            p = int(pos[row])
            path, k = self.location(p)
            kind = "NaN" if np.isnan(out[row]).any() else "infinite"
            raise InputError(
                f"particle {int(self.orig_index[p])} (image {k} of this file) has {kind} pixels", path
            )
        return out

    def _read_sorted(self, fid: int, uniq: np.ndarray) -> np.ndarray:
        """float32 ``(len(uniq), D, D)`` images ``uniq`` (sorted, distinct) of file ``fid``.

        One positional read per run of consecutive images, straight into the result
        when the file holds native float32 (else through a buffer of at most one run).
        """
        block = np.empty((len(uniq), self.D, self.D), dtype=np.float32)
        if len(uniq) == 0:
            return block
        header = self._headers[fid]
        runs = _runs(uniq)
        offsets = (header.data_offset + uniq[[a for a, _ in runs]].astype(np.int64) * header.image_bytes).tolist()
        if header.dtype == _NATIVE_F4:
            self._cache.read_many(fid, header.path, [(block[a:b], off) for (a, b), off in zip(runs, offsets)])
            return block
        for (a, b), off in zip(runs, offsets):
            raw = np.empty((b - a, header.ny, header.nx), dtype=header.dtype)
            self._cache.read(fid, header.path, raw, off)
            block[a:b] = raw
        return block

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.images([int(key)])[0]
        return self.images(key)

    def iter_chunks(self, chunk_size: int = 1000, indices=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, images)`` chunks over ``indices`` (default: all particles)."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        pos = np.arange(len(self), dtype=np.int64) if indices is None else self._positions(indices)
        for s in range(0, len(pos), chunk_size):
            chunk = pos[s : s + chunk_size]
            yield chunk, self.images(chunk)

    # ---- views --------------------------------------------------------
    def subset(self, indices) -> "ParticleStack":
        """A view of the particles ``indices`` (positions in this stack); shares open files."""
        pos = self._positions(indices)
        metadata = None if self._metadata is None else self._metadata.iloc[pos].reset_index(drop=True)
        poses = None if self.poses is None else (self.poses[0][pos], self.poses[1][pos])
        return ParticleStack(
            self.files,
            self.file_ids[pos],
            self.file_index[pos],
            self._headers,
            self.D,
            self.apix,
            orig_index=self.orig_index[pos],
            metadata=metadata,
            optics=self.optics,
            cs_records=None if self.cs_records is None else self.cs_records[pos],
            poses=poses,
            ctf=None if self.ctf is None else self.ctf[pos],
            source=self.source,
            _cache=self._cache,
        )

    # ---- resources ----------------------------------------------------
    def close(self) -> None:
        """Close the open stack files (they reopen on the next read)."""
        self._cache.close()

    def __enter__(self) -> "ParticleStack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._cache = _FileCache()


# ---------------------------------------------------------------------------
# read_particles
