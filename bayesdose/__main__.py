"""``python -m bayesdose``: the ``bayesdose`` command.

Examples
--------
>>> import subprocess, sys
>>> done = subprocess.run([sys.executable, "-m", "bayesdose", "--help"],
...                       capture_output=True, text=True)  # doctest: +SKIP
>>> done.returncode  # doctest: +SKIP
0
"""

import sys

from bayesdose.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
