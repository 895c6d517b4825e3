"""Covariate histograms of the kept particles against all, with no UI imports; ranges become panel filters.

:class:`CovariateHistograms` bins every float covariate of the panel (defocus,
astigmatism, pose angles, shifts, reconstruction error...) and two derived columns,
``z_norm`` (``|z|``, the norm of the latent mean) and ``density_<basis>`` (the kNN log
density, :meth:`PanelState.density`), once, with shared bins; each change of the
selection or filters recounts only the kept particles (one ``np.bincount``) and redraws
:attr:`~CovariateHistograms.png` (:func:`cryolatent.pl.histograms.histograms_png`).

A brushed range is a panel filter (``state.set_filter``). A derived column is first
registered with the panel as a covariate (``state.add_covariate`` when the state has it,
else as an ``obs`` column of the LatentSet and ``state.covariates``, which is what the
panel's filters read), so it filters, clears and saves like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from traitlets import Bool, Bytes, Int, observe

from cryolatent.widgets.deferred import Deferred

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.widgets.state import PanelState

N_BINS = 40
ZNORM = "z_norm"
AUTO_DENSITY_MAX = 200_000  # above this many particles the density column is added only on request (slow)
_NAN_BIN = 255  # bin index of a missing value (never counted)


def register_covariate(state: PanelState, name: str, values: np.ndarray) -> None:
    """Make ``values`` the panel covariate ``name`` so that ``state.set_filter(name, ...)`` works."""
    if name in state.covariates:
        return
    values = np.asarray(values, dtype=np.float64)
    add = getattr(state, "add_covariate", None)
    if add is not None:
        add(name, values)
        return
    state.ls.obs[name] = values  # the panel's filters read ls.obs (Selection.from_range)
    state.covariates[name] = values


def bin_edges(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """``n_bins + 1`` equal bins over the finite values (``[v - 0.5, v + 0.5]`` for one value, ``[0, 1]`` for none)."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin (as ``np.histogram`` counts it: the last bin includes its right edge); 255 for NaN."""
    nb = len(edges) - 1
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = nb - 1
    out = idx.astype(np.uint8)
    out[~np.isfinite(values) | (idx < 0) | (idx >= nb)] = _NAN_BIN
    return out


