"""RELION .star reading, writing and conventions."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.forward import geometry
from cryolatent.errors import InputError
from cryolatent.io import read_ctf, read_particles, read_poses, write_mrcs, write_star
from cryolatent.io.star import read_star

try:
    from io_helpers import DEFOCUS, EULER, SHIFT_PX, make_stack, star_30, star_31, star_text, write_text
except ImportError:  # tests collected as a package
    from tests.io_helpers import DEFOCUS, EULER, SHIFT_PX, make_stack, star_30, star_31, star_text, write_text


def test_read_31_star_images_and_metadata(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=6, D=8, apix=None)
    write_text(tmp_path / "p.star", star_31("s.mrcs", n=4))
    stack = read_particles(tmp_path / "p.star")
    assert len(stack) == 4 and stack.D == 8
    assert stack.apix == pytest.approx(1.5)  # no header voxel size: from the first optics group
    np.testing.assert_array_equal(stack.images([0, 1, 2, 3]), data[:4])
    assert list(stack.metadata["rlnOpticsGroup"]) == [1, 2, 1, 2]
    assert len(stack.optics) == 2
    np.testing.assert_array_equal(stack.file_index, np.arange(4))
    assert stack.files[0] == str(tmp_path / "s.mrcs")


def test_31_star_several_optics_groups_ctf_and_poses(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8)
    write_text(tmp_path / "p.star", star_31("s.mrcs", n=4))
    ctf = read_ctf(tmp_path / "p.star")
    np.testing.assert_allclose(ctf[:, 0], 8)
    np.testing.assert_allclose(ctf[:, 1], [1.5, 2.0, 1.5, 2.0])
    np.testing.assert_allclose(ctf[:, 2:5], DEFOCUS)
    np.testing.assert_allclose(ctf[:, 5], [300, 200, 300, 200])
    np.testing.assert_allclose(ctf[:, 6], [2.7, 2.0, 2.7, 2.0], rtol=1e-6)
    np.testing.assert_allclose(ctf[:, 7], [0.1, 0.07, 0.1, 0.07], rtol=1e-6)
    np.testing.assert_allclose(ctf[:, 8], 0)
    rots, trans = read_poses(tmp_path / "p.star")
    np.testing.assert_allclose(rots, geometry.euler_relion_to_matrix(EULER), atol=1e-6)
    np.testing.assert_allclose(trans, SHIFT_PX / 8, atol=1e-6)  # Angstrom / group apix / D


def test_star_30_uses_detector_pixel_size_and_pixel_origins(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8, apix=None)
    write_text(tmp_path / "p.star", star_30("s.mrcs", apix=2.5))
    stack = read_particles(tmp_path / "p.star")
    assert stack.optics is None and stack.apix == pytest.approx(2.5)
    np.testing.assert_allclose(stack.ctf[:, 1], 2.5)
    np.testing.assert_allclose(stack.poses[1], SHIFT_PX / 8, atol=1e-6)
    with pytest.raises(InputError, match="box size"):
        read_ctf(tmp_path / "p.star")  # 3.0 has no rlnImageSize
    np.testing.assert_allclose(read_ctf(tmp_path / "p.star", D=8), stack.ctf)


def test_hand_computed_pose_convention(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=2, D=64)
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginX", "rlnOriginY"]
    write_text(tmp_path / "px.star", star_text({"": (cols, [["1@s.mrcs", 90, 0, 0, 3, 0]])}))
    rots, trans = read_poses(tmp_path / "px.star", D=64)
    np.testing.assert_allclose(rots[0], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-7)
    assert trans[0, 0] == pytest.approx(3 / 64) and trans[0, 1] == 0
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst"]
    write_text(tmp_path / "a.star", star_text({"": (cols, [["1@s.mrcs", 90, 0, 0, 3, 0]])}))
    _, trans = read_poses(tmp_path / "a.star", D=64, apix=1.5)
    assert trans[0, 0] == pytest.approx(2 / 64)
    with pytest.raises(InputError, match="pixel size"):
        read_poses(tmp_path / "a.star", D=64)


def _assert_same_particles(a, b):
    assert len(a) == len(b) and a.D == b.D
    np.testing.assert_array_equal(a.images(np.arange(len(a))), b.images(np.arange(len(b))))
    np.testing.assert_allclose(a.poses[0], b.poses[0], atol=1e-5)
    np.testing.assert_allclose(a.poses[1], b.poses[1], atol=1e-5)
    np.testing.assert_allclose(a.ctf, b.ctf, rtol=1e-5)


@pytest.mark.parametrize("version", ["3.0", "3.1"])
def test_star_round_trip(tmp_path, version):
    make_stack(tmp_path / "s.mrcs", n=8, D=8, apix=None)
    text = star_30("s.mrcs", n=8) if version == "3.0" else star_31("s.mrcs", n=8)
    write_text(tmp_path / "p.star", text)
    stack = read_particles(tmp_path / "p.star")
    (tmp_path / "out").mkdir()
    write_star(tmp_path / "out" / "w.star", stack)
    again = read_particles(tmp_path / "out" / "w.star")
    _assert_same_particles(stack, again)
    particles, optics = read_star(tmp_path / "out" / "w.star")
    assert optics is not None and "rlnOpticsGroup" in particles
    assert len(optics) == (1 if version == "3.0" else 2)
    # subsets keep their rows, in order
    sub = stack.subset([6, 1, 3])
    write_star(tmp_path / "sub.star", sub)
    again = read_particles(tmp_path / "sub.star")
    _assert_same_particles(sub, again)
    if version == "3.1":
        assert list(again.metadata["rlnOpticsGroup"]) == [1, 2, 2]
    with pytest.raises(InputError, match="exists"):
        write_star(tmp_path / "sub.star", sub)


def test_write_star_for_a_bare_stack(tmp_path):
    data = np.random.default_rng(0).normal(size=(5, 8, 8)).astype(np.float32)
    write_mrcs(tmp_path / "s.mrcs", data, apix=2.0)
    stack = read_particles(tmp_path / "s.mrcs").subset([4, 2])
    rots = geometry.euler_relion_to_matrix(EULER[:2]).astype(np.float32)
    trans = SHIFT_PX[:2].astype(np.float32) / 8
    stack.poses = (rots, trans)
    stack.ctf = np.array([[8, 2.0, *DEFOCUS[0], 300, 2.7, 0.1, 0], [8, 2.0, *DEFOCUS[1], 300, 2.7, 0.1, 0]], np.float32)
    write_star(tmp_path / "b.star", stack)
    again = read_particles(tmp_path / "b.star")
    np.testing.assert_array_equal(again.images([0, 1]), data[[4, 2]])
    assert list(again.metadata["rlnImageName"]) == ["5@s.mrcs", "3@s.mrcs"]
    _assert_same_particles(stack, again)
    write_star(tmp_path / "c.star", stack, stack_path="new.mrcs")
    particles, _ = read_star(tmp_path / "c.star")
    assert list(particles["rlnImageName"]) == ["1@new.mrcs", "2@new.mrcs"]


def test_star_paths_resolve_via_datadir_and_basename(tmp_path):
    (tmp_path / "data").mkdir()
    data = make_stack(tmp_path / "data" / "s.mrcs", n=3, D=8)
    write_text(tmp_path / "p.star", star_31("Extract/job001/s.mrcs", n=3))
    with pytest.raises(InputError, match="missing particle stack Extract/job001/s.mrcs"):
        read_particles(tmp_path / "p.star")
    stack = read_particles(tmp_path / "p.star", datadir=tmp_path / "data")
    np.testing.assert_array_equal(stack.images([2]), data[[2]])
    # basename next to the star file
    make_stack(tmp_path / "s.mrcs", n=3, D=8)
    assert len(read_particles(tmp_path / "p.star")) == 3


def test_star_several_stacks_grouped_reads(tmp_path):
    a = make_stack(tmp_path / "a.mrcs", n=5, D=8, seed=1)
    b = make_stack(tmp_path / "b.mrcs", n=5, D=8, seed=2)
    names = ["2@a.mrcs", "1@b.mrcs", "5@a.mrcs", "5@b.mrcs", "2@a.mrcs"]
    write_text(tmp_path / "p.star", star_text({"particles": (["rlnImageName"], [[n] for n in names])}))
    stack = read_particles(tmp_path / "p.star")
    assert stack.poses is None and stack.ctf is None
    np.testing.assert_array_equal(stack.images([0, 1, 2, 3, 4]), np.stack([a[1], b[0], a[4], b[4], a[1]]))
    np.testing.assert_array_equal(stack.images([3, 0]), np.stack([b[4], a[1]]))
    paths, index = stack.locations
    assert list(index) == [1, 0, 4, 4, 1]
    assert paths[1] == str(tmp_path / "b.mrcs")


def test_write_star_minimal_and_from_cs(tmp_path):
    try:
        from io_helpers import cs_records, save_cs
    except ImportError:  # tests collected as a package
        from tests.io_helpers import cs_records, save_cs

    data = make_stack(tmp_path / "s.mrcs", n=4, D=8, apix=1.5)
    bare = read_particles(tmp_path / "s.mrcs")
    write_star(tmp_path / "bare.star", bare)
    particles, optics = read_star(tmp_path / "bare.star")
    assert list(particles.columns) == ["rlnImageName", "rlnOpticsGroup"]
    assert optics["rlnImagePixelSize"].tolist() == [1.5] and optics["rlnImageSize"].tolist() == [8]
    np.testing.assert_array_equal(read_particles(tmp_path / "bare.star").images(np.arange(4)), data)

    save_cs(tmp_path / "p.cs", cs_records("s.mrcs"))
    from_cs = read_particles(tmp_path / "p.cs")
    write_star(tmp_path / "cs.star", from_cs)
    _assert_same_particles(from_cs, read_particles(tmp_path / "cs.star"))


def test_relion_type_suffix_and_no_at(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=3, D=8)
    rows = [["000003@s.mrcs:mrcs"], ["s.mrcs"]]
    write_text(tmp_path / "p.star", star_text({"particles": (["rlnImageName"], rows)}))
    stack = read_particles(tmp_path / "p.star")
    np.testing.assert_array_equal(stack.images([0, 1]), data[[2, 0]])
