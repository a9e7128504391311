"""Reading saved arm-level and combined fits: :func:`load_arm_fit`.

The file format is described in :mod:`bayesdose.results.arm_storage`; the model is
rebuilt from its stored configuration and the data from the stored table, so a loaded fit
gives the same read-outs as the fit that was saved.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from bayesdose.errors import BayesdoseError, DataError
from bayesdose.files.output import first_line
from bayesdose.model.arms import ArmModel
from bayesdose.model.combined import CombinedFit, CombinedModel
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.results.arm_fit import ArmFit
from bayesdose.results.arm_storage import (
    arm_data_from_idata,
    arm_model_arguments,
    fit_kind,
    read_arm_fit_file,
)
from bayesdose.results.storage import data_from_idata


def load_arm_fit(path: str | Path) -> ArmFit | CombinedFit:
    """Read a fit written by :meth:`ArmFit.save <bayesdose.results.arm_fit.ArmFit.save>`
    (netCDF; nothing is unpickled).

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file.

    Returns
    -------
    ArmFit or CombinedFit
        An :class:`~bayesdose.results.arm_fit.ArmFit` for an :class:`~bayesdose.ArmModel`
        fit, a :class:`~bayesdose.model.combined.CombinedFit` for a
        :class:`~bayesdose.CombinedModel` fit, with the model, data and settings that were
        fitted.

    Raises
    ------
    DataError
        When the file is missing, unreadable, not a bayesdose fit, or a patient-level fit
        (read it with :func:`bayesdose.load_fit`).

    Examples
    --------
    >>> import bayesdose as bd
    >>> fit = bd.load_arm_fit("results/fit.nc")     # doctest: +SKIP
    >>> fit.effect(dose=[25], time=[26])            # doctest: +SKIP
    """
    idata, config = read_arm_fit_file(path)
    try:
        return _rebuild(idata, config)
    except (BayesdoseError, ValueError, KeyError, TypeError, AttributeError,
            IndexError) as exc:
        raise DataError(
            f"{str(path)!r} is not an arm-level fit written by bayesdose: its stored "
            f"configuration or data cannot be read ({type(exc).__name__}: "
            f"{first_line(exc)}). Refit the model and save it with this version of "
            "bayesdose.") from exc


def _rebuild(idata: Any, config: dict[str, Any]) -> ArmFit | CombinedFit:
    settings = dict(config["sampler"])
    with warnings.catch_warnings():  # the data were checked, and warned about, when fitted
        warnings.simplefilter("ignore", UserWarning)
        if fit_kind(config) == "arm":
            model = ArmModel(**arm_model_arguments(config["model"]))
            data = arm_data_from_idata(idata, config["data"])
            return ArmFit(model, model.inputs(data), idata, settings, data=data)
        arms = arm_data_from_idata(idata, config["arm_data"])
        trial = data_from_idata(idata, config)
        combined = CombinedModel(DoseResponseModel.from_config(config["model"]),
                                 ArmModel(**arm_model_arguments(config["arm_model"])),
                                 trial_study=config["trial_study"])
        inputs = combined.inputs(trial, arms)
        return CombinedFit(combined, inputs, idata, settings, trial=trial, arms=arms)
