"""Figures of maps: slices and projections, isosurface snapshots, FSC curves, volume series (plotly)."""

from __future__ import annotations

import numpy as np

from cryolatent.pl._mpl import pyplot
from cryolatent.volumes import VolumeSeries, isosurface


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
