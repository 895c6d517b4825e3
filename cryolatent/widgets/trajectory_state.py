"""A trajectory through latent space for the explorer panel, with no UI imports.

:class:`TrajectoryState` builds the frames of a trajectory two ways: through
waypoints clicked on the scatter (the kNN-graph shortest path in ``z`` through
them, :func:`cryolatent.tl.trajectory.shortest_path`, thinned to ``n_frames``
particles by :func:`resample_legs`), or along a principal component at
percentile stops 5..95 (:func:`cryolatent.tl.pc_traversal`). Frames are decoded
one at a time when first shown and kept; :meth:`~TrajectoryState.series` decodes
the rest for writing (:meth:`~cryolatent.volumes.VolumeSeries.to_mrc`) or napari.
Problems go to the panel's status line (``state.error``), never raised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from traitlets import Bool, HasTraits, Instance, Int, List, Unicode, observe, validate

from cryolatent.errors import describe_error
from cryolatent.volumes import VolumeSeries

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.widgets.state import PanelState

KINDS = ("waypoints", "pc")
MAX_FRAMES = 50  # frames at most (each decoded volume is kept)
MAX_PCS = 10  # principal components offered
PC_RANGE = (5.0, 95.0)  # percentile stops of a PC trajectory


def resample_legs(z: np.ndarray, legs: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Thin a path of particles to about ``n`` frames, keeping every waypoint.

    Parameters
    ----------
    z
        ``(N, zdim)`` latent points of the particles.
    legs
        Particle positions of each leg, from one waypoint to the next (both included).
    n
        Frames wanted; the waypoints are always kept (so at least ``len(legs) + 1``), and a leg
        gives at most the particles it passes through.

    Returns
    -------
    positions, marks
        The frames' particle positions, in path order, and which frames are the waypoints.
    """
    lengths = [float(np.linalg.norm(np.diff(z[leg], axis=0), axis=1).sum()) if len(leg) > 1 else 0.0 for leg in legs]
    room = [max(len(leg) - 2, 0) for leg in legs]
    alloc = [0] * len(legs)
    for _ in range(max(n - len(legs) - 1, 0)):  # one frame at a time to the leg longest per frame (D'Hondt)
        open_legs = [j for j in range(len(legs)) if alloc[j] < room[j]]
        if not open_legs:
            break
        j = max(open_legs, key=lambda j: lengths[j] / (alloc[j] + 1))
        alloc[j] += 1
    out, marks = [int(legs[0][0])], [0]
    for leg, m in zip(legs, alloc):
        if m:  # m interior particles evenly spaced by arc length along the leg
            s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(z[leg], axis=0), axis=1))])
            targets = s[-1] * np.arange(1, m + 1) / (m + 1)
            near = np.abs(s[None, 1:-1] - targets[:, None]).argmin(1) + 1
            out.extend(int(p) for p in leg[np.unique(near)])
        out.append(int(leg[-1]))
        marks.append(len(out) - 1)
    return np.asarray(out, dtype=np.int64), np.asarray(marks, dtype=np.int64)


