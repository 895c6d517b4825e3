"""Root pytest configuration: notebooks under nbval run the small/fast setting.

Kernels started by nbval inherit this environment, so the numbered notebooks
use the ``tiny`` simulated dataset, few epochs and a temporary working folder.
"""

import os
import tempfile

os.environ.setdefault("CRYOLATENT_NB_DATASET", "tiny")
os.environ.setdefault("CRYOLATENT_NB_EPOCHS", "3")
os.environ.setdefault("CRYOLATENT_NB_WORKDIR", tempfile.mkdtemp(prefix="cryolatent-nb-"))
os.environ.setdefault("MPLBACKEND", "Agg")
