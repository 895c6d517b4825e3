"""An existing cryoDRGN run opens as a LatentSet: its z, its particles' covariates, original indices."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import yaml

import cryolatent as cl


def _cryodrgn_run(folder, data, ind=None, n=None, epochs=(1, 2)):
    """A folder laid out as `cryodrgn train_vae -o` leaves it (config.yaml with dataset_args, z.N.pkl)."""
    folder.mkdir()
    args = {"particles": str(data / "particles.mrcs"), "poses": str(data / "poses.pkl"), "ctf": str(data / "ctf.pkl"),
            "ind": None if ind is None else str(ind), "datadir": None, "invert_data": True, "window": True,
            "norm": [0.0, 1.0]}
    (folder / "config.yaml").write_text(yaml.safe_dump({"cmd": ["cryodrgn", "train_vae"], "dataset_args": args,
                                                        "model_args": {"zdim": 3}}))
    for e in epochs:
        with open(folder / f"z.{e}.pkl", "wb") as f:
            pickle.dump(np.full((n, 3), float(e), np.float32), f)
    return folder


def test_a_cryodrgn_run_with_an_index_file(tiny_dataset, tmp_path):
    ind = np.array([5, 1, 17, 42, 99, 200, 299])
    cl.io.write_index_pkl(tmp_path / "ind.pkl", ind)
    run = _cryodrgn_run(tmp_path / "run", tiny_dataset, tmp_path / "ind.pkl", n=len(ind))
    ls = cl.LatentSet.from_cryodrgn(run)
    assert ls.z.shape == (7, 3) and np.all(ls.z == 2.0)  # the latest epoch
    assert np.all(cl.LatentSet.from_cryodrgn(run, epoch=1).z == 1.0)
    assert np.array_equal(ls.obs["orig_index"], ind) and "defocus_A" in ls.obs
    sel = cl.Selection.from_indices(ls, [0, 2, 3])
    sel.write_index(ls, tmp_path / "keep.pkl", inverse=False)
    assert np.array_equal(cl.io.load_index(tmp_path / "keep.pkl"), ind[[0, 2, 3]])
    sel.write_star(ls, tmp_path / "keep.star")
    assert len(cl.io.read_particles(tmp_path / "keep.star")) == 3


def test_bad_cryodrgn_runs_are_refused(tiny_dataset, tmp_path):
    with pytest.raises(cl.InputError, match="not a cryoDRGN run"):
        cl.LatentSet.from_cryodrgn(tmp_path)
    run = _cryodrgn_run(tmp_path / "short", tiny_dataset, n=10)
    with pytest.raises(cl.InputError, match="latent rows"):
        cl.LatentSet.from_cryodrgn(run)
    hostile = _cryodrgn_run(tmp_path / "hostile", tiny_dataset, n=300, epochs=())

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with open(hostile / "z.pkl", "wb") as f:
        pickle.dump(Boom(), f)
    with pytest.raises(cl.InputError):
        cl.LatentSet.from_cryodrgn(hostile)
    assert not (tmp_path / "pwned").exists()