class CovariateHistograms(Deferred):
    """Histograms of every covariate, kept particles against all, with brushable ranges.

    Parameters
    ----------
    state
        The panel's state: its ``covariates``, ``ls.z``, ``density()``, ``kept_mask`` and ``filters``.
    n_bins
        Bins per histogram (at most 254).
    density
        Add the kNN density column: None adds it when there are at most ``AUTO_DENSITY_MAX``
        particles and the basis has at most 3 dimensions (it takes about 0.4 s for 100,000 points
        of a 2-D embedding, 10 s for a million, 35 s for 100,000 in 8-D), True always.
    density_basis
        Embedding whose density is used (default: the panel's embedding when this is made).
    ncols, width, height
        Panels per row and each plot's size in pixels.

    Attributes
    ----------
    names, titles, derived
        The columns shown (state covariates first, then ``z_norm``, ``density_<basis>``), their
        titles, and which of them are computed here.
    edges, all_counts, kept_counts
        Per column: bin edges, and ``(C, n_bins)`` counts of all and of the kept particles.
    png, version
        The histograms drawn (:func:`cryolatent.pl.histograms.histograms_png`), and a count of redraws.
    live, stale
        Recount on every change (set False while the view is hidden: changes then only set
        ``stale``, and the histograms update when ``live`` again).
    """

    shapes = Bool(False)  # scale kept bars to their own maximum (compare shapes) instead of counts
    version = Int(0)  # bumped after each recount
    png = Bytes(b"")

    def __init__(self, state: PanelState, *, n_bins: int = N_BINS, density: bool | None = None,
                 density_basis: str | None = None, ncols: int = 3, width: int = 180, height: int = 64):
        if not 1 <= n_bins < _NAN_BIN:
            raise ValueError(f"n_bins must be in [1, {_NAN_BIN - 1}], got {n_bins}")
        self.state = state
        self.n_bins, self.ncols, self.width, self.height = int(n_bins), int(ncols), int(width), int(height)
        self.density_basis = density_basis or state.embedding
        self.names: list[str] = []
        self.derived: list[str] = []  # the columns computed here, not read from the particles
        self.titles: dict[str, str] = {}
        self.values: dict[str, np.ndarray] = {}
        self.edges: dict[str, np.ndarray] = {}
        self._bins = np.zeros((0, state.n), np.uint8)
        self.all_counts = np.zeros((0, self.n_bins), np.int64)
        self.kept_counts = self.all_counts.copy()
        super().__init__()
        for name, values in state.covariates.items():
            self._add(name, name, values)
        self._add(ZNORM, "|z|", np.linalg.norm(np.asarray(state.ls.z, np.float64), axis=1), derived=True)
        cheap = state.n <= AUTO_DENSITY_MAX and state.embeddings[self.density_basis].shape[1] <= 3
        if density or (density is None and cheap):
            self.add_density()
        state.observe(self._changed, names=["selection", "filters"])
        self.update()

    # ------------------------------------------------------------ columns
    @property
    def density_name(self) -> str:
        return f"density_{self.density_basis}"

    def _add(self, name: str, title: str, values: np.ndarray, derived: bool = False) -> None:
        if name in self.values:
            return
        if derived:
            self.derived.append(name)
        values = np.asarray(values, dtype=np.float64)
        edges = bin_edges(values, self.n_bins)
        bins = bin_index(values, edges)
        self.names.append(name)
        self.titles[name], self.values[name], self.edges[name] = title, values, edges
        self._bins = np.concatenate([self._bins, bins[None]])
        counts = np.bincount(bins, minlength=_NAN_BIN + 1)[: self.n_bins]
        self.all_counts = np.concatenate([self.all_counts, counts[None]])

    def add_density(self) -> None:
        """Add the kNN log density of ``density_basis`` (computed once by the panel) as a column."""
        if self.density_name not in self.values:
            self._add(self.density_name, f"density ({self.density_basis})", self.state.density(self.density_basis),
                      derived=True)
            self.update()

    # ------------------------------------------------------------ ranges
    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """The panel filters on the columns shown: name -> ``(lo, hi)``."""
        return {k: v for k, v in self.state.filters.items() if k in self.values}

    def set_range(self, name: str, lo: float | None = None, hi: float | None = None) -> None:
        """Keep particles with ``lo <= name <= hi`` (None: unbounded): a panel filter."""
        if name not in self.values:
            raise KeyError(f"no histogram {name!r}; have {self.names}")
        register_covariate(self.state, name, self.values[name])
        self.state.set_filter(name, lo, hi)

    def clear_range(self, name: str | None = None) -> None:
        """Remove the filter on ``name`` (None: on every column shown)."""
        for key in self.ranges if name is None else [name]:
            self.state.clear_filter(key)

    # ------------------------------------------------------------ counting, drawing
    def counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        """``(C, n_bins)`` counts of the particles in ``mask`` (default: the kept ones) per column."""
        mask = self.state.kept_mask if mask is None else np.asarray(mask, bool)
        k = int(np.count_nonzero(mask))
        rest = 2 * k > self.state.n  # count the fewer particles: the rest, subtracted from all
        pos = np.flatnonzero(~mask if rest else mask)
        counts = np.array([np.bincount(bins.take(pos), minlength=_NAN_BIN + 1)[: self.n_bins] for bins in self._bins],
                          dtype=np.int64).reshape(len(self.names), self.n_bins)
        return self.all_counts - counts if rest else counts

    @observe("shapes")
    def _changed(self, change=None) -> None:
        self.redraw_or_defer()

    def redraw(self) -> None:
        self.update()

    def update(self) -> None:
        """Recount the kept particles and redraw ``png``."""
        from cryolatent.pl.histograms import histograms_png

        self.stale = False
        self.kept_counts = self.counts()
        ranges = self.ranges
        self.png = histograms_png(
            [self.titles[n] for n in self.names], [self.edges[n] for n in self.names], self.all_counts,
            self.kept_counts, [ranges.get(n) for n in self.names], ncols=self.ncols, width=self.width,
            height=self.height, shapes=self.shapes,
        )
        self.version += 1
