"""Isosurfaces keep the map's hand: vertices are (x, y, z) in the volume's frame."""

from __future__ import annotations

import numpy as np
import pytest

from cryolatent.volumes import isosurface
from cryolatent.widgets.volume_view import isosurface as view_isosurface


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


def test_the_panel_view_uses_the_same_frame_and_hand():
    vol = blob(32, (6, -3, 2))
    verts, _ = view_isosurface(vol, 0.5, apix=1.0)
    assert np.allclose(verts.mean(0), [6, -3, 2], atol=0.1)
    assert view_isosurface(vol, 5.0)[0].shape == (0, 3)  # out of range: empty, no error


def test_max_faces_coarsens():
    vol = blob(48, (0, 0, 0), sigma=8)
    full = isosurface(vol, 0.3)[1]
    small = isosurface(vol, 0.3, max_faces=len(full) // 3)[1]
    assert len(small) <= len(full) // 3
    with pytest.raises(ValueError, match="outside"):
        isosurface(vol, 2.0)
