"""Figures of maps: slices and projections, isosurface snapshots, FSC curves, volume series (plotly),
and :func:`slices_png`, small central-slice images for the explorer panel (PIL, no matplotlib)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from cryolatent.pl._mpl import pyplot
from cryolatent.volumes import VolumeSeries, central_slices, isosurface


def map_views(vol: np.ndarray, title: str | None = None, others: dict | None = None):
    """Central slices and projections along z, y and x of one or more maps (rows)."""
    plt = pyplot()
    maps = {title or "map": np.asarray(vol)}
    maps.update(others or {})
    fig, axes = plt.subplots(len(maps), 6, figsize=(10, 1.8 * len(maps)), squeeze=False)
    for row, (name, v) in zip(axes, maps.items()):
        c = v.shape[0] // 2
        views = [v[c], v[:, c], v[:, :, c], v.sum(0), v.sum(1), v.sum(2)]
        labels = ["slice z", "slice y", "slice x", "proj z", "proj y", "proj x"]
        for ax, img, lab in zip(row, views, labels):
            ax.imshow(img, cmap="gray", origin="lower")
            ax.set_title(f"{name}: {lab}" if lab == "slice z" else lab, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def volume(vol: np.ndarray, apix: float | None = None, threshold: float | None = None, *, title: str = ""):
    """Snapshot of a volume: isosurface (3-D ``plot_trisurf``) and three max-projections."""
    plt = pyplot()
    fig = plt.figure(figsize=(12, 3.2))
    ax3 = fig.add_subplot(1, 4, 1, projection="3d")
    D = vol.shape[0]
    verts, faces = isosurface(vol, threshold, apix=apix, step=max(1, D // 48))
    if len(faces):
        ax3.plot_trisurf(verts[:, 0], verts[:, 1], faces, verts[:, 2], color="lightsteelblue",
                         linewidth=0, antialiased=False, shade=True)
        ax3.set_box_aspect((1, 1, 1))
        lim = (0, D * (apix or 1.0))  # voxels when the pixel size is unknown (the axes are hidden)
        ax3.set(xlim=lim, ylim=lim, zlim=lim)
    else:  # a flat volume, or a threshold outside its range, has no surface
        ax3.text2D(0.5, 0.5, "no surface", ha="center", transform=ax3.transAxes)
    ax3.set_axis_off()
    for j, (axis, name) in enumerate([(0, "along z"), (1, "along y"), (2, "along x")]):
        ax = fig.add_subplot(1, 4, j + 2)
        ax.imshow(vol.max(axis=axis), cmap="gray", origin="lower")
        ax.set_title(f"max {name}", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title)
    return fig


def fsc(results: dict, title: str | None = None):
    """FSC curves (``{label: FSCResult}``) against spatial frequency, with the 0.5 and 0.143 lines.

    The axis is in 1/A (1/px for curves without a pixel size) with the resolution at 0.143 in each
    label; returns the figure.
    """
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    units = {res.unit for res in results.values()}
    for label, res in results.items():
        ax.plot(res.frequency, res.fsc, label=f"{label} (0.143: {res.format(res.resolution_0143, 1)})")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.axhline(0.143, color="grey", lw=0.8, ls=":")
    unit = units.pop() if len(units) == 1 else "A or px"
    ax.set_xlabel(f"spatial frequency (1/{unit})" + ("" if unit == "A" else ": the pixel size is unknown"))
    ax.set_ylabel("FSC")
    ax.set_ylim(-0.1, 1.05)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def volume_series(series: VolumeSeries, threshold: float | None = None, *, step: int = 2):
    """An interactive plotly figure of a :class:`~cryolatent.volumes.VolumeSeries`: one isosurface
    per volume and a slider to move between them (e.g. along a trajectory)."""
    import plotly.graph_objects as go  # plotly only when a figure is wanted

    meshes = []
    for i in range(len(series)):
        v, f = series.isosurface(i, threshold, step=step)
        meshes.append(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                                color="lightsteelblue", flatshading=False))
    frames = [go.Frame(data=[m], name=str(i)) for i, m in enumerate(meshes)]
    steps = [{"args": [[str(i)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": str(i), "method": "animate"} for i in range(len(meshes))]
    fig = go.Figure(data=[meshes[0]], frames=frames)
    fig.update_layout(title=series.name, sliders=[{"steps": steps, "currentvalue": {"prefix": "volume "}}],
                      scene={"aspectmode": "data"}, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig


def _tile(plane: np.ndarray, size: int) -> np.ndarray:
    """``plane[row, col]`` flipped so its first axis goes up (as ``origin="lower"``), resized to about
    ``size`` px by whole-pixel repetition (nearest neighbour) or striding."""
    plane = plane[::-1]
    n = max(plane.shape)
    if n > 1.5 * size:
        step = round(n / size)
        return plane[::step, ::step]
    k = max(1, round(size / n))
    return plane.repeat(k, 0).repeat(k, 1)


def _grey(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    g = np.clip((x - lo) * (255.0 / (hi - lo) if hi > lo else 0.0), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def _red_blue(x: np.ndarray, half: float) -> np.ndarray:
    """Diverging map symmetric about 0: white at 0, red up to ``+half``, blue down to ``-half``."""
    v = np.clip(x / half if half > 0 else 0.0 * x, -1.0, 1.0)
    fade = (255 * (1 - np.abs(v))).astype(np.uint8)
    rgb = np.full(v.shape + (3,), 255, np.uint8)
    rgb[..., 1] = fade
    rgb[..., 0] = np.where(v > 0, 255, fade)
    rgb[..., 2] = np.where(v < 0, 255, fade)
    return rgb


def slices_rgb(vols: Sequence[np.ndarray], *, size: int = 128, diverging: Sequence[bool] | None = None,
               gap: int = 3) -> np.ndarray:
    """The central z, y and x slices of each volume, one row per volume, as an RGB image.

    Parameters
    ----------
    vols
        ``(D, D, D)`` volumes ``[z, y, x]``; each slice is drawn with its first axis up.
    size
        About this many pixels per slice (nearest-neighbour upscaling by a whole factor).
    diverging
        Per volume: draw it red (> 0) / white / blue (< 0), symmetric about 0 (a difference map),
        instead of grey. Grey rows share one min..max, so the maps they show compare.
    gap
        White pixels between slices and rows.

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` uint8.
    """
    diverging = list(diverging or [False] * len(vols))
    rows = [[_tile(p, size) for p in central_slices(v)] for v in vols]
    grey = [p for r, d in zip(rows, diverging) if not d for p in r]
    lo, hi = (min(float(p.min()) for p in grey), max(float(p.max()) for p in grey)) if grey else (0.0, 0.0)
    h = max(p.shape[0] for r in rows for p in r)
    w = max(sum(p.shape[1] for p in r) for r in rows) + gap * 2
    out = np.full((len(rows) * (h + gap) - gap, w, 3), 255, np.uint8)
    for i, (row, div) in enumerate(zip(rows, diverging)):
        half = max(float(np.abs(p).max()) for p in row)
        x = 0
        for p in row:
            out[i * (h + gap): i * (h + gap) + p.shape[0], x: x + p.shape[1]] = _red_blue(p, half) if div else _grey(p, lo, hi)
            x += p.shape[1] + gap
    return out


def slices_png(vols: Sequence[np.ndarray], **kwargs) -> bytes:
    """:func:`slices_rgb` as PNG bytes (fast compression: for an interactive view)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(slices_rgb(vols, **kwargs)).save(buf, format="png", compress_level=1)
    return buf.getvalue()
