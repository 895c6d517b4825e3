from __future__ import annotations

import argparse
import os
import pickle

import mrcfile
import numpy as np
import pytest
import yaml

from cryolatent.cli import build_parser, main
from cryolatent.commands.train import add_args, build_config, flag
from cryolatent.training.config import SETTINGS, TrainConfig

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
    # resuming starts from the stored config.yaml; a preset over it changes the network: refused
    stored = build_config(_parse("-o", str(tmp_path / "o"), "--resume", "--epochs", "3"))
    assert stored.model.enc_dim == 24 and stored.optim.epochs == 3 and stored.data.particles == str(particles)
    assert main(["train", "--resume", "--preset", "small", "-o", str(tmp_path / "o"), "--no-progress"]) == 1


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



def _parse(*argv):
    return build_parser().parse_args(["train", *argv])


def _other_value(s):
    """A value of setting ``s`` other than its default, and the flags that set it."""
    if s.type is bool:
        return not s.default, [flag(s.name) if not s.default else "--no-" + flag(s.name)[2:]]
    value = "other" if s.type is str else (s.default or 0) + (3 if s.type is int else 0.25)
    expected = os.path.abspath(value) if s.path else value
    return expected, ([] if s.name == "particles" else [flag(s.name)]) + [str(value)]


def test_every_setting_has_a_flag(tmp_path):
    parser = argparse.ArgumentParser()
    add_args(parser)
    text = " ".join(parser.format_help().split())
    for s in SETTINGS.values():
        expected, argv = _other_value(s)
        if s.name != "particles":
            argv = ["p.mrcs", *argv]
        config = build_config(_parse("-o", str(tmp_path), *argv))
        assert getattr(getattr(config, s.section), s.name) == expected, s.name
        assert config == TrainConfig().update({"particles": os.path.abspath("p.mrcs"), s.name: expected}), s.name
        assert " ".join(s.help.split()) in text, s.name  # the help text comes from the dataclass


def test_earlier_flag_spellings(tmp_path):
    config = build_config(_parse("p.mrcs", "-o", str(tmp_path), "--wd", "0.5", "--uninvert-data", "--no-window",
                                 "--include-dc", "--no-amp", "--compile", "--enc-dim", "64"))
    assert config.optim.weight_decay == 0.5 and config.model.enc_dim == 64
    assert not config.data.invert_data and not config.data.window and not config.model.ignore_dc
    assert not config.runtime.amp and config.runtime.compile
    defaults = build_config(_parse("p.mrcs", "-o", str(tmp_path)))
    assert defaults == TrainConfig().update({"particles": os.path.abspath("p.mrcs")})


def test_precedence_defaults_preset_file_flags(tmp_path):
    (tmp_path / "cfg").mkdir()
    run_yaml = tmp_path / "cfg" / "run.yaml"
    run_yaml.write_text("data:\n  particles: data/p.mrcs\nmodel:\n  enc_dim: 64\n  zdim: 3\n"
                        "optim:\n  lr: 1e-3\n  beta: 0.5\n")
    out = ["-o", str(tmp_path / "o")]
    small = build_config(_parse("p.mrcs", *out, "--preset", "small")).model
    assert (small.enc_dim, small.enc_layers, small.dec_dim, small.dec_layers, small.zdim) == (256, 3, 256, 3, 8)
    filed = build_config(_parse(*out, "--preset", "small", "--config", str(run_yaml)))
    assert (filed.model.enc_dim, filed.model.dec_dim, filed.model.zdim) == (64, 256, 3)
    assert filed.optim.lr == 1e-3 and filed.optim.beta == 0.5
    assert filed.data.particles == str(tmp_path / "cfg" / "data" / "p.mrcs")  # relative to the file
    flagged = build_config(_parse("q.mrcs", *out, "--preset", "small", "--config", str(run_yaml),
                                  "--enc-dim", "32", "--beta", "none"))
    assert (flagged.model.enc_dim, flagged.model.dec_dim, flagged.model.zdim) == (32, 256, 3)
    assert flagged.optim.beta is None and flagged.data.particles == os.path.abspath("q.mrcs")


