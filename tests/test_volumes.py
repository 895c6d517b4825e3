from __future__ import annotations

import numpy as np
import pytest

from cryolatent import pl, tl
from cryolatent.errors import InputError
from cryolatent.io import read_volume
from cryolatent.latent import LatentSet
from cryolatent.volumes import Decoder, VolumeSeries, along_path, along_pc, at_centers, decode, isosurface

D = 24


def sphere_decoder(z):
    """Analytic decoder: a sphere of radius 4 + 2 * z[:, 0] voxels centred on voxel D // 2."""
    x = np.arange(D) - D // 2
    r = np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)
    radii = 4 + 2 * np.asarray(z)[:, :1, None, None]
    return (1.0 / (1.0 + np.exp(2.0 * (r[None] - radii)))).astype(np.float32)


def test_isosurface_of_a_sphere_has_radius_r():
    apix = 1.5
    vol = sphere_decoder(np.array([[2.0]]))[0]  # radius 8 voxels
    verts, faces = isosurface(vol, 0.5, apix=apix)
    assert faces.shape[1] == 3 and len(faces) > 100
    radius = np.linalg.norm(verts / apix - D // 2, axis=1)
    assert abs(radius.mean() - 8) < 0.1 and radius.std() < 0.1
    empty_verts, empty_faces = isosurface(vol, 5.0)  # outside the range: no surface, no error
    assert empty_verts.shape == empty_faces.shape == (0, 3)


def test_decoder_cache_reuses_rounded_z():
    calls = []

    def fn(z):
        calls.append(len(z))
        return sphere_decoder(z)

    dec = Decoder(fn, apix=2.0, cache_size=2)
    a = dec(np.array([[0.1], [0.1], [0.3]]))
    assert calls == [2] and a.shape == (3, D, D, D) and np.array_equal(a[0], a[1])
    dec(np.array([[0.10001], [0.3]]))  # same keys at 4 decimals
    assert calls == [2]
    dec(np.array([[0.5]]))  # evicts 0.1 (least recently used)
    dec(np.array([[0.1]]))
    assert calls == [2, 1, 1]


def test_series_to_mrc_and_slider(tmp_path):
    z = np.array([[0.0], [0.5], [1.0]], np.float32)
    series = decode(Decoder(sphere_decoder, apix=2.0), z, name="traj")
    files = series.to_mrc(tmp_path / "traj")
    assert [f.name for f in files] == ["vol_000.mrc", "vol_001.mrc", "vol_002.mrc", "z_values.txt"]
    vol, apix = read_volume(tmp_path / "traj" / "vol_002.mrc")
    assert apix == pytest.approx(2.0) and np.allclose(vol, series[2])
    assert np.allclose(np.loadtxt(tmp_path / "traj" / "z_values.txt"), z[:, 0])
    with pytest.raises(InputError, match="exists"):
        series.to_mrc(tmp_path / "traj")
    fig = pl.volume_series(series, 0.5, step=2)
    assert len(fig.frames) == 3 and len(fig.layout.sliders[0].steps) == 3
    assert series.central_slices().shape == (3, D, D)


def test_volumes_at_centres_pc_and_path():
    rng = np.random.default_rng(0)
    z = np.column_stack([np.linspace(0, 1, 60), 0.01 * rng.normal(size=60)]).astype(np.float32)
    ls = LatentSet(z)
    with pytest.raises(ValueError, match=r"run kmeans\(ls\) first"):
        at_centers(ls, sphere_decoder)
    tl.kmeans(ls, k=3)
    tl.pca(ls)
    cen = at_centers(ls, sphere_decoder)
    idx = np.asarray(ls.uns["kmeans"]["center_indices"])
    assert len(cen) == 3 and np.array_equal(cen.particles, idx) and np.array_equal(cen.z, z[idx])
    pcs = along_pc(ls, sphere_decoder, 1, n=4)
    assert len(pcs) == 4 and pcs.name == "pc1"
    path = along_path(ls, sphere_decoder, [0, 59], k=3)
    assert path.particles[0] == 0 and path.particles[-1] == 59
    assert np.allclose(path.vols, sphere_decoder(z[path.particles]))
    assert isinstance(path, VolumeSeries)
