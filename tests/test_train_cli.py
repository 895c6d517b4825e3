from __future__ import annotations

import pickle

import mrcfile
import numpy as np
import pytest

from cryolatent.cli import main

from _nn_helpers import one_thread, write_blob_dataset

TINY = ["--enc-dim", "24", "--enc-layers", "1", "--dec-dim", "24", "--dec-layers", "1",
        "--no-amp", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs")
    return write_blob_dataset(folder, n=40, D=16, seed=2)


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    particles, poses, ctf = dataset
    out = tmp_path_factory.mktemp("run") / "out"
    rc = main(["train", str(particles), "--poses", str(poses), "--ctf", str(ctf), "--zdim", "2",
               "--epochs", "2", "--batch-size", "8", "-o", str(out), *TINY])
    assert rc == 0
    return out


def test_train_outputs(trained, capsys):
    assert (trained / "weights.pt").is_file()
    assert np.load(trained / "z.npy").shape == (40, 2)


def test_eval_vol(trained, tmp_path):
    rc = main(["eval-vol", str(trained), "--z", "0.1 -0.2", "-o", str(tmp_path / "v"), "--device", "cpu"])
    assert rc == 0
    with mrcfile.open(tmp_path / "v" / "vol_000.mrc") as mrc:
        assert mrc.data.shape == (16, 16, 16)
        assert float(mrc.voxel_size.x) == pytest.approx(4.0)
    np.savetxt(tmp_path / "z.txt", np.zeros((3, 2)))
    rc = main(["eval-vol", str(trained), "--zfile", str(tmp_path / "z.txt"), "-o", str(tmp_path / "w"),
               "--downsample", "8", "--flip", "--device", "cpu"])
    assert rc == 0
    files = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert files == ["vol_000.mrc", "vol_001.mrc", "vol_002.mrc"]
    with mrcfile.open(tmp_path / "w" / "vol_002.mrc") as mrc:
        assert mrc.data.shape == (8, 8, 8)
        assert float(mrc.voxel_size.x) == pytest.approx(8.0)
    # refuses to overwrite
    assert main(["eval-vol", str(trained), "--z", "0 0", "-o", str(tmp_path / "v"), "--device", "cpu"]) == 1


def test_eval_vol_bad_z(trained, tmp_path, capsys):
    assert main(["eval-vol", str(trained), "--z", "0.1 0.2 0.3", "-o", str(tmp_path / "v")]) == 1
    err = capsys.readouterr().err.strip()
    assert "zdim = 2" in err and len(err.splitlines()) == 1


def test_embed_matches_training_z(trained, dataset, tmp_path):
    rc = main(["embed", str(trained), "-o", str(tmp_path / "z.npy"), "--device", "cpu"])
    assert rc == 0
    z = np.load(tmp_path / "z.npy")
    assert np.allclose(z, np.load(trained / "z.npy"), atol=1e-5)
    particles, poses, _ = dataset
    rc = main(["embed", str(trained), str(particles), "--poses", str(poses), "-o", str(tmp_path / "z2.npy"),
               "--device", "cpu"])
    assert rc == 0
    assert np.allclose(np.load(tmp_path / "z2.npy"), z, atol=1e-5)


def test_resume_cli(dataset, tmp_path):
    particles, poses, ctf = dataset
    args = ["train", str(particles), "--poses", str(poses), "--ctf", str(ctf), "--zdim", "1",
            "--epochs", "1", "-o", str(tmp_path / "o"), *TINY]
    assert main(args) == 0
    assert main(args) == 1  # OUTDIR holds a run
    assert main(["train", "--resume", "--epochs", "2", "-o", str(tmp_path / "o"), "--no-progress"]) == 0
    assert (tmp_path / "o" / "weights.2.pt").is_file()


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_pose_count_mismatch(dataset, tmp_path, capsys):
    particles, poses, ctf = dataset
    with open(poses, "rb") as fh:
        rots, trans = pickle.load(fh)
    with open(tmp_path / "short.pkl", "wb") as fh:
        pickle.dump((rots[:10], trans[:10]), fh)
    rc = main(["train", str(particles), "--poses", str(tmp_path / "short.pkl"), "--ctf", str(ctf),
               "-o", str(tmp_path / "o"), *TINY])
    assert rc == 1
    _one_line_error(capsys, "10 poses")


def test_index_out_of_range(dataset, tmp_path, capsys):
    particles, poses, ctf = dataset
    with open(tmp_path / "ind.pkl", "wb") as fh:
        pickle.dump(np.array([0, 5, 400]), fh)
    rc = main(["train", str(particles), "--poses", str(poses), "--ctf", str(ctf), "--ind", str(tmp_path / "ind.pkl"),
               "-o", str(tmp_path / "o"), *TINY])
    assert rc == 1
    _one_line_error(capsys, "400", "out of range")


def test_index_subset_trains(dataset, tmp_path):
    particles, poses, ctf = dataset
    with open(tmp_path / "ind.pkl", "wb") as fh:
        pickle.dump(np.arange(0, 40, 2), fh)
    rc = main(["train", str(particles), "--poses", str(poses), "--ctf", str(ctf), "--ind", str(tmp_path / "ind.pkl"),
               "--zdim", "1", "--epochs", "1", "-o", str(tmp_path / "o"), *TINY])
    assert rc == 0
    assert np.load(tmp_path / "o" / "z.npy").shape == (20, 1)


def test_missing_poses(dataset, tmp_path, capsys):
    particles, _, ctf = dataset
    assert main(["train", str(particles), "--ctf", str(ctf), "-o", str(tmp_path / "o"), *TINY]) == 1
    _one_line_error(capsys, "no poses")


def test_corrupt_checkpoint_cli(trained, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    (copy / "weights.pt").write_bytes(b"\x00" * 10)
    assert main(["eval-vol", str(copy), "--z", "0 0", "-o", str(tmp_path / "v")]) == 1
    _one_line_error(capsys, "corrupt or unreadable checkpoint")
    assert main(["embed", str(copy), "-o", str(tmp_path / "z.npy")]) == 1
    _one_line_error(capsys, "corrupt or unreadable checkpoint")


def test_include_dc_flag_reaches_the_config(dataset, tmp_path):
    import yaml

    particles, poses, ctf = dataset
    for flag, expected in (("--include-dc", False), (None, True)):
        out = tmp_path / f"run_{expected}"
        args = ["train", str(particles), "--poses", str(poses), "--ctf", str(ctf), "--zdim", "2",
                "--epochs", "1", "--batch-size", "20", "-o", str(out), *TINY]
        assert main(args + ([flag] if flag else [])) == 0
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        assert cfg["model"]["ignore_dc"] is expected

