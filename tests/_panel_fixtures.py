"""Explorer-panel fixtures shared by the widget tests (unit, napari and browser tiers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cryolatent.latent import LatentSet
from cryolatent.volumes import Decoder
from cryolatent.widgets.state import PanelState


def panel_state(embeddings: dict, covariates: dict | None = None, labels: dict | None = None, decode=None, *,
                index=None, **kwargs) -> PanelState:
    """A PanelState over a LatentSet built from arrays: ``embeddings["z"]`` (default: the first
    embedding) are the latent means, ``covariates`` float and ``labels`` categorical ``obs``
    columns, ``decode`` a ``(M, zdim) -> (M, D, D, D)`` function wrapped in a Decoder."""
    emb = {k: np.asarray(v) for k, v in embeddings.items()}
    n = len(next(iter(emb.values())))
    obs = pd.DataFrame({"orig_index": np.arange(n) if index is None else np.asarray(index)})
    for name, values in (covariates or {}).items():
        obs[name] = np.asarray(values, dtype=np.float64)
    for name, values in (labels or {}).items():
        obs[name] = pd.Categorical(np.asarray(values))
    z = emb.pop("z") if "z" in emb else next(iter(emb.values()))
    ls = LatentSet(z, obs, emb=emb)
    return PanelState(ls, None if decode is None else Decoder(decode, cache_size=32), **kwargs)


def synthetic_latentset(n: int = 2000, seed: int = 0) -> LatentSet:
    """3 Gaussian blobs in an 8-D latent space with "pca"/"umap"-like embeddings,
    k-means-like labels ("kmeans") and two covariates ("defocus_A", "log_likelihood")."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, 8))
    labels = rng.integers(0, 3, size=n)
    z = centres[labels] + rng.normal(size=(n, 8))
    zc = z - z.mean(0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    pca = zc @ vt[:4].T
    umap = np.tanh(pca[:, :2] / 6.0) * 10 + rng.normal(scale=0.3, size=(n, 2))
    obs = pd.DataFrame({"orig_index": np.arange(n), "defocus_A": rng.uniform(8000, 25000, n),
                        "log_likelihood": rng.normal(-100, 5, n), "kmeans": pd.Categorical(labels)})
    return LatentSet(z, obs, emb={"umap": umap, "pca": pca})


def lobes_decoder(box: int = 32, apix: float = 1.0) -> Decoder:
    """An analytic Decoder: two Gaussian lobes whose separation follows ``z[:, 0]`` (2..8 voxels)."""
    grid = np.arange(box, dtype=np.float32) - box // 2
    zz, yy, xx = np.meshgrid(grid, grid, grid, indexing="ij")

    def one(z0: float) -> np.ndarray:
        shift = 2.0 + 6.0 / (1 + np.exp(-z0 / 3))
        a = np.exp(-((xx - shift) ** 2 + yy**2 + zz**2) / (2 * (box / 10) ** 2))
        b = np.exp(-((xx + shift) ** 2 + yy**2 + zz**2) / (2 * (box / 12) ** 2))
        return (a + 0.8 * b).astype(np.float32)

    return Decoder(lambda z: np.stack([one(float(zi[0])) for zi in z]), apix=apix)


def synthetic_state(n: int = 2000, box: int = 32, seed: int = 0, **kwargs) -> PanelState:
    """A small PanelState for tests: :func:`synthetic_latentset` with :func:`lobes_decoder`."""
    return PanelState(synthetic_latentset(n, seed), lobes_decoder(box), **kwargs)
