"""What the particle gallery shows, with no UI imports: the clicked particle and a sample of the kept ones.

:class:`ParticleGallery` reads the images of the LatentSet's particle stack
(``ls.stack``, or :meth:`~cryolatent.latent.LatentSet.open_stack`), optionally
phase-flipped (sign of each particle's CTF) and low-passed, and draws them as one
PNG (:func:`cryolatent.pl.particles.image_grid_png`): the clicked particle
(``state.current_point``) and, beside it, the decoded volume projected at that
particle's pose with its CTF (when there is a decoder and poses), then a seeded
random sample of ``state.kept_positions``. Without a particle stack it shows nothing
and says why in :attr:`ParticleGallery.message`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from traitlets import Bool, Bytes, Float, Int, Unicode, observe

from cryolatent.errors import InputError, describe_error
from cryolatent.widgets.deferred import Deferred

if TYPE_CHECKING:  # pragma: no cover
    from cryolatent.widgets.state import PanelState

N_SAMPLE = 24  # sampled particles shown
NCOLS = 6  # tiles per row
TILE_PX = 64  # tile width and height
RESOLUTIONS_A = (4, 6, 8, 10, 15, 20, 30, 40, 60)  # low-pass choices in Angstrom (>= Nyquist)
RESOLUTIONS_PX = (2, 3, 4, 6, 8, 12, 16, 24)  # ... in pixels when the pixel size is unknown
PROJECTION_BOX = 64  # volumes are Fourier-cropped to this box (or the tile size) before projecting
NO_STACK = "no particle images: this LatentSet has no particle stack (set ls.stack = cryolatent.io.load_dataset(...))"


def find_stack(ls) -> tuple[object | None, str]:
    """``(stack, "")`` for the particle stack of ``ls`` (its rows, in order), or ``(None, why)``."""
    if getattr(ls, "stack", None) is not None:
        return ls.stack, ""
    try:
        return ls.open_stack(), ""
    except InputError as exc:
        if "no particle stack" in str(exc):
            return None, NO_STACK
        return None, f"no particle images: {describe_error(exc)}"
    except (OSError, ValueError) as exc:
        return None, f"no particle images: {describe_error(exc)}"


def fourier_crop_volume(vol: np.ndarray, box: int) -> np.ndarray:
    """``vol`` ``(D, D, D)`` cropped in Fourier space to ``box`` (even; ``vol`` itself when ``box >= D``),
    values on the same scale (the same band-limited map, sampled more coarsely)."""
    from scipy import fft

    D = vol.shape[-1]
    box = int(box) - int(box) % 2
    if box >= D:
        return vol
    start = D // 2 - box // 2
    f = fft.fftshift(fft.fftn(np.asarray(vol, np.float32), workers=-1))[(slice(start, start + box),) * 3]
    out = fft.ifftn(fft.ifftshift(f), workers=-1).real * (box / D) ** 3
    return out.astype(np.float32, copy=False)


def resolution_options(apix: float | None) -> list[float]:
    """Low-pass resolutions offered: Angstrom values at or above Nyquist, else pixels."""
    if not apix:
        return [float(r) for r in RESOLUTIONS_PX]
    return [float(r) for r in RESOLUTIONS_A if r >= 2 * apix] or [round(2 * apix, 3)]


class ParticleGallery(Deferred):
    """The clicked particle, its model projection and a sample of the kept particles, as one PNG.

    Parameters
    ----------
    state
        The panel's state: ``ls`` (its particle stack), ``current_point``, ``kept_positions``,
        ``decoder`` and ``index`` (the particle numbers shown).
    stack
        The particle stack of ``state.ls``'s rows (default: :func:`find_stack`).
    n_sample, ncols, size, seed
        Sampled particles, tiles per row, tile size in pixels, first seed.

    Attributes
    ----------
    png, caption, message
        The grid (b"" when nothing is shown), the line naming its tiles, and why nothing or
        not everything is shown ("" when all is well).
    positions
        Positions (rows) of the sampled particles shown.
    live, stale
        Redraw on every change (set False while the view is hidden: changes then only set
        ``stale``, and the gallery redraws when ``live`` again).
    """

    n_sample = Int(N_SAMPLE)
    seed = Int(0)
    resolution = Float(None, allow_none=True)  # low-pass, Angstrom (pixels when unknown); None: off
    phase_flip = Bool(False)
    show_model = Bool(True)  # the decoded volume's projection beside the clicked particle
    png = Bytes(b"")
    caption = Unicode("")
    message = Unicode("")

    def __init__(self, state: PanelState, *, stack=None, n_sample: int = N_SAMPLE, ncols: int = NCOLS,
                 size: int = TILE_PX, seed: int = 0):
        from cryolatent.io import pixel_size

        self.state = state
        self.stack, self._why = (stack, "") if stack is not None else find_stack(state.ls)
        if self.stack is not None and len(self.stack) != state.n:
            self.stack, self._why = None, f"no particle images: the stack has {len(self.stack)} particles, the panel {state.n}"
        self.apix = pixel_size(self.stack) if self.stack is not None else None
        self.ncols, self.size = int(ncols), int(size)
        self.positions = np.zeros(0, np.int64)
        self._projection: tuple[tuple, np.ndarray] | None = None
        self._ready = False
        super().__init__(n_sample=n_sample, seed=seed)
        self._ready = True
        state.observe(self._changed, names=["selection", "filters", "current_point"])
        self.refresh()

    # ------------------------------------------------------------ what is available
    @property
    def available(self) -> bool:
        """Whether there are particle images to show."""
        return self.stack is not None

    @property
    def unit(self) -> str:
        return "Å" if self.apix else "px"

    @property
    def can_phase_flip(self) -> bool:
        return self.available and getattr(self.stack, "ctf", None) is not None

    @property
    def can_project(self) -> bool:
        """Whether the clicked particle's model projection can be shown (a decoder and poses)."""
        return self.available and self.state.decoder is not None and getattr(self.stack, "poses", None) is not None

    # ------------------------------------------------------------ actions
    def resample(self) -> None:
        """Draw another sample of the kept particles (the next seed)."""
        self.seed += 1

    def sample_positions(self) -> np.ndarray:
        """``n_sample`` kept positions drawn with ``seed`` (all of them when fewer), sorted."""
        kept = self.state.kept_positions
        k = min(max(self.n_sample, 0), len(kept))
        if k == len(kept):
            return kept
        return np.sort(np.random.default_rng(self.seed).choice(kept, size=k, replace=False))

    # ------------------------------------------------------------ images
    def _ctf(self, positions: np.ndarray, D: int) -> np.ndarray:
        from cryolatent.training.data import effective_ctf

        return effective_ctf(np.asarray(self.stack.ctf)[positions], D)

    def shown(self, images: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``(n, d, d)`` images of the particles at ``positions`` (or their projections, any box ``d``),
        phase-flipped and low-passed as chosen; the resolution is in the particles' units."""
        from cryolatent.pl.particles import lowpass_images, phase_flip

        images = np.asarray(images, dtype=np.float32)
        d = images.shape[-1]
        if self.phase_flip and self.can_phase_flip:
            images = phase_flip(images, self._ctf(positions, d))
        if self.resolution is not None:
            images = lowpass_images(images, self.resolution, (self.apix or 1.0) * self.stack.D / d)
        return images

    def projection(self, position: int) -> np.ndarray:
        """The decoded volume at ``position`` projected at that particle's pose, shifted and with its
        CTF (:func:`cryolatent.forward.projection.project_volume`): what the model predicts for it.

        Boxes larger than ``PROJECTION_BOX`` (or the tile size) are Fourier-cropped first: the tile
        cannot show finer detail, and the projection stays well under a second."""
        from cryolatent.forward.projection import project_volume

        key = (position, id(self.state.decoder))  # the decoder caches its volumes; this, their projections
        if self._projection is None or self._projection[0] != key:
            vol = fourier_crop_volume(self.state.volume_at(position), max(PROJECTION_BOX, self.size + self.size % 2))
            rots, trans = self.stack.poses
            sl = slice(position, position + 1)
            ctf = self._ctf(np.arange(position, position + 1), vol.shape[-1]) if self.can_phase_flip else None
            self._projection = (key, project_volume(vol, np.asarray(rots)[sl], np.asarray(trans)[sl], ctf)[0])
        return self._projection[1]

    # ------------------------------------------------------------ drawing
    @observe("n_sample", "seed", "resolution", "phase_flip", "show_model")
    def _changed(self, change=None) -> None:
        if self._ready:
            self.redraw_or_defer()

    def redraw(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw ``png`` and ``caption`` (nothing, with the reason in ``message``, without images)."""
        self.stale = False
        if not self.available:
            self.png, self.caption, self.message = b"", "", self._why
            return
        try:
            self._draw()
        except Exception as exc:  # an unreadable image or a failed projection: say so, keep the panel alive
            self.png, self.caption = b"", ""
            self.message = f"particle images not shown: {describe_error(exc)}"
            self.state.error(self.message)

    def _draw(self) -> None:
        from cryolatent.pl.particles import image_grid_png

        s, tiles, labels, said, notes = self.state, [], [], [], []
        p = s.current_point
        if p >= 0:
            tiles.append(self.shown(self.stack.images([p]), np.array([p]))[0])
            labels.append(f"#{s.index[p]}")
            said.append(f"clicked: particle {s.index[p]} (point {p})")
            if self.show_model and self.can_project:
                try:
                    tiles.append(self.shown(self.projection(p)[None], np.array([p]))[0])
                    labels.append("model")
                    said[-1] += ", beside it the model's projection at its pose"
                except Exception as exc:  # the decoder failed: the particle is still shown
                    notes.append(f"no model projection: {describe_error(exc)}")
            elif self.show_model and s.decoder is not None:
                notes.append("no model projection: the particles have no poses")
            tiles += [None] * (-len(tiles) % self.ncols)  # the sample starts on a new row
            labels += [""] * (len(tiles) - len(labels))
        self.positions = pos = self.sample_positions()
        if len(pos):
            tiles += list(self.shown(self.stack.images(pos), pos))
            labels += [f"#{i}" for i in s.index[pos]]
            said.append(f"{len(pos)} of {s.n_kept:,} kept particles (seed {self.seed}): "
                        + ", ".join(str(i) for i in s.index[pos]))
        else:
            notes.append("no kept particles to sample")
        if self.phase_flip and not self.can_phase_flip:
            notes.append("not phase-flipped: the particles have no CTF")
        filters = ["phase-flipped"] if self.phase_flip and self.can_phase_flip else []
        if self.resolution is not None:
            filters.append(f"low-pass {self.resolution:g} {self.unit}")
        self.png = image_grid_png(tiles, self.ncols, self.size, labels=labels) if tiles else b""
        self.caption = "; ".join(said) + (f" [{', '.join(filters)}]" if filters else "")
        self.message = "; ".join(notes)
