"""ParticleStack views, .txt lists, and load_dataset."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cryolatent.errors import InputError
from cryolatent.io import (
    load_dataset,
    read_particles,
    write_ctf_pkl,
    write_index_pkl,
    write_poses_pkl,
)

try:
    from io_helpers import make_stack, star_31, write_text
except ImportError:  # tests collected as a package
    from tests.io_helpers import make_stack, star_31, write_text


def _poses(n, seed=0):
    rng = np.random.default_rng(seed)
    rots = np.stack([np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(n)]).astype(np.float32)
    return rots, rng.normal(size=(n, 2)).astype(np.float32) * 0.01


def test_txt_of_two_stacks_concatenates_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    a = make_stack(tmp_path / "sub" / "a.mrcs", n=3, D=8, seed=1)
    b = make_stack(tmp_path / "b.mrcs", n=4, D=8, seed=2)
    write_text(tmp_path / "list.txt", "sub/a.mrcs\n\n" + str(tmp_path / "b.mrcs") + "\n")
    stack = read_particles(tmp_path / "list.txt")
    assert len(stack) == 7 and len(stack.files) == 2
    np.testing.assert_array_equal(stack.images(np.arange(7)), np.concatenate([a, b]))
    assert stack.location(4) == (str(tmp_path / "b.mrcs"), 1)


def test_subsets_compose_and_keep_orig_index(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=10, D=8)
    stack = read_particles(tmp_path / "s.mrcs")
    stack.poses = _poses(10)
    stack.ctf = np.arange(90, dtype=np.float32).reshape(10, 9)
    sub = stack.subset([9, 7, 5, 3, 1]).subset(slice(1, 4))
    assert list(sub.orig_index) == [7, 5, 3]
    np.testing.assert_array_equal(sub.images([0, 1, 2]), data[[7, 5, 3]])
    np.testing.assert_array_equal(sub.poses[0], stack.poses[0][[7, 5, 3]])
    np.testing.assert_array_equal(sub.ctf, stack.ctf[[7, 5, 3]])
    mask = np.zeros(10, bool)
    mask[[2, 8]] = True
    assert list(stack.subset(mask).orig_index) == [2, 8]
    with pytest.raises(IndexError):
        sub.images([3])
    sub.close()
    np.testing.assert_array_equal(stack[7], data[7])  # files reopen after close


def test_star_subset_metadata_follows(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8)
    write_text(tmp_path / "p.star", star_31("s.mrcs", n=4))
    stack = read_particles(tmp_path / "p.star")
    sub = stack.subset([3, 0])
    assert list(sub.metadata["rlnImageName"]) == ["000004@s.mrcs", "000001@s.mrcs"]
    assert list(sub.metadata.index) == [0, 1]


def test_iter_chunks_with_indices(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=10, D=8)
    stack = read_particles(tmp_path / "s.mrcs")
    got = list(stack.iter_chunks(3, indices=[9, 0, 4, 4]))
    assert [list(i) for i, _ in got] == [[9, 0, 4], [4]]
    np.testing.assert_array_equal(got[0][1], data[[9, 0, 4]])


def test_stack_pickles_without_open_files(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=3, D=8)
    stack = read_particles(tmp_path / "s.mrcs")
    stack.images([0])
    clone = pickle.loads(pickle.dumps(stack.subset([2, 1])))
    np.testing.assert_array_equal(clone.images([0, 1]), data[[2, 1]])


def test_load_dataset_from_files_with_index(tmp_path):
    data = make_stack(tmp_path / "s.mrcs", n=10, D=8)
    rots, trans = _poses(10)
    ctf = np.tile(np.array([8, 1.5, 1e4, 1e4, 0, 300, 2.7, 0.1, 0], np.float32), (10, 1))
    ctf[:, 2] += np.arange(10)
    write_poses_pkl(tmp_path / "pose.pkl", rots, trans)
    write_ctf_pkl(tmp_path / "ctf.pkl", ctf)
    write_index_pkl(tmp_path / "ind.pkl", [8, 2, 5])
    ds = load_dataset(tmp_path / "s.mrcs", poses=tmp_path / "pose.pkl", ctf=tmp_path / "ctf.pkl", ind=tmp_path / "ind.pkl")
    assert len(ds) == 3 and list(ds.orig_index) == [8, 2, 5]
    np.testing.assert_array_equal(ds.images([0, 1, 2]), data[[8, 2, 5]])
    np.testing.assert_array_equal(ds.poses[0], rots[[8, 2, 5]])
    np.testing.assert_array_equal(ds.poses[1], trans[[8, 2, 5]])
    np.testing.assert_array_equal(ds.ctf[:, 2], [1e4 + 8, 1e4 + 2, 1e4 + 5])
    # poses already filtered by the index are accepted as such
    write_poses_pkl(tmp_path / "pose3.pkl", rots[[8, 2, 5]], trans[[8, 2, 5]])
    ds = load_dataset(tmp_path / "s.mrcs", poses=tmp_path / "pose3.pkl", ind=np.array([8, 2, 5]))
    np.testing.assert_array_equal(ds.poses[0], rots[[8, 2, 5]])
    assert ds.ctf is None


def test_load_dataset_takes_poses_and_ctf_from_star(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=4, D=8)
    write_text(tmp_path / "p.star", star_31("s.mrcs", n=4))
    full = read_particles(tmp_path / "p.star")
    ds = load_dataset(tmp_path / "p.star", ind=[3, 1])
    np.testing.assert_array_equal(ds.poses[0], full.poses[0][[3, 1]])
    np.testing.assert_array_equal(ds.ctf, full.ctf[[3, 1]])
    assert list(ds.metadata["rlnOpticsGroup"]) == [2, 2]
    # an explicit file wins over the star's own columns
    rots, trans = _poses(4)
    write_poses_pkl(tmp_path / "pose.pkl", rots, trans)
    ds = load_dataset(tmp_path / "p.star", poses=tmp_path / "pose.pkl")
    np.testing.assert_array_equal(ds.poses[0], rots)


def test_load_dataset_count_mismatch(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=10, D=8)
    rots, trans = _poses(9)
    write_poses_pkl(tmp_path / "pose.pkl", rots, trans)
    with pytest.raises(InputError, match=r"pose.pkl: has 9 poses but the stack has 10 particles"):
        load_dataset(tmp_path / "s.mrcs", poses=tmp_path / "pose.pkl")
    write_ctf_pkl(tmp_path / "ctf.pkl", np.zeros((11, 9)))
    with pytest.raises(InputError, match=r"ctf.pkl: has 11 CTF rows but the stack has 10 particles"):
        load_dataset(tmp_path / "s.mrcs", ctf=tmp_path / "ctf.pkl")


def test_load_dataset_index_out_of_range(tmp_path):
    make_stack(tmp_path / "s.mrcs", n=10, D=8)
    write_index_pkl(tmp_path / "ind.pkl", [1, 10, 3])
    with pytest.raises(InputError, match=r"ind.pkl: index 10 is out of range for a stack of 10 particles"):
        load_dataset(tmp_path / "s.mrcs", ind=tmp_path / "ind.pkl")


def test_many_files_with_few_open_descriptors(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    stacks = [make_stack(tmp_path / f"s{i}.mrcs", n=3, D=8, seed=i) for i in range(6)]
    write_text(tmp_path / "l.txt", "".join(f"s{i}.mrcs\n" for i in range(6)))
    stack = read_particles(tmp_path / "l.txt")
    stack._cache.max_open = 2
    expected = np.concatenate(stacks)
    order = np.random.default_rng(0).permutation(18)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: stack.images(order[i : i + 5]), range(0, 18, 5)))
    np.testing.assert_array_equal(np.concatenate(got), expected[order])
    assert len(stack._cache._fds) <= 2
    stack.close()
    assert len(stack._cache._fds) == 0
