"""The storage format of a fit: the trial data, the model's configuration, the sampler
settings and the package versions kept inside the fit's :class:`xarray.DataTree` (JSON and
arrays, never pickles), and read back from it.

Fits are saved as DataTree netCDF (one netCDF group per ArviZ group). Files written by
bayesdose 0.1.0 (ArviZ 0.x ``InferenceData.to_netcdf``) have the same layout and load.

The configuration records the parameterisation of the shapes (:data:`PARAMETERISATION`).
Fits saved before ``delta`` became the effect of the top dose against the lowest tested
dose at the last visit and ``course`` the change at the lowest tested dose (parameterisation
1: against dose 0 at the plateau, and the change at dose 0) are read with their ``delta``
and ``course`` draws converted (:func:`upgrade_parameterisation`): the same curves, so the
same read-outs.
"""

from __future__ import annotations

import json
import platform
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.shapes import (
    Emax,
    ExponentialDose,
    Linear,
    LogLinear,
    Quadratic,
    SigmoidEmax,
)
from bayesdose.components.timecourses import EmaxTime, Exponential
from bayesdose.data.trial import (
    COVARIATE_KINDS,
    OutcomeInfo,
    TrialData,
    covariate_kind,
    covariate_label,
    outcome_info_from_mapping,
)
from bayesdose.errors import DataError
from bayesdose.inference.trees import group, has_group, set_group
from bayesdose.results.estimands import effect_draws

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.model.dose_response import DoseResponseModel

CONFIG_ATTR = "bayesdose_config"

#: The parameterisation of the dose shapes and time courses that a saved fit's draws use:
#: 2 = ``delta`` is the effect of the top dose against the lowest tested dose at the last
#: visit; 1 (fits without the key) = against dose 0 at the plateau.
PARAMETERISATION = 2


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("bayesdose", "pymc", "pytensor", "arviz", "numpy", "pandas", "xarray",
                    "pymc-extras", "nutpie", "numpyro"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def attach_metadata(idata: xr.DataTree, model: DoseResponseModel, data: TrialData,
                    inputs: ModelInputs, settings: dict[str, Any],
                    spec: dict[str, Any] | None = None) -> None:
    """Store the trial data, the model, the settings and versions inside ``idata``.

    The data go to the ``constant_data`` group (one variable per column, dim ``row``;
    ``data_censored`` only for data with censored values, ``data_actual_time`` only for
    data with actual times); the rest is JSON in that
    group's ``bayesdose_config`` attribute.
    """
    table = data.table
    rows = np.arange(len(table))
    constant = xr.Dataset(
        {
            "data_patient": ("row", np.asarray(table["patient"], dtype=str)),
            "data_dose": ("row", table["dose"].to_numpy(dtype=float)),
            "data_time": ("row", table["time"].to_numpy(dtype=float)),
            "data_outcome": ("row", np.asarray(table["outcome"], dtype=str)),
            "data_value": ("row", table["value"].to_numpy(dtype=float)),
            "scale_sd": ("outcome", inputs.scales.sd),
            "scale_sign": ("outcome", inputs.scales.sign),
            "baseline_mean": ("outcome", inputs.scales.baseline_mean),
        },
        coords={"row": rows, "outcome": inputs.outcomes},
    )
    if "censored" in table:
        constant["data_censored"] = ("row", table["censored"].to_numpy(dtype="int64"))
    if "actual_time" in table:
        constant["data_actual_time"] = ("row", table["actual_time"].to_numpy(dtype=float))
    config = {
        "model": model.config(),
        "data": {
            "columns": data.columns,
            "baseline_time": data.baseline_time,
            "outcome_info": {k: v.to_dict() for k, v in data.outcome_info.items()},
        },
        "sampler": settings,
        "spec": spec,
        "versions": _versions(),
        "parameterisation": PARAMETERISATION,
    }
    if len(data.covariates.columns):
        config["data"]["covariates"] = covariates_to_config(data.covariates)
    constant.attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True, default=_json_default)
    if has_group(idata, "constant_data"):
        constant = xr.merge([group(idata, "constant_data"), constant],
                            combine_attrs="override", join="outer", compat="no_conflicts")
        constant.attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True,
                                                 default=_json_default)
    set_group(idata, "constant_data", constant)


