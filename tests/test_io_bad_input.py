"""Unusable input: each case is one InputError line naming the file and the problem."""

from __future__ import annotations

import os

import mrcfile
import numpy as np
import pytest

from cryolatent.errors import InputError
from cryolatent.io import load_dataset, read_ctf, read_particles, read_poses, read_volume

try:
    from io_helpers import cs_records, make_stack, save_cs, star_31, star_text, write_text
except ImportError:  # tests collected as a package
    from tests.io_helpers import cs_records, make_stack, save_cs, star_31, star_text, write_text


def _raises(fn, path, match):
    """Call ``fn``; check one-line InputError mentioning ``path`` and matching ``match``."""
    with pytest.raises(InputError, match=match) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg
    assert os.fspath(path) in msg, msg
    return msg


def test_truncated_stack(tmp_path):
    path = tmp_path / "t.mrcs"
    make_stack(path, n=10, D=8)
    os.truncate(path, 1024 + 5 * 256 + 7)
    _raises(lambda: read_particles(path), path, "file is truncated: header says 10 images of 8x8")


def test_stack_longer_than_header(tmp_path):
    path = tmp_path / "l.mrcs"
    make_stack(path, n=10, D=8)
    with open(path, "ab") as f:
        f.write(b"\0" * 256)
    _raises(lambda: read_particles(path), path, "header disagrees with the data size")


@pytest.mark.parametrize("content", [b"hello, not an MRC\n", b"x" * 5000, bytes(range(256)) * 8])
def test_not_an_mrc(tmp_path, content):
    path = tmp_path / "junk.mrcs"
    path.write_bytes(content)
    _raises(lambda: read_particles(path), path, "not an MRC file|file is truncated|disagrees")


def test_volume_not_an_mrc(tmp_path):
    path = tmp_path / "v.mrc"
    path.write_bytes(b"\x01" * 100)
    _raises(lambda: read_volume(path), path, "not an MRC file")


def test_non_square_images(tmp_path):
    path = tmp_path / "r.mrcs"
    with mrcfile.new(path, np.zeros((3, 8, 6), np.float32), overwrite=True):
        pass
    _raises(lambda: read_particles(path), path, r"not square \(6 x 8 pixels\)")


def test_stacks_of_different_box_sizes(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=2, D=8)
    make_stack(tmp_path / "b.mrcs", n=2, D=10)
    write_text(tmp_path / "l.txt", "a.mrcs\nb.mrcs\n")
    _raises(lambda: read_particles(tmp_path / "l.txt"), tmp_path / "b.mrcs", "has 10x10 images")


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_nan_pixels_named_on_read(tmp_path):
    path = tmp_path / "n.mrcs"
    data = np.zeros((6, 8, 8), np.float32)
    data[4, 2, 3] = np.nan
    with mrcfile.new(path, data, overwrite=True):
        pass
    write_text(tmp_path / "p.star", star_text({"particles": (["rlnImageName"], [["1@n.mrcs"], ["5@n.mrcs"]])}))
    stack = read_particles(tmp_path / "p.star")
    stack.images([0])  # fine
    msg = _raises(lambda: stack.images([0, 1]), path, "particle 1 .image 4 of this file. has NaN pixels")
    assert "p.star" not in msg


def test_star_names_missing_stack(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=2, D=8)
    star = write_text(tmp_path / "p.star", star_31("a.mrcs", n=2).replace("000002@a.mrcs", "000002@gone.mrcs"))
    msg = _raises(lambda: read_particles(star), star, "names a missing particle stack gone.mrcs")
    assert str(tmp_path / "gone.mrcs") in msg


def test_star_missing_image_name_column(tmp_path):
    star = write_text(tmp_path / "p.star", star_text({"particles": (["rlnDefocusU"], [[1.0]])}))
    _raises(lambda: read_particles(star), star, "missing required column rlnImageName")


def test_star_missing_ctf_and_pose_columns(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=2, D=8)
    cols = ["rlnImageName", "rlnDefocusU", "rlnAngleRot"]
    star = write_text(tmp_path / "p.star", star_text({"particles": (cols, [["1@a.mrcs", 1e4, 0.0]])}))
    _raises(lambda: read_ctf(star, D=8, apix=1.0), star, "missing required column.*rlnDefocusV.*for CTF")
    _raises(lambda: read_poses(star, D=8), star, "missing required column.*rlnAngleTilt, rlnAnglePsi for poses")
    stack = read_particles(star)  # incomplete columns: images still readable
    assert stack.ctf is None and stack.poses is None


def test_star_index_out_of_range(tmp_path):
    make_stack(tmp_path / "stack.mrcs", n=100, D=8)
    rows = [["1@stack.mrcs"], ["500@stack.mrcs"]]
    star = write_text(tmp_path / "p.star", star_text({"particles": (["rlnImageName"], rows)}))
    msg = _raises(lambda: read_particles(star), star, "image 500 of stack.mrcs .* has only 100 images")
    assert "particle 1" in msg


