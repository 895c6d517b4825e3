"""cryoDRGN pickles: formats, the restricted unpickler, index files."""

from __future__ import annotations

import os
import pickle
import uuid

import numpy as np
import pytest

from cryolatent.errors import InputError
from cryolatent.io import (
    load_index,
    load_pkl,
    read_poses,
    write_ctf_pkl,
    write_index_pkl,
    write_poses_pkl,
)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, protocol):
    target = f"/tmp/pwned_{uuid.uuid4().hex}"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps((np.zeros(3), _Evil(target)), protocol=protocol))
    with pytest.raises(InputError) as err:
        load_pkl(path)
    msg = str(err.value)
    assert "refusing to unpickle" in msg and "system" in msg and str(path) in msg
    assert "\n" not in msg
    assert not os.path.exists(target)


def test_other_classes_are_refused(tmp_path):
    import collections

    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps(collections.Counter("aab")))
    with pytest.raises(InputError, match="refusing to unpickle collections.Counter"):
        load_pkl(path)
    # object arrays carry arbitrary objects: refused too
    path.write_bytes(pickle.dumps(np.array([_Evil("/tmp/x")], dtype=object)))
    with pytest.raises(InputError, match="refusing"):
        load_pkl(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_and_containers_are_accepted(tmp_path, protocol):
    obj = {
        "a": (np.arange(6, dtype=np.int64).reshape(2, 3), [np.float32(1.5), np.int64(7)]),
        "b": np.zeros(3, dtype=[("x", "<f4"), ("y", "<i8")]),
        "c": np.asfortranarray(np.ones((2, 2))),
        "d": [1, 2.5, "s", b"bytes", None, True, complex(1, 2), {1, 2}],
    }
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = load_pkl(path)
    np.testing.assert_array_equal(out["a"][0], obj["a"][0])
    assert out["a"][1][0] == np.float32(1.5) and out["a"][1][0].dtype == np.float32
    assert out["b"].dtype == obj["b"].dtype
    assert out["d"] == obj["d"]


def test_corrupt_pickle(tmp_path):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(np.arange(100))[:40])
    with pytest.raises(InputError, match="not a readable pickle"):
        load_pkl(path)


def test_pose_pkl_formats(tmp_path):
    rots = np.stack([np.eye(3)] * 4).astype(np.float32)
    trans = np.full((4, 2), 0.25, np.float32)
    write_poses_pkl(tmp_path / "p.pkl", rots, trans)
    with open(tmp_path / "p.pkl", "rb") as f:  # plain cryoDRGN format
        r, t = pickle.load(f)
    np.testing.assert_array_equal(r, rots)
    np.testing.assert_array_equal(t, trans)
    with open(tmp_path / "rots.pkl", "wb") as f:  # rots only -> zero translations
        pickle.dump(rots.astype(np.float64), f)
    r, t = read_poses(tmp_path / "rots.pkl")
    assert r.dtype == np.float32 and t.shape == (4, 2) and not t.any()
    with pytest.raises(InputError, match="exists"):
        write_poses_pkl(tmp_path / "p.pkl", rots, trans)
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump((rots, np.zeros((3, 2))), f)
    with pytest.raises(InputError, match="translations must be"):
        read_poses(tmp_path / "bad.pkl")


def test_ctf_pkl_format(tmp_path):
    ctf = np.arange(18, dtype=np.float64).reshape(2, 9)
    write_ctf_pkl(tmp_path / "c.pkl", ctf)
    with open(tmp_path / "c.pkl", "rb") as f:
        out = pickle.load(f)
    assert out.dtype == np.float32 and out.shape == (2, 9)


def test_index_files(tmp_path):
    write_index_pkl(tmp_path / "i.pkl", [3, 0, 2])
    ind = load_index(tmp_path / "i.pkl")
    assert ind.dtype == np.int64 and list(ind) == [3, 0, 2]
    np.save(tmp_path / "i.npy", np.array([1, 5], dtype=np.int32))
    assert list(load_index(tmp_path / "i.npy")) == [1, 5]
    (tmp_path / "i.txt").write_text("4\n2\n")
    assert list(load_index(tmp_path / "i.txt")) == [4, 2]
    (tmp_path / "one.txt").write_text("7\n")
    assert list(load_index(tmp_path / "one.txt")) == [7]


@pytest.mark.parametrize(
    "content, match",
    [
        (np.array([1, -2]), "negative value -2"),
        (np.array([1.5, 2.0]), "integers"),
        (np.zeros((2, 2), dtype=int), "1-D"),
        ("not an array", "1-D integer array"),
    ],
)
def test_bad_index_files(tmp_path, content, match):
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as f:
        pickle.dump(content, f)
    with pytest.raises(InputError, match=match) as err:
        load_index(path)
    assert str(path) in str(err.value)


def test_index_unknown_extension(tmp_path):
    (tmp_path / "i.csv").write_text("1\n")
    with pytest.raises(InputError, match="unknown index file extension"):
        load_index(tmp_path / "i.csv")
