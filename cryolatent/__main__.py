"""``python -m cryolatent ...``: the ``cryolatent`` command (as the panel starts background runs)."""

import sys

from cryolatent.cli import main

sys.exit(main())
