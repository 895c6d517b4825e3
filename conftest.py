"""Root pytest configuration.

Notebooks under nbval run the small/fast setting: kernels started by nbval
inherit this environment, so the numbered notebooks use the ``tiny`` simulated
dataset, few epochs and a temporary working folder.  Every notebook cell is
marked ``notebook`` so that the fast default tier (``make test``) leaves them to
``make test-all``.
"""

import os
import tempfile

import pytest

os.environ.setdefault("CRYOLATENT_NB_DATASET", "tiny")
os.environ.setdefault("CRYOLATENT_NB_EPOCHS", "3")
os.environ.setdefault("CRYOLATENT_NB_WORKDIR", tempfile.mkdtemp(prefix="cryolatent-nb-"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebook)
