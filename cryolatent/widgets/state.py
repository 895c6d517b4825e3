"""PanelState: all interaction state of the latent-space panel, with no UI imports.

An observable layer over the library: the particles are a
:class:`~cryolatent.latent.LatentSet`, every selection a
:class:`~cryolatent.selection.Selection` (algebra, lasso, clusters, ranges,
Selection JSON, exports), volumes come from a cached
:class:`~cryolatent.volumes.Decoder`. The views only translate between this
model and the browser. Selections are of *positions* (rows ``0..N-1``);
``index`` (``obs["orig_index"]``) gives the particle indices exports write.

This module is long because it is the panel's one model: axes and colour,
selection with its modes and undo history, filters, volumes, export and
persistence, each short, kept together so the views stay thin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partialmethod
from pathlib import Path

import numpy as np
import pandas as pd
from traitlets import Bool, Dict, Float, HasTraits, Instance, Int, List, Unicode, observe, validate

from cryolatent.errors import InputError
from cryolatent.latent import LatentSet
from cryolatent.selection import Selection, fingerprint, in_polygon, load_selections, save_selections
from cryolatent.tl.embedding import knn_density
from cryolatent.volumes import Decoder, default_threshold

DENSITY = "density"
NONE = "none"
COMBINE_OPS = ("union", "intersection", "difference")  # the Selection methods the panel offers
_MODES = {"replace": None, "add": "union", "union": "union", "subtract": "difference",
          "difference": "difference", "intersect": "intersection", "intersection": "intersection"}
SELECT_MODES = ("replace", "add", "subtract", "intersect")  # what the panel's mode buttons offer
UNDO_DEPTH = 50  # previous selections kept for undo
EXPORT_KINDS = ("ind", "star", "cs", "mrcs")
CURRENT = "current"  # reserved name: the kept particles in a saved selections folder


class PanelState(HasTraits):
    """Observable state of a latent panel over a LatentSet.

    Parameters
    ----------
    ls
        The particles: ``ls.emb`` gives the embeddings (those with at least one
        column), ``obs`` columns the labels (integer, boolean, categorical, text)
        and covariates (float), ``obs["orig_index"]`` the particle indices.
    decoder
        A :class:`cryolatent.volumes.Decoder` (or a ``(M, k) -> (M, D, D, D)``
        callable, wrapped in one with ``cache_size``) evaluated at
        ``ls.z[position]``; None: no volumes.
    basis
        Embedding shown first (default ``"umap"`` when there is one, else the first).
    exporter
        ``exporter(positions, path, kind, force=False)`` writes the kept particles (default:
        :class:`~cryolatent.selection.Selection`'s index ``.pkl``, ``.star``, ``.cs``, ``.mrcs``).
    apix
        Voxel size of the volumes (default: the decoder's).
    cache_size
        Volumes cached when ``decoder`` is a plain callable.
    """

    embedding = Unicode()
    x_dim = Int(0)
    y_dim = Int(1)
    x_column = Unicode("")  # a covariate shown on x instead of embedding[:, x_dim] ("" = the embedding)
    y_column = Unicode("")
    colour_by = Unicode(NONE)
    label_key = Unicode("")  # which labels select_clusters uses
    selection = Instance(Selection, allow_none=True)  # None = nothing selected (all kept)
    selections = Dict()  # name -> Selection; reassign, don't mutate
    filters = Dict()  # covariate -> (lo, hi)
    n_kept = Int(0)
    current_point = Int(-1)
    volume = Instance(np.ndarray, allow_none=True)
    volume_label = Unicode("")  # what the shown volume is when it is no clicked point's (a trajectory frame)
    volume_is_preview = Bool(False)  # the shown volume is the decoder's coarse preview (the full one follows)
    threshold = Float(float("nan"))  # unset until the first volume: then volumes.default_threshold
    message = Unicode("")
    message_level = Unicode("info")  # info | warning | error
    history = List()  # short log of gestures: dicts {"kind", "n"}
    select_mode = Unicode("replace")  # how box/lasso gestures combine with the selection (SELECT_MODES)
    n_undo = Int(0)  # previous selections that undo() can restore

    def __init__(self, ls: LatentSet, decoder: Decoder | Callable | None = None, *, basis: str | None = None,
                 exporter: Callable | None = None, apix: float | None = None, cache_size: int = 32):
        self.ls = ls
        self.n = ls.n_obs
        self.embeddings = {k: v for k, v in ls.emb.items() if v.shape[1] >= 1}
        if not self.embeddings:
            raise ValueError("need at least one embedding with a column")
        self.labels: dict[str, np.ndarray] = {}  # categorical obs columns: colour and select_clusters
        self.covariates: dict[str, np.ndarray] = {}  # float obs columns: colour and filters
        for col, values in ls.obs.drop(columns="orig_index").items():
            if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype.kind in "iubO":
                self.labels[str(col)] = np.asarray(values)
            elif values.dtype.kind == "f":
                self.covariates[str(col)] = values.to_numpy(np.float64)
        self.index = ls.obs["orig_index"].to_numpy(np.int64)
        self._fp = fingerprint(self.index)
        if decoder is not None and not isinstance(decoder, Decoder):
            decoder = Decoder(decoder, apix=apix, cache_size=cache_size)
        self.decoder = decoder
        known = apix or (decoder.apix if decoder is not None else None)
        self.apix = float(known or 1.0)  # the views' scale: voxels when the pixel size is unknown
        self.exporter = exporter or self._write
        self._undo: list[Selection | None] = []  # previous selections, oldest first (at most UNDO_DEPTH)
        self._density: dict[str, np.ndarray] = {}
        self._filter_cache: tuple[tuple, np.ndarray] | None = None
        first = basis or ("umap" if "umap" in self.embeddings else next(iter(self.embeddings)))
        super().__init__(embedding=first, label_key=next(iter(self.labels), ""))
        self.y_dim = min(1, self.embeddings[first].shape[1] - 1)
        if self.labels:
            self.colour_by = self.label_key
        self._update_kept()

    # ---------------------------------------------------------------- axes, colour
    @validate("embedding", "colour_by")
    def _check_choice(self, proposal):
        name = proposal["trait"].name
        options = list(self.embeddings) if name == "embedding" else self.colour_options
        if proposal["value"] not in options:
            raise ValueError(f"{name} cannot be {proposal['value']!r}; options: {options}")
        return proposal["value"]

    @validate("x_column", "y_column")
    def _check_column(self, proposal):
        if proposal["value"] and proposal["value"] not in self.covariates:
            raise ValueError(f"no column {proposal['value']!r} to plot; have {sorted(self.covariates)}")
        return proposal["value"]

    @validate("select_mode")
    def _check_mode(self, proposal):
        if proposal["value"] not in _MODES:
            raise ValueError(f"select_mode must be one of {SELECT_MODES}, got {proposal['value']!r}")
        return proposal["value"]

    @validate("x_dim", "y_dim")
    def _check_dim(self, proposal):
        k = self.embeddings[self.embedding].shape[1]
        if not 0 <= proposal["value"] < k:
            raise ValueError(f"{self.embedding!r} has {k} dimensions, got axis {proposal['value']}")
        return proposal["value"]

    def set_axes(self, embedding: str, x: int | str = 0, y: int | str = 1) -> None:
        """Show ``embedding`` on the axes: ``x``, ``y`` are its dimensions or covariate names
        (e.g. ``set_axes("umap", 0, "defocus_A")``); one change notification per trait."""
        k = self.embeddings[embedding].shape[1] if embedding in self.embeddings else 0
        with self.hold_trait_notifications():
            self.x_dim, self.y_dim = 0, 0
            self.embedding = embedding
            self.x_column = x if isinstance(x, str) else ""
            self.y_column = y if isinstance(y, str) else ""
            self.x_dim = 0 if isinstance(x, str) else min(x, k - 1)
            self.y_dim = 0 if isinstance(y, str) else min(y, k - 1)

    def set_axis(self, which: str, value: int | str) -> None:
        """Put a dimension of the current embedding (int) or a covariate (its name) on axis ``which`` ("x"/"y")."""
        if which not in ("x", "y"):
            raise ValueError(f"axis must be 'x' or 'y', got {which!r}")
        with self.hold_trait_notifications():
            if isinstance(value, str):
                setattr(self, f"{which}_column", value)
            else:
                setattr(self, f"{which}_dim", int(value))
                setattr(self, f"{which}_column", "")

    def axis_label(self, which: str) -> str:
        """What axis ``which`` shows: ``"umap[0]"`` or a covariate's name."""
        column = getattr(self, f"{which}_column")
        return column or f"{self.embedding}[{getattr(self, f'{which}_dim')}]"

    @property
    def colour_options(self) -> list[str]:
        return [NONE, DENSITY, *self.labels, *self.covariates]

    @property
    def xy(self) -> np.ndarray:
        """(N, 2) coordinates on the current axes (embedding dimensions or covariates)."""
        emb = self.embeddings[self.embedding]
        cols = [self.covariates[c] if c else emb[:, d] for c, d in ((self.x_column, self.x_dim), (self.y_column, self.y_dim))]
        return np.stack(cols, axis=1).astype(np.float64, copy=False)

    def density(self, embedding: str | None = None) -> np.ndarray:
        """kNN log density in the full ``embedding`` space (computed once per embedding)."""
        name = embedding or self.embedding
        if name not in self._density:
            self._density[name] = knn_density(self.embeddings[name])
        return self._density[name]

    def colour_values(self) -> tuple[np.ndarray | None, bool, list]:
        """``(values, categorical, categories)`` for ``colour_by``; values are float codes/values."""
        key = self.colour_by
        if key == NONE:
            return None, False, []
        if key == DENSITY:
            return self.density(), False, []
        if key in self.labels:
            cats, codes = np.unique(self.labels[key], return_inverse=True)
            return codes.astype(np.float64), True, cats.tolist()
        return self.covariates[key], False, []

    # ---------------------------------------------------------------- selection
    def _sel(self, what, name: str = "selection") -> Selection:
        """A stored name, Selection, boolean mask or positions -> a Selection of these particles."""
        if isinstance(what, str):
            if what not in self.selections:
                raise KeyError(f"no selection named {what!r}; have {sorted(self.selections)}")
            return self.selections[what]
        if isinstance(what, Selection):
            if what.n != self.n or what.fingerprint not in (None, self._fp):
                raise ValueError(f"selection {what.name!r} is of another dataset")
            return what
        return Selection(what, self.n, name, self._fp)

    def _current(self) -> Selection:
        return self.selection if self.selection is not None else self._sel([])

    def _apply(self, sel: Selection, mode: str | None, kind: str) -> Selection:
        """Combine ``sel`` with the current selection (``mode``; None: ``select_mode``), make it current, log ``kind``."""
        mode = self.select_mode if mode is None else mode
        if mode not in _MODES:
            raise ValueError(f"mode must be replace/add/subtract/intersect, got {mode!r}")
        new = sel if _MODES[mode] is None else getattr(self._current(), _MODES[mode])(sel)
        self._remember()
        self.selection = new = Selection(new.indices, self.n, kind, self._fp)
        self.history = [*self.history[-99:], {"kind": kind, "n": len(new)}]
        self.info(f"{kind}: {len(new):,} selected, {self.n_kept:,} kept")
        return new

    def select_indices(self, idx: Iterable[int] | Selection, mode: str | None = "replace", kind: str = "indices") -> Selection:
        """Select by positions (what the browser sends), a boolean mask or a Selection.

        ``mode``: replace/add/subtract/intersect combine it with the current selection
        (add builds a union of regions); None uses ``select_mode`` (the panel's mode buttons)."""
        if not isinstance(idx, Selection):
            idx = np.asarray(idx if hasattr(idx, "__len__") else list(idx))
        return self._apply(self._sel(idx), mode, kind)

    def box_mask(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Points of the current axes with x in [x0, x1] and y in [y0, y1] (corners in any order)."""
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        x, y = self.xy.T
        return (x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)

    def polygon_mask(self, xy_poly) -> np.ndarray:
        """Points of the current axes inside polygon ``xy_poly`` (M >= 3, 2)."""
        poly = np.asarray(xy_poly, dtype=np.float64)
        xy = self.xy
        if poly.ndim == 2 and len(poly) >= 3 and poly.shape[1] == 2:  # only points in its bounding box are tested
            (xa, ya), (xb, yb) = poly.min(0), poly.max(0)
            near = np.flatnonzero((xy[:, 0] >= xa) & (xy[:, 0] <= xb) & (xy[:, 1] >= ya) & (xy[:, 1] <= yb))
            mask = np.zeros(self.n, dtype=bool)
            mask[near] = in_polygon(xy[near], poly)
            return mask
        return in_polygon(xy, poly)  # raises its own error for a bad polygon

    def select_box(self, x0: float, x1: float, y0: float, y1: float, mode: str | None = "replace") -> Selection:
        """Select points of the current axes with x in [x0, x1] and y in [y0, y1]."""
        return self._apply(self._sel(self.box_mask(x0, x1, y0, y1)), mode, "box")

    def select_polygon(self, xy_poly, mode: str | None = "replace") -> Selection:
        """Lasso: select points of the current axes inside polygon ``xy_poly`` (M, 2)."""
        return self._apply(self._sel(self.polygon_mask(xy_poly)), mode, "lasso")

    def select_clusters(self, clusters: Iterable, key: str | None = None, mode: str = "replace") -> Selection:
        """Select particles whose label ``key`` (default ``label_key``) is in ``clusters``."""
        return self._apply(Selection.from_clusters(self.ls, list(clusters), key or self.label_key), mode, "clusters")

    def select_all(self) -> Selection:
        return self._apply(self._sel(np.ones(self.n, dtype=bool)), "replace", "all")

    def undo(self) -> bool:
        """Restore the selection before the last gesture or command that set it (box, lasso, clusters,
        invert, combine, clear, load; up to ``UNDO_DEPTH`` steps); False when there is none."""
        if not self._undo:
            self.warn("nothing to undo")
            return False
        self.selection = self._undo.pop()
        self.n_undo = len(self._undo)
        self.info(f"undone: {self.n_kept:,} kept")
        return True

    def _remember(self) -> None:
        """Keep the current selection for undo (once per change of selection, even one that changes nothing)."""
        self._undo = [*self._undo, self.selection][-UNDO_DEPTH:]
        self.n_undo = len(self._undo)

    def clear_selection(self) -> None:
        """Back to 'nothing selected' (all particles kept, up to filters)."""
        self._remember()
        self.selection = None
        self.info(f"selection cleared, {self.n_kept:,} kept")

    def invert(self, name: str | None = None) -> Selection:
        """Invert the current selection, or return the inverse of the named one."""
        if name is not None:
            return ~self._sel(name)
        return self._apply(~self._current(), "replace", "invert")

    # ---------------------------------------------------------------- named selections
    def save_selection(self, name: str, sel=None) -> Selection:
        """Store ``sel`` (default: the kept particles) under ``name``."""
        if not name or name == CURRENT:
            raise ValueError(f"a selection needs a name other than {CURRENT!r}")
        stored = Selection(self._sel(self.kept_mask if sel is None else sel).indices, self.n, name, self._fp)
        self.selections = {**self.selections, name: stored}
        self.info(f"saved {name!r}: {len(stored)} particles")
        return stored

    def use_selection(self, name: str) -> Selection:
        """Make the named selection current."""
        return self._apply(self._sel(name), "replace", f"use {name}")

    def delete_selection(self, name: str) -> None:
        self.selections = {k: v for k, v in self.selections.items() if k != name}

    def combine(self, a, b, op: str = "union", name: str | None = None) -> Selection:
        """``a op b`` over names/Selections/masks/positions; stored under ``name`` if given, else made current."""
        if op not in COMBINE_OPS:
            raise ValueError(f"op must be one of {COMBINE_OPS}, got {op!r}")
        out = getattr(self._sel(a), op)(self._sel(b))
        return self.save_selection(name, out) if name else self._apply(out, "replace", op)

    # ---------------------------------------------------------------- filters
    def set_filter(self, key: str, lo: float | None = None, hi: float | None = None) -> None:
        """Keep particles with ``lo <= covariate[key] <= hi`` (None: unbounded)."""
        if key not in self.covariates:
            raise KeyError(f"no covariate {key!r}; have {sorted(self.covariates)}")
        bounds = (-np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))
        self.filters = {**self.filters, key: bounds}

    def add_covariate(self, name: str, values) -> None:
        """Register a derived float column (``(N,)``: |z|, a local density) for colour, axes and filters;
        the LatentSet is left as it is."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n,):
            raise ValueError(f"covariate {name!r} needs {self.n} values, got shape {values.shape}")
        self.covariates[name] = values

    def clear_filter(self, key: str | None = None) -> None:
        self.filters = {} if key is None else {k: v for k, v in self.filters.items() if k != key}

    @property
    def filter_mask(self) -> np.ndarray:
        """Particles passing every filter: finite and ``lo <= value <= hi`` (as :meth:`Selection.from_range`)."""
        key = tuple(sorted(self.filters.items()))
        if self._filter_cache is None or self._filter_cache[0] != key:
            mask = np.ones(self.n, dtype=bool)
            for col, (lo, hi) in key:
                v = self.covariates[col]
                with np.errstate(invalid="ignore"):
                    mask &= np.isfinite(v) & (v >= lo) & (v <= hi)
            self._filter_cache = (key, mask)
        return self._filter_cache[1]

    @property
    def kept_mask(self) -> np.ndarray:
        """Selected (or all, when nothing is selected) and passing every filter."""
        return self.filter_mask.copy() if self.selection is None else self.selection.mask & self.filter_mask

    @property
    def kept_positions(self) -> np.ndarray:
        return np.flatnonzero(self.kept_mask)

    def kept_selection(self, name: str = CURRENT) -> Selection:
        """The kept particles as a :class:`Selection` of this dataset."""
        return Selection(self.kept_mask, self.n, name, self._fp)

    @property
    def kept_indices(self) -> np.ndarray:
        """Original particle indices of the kept particles (what exports write)."""
        return self.index[self.kept_mask]

    @property
    def highlighted(self) -> np.ndarray | None:
        """Positions the scatter highlights, or None when there is no selection and no filter."""
        return None if self.selection is None and not self.filters else self.kept_positions

    @observe("selection", "filters")
    def _update_kept(self, change=None) -> None:
        self.n_kept = int(self.kept_mask.sum())

    # ---------------------------------------------------------------- volumes
    def volume_at(self, position: int) -> np.ndarray:
        """Decoded volume at ``position`` (cached by the Decoder)."""
        if self.decoder is None:
            raise RuntimeError("no decoder: pass a decoder to see volumes")
        p = int(position)
        if not 0 <= p < self.n:
            raise IndexError(f"point {p} out of range [0, {self.n})")
        return self.decoder(self.ls.z[p : p + 1])[0]

    def set_point(self, position: int) -> np.ndarray | None:
        """Make ``position`` the current point and decode its volume (message on failure)."""
        position = int(position)
        if not 0 <= position < self.n:
            self.error(f"point {position} out of range [0, {self.n})")
            return None
        self.current_point = position
        if self.decoder is None:
            self.warn(f"point {position} (particle {self.index[position]}): no decoder to show a volume")
            return None
        try:
            z = self.ls.z[position : position + 1]
            if getattr(self.decoder, "preview", None) is not None and not self.decoder.cached(z):
                self._show(self.decoder.preview(z)[0], preview=True)  # on screen at once; the full volume follows
            vol = self.volume_at(position)
        except Exception as exc:  # show in the panel rather than lose it in the kernel log
            self.error(f"decoding point {position} failed: {type(exc).__name__}: {exc}")
            return None
        self._show(vol)
        self.info(f"point {position} (particle {self.index[position]})")
        return vol

    def show_volume(self, vol: np.ndarray, label: str, *, point: int = -1) -> None:
        """Show ``vol``, a volume not decoded for a click (a trajectory frame), and say ``label`` in
        the status line; ``point`` is the particle it belongs to (ringed on the scatter), -1 for none."""
        self.current_point = int(point) if 0 <= int(point) < self.n else -1
        self._show(np.asarray(vol, dtype=np.float32), label=label)
        self.info(f"showing {label}")

    def _show(self, vol: np.ndarray, preview: bool = False, label: str = "") -> None:
        """Make ``vol`` the shown volume (a threshold that shows the molecule when the old one cannot);
        ``label`` names it when it is no clicked point's."""
        with self.hold_trait_notifications():
            if not float(vol.min()) < self.threshold < float(vol.max()):
                self.threshold = default_threshold(vol)
            self.volume_is_preview = preview
            self.volume_label = label
            self.volume = vol

    # ---------------------------------------------------------------- export, persistence
    def _write(self, positions: np.ndarray, path: str, kind: str, force: bool = False):
        """The default exporter: through :class:`Selection` of the LatentSet."""
        sel = Selection(positions, self.n, Path(path).stem, self._fp)
        if kind == "ind":
            return sel.write_index(self.ls, path, inverse=False, force=force)
        return getattr(sel, f"write_{kind}")(self.ls, path, force=force)

    def export(self, path: str | os.PathLike, kind: str = "ind", force: bool = False,
               inverse: bool = False) -> str | None:
        """Write the kept particles via ``exporter`` (``kind`` in ind/star/cs/mrcs); returns the path or None.

        ``inverse``: also write every other particle to ``<stem>_inverse<suffix>`` beside it, in
        the same step. Problems (empty selection, an existing file without ``force``, no stack for
        star/cs/mrcs) become a panel message and nothing is written."""
        if kind not in EXPORT_KINDS:
            self.error(f"unknown export kind {kind!r}; choose from {EXPORT_KINDS}")
            return None
        kept = self.kept_mask
        if not kept.any():
            self.error("nothing to export: the selection is empty")
            return None
        path = os.fspath(path)
        jobs = [(np.flatnonzero(kept), path)]
        rest = np.flatnonzero(~kept)
        if inverse and rest.size:
            p = Path(path)
            jobs.append((rest, os.fspath(p.with_name(f"{p.stem}_inverse{p.suffix}"))))
        if not force and (taken := [q for _, q in jobs if os.path.exists(q)]):
            self.error(f"{' and '.join(taken)} already exist{'s' * (len(taken) == 1)}: tick 'overwrite' to replace")
            return None
        written = []
        try:
            for positions, target in jobs:
                self.exporter(positions, target, kind, force=force)
                written.append(target)
        except Exception as exc:  # any exporter's failure becomes the panel's message; no half export
            for target in written:
                Path(target).unlink(missing_ok=True)
            self.error(f"export failed: {type(exc).__name__}: {exc}")
            return None
        said = f"wrote {jobs[0][0].size:,} particles to {path}"
        if len(jobs) > 1:
            said += f" and the other {rest.size:,} to {jobs[1][1]}"
        elif inverse:
            said += " (no other particles to write)"
        self.info(said)
        return path

    def save_selections(self, folder: str | os.PathLike, force: bool = False) -> list[Path] | None:
        """Save the named selections and the kept particles (as ``current``) to ``folder``, one Selection
        JSON file each (:func:`~cryolatent.selection.save_selections`); refusals are panel messages."""
        kept = self.kept_selection()
        try:
            written = save_selections([*self.selections.values(), kept], folder, force)
        except (InputError, OSError) as exc:
            self.error(f"selections not saved: {exc}")
            return None
        self.info(f"saved {len(self.selections)} selections and the {len(kept)} kept particles to {folder}")
        return written

    def load_selections(self, folder: str | os.PathLike) -> None:
        """Restore what :meth:`save_selections` wrote (e.g. after a kernel restart): ``current`` becomes the
        selection (filters cleared: it holds the kept particles); another dataset's files are refused."""
        try:
            loaded = load_selections(folder, self.ls)
        except InputError as exc:
            self.error(str(exc))
            return
        named = {s.name: s for s in loaded if s.name != CURRENT}
        current = next((s for s in loaded if s.name == CURRENT), None)
        self._remember()
        with self.hold_trait_notifications():
            self.selections = named
            self.filters = {}
            self.selection = None if current is None or len(current) == self.n else current
        self.info(f"loaded {len(named)} selections from {folder}")

    # ---------------------------------------------------------------- messages
    def _say(self, level: str, text: str) -> None:
        """Show ``text`` in the panel's status line at ``level``."""
        self.message_level, self.message = level, text

    info = partialmethod(_say, "info")
    warn = partialmethod(_say, "warning")
    error = partialmethod(_say, "error")
