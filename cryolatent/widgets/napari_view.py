"""Optional napari output: send a volume, or a trajectory stack, to a napari viewer.

napari is an optional extra (``pip install cryolatent[napari]``); nothing here
imports it at module import time. ``add_volume`` works on a full
``napari.Viewer`` and on the Qt-free ``napari.components.ViewerModel``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np


def napari_available() -> bool:
    """True when napari can be imported (checked without importing it)."""
    return importlib.util.find_spec("napari") is not None


def get_viewer(show: bool = True):
    """The current napari viewer, or a new one."""
    import napari

    return napari.current_viewer() or napari.Viewer(show=show)


def add_volume(viewer, volume: np.ndarray, *, name: str = "volume", apix: float | None = None,
               threshold: float | None = None):
    """Add a ``(D, D, D)`` volume, or a ``(T, D, D, D)`` trajectory (a slider over T), as an
    iso-rendered image layer in 3-D; returns the layer."""
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim not in (3, 4):
        raise ValueError(f"expected a (D,D,D) volume or (T,D,D,D) stack, got {vol.shape}")
    scale = (1.0,) * (vol.ndim - 3) + (float(apix or 1.0),) * 3  # voxels when the pixel size is unknown
    kwargs = {"name": name, "scale": scale, "rendering": "iso"}
    if threshold is not None:
        kwargs["iso_threshold"] = float(threshold)
    layer = viewer.add_image(vol, **kwargs)
    viewer.dims.ndisplay = 3
    return layer


def add_trajectory(viewer, state, positions: Sequence[int], *, name: str = "trajectory"):
    """Decode ``positions`` of a PanelState (e.g. points along a path) and add them as one stack."""
    stack = np.stack([state.volume_at(int(p)) for p in positions])
    thr = state.threshold if state.volume is not None else None
    return add_volume(viewer, stack, name=name, apix=state.apix, threshold=thr)
