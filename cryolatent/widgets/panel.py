"""LatentPanel: scatter + volume + selection/filter/export controls over one PanelState.

Every control only reads or writes ``panel.state``; nothing here holds state of
its own, so ``panel.state`` is what tests and notebooks script. The tool (box,
lasso, zoom, pan), selection mode (new/add/subtract/intersect -> ``state.select_mode``)
and undo (``state.undo``) are the scatter's own toolbar, so they act in the page at
once even while the kernel decodes a volume.
"""

from __future__ import annotations

import html

from ipywidgets import (
    HTML,
    Accordion,
    Button,
    Checkbox,
    Dropdown,
    FloatRangeSlider,
    HBox,
    Layout,
    SelectMultiple,
    Text,
    VBox,
)

from cryolatent.widgets.deferred import Deferred
from cryolatent.widgets.scatter import ScatterView
from cryolatent.widgets.state import COMBINE_OPS, EXPORT_KINDS, PanelState
from cryolatent.widgets.volume_view import VolumeView

_INITIAL = {"description_width": "initial"}
_COLOURS = {"info": "#2b5a8a", "warning": "#9a6700", "error": "#b3261e"}


def _w(px: int) -> Layout:
    return Layout(width=f"{px}px")


def _set_live(view, on: bool) -> None:
    """Let a section's view follow the selection (open) or not (closed; it catches up when reopened):
    the :class:`~cryolatent.widgets.deferred.Deferred` ``live`` of the view or of its model."""
    for model in (view, getattr(view, "gallery", None), getattr(view, "model", None)):
        if isinstance(model, Deferred):
            model.live = on


