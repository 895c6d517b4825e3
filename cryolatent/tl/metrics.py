"""Accuracy of a heterogeneous reconstruction against ground truth (cryoBench-style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from cryolatent.reconstruct.fsc import fsc


@dataclass
class ConformationScore:
    """FSC of the volume decoded for one ground-truth conformation bin (``resolution_05`` in
    Angstrom, or in pixels when ``apix`` is None: the pixel size was unknown)."""

    label: int
    n_particles: int
    auc: float
    resolution_05: float
    apix: float | None = None


def median_latents(z: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """The per-dimension median latent of the particles of each ground-truth label."""
    return {int(lab): np.median(z[labels == lab], axis=0) for lab in np.unique(labels)}


def per_conformation_fsc(
    z: np.ndarray,
    labels: np.ndarray,
    gt_volumes: np.ndarray,
    decode: Callable[[np.ndarray], np.ndarray],
    apix: float | None = None,
    mask: np.ndarray | None = None,
) -> list[ConformationScore]:
    """Decode each bin's median latent and score it against that bin's true volume.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent means in particle order.
    labels
        ``(N,)`` ground-truth volume index of each particle.
    gt_volumes
        ``(n_labels, D, D, D)`` true maps.
    decode
        Maps ``(M, zdim)`` latents to ``(M, D, D, D)`` volumes.
    apix
        Voxel size in Angstrom; None (unknown) gives resolutions in pixels.
    """
    medians = median_latents(z, labels)
    keys = sorted(medians)
    vols = decode(np.stack([medians[k] for k in keys]))
    scores = []
    for k, vol in zip(keys, vols):
        res = fsc(vol, gt_volumes[k], mask=mask, apix=apix)
        scores.append(ConformationScore(k, int((labels == k).sum()), res.auc, res.resolution_05, res.apix))
    return scores


def pc_spearman(z: np.ndarray, truth: np.ndarray, subset: np.ndarray | None = None, n_pcs: int = 1) -> float:
    """The best |Spearman rank correlation| of the latent's first ``n_pcs`` principal components with a
    true coordinate (``n_pcs`` 2: a motion that need not be the largest one)."""
    if subset is not None:
        z, truth = z[subset], truth[subset]
    zc = z - z.mean(0)
    if z.shape[1] == 1:
        pcs = zc
    else:
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        pcs = zc @ vt[:n_pcs].T
    return float(max(abs(stats.spearmanr(pc, truth).statistic) for pc in pcs.T))


def pc1_spearman(z: np.ndarray, truth: np.ndarray, subset: np.ndarray | None = None) -> float:
    """|Spearman rank correlation| of the latent's first principal component with a true coordinate."""
    return pc_spearman(z, truth, subset, n_pcs=1)


def state_separation(z: np.ndarray, state: np.ndarray, seed: int = 0) -> float:
    """Cross-validated balanced accuracy (the mean of each state's recall: 0.5 by chance however rare
    a state is) of a linear classifier, its classes weighted alike, predicting a discrete state from z."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    clf = LogisticRegression(max_iter=1000, class_weight="balanced")
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, z, state, cv=folds, scoring="balanced_accuracy").mean())
