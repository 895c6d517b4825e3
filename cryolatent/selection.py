"""Selection: a named set of particles of a LatentSet, and its export.

Positions are rows ``0..N-1`` of the LatentSet; exports write ORIGINAL dataset
indices (``ls.obs["orig_index"]``), as cryoDRGN's ``--ind`` files expect.
A saved selection records ``N`` and a fingerprint of the original indices, so
it reopens after a kernel restart and is refused for another dataset;
:func:`save_selections`/:func:`load_selections` keep several in a folder (the
explorer panel's save and load).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from cryolatent._version import __version__
from cryolatent.errors import InputError
from cryolatent.io import load_index, pixel_size, write_cs, write_index_pkl, write_mrcs, write_star
from cryolatent.outputs import atomic_path, atomic_paths

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.latent import LatentSet


def fingerprint(orig_index) -> str:
    """Short hash identifying a dataset by its particles' original indices."""
    arr = np.ascontiguousarray(np.asarray(orig_index, dtype="<i8"))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


POLYGON_GRID = 256  # cells per side of the raster that decides most points of a large lasso
EXACT_MAX = 20_000  # up to this many points, each is tested against the polygon's edges


def in_polygon(xy, poly) -> np.ndarray:
    """Boolean mask of the points ``xy`` (``(N, 2)``) inside polygon ``poly`` (``(V, 2)``).

    The answer of matplotlib's ``Path.contains_points``, also for a million points and a
    lasso of hundreds of vertices: points in cells of a raster over the polygon's bounding
    box that no edge crosses take their cell's answer (the cell is wholly in or out); only
    points in cells along the edges are tested against the edges."""
    from matplotlib.path import Path as MplPath

    xy = np.asarray(xy, dtype=np.float64)
    poly = np.asarray(poly, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"need (N, 2) points and a (V >= 3, 2) polygon, got {xy.shape} and {poly.shape}")
    path = MplPath(poly)
    if len(xy) <= EXACT_MAX or not np.all(np.isfinite(poly)):
        return path.contains_points(xy)
    g = POLYGON_GRID
    lo, hi = poly.min(0), poly.max(0)
    scale = g / np.where(hi > lo, hi - lo, 1.0)
    with np.errstate(invalid="ignore"):
        cell = np.floor((xy - lo) * scale)
    inside_box = np.flatnonzero(np.all((cell >= 0) & (cell <= g), axis=1))  # outside the box: outside
    cell = cell[inside_box].astype(np.int64)
    # cells any edge passes through (sampled at a quarter cell, then grown by one cell)
    crossed = np.zeros((g + 3, g + 3), dtype=bool)
    ends = np.vstack([poly, poly[:1]])
    for a, b in zip(ends[:-1], ends[1:]):
        steps = int(np.ceil(4 * np.abs((b - a) * scale).max())) + 2
        t = np.linspace(0.0, 1.0, steps)[:, None]
        c = np.floor((a + t * (b - a) - lo) * scale).astype(np.int64) + 1
        crossed[np.clip(c[:, 1], 0, g + 2), np.clip(c[:, 0], 0, g + 2)] = True
    grown = crossed.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown[1:-1, 1:-1] |= crossed[1 + dy : g + 2 + dy, 1 + dx : g + 2 + dx]
    centres = lo + (np.arange(g + 1) + 0.5)[:, None] / scale  # (g+1, 2): x and y of cell centres
    cx, cy = np.meshgrid(centres[:, 0], centres[:, 1])
    centre_in = path.contains_points(np.c_[cx.ravel(), cy.ravel()]).reshape(g + 1, g + 1)
    near_edge = grown[cell[:, 1] + 1, cell[:, 0] + 1]
    out = np.zeros(len(xy), dtype=bool)
    decided = inside_box[~near_edge]
    out[decided] = centre_in[cell[~near_edge, 1], cell[~near_edge, 0]]
    edge = inside_box[near_edge]
    out[edge] = path.contains_points(xy[edge])
    return out


