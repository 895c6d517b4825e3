from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import yaml

from cryolatent import tl
from cryolatent.errors import InputError
from cryolatent.io import write_ctf_pkl, write_index_pkl, write_mrcs, write_poses_pkl
from cryolatent.latent import LatentSet
from cryolatent.training.run import Run


def make_run(root, n=40, zdim=3, D=8, ind=None, seed=0):
    """A fake training folder: particles (+ CTF, poses) named in config.yaml, z.npy, weights.pt."""
    rng = np.random.default_rng(seed)
    data = root / "data"
    data.mkdir(parents=True)
    write_mrcs(data / "particles.mrcs", rng.normal(size=(n, D, D)).astype(np.float32), apix=2.0)
    ctf = np.zeros((n, 9), np.float32)
    ctf[:, 0], ctf[:, 1] = D, 2.0
    ctf[:, 2], ctf[:, 3] = 10000 + 100 * np.arange(n), 9000 + 100 * np.arange(n)
    ctf[:, 5], ctf[:, 6], ctf[:, 7] = 300, 2.7, 0.1
    write_ctf_pkl(data / "ctf.pkl", ctf)
    rots = np.tile(np.eye(3, dtype=np.float32), (n, 1, 1))
    write_poses_pkl(data / "poses.pkl", rots, np.zeros((n, 2), np.float32))
    cfg = {"data": {"particles": str(data / "particles.mrcs"), "poses": str(data / "poses.pkl"),
                    "ctf": str(data / "ctf.pkl"), "ind": None, "datadir": None}, "version": "0.1.0"}
    m = n
    if ind is not None:
        write_index_pkl(data / "ind.pkl", ind)
        cfg["data"]["ind"] = str(data / "ind.pkl")
        m = len(ind)
    out = root / "run"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    np.save(out / "z.npy", rng.normal(size=(m, zdim)).astype(np.float32))
    (out / "weights.pt").write_bytes(b"")
    pd.DataFrame({"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.5], "recon": [2.9, 1.9, 1.4],
                  "kl": [0.1, 0.1, 0.1], "seconds": [1, 1, 1]}).to_csv(out / "train_log.csv", index=False)
    return out


def test_from_run_adds_covariates_and_original_indices(tmp_path):
    ind = np.arange(40)[::3]
    out = make_run(tmp_path, ind=ind)
    ls = LatentSet.from_run(out)
    assert len(ls) == len(ind) and ls.z.shape == (len(ind), 3)
    assert np.array_equal(ls.obs["orig_index"], ind)
    assert np.allclose(ls.obs["defocus_A"], 9500 + 100 * ind)
    assert {"rot", "tilt", "psi"} <= set(ls.obs.columns)
    assert ls.stack is not None and len(ls.open_stack()) == len(ind)
    # a particle file given explicitly is read with the run's index file
    other = LatentSet.from_run(out, particles=tmp_path / "data" / "particles.mrcs")
    assert np.array_equal(other.obs["orig_index"], ind) and "defocus_A" not in other.obs


def test_run_resolves_paths_against_its_folder_and_reads_the_pixel_size(tmp_path):
    out = make_run(tmp_path)
    assert Run.open(out).pixel_size() == 2.0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    cfg["data"] = {k: v and os.path.relpath(v, out) for k, v in cfg["data"].items()}  # ../data/...
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    run = Run.open(out)
    assert run.config.data.particles == "../data/particles.mrcs"  # not there from the working folder
    assert run.data_paths()["particles"] == str(out / "../data/particles.mrcs")
    assert run.pixel_size() == 2.0 and len(run.open_particles()) == 40
    assert "defocus_A" in LatentSet.from_run(out).obs
    (tmp_path / "data" / "particles.mrcs").unlink()
    with pytest.warns(UserWarning, match="pixel size of run .* is unknown: .*particles.mrcs: no such file"):
        assert run.pixel_size() is None  # unknown, not 1 A, and said so
    with pytest.raises(InputError, match="particles.mrcs"):
        run.open_particles()


def test_from_run_errors(tmp_path):
    out = make_run(tmp_path)
    np.save(out / "z.npy", np.zeros((39, 3), np.float32))
    with pytest.raises(InputError, match=r"z\.npy.*39.*40"):
        LatentSet.from_run(out)
    (out / "weights.pt").unlink()
    with pytest.raises(InputError, match="weights.pt"):
        LatentSet.from_run(out)
    (out / "z.npy").unlink()
    with pytest.raises(InputError, match="z.npy and weights.pt"):
        LatentSet.from_run(out)


def test_from_run_without_readable_particles_warns(tmp_path):
    out = make_run(tmp_path)
    (tmp_path / "data" / "particles.mrcs").unlink()
    with pytest.warns(UserWarning, match="no covariates"):
        ls = LatentSet.from_run(out)
    assert list(ls.obs.columns) == ["orig_index"] and len(ls) == 40


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    ls = LatentSet(rng.normal(size=(50, 2)).astype(np.float32),
                   pd.DataFrame({"orig_index": np.arange(100, 150), "defocus_A": rng.uniform(1e4, 2e4, 50)}))
    tl.pca(ls)
    tl.kmeans(ls, k=3)
    ls.obs["picked"] = np.arange(50) % 2 == 0
    ls.obs["note"] = ["a"] * 50
    ls.save(tmp_path / "ls")
    with pytest.raises(InputError, match="exists"):
        ls.save(tmp_path / "ls")
    back = LatentSet.load(tmp_path / "ls")
    assert set(back.emb) == {"z", "pca"} and np.array_equal(back.z, ls.z)
    assert np.allclose(back.emb["pca"], ls.emb["pca"])
    pd.testing.assert_frame_equal(back.obs, ls.obs, check_dtype=False, check_categorical=False)
    assert back.obs["picked"].dtype == bool and back.obs["kmeans"].dtype == "category"
    assert back.uns == ls.uns
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "ls").iterdir())
    ls.save(tmp_path / "ls", force=True)
    with pytest.raises(InputError, match="meta.json"):
        LatentSet.load(tmp_path)


def test_tools_name_missing_prerequisites():
    ls = LatentSet(np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"run pca\(ls\) first"):
        tl.pc_traversal(ls)
    with pytest.raises(ValueError, match="rows"):
        ls.set_emb("bad", np.zeros((3, 2)))
