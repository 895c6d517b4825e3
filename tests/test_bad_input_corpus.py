"""The bad-input corpus: every class of bad input, fault and silent default, for every subcommand
that reads that kind of input, generated on the fly from one tiny simulated set and one tiny run.

Each failing case asserts a non-zero exit, exactly one stderr line ``cryolatent CMD: error: ...``
without a traceback naming the file or argument at fault, and every folder involved exactly as
it was (files with sizes and mtimes; no folder made or removed). Classes (the ``id`` prefixes):

- ``value``: bad numbers in files or arguments (NaN angles, non-rotations, reflections, zero or
  negative pixel sizes, an unknown optics group, NaN CTF, infinite pixels, NaN maps, ``--apix 0``);
- ``lib``: what libraries raise on garbage (a non-numeric ``.star`` column, an empty or negative
  index, unreadable MRC/YAML/latent files);
- ``missing``, ``exists``, ``under``, ``unwritable``, ``diskfull``: operating-system errors (a
  missing input, ``-o`` naming an existing file or a path under one, a folder that cannot be
  written, a full disk);
- ``order``: output made before input is checked (``train``, ``eval-vol``, ``analyze``...);
- ``named``: errors that name their cause (``--z``, ``--zfile``, the particle file and the run,
  a failed download, ``--device``);
- ``weights``: a hostile ``weights.pt``;
- ``usage``: a malformed command line;
- ``pixels``: with no pixel size, outputs say pixels and headers have no voxel size;
- ``dup``: repeated ``--ind`` indices are accepted with a warning naming the file and the count;
- ``panel``: the explorer panel's save.
"""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile
import torch

from cryolatent import cli
from cryolatent.errors import InputError
from cryolatent.selection import Selection

from _corpus import TINY, Corpus, build_corpus, fails, one_error_line, run_disk_full, snapshot, unwritable_folder

P = ["--no-progress"]
BP = ["backproject", "{data}/particles.mrcs", "--poses", "{data}/poses.pkl", "--ctf", "{data}/ctf.pkl", *P]
TRAIN = ["train", "{data}/particles.mrcs", "--poses", "{data}/poses.pkl", "--ctf", "{data}/ctf.pkl", *TINY]


