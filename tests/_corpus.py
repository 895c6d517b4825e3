"""The bad-input corpus's tools: bad files made on the fly from one tiny simulated dataset,
a tiny trained run, a snapshot of folders, and the check that a command failed in one
line naming its cause and changed nothing (see tests/test_bad_input_corpus.py)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import starfile
import torch
import yaml

from cryolatent import cli
from cryolatent import io as clio
from cryolatent.training.config import TrainConfig
from cryolatent.training.loop import train

TINY = ["--enc-dim", "32", "--enc-layers", "2", "--dec-dim", "32", "--dec-layers", "2", "--zdim", "2",
        "--epochs", "1", "--batch-size", "64", "--norm-samples", "100", "--no-amp", "--device", "cpu",
        "--no-progress"]
"""The corpus's training settings: 2 x 32 networks, one epoch."""

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Corpus:
    """Where the shared inputs are: ``data`` (the simulated set), ``bad`` (files made bad from it),
    ``run`` (trained on ``data``), ``run_nopix`` (its copy over particles without a pixel size),
    ``run_ctfpix`` (over those particles with the CTF, the one source of the pixel size), ``evil_run``
    (a copy whose weights.pt names ``os.system``), ``marker`` (the file that code would make),
    ``badz_run`` (its z.npy is not an array) and ``badcfg_run`` (its config.yaml is not YAML)."""

    data: Path
    bad: Path
    run: Path
    run_nopix: Path
    run_ctfpix: Path
    evil_run: Path
    marker: Path
    badz_run: Path
    badcfg_run: Path

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.data, self.bad, self.run, self.run_nopix, self.run_ctfpix, self.evil_run, self.badz_run,
                self.badcfg_run)

    def fill(self, text: str, out: Path) -> str:
        """``text`` with ``{data}``, ``{bad}``, ``{run}``... and ``{out}`` (the case's folder) filled in."""
        return text.format(out=out, **{k: v for k, v in self.__dict__.items()})


# ---------------------------------------------------------------------------- snapshots


