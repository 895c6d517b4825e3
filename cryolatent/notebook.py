"""The numbered notebooks' settings: which project they open, and how big a job they run.

Every notebook opens the same :class:`~cryolatent.project.Project`. Environment
variables choose it without editing the notebooks:

``CRYOLATENT_PROJECT``
    The project folder (default ``$CRYOLATENT_NB_WORKDIR/project``, and
    ``CRYOLATENT_NB_WORKDIR`` defaults to ``notebooks/work``).
``CRYOLATENT_NB_DATASET``
    What to make there when there is no project yet: ``default`` or ``tiny`` (the
    embedded default, simulated), ``relion`` or ``cryosparc`` (simulated particles
    laid out as a RELION / cryoSPARC job, see :mod:`cryolatent.datasets.jobtrees`).
    Your own data needs none of these: make the project once (notebook 00 or
    ``cryolatent init``) and the notebooks open it.
``CRYOLATENT_NB_EPOCHS``
    Training epochs (default 20).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cryolatent.datasets.jobtrees import cryosparc_job, relion_job
from cryolatent.datasets.simulate import ground_truth_volumes
from cryolatent.errors import InputError
from cryolatent.project import PROJECT_FILE, Project
from cryolatent.reconstruct.backproject import Reconstruction
from cryolatent.reconstruct.fsc import FSCResult, fsc
from cryolatent.training.run import Run

DATASETS = ("default", "tiny", "relion", "cryosparc")
# the training box each made project gets: the tiny and job-tree projects are CI's, kept small
TRAIN_BOX = {"default": 64, "tiny": 32, "relion": 32, "cryosparc": 32}


@dataclass
class NotebookSettings:
    """Where the notebooks' project is, what to make there if it is missing, and how long to train."""

    project_dir: Path
    dataset: str
    epochs: int

    @property
    def preset(self) -> str:
        """Network preset: ``small`` (3 x 256, as the benchmark), ``tiny`` (2 x 128) for CI's small datasets."""
        return "small" if self.dataset == "default" else "tiny"


def settings() -> NotebookSettings:
    """Read the notebook settings from the environment."""
    workdir = Path(os.environ.get("CRYOLATENT_NB_WORKDIR", Path(__file__).resolve().parents[1] / "notebooks" / "work"))
    dataset = os.environ.get("CRYOLATENT_NB_DATASET", "default")
    if dataset not in DATASETS:
        raise InputError(f"CRYOLATENT_NB_DATASET={dataset!r}: choose one of {', '.join(DATASETS)}")
    return NotebookSettings(
        project_dir=Path(os.environ.get("CRYOLATENT_PROJECT", workdir / "project")),
        dataset=dataset,
        epochs=int(os.environ.get("CRYOLATENT_NB_EPOCHS", "20")),
    )


def project(nb: NotebookSettings | None = None, progress: bool = True) -> Project:
    """The notebooks' project: opened if it is there, else made from ``nb.dataset``."""
    nb = nb or settings()
    root = nb.project_dir
    if (root / PROJECT_FILE).is_file():
        return Project.open(root)
    box = TRAIN_BOX[nb.dataset]
    if nb.dataset in ("default", "tiny"):
        return Project.demo(root, nb.dataset, box=box, force=True, progress=progress)
    jobs = root.parent / f"{nb.dataset}_job"
    if nb.dataset == "relion":
        star = relion_job(jobs, force=True, progress=progress)
        return Project.create(root, star, datadir=jobs, box=box, force=True)
    cs = cryosparc_job(jobs, force=True, progress=progress)
    return Project.create(root, cs, datadir=jobs, box=box, force=True)


def ensure_run(proj: Project, name: str = "first", nb: NotebookSettings | None = None) -> Run:
    """The project's run ``name``, trained first (as notebook 02 does) if it is not there."""
    nb = nb or settings()
    if name in proj.record["runs"] and (proj.path(proj.record["runs"][name]["path"]) / "z.npy").is_file():
        return proj.run(name)
    return proj.train(name, preset=nb.preset, zdim=8, epochs=nb.epochs, force=True, progress=False)


def truth_maps(proj: Project) -> dict[str, np.ndarray]:
    """``{"mean truth": map}`` for a project on simulated particles with their ground-truth maps
    (``gt_volumes/`` beside the particle file), at the source box; ``{}`` for real data."""
    volumes = ground_truth_volumes(Path(proj.record["source"]["particles"]).parent)
    return {} if volumes is None else {"mean truth": volumes.mean(axis=0)}


def truth_fsc(proj: Project, rec: Reconstruction) -> dict[str, FSCResult]:
    """``{"map vs mean truth": FSC}`` of a consensus map against the mean ground truth of a
    simulated project (same box only); ``{}`` for real data."""
    truth = truth_maps(proj).get("mean truth")
    if truth is None or truth.shape != rec.volume.shape:
        return {}
    return {"map vs mean truth": fsc(rec.volume, truth, apix=rec.apix)}
