"""``python -m bayesdose.cli``: the ``bayesdose`` command, as ``python -m bayesdose``."""

import sys

from bayesdose.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
