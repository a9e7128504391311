"""The ``[arm_data]`` and ``[arm_model]`` sections of a model file: arm-level summaries of
several studies, fitted alone (:class:`~bayesdose.ArmModel`) or with the patient-level trial
of ``[data]`` (:class:`~bayesdose.CombinedModel`).

A file with ``[arm_data]`` and no ``[data]`` is an arm-level analysis; with both, a combined
one. ``[model]`` gives the dose shape and time course (``dose_shape``, ``time_shape``,
``dose_options``, ``time_options``) as for a patient-level file, and ``[priors]`` the prior
overrides. Example::

    [arm_data]
    source = "data/studies.csv"    # relative to the model file
    study = "study_id"             # column roles, as ArmData.from_csv's keywords
    agent = "drug"
    dose = "dose_mg"
    time = "week"
    mean = "hba1c_cfb"
    se = "se"                      # or sd = "sd" with n = "n"
    n = "n"
    outcome_name = "hba1c"         # the outcome's name (default: the mean column's)
    change = true                  # the means are changes from baseline
    dose_unit = "mg"
    time_unit = "weeks"

    [arm_data.outcomes.hba1c]      # outcome metadata, as [outcomes.<name>]
    direction = "lower_is_better"
    mcid = 0.3

    [arm_model]
    study_effects = "random"       # or "fixed": one effect size for every study
    rho = 0.3                      # working correlation of an arm's consecutive means
    leave_one_study_out = false    # true: refit without each study in turn (slow)

    [model]
    dose_shape = "emax"
    time_shape = "emax"

    [estimands]
    doses = [25, 50]
    times = [26]
    mcid = 0.3                     # default: the outcome's mcid

In a combined file ``[arm_model]`` may also name ``trial_study`` (the patient-level trial's
label among the studies, default ``"trial"``); ``[model]`` then also takes the
patient-level model's fields, and ``[priors]`` the patient-level model's priors plus
``tau`` (the between-study SD) and ``arm_course`` (the arm-level studies' common course).
The field values are checked here against :data:`ARM_DATA_FIELDS` and
:data:`ARM_MODEL_FIELDS`; :class:`bayesdose.model.spec.ModelSpec` checks how the sections
go together.
"""

from __future__ import annotations

import difflib
import functools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pymc_extras.prior import Prior

from bayesdose.data.arms import ArmData
from bayesdose.data.trial import TrialData, outcome_info_from_mapping
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.toml import check_keys, resolve_inside
from bayesdose.model.arms import STUDY_EFFECTS, ArmModel
from bayesdose.model.combined import CombinedFit, CombinedModel
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.results.arm_fit import ArmFit


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The column roles of ``[arm_data]`` (the keywords of :meth:`ArmData.from_csv`).
ARM_ROLES = ("study", "arm", "agent", "dose", "time", "mean", "se", "sd", "n", "outcome")

#: Per field of ``[arm_data]`` (but ``outcomes``): the check its value must pass and what
#: it should be.
ARM_DATA_FIELDS: dict[str, tuple[Any, str]] = {
    "source": (_is_text, "a file name in quotes (relative to the model file)"),
    **{role: (_is_text, "a column name in quotes") for role in ARM_ROLES},
    "outcome_name": (_is_text, "the outcome's name in quotes, e.g. \"hba1c\""),
    "change": (lambda v: isinstance(v, bool),
               "true (the means are changes from baseline) or false (absolute levels)"),
    "dose_unit": (_is_text, "text in quotes, e.g. \"mg\""),
    "time_unit": (_is_text, "text in quotes, e.g. \"weeks\""),
}

#: The fields of an ``[arm_data.outcomes.<name>]`` table.
ARM_OUTCOME_FIELDS = {"direction", "mcid", "lower", "upper", "family", "unit", "label"}