def nearest_particles(z: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Position of the particle nearest in ``z`` to each of ``points`` ``(M, zdim)``."""
    z = np.asarray(z, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    d = (z**2).sum(1)[:, None] - 2 * z @ p.T  # + |p|^2, the same for every particle
    return d.argmin(0).astype(np.int64)


class TrajectoryState(HasTraits):
    """Frames along a path through latent space, decoded lazily, written as a series.

    Parameters
    ----------
    state
        The panel's state: ``ls.z``, ``decoder``, ``current_point`` (clicks that add waypoints
        while ``adding``), ``xy`` (where the path is drawn) and the status line.

    Attributes
    ----------
    z, particles, marks
        The built frames' latent points ``(M, zdim)``, their particle positions (None for a PC
        trajectory, whose stops are no particles) and which frames are waypoints (None: none);
        ``z`` is None until :meth:`build` (and again when a setting changes).
    decoded
        Frame numbers decoded so far.
    """

    kind = Unicode("waypoints")  # one of KINDS
    pc = Int(1)  # 1-based
    n_frames = Int(10)
    k = Int(10)  # neighbours of the kNN graph
    adding = Bool(False)  # clicks on the scatter add waypoints
    waypoints = List()  # particle positions, in order
    z = Instance(np.ndarray, allow_none=True)
    particles = Instance(np.ndarray, allow_none=True)
    marks = Instance(np.ndarray, allow_none=True)
    frame = Int(0)
    decoded = List()

    def __init__(self, state: PanelState, **kwargs):
        self.state = state
        self.zdim = int(np.asarray(state.ls.z).reshape(state.n, -1).shape[1])
        self._vols: dict[int, np.ndarray] = {}
        self._at = np.zeros(0, np.int64)  # where each frame is drawn: its particle, or the nearest one
        self._graph: tuple[int, object] | None = None  # (k, kNN graph), reused while k is unchanged
        self._pca = None
        self._showing = False  # a frame being shown sets current_point: that is no click
        super().__init__(**kwargs)
        state.observe(self._on_click, names="current_point")

    # ------------------------------------------------------------ settings
    @property
    def pcs(self) -> list[int]:
        """The principal components offered (1-based)."""
        return list(range(1, min(self.zdim, MAX_PCS) + 1))

    @property
    def n_built(self) -> int:
        return 0 if self.z is None else len(self.z)

    @validate("kind")
    def _check_kind(self, proposal):
        if proposal["value"] not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {proposal['value']!r}")
        return proposal["value"]

    @validate("pc")
    def _check_pc(self, proposal):
        if proposal["value"] not in self.pcs:
            raise ValueError(f"pc must be between 1 and {len(self.pcs)}, got {proposal['value']}")
        return proposal["value"]

    @validate("n_frames", "k")
    def _check_count(self, proposal):
        lo, hi = (2, MAX_FRAMES) if proposal["trait"].name == "n_frames" else (1, 100)
        return int(np.clip(proposal["value"], lo, hi))

    @validate("frame")
    def _check_frame(self, proposal):
        return int(np.clip(proposal["value"], 0, max(self.n_built - 1, 0)))

    @observe("kind", "pc", "n_frames", "k", "waypoints")
    def _stale(self, change) -> None:
        """A new setting: the built frames no longer match it."""
        if self.z is not None:
            self._set_frames(None, None, None)

    # ------------------------------------------------------------ waypoints
    def _on_click(self, change) -> None:
        if self.adding and not self._showing and change["new"] >= 0:
            self.add_waypoint(change["new"])

    def add_waypoint(self, position: int) -> None:
        """Append particle ``position`` (the same one twice in a row counts once)."""
        p = int(position)
        if not 0 <= p < self.state.n:
            self.state.error(f"waypoint {p} out of range [0, {self.state.n})")
            return
        if self.waypoints[-1:] != [p]:
            self.waypoints = [*self.waypoints, p]
        self.state.info(f"{len(self.waypoints)} waypoint{'s' * (len(self.waypoints) != 1)}: particles "
                        + ", ".join(str(self.state.index[w]) for w in self.waypoints))

    def undo_waypoint(self) -> None:
        """Remove the last waypoint."""
        if self.waypoints:
            self.waypoints = self.waypoints[:-1]

    def clear(self) -> None:
        """No waypoints and no trajectory."""
        self.waypoints = []
        self._set_frames(None, None, None)

    # ------------------------------------------------------------ building
    def build(self) -> bool:
        """Make the frames of the chosen kind and show the first; False (and a message) when it cannot."""
        try:
            got = self._path() if self.kind == "waypoints" else self._pc()
        except Exception as exc:  # disconnected waypoints, no PCA, a bad setting: the status line says so
            self.state.error(f"trajectory not built: {describe_error(exc)}")
            return False
        if got is None:
            return False
        self._set_frames(*got)
        what = (f"path through {len(self.waypoints)} waypoints" if self.kind == "waypoints"
                else f"PC{self.pc} at percentiles {PC_RANGE[0]:g}..{PC_RANGE[1]:g}")
        if self.n_built < self.n_frames:
            what += f" (it passes through only {self.n_built} particles)"
        elif self.n_built > self.n_frames:
            what += " (one frame per waypoint)"
        if self.state.decoder is None:
            self.state.warn(f"trajectory: {self.n_built} frames along the {what}; no decoder to show volumes")
            return True
        self.state.info(f"trajectory: {self.n_built} frames along the {what}")
        self.show(0)
        return True

    def _path(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        from cryolatent.tl.trajectory import knn_graph, shortest_path

        if len(self.waypoints) < 2:
            self.state.error("a path needs two waypoints or more: turn on 'click adds waypoints' and click the scatter")
            return None
        z = np.asarray(self.state.ls.z).reshape(self.state.n, -1)
        if self._graph is None or self._graph[0] != self.k:
            self._graph = (self.k, knn_graph(z, self.k))
        legs = []
        for a, b in zip(self.waypoints[:-1], self.waypoints[1:]):
            try:
                legs.append(shortest_path(self._graph[1], [a, b]))
            except Exception as exc:
                raise type(exc)(f"{describe_error(exc)} (k = {self.k})") from None
        positions, marks = resample_legs(z, legs, self.n_frames)
        return z[positions].astype(np.float32), positions, marks

    def _pc(self) -> tuple[np.ndarray, None, None]:
        from cryolatent import tl
        from cryolatent.tl.embedding import pca_embed
        from cryolatent.tl.trajectory import pc_stops

        ls = self.state.ls
        lo, hi = PC_RANGE
        if "pca" in ls.uns and "pca" in ls.emb:  # the axes the panel's PCA plots show
            return tl.pc_traversal(ls, self.pc, self.n_frames, lo=lo, hi=hi), None, None
        if self._pca is None:
            self._pca = pca_embed(ls.z, len(self.pcs))
        return pc_stops(ls.z, self.pc, self.n_frames, lo=lo, hi=hi, pca=self._pca), None, None

    def _set_frames(self, z, particles, marks) -> None:
        """Make ``z`` the frames (None: none), forgetting the volumes decoded for the old ones."""
        self._vols = {}
        self.decoded = []
        self.z = None  # first, so that frame 0 below is not shown (build shows it) ...
        self.frame = 0
        at = particles if particles is not None or z is None else nearest_particles(self.state.ls.z, z)
        self._at = np.zeros(0, np.int64) if at is None else at
        self.particles, self.marks = particles, marks
        self.z = z  # ... and last, so that whoever follows z sees the rest already set

    # ------------------------------------------------------------ frames
    def label(self, i: int) -> str:
        """What frame ``i`` is, for the status line."""
        head = f"trajectory frame {i + 1} of {self.n_built}"
        if self.particles is not None:
            p = int(self.particles[i])
            mark = ", a waypoint" if self.marks is not None and i in self.marks else ""
            return f"{head}: particle {self.state.index[p]} (point {p}{mark})"
        pct = np.linspace(*PC_RANGE, self.n_built)[i]
        return f"{head}: PC{self.pc} at its {pct:.0f}th percentile"

    def volume(self, i: int) -> np.ndarray | None:
        """Frame ``i``'s volume, decoded on first use and kept; None (and a message) when there is none."""
        s = self.state
        if self.z is None:
            s.warn("build a trajectory first")
            return None
        if s.decoder is None:
            s.error("no decoder: pass a decoder to see volumes")
            return None
        if not 0 <= i < self.n_built:
            s.error(f"frame {i} out of range [0, {self.n_built})")
            return None
        if i not in self._vols:
            try:
                self._vols[i] = np.asarray(s.decoder(self.z[i : i + 1])[0], dtype=np.float32)
            except Exception as exc:  # the decoder's failure is the status line's
                s.error(f"decoding frame {i + 1} failed: {describe_error(exc)}")
                return None
            self.decoded = sorted(self._vols)
        return self._vols[i]

    def show(self, i: int) -> np.ndarray | None:
        """Show frame ``i`` in the panel's volume view (and ring its particle)."""
        vol = self.volume(i)
        if vol is None:
            return None
        point = int(self.particles[i]) if self.particles is not None else -1
        self._showing = True
        try:
            self.state.show_volume(vol, self.label(i), point=point)
        finally:
            self._showing = False
        return vol

    @observe("frame")
    def _on_frame(self, change) -> None:
        if self.z is not None:
            self.show(change["new"])

    def series(self) -> VolumeSeries | None:
        """All frames as a :class:`~cryolatent.volumes.VolumeSeries` (the missing ones decoded now)."""
        from cryolatent.widgets.volume_state import known_apix

        s = self.state
        if self.z is None or s.decoder is None:
            self.volume(0)  # says which is missing
            return None
        missing = [i for i in range(self.n_built) if i not in self._vols]
        if missing:
            try:
                vols = np.asarray(s.decoder(self.z[missing]), dtype=np.float32)
            except Exception as exc:
                s.error(f"decoding the trajectory failed: {describe_error(exc)}")
                return None
            self._vols.update(zip(missing, vols))
            self.decoded = sorted(self._vols)
        name = "path" if self.kind == "waypoints" else f"pc{self.pc}"
        vols = np.stack([self._vols[i] for i in range(self.n_built)])
        return VolumeSeries(vols, self.z, known_apix(s), name, self.particles)

    # ------------------------------------------------------------ output
    def to_mrc(self, folder: str | os.PathLike, force: bool = False) -> list[Path] | None:
        """Write ``folder/vol_000.mrc ...`` and ``z_values.txt`` (all or nothing); an existing series
        there is kept unless ``force``. Returns the paths written, or None (with a message)."""
        s = self.state
        if self.z is None:
            s.warn("build a trajectory first")
            return None
        if not str(folder).strip():
            s.error("give a folder to write the trajectory to")
            return None
        folder = Path(str(folder).strip()).expanduser()
        taken = sorted(folder.glob("vol_*.mrc")) + [p for p in [folder / "z_values.txt"] if p.exists()]
        if taken and not force:  # checked before decoding anything
            s.error(f"{folder} already holds a series ({len(taken)} files): tick 'overwrite' to replace it")
            return None
        series = self.series()
        if series is None:
            return None
        try:
            written = series.to_mrc(folder, force=force)
        except Exception as exc:  # nothing was written (VolumeSeries.to_mrc is all or nothing)
            s.error(f"trajectory not written: {describe_error(exc)}")
            return None
        left = len([p for p in taken if p.suffix == ".mrc" and p not in written])
        s.info(f"wrote {len(series)} volumes and z_values.txt to {folder.resolve()}"
               + (f" ({left} older vol_*.mrc beyond them left there)" if left else ""))
        return written

    def to_napari(self, viewer=None):
        """Add all frames to napari as one 4-D layer (a slider over the frames); returns the layer."""
        from cryolatent.widgets import napari_view

        if not napari_view.napari_available():
            self.state.error("napari is not installed (pip install 'cryolatent[napari]')")
            return None
        series = self.series()
        if series is None:
            return None
        s = self.state
        try:
            viewer = viewer if viewer is not None else napari_view.get_viewer()
            threshold = s.threshold if np.isfinite(s.threshold) else None
            layer = napari_view.add_volume(viewer, series.vols, name=f"trajectory {series.name}",
                                           apix=series.apix, threshold=threshold)
        except Exception as exc:  # no display, a napari error: the status line's
            s.error(f"napari: {describe_error(exc)}")
            return None
        s.info(f"sent {len(series)} frames to napari as one layer ({layer.name})")
        return layer

    # ------------------------------------------------------------ drawing
    def path_xy(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(frames, marks)`` in the scatter's current axes: each frame at its particle (a PC stop at the
        particle nearest it in ``z``), and the waypoints; None where there is nothing to draw."""
        xy = self.state.xy
        path = xy[self._at] if self.z is not None else None
        marks = xy[np.asarray(self.waypoints, np.int64)] if self.kind == "waypoints" and self.waypoints else None
        return path, marks
