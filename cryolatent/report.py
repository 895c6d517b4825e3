"""A report folder a scientist can open without Jupyter (``cryolatent analyze``).

It holds PNG plots (latent PCA and UMAP coloured by k-means cluster, the loss
curve), the k-means centre volumes as ``.mrc`` with snapshot PNGs, the saved
LatentSet, and ``README.txt`` / ``index.html`` listing what is there.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Callable

import numpy as np

from cryolatent.errors import InputError
from cryolatent.outputs import atomic_path


def _figure():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _savefig(fig, path: Path, force: bool) -> Path:
    plt = _figure()
    with atomic_path(path, force) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_embedding(xy: np.ndarray, labels: np.ndarray | None = None, centers: np.ndarray | None = None,
                   *, title: str = "", axis_names=("1", "2")):
    """Scatter plot of a 2-D embedding coloured by cluster, centre particles numbered; returns the figure."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    size = 4 if len(xy) < 20000 else 1
    colour = None if labels is None else np.asarray(labels) % 20
    ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=size, cmap="tab20", vmin=-0.5, vmax=19.5, alpha=0.6,
               linewidths=0, rasterized=True)
    if centers is not None:
        for i, c in enumerate(centers):
            ax.annotate(str(i), xy[c, :2], fontsize=8, weight="bold", ha="center", va="center")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    return fig


def plot_loss(log_csv: str | os.PathLike):
    """Loss curves from ``train_log.csv`` (columns ``epoch``, ``loss``, ``recon``, ``kl``); returns the figure."""
    import pandas as pd

    plt = _figure()
    log = pd.read_csv(log_csv)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for col in ("loss", "recon"):
        if col in log:
            axes[0].plot(log["epoch"], log[col], marker=".", label=col)
    if "kl" in log:
        axes[1].plot(log["epoch"], log["kl"], marker=".", color="C2", label="kl")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.suptitle("training")
    return fig


