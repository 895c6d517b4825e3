"""The numbered notebooks run unchanged on real-looking job trees: a RELION refinement and a cryoSPARC export
(simulated particles at box 96, laid out as those programs write them), selected by one setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["relion", "cryosparc"])
def test_notebooks_run_on_a_job_tree(dataset, tmp_path):
    env = {**os.environ, "CRYOLATENT_NB_DATASET": dataset, "CRYOLATENT_NB_EPOCHS": "2",
           "CRYOLATENT_NB_WORKDIR": str(tmp_path), "MPLBACKEND": "Agg"}
    env.pop("CRYOLATENT_PROJECT", None)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "notebook",
                          "--nbval-lax", "notebooks"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout.splitlines()[-1]
    project = (tmp_path / "project" / "project.yaml").read_text()
    assert f"{dataset}_job" in project and "train_box: 32" in project and "box: 96" in project
    assert "kept:" in project and "selection: keep" in project
