"""cryolatent: heterogeneous cryo-EM reconstruction, Jupyter-first.

The front door, in the manner of scanpy::

    import cryolatent as cl

    project = cl.Project.create("myproj", particles="Refine3D/job012/run_data.star", box=128)
    stack = cl.io.load_dataset("particles.star")          # read what RELION/cryoSPARC/cryoDRGN wrote
    cl.pl.particle_gallery(stack)                         # every figure lives in cl.pl
    run = cl.train(cl.TrainConfig.for_dataset("data/"), "runs/001")    # the VAE
    ls = cl.LatentSet.from_run(run.outdir)
    cl.tl.pca(ls); cl.tl.umap(ls); cl.tl.kmeans(ls, k=20)  # analysis tools write into ls
    keep = ~cl.Selection.from_clusters(ls, [3], key="kmeans")

Namespaces: ``io`` (readers and writers), ``tl`` (analysis on a LatentSet),
``pl`` (figures), ``volumes`` (decoding volumes at latent points),
``datasets`` (manifest, downloads, simulation), ``reconstruct`` (consensus map,
FSC), ``forward`` (the forward model), ``nn``/``training`` (the VAE), ``widgets``
(the explorer panel; loaded on first use) and ``notebook`` (the numbered
notebooks' settings).  The CLI (``cryolatent --help``) calls the same functions.
"""

from cryolatent._version import __version__

import importlib

from cryolatent import datasets, forward, io, nn, notebook, pl, reconstruct, tl, training, volumes
from cryolatent.errors import CryolatentError, InputError
from cryolatent.latent import LatentSet
from cryolatent.project import Project
from cryolatent.reconstruct import FSCResult
from cryolatent.consensus import consensus_map
from cryolatent.reconstruct.fsc import fsc
from cryolatent.selection import Selection
from cryolatent.training import Run, TrainConfig, embed, eval_volumes, train

__all__ = [
    "CryolatentError", "FSCResult", "InputError", "LatentSet", "Project", "Run", "Selection", "TrainConfig",
    "consensus_map", "datasets", "embed", "eval_volumes", "forward", "fsc", "io", "nn", "notebook", "pl",
    "reconstruct", "tl", "train", "training", "volumes", "widgets",
]


def __getattr__(name: str):
    if name == "widgets":  # ipywidgets/anywidget/plotly: only when a panel is wanted
        return importlib.import_module("cryolatent.widgets")
    raise AttributeError(f"module 'cryolatent' has no attribute {name!r}")
