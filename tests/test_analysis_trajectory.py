from __future__ import annotations

import numpy as np
import pytest

from cryolatent import tl
from cryolatent.tl.trajectory import graph_path, interpolate, knn_graph, pc_stops, shortest_path
from cryolatent.errors import InputError
from cryolatent.latent import LatentSet


def test_graph_path_follows_an_arc_in_order():
    t = np.linspace(0, np.pi, 60)
    arc = np.column_stack([np.cos(t), np.sin(t), 0.1 * t])
    perm = np.random.default_rng(0).permutation(60)
    z = arc[perm]
    start, end = int(np.argmin(perm)), int(np.argmax(perm))  # arc ends
    order = perm[graph_path(z, [start, end], k=4)]
    # in order along the arc, from end to end; chords may skip points (shorter than the arc)
    assert order[0] == 0 and order[-1] == 59 and np.all(np.diff(order) >= 1)
    # gaps growing along the arc: each point's nearest neighbour is the previous one, so
    # the k=1 graph is the chain and the path visits every point in order
    t2 = np.cumsum(1.03 ** np.arange(60)) / 150
    z2 = np.column_stack([np.cos(t2), np.sin(t2), 0.1 * t2])[perm]
    assert np.array_equal(perm[graph_path(z2, [start, end], k=1)], np.arange(60))
    # a waypoint is visited; the path runs start -> waypoint -> end
    mid = int(np.flatnonzero(perm == 31)[0])
    order = perm[graph_path(z, [start, mid, end], k=4)]
    assert 31 in order and np.all(np.diff(order) > 0)


def test_disconnected_graph_names_the_fix():
    z = np.concatenate([np.zeros((10, 2)) + np.arange(10)[:, None] * [0.1, 0], np.full((10, 2), 100.0)
                        + np.arange(10)[:, None] * [0.1, 0]])
    with pytest.raises(InputError, match="increase k"):
        graph_path(z, [0, 15], k=3)
    g = knn_graph(z, k=3)
    assert (g != g.T).nnz == 0
    assert len(shortest_path(knn_graph(z, k=12), [0, 15])) >= 2


def test_pc_stops_percentiles_along_main_axis():
    rng = np.random.default_rng(0)
    z = np.column_stack([rng.uniform(0, 10, 5000), rng.normal(scale=0.1, size=5000)])
    pts = pc_stops(z, 1, 5, lo=10, hi=90)
    assert pts.shape == (5, 2)
    assert np.allclose(np.sort(pts[:, 0]), [1, 3, 5, 7, 9], atol=0.3)
    assert np.allclose(pts[:, 1], z[:, 1].mean(), atol=0.05)
    line = interpolate([0, 0], [1, 2], 3)
    assert np.allclose(line, [[0, 0], [0.5, 1], [1, 2]])


def test_wrappers_need_pca_and_record_path():
    z = np.column_stack([np.linspace(0, 1, 40), np.zeros(40)])
    ls = LatentSet(z)
    with pytest.raises(ValueError, match=r"run pca\(ls\) first"):
        tl.pc_traversal(ls)
    tl.pca(ls)
    assert tl.pc_traversal(ls, 1, 3).shape == (3, 2)
    path = tl.graph_path(ls, [0, 39], k=3)
    assert path[0] == 0 and path[-1] == 39 and np.all(np.diff(path) > 0)
    assert ls.uns["graph_path"]["path"] == path.tolist()
