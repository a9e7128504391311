"""Model files: a declarative TOML description of data, model, priors, sampler, estimands.

A model file is parsed with :mod:`tomllib` and checked field by field; nothing in it is
executed. The same :class:`ModelSpec` can be built from a Python dict. Example::

    [data]
    source = "trial.csv"          # relative to this file, or "embedded:msc_trial"
    patient = "subject"
    dose = "dose_million"
    time = "month"
    outcome = "outcome"
    value = "value"
    covariates = ["sex", "age"]   # optional: patient-level columns, one effect each
    # or with their kinds: covariates = {sex = "categorical", age = "numeric"}
    censored = "flag"             # optional: "<" below the LLOQ, ">" above the ULOQ

    [outcomes.crp]
    likelihood = "lognormal"
    lloq = 0.5                    # limits of quantification (censored values)

    [outcomes.koos_pain]
    direction = "higher_is_better"
    mcid = 10

    [model]
    outcomes = ["koos_pain"]
    dose_shape = "emax"
    time_shape = "exponential"

    [priors.delta]
    distribution = "Normal"
    mu = 0
    sigma = 1

    [sampler]
    draws = 1000
    chains = 4
    random_seed = 1

    [estimands]
    times = [12]
    contrasts = [[50, 1], [10, 1]]
    ci_prob = 0.95                # credible intervals: probability
    ci_kind = "eti"               # equal-tailed ("eti", the default) or "hdi"

Effects are against ``reference`` (default: the lowest tested dose); dose 0 without a
placebo arm is extrapolated by the dose shape and is used only when asked for
(``reference = 0``). An older ``hdi_prob`` key is read as ``ci_prob`` with
``ci_kind = "hdi"`` (with a :class:`DeprecationWarning`).

A ``[safety]`` section adds an adverse-event analysis, fitted with the same ``[sampler]``
settings; a file may hold it alone (see :mod:`bayesdose.model.safety_spec`).

An ``[arm_data]`` section (with ``[arm_model]``) names arm-level summaries of several
studies: alone it makes an arm-level analysis (:class:`~bayesdose.ArmModel`), with
``[data]`` a combined one (:class:`~bayesdose.CombinedModel`); see
:mod:`bayesdose.model.arm_spec`.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymc as pm
from pymc.exceptions import SamplingError
from pymc_extras.prior import Prior

from bayesdose import datasets
from bayesdose.components.likelihoods import LIKELIHOODS
from bayesdose.components.priors import model_parameters, prior_from_mapping, prior_to_mapping
from bayesdose.components.shapes import DoseScale
from bayesdose.components.timecourses import TimeScale
from bayesdose.data.trial import (
    COVARIATE_KINDS,
    FLAG_TEXT,
    TrialData,
    outcome_info_from_mapping,
)
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.toml import check_keys, read_toml, resolve_inside, section_table, write_toml
from bayesdose.inference.backends import SAMPLERS
from bayesdose.model.arm_spec import ARM_MODEL_SECTION, COMBINED_ARM_PRIORS, ArmSpec, read_arm
from bayesdose.model.arms import ArmModel
from bayesdose.model.combined import CombinedModel
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.model.safety_spec import SAFETY_MODELS, SafetySpec
from bayesdose.results.arm_storage import record_arm_spec
from bayesdose.results.estimands import CI_KINDS
from bayesdose.results.storage import record_spec

EMBEDDED = {"embedded:msc_trial"}


SECTIONS = {
    "name": None, "description": None,
    "data": {"source", "patient", "dose", "time", "outcome", "value", "outcomes",
             "dose_unit", "time_unit", "baseline_time", "covariates", "censored",
             "actual_time"},
    "outcomes": None,
    "model": {"outcomes", "dose_shape", "time_shape", "likelihood", "dose_options",
              "time_options", "pooling", "patient_correlation", "lkj_eta",
              "patient_effects", "analysis", "residual_sd", "serial_correlation",
              "patient_slopes"},
    "priors": None,
    "sampler": {"draws", "tune", "chains", "random_seed", "target_accept", "sampler",
                "cores"},
    "estimands": {"times", "contrasts", "reference", "ci_prob", "ci_kind", "hdi_prob",
                  "doses", "mcid"},
    # the adverse-event analysis (bayesdose.model.safety_spec); its fields: SAFETY_FIELDS
    "safety": {"source", "patient", "dose", "event", "count", "exposure", "event_type",
               "model", "dose_unit", "exposure_unit", "reference", "doses", "thresholds",
               "ci_prob", "ci_kind", "priors"},
    # arm-level summaries (bayesdose.model.arm_spec; fields checked there)
    "arm_data": None,
    "arm_model": None,
}


OUTCOME_FIELDS = {"direction", "mcid", "lower", "upper", "family", "unit", "label",
                  "likelihood", "sd", "lloq", "uloq"}


DEFAULT_COLUMNS = {"patient": "patient", "dose": "dose", "time": "time",
                   "outcome": "outcome", "value": "value"}


@dataclass
class ModelSpec:
    """A complete analysis: where the data are, the model, priors, sampler and estimands.

    Build it with :meth:`from_toml` or :meth:`from_dict`; run it with :func:`fit`.

    Attributes
    ----------
    name : str
        Name of the analysis.
    data : dict
        Data source and column names, and the patient-level ``covariates`` (a list of
        columns, or a table of column to ``"numeric"`` or ``"categorical"``).
    outcome_info : dict
        Per outcome metadata (direction, mcid, bounds, ...), added to or overriding the
        data's own.
    model : dict
        Arguments of :class:`~bayesdose.model.dose_response.DoseResponseModel` (without priors).
    priors : dict of str to Prior
        Prior overrides by parameter name.
    sampler : dict
        Arguments of :meth:`DoseResponseModel.fit`.
    estimands : dict
        Times, contrasts, reference dose and the credible intervals (``ci_prob``,
        ``ci_kind``) of the result tables.
    base_dir : Path, optional
        Folder that relative data paths are resolved against (the model file's folder).
    safety : SafetySpec, optional
        The ``[safety]`` section: an adverse-event analysis fitted beside the
        dose-response one (see :mod:`bayesdose.model.safety_spec`). A file with
        ``[safety]`` and no ``[data]``, ``[outcomes]``, ``[model]``, ``[priors]`` or
        ``[estimands]`` is a safety analysis only (:attr:`has_dose_response` is False).
    arm : ArmSpec, optional
        The ``[arm_data]`` and ``[arm_model]`` sections: arm-level summaries fitted alone
        (no ``[data]``) or with the patient-level trial (see
        :mod:`bayesdose.model.arm_spec`).

    Examples
    --------
    >>> spec = ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
    ...                             "model": {"outcomes": ["koos_pain"]}})
    >>> spec.build_model().dose_shape.name
    'emax'
    """

    name: str = "analysis"
    description: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    outcome_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    priors: dict[str, Prior] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    estimands: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None
    safety: SafetySpec | None = None
    arm: ArmSpec | None = None

    @classmethod
    def from_toml(cls, path: str | Path) -> ModelSpec:
        """Read and check a TOML model file (no code in it is run).

        Parameters
        ----------
        path : str or Path
            The model file.

        Returns
        -------
        ModelSpec

        Examples
        --------
        >>> spec = ModelSpec.from_toml("models/msc_koos_emax.toml")   # doctest: +SKIP
        """
        path = Path(path)
        return cls.from_dict(read_toml(path, "model file"), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: str | Path | None = None) -> ModelSpec:
        """Build and check a spec from a dict with the model file's structure.

        Parameters
        ----------
        raw : mapping
            Sections ``data``, ``outcomes``, ``model``, ``priors``, ``sampler``,
            ``estimands``, ``safety``, ``arm_data``, ``arm_model`` (and ``name``,
            ``description``).
        base_dir : str or Path, optional
            Folder for relative data paths.

        Returns
        -------
        ModelSpec

        Raises
        ------
        SpecError
            On any unknown field or bad value, naming the field (``section.field``).

        Examples
        --------
        >>> spec = ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
        ...                             "model": {"dose_shape": "linear"},
        ...                             "sampler": {"draws": 500, "random_seed": 3}})
        >>> spec.sampler
        {'draws': 500, 'random_seed': 3}
        >>> ModelSpec.from_dict({"sampler": {"draws": "many"}})
        Traceback (most recent call last):
        ...
        bayesdose.errors.SpecError: sampler.draws must be an integer >= 1 (got 'many').
        """
        if not isinstance(raw, Mapping):
            raise SpecError(f"a model specification is a table of sections (got "
                            f"{type(raw).__name__}).")
        check_keys(raw, set(SECTIONS), "")
        for section, allowed in SECTIONS.items():
            if allowed is not None and section in raw:
                check_keys(section_table(raw, section), allowed, f"{section}.")
        for key in ("name", "description"):
            if key in raw and not isinstance(raw[key], str):
                raise SpecError(f"{key} must be text in quotes (got {_short(raw[key])}).")
        _check_fields(section_table(raw, "data"), DATA_FIELDS, "data")
        _check_fields(section_table(raw, "model"), MODEL_FIELDS, "model")
        outcomes = section_table(raw, "outcomes")
        for name, meta in outcomes.items():
            if not isinstance(meta, Mapping):
                raise SpecError(f"outcomes.{name} must be a table of metadata fields.")
            check_keys(meta, OUTCOME_FIELDS, f"outcomes.{name}.")
        priors = {}
        for name, value in section_table(raw, "priors").items():
            _check_distributions(value, f"priors.{name}")
            priors[name] = prior_from_mapping(value, f"priors.{name}")
            _check_prior(priors[name], f"priors.{name}")
        spec = cls(
            name=str(raw.get("name", "analysis")),
            description=str(raw.get("description", "")),
            data=section_table(raw, "data"),
            outcome_info={k: dict(v) for k, v in outcomes.items()},
            model=section_table(raw, "model"),
            priors=priors,
            sampler=section_table(raw, "sampler"),
            estimands=read_estimands(section_table(raw, "estimands")),
            base_dir=None if base_dir is None else Path(base_dir),
            safety=read_safety(raw, base_dir),
            arm=read_arm(raw, base_dir),
        )
        spec._check_arm()
        spec._check_prior_names(spec.build_model())
        spec._check_sampler()
        spec._check_estimands()
        spec._check_outcome_info()
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (the model file's structure), for saving with a fit.

        Returns
        -------
        dict
            Sections as in a model file; :meth:`from_dict` reads it back.

        Examples
        --------
        >>> spec = ModelSpec.from_dict({"model": {"dose_shape": "linear"}})
        >>> ModelSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()
        True
        """
        out = {
            "name": self.name,
            "description": self.description,
            "data": dict(self.data),
            "outcomes": {k: dict(v) for k, v in self.outcome_info.items()},
            "model": dict(self.model),
            "priors": {k: prior_to_mapping(v) for k, v in self.priors.items()},
            "sampler": dict(self.sampler),
            "estimands": dict(self.estimands),
        }
        if self.safety is not None:
            out["safety"] = self.safety.to_dict()
        if self.arm is not None:
            out.update(self.arm.to_dict())
        return out

    @property
    def has_dose_response(self) -> bool:
        """Whether the spec describes a dose-response fit: False only for a file with a
        ``[safety]`` section and none of ``[data]``, ``[outcomes]``, ``[model]``,
        ``[priors]`` and ``[estimands]``.

        Examples
        --------
        >>> ModelSpec.from_dict({"safety": {"source": "embedded:msc_trial"}}).has_dose_response
        False
        """
        return self.safety is None or bool(self.data or self.outcome_info or self.model
                                           or self.priors or self.estimands)

    def to_toml(self, path: str | Path) -> Path:
        """Write the spec as a model file (atomically); :meth:`from_toml` reads it back.

        A data source that is a file path relative to this spec's folder is kept as it
        is, so the file must be written into that folder (data paths stay inside a model
        file's folder).

        Parameters
        ----------
        path : str or Path
            The ``.toml`` file to write.

        Returns
        -------
        Path
            The file written.

        Raises
        ------
        SpecError
            When the data source is a relative path and ``path`` is in another folder.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> spec = ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
        ...                             "model": {"dose_shape": "linear"}})
        >>> path = spec.to_toml(pathlib.Path(tempfile.mkdtemp()) / "linear.toml")
        >>> ModelSpec.from_toml(path).to_dict() == spec.to_dict()
        True
        """
        path = Path(path)
        sources = {"data.source": str(self.data.get("source", ""))}
        if self.safety is not None:
            sources["safety.source"] = str(self.safety.fields.get("source", ""))
        if self.arm is not None:
            sources["arm_data.source"] = str(self.arm.data.get("source", ""))
        for key, source in sources.items():
            relative = source and source not in EMBEDDED and not Path(source).is_absolute()
            if relative and self.base_dir is not None and \
                    path.resolve().parent != Path(self.base_dir).resolve():
                raise SpecError(f"{key} {source!r} is relative to {str(self.base_dir)!r}; "
                                f"write the model file into that folder, or give {key} "
                                "as a path from the new file's folder first.")
        return write_toml(self.to_dict(), path)

    def build_model(self) -> DoseResponseModel:
        """The :class:`~bayesdose.model.dose_response.DoseResponseModel` this spec describes.

        With ``[arm_data]`` it is the patient-level part of a combined model (its priors
        without ``tau`` and ``arm_course``), or for a file without ``[data]`` the
        patient-level model of the same shapes; the model that is fitted then is
        :meth:`build_arm_model`.

        Returns
        -------
        DoseResponseModel

        Examples
        --------
        >>> ModelSpec.from_dict({"model": {"dose_shape": "linear"}}).build_model().dose_shape.name
        'linear'
        """
        priors = self.priors if self.arm is None else {
            k: v for k, v in self.priors.items() if k not in COMBINED_ARM_PRIORS}
        try:
            return DoseResponseModel(priors=priors, **self.model)
        except BayesdoseError:
            raise
        except (TypeError, ValueError, ArithmeticError) as exc:
            options = [f"model.{k}" for k in ("dose_options", "time_options") if k in self.model]
            where = " or ".join(options) if options else "[model]"
            raise SpecError(f"{where}: {exc}") from exc

    @property
    def has_arm_data(self) -> bool:
        """Whether the spec fits arm-level summaries (an ``[arm_data]`` section): alone,
        or with ``[data]`` in a combined model.

        Examples
        --------
        >>> ModelSpec.from_dict({"model": {"dose_shape": "linear"}}).has_arm_data
        False
        """
        return self.arm is not None

    def build_arm_model(self) -> ArmModel | CombinedModel:
        """The arm-level model of a spec with ``[arm_data]``: an
        :class:`~bayesdose.ArmModel`, or with ``[data]`` a :class:`~bayesdose.CombinedModel`.

        Returns
        -------
        ArmModel or CombinedModel

        Raises
        ------
        SpecError
            When the spec has no ``[arm_data]``.

        Examples
        --------
        >>> spec = ModelSpec.from_dict({
        ...     "arm_data": {"source": "arms.csv", "study": "s", "dose": "d", "mean": "y",
        ...                  "se": "se"},
        ...     "arm_model": {"study_effects": "fixed"},
        ...     "model": {"dose_shape": "free", "time_shape": "emax"}})
        >>> model = spec.build_arm_model()
        >>> type(model).__name__, model.dose_shape.name, model.study_effects
        ('ArmModel', 'free', 'fixed')
        """
        if self.arm is None:
            raise SpecError("this model file has no [arm_data] section: its model is "
                            "build_model().")
        if not self.data:
            return self.arm.arm_model(self.model, self.priors)
        return self.arm.combined_model(self.build_model(), self.model, self.priors)

    def _check_arm(self) -> None:
        """How ``[arm_data]`` and ``[arm_model]`` go with the other sections."""
        if self.arm is None:
            if "mcid" in self.estimands:
                raise SpecError("estimands.mcid is read by arm-level analyses ([arm_data]); "
                                "give a patient-level outcome's MCID as outcomes.<name>.mcid.")
            return
        if self.safety is not None:
            raise SpecError("[safety] and [arm_data] are both given; fit the adverse-event "
                            "analysis in a model file of its own.")
        if not self.data:
            extra = sorted(set(self.model) - set(ARM_MODEL_SECTION))
            if extra:
                raise SpecError(f"model.{extra[0]} is a setting of the patient-level model, "
                                "but this file has [arm_data] and no [data]; an arm-level "
                                f"analysis reads only {', '.join(ARM_MODEL_SECTION)} from "
                                f"[model]: remove model.{extra[0]}.")
            if self.outcome_info:
                name = next(iter(self.outcome_info))
                raise SpecError(f"[outcomes.{name}] describes a patient-level outcome, but "
                                "this file has no [data]; give the arm-level outcome's "
                                f"metadata as [arm_data.outcomes.{name}].")
            if "trial_study" in self.arm.model:
                raise SpecError("arm_model.trial_study names the patient-level trial among "
                                "the studies, but this file has no [data]: remove it, or add "
                                "the trial's [data] section.")
        if self.estimands.get("ci_kind", "eti") != "eti":
            raise SpecError("estimands.ci_kind: arm-level read-outs have equal-tailed "
                            "intervals; remove ci_kind or set ci_kind = \"eti\".")
        if "reference" in self.estimands:
            raise SpecError("estimands.reference: arm-level effects are against placebo "
                            "(dose 0); ask for contrasts between doses with contrasts = "
                            "[[50, 25]] instead.")
        mcid = self.estimands.get("mcid")
        if mcid is not None and not (_is_finite(mcid) and mcid > 0):
            raise SpecError(f"estimands.mcid must be a positive number in outcome units "
                            f"(got {_short(mcid)}).")
        self.build_arm_model()

    def _prior_names(self, model: DoseResponseModel) -> list[str]:
        """The names a ``[priors]`` table may give."""
        if self.arm is not None and not self.data:
            return self.arm.parameter_names(self.model)
        names = self._patient_prior_names(model)
        return names + list(COMBINED_ARM_PRIORS) if self.arm is not None else names

    def _check_prior_names(self, model: DoseResponseModel) -> None:
        """Every prior names a parameter of the model (names do not depend on the data)."""

        names = self._prior_names(model)
        for name in self.priors:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise SpecError(
                    f"priors.{name}: no parameter named {name!r} in this model "
                    f"(dose_shape={model.dose_shape.name!r}, "
                    f"time_shape={model.time_shape.name!r}).{hint} Its parameters are "
                    f"{', '.join(names)}.")

    @staticmethod
    def _patient_prior_names(model: DoseResponseModel) -> list[str]:
        names: list[str] = []
        for correlated in ("none", "lkj", "factor"):
            params = model_parameters(model.dose_shape, model.time_shape,
                                      DoseScale((1.0, 2.0, 4.0)), TimeScale((1.0, 2.0, 4.0)),
                                      set(LIKELIHOODS), pooled=True, correlated=correlated,
                                      covariates=True,
                                      serial_correlation=model.serial_correlation,
                                      patient_slopes=model.patient_slopes)
            names += [p.name for p in params if p.name not in names]
        return names

    def _check_sampler(self) -> None:

        for key, value in self.sampler.items():
            if key == "sampler":
                ok, want = isinstance(value, str) and value in SAMPLERS, (
                    f"one of {', '.join(map(repr, SAMPLERS))}")
            elif key == "target_accept":
                ok, want = _is_number(value) and 0 < value < 1, "a number between 0 and 1"
            else:
                low = 0 if key in ("tune", "random_seed") else 1
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
                want = f"an integer >= {low}"
            if not ok:
                raise SpecError(f"sampler.{key} must be {want} (got {value!r}).")

    def _check_outcome_info(self) -> None:

        for name, meta in self.outcome_info.items():
            for key in ("mcid", "lower", "upper", "sd", "lloq", "uloq"):
                if meta.get(key) is not None and not _is_finite(meta[key]):
                    raise SpecError(f"outcomes.{name}.{key} must be a finite number "
                                    f"(got {_short(meta[key])}).")
            for key in ("direction", "family", "unit", "label", "likelihood"):
                if key in meta and not isinstance(meta[key], str):
                    raise SpecError(f"outcomes.{name}.{key} must be text in quotes "
                                    f"(got {_short(meta[key])}).")
            if "likelihood" in meta and not _is_likelihood(meta["likelihood"]):
                raise SpecError(f"outcomes.{name}.likelihood must be one of \"normal\", "
                                f"\"student_t\", \"lognormal\", \"ordinal\" (got "
                                f"{_short(meta['likelihood'])}).")
            try:
                outcome_info_from_mapping(name, meta)
            except BayesdoseError as exc:
                raise SpecError(f"outcomes.{name}: {exc}") from exc

    def _check_estimands(self) -> None:
        contrasts = self.estimands.get("contrasts", [])
        if not isinstance(contrasts, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(_is_dose(x) for x in c)
            for c in contrasts
        ):
            raise SpecError("estimands.contrasts must be a list of [dose, reference] pairs of "
                            "doses (finite numbers >= 0), e.g. [[50, 1], [10, 1]].")
        for key, check, what in (("times", _is_finite, "finite numbers"),
                                 ("doses", _is_dose, "doses (finite numbers >= 0)")):
            values = self.estimands.get(key, [])
            if not isinstance(values, list) or not all(check(x) for x in values):
                raise SpecError(f"estimands.{key} must be a list of {what} (got "
                                f"{_short(values)}).")
        reference = self.estimands.get("reference")
        if reference is not None and not _is_dose(reference):
            raise SpecError(f"estimands.reference must be a dose (a finite number >= 0), got "
                            f"{_short(reference)}.")
        prob = self.estimands.get("ci_prob", 0.95)
        if not (_is_number(prob) and 0 < prob < 1):
            raise SpecError(f"estimands.ci_prob must be between 0 and 1 (got {prob!r}).")
        kind = self.estimands.get("ci_kind", "eti")
        if not isinstance(kind, str) or kind not in CI_KINDS:
            raise SpecError(f"estimands.ci_kind must be \"eti\" (equal-tailed interval) or "
                            f"\"hdi\" (highest-density interval), got {_short(kind)}.")

    # ------------------------------------------------------------------ data
    def load_data(self, path: str | Path | None = None) -> TrialData:
        """Load the trial data the spec names, or ``path`` instead (from the command line).

        A data path inside a model file is resolved relative to the file and must stay
        inside the file's folder; a path given here (by the user) may be anywhere.

        Parameters
        ----------
        path : str or Path, optional
            A CSV file that overrides the spec's data source.

        Returns
        -------
        TrialData

        Raises
        ------
        SpecError
            When the spec names no data and none is given, or a data path that leaves the
            model file's folder.
        DataError
            When the data are malformed.

        Examples
        --------
        >>> spec = ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"}})
        >>> len(spec.load_data().patients)
        12
        """

        source = self.data.get("source")
        if path is None and isinstance(source, str) and source.startswith("embedded:") \
                and source not in EMBEDDED:
            raise SpecError(f"data.source {source!r}: no such embedded data set; the embedded "
                            f"ones are {', '.join(sorted(EMBEDDED))}.")
        covariates = self.data.get("covariates")
        censored = self.data.get("censored")
        if path is None and source in EMBEDDED:
            data = datasets.load_msc_trial()
            if self.outcome_info or covariates or censored:
                data = _with_outcome_info(data, self.outcome_info, covariates, censored)
            return data
        if path is None:
            if not source:
                only = (" (this model file has only a [safety] analysis)"
                        if not self.has_dose_response else "")
                raise SpecError(f"[data] has no source{only}: add source = \"file.csv\" "
                                "(relative to the model file) or pass the data on the "
                                "command line (--data FILE).")
            path = self._resolve_inside(str(source))
        columns = {role: self.data.get(role, default)
                   for role, default in DEFAULT_COLUMNS.items()}
        wide = self.data.get("outcomes")
        long_cols = {"outcome": None, "value": None} if wide else {
            "outcome": columns["outcome"], "value": columns["value"]}
        return TrialData.from_csv(
            path, patient=columns["patient"], dose=columns["dose"], time=columns["time"],
            outcomes=wide, dose_unit=self.data.get("dose_unit"),
            time_unit=self.data.get("time_unit"), baseline_time=self.data.get("baseline_time"),
            outcome_info=self.outcome_info or None, covariates=covariates, censored=censored,
            actual_time=self.data.get("actual_time"),
            **long_cols,
        )

    def _resolve_inside(self, source: str) -> Path:
        return resolve_inside(self.base_dir, source, "data.source", "model file")


