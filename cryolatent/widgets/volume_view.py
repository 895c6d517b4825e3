"""Volume view: isosurface and central slices of the clicked point's volume, pins and a difference.

The mesh is :func:`cryolatent.volumes.isosurface` (about the box centre, coarsened
to ``MAX_FACES``) in ``MeshView``, a small plotly anywidget (shares plotly.js with
the scatter); the slices are :func:`cryolatent.pl.maps.slices_png`. ``VolumeView``
adds the threshold slider (in σ of the shown volume), the low-pass slider, napari,
pins with an A − B comparison and saving as .mrc. What is shown, pinned and saved is
:mod:`cryolatent.widgets.volume_state`; this module only draws it.

CSS classes for tests: ``cl-slices``, ``cl-lowpass``, ``cl-pin``, ``cl-compare``,
``cl-compare-view``, ``cl-save-volume`` (and ``cl-save-path``, ``cl-overwrite-volume``).
"""

from __future__ import annotations

import html

import numpy as np
from ipywidgets import HTML, Button, Checkbox, Dropdown, FloatSlider, HBox, Image, Layout, SelectionSlider, Text, VBox
from traitlets import Bytes, Float, Unicode

from cryolatent import volumes
from cryolatent.pl.maps import slices_png
from cryolatent.widgets import napari_view
from cryolatent.widgets.scatter import PlotlyWidget, _f32, _i32
from cryolatent.widgets.state import PanelState
from cryolatent.widgets.volume_state import ShownVolume, VolumePins, resolution_options

MAX_FACES = 60_000  # triangles drawn at most (the mesh is coarsened beyond)
SLICE_PX = 128  # about this many pixels per central slice
OFF = 0.0  # the low-pass slider's "off" value


class MeshView(PlotlyWidget):
    """A plotly ``mesh3d`` of one triangle mesh, vertices/faces as binary buffers."""

    _view = Unicode("mesh").tag(sync=True)
    vertices = Bytes(b"").tag(sync=True)  # float32 (V*3)
    faces = Bytes(b"").tag(sync=True)  # int32 (F*3)
    stage = Unicode("full").tag(sync=True)  # "preview" while a coarse volume is shown, then "full"
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


def _button(label: str, icon: str, tooltip: str, css: str, action) -> Button:
    b = Button(description=label, icon=icon, tooltip=tooltip, layout=Layout(width="auto"))
    b.add_class(css)
    b.on_click(lambda _: action())
    return b


