"""Paths through latent space: principal-component traversals and shortest
paths through a nearest-neighbour graph of the particles."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import sparse

from cryolatent.errors import InputError
from cryolatent.tl.embedding import PCAResult, pca_embed


def pc_stops(
    z,
    pc: int = 1,
    n: int = 10,
    *,
    lo: float = 5.0,
    hi: float = 95.0,
    pca: PCAResult | None = None,
) -> np.ndarray:
    """Latent points along one principal component, at percentile stops.

    The stops are the ``linspace(lo, hi, n)`` percentiles of the particles'
    projections on the component; each point is ``mean + value * axis`` (the
    other components are zero).

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    pc
        Component number, 1-based as in plots (``1`` is PC1).
    n
        Number of stops.
    lo, hi
        First and last percentile.
    pca
        A :class:`PCAResult` of ``z`` to reuse (computed when omitted).

    Returns
    -------
    np.ndarray
        ``(n, zdim)`` float32 latent points.
    """
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if pca is None:
        pca = pca_embed(z, max(pc, 1))
    if not 1 <= pc <= min(pca.components.shape[0], z.shape[1]):
        raise ValueError(f"pc must be between 1 and {min(pca.components.shape[0], z.shape[1])}, got {pc}")
    if n < 1 or not 0 <= lo <= hi <= 100:
        raise ValueError(f"need n >= 1 and 0 <= lo <= hi <= 100, got n={n}, lo={lo}, hi={hi}")
    axis = np.asarray(pca.components[pc - 1])
    proj = (z - pca.mean) @ axis
    values = np.percentile(proj, np.linspace(lo, hi, n))
    return (pca.mean + values[:, None] * axis).astype(np.float32)


def interpolate(z_start, z_end, n: int = 10) -> np.ndarray:
    """``n`` evenly spaced latent points from ``z_start`` to ``z_end`` (inclusive)."""
    a = np.asarray(z_start, dtype=np.float64).ravel()
    b = np.asarray(z_end, dtype=np.float64).ravel()
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) * a + t * b).astype(np.float32)


def knn_graph(z, k: int = 10) -> sparse.csr_matrix:
    """Symmetric k-nearest-neighbour graph; edge weights are Euclidean distances.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent points.
    k
        Neighbours per point (capped at ``N - 1``); an edge is kept when either
        end has the other among its ``k`` nearest.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(N, N)`` weighted adjacency.
    """
    from sklearn.neighbors import NearestNeighbors

    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    n = len(z)
    if n < 2:
        raise ValueError("a graph needs at least 2 points")
    k = int(min(k, n - 1))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    graph = NearestNeighbors(n_neighbors=k).fit(z).kneighbors_graph(mode="distance")
    # Duplicate points are at distance 0, which a sparse graph would read as "no edge".
    graph.data = np.maximum(graph.data, 1e-12)
    return graph.maximum(graph.T).tocsr()


def shortest_path(graph: sparse.spmatrix, anchors: Sequence[int]) -> np.ndarray:
    """Shortest path through ``graph`` visiting ``anchors`` in order (Dijkstra).

    Parameters
    ----------
    graph
        ``(N, N)`` weighted adjacency (e.g. :func:`knn_graph`).
    anchors
        Two or more node (particle) indices: start, optional waypoints, end.

    Returns
    -------
    np.ndarray
        int64 node indices along the path, from the first to the last anchor.

    Raises
    ------
    InputError
        When two consecutive anchors are not connected in the graph.
    """
    from scipy.sparse.csgraph import dijkstra

    anchors = [int(a) for a in anchors]
    n = graph.shape[0]
    if len(anchors) < 2:
        raise ValueError("a path needs at least two particles (start and end)")
    bad = [a for a in anchors if not 0 <= a < n]
    if bad:
        raise ValueError(f"particle {bad[0]} is out of range for {n} particles")
    path = [anchors[0]]
    for a, b in zip(anchors[:-1], anchors[1:]):
        dist, pred = dijkstra(graph, directed=False, indices=a, return_predecessors=True)
        if not np.isfinite(dist[b]):
            raise InputError(
                f"particles {a} and {b} are not connected in the nearest-neighbour graph; increase k"
            )
        leg = [b]
        while leg[-1] != a:
            leg.append(int(pred[leg[-1]]))
        path.extend(reversed(leg[:-1]))
    return np.asarray(path, dtype=np.int64)


def graph_path(z, anchors: Sequence[int], *, k: int = 10) -> np.ndarray:
    """Particles along the shortest kNN-graph path between ``anchors`` (see :func:`shortest_path`)."""
    try:
        return shortest_path(knn_graph(z, k), anchors)
    except InputError as exc:
        raise InputError(f"{exc.problem} (k = {k})") from None
