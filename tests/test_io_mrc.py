"""MRC stacks and volumes: reading, streamed writing, round trips."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from cryolatent.errors import InputError
from cryolatent.io import read_mrc_header, read_particles, read_volume, write_mrcs, write_volume

try:
    from io_helpers import make_stack
except ImportError:  # tests collected as a package
    from tests.io_helpers import make_stack


def test_read_stack_lazily(tmp_path):
    data = make_stack(tmp_path / "a.mrcs", n=12, D=8, apix=1.5)
    with read_particles(tmp_path / "a.mrcs") as stack:
        assert len(stack) == 12 and stack.D == 8 and stack.apix == pytest.approx(1.5)
        np.testing.assert_array_equal(stack.images([3, 0, 11, 3]), data[[3, 0, 11, 3]])
        np.testing.assert_array_equal(stack[5], data[5])
        np.testing.assert_array_equal(stack[-1], data[-1])
        np.testing.assert_array_equal(stack[2:7:2], data[2:7:2])
        assert stack.images([]).shape == (0, 8, 8)
        assert stack[0].dtype == np.float32
        chunks = list(stack.iter_chunks(5))
        assert [len(i) for i, _ in chunks] == [5, 5, 2]
        np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), data)
        np.testing.assert_array_equal(stack.orig_index, np.arange(12))
        assert stack.metadata is None and stack.poses is None and stack.ctf is None


def test_integer_and_half_modes_are_converted(tmp_path):
    for dtype in (np.int16, np.int8, np.uint16, np.float16):
        data = (np.arange(3 * 4 * 4) % 50).reshape(3, 4, 4).astype(dtype)
        with mrcfile.new(tmp_path / "s.mrcs", data, overwrite=True):
            pass
        stack = read_particles(tmp_path / "s.mrcs")
        np.testing.assert_array_equal(stack.images([0, 1, 2]), data.astype(np.float32))
        stack.close()


def test_big_endian_stack(tmp_path):
    data = np.random.default_rng(1).normal(size=(3, 6, 6)).astype(">f4")
    with mrcfile.new(tmp_path / "be.mrcs", data, overwrite=True):
        pass
    stack = read_particles(tmp_path / "be.mrcs")
    np.testing.assert_array_equal(stack.images([2, 0]), data[[2, 0]].astype(np.float32))


def test_single_image_mrc(tmp_path):
    img = np.random.default_rng(2).normal(size=(8, 8)).astype(np.float32)
    with mrcfile.new(tmp_path / "one.mrc", img, overwrite=True):
        pass
    stack = read_particles(tmp_path / "one.mrc")
    assert len(stack) == 1
    np.testing.assert_array_equal(stack[0], img)


def test_write_mrcs_array_round_trip(tmp_path):
    data = np.random.default_rng(3).normal(size=(7, 10, 10)).astype(np.float32)
    assert write_mrcs(tmp_path / "w.mrcs", data, apix=2.25) == 7
    stack = read_particles(tmp_path / "w.mrcs")
    assert stack.apix == pytest.approx(2.25) and len(stack) == 7
    np.testing.assert_array_equal(stack.images(np.arange(7)), data)
    with mrcfile.open(tmp_path / "w.mrcs") as mrc:  # a valid header for other tools too
        assert mrc.is_image_stack()
        assert mrc.header.dmin == pytest.approx(data.min())
        assert mrc.header.dmean == pytest.approx(data.mean(), abs=1e-6)
        assert mrc.header.rms == pytest.approx(data.std(), rel=1e-5)
        np.testing.assert_array_equal(mrc.data, data)


def test_write_mrcs_streams_chunks_and_stack_chunks(tmp_path):
    data = np.random.default_rng(4).normal(size=(9, 6, 6)).astype(np.float32)
    gen = (data[i : i + 4] for i in range(0, 9, 4))
    write_mrcs(tmp_path / "c.mrcs", gen, apix=1.0)
    stack = read_particles(tmp_path / "c.mrcs")
    np.testing.assert_array_equal(stack.images(np.arange(9)), data)
    # ParticleStack.iter_chunks output is accepted directly, e.g. to write a subset
    sub = stack.subset([8, 1, 4])
    write_mrcs(tmp_path / "sub.mrcs", sub.iter_chunks(2), apix=1.0, n_images=3)
    np.testing.assert_array_equal(read_particles(tmp_path / "sub.mrcs").images([0, 1, 2]), data[[8, 1, 4]])


def test_write_mrcs_refuses_overwrite_and_leaves_no_partial(tmp_path):
    out = tmp_path / "o.mrcs"
    write_mrcs(out, np.zeros((2, 4, 4), np.float32))
    with pytest.raises(InputError, match="exists"):
        write_mrcs(out, np.ones((2, 4, 4), np.float32))
    write_mrcs(out, np.ones((3, 4, 4), np.float32), force=True)
    assert len(read_particles(out)) == 3

    def bad_chunks():
        yield np.zeros((2, 4, 4), np.float32)
        yield np.zeros((2, 5, 5), np.float32)

    with pytest.raises(ValueError):
        write_mrcs(tmp_path / "bad.mrcs", bad_chunks())
    assert not (tmp_path / "bad.mrcs").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o.mrcs"]
    with pytest.raises(ValueError, match="expected 5"):
        write_mrcs(tmp_path / "n.mrcs", np.zeros((2, 4, 4), np.float32), n_images=5)


def test_volume_round_trip(tmp_path):
    vol = np.random.default_rng(5).normal(size=(6, 6, 6)).astype(np.float32)
    write_volume(tmp_path / "v.mrc", vol, apix=3.2)
    out, apix = read_volume(tmp_path / "v.mrc")
    np.testing.assert_array_equal(out, vol)
    assert apix == pytest.approx(3.2)
    with mrcfile.open(tmp_path / "v.mrc") as mrc:
        assert tuple(mrc.header.origin.tolist()) == (0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="exists"):
        write_volume(tmp_path / "v.mrc", vol)


def test_read_volume_rejects_non_cube(tmp_path):
    with mrcfile.new(tmp_path / "nc.mrc", np.zeros((4, 6, 6), np.float32), overwrite=True):
        pass
    with pytest.raises(InputError, match="not a cubic volume"):
        read_volume(tmp_path / "nc.mrc")


def test_header_reports_offset_and_dtype(tmp_path):
    make_stack(tmp_path / "h.mrcs", n=3, D=4, apix=None)
    h = read_mrc_header(tmp_path / "h.mrcs")
    assert (h.nx, h.ny, h.nz, h.data_offset, h.apix) == (4, 4, 3, 1024, None)
    assert h.dtype == np.float32
