"""What the volume view shows, with no UI imports: the low-passed volume, its σ scale, pins, saving.

:class:`ShownVolume` is ``state.volume`` low-passed to ``resolution`` (computed on demand,
once per volume and resolution), with the threshold in standard deviations of that shown
volume and :meth:`~ShownVolume.save` to an .mrc file; :class:`VolumePins` keeps a few shown
volumes under labels and gives the difference of two. ``state.threshold`` stays in the
volume's own units; problems go to the panel's status line (``state.error``).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from traitlets import Float, HasTraits, Int, List, observe

from cryolatent import volumes
from cryolatent.errors import describe_error
from cryolatent.io import write_volume

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.widgets.state import PanelState

MAX_PINS = 6  # pinned volumes kept (the oldest is dropped beyond)


def known_apix(state: PanelState) -> float | None:
    """The panel's real voxel size in Angstrom, or None when unknown (``state.apix`` is then 1.0,
    the views' scale in voxels, which must never be written as 1 Angstrom)."""
    dec = getattr(state.decoder, "apix", None)
    if dec is not None:
        return float(dec)
    return None if state.apix == 1.0 else float(state.apix)


def resolution_options(apix: float | None) -> list[float]:
    """Low-pass resolutions offered: from Nyquist (2 voxels) to 20 voxels, in Angstrom (voxels if unknown)."""
    return [round(m * (apix or 1.0), 3) for m in (2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20)]


class ShownVolume(HasTraits):
    """``state.volume`` low-passed to ``resolution`` (None: as decoded), with its σ scale.

    Parameters
    ----------
    state
        The panel's state; its ``volume`` and ``threshold`` are read and written.
    """

    resolution = Float(None, allow_none=True)  # Angstrom (voxels when the pixel size is unknown); None: off

    def __init__(self, state: PanelState):
        self.state = state
        self.apix = known_apix(state)
        self._cache: OrderedDict[tuple, tuple[np.ndarray, float, float]] = OrderedDict()  # the last few
        super().__init__()

    @property
    def unit(self) -> str:
        return "Å" if self.apix else "px"

    def _shown(self, resolution: float | None) -> tuple[np.ndarray, float, float] | None:
        vol = self.state.volume
        if vol is None:
            return None
        key = (id(vol), resolution)
        if key not in self._cache:
            shown = volumes.lowpass(vol, resolution, self.apix)
            std = float(shown.std())
            self._cache[key] = (shown, float(shown.mean()), std if std > 0 else 1.0)
            while len(self._cache) > 3:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    @property
    def volume(self) -> np.ndarray | None:
        """The volume as shown (low-passed), or None before the first point."""
        got = self._shown(self.resolution)
        return None if got is None else got[0]

    @property
    def stats(self) -> tuple[float, float]:
        """``(mean, std)`` of the shown volume (std 1 for a flat one, so σ stays defined)."""
        got = self._shown(self.resolution)
        return (0.0, 1.0) if got is None else (got[1], got[2])

    def sigma(self, threshold: float | None = None) -> float:
        """``threshold`` (default ``state.threshold``) in standard deviations from the shown volume's mean."""
        mean, std = self.stats
        return ((self.state.threshold if threshold is None else threshold) - mean) / std

    def threshold_at(self, sigma: float) -> float:
        """The absolute level ``sigma`` standard deviations above the shown volume's mean."""
        mean, std = self.stats
        return mean + float(sigma) * std

    def fit_threshold(self, level: float | None = None) -> None:
        """Set ``state.threshold`` to ``level`` (default: keep it), or to :func:`volumes.default_threshold`
        of the shown volume when that lies outside its range (a new point, or a strong low-pass,
        would show no surface)."""
        vol = self.volume
        if vol is None:
            return
        level = self.state.threshold if level is None else float(level)
        if not float(vol.min()) < level < float(vol.max()):
            level = volumes.default_threshold(vol)
        if level != self.state.threshold:
            self.state.threshold = level

    @observe("resolution")
    def _keep_sigma(self, change) -> None:
        """A new low-pass keeps the threshold's σ (the absolute level moves with the filtered volume)."""
        old = self._shown(change["old"])
        if old is not None:
            self.fit_threshold(self.threshold_at((self.state.threshold - old[1]) / old[2]))

    def describe(self) -> str:
        """``point P (particle I)``, with the low-pass when there is one."""
        s = self.state
        p = s.current_point
        text = f"point {p} (particle {s.index[p]})" if p >= 0 else s.volume_label or "volume"
        if p >= 0 and s.volume_label:  # a trajectory frame at a particle
            text = f"{s.volume_label}: {text}"
        return text if self.resolution is None else f"{text}, low-pass {self.resolution:g} {self.unit}"

    def default_name(self) -> str:
        """``volume_pointP.mrc``, or the shown volume's label made a file name."""
        p = self.state.current_point
        if p >= 0 and not self.state.volume_label:
            return f"volume_point{p}.mrc"
        words = re.findall(r"[A-Za-z0-9.]+", self.state.volume_label.split(":")[0]) or ["volume"]
        return "_".join(words).strip(".") + ".mrc"

    def save(self, path: str | os.PathLike, force: bool = False) -> Path | None:
        """Write the shown volume to ``path`` (.mrc) with the panel's real voxel size (0: unknown).

        An existing file is kept unless ``force``; every problem becomes the status line's
        message and nothing is written. Returns the path written, or None."""
        s, vol = self.state, self.volume
        if vol is None:
            s.warn("click a point first: there is no volume to save")
            return None
        if not str(path).strip():
            s.error("give a file name to save the volume to")
            return None
        path = Path(str(path).strip()).expanduser()
        if path.exists() and not force:
            s.error(f"{path} exists: tick 'overwrite' to replace it")
            return None
        try:
            write_volume(path, vol, apix=self.apix, force=force)
        except Exception as exc:  # any failure is the status line's, and atomic_path left nothing
            s.error(f"volume not saved: {describe_error(exc)}")
            return None
        voxel = f"voxel size {self.apix:g} Å" if self.apix else "voxel size unknown (0 in the header)"
        s.info(f"saved {self.describe()} to {path.resolve()} ({voxel})")
        return path


