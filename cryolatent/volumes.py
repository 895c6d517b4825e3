"""Volumes of latent points: decoding (with a small cache), series, isosurfaces, central slices, low-pass.

A *decoder* is any callable ``(M, zdim) -> (M, D, D, D)``; :func:`run_decoder`
builds one from a training run, and tests pass analytic ones.

>>> dec = run_decoder("runs/001")                        # doctest: +SKIP
>>> series = at_centers(ls, dec)                         # k-means centre volumes
>>> series.to_mrc("kmeans20/")                           # vol_000.mrc ... z_values.txt
>>> verts, faces = series.isosurface(0)
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from scipy import fft

from cryolatent.io import write_volume
from cryolatent.outputs import atomic_paths
from cryolatent.tl import centers, graph_path, pc_traversal
from cryolatent.training.evaluate import check_box, eval_volumes
from cryolatent.training.cryodrgn_run import open_run

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.latent import LatentSet


class Decoder:
    """A volume generator with an LRU cache keyed by rounded latent coordinates.

    Parameters
    ----------
    fn
        ``(M, zdim) -> (M, D, D, D)``.
    apix
        Voxel size of the volumes (Angstrom), or None when unknown.
    cache_size
        Volumes kept (least recently used dropped first; 0 disables).
    decimals
        Latent coordinates are rounded to this many decimals for the cache key.
    preview
        Optional ``(M, zdim) -> (M, n, n, n)`` at a coarser box (the lattice cropped: a
        fraction of the cost), which an interactive view shows while ``fn`` runs.
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], apix: float | None = None,
                 cache_size: int = 32, decimals: int = 4, preview: Callable[[np.ndarray], np.ndarray] | None = None):
        self.fn = fn
        self.preview = preview
        self.apix = None if apix is None else float(apix)
        self.cache_size = int(cache_size)
        self.decimals = int(decimals)
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def _key(self, zi: np.ndarray) -> tuple:
        return tuple(np.round(zi.astype(np.float64), self.decimals).tolist())

    def cached(self, z) -> bool:
        """Whether every volume of ``z`` is in the cache (no decoding needed)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        return all(self._key(zi) in self._cache for zi in z)

    def __call__(self, z) -> np.ndarray:
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        keys = [self._key(zi) for zi in z]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        new = {}
        if missing:
            uniq = list(dict.fromkeys(keys[i] for i in missing))
            rows = [keys.index(k) for k in uniq]
            vols = np.asarray(self.fn(z[rows]), dtype=np.float32)
            if vols.ndim != 4 or len(vols) != len(rows):
                raise ValueError(f"decoder returned shape {vols.shape} for {len(rows)} latent points")
            new = dict(zip(uniq, vols))
        out = np.stack([self._cache[k] if k in self._cache else new[k] for k in keys])
        for k in keys:
            if k in self._cache:
                self._cache.move_to_end(k)
        for k, v in new.items():
            if self.cache_size > 0:
                self._cache[k] = v
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def clear(self) -> None:
        """Empty the cache."""
        self._cache.clear()


PREVIEW_MIN_BOX = 128  # run_decoder(preview=True) previews volumes of this box and larger ...
PREVIEW_MIN_WIDTH = 512  # ... or of decoders this wide (smaller ones decode in well under a second)


def preview_box(box: int, width: int) -> int | None:
    """The box of the coarse preview ``run_decoder(preview=True)`` adds for volumes of ``box`` from a
    decoder ``width`` wide: half the box where the full decode is slow, else None."""
    slow = box >= PREVIEW_MIN_BOX or width >= PREVIEW_MIN_WIDTH
    return max(2, box // 4 * 2) if slow else None


def run_decoder(outdir: str | os.PathLike, *, downsample: int | None = None, flip: bool = False,
                epoch: int | None = None, device=None, apix: float | None = None,
                particle_apix: float | None = None, cache_size: int = 32, amp: bool = False,
                preview: bool | int = False) -> Decoder:
    """A :class:`Decoder` for a training run, ours or a cryoDRGN `train_vae` folder (model loaded once).

    ``apix`` (the volumes' voxel size) defaults to the particles' pixel size
    (``particle_apix``, else :meth:`Run.pixel_size <cryolatent.training.run.Run.pixel_size>`)
    scaled for ``downsample``, and stays None when that is unknown (volumes in voxels).
    ``amp`` decodes in bf16 autocast (for interactive views: several times
    faster on a CPU with bf16 support). ``preview`` (True: half the volumes' box when they are
    at least ``PREVIEW_MIN_BOX`` or the decoder at least ``PREVIEW_MIN_WIDTH`` wide, where the full
    decode takes seconds on a CPU; or an even box smaller than theirs) adds a coarse decoder the
    panel shows first: the lattice cropped to half the box costs an eighth of the full decode.
    """
    run = open_run(outdir)
    model, ckpt = run.load_model(epoch, device)
    norm = float(ckpt["norm"])
    D = int(ckpt["D"])
    n = check_box(downsample, D)
    if apix is None:
        particle_apix = particle_apix or run.pixel_size()
        apix = None if particle_apix is None else particle_apix * D / n

    def fn(z: np.ndarray, box: int | None = downsample) -> np.ndarray:
        return eval_volumes(outdir, z, downsample=box, flip=flip, model=model, norm=norm, amp=amp)

    coarse = None
    if preview is True:  # only where the full decode is slow: a big box or a wide decoder
        preview = preview_box(n, model.decoder.mlp.inp.out_features)
    if preview:
        if check_box(preview, D) >= n:
            raise ValueError(f"preview box {preview} must be smaller than the volumes' box {n}")
        coarse = partial(fn, box=preview)
    return Decoder(fn, apix=apix, cache_size=cache_size, preview=coarse)


def _as_decoder(decode) -> Decoder:
    return decode if isinstance(decode, Decoder) else Decoder(decode, cache_size=0)


@dataclass
class VolumeSeries:
    """Volumes of a sequence of latent points (centres, a traversal, a path).

    Attributes
    ----------
    vols
        ``(M, D, D, D)`` float32 volumes ``[z, y, x]``.
    z
        ``(M, zdim)`` latent points.
    apix
        Voxel size (Angstrom), or None when unknown (the files then say so: voxel size 0).
    name
        Label (folder names, plot titles).
    particles
        ``(M,)`` particle positions the points belong to, when they do.
    """

    vols: np.ndarray
    z: np.ndarray
    apix: float | None = None
    name: str = "volumes"
    particles: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.vols)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.vols[i]

    def to_mrc(self, folder: str | os.PathLike, *, prefix: str = "vol", force: bool = False) -> list[Path]:
        """Write ``folder/vol_000.mrc ...`` and ``folder/z_values.txt`` (one row per volume).

        Nothing is written if any file exists and not ``force``; the files appear
        all together or (on a failure) not at all.
        """
        folder = Path(folder)
        names = [folder / f"{prefix}_{i:03d}.mrc" for i in range(len(self))]
        ztxt = folder / "z_values.txt"
        with atomic_paths(names + [ztxt], force) as tmps:
            for tmp, vol in zip(tmps, self.vols):
                write_volume(tmp, vol, apix=self.apix, force=True)
            np.savetxt(tmps[-1], np.atleast_2d(self.z), fmt="%.6g")
        return names + [ztxt]

    def isosurface(self, i: int = 0, threshold: float | None = None, *, step: int = 1):
        """Marching-cubes mesh of volume ``i``.

        Parameters
        ----------
        i
            Volume index.
        threshold
            Contour level (default: the 99th percentile, so 1% of the voxels
            are inside, ChimeraX's initial level).
        step
            Marching-cubes step size (larger: coarser, faster).

        Returns
        -------
        verts, faces
            ``(V, 3)`` vertex ``(x, y, z)`` in Angstrom (voxel * apix, origin at
            voxel 0; in voxels when ``apix`` is unknown) and ``(F, 3)`` triangles.
        """
        return isosurface(self.vols[i], threshold, apix=self.apix, step=step)

    def central_slices(self, axis: int = 0) -> np.ndarray:
        """``(M, D, D)`` central slices (``axis`` 0: the ``z = D // 2`` plane), e.g. for a movie."""
        D = self.vols.shape[1]
        return np.take(self.vols, D // 2, axis=axis + 1)



def central_slices(vol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three central planes of ``vol[z, y, x]`` through voxel ``n // 2`` of each axis.

    Returns
    -------
    z, y, x
        ``vol[cz]`` (``[y, x]``), ``vol[:, cy]`` (``[z, x]``) and ``vol[:, :, cx]`` (``[z, y]``).
    """
    vol = np.asarray(vol)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {vol.shape}")
    cz, cy, cx = (n // 2 for n in vol.shape)
    return vol[cz], vol[:, cy], vol[:, :, cx]


@lru_cache(maxsize=4)
def _radius(shape: tuple[int, int, int]) -> np.ndarray:
    """Spatial frequency (cycles per voxel) of each coefficient of ``scipy.fft.rfftn`` of ``shape``."""
    kz, ky = (np.fft.fftfreq(n).astype(np.float32) for n in shape[:2])
    kx = np.fft.rfftfreq(shape[2]).astype(np.float32)
    r = np.sqrt(kz[:, None, None] ** 2 + ky[None, :, None] ** 2 + kx[None, None, :] ** 2)
    r.flags.writeable = False
    return r


def lowpass(vol: np.ndarray, resolution: float | None, apix: float | None = None, *, edge: float = 2.0) -> np.ndarray:
    """Low-pass filter ``vol`` to ``resolution`` with a cosine edge (nothing finer than it is kept).

    Parameters
    ----------
    vol
        ``(D, D, D)`` volume (any 3-D shape).
    resolution
        Finest period kept, in Angstrom with ``apix`` (in voxels when the pixel size is unknown);
        None: no filter, ``vol`` itself is returned.
    apix
        Voxel size in Angstrom, or None when unknown.
    edge
        Width of the cosine edge in Fourier voxels (shells of ``1/D``): the filter is 1 up to
        ``1/resolution - edge/D`` and 0 from ``1/resolution`` on.

    Returns
    -------
    np.ndarray
        The filtered float32 volume (same shape; the mean, the zero frequency, is kept).
    """
    if resolution is None:
        return vol
    if not (np.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    vol = np.asarray(vol, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {vol.shape}")
    cutoff = (apix or 1.0) / float(resolution)  # cycles per voxel
    width = min(edge / max(vol.shape), cutoff)
    r = _radius(vol.shape)
    t = np.clip((cutoff - r) / width, 0.0, 1.0) if width > 0 else (r < cutoff).astype(np.float32)
    filt = 0.5 - 0.5 * np.cos(np.pi * t, dtype=np.float32)  # 1 inside, cosine edge, 0 from the cutoff on
    f = fft.rfftn(vol, workers=-1)
    f *= filt
    return fft.irfftn(f, s=vol.shape, workers=-1).astype(np.float32, copy=False)


ISO_PERCENTILE = 99.0
"""Default isosurface level: this percentile of the voxel values (1% of the voxels inside,
ChimeraX's initial level); used by the report, the series and the explorer panel."""


def default_threshold(vol: np.ndarray) -> float:
    """The default isosurface level of ``vol``: its :data:`ISO_PERCENTILE` percentile, or the
    middle of its range when that percentile is the maximum (a flat top) or the minimum."""
    vol = np.asarray(vol)
    lo, hi = float(vol.min()), float(vol.max())
    level = float(np.percentile(vol, ISO_PERCENTILE))
    return level if lo < level < hi else lo + 0.5 * (hi - lo)


def isosurface(
    vol: np.ndarray,
    threshold: float | None = None,
    *,
    apix: float | None = None,
    step: int = 1,
    max_faces: int | None = None,
    centred: bool = False,
):
    """Marching-cubes mesh of a volume ``vol[z, y, x]``.

    Parameters
    ----------
    apix
        Voxel size in Angstrom; None (unknown) gives vertices in voxels.
    threshold
        Contour level (default: :func:`default_threshold`). A level outside the open range
        ``(vol.min(), vol.max())`` (or a flat volume) gives an empty mesh, not an error, so a
        threshold slider never raises; callers say "no surface" when ``len(faces) == 0``.
    step
        Marching-cubes step size; with ``max_faces`` it grows until the mesh has at most
        that many triangles (for interactive views).
    centred
        Put the origin at the box centre (voxel ``D // 2``) instead of voxel 0.

    Returns
    -------
    verts, faces
        ``(V, 3)`` float32 vertices ordered ``(x, y, z)`` in Angstrom (voxels without ``apix``) — the volume's own
        right-handed frame, so a plot of them has the map's hand — and ``(F, 3)`` int32 triangles;
        both ``(0, 3)`` when there is no surface at ``threshold``.
    """
    from skimage.measure import marching_cubes

    vol = np.asarray(vol, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {vol.shape}")
    level = default_threshold(vol) if threshold is None else float(threshold)
    empty = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    if not vol.min() < level < vol.max():  # also a flat or NaN volume: no surface
        return empty
    while True:
        try:
            verts, faces, _, _ = marching_cubes(vol, level, step_size=step, allow_degenerate=False)
        except RuntimeError:  # skimage's "No surface found": a feature finer than the step
            return empty
        if max_faces is None or len(faces) <= max_faces or step >= 8:
            break
        step += 1
    if centred:
        verts = verts - np.array([n // 2 for n in vol.shape], dtype=verts.dtype)
    verts = (verts[:, ::-1] * (apix or 1.0)).astype(np.float32)  # voxels when the pixel size is unknown
    return verts, faces.astype(np.int32)


# ---- decoding at points of a LatentSet -----------------------------------


def decode(decoder, z, *, name: str = "volumes", particles=None) -> VolumeSeries:
    """Volumes at any latent points ``z`` (``(M, zdim)`` or ``(zdim,)``)."""
    dec = _as_decoder(decoder)
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    return VolumeSeries(dec(z), z, dec.apix, name, None if particles is None else np.asarray(particles))


def at_particles(ls: "LatentSet", decoder, indices: Sequence[int], *, name: str = "particles") -> VolumeSeries:
    """Volumes at the latent means of particles ``indices`` (positions)."""
    idx = np.asarray(indices, dtype=np.int64)
    return decode(decoder, ls.z[idx], name=name, particles=idx)


def at_centers(ls: "LatentSet", decoder, key: str = "kmeans") -> VolumeSeries:
    """Volumes at the centre particles of a clustering (needs ``kmeans(ls)`` or ``gmm(ls)``)."""
    idx, _ = centers(ls, key)
    return at_particles(ls, decoder, idx, name=f"{key}{len(idx)}")


def along_pc(ls: "LatentSet", decoder, pc: int = 1, *, n: int = 10, lo: float = 5.0,
             hi: float = 95.0) -> VolumeSeries:
    """Volumes along principal component ``pc`` (1-based) at percentile stops (needs ``pca(ls)``)."""
    return decode(decoder, pc_traversal(ls, pc, n, lo=lo, hi=hi), name=f"pc{pc}")


def along_path(ls: "LatentSet", decoder, anchors: Sequence[int], *, k: int = 10) -> VolumeSeries:
    """Volumes along the kNN-graph shortest path between particles ``anchors``."""
    return at_particles(ls, decoder, graph_path(ls, anchors, k), name="path")