def read_estimands(table: Mapping[str, Any]) -> dict[str, Any]:
    """An ``[estimands]`` table with an older ``hdi_prob`` key read as ``ci_prob`` with
    ``ci_kind = "hdi"`` (what it meant), with a :class:`DeprecationWarning`.

    Parameters
    ----------
    table : mapping
        The ``[estimands]`` section.

    Returns
    -------
    dict

    Raises
    ------
    SpecError
        When both ``hdi_prob`` and ``ci_prob`` (or ``ci_kind``) are given.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     read_estimands({"hdi_prob": 0.9, "times": [12]})
    {'times': [12], 'ci_prob': 0.9, 'ci_kind': 'hdi'}
    """
    out = dict(table)
    if "hdi_prob" not in out:
        return out
    both = [key for key in ("ci_prob", "ci_kind") if key in out]
    if both:
        raise SpecError(f"estimands.hdi_prob and estimands.{both[0]} are both given; "
                        "hdi_prob is the older name of ci_prob (with ci_kind = \"hdi\"): "
                        "keep ci_prob and ci_kind only.")
    warnings.warn("estimands.hdi_prob is deprecated: write ci_prob (and ci_kind = \"hdi\" "
                  "for highest-density intervals; the default, \"eti\", is equal-tailed). "
                  "It is read as ci_prob with ci_kind = \"hdi\".", DeprecationWarning,
                  stacklevel=3)
    out["ci_prob"] = out.pop("hdi_prob")
    out["ci_kind"] = "hdi"
    return out


