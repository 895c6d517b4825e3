"""napari output (optional extra): the Qt-free adapter on ViewerModel, and a real
viewer rendered under Xvfb (pytest-xvfb). Skipped when napari is not installed."""

from __future__ import annotations

import os

import numpy as np
import pytest

napari = pytest.importorskip("napari", reason="napari not installed (pip install cryolatent[napari])")

from _panel_fixtures import synthetic_state  # noqa: E402
from cryolatent.widgets import VolumeView  # noqa: E402
from cryolatent.widgets.napari_view import add_trajectory, add_volume  # noqa: E402

pytestmark = pytest.mark.napari


def _sphere(box=32, r=8.0):
    g = np.arange(box) - box // 2
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    return (np.sqrt(xx**2 + yy**2 + zz**2) < r).astype(np.float32)


def test_add_volume_and_trajectory_to_viewer_model():
    from napari.components import ViewerModel

    viewer = ViewerModel()
    layer = add_volume(viewer, _sphere(), name="v", apix=2.0, threshold=0.5)
    assert len(viewer.layers) == 1 and viewer.dims.ndisplay == 3
    assert layer.rendering == "iso" and layer.iso_threshold == 0.5
    np.testing.assert_allclose(layer.scale, [2.0, 2.0, 2.0])

    st = synthetic_state(n=50, box=16, seed=0)
    st.set_point(0)
    traj = add_trajectory(viewer, st, [0, 10, 20, 30])
    assert traj.data.shape == (4, 16, 16, 16) and len(viewer.layers) == 2
    assert viewer.dims.nsteps[0] == 4  # a slider over the trajectory
    with pytest.raises(ValueError):
        add_volume(viewer, np.zeros((4, 4)))


def test_volume_view_button_sends_to_given_viewer():
    from napari.components import ViewerModel

    st = synthetic_state(n=50, box=16, seed=0)
    vv = VolumeView(st)
    assert not vv.napari_button.disabled
    st.set_point(3)
    viewer = ViewerModel()
    layer = vv.send_to_napari(viewer)
    assert layer is not None and layer.name == "point 3 (particle 3)" and viewer.layers[0].data.shape == (16, 16, 16)


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (pytest-xvfb provides Xvfb)")
def test_real_viewer_renders_the_volume():
    viewer = napari.Viewer(show=True)
    try:
        add_volume(viewer, _sphere(), threshold=0.5)
        scene = getattr(viewer, "scene", None)  # napari >= 0.9; viewer.camera before
        (scene.camera if scene is not None else viewer.camera).angles = (0, 30, 45)
        shot = viewer.screenshot(canvas_only=True, flash=False)
        for _ in range(3):  # a just-shown canvas can come back black once
            if shot[..., :3].std() > 1:
                break
            shot = viewer.screenshot(canvas_only=True, flash=False)
        assert shot.ndim == 3 and shot.shape[0] > 50
        assert shot[..., :3].std() > 1, "napari rendered a blank canvas"
    finally:
        viewer.close()
