"""FSC: identity, independence, a known low-pass, and resolution interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.forward import fourier
from cryolatent.reconstruct.fsc import fsc, fsc_curve, resolution_at, soft_sphere_mask


def test_fsc_of_a_map_with_itself_is_one():
    v = np.random.default_rng(0).normal(size=(24, 24, 24))
    res = fsc(v, v, apix=2.0)
    assert np.allclose(res.fsc, 1)
    assert res.auc == pytest.approx(1)
    assert res.resolution_05 == pytest.approx(4.0)  # Nyquist


def test_fsc_is_scale_invariant_and_sign_sensitive():
    v = np.random.default_rng(1).normal(size=(16, 16, 16))
    assert np.allclose(fsc_curve(v, 3 * v)[1], 1)
    assert np.allclose(fsc_curve(v, -v)[1], -1)


def test_independent_noise_gives_near_zero_fsc():
    rng = np.random.default_rng(2)
    _, c = fsc_curve(rng.normal(size=(32,) * 3), rng.normal(size=(32,) * 3))
    assert np.abs(c[4:]).max() < 0.15


def test_copy_sharing_only_low_frequencies_drops_at_the_cutoff():
    D = 32
    rng = np.random.default_rng(3)
    v, other = rng.normal(size=(D,) * 3), rng.normal(size=(D,) * 3)
    k = np.sqrt(((np.indices((D,) * 3) - D // 2) ** 2).sum(0))
    low = fourier.ifft_center(fourier.fft_center(v, 3) * (k <= 8), 3).real
    high = fourier.ifft_center(fourier.fft_center(other, 3) * (k > 8), 3).real
    freq, c = fsc_curve(v, low + high)
    assert (c[1:8] > 0.99).all() and (np.abs(c[10:]) < 0.15).all()
    assert resolution_at(freq, c, 0.5) == pytest.approx(8.5 / D, abs=1 / D)


def test_resolution_interpolates_linearly():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    assert resolution_at(freq, curve, 0.5) == pytest.approx(0.1 + 0.1 * (0.4 / 0.6))
    assert resolution_at(freq, np.ones(4), 0.5) == 0.3


def test_mask_is_soft_and_centred():
    m = soft_sphere_mask(32, radius=10, width=4)
    assert m[16, 16, 16] == 1 and m[0, 0, 0] == 0
    assert 0 < m[16, 16, 16 + 12] < 1
