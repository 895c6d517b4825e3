from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cryolatent import tl
from cryolatent.errors import InputError
from cryolatent.io import load_index, read_particles, write_index_pkl
from cryolatent.latent import LatentSet
from cryolatent.selection import Selection, in_polygon, load_selections, save_selections

from test_latent import make_run


def _ls(n=30, offset=0):
    z = np.column_stack([np.arange(n) % 6, np.arange(n) // 6]).astype(np.float32)
    obs = pd.DataFrame({"orig_index": np.arange(n) + offset, "defocus_A": 1000.0 * np.arange(n)})
    return LatentSet(z, obs)


def test_algebra_and_de_morgan():
    ls = _ls()
    rng = np.random.default_rng(0)
    a = Selection.from_indices(ls, rng.random(30) < 0.4, "a")
    b = Selection.from_indices(ls, rng.random(30) < 0.5, "b")
    assert ~(a | b) == (~a & ~b)
    assert ~(a & b) == (~a | ~b)
    assert (a - b) == (a & ~b)
    assert len(a | ~a) == 30 and len(a & ~a) == 0 and ~~a == a
    assert a.union(b) == (a | b) and a.intersection(b) == (a & b) and a.difference(b) == (a - b)
    with pytest.raises(ValueError, match="different datasets"):
        a | Selection.from_indices(_ls(31), [0], "c")


def test_polygon_cluster_and_range_selections():
    xy = np.array([[0.5, 0.5], [2, 2], [-1, 0], [0.9, 0.1]])
    assert in_polygon(xy, [[0, 0], [1, 0], [1, 1], [0, 1]]).tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="polygon"):
        in_polygon(xy, [[0, 0], [1, 1]])  # two vertices are no polygon
    ls = _ls()
    tl.pca(ls)
    ls.emb["grid"] = ls.z.copy()
    sel = Selection.from_polygon(ls, [[-0.5, -0.5], [2.5, -0.5], [2.5, 1.5], [-0.5, 1.5]], basis="grid")
    assert sel.indices.tolist() == [0, 1, 2, 6, 7, 8]
    with pytest.raises(ValueError, match=r"run umap\(ls\) first"):
        Selection.from_polygon(ls, [[0, 0], [1, 0], [1, 1]])
    ls.obs["kmeans"] = np.arange(30) % 3
    assert Selection.from_clusters(ls, [1, 2]).indices.tolist() == [i for i in range(30) if i % 3]
    assert Selection.from_range(ls, "defocus_A", 5000, 7000).indices.tolist() == [5, 6, 7]
    sel.to_obs(ls)
    assert ls.obs["polygon"].sum() == 6


def test_save_load_and_refuse_other_dataset(tmp_path):
    ls = _ls()
    sel = Selection.from_indices(ls, [3, 1, 4, 1, 5], "pick")
    sel.save(tmp_path / "pick.json")
    back = Selection.load(tmp_path / "pick.json", ls)
    assert back == sel and back.name == "pick" and back.indices.tolist() == [1, 3, 4, 5]
    with pytest.raises(InputError, match="another dataset"):
        Selection.load(tmp_path / "pick.json", _ls(offset=100))
    with pytest.raises(InputError, match="exists"):
        sel.save(tmp_path / "pick.json")


def test_folder_of_selections_round_trip(tmp_path):
    ls = _ls()
    a = Selection.from_indices(ls, [1, 2], "a/b c")  # not a file name as it stands
    b = Selection.from_indices(ls, [7], "b")
    written = save_selections([a, b], tmp_path / "sel")
    assert [p.name for p in written] == ["a_b_c.json", "b.json"]
    back = load_selections(tmp_path / "sel", ls)
    assert back == [a, b] and [s.name for s in back] == ["a/b c", "b"]
    assert Selection.load(tmp_path / "sel" / "b.json", ls) == b  # each file is a plain saved Selection
    # refused without force, and nothing written: not even the files that do not exist yet
    c = Selection.from_indices(ls, [3], "c")
    with pytest.raises(InputError, match="exists"):
        save_selections([c, Selection.from_indices(ls, [4], "b")], tmp_path / "sel")
    assert not (tmp_path / "sel" / "c.json").exists()
    save_selections([Selection.from_indices(ls, [4], "b")], tmp_path / "sel", force=True)
    assert load_selections(tmp_path / "sel", ls)[1].indices.tolist() == [4]
    with pytest.raises(InputError, match="both be saved as a_b.json"):
        save_selections([Selection.from_indices(ls, [1], "a b"), Selection.from_indices(ls, [2], "a/b")],
                        tmp_path / "other")
    assert not (tmp_path / "other").exists()
    with pytest.raises(InputError, match="another dataset"):
        load_selections(tmp_path / "sel", _ls(offset=100))
    with pytest.raises(InputError, match="no saved selections"):
        load_selections(tmp_path / "empty", ls)


def test_export_round_trip(tmp_path):
    ind = np.arange(40)[5:35]
    out = make_run(tmp_path, ind=ind)
    ls = LatentSet.from_run(out)
    sel = Selection.from_indices(ls, np.arange(0, 30, 4), "every4")
    exp = tmp_path / "exp"
    files = sel.write_index(ls, exp / "sel.pkl")
    assert [f.name for f in files] == ["sel.pkl", "sel_inverse.pkl"]
    assert np.array_equal(load_index(exp / "sel.pkl"), ind[sel.indices])
    assert np.array_equal(load_index(exp / "sel_inverse.pkl"), ind[(~sel).indices])
    sel.write_star(ls, exp / "sel.star")
    star = read_particles(exp / "sel.star")
    assert len(star) == len(sel)
    assert np.allclose(star.images(np.arange(len(sel))), ls.open_stack().images(sel.indices))
    sel.write_mrcs(ls, exp / "sel.mrcs")
    assert len(read_particles(exp / "sel.mrcs")) == len(sel)
    sel.write_cs(ls, exp / "sel.cs")
    assert len(read_particles(exp / "sel.cs")) == len(sel)
    # reopened from the index file, and after a restart (saved LatentSet and selection)
    assert Selection.from_index_file(exp / "sel.pkl", ls) == sel
    ls.save(tmp_path / "ls")
    sel.save(tmp_path / "sel.json")
    ls2 = LatentSet.load(tmp_path / "ls")
    sel2 = Selection.load(tmp_path / "sel.json", ls2)
    sel2.write_star(ls2, exp / "again.star")
    assert len(read_particles(exp / "again.star")) == len(sel)


def test_export_refusals(tmp_path):
    ls = _ls()
    empty = Selection.from_indices(ls, [], "none")
    with pytest.raises(InputError, match="empty"):
        empty.write_index(ls, tmp_path / "e.pkl")
    with pytest.raises(InputError, match="empty"):
        empty.write_star(ls, tmp_path / "e.star")
    assert not list(tmp_path.iterdir())
    write_index_pkl(tmp_path / "other.pkl", [2, 50])
    with pytest.raises(InputError, match="other.pkl.*50.*another dataset"):
        Selection.from_index_file(tmp_path / "other.pkl", ls)
    with pytest.raises(InputError, match="no particle stack"):
        Selection.from_indices(ls, [1], "x").write_star(ls, tmp_path / "x.star")
    assert not list(tmp_path.glob("*.star"))


def test_in_polygon_of_many_points_is_matplotlibs_answer():
    """Above EXACT_MAX points the raster shortcut decides most points: the same answer, to the point."""
    from matplotlib.path import Path as MplPath

    from cryolatent.selection import EXACT_MAX, in_polygon

    rng = np.random.default_rng(5)
    xy = rng.normal(size=(3 * EXACT_MAX, 2))
    xy[:50] = [0.25, 0.0]  # points exactly on an edge, and a vertex
    xy[50:60] = [1.0, 0.0]
    t = np.sort(rng.uniform(0, 2 * np.pi, 150))
    r = 1.2 * (1 + 0.5 * np.sin(4 * t)) * rng.uniform(0.8, 1.2, size=150)
    lasso = np.c_[r * np.cos(t), r * np.sin(t)]
    square = np.array([[0.0, -1.0], [1.0, -1.0], [1.0, 1.0], [0.0, 1.0]])  # (0.25, 0) on no edge; (1, 0) on one
    for poly in (lasso, square, square[::-1]):
        got = in_polygon(xy, poly)
        np.testing.assert_array_equal(got, MplPath(poly).contains_points(xy))
        assert 0 < got.sum() < len(xy)