def test_config_file_and_flag_override_train(dataset, tmp_path):
    particles, poses, ctf = dataset
    settings = {"data": {"particles": str(particles), "poses": str(poses), "ctf": str(ctf)},
                "model": {"zdim": 1, "enc_dim": 24, "enc_layers": 1, "dec_dim": 24, "dec_layers": 1},
                "optim": {"epochs": 1, "batch_size": 20}, "runtime": {"amp": False, "device": "cpu"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(settings))
    out = tmp_path / "o"
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--zdim", "2", "-o", str(out), "--no-progress"]) == 0
    stored = TrainConfig.from_yaml(out / "config.yaml")
    assert stored.model.zdim == 2 and stored.model.enc_dim == 24 and stored.optim.batch_size == 20
    assert np.load(out / "z.npy").shape == (40, 2)


def test_preset_small_is_what_the_benchmark_passed(tmp_path):
    old = ["--enc-dim", "256", "--enc-layers", "3", "--dec-dim", "256", "--dec-layers", "3"]
    assert build_config(_parse("p.mrcs", "-o", str(tmp_path), "--preset", "small")) == build_config(
        _parse("p.mrcs", "-o", str(tmp_path), *old))


def test_preset_fast_is_what_the_benchmark_measured(tmp_path):
    """bench/quality_vs_time.py measured ``--preset fast`` as these flags (its variant ``fast``, first as
    ``fast_decay10``; ``fast_nodecay`` is the preset before the learning-rate decay)."""
    flags = ["--dec-dim", "128", "--lr", "3e-4", "--pixel-fraction", "0.35", "--keep-radius", "0.25",
             "--lr-decay-epochs", "10", "--lr-final", "0.1"]
    out = ["-o", str(tmp_path)]
    fast = build_config(_parse("p.mrcs", *out, "--preset", "fast"))
    assert fast == build_config(_parse("p.mrcs", *out, "--preset", "small", *flags))
    assert (fast.model.dec_dim, fast.model.enc_dim, fast.optim.lr, fast.optim.pixel_fraction) == (128, 256, 3e-4, 0.35)
    assert (fast.optim.lr_decay_epochs, fast.optim.lr_final) == (10, 0.1)


@pytest.mark.parametrize("dataset_name, preset", [("default", "small"), ("tiny", "tiny")])
def test_notebook_training_from_the_terminal(tmp_path, dataset_name, preset):
    """Notebook 02's run (a project's preprocessed particles, its preset) is the terminal's
    `cryolatent train PARTICLES --poses --ctf --preset ... --zdim 8 --epochs 20`."""
    from cryolatent.notebook import NotebookSettings
    from cryolatent.project import Project

    nb = NotebookSettings(tmp_path / "project", dataset_name, 20)
    assert nb.preset == preset
    d = tmp_path / "pre"
    proj = Project(tmp_path / "project", {"train_box": 16, "preprocessed": {}})
    proj.preprocess = lambda box=None, **kw: {"particles": d / "particles.mrcs", "poses": d / "poses.pkl",
                                              "ctf": d / "ctf.pkl"}
    cli = build_config(_parse(str(d / "particles.mrcs"), "--poses", str(d / "poses.pkl"), "--ctf", str(d / "ctf.pkl"),
                              "--preset", preset, "--zdim", "8", "--epochs", "20", "-o", str(tmp_path / "run")))
    assert cli == proj.train_config(preset=nb.preset, zdim=8, epochs=nb.epochs)


def test_bad_preset_and_settings_file_are_one_line(dataset, tmp_path, capsys):
    particles, _, _ = dataset
    out = ["-o", str(tmp_path / "o")]
    assert main(["train", str(particles), *out, "--preset", "huge"]) == 1
    _one_line_error(capsys, "--preset 'huge'", "small")
    (tmp_path / "bad.yaml").write_text("model:\n  zdimm: 3\n")
    assert main(["train", str(particles), *out, "--config", str(tmp_path / "bad.yaml")]) == 1
    _one_line_error(capsys, "bad.yaml", "zdimm")
    (tmp_path / "typo.yaml").write_text("optim:\n  lr: fast\n")
    assert main(["train", str(particles), *out, "--config", str(tmp_path / "typo.yaml")]) == 1
    _one_line_error(capsys, "typo.yaml", "optim.lr must be a number")
    assert main(["train", *out, "--config", str(tmp_path / "missing.yaml")]) == 1
    _one_line_error(capsys, "missing.yaml")
    assert not (tmp_path / "o").exists()


def test_eval_vol_pixel_size_when_the_particles_moved(trained, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    cfg = TrainConfig.from_yaml(copy / "config.yaml")
    cfg.data.particles = str(tmp_path / "gone.mrcs")
    cfg.to_yaml(copy / "config.yaml")
    assert main(["eval-vol", str(copy), "--z", "0 0", "-o", str(tmp_path / "v"), "--device", "cpu"]) == 0
    with mrcfile.open(tmp_path / "v" / "vol_000.mrc") as mrc:
        assert float(mrc.voxel_size.x) == 0.0  # unknown, not made up
    captured = capsys.readouterr()
    assert "gone.mrcs: no such file" in captured.err and "pixel size" in captured.err
    assert "voxel size unknown" in captured.out
