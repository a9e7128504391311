"""Every docstring example in the package runs and shows what it says, public or not
(tests/test_docs.py checks that every public object has examples)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import matplotlib.pyplot as plt
import pytest

import bayesdose

matplotlib.use("Agg")

MODULES = sorted(info.name for info in pkgutil.walk_packages(bayesdose.__path__, "bayesdose.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    try:
        for test in finder.find(module, name, globs=vars(module).copy()):
            runner.run(test, out=output.append)
    finally:
        plt.close("all")
    assert runner.failures == 0, "".join(output)
