"""Benchmark metrics on cases with known answers."""

from __future__ import annotations

import numpy as np

from cryolatent.tl import metrics


def test_perfect_decoder_scores_one_and_wrong_decoder_less():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 16, 16, 16))
    labels = np.repeat([0, 1, 2], 20)
    z = labels[:, None] + rng.normal(scale=0.01, size=(60, 1))
    decode = lambda zz: gt[np.round(zz[:, 0]).astype(int)]  # noqa: E731
    scores = metrics.per_conformation_fsc(z, labels, gt, decode, apix=2.0)
    assert [s.label for s in scores] == [0, 1, 2] and all(s.n_particles == 20 for s in scores)
    assert np.allclose([s.auc for s in scores], 1)
    wrong = lambda zz: gt[(np.round(zz[:, 0]).astype(int) + 1) % 3]  # noqa: E731
    assert max(s.auc for s in metrics.per_conformation_fsc(z, labels, gt, wrong)) < 0.3


def test_pc1_spearman_and_state_separation():
    rng = np.random.default_rng(1)
    t = rng.uniform(size=500)
    state = rng.integers(0, 2, 500)
    z = np.stack([3 * t, state + rng.normal(scale=0.1, size=500), rng.normal(scale=0.1, size=500)], 1)
    assert metrics.pc1_spearman(z, t) > 0.95
    assert metrics.pc1_spearman(rng.normal(size=(500, 3)), t) < 0.2
    # a second, smaller motion is PC2: PC1 misses it, the better of PC1 and PC2 finds it
    t2 = rng.uniform(size=500)
    z2 = np.stack([3 * t, t2, rng.normal(scale=0.05, size=500)], 1)
    assert metrics.pc1_spearman(z2, t2) < 0.2 < 0.95 < metrics.pc_spearman(z2, t2, n_pcs=2)
    assert metrics.pc_spearman(z2, t, n_pcs=2) == metrics.pc1_spearman(z2, t)
    half = np.arange(500) < 250
    assert metrics.pc_spearman(z2, t2, subset=half, n_pcs=2) > 0.95
    assert metrics.state_separation(z, state) > 0.95
    assert metrics.state_separation(rng.normal(size=(500, 3)), state) < 0.65
    rare = (rng.uniform(size=2000) < 0.05).astype(int)  # 5%: always guessing "0" is 95% accurate ...
    assert metrics.state_separation(rng.normal(size=(2000, 3)), rare) < 0.62  # ... but 0.5 balanced
    found = rng.normal(size=(2000, 3)) + 3 * rare[:, None]
    assert metrics.state_separation(found, rare) > 0.9  # a rare state separated in z is found
