"""Latent views beside the scatter: the pair plot of the latent dimensions (zdim <= 10) and a
3-D scatter of any three embedding dimensions.

Every particle in grey, the kept ones in colour (:class:`cryolatent.pl.pairs.PairGrid`; plotly
``scatter3d`` drawn by ``scatter3d.js``), redrawn when the selection or filters change while the view
is shown (``live``, :class:`Deferred`), and once when it is shown again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ipywidgets import HTML, Dropdown, HBox, Image, Layout, VBox
from traitlets import Bool, Bytes, List, Unicode

from cryolatent.pl.pairs import PairGrid
from cryolatent.widgets.deferred import Deferred
from cryolatent.widgets.scatter import PlotlyWidget
from cryolatent.widgets.state import PanelState

MAX_DIMS = 10  # a pair plot of more dimensions is unreadable


class PairsView(VBox, Deferred):
    """Pair plot of ``state.ls.z`` (its first ``MAX_DIMS`` dimensions), the kept particles in colour."""

    def __init__(self, state: PanelState, *, bins: int = 64):
        self.state = state
        self._grid: PairGrid | None = None
        self._bins = bins
        self._drawn = None  # the (selection, filters) drawn
        self.image = Image(format="png", layout=Layout(max_width="640px"))
        self.image.add_class("cl-pairs")
        k = state.ls.z.shape[1]
        shown = min(k, MAX_DIMS)
        self.caption = HTML(f"<small>z dimensions 0-{shown - 1}{f' of {k}' if k > shown else ''}: z<sub>j</sub> "
                            "across, z<sub>i</sub> up; histograms on the diagonal; every particle grey, the kept "
                            "ones blue</small>")
        super().__init__([self.caption, self.image], live=False)  # drawn when first shown
        self.stale = True
        state.observe(self.redraw_or_defer, names=["selection", "filters"])

    def redraw(self) -> None:
        s = self.state
        key = (id(s.selection), tuple(sorted(s.filters.items())))
        if key == self._drawn:
            return
        if self._grid is None:
            self._grid = PairGrid(s.ls.z, bins=self._bins, max_dims=MAX_DIMS)
        kept = None if s.highlighted is None else s.kept_mask
        self.image.value = self._grid.png(kept)
        self._drawn = key
        self.stale = False


# ---------------------------------------------------------------------------- 3-D scatter
MAX_POINTS_3D = 100_000  # points drawn in 3-D at most (a seeded random sample beyond)
SEED_3D = 0
_JS_3D = Path(__file__).with_name("scatter3d.js")

Axis = tuple[str, int]  # (embedding, dimension)


def axis_options(state: PanelState) -> list[tuple[str, Axis]]:
    """``(label, (embedding, dim))`` for every dimension of every embedding with at least 3 dimensions."""
    return [(f"{name}[{d}]", (name, d)) for name, emb in state.embeddings.items() if emb.shape[1] >= 3
            for d in range(emb.shape[1])]


def default_axes(state: PanelState) -> list[Axis]:
    """PCA 1-3 when there is a 3-D PCA (the directions of most variance), else z 0-2, else the
    first three dimensions of the first embedding with 3."""
    for name in ("pca", "z", *state.embeddings):
        if name in state.embeddings and state.embeddings[name].shape[1] >= 3:
            return [(name, 0), (name, 1), (name, 2)]
    raise ValueError("a 3-D view needs an embedding with at least 3 dimensions; have "
                     + ", ".join(f"{k} ({v.shape[1]})" for k, v in state.embeddings.items()))


def subsample(n: int, kept: np.ndarray | None, cap: int = MAX_POINTS_3D, seed: int = SEED_3D) -> np.ndarray:
    """Sorted positions of at most ``cap`` of ``n`` points: all when ``n <= cap``, else every kept
    position (boolean mask ``kept``; None: none singled out) up to ``cap``, then others drawn at random."""
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    first = np.zeros(0, np.int64) if kept is None else np.flatnonzero(kept)
    if first.size >= cap:
        return np.sort(rng.choice(first, size=cap, replace=False))
    rest = np.flatnonzero(~kept) if kept is not None else np.arange(n)
    return np.sort(np.concatenate([first, rng.choice(rest, size=cap - first.size, replace=False)]))


def _bytes(a, dtype) -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


class Scatter3DPlot(PlotlyWidget):
    """The plotly ``scatter3d`` front end (``scatter3d.js``): coordinates, colours and the kept points
    as binary traits; a click on a point sends ``{"type": "click", "position": p}``."""

    _esm = _JS_3D
    _view = Unicode("scatter3d").tag(sync=True)
    x = Bytes(b"").tag(sync=True)  # float32, one per drawn point
    y = Bytes(b"").tag(sync=True)
    z = Bytes(b"").tag(sync=True)
    position = Bytes(b"").tag(sync=True)  # int32: each drawn point's position in the PanelState
    kept = Bytes(b"").tag(sync=True)  # int32: the kept ones among the drawn points (indices into x)
    has_selection = Bool(False).tag(sync=True)  # False: every point in colour
    color = Bytes(b"").tag(sync=True)  # float32 values / category codes of the drawn points
    color_kind = Unicode("none").tag(sync=True)  # none | categorical | continuous
    color_range = List([0.0, 1.0]).tag(sync=True)  # over every particle, so colours match the 2-D scatter
    categories = List().tag(sync=True)
    color_title = Unicode("").tag(sync=True)
    point = List().tag(sync=True)  # [x, y, z] of the current point, [] for none
    labels = List(["x", "y", "z"]).tag(sync=True)
    uirevision = Unicode("").tag(sync=True)

    def __init__(self, on_click, **kwargs):
        super().__init__(**kwargs)
        self._on_click = on_click

    def coords(self) -> np.ndarray:
        """``(M, 3)`` float32 coordinates as the page decodes them."""
        return np.stack([np.frombuffer(getattr(self, k), np.float32) for k in "xyz"], axis=1)

    def _on_custom(self, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "click" and isinstance(content.get("position"), int):
            self._on_click(content["position"])


class Scatter3DView(VBox, Deferred):
    """3-D scatter of any three embedding dimensions (default :func:`default_axes`), coloured like the
    2-D scatter: every drawn point grey, the kept ones in colour on top, the current point ringed.

    At most ``cap`` points are drawn: a seeded random sample that holds every kept point (up to
    ``cap``). A click on a point calls ``state.set_point``. Redrawn on changes while ``live``.
    """

    def __init__(self, state: PanelState, *, cap: int = MAX_POINTS_3D, width: int = 560, height: int = 480):
        self.state = state
        self.cap = cap
        self._drawn = None  # key of the points drawn: (axes, id(selection), filters, colour)
        self._drawn_sel = None
        opts = axis_options(state)
        axes = default_axes(state)
        self.dims = [Dropdown(options=opts, value=a, description=d, layout=Layout(width="150px"),
                              style={"description_width": "initial"}) for d, a in zip("xyz", axes)]
        self.plot = Scatter3DPlot(state.set_point, width=width, height=height)
        self.caption = HTML()
        self.caption.add_class("cl-caption3d")
        super().__init__([HBox(self.dims), self.plot, self.caption], live=False)  # drawn when first shown
        self.add_class("cl-view3d")
        self.stale = True
        for dd in self.dims:
            dd.observe(self.redraw_or_defer, names="value")
        state.observe(self.redraw_or_defer, names=["selection", "filters", "colour_by", "current_point"])

    @property
    def axes(self) -> list[Axis]:
        """The ``(embedding, dim)`` shown on x, y and z."""
        return [dd.value for dd in self.dims]

    def coords(self, positions: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(M, 3)`` coordinates of ``positions`` on the current axes."""
        emb = self.state.embeddings
        return np.stack([emb[name][positions, d] for name, d in self.axes], axis=1)

    def redraw(self) -> None:
        s = self.state
        key = (tuple(self.axes), id(s.selection), tuple(sorted(s.filters.items())), s.colour_by)
        with self.plot.hold_sync():
            if key != self._drawn:
                self._push_points()
                self._drawn, self._drawn_sel = key, s.selection  # held: its id is not reused while in the key
            self._push_point()
        self.stale = False

    def _push_points(self) -> None:
        s, p = self.state, self.plot
        hl = s.highlighted
        kept = None if hl is None else s.kept_mask
        pos = subsample(s.n, kept, self.cap)
        xyz = self.coords(pos)
        values, categorical, cats = s.colour_values()
        p.x, p.y, p.z = (_bytes(xyz[:, i], np.float32) for i in range(3))
        p.position = _bytes(pos, np.int32)
        p.kept = b"" if kept is None else _bytes(np.flatnonzero(kept[pos]), np.int32)
        p.has_selection = kept is not None
        if values is None:
            p.color, p.color_kind, p.categories = b"", "none", []
        else:
            finite = values[np.isfinite(values)]
            p.color_range = [float(finite.min()), float(finite.max())] if finite.size else [0.0, 1.0]
            p.color = _bytes(values[pos], np.float32)
            p.categories = [str(c) for c in cats]
            p.color_kind = "categorical" if categorical else "continuous"
        p.color_title = "" if values is None else s.colour_by
        p.labels = [f"{name}[{d}]" for name, d in self.axes]
        p.uirevision = ":".join(p.labels)
        n_kept = len(pos) if kept is None else int(kept[pos].sum())
        p.title = f"{len(pos):,} particles" + ("" if kept is None else f", {n_kept:,} kept")
        self.caption.value = self._caption(len(pos), kept)

    def _caption(self, drawn: int, kept: np.ndarray | None) -> str:
        n = self.state.n
        if drawn == n:
            which = f"all {n:,} particles"
        else:
            which = (f"{drawn:,} of {n:,} particles, a random sample (seed {SEED_3D}) that holds every kept "
                     f"particle up to {self.cap:,}")
        colour = "every particle in colour" if kept is None else "every particle grey, the kept ones in colour"
        return (f"<small>{which}; {colour}; the current point red. Drag to rotate, click a point to see "
                "its volume</small>")

    def _push_point(self) -> None:
        p = self.state.current_point
        self.plot.point = [] if p < 0 else [float(v) for v in self.coords(np.array([p]))[0]]
