from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from cryolatent import tl
from cryolatent.tl.clustering import gmm_cluster, kmeans_cluster, nearest_particles
from cryolatent.latent import LatentSet


def _blobs(seed=0, n=100):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], float)
    truth = np.repeat(np.arange(4), n)
    return centres[truth] + rng.normal(scale=0.5, size=(len(truth), 3)), truth


def test_kmeans_recovers_blobs_and_snaps_centres_to_particles():
    z, truth = _blobs()
    res = kmeans_cluster(z, 4, seed=0)
    assert adjusted_rand_score(truth, res.labels) == 1.0
    d = np.linalg.norm(z[None] - res.centers[:, None], axis=2)  # (k, N)
    assert np.array_equal(res.center_indices, d.argmin(axis=1))
    assert np.all(res.labels[res.center_indices] == np.arange(4))


def test_gmm_recovers_blobs():
    z, truth = _blobs(1)
    res = gmm_cluster(z, 4, seed=0)
    assert adjusted_rand_score(truth, res.labels) == 1.0
    assert np.array_equal(res.center_indices, nearest_particles(z, res.centers))


def test_wrappers_store_and_record():
    z, truth = _blobs(2, 30)
    ls = LatentSet(z)
    tl.kmeans(ls, k=4)
    assert adjusted_rand_score(truth, ls.obs["kmeans"]) == 1.0
    assert ls.uns["kmeans"]["params"]["k"] == 4 and len(ls.uns["kmeans"]["center_indices"]) == 4
    assert "version" in ls.uns["kmeans"]
    tl.gmm(ls, k=4)
    assert adjusted_rand_score(truth, ls.obs["gmm"]) == 1.0
    idx, zc = tl.centers(ls)
    assert np.array_equal(zc, ls.z[idx])
    with pytest.raises(ValueError, match=r"run umap\(ls\) first"):
        tl.kmeans(ls, k=4, basis="umap")
    with pytest.raises(ValueError, match="k must be"):
        kmeans_cluster(z, 1000)