def record_spec(idata: xr.DataTree, spec: dict[str, Any]) -> None:
    """Add the model file's content (as data) to the configuration stored in ``idata``."""
    config = read_config(idata)
    config["spec"] = spec
    idata["constant_data"].attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True,
                                                           default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a fit's configuration")


def read_config(idata: xr.DataTree) -> dict[str, Any]:
    """The configuration stored by :func:`attach_metadata`."""
    if not has_group(idata, "constant_data") or CONFIG_ATTR not in idata["constant_data"].attrs:
        raise DataError("these results were not written by bayesdose: they have no "
                        f"constant_data attribute {CONFIG_ATTR!r}.")
    try:
        config = json.loads(idata["constant_data"].attrs[CONFIG_ATTR])
    except (TypeError, ValueError) as exc:
        raise DataError(f"the stored bayesdose configuration is not valid JSON ({exc}); "
                        "refit and save the model with this version of bayesdose.") from exc
    if not isinstance(config, dict) or not {"model", "data", "sampler"} <= set(config):
        raise DataError("the stored bayesdose configuration lacks its model, data or "
                        "sampler section; refit and save the model.")
    return config


def data_from_idata(idata: xr.DataTree, config: dict[str, Any]) -> TrialData:
    """Rebuild the :class:`TrialData` stored in a fit."""
    const = group(idata, "constant_data")
    table = pd.DataFrame({
        "patient": const["data_patient"].to_numpy().astype(str),
        "dose": const["data_dose"].to_numpy(),
        "time": const["data_time"].to_numpy(),
        "outcome": const["data_outcome"].to_numpy().astype(str),
        "value": const["data_value"].to_numpy(),
    })
    table["source_row"] = [f"row {i}" for i in range(len(table))]
    if "data_censored" in const:
        table["censored"] = const["data_censored"].to_numpy().astype(int)
    if "data_actual_time" in const:
        table["actual_time"] = const["data_actual_time"].to_numpy().astype(float)
    stored = config["data"]["outcome_info"]
    info = {k: outcome_info_from_mapping(k, {f: v for f, v in meta.items() if f != "name"})
            for k, meta in stored.items()}
    info = _with_stored_scales(const, info, stored)
    return TrialData(table=table, columns=config["data"]["columns"],
                     baseline_time=float(config["data"]["baseline_time"]), outcome_info=info,
                     covariates=covariates_from_config(config["data"].get("covariates")))


def covariates_to_config(covariates: pd.DataFrame) -> dict[str, Any]:
    """The patient-level covariates of a trial as plain data (for a fit's configuration).

    Parameters
    ----------
    covariates : pandas.DataFrame
        :attr:`TrialData.covariates` (indexed by patient).

    Returns
    -------
    dict
        ``patients`` (ids) and ``columns``: per covariate its ``name``, ``kind``
        (``"numeric"`` or ``"categorical"``, as declared or found when the data were
        built) and per-patient ``values`` (numbers for a numeric covariate, the level's
        text for a categorical one, also when its levels are coded as numbers).

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [40.0, 50.0], "grade": ["2", "3"]},
    ...                      index=pd.Index(["a", "b"], name="patient"))
    >>> [(c["kind"], c["values"]) for c in covariates_to_config(frame)["columns"]]
    [('numeric', [40.0, 50.0]), ('categorical', ['2', '3'])]
    """
    columns = []
    for name in covariates.columns:
        kind = covariate_kind(covariates[name])
        values = (covariates[name].astype(float).tolist() if kind == "numeric"
                  else [covariate_label(v) for v in covariates[name].astype(object)])
        columns.append({"name": name, "kind": kind, "values": values})
    return {"patients": [str(p) for p in covariates.index], "columns": columns}


