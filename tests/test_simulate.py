"""The simulator: exact images of the built-in molecule, outputs, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cryolatent import io as clio
from cryolatent.errors import InputError
from cryolatent.forward.geometry import random_rotations
from cryolatent.forward.projection import project_volume
from cryolatent.datasets.simulate import HingeMolecule, SimulationConfig, simulate_dataset, simulate_particles


def test_analytic_projections_match_voxel_projections():
    mol = HingeMolecule.default(0)
    D = 48
    rots = random_rotations(3, seed=2)
    for t, state in [(0.1, 0), (0.9, 1)]:
        analytic = mol.projections(D, rots, np.full(3, t), np.full(3, state))
        voxel = project_volume(mol.volume(D, t, state), rots)
        assert np.abs(analytic - voxel).max() < 0.03 * analytic.max()


def test_hinge_moves_only_the_arm_and_state_adds_the_extra_domain():
    mol = HingeMolecule.default(0)
    c0, w0 = mol.blob_centers(np.array([0.0]), np.array([0]))
    c1, w1 = mol.blob_centers(np.array([1.0]), np.array([1]))
    moved = np.linalg.norm(c1[0] - c0[0], axis=1) > 1e-9
    assert np.array_equal(moved, mol.part == 1)
    assert (w0[0][mol.part == 2] == 0).all() and (w1[0][mol.part == 2] > 0).all()


def test_particles_are_white_and_noise_matches_snr():
    cfg = SimulationConfig(n_particles=200, box=32, snr=None, seed=0)
    clean = simulate_particles(cfg, progress=False)
    # RELION-style extracted particles: protein is white, i.e. -(ctf * projection) > 0 at low frequency
    assert clean["images"].mean(0)[12:20, 12:20].mean() > 0
    noisy = simulate_particles(SimulationConfig(n_particles=200, box=32, snr=0.1, seed=0), progress=False)
    noise = noisy["images"] - clean["images"]
    assert noise.var() == pytest.approx(clean["images"].var() / 0.1, rel=0.05)
    assert np.array_equal(noisy["rots"], clean["rots"])  # same seed, same poses


def test_simulate_dataset_writes_consistent_files(tiny_dataset):
    d = tiny_dataset
    stack = clio.read_particles(d / "particles.mrcs")
    assert (len(stack), stack.D, stack.apix) == (300, 32, pytest.approx(6.0))
    rots, trans = clio.read_poses(d / "poses.pkl")
    rots_s, trans_s = clio.read_poses(d / "particles.star")
    assert np.allclose(rots, rots_s, atol=1e-5) and np.allclose(trans, trans_s, atol=1e-6)
    assert np.allclose(clio.read_ctf(d / "ctf.pkl"), clio.read_ctf(d / "particles.star"), rtol=1e-5)
    labels = np.load(d / "labels.npy")
    gt = np.load(d / "ground_truth.npz")
    assert labels.shape == (300,) and np.array_equal(gt["label"], labels)
    n_vols = len(list((d / "gt_volumes").glob("vol_*.mrc")))
    rows = (d / "gt_volumes" / "volumes.csv").read_text().splitlines()
    assert n_vols == len(rows) - 1 >= 2  # one row per ground-truth conformation, after the header
    assert 0 <= labels.min() and labels.max() < n_vols  # every label names a written volume
    meta = yaml.safe_load((d / "simulation.yaml").read_text())
    assert meta["seed"] == 3 and meta["n_particles"] == 300
    assert not list(d.parent.glob(".data.*"))  # no temporary folder left


def test_simulate_refuses_to_overwrite(tiny_dataset):
    with pytest.raises(InputError, match="--force"):
        simulate_dataset(tiny_dataset, n_particles=10, box=32, progress=False)


def test_simulate_from_user_volumes(tmp_path):
    mol = HingeMolecule.default(1)
    paths = []
    for i, t in enumerate([0.0, 1.0]):
        p = tmp_path / f"v{i}.mrc"
        clio.write_volume(p, mol.volume(24, t, 0), apix=4.0)
        paths.append(str(p))
    out = simulate_dataset(tmp_path / "sim", n_particles=40, volumes=paths, snr=None, progress=False)
    labels = np.load(out / "labels.npy")
    assert set(labels) <= {0, 1} and clio.read_particles(out / "particles.mrcs").D == 24
    assert clio.read_particles(out / "particles.mrcs").apix == pytest.approx(4.0)
