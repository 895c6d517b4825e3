"""The latent pair plot image: binned once, counts as numpy's, kept particles in colour."""

from __future__ import annotations

import numpy as np

from cryolatent.pl.pairs import PairGrid


def test_pair_counts_are_numpys_histograms():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5000, 3))
    grid = PairGrid(z, bins=16)
    inside = grid.inside
    assert 0.95 < inside.mean() < 1.0  # the 0.5-99.5 percentile box
    lo, hi = np.percentile(z, 0.5, axis=0), np.percentile(z, 99.5, axis=0)
    h, _, _ = np.histogram2d(z[inside, 2], z[inside, 0], bins=16, range=[[lo[2], hi[2]], [lo[0], hi[0]]])
    np.testing.assert_array_equal(grid._all[2, 0], h)
    np.testing.assert_array_equal(grid._all[1, 1], np.histogram(z[inside, 1], bins=16, range=(lo[1], hi[1]))[0])


def test_kept_particles_are_drawn_in_colour_only_where_they_are():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20000, 2))
    grid = PairGrid(z, bins=32)
    plain = grid.rgb()
    assert plain.shape == (2 * 32 + 2, 2 * 32 + 2, 3) and plain.dtype == np.uint8
    left = z[:, 0] < 0  # kept: the left half of tile (1, 0), whose columns are z_0 (z_1 upwards)
    img = grid.rgb(left).astype(float)
    tile = img[32 + 2 :, :32]
    blue = (tile[..., 2] - tile[..., 0] > 20).any(0)  # columns tinted with the kept colour (grey has B = R)
    kept_bins = set(grid.idx[left & grid.inside, 0].tolist())
    assert blue.sum() >= 10 and set(np.flatnonzero(blue)) <= kept_bins
    assert max(kept_bins) < 20  # so the right columns hold none
    png = grid.png(left)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