class VolumeView(VBox):
    """Isosurface and central slices of the shown volume (``state.volume``, optionally low-passed).

    Parameters
    ----------
    state
        The panel's state: ``volume``, ``threshold`` (absolute; the slider shows it in σ of the
        shown volume), ``current_point`` and the status messages.
    width, height
        Size of the isosurface plot in pixels.

    Attributes
    ----------
    shown, pins
        The :class:`ShownVolume` (low-pass, σ, save) and :class:`VolumePins` this view draws.
    mesh, slider, lowpass, slices, info, napari_button
        The isosurface, the threshold (σ) and low-pass sliders, the slices image, the readout line.
    pin_button, pin_a, pin_b, compare_button, compare_view, compare_info
        Pinning, the A and B choices, and the A, B, A − B slices.
    save_path, overwrite, save_button
        Saving the shown volume as .mrc.
    """

    def __init__(self, state: PanelState, *, width: int = 420, height: int = 420):
        self.state = state
        self.shown = ShownVolume(state)
        self.pins = VolumePins(self.shown)
        self.viewer = None
        self._syncing = False
        self._mesh_key = self._slices_key = self._compared = None
        self._default_name = "volume.mrc"
        self.mesh = MeshView(width=width, height=height, title="click a point")
        self.slider = FloatSlider(
            description="threshold (σ)", min=0.0, max=1.0, step=0.01, value=0.5, continuous_update=False,
            readout_format=".2f", layout=Layout(width=f"{int(width * 0.58)}px"), style={"description_width": "initial"},
        )
        self.slider.disabled = True
        unit = self.shown.unit
        self.lowpass = SelectionSlider(
            description="low-pass", options=[("off", OFF)] + [(f"{r:g} {unit}", r) for r in resolution_options(self.shown.apix)],
            value=OFF, continuous_update=False, layout=Layout(width=f"{int(width * 0.42)}px"),
            tooltip=f"filter the shown volume to this resolution ({unit}; Nyquist is 2 voxels)",
        )
        self.lowpass.add_class("cl-lowpass")
        self.slices = Image(format="png", layout=Layout(max_width=f"{width}px", display="none"))  # until a volume
        self.slices.add_class("cl-slices")
        have_napari = napari_view.napari_available()
        self.napari_button = Button(
            description="open in napari", icon="external-link", disabled=not have_napari,
            tooltip="send this volume to napari" if have_napari else "napari is not installed (pip install napari[pyqt5])",
        )
        self.napari_button.on_click(lambda _: self.send_to_napari())
        self.info = HTML("")
        self.pin_button = _button("pin", "thumb-tack", "keep this volume to compare", "cl-pin", self.pins.pin)
        self.pin_a = Dropdown(options=[], description="A", layout=Layout(width="130px"), style={"description_width": "initial"})
        self.pin_b = Dropdown(options=[], description="B", layout=Layout(width="130px"), style={"description_width": "initial"})
        self.compare_button = _button("compare", "columns", "central slices of A, B and A − B", "cl-compare", self.compare)
        self.compare_view = Image(format="png", layout=Layout(max_width=f"{width}px", display="none"))
        self.compare_view.add_class("cl-compare-view")
        self.compare_info = HTML("")
        self.save_path = Text(value=self._default_name, layout=Layout(width=f"{int(width * 0.5)}px"))
        self.save_path.add_class("cl-save-path")
        self.overwrite = Checkbox(value=False, description="overwrite", indent=False, layout=Layout(width="90px"))
        self.overwrite.add_class("cl-overwrite-volume")
        self.save_button = _button("save .mrc", "save", "write the shown volume (low-passed, if so) as .mrc",
                                   "cl-save-volume", self.save)
        super().__init__([
            self.mesh, HBox([self.slider, self.lowpass]), self.slices, HBox([self.napari_button, self.info]),
            HBox([self.pin_button, self.pin_a, self.pin_b, self.compare_button]), self.compare_view, self.compare_info,
            HBox([self.save_path, self.overwrite, self.save_button]),
        ])
        self.add_class("cryolatent-volume-view")
        self.slider.observe(self._on_slider, names="value")
        self.lowpass.observe(self._on_lowpass, names="value")
        state.observe(self._on_volume, names="volume")
        state.observe(self._on_threshold, names="threshold")
        self.pins.observe(self._on_pins, names="pins")

    # ------------------------------------------------------------ state -> view
    def _on_volume(self, change=None) -> None:
        if self.state.volume is None:
            self.mesh.set_mesh(np.zeros((0, 3)), np.zeros((0, 3)))
            self.slider.disabled = True
            return
        if self.save_path.value == self._default_name:  # not a name the user typed: follow the point
            self.save_path.value = self._default_name = self.shown.default_name()
        self._refresh()

    def _on_lowpass(self, change) -> None:
        self.shown.resolution = None if change["new"] == OFF else float(change["new"])
        self._refresh()

    def _refresh(self) -> None:
        """Fit the threshold to the shown volume, then redraw slider, mesh and slices."""
        if self.shown.volume is None:
            return
        self.shown.fit_threshold()  # may set state.threshold (-> _on_threshold)
        self._sync_slider()
        self._remesh()
        self._draw_slices()

    def _sync_slider(self) -> None:
        vol = self.shown.volume
        lo, hi = self.shown.sigma(float(vol.min())), self.shown.sigma(float(vol.max()))
        hi = hi if hi > lo else lo + 1.0
        self._syncing = True
        try:
            with self.slider.hold_trait_notifications():
                self.slider.max = max(hi, self.slider.min)
                self.slider.min = lo
                self.slider.max = hi
                self.slider.step = (hi - lo) / 200
                self.slider.value = float(np.clip(self.shown.sigma(), lo, hi))
        finally:
            self._syncing = False
        self.slider.disabled = False

    def _on_slider(self, change) -> None:
        if not self._syncing and self.state.volume is not None:
            self.state.threshold = self.shown.threshold_at(change["new"])

    def _on_threshold(self, change) -> None:
        if self.state.volume is None:
            return
        sigma = self.shown.sigma(change["new"])
        if abs(self.slider.value - sigma) > 1e-9:
            self._syncing = True
            try:
                self.slider.value = float(np.clip(sigma, self.slider.min, self.slider.max))
            finally:
                self._syncing = False
        self._remesh()

    def _remesh(self) -> None:
        s, vol = self.state, self.shown.volume
        key = (id(s.volume), self.shown.resolution, s.threshold, s.current_point)
        if vol is None or key == self._mesh_key:
            return
        self._mesh_key = key
        verts, faces = volumes.isosurface(vol, s.threshold, apix=s.apix, max_faces=MAX_FACES, centred=True)
        self.mesh.set_mesh(verts, faces, half_width=max(vol.shape) * s.apix / 2)
        self.mesh.stage = "preview" if s.volume_is_preview else "full"
        title = self.shown.describe() if s.current_point >= 0 or s.volume_label else ""
        self.mesh.title = f"{title} (preview: the full volume is coming)" if s.volume_is_preview else title
        level = f"{self.shown.sigma():.2f} σ ({s.threshold:.3g})"
        if len(faces):
            self.info.value = f"{len(faces):,} triangles at {level}"
        else:  # the slider's ends, or a flat volume
            self.info.value = f"no surface at {level}: the volume spans [{vol.min():.3g}, {vol.max():.3g}]"

    def _draw_slices(self) -> None:
        key = (id(self.state.volume), self.shown.resolution)
        if self.shown.volume is None or key == self._slices_key:
            return
        self._slices_key = key
        self.slices.value = slices_png([self.shown.volume], size=SLICE_PX)
        self.slices.layout.display = ""

    def _on_pins(self, change=None) -> None:
        labels, before = self.pins.labels, list(self.pin_a.options)
        pinned = bool(labels) and labels[-1] not in before[-1:]  # a new pin: A = it, B = the one before
        for dd, fallback in ((self.pin_a, -1), (self.pin_b, -2)):
            old = dd.value
            dd.options = labels
            if labels:
                dd.value = old if old in labels and not pinned else labels[max(fallback, -len(labels))]
        if self._compared and not set(self._compared) <= set(labels):  # A or B was dropped
            self.compare_view.layout.display = "none"
            self.compare_info.value, self._compared = "", None

    # ------------------------------------------------------------ actions
    def compare(self) -> None:
        """Show the central slices of A, B (shared grey scale) and A − B (red > 0 > blue)."""
        a, b = self.pin_a.value, self.pin_b.value
        got = self.pins.compare(a, b)
        if got is None:
            return
        self.compare_view.value = slices_png(got, size=SLICE_PX, diverging=[False, False, True])
        self.compare_view.layout.display = ""
        self._compared = (a, b)
        self.compare_info.value = (
            f"<small>rows: A = {html.escape(a)}; B = {html.escape(b)}; A − B (red &gt; 0 &gt; blue, "
            f"±{float(np.abs(got[2]).max()):.3g})</small>"
        )

    def save(self):
        """Write the shown volume to the path in the text box (overwrite only when ticked)."""
        return self.shown.save(self.save_path.value, force=self.overwrite.value)

    def send_to_napari(self, viewer=None):
        """Add the shown volume to napari (a new viewer unless one is given or open)."""
        vol = self.shown.volume
        if vol is None:
            self.state.warn("click a point first: no volume to send")
            return None
        name = self.shown.describe()
        try:
            self.viewer = viewer or self.viewer or napari_view.get_viewer()
            return napari_view.add_volume(self.viewer, vol, name=name, apix=self.state.apix, threshold=self.state.threshold)
        except Exception as exc:
            self.state.error(f"napari: {type(exc).__name__}: {exc}")
            return None
