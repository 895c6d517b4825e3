"""Comparing two runs through the particles they share."""

from __future__ import annotations

import numpy as np
import pandas as pd

import cryolatent as cl
from test_volumes import sphere_decoder


def _ls(z, orig):
    return cl.LatentSet(np.asarray(z, np.float32), pd.DataFrame({"orig_index": np.asarray(orig)}))


def test_neighbour_overlap_is_one_for_the_same_space_and_low_for_noise():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3))
    a = _ls(z, np.arange(300))
    # run B saw every other particle, in another order, and its space is rotated and scaled
    keep = rng.permutation(np.arange(0, 300, 2))
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    b = _ls(3 * z[keep] @ rot, keep)
    same = cl.tl.neighbour_overlap(a, b, k=10)
    assert len(same) == 150 and same.mean() > 0.6  # A's neighbours among the shared half, kept
    assert np.allclose(cl.tl.neighbour_overlap(b, b, k=10), 1.0)
    noise = cl.tl.neighbour_overlap(a, _ls(rng.normal(size=(300, 3)), np.arange(300)), k=10)
    assert noise.mean() < 0.15


def test_decoded_fsc_of_the_same_particles():
    z = np.linspace(0, 1, 20)[:, None]
    a, b = _ls(z, np.arange(20)), _ls(z[::-1], np.arange(20)[::-1])  # same particles, other order
    same = cl.tl.decoded_fsc(a, sphere_decoder, b, sphere_decoder, n=3, apix=2.0)
    assert len(same) == 3 and all(c.fsc[1:8].min() > 0.999 and c.apix == 2.0 for c in same.values())
    other = cl.tl.decoded_fsc(a, sphere_decoder, _ls(1 - z, np.arange(20)), sphere_decoder, n=3, seed=1)
    assert min(c.auc for c in other.values()) < max(c.auc for c in same.values())
