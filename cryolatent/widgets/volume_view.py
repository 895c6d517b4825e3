"""Volume view: isosurface of the clicked point's decoded volume (plotly Mesh3d).

The mesh is :func:`cryolatent.volumes.isosurface` (about the box centre, coarsened
to ``MAX_FACES``); ``MeshView`` is a small plotly anywidget (shares plotly.js with
the scatter); ``VolumeView`` adds the threshold slider and the napari button, all
driven by a PanelState.
"""

from __future__ import annotations

import numpy as np
from ipywidgets import HTML, Button, FloatSlider, HBox, Layout, VBox
from traitlets import Bytes, Float, Unicode

from cryolatent import volumes
from cryolatent.widgets import napari_view
from cryolatent.widgets.scatter import PlotlyWidget, _f32, _i32
from cryolatent.widgets.state import PanelState

MAX_FACES = 60_000  # triangles drawn at most (the mesh is coarsened beyond)


class MeshView(PlotlyWidget):
    """A plotly ``mesh3d`` of one triangle mesh, vertices/faces as binary buffers."""

    _view = Unicode("mesh").tag(sync=True)
    vertices = Bytes(b"").tag(sync=True)  # float32 (V*3)
    faces = Bytes(b"").tag(sync=True)  # int32 (F*3)
    color = Unicode("#7fa7d9").tag(sync=True)
    half_width = Float(1.0).tag(sync=True)  # axis range +-, in Å (voxels when the pixel size is unknown)

    def set_mesh(self, verts: np.ndarray, faces: np.ndarray, half_width: float | None = None) -> None:
        with self.hold_sync():
            if half_width is not None:
                self.half_width = float(half_width)
            self.vertices = _f32(np.asarray(verts).reshape(-1))
            self.faces = _i32(np.asarray(faces).reshape(-1))

    @property
    def n_faces(self) -> int:
        return len(self.faces) // 12


class VolumeView(VBox):
    """Isosurface of ``state.volume`` with a threshold slider and a 'to napari' button."""

    def __init__(self, state: PanelState, *, width: int = 420, height: int = 420):
        self.state = state
        self.mesh = MeshView(width=width, height=height, title="click a point")
        self.slider = FloatSlider(
            description="threshold", min=0.0, max=1.0, step=0.01, value=0.5, continuous_update=False,
            readout_format=".3g", layout=Layout(width=f"{width}px"),
        )
        self.slider.disabled = True
        have_napari = napari_view.napari_available()
        self.napari_button = Button(
            description="open in napari", icon="external-link", disabled=not have_napari,
            tooltip="send this volume to napari" if have_napari else "napari is not installed (pip install napari[pyqt5])",
        )
        self.napari_button.on_click(lambda _: self.send_to_napari())
        self.info = HTML("")
        super().__init__([self.mesh, self.slider, HBox([self.napari_button, self.info])])
        self.add_class("cryolatent-volume-view")
        self.slider.observe(self._on_slider, names="value")
        state.observe(self._on_volume, names="volume")
        state.observe(self._on_threshold, names="threshold")
        self.viewer = None

    def _on_volume(self, change=None) -> None:
        vol = self.state.volume
        if vol is None:
            self.mesh.set_mesh(np.zeros((0, 3)), np.zeros((0, 3)))
            self.slider.disabled = True
            return
        lo, hi = float(vol.min()), float(vol.max())
        with self.slider.hold_trait_notifications():
            if lo < hi:
                self.slider.max = max(hi, self.slider.min)
                self.slider.min = lo
                self.slider.max = hi
                self.slider.step = (hi - lo) / 200
            self.slider.value = float(np.clip(self.state.threshold, lo, hi))
        self.slider.disabled = False
        self._remesh()

    def _on_slider(self, change) -> None:
        if self.state.volume is not None:
            self.state.threshold = float(change["new"])

    def _on_threshold(self, change) -> None:
        if abs(self.slider.value - change["new"]) > 1e-12:
            self.slider.value = float(change["new"])
        if self.state.volume is not None:
            self._remesh()

    def _remesh(self) -> None:
        s = self.state
        vol = s.volume
        key = (id(vol), s.threshold, s.current_point)
        if key == getattr(self, "_mesh_key", None):
            return
        self._mesh_key = key
        verts, faces = volumes.isosurface(vol, s.threshold, apix=s.apix, max_faces=MAX_FACES, centred=True)
        self.mesh.set_mesh(verts, faces, half_width=max(vol.shape) * s.apix / 2)
        p = s.current_point
        self.mesh.title = f"point {p} (particle {s.index[p]})" if p >= 0 else ""
        if len(faces):
            self.info.value = f"{len(faces):,} triangles at {s.threshold:.3g}"
        else:  # the slider's ends, or a flat volume
            self.info.value = f"no surface at {s.threshold:.3g}: the volume spans [{vol.min():.3g}, {vol.max():.3g}]"

    def send_to_napari(self, viewer=None):
        """Add the current volume to napari (a new viewer unless one is given or open)."""
        if self.state.volume is None:
            self.state.warn("click a point first: no volume to send")
            return None
        try:
            self.viewer = viewer or self.viewer or napari_view.get_viewer()
            return napari_view.add_volume(
                self.viewer, self.state.volume, name=f"point {self.state.current_point}",
                apix=self.state.apix, threshold=self.state.threshold,
            )
        except Exception as exc:
            self.state.error(f"napari: {type(exc).__name__}: {exc}")
            return None
