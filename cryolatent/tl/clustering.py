"""Clustering of latent points: k-means with centres snapped to particles, and GMM.

As in cryoDRGN, each cluster centre is replaced for decoding by the latent mean
of the particle nearest to it, so every centre volume is that of a real particle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Clusters(NamedTuple):
    """A clustering of ``N`` latent points into ``k`` groups.

    Attributes
    ----------
    labels
        ``(N,)`` int cluster of each point.
    centers
        ``(k, zdim)`` cluster centres (k-means means or GMM means).
    center_indices
        ``(k,)`` index of the point nearest to each centre; decode
        ``z[center_indices]``.
    """

    labels: np.ndarray
    centers: np.ndarray
    center_indices: np.ndarray


def _check(z, k: int) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(f"latent points must be (N, zdim), got shape {z.shape}")
    if not 1 <= k <= len(z):
        raise ValueError(f"k must be between 1 and the number of points ({len(z)}), got {k}")
    return z


def nearest_particles(z, points) -> np.ndarray:
    """Index of the row of ``z`` nearest (Euclidean) to each of ``points``.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent points.
    points
        ``(M, zdim)`` query points.

    Returns
    -------
    np.ndarray
        ``(M,)`` int64 indices into ``z``.
    """
    from sklearn.neighbors import NearestNeighbors

    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    points = np.asarray(points, dtype=np.float64).reshape(-1, z.shape[1])
    nn = NearestNeighbors(n_neighbors=1).fit(z)
    return nn.kneighbors(points, return_distance=False)[:, 0].astype(np.int64)


def kmeans_cluster(z, k: int = 20, *, seed: int = 0, n_init: int = 10) -> Clusters:
    """k-means (scikit-learn, seeded) with each centre's nearest particle.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    k
        Number of clusters.
    seed, n_init
        Random state and number of restarts of :class:`sklearn.cluster.KMeans`.

    Returns
    -------
    Clusters
    """
    from sklearn.cluster import KMeans

    z = _check(z, k)
    km = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(z)
    centers = km.cluster_centers_
    return Clusters(km.labels_.astype(np.int64), centers, nearest_particles(z, centers))


def gmm_cluster(z, k: int = 10, *, seed: int = 0, covariance_type: str = "full") -> Clusters:
    """Gaussian mixture model (scikit-learn) of latent points.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    k
        Number of components.
    seed
        Random state.
    covariance_type
        ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"``.

    Returns
    -------
    Clusters
        Most probable component per point, component means, and the particle
        nearest each mean.
    """
    from sklearn.mixture import GaussianMixture

    z = _check(z, k)
    gm = GaussianMixture(n_components=k, covariance_type=covariance_type, random_state=seed).fit(z)
    return Clusters(gm.predict(z).astype(np.int64), gm.means_, nearest_particles(z, gm.means_))