def covariates_from_config(stored: dict[str, Any] | None) -> pd.DataFrame | None:
    """The covariates table back from :func:`covariates_to_config` (None for fits saved
    without covariates).

    A column stored without a ``kind`` is numeric when all its values are numbers and
    categorical otherwise; the values of a categorical column come back as the text of
    its levels (a level stored as the number ``2`` is ``"2"``).

    Parameters
    ----------
    stored : dict or None
        The ``covariates`` entry of a fit's stored data configuration.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by patient, floats for numeric covariates and text for categorical ones.

    Raises
    ------
    DataError
        For a stored kind other than ``"numeric"`` or ``"categorical"``.

    Examples
    --------
    >>> frame = pd.DataFrame({"sex": ["F", "M"]}, index=pd.Index(["a", "b"], name="patient"))
    >>> covariates_from_config(covariates_to_config(frame))["sex"].tolist()
    ['F', 'M']
    >>> stored = {"patients": ["a", "b"], "columns": [
    ...     {"name": "grade", "kind": "categorical", "values": [2, 3]}]}
    >>> covariates_from_config(stored)["grade"].tolist()
    ['2', '3']
    """
    if not stored or not stored.get("columns"):
        return None
    out = pd.DataFrame(index=pd.Index([str(p) for p in stored["patients"]], name="patient"))
    for column in stored["columns"]:
        values = list(column["values"])
        kind = column.get("kind")
        if kind is None:
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in values)
            kind = "numeric" if numbers else "categorical"
        if kind not in COVARIATE_KINDS:
            raise DataError(f"the stored covariate {column['name']!r} has an unknown kind "
                            f"{kind!r} (the kinds are {', '.join(COVARIATE_KINDS)}).")
        if kind == "numeric":
            out[column["name"]] = pd.Series(values, index=out.index, dtype=float)
        else:
            out[column["name"]] = pd.Series([covariate_label(v) for v in values],
                                            index=out.index, dtype=object)
    return out


def _with_stored_scales(const: xr.Dataset, info: dict[str, OutcomeInfo],
                        stored: dict[str, Any]) -> dict[str, OutcomeInfo]:
    """Fits saved before outcomes could declare an SD were standardised by the SD of the
    baselines: declare the scale SD stored with such a fit (``scale_sd``) as the outcome's
    SD, so that its draws are read on the scale they were sampled on."""
    if "scale_sd" not in const or "outcome" not in const.coords:
        return info
    scales = dict(zip(np.asarray(const["outcome"]).astype(str),
                      np.asarray(const["scale_sd"], dtype=float), strict=True))
    out = dict(info)
    for name, meta in stored.items():
        if ("sd" not in meta and name in scales and info[name].likelihood != "ordinal"
                and np.isfinite(scales[name]) and scales[name] > 0):
            out[name] = replace(info[name], sd=float(scales[name]))
    return out


#: Parameters on the scale of the dose effect: parameterisation 1's time courses (1 at the
#: plateau) become the current ones (1 at the last visit) by dividing them by the plateau.
EFFECT_SCALE_PARAMETERS = ("delta", "curvature", "increments")


def upgrade_parameterisation(idata: xr.DataTree, config: dict[str, Any],
                             model: DoseResponseModel, inputs: ModelInputs) -> None:
    """Convert the draws of a fit saved under parameterisation 1 in place.

    Under parameterisation 1 the closed-form dose shapes were f(d) = delta_1 u(d) / u(d_ref)
    (against dose 0), the exponential and Emax time courses were 1 at the plateau, and
    ``course`` was the change at dose 0. Now f(d) = delta u(d) / (u(d_ref) - u(d_low)),
    g(t_last) = 1 and ``course`` is the change at the lowest tested dose. The same curves
    have delta = delta_1 (1 - u(d_low) / u(d_ref)) (quadratic: delta_1 - f_1(d_low)), every
    parameter on the effect's scale (:data:`EFFECT_SCALE_PARAMETERS`) divided by the
    plateau over the last visit's effect, and ``course`` plus f(d_low) g(t); computed per
    draw in the ``posterior`` and ``prior`` groups. Family-level hyperparameters of pooled
    fits are left as they were sampled (they only appear in parameter tables).

    Parameters
    ----------
    idata : xarray.DataTree
        The stored fit (changed in place).
    config : dict
        Its stored configuration (:func:`read_config`).
    model : DoseResponseModel
        Its model.
    inputs : ModelInputs
        Its model inputs (the dose and time scales).
    """
    if int(config.get("parameterisation", 1)) >= PARAMETERISATION:
        return
    for name in ("posterior", "prior"):
        if has_group(idata, name):
            set_group(idata, name, _current_draws(group(idata, name), model, inputs))


