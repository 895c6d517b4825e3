"""ScatterView: a thin anywidget around plotly.js ``scattergl`` showing a PanelState.

Why not ``go.FigureWidget``: every browser event there shares one synced
attribute, and the widgets front end merges queued state changes while the
kernel is busy, so quick successive box selections get lost. Here each gesture
is its own custom message, handled in order and acknowledged by ``seq``; state
flows back through binary traits.

Boxes and lassos are drawn by the page itself, not by plotly (whose editable
selection outlines caught the next drag or click): a gesture sends its outline
in data units (``range`` or ``lasso``) and Python selects the points inside it
(:meth:`PanelState.box_mask` / :meth:`PanelState.polygon_mask`), so a million
points cost the browser nothing and the selection has one definition. The kept
points are drawn as a second trace in colour over every point in grey, so a
selection stays visible at any density.

The tool (box, lasso, zoom, pan), the selection mode (new, add, subtract,
intersect) and undo are buttons of the widget's own toolbar: a press takes effect
in the page at once, even while the kernel is busy, and Python is told afterwards
(``dragmode``, ``select_mode``); each gesture carries the mode it was drawn in.
Hover shows the particle and a few of its covariates, sent once after the first
draw (``need_hover``) so they do not delay it.

plotly.js is the copy bundled with the plotly Python package, sent to the page
once on request, so the widget works offline.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

import anywidget
import numpy as np
from traitlets import Bool, Bytes, Float, Int, List, Unicode

from cryolatent.widgets.state import NONE, SELECT_MODES, PanelState

_JS = Path(__file__).with_name("scatter.js")
DRAGMODES = ("zoom", "pan", "select", "lasso")
HOVER_PREFERRED = ("recon_error", "defocus_A", "astigmatism_A", "rot", "tilt", "psi")  # hover covariates, in order
HOVER_MAX = 5  # columns in the hover line


def marker_size(n: int) -> float:
    """Point size in pixels for ``n`` points: smaller as they crowd."""
    return 6.0 if n <= 2_000 else 4.0 if n <= 20_000 else 3.0 if n <= 50_000 else 2.0 if n <= 300_000 else 1.5


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The plotly.js bundle shipped in the plotly Python package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_bytes()


def _f32(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def _i32(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.int32).tobytes()


class PlotlyWidget(anywidget.AnyWidget):
    """Base for the plotly anywidgets: serves plotly.js to the front end on request."""

    _esm = _JS
    _view = Unicode("scatter").tag(sync=True)
    width = Int(560).tag(sync=True)
    height = Int(480).tag(sync=True)
    title = Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.on_msg(self._dispatch)

    def _dispatch(self, _widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "need_plotly":
            self.send({"type": "plotly_js"}, buffers=[plotly_js()])
        elif isinstance(content, dict) and content.get("type") == "need_hover":
            self._send_hover()
        else:
            self._on_custom(content, buffers)

    def _on_custom(self, content, buffers) -> None:  # pragma: no cover - overridden
        pass

    def _send_hover(self) -> None:  # pragma: no cover - overridden
        pass


class ScatterView(PlotlyWidget):
    """Scatter of ``state.xy`` coloured by ``state.colour_by``; gestures update ``state``.

    Parameters
    ----------
    state
        The PanelState shown and updated.
    log_path
        A gesture log for debugging and tests: a JSON-lines file to which every
        gesture received is appended (``seq``, ``kind``, ``n``, ``indices``,
        ``n_kept``, the ``range``/``lasso`` outline plotly reported, ``error``),
        plus a ``{"kind": "view", "embedding", "x_dim", "y_dim", "x", "y"}``
        record of the displayed coordinates when the view is created and
        whenever the axes or colouring change (with ``labels``, category codes
        per point, and ``categories`` when coloured by a categorical column).
        Defaults to the environment variable ``CRYOLATENT_WIDGET_LOG``, so a
        notebook can be logged without changing it; ``log_path=""`` disables it.
    """

    x = Bytes(b"").tag(sync=True)  # float32
    y = Bytes(b"").tag(sync=True)  # float32
    color = Bytes(b"").tag(sync=True)  # float32 values / category codes
    color_kind = Unicode("none").tag(sync=True)  # none | categorical | continuous
    color_title = Unicode("").tag(sync=True)
    categories = List().tag(sync=True)
    selected = Bytes(b"").tag(sync=True)  # int32 positions
    particle = Bytes(b"").tag(sync=True)  # int32 original particle index of every point (hover labels)
    has_selection = Bool(False).tag(sync=True)
    point = Int(-1).tag(sync=True)
    dragmode = Unicode("lasso").tag(sync=True)  # set by the toolbar in the page, or from Python
    select_mode = Unicode("replace").tag(sync=True)  # one of SELECT_MODES; mirrors state.select_mode
    n_undo = Int(0).tag(sync=True)  # mirrors state.n_undo (the undo button is disabled at 0)
    marker_size = Float(3.0).tag(sync=True)
    x_label = Unicode("").tag(sync=True)
    y_label = Unicode("").tag(sync=True)
    uirevision = Unicode("").tag(sync=True)
    n_received = Int(0).tag(sync=True)  # gestures applied, shown nowhere but handy
    path = Bytes(b"").tag(sync=True)  # float32 (M, 2): a trajectory's frames in the current axes' data units
    path_marks = Bytes(b"").tag(sync=True)  # float32 (K, 2): its waypoints
    path_frame = Int(-1).tag(sync=True)  # the frame shown (-1: none)

    def __init__(self, state: PanelState, *, log_path: str | os.PathLike | None = None, **kwargs):
        super().__init__(**kwargs)
        self.state = state
        if log_path is None:
            log_path = os.environ.get("CRYOLATENT_WIDGET_LOG")
        self.log_path = os.fspath(log_path) if log_path else None
        self.particle = _i32(state.index)
        self.marker_size = marker_size(state.n)
        self._push_xy()
        self._push_colour()
        self._push_selection()
        self._log_view()
        state.observe(lambda _: (self._push_xy(), self._log_view()),
                      names=["embedding", "x_dim", "y_dim", "x_column", "y_column"])
        state.observe(lambda _: (self._push_colour(), self._log_view()), names=["colour_by"])
        state.observe(lambda _: self._push_selection(), names=["selection", "filters"])
        state.observe(lambda c: setattr(self, "point", c["new"]), names=["current_point"])
        self.select_mode, self.n_undo = state.select_mode, state.n_undo
        state.observe(lambda c: setattr(self, "select_mode", c["new"]), names=["select_mode"])
        state.observe(lambda c: setattr(self, "n_undo", c["new"]), names=["n_undo"])
        self.observe(self._mode_from_page, names=["select_mode"])

    def _mode_from_page(self, change) -> None:
        if change["new"] in SELECT_MODES:
            self.state.select_mode = change["new"]
        else:
            self.state.error(f"unknown selection mode {change['new']!r}; options: {SELECT_MODES}")

    # ------------------------------------------------------------ state -> view
    @property
    def selectedpoints(self) -> np.ndarray | None:
        """Highlighted positions as the front end sees them (None: no selection)."""
        return np.frombuffer(self.selected, dtype=np.int32) if self.has_selection else None

    def show_path(self, xy: np.ndarray | None, marks: np.ndarray | None = None, *, frame: int = -1) -> None:
        """Draw a trajectory over the points: a line through ``xy`` ``(M, 2)``, circles at ``marks``
        ``(K, 2)`` (waypoints) and frame ``frame`` highlighted; coordinates in the current axes' data
        units (None: nothing)."""
        def pairs(a) -> bytes:
            return b"" if a is None or len(a) == 0 else _f32(np.asarray(a, dtype=np.float64).reshape(-1, 2))

        with self.hold_sync():
            self.path, self.path_marks = pairs(xy), pairs(marks)
            self.path_frame = int(frame) if xy is not None and 0 <= frame < len(xy) else -1

    def _push_xy(self) -> None:
        s = self.state
        xy = s.xy
        with self.hold_sync():
            self.x, self.y = _f32(xy[:, 0]), _f32(xy[:, 1])
            self.x_label, self.y_label = s.axis_label("x"), s.axis_label("y")
            self.uirevision = f"{self.x_label}:{self.y_label}"
            self.title = f"{s.n:,} particles"

    def _push_colour(self) -> None:
        values, categorical, cats = self.state.colour_values()
        with self.hold_sync():
            if values is None:
                self.color, self.color_kind, self.categories = b"", NONE, []
            else:
                self.color = _f32(values)
                self.categories = [str(c) for c in cats]
                self.color_kind = "categorical" if categorical else "continuous"
            self.color_title = "" if values is None else self.state.colour_by

    def _push_selection(self) -> None:
        hl = self.state.highlighted
        with self.hold_sync():
            self.selected = b"" if hl is None else _i32(hl)
            self.has_selection = hl is not None

    def hover_columns(self) -> list[str]:
        """The labels and covariates the hover line shows (at most ``HOVER_MAX``)."""
        s = self.state
        cov = [c for c in HOVER_PREFERRED if c in s.covariates] + [c for c in s.covariates if c not in HOVER_PREFERRED]
        return [*s.labels, *cov][:HOVER_MAX]

    def _send_hover(self) -> None:
        """Send the hover columns: one float32 buffer each (labels as codes, with their names)."""
        s = self.state
        names, cats, bufs = [], [], []
        for col in self.hover_columns():
            if col in s.labels:
                c, codes = np.unique(s.labels[col], return_inverse=True)
                values, categories = codes, [str(v) for v in c]
            else:
                values, categories = s.covariates[col], None
            names.append(col)
            cats.append(categories)
            bufs.append(_f32(values))
        self.send({"type": "hover", "names": names, "categories": cats}, buffers=bufs)

    # ------------------------------------------------------------ view -> state
    def _region(self, content, buffers) -> np.ndarray:
        """Positions inside a gesture's outline (``range`` or ``lasso``, data units), or the
        positions it carries in a binary buffer."""
        if content.get("lasso"):
            return np.flatnonzero(self.state.polygon_mask(np.c_[content["lasso"]["x"], content["lasso"]["y"]]))
        if content.get("range") and not buffers:
            (x0, x1), (y0, y1) = content["range"]["x"], content["range"]["y"]
            return np.flatnonzero(self.state.box_mask(x0, x1, y0, y1))
        return np.frombuffer(buffers[0], dtype=np.int32) if buffers else np.zeros(0, np.int32)

    def _on_custom(self, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "select":
            return
        kind = content.get("kind")
        seq = content.get("seq")
        idx = np.zeros(0, np.int64)
        error = ""
        received = time.time()
        try:
            idx = self._region(content, buffers)
            if kind in ("box", "lasso"):
                mode = content.get("mode") or self.state.select_mode  # the mode it was drawn in
                self.state.select_indices(idx, mode=mode, kind=kind)
            elif kind == "click":
                if idx.size:
                    self.state.set_point(int(idx[0]))
            elif kind == "deselect":
                self.state.clear_selection()
            elif kind == "undo":
                self.state.undo()
            else:
                raise ValueError(f"unknown gesture {kind!r}")
        except Exception as exc:  # report in the panel and to the page; keep acking
            error = f"{type(exc).__name__}: {exc}"
            self.state.error(f"gesture {kind} failed: {error}")
        self.n_received += 1
        self._log(content, idx, error, received, time.time())
        self.send({"type": "ack", "seq": seq, "view": content.get("view"), "n": int(idx.size), "error": error,
                   "n_kept": self.state.n_kept})

    def _write_log(self, rec: dict) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _log_view(self) -> None:
        """Log the displayed coordinates (and category codes) as a ``"view"`` record."""
        if not self.log_path:
            return
        s = self.state
        xy = s.xy
        rec = {
            "kind": "view",
            "embedding": s.embedding,
            "x_dim": s.x_dim,
            "y_dim": s.y_dim,
            "x_label": s.axis_label("x"),
            "y_label": s.axis_label("y"),
            "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(),
            "colour_by": s.colour_by,
        }
        values, categorical, cats = s.colour_values()
        if categorical:
            rec["labels"] = values.astype(np.int64).tolist()
            rec["categories"] = [str(c) for c in cats]
        rec["time"] = time.time()
        self._write_log(rec)

    def _log(self, content: dict, idx: np.ndarray, error: str, received: float, applied: float) -> None:
        if not self.log_path:
            return
        rec = {
            "seq": content.get("seq"),
            "view": content.get("view"),
            "kind": content.get("kind"),
            "mode": content.get("mode"),
            "n": int(idx.size),
            "n_header": content.get("n"),
            "indices": idx.tolist(),
            "n_kept": self.state.n_kept,
            "range": content.get("range"),
            "lasso": content.get("lasso"),
            "error": error,
            "sent_at": content.get("t"),  # the page's clock (ms since the epoch) when the gesture ended
            "received": received,  # Python's clock (s since the epoch) when the message arrived
            "applied": applied,  # ... and when the state (selection, point) had taken it
            "time": time.time(),
        }
        self._write_log(rec)
