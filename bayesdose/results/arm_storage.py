"""The storage format of an arm-level fit (:class:`~bayesdose.ArmModel`) and of a combined
fit (:class:`~bayesdose.CombinedModel`): draws, the arm-level data, the model's
configuration and the sampler settings in one netCDF file (JSON and arrays, never pickles).

The file is the fit's :class:`xarray.DataTree` (``posterior``, ``sample_stats`` and the
other groups sampling made) with a ``constant_data`` group holding

* the arm-level data, one variable per column of :attr:`ArmData.table
  <bayesdose.data.arms.ArmData.table>` (``arm_study``, ``arm_arm``, ``arm_agent``,
  ``arm_dose``, ``arm_time``, ``arm_outcome``, ``arm_mean``, ``arm_se``, ``arm_n``,
  ``arm_source_row``; dim ``arm_row``);
* for a combined fit, the patient-level trial as a patient-level fit stores it
  (:func:`bayesdose.results.storage.attach_metadata`);
* the configuration, JSON in its ``bayesdose_config`` attribute: ``fit_kind``
  (``"arm"`` or ``"combined"``), ``model`` and ``data`` (the arm model and the arm data's
  columns, units and outcome metadata; for a combined fit the patient-level model and
  trial, with the arm parts in ``arm_model`` and ``arm_data`` and the trial's label in
  ``trial_study``), ``sampler``, ``spec`` (the model file, when the fit came from one) and
  ``versions``.

:func:`bayesdose.load_arm_fit` reads such a file back.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.priors import prior_from_mapping, prior_to_mapping
from bayesdose.data.arms import ARM_COLUMNS, ArmData
from bayesdose.data.trial import outcome_info_from_mapping
from bayesdose.errors import DataError
from bayesdose.files.output import write_atomic
from bayesdose.inference.trees import group, has_group, set_group
from bayesdose.results.storage import (
    CONFIG_ATTR,
    attach_metadata,
    read_config,
    read_fit_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.results.arm_fit import ArmFit

#: The kinds of fit this module stores (``fit_kind`` of the configuration); a fit without
#: the key is a patient-level one (:func:`bayesdose.load_fit`).
ARM_FIT_KINDS = ("arm", "combined")

#: Settings of an :class:`~bayesdose.ArmModel` stored besides its shapes and priors, when
#: the model has them.
ARM_MODEL_SETTINGS = ("study_effects", "rho", "scale_sd", "outcome", "time_by_agent")

#: Columns of :attr:`ArmData.table` stored as text, the others as numbers.
_TEXT_COLUMNS = ("study", "arm", "agent", "outcome", "source_row")


def arm_model_config(model: Any) -> dict[str, Any]:
    """Everything that defines an :class:`~bayesdose.ArmModel`, as plain data.

    Parameters
    ----------
    model : ArmModel
        The model.

    Returns
    -------
    dict
        ``dose_shape``, ``dose_options``, ``time_shape``, ``time_options``,
        ``study_effects``, ``rho``, ``scale_sd``, ``outcome`` and ``priors`` (each override
        as a table such as ``{"distribution": "HalfNormal", "sigma": 0.5}``);
        JSON-serialisable. :func:`arm_model_arguments` reads it back.

    Examples
    --------
    >>> import bayesdose as bd
    >>> config = arm_model_config(bd.ArmModel("emax", "exponential", rho=0.5))
    >>> config["dose_shape"], config["time_shape"], config["rho"]
    ('emax', 'exponential', 0.5)
    """
    config = {
        "dose_shape": model.dose_shape.name,
        "dose_options": model.dose_shape.options(),
        "time_shape": model.time_shape.name,
        "time_options": model.time_shape.options(),
        "priors": {name: prior_to_mapping(prior) for name, prior in model.priors.items()},
    }
    for key in ARM_MODEL_SETTINGS:
        if hasattr(model, key):
            config[key] = getattr(model, key)
    return config


def arm_model_arguments(config: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :class:`~bayesdose.ArmModel` stored by
    :func:`arm_model_config` (priors as :class:`~pymc_extras.prior.Prior` objects).

    Parameters
    ----------
    config : dict
        A stored arm model configuration.

    Returns
    -------
    dict

    Examples
    --------
    >>> import bayesdose as bd
    >>> from pymc_extras.prior import Prior
    >>> model = bd.ArmModel("linear", priors={"tau": Prior("HalfNormal", sigma=0.2)})
    >>> again = bd.ArmModel(**arm_model_arguments(arm_model_config(model)))
    >>> again.priors["tau"], again.dose_shape.name
    (Prior("HalfNormal", sigma=0.2), 'linear')
    """
    arguments = {key: config[key] for key in ("dose_shape", "dose_options", "time_shape",
                                              "time_options", *ARM_MODEL_SETTINGS)
                 if key in config}
    arguments["priors"] = {name: prior_from_mapping(value, f"priors.{name}")
                           for name, value in (config.get("priors") or {}).items()}
    return arguments


