"""The CLI end to end on tiny data: simulate -> backproject -> fsc, and its refusals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cryolatent import io as clio
from cryolatent.cli import build_parser, main


def test_help_lists_the_foundation_commands():
    text = build_parser().format_help()
    for name in ("simulate", "downsample", "backproject", "fsc", "fetch"):
        assert name in text


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "cryolatent.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "backproject" in out.stdout


def test_backproject_and_fsc_from_pkl_and_star(tiny_dataset, tmp_path, capsys):
    d = tiny_dataset
    out_pkl = tmp_path / "pkl" / "vol.mrc"
    assert main(["backproject", str(d / "particles.mrcs"), "--poses", str(d / "poses.pkl"),
                 "--ctf", str(d / "ctf.pkl"), "-o", str(out_pkl), "--no-progress"]) == 0
    for name in ("vol.mrc", "vol_half_a.mrc", "vol_half_b.mrc", "vol_fsc.txt", "vol_fsc.png"):
        assert (tmp_path / "pkl" / name).exists()
    # poses and CTF taken from the .star itself give the same map
    out_star = tmp_path / "star" / "vol.mrc"
    assert main(["backproject", str(d / "particles.star"), "-o", str(out_star), "--no-progress"]) == 0
    a, apix = clio.read_volume(out_pkl)
    b, _ = clio.read_volume(out_star)
    assert apix == pytest.approx(6.0)
    assert np.allclose(a, b, atol=1e-4 * np.abs(a).max())
    capsys.readouterr()
    assert main(["fsc", str(out_pkl), str(out_star), "--plot", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert "FSC 0.143: 12.00 A" in text  # identical maps: Nyquist at 6 A/px
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_outputs_are_not_overwritten_without_force(tiny_dataset, tmp_path, capsys):
    d = tiny_dataset
    out = tmp_path / "vol.mrc"
    out.write_text("precious")
    args = ["backproject", str(d / "particles.mrcs"), "--poses", str(d / "poses.pkl"), "-o", str(out), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert "--force" in err and str(out) in err and len(err.splitlines()) == 1
    assert out.read_text() == "precious"
    assert not (tmp_path / "vol_half_a.mrc").exists()


def test_count_mismatch_is_one_line_and_writes_nothing(tiny_dataset, tmp_path, capsys):
    d = tiny_dataset
    rots, trans = clio.read_poses(d / "poses.pkl")
    clio.write_poses_pkl(tmp_path / "short.pkl", rots[:-1], trans[:-1])
    out = tmp_path / "vol.mrc"
    assert main(["backproject", str(d / "particles.mrcs"), "--poses", str(tmp_path / "short.pkl"),
                 "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "short.pkl" in err and "299" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "short.pkl"]


def test_fsc_rejects_maps_of_different_boxes(tmp_path, capsys):
    clio.write_volume(tmp_path / "a.mrc", np.zeros((8, 8, 8), np.float32))
    clio.write_volume(tmp_path / "b.mrc", np.zeros((10, 10, 10), np.float32))
    assert main(["fsc", str(tmp_path / "a.mrc"), str(tmp_path / "b.mrc")]) == 1
    assert "b.mrc" in capsys.readouterr().err


def test_simulate_cli(tmp_path):
    assert main(["simulate", "-o", str(tmp_path / "s"), "-n", "20", "-D", "16", "--no-progress"]) == 0
    assert clio.read_particles(tmp_path / "s" / "particles.mrcs").D == 16
    assert main(["simulate", "-o", str(tmp_path / "s"), "-n", "20", "-D", "16", "--no-progress"]) == 1


@pytest.mark.slow
def test_demo_runs_on_the_tiny_manifest_entry(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--dataset", "tiny", "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "consensus map" in out and "mean FSC-AUC" in out
    for name in ("data/particles.mrcs", "consensus.mrc", "consensus_half_a.mrc", "consensus_vs_truth.png",
                 "run/z.npy", "run/weights.pt", "analysis/index.html"):
        assert (tmp_path / "demo" / name).exists()
    assert main(["demo", "-o", str(tmp_path / "demo"), "--dataset", "tiny", "--no-progress"]) == 1
