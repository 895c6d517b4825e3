"""Shared fixtures: a tiny simulated dataset, built once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """300 noisy particles of the built-in molecule at box 32 (a few seconds)."""
    from cryolatent.datasets.simulate import simulate_dataset

    out = tmp_path_factory.mktemp("tiny") / "data"
    return simulate_dataset(out, n_particles=300, box=32, apix=6.0, snr=0.5, seed=3, progress=False)