class Selection:
    """A named set of particle positions among ``n``.

    Supports ``|`` (union), ``&`` (intersection), ``-`` (difference) and ``~``
    (complement), also as methods.

    Parameters
    ----------
    indices
        Positions in ``0..n-1`` (sorted and de-duplicated), or a boolean mask.
    n
        Number of particles of the LatentSet.
    name
        A label, used for file names and ``obs`` columns.
    fingerprint
        :func:`fingerprint` of the LatentSet's original indices, when known.
    """
    def __init__(self, indices, n: int, name: str = "selection", fingerprint: str | None = None):
        arr = np.asarray(indices)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise ValueError(f"boolean mask of shape {arr.shape} for {n} particles")
            arr = np.flatnonzero(arr)
        arr = arr.astype(np.int64, copy=False).ravel()
        if len(arr) > 1 and not np.all(arr[1:] > arr[:-1]):  # sorted and distinct already (masks, set algebra): O(n)
            arr = np.unique(arr)
        if len(arr) and (arr[0] < 0 or arr[-1] >= n):
            raise ValueError(f"positions must be in 0..{n - 1}, got {arr[0] if arr[0] < 0 else arr[-1]}")
        self.indices = arr
        self.n = int(n)
        self.name = name
        self.fingerprint = fingerprint

    # ---- constructors --------------------------------------------------
    @classmethod
    def from_indices(cls, ls: "LatentSet", indices, name: str = "selection") -> "Selection":
        """Positions (or a boolean mask) among the LatentSet's rows."""
        return cls(indices, ls.n_obs, name, fingerprint(ls.obs["orig_index"]))

    @classmethod
    def all(cls, ls: "LatentSet", name: str = "all") -> "Selection":
        """Every particle."""
        return cls.from_indices(ls, np.arange(ls.n_obs), name)

    @classmethod
    def from_polygon(cls, ls: "LatentSet", poly, basis: str = "umap", *, dims=(0, 1),
                     name: str = "polygon") -> "Selection":
        """Particles inside ``poly`` in embedding ``basis`` (columns ``dims``)."""
        ls.require(basis, f"run {basis}(ls) first")
        xy = ls.emb[basis][:, list(dims)]
        return cls.from_indices(ls, in_polygon(xy, poly), name)

    @classmethod
    def from_clusters(cls, ls: "LatentSet", clusters: Iterable, key: str = "kmeans", *,
                      name: str | None = None) -> "Selection":
        """Particles whose label in ``ls.obs[key]`` is one of ``clusters``."""
        ls.require(key, f"run {key}(ls) first", where="obs")
        clusters = list(clusters) if not np.isscalar(clusters) else [clusters]
        mask = ls.obs[key].isin(clusters).to_numpy()
        return cls.from_indices(ls, mask, name or f"{key}_{'_'.join(map(str, clusters))}")

    @classmethod
    def from_range(cls, ls: "LatentSet", column: str, lo: float | None = None, hi: float | None = None, *,
                   name: str | None = None) -> "Selection":
        """Particles with ``lo <= ls.obs[column] <= hi`` (either bound optional)."""
        ls.require(column, f"known columns: {', '.join(map(str, ls.obs.columns))}", where="obs")
        values = ls.obs[column].to_numpy(dtype=np.float64)
        mask = np.isfinite(values)
        if lo is not None:
            mask &= values >= lo
        if hi is not None:
            mask &= values <= hi
        return cls.from_indices(ls, mask, name or column)

    @classmethod
    def from_index_file(cls, path: str | os.PathLike, ls: "LatentSet", name: str | None = None) -> "Selection":
        """Particles whose ORIGINAL indices are listed in a cryoDRGN index file."""
        orig = load_index(path)
        return cls.from_orig_index(ls, orig, name or Path(path).stem, source=path)

    @classmethod
    def from_orig_index(cls, ls: "LatentSet", orig, name: str = "selection", source=None) -> "Selection":
        """Particles by original dataset index; an index not in the LatentSet is an InputError."""
        table = np.asarray(ls.obs["orig_index"], dtype=np.int64)
        orig = np.asarray(orig, dtype=np.int64)
        order = np.argsort(table)
        where = np.searchsorted(table, orig, sorter=order)
        where = np.minimum(where, len(table) - 1)
        pos = order[where]
        bad = table[pos] != orig
        if bad.any():
            raise InputError(
                f"index {int(orig[bad][0])} is not a particle of this dataset "
                f"({ls.n_obs} particles, original indices {int(table.min())}..{int(table.max())}); "
                "is the file from another dataset?",
                source,
            )
        return cls.from_indices(ls, pos, name)

    # ---- algebra ---------------------------------------------------------
    def _check(self, other: "Selection") -> None:
        if not isinstance(other, Selection):
            raise TypeError(f"expected a Selection, got {type(other).__name__}")
        if other.n != self.n or (self.fingerprint and other.fingerprint and self.fingerprint != other.fingerprint):
            raise ValueError(f"selections {self.name!r} and {other.name!r} are of different datasets")

    def _new(self, indices, name: str) -> "Selection":
        return Selection(indices, self.n, name, self.fingerprint)

    def union(self, other: "Selection") -> "Selection":
        """Particles in either."""
        self._check(other)
        return self._new(np.union1d(self.indices, other.indices), f"{self.name}|{other.name}")

    def intersection(self, other: "Selection") -> "Selection":
        """Particles in both."""
        self._check(other)
        return self._new(np.intersect1d(self.indices, other.indices), f"{self.name}&{other.name}")

    def difference(self, other: "Selection") -> "Selection":
        """Particles in this one but not in ``other``."""
        self._check(other)
        return self._new(np.setdiff1d(self.indices, other.indices), f"{self.name}-{other.name}")

    def invert(self) -> "Selection":
        """The other particles."""
        return self._new(np.flatnonzero(~self.mask), f"not_{self.name}")

    __or__ = union
    __and__ = intersection
    __sub__ = difference
    __invert__ = invert

    @property
    def mask(self) -> np.ndarray:
        """``(n,)`` boolean mask."""
        m = np.zeros(self.n, dtype=bool)
        m[self.indices] = True
        return m

    def __len__(self) -> int:
        return len(self.indices)

    def __eq__(self, other) -> bool:
        return isinstance(other, Selection) and other.n == self.n and np.array_equal(other.indices, self.indices)

    __hash__ = None  # mutable arrays

    def __repr__(self) -> str:
        return f"Selection({self.name!r}: {len(self)} of {self.n} particles)"

    def orig_index(self, ls: "LatentSet") -> np.ndarray:
        """Original dataset indices of the selected particles."""
        self._check_dataset(ls)
        return np.asarray(ls.obs["orig_index"], dtype=np.int64)[self.indices]

    def _check_dataset(self, ls: "LatentSet", source=None) -> None:
        fp = fingerprint(ls.obs["orig_index"])
        if ls.n_obs != self.n or (self.fingerprint and self.fingerprint != fp):
            raise InputError(
                f"selection {self.name!r} is of another dataset ({self.n} particles, fingerprint "
                f"{self.fingerprint}) than this LatentSet ({ls.n_obs}, {fp})",
                source,
            )

    def to_obs(self, ls: "LatentSet", column: str | None = None) -> None:
        """Store the selection as a boolean column of ``ls.obs`` (default: its name)."""
        self._check_dataset(ls)
        ls.obs[column or self.name] = self.mask

    # ---- saving ----------------------------------------------------------
    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write as JSON (name, n, fingerprint, positions)."""
        doc = {"format": "cryolatent.Selection", "version": __version__, "name": self.name,
               "n": self.n, "fingerprint": self.fingerprint, "indices": self.indices.tolist()}
        with atomic_path(path, force) as tmp:
            tmp.write_text(json.dumps(doc))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, ls: "LatentSet") -> "Selection":
        """Read a saved selection; refuse it if it is of another dataset than ``ls``."""
        try:
            doc = json.loads(Path(path).read_text())
            sel = cls(doc["indices"], int(doc["n"]), doc.get("name", "selection"), doc.get("fingerprint"))
        except FileNotFoundError:
            raise InputError("no such file", path) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a saved selection ({exc})", path) from None
        sel._check_dataset(ls, path)
        return sel

    # ---- export ----------------------------------------------------------
    def _nonempty(self, path) -> None:
        if len(self) == 0:
            raise InputError(f"selection {self.name!r} is empty; nothing to export", path)

    def write_index(self, ls: "LatentSet", path: str | os.PathLike, *, inverse: bool | str | os.PathLike = True,
                    force: bool = False) -> list[Path]:
        """Write a cryoDRGN index ``.pkl`` of the ORIGINAL indices of the selection.

        Parameters
        ----------
        ls
            The LatentSet the selection is of.
        path
            Output ``.pkl``.
        inverse
            Also write the complement's indices: ``True`` for
            ``<stem>_inverse.pkl`` beside ``path``, a path, or ``False``.
            An empty complement is not written.
        force
            Overwrite existing files.

        Returns
        -------
        list of Path
            The files written.
        """
        path = Path(path)
        self._nonempty(path)
        inv = self.invert()
        inv_path = None
        if inverse is True:
            inv_path = path.with_name(f"{path.stem}_inverse{path.suffix or '.pkl'}")
        elif inverse:
            inv_path = Path(inverse)
        written_paths = [path] + ([inv_path] if inv_path is not None and len(inv) else [])
        contents = [self.orig_index(ls), inv.orig_index(ls)][: len(written_paths)]
        with atomic_paths(written_paths, force) as tmps:  # both or neither
            for tmp, indices in zip(tmps, contents):
                write_index_pkl(tmp, indices, force=True)
        return written_paths

    def subset_stack(self, ls: "LatentSet", particles=None):
        """The selected particles of the run's stack (or of ``particles``), as a ParticleStack view."""
        self._check_dataset(ls)
        return ls.open_stack(particles).subset(self.indices)

    def write_star(self, ls: "LatentSet", path: str | os.PathLike, *, particles=None,
                   stack_path: str | os.PathLike | None = None, names_relative_to: str | os.PathLike | None = None,
                   force: bool = False) -> Path:
        """Write the selected particles' ``.star`` (images referenced in their stacks, by paths relative
        to ``names_relative_to`` (default: the output's folder), or in ``stack_path`` when written there
        by :meth:`write_mrcs`)."""
        self._nonempty(path)
        write_star(path, self.subset_stack(ls, particles), force=force, stack_path=stack_path,
                   names_relative_to=names_relative_to)
        return Path(path)

    def write_cs(self, ls: "LatentSet", path: str | os.PathLike, *, particles=None, force: bool = False) -> Path:
        """Write the selected particles' cryoSPARC ``.cs``."""
        self._nonempty(path)
        write_cs(path, self.subset_stack(ls, particles), force=force)
        return Path(path)

    def write_mrcs(self, ls: "LatentSet", path: str | os.PathLike, *, particles=None, force: bool = False,
                   chunk_size: int = 1000) -> Path:
        """Write the selected particles' images to a new ``.mrcs`` stack (streamed); its header has
        the particles' pixel size (:func:`cryolatent.io.pixel_size`), or voxel size 0 when unknown."""
        self._nonempty(path)
        stack = self.subset_stack(ls, particles)
        write_mrcs(path, stack.iter_chunks(chunk_size), apix=pixel_size(stack), force=force, n_images=len(stack))
        return Path(path)


