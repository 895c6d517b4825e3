"""Views of latent means: PCA and UMAP (array in, array out), and local density.

A latent space of one dimension has no second axis to show: PCA then returns
``[z - mean, 0, ...]`` and UMAP ``[z, 0]`` (the latent value itself plus a
column of zeros; no jitter), so plots and selections work unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree


class PCAResult(NamedTuple):
    """Principal components of latent points.

    Attributes
    ----------
    coords
        ``(N, n)`` projections on the components (zero columns beyond ``zdim``).
    components
        ``(n, zdim)`` unit axes, largest variance first (zero rows beyond ``zdim``).
    explained_variance_ratio
        ``(n,)`` fraction of the total variance along each axis.
    mean
        ``(zdim,)`` centre of the points.
    """

    coords: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def _as_points(z) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"latent points must be a non-empty (N, zdim) array, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("latent points contain NaN or infinite values")
    return z


def pca_embed(z, n_components: int = 2) -> PCAResult:
    """Principal component analysis of latent points.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    n_components
        Number of components returned; those beyond ``min(N, zdim)`` are zero.

    Returns
    -------
    PCAResult
        Coordinates, axes (signs fixed so each axis's largest loading is
        positive), explained variance ratios and the mean.
    """
    z = _as_points(z)
    n, zdim = z.shape
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    mean = z.mean(axis=0)
    centred = z - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)
    m = min(n_components, len(vt))
    components = np.zeros((n_components, zdim))
    components[:m] = vt[:m]
    evr = np.zeros(n_components)
    evr[:m] = ratio[:m]
    coords = centred @ components.T
    return PCAResult(coords.astype(np.float32), components, evr, mean)


def umap_embed(
    z,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_fit: int | None = 20000,
    seed: int = 0,
    n_components: int = 2,
) -> np.ndarray:
    """UMAP of latent points, fitted on a random subsample for large sets.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means.
    n_neighbors, min_dist
        UMAP's parameters (``n_neighbors`` is capped at ``N - 1``).
    n_fit
        When ``N > n_fit``, UMAP is fitted on ``n_fit`` random points and the
        rest are placed with ``transform`` (fast for 1e5-1e6 particles).
        ``None`` fits on all points.
    seed
        Seeds the subsample and UMAP (single-threaded, reproducible).
    n_components
        Output dimensions.

    Returns
    -------
    np.ndarray
        ``(N, n_components)`` float32 coordinates; for ``zdim == 1`` the latent
        value and zeros (see the module docstring).
    """
    z = _as_points(z).astype(np.float32)
    n, zdim = z.shape
    if zdim == 1 or n < 4:
        out = np.zeros((n, n_components), np.float32)
        out[:, 0] = z[:, 0] if zdim == 1 else pca_embed(z, 1).coords[:, 0]
        return out
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Tensorflow not installed" (ImportWarning)
        import umap  # slow import (numba), so only here

    rng = np.random.default_rng(seed)
    fit_idx = np.arange(n)
    if n_fit is not None and n > n_fit:
        if n_fit < 4:
            raise ValueError(f"n_fit must be >= 4, got {n_fit}")
        fit_idx = np.sort(rng.choice(n, size=n_fit, replace=False))
    reducer = umap.UMAP(
        n_neighbors=int(min(n_neighbors, len(fit_idx) - 1)),
        min_dist=min_dist,
        n_components=n_components,
        random_state=seed,
        n_jobs=1,
    )
    out = np.empty((n, n_components), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's notices about n_jobs / random_state
        out[fit_idx] = reducer.fit_transform(z[fit_idx])
        rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
        if len(rest):
            for s in range(0, len(rest), 100_000):  # bounded memory for 1e6 points
                chunk = rest[s : s + 100_000]
                out[chunk] = reducer.transform(z[chunk])
    return out


def knn_density(x: np.ndarray, k: int = 15) -> np.ndarray:
    """Log local density from the distance to the k-th neighbour: ``-d * log(r_k)`` (up to a constant)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if n < 2:
        return np.zeros(n)
    k = max(1, min(k, n - 1))
    r, _ = cKDTree(x).query(x, k=k + 1)
    return -d * np.log(np.maximum(r[:, -1], 1e-12))