def plot_volume(vol: np.ndarray, apix: float = 1.0, threshold: float | None = None, *, title: str = ""):
    """Snapshot of a volume: isosurface (3-D ``plot_trisurf``) and three max-projections."""
    from cryolatent.volumes import isosurface

    plt = _figure()
    fig = plt.figure(figsize=(12, 3.2))
    ax3 = fig.add_subplot(1, 4, 1, projection="3d")
    D = vol.shape[0]
    try:
        verts, faces = isosurface(vol, threshold, apix=apix, step=max(1, D // 48))
        ax3.plot_trisurf(verts[:, 0], verts[:, 1], faces, verts[:, 2], color="lightsteelblue",
                         linewidth=0, antialiased=False, shade=True)
        ax3.set_box_aspect((1, 1, 1))
        lim = (0, D * apix)
        ax3.set(xlim=lim, ylim=lim, zlim=lim)
    except (ValueError, RuntimeError):  # a flat volume has no surface
        ax3.text2D(0.5, 0.5, "no surface", ha="center", transform=ax3.transAxes)
    ax3.set_axis_off()
    for j, (axis, name) in enumerate([(0, "along z"), (1, "along y"), (2, "along x")]):
        ax = fig.add_subplot(1, 4, j + 2)
        ax.imshow(vol.max(axis=axis), cmap="gray", origin="lower")
        ax.set_title(f"max {name}", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title)
    return fig


def _listing(report: Path, descriptions: dict[str, str]) -> None:
    """Write ``README.txt`` and ``index.html``: every file, described once per file or folder."""
    rel = sorted(p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file()
                 and p.name not in ("README.txt", "index.html"))
    lines = ["cryolatent analysis report", "", "Files:"]
    seen: set[str] = set()
    for r in rel:
        top = r.split("/")[0]
        if "/" in r and top not in seen:
            seen.add(top)
            lines.append(f"  {top}/" + (f"  -  {descriptions[top]}" if top in descriptions else ""))
        desc = descriptions.get(r, "")
        indent = "      " if "/" in r else "  "
        lines.append(f"{indent}{r}" + (f"  -  {desc}" if desc else ""))
    (report / "README.txt").write_text("\n".join(lines) + "\n")
    body = ["<html><head><meta charset='utf-8'><title>cryolatent report</title></head><body>",
            "<h1>cryolatent analysis report</h1>"]
    for r in rel:
        if r.endswith(".png"):
            body.append(f"<h3>{html.escape(r)}</h3><p>{html.escape(descriptions.get(r, ''))}</p>"
                        f"<img src='{html.escape(r)}' style='max-width:100%'>")
    body.append("<h2>All files</h2><ul>")
    body += [f"<li><a href='{html.escape(r)}'>{html.escape(r)}</a>"
             f"{(' - ' + html.escape(descriptions[r])) if r in descriptions else ''}</li>" for r in rel]
    body.append("</ul></body></html>")
    (report / "index.html").write_text("\n".join(body) + "\n")


def analyze(
    outdir: str | os.PathLike,
    report_dir: str | os.PathLike | None = None,
    *,
    k: int = 20,
    force: bool = False,
    decode: Callable[[np.ndarray], np.ndarray] | None = None,
    umap: bool = True,
    n_fit: int = 20000,
    seed: int = 0,
    downsample: int | None = None,
    device=None,
) -> Path:
    """Write the analysis report of a training run.

    Parameters
    ----------
    outdir
        Training output folder.
    report_dir
        Output folder (default ``OUTDIR/analyze``); refused if it exists and
        is not empty, unless ``force``.
    k
        k-means clusters (centre volumes decoded); capped at the particle count.
    decode
        A volume generator ``(M, zdim) -> (M, D, D, D)`` (default: the run's
        decoder, see :func:`cryolatent.volumes.run_decoder`).
    umap, n_fit
        Compute the UMAP (fitted on ``n_fit`` points).
    seed
        Random state of UMAP and k-means.
    downsample, device
        Passed to the run's decoder.

    Returns
    -------
    Path
        The report folder.
    """
    from cryolatent import tl
    from cryolatent.latent import LatentSet
    from cryolatent.volumes import Decoder, at_centers, run_decoder

    outdir = Path(outdir)
    report = Path(report_dir) if report_dir is not None else outdir / "analyze"
    if report.exists() and any(report.iterdir()) and not force:
        raise InputError("report folder exists and is not empty; pass --force to overwrite", report)
    ls = LatentSet.from_run(outdir)
    report.mkdir(parents=True, exist_ok=True)
    desc: dict[str, str] = {}
    k = min(k, ls.n_obs)

    tl.pca(ls)
    tl.kmeans(ls, k=k, seed=seed)
    labels = ls.obs["kmeans"].to_numpy(dtype=np.int64)
    cidx = np.asarray(ls.uns["kmeans"]["center_indices"], dtype=np.int64)
    evr = ls.uns["pca"]["explained_variance_ratio"]
    fig = plot_embedding(ls.emb["pca"], labels, cidx, title=f"latent PCA, k-means (k={k})",
                         axis_names=(f"PC1 ({evr[0]:.0%})", f"PC2 ({evr[1]:.0%})"))
    _savefig(fig, report / "z_pca.png", True)
    desc["z_pca.png"] = "latent means on PC1/PC2, coloured by k-means cluster; numbers mark centre particles"
    if umap and ls.z.shape[1] > 1:
        tl.umap(ls, n_fit=n_fit, seed=seed)
        fig = plot_embedding(ls.emb["umap"], labels, cidx, title=f"latent UMAP, k-means (k={k})",
                             axis_names=("UMAP1", "UMAP2"))
        _savefig(fig, report / "z_umap.png", True)
        desc["z_umap.png"] = "UMAP of the latent means, coloured by k-means cluster"
    if (outdir / "train_log.csv").is_file():
        _savefig(plot_loss(outdir / "train_log.csv"), report / "loss.png", True)
        desc["loss.png"] = "training loss, reconstruction error and KL per epoch"

    if decode is None:
        decode = run_decoder(outdir, downsample=downsample, device=device)
    elif not isinstance(decode, Decoder):
        decode = Decoder(decode, cache_size=0)
    series = at_centers(ls, decode)
    folder = report / f"kmeans{k}"
    series.to_mrc(folder, force=True)
    np.savetxt(folder / "centers_ind.txt", cidx, fmt="%d")
    np.savetxt(folder / "labels.txt", labels, fmt="%d")
    for i in range(len(series)):
        fig = plot_volume(series[i], series.apix, title=f"k-means centre {i} (particle {cidx[i]})")
        _savefig(fig, folder / f"vol_{i:03d}.png", True)
        desc[f"{folder.name}/vol_{i:03d}.mrc"] = f"volume of k-means centre {i} (particle {cidx[i]})"
        desc[f"{folder.name}/vol_{i:03d}.png"] = f"centre {i}: isosurface and max-projections along z, y, x"
    desc[folder.name] = f"the volumes of the {k} k-means centre particles"
    desc[f"{folder.name}/z_values.txt"] = "latent point of each volume, one row each"
    desc[f"{folder.name}/centers_ind.txt"] = "particle (row of z.npy) of each centre"
    desc[f"{folder.name}/labels.txt"] = "k-means cluster of every particle"
    ls.save(report / "latent", force=True)
    desc["latent"] = "the LatentSet: LatentSet.load(path) in Python (obs.csv is a plain table)"
    _listing(report, desc)
    return report
