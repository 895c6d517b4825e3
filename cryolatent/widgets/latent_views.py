"""Latent views beside the scatter: the pair plot of the latent dimensions (zdim <= 10).

Every particle in grey, the kept ones in colour (:class:`cryolatent.pl.pairs.PairGrid`), redrawn
when the selection or filters change while the view is shown (``live``, :class:`Deferred`), and once
when it is shown again.
"""

from __future__ import annotations

from ipywidgets import HTML, Image, Layout, VBox

from cryolatent.pl.pairs import PairGrid
from cryolatent.widgets.deferred import Deferred
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
