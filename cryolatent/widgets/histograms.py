"""Covariate histograms view: kept against all particles per covariate, a range slider under each.

What is shown is :class:`cryolatent.widgets.histogram_state.CovariateHistograms` (one PNG of
small multiples); a slider's range is a panel filter (``state.set_filter``), the full range
none. This module only draws the model and keeps the sliders in step with ``state.filters``.

CSS classes for tests: ``cl-histograms`` (the image), ``cl-hist-range`` (each range slider),
``cl-hist-clear``, ``cl-hist-shapes``, ``cl-hist-density``.
"""

from __future__ import annotations

from ipywidgets import Button, Checkbox, FloatRangeSlider, GridBox, HBox, Image, Layout, VBox

from cryolatent.widgets.histogram_state import CovariateHistograms
from cryolatent.widgets.state import PanelState

SLIDER_STEPS = 400  # slider positions across a column's range


class HistogramsView(VBox):
    """The covariate histograms of a panel: ``HistogramsView(state)``.

    Parameters
    ----------
    state
        The panel's state (covariates, kept particles, filters).
    ncols, width, height
        Histograms per row and each plot's size in pixels.
    **kwargs
        To :class:`CovariateHistograms` (``n_bins``, ``density``, ``density_basis``).

    Attributes
    ----------
    model
        The :class:`CovariateHistograms` drawn here.
    image, sliders
        The histograms, and name -> its range slider (the full range: no filter).
    clear_button, shapes, density_button
        Clear every range; scale kept bars to their own maximum; add the density column.
    """

    def __init__(self, state: PanelState, *, ncols: int = 3, width: int = 180, height: int = 64, **kwargs):
        self.state = state
        self.model = m = CovariateHistograms(state, ncols=ncols, width=width, height=height, **kwargs)
        self._syncing = False
        self._layout = (ncols, width)
        self.image = Image(format="png", value=m.png)
        self.image.add_class("cl-histograms")
        self.sliders: dict[str, FloatRangeSlider] = {}
        self.grid = GridBox(layout=Layout(grid_template_columns=f"repeat({ncols}, {width + 8}px)"))
        self.clear_button = Button(description="clear ranges", icon="times", layout=Layout(width="auto"),
                                   tooltip="remove the filters of every histogram")
        self.clear_button.add_class("cl-hist-clear")
        self.clear_button.on_click(lambda _: m.clear_range())
        self.shapes = Checkbox(value=m.shapes, description="compare shapes", indent=False, layout=Layout(width="140px"),
                               tooltip="scale the kept bars to their own highest bar")
        self.shapes.add_class("cl-hist-shapes")
        self.shapes.observe(lambda c: setattr(m, "shapes", bool(c["new"])), names="value")
        self.density_button = Button(description="add density", icon="plus", layout=Layout(width="auto"),
                                     tooltip=f"kNN density in {m.density_basis} (slow for a million particles)")
        self.density_button.add_class("cl-hist-density")
        self.density_button.on_click(lambda _: self._add_density())
        self.density_button.layout.display = "none" if m.density_name in m.values else ""
        self._make_sliders()
        super().__init__([self.image, self.grid, HBox([self.clear_button, self.shapes, self.density_button])])
        self.add_class("cryolatent-histograms")
        m.observe(lambda c: setattr(self.image, "value", c["new"]), names="png")
        state.observe(self._sync_sliders, names="filters")

    # ------------------------------------------------------------ sliders
    def _make_sliders(self) -> None:
        m = self.model
        for name in m.names:
            if name in self.sliders:
                continue
            lo, hi = float(m.edges[name][0]), float(m.edges[name][-1])
            s = FloatRangeSlider(value=(lo, hi), min=lo, max=hi, step=(hi - lo) / SLIDER_STEPS, description="",
                                 continuous_update=False, readout_format=".4g", tooltip=m.titles[name],
                                 layout=Layout(width=f"{self._layout[1] + 4}px"))
            s.add_class("cl-hist-range")
            s.observe(lambda c, name=name: self._on_slider(name, c["new"]), names="value")
            self.sliders[name] = s
        self.grid.children = [self.sliders[n] for n in m.names]
        self._sync_sliders()

    def _on_slider(self, name: str, value) -> None:
        if self._syncing:
            return
        s, (lo, hi) = self.sliders[name], value
        try:
            if lo <= s.min and hi >= s.max:
                self.model.clear_range(name)
            else:
                self.model.set_range(name, lo, hi)
        except Exception as exc:  # show it in the status line rather than lose it in the kernel log
            self.state.error(f"range on {name}: {type(exc).__name__}: {exc}")

    def _sync_sliders(self, change=None) -> None:
        """Put every slider at its column's panel filter (the full range when there is none)."""
        ranges = self.model.ranges
        self._syncing = True
        try:
            for name, s in self.sliders.items():
                lo, hi = ranges.get(name, (s.min, s.max))
                value = (min(max(lo, s.min), s.max), max(min(hi, s.max), s.min))
                if tuple(s.value) != value:
                    s.value = value
        finally:
            self._syncing = False

    def _add_density(self) -> None:
        try:
            self.model.add_density()
        except Exception as exc:
            self.state.error(f"density: {type(exc).__name__}: {exc}")
            return
        self.density_button.layout.display = "none"
        self._make_sliders()
