"""The conformational landscape in volume space (as cryoDRGN's analyze_landscape).

Sample latent points (k-means centres), decode them, mask the volumes, run PCA
on the masked voxels, cluster the volumes, and average each cluster's volumes.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy import ndimage

from cryolatent.reconstruct.fsc import soft_sphere_mask
from cryolatent.tl.clustering import kmeans_cluster
from cryolatent.tl.embedding import pca_embed


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
    vols = np.asarray(vols)
    thresholds = np.percentile(vols.reshape(len(vols), -1), percentile, axis=1)
    mask = np.any(vols > thresholds[:, None, None, None], axis=0)
    if dilate > 0:
        mask = ndimage.binary_dilation(mask, iterations=int(dilate))
    return mask.astype(np.float32)


def volume_landscape(
    vols: np.ndarray,
    mask: np.ndarray | str = "threshold",
    *,
    n_pcs: int = 10,
    n_clusters: int = 5,
    method: str = "ward",
    seed: int = 0,
) -> Landscape:
    """PCA and clustering of volumes.

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
    from sklearn.cluster import AgglomerativeClustering, KMeans


    vols = np.asarray(vols, dtype=np.float32)
    if vols.ndim != 4 or not vols.shape[1] == vols.shape[2] == vols.shape[3]:
        raise ValueError(f"volumes must be (M, D, D, D), got shape {vols.shape}")
    M, D = len(vols), vols.shape[1]
    if not 1 <= n_clusters <= M:
        raise ValueError(f"n_clusters must be between 1 and the number of volumes ({M}), got {n_clusters}")
    if isinstance(mask, str):
        makers = {
            "threshold": lambda: threshold_mask(vols),
            "sphere": lambda: sphere_mask(D),
            "none": lambda: np.ones((D, D, D), np.float32),
        }
        if mask not in makers:
            raise ValueError(f"mask must be an array or one of {', '.join(makers)}, got {mask!r}")
        mask = makers[mask]()
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape != (D, D, D):
        raise ValueError(f"mask shape {mask.shape} does not match the volumes' {(D, D, D)}")
    keep = mask.ravel() > 0
    X = vols.reshape(M, -1)[:, keep] * mask.ravel()[keep]
    pca = pca_embed(X, min(n_pcs, M))
    coords = pca.coords
    if method == "ward":
        labels = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(coords)
    elif method == "kmeans":
        labels = KMeans(n_clusters=n_clusters, random_state=seed, n_init=10).fit_predict(coords)
    else:
        raise ValueError(f"method must be 'ward' or 'kmeans', got {method!r}")
    labels = labels.astype(np.int64)
    means = np.stack([vols[labels == c].mean(axis=0) for c in range(n_clusters)])
    return Landscape(mask, coords, pca.explained_variance_ratio, labels, means)


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
) -> tuple[np.ndarray, np.ndarray, Landscape]:
    """Decode ``m`` k-means centre particles of ``z`` and analyse their volumes.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    decode
        ``(m, zdim) -> (m, D, D, D)`` volume generator.
    m
        Number of sampled volumes (cryoDRGN uses 50-500).
    mask, n_pcs, n_clusters, method, seed
        As for :func:`volume_landscape`.

    Returns
    -------
    sample_indices, particle_labels, landscape
        The ``(m,)`` particles decoded, the ``(N,)`` volume cluster of every
        particle (that of its k-means centre), and the :class:`Landscape`.
    """

    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
    km = kmeans_cluster(z, m, seed=seed, n_init=1 if m > 50 else 10)
    vols = np.asarray(decode(z[km.center_indices]))
    land = volume_landscape(vols, mask, n_pcs=n_pcs, n_clusters=n_clusters, method=method, seed=seed)
    return km.center_indices, land.labels[km.labels], land