def _current_draws(draws: xr.Dataset, model: DoseResponseModel,
                   inputs: ModelInputs) -> xr.Dataset:
    """Parameterisation 1's draws in the current parameterisation."""
    params = {v: draws[v].to_numpy() for v in draws.data_vars}
    if "delta" in draws:
        draws = draws.assign(delta=(draws["delta"].dims, _dose_delta(model, inputs, params)))
    if isinstance(model.time_shape, (Exponential, EmaxTime)):
        plateau = model.time_shape.derived(params, inputs.time_scale)["plateau"]
        plateau = xr.DataArray(plateau, dims=("chain", "draw", "outcome"))
        draws = draws.assign({v: draws[v] / plateau for v in EFFECT_SCALE_PARAMETERS
                              if v in draws})
    if inputs.dose_scale.lowest > 0 and "course" in draws:
        draws = draws.assign(course=draws["course"] + _lowest_effect(draws, model, inputs))
    return draws


def _lowest_effect(draws: xr.Dataset, model: DoseResponseModel,
                   inputs: ModelInputs) -> xr.DataArray:
    """f(d_low) g(t) at every visit of ``draws["course"]`` (standardised, current
    parameterisation)."""
    course = draws["course"].transpose("chain", "draw", "outcome", "time")
    times = np.asarray(course["time"], dtype=float) - inputs.baseline_time
    values = effect_draws(draws, model.dose_shape, model.time_shape, inputs.dose_scale,
                          inputs.time_scale, [inputs.dose_scale.lowest], times,
                          np.ones(len(inputs.outcomes)))[:, :, :, 0, :]
    return xr.DataArray(values, dims=course.dims, coords=course.coords)


def _dose_delta(model: DoseResponseModel, inputs: ModelInputs,
                params: dict[str, np.ndarray]) -> np.ndarray:
    """Parameterisation 1's ``delta`` (against dose 0) as the effect of the top dose
    against the lowest, on the same time scale."""
    shape, dscale, delta = model.dose_shape, inputs.dose_scale, params["delta"]
    if dscale.lowest > 0 and isinstance(shape, (Emax, ExponentialDose, Linear, LogLinear,
                                                SigmoidEmax)):
        unit = {**params, "delta": 1.0}
        ratio = (shape.evaluate(dscale.lowest, unit, dscale, np)
                 / shape.evaluate(dscale.reference, unit, dscale, np))
        return delta * (1 - ratio)
    if dscale.lowest > 0 and isinstance(shape, Quadratic):
        low = dscale.lowest / dscale.reference
        return delta - (delta * low + params["curvature"] * low * (low - 1))
    return delta


def read_fit_file(path: str | Path) -> tuple[xr.DataTree, dict[str, Any]]:
    """Open a saved fit: every group loaded into memory and the stored configuration parsed.

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file.

    Returns
    -------
    tuple of (xarray.DataTree, dict)
        The groups and the configuration of :func:`attach_metadata`.

    Raises
    ------
    DataError
        When the file is missing, is not readable netCDF, or holds no bayesdose
        configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"fit file {str(path)!r} does not exist.")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as stored:
            idata = stored.load().copy()
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DataError(f"{str(path)!r} is not a readable netCDF fit: {exc}") from exc
    try:
        return idata, read_config(idata)
    except DataError as exc:
        raise DataError(f"{str(path)!r} is not a fit written by bayesdose: {exc}") from exc
