"""PanelState: all interaction state of the latent-space panel, with no UI imports.

The views in this package (scatter, volume, export controls) only translate
between this model and the browser; tests drive the model directly.

Positions vs particle indices: every mask and index here is a *position* in the
arrays handed to the state (0..N-1). ``index`` maps positions to the original
particle indices that exports write (identity unless given).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from traitlets import Any as AnyTrait
from traitlets import Dict, Float, HasTraits, Int, List, Unicode, observe, validate

DENSITY = "density"
NONE = "none"
COMBINE_OPS = ("union", "intersection", "difference")
EXPORT_KINDS = ("ind", "star", "cs", "mrcs")

Decoder = Callable[[int], np.ndarray]
Exporter = Callable[..., Any]  # (positions, path, kind, force=False)


def _as_columns(table) -> dict[str, np.ndarray]:
    """A DataFrame or mapping of 1-D arrays -> ``{name: array}``."""
    if table is None:
        return {}
    if hasattr(table, "columns"):  # pandas DataFrame
        return {str(c): np.asarray(table[c]) for c in table.columns}
    return {str(k): np.asarray(v) for k, v in dict(table).items()}


def points_in_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``xy`` (N, 2) inside polygon ``poly`` (M, 2) (even-odd rule)."""
    from matplotlib.path import Path as MplPath

    poly = np.asarray(poly, dtype=float)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"polygon must be (M>=3, 2), got {poly.shape}")
    return MplPath(poly).contains_points(np.asarray(xy, dtype=float))


def knn_density(x: np.ndarray, k: int = 15) -> np.ndarray:
    """Log local density from the distance to the k-th neighbour: ``-d * log(r_k)`` (up to a constant)."""
    from scipy.spatial import cKDTree

    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    k = max(1, min(k, n - 1))
    if n < 2:
        return np.zeros(n)
    r, _ = cKDTree(x).query(x, k=k + 1)
    rk = np.maximum(r[:, -1], 1e-12)
    return -d * np.log(rk)


def index_exporter(index: np.ndarray) -> Exporter:
    """An exporter writing ``kind='ind'`` as a cryoDRGN index ``.pkl`` of ``index[positions]``;
    other kinds need the particle stack (use :meth:`PanelState.from_latentset`)."""

    def export(positions: np.ndarray, path: str, kind: str, force: bool = False) -> str:
        if kind != "ind":
            raise NotImplementedError(
                f"exporting {kind!r} needs the particle stack: build the panel from a LatentSet "
                "or pass exporter=..."
            )
        from cryolatent.io import write_index_pkl

        write_index_pkl(path, index[positions], force=force)
        return path

    return export


def selection_exporter(ls) -> Exporter:
    """Exports through :class:`cryolatent.selection.Selection` of LatentSet ``ls``:
    index ``.pkl`` of original indices, ``.star``, ``.cs`` or ``.mrcs`` subsets."""

    def export(positions: np.ndarray, path: str, kind: str, force: bool = False):
        from cryolatent.selection import Selection

        sel = Selection.from_indices(ls, positions, name=Path(path).stem)
        if kind == "ind":
            return sel.write_index(ls, path, inverse=False, force=force)
        return getattr(sel, f"write_{kind}")(ls, path, force=force)

    return export


