"""The conformational landscape in volume space (as cryoDRGN's analyze_landscape).

Sample latent points (k-means centres), decode them, mask the volumes, run PCA
on the masked voxels, cluster the volumes, and average each cluster's volumes.

:func:`sample_landscape` and :func:`stream_landscape` stream the volumes: they
are decoded in chunks, spooled to a temporary file and read back a chunk at a
time (mask, incremental PCA, cluster means), so memory does not grow with the
number of volumes. :func:`volume_landscape` analyses an array already in memory
with an exact PCA.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Callable, Iterable, Iterator, NamedTuple

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from cryolatent.reconstruct.fsc import soft_sphere_mask
from cryolatent.tl.clustering import kmeans_cluster
from cryolatent.tl.embedding import pca_embed

MASKS = ("threshold", "sphere", "none")
METHODS = ("ward", "kmeans")
CHUNK_SIZE = 16  # volumes held at once by the streaming analysis (at least n_pcs during its PCA)


class Landscape(NamedTuple):
    """Volume-space analysis of ``M`` sampled volumes.

    Attributes
    ----------
    mask
        ``(D, D, D)`` float32 weights in [0, 1] applied before PCA.
    coords
        ``(M, n_pcs)`` volume-PCA coordinates of each volume.
    explained_variance_ratio
        ``(n_pcs,)``.
    labels
        ``(M,)`` cluster of each volume.
    cluster_means
        ``(n_clusters, D, D, D)`` mean (unmasked) volume of each cluster.
    """

    mask: np.ndarray
    coords: np.ndarray
    explained_variance_ratio: np.ndarray
    labels: np.ndarray
    cluster_means: np.ndarray


def sphere_mask(D: int, radius: float | None = None, width: float = 3.0) -> np.ndarray:
    """Soft spherical mask centred on voxel ``D // 2``.

    Parameters
    ----------
    D
        Box size.
    radius
        Radius (voxels) where the mask is 1 (default ``0.4 * D``).
    width
        Width (voxels) of the raised-cosine edge.

    Returns
    -------
    np.ndarray
        ``(D, D, D)`` float32 in [0, 1].
    """
    radius = 0.4 * D if radius is None else float(radius)
    return soft_sphere_mask(D, radius, max(width, 1e-6))


def _above_percentile(vols: np.ndarray, percentile: float) -> np.ndarray:
    """``(D, D, D)`` bool: voxels above its own ``percentile`` in any of ``vols``."""
    thresholds = np.percentile(vols.reshape(len(vols), -1), percentile, axis=1)
    return np.any(vols > thresholds[:, None, None, None], axis=0)


def _dilated(mask: np.ndarray, dilate: int) -> np.ndarray:
    if dilate > 0:
        mask = ndimage.binary_dilation(mask, iterations=int(dilate))
    return mask.astype(np.float32)


def threshold_mask(vols: np.ndarray, percentile: float = 99.0, dilate: int = 2) -> np.ndarray:
    """Union of the volumes thresholded at a percentile, dilated by ``dilate`` voxels.

    Parameters
    ----------
    vols
        ``(M, D, D, D)`` volumes.
    percentile
        Per-volume threshold (99: the brightest 1% of voxels of each volume).
    dilate
        Binary dilation iterations.

    Returns
    -------
    np.ndarray
        ``(D, D, D)`` float32 of 0 and 1.
    """
    return _dilated(_above_percentile(np.asarray(vols), percentile), dilate)


def _check_options(mask: np.ndarray | str, n_clusters: int, method: str, M: int | None) -> None:
    """Refuse bad options before anything is decoded (``M``: the number of volumes, when known)."""
    if isinstance(mask, str) and mask not in MASKS:
        raise ValueError(f"mask must be an array or one of {', '.join(MASKS)}, got {mask!r}")
    if method not in METHODS:
        raise ValueError(f"method must be 'ward' or 'kmeans', got {method!r}")
    if M is not None and not 1 <= n_clusters <= M:
        raise ValueError(f"n_clusters must be between 1 and the number of volumes ({M}), got {n_clusters}")


def _mask_array(mask: np.ndarray | str, D: int, threshold: Callable[[], np.ndarray]) -> np.ndarray:
    """The ``(D, D, D)`` float32 weights of ``mask`` (``threshold`` builds the threshold mask)."""
    if isinstance(mask, str):
        makers = {"threshold": threshold, "sphere": lambda: sphere_mask(D),
                  "none": lambda: np.ones((D, D, D), np.float32)}
        mask = makers[mask]()
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape != (D, D, D):
        raise ValueError(f"mask shape {mask.shape} does not match the volumes' {(D, D, D)}")
    return mask


def _cluster(coords: np.ndarray, n_clusters: int, method: str, seed: int) -> np.ndarray:
    """``(M,)`` int64 cluster labels of volume-PCA coordinates."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    if method == "ward":
        labels = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(coords)
    else:
        labels = KMeans(n_clusters=n_clusters, random_state=seed, n_init=10).fit_predict(coords)
    return labels.astype(np.int64)