def test_star_zero_index_and_bad_name(tmp_path):
    make_stack(tmp_path / "stack.mrcs", n=3, D=8)
    star = write_text(tmp_path / "p.star", star_text({"particles": (["rlnImageName"], [["0@stack.mrcs"]])}))
    _raises(lambda: read_particles(star), star, "invalid image index 0@stack.mrcs")
    write_text(star, star_text({"particles": (["rlnImageName"], [["x@stack.mrcs"]])}))
    _raises(lambda: read_particles(star), star, "bad rlnImageName 'x@stack.mrcs'")


def test_star_garbage_or_empty(tmp_path):
    star = write_text(tmp_path / "g.star", "this is not\na star file\n")
    _raises(lambda: read_particles(star), star, "no particle table|cannot parse")
    write_text(star, "")
    _raises(lambda: read_particles(star), star, "no particle table")


def test_star_unknown_optics_group(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=4, D=8)
    star = write_text(tmp_path / "p.star", star_31("a.mrcs", n=4, groups=(1, 3)))
    _raises(lambda: read_particles(star), star, "optics group 3, which data_optics lacks")


def test_counts_disagree_with_star_poses(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=4, D=8)
    write_text(tmp_path / "p.star", star_31("a.mrcs", n=3))
    write_text(tmp_path / "q.star", star_31("a.mrcs", n=4))
    _raises(
        lambda: load_dataset(tmp_path / "q.star", poses=tmp_path / "p.star"),
        tmp_path / "p.star",
        "has 3 poses but the stack has 4 particles",
    )
    _raises(
        lambda: load_dataset(tmp_path / "q.star", ctf=tmp_path / "p.star"),
        tmp_path / "p.star",
        "has 3 CTF rows but the stack has 4 particles",
    )


def test_txt_lists_missing_file(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=2, D=8)
    txt = write_text(tmp_path / "l.txt", "a.mrcs\nmissing.mrcs\n")
    _raises(lambda: read_particles(txt), txt, "lists a missing file missing.mrcs")
    write_text(txt, "\n# nothing\n")
    _raises(lambda: read_particles(txt), txt, "lists no particle stacks")


def test_unknown_extension_and_missing_file(tmp_path):
    path = tmp_path / "p.hdf"
    path.write_text("x")
    _raises(lambda: read_particles(path), path, "unknown particle file extension '.hdf'")
    _raises(lambda: read_poses(path), path, "unknown pose file extension")
    _raises(lambda: read_ctf(path), path, "unknown CTF file extension")
    _raises(lambda: read_particles(tmp_path / "nope.mrcs"), tmp_path / "nope.mrcs", "no such file")
    _raises(lambda: read_particles(tmp_path / "nope.star"), tmp_path / "nope.star", "no such file")


def test_cs_garbage_and_missing_fields(tmp_path):
    bad = tmp_path / "g.cs"
    bad.write_bytes(b"garbage" * 10)
    _raises(lambda: read_particles(bad), bad, "not a numpy .cs file|not a cryoSPARC")
    rec = cs_records("a.mrcs")
    save_cs(tmp_path / "n.cs", rec[["uid", "blob/path"]])
    _raises(lambda: read_particles(tmp_path / "n.cs"), tmp_path / "n.cs", "missing required field.*blob/idx")
    save_cs(tmp_path / "c.cs", rec[["uid", "blob/path", "blob/idx", "blob/shape"]])
    _raises(lambda: read_ctf(tmp_path / "c.cs"), tmp_path / "c.cs", "missing required field.*ctf/df1_A")
    _raises(lambda: read_poses(tmp_path / "c.cs"), tmp_path / "c.cs", "missing required field.*alignments3D/pose")


def test_cs_index_out_of_range(tmp_path):
    make_stack(tmp_path / "a.mrcs", n=3, D=8)
    rec = cs_records("a.mrcs", n=4)
    save_cs(tmp_path / "p.cs", rec)
    _raises(lambda: read_particles(tmp_path / "p.cs"), tmp_path / "p.cs", "image 4 of a.mrcs .* has only 3 images")


def test_stack_truncated_after_opening(tmp_path):
    path = tmp_path / "s.mrcs"
    make_stack(path, n=10, D=8)
    stack = read_particles(path)
    os.truncate(path, 1024 + 2 * 256)
    _raises(lambda: stack.images([9]), path, "file is truncated")


def test_non_finite_poses_in_pkl(tmp_path):
    from cryolatent.io import write_poses_pkl

    rots = np.stack([np.eye(3)] * 2).astype(np.float32)
    trans = np.array([[0, 0], [np.inf, 0]], np.float32)
    write_poses_pkl(tmp_path / "p.pkl", rots, trans)
    _raises(lambda: read_poses(tmp_path / "p.pkl"), tmp_path / "p.pkl", "translations of particle 1 are not finite")
