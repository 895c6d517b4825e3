"""Back-projection: accuracy on noise-free data, hand and origin, half-map FSC on noisy data."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.reconstruct.backproject import backproject_chunks
from cryolatent.reconstruct.fsc import fsc
from cryolatent.datasets.simulate import HingeMolecule, SimulationConfig, simulate_particles


def chunks(images, size=200):
    for start in range(0, len(images), size):
        yield np.arange(start, min(start + size, len(images))), images[start : start + size]


@pytest.fixture(scope="module")
def noise_free():
    D = 32
    gt = HingeMolecule.default(0).volume(D, 0.3, 1)
    cfg = SimulationConfig(n_particles=2000, box=D, apix=6.0, snr=None, seed=5, volumes=[gt])
    sim = simulate_particles(cfg, progress=False)
    rec = backproject_chunks(chunks(sim["images"]), sim["rots"], sim["trans"], sim["ctf"], D, apix=6.0)
    return gt, rec


def test_noise_free_map_matches_ground_truth_to_08_nyquist(noise_free):
    gt, rec = noise_free
    res = fsc(rec.volume, gt, apix=6.0)
    shells = np.arange(len(res.fsc))
    assert (res.fsc[shells <= 0.8 * (len(shells) - 1)] > 0.5).all(), res.fsc


def test_map_has_the_right_hand_sign_and_origin(noise_free):
    gt, rec = noise_free
    corr = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]  # noqa: E731
    good = corr(rec.volume, gt)
    assert good > 0.98
    assert corr(rec.volume, gt[::-1]) < good - 0.2  # mirror image (other hand)
    assert corr(rec.volume, -gt) < 0  # density sign
    assert corr(rec.volume, np.roll(gt, 1, axis=2)) < good - 0.05  # one-voxel origin shift
    scale = (rec.volume * gt).sum() / (gt * gt).sum()
    assert 0.9 < scale < 1.1  # same density scale as the ground truth


def test_noisy_half_maps_report_a_sensible_resolution():
    D = 32
    gt = HingeMolecule.default(0).volume(D, 0.5, 0)
    cfg = SimulationConfig(n_particles=1500, box=D, apix=6.0, snr=0.05, seed=6, volumes=[gt])
    sim = simulate_particles(cfg, progress=False)
    rec = backproject_chunks(chunks(sim["images"]), sim["rots"], sim["trans"], sim["ctf"], D, apix=6.0)
    nyquist = 2 * 6.0
    assert rec.fsc.fsc[1:4].min() > 0.8  # low resolution is well determined
    assert nyquist < rec.fsc.resolution_0143 < 5 * nyquist  # limited by noise, not perfect
    assert rec.fsc.resolution_05 >= rec.fsc.resolution_0143
    # the half-map FSC predicts the map's agreement with the truth (Rosenthal & Henderson)
    vs_truth = fsc(rec.volume, gt, apix=6.0)
    assert abs(vs_truth.resolution_05 - rec.fsc.resolution_0143) < 0.35 * rec.fsc.resolution_0143
    assert n_particles_ok(rec)


def n_particles_ok(rec):
    return rec.n_particles == 1500 and rec.volume.shape == (32, 32, 32)


def test_uninverted_data_gives_negative_density(noise_free):
    D = 32
    gt, _ = noise_free
    cfg = SimulationConfig(n_particles=300, box=D, apix=6.0, snr=None, seed=7, volumes=[gt])
    sim = simulate_particles(cfg, progress=False)
    rec = backproject_chunks(chunks(sim["images"]), sim["rots"], sim["trans"], sim["ctf"], D,
                             apix=6.0, invert_data=False)
    assert np.corrcoef(rec.volume.ravel(), gt.ravel())[0, 1] < -0.9