def _check_volumes(vols) -> np.ndarray:
    vols = np.asarray(vols, dtype=np.float32)
    if vols.ndim != 4 or not vols.shape[1] == vols.shape[2] == vols.shape[3]:
        raise ValueError(f"volumes must be (M, D, D, D), got shape {vols.shape}")
    return vols


def volume_landscape(
    vols: np.ndarray,
    mask: np.ndarray | str = "threshold",
    *,
    n_pcs: int = 10,
    n_clusters: int = 5,
    method: str = "ward",
    seed: int = 0,
) -> Landscape:
    """PCA and clustering of volumes held in memory (exact PCA; see :func:`stream_landscape`).

    Parameters
    ----------
    vols
        ``(M, D, D, D)`` volumes.
    mask
        A ``(D, D, D)`` weight array, ``"threshold"`` (:func:`threshold_mask`),
        ``"sphere"`` (:func:`sphere_mask`) or ``"none"``.
    n_pcs
        Volume-PCA components kept (at most ``M``).
    n_clusters
        Number of volume clusters.
    method
        ``"ward"`` (agglomerative, cryoDRGN's default) or ``"kmeans"``; both
        cluster the volume-PCA coordinates.
    seed
        Random state for k-means.

    Returns
    -------
    Landscape
    """
    vols = _check_volumes(vols)
    M, D = len(vols), vols.shape[1]
    _check_options(mask, n_clusters, method, M)
    mask = _mask_array(mask, D, lambda: threshold_mask(vols))
    keep = mask.ravel() > 0
    X = vols.reshape(M, -1)[:, keep] * mask.ravel()[keep]
    pca = pca_embed(X, min(n_pcs, M))
    labels = _cluster(pca.coords, n_clusters, method, seed)
    means = np.stack([vols[labels == c].mean(axis=0) for c in range(n_clusters)])
    return Landscape(mask, pca.coords, pca.explained_variance_ratio, labels, means)


class _Spool:
    """Float32 ``(D, D, D)`` volumes appended to a (temporary) file and read back in chunks."""

    def __init__(self, file: IO[bytes]):
        self.file = file
        self.n = 0
        self.D: int | None = None

    def append(self, vols: np.ndarray) -> None:
        if self.D is None:
            self.D = vols.shape[1]
        elif vols.shape[1:] != (self.D,) * 3:
            raise ValueError(f"volumes of shape {vols.shape[1:]} after volumes of box {self.D}")
        self.file.seek(0, 2)
        self.file.write(np.ascontiguousarray(vols).reshape(-1).view(np.uint8))
        self.n += len(vols)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """``(<= size, D, D, D)`` float32 arrays, in order; each a new array."""
        self.file.flush()
        self.file.seek(0)
        for start in range(0, self.n, size):
            out = np.empty((min(size, self.n - start),) + (self.D,) * 3, np.float32)
            if self.file.readinto(out.reshape(-1).view(np.uint8)) != out.nbytes:
                raise OSError("the volume spool file is shorter than what was written to it")
            yield out