@pytest.fixture(scope="module")
def corpus(tiny_dataset, tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"), tiny_dataset)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _case(cls: str, name: str, argv: list[str], *named: str):
    return pytest.param(argv, list(named), id=f"{cls}:{name}")


CASES = [
    # ---- value: bad numbers in files and arguments
    _case("value", "backproject NaN angle in .star", ["backproject", "{bad}/nan_angle.star", "-o", "{out}/m.mrc", *P],
          "nan_angle.star", "particle 5", "not finite"),
    _case("value", "train NaN angle in .star", ["train", "{bad}/nan_angle.star", "-o", "{out}/run", *TINY],
          "nan_angle.star", "not finite"),
    _case("value", "embed NaN angle in .star", ["embed", "{run}", "{bad}/nan_angle.star", "-o", "{out}/z.npy"],
          "nan_angle.star", "not finite"),
    _case("value", "backproject non-rotation", [*BP, "--poses", "{bad}/scaled_poses.pkl", "-o", "{out}/m.mrc"],
          "scaled_poses.pkl", "not orthonormal"),
    _case("value", "train non-rotation", [*TRAIN, "--poses", "{bad}/scaled_poses.pkl", "-o", "{out}/run"],
          "scaled_poses.pkl", "not orthonormal"),
    _case("value", "embed non-rotation", ["embed", "{run}", "{data}/particles.mrcs", "--poses",
                                          "{bad}/scaled_poses.pkl", "-o", "{out}/z.npy"], "scaled_poses.pkl"),
    _case("value", "backproject reflection", [*BP, "--poses", "{bad}/reflected_poses.pkl", "-o", "{out}/m.mrc"],
          "reflected_poses.pkl", "reflection"),
    _case("value", "train NaN translation", [*TRAIN, "--poses", "{bad}/nan_poses.pkl", "-o", "{out}/run"],
          "nan_poses.pkl", "not finite"),
    _case("value", "backproject zero CTF pixel size", [*BP, "--ctf", "{bad}/zero_apix_ctf.pkl", "-o", "{out}/m.mrc"],
          "zero_apix_ctf.pkl", "pixel size is not positive"),
    _case("value", "train NaN CTF", [*TRAIN, "--ctf", "{bad}/nan_ctf.pkl", "-o", "{out}/run"],
          "nan_ctf.pkl", "not finite"),
    _case("value", "embed zero CTF pixel size", ["embed", "{run}", "{data}/particles.mrcs", "--ctf",
                                                 "{bad}/zero_apix_ctf.pkl", "-o", "{out}/z.npy"], "zero_apix_ctf.pkl"),
    _case("value", "backproject zero pixel size in .star", ["backproject", "{bad}/zero_apix.star", "-o",
                                                            "{out}/m.mrc", *P], "zero_apix.star", "not a positive"),
    _case("value", "downsample zero pixel size in .star", ["downsample", "{bad}/zero_apix.star", "-D", "16", "-o",
                                                           "{out}/s.mrcs", *P], "zero_apix.star", "not a positive"),
    _case("value", "train negative pixel size in .star", ["train", "{bad}/negative_apix.star", "-o", "{out}/run",
                                                          *TINY], "negative_apix.star", "-6.0 A is not a positive"),
    _case("value", "backproject unknown optics group", ["backproject", "{bad}/unknown_group.star", "-o",
                                                        "{out}/m.mrc", *P], "unknown_group.star", "optics group 9"),
    _case("value", "downsample unknown optics group", ["downsample", "{bad}/unknown_group.star", "-D", "16", "-o",
                                                       "{out}/s.mrcs", *P], "unknown_group.star", "optics group 9"),
    _case("value", "train unknown optics group", ["train", "{bad}/unknown_group.star", "-o", "{out}/run", *TINY],
          "unknown_group.star", "optics group 9"),
    _case("value", "backproject infinite pixel", ["backproject", "{bad}/inf_pixels.mrcs", *BP[2:], "-o", "{out}/m.mrc"],
          "inf_pixels.mrcs", "infinite"),
    _case("value", "downsample infinite pixel", ["downsample", "{bad}/inf_pixels.mrcs", "-D", "16", "-o",
                                                 "{out}/s.mrcs", *P], "inf_pixels.mrcs", "infinite"),
    _case("value", "train infinite pixel", ["train", "{bad}/inf_pixels.mrcs", "--poses", "{data}/poses.pkl",
                                            "-o", "{out}/run", *TINY], "inf_pixels.mrcs", "infinite"),
    _case("value", "embed zero pixel size in .star", ["embed", "{run}", "{bad}/zero_apix.star", "-o", "{out}/z.npy"],
          "zero_apix.star", "not a positive"),
    _case("value", "embed unknown optics group", ["embed", "{run}", "{bad}/unknown_group.star", "-o",
                                                  "{out}/z.npy"], "unknown_group.star", "optics group 9"),
    _case("value", "fsc NaN map", ["fsc", "{bad}/nan_map.mrc", "{bad}/nopix_a.mrc"], "nan_map.mrc", "NaN"),
    _case("value", "simulate zero --apix", ["simulate", "-o", "{out}/sim", "--apix", "0", *P], "--apix"),
    _case("value", "simulate negative --snr", ["simulate", "-o", "{out}/sim", "--snr", "-1", *P], "--snr"),
    _case("value", "train zero learning rate", [*TRAIN, "--lr", "0", "-o", "{out}/run"], "learning rate"),
    # ---- lib: what libraries raise on garbage, named
    _case("lib", "backproject non-numeric .star column", ["backproject", "{bad}/text_angle.star", "-o",
                                                          "{out}/m.mrc", *P], "text_angle.star", "rlnAngleTilt",
          "'abc'"),
    _case("lib", "downsample non-numeric .star column", ["downsample", "{bad}/text_angle.star", "-D", "16", "-o",
                                                         "{out}/s.mrcs", *P], "text_angle.star", "rlnAngleTilt"),
    _case("lib", "train non-numeric .star column", ["train", "{bad}/text_angle.star", "-o", "{out}/run", *TINY],
          "text_angle.star", "not a number"),
    _case("lib", "embed non-numeric .star column", ["embed", "{run}", "{bad}/text_angle.star", "-o", "{out}/z.npy"],
          "text_angle.star"),
    _case("lib", "backproject empty index file", [*BP, "--ind", "{bad}/empty_ind.txt", "-o", "{out}/m.mrc"],
          "empty_ind.txt", "empty"),
    _case("lib", "train empty index file", [*TRAIN, "--ind", "{bad}/empty_ind.txt", "-o", "{out}/run"],
          "empty_ind.txt", "empty"),
    _case("lib", "embed empty index file", ["embed", "{run}", "--ind", "{bad}/empty_ind.txt", "-o", "{out}/z.npy"],
          "empty_ind.txt", "empty"),
    _case("lib", "backproject negative index", [*BP, "--ind", "{bad}/negative_ind.pkl", "-o", "{out}/m.mrc"],
          "negative_ind.pkl", "negative"),
    _case("lib", "train index out of range", [*TRAIN, "--ind", "{bad}/range_ind.pkl", "-o", "{out}/run"],
          "range_ind.pkl", "out of range"),
    _case("lib", "fsc not an MRC", ["fsc", "{bad}/garbage.mrc", "{bad}/nopix_a.mrc"], "garbage.mrc", "MRC"),
    _case("lib", "downsample not an MRC", ["downsample", "{bad}/garbage.mrcs", "-D", "16", "-o", "{out}/s.mrcs",
                                           *P], "garbage.mrcs"),
    _case("lib", "simulate --volumes not an MRC", ["simulate", "-o", "{out}/sim", "--volumes", "{bad}/garbage.mrc",
                                                   *P], "garbage.mrc"),
    _case("lib", "eval-vol unreadable --zfile", ["eval-vol", "{run}", "--zfile", "{bad}/z_text.txt", "-o",
                                                 "{out}/vols"], "z_text.txt", "latent points"),
    _case("lib", "train --config not YAML", [*TRAIN, "--config", "{bad}/bad_config.yaml", "-o", "{out}/run"],
          "bad_config.yaml"),
    _case("lib", "train --config unknown setting", [*TRAIN, "--config", "{bad}/unknown_setting.yaml", "-o",
                                                    "{out}/run"], "unknown_setting.yaml", "zdimm"),
    _case("lib", "analyze z.npy not an array", ["analyze", "{badz_run}", "-o", "{out}/rep"], "z.npy"),
    _case("lib", "eval-vol config.yaml not YAML", ["eval-vol", "{badcfg_run}", "--z", "0 0", "-o", "{out}/v"],
          "config.yaml"),
    _case("lib", "analyze config.yaml not YAML", ["analyze", "{badcfg_run}", "-o", "{out}/rep"], "config.yaml"),
    _case("lib", "fetch --manifest not YAML", ["fetch", "--list", "--manifest", "{bad}/bad_manifest.yaml"],
          "bad_manifest.yaml"),
    # ---- missing: an input file that is not there, named
    _case("missing", "fsc", ["fsc", "{out}/nope.mrc", "{bad}/nopix_a.mrc"], "nope.mrc"),
    _case("missing", "backproject", ["backproject", "{out}/nope.mrcs", "-o", "{out}/m.mrc", *P], "nope.mrcs"),
    _case("missing", "backproject --poses", [*BP, "--poses", "{out}/nope.pkl", "-o", "{out}/m.mrc"], "nope.pkl"),
    _case("missing", "downsample", ["downsample", "{out}/nope.star", "-D", "16", "-o", "{out}/s.mrcs", *P],
          "nope.star"),
    _case("missing", "train", ["train", "{out}/nope.cs", "-o", "{out}/run", *TINY], "nope.cs"),
    _case("missing", "train --ind", [*TRAIN, "--ind", "{out}/nope.pkl", "-o", "{out}/run"], "nope.pkl"),
    _case("missing", "embed run", ["embed", "{out}/norun", "-o", "{out}/z.npy"], "norun"),
    _case("missing", "eval-vol run", ["eval-vol", "{out}/norun", "--z", "0 0", "-o", "{out}/vols"], "norun"),
    _case("missing", "eval-vol --zfile", ["eval-vol", "{run}", "--zfile", "{out}/z.npy", "-o", "{out}/vols"],
          "z.npy"),
    _case("missing", "analyze run", ["analyze", "{out}/norun", "-o", "{out}/rep"], "norun"),
    _case("missing", "simulate --volumes", ["simulate", "-o", "{out}/sim", "--volumes", "{out}/v.mrc", *P], "v.mrc"),
    _case("missing", "fetch --manifest", ["fetch", "--list", "--manifest", "{out}/m.yaml"], "m.yaml"),
]


@pytest.mark.parametrize("argv, named", CASES)
def test_fails_in_one_line_naming_the_cause_and_changes_nothing(corpus, tmp_path, capsys, argv, named):
    argv = [corpus.fill(a, tmp_path) for a in argv]
    named = [corpus.fill(n, tmp_path) for n in named]
    fails(capsys, argv, named, (tmp_path, *corpus.roots))


# ---- exists / under / unwritable: every command's output location, refused before anything is made
OUTPUTS = [  # (command, argv with OUT standing for the output, what the output is)
    ("backproject", [*BP, "-o", "OUT.mrc"]),
    ("downsample", ["downsample", "{data}/particles.mrcs", "-D", "16", "-o", "OUT.mrcs", *P]),
    ("fsc", ["fsc", "{bad}/nopix_a.mrc", "{bad}/nopix_b.mrc", "--out-txt", "OUT.txt"]),
    ("fsc", ["fsc", "{bad}/nopix_a.mrc", "{bad}/nopix_b.mrc", "--plot", "OUT.png"]),
    ("embed", ["embed", "{run}", "-o", "OUT.npy", "--device", "cpu"]),
    ("eval-vol", ["eval-vol", "{run}", "--z", "0 0", "-o", "OUT", "--device", "cpu"]),
    ("train", [*TRAIN, "-o", "OUT"]),
    ("analyze", ["analyze", "{run}", "-o", "OUT", "--k", "2", "--no-umap", "--device", "cpu"]),
    ("simulate", ["simulate", "-o", "OUT", "-n", "20", "-D", "16", *P]),
    ("demo", ["demo", "-o", "OUT", "--dataset", "tiny", "--epochs", "1", *P]),
    ("fetch", ["fetch", "tiny", "-o", "OUT", *P]),
    ("fetch", ["fetch", "http://127.0.0.1:9/particles.mrcs", "-o", "OUT.mrcs", *P]),
]


def _output_cases():
    for where in ("exists", "under", "unwritable"):
        for command, argv in OUTPUTS:
            suffix = next((a.split("OUT", 1)[1] for a in argv if a.startswith("OUT")), "")
            yield pytest.param(where, argv, id=f"{where}:{command}{suffix}")


@pytest.mark.parametrize("where, argv", list(_output_cases()))
def test_an_unusable_output_is_refused_before_anything_is_made(corpus, tmp_path, capsys, where, argv):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    if where == "exists":  # the output itself is an existing regular file
        target = taken
    elif where == "under":  # the output is under a regular file
        target = taken / "sub"
    else:
        folder = unwritable_folder(tmp_path)
        if folder is None:
            pytest.skip("no folder here is unwritable for this user")
        target = folder / "cryolatent-corpus"
    argv = [corpus.fill(a, tmp_path).replace("OUT", str(target)) for a in argv]
    output = Path(next(a for a in argv if a.startswith(str(target))))
    if where == "exists" and output != taken:
        output.write_text("keep me too")
    fails(capsys, argv, [str(taken) if where != "unwritable" else str(target)], (tmp_path, *corpus.roots),
          absent=(output,) if where != "exists" else ())
    assert taken.read_text() == "keep me"


# ---- order: nothing is made before every input is checked
def test_train_makes_no_folder_for_bad_data(corpus, tmp_path, capsys):
    fails(capsys, ["train", str(corpus.bad / "nan_angle.star"), "-o", str(tmp_path / "new" / "run"), *TINY],
          ["nan_angle.star"], (tmp_path, *corpus.roots), absent=(tmp_path / "new",))


def test_train_force_keeps_the_old_run_when_the_new_data_is_bad(corpus, tmp_path, capsys):
    import shutil

    old = shutil.copytree(corpus.run, tmp_path / "run")
    fails(capsys, [*[corpus.fill(a, tmp_path) for a in TRAIN], "--poses", str(corpus.bad / "scaled_poses.pkl"),
                   "-o", str(old), "--force"], ["scaled_poses.pkl"], (tmp_path, *corpus.roots))


def test_train_that_fails_in_its_first_epoch_leaves_nothing(corpus, tmp_path, capsys):
    line = fails(capsys, [*[corpus.fill(a, tmp_path) for a in TRAIN], "--diverge-factor", "1e-12", "-o",
                          str(tmp_path / "a" / "run")], ["diverged", "no checkpoint"], (tmp_path, *corpus.roots),
                 absent=(tmp_path / "a",))
    assert "--lr" in line


@pytest.mark.parametrize("args, named", [
    (["--z", "1 2 3"], ["--z", "zdim = 2"]),
    (["--zfile", "{bad}/z3.txt"], ["z3.txt", "zdim = 2"]),
    (["--z", "0 0", "--downsample", "7"], ["--downsample"]),
    (["--z", "0 0", "--downsample", "64"], ["--downsample", "32"]),
    (["--z", "nan 0"], ["--z", "finite"]),
    (["--z", "a b"], ["--z"]),
    ([], ["--z or --zfile"]),
], ids=["z dims", "zfile dims", "odd downsample", "downsample above the box", "z NaN", "z text", "no z"])
def test_eval_vol_names_the_argument_and_makes_no_folder(corpus, tmp_path, capsys, args, named):
    out = tmp_path / "new" / "vols"
    argv = ["eval-vol", str(corpus.run), *[corpus.fill(a, tmp_path) for a in args], "-o", str(out)]
    fails(capsys, argv, [corpus.fill(n, tmp_path) for n in named], (tmp_path, *corpus.roots),
          absent=(tmp_path / "new",))


@pytest.mark.parametrize("argv, named", [
    (["analyze", "{run}", "-o", "{out}/rep", "--downsample", "7"], ["--downsample"]),
    (["backproject", "{data}/particles.mrcs", "-o", "{out}/m.mrc", *P], ["no poses", "--poses"]),
    (["backproject", "{data}/particles.mrcs", "--poses", "{data}/poses.pkl", "-o", "{out}/m.map", *P], [".mrc"]),
    (["downsample", "{data}/particles.mrcs", "-D", "7", "-o", "{out}/new/s.mrcs", *P], ["-D 7"]),
    (["downsample", "{data}/particles.mrcs", "-D", "64", "-o", "{out}/s.mrcs", *P], ["-D 64", "32"]),
    (["demo", "-o", "{out}/d", "--dataset", "nosuch", *P], ["nosuch"]),
    (["fsc", "{bad}/nopix_a.mrc", "{data}/gt_volumes/vol_000.mrc", "--mask", "{bad}/small16.mrcs"], ["small16.mrcs"]),
], ids=["analyze downsample", "backproject no poses", "backproject not .mrc", "downsample odd -D",
        "downsample -D above the box", "demo unknown dataset", "fsc mask of another shape"])
def test_checked_before_anything_is_made(corpus, tmp_path, capsys, argv, named):
    fails(capsys, [corpus.fill(a, tmp_path) for a in argv], named, (tmp_path, *corpus.roots))


# ---- named: errors that name their cause
def test_embed_names_the_particle_file_and_the_run(corpus, tmp_path, capsys):
    fails(capsys, ["embed", str(corpus.run), str(corpus.bad / "small16.mrcs"), "--poses", str(corpus.data / "poses.pkl"),
                   "-o", str(tmp_path / "z.npy")], ["small16.mrcs", str(corpus.run), "16", "32"],
          (tmp_path, *corpus.roots))


@pytest.mark.parametrize("argv, named", [
    (["fetch", "http://127.0.0.1:9/x.mrcs", "-o", "{out}/new/x.mrcs", *P], ["http://127.0.0.1:9/x.mrcs", "failed"]),
    (["fetch", "nosuch", "-o", "{out}/d", *P], ["nosuch", "known:"]),
    (["fetch", "tiny", "-o", "{out}/d", "--sha256", "00", *P], ["--sha256"]),
    (["train", "-o", "{out}/run", "--resume", *TINY], ["no run to resume"]),
    (["embed", "{run}", "--epoch", "9", "-o", "{out}/z.npy"], ["epoch 9", "{run}"]),
], ids=["fetch refused connection", "fetch unknown name", "fetch --sha256 for a name", "train --resume nothing",
        "embed --epoch missing"])
def test_named_causes(corpus, tmp_path, capsys, argv, named):
    fails(capsys, [corpus.fill(a, tmp_path) for a in argv], [corpus.fill(n, tmp_path) for n in named],
          (tmp_path, *corpus.roots), absent=(tmp_path / "new",))


@pytest.mark.parametrize("argv", [
    [*TRAIN, "-o", "{out}/run"],
    ["embed", "{run}", "-o", "{out}/z.npy"],
    ["eval-vol", "{run}", "--z", "0 0", "-o", "{out}/vols"],
    ["analyze", "{run}", "-o", "{out}/rep", "--k", "2", "--no-umap"],
], ids=["train", "embed", "eval-vol", "analyze"])
@pytest.mark.parametrize("device, named", [("cuda", "CUDA is not available"), ("gpu", "not a device")])
def test_device_without_cuda_is_named(corpus, tmp_path, capsys, monkeypatch, argv, device, named):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = [corpus.fill(a, tmp_path) for a in argv]
    argv = [a for i, a in enumerate(argv) if a != "--device" and argv[i - 1] != "--device"]
    fails(capsys, [*argv, "--device", device], [f"--device {device}" if device == "cuda" else "--device", named],
          (tmp_path, *corpus.roots))


# ---- weights: a hostile weights.pt is refused in our words, and nothing in it runs
@pytest.mark.parametrize("argv", [
    ["eval-vol", "{evil_run}", "--z", "0 0", "-o", "{out}/vols"],
    ["embed", "{evil_run}", "-o", "{out}/z.npy"],
    ["analyze", "{evil_run}", "-o", "{out}/rep", "--no-umap"],
    ["train", "-o", "{evil_run}", "--resume", "--no-progress"],
], ids=["eval-vol", "embed", "analyze", "train --resume"])
def test_a_hostile_checkpoint_is_refused_in_one_line(corpus, tmp_path, capsys, argv):
    line = fails(capsys, [corpus.fill(a, tmp_path) for a in argv], [str(corpus.evil_run / "weights.pt"),
                 "refusing to load", "posix.system"], (tmp_path, *corpus.roots))
    assert "weights_only" not in line and "trusted source" not in line
    assert not corpus.marker.exists()


# ---- usage: a malformed command line is one line too
@pytest.mark.parametrize("argv, named", [
    (["backproject", "{data}/particles.mrcs"], ["-o/--out"]),
    (["fsc", "{bad}/nopix_a.mrc"], ["B.mrc"]),
    (["eval-vol", "{run}", "--z", "0 0", "--zfile", "{bad}/z3.txt", "-o", "{out}/v"], ["--zfile", "--z"]),
    (["backproject", "{data}/particles.mrcs", "-o", "{out}/m.mrc", "--pad", "3"], ["--pad"]),
    (["fsc", "{bad}/nopix_a.mrc", "{bad}/nopix_b.mrc", "--apix", "0"], ["--apix", "positive"]),
    (["backproject", *BP[1:], "-o", "{out}/m.mrc", "--apix", "-1"], ["--apix"]),
    (["downsample", "{data}/particles.mrcs", "-D", "16", "-o", "{out}/s.mrcs", "--apix", "nan"], ["--apix"]),
    (["eval-vol", "{run}", "--z", "0 0", "-o", "{out}/v", "--apix", "inf"], ["--apix"]),
    (["analyze", "{run}", "--k", "0"], ["--k"]),
    (["train", "{data}/particles.mrcs", "-o", "{out}/run", "--zdim", "two"], ["--zdim"]),
    (["analyze", "{run}", "--apix", "0"], ["--apix"]),
    (["demo", "-o", "{out}/d", "--epochs", "0"], ["--epochs"]),
    (["simulate", "-o", "{out}/s", "-n", "many"], ["-n/--n-particles"]),
    (["embed", "{run}", "-o", "{out}/z.npy", "--batch-size", "0"], ["--batch-size"]),
    (["fetch", "tiny", "-o", "{out}/d", "--unknown-flag"], ["fetch", "--unknown-flag"]),
], ids=["backproject no -o", "fsc one map", "eval-vol --z and --zfile", "backproject --pad 3", "fsc --apix 0",
        "backproject --apix -1", "downsample --apix nan", "eval-vol --apix inf", "analyze --k 0", "train --zdim two",
        "analyze --apix 0", "demo --epochs 0", "simulate -n many", "embed --batch-size 0", "fetch unknown flag"])
def test_usage_errors_are_one_line(corpus, tmp_path, capsys, argv, named):
    fails(capsys, [corpus.fill(a, tmp_path) for a in argv], named, (tmp_path, *corpus.roots))


# ---- diskfull: a write that fails (a full disk) leaves nothing, and names the output
DISK_FULL_CASES = [
    ("simulate", ["simulate", "-o", "{out}/deep/sim", "-n", "50", "-D", "16", *P], "{out}/deep/sim"),
    ("backproject", [*BP, "-o", "{out}/deep/m.mrc"], "{out}/deep/m"),
    ("downsample", ["downsample", "{data}/particles.mrcs", "-D", "16", "-o", "{out}/deep/s.mrcs", *P],
     "{out}/deep/s.mrcs"),
    ("fsc", ["fsc", "{bad}/nopix_a.mrc", "{bad}/nopix_b.mrc", "--out-txt", "{out}/deep/c.txt", "--plot",
             "{out}/deep/c.png"], "{out}/deep/c."),
    ("embed", ["embed", "{run}", "-o", "{out}/deep/z.npy", "--device", "cpu"], "{out}/deep/z.npy"),
    ("eval-vol", ["eval-vol", "{run}", "--z", "0 0", "-o", "{out}/deep/vols", "--device", "cpu"], "{out}/deep/vols/"),
    ("train", [*TRAIN, "-o", "{out}/deep/run"], "{out}/deep/run/"),
    ("analyze", ["analyze", "{run}", "-o", "{out}/deep/rep", "--k", "2", "--no-umap", "--device", "cpu"],
     "{out}/deep/"),
    ("fetch", ["fetch", "tiny", "-o", "{out}/deep/tiny", *P], "{out}/deep/tiny"),
    ("demo", ["demo", "-o", "{out}/deep/demo", "--dataset", "tiny", "--epochs", "1", *P], "{out}/deep/demo"),
]


def test_a_full_disk_leaves_nothing_behind(corpus, tmp_path):
    cases = []
    for command, argv, named in DISK_FULL_CASES:
        out = tmp_path / command
        out.mkdir()
        cases.append((command, out, [corpus.fill(a, out) for a in argv], corpus.fill(named, out)))
    before = snapshot(tmp_path, *corpus.roots)
    results = run_disk_full([argv for _, _, argv, _ in cases])
    for (command, out, argv, named), (rc, err) in zip(cases, results):
        assert rc == 1, (command, err)
        line = one_error_line(err, command, named)
        assert "File too large" in line or "No space" in line, line
    assert snapshot(tmp_path, *corpus.roots) == before


# ---- pixels: no pixel size, no invented one: outputs say pixels
def test_fsc_without_a_pixel_size_reports_pixels(corpus, tmp_path, capsys):
    a, b = corpus.bad / "nopix_a.mrc", corpus.bad / "nopix_b.mrc"
    assert cli.main(["fsc", str(a), str(b), "--out-txt", str(tmp_path / "c.txt"), "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "FSC 0.5:" in out and " px" in out and " A\n" not in out and "pixel size is unknown" in out
    text = (tmp_path / "c.txt").read_text()
    assert "# freq_1/px  fsc" in text and "1/A" not in text
    assert (tmp_path / "c.png").stat().st_size > 0
    assert cli.main(["fsc", str(a), str(b), "--apix", "6"]) == 0
    out = capsys.readouterr().out
    assert " A\n" in out and "px" not in out


def test_backproject_without_a_pixel_size_writes_no_voxel_size(corpus, tmp_path, capsys):
    out = tmp_path / "m.mrc"
    assert cli.main(["backproject", str(corpus.bad / "nopix.mrcs"), "--poses", str(corpus.data / "poses.pkl"),
                     "-o", str(out), *P]) == 0
    printed = capsys.readouterr().out
    assert "0.143:" in printed and " px" in printed and " A," not in printed and "pixel size is unknown" in printed
    for name in ("m.mrc", "m_half_a.mrc", "m_half_b.mrc"):
        with mrcfile.open(tmp_path / name) as mrc:
            assert float(mrc.voxel_size.x) == 0.0
    assert "# freq_1/px  fsc" in (tmp_path / "m_fsc.txt").read_text()
    # the CTF's apix column is a source of the pixel size
    assert cli.main(["backproject", str(corpus.bad / "nopix.mrcs"), "--poses", str(corpus.data / "poses.pkl"),
                     "--ctf", str(corpus.data / "ctf.pkl"), "-o", str(tmp_path / "c.mrc"), *P]) == 0
    assert " A," in capsys.readouterr().out
    with mrcfile.open(tmp_path / "c.mrc") as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(6.0)


def test_downsample_without_a_pixel_size_writes_no_voxel_size(corpus, tmp_path, capsys):
    out = tmp_path / "s.mrcs"
    assert cli.main(["downsample", str(corpus.bad / "nopix.mrcs"), "-D", "16", "-o", str(out), *P]) == 0
    assert "pixel size is unknown" in capsys.readouterr().out
    with mrcfile.open(out, header_only=True) as mrc:
        assert float(mrc.voxel_size.x) == 0.0
    assert cli.main(["downsample", str(corpus.bad / "nopix.mrcs"), "-D", "16", "-o", str(tmp_path / "g.mrcs"),
                     "--apix", "6", *P]) == 0
    with mrcfile.open(tmp_path / "g.mrcs", header_only=True) as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(12.0)


def test_eval_vol_pixel_size_from_the_files_or_unknown(corpus, tmp_path, capsys):
    assert cli.main(["eval-vol", str(corpus.run_nopix), "--z", "0 0", "-o", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "voxel size unknown" in captured.out and captured.err == ""
    with mrcfile.open(tmp_path / "a" / "vol_000.mrc") as mrc:
        assert float(mrc.voxel_size.x) == 0.0
    assert cli.main(["eval-vol", str(corpus.run_ctfpix), "--z", "0 0", "-o", str(tmp_path / "b"),
                     "--downsample", "16"]) == 0
    with mrcfile.open(tmp_path / "b" / "vol_000.mrc") as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(12.0)  # the CTF's 6 A, scaled for the box


def test_analyze_without_a_pixel_size_says_so(corpus, tmp_path, capsys):
    report = tmp_path / "rep"
    assert cli.main(["analyze", str(corpus.run_nopix), "-o", str(report), "--k", "2", "--no-umap"]) == 0
    assert "voxel size unknown" in (report / "README.txt").read_text()
    with mrcfile.open(report / "kmeans2" / "vol_000.mrc") as mrc:
        assert float(mrc.voxel_size.x) == 0.0


def test_exports_without_a_pixel_size_write_none(corpus, tmp_path):
    from cryolatent.latent import LatentSet

    ls = LatentSet.from_run(corpus.run_nopix)
    sel = Selection.from_indices(ls, np.arange(10))
    sel.write_mrcs(ls, tmp_path / "s.mrcs")
    with mrcfile.open(tmp_path / "s.mrcs", header_only=True) as mrc:
        assert float(mrc.voxel_size.x) == 0.0
    sel.write_star(ls, tmp_path / "s.star")
    tables = starfile.read(tmp_path / "s.star", always_dict=True)
    columns = set(tables["particles"].columns) | set(tables.get("optics", tables["particles"]).columns)
    assert "rlnImagePixelSize" not in columns and {"rlnOriginX", "rlnOriginY"} <= columns
    sel.write_cs(ls, tmp_path / "s.cs")
    assert "blob/psize_A" not in np.load(tmp_path / "s.cs").dtype.names


# ---- dup: repeated --ind indices are accepted as cryoDRGN does, with a warning
def test_duplicate_indices_are_used_with_a_warning(corpus, tmp_path, capsys):
    ind = corpus.bad / "dup_ind.pkl"
    assert cli.main([*[corpus.fill(a, tmp_path) for a in BP], "--ind", str(ind), "-o", str(tmp_path / "m.mrc")]) == 0
    captured = capsys.readouterr()
    assert "105 particles" in captured.out
    assert captured.err.strip().splitlines() == [
        f"cryolatent backproject: warning: {ind}: 5 duplicate index(es) (first: 4); "
        "those particles are used more than once"]
    assert cli.main(["embed", str(corpus.run), "--ind", str(ind), "-o", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (105, 2)
    assert "5 duplicate" in capsys.readouterr().err


# ---- panel: the explorer's save refuses to overwrite, and writes all or nothing
def test_the_panel_save_refuses_to_overwrite_and_writes_all_or_nothing(tmp_path, monkeypatch):
    from _panel_fixtures import panel_state

    s = panel_state({"u": np.random.default_rng(0).normal(size=(30, 2))})
    s.save_selection("a", [1, 2, 3])
    s.save_selection("b", [4, 5])
    folder = tmp_path / "sel"
    assert len(s.save_selections(folder)) == 3
    before = snapshot(tmp_path)
    s.save_selection("c", [6])
    assert s.save_selections(folder) is None and s.message_level == "error" and "--force" in s.message
    assert snapshot(tmp_path) == before  # overwrite not ticked: nothing written, not even c.json
    calls = []
    real = Selection.save

    def full_disk(self, path, force=False):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        return real(self, path, force)

    monkeypatch.setattr(Selection, "save", full_disk)
    assert s.save_selections(folder, force=True) is None and "No space left" in s.message
    assert snapshot(tmp_path) == before  # the first two were not replaced either
    calls.clear()
    assert s.save_selections(tmp_path / "new" / "sel", force=True) is None
    assert not (tmp_path / "new").exists()
    monkeypatch.setattr(Selection, "save", real)
    assert len(s.save_selections(folder, force=True)) == 4 and (folder / "c.json").is_file()
