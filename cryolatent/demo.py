"""The embedded default end to end: simulate, reconstruct, train, analyse, compare with the truth."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from cryolatent import pl
from cryolatent.datasets.manifest import make_simulated
from cryolatent.datasets.simulate import ground_truth_volumes
from cryolatent.errors import InputError
from cryolatent.reconstruct.fsc import fsc
from cryolatent.consensus import consensus_map
from cryolatent.report import analyze
from cryolatent.tl.metrics import per_conformation_fsc
from cryolatent.training.config import TrainConfig
from cryolatent.training.evaluate import eval_volumes
from cryolatent.training.loop import train


def run_demo(
    outdir: str | os.PathLike = "demo_output",
    dataset: str = "default",
    epochs: int = 5,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Process a built-in dataset of ``data_manifest.yaml`` end to end.

    Writes ``outdir/data/`` (the simulated dataset), ``outdir/consensus.mrc`` with
    half-maps and FSC, ``outdir/consensus_vs_truth.png``, the heterogeneous run
    ``outdir/run/`` (``epochs`` epochs, zdim 8, the ``small`` preset's 3 x 256 networks) and its report
    ``outdir/analysis/``. Returns a summary dict.
    """
    outdir = Path(outdir)
    old = None
    if outdir.exists():
        if not force:
            raise InputError("output folder exists; pass --force to replace it", outdir)
        # kept until the new one is whole; the new one is built in place, not by outputs.atomic_folder,
        # because the run records absolute paths of its data
        old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
        os.replace(outdir, old)
    try:
        summary = _run(outdir, dataset, epochs, progress)
    except BaseException:
        shutil.rmtree(outdir, ignore_errors=True)
        if old is not None:
            os.replace(old, outdir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return summary


def _run(outdir: Path, dataset: str, epochs: int, progress: bool) -> dict:
    data = make_simulated(dataset, outdir / "data", progress=progress)
    rec = consensus_map(data / "particles.mrcs", outdir / "consensus.mrc", poses=data / "poses.pkl",
                        ctf=data / "ctf.pkl", progress=progress)
    # the consensus of a heterogeneous set, against the mean ground-truth map
    volumes = ground_truth_volumes(data)
    vs_truth = fsc(rec.volume, volumes.mean(0), apix=rec.apix)
    pl.savefig(pl.fsc({"half-maps": rec.fsc, "map vs mean truth": vs_truth}, title="embedded default: consensus map"),
               outdir / "consensus_vs_truth.png")
    config = TrainConfig.for_dataset(data, "small", epochs=epochs)
    run = train(config, outdir / "run", progress=progress)
    analyze(outdir / "run", outdir / "analysis", k=8)
    gt = np.load(data / "ground_truth.npz")
    scores = per_conformation_fsc(run.z(), gt["label"], volumes, lambda z: eval_volumes(run.outdir, z), apix=rec.apix)
    return {
        "outdir": outdir,
        "n_particles": rec.n_particles,
        "half_map_resolution_0143": rec.fsc.resolution_0143,
        "truth_resolution_05": vs_truth.resolution_05,
        "epochs": epochs,
        "per_conformation_auc": float(np.mean([s.auc for s in scores])),
        "per_conformation_res05": float(np.mean([s.resolution_05 for s in scores])),
    }
