"""Analysis tools on a :class:`~cryolatent.latent.LatentSet` (scanpy-style ``tl``).

Each tool takes the LatentSet first, stores its result under a predictable key
(``ls.emb[...]`` or ``ls.obs[...]``), records its parameters in ``ls.uns[...]``
and names any missing prerequisite. The array-in/array-out kernels are in
:mod:`.embedding`, :mod:`.clustering`, :mod:`.trajectory` and :mod:`.landscape`.

>>> import cryolatent as cl; tl = cl.tl                    # doctest: +SKIP
>>> tl.pca(ls); tl.umap(ls); tl.kmeans(ls, k=20)           # doctest: +SKIP
>>> path = tl.graph_path(ls, [i, j], k=10)                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from cryolatent.tl import clustering, compare, embedding, landscape, trajectory
from cryolatent.tl.compare import decoded_fsc, neighbour_overlap

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.latent import LatentSet

__all__ = ["pca", "umap", "kmeans", "gmm", "centers", "pc_traversal", "graph_path", "analyze_landscape",
           "neighbour_overlap", "decoded_fsc", "clustering", "compare", "embedding", "landscape", "trajectory"]


def _basis(ls: "LatentSet", basis: str) -> np.ndarray:
    ls.require(basis, f"run {basis}(ls) first" if basis != "z" else "load latent means first")
    return ls.emb[basis]


def pca(ls: "LatentSet", n: int | None = None, *, key_added: str = "pca") -> None:
    """PCA of the latent means into ``ls.emb[key_added]``.

    Parameters
    ----------
    ls
        The LatentSet.
    n
        Components kept (default ``min(zdim, 10)``, at least 2; columns beyond
        ``zdim`` are zero, so a 1-D latent space plots as ``[z - mean, 0]``).
    key_added
        Key in ``emb`` and ``uns`` (``uns`` keeps the axes, mean and
        explained variance ratios).
    """
    n = n or max(2, min(ls.z.shape[1], 10))
    res = embedding.pca_embed(ls.z, n)
    ls.set_emb(key_added, res.coords)
    ls.record(key_added, {"n": n}, components=res.components, mean=res.mean,
              explained_variance_ratio=res.explained_variance_ratio)


def umap(
    ls: "LatentSet",
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_fit: int | None = 20000,
    seed: int = 0,
    key_added: str = "umap",
) -> None:
    """UMAP of the latent means into ``ls.emb[key_added]`` (see :func:`.embedding.umap_embed`)."""
    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "n_fit": n_fit, "seed": seed}
    ls.set_emb(key_added, embedding.umap_embed(ls.z, **params))
    ls.record(key_added, params)


def _store_clusters(ls: "LatentSet", key: str, res: clustering.Clusters, params: dict) -> None:
    ls.obs[key] = pd.Categorical(res.labels, categories=range(len(res.centers)))
    ls.record(key, params, centers=res.centers, center_indices=res.center_indices)


def kmeans(ls: "LatentSet", k: int = 20, *, seed: int = 0, basis: str = "z", key_added: str = "kmeans") -> None:
    """k-means into ``ls.obs[key_added]``; centre particles in ``ls.uns[key_added]["center_indices"]``.

    Parameters
    ----------
    ls
        The LatentSet.
    k
        Number of clusters.
    seed
        Random state.
    basis
        Embedding clustered (``"z"``, or e.g. ``"umap"`` after :func:`umap`).
    key_added
        Column of ``obs`` and key of ``uns``.
    """
    res = clustering.kmeans_cluster(_basis(ls, basis), k, seed=seed)
    _store_clusters(ls, key_added, res, {"k": k, "seed": seed, "basis": basis})


def gmm(
    ls: "LatentSet",
    k: int = 10,
    *,
    seed: int = 0,
    covariance_type: str = "full",
    basis: str = "z",
    key_added: str = "gmm",
) -> None:
    """Gaussian mixture labels into ``ls.obs[key_added]`` (see :func:`.clustering.gmm_cluster`)."""
    res = clustering.gmm_cluster(_basis(ls, basis), k, seed=seed, covariance_type=covariance_type)
    params = {"k": k, "seed": seed, "covariance_type": covariance_type, "basis": basis}
    _store_clusters(ls, key_added, res, params)


def centers(ls: "LatentSet", key: str = "kmeans") -> tuple[np.ndarray, np.ndarray]:
    """``(center_indices, z[center_indices])`` of a clustering step."""
    ls.require(key, f"run {key}(ls) first", where="uns")
    idx = np.asarray(ls.uns[key]["center_indices"], dtype=np.int64)
    return idx, ls.z[idx]


def pc_traversal(
    ls: "LatentSet", pc: int = 1, n: int = 10, *, lo: float = 5.0, hi: float = 95.0, key: str = "pca"
) -> np.ndarray:
    """``(n, zdim)`` latent points along principal component ``pc`` (1-based) at percentile stops.

    Needs :func:`pca` (its axes are reused so plots and traversal agree).
    """
    ls.require(key, "run pca(ls) first", where="uns")
    u = ls.uns[key]
    res = embedding.PCAResult(ls.emb[key], np.asarray(u["components"]),
                              np.asarray(u["explained_variance_ratio"]), np.asarray(u["mean"]))
    return trajectory.pc_stops(ls.z, pc, n, lo=lo, hi=hi, pca=res)


def graph_path(ls: "LatentSet", anchors: Sequence[int], k: int = 10, *, basis: str = "z") -> np.ndarray:
    """Particle positions along the shortest kNN-graph path through ``anchors``.

    The path is recorded in ``ls.uns["graph_path"]``; an InputError asks for a
    larger ``k`` when the anchors are not connected.
    """
    path = trajectory.graph_path(_basis(ls, basis), anchors, k=k)
    ls.record("graph_path", {"anchors": list(anchors), "k": k, "basis": basis}, path=path)
    return path


def analyze_landscape(
    ls: "LatentSet",
    decode: Callable[[np.ndarray], np.ndarray],
    m: int = 100,
    *,
    n_clusters: int = 5,
    mask: np.ndarray | str = "threshold",
    n_pcs: int = 10,
    method: str = "ward",
    seed: int = 0,
    key_added: str = "landscape",
) -> landscape.Landscape:
    """Volume-space landscape (see :func:`.landscape.sample_landscape`).

    Stores every particle's volume cluster in ``ls.obs[key_added]`` and the
    sampled particles and volume-PCA coordinates in ``ls.uns[key_added]``;
    returns the :class:`~.landscape.Landscape` (mask, cluster mean volumes...).
    """
    params = {"m": m, "n_clusters": n_clusters, "n_pcs": n_pcs, "method": method, "seed": seed,
              "mask": mask if isinstance(mask, str) else "array"}
    idx, labels, land = landscape.sample_landscape(
        ls.z, decode, m, mask=mask, n_pcs=n_pcs, n_clusters=n_clusters, method=method, seed=seed
    )
    ls.obs[key_added] = pd.Categorical(labels, categories=range(n_clusters))
    ls.record(key_added, params, sample_indices=idx, vol_pca=land.coords, sample_labels=land.labels,
              explained_variance_ratio=land.explained_variance_ratio)
    return land
