"""Figures of latent spaces."""

from __future__ import annotations

import numpy as np

from cryolatent.pl._mpl import pyplot


def embedding(xy: np.ndarray, labels: np.ndarray | None = None, centers: np.ndarray | None = None,
              *, title: str = "", axis_names=("1", "2")):
    """Scatter plot of a 2-D embedding coloured by cluster, centre particles numbered; returns the figure."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    size = 4 if len(xy) < 20000 else 1
    colour = None if labels is None else np.asarray(labels) % 20
    colours = {} if colour is None else {"c": colour, "cmap": "tab20", "vmin": -0.5, "vmax": 19.5}
    ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=0.6, linewidths=0, rasterized=True, **colours)
    if centers is not None:
        for i, c in enumerate(centers):
            ax.annotate(str(i), xy[c, :2], fontsize=8, weight="bold", ha="center", va="center")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    return fig
