"""Views that redraw only while shown: the panel's sections (gallery, histograms, pairs)."""

from __future__ import annotations

from traitlets import Bool, HasTraits, observe


class Deferred(HasTraits):
    """A mixin: :meth:`redraw_or_defer` redraws at once while ``live``; otherwise it marks the
    view ``stale``, and setting ``live`` again brings it up to date. Subclasses define :meth:`redraw`."""

    live = Bool(True)  # redraw on each change; False (a hidden view): only mark stale
    stale = Bool(False)  # something changed while not live

    def redraw(self) -> None:  # pragma: no cover - defined by each view
        raise NotImplementedError

    def redraw_or_defer(self, change=None) -> None:
        if self.live:
            self.redraw()
        else:
            self.stale = True

    @observe("live")
    def _on_live(self, change) -> None:
        if change["new"] and self.stale:
            self.redraw()
