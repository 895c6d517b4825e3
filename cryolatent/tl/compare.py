"""Comparing two runs honestly: their latent spaces are not aligned, so compare what is comparable.

- :func:`neighbour_overlap` how well run B's latent space keeps run A's neighbourhoods, for
  the particles both runs saw;
- :func:`decoded_fsc` the FSC between the volumes both runs decode for the same particles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
from sklearn.neighbors import NearestNeighbors

from cryolatent.reconstruct.fsc import FSCResult, fsc

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.latent import LatentSet


def shared_particles(ls_a: "LatentSet", ls_b: "LatentSet") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Original indices both LatentSets hold, and their rows in each."""
    a = np.asarray(ls_a.obs["orig_index"], dtype=np.int64)
    b = np.asarray(ls_b.obs["orig_index"], dtype=np.int64)
    common, rows_a, rows_b = np.intersect1d(a, b, return_indices=True)
    if len(common) < 2:
        raise ValueError("the two runs share fewer than 2 particles: nothing to compare")
    return common, rows_a, rows_b


def neighbour_overlap(ls_a: "LatentSet", ls_b: "LatentSet", k: int = 10) -> np.ndarray:
    """For each particle of both runs, the fraction of its ``k`` nearest neighbours in run A's
    latent space that are also among its ``k`` nearest in run B's (1: the same neighbourhoods;
    about ``k / n`` by chance)."""
    _, rows_a, rows_b = shared_particles(ls_a, ls_b)
    k = max(1, min(k, len(rows_a) - 1))
    za, zb = ls_a.z[rows_a], ls_b.z[rows_b]
    na = NearestNeighbors(n_neighbors=k + 1).fit(za).kneighbors(za, return_distance=False)[:, 1:]
    nb = NearestNeighbors(n_neighbors=k + 1).fit(zb).kneighbors(zb, return_distance=False)[:, 1:]
    return np.array([len(np.intersect1d(x, y)) / k for x, y in zip(na, nb)])


def decoded_fsc(ls_a: "LatentSet", decode_a: Callable, ls_b: "LatentSet", decode_b: Callable, n: int = 4,
                seed: int = 0, apix: float | None = None) -> dict[int, FSCResult]:
    """``{original index: FSC}`` between the volumes runs A and B decode for ``n`` particles
    both saw (picked at random), each at that particle's own latent mean in its run."""
    common, rows_a, rows_b = shared_particles(ls_a, ls_b)
    pick = np.sort(np.random.default_rng(seed).choice(len(common), size=min(n, len(common)), replace=False))
    vols_a = np.asarray(decode_a(ls_a.z[rows_a[pick]]))
    vols_b = np.asarray(decode_b(ls_b.z[rows_b[pick]]))
    kwargs = {} if apix is None else {"apix": apix}
    return {int(common[i]): fsc(va, vb, **kwargs) for i, va, vb in zip(pick, vols_a, vols_b)}
