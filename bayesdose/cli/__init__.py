"""The ``bayesdose`` command (:mod:`~bayesdose.cli.commands`) and the result folders its
commands write: a fit's (:mod:`~bayesdose.cli.fit_folder`), a comparison's
(:mod:`~bayesdose.cli.compare_folder`) and a design simulation's
(:mod:`~bayesdose.cli.simulate_folder`).
"""

from __future__ import annotations

from bayesdose.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
