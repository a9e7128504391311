"""bayesdose: Bayesian dose-response modelling of longitudinal clinical trials.

Examples
--------
>>> import bayesdose as bd
>>> data = bd.datasets.load_msc_trial()
>>> model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz  # noqa: F401

from bayesdose import datasets
from bayesdose.compare import Comparison, compare, fit_candidates
from bayesdose.crossval import CrossValidation, loo
from bayesdose.data import OutcomeInfo, TrialData
from bayesdose.design import Design
from bayesdose.errors import BayesdoseError, DataError, EstimandError, SpecError
from bayesdose.fit import DoseResponseFit, load_fit
from bayesdose.model import DoseResponseModel
from bayesdose.safety import SafetyData, SafetyFit, SafetyModel
from bayesdose.shapes import register_dose_shape
from bayesdose.signal import signal_test
from bayesdose.simulation import simulate
from bayesdose.spec import ModelSpec, fit
from bayesdose.timecourses import register_time_shape

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
        import importlib

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
