"""Figures of training: the loss curves (one function for reports, notebooks and :class:`LiveLossPlot`,
the training callback that redraws them in a notebook after every epoch)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from cryolatent.pl._mpl import pyplot


def _rows(log: Any) -> list[dict]:
    """Per-epoch rows from a ``train_log.csv`` path, a run (``.history``), a DataFrame or a list of dicts."""
    if isinstance(log, (str, os.PathLike)):
        import pandas as pd

        return pd.read_csv(log).to_dict("records")
    if hasattr(log, "history"):
        return list(log.history)
    if hasattr(log, "to_dict"):
        return log.to_dict("records")
    return [dict(r) for r in log]


def loss(log: Any, axes: Sequence | None = None, *, label: str = "", title: str | None = "training"):
    """Loss curves per epoch: total and reconstruction loss (left), KL divergence (right).

    Parameters
    ----------
    log
        ``train_log.csv`` path, a :class:`~cryolatent.training.run.Run` (or anything with
        ``.history``), a DataFrame or a list of per-epoch dicts (``epoch``, ``loss``,
        ``recon``, ``kl``; ``particles_per_s`` shows in the title when present).
    axes
        Two axes of an earlier call (``fig.axes``) to draw another run over it.
    label
        Prefix of the legend entries (e.g. the run's name) when comparing runs.
    title
        Figure title (None: leave it).

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _rows(log)
    if axes is None:
        fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.2))
    a1, a2 = axes[0], axes[1]
    fig = a1.figure
    prefix = f"{label} " if label else ""
    epochs = [r["epoch"] for r in rows]
    line = a1.plot(epochs, [r["loss"] for r in rows], "o-", ms=3, label=f"{prefix}total")[0]
    if rows and "recon" in rows[0]:
        a1.plot(epochs, [r["recon"] for r in rows], "s--", ms=3, color=line.get_color(),
                label=f"{prefix}reconstruction")
    if rows and "kl" in rows[0]:
        a2.plot(epochs, [r["kl"] for r in rows], "o-", ms=3, color=line.get_color(), label=f"{prefix}KL")
    a1.set(xlabel="epoch", ylabel="loss")
    a2.set(xlabel="epoch", ylabel="KL divergence")
    for ax in (a1, a2):
        ax.legend(fontsize=8)
    if title is not None:
        if rows and "particles_per_s" in rows[-1]:
            title = f"{title}: epoch {rows[-1]['epoch']}, {rows[-1]['particles_per_s']:.0f} particles/s"
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


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
        pyplot().close(fig)

    def figure(self):
        """The current loss curves (:func:`cryolatent.pl.loss`)."""
        return loss(self.rows, title=self.title)
