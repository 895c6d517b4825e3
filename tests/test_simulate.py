"""The simulator: exact images of the built-in molecules, outputs, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cryolatent import io as clio
from cryolatent.errors import InputError
from cryolatent.forward.geometry import random_rotations
from cryolatent.forward.projection import project_volume
from cryolatent.cli import main
from cryolatent.datasets.simulate import (
    HingeMolecule,
    SimulationConfig,
    TwoDomainMolecule,
    sample_conformations,
    simulate_dataset,
    simulate_particles,
)


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
    assert (meta["molecule"], meta["p_state1"], meta["n_t_bins"]) == ("hinge", 0.5, 10)  # the values used
    assert set(gt.files) == {"t", "state", "label"}
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


def test_default_dataset_is_unchanged():
    """Numbers recorded from the simulator before the two-domain molecule was added (the default
    dataset is pinned by benchmarks and notebooks)."""
    sim = simulate_particles(SimulationConfig(n_particles=20, box=16), progress=False)
    assert sim["label"].tolist() == [1, 16, 7, 1, 3, 19, 15, 5, 11, 15, 15, 0, 19, 15, 0, 17, 9, 5, 3, 11]
    assert np.allclose(sim["t"][:3], [0.14124656, 0.67006185, 0.71461854], atol=1e-8)
    assert sim["noise_std"] == pytest.approx(1.188881685141301, rel=1e-6)
    images = sim["images"].astype(np.float64)
    assert (images**2).sum() == pytest.approx(7870.776598269803, rel=1e-5)
    assert sim["gt_volumes"].shape == (20, 16, 16, 16)
    assert sim["gt_volumes"].astype(np.float64).sum() == pytest.approx(643.9360787685614, rel=1e-6)
    assert np.array_equal(sim["gt_params"]["t"][:2], [0.05, 0.15000000000000002])
    clean = simulate_particles(SimulationConfig(n_particles=30, box=16, snr=None, seed=5, n_t_bins=3, p_state1=0.3),
                               progress=False)
    assert clean["label"].tolist()[:10] == [0, 4, 2, 4, 4, 4, 4, 2, 3, 0]
    images = clean["images"].astype(np.float64)
    assert (images.sum(), (images**2).sum()) == (pytest.approx(90.17476885765791, rel=1e-5),
                                                  pytest.approx(943.107918488468, rel=1e-5))
    assert HingeMolecule.default(0).centers.sum() == pytest.approx(0.07450590280252412, rel=1e-9)


def test_two_domain_arms_move_independently():
    mol = TwoDomainMolecule.default(0)
    c00, w0 = mol.blob_centers(np.array([[0.0, 0.0]]), np.array([0]))
    c10, _ = mol.blob_centers(np.array([[1.0, 0.0]]), np.array([0]))
    c01, w1 = mol.blob_centers(np.array([[0.0, 1.0]]), np.array([1]))
    by_t = np.linalg.norm(c10[0] - c00[0], axis=1) > 1e-9
    by_t2 = np.linalg.norm(c01[0] - c00[0], axis=1) > 1e-9
    assert np.array_equal(by_t, mol.part == 1) and np.array_equal(by_t2, mol.part == 2)
    assert by_t.sum() >= 8 and by_t2.sum() >= 8
    extra = mol.part == mol.extra_part
    assert extra.sum() >= 8 and (w0[0][extra] == 0).all() and (w1[0][extra] > 0).all()
    # exact projections of the two-hinge molecule match its voxel maps
    rots = random_rotations(2, seed=4)
    analytic = mol.projections(40, rots, np.array([[0.2, 0.9], [0.2, 0.9]]), np.array([1, 1]))
    voxel = project_volume(mol.volume(40, (0.2, 0.9), 1), rots)
    assert np.abs(analytic - voxel).max() < 0.03 * analytic.max()


def test_two_domain_state_is_rare_and_hinges_independent():
    cfg = SimulationConfig(molecule="two-domain").validate().resolved()
    assert (cfg.p_state1, cfg.n_t_bins) == (0.05, 4)
    assert SimulationConfig().resolved().p_state1 == 0.5  # the hinge molecule keeps its default
    t, state = sample_conformations(TwoDomainMolecule.default(0), 4000, np.random.default_rng(0), cfg.p_state1)
    assert t.shape == (4000, 2) and 0 <= t.min() and t.max() <= 1
    assert abs(state.mean() - 0.05) < 0.015
    assert abs(np.corrcoef(t.T)[0, 1]) < 0.05


def test_two_domain_labels_name_their_ground_truth_volumes():
    D = 24
    sim = simulate_particles(SimulationConfig(molecule="two-domain", n_particles=40, box=D, snr=None, seed=1,
                                              p_state1=0.3), progress=False)
    mol = TwoDomainMolecule.default(1)
    t, t2, state, label = sim["coords"]["t"], sim["coords"]["t2"], sim["state"], sim["label"]
    assert list(sim["gt_params"]) == ["t", "t2", "state"] and len(sim["gt_volumes"]) == 32
    assert 0 < state.sum() < 40
    gt = sim["gt_volumes"].reshape(32, -1)
    for i in range(len(label)):
        k = label[i]
        # the label's volume is the molecule at the centres of the particle's bins
        assert state[i] == sim["gt_params"]["state"][k]
        assert abs(t[i] - sim["gt_params"]["t"][k]) <= 0.125 and abs(t2[i] - sim["gt_params"]["t2"][k]) <= 0.125
        # and the ground-truth volume nearest the particle's own map (away from bin edges, where two tie)
        if min(abs(x * 4 - round(x * 4)) for x in (t[i], t2[i])) > 0.12:
            own = mol.volume(D, (t[i], t2[i]), state[i]).ravel()
            assert ((gt - own) ** 2).sum(1).argmin() == k


def test_simulate_cli_two_domain(tmp_path):
    out = tmp_path / "two"
    assert main(["simulate", "-o", str(out), "-n", "30", "-D", "16", "--molecule", "two-domain", "--no-progress"]) == 0
    gt = np.load(out / "ground_truth.npz")
    assert set(gt.files) == {"t", "t2", "state", "label"} and gt["t2"].shape == (30,)
    assert np.array_equal(np.load(out / "labels.npy"), gt["label"]) and gt["label"].max() < 32
    assert (out / "gt_volumes" / "volumes.csv").read_text().splitlines()[0] == "volume,file,t,t2,state"
    assert len(list((out / "gt_volumes").glob("vol_*.mrc"))) == 32
    meta = yaml.safe_load((out / "simulation.yaml").read_text())
    assert (meta["molecule"], meta["p_state1"], meta["n_t_bins"]) == ("two-domain", 0.05, 4)


def test_unknown_molecule_is_one_line_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "a" / "bad"
    assert main(["simulate", "-o", str(out), "-n", "10", "-D", "16", "--molecule", "helix", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--molecule" in err and "two-domain" in err
    with pytest.raises(InputError, match="--molecule must be one of hinge, two-domain"):
        simulate_dataset(out, n_particles=10, box=16, molecule="helix", progress=False)
    assert list(tmp_path.iterdir()) == []