class LatentPanel(VBox):
    """The exploration panel. ``LatentPanel(state)``; ``panel.state`` holds everything.

    ``log_path`` is passed to the ScatterView (one JSON line per gesture received).
    ``project`` (a :class:`~cryolatent.project.Project`) adds the "retrain" section. The
    sections under the controls (particles, covariate histograms, latent pairs, retrain)
    are built when first opened and redraw only while open.
    """

    def __init__(self, state: PanelState, *, log_path=None, width: int = 560, height: int = 460, project=None):
        self.state = state
        s = state
        self.scatter = ScatterView(s, log_path=log_path, width=width, height=height)
        self.volume = VolumeView(s, width=height - 40, height=height - 40)

        # --- view controls
        self.embedding = Dropdown(options=list(s.embeddings), value=s.embedding, description="embedding", layout=_w(190), style=_INITIAL)
        self.x_dim = Dropdown(description="x", layout=_w(150), style=_INITIAL)  # a dimension or any covariate
        self.y_dim = Dropdown(description="y", layout=_w(150), style=_INITIAL)
        self.colour = Dropdown(options=s.colour_options, value=s.colour_by, description="colour", layout=_w(200), style=_INITIAL)
        self._sync_dims()
        self.embedding.observe(lambda c: c["new"] != s.embedding and s.set_axes(c["new"], 0, 1), names="value")
        self.x_dim.observe(lambda c: self._axis_from_control("x", c["new"]), names="value")
        self.y_dim.observe(lambda c: self._axis_from_control("y", c["new"]), names="value")
        self.colour.observe(lambda c: setattr(s, "colour_by", c["new"]), names="value")
        s.observe(lambda _: self._sync_dims(), names=["embedding", "x_dim", "y_dim", "x_column", "y_column"])

        # --- selection tools
        cats = sorted(set(s.labels[s.label_key].tolist())) if s.label_key else []
        self.clusters = SelectMultiple(options=cats, rows=3, description=s.label_key or "labels", layout=_w(190))
        b_clusters = self._button("select", lambda: s.select_clusters(self.clusters.value), "select these clusters")
        b_invert = self._button("invert", s.invert, "invert the selection")
        b_clear = self._button("clear", s.clear_selection, "nothing selected: keep all")
        self.sel_name = Text(placeholder="name", layout=_w(110))
        b_save = self._button("save as", lambda: s.save_selection(self.sel_name.value.strip()), "store the kept particles")
        self.named = Dropdown(options=[], layout=_w(120))
        b_use = self._button("use", lambda: self.named.value and s.use_selection(self.named.value), "make it current")
        self.comb_a = Dropdown(options=[], layout=_w(100))
        self.comb_op = Dropdown(options=list(COMBINE_OPS), value="union", layout=_w(110))
        self.comb_b = Dropdown(options=[], layout=_w(100))
        b_comb = self._button("combine", self._combine, "A op B -> current selection")
        s.observe(lambda _: self._sync_named(), names="selections")

        # --- filters
        self.cov = Dropdown(options=list(s.covariates), description="filter", layout=_w(210))
        self.cov_range = FloatRangeSlider(description="", continuous_update=False, readout_format=".4g", layout=_w(300))
        b_filter = self._button("apply", self._apply_filter, "keep particles within this range")
        b_unfilter = self._button("clear filters", s.clear_filter, "remove all filters")
        self.cov.observe(lambda _: self._sync_cov_range(), names="value")
        self._sync_cov_range()

        # --- export and persistence
        self.export_path = Text(value="selected.pkl", description="export", layout=_w(330))
        self.export_path.add_class("cl-export-path")
        self.export_kind = Dropdown(options=list(EXPORT_KINDS), value="ind", layout=_w(70))
        self.overwrite = Checkbox(value=False, description="overwrite", indent=False, layout=_w(90))
        self.export_rest = Checkbox(value=False, description="and the rest", indent=False, layout=_w(110),
                                    tooltip="also write every other particle, to NAME_inverse")
        self.export_rest.add_class("cl-export-inverse")
        b_export = self._button(
            "export", lambda: s.export(self.export_path.value, self.export_kind.value, force=self.overwrite.value,
                                       inverse=self.export_rest.value),
            "write the kept particles (and, ticked 'and the rest', the others beside them)",
        )
        b_export.add_class("cl-export")
        self.sel_path = Text(value="selections", description="selections", layout=_w(260))
        b_store = self._button(
            "save", lambda: s.save_selections(self.sel_path.value, force=self.overwrite.value),
            "save the named selections and the kept particles to this folder (Selection JSON files)",
        )
        b_load = self._button("load", lambda: s.load_selections(self.sel_path.value), "load this folder's selections")

        # --- status
        self.status = HTML()
        self.status.add_class("cl-message")
        s.observe(lambda _: self._sync_status(), names=["message", "n_kept"])
        self._sync_status()
        self._sync_named()

        rows = [
            HBox([self.embedding, self.x_dim, self.y_dim, self.colour]),
            HBox([self.scatter, self.volume]),
            HBox([self.clusters, VBox([b_clusters, b_invert, b_clear]),
                  VBox([HBox([self.sel_name, b_save]), HBox([self.named, b_use]),
                        HBox([self.comb_a, self.comb_op, self.comb_b, b_comb])])]),
            HBox([self.cov, self.cov_range, b_filter, b_unfilter]),
            HBox([self.export_path, self.export_kind, self.export_rest, self.overwrite, b_export]),
            HBox([self.sel_path, b_store, b_load]),
            self.status,
            self._sections(project),
        ]
        super().__init__(rows)
        self.add_class("cryolatent-panel")

    @classmethod
    def from_latentset(cls, ls, decoder=None, **kwargs) -> LatentPanel:
        """``LatentPanel.from_latentset(ls, volumes.Decoder(...))``: a panel over ``PanelState(ls, decoder)``.

        ``basis``, ``exporter``, ``apix`` and ``cache_size`` go to :class:`PanelState`, the rest to the panel.
        """
        state_kw = {k: kwargs.pop(k) for k in ("basis", "exporter", "apix", "cache_size") if k in kwargs}
        return cls(PanelState(ls, decoder, **state_kw), **kwargs)

    # ------------------------------------------------------------ sections
    def _sections(self, project) -> Accordion:
        """Collapsed sections, each view made on first opening (``self.views[title]``)."""
        from cryolatent.widgets.histograms import HistogramsView
        from cryolatent.widgets.latent_views import PairsView
        from cryolatent.widgets.particles import GalleryView
        from cryolatent.widgets.retrain import RetrainView

        s = self.state
        self._makers = {"particles": lambda: GalleryView(s), "covariate histograms": lambda: HistogramsView(s),
                        "trajectory": self._trajectory_view, "latent pairs": lambda: PairsView(s),
                        "3-D view": self._view_3d}
        if project is not None:
            self._makers["retrain"] = lambda: RetrainView(s, project)
        self.views: dict = {}
        self.sections = Accordion(children=[HTML("") for _ in self._makers], titles=tuple(self._makers),
                                  selected_index=None)
        self.sections.add_class("cl-sections")
        self.sections.observe(lambda c: self.open_section(c["new"]), names="selected_index")
        return self.sections

    def _trajectory_view(self):
        from cryolatent.widgets.trajectory_view import TrajectoryView

        return TrajectoryView(self.state, scatter=self.scatter)

    def _view_3d(self):
        from cryolatent.widgets.latent_views import Scatter3DView

        return Scatter3DView(self.state)

    def open_section(self, which: int | str | None):
        """Open a section by position or title (None: close them); returns its view."""
        titles = list(self._makers)
        index = titles.index(which) if isinstance(which, str) else which
        for title, view in self.views.items():
            _set_live(view, title == (titles[index] if index is not None else None))
        if index is None:
            return None
        title = titles[index]
        if title not in self.views:
            try:
                self.views[title] = self._makers[title]()
            except Exception as exc:  # a section that cannot open says why in the status line
                self.state.error(f"{title}: {type(exc).__name__}: {exc}")
                return None
            children = list(self.sections.children)
            children[index] = self.views[title]
            self.sections.children = children
        view = self.views[title]
        _set_live(view, True)
        if self.sections.selected_index != index:
            self.sections.selected_index = index
        return view

    # ------------------------------------------------------------ helpers
    def _button(self, label: str, action, tooltip: str = "") -> Button:
        b = Button(description=label, tooltip=tooltip, layout=Layout(width="auto"))
        b.on_click(lambda _: self._run(action))
        return b

    def _run(self, action) -> None:
        try:
            action()
        except Exception as exc:  # bad input from a control: show it, don't raise into the void
            self.state.error(f"{type(exc).__name__}: {exc}")

    def _combine(self) -> None:
        if not (self.comb_a.value and self.comb_b.value):
            self.state.warn("choose two saved selections to combine")
            return
        self.state.combine(self.comb_a.value, self.comb_b.value, self.comb_op.value)

    def _apply_filter(self) -> None:
        if self.cov.value:
            self.state.set_filter(self.cov.value, *self.cov_range.value)

    def _axis_from_control(self, which: str, value) -> None:
        s = self.state
        if value is None or value == (getattr(s, f"{which}_column") or getattr(s, f"{which}_dim")):
            return
        self._run(lambda: s.set_axis(which, value))

    def _sync_dims(self) -> None:
        s = self.state
        k = s.embeddings[s.embedding].shape[1]
        options = [(f"{s.embedding}[{i}]", i) for i in range(k)] + [(c, c) for c in s.covariates]
        for dd, which in ((self.x_dim, "x"), (self.y_dim, "y")):
            if list(dd.options) != options:
                dd.options = options
            dd.value = getattr(s, f"{which}_column") or getattr(s, f"{which}_dim")
        if self.embedding.value != s.embedding:
            self.embedding.value = s.embedding

    def _sync_cov_range(self) -> None:
        key = self.cov.value
        if not key:
            self.cov_range.disabled = True
            return
        v = self.state.covariates[key]
        lo, hi = float(v.min()), float(v.max())
        if hi <= lo:
            hi = lo + 1.0
        with self.cov_range.hold_trait_notifications():
            self.cov_range.max = max(hi, self.cov_range.min)
            self.cov_range.min = lo
            self.cov_range.max = hi
            self.cov_range.step = (hi - lo) / 200
            self.cov_range.value = self.state.filters.get(key, (lo, hi))

    def _sync_named(self) -> None:
        names = list(self.state.selections)
        for dd in (self.named, self.comb_a, self.comb_b):
            dd.options = names

    def _sync_status(self) -> None:
        s = self.state
        colour = _COLOURS.get(s.message_level, "#333")
        self.status.value = (
            f"<span class='cl-kept'><b>{s.n_kept:,}</b> of {s.n:,} kept</span> &nbsp; "
            f"<span style='color:{colour}' class='cl-text'>{html.escape(s.message)}</span>"
        )
