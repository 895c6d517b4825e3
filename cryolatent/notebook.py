"""Settings shared by the numbered notebooks (dataset size, working folder).

Environment variables select a small/fast configuration for CI:
``CRYOLATENT_NB_DATASET`` (a simulated entry of ``data_manifest.yaml``; default
``default``, CI uses ``tiny``), ``CRYOLATENT_NB_WORKDIR`` (default
``notebooks/work``) and ``CRYOLATENT_NB_EPOCHS`` (training epochs, default 20).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryolatent.datasets.manifest import make_simulated
from cryolatent.training.config import TrainConfig
from cryolatent.training.loop import train
from cryolatent.training.run import Run


@dataclass
class NotebookSettings:
    """Where the notebooks keep their files, and how big their job is."""

    dataset: str
    workdir: Path
    epochs: int

    @property
    def data(self) -> Path:
        """Folder of the simulated dataset."""
        return self.workdir / "data"

    @property
    def run(self) -> Path:
        """Folder of the training run."""
        return self.workdir / "run"


def settings() -> NotebookSettings:
    """Read the notebook settings from the environment."""
    default_workdir = Path(__file__).resolve().parents[1] / "notebooks" / "work"
    return NotebookSettings(
        dataset=os.environ.get("CRYOLATENT_NB_DATASET", "default"),
        workdir=Path(os.environ.get("CRYOLATENT_NB_WORKDIR", default_workdir)),
        epochs=int(os.environ.get("CRYOLATENT_NB_EPOCHS", "20")),
    )


def ensure_dataset(nb: NotebookSettings | None = None, force: bool = False) -> Path:
    """Simulate the notebooks' dataset unless it is already there; return its folder."""
    nb = nb or settings()
    if (nb.data / "particles.mrcs").exists() and not force:
        return nb.data
    return make_simulated(nb.dataset, nb.data, force=True)


def preset(nb: NotebookSettings | None = None) -> str:
    """The network preset of the notebooks' dataset: ``tiny`` (2 x 128, so CI stays fast) for
    the ``tiny`` dataset, else ``small`` (3 x 256, as the benchmark)."""
    nb = nb or settings()
    return "tiny" if nb.dataset == "tiny" else "small"


def train_config(nb: NotebookSettings | None = None, zdim: int = 8,
                 ind: str | os.PathLike | None = None) -> TrainConfig:
    """A :class:`~cryolatent.training.config.TrainConfig` for the notebooks' dataset.

    :func:`preset` networks, ``nb.epochs`` epochs; ``ind`` selects particles. The
    same from a terminal: ``cryolatent train DATA/particles.mrcs --poses DATA/poses.pkl
    --ctf DATA/ctf.pkl --preset small --zdim 8 --epochs 20 -o RUN``.
    """
    nb = nb or settings()
    return TrainConfig.for_dataset(nb.data, preset(nb), zdim=zdim, epochs=nb.epochs, ind=ind)


def ensure_run(nb: NotebookSettings | None = None) -> Run:
    """Train the notebooks' run unless it is there (for opening a later notebook on its own)."""
    nb = nb or settings()
    if (nb.run / "z.npy").exists():
        return Run.open(nb.run)
    ensure_dataset(nb)
    return train(train_config(nb), nb.run, force=True, progress=False)
