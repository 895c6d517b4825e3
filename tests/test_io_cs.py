"""cryoSPARC .cs reading and writing, and agreement with .star and .pkl."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.errors import InputError
from cryolatent.io import (
    load_pkl,
    read_ctf,
    read_particles,
    read_poses,
    write_cs,
    write_ctf_pkl,
    write_poses_pkl,
)

try:
    from io_helpers import cs_records, make_stack, save_cs, star_30, write_text
except ImportError:  # tests collected as a package
    from tests.io_helpers import cs_records, make_stack, save_cs, star_30, write_text


def test_read_cs_particles(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=6, D=8, apix=None)
    rec = cs_records("s.mrcs", n=4)
    rec["blob/idx"] = [5, 0, 2, 2]
    save_cs(tmp_path / "p.cs", rec)
    stack = read_particles(tmp_path / "p.cs")
    assert len(stack) == 4 and stack.apix == pytest.approx(1.5)  # from blob/psize_A
    np.testing.assert_array_equal(stack.images([0, 1, 2, 3]), data[[5, 0, 2, 2]])
    assert stack.cs_records is not None and list(stack.metadata["uid"]) == [1000, 1001, 1002, 1003]
    assert "alignments3D/pose/2" in stack.metadata.columns
    assert stack.poses is not None and stack.ctf is not None


def test_cs_star_pkl_agree(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8)
    write_text(tmp_path / "p.star", star_30("s.mrcs", apix=1.5))
    save_cs(tmp_path / "p.cs", cs_records("s.mrcs"))
    rots_s, trans_s = read_poses(tmp_path / "p.star", D=8)
    rots_c, trans_c = read_poses(tmp_path / "p.cs")
    np.testing.assert_allclose(rots_c, rots_s, atol=1e-5)
    np.testing.assert_allclose(trans_c, trans_s, atol=1e-6)
    write_poses_pkl(tmp_path / "pose.pkl", rots_s, trans_s)
    rots_p, trans_p = read_poses(tmp_path / "pose.pkl")
    np.testing.assert_array_equal(rots_p, rots_s)
    np.testing.assert_array_equal(trans_p, trans_s)

    ctf_s = read_ctf(tmp_path / "p.star", D=8)
    ctf_c = read_ctf(tmp_path / "p.cs")
    np.testing.assert_allclose(ctf_c, ctf_s, rtol=1e-5, atol=1e-4)
    write_ctf_pkl(tmp_path / "ctf.pkl", ctf_s)
    np.testing.assert_array_equal(read_ctf(tmp_path / "ctf.pkl"), ctf_s)
    loaded = load_pkl(tmp_path / "ctf.pkl")
    assert isinstance(loaded, np.ndarray) and loaded.shape == (4, 9)


def test_cs_round_trip_of_subset(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=6, D=8)
    save_cs(tmp_path / "p.cs", cs_records("s.mrcs", n=6))
    stack = read_particles(tmp_path / "p.cs")
    sub = stack.subset([5, 2]).subset([1])
    assert list(sub.orig_index) == [2]
    write_cs(tmp_path / "sub.cs", sub)
    assert not (tmp_path / "sub.cs.npy").exists()
    again = read_particles(tmp_path / "sub.cs")
    assert again.cs_records.dtype == stack.cs_records.dtype
    assert list(again.cs_records["uid"]) == [1002]
    np.testing.assert_array_equal(again.images([0]), stack.images([2]))
    np.testing.assert_allclose(again.poses[0], stack.poses[0][[2]], atol=1e-6)
    np.testing.assert_allclose(again.ctf, stack.ctf[[2]], rtol=1e-6)
    with pytest.raises(InputError, match="exists"):
        write_cs(tmp_path / "sub.cs", sub)


def test_write_cs_from_bare_stack(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=3, D=8, apix=2.0)
    stack = read_particles(tmp_path / "s.mrcs").subset([2, 0])
    (tmp_path / "out").mkdir()
    write_cs(tmp_path / "out" / "b.cs", stack)
    again = read_particles(tmp_path / "out" / "b.cs")
    np.testing.assert_array_equal(again.images([0, 1]), data[[2, 0]])
    assert again.apix == pytest.approx(2.0)
    assert again.cs_records["blob/path"][0] == b"../s.mrcs"


def test_cs_path_prefix_and_datadir(tmp_path):
    (tmp_path / "J1").mkdir()
    data = make_stack(tmp_path / "J1" / "s.mrcs", n=4, D=8)
    save_cs(tmp_path / "p.cs", cs_records("J1/s.mrcs", prefix=">"))
    np.testing.assert_array_equal(read_particles(tmp_path / "p.cs").images([3]), data[[3]])
    save_cs(tmp_path / "q.cs", cs_records("elsewhere/s.mrcs", prefix=""))
    with pytest.raises(InputError, match="missing particle stack elsewhere/s.mrcs"):
        read_particles(tmp_path / "q.cs")
    assert len(read_particles(tmp_path / "q.cs", datadir=tmp_path / "J1")) == 4


def test_cs_with_pickled_objects_is_refused(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8)
    rec = np.zeros(2, dtype=[("blob/path", "O"), ("blob/idx", "<u4")])
    rec["blob/path"] = "s.mrcs"
    with open(tmp_path / "o.cs", "wb") as f:
        np.save(f, rec, allow_pickle=True)
    with pytest.raises(InputError, match="o.cs: .*pickled data is refused"):
        read_particles(tmp_path / "o.cs")
