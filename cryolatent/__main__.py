"""``python -m cryolatent ...``: the ``cryolatent`` command (as the panel starts background runs)."""

import sys

from cryolatent.cli import main

if __name__ == "__main__":
    sys.exit(main())
