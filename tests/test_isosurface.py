"""One isosurface (cryolatent.volumes.isosurface) for the report, series and panel: vertices
are (x, y, z) in the volume's frame (the map's hand); no surface is an empty mesh, not an error."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.volumes import ISO_PERCENTILE, default_threshold, isosurface


def blob(D, centre_xyz, sigma=2.0):
    z, y, x = np.meshgrid(*[np.arange(D) - D // 2] * 3, indexing="ij")
    cx, cy, cz = centre_xyz
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_vertices_are_xyz_in_angstrom():
    D, apix = 32, 2.5
    vol = blob(D, (6, -3, 2))  # x, y, z offsets from the centre
    verts, faces = isosurface(vol, 0.5, apix=apix)
    assert faces.dtype == np.int32 and verts.dtype == np.float32
    centre = verts.mean(0) / apix - D // 2
    assert np.allclose(centre, [6, -3, 2], atol=0.1)
    centred, _ = isosurface(vol, 0.5, apix=apix, centred=True)
    assert np.allclose(centred.mean(0) / apix, [6, -3, 2], atol=0.1)


def test_centred_sphere_has_radius_r_and_coarsens_to_max_faces():
    box, r, apix = 48, 12.0, 1.5
    g = np.arange(box) - box // 2
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    vol = -np.sqrt(xx**2 + yy**2 + zz**2).astype(np.float32)  # inside = high density
    verts, faces = isosurface(vol, -r, apix=apix, centred=True)
    radius = np.linalg.norm(verts, axis=1) / apix
    assert faces.shape[1] == 3 and faces.max() < len(verts)
    assert abs(radius.mean() - r) < 0.05 and radius.std() < 0.1
    v2, f2 = isosurface(vol, -r, apix=apix, centred=True, max_faces=2000)
    assert len(f2) <= 2000 < len(faces) and abs(np.linalg.norm(v2, axis=1).mean() / apix - r) < 0.5


def test_max_faces_coarsens():
    vol = blob(48, (0, 0, 0), sigma=8)
    full = isosurface(vol, 0.3)[1]
    small = isosurface(vol, 0.3, max_faces=len(full) // 3)[1]
    assert len(small) <= len(full) // 3


@pytest.mark.parametrize("threshold", [2.0, -1.0, 1.0, 0.0])  # above, below, at the max, at the min
def test_no_surface_is_an_empty_mesh(threshold):
    vol = blob(16, (0, 0, 0))
    vol = (vol - vol.min()) / (vol.max() - vol.min())  # range exactly [0, 1]
    verts, faces = isosurface(vol, threshold)
    assert verts.shape == faces.shape == (0, 3) and verts.dtype == np.float32 and faces.dtype == np.int32


def test_flat_volume_has_no_surface_at_its_default():
    flat = np.full((8, 8, 8), 3.0, np.float32)
    assert default_threshold(flat) == 3.0
    assert isosurface(flat)[1].shape == (0, 3)


def test_default_threshold_is_the_percentile_inside_the_range():
    vol = blob(32, (0, 0, 0), sigma=3)
    level = default_threshold(vol)
    assert ISO_PERCENTILE == 99.0 and level == pytest.approx(np.percentile(vol, 99))
    assert np.mean(vol > level) == pytest.approx(0.01, abs=0.002)  # 1% of the voxels inside
    assert len(isosurface(vol)[1]) == len(isosurface(vol, level)[1]) > 0
    # a flat top (more than 1% of the voxels at the maximum): the middle of the range
    top = np.zeros((10, 10, 10), np.float32)
    top[:3] = 1.0
    assert default_threshold(top) == 0.5 and len(isosurface(top)[1]) > 0


def test_report_snapshot_says_no_surface_for_a_flat_volume():
    from cryolatent import pl

    import matplotlib.pyplot as plt

    flat = pl.volume(np.zeros((16, 16, 16), np.float32), title="flat")
    surf = pl.volume(blob(16, (0, 0, 0)), title="blob")
    try:
        assert [t.get_text() for t in flat.axes[0].texts] == ["no surface"]
        assert len(surf.axes[0].texts) == 0 and len(surf.axes[0].collections) == 1  # the trisurf
    finally:
        plt.close(flat)
        plt.close(surf)