@dataclass(frozen=True)
class Pin:
    """A pinned volume: its label, the volume as shown, the point and the low-pass it was shown at."""

    label: str
    volume: np.ndarray
    point: int
    resolution: float | None


class VolumePins(HasTraits):
    """Up to ``max_pins`` shown volumes kept under labels, oldest first, and differences of two.

    Parameters
    ----------
    shown
        What the volume view shows; :meth:`pin` keeps its current volume.
    max_pins
        Pins kept; pinning one more drops the oldest.
    """

    pins = List()  # [Pin], oldest first; reassigned on every change
    max_pins = Int(MAX_PINS)

    def __init__(self, shown: ShownVolume, max_pins: int = MAX_PINS):
        self.shown = shown
        super().__init__(max_pins=max_pins)

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.pins]

    def pin(self) -> Pin | None:
        """Keep the shown volume (pinning the same label again replaces it); None without a volume."""
        state, vol = self.shown.state, self.shown.volume
        if vol is None:
            state.warn("click a point first: there is no volume to pin")
            return None
        new = Pin(self.shown.describe(), vol, state.current_point, self.shown.resolution)
        self.pins = [*[p for p in self.pins if p.label != new.label], new][-self.max_pins:]
        state.info(f"pinned {new.label} ({len(self.pins)} pinned)")
        return new

    def unpin(self, label: str) -> None:
        self.pins = [p for p in self.pins if p.label != label]

    def get(self, label: str) -> Pin:
        for p in self.pins:
            if p.label == label:
                return p
        raise KeyError(f"no pinned volume {label!r}; pinned: {self.labels}")

    def difference(self, a: str, b: str) -> np.ndarray:
        """``A - B`` of the pinned volumes labelled ``a`` and ``b`` (float32)."""
        va, vb = self.get(a).volume, self.get(b).volume
        if va.shape != vb.shape:
            raise ValueError(f"{a} is {va.shape} and {b} is {vb.shape}: no difference of two box sizes")
        return np.subtract(va, vb, dtype=np.float32)

    def compare(self, a: str | None, b: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(A, B, A - B)``, or None with the reason in the status line."""
        state = self.shown.state
        if not a or not b:
            state.warn("pin two volumes, then choose A and B to compare")
            return None
        try:
            diff = self.difference(a, b)
        except (KeyError, ValueError) as exc:
            state.error(str(exc.args[0]))
            return None
        state.info(f"A - B: {a} minus {b}, largest |difference| {float(np.abs(diff).max()):.3g}")
        return self.get(a).volume, self.get(b).volume, diff
