"""Particle gallery view: the clicked particle, its model projection and a sample of the kept particles.

What is shown is :class:`cryolatent.widgets.particle_state.ParticleGallery` (one PNG grid,
:func:`cryolatent.pl.particles.image_grid_png`); this module only draws it and its
controls: phase flip, low-pass, the model projection, resample.

CSS classes for tests: ``cl-gallery`` (the image), ``cl-resample``, ``cl-gallery-caption``,
``cl-gallery-message``, ``cl-gallery-lowpass``, ``cl-gallery-flip``.
"""

from __future__ import annotations

import html

from ipywidgets import HTML, Button, Checkbox, HBox, Image, Layout, SelectionSlider, VBox

from cryolatent.widgets.particle_state import NCOLS, TILE_PX, ParticleGallery, resolution_options
from cryolatent.widgets.state import PanelState

OFF = 0.0  # the low-pass slider's "off" value


class GalleryView(VBox):
    """The particle gallery of a panel: ``GalleryView(state)``.

    Parameters
    ----------
    state
        The panel's state (its LatentSet's particle stack, ``current_point``, the kept particles).
    n_sample, ncols, size
        Sampled particles, tiles per row and tile size in pixels (see :class:`ParticleGallery`).
    stack
        The particle stack of ``state.ls``'s rows, when the LatentSet does not know it.

    Attributes
    ----------
    gallery
        The :class:`ParticleGallery` drawn here (``gallery.png``, ``gallery.caption``).
    image, caption, note
        The grid, the line naming its tiles, and the one-line message (why nothing is shown).
    flip, lowpass, model, resample_button
        The controls.
    """

    def __init__(self, state: PanelState, *, n_sample: int = 24, ncols: int = NCOLS, size: int = TILE_PX, stack=None):
        self.state = state
        self.gallery = g = ParticleGallery(state, stack=stack, n_sample=n_sample, ncols=ncols, size=size)
        width = ncols * (size + 2)
        self.image = Image(format="png", layout=Layout(max_width=f"{width}px"))
        self.image.add_class("cl-gallery")
        self.caption = HTML("")
        self.caption.add_class("cl-gallery-caption")
        self.note = HTML("")
        self.note.add_class("cl-gallery-message")
        self.flip = Checkbox(value=False, description="phase-flip", indent=False, layout=Layout(width="100px"),
                             disabled=not g.can_phase_flip,
                             tooltip="multiply each image's transform by the sign of its CTF" if g.can_phase_flip
                             else "the particles have no CTF")
        self.flip.add_class("cl-gallery-flip")
        self.lowpass = SelectionSlider(
            description="low-pass", options=[("off", OFF)] + [(f"{r:g} {g.unit}", r) for r in resolution_options(g.apix)],
            value=OFF, continuous_update=False, layout=Layout(width="220px"), disabled=not g.available,
        )
        self.lowpass.add_class("cl-gallery-lowpass")
        self.model = Checkbox(value=g.show_model, description="model", indent=False, layout=Layout(width="80px"),
                              disabled=not g.can_project,
                              tooltip="the decoded volume projected at the clicked particle's pose, with its CTF")
        self.resample_button = Button(description="resample", icon="random", layout=Layout(width="auto"),
                                      tooltip="draw another sample of the kept particles", disabled=not g.available)
        self.resample_button.add_class("cl-resample")
        self.resample_button.on_click(lambda _: g.resample())
        controls = HBox([self.flip, self.lowpass, self.model, self.resample_button])
        super().__init__([controls, self.image, self.caption, self.note] if g.available else [self.note])
        self.add_class("cryolatent-gallery")
        self.flip.observe(lambda c: setattr(g, "phase_flip", bool(c["new"])), names="value")
        self.lowpass.observe(lambda c: setattr(g, "resolution", None if c["new"] == OFF else float(c["new"])), names="value")
        self.model.observe(lambda c: setattr(g, "show_model", bool(c["new"])), names="value")
        g.observe(self._sync, names=["png", "caption", "message"])
        self._sync()

    def _sync(self, change=None) -> None:
        g = self.gallery
        if g.png:
            self.image.value = g.png
        self.image.layout.display = "" if g.png else "none"
        self.caption.value = f"<small>{html.escape(g.caption)}</small>" if g.caption else ""
        self.note.value = f"<small><i>{html.escape(g.message)}</i></small>" if g.message else ""
