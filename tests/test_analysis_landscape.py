from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cryolatent import tl
from cryolatent.tl.landscape import sphere_mask, threshold_mask, volume_landscape
from cryolatent.latent import LatentSet

D = 16


def _blob(centre, radius=3.0):
    x = np.arange(D) - D // 2
    zz, yy, xx = np.meshgrid(x, x, x, indexing="ij")
    r2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (zz - centre[2]) ** 2
    return np.exp(-r2 / (2 * radius**2)).astype(np.float32)


def _decode(z):
    """Analytic decoder: a blob whose x position is z[:, 0] (0: left, 1: right) plus a fixed blob."""
    return np.stack([_blob((-4 + 8 * float(zi[0] > 0.5), 0, 0)) + _blob((0, 4, 0)) for zi in z])


def test_landscape_separates_two_classes():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 10)
    vols = _decode(truth[:, None].astype(float)) + 0.05 * rng.normal(size=(20, D, D, D)).astype(np.float32)
    for mask in ("threshold", "sphere"):
        land = volume_landscape(vols, mask, n_pcs=3, n_clusters=2)
        assert adjusted_rand_score(truth, land.labels) == 1.0
        assert land.cluster_means.shape == (2, D, D, D)
        assert land.explained_variance_ratio[0] > 0.5
    m = threshold_mask(vols, 99, dilate=1)
    assert m.sum() > 0 and set(np.unique(m)) <= {0.0, 1.0}
    s = sphere_mask(D, radius=4, width=2)
    assert s[D // 2, D // 2, D // 2] == 1 and s[0, 0, 0] == 0


def test_analyze_landscape_wrapper_labels_particles():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(0.0, 0.05, (100, 2)), rng.normal(1.0, 0.05, (100, 2))]).astype(np.float32)
    ls = LatentSet(z)
    land = tl.analyze_landscape(ls, _decode, 8, n_clusters=2, method="kmeans")
    assert adjusted_rand_score(np.repeat([0, 1], 100), ls.obs["landscape"]) == 1.0
    assert len(ls.uns["landscape"]["sample_indices"]) == 8 and land.mask.shape == (D, D, D)
