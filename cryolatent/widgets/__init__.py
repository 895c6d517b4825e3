"""Jupyter widgets for exploring a latent space: brush, click, filter, export.

``PanelState`` (``state.py``) holds all interaction state and imports no UI
library; the views (``ScatterView``, ``VolumeView``) and ``LatentPanel`` only
translate between it and the browser. Names load lazily, so importing
``cryolatent.widgets.state`` never pulls in ipywidgets or plotly.

>>> import cryolatent as cl                                                   # doctest: +SKIP
>>> ls = cl.LatentSet.from_run("runs/001"); cl.tl.pca(ls); cl.tl.umap(ls)   # doctest: +SKIP
>>> panel = cl.widgets.LatentPanel.from_latentset(ls, cl.volumes.run_decoder("runs/001"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PanelState": "state",
    "ScatterView": "scatter",
    "MeshView": "volume_view",
    "VolumeView": "volume_view",
    "LatentPanel": "panel",
    "napari_available": "napari_view",
    "add_volume": "napari_view",
    "add_trajectory": "napari_view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