#: Per field of ``[arm_model]``: the check its value must pass and what it should be.
ARM_MODEL_FIELDS: dict[str, tuple[Any, str]] = {
    "study_effects": (lambda v: v in STUDY_EFFECTS,
                      "\"random\" (the effect size varies between studies) or \"fixed\" "
                      "(one effect size for every study)"),
    "rho": (lambda v: _is_number(v) and 0 <= v < 1,
            "a number in [0, 1): the working correlation of an arm's means at consecutive "
            "time points (0: independent)"),
    "scale_sd": (lambda v: _is_number(v) and v > 0,
                 "a positive number: the outcome's SD, in outcome units, that the priors are "
                 "in units of"),
    "outcome": (_is_text, "the name of the outcome to model in quotes"),
    "trial_study": (_is_text, "the patient-level trial's label among the studies in quotes, "
                    "e.g. \"trial\""),
    "time_by_agent": (lambda v: isinstance(v, bool),
                      "true (with several agents, each has its own time course) or false "
                      "(one time course shared by every agent)"),
    "leave_one_study_out": (lambda v: isinstance(v, bool),
                            "true (refit without each study in turn and report how the "
                            "pooled effect moves; slow) or false"),
}

@functools.cache
def _example_data() -> ArmData:
    """Arm-level data of the smallest kind (two studies, placebo and two doses, two
    times), to list a model's parameters before the data are read (their names do not
    depend on the data)."""
    frame = pd.DataFrame({"study": ["A"] * 6 + ["B"] * 6, "dose": [0, 1, 2] * 4,
                          "time": ([1] * 3 + [2] * 3) * 2, "mean": [0.0] * 12,
                          "se": [1.0] * 12, "n": [10] * 12})
    return ArmData.from_frame(frame, study="study", dose="dose", time="time", mean="mean",
                              se="se", n="n")


#: The ``[arm_model]`` fields that are arguments of :class:`~bayesdose.ArmModel`.
ARM_MODEL_ARGUMENTS = ("study_effects", "rho", "scale_sd", "outcome", "time_by_agent")

#: The keys of ``[arm_data]`` and ``[arm_model]``.
ARM_DATA_KEYS = {*ARM_DATA_FIELDS, "outcomes"}
ARM_MODEL_KEYS = set(ARM_MODEL_FIELDS)

#: The ``[model]`` fields an arm-level analysis reads (the others are the patient-level
#: model's).
ARM_MODEL_SECTION = ("dose_shape", "time_shape", "dose_options", "time_options")

#: The ``[priors]`` names that go to the arm part of a combined model, and the arm model's
#: name for each.
COMBINED_ARM_PRIORS = {"tau": "tau", "arm_course": "course"}