def estimand_interval(estimands: Mapping[str, Any]) -> tuple[float, str]:
    """The credible interval (probability, kind) an ``[estimands]`` table asks for.

    Defaults: 0.95, ``"eti"``. A table recorded by an older version (with ``hdi_prob``)
    is read as that probability with ``"hdi"``, what it meant then (without a warning:
    it is a record, not a file being written).

    Parameters
    ----------
    estimands : mapping
        An ``[estimands]`` section (as in a model file, or recorded in a fit).

    Returns
    -------
    (float, str)

    Examples
    --------
    >>> estimand_interval({}), estimand_interval({"hdi_prob": 0.9})
    ((0.95, 'eti'), (0.9, 'hdi'))
    """
    if "hdi_prob" in estimands and "ci_prob" not in estimands:
        return float(estimands["hdi_prob"]), "hdi"
    return float(estimands.get("ci_prob", 0.95)), str(estimands.get("ci_kind", "eti"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _is_dose(value: Any) -> bool:
    return _is_finite(value) and value >= 0


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_text_list(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(_is_text(v) for v in value)
            and len(set(value)) == len(value))


def _is_covariates(value: Any) -> bool:
    """A list of distinct column names, or a non-empty table of column = kind."""
    if isinstance(value, Mapping):
        return bool(value) and all(_is_text(k) and v in COVARIATE_KINDS
                                   for k, v in value.items())
    return _is_text_list(value)


def _is_censored(value: Any) -> bool:
    """A column name, or a non-empty table of outcome column = flag column."""
    if isinstance(value, Mapping):
        return bool(value) and all(_is_text(k) and _is_text(v) for k, v in value.items())
    return _is_text(value)


def _is_options(value: Any) -> bool:
    """A table of shape options: text, finite numbers, or lists of finite numbers."""
    def ok(v: Any) -> bool:
        if isinstance(v, list):
            return all(_is_finite(x) for x in v)
        return isinstance(v, str) or _is_finite(v)

    return isinstance(value, Mapping) and all(ok(v) for v in value.values())


def _is_likelihood(value: Any) -> bool:

    names = list(value.values()) if isinstance(value, Mapping) else [value]
    return all(isinstance(v, str) and v in LIKELIHOODS for v in names)


def _is_distribution(name: str) -> bool:
    """Whether ``name`` is a PyMC distribution (looked up as a name, never evaluated)."""

    if not name.isidentifier() or name.startswith("_"):
        return False
    found = getattr(pm, name, None)
    return isinstance(found, type) and issubclass(found, pm.Distribution)


#: Per field of [data] and [model]: the check its value must pass and what it should be.
DATA_FIELDS: dict[str, tuple[Any, str]] = {
    "source": (_is_text, "a file name in quotes (relative to the model file)"),
    **{role: (_is_text, "a column name in quotes")
       for role in ("patient", "dose", "time", "outcome", "value")},
    "outcomes": (_is_text_list, "a list of distinct column names, e.g. [\"pain\"]"),
    "dose_unit": (_is_text, "text in quotes, e.g. \"mg\""),
    "time_unit": (_is_text, "text in quotes, e.g. \"months\""),
    "baseline_time": (_is_finite, "a finite number (a time in the data)"),
    "covariates": (_is_covariates, "a list of distinct column names of patient-level "
                   "covariates, e.g. [\"sex\", \"age\"], or a table of column = "
                   "\"numeric\" or \"categorical\", e.g. {sex = \"categorical\"}"),
    "actual_time": (_is_text, "the name of the column of actual measurement times in "
                    "quotes, e.g. \"study_day\" (the time column then holds the nominal "
                    "visits)"),
    "censored": (_is_censored, "the name of the column of censoring flags in quotes, e.g. "
                 "\"flag\" (\"<\" below the LLOQ, \">\" above the ULOQ), or for wide data a "
                 "table of outcome column = flag column"),
}


MODEL_FIELDS: dict[str, tuple[Any, str]] = {
    "outcomes": (_is_text_list, "a list of distinct outcome names, e.g. [\"koos_pain\"]"),
    "dose_shape": (_is_text, "a shape name in quotes, e.g. \"emax\""),
    "time_shape": (_is_text, "a shape name in quotes, e.g. \"exponential\""),
    "likelihood": (_is_likelihood, "one of \"normal\", \"student_t\", \"lognormal\", "
                   "\"ordinal\", or a table of outcome = one of them"),
    "dose_options": (_is_options, "a table of options (text, numbers or lists of numbers)"),
    "time_options": (_is_options, "a table of options (text, numbers or lists of numbers)"),
    "pooling": (lambda v: v in ("family", "family_normal", "none"),
                "\"family\", \"family_normal\" or \"none\""),
    "patient_correlation": (lambda v: isinstance(v, bool) or v in ("factor", "lkj", "none"),
                            "\"factor\", \"lkj\" or \"none\""),
    "lkj_eta": (lambda v: _is_finite(v) and v > 0, "a positive number"),
    "patient_effects": (lambda v: isinstance(v, bool), "true or false"),
    "analysis": (lambda v: v in ("auto", "change", "clda"),
                 "\"auto\", \"change\" or \"clda\""),
    "residual_sd": (lambda v: v in ("common", "per_visit"),
                    "\"common\" (one residual SD per outcome) or \"per_visit\" (one per "
                    "outcome and visit)"),
    "serial_correlation": (lambda v: v in ("none", "ar1"),
                           "\"none\" (independent residuals) or \"ar1\" (a continuous-time "
                           "AR(1) within patient and outcome)"),
    "patient_slopes": (lambda v: isinstance(v, bool),
                       "true (a slope in time per patient and outcome) or false"),
}


#: Per field of [safety] (but ``priors``): the check its value must pass and what it should be.
SAFETY_FIELDS: dict[str, tuple[Any, str]] = {
    "source": (_is_text, "a file name in quotes (relative to the model file) or "
               "\"embedded:msc_trial\""),
    **{role: (_is_text, "a column name in quotes")
       for role in ("patient", "dose", "event", "count", "exposure", "event_type")},
    "model": (lambda v: v in SAFETY_MODELS,
              "\"binary\" (yes/no per patient), \"poisson\" or \"negative_binomial\" "
              "(event counts)"),
    "dose_unit": (_is_text, "text in quotes, e.g. \"mg\""),
    "exposure_unit": (_is_text, "text in quotes, e.g. \"patient-years\""),
    "reference": (_is_dose, "a dose (a finite number >= 0)"),
    "doses": (lambda v: isinstance(v, list) and bool(v) and all(_is_dose(x) for x in v),
              "a list of doses (finite numbers >= 0), e.g. [1, 10, 50]"),
    "thresholds": (lambda v: isinstance(v, list) and bool(v)
                   and all(_is_number(x) and 0 < x < 1 for x in v),
                   "a list of event probabilities between 0 and 1, e.g. [0.2, 0.33]"),
    "ci_prob": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
    "ci_kind": (lambda v: v in CI_KINDS,
                "\"eti\" (equal-tailed interval) or \"hdi\" (highest-density interval)"),
}


def read_safety(raw: Mapping[str, Any], base_dir: str | Path | None = None) -> SafetySpec | None:
    """The checked ``[safety]`` section of a model file, or None when it has none.

    Each field is checked against :data:`SAFETY_FIELDS`, each ``[safety.priors.<name>]``
    as a ``[priors]`` table is, then how they go together
    (:meth:`SafetySpec.from_table <bayesdose.model.safety_spec.SafetySpec.from_table>`).

    Parameters
    ----------
    raw : mapping
        The whole model file (its unknown keys already refused).
    base_dir : str or Path, optional
        Folder for a relative ``safety.source``.

    Returns
    -------
    SafetySpec or None

    Raises
    ------
    SpecError
        Naming the field (``safety.<field>``) and what it should be.

    Examples
    --------
    >>> read_safety({"safety": {"source": "embedded:msc_trial"}}).model_name
    'binary'
    >>> read_safety({"safety": {"source": "ae.csv", "model": "logistic"}})
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: safety.model must be "binary" (yes/no per patient), \
"poisson" or "negative_binomial" (event counts) (got 'logistic').
    """
    if "safety" not in raw:
        return None
    table = section_table(raw, "safety")
    prior_tables = table.pop("priors", {})
    if not isinstance(prior_tables, Mapping):
        raise SpecError(f"safety.priors must be a table of priors by parameter name, e.g. "
                        f"[safety.priors.beta] (got {_short(prior_tables)}).")
    _check_fields(table, SAFETY_FIELDS, "safety")
    priors = {}
    for name, value in prior_tables.items():
        where = f"safety.priors.{name}"
        _check_distributions(value, where)
        priors[name] = prior_from_mapping(value, where)
        _check_prior(priors[name], where)
    return SafetySpec.from_table(table, priors, base_dir)


#: Prior parameters that must be positive (scales, rates, degrees of freedom, shapes).
POSITIVE_PARAMETERS = {"sigma", "tau", "lam", "nu", "b", "beta", "kappa", "eta"}


def _check_fields(table: Mapping[str, Any], checks: dict[str, tuple[Any, str]],
                  section: str) -> None:
    for key, value in table.items():
        check, want = checks[key]
        if not check(value):
            raise SpecError(f"{section}.{key} must be {want} (got {_short(value)}).")


def _check_distributions(value: Any, field: str) -> None:
    """Every ``distribution`` of a prior table (and its hyperpriors) names a PyMC one."""
    if not isinstance(value, Mapping):
        return
    name = value.get("distribution")
    if isinstance(name, str) and not _is_distribution(name):
        close = difflib.get_close_matches(name, ["Normal", "HalfNormal", "StudentT",
                                                 "HalfStudentT", "LogNormal", "Gamma",
                                                 "Exponential", "Beta", "Cauchy",
                                                 "HalfCauchy", "Uniform"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"{field}.distribution: {_short(name)} is not a PyMC distribution."
                        f"{hint} Use a name such as \"Normal\" or \"HalfNormal\".")
    for key, sub in value.items():
        if isinstance(sub, Mapping):
            _check_distributions(sub, f"{field}.{key}")


def _check_prior(prior: Prior, field: str) -> None:
    """Refuse improper priors and non-finite or (for scales) non-positive parameters."""
    if prior.distribution in ("Flat", "HalfFlat"):
        raise SpecError(f"{field}: {prior.distribution} is an improper prior, which cannot "
                        "be drawn from; use a proper one, e.g. Normal with a wide sigma.")
    for key, value in prior.parameters.items():
        where = f"{field}.{key}"
        if isinstance(value, Prior):
            _check_prior(value, where)
            continue
        numbers = value if isinstance(value, list) else [value]
        while any(isinstance(v, list) for v in numbers):
            numbers = [x for v in numbers for x in (v if isinstance(v, list) else [v])]
        if not all(_is_finite(v) for v in numbers):
            raise SpecError(f"{where} must be a finite number (got {_short(value)}).")
        positive = key in POSITIVE_PARAMETERS or (key == "alpha"
                                                  and prior.distribution != "SkewNormal")
        if positive and not all(v > 0 for v in numbers):
            raise SpecError(f"{where} must be > 0 (got {_short(value)}).")


def _with_outcome_info(data: TrialData, overrides: dict[str, dict[str, Any]],
                       covariates: list[str] | dict[str, str] | None = None,
                       censored: str | dict[str, str] | None = None) -> TrialData:
    merged: dict[str, Any] = {}
    for name in data.outcomes:
        current = data.info(name).to_dict()
        current.pop("name")
        current.update(overrides.get(name, {}))
        merged[name] = current
    unknown = [n for n in overrides if n not in data.outcomes]
    if unknown:
        raise SpecError(f"[outcomes] names outcome(s) {unknown} not in the data "
                        f"({', '.join(data.outcomes)}).")
    frame = data.table.drop(columns="source_row")
    if "censored" in frame and censored is None:  # keep the data's own flags
        frame["censored"] = frame["censored"].map(FLAG_TEXT)
        censored = "censored"
    return TrialData.from_frame(
        frame, patient="patient", dose="dose", time="time",
        outcome="outcome", value="value", dose_unit=data.dose_unit, time_unit=data.time_unit,
        baseline_time=data.baseline_time, outcome_info=merged, covariates=covariates,
        censored=censored,
    )


def fit(spec: ModelSpec, data: TrialData | None = None, **sampler: Any):
    """Run a model file end to end: load the data, build the model, sample.

    Parameters
    ----------
    spec : ModelSpec
        The analysis.
    data : TrialData, optional
        Data to use instead of the spec's source.
    **sampler
        Overrides of the spec's sampler settings (e.g. ``draws=200``).

    Returns
    -------
    DoseResponseFit, or ArmFit / CombinedFit
        A spec with ``[arm_data]`` gives an :class:`~bayesdose.results.arm_fit.ArmFit`
        (no ``[data]``) or a :class:`~bayesdose.model.combined.CombinedFit` (``data``
        then overrides the patient-level trial).

    Examples
    --------
    >>> import bayesdose as bd
    >>> spec = bd.ModelSpec.from_toml("models/msc_koos_emax.toml")   # doctest: +SKIP
    >>> fit = bd.fit(spec, draws=500)                                # doctest: +SKIP
    """
    if spec.arm is not None:
        return _fit_arms(spec, data, **sampler)
    data = spec.load_data() if data is None else data
    try:
        result = spec.build_model().fit(data, **{**spec.sampler, **sampler})
    except SamplingError as exc:
        raise SpecError(
            f"the model cannot be evaluated where sampling starts ({exc}). Check the priors "
            "in [priors] (scales must be positive, values plausible on the standardised "
            "scale) and the data's outliers."
        ) from exc
    record_spec(result.idata, spec.to_dict())
    return result


def _fit_arms(spec: ModelSpec, trial: TrialData | None = None, **sampler: Any):
    """The arm-level or combined fit of a spec with ``[arm_data]``."""
    if spec.data:
        trial = spec.load_data() if trial is None else trial
    elif trial is not None:
        raise SpecError("patient-level data were given, but this model file has [arm_data] "
                        "and no [data]; add a [data] section for a combined model.")
    model = spec.build_arm_model()
    try:
        result = spec.arm.fit(model, spec.arm.load_data(), trial, **{**spec.sampler, **sampler})
    except SamplingError as exc:
        raise SpecError(
            f"the model cannot be evaluated where sampling starts ({exc}). Check the priors "
            "in [priors] and the arm-level data's means and standard errors.") from exc
    record_arm_spec(result.idata, spec.to_dict())
    return result
