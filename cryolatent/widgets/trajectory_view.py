"""Trajectory view: build a path through latent space, play its volumes, write them as a series.

What is built, decoded and written is :class:`cryolatent.widgets.trajectory_state.TrajectoryState`;
this module only draws its controls, the strip of decoded frames, and the path on the
panel's scatter (:meth:`ScatterView.show_path <cryolatent.widgets.scatter.ScatterView.show_path>`).
Each frame shown goes to the panel's volume view (``state.show_volume``).

CSS classes for tests: ``cl-traj-kind``, ``cl-traj-pc``, ``cl-traj-waypoints`` (the toggle),
``cl-traj-undo``, ``cl-traj-clear``, ``cl-traj-frames``, ``cl-traj-build``, ``cl-traj-play``,
``cl-traj-frame`` (the slider), ``cl-traj-strip`` (the image), ``cl-traj-path`` (the folder),
``cl-traj-overwrite``, ``cl-traj-save``, ``cl-traj-napari``, ``cl-traj-info``.
"""

from __future__ import annotations

import html
import io

import numpy as np
from ipywidgets import (
    HTML,
    BoundedIntText,
    Button,
    Checkbox,
    Dropdown,
    HBox,
    Image,
    IntSlider,
    Layout,
    Play,
    Text,
    ToggleButton,
    VBox,
    jslink,
    link,
)

from cryolatent.widgets import napari_view
from cryolatent.widgets.state import PanelState
from cryolatent.widgets.trajectory_state import MAX_FRAMES, PC_RANGE, TrajectoryState

_INITIAL = {"description_width": "initial"}
PLAY_MS = 800  # time per frame while playing (decoding a frame may take longer on a CPU)
STRIP_PX = 40  # about this many pixels per slice in the strip


def strip_png(vols: list[np.ndarray], marked: int | None = None, *, size: int = STRIP_PX) -> bytes:
    """Central z, y, x slices of ``vols``, one row each on one grey scale
    (:func:`cryolatent.pl.maps.slices_rgb`), row ``marked`` flagged by a bar on its left; b"" for none."""
    from PIL import Image

    from cryolatent.pl.maps import slices_rgb

    if not vols:
        return b""
    gap, bar = 3, 5
    rgb = slices_rgb(vols, size=size, gap=gap)
    out = np.full((rgb.shape[0], rgb.shape[1] + bar + 2, 3), 255, np.uint8)
    out[:, bar + 2 :] = rgb
    if marked is not None:
        h = (rgb.shape[0] + gap) // len(vols) - gap
        out[marked * (h + gap) : marked * (h + gap) + h, :bar] = (255, 127, 14)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _w(px: int) -> Layout:
    return Layout(width=f"{px}px")


def _css(widget, name: str):
    widget.add_class(name)
    return widget