def _masked(vols: np.ndarray, keep: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return vols.reshape(len(vols), -1)[:, keep] * weights


def _spool_pca(spool: _Spool, mask: np.ndarray, k: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M, k)`` coordinates and ``(k,)`` explained variance ratios of the masked volumes.

    One batch (``M <= batch``): the exact PCA of :func:`volume_landscape`. More:
    :class:`sklearn.decomposition.IncrementalPCA` over batches of ``batch``
    volumes, then a second pass to project them; signs as :func:`.pca_embed`.
    """
    from sklearn.decomposition import IncrementalPCA

    keep = mask.ravel() > 0
    weights = mask.ravel()[keep]
    if spool.n <= batch:
        pca = pca_embed(_masked(next(spool.chunks(batch)), keep, weights), k)
        return pca.coords, pca.explained_variance_ratio
    ipca = IncrementalPCA(n_components=min(k, int(keep.sum())), copy=False)
    for vols in spool.chunks(batch):
        ipca.partial_fit(_masked(vols, keep, weights))
        del vols
    comps = ipca.components_
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    coords = np.zeros((spool.n, k), np.float32)
    start = 0
    for vols in spool.chunks(batch):
        coords[start : start + len(vols), : len(comps)] = (_masked(vols, keep, weights) - ipca.mean_) @ comps.T
        start += len(vols)
        del vols
    evr = np.zeros(k)
    evr[: len(comps)] = ipca.explained_variance_ratio_
    return coords, evr


def stream_landscape(
    chunks: Iterable[np.ndarray],
    mask: np.ndarray | str = "threshold",
    *,
    n_pcs: int = 10,
    n_clusters: int = 5,
    method: str = "ward",
    seed: int = 0,
    chunk_size: int = CHUNK_SIZE,
    spool_dir: str | os.PathLike | None = None,
) -> Landscape:
    """:func:`volume_landscape` of volumes arriving in chunks, in memory bounded by the chunk size.

    The chunks are written to a temporary file (``M D^3`` float32 on disk) and
    read back ``max(chunk_size, n_pcs)`` volumes at a time: the threshold mask
    (exactly that of :func:`threshold_mask`), an incremental PCA (exact when
    every volume fits in one chunk, else close in its leading components:
    :class:`sklearn.decomposition.IncrementalPCA`), the clustering and the
    cluster means.

    Parameters
    ----------
    chunks
        Iterable of ``(c, D, D, D)`` volumes (e.g. a generator decoding them).
    mask, n_pcs, n_clusters, method, seed
        As for :func:`volume_landscape`.
    chunk_size
        Volumes per chunk read back from the spool file.
    spool_dir
        Folder of the temporary file (default: the system's temporary folder).

    Returns
    -------
    Landscape
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_options(mask, n_clusters, method, None)
    with tempfile.TemporaryFile(dir=spool_dir, prefix="cryolatent-landscape-") as file:
        spool, union = _Spool(file), None
        for vols in chunks:
            vols = _check_volumes(vols)
            if not isinstance(mask, str) and np.shape(mask) != vols.shape[1:]:  # say so before decoding the rest
                raise ValueError(f"mask shape {np.shape(mask)} does not match the volumes' {vols.shape[1:]}")
            spool.append(vols)
            if isinstance(mask, str) and mask == "threshold":
                above = _above_percentile(vols, 99.0)
                union = above if union is None else union | above
            del vols  # before the next chunk is made
        M, D = spool.n, spool.D
        if not M:
            raise ValueError("no volumes to analyse")
        _check_options(mask, n_clusters, method, M)
        mask = _mask_array(mask, D, lambda: _dilated(union, 2))
        batch = max(chunk_size, min(n_pcs, M))
        coords, evr = _spool_pca(spool, mask, min(n_pcs, M), batch)
        labels = _cluster(coords, n_clusters, method, seed)
        sums = np.zeros((n_clusters, D, D, D))
        start = 0
        for vols in spool.chunks(chunk_size):
            for i, label in enumerate(labels[start : start + len(vols)]):
                sums[label] += vols[i]
            start += len(vols)
            del vols
    means = (sums / np.bincount(labels, minlength=n_clusters)[:, None, None, None]).astype(np.float32)
    return Landscape(mask, coords, evr, labels, means)


def sample_landscape(
    z,
    decode: Callable[[np.ndarray], np.ndarray],
    m: int = 100,
    *,
    mask: np.ndarray | str = "threshold",
    n_pcs: int = 10,
    n_clusters: int = 5,
    method: str = "ward",
    seed: int = 0,
    chunk_size: int = CHUNK_SIZE,
    spool_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, Landscape]:
    """Decode ``m`` k-means centre particles of ``z`` and analyse their volumes.

    The volumes are decoded ``chunk_size`` at a time and streamed through
    :func:`stream_landscape`: memory does not grow with ``m``.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    decode
        ``(c, zdim) -> (c, D, D, D)`` volume generator, called on chunks of at
        most ``chunk_size`` points.
    m
        Number of sampled volumes (cryoDRGN uses 50-500).
    mask, n_pcs, n_clusters, method, seed
        As for :func:`volume_landscape`.
    chunk_size, spool_dir
        As for :func:`stream_landscape`.
    progress
        Show a progress bar of the decoding.

    Returns
    -------
    sample_indices, particle_labels, landscape
        The ``(m,)`` particles decoded, the ``(N,)`` volume cluster of every
        particle (that of its k-means centre), and the :class:`Landscape`.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_options(mask, n_clusters, method, m)
    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
    km = kmeans_cluster(z, m, seed=seed, n_init=1 if m > 50 else 10)
    centres = z[km.center_indices]

    def decoded() -> Iterator[np.ndarray]:
        with tqdm(total=len(centres), desc="decoding volumes", unit="vol", disable=not progress) as bar:
            for start in range(0, len(centres), chunk_size):
                part = centres[start : start + chunk_size]
                yield decode(part)  # not bound to a name: freed once consumed
                bar.update(len(part))

    land = stream_landscape(decoded(), mask, n_pcs=n_pcs, n_clusters=n_clusters, method=method, seed=seed,
                            chunk_size=chunk_size, spool_dir=spool_dir)
    return km.center_indices, land.labels[km.labels], land
