from __future__ import annotations

import numpy as np
import pytest

from cryolatent.tl.embedding import pca_embed, umap_embed


def test_pca_recovers_main_axis_of_anisotropic_gaussian():
    rng = np.random.default_rng(0)
    axis = np.array([1.0, 2.0, -1.0, 0.5]) / np.linalg.norm([1.0, 2.0, -1.0, 0.5])
    other = np.linalg.qr(np.column_stack([axis, rng.normal(size=(4, 3))]))[0][:, 1:]
    z = 5 * rng.normal(size=(2000, 1)) * axis + 0.5 * rng.normal(size=(2000, 3)) @ other.T + 3.0
    res = pca_embed(z, 2)
    assert abs(abs(res.components[0] @ axis) - 1) < 1e-3
    assert res.explained_variance_ratio[0] > 0.95
    assert np.allclose(res.mean, z.mean(0))
    assert res.coords.shape == (2000, 2)
    assert np.allclose(res.coords[:, 0], (z - z.mean(0)) @ res.components[0], atol=1e-4)


def test_zdim_one_degrades_to_z_and_zeros():
    z = np.linspace(-1, 1, 50)[:, None]
    res = pca_embed(z, 2)
    assert np.allclose(np.abs(res.coords[:, 0]), np.abs(z[:, 0]), atol=1e-6)
    assert np.all(res.coords[:, 1] == 0) and res.explained_variance_ratio[1] == 0
    u = umap_embed(z)
    assert np.allclose(u[:, 0], z[:, 0]) and np.all(u[:, 1] == 0)


@pytest.mark.slow
def test_umap_subsample_then_transform():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0] * 4, [8.0] * 4])
    z = np.concatenate([rng.normal(size=(1500, 4)) + c for c in centres]).astype(np.float32)
    xy = umap_embed(z, n_fit=500, n_neighbors=10, seed=0)
    assert xy.shape == (3000, 2) and np.all(np.isfinite(xy))
    # the two blobs stay apart in the embedding, fitted and transformed points alike
    a, b = xy[:1500].mean(0), xy[1500:].mean(0)
    spread = max(xy[:1500].std(0).max(), xy[1500:].std(0).max())
    assert np.linalg.norm(a - b) > 2 * spread


def test_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        pca_embed(np.array([[0.0, np.nan]]))
