"""Figures of particle data: images, viewing directions, CTF."""

from __future__ import annotations

import numpy as np

from cryolatent.forward.ctf import ctf_from_params
from cryolatent.forward.lattice import frequency_grid
from cryolatent.pl._mpl import pyplot


def particle_gallery(stack, n: int = 16, seed: int = 0, invert: bool = False):
    """A grid of ``n`` randomly chosen particle images from a stack."""
    plt = pyplot()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(stack), size=min(n, len(stack)), replace=False))
    imgs = stack.images(idx) * (-1 if invert else 1)
    cols = int(np.ceil(np.sqrt(len(idx))))
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i, img in zip(axes.ravel(), idx, imgs):
        ax.imshow(img, cmap="gray")
        ax.set_title(f"#{i}", fontsize=7)
    fig.tight_layout()
    return fig


def viewing_directions(rots: np.ndarray):
    """Hexbin map of the projection directions (azimuth, elevation) of a set of poses.

    The projection direction of pose ``R`` in the volume's frame is ``R.T @ e_z`` (the
    third row of ``R``).
    """
    plt = pyplot()
    d = np.asarray(rots)[:, 2, :]
    az = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    el = np.degrees(np.arcsin(np.clip(d[:, 2], -1, 1)))
    fig, ax = plt.subplots(figsize=(6, 3))
    hb = ax.hexbin(az, el, gridsize=36, cmap="viridis", mincnt=1)
    fig.colorbar(hb, ax=ax, label="particles")
    ax.set_xlabel("azimuth (deg)")
    ax.set_ylabel("elevation (deg)")
    ax.set_title("viewing directions")
    fig.tight_layout()
    return fig


def ctf_summary(ctf: np.ndarray, index: int = 0):
    """Defocus histogram and the 2-D CTF of one particle (cryoDRGN CTF rows)."""
    plt = pyplot()
    ctf = np.asarray(ctf)
    D = int(ctf[index, 0])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7, 3))
    a1.hist((ctf[:, 2] + ctf[:, 3]) / 2e4, bins=40, color="tab:blue")
    a1.set_xlabel("mean defocus (um)")
    a1.set_ylabel("particles")
    c = ctf_from_params(frequency_grid(D).reshape(-1, 2), ctf[index : index + 1]).reshape(D, D)
    a2.imshow(c, cmap="RdBu_r", vmin=-1, vmax=1)
    a2.set_title(f"CTF of particle {index}", fontsize=9)
    a2.axis("off")
    fig.tight_layout()
    return fig