def snapshot(*roots: Path) -> dict[str, object]:
    """Every file under ``roots`` with its size and mtime, and every folder (by presence:
    a temporary file made and removed again changes a folder's mtime, not its contents)."""
    out: dict[str, object] = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = None
            continue
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            out[str(path)] = "dir" if path.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def one_error_line(err: str, command: str, *named: str) -> str:
    """The single stderr line of a failure: ``cryolatent CMD: error: ...`` naming each of ``named``,
    no traceback, and not an unexpected error (those point to a traceback log)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in err and "traceback in" not in line, line
    assert line.startswith(f"cryolatent {command}: error: "), line
    for text in named:
        assert str(text) in line, (text, line)
    return line


def fails(capsys, argv: list[str], named: list[str], roots: tuple[Path, ...], absent: tuple[Path, ...] = ()) -> str:
    """Run ``cryolatent ARGV`` in this process; check a non-zero exit, one stderr line naming
    ``named``, ``roots`` exactly as they were and ``absent`` paths still absent. Returns the line."""
    capsys.readouterr()
    before = snapshot(*roots)
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc != 0, err
    line = one_error_line(err, argv[0], *named)
    assert snapshot(*roots) == before, line
    for path in absent:
        assert not path.exists(), path
    return line


DISK_FULL = """
import contextlib, io, json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit raises OSError EFBIG instead
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from cryolatent import cli
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    results.append([rc, err.getvalue()])
print(json.dumps(results))
"""


def run_disk_full(commands: list[list[str]], limit: int = 2048) -> list[tuple[int, str]]:
    """Run each ``cryolatent`` command in one child process whose files may not grow past
    ``limit`` bytes (a full disk); ``(exit status, stderr)`` of each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(limit), json.dumps(commands)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def unwritable_folder(tmp_path: Path) -> Path | None:
    """A folder this process cannot write in: a read-only one (not for root, who writes anyway),
    else ``/sys`` where even root cannot make files; None when there is neither."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    sys_dir = Path("/sys")
    try:
        (sys_dir / ".cryolatent-probe").open("w").close()
    except OSError:
        return sys_dir
    (sys_dir / ".cryolatent-probe").unlink()
    return None


# ---------------------------------------------------------------------------- the shared inputs


def _bad_stars(data: Path, bad: Path) -> None:
    """RELION files with one bad value each (their images are the simulated stack's)."""
    tables = starfile.read(data / "particles.star", always_dict=True)
    stack = (data / "particles.mrcs").resolve()

    def write(name: str, edit) -> None:
        optics, particles = tables["optics"].copy(), tables["particles"].copy()
        particles["rlnImageName"] = [f"{i + 1}@{stack}" for i in range(len(particles))]
        edit(optics, particles)
        starfile.write({"optics": optics, "particles": particles}, bad / name, overwrite=True)

    def nan_angle(optics, particles):
        particles.loc[5, "rlnAngleRot"] = np.nan

    def text_angle(optics, particles):
        particles["rlnAngleTilt"] = particles["rlnAngleTilt"].astype(object)
        particles.loc[7, "rlnAngleTilt"] = "abc"

    def zero_apix(optics, particles):
        optics["rlnImagePixelSize"] = 0.0

    def negative_apix(optics, particles):
        optics["rlnImagePixelSize"] = -6.0

    def unknown_group(optics, particles):
        particles.loc[3, "rlnOpticsGroup"] = 9

    for name, edit in [("nan_angle.star", nan_angle), ("text_angle.star", text_angle),
                       ("zero_apix.star", zero_apix), ("negative_apix.star", negative_apix),
                       ("unknown_group.star", unknown_group)]:
        write(name, edit)


def _bad_pickles(data: Path, bad: Path) -> None:
    rots, trans = clio.read_poses(data / "poses.pkl")
    ctf = clio.read_ctf(data / "ctf.pkl")
    reflected = rots.copy()
    reflected[4] = -reflected[4]
    nan_trans = trans.copy()
    nan_trans[2, 0] = np.nan
    for name, obj in [("scaled_poses.pkl", (rots * 1.5, trans)), ("reflected_poses.pkl", (reflected, trans)),
                      ("nan_poses.pkl", (rots, nan_trans))]:
        with open(bad / name, "wb") as fh:
            pickle.dump(obj, fh)
    zero = ctf.copy()
    zero[:, 1] = 0.0
    nan = ctf.copy()
    nan[9, 2] = np.nan
    for name, arr in [("zero_apix_ctf.pkl", zero), ("nan_ctf.pkl", nan)]:
        with open(bad / name, "wb") as fh:
            pickle.dump(arr, fh)
    (bad / "empty_ind.txt").write_text("")
    for name, arr in [("negative_ind.pkl", np.array([0, -3])), ("range_ind.pkl", np.array([0, 300])),
                      ("dup_ind.pkl", np.array([*range(100), 4, 4, 9, 50, 99]))]:
        with open(bad / name, "wb") as fh:
            pickle.dump(arr, fh)


def _other_files(data: Path, bad: Path) -> None:
    (bad / "garbage.mrc").write_text("this is not an MRC file\n" * 60)
    (bad / "garbage.mrcs").write_bytes(bytes(range(256)) * 8)
    images = clio.read_particles(data / "particles.mrcs").images(np.arange(300))
    clio.write_mrcs(bad / "inf_pixels.mrcs", images, apix=6.0)
    _poke(bad / "inf_pixels.mrcs", 11, 3, 4, np.inf, 32)
    clio.write_mrcs(bad / "nopix.mrcs", images)  # no pixel size anywhere
    small = np.stack([img[8:24, 8:24] for img in images])
    clio.write_mrcs(bad / "small16.mrcs", small, apix=12.0)
    vol = clio.read_volume(data / "gt_volumes" / "vol_000.mrc")[0]
    clio.write_volume(bad / "nopix_a.mrc", vol)
    noise = np.random.default_rng(0).normal(0, vol.std(), vol.shape).astype(np.float32)
    clio.write_volume(bad / "nopix_b.mrc", vol + noise)
    nan_vol = vol.copy()
    nan_vol[3, 3, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile's "Data array contains NaN values": that is the point
        clio.write_volume(bad / "nan_map.mrc", nan_vol, apix=6.0)
    np.savetxt(bad / "z3.txt", np.zeros((2, 3)))
    (bad / "z_text.txt").write_text("a b\n")
    (bad / "bad_config.yaml").write_text("model:\n  zdim: [1, 2\n")
    (bad / "unknown_setting.yaml").write_text("model:\n  zdimm: 4\n")
    (bad / "bad_manifest.yaml").write_text("datasets: [unclosed\n")


def _poke(path: Path, i: int, y: int, x: int, value: float, D: int) -> None:
    """Set pixel ``(y, x)`` of image ``i`` of a float32 stack in place."""
    with open(path, "r+b") as fh:
        fh.seek(1024 + ((i * D + y) * D + x) * 4)
        fh.write(np.float32(value).tobytes())


def _run_copy(run: Path, dest: Path, **data) -> Path:
    shutil.copytree(run, dest)
    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    cfg["data"].update({k: None if v is None else str(v) for k, v in data.items()})
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


class _Evil:
    """What a hostile checkpoint holds: a call of ``os.system`` on unpickling."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def build_corpus(base: Path, data: Path) -> Corpus:
    """Make the bad files and the runs under ``base`` (a few seconds)."""
    bad = base / "bad"
    bad.mkdir()
    _bad_stars(data, bad)
    _bad_pickles(data, bad)
    _other_files(data, bad)
    config = TrainConfig.from_preset("tiny", particles=str(data / "particles.mrcs"), poses=str(data / "poses.pkl"),
                                     ctf=str(data / "ctf.pkl"), zdim=2, epochs=1, batch_size=64, norm_samples=100,
                                     enc_dim=32, dec_dim=32, enc_layers=2, dec_layers=2, amp=False, device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config, base / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    run = base / "run"
    nopix = _run_copy(run, base / "run_nopix", particles=bad / "nopix.mrcs", ctf=None)
    ctfpix = _run_copy(run, base / "run_ctfpix", particles=bad / "nopix.mrcs")
    evil = _run_copy(run, base / "evil_run")
    marker = base / "evil-code-ran"
    torch.save({"model": _Evil(marker), "config": "", "D": 32, "norm": 1.0, "epoch": 1}, evil / "weights.pt")
    for p in evil.glob("weights.*.pt"):
        p.unlink()
    badz = _run_copy(run, base / "badz_run")
    (badz / "z.npy").write_text("not an array")
    badcfg = _run_copy(run, base / "badcfg_run")
    (badcfg / "config.yaml").write_text("data: [unclosed\n")
    return Corpus(data, bad, run, nopix, ctfpix, evil, marker, badz, badcfg)