class TrajectoryView(VBox):
    """The panel's "trajectory" section: ``TrajectoryView(state, scatter=panel.scatter)``.

    Parameters
    ----------
    state
        The panel's state (clicks, decoder, volume view, status line).
    scatter
        The panel's :class:`~cryolatent.widgets.scatter.ScatterView`, on which the path is drawn
        (None: not drawn).

    Attributes
    ----------
    model
        The :class:`TrajectoryState` shown here.
    """

    def __init__(self, state: PanelState, *, scatter=None):
        self.state = state
        self.scatter = scatter
        self.model = m = TrajectoryState(state)
        self.kind = _css(Dropdown(options=[("waypoints (kNN path)", "waypoints"), ("principal component", "pc")],
                                  value=m.kind, description="trajectory", layout=_w(260), style=_INITIAL), "cl-traj-kind")
        self.pc = _css(Dropdown(options=[(f"PC{i}", i) for i in m.pcs], value=m.pc, layout=_w(80)), "cl-traj-pc")
        self.frames = _css(BoundedIntText(value=m.n_frames, min=2, max=MAX_FRAMES, description="frames",
                                          layout=_w(130), style=_INITIAL), "cl-traj-frames")
        self.neighbours = BoundedIntText(value=m.k, min=1, max=100, description="neighbours", layout=_w(150),
                                         style=_INITIAL, tooltip="k of the nearest-neighbour graph the path follows")
        self.adding = _css(ToggleButton(value=m.adding, description="click adds waypoints", icon="map-marker",
                                        layout=Layout(width="auto"),
                                        tooltip="while on, each point clicked on the scatter is the next waypoint"),
                           "cl-traj-waypoints")
        self.undo = self._button("remove last", "undo", "remove the last waypoint", "cl-traj-undo", m.undo_waypoint)
        self.clear = self._button("clear", "times", "no waypoints, no trajectory", "cl-traj-clear", m.clear)
        self.build_button = self._button("build", "road", "make the trajectory's frames", "cl-traj-build", m.build)
        self.waypoint_info = HTML("")
        self.play = _css(Play(min=0, max=0, interval=PLAY_MS, disabled=True), "cl-traj-play")
        self.slider = _css(IntSlider(min=0, max=0, description="frame", continuous_update=False, disabled=True,
                                     layout=_w(300)), "cl-traj-frame")
        self.strip = _css(Image(format="png", layout=Layout(display="none")), "cl-traj-strip")
        self.info = _css(HTML(""), "cl-traj-info")
        self.folder = _css(Text(value="trajectory", description="folder", layout=_w(260), style=_INITIAL), "cl-traj-path")
        self.overwrite = _css(Checkbox(value=False, description="overwrite", indent=False, layout=_w(90)),
                              "cl-traj-overwrite")
        self.save = self._button("write .mrc series", "save", "write every frame as vol_NNN.mrc, with z_values.txt",
                                 "cl-traj-save", lambda: m.to_mrc(self.folder.value, force=self.overwrite.value))
        have_napari = napari_view.napari_available()
        self.napari = self._button("napari", "external-link",
                                   "all frames as one layer, a slider over them" if have_napari
                                   else "napari is not installed (pip install 'cryolatent[napari]')",
                                   "cl-traj-napari", m.to_napari)
        self.napari.disabled = not have_napari
        super().__init__([
            HBox([self.kind, self.pc, self.frames, self.neighbours]),
            HBox([self.adding, self.undo, self.clear, self.build_button]),
            self.waypoint_info,
            HBox([self.play, self.slider]),
            HBox([self.strip, self.info]),
            HBox([self.folder, self.overwrite, self.save, self.napari]),
        ])
        self.add_class("cryolatent-trajectory")
        for control, trait in ((self.kind, "kind"), (self.pc, "pc"), (self.frames, "n_frames"),
                               (self.neighbours, "k"), (self.adding, "adding"), (self.slider, "frame")):
            link((control, "value"), (m, trait))
        jslink((self.play, "value"), (self.slider, "value"))
        m.observe(lambda _: self._sync_controls(), names=["kind", "pc", "waypoints", "z"])
        m.observe(lambda _: self._draw_path(), names=["kind", "waypoints", "z", "frame"])
        m.observe(lambda _: self._draw_strip(), names=["decoded", "frame", "z"])
        state.observe(lambda _: self._draw_path(), names=["embedding", "x_dim", "y_dim", "x_column", "y_column"])
        self._sync_controls()

    # ------------------------------------------------------------ model -> view
    def _sync_controls(self) -> None:
        m = self.model
        by_pc, built = m.kind == "pc", m.n_built > 0
        self.pc.disabled = not by_pc
        self.neighbours.disabled = self.adding.disabled = by_pc
        self.undo.disabled = self.clear.disabled = by_pc or not m.waypoints
        for w in (self.slider, self.play, self.save):
            w.disabled = not built
        self.napari.disabled = not built or not napari_view.napari_available()
        with self.slider.hold_trait_notifications():
            self.slider.max = self.play.max = max(m.n_built - 1, 0)
        idx, (lo, hi) = self.state.index, PC_RANGE
        if by_pc:
            self.waypoint_info.value = f"<small>PC{m.pc} from its {lo:g}th to its {hi:g}th percentile</small>"
        elif m.waypoints:
            names = ", ".join(str(idx[w]) for w in m.waypoints)
            self.waypoint_info.value = f"<small>waypoints (particles): {html.escape(names)}</small>"
        else:
            self.waypoint_info.value = "<small>no waypoints: turn on 'click adds waypoints' and click the scatter</small>"

    def _draw_path(self) -> None:
        if self.scatter is None:
            return
        path, marks = self.model.path_xy()
        self.scatter.show_path(path, marks, frame=self.model.frame)

    def _draw_strip(self) -> None:
        m = self.model
        decoded = m.decoded  # volume(i) of these decodes nothing
        png = strip_png([m.volume(i) for i in decoded], decoded.index(m.frame) if m.frame in decoded else None)
        if png:
            self.strip.value = png
        self.strip.layout.display = "" if png else "none"
        if not m.n_built:
            self.info.value = ""
        else:
            shown = ", ".join(str(i + 1) for i in m.decoded)
            self.info.value = (f"<small>{m.n_built} frames; decoded so far: {shown or 'none'} "
                               f"(one row each: central z, y, x slices; the bar marks frame {m.frame + 1})</small>")

    # ------------------------------------------------------------ helpers
    def _button(self, label: str, icon: str, tooltip: str, css: str, action) -> Button:
        b = _css(Button(description=label, icon=icon, tooltip=tooltip, layout=Layout(width="auto")), css)
        b.on_click(lambda _: self._run(action))
        return b

    def _run(self, action) -> None:
        try:
            action()
        except Exception as exc:  # a control's unexpected failure: the status line, not the kernel log
            self.state.error(f"trajectory: {type(exc).__name__}: {exc}")
