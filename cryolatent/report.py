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

from cryolatent import pl, tl
from cryolatent.errors import InputError
from cryolatent.latent import LatentSet
from cryolatent.outputs import atomic_folder, check_folder
from cryolatent.pl._mpl import savefig
from cryolatent.volumes import Decoder, at_centers, run_decoder


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
    run_dir: str | os.PathLike,
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
    apix: float | None = None,
) -> Path:
    """Write the analysis report of a training run.

    Parameters
    ----------
    run_dir
        Training run folder (read only).
    report_dir
        Output folder (default ``RUN_DIR/analyze``); refused if it exists and
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
    apix
        Pixel size of the training particles (default: the run's files'); unknown:
        the volumes' headers have voxel size 0 and the README says so.

    Returns
    -------
    Path
        The report folder.
    """
    run_dir = Path(run_dir)
    report = Path(report_dir) if report_dir is not None else run_dir / "analyze"
    if k < 1:
        raise InputError(f"--k must be at least 1, got {k}")
    if n_fit < 1:
        raise InputError(f"--n-fit must be at least 1, got {n_fit}")
    check_folder(report, empty=True, force=force)  # before reading anything; nothing is made yet
    if decode is None:  # first: the run's configuration, model, --downsample and --device are checked here
        decode = run_decoder(run_dir, downsample=downsample, device=device, particle_apix=apix)
    elif not isinstance(decode, Decoder):
        decode = Decoder(decode, cache_size=0)
    ls = LatentSet.from_run(run_dir)
    with atomic_folder(report, force) as out:  # the report appears whole, or not at all
        _write_report(out, run_dir, ls, decode, k=min(k, ls.n_obs), umap=umap, n_fit=n_fit, seed=seed)
    return report


def _write_report(report: Path, run_dir: Path, ls: LatentSet, decode: Decoder, *, k: int, umap: bool,
                  n_fit: int, seed: int) -> None:
    """Write the report's files into the (new, empty) folder ``report``."""
    desc: dict[str, str] = {}
    tl.pca(ls)
    tl.kmeans(ls, k=k, seed=seed)
    labels = ls.obs["kmeans"].to_numpy(dtype=np.int64)
    cidx = np.asarray(ls.uns["kmeans"]["center_indices"], dtype=np.int64)
    evr = ls.uns["pca"]["explained_variance_ratio"]
    fig = pl.embedding(ls.emb["pca"], labels, cidx, title=f"latent PCA, k-means (k={k})",
                         axis_names=(f"PC1 ({evr[0]:.0%})", f"PC2 ({evr[1]:.0%})"))
    savefig(fig, report / "z_pca.png", force=True)
    desc["z_pca.png"] = "latent means on PC1/PC2, coloured by k-means cluster; numbers mark centre particles"
    if umap and ls.z.shape[1] > 1:
        tl.umap(ls, n_fit=n_fit, seed=seed)
        fig = pl.embedding(ls.emb["umap"], labels, cidx, title=f"latent UMAP, k-means (k={k})",
                             axis_names=("UMAP1", "UMAP2"))
        savefig(fig, report / "z_umap.png", force=True)
        desc["z_umap.png"] = "UMAP of the latent means, coloured by k-means cluster"
    if (run_dir / "train_log.csv").is_file():
        savefig(pl.loss(run_dir / "train_log.csv"), report / "loss.png", force=True)
        desc["loss.png"] = "training loss, reconstruction error and KL per epoch"

    series = at_centers(ls, decode)
    folder = report / f"kmeans{k}"
    series.to_mrc(folder, force=True)
    np.savetxt(folder / "centers_ind.txt", cidx, fmt="%d")
    np.savetxt(folder / "labels.txt", labels, fmt="%d")
    for i in range(len(series)):
        # the snapshot has no axes: in voxels when the pixel size is unknown
        fig = pl.volume(series[i], series.apix or 1.0, title=f"k-means centre {i} (particle {cidx[i]})")
        savefig(fig, folder / f"vol_{i:03d}.png", force=True)
        desc[f"{folder.name}/vol_{i:03d}.mrc"] = f"volume of k-means centre {i} (particle {cidx[i]})"
        desc[f"{folder.name}/vol_{i:03d}.png"] = f"centre {i}: isosurface and max-projections along z, y, x"
    voxel = (f"{series.apix:.3f} A voxels" if series.apix
             else "voxel size unknown (0 in the headers): no pixel size in the run's files")
    desc[folder.name] = f"the volumes of the {k} k-means centre particles ({voxel})"
    desc[f"{folder.name}/z_values.txt"] = "latent point of each volume, one row each"
    desc[f"{folder.name}/centers_ind.txt"] = "particle (row of z.npy) of each centre"
    desc[f"{folder.name}/labels.txt"] = "k-means cluster of every particle"
    ls.save(report / "latent", force=True)
    desc["latent"] = "the LatentSet: LatentSet.load(path) in Python (obs.csv is a plain table)"
    _listing(report, desc)