def save_selections(selections: Iterable[Selection], folder: str | os.PathLike, force: bool = False) -> list[Path]:
    """Save selections into ``folder``, one Selection JSON file each (``<name>.json``, see :meth:`Selection.save`).

    Names are made file-safe (runs of characters other than letters, digits,
    ``_``, ``.``, ``-`` become ``_``). Nothing is written when two names give
    one file name, or when a file exists and not ``force``; the files appear
    all together or (on a failure, e.g. a full disk) not at all.

    Returns
    -------
    list of Path
        The files written.
    """
    paths: dict[Path, Selection] = {}
    for sel in selections:
        path = Path(folder) / (re.sub(r"[^\w.-]+", "_", sel.name) + ".json")
        if path in paths:
            raise InputError(f"selections {paths[path].name!r} and {sel.name!r} would both be saved as {path.name}",
                             folder)
        paths[path] = sel
    with atomic_paths(paths, force) as tmps:
        for tmp, sel in zip(tmps, paths.values()):
            sel.save(tmp, force=True)
    return list(paths)


def load_selections(folder: str | os.PathLike, ls: "LatentSet") -> list[Selection]:
    """Every selection saved in ``folder`` (its ``*.json`` files, by file name) for LatentSet ``ls``.

    Raises
    ------
    InputError
        No ``*.json`` file, a file that is not a saved selection, or one of another dataset.
    """
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise InputError("no saved selections (*.json) here", folder)
    return [Selection.load(path, ls) for path in files]
