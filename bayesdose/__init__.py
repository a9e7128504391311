"""bayesdose: Bayesian dose-response modelling of longitudinal clinical trials.

Examples
--------
>>> import bayesdose as bd
>>> data = bd.datasets.load_msc_trial()
>>> model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
"""

# An older Python gets one clear line here, before an import fails obscurely (pip already
# refuses to install on one, but a checkout on sys.path does not go through pip). No
# ``from __future__`` import above it: Python 3.6 would stop there with a SyntaxError.
import sys

if sys.version_info < (3, 12):  # noqa: UP036 (the check is for interpreters below the minimum)
    raise ImportError(
        "bayesdose needs Python 3.12 or newer (this is Python "
        + ".".join(map(str, sys.version_info[:3])) + " at " + sys.executable + "): "
        + "make the environment with one, e.g. `python3.12 -m venv .venv` (README, Quick start)")

import importlib

from bayesdose import datasets
from bayesdose.components.shapes import register_dose_shape
from bayesdose.components.timecourses import register_time_shape
from bayesdose.data.safety import SafetyData
from bayesdose.data.trial import OutcomeInfo, TrialData
from bayesdose.design.designs import Design
from bayesdose.design.simulation import simulate
from bayesdose.errors import BayesdoseError, DataError, EstimandError, SpecError
from bayesdose.model.comparison import Comparison, compare, fit_candidates
from bayesdose.model.dose_response import DoseResponseModel, load_fit
from bayesdose.model.safety import SafetyModel
from bayesdose.model.spec import ModelSpec, fit
from bayesdose.results.crossval import CrossValidation, loo
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.safety import SafetyFit
from bayesdose.results.signal import signal_test

__version__ = "0.1.0"

#: Modules loaded on first use (``bd.plots``, ``bd.report``): they import matplotlib.
_LAZY_MODULES = ("plots", "report")


def __getattr__(name: str):
    """``bd.plots`` and ``bd.report``, imported when first used.

    Examples
    --------
    >>> import bayesdose as bd
    >>> callable(bd.plots.plot_dose_response)
    True
    """
    if name in _LAZY_MODULES:

        return importlib.import_module(f"bayesdose.{name}")
    raise AttributeError(f"module 'bayesdose' has no attribute {name!r}")

__all__ = [
    "BayesdoseError",
    "Comparison",
    "CrossValidation",
    "DataError",
    "Design",
    "DoseResponseFit",
    "DoseResponseModel",
    "EstimandError",
    "ModelSpec",
    "OutcomeInfo",
    "SafetyData",
    "SafetyFit",
    "SafetyModel",
    "SpecError",
    "TrialData",
    "__version__",
    "compare",
    "datasets",
    "fit",
    "fit_candidates",
    "load_fit",
    "loo",
    "register_dose_shape",
    "register_time_shape",
    "signal_test",
    "simulate",
]
