"""A live loss plot for notebooks: pass ``LiveLossPlot()`` as a training callback."""

from __future__ import annotations


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
        import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

        plt.close(fig)

    def figure(self):
        """The current loss curves as a matplotlib figure."""
        import matplotlib.pyplot as plt  # matplotlib only when a figure is drawn

        epochs = [r["epoch"] for r in self.rows]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
        a1.plot(epochs, [r["loss"] for r in self.rows], "o-", label="total")
        a1.plot(epochs, [r["recon"] for r in self.rows], "s--", label="reconstruction")
        a1.set_xlabel("epoch")
        a1.set_ylabel("loss")
        a1.legend(fontsize=8)
        a2.plot(epochs, [r["kl"] for r in self.rows], "o-", color="tab:red")
        a2.set_xlabel("epoch")
        a2.set_ylabel("KL")
        last = self.rows[-1]
        fig.suptitle(f"{self.title}: epoch {last['epoch']}, {last['particles_per_s']:.0f} particles/s", fontsize=10)
        fig.tight_layout()
        return fig
