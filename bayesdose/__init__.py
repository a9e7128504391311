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
import importlib.util
import re
from pathlib import Path

import pytensor

from bayesdose import datasets
from bayesdose.components.shapes import register_dose_shape
from bayesdose.components.timecourses import register_time_shape
from bayesdose.data.arms import ArmData
from bayesdose.data.safety import SafetyCountData, SafetyData
from bayesdose.data.trial import OutcomeInfo, TrialData
from bayesdose.design.calibration import calibrate
from bayesdose.design.designs import Design
from bayesdose.design.simulation import simulate
from bayesdose.errors import BayesdoseError, DataError, EstimandError, SpecError
from bayesdose.model.arm_fits import load_arm_fit
from bayesdose.model.arms import ArmModel
from bayesdose.model.combined import CombinedModel
from bayesdose.model.comparison import Comparison, compare, fit_candidates
from bayesdose.model.dose_response import DoseResponseModel, load_fit
from bayesdose.model.safety import SafetyCountModel, SafetyModel
from bayesdose.model.spec import ModelSpec, fit
from bayesdose.results.crossval import CrossValidation, loo
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.safety import SafetyCountFit, SafetyFit
from bayesdose.results.signal import signal_test

#: The Fortran BLAS routines, single and double precision, that PyTensor's C code may call
#: (``dgemm_`` and so on; it declares them itself, so no header such as cblas.h is needed).
_BLAS_ROUTINES = ("rotg", "rotmg", "rot", "rotm", "swap", "scal", "copy", "axpy", "dot", "nrm2",
                  "asum", "gemv", "gbmv", "symv", "sbmv", "spmv", "trmv", "tbmv", "tpmv", "trsv",
                  "tbsv", "tpsv", "ger", "syr", "spr", "syr2", "spr2", "gemm", "symm", "syrk",
                  "syr2k", "trmm", "trsm")


def _openblas_ldflags() -> str:
    """PyTensor's ``blas__ldflags`` for the OpenBLAS of the ``scipy-openblas32`` wheel, or "".

    The wheel (a dependency on Linux) holds the OpenBLAS that NumPy and SciPy ship, with the
    32-bit integers of PyTensor's declarations, but names each routine with a prefix
    (``scipy_dgemm_``, from ``-DBLAS_SYMBOL_PREFIX=`` in its pkg-config file): the ``-D``
    flags rename PyTensor's calls to match. PyTensor adds the ``-L`` folder as a run path.
    The module is found, not imported: importing it loads the library into the process.
    """
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or spec.origin is None:
        return ""
    libdir = Path(spec.origin).parent / "lib"
    libraries = sorted(libdir.glob("libscipy_openblas*.so"))
    pkgconfig = libdir / "pkgconfig" / "scipy-openblas.pc"
    if not libraries or not pkgconfig.is_file():
        return ""
    prefix = re.search(r"-DBLAS_SYMBOL_PREFIX=(\w+)", pkgconfig.read_text())
    renames = [f"-D{p}{name}_={prefix[1]}{p}{name}_" for p in "sd" for name in _BLAS_ROUTINES
               ] if prefix else []
    return " ".join([f"-L{libdir}", f"-l{libraries[0].stem.removeprefix('lib')}", *renames])


def _link_openblas() -> None:
    """Give PyTensor's C backend the OpenBLAS that pip installs, where it has no BLAS.

    After a pip install on Linux PyTensor finds no BLAS among the system's libraries, warns
    that it "could not link to a BLAS installation" and runs its BLAS operations (C linker
    only; its default Numba linker brings its own) without one. Kept: flags the user set
    (``PYTENSOR_FLAGS``, ``.pytensorrc``), a BLAS PyTensor already found, and conda
    environments (PyTensor finds theirs); elsewhere (macOS: Accelerate) PyTensor finds one.
    """
    setting = getattr(type(pytensor.config), "blas__ldflags", None)
    if (setting is None or not setting.is_default or getattr(setting, "val", "")
            or not sys.platform.startswith("linux") or Path(sys.prefix, "conda-meta").exists()):
        return
    flags = _openblas_ldflags()
    if flags:
        pytensor.config.blas__ldflags = flags


_link_openblas()

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
    "ArmData",
    "ArmModel",
    "BayesdoseError",
    "CombinedModel",
    "Comparison",
    "CrossValidation",
    "DataError",
    "Design",
    "DoseResponseFit",
    "DoseResponseModel",
    "EstimandError",
    "ModelSpec",
    "OutcomeInfo",
    "SafetyCountData",
    "SafetyCountFit",
    "SafetyCountModel",
    "SafetyData",
    "SafetyFit",
    "SafetyModel",
    "SpecError",
    "TrialData",
    "__version__",
    "calibrate",
    "compare",
    "datasets",
    "fit",
    "fit_candidates",
    "load_arm_fit",
    "load_fit",
    "loo",
    "register_dose_shape",
    "register_time_shape",
    "signal_test",
    "simulate",
]