class PanelState(HasTraits):
    """Observable state of a latent panel.

    Parameters
    ----------
    embeddings
        ``{name: (N, k) array}``, e.g. ``{"umap": ..., "pca": ..., "z": ...}``.
    covariates
        Per-particle numeric columns (DataFrame or ``{name: (N,) array}``): colour and filter.
    labels
        Per-particle categorical labels ``{name: (N,) array}`` (e.g. k-means clusters).
    decode
        ``decode(position) -> (D, D, D) volume`` for the clicked point; cached here.
    exporter
        ``exporter(positions, path, kind, force=False)`` writes the kept particles
        (``positions`` are rows of these arrays). Default: a cryoDRGN index ``.pkl``
        of ``index[positions]`` for ``kind='ind'`` only.
    index
        Original particle index of each position (default ``arange(N)``).
    apix
        Voxel size of decoded volumes, used for isosurface coordinates.
    """

    embedding = Unicode()
    x_dim = Int(0)
    y_dim = Int(1)
    colour_by = Unicode(NONE)
    label_key = Unicode("")  # which labels select_clusters uses
    selection = AnyTrait(None, allow_none=True)  # (N,) bool, or None = nothing selected
    selections = Dict()  # name -> (N,) bool; reassign, don't mutate
    filters = Dict()  # covariate -> (lo, hi)
    n_kept = Int(0)
    current_point = Int(-1)
    volume = AnyTrait(None, allow_none=True)
    threshold = Float(0.0)
    message = Unicode("")
    message_level = Unicode("info")  # info | warning | error
    history = List()  # short log of gestures: dicts {"kind", "n"}

    def __init__(
        self,
        embeddings: Mapping[str, np.ndarray],
        covariates=None,
        labels: Mapping[str, np.ndarray] | None = None,
        decode: Decoder | None = None,
        *,
        exporter: Exporter | None = None,
        index: np.ndarray | None = None,
        apix: float = 1.0,
        cache_size: int = 32,
    ):
        if not embeddings:
            raise ValueError("need at least one embedding")
        self.embeddings = {str(k): np.asarray(v, dtype=np.float64) for k, v in embeddings.items()}
        for name, arr in self.embeddings.items():
            if arr.ndim != 2 or arr.shape[1] < 1:
                raise ValueError(f"embedding {name!r} must be (N, k), got {arr.shape}")
        self.n = len(next(iter(self.embeddings.values())))
        self.covariates = _as_columns(covariates)
        self.labels = _as_columns(labels)
        for what, table in (("embedding", self.embeddings), ("covariate", self.covariates), ("labels", self.labels)):
            for name, arr in table.items():
                if len(arr) != self.n:
                    raise ValueError(f"{what} {name!r} has {len(arr)} rows, expected {self.n}")
        self.index = np.arange(self.n) if index is None else np.asarray(index, dtype=np.int64)
        if self.index.shape != (self.n,):
            raise ValueError(f"index must be ({self.n},), got {self.index.shape}")
        self.decode = decode
        self.exporter = exporter or index_exporter(self.index)
        self.apix = float(apix)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._density: dict[str, np.ndarray] = {}
        first = "umap" if "umap" in self.embeddings else next(iter(self.embeddings))
        super().__init__(embedding=first, label_key=next(iter(self.labels), ""))
        self.y_dim = min(1, self.embeddings[first].shape[1] - 1)
        if self.labels:
            self.colour_by = self.label_key
        self._update_kept()

    @classmethod
    def from_latentset(cls, ls, decode=None, **kwargs) -> PanelState:
        """A PanelState over a :class:`cryolatent.latent.LatentSet`.

        ``ls.emb`` gives the embeddings; ``obs`` columns become labels (integer,
        categorical, text) or covariates (float); ``obs["orig_index"]`` the
        particle indices; exports go through :class:`cryolatent.selection.Selection`.
        ``decode`` is a :class:`cryolatent.volumes.Decoder` (or any
        ``(M, zdim) -> (M, D, D, D)`` callable), evaluated at ``ls.z[position]``;
        its ``apix`` is used unless ``apix=`` is given.
        """
        obs = ls.obs
        labels, covariates = {}, {}
        for col in obs.columns:
            if col == "orig_index":
                continue
            values = obs[col]
            kind = getattr(values.dtype, "kind", "O")
            if str(values.dtype) == "category" or kind in "iubO":
                labels[str(col)] = np.asarray(values)
            elif kind == "f":
                covariates[str(col)] = np.asarray(values, dtype=float)
        if "orig_index" in obs:
            kwargs.setdefault("index", np.asarray(obs["orig_index"], dtype=np.int64))
        kwargs.setdefault("exporter", selection_exporter(ls))
        if decode is not None and "apix" not in kwargs and hasattr(decode, "apix"):
            kwargs["apix"] = float(decode.apix)
        z = ls.z
        by_position = None if decode is None else (lambda p: np.asarray(decode(z[p : p + 1]))[0])
        return cls(dict(ls.emb), covariates, labels, by_position, **kwargs)

    # ---------------------------------------------------------------- axes, colour
    @validate("embedding")
    def _check_embedding(self, proposal):
        if proposal["value"] not in self.embeddings:
            raise ValueError(f"unknown embedding {proposal['value']!r}; have {sorted(self.embeddings)}")
        return proposal["value"]

    @validate("x_dim", "y_dim")
    def _check_dim(self, proposal):
        k = self.embeddings[self.embedding].shape[1]
        if not 0 <= proposal["value"] < k:
            raise ValueError(f"{self.embedding!r} has {k} dimensions, got axis {proposal['value']}")
        return proposal["value"]

    @validate("colour_by")
    def _check_colour(self, proposal):
        if proposal["value"] not in self.colour_options:
            raise ValueError(f"cannot colour by {proposal['value']!r}; options: {self.colour_options}")
        return proposal["value"]

    def set_axes(self, embedding: str, x: int = 0, y: int = 1) -> None:
        """Show dimensions ``x``, ``y`` of ``embedding`` (one change notification per trait)."""
        k = self.embeddings[embedding].shape[1] if embedding in self.embeddings else 0
        with self.hold_trait_notifications():
            self.x_dim, self.y_dim = 0, 0
            self.embedding = embedding
            self.x_dim, self.y_dim = min(x, k - 1), min(y, k - 1)

    @property
    def colour_options(self) -> list[str]:
        return [NONE, DENSITY, *self.labels, *self.covariates]

    @property
    def xy(self) -> np.ndarray:
        """(N, 2) coordinates on the current axes."""
        emb = self.embeddings[self.embedding]
        return emb[:, [self.x_dim, self.y_dim]]

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
        return np.asarray(self.covariates[key], dtype=np.float64), False, []

    # ---------------------------------------------------------------- selection
    def _mask(self, sel) -> np.ndarray:
        """A name, boolean mask or position array -> (N,) bool."""
        if isinstance(sel, str):
            if sel not in self.selections:
                raise KeyError(f"no selection named {sel!r}; have {sorted(self.selections)}")
            return self.selections[sel].copy()
        arr = np.asarray(sel)
        if arr.dtype == bool:
            if arr.shape != (self.n,):
                raise ValueError(f"mask must be ({self.n},), got {arr.shape}")
            return arr.copy()
        idx = arr.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"positions must be in [0, {self.n}), got [{idx.min()}, {idx.max()}]")
        mask = np.zeros(self.n, dtype=bool)
        mask[idx] = True
        return mask

    def _apply(self, mask: np.ndarray, mode: str, kind: str) -> np.ndarray:
        current = self.selection if self.selection is not None else np.zeros(self.n, dtype=bool)
        if mode == "replace":
            new = mask
        elif mode in ("add", "union"):
            new = current | mask
        elif mode in ("subtract", "difference"):
            new = current & ~mask
        elif mode in ("intersect", "intersection"):
            new = current & mask
        else:
            raise ValueError(f"mode must be replace/add/subtract/intersect, got {mode!r}")
        self.selection = new
        self.history = [*self.history[-99:], {"kind": kind, "n": int(new.sum())}]
        self.info(f"{kind}: {int(new.sum())} selected, {self.n_kept} kept")
        return new

    def select_indices(self, idx: Iterable[int], mode: str = "replace", kind: str = "indices") -> np.ndarray:
        """Select by positions (what the browser sends)."""
        arr = np.asarray(idx if hasattr(idx, "__len__") else list(idx))
        return self._apply(self._mask(arr if arr.dtype == bool else arr.astype(np.int64)), mode, kind)

    def select_box(self, x0: float, x1: float, y0: float, y1: float, mode: str = "replace") -> np.ndarray:
        """Select points of the current axes with x in [x0, x1] and y in [y0, y1]."""
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        xy = self.xy
        mask = (xy[:, 0] >= xa) & (xy[:, 0] <= xb) & (xy[:, 1] >= ya) & (xy[:, 1] <= yb)
        return self._apply(mask, mode, "box")

    def select_polygon(self, xy_poly, mode: str = "replace") -> np.ndarray:
        """Lasso: select points of the current axes inside polygon ``xy_poly`` (M, 2)."""
        return self._apply(points_in_polygon(self.xy, xy_poly), mode, "lasso")

    def select_clusters(self, clusters: Iterable, key: str | None = None, mode: str = "replace") -> np.ndarray:
        """Select particles whose label ``key`` (default ``label_key``) is in ``clusters``."""
        key = key or self.label_key
        if key not in self.labels:
            raise KeyError(f"no labels {key!r}; have {sorted(self.labels)}")
        return self._apply(np.isin(self.labels[key], list(clusters)), mode, "clusters")

    def select_all(self) -> np.ndarray:
        return self._apply(np.ones(self.n, dtype=bool), "replace", "all")

    def clear_selection(self) -> None:
        """Back to 'nothing selected' (all particles kept, up to filters)."""
        self.selection = None
        self.info(f"selection cleared, {self.n_kept} kept")

    def invert(self, name: str | None = None) -> np.ndarray:
        """Invert the current selection, or return the inverse of the named one."""
        if name is not None:
            return ~self._mask(name)
        return self._apply(~self._mask(self.selection if self.selection is not None else []), "replace", "invert")

    # ---------------------------------------------------------------- named selections
    def save_selection(self, name: str, sel=None) -> np.ndarray:
        """Store ``sel`` (default: the kept particles) under ``name``."""
        if not name:
            raise ValueError("a selection needs a name")
        mask = self.kept_mask if sel is None else self._mask(sel)
        self.selections = {**self.selections, name: mask}
        self.info(f"saved {name!r}: {int(mask.sum())} particles")
        return mask

    def use_selection(self, name: str) -> np.ndarray:
        """Make the named selection current."""
        return self._apply(self._mask(name), "replace", f"use {name}")

    def delete_selection(self, name: str) -> None:
        self.selections = {k: v for k, v in self.selections.items() if k != name}

    def combine(self, a, b, op: str = "union", name: str | None = None) -> np.ndarray:
        """``a op b`` over names/masks/positions; stored under ``name`` if given, else made current."""
        ma, mb = self._mask(a), self._mask(b)
        if op == "union":
            out = ma | mb
        elif op == "intersection":
            out = ma & mb
        elif op == "difference":
            out = ma & ~mb
        else:
            raise ValueError(f"op must be one of {COMBINE_OPS}, got {op!r}")
        if name:
            return self.save_selection(name, out)
        return self._apply(out, "replace", op)

    # ---------------------------------------------------------------- filters
    def set_filter(self, key: str, lo: float | None = None, hi: float | None = None) -> None:
        """Keep particles with ``lo <= covariate[key] <= hi`` (None: unbounded)."""
        if key not in self.covariates:
            raise KeyError(f"no covariate {key!r}; have {sorted(self.covariates)}")
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        self.filters = {**self.filters, key: (lo, hi)}

    def clear_filter(self, key: str | None = None) -> None:
        self.filters = {} if key is None else {k: v for k, v in self.filters.items() if k != key}

    @property
    def filter_mask(self) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for key, (lo, hi) in self.filters.items():
            v = self.covariates[key]
            mask &= (v >= lo) & (v <= hi)
        return mask

    @property
    def kept_mask(self) -> np.ndarray:
        """Selected (or all, when nothing is selected) and passing every filter."""
        base = self.selection if self.selection is not None else np.ones(self.n, dtype=bool)
        return base & self.filter_mask

    @property
    def kept_positions(self) -> np.ndarray:
        return np.flatnonzero(self.kept_mask)

    @property
    def kept_indices(self) -> np.ndarray:
        """Original particle indices of the kept particles (what exports write)."""
        return self.index[self.kept_mask]

    @property
    def highlighted(self) -> np.ndarray | None:
        """Positions the scatter highlights, or None when there is no selection and no filter."""
        if self.selection is None and not self.filters:
            return None
        return self.kept_positions

    @observe("selection", "filters")
    def _update_kept(self, change=None) -> None:
        self.n_kept = int(self.kept_mask.sum())

    # ---------------------------------------------------------------- volumes
    def volume_at(self, position: int) -> np.ndarray:
        """Decoded volume at ``position`` (LRU-cached)."""
        if self.decode is None:
            raise RuntimeError("no decoder: pass decode=... to see volumes")
        position = int(position)
        if position in self._cache:
            self._cache.move_to_end(position)
            return self._cache[position]
        vol = np.asarray(self.decode(position), dtype=np.float32)
        self._cache[position] = vol
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vol

    def set_point(self, position: int) -> np.ndarray | None:
        """Make ``position`` the current point and decode its volume (message on failure)."""
        position = int(position)
        if not 0 <= position < self.n:
            self.error(f"point {position} out of range [0, {self.n})")
            return None
        self.current_point = position
        if self.decode is None:
            self.warn(f"point {position} (particle {self.index[position]}): no decoder to show a volume")
            return None
        try:
            vol = self.volume_at(position)
        except Exception as exc:  # show in the panel rather than lose it in the kernel log
            self.error(f"decoding point {position} failed: {type(exc).__name__}: {exc}")
            return None
        lo, hi = float(vol.min()), float(vol.max())
        with self.hold_trait_notifications():
            if not lo < self.threshold < hi:
                self.threshold = default_threshold(vol)
            self.volume = vol
        self.info(f"point {position} (particle {self.index[position]})")
        return vol

    # ---------------------------------------------------------------- export, persistence
    def export(self, path: str | os.PathLike, kind: str = "ind", force: bool = False) -> str | None:
        """Write the kept particles via ``exporter`` (``kind`` in ind/star/cs/mrcs).

        Problems (empty selection, existing file without ``force``, no stack for
        star/cs/mrcs) become a panel message and nothing is written; returns the
        path written or None.
        """
        if kind not in EXPORT_KINDS:
            self.error(f"unknown export kind {kind!r}; choose from {EXPORT_KINDS}")
            return None
        pos = self.kept_positions
        if pos.size == 0:
            self.error("nothing to export: the selection is empty")
            return None
        path = os.fspath(path)
        try:
            self.exporter(pos, path, kind, force=force)
        except Exception as exc:
            self.error(f"export failed: {type(exc).__name__}: {exc}")
            return None
        self.info(f"wrote {pos.size} particles to {path}")
        return path

    def save_selections(self, path: str | os.PathLike) -> str:
        """Save named selections, the current selection and filters to a ``.npz``."""
        arrays = {f"sel/{k}": np.flatnonzero(v) for k, v in self.selections.items()}
        if self.selection is not None:
            arrays["current"] = np.flatnonzero(self.selection)
        meta = {"n": self.n, "filters": {k: list(v) for k, v in self.filters.items()}}
        path = os.fspath(path)
        with open(path, "wb") as f:  # np.savez appends .npz to bare names; keep the given path
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        self.info(f"saved {len(self.selections)} selections to {path}")
        return path

    def load_selections(self, path: str | os.PathLike) -> None:
        """Restore what :meth:`save_selections` wrote (e.g. after a kernel restart)."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["n"] != self.n:
                self.error(f"{path} holds selections over {meta['n']} particles, this panel has {self.n}")
                return
            selections = {k[4:]: self._mask(data[k]) for k in data.files if k.startswith("sel/")}
            current = self._mask(data["current"]) if "current" in data.files else None
        with self.hold_trait_notifications():
            self.selections = selections
            self.filters = {k: tuple(v) for k, v in meta["filters"].items() if k in self.covariates}
            self.selection = current
        self.info(f"loaded {len(selections)} selections from {path}")

    # ---------------------------------------------------------------- messages
    def _say(self, level: str, text: str) -> None:
        self.message_level = level
        self.message = text

    def info(self, text: str) -> None:
        self._say("info", text)

    def warn(self, text: str) -> None:
        self._say("warning", text)

    def error(self, text: str) -> None:
        self._say("error", text)


def default_threshold(vol: np.ndarray) -> float:
    """A starting isosurface level: mean + 2 std, kept inside (min, max)."""
    vol = np.asarray(vol)
    lo, hi = float(vol.min()), float(vol.max())
    t = float(vol.mean() + 2 * vol.std())
    if not lo < t < hi:
        t = lo + 0.5 * (hi - lo)
    return t


def synthetic_state(n: int = 2000, box: int = 32, seed: int = 0, **kwargs) -> PanelState:
    """A small PanelState for demos and tests: 3 Gaussian blobs in an 8-D latent space,
    "pca"/"umap"-like 2-D embeddings, k-means-like labels, two covariates, and an
    analytic decoder (two Gaussian lobes whose separation follows the latent point)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, 8))
    labels = rng.integers(0, 3, size=n)
    z = centres[labels] + rng.normal(size=(n, 8))
    zc = z - z.mean(0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    pca = zc @ vt[:4].T
    umap = np.tanh(pca[:, :2] / 6.0) * 10 + rng.normal(scale=0.3, size=(n, 2))
    covariates = {"defocus_A": rng.uniform(8000, 25000, n), "log_likelihood": rng.normal(-100, 5, n)}
    grid = np.arange(box, dtype=np.float32) - box // 2
    zz, yy, xx = np.meshgrid(grid, grid, grid, indexing="ij")

    def decode(position: int) -> np.ndarray:
        shift = 2.0 + 6.0 / (1 + np.exp(-z[position, 0] / 3))  # 2..8 voxels
        a = np.exp(-((xx - shift) ** 2 + yy**2 + zz**2) / (2 * (box / 10) ** 2))
        b = np.exp(-((xx + shift) ** 2 + yy**2 + zz**2) / (2 * (box / 12) ** 2))
        return (a + 0.8 * b).astype(np.float32)

    return PanelState(
        {"umap": umap, "pca": pca, "z": z}, covariates, {"kmeans": labels}, decode, **kwargs
    )
