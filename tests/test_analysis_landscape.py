from __future__ import annotations

import tracemalloc
import weakref

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from cryolatent import tl
from cryolatent.tl.landscape import (
    sample_landscape,
    sphere_mask,
    stream_landscape,
    threshold_mask,
    volume_landscape,
)
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


def _two_factor_volumes(m: int, seed: int = 0) -> np.ndarray:
    """``m`` volumes: a blob left or right (two classes) plus a blob of random amplitude, and weak noise."""
    rng = np.random.default_rng(seed)
    side, amp = np.repeat([0, 1], m // 2), rng.uniform(0.5, 1.5, m)
    vols = np.stack([_blob((-4 + 8 * s, 0, 0)) + a * _blob((0, 4, 0)) for s, a in zip(side, amp)])
    return vols + 0.01 * rng.normal(size=vols.shape).astype(np.float32)


def test_streaming_landscape_matches_the_in_memory_one():
    vols = _two_factor_volumes(24)
    for mask in ("threshold", "sphere"):
        full = volume_landscape(vols, mask, n_pcs=3, n_clusters=2)
        # every volume in one chunk: the same exact PCA
        one = stream_landscape([vols], mask, n_pcs=3, n_clusters=2, chunk_size=24)
        for a, b in zip(full, one):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        # chunks of 5 (incremental PCA): the same mask, labels and cluster means; the two signal
        # components (99.99% of the variance) agree to 1e-4 of their range, the noise one need not
        part = stream_landscape((vols[i : i + 5] for i in range(0, 24, 5)), mask, n_pcs=3, n_clusters=2,
                                chunk_size=5)
        assert np.array_equal(part.mask, full.mask) and np.array_equal(part.labels, full.labels)
        np.testing.assert_allclose(part.cluster_means, full.cluster_means, rtol=0, atol=1e-5)
        np.testing.assert_allclose(part.explained_variance_ratio[:2], full.explained_variance_ratio[:2], atol=1e-5)
        scale = np.abs(full.coords[:, :2]).max(axis=0)
        assert np.all(np.abs(part.coords[:, :2] - full.coords[:, :2]).max(axis=0) < 1e-4 * scale)


def test_sample_landscape_decodes_in_chunks_and_keeps_none(tmp_path):
    alive, alive_at_call, sizes = [0], [], []

    def counting_decode(z):
        alive_at_call.append(alive[0])
        sizes.append(len(z))
        vols = _decode(z)
        alive[0] += len(vols)
        weakref.finalize(vols, lambda n=len(vols): alive.__setitem__(0, alive[0] - n))
        return vols

    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(0.0, 0.05, (60, 2)), rng.normal(1.0, 0.05, (60, 2))]).astype(np.float32)
    with pytest.raises(ValueError, match="method"):
        sample_landscape(z, counting_decode, 20, method="single", progress=False)
    assert sizes == []  # refused before decoding anything
    idx, labels, land = sample_landscape(z, counting_decode, 20, n_pcs=3, n_clusters=2, chunk_size=4,
                                         spool_dir=tmp_path, progress=False)
    assert sizes == [4] * 5  # every volume decoded once, 4 at a time
    assert alive_at_call == [0] * 5  # each chunk released before the next is decoded
    assert alive[0] == 0 and list(tmp_path.iterdir()) == []  # none kept, the spool file removed
    assert adjusted_rand_score(np.repeat([0, 1], 60), labels) == 1.0 and land.coords.shape == (20, 3)


def _decode24(z):
    """As :func:`_decode` in a 24-voxel box, the second blob's amplitude z[:, 1]."""
    x = np.arange(24) - 12
    zz, yy, xx = np.meshgrid(x, x, x, indexing="ij")

    def blob(cx, cy):
        return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2 + zz**2) / 18.0).astype(np.float32)

    return np.stack([blob(-4 + 8 * float(zi[0] > 0.5), 0) + float(zi[1]) * blob(0, 4) for zi in z])


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_landscape_peak_memory_does_not_grow_with_the_number_of_volumes():
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(0.0, 0.3, (100, 2)), rng.normal(1.0, 0.3, (100, 2))]).astype(np.float32)
    volume = 24**3 * 4
    opts = {"n_pcs": 3, "n_clusters": 2}
    sample_landscape(z, _decode24, 8, chunk_size=4, progress=False, **opts)  # imports done before measuring
    streamed = {m: _peak_bytes(lambda: sample_landscape(z, _decode24, m, chunk_size=4, progress=False, **opts))
                for m in (8, 40)}
    assert streamed[40] - streamed[8] < 4 * volume  # 32 more volumes, at most 4 at a time
    held = {m: _peak_bytes(lambda: volume_landscape(_decode24(z[:m]), **opts)) for m in (8, 40)}
    assert held[40] - held[8] > 32 * volume  # what holding every volume looks like to this measure