@dataclass(frozen=True)
class ArmSpec:
    """A checked ``[arm_data]`` section and ``[arm_model]`` section.

    Build it with :func:`read_arm` (a model file's
    :class:`~bayesdose.model.spec.ModelSpec` does).

    Attributes
    ----------
    data : dict
        The ``[arm_data]`` fields as written, without ``outcomes``.
    outcome_info : dict
        Per outcome, its ``[arm_data.outcomes.<name>]`` metadata.
    model : dict
        The ``[arm_model]`` fields as written.
    base_dir : Path, optional
        Folder that a relative ``source`` is resolved against (the model file's folder).

    Examples
    --------
    >>> spec = read_arm({"arm_data": {"source": "arms.csv", "study": "s", "dose": "d",
    ...                               "mean": "y", "se": "se"},
    ...                  "arm_model": {"rho": 0.3}})
    >>> spec.columns()["study"], spec.model["rho"]
    ('s', 0.3)
    """

    data: dict[str, Any]
    outcome_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None

    # ------------------------------------------------------------------ what it asks for
    def columns(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`ArmData.from_csv` the section gives (column
        roles, ``outcome_name``, ``change``, units; ``outcome_info`` left out).

        Returns
        -------
        dict

        Examples
        --------
        >>> spec = read_arm({"arm_data": {"source": "a.csv", "study": "s", "dose": "d",
        ...                               "mean": "y", "sd": "sd", "n": "n",
        ...                               "change": True}})
        >>> sorted(spec.columns())
        ['change', 'dose', 'mean', 'n', 'sd', 'study']
        """
        return {key: value for key, value in self.data.items() if key != "source"}

    @property
    def leave_one_study_out(self) -> bool:
        """Whether ``[arm_model]`` asks for leave-one-study-out refits."""
        return bool(self.model.get("leave_one_study_out", False))

    def to_dict(self) -> dict[str, Any]:
        """The sections as plain data: ``{"arm_data": {...}, "arm_model": {...}}``
        (``arm_model`` only when given).

        Returns
        -------
        dict

        Examples
        --------
        >>> raw = {"arm_data": {"source": "a.csv", "study": "s", "dose": "d", "mean": "y",
        ...                     "se": "se", "outcomes": {"y": {"mcid": 0.3}}}}
        >>> read_arm(raw).to_dict() == raw
        True
        """
        data = dict(self.data)
        if self.outcome_info:
            data["outcomes"] = {k: dict(v) for k, v in self.outcome_info.items()}
        out: dict[str, Any] = {"arm_data": data}
        if self.model:
            out["arm_model"] = dict(self.model)
        return out

    # ------------------------------------------------------------------ data
    def load_data(self) -> ArmData:
        """Read and check the arm-level data the section names.

        The path is resolved relative to the model file and must stay inside its folder.

        Returns
        -------
        ArmData

        Raises
        ------
        SpecError
            When the path leaves the model file's folder.
        DataError
            When the data are malformed (naming the column and the CSV lines).

        Examples
        --------
        >>> spec = read_arm({"arm_data": {"source": "data/MBNMAtime_alog_pcfb.csv",
        ...                               "study": "studyID", "dose": "dose",
        ...                               "time": "time", "mean": "y", "se": "se"}},
        ...                 base_dir="models")
        >>> len(spec.load_data().studies)
        14
        """
        path = resolve_inside(self.base_dir, str(self.data["source"]), "arm_data.source",
                              "model file", hint="Copy the file beside the model file or "
                              "into a folder below it.")
        return ArmData.from_csv(path, **self.columns(),
                                outcome_info=self.outcome_info or None)

    # ------------------------------------------------------------------ models
    def arm_model(self, model: Mapping[str, Any], priors: Mapping[str, Prior],
                  combined: bool = False) -> ArmModel:
        """The :class:`~bayesdose.ArmModel` of the sections and ``[model]``'s shapes.

        Parameters
        ----------
        model : mapping
            The ``[model]`` section (its shapes and their options are read).
        priors : mapping of str to Prior
            The ``[priors]`` overrides: all of them for an arm-level analysis; for a
            combined one only ``tau`` and ``arm_course`` (as the arm model's ``course``).
        combined : bool
            Whether the model is the arm part of a combined one.

        Returns
        -------
        ArmModel

        Raises
        ------
        SpecError
            Naming the field whose value the model refuses.

        Examples
        --------
        >>> spec = read_arm({"arm_data": {"source": "a.csv", "study": "s", "dose": "d",
        ...                               "mean": "y", "se": "se"},
        ...                  "arm_model": {"study_effects": "fixed"}})
        >>> spec.arm_model({"dose_shape": "free"}, {}).dose_shape.name
        'free'
        """
        if combined:
            priors = {COMBINED_ARM_PRIORS[k]: v for k, v in priors.items()
                      if k in COMBINED_ARM_PRIORS}
        settings = {k: v for k, v in self.model.items()
                    if k in ARM_MODEL_ARGUMENTS}
        shapes = {k: model[k] for k in ARM_MODEL_SECTION if k in model}
        try:
            return ArmModel(**shapes, **settings, priors=dict(priors))
        except BayesdoseError as exc:
            raise SpecError(f"[model] or [arm_model]: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            options = [f"model.{k}" for k in ("dose_options", "time_options") if k in model]
            where = " or ".join(options) if options else "[model]"
            raise SpecError(f"{where}: {exc}") from exc

    def combined_model(self, patient_model: DoseResponseModel, model: Mapping[str, Any],
                       priors: Mapping[str, Prior]) -> CombinedModel:
        """The :class:`~bayesdose.CombinedModel` of the patient-level model and the arm
        part.

        Parameters
        ----------
        patient_model : DoseResponseModel
            The model of ``[data]`` (with the ``[priors]`` of its parameters).
        model : mapping
            The ``[model]`` section.
        priors : mapping of str to Prior
            The ``[priors]`` overrides (``tau`` and ``arm_course`` go to the arm part).

        Returns
        -------
        CombinedModel

        Raises
        ------
        SpecError
            When the two parts cannot be combined, naming the field to change.
        """
        arm_model = self.arm_model(model, priors, combined=True)
        trial_study = self.model.get("trial_study", "trial")
        try:
            return CombinedModel(patient_model, arm_model, trial_study=trial_study)
        except SpecError as exc:
            raise SpecError(f"[arm_model] with [data] (a combined model): {exc}") from exc

    def parameter_names(self, model: Mapping[str, Any]) -> list[str]:
        """Names of the arm-level model's parameters that take a prior (they do not depend
        on the data).

        Parameters
        ----------
        model : mapping
            The ``[model]`` section.

        Returns
        -------
        list of str

        Examples
        --------
        >>> spec = read_arm({"arm_data": {"source": "a.csv", "study": "s", "dose": "d",
        ...                               "mean": "y", "se": "se"}})
        >>> spec.parameter_names({"dose_shape": "emax", "time_shape": "emax"})
        ['delta', 'log_ed50', 'log_et50', 'course', 'tau']
        """
        arm_model = self.arm_model(model, {})
        return [p.name for p in arm_model.parameters(arm_model.inputs(_example_data()))]

    # ------------------------------------------------------------------ fit
    def fit(self, model: ArmModel | CombinedModel, arms: ArmData,
            trial: TrialData | None = None, **sampler: Any) -> ArmFit | CombinedFit:
        """Sample the arm-level (or combined) model's posterior.

        Parameters
        ----------
        model : ArmModel or CombinedModel
            The model (:meth:`ModelSpec.build_arm_model
            <bayesdose.model.spec.ModelSpec.build_arm_model>`).
        arms : ArmData
            The arm-level data (:meth:`load_data`).
        trial : TrialData, optional
            The patient-level trial of a combined model.
        **sampler
            The ``[sampler]`` settings with the command line's overrides.

        Returns
        -------
        ArmFit or CombinedFit

        Examples
        --------
        >>> fit = spec.fit(model, spec.load_data(), draws=200)  # doctest: +SKIP
        """
        if isinstance(model, CombinedModel):
            return model.fit(trial, arms, **sampler)
        return model.fit(arms, **sampler)


def read_arm(raw: Mapping[str, Any], base_dir: str | Path | None = None) -> ArmSpec | None:
    """The checked ``[arm_data]`` and ``[arm_model]`` sections of a model file, or None
    when it has no ``[arm_data]``.

    Parameters
    ----------
    raw : mapping
        The whole model file.
    base_dir : str or Path, optional
        Folder for a relative ``arm_data.source``.

    Returns
    -------
    ArmSpec or None

    Raises
    ------
    SpecError
        Naming the field (``arm_data.<field>``, ``arm_model.<field>``) and what it should
        be.

    Examples
    --------
    >>> read_arm({"arm_data": {"source": "a.csv", "study": "s", "dose": "d",
    ...                        "mean": "y", "se": "se"}, "arm_model": {"rho": 1.5}})
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: arm_model.rho must be a number in [0, 1): the working \
correlation of an arm's means at consecutive time points (0: independent) (got 1.5).
    """
    if "arm_data" not in raw:
        if "arm_model" in raw:
            raise SpecError("[arm_model] is given without [arm_data]: add an [arm_data] "
                            "section naming the arm-level summaries (source, study, dose, "
                            "mean, se), or remove [arm_model].")
        return None
    data = _table(raw, "arm_data")
    model = _table(raw, "arm_model")
    check_keys(data, ARM_DATA_KEYS, "arm_data.")
    check_keys(model, ARM_MODEL_KEYS, "arm_model.")
    outcomes = data.pop("outcomes", {})
    _check_fields(data, ARM_DATA_FIELDS, "arm_data")
    _check_fields(model, ARM_MODEL_FIELDS, "arm_model")
    _check_required(data)
    info = _outcome_info(outcomes)
    if "outcome" in model and "outcome_name" in data and model["outcome"] != data["outcome_name"]:
        raise SpecError(f"arm_model.outcome {model['outcome']!r} is not the data's outcome "
                        f"(arm_data.outcome_name = {data['outcome_name']!r}); name that one "
                        "or remove arm_model.outcome.")
    return ArmSpec(data=data, outcome_info=info, model=model,
                   base_dir=None if base_dir is None else Path(base_dir))


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"[{key}] must be a table (a [{key}] section).")
    return dict(value)


def _check_fields(table: Mapping[str, Any], checks: dict[str, tuple[Any, str]],
                  section: str) -> None:
    for key, value in table.items():
        check, want = checks[key]
        if not check(value):
            raise SpecError(f"{section}.{key} must be {want} (got {_short(value)}).")


def _check_required(data: Mapping[str, Any]) -> None:
    """The source, the study, dose and mean columns, and an SE or an SD with n."""
    examples = {"source": "\"studies.csv\" (a CSV file relative to the model file)",
                "study": "\"study\" (the column of study labels)",
                "dose": "\"dose\" (the column of doses, 0 for placebo)",
                "mean": "\"mean\" (the column of arm means)"}
    for key, example in examples.items():
        if key not in data:
            raise SpecError(f"arm_data.{key} is missing: add {key} = {example}.")
    if "se" not in data and "sd" not in data:
        raise SpecError("arm_data has no standard errors: add se = \"column\" (the SE of "
                        "each mean), or sd = \"column\" and n = \"column\" (the SE is then "
                        "SD / sqrt(n)).")
    if "sd" in data and "n" not in data:
        raise SpecError("arm_data.sd needs arm_data.n (the numbers of patients): the SE is "
                        "computed as SD / sqrt(n); add n = \"column\".")
    if "outcome" in data and "outcome_name" in data:
        raise SpecError("arm_data.outcome (a column of outcome names) and "
                        "arm_data.outcome_name (the name of the one outcome) are both given; "
                        "keep one.")
    roles = {role: data[role] for role in ARM_ROLES if role in data}
    seen: dict[str, str] = {}
    for role, column in roles.items():
        if column in seen:
            raise SpecError(f"arm_data.{role} and arm_data.{seen[column]} both name column "
                            f"{column!r}; each role needs its own column.")
        seen[column] = role


def _outcome_info(outcomes: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(outcomes, Mapping):
        raise SpecError("arm_data.outcomes must be a table of outcome metadata by outcome "
                        "name, e.g. [arm_data.outcomes.hba1c] with direction = "
                        f"\"lower_is_better\" (got {_short(outcomes)}).")
    info = {}
    for name, meta in outcomes.items():
        where = f"arm_data.outcomes.{name}"
        if not isinstance(meta, Mapping):
            raise SpecError(f"{where} must be a table of metadata fields (direction, mcid, "
                            "label, unit, ...).")
        for key in meta:
            if key not in ARM_OUTCOME_FIELDS:
                close = difflib.get_close_matches(key, sorted(ARM_OUTCOME_FIELDS), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise SpecError(f"{where}.{key}: unknown field.{hint} Known fields: "
                                f"{', '.join(sorted(ARM_OUTCOME_FIELDS))}.")
        for key in ("mcid", "lower", "upper"):
            if key in meta and not _is_number(meta[key]):
                raise SpecError(f"{where}.{key} must be a finite number (got "
                                f"{_short(meta[key])}).")
        for key in ("direction", "family", "unit", "label"):
            if key in meta and not isinstance(meta[key], str):
                raise SpecError(f"{where}.{key} must be text in quotes (got "
                                f"{_short(meta[key])}).")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome_info_from_mapping(str(name), meta)
        except BayesdoseError as exc:
            raise SpecError(f"{where}: {exc}") from exc
        info[str(name)] = dict(meta)
    return info
