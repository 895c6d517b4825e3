"""Every failure of the command line is one line naming its cause; nothing is left behind."""

from __future__ import annotations

import re

import pytest

from cryolatent import cli
from cryolatent.commands import simulate as simulate_cmd


def _fails_in_one_line(capsys, argv: list[str], *expected: str) -> str:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"cryolatent {argv[0]}: error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.mark.parametrize("args, named", [
    (["-n", "0"], "-n/--n-particles"),
    (["-D", "33"], "-D/--box"),
    (["--snr", "-1"], "--snr"),
    (["--apix", "inf"], "--apix"),
    (["--apix", "0"], "--apix"),
    (["--max-shift", "nan"], "--max-shift"),
])
def test_simulate_rejects_bad_numbers_before_making_anything(tmp_path, capsys, args, named):
    out = tmp_path / "sim"
    _fails_in_one_line(capsys, ["simulate", "-o", str(out), "--no-progress", *args], named)
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_or_under_one(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    _fails_in_one_line(capsys, ["simulate", "-o", str(afile), "-n", "4", "-D", "16", "--no-progress"], str(afile))
    _fails_in_one_line(capsys, ["simulate", "-o", str(afile / "sub"), "-n", "4", "-D", "16", "--no-progress"],
                       str(afile))
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_missing_input_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.mrc"
    _fails_in_one_line(capsys, ["fsc", str(missing), str(missing)], str(missing))


def test_an_unexpected_error_is_one_line_with_its_traceback_in_a_log(monkeypatch, capsys, tmp_path):
    def boom(args):
        raise ValueError("could not convert string to float: 'abc'\nsecond line")

    monkeypatch.setattr(simulate_cmd, "run", boom)
    line = _fails_in_one_line(capsys, ["simulate", "-o", str(tmp_path / "x")], "could not convert", "ValueError")
    log = re.search(r"traceback in (\S+);", line).group(1)
    text = open(log).read()
    assert "Traceback" in text and "boom" in text
    with pytest.raises(ValueError):
        cli.main(["--debug", "simulate", "-o", str(tmp_path / "x")])


def test_nothing_is_created_for_a_failed_command(tmp_path, capsys):
    """Outputs are checked before anything is written, and no parent folder is made for nothing."""
    from cryolatent.io import write_volume
    import numpy as np

    a = tmp_path / "a.mrc"
    write_volume(a, np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32), apix=2.0)
    plot = tmp_path / "plot.png"
    plot.write_text("older plot")
    _fails_in_one_line(capsys, ["fsc", str(a), str(a), "--out-txt", str(tmp_path / "curve.txt"),
                                "--plot", str(plot)], str(plot), "--force")
    assert not (tmp_path / "curve.txt").exists() and plot.read_text() == "older plot"
    _fails_in_one_line(capsys, ["downsample", str(a), "-D", "7", "-o", str(tmp_path / "new" / "deep" / "s.mrcs")],
                       "-D 7")
    assert not (tmp_path / "new").exists()


def test_atomic_writes_remove_the_folders_they_made_on_failure(tmp_path):
    from cryolatent.outputs import atomic_path

    target = tmp_path / "made" / "for" / "this.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_a_failed_demo_with_force_leaves_the_old_output(tmp_path, monkeypatch):
    from cryolatent import demo

    out = tmp_path / "demo"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier demo")

    def fails(outdir, *args):
        (outdir / "data").mkdir(parents=True)
        raise KeyboardInterrupt  # Ctrl-C halfway

    monkeypatch.setattr(demo, "_run", fails)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(out, force=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]
