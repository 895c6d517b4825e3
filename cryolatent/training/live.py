"""A live loss plot for notebooks: pass ``LiveLossPlot()`` as a training callback."""

from __future__ import annotations

from cryolatent.pl._mpl import close
from cryolatent.pl.training import loss


class LiveLossPlot:
    """Redraws total, reconstruction and KL loss after every epoch in the notebook output.

    Outside IPython it does nothing, so the same training call works in scripts.
    """

    def __init__(self, title: str = "training"):
        self.title = title
        self.rows: list[dict] = []
        self._handle = None

    def on_epoch_end(self, metrics: dict) -> None:
        """Record one epoch's metrics and redraw."""
        self.rows.append(dict(metrics))
        try:  # IPython only when there is a notebook to draw in
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython ships with jupyterlab
            return
        if get_ipython() is None:
            return
        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        close(fig)

    def figure(self):
        """The current loss curves (:func:`cryolatent.pl.loss`)."""
        return loss(self.rows, title=self.title)