def arm_data_config(data: ArmData) -> dict[str, Any]:
    """The arm-level data's columns, units, kind of mean and outcome metadata.

    Parameters
    ----------
    data : ArmData

    Returns
    -------
    dict
        ``columns`` (:attr:`ArmData.columns`), ``change`` and ``outcome_info``.
    """
    return {"columns": dict(data.columns), "change": bool(data.change),
            "outcome_info": {name: info.to_dict() for name, info in data.outcome_info.items()}}


def arm_data_dataset(data: ArmData) -> xr.Dataset:
    """The arm-level data's table as arrays (dim ``arm_row``), for the ``constant_data``
    group.

    Parameters
    ----------
    data : ArmData

    Returns
    -------
    xarray.Dataset
        One variable ``arm_<column>`` per column of :data:`~bayesdose.data.arms.ARM_COLUMNS`.

    Examples
    --------
    >>> import bayesdose as bd, pandas as pd
    >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 5], "y": [0.0, -0.5], "se": [0.2] * 2})
    >>> data = bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se")
    >>> arm_data_dataset(data)["arm_dose"].to_numpy().tolist()
    [0.0, 5.0]
    """
    table = data.table
    variables = {}
    for column in ARM_COLUMNS:
        values = (np.asarray(table[column].astype(str), dtype=str) if column in _TEXT_COLUMNS
                  else table[column].to_numpy(dtype=float))
        variables[f"arm_{column}"] = ("arm_row", values)
    return xr.Dataset(variables, coords={"arm_row": np.arange(len(table))})


def arm_data_from_idata(idata: xr.DataTree, config: dict[str, Any]) -> ArmData:
    """Rebuild the :class:`ArmData` stored in a fit.

    Parameters
    ----------
    idata : xarray.DataTree
        The stored fit.
    config : dict
        The stored arm data configuration (:func:`arm_data_config`).

    Returns
    -------
    ArmData
        The same table, columns, kind of mean and outcome metadata as were fitted.
    """
    const = group(idata, "constant_data")
    table = pd.DataFrame({
        column: (const[f"arm_{column}"].to_numpy().astype(str).astype(object)
                 if column in _TEXT_COLUMNS else const[f"arm_{column}"].to_numpy().astype(float))
        for column in ARM_COLUMNS})
    info = {name: outcome_info_from_mapping(name, {k: v for k, v in meta.items()
                                                   if k != "name"})
            for name, meta in config["outcome_info"].items()}
    return ArmData(table=table, columns=dict(config["columns"]), change=bool(config["change"]),
                   outcome_info=info)


def fit_kind(config: dict[str, Any]) -> str:
    """The kind of fit a stored configuration describes: ``"arm"``, ``"combined"`` or
    ``"patient"`` (a :class:`~bayesdose.DoseResponseFit`).

    Examples
    --------
    >>> fit_kind({"fit_kind": "arm"}), fit_kind({})
    ('arm', 'patient')
    """
    return str(config.get("fit_kind", "patient"))


def refuse_arm_fit(config: dict[str, Any], path: str | Path) -> None:
    """Refuse, for a reader of patient-level fits, a file that holds an arm-level or
    combined fit, saying which function reads it.

    Raises
    ------
    DataError
        When ``config`` describes an arm-level or combined fit.

    Examples
    --------
    >>> refuse_arm_fit({"fit_kind": "arm"}, "fit.nc")
    Traceback (most recent call last):
    ...
    bayesdose.errors.DataError: 'fit.nc' holds an arm-level fit (bayesdose.ArmModel); \
read it with bayesdose.load_arm_fit.
    """
    kind = fit_kind(config)
    if kind in ARM_FIT_KINDS:
        what = ("an arm-level fit (bayesdose.ArmModel)" if kind == "arm" else
                "a combined fit (bayesdose.CombinedModel)")
        raise DataError(f"{str(path)!r} holds {what}; read it with bayesdose.load_arm_fit.")


#: The packages whose versions a saved fit records.
RECORDED_PACKAGES = ("bayesdose", "pymc", "pytensor", "arviz", "numpy", "pandas", "xarray",
                     "pymc-extras", "nutpie", "numpyro")


def _versions() -> dict[str, str]:
    """Python's and the installed packages' versions, as a patient-level fit records."""
    out = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a fit's configuration")


#: The root attribute of an arm-level fit's draws that holds its model file (JSON) until
#: the fit is saved.
SPEC_ATTR = "bayesdose_spec"


