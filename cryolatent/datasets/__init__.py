"""Datasets: the manifest (``data_manifest.yaml``), downloads and simulations.

- :mod:`.manifest` named datasets, checksum-verified downloads, EMPIAR, and
  :func:`make_simulated` for the simulated entries;
- :mod:`.molecules` the built-in blob molecules (``hinge``, the default, and ``two-domain``);
- :mod:`.simulate` particle simulation with ground truth.
"""

from cryolatent.datasets.manifest import fetch, list_datasets, load_manifest, make_simulated
from cryolatent.datasets.simulate import SimulationConfig, simulate_dataset

__all__ = ["fetch", "list_datasets", "load_manifest", "make_simulated", "SimulationConfig", "simulate_dataset"]