def record_arm_spec(idata: xr.DataTree, spec: dict[str, Any]) -> None:
    """Keep the model file (as data) that an arm-level fit came from with its draws, to be
    stored when the fit is saved.

    Parameters
    ----------
    idata : xarray.DataTree
        The fit's draws (changed in place).
    spec : dict
        :meth:`ModelSpec.to_dict <bayesdose.ModelSpec.to_dict>`.

    Examples
    --------
    >>> import xarray as xr
    >>> tree = xr.DataTree()
    >>> record_arm_spec(tree, {"name": "alogliptin"})
    >>> stored_spec(tree)
    {'name': 'alogliptin'}
    """
    idata.attrs[SPEC_ATTR] = json.dumps(spec, sort_keys=True, default=_json_default)


def stored_spec(idata: xr.DataTree) -> dict[str, Any] | None:
    """The model file recorded with a fit's draws (None if none).

    Parameters
    ----------
    idata : xarray.DataTree

    Returns
    -------
    dict or None
    """
    if SPEC_ATTR in idata.attrs:
        return json.loads(idata.attrs[SPEC_ATTR])
    if not has_group(idata, "constant_data") or CONFIG_ATTR not in idata["constant_data"].attrs:
        return None
    try:
        return read_config(idata).get("spec")
    except DataError:
        return None


def _without_stored(constant: xr.Dataset) -> xr.Dataset:
    """``constant_data`` without what a save stores (data, scales and configuration)."""
    stored = [name for name in constant.data_vars
              if str(name).startswith(("arm_", "data_"))
              or name in ("scale_sd", "scale_sign", "baseline_mean")]
    kept = constant.drop_vars(stored)
    kept.attrs.pop(CONFIG_ATTR, None)
    return kept


def arm_fit_tree(fit: ArmFit, spec: dict[str, Any] | None = None) -> xr.DataTree:
    """A copy of the fit's draws with its data and configuration in ``constant_data``.

    Parameters
    ----------
    fit : ArmFit or CombinedFit
        The fit (a combined fit is told by its ``combined_model``).
    spec : dict, optional
        The model file it came from (:meth:`ModelSpec.to_dict
        <bayesdose.ModelSpec.to_dict>`); default: the one recorded with the fit
        (:func:`record_arm_spec`), if any.

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    DataError
        When the fit holds no arm-level data (``fit.data`` is None).
    """
    if fit.data is None:
        raise DataError("this fit holds no arm-level data (ArmFit(..., data=None)); build it "
                        "with data=... (as ArmModel.fit does) to save it.")
    tree = fit.idata.copy()
    spec = spec if spec is not None else stored_spec(fit.idata)
    if has_group(tree, "constant_data"):  # a fit saved before: its stored data go first
        set_group(tree, "constant_data", _without_stored(group(tree, "constant_data")))
    combined = getattr(fit, "combined_model", None)
    settings = dict(fit.settings)
    if combined is None:
        config: dict[str, Any] = {"fit_kind": "arm", "model": arm_model_config(fit.model),
                                  "data": arm_data_config(fit.data)}
    else:
        attach_metadata(tree, combined.patient_model, fit.trial_data,
                        fit.combined_inputs.trial, settings)
        config = {**read_config(tree), "fit_kind": "combined",
                  "arm_model": arm_model_config(fit.model),
                  "arm_data": arm_data_config(fit.data),
                  "trial_study": combined.trial_study}
    constant = arm_data_dataset(fit.data)
    if has_group(tree, "constant_data"):
        constant = xr.merge([group(tree, "constant_data"), constant], combine_attrs="drop",
                            join="outer", compat="no_conflicts")
    config.update({"sampler": settings, "spec": spec, "versions": _versions()})
    constant.attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True, default=_json_default)
    set_group(tree, "constant_data", constant)
    if spec is not None:
        record_arm_spec(tree, spec)
    return tree


def save_arm_fit(fit: ArmFit, path: str | Path, spec: dict[str, Any] | None = None) -> Path:
    """Write an arm-level or combined fit to a netCDF file, atomically.

    Parameters
    ----------
    fit : ArmFit or CombinedFit
        The fit.
    path : str or Path
        Target file (``.nc``).
    spec : dict, optional
        The model file it came from, recorded in the file (default: the one already
        recorded in the fit, if any).

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> path = save_arm_fit(fit, "arms.nc")   # doctest: +SKIP
    >>> bd.load_arm_fit(path).effect(dose=[25])   # doctest: +SKIP
    """
    tree = arm_fit_tree(fit, spec)
    return write_atomic(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))


def read_arm_fit_file(path: str | Path) -> tuple[xr.DataTree, dict[str, Any]]:
    """Open a saved arm-level or combined fit: its groups and its configuration.

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file.

    Returns
    -------
    (xarray.DataTree, dict)

    Raises
    ------
    DataError
        When the file is missing, unreadable, not a bayesdose fit, or a patient-level fit
        (read with :func:`bayesdose.load_fit`).
    """
    idata, config = read_fit_file(path)
    if fit_kind(config) not in ARM_FIT_KINDS:
        raise DataError(f"{str(path)!r} holds a patient-level fit (bayesdose.DoseResponseModel)"
                        "; read it with bayesdose.load_fit.")
    return idata, config
