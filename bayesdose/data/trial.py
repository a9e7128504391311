"""Trial data in: validation, baseline and change from baseline, missing-visit report.

A :class:`TrialData` holds one longitudinal dose trial in long form, one row per
patient x time x outcome, in the user's own column names and units. It is built from a
long or wide :class:`pandas.DataFrame` or CSV file; every check that fails raises a
:class:`~bayesdose.errors.DataError` naming the column, the rows and the fix. Nothing is
dropped silently: missing post-baseline values are kept as missing and reported by
:meth:`TrialData.missing`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.errors import DataError, describe_rows

DIRECTIONS = ("higher_is_better", "lower_is_better")


CANONICAL = ("patient", "dose", "time", "outcome", "value")

#: The kinds a patient-level covariate can be declared as (``covariates={"sex": ...}``).
COVARIATE_KINDS = ("numeric", "categorical")


#: Cell texts that a CSV file uses for a missing value (as pandas reads them by default).
MISSING_TOKENS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})


_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


_INFINITY = re.compile(r"[+-]?inf(?:inity)?", re.IGNORECASE)


_TEXT_FIELDS = ("family", "unit", "label", "likelihood")


@dataclass(frozen=True)
class OutcomeInfo:
    """What is known about one outcome besides its values.

    Parameters
    ----------
    name : str
        The outcome's name as it appears in the data.
    direction : {"higher_is_better", "lower_is_better"}
        Which way is improvement. Contrasts and probabilities of benefit use it.
    mcid : float, optional
        Minimal clinically important difference, in the outcome's units (positive). For
        an outcome modelled with a lognormal likelihood, whose effects are changes in log
        value, give it as a change in log value (0.2 is about a 20% change).
    lower, upper : float, optional
        Bounds of the scale; values outside them are an input error.
    family : str, optional
        Group of related outcomes (for example ``"PROM"``, ``"MRI"``, ``"biomarker"``).
    unit : str, optional
        Unit of the values, used in labels.
    label : str, optional
        Human-readable name, used in figures.
    likelihood : str, optional
        Suggested likelihood (``"normal"``, ``"lognormal"``, ``"ordinal"``).
    sd : float, optional
        The outcome's SD in its own units (positive), stated before seeing the trial (for
        example the between-patient SD in the target population, from earlier studies);
        for an outcome modelled with a lognormal likelihood, the SD of its log values.
        Every default prior is stated in units of this SD (see
        :func:`bayesdose.components.inputs.prepare_inputs`); when it is not given, the
        pooled within-arm SD of the trial's changes at the last visit is used. Ordinal
        outcomes are on the latent logit scale and take no ``sd``.
    lloq, uloq : float, optional
        Lower and upper limits of quantification of the assay (positive, ``lloq <
        uloq``), in the outcome's units. A value below the LLOQ or above the ULOQ is
        censored at the limit: its likelihood is the probability of lying beyond it (see
        :meth:`TrialData.from_frame`, ``censored``). Without a flag column, values at or
        below ``lloq`` (0 and negative values included) are read as below it, and values
        at or above ``uloq`` as above it. Ordinal outcomes take no limits.

    Examples
    --------
    >>> OutcomeInfo("womac_pain", direction="lower_is_better", mcid=10).sign
    -1
    >>> OutcomeInfo("koos_pain", sd=12).sd
    12
    >>> OutcomeInfo("crp", likelihood="lognormal", lloq=0.5).lloq
    0.5
    """

    name: str
    direction: str = "higher_is_better"
    mcid: float | None = None
    lower: float | None = None
    upper: float | None = None
    family: str | None = None
    unit: str | None = None
    label: str | None = None
    likelihood: str | None = None
    sd: float | None = None
    lloq: float | None = None
    uloq: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError(f"an outcome's name must be a non-empty string (got {self.name!r}).")
        for key in ("mcid", "lower", "upper", "sd", "lloq", "uloq"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, (bool, np.bool_))
                                      or not isinstance(value, (int, float, np.number))):
                raise DataError(f"outcome {self.name!r}: {key} must be a number "
                                f"(got {_short(value)}).")
        for key in ("lower", "upper"):
            value = getattr(self, key)
            if value is not None and not np.isfinite(value):
                raise DataError(f"outcome {self.name!r}: {key} bound must be a finite number "
                                f"(got {value!r}); leave it out if the scale has no {key} "
                                "bound.")
        for key in _TEXT_FIELDS:
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise DataError(f"outcome {self.name!r}: {key} must be text (got "
                                f"{_short(value)}).")
        if not isinstance(self.direction, str) or self.direction not in DIRECTIONS:
            raise DataError(
                f"outcome {self.name!r}: direction {self.direction!r} is not one of "
                f"{', '.join(DIRECTIONS)}; say which way is improvement."
            )
        if self.mcid is not None and not (np.isfinite(self.mcid) and self.mcid > 0):
            raise DataError(
                f"outcome {self.name!r}: mcid must be a positive number in the outcome's "
                f"units (got {self.mcid!r}); the direction is given separately."
            )
        self._check_sd()
        self._check_limits()
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise DataError(
                f"outcome {self.name!r}: lower bound {self.lower} is not below upper bound "
                f"{self.upper}."
            )

    def _check_sd(self) -> None:
        if self.sd is None:
            return
        if not (np.isfinite(self.sd) and self.sd > 0):
            raise DataError(
                f"outcome {self.name!r}: sd must be a positive, finite number (the outcome's "
                f"SD in its own units; of its log values for a lognormal outcome), got "
                f"{self.sd!r}. Leave it out to use the trial's pooled within-arm SD of the "
                "change."
            )
        if self.likelihood == "ordinal":
            raise DataError(
                f"outcome {self.name!r}: sd is given ({self.sd!r}) but the outcome is "
                "ordinal, whose effects are on the latent logit scale (SD 1) whatever its "
                "grades; remove sd, or choose another likelihood."
            )

    def _check_limits(self) -> None:
        """Detection limits: positive, finite, the lower below the upper; not ordinal."""
        for key in ("lloq", "uloq"):
            value = getattr(self, key)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise DataError(
                    f"outcome {self.name!r}: {key} must be a positive, finite number (the "
                    f"assay's {'lower' if key == 'lloq' else 'upper'} limit of "
                    f"quantification in the outcome's units), got {value!r}. Leave it out "
                    "if the assay has none.")
        if self.lloq is not None and self.uloq is not None and self.lloq >= self.uloq:
            raise DataError(f"outcome {self.name!r}: lloq {self.lloq!r} is not below uloq "
                            f"{self.uloq!r}; the lower limit of quantification must be the "
                            "smaller.")
        if self.likelihood == "ordinal" and (self.lloq is not None or self.uloq is not None):
            raise DataError(f"outcome {self.name!r}: lloq/uloq are given but the outcome is "
                            "ordinal, whose grades cannot be censored; remove them, or "
                            "choose another likelihood.")

    @property
    def sign(self) -> int:
        """+1 when higher values are better, -1 when lower values are better."""
        return 1 if self.direction == "higher_is_better" else -1

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for saving with a fit).

        Returns
        -------
        dict
            One entry per field, ``name`` included.

        Examples
        --------
        >>> OutcomeInfo("womac_pain", direction="lower_is_better", mcid=10).to_dict()["mcid"]
        10
        """
        return asdict(self)


def outcome_info_from_mapping(name: str, values: Mapping[str, Any] | OutcomeInfo) -> OutcomeInfo:
    """Build an :class:`OutcomeInfo` from a mapping, naming any unknown field.

    Parameters
    ----------
    name : str
        The outcome's name.
    values : mapping or OutcomeInfo
        Fields of :class:`OutcomeInfo` other than ``name``.

    Returns
    -------
    OutcomeInfo

    Examples
    --------
    >>> outcome_info_from_mapping("koos_pain", {"mcid": 10}).mcid
    10
    """
    if isinstance(values, OutcomeInfo):
        return values
    if not isinstance(values, Mapping):
        raise DataError(f"outcome_info[{name!r}] must be a dict of metadata fields such as "
                        f"{{'direction': 'higher_is_better', 'mcid': 10}} (got "
                        f"{_short(values)}).")
    known = {f for f in OutcomeInfo.__dataclass_fields__ if f != "name"}
    unknown = sorted(map(str, set(values) - known))
    if unknown:
        raise DataError(
            f"outcome {name!r}: unknown metadata field(s) {', '.join(unknown)}; "
            f"known fields are {', '.join(sorted(known))}."
        )
    clean = {k: (None if _is_missing(v) else v) for k, v in values.items()}
    return OutcomeInfo(name=name, **clean)


def _is_missing(value: Any) -> bool:
    """None, NaN or an empty string: a metadata field left empty (as in a metadata table)."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return isinstance(value, str) and value.strip() == ""


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Columns:
    """The user's column names for each canonical role."""

    patient: str
    dose: str
    time: str
    outcome: str | None = None
    value: str | None = None
    outcomes: list[str] | None = None
    dose_unit: str | None = None
    time_unit: str | None = None


@dataclass
class TrialData:
    """A validated longitudinal dose trial, one row per patient x time x outcome.

    Build it with :meth:`from_frame` or :meth:`from_csv`; the constructor expects an
    already validated table and is not meant to be called directly.

    Attributes
    ----------
    table : pandas.DataFrame
        Long table with columns ``patient, dose, time, outcome, value`` (canonical names)
        and ``source_row`` (where each row came from, for error messages); with a flag
        column or declared limits of quantification also ``censored`` (-1 below the lower
        limit, 0 observed, +1 above the upper one; a censored row's value is its limit).
    columns : dict
        The user's names for the canonical columns and the units of dose and time.
    baseline_time : float
        The time whose row is each patient's baseline.
    outcome_info : dict of str to OutcomeInfo
        Metadata per outcome (direction, MCID, bounds, ...).
    covariates : pandas.DataFrame
        Patient-level covariates declared with ``covariates=`` (one row per patient,
        indexed by patient id, one column per covariate in the user's column names):
        numeric ones as floats, categorical ones as text. No columns when none were
        declared.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2], "mg": [1, 1, 5, 5], "wk": [0, 4, 0, 4],
    ...                    "pain": [50.0, 40.0, 52.0, 30.0]})
    >>> data = TrialData.from_frame(df, patient="id", dose="mg", time="wk",
    ...                             outcomes=["pain"])
    >>> data.changes["change"].tolist()
    [-10.0, -22.0]
    """

    table: pd.DataFrame
    columns: dict[str, Any]
    baseline_time: float
    outcome_info: dict[str, OutcomeInfo] = field(default_factory=dict)
    covariates: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.covariates is None or len(self.covariates.columns) == 0:
            self.covariates = pd.DataFrame(index=pd.Index(self.patients, name="patient"))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        patient: str,
        dose: str,
        time: str,
        outcome: str | None = None,
        value: str | None = None,
        outcomes: Sequence[str] | None = None,
        dose_unit: str | None = None,
        time_unit: str | None = None,
        baseline_time: float | None = None,
        outcome_info: Mapping[str, Mapping[str, Any] | OutcomeInfo] | None = None,
        covariates: Sequence[str] | Mapping[str, str] | None = None,
        censored: str | Mapping[str, str] | None = None,
        actual_time: str | None = None,
    ) -> TrialData:
        """Validate a long or wide DataFrame and build a :class:`TrialData`.

        Long input names ``outcome`` and ``value`` columns; wide input names the outcome
        columns in ``outcomes`` (each becomes an outcome of that name).

        Parameters
        ----------
        frame : pandas.DataFrame
            The trial table.
        patient, dose, time : str
            Names of the patient id, dose and time columns.
        outcome, value : str, optional
            Long form: names of the outcome-name and value columns.
        outcomes : sequence of str, optional
            Wide form: names of the outcome columns.
        dose_unit, time_unit : str, optional
            Units, used in labels and outputs (default: the column names).
        baseline_time : float, optional
            Time of the baseline visit (default: the smallest time in the data). A
            patient may lack a baseline value; for data without any (one measurement per
            patient after dosing) give a time before every time in the data, such as 0.
            The model then uses the constrained longitudinal analysis (see
            :class:`~bayesdose.DoseResponseModel`, ``analysis``).
        outcome_info : mapping, optional
            Per outcome, an :class:`OutcomeInfo` or a mapping of its fields.
        covariates : sequence of str or mapping of str to str, optional
            Columns of patient-level covariates (for example ``["sex", "age"]``), each
            constant within a patient and given on every row. In a list, a column whose
            values are all numbers is numeric; any other (text, booleans, a pandas
            categorical) is categorical. A mapping from column to kind declares the kind,
            ``"numeric"`` or ``"categorical"`` (for example ``{"sex": "categorical",
            "age": "numeric"}`` for sex coded 1/2): a categorical covariate coded as
            numbers is labelled by their values (``1``, ``1.0`` and ``"1"`` are the level
            ``"1"``), and a numeric one must hold only numbers. The model adds an effect
            of each to every outcome (see
            :func:`bayesdose.components.inputs.prepare_inputs`). A missing value is an
            error: impute it, or remove the patient's rows, before building the data.
        censored : str or mapping of str to str, optional
            A flag column saying, per row, whether the value is beyond an assay's limit
            of quantification: ``"<"``, ``"below"`` or ``"lloq"`` below the lower limit;
            ``">"``, ``"above"`` or ``"uloq"`` above the upper one; empty, ``"no"`` or
            ``"0"`` observed (case and surrounding spaces ignored). A flagged row's value
            is its limit (an assay-specific one), or empty for the outcome's declared
            ``lloq``/``uloq`` (see :class:`OutcomeInfo`). For wide data, a mapping from
            outcome column to its flag column. Without a flag column, values at or
            beyond an outcome's declared limits are censored there (with a warning that
            counts them). The model treats a censored value as lying beyond its limit
            (see :mod:`bayesdose.components.censoring`); :attr:`table` gets a
            ``censored`` column (-1 below, 0 observed, +1 above).
        actual_time : str, optional
            A column of the actual time of each measurement, on the clock of ``time``
            (same unit, same origin), when ``time`` holds the nominal (scheduled) visit.
            The common course is then estimated at the nominal visits and the time
            course of the dose effect is evaluated at the actual times (time since
            ``baseline_time``). Needed on every row with a value after baseline and later
            than ``baseline_time`` there; it may be empty at the baseline visit. Two
            rows of one patient, outcome and nominal visit are duplicates (an error).

        Returns
        -------
        TrialData

        Raises
        ------
        DataError
            On any malformed input; the message names the column, rows and fix.

        Examples
        --------
        >>> import pandas as pd
        >>> long = pd.DataFrame({"pt": ["a", "a", "b", "b"], "d": [1, 1, 10, 10],
        ...                      "t": [0, 3, 0, 3], "out": ["pain"] * 4,
        ...                      "y": [40.0, 45.0, 42.0, 60.0]})
        >>> TrialData.from_frame(long, patient="pt", dose="d", time="t",
        ...                      outcome="out", value="y").doses
        [1.0, 10.0]

        A biomarker with a lower limit of quantification of 0.5, one value below it:

        >>> long = long.assign(out="crp", y=[2.0, None, 3.0, 1.5], flag=["", "<", "", ""])
        >>> data = TrialData.from_frame(long, patient="pt", dose="d", time="t",
        ...                             outcome="out", value="y", censored="flag",
        ...                             outcome_info={"crp": {"lloq": 0.5}})
        >>> data.table["value"].tolist(), data.table["censored"].tolist()
        ([2.0, 0.5, 3.0, 1.5], [0, -1, 0, 0])
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"the trial table must be a pandas DataFrame (got "
                            f"{type(frame).__name__}); read a file with TrialData.from_csv.")
        cols = _columns(patient, dose, time, outcome, value, outcomes, dose_unit, time_unit)
        labels = [f"row {label}" for label in frame.index]
        return cls._build(frame, labels, cols, baseline_time, outcome_info, covariates,
                          censored, actual_time)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        patient: str,
        dose: str,
        time: str,
        outcome: str | None = None,
        value: str | None = None,
        outcomes: Sequence[str] | None = None,
        dose_unit: str | None = None,
        time_unit: str | None = None,
        baseline_time: float | None = None,
        outcome_info: Mapping[str, Mapping[str, Any] | OutcomeInfo] | None = None,
        covariates: Sequence[str] | Mapping[str, str] | None = None,
        censored: str | Mapping[str, str] | None = None,
        actual_time: str | None = None,
    ) -> TrialData:
        """Read a long or wide CSV file and build a :class:`TrialData`.

        Error messages cite CSV line numbers (the header is line 1). Arguments are those of
        :meth:`from_frame`. The file is read strictly (see :func:`read_csv_table`): UTF-8,
        comma-separated, one field per column on every row; an empty cell or a usual
        missing-value marker (``NA``, ``NaN``, ``NULL``, ...) is a missing value.

        Parameters
        ----------
        path : str or Path
            The CSV file.
        patient, dose, time, outcome, value, outcomes : str or list of str
            As in :meth:`from_frame`.
        dose_unit, time_unit, baseline_time, outcome_info, covariates, censored, actual_time
            As in :meth:`from_frame`.

        Returns
        -------
        TrialData

        Examples
        --------
        >>> import bayesdose as bd, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> text = "id,mg,wk,pain\\n1,1,0,50\\n1,1,4,40\\n2,5,0,52\\n2,5,4,30\\n"
        >>> _ = open(path, "w").write(text)
        >>> bd.TrialData.from_csv(path, patient="id", dose="mg", time="wk",
        ...                       outcomes=["pain"]).outcomes
        ['pain']
        """
        cols = _columns(patient, dose, time, outcome, value, outcomes, dose_unit, time_unit)
        frame, labels = read_csv_table(path)
        return cls._build(frame, labels, cols, baseline_time, outcome_info, covariates,
                          censored, actual_time)

    @classmethod
    def _build(
        cls,
        frame: pd.DataFrame,
        labels: list[str],
        cols: _Columns,
        baseline_time: float | None,
        outcome_info: Mapping[str, Any] | None,
        covariates: Sequence[str] | Mapping[str, str] | None = None,
        censored: str | Mapping[str, str] | None = None,
        actual_time: str | None = None,
    ) -> TrialData:
        if isinstance(frame.columns, pd.MultiIndex):
            raise DataError("the trial table has multi-level column names; flatten them "
                            "(e.g. frame.columns = ['_'.join(map(str, c)) for c in "
                            "frame.columns]) and name the flat columns.")
        if len(frame) == 0:
            raise DataError("the trial table is empty: it has no rows. Check the file or filter.")
        kinds = _covariate_kinds(covariates, cols, frame)
        flag_columns = _flag_columns(censored, cols, frame, list(kinds))
        table = _to_canonical_long(frame.reset_index(drop=True), labels, cols)
        table = _validate_long(table, cols)
        per_patient = patient_covariates(frame.reset_index(drop=True), labels, table,
                                         list(kinds), cols.patient, kinds)
        base = _resolve_baseline_time(table, baseline_time, cols)
        info = _resolve_outcome_info(table, outcome_info)
        table = _apply_detection_limits(
            table, info, _flag_codes(frame, labels, cols, flag_columns), flag_columns)
        _check_bounds(table, info, cols)
        if actual_time is not None:
            table["actual_time"] = actual_times(frame.reset_index(drop=True), labels, table,
                                                actual_time, cols, base)
        columns = {
            "patient": cols.patient,
            "dose": cols.dose,
            "time": cols.time,
            "outcome": cols.outcome,
            "value": cols.value,
            "outcomes": cols.outcomes,
            "dose_unit": cols.dose_unit or cols.dose,
            "time_unit": cols.time_unit or cols.time,
        }
        if censored is not None:
            columns["censored"] = dict(censored) if isinstance(censored, Mapping) else censored
        if actual_time is not None:
            columns["actual_time"] = actual_time
        return cls(table=table, columns=columns, baseline_time=base, outcome_info=info,
                   covariates=per_patient)

    # ------------------------------------------------------------------ views
    @property
    def patients(self) -> list[str]:
        """Patient ids, in order of first appearance."""
        return list(pd.unique(self.table["patient"]))

    @property
    def outcomes(self) -> list[str]:
        """Outcome names, in order of first appearance."""
        return list(pd.unique(self.table["outcome"]))

    @property
    def doses(self) -> list[float]:
        """Distinct doses, ascending."""
        return sorted(float(d) for d in self.table["dose"].unique())

    @property
    def visits(self) -> list[float]:
        """Distinct post-baseline times over all outcomes, ascending."""
        times = self.table.loc[self.table["time"] > self.baseline_time, "time"].unique()
        return sorted(float(t) for t in times)

    @property
    def dose_unit(self) -> str:
        """The dose unit used in labels."""
        return str(self.columns["dose_unit"])

    @property
    def time_unit(self) -> str:
        """The time unit used in labels."""
        return str(self.columns["time_unit"])

    def visits_for(self, outcome: str) -> list[float]:
        """Post-baseline times at which ``outcome`` is scheduled (seen for any patient).

        Parameters
        ----------
        outcome : str
            Outcome name.

        Returns
        -------
        list of float

        Examples
        --------
        >>> import bayesdose as bd
        >>> bd.datasets.load_msc_trial().visits_for("mri_t2")
        [6.0, 12.0]
        """
        self._check_outcomes([outcome])
        rows = self.table[(self.table["outcome"] == outcome)
                          & (self.table["time"] > self.baseline_time)]
        return sorted(float(t) for t in rows["time"].unique())

    def patient_doses(self) -> pd.Series:
        """Dose of each patient, indexed by patient id (in order of appearance).

        Returns
        -------
        pandas.Series

        Examples
        --------
        >>> import bayesdose as bd
        >>> bd.datasets.load_msc_trial().patient_doses().value_counts().sort_index().tolist()
        [4, 4, 4]
        """
        doses = self.table.drop_duplicates("patient").set_index("patient")["dose"]
        return doses.astype(float)

    @property
    def baselines(self) -> pd.DataFrame:
        """Baseline value per patient and outcome (columns patient, outcome, baseline)."""
        rows = self.table[self.table["time"] == self.baseline_time]
        return rows[["patient", "outcome", "value"]].rename(columns={"value": "baseline"})

    @property
    def changes(self) -> pd.DataFrame:
        """Observed post-baseline rows with their change from baseline.

        Columns: patient, dose, time, outcome, baseline, value, change. Missing values are
        not here; :meth:`missing` reports them.
        """
        post = self.table[(self.table["time"] > self.baseline_time)
                          & self.table["value"].notna()]
        merged = post.merge(self.baselines, on=["patient", "outcome"], how="left")
        merged["change"] = merged["value"] - merged["baseline"]
        cols = ["patient", "dose", "time", "outcome", "baseline", "value", "change"]
        return merged[cols].reset_index(drop=True)

    def missing(self) -> pd.DataFrame:
        """Count the missing post-baseline values per outcome and dose.

        A value is missing when a patient's row at one of the outcome's scheduled visits
        is absent or empty. Missing values are left out of the likelihood, never imputed.

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, n_patients, n_expected, n_missing, missing (a
            ``patient@time`` list).

        Examples
        --------
        >>> import bayesdose as bd
        >>> table = bd.datasets.load_msc_trial().missing()
        >>> int(table["n_missing"].sum()) > 0
        True
        """
        observed = self.changes[["patient", "outcome", "time"]]
        seen = set(map(tuple, observed.itertuples(index=False, name=None)))
        doses = self.patient_doses()
        rows = []
        for outcome in self.outcomes:
            visits = self.visits_for(outcome)
            for dose in self.doses:
                patients = [p for p in doses.index if doses[p] == dose]
                absent = [f"{p}@{_fmt(t)}" for p in patients for t in visits
                          if (p, outcome, t) not in seen]
                rows.append({"outcome": outcome, "dose": dose, "n_patients": len(patients),
                             "n_expected": len(patients) * len(visits),
                             "n_missing": len(absent), "missing": " ".join(absent)})
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Observed mean change from baseline per outcome, dose and time.

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, time, n, mean_change, sd_change; for data with
            censored values (a ``censored`` column in :attr:`table`) also n_censored, the
            number of values beyond a limit of quantification, which enter the mean and SD
            at their limit.

        Examples
        --------
        >>> import bayesdose as bd
        >>> s = bd.datasets.load_msc_trial().summary()
        >>> list(s.columns)
        ['outcome', 'dose', 'time', 'n', 'mean_change', 'sd_change']
        """
        grouped = self.changes.groupby(["outcome", "dose", "time"], sort=True)["change"]
        out = grouped.agg(n="count", mean_change="mean", sd_change="std").reset_index()
        if "censored" in self.table:
            out["n_censored"] = self._censored_counts(["outcome", "dose", "time"])
        order = {name: i for i, name in enumerate(self.outcomes)}
        out = out.sort_values(["outcome", "dose", "time"], key=lambda s: s.map(order)
                              if s.name == "outcome" else s, kind="stable")
        return out.reset_index(drop=True)

    def _censored_counts(self, keys: list[str]) -> np.ndarray:
        """Number of censored post-baseline values per group of ``keys`` (in the sorted
        order of :meth:`summary`)."""
        post = self.table[(self.table["time"] > self.baseline_time)
                          & self.table["value"].notna()]
        counts = (post["censored"] != OBSERVED).groupby([post[k] for k in keys],
                                                       sort=True).sum()
        return counts.to_numpy(dtype=int)

    def select(self, outcomes: Sequence[str]) -> TrialData:
        """Keep only the named outcomes.

        Parameters
        ----------
        outcomes : sequence of str
            Outcome names, each present in the data.

        Returns
        -------
        TrialData

        Examples
        --------
        >>> import bayesdose as bd
        >>> bd.datasets.load_msc_trial().select(["koos_pain"]).outcomes
        ['koos_pain']
        """
        outcomes = list(outcomes)
        if not outcomes:
            raise DataError("select(): name at least one outcome.")
        self._check_outcomes(outcomes)
        table = self.table[self.table["outcome"].isin(outcomes)].reset_index(drop=True)
        info = {k: v for k, v in self.outcome_info.items() if k in outcomes}
        kept = self.covariates.loc[list(pd.unique(table["patient"]))]
        return TrialData(table=table, columns=dict(self.columns),
                         baseline_time=self.baseline_time, outcome_info=info,
                         covariates=kept)

    def info(self, outcome: str) -> OutcomeInfo:
        """The :class:`OutcomeInfo` of ``outcome`` (defaults when none was given).

        Parameters
        ----------
        outcome : str
            Outcome name, present in the data.

        Returns
        -------
        OutcomeInfo

        Examples
        --------
        >>> import bayesdose as bd
        >>> bd.datasets.load_msc_trial().info("womac_pain").direction
        'lower_is_better'
        """
        self._check_outcomes([outcome])
        return self.outcome_info.get(outcome, OutcomeInfo(outcome))

    def to_frame(self) -> pd.DataFrame:
        """The long table with the user's column names (for saving or inspection).

        Returns
        -------
        pandas.DataFrame
            Columns patient, dose, time, outcome and value, named as in the input, then
            the covariates (each patient's value on every row of the patient), then, for
            data with censored values, the flag column (``"<"`` below the lower limit of
            quantification, ``">"`` above the upper one, empty when observed; named as
            the input's flag column, else ``censored``), so that ``from_frame(...,
            censored=...)`` rebuilds the same data; for data with actual times, their
            column (``actual_time=`` rebuilds them).

        Examples
        --------
        >>> import bayesdose as bd
        >>> list(bd.datasets.load_msc_trial().to_frame().columns)
        ['patient', 'dose', 'month', 'outcome', 'value']
        """
        names = {role: self.columns[role] or role for role in CANONICAL}
        out = self.table[list(CANONICAL)].rename(columns=names)
        for name in self.covariates.columns:
            out[name] = self.table["patient"].map(self.covariates[name]).to_numpy()
        if "censored" in self.table:
            flag = self.columns.get("censored")
            out[flag if isinstance(flag, str) else "censored"] = (
                self.table["censored"].map(FLAG_TEXT).to_numpy())
        if "actual_time" in self.table:
            out[self.columns.get("actual_time") or "actual_time"] = (
                self.table["actual_time"].to_numpy())
        return out

    @property
    def covariate_names(self) -> list[str]:
        """Names of the declared patient-level covariates (empty when none)."""
        return [str(name) for name in self.covariates.columns]

    @property
    def covariate_kinds(self) -> dict[str, str]:
        """Each covariate's kind, ``"numeric"`` or ``"categorical"`` (empty when none).

        Pass it as ``covariates=`` to rebuild the data from :meth:`to_frame` with the same
        kinds (a categorical coded as numbers stays categorical).

        Examples
        --------
        >>> frame = pd.DataFrame({"id": [1, 1, 2, 2], "mg": [0, 0, 5, 5], "wk": [0, 4] * 2,
        ...                       "pain": [50.0, 45.0, 52.0, 40.0], "sex": [1, 1, 2, 2]})
        >>> data = TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
        ...                             outcomes=["pain"], covariates={"sex": "categorical"})
        >>> data.covariate_kinds, data.covariates["sex"].tolist()
        ({'sex': 'categorical'}, ['1', '2'])
        """
        return {str(name): covariate_kind(self.covariates[name])
                for name in self.covariates.columns}

    def _check_outcomes(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in set(self.table["outcome"])]
        if unknown:
            raise DataError(
                f"unknown outcome(s) {', '.join(map(repr, unknown))}; the data have "
                f"{', '.join(map(repr, self.outcomes))}. Check the spelling in the spec."
            )

    def __repr__(self) -> str:
        doses = ", ".join(_fmt(d) for d in self.doses)
        return (
            f"TrialData({len(self.patients)} patients, doses [{doses}] {self.dose_unit}, "
            f"visits [{', '.join(_fmt(t) for t in self.visits)}] {self.time_unit} after baseline "
            f"{_fmt(self.baseline_time)}, outcomes {self.outcomes})"
        )


# ---------------------------------------------------------------------- helpers
def _fmt(x: float) -> str:
    return f"{x:g}"


def _column_name(value: Any, argument: str) -> Any:
    """Check that a column argument names one column (a string, or an int label)."""
    if isinstance(value, str) or (isinstance(value, (int, np.integer))
                                  and not isinstance(value, (bool, np.bool_))):
        return value
    raise DataError(f"{argument}= must be the name of one column, a string (got "
                    f"{_short(value)}).")


def _columns(patient: Any, dose: Any, time: Any, outcome: Any, value: Any, outcomes: Any,
             dose_unit: Any, time_unit: Any) -> _Columns:
    """Check the column arguments of the constructors and gather them."""
    names = {role: _column_name(arg, role)
             for role, arg in (("patient", patient), ("dose", dose), ("time", time))}
    for role, arg in (("outcome", outcome), ("value", value)):
        names[role] = None if arg is None else _column_name(arg, role)
    wide = None
    if outcomes is not None:
        if isinstance(outcomes, (str, bytes)) or not isinstance(outcomes, Sequence):
            raise DataError(f"outcomes= must be a list of outcome column names, e.g. "
                            f"outcomes=['pain'] (got {_short(outcomes)}).")
        wide = [_column_name(name, "outcomes") for name in outcomes]
        twice = sorted({str(n) for n in wide if wide.count(n) > 1})
        if twice:
            raise DataError(f"outcomes= names column(s) {', '.join(map(repr, twice))} more "
                            "than once; list each outcome column once.")
    for argument, unit in (("dose_unit", dose_unit), ("time_unit", time_unit)):
        if unit is not None and not isinstance(unit, str):
            raise DataError(f"{argument}= must be text such as 'mg' (got {_short(unit)}).")
    return _Columns(names["patient"], names["dose"], names["time"], names["outcome"],
                    names["value"], wide, dose_unit, time_unit)


def read_csv_table(path: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Read a comma-separated file into a table of text cells, strictly.

    Every cell is read as text (``None`` where it is empty or one of
    :data:`MISSING_TOKENS`); blank lines are skipped. A row with more or fewer fields
    than the header, a repeated column name, an undecodable byte or an unterminated
    quote raises :class:`DataError` naming the line.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, an optional byte-order mark is ignored).

    Returns
    -------
    (pandas.DataFrame, list of str)
        The table and, per row, its label (``"line N"``, N counted from 1 at the header).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("id,dose\\n1,5\\n\\n2,NA\\n")
    >>> frame, labels = read_csv_table(path)
    >>> frame["dose"].tolist(), labels
    (['5', None], ['line 2', 'line 4'])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"the data file must be a path (got {_short(path)}).")
    path = Path(path)
    where = f"data file {str(path)!r}"
    if not path.is_file():
        raise DataError(f"{where} does not exist; check the path.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not a readable CSV: it is not UTF-8 text ({exc}). "
                        "Save it as CSV (UTF-8).") from exc
    except OSError as exc:
        raise DataError(f"{where} cannot be read: {exc.strerror or exc}.") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    labels: list[str] = []
    line = 0
    try:
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in fields):
                continue
            if header is None:
                header = _csv_header(fields, where)
                continue
            if len(fields) > len(header) and not any(c.strip() for c in fields[len(header):]):
                fields = fields[:len(header)]
            if len(fields) != len(header):
                raise DataError(
                    f"{where}, line {start}: {len(fields)} fields, but the header (line 1) "
                    f"has {len(header)} columns. Give every row one field per column "
                    "(an empty field for a missing value); quote fields that hold commas.")
            rows.append(fields)
            labels.append(f"line {start}")
    except csv.Error as exc:
        raise DataError(f"{where} is not a readable CSV: {exc} (near line "
                        f"{reader.line_num}). Check its quotes.") from exc
    if header is None:
        raise DataError(f"{where} is empty: it has no header row.")
    cells = {name: [None if cell.strip() in MISSING_TOKENS else cell for cell in column]
             for name, column in zip(header, zip(*rows, strict=True), strict=True)} if rows \
        else {name: [] for name in header}
    return pd.DataFrame(cells, columns=header, dtype=object), labels


def _csv_header(fields: list[str], where: str) -> list[str]:
    """Column names of a CSV header: stripped, empty ones named, none repeated."""
    names = [cell.strip() or f"(unnamed column {i + 1})" for i, cell in enumerate(fields)]
    if len(names) == 1:
        for separator, word in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if separator in names[0]:
                raise DataError(f"{where} has one column, {names[0]!r}, which looks separated "
                                f"by {word}; save it as comma-separated values.")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"{where}: column name(s) {', '.join(map(repr, twice))} appear more "
                        "than once in the header (line 1); rename them so each is unique.")
    return names


_BLANK, _NUMERIC, _BAD = 0, 1, 2


def _cell_number(value: Any) -> tuple[float, int]:
    """A cell as a float and its kind: blank (missing), numeric, or not a number."""
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan, _BLANK
    if isinstance(value, (bool, np.bool_)):
        return math.nan, _BAD
    if isinstance(value, (float, np.floating)):
        return (math.nan, _BLANK) if math.isnan(value) else (float(value), _NUMERIC)
    if isinstance(value, (int, np.integer, Decimal, Fraction)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
        return (math.nan, _BAD) if math.isnan(number) else (number, _NUMERIC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan, _BLANK
        if _NUMBER.fullmatch(text) or _INFINITY.fullmatch(text):
            return float(text), _NUMERIC
    return math.nan, _BAD


def _is_scalar_label(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, np.number, np.bool_, bool))


def _to_canonical_long(frame: pd.DataFrame, labels: list[str], cols: _Columns) -> pd.DataFrame:
    """Rename the user's columns to canonical ones, melting wide input."""
    long_form = cols.outcome is not None or cols.value is not None
    if long_form and cols.outcomes is not None:
        raise DataError("give either outcome= and value= (long form) or outcomes= (wide form), "
                        "not both.")
    if not long_form and not cols.outcomes:
        raise DataError("name the outcomes: outcome= and value= for long data, or "
                        "outcomes=[...] listing the outcome columns for wide data.")
    if long_form and (cols.outcome is None or cols.value is None):
        raise DataError("long data need both outcome= (the outcome-name column) and value= "
                        "(the value column).")
    needed = [cols.patient, cols.dose, cols.time]
    needed += [cols.outcome, cols.value] if long_form else list(cols.outcomes)
    roles = ["patient", "dose", "time"] + (["outcome", "value"] if long_form
                                           else ["outcomes"] * len(cols.outcomes))
    for i, name in enumerate(needed):
        for j in range(i):
            if needed[j] == name:
                raise DataError(f"column {name!r} is given both as {roles[j]}= and as "
                                f"{roles[i]}=; each role needs a column of its own.")
    require_columns(frame, needed)
    base = pd.DataFrame({
        "patient": frame[cols.patient],
        "dose": frame[cols.dose],
        "time": frame[cols.time],
        "source_row": labels,
    })
    if long_form:
        base["outcome"] = frame[cols.outcome]
        base["value"] = frame[cols.value]
        return base
    parts = []
    for name in cols.outcomes:
        part = base.copy()
        part["outcome"] = name
        part["value"] = frame[name]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def require_columns(frame: pd.DataFrame, needed: list[str],
                    hint: str = "patient=, dose=, time=, outcome=/value= or outcomes=") -> None:
    """Raise :class:`DataError` for duplicated column names or missing ``needed`` columns.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a"])
    """
    duplicated = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise DataError(f"column name(s) {', '.join(map(repr, duplicated))} appear more than "
                        "once in the table; rename them so each is unique.")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not found; the table has "
            f"{', '.join(map(repr, map(str, frame.columns)))}. Pass the names of your columns "
            f"({hint})."
        )


def _numeric(table: pd.DataFrame, role: str, column: str, allow_missing: bool) -> pd.Series:
    raw = table[role]
    dtype = raw.dtype
    if (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype)):
        values = pd.Series(raw.to_numpy(dtype=float, na_value=np.nan), index=raw.index)
        blank, bad = values.isna(), pd.Series(False, index=raw.index)
    else:
        parsed = [_cell_number(v) for v in raw.astype(object)]
        values = pd.Series([p[0] for p in parsed], index=raw.index, dtype=float)
        kinds = np.array([p[1] for p in parsed], dtype=int)
        blank = pd.Series(kinds == _BLANK, index=raw.index)
        bad = pd.Series(kinds == _BAD, index=raw.index)
    if bad.any():
        rows = table.loc[bad, "source_row"].tolist()
        shown = list(dict.fromkeys(_short(v) for v in raw[bad].astype(object)))[:3]
        raise DataError(
            f"column {column!r} has non-numeric values ({', '.join(shown)}) at "
            f"{describe_rows(rows)}. Use plain numbers (no units or text); leave a value "
            "empty if it is missing."
        )
    infinite = np.isinf(values)
    if infinite.any():
        rows = table.loc[infinite, "source_row"].tolist()
        raise DataError(f"column {column!r} has infinite values at {describe_rows(rows)}; "
                        "use finite numbers (leave a value empty if it is missing).")
    if not allow_missing and blank.any():
        rows = table.loc[blank, "source_row"].tolist()
        raise DataError(f"column {column!r} is empty at {describe_rows(rows)}; every row "
                        f"needs a {role}. Fill it in or remove those rows.")
    return values


def _validate_long(table: pd.DataFrame, cols: _Columns) -> pd.DataFrame:
    """Type and consistency checks on the canonical long table."""
    for role, column in (("patient", cols.patient), ("outcome", cols.outcome or "outcome")):
        cells = table[role].astype(object)
        odd = ~cells.map(_is_scalar_label).astype(bool)
        if odd.any():
            rows = table.loc[odd, "source_row"].tolist()
            raise DataError(f"column {column!r} has values that are not labels (for example "
                            f"{_short(cells[odd].iloc[0])}) at {describe_rows(rows)}; use "
                            f"text or numbers as {role} names.")
        blank = cells.map(_is_missing).astype(bool)
        if blank.any():
            rows = table.loc[blank, "source_row"].tolist()
            article = "an" if role[0] in "aeiou" else "a"
            raise DataError(f"column {column!r} is empty at {describe_rows(rows)}; every row "
                            f"needs {article} {role}. Fill it in or remove those rows.")
        table[role] = cells.astype(str).str.strip()
    table["dose"] = _numeric(table, "dose", cols.dose, allow_missing=False)
    table["time"] = _numeric(table, "time", cols.time, allow_missing=False)
    if cols.value is not None:
        table["value"] = _numeric(table, "value", cols.value, allow_missing=True)
    else:  # wide input: each outcome's values come from the column of its name
        values = [_numeric(part, "value", name, allow_missing=True)
                  for name, part in table.groupby("outcome", sort=False)]
        table["value"] = pd.concat(values).reindex(table.index)
    negative = table["dose"] < 0
    if negative.any():
        rows = table.loc[negative, "source_row"].tolist()
        raise DataError(f"column {cols.dose!r} has negative doses at {describe_rows(rows)}; "
                        "doses must be >= 0 (0 for placebo).")
    _check_one_dose_per_patient(table, cols)
    _check_duplicates(table, cols)
    if table["dose"].nunique() < 2:
        raise DataError(
            f"column {cols.dose!r} has a single dose ({_fmt(table['dose'].iloc[0])}); a "
            "dose-response model needs at least two distinct doses."
        )
    return table[["patient", "dose", "time", "outcome", "value", "source_row"]]


def actual_times(frame: pd.DataFrame, labels: list[str], table: pd.DataFrame, column: Any,
                 cols: _Columns, baseline_time: float) -> np.ndarray:
    """The actual time of each row of the canonical table, from the column ``column``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The user's table (one row per label).
    labels : list of str
        Each frame row's label for messages (the canonical rows' ``source_row``).
    table : pandas.DataFrame
        The validated canonical long table (``time`` is the nominal visit).
    column : str
        The actual-time column.
    cols : _Columns
        The user's column names (to refuse a column with another role).
    baseline_time : float
        The (nominal) baseline time.

    Returns
    -------
    numpy.ndarray
        One float per canonical row; the baseline time where a baseline row leaves it
        empty, NaN where a row has no value and no time.

    Raises
    ------
    DataError
        A column that is missing or has another role, a value that is not a number,
        an empty actual time on a row with a value after baseline, or an actual time
        at or before the baseline time on a row after baseline (names column and rows).

    Examples
    --------
    >>> frame = pd.DataFrame({"id": [1, 1, 2, 2], "mg": [0, 0, 5, 5], "visit": [0, 4] * 2,
    ...                       "day": [None, 4.3, 0.0, 3.9], "pain": [50.0, 45, 52, 40]})
    >>> data = TrialData.from_frame(frame, patient="id", dose="mg", time="visit",
    ...                             outcomes=["pain"], actual_time="day")
    >>> data.table["actual_time"].tolist()
    [0.0, 4.3, 0.0, 3.9]
    """
    roles = {cols.patient: "patient", cols.dose: "dose", cols.time: "time",
             cols.outcome: "outcome", cols.value: "value"}
    roles.update({name: "outcomes" for name in cols.outcomes or []})
    if column in roles:
        raise DataError(f"column {column!r} is given both as {roles[column]}= and as "
                        "actual_time=; the actual times need a column of their own.")
    require_columns(frame, [column], hint="actual_time=")
    by_label = pd.Series(frame[column].to_numpy(), index=pd.Index(labels))
    raw = table[["source_row"]].assign(t=table["source_row"].map(by_label).to_numpy())
    times = _numeric(raw.rename(columns={"t": "actual"}), "actual", column,
                     allow_missing=True).to_numpy(dtype=float)
    at_base = table["time"].to_numpy(dtype=float) == baseline_time
    times = np.where(at_base & np.isnan(times), baseline_time, times)
    has_value = table["value"].notna().to_numpy()
    post = ~at_base
    empty = post & has_value & np.isnan(times)
    if empty.any():
        rows = table.loc[empty, "source_row"].tolist()
        raise DataError(f"column {column!r} (actual time) is empty at {describe_rows(rows)}, "
                        "where a value after baseline was measured. Fill in when each was "
                        f"measured (on the clock of {cols.time!r}).")
    early = post & has_value & (times <= baseline_time)
    if early.any():
        rows = table.loc[early, "source_row"].tolist()
        raise DataError(
            f"column {column!r} (actual time) is at or before the baseline time "
            f"{_fmt(baseline_time)} at {describe_rows(rows)} (later nominal visits in "
            f"{cols.time!r}). Actual times count on the clock of {cols.time!r} (same unit "
            "and origin); check the unit (days against months?) or the visit.")
    return times


def _check_one_dose_per_patient(table: pd.DataFrame, cols: _Columns) -> None:
    per_patient = table.groupby("patient", sort=False)["dose"].nunique()
    several = per_patient[per_patient > 1].index.tolist()
    if several:
        details = []
        for patient in several[:5]:
            rows = table[table["patient"] == patient]
            doses = ", ".join(_fmt(d) for d in sorted(rows["dose"].unique()))
            details.append(f"patient {patient!r} has doses {doses} "
                           f"({describe_rows(rows['source_row'].tolist(), 4)})")
        raise DataError(
            f"column {cols.dose!r}: each patient must have one dose, but "
            + "; ".join(details)
            + ". Correct the dose, or give the patients distinct ids."
        )


def _check_duplicates(table: pd.DataFrame, cols: _Columns) -> None:
    key = ["patient", "time", "outcome"]
    dup = table.duplicated(key, keep=False)
    if dup.any():
        rows = table.loc[dup, "source_row"].tolist()
        first = table.loc[dup].iloc[0]
        raise DataError(
            f"duplicate rows for the same patient x {cols.time!r} x outcome at "
            f"{describe_rows(rows)} (for example patient {first['patient']!r}, time "
            f"{_fmt(first['time'])}, outcome {first['outcome']!r}). Keep one row per "
            "patient, time and outcome."
        )


def _resolve_baseline_time(table: pd.DataFrame, baseline_time: float | None,
                           cols: _Columns) -> float:
    if baseline_time is None:
        return float(table["time"].min())
    if (isinstance(baseline_time, (bool, np.bool_))
            or not isinstance(baseline_time, (int, float, np.number))
            or not np.isfinite(baseline_time)):
        raise DataError(f"baseline_time must be a finite number, a time in column "
                        f"{cols.time!r} (got {_short(baseline_time)}).")
    baseline_time = float(baseline_time)
    if not (table["time"] == baseline_time).any() and baseline_time >= table["time"].min():
        times = ", ".join(_fmt(t) for t in sorted(table["time"].unique()))
        raise DataError(f"baseline_time {_fmt(baseline_time)} does not occur in column "
                        f"{cols.time!r} (times present: {times}). Give one of them, or a "
                        "time before all of them for data without baseline values.")
    early = table["time"] < baseline_time
    if early.any():
        rows = table.loc[early, "source_row"].tolist()
        raise DataError(
            f"rows before the baseline time {_fmt(baseline_time)} in column {cols.time!r} at "
            f"{describe_rows(rows)}. Remove them (e.g. screening visits) or choose an earlier "
            "baseline_time."
        )
    return baseline_time


def _resolve_outcome_info(table: pd.DataFrame,
                          outcome_info: Mapping[str, Any] | None) -> dict[str, OutcomeInfo]:
    if outcome_info is not None and not isinstance(outcome_info, Mapping):
        raise DataError("outcome_info must be a dict from outcome name to its metadata, e.g. "
                        f"{{'pain': {{'mcid': 10}}}} (got {_short(outcome_info)}).")
    outcome_info = dict(outcome_info or {})
    present = list(pd.unique(table["outcome"]))
    unknown = [str(name) for name in outcome_info if name not in present]
    if unknown:
        raise DataError(
            f"outcome_info names outcome(s) {', '.join(map(repr, unknown))} that are not in "
            f"the data (outcomes present: {', '.join(map(repr, present))})."
        )
    return {name: outcome_info_from_mapping(name, outcome_info[name])
            if name in outcome_info else OutcomeInfo(name) for name in present}


def _check_bounds(table: pd.DataFrame, info: dict[str, OutcomeInfo], cols: _Columns) -> None:
    for name, meta in info.items():
        rows = table[table["outcome"] == name]
        outside = pd.Series(False, index=rows.index)
        if meta.lower is not None:
            outside |= rows["value"] < meta.lower
        if meta.upper is not None:
            outside |= rows["value"] > meta.upper
        bad = rows[outside]
        if len(bad):
            raise DataError(
                f"outcome {name!r}: values outside its declared bounds "
                f"[{meta.lower}, {meta.upper}] at {describe_rows(bad['source_row'].tolist())} "
                f"(for example {bad['value'].iloc[0]:g}). Correct the values or the bounds."
            )


# ---------------------------------------------------------------------- detection limits
#: The codes of the ``censored`` column of :attr:`TrialData.table`: below the lower limit
#: of quantification, observed, above the upper limit.
BELOW_LIMIT, OBSERVED, ABOVE_LIMIT = -1, 0, 1

#: The cells a censoring flag column may hold (case and surrounding spaces ignored; an
#: empty or missing cell is observed) and the code each stands for.
CENSORING_FLAGS = {"<": BELOW_LIMIT, "below": BELOW_LIMIT, "lloq": BELOW_LIMIT,
                   ">": ABOVE_LIMIT, "above": ABOVE_LIMIT, "uloq": ABOVE_LIMIT,
                   "": OBSERVED, "no": OBSERVED, "0": OBSERVED}

#: How :meth:`TrialData.to_frame` writes each code in the flag column.
FLAG_TEXT = {BELOW_LIMIT: "<", OBSERVED: "", ABOVE_LIMIT: ">"}

_ACCEPTED_FLAGS = ("'<', 'below' or 'lloq' for a value below the lower limit of "
                   "quantification, '>', 'above' or 'uloq' for one above the upper limit, "
                   "and empty, 'no' or '0' for an observed value (case is ignored)")


def _flag_columns(censored: Any, cols: _Columns, frame: pd.DataFrame,
                  covariates: list[Any]) -> dict[Any, Any]:
    """Check ``censored=``: per outcome column its flag column (key None: the one flag
    column of long data, or of wide data with one outcome column)."""
    if censored is None:
        return {}
    if isinstance(censored, Mapping):
        if cols.outcomes is None:
            raise DataError("censored= is a mapping from outcome column to flag column, which "
                            "is for wide data (outcomes=[...]); for long data name the one "
                            "flag column, e.g. censored='flag'.")
        flags = {_column_name(k, "censored"): _column_name(v, "censored")
                 for k, v in censored.items()}
        unknown = [str(k) for k in flags if k not in cols.outcomes]
        if unknown:
            raise DataError(f"censored= names outcome column(s) {', '.join(map(repr, unknown))} "
                            f"that are not in outcomes= ({', '.join(map(repr, cols.outcomes))}).")
    else:
        name = _column_name(censored, "censored")
        if cols.outcomes is not None and len(cols.outcomes) > 1:
            raise DataError(
                f"censored={name!r}: with several outcome columns (wide data) one flag column "
                "does not say which value it flags; give a mapping from outcome column to "
                f"its flag column, e.g. censored={{{cols.outcomes[0]!r}: {name!r}}}.")
        flags = {None: name}
    roles = {cols.patient: "patient", cols.dose: "dose", cols.time: "time",
             cols.outcome: "outcome", cols.value: "value",
             **{name: "outcomes" for name in cols.outcomes or []},
             **{name: "covariates" for name in covariates}}
    for name in flags.values():
        if name in roles:
            raise DataError(f"column {name!r} is given both as {roles[name]}= and as "
                            "censored=; the censoring flags need a column of their own.")
    missing = [str(n) for n in flags.values() if n not in frame.columns]
    if missing:
        raise DataError(
            f"censoring flag column(s) {', '.join(map(repr, missing))} not found; the table "
            f"has {', '.join(map(repr, map(str, frame.columns)))}. Check the spelling in "
            "censored=.")
    return flags


def _flag_codes(frame: pd.DataFrame, labels: list[str], cols: _Columns,
                flags: Mapping[Any, Any]) -> np.ndarray | None:
    """The censoring code of each row of the canonical long table (None without flags)."""
    if not flags:
        return None
    frame = frame.reset_index(drop=True)
    if None in flags:
        return censoring_codes(frame[flags[None]], flags[None], labels)
    return np.concatenate([
        censoring_codes(frame[flags[name]], flags[name], labels) if name in flags
        else np.zeros(len(frame), dtype=int) for name in cols.outcomes])


def censoring_codes(cells: pd.Series, column: Any, labels: Sequence[str]) -> np.ndarray:
    """Read a censoring flag column: -1 below the lower limit, 0 observed, +1 above.

    Parameters
    ----------
    cells : pandas.Series
        The flag column (text, or numbers where only 0 is accepted).
    column : str
        Its name, for messages.
    labels : sequence of str
        Where each cell came from (``"row 3"``, ``"line 4"``).

    Returns
    -------
    numpy.ndarray
        One code per cell (see :data:`CENSORING_FLAGS`).

    Raises
    ------
    DataError
        For a cell that is not a flag; the message names the column, the rows and the
        accepted codes.

    Examples
    --------
    >>> censoring_codes(pd.Series(["<", " Above", None, "no", "LLOQ"]), "flag",
    ...                 ["row 0", "row 1", "row 2", "row 3", "row 4"]).tolist()
    [-1, 1, 0, 0, -1]
    """
    codes = [_flag_code(cell) for cell in cells.astype(object)]
    bad = [i for i, code in enumerate(codes) if code is None]
    if bad:
        shown = list(dict.fromkeys(_short(cells.iloc[i]) for i in bad))[:3]
        raise DataError(
            f"column {column!r} (censored=) has values that are not censoring flags "
            f"({', '.join(shown)}) at {describe_rows([labels[i] for i in bad])}. Use "
            f"{_ACCEPTED_FLAGS}.")
    return np.array(codes, dtype=int)


def _flag_code(cell: Any) -> int | None:
    """The code of one flag cell, None when it is not a flag."""
    if _is_missing(cell) or cell is pd.NaT:
        return OBSERVED
    if isinstance(cell, (bool, np.bool_)):
        return None
    if isinstance(cell, (int, float, np.number)):
        return OBSERVED if cell == 0 else None
    if isinstance(cell, str):
        return CENSORING_FLAGS.get(cell.strip().lower())
    return None


def _apply_detection_limits(table: pd.DataFrame, info: Mapping[str, OutcomeInfo],
                            codes: np.ndarray | None,
                            flags: Mapping[Any, Any]) -> pd.DataFrame:
    """Add the ``censored`` column and put each censored value at its limit.

    With flags, a flagged row keeps its value (its own limit) or, when empty, takes the
    outcome's declared limit. Without flags, values at or beyond an outcome's declared
    limits are censored at them (with a warning per outcome). The table is returned as it
    is when there are neither flags nor declared limits.
    """
    if codes is None:
        if all(m.lloq is None and m.uloq is None for m in info.values()):
            return table
        table = table.copy()
        table["censored"] = _inferred_codes(table, info)
        table.loc[table["censored"] != OBSERVED, "value"] = np.nan  # filled with the limit
    else:
        table = table.copy()
        table["censored"] = codes
        _check_flagged_outcomes(table, info, flags)
    _fill_limits(table, info, flags)
    return table


def _flag_name(flags: Mapping[Any, Any], outcome: str) -> Any:
    return flags.get(None, flags.get(outcome, "censored"))


def _inferred_codes(table: pd.DataFrame, info: Mapping[str, OutcomeInfo]) -> np.ndarray:
    """Codes of values at or beyond the declared limits; warns once per outcome."""
    codes = np.zeros(len(table), dtype=int)
    values = table["value"].to_numpy(dtype=float)
    outcome = table["outcome"].to_numpy()
    for name, meta in info.items():
        own = outcome == name
        parts = []
        for limit, code, side, key in ((meta.lloq, BELOW_LIMIT, "below", "lloq"),
                                       (meta.uloq, ABOVE_LIMIT, "above", "uloq")):
            if limit is None:
                continue
            with np.errstate(invalid="ignore"):
                beyond = own & ((values <= limit) if code == BELOW_LIMIT else (values >= limit))
            codes[beyond] = code
            if beyond.any():
                rows = table.loc[beyond, "source_row"].tolist()
                parts.append(f"{int(beyond.sum())} at or {side} its {key} {limit:g} "
                             f"({describe_rows(rows, 4)})")
        if parts:
            warnings.warn(
                f"outcome {name!r}: values beyond its limits of quantification are censored "
                f"there: {'; '.join(parts)}. To say which values are censored, give a flag "
                "column (censored=).", UserWarning, stacklevel=5)
    return codes


def _check_flagged_outcomes(table: pd.DataFrame, info: Mapping[str, OutcomeInfo],
                            flags: Mapping[Any, Any]) -> None:
    """Refuse flags on an outcome declared ordinal (grades cannot be censored)."""
    flagged = table[table["censored"] != OBSERVED]
    for name in pd.unique(flagged["outcome"]):
        if info[name].likelihood == "ordinal":
            rows = flagged.loc[flagged["outcome"] == name, "source_row"].tolist()
            raise DataError(
                f"column {_flag_name(flags, name)!r} flags values of outcome {name!r} as "
                f"censored at {describe_rows(rows)}, but the outcome is ordinal, whose "
                "grades cannot be censored. Clear those flags, or choose another "
                "likelihood.")


def _fill_limits(table: pd.DataFrame, info: Mapping[str, OutcomeInfo],
                 flags: Mapping[Any, Any]) -> None:
    """Give each censored row with an empty value its outcome's declared limit."""
    for code, key, side in ((BELOW_LIMIT, "lloq", "below the lower"),
                            (ABOVE_LIMIT, "uloq", "above the upper")):
        empty = (table["censored"] == code) & table["value"].isna()
        for name in pd.unique(table.loc[empty, "outcome"]):
            rows = empty & (table["outcome"] == name)
            limit = getattr(info[name], key)
            if limit is None:
                raise DataError(
                    f"column {_flag_name(flags, name)!r} flags values of outcome {name!r} "
                    f"as {side} limit of quantification at "
                    f"{describe_rows(table.loc[rows, 'source_row'].tolist())} with an "
                    f"empty value, and the outcome declares no {key}. Declare it "
                    f"(outcome_info={{{name!r}: {{{key!r}: ...}}}}, or {key} = ... under "
                    f"[outcomes.{name}] in a model file), or give each such row's limit "
                    "as its value.")
            table.loc[rows, "value"] = float(limit)


# ---------------------------------------------------------------------- covariates
def covariate_kind(values: pd.Series) -> str:
    """The kind of a column of :attr:`TrialData.covariates`: ``"numeric"`` for floats,
    ``"categorical"`` otherwise.

    Examples
    --------
    >>> covariate_kind(pd.Series([1.0, 2.0])), covariate_kind(pd.Series(["1", "2"]))
    ('numeric', 'categorical')
    """
    return "numeric" if pd.api.types.is_float_dtype(values.dtype) else "categorical"


def covariate_label(value: Any) -> str | None:
    """The level of a categorical covariate that a cell holds (None when it is missing).

    A number, or text that reads as one, is labelled by its value, integers without a
    decimal point (``1``, ``1.0`` and ``" 1 "`` are all ``"1"``, ``2.5`` is ``"2.5"``);
    other text is stripped of surrounding spaces; booleans are ``"True"`` and ``"False"``.

    Examples
    --------
    >>> [covariate_label(v) for v in (1, 1.0, " 1 ", "2.50", "F", True, None)]
    ['1', '1', '1', '2.5', 'F', 'True', None]
    """
    if _is_missing(value) or value is pd.NaT:
        return None
    number, kind = _cell_number(value)
    if kind == _NUMERIC and math.isfinite(number):
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    return str(value).strip()


def _covariate_kinds(covariates: Any, cols: _Columns,
                     frame: pd.DataFrame) -> dict[Any, str | None]:
    """Check the ``covariates=`` argument: distinct columns of the table, none of them a
    column with another role; each with its declared kind (None: decided by its values)."""
    if covariates is None:
        return {}
    if isinstance(covariates, Mapping):
        kinds = {_column_name(name, "covariates"): kind for name, kind in covariates.items()}
        for name, kind in kinds.items():
            if not isinstance(kind, str) or kind not in COVARIATE_KINDS:
                raise DataError(
                    f"covariates=: unknown kind {_short(kind)} for column {name!r}; the "
                    f"kinds are {' and '.join(map(repr, COVARIATE_KINDS))}, e.g. "
                    "covariates={'sex': 'categorical', 'age': 'numeric'}.")
        _check_covariate_columns(list(kinds), cols, frame)
        return kinds
    if isinstance(covariates, (str, bytes)) or not isinstance(covariates, Sequence):
        raise DataError(f"covariates= must be a list of column names, e.g. "
                        f"covariates=['sex', 'age'], or a mapping from column name to "
                        f"kind, e.g. covariates={{'sex': 'categorical'}} (got "
                        f"{_short(covariates)}).")
    names = [_column_name(name, "covariates") for name in covariates]
    _check_covariate_columns(names, cols, frame)
    return dict.fromkeys(names)


def _check_covariate_columns(names: list[Any], cols: _Columns, frame: pd.DataFrame) -> None:
    """Covariate columns are distinct, exist, and have no other role."""
    twice = sorted({str(n) for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"covariates= names column(s) {', '.join(map(repr, twice))} more "
                        "than once; list each covariate once.")
    roles = {cols.patient: "patient", cols.dose: "dose", cols.time: "time",
             cols.outcome: "outcome", cols.value: "value",
             **{name: "outcomes" for name in cols.outcomes or []}}
    for name in names:
        if name in roles:
            raise DataError(f"column {name!r} is given both as {roles[name]}= and in "
                            "covariates=; a covariate needs a column of its own.")
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise DataError(
            f"covariate column(s) {', '.join(map(repr, unknown))} not found; the table has "
            f"{', '.join(map(repr, map(str, frame.columns)))}. Check the spelling in "
            "covariates=.")


def patient_covariates(frame: pd.DataFrame, labels: list[str], table: pd.DataFrame,
                       names: list[Any], patient: str,
                       kinds: Mapping[Any, str | None] | None = None) -> pd.DataFrame:
    """One row per patient with the value of each covariate, checked.

    Parameters
    ----------
    frame : pandas.DataFrame
        The user's table (index reset), one row per ``labels`` entry.
    labels : list of str
        Where each row of ``frame`` came from (``"row 3"``, ``"line 4"``).
    table : pandas.DataFrame
        The validated long table (its patients, in order of appearance).
    names : list
        The covariate columns.
    patient : str
        The patient column of ``frame``.
    kinds : mapping, optional
        Per covariate its declared kind, ``"numeric"`` or ``"categorical"``; a covariate
        not in it (or mapped to None) is numeric when all its values are numbers.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient id (name ``patient``), one column per covariate: floats for
        numeric covariates, text for categorical ones.

    Raises
    ------
    DataError
        For a missing value, a value that changes within a patient, a categorical
        covariate with a single level, a numeric one without spread or a declared numeric
        one with values that are not numbers; the message names the column, the patients
        and the rows.

    Examples
    --------
    >>> frame = pd.DataFrame({"id": [1, 1, 2, 2], "sex": ["F", "F", "M", "M"]})
    >>> table = pd.DataFrame({"patient": ["1", "1", "2", "2"]})
    >>> patient_covariates(frame, ["row 0", "row 1", "row 2", "row 3"], table, ["sex"],
    ...                    "id")["sex"].tolist()
    ['F', 'M']
    """
    patients = list(pd.unique(table["patient"]))
    out = pd.DataFrame(index=pd.Index(patients, name="patient"))
    if not names:
        return out
    ids = frame[patient].astype(object).astype(str).str.strip().to_numpy()
    rows = pd.Series(labels, dtype=object)
    for name in names:
        values, numeric = _covariate_values(frame[name], name, rows,
                                            (kinds or {}).get(name))
        _check_covariate_missing(values, name, ids, rows)
        per_patient = _covariate_per_patient(values, name, ids, rows)
        _check_covariate_spread(per_patient, name, numeric)
        column = per_patient.reindex(patients)
        out[name] = column.astype(float) if numeric else column.astype(object)
    return out


def _covariate_values(raw: pd.Series, name: Any, rows: pd.Series,
                      kind: str | None = None) -> tuple[pd.Series, bool]:
    """A covariate column's cells as floats (numeric) or text (categorical), None where
    missing; and whether it is numeric. ``kind`` is the declared kind (None: numeric when
    every value is a number)."""
    dtype = raw.dtype
    categorical = kind == "categorical" or (kind is None and (
        isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
        or (pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object))))
    if not categorical:
        parsed = [_cell_number(v) for v in raw.astype(object)]
        kinds = np.array([p[1] for p in parsed], dtype=int)
        bad = kinds == _BAD
        if kind == "numeric" and bad.any():
            example = raw.astype(object)[bad].iloc[0]
            raise DataError(f"covariate {name!r} is declared numeric but has values that "
                            f"are not numbers at {describe_rows(rows[bad].tolist())} (for "
                            f"example {_short(example)}). Correct the values, or declare it "
                            "categorical.")
        if kinds.size and not bad.any() and (kind == "numeric" or (kinds == _NUMERIC).any()):
            values = pd.Series([p[0] for p in parsed], index=raw.index, dtype=float)
            infinite = np.isinf(values)
            if infinite.any():
                raise DataError(f"covariate {name!r} has infinite values at "
                                f"{describe_rows(rows[infinite].tolist())}; use finite "
                                "numbers.")
            return values, True
    cells = raw.astype(object)
    odd = ~cells.map(lambda v: _is_missing(v) or _is_scalar_label(v)).astype(bool)
    if odd.any():
        raise DataError(f"covariate {name!r} has values that are not labels or numbers (for "
                        f"example {_short(cells[odd].iloc[0])}) at "
                        f"{describe_rows(rows[odd].tolist())}.")
    text = [covariate_label(v) for v in cells]
    _check_labels_distinct(cells, text, name)
    return pd.Series(text, index=raw.index, dtype=object), False


def _check_labels_distinct(cells: pd.Series, labels: list[str | None], name: Any) -> None:
    """Say so when cells written differently become one level (``"01"`` and ``"1"``,
    ``"2.0"`` and ``"2"``): numbers written as text are read by their value, and the user
    should see which codes were read as one."""
    written: dict[str, set[str]] = {}
    for cell, label in zip(cells, labels, strict=True):
        if label is not None and isinstance(cell, str):
            written.setdefault(label, set()).add(cell.strip())
    merged = {label: sorted(forms) for label, forms in written.items() if len(forms) > 1}
    if merged:
        shown = "; ".join(f"{', '.join(map(repr, forms))} as level {label!r}"
                          for label, forms in list(merged.items())[:3])
        warnings.warn(f"covariate {name!r}: codes written differently are read as one "
                      f"level by their value ({shown}). If they are different categories, "
                      "recode the column before building the data.", UserWarning,
                      stacklevel=4)


def _check_covariate_missing(values: pd.Series, name: Any, ids: np.ndarray,
                             rows: pd.Series) -> None:
    """Refuse missing covariate values, naming the patients and rows."""
    blank = values.isna().to_numpy()
    if not blank.any():
        return
    patients = list(dict.fromkeys(ids[blank]))
    shown = "; ".join(
        f"patient {p!r} ({describe_rows(rows[blank & (ids == p)].tolist(), 4)})"
        for p in patients[:5])
    more = f" ({len(patients)} patients in all)" if len(patients) > 5 else ""
    raise DataError(
        f"covariate {name!r} is missing for {shown}{more}. Every patient needs a value on "
        "every row (a covariate is constant within a patient): fill it in, impute it "
        "(and report how), or remove those patients' rows explicitly before building the "
        "data; patients are never dropped silently.")


def _covariate_per_patient(values: pd.Series, name: Any, ids: np.ndarray,
                           rows: pd.Series) -> pd.Series:
    """Each patient's one value of a covariate; refuses values that change within a
    patient."""
    frame = pd.DataFrame({"patient": ids, "value": values.to_numpy(dtype=object)})
    counts = frame.groupby("patient", sort=False)["value"].nunique()
    varying = counts[counts > 1].index.tolist()
    if varying:
        details = []
        for patient in varying[:3]:
            own = (ids == patient)
            seen = ", ".join(_covariate_text(v) for v in pd.unique(values[own]))
            details.append(f"patient {patient!r} has {seen} "
                           f"({describe_rows(rows[own].tolist(), 4)})")
        more = f" ({len(varying)} patients in all)" if len(varying) > 3 else ""
        raise DataError(
            f"covariate {name!r} must be constant within a patient (a characteristic at "
            f"baseline), but " + "; ".join(details) + more + ". Correct the values, or "
            "give the patients distinct ids.")
    return frame.drop_duplicates("patient").set_index("patient")["value"]


def _covariate_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _check_covariate_spread(per_patient: pd.Series, name: Any, numeric: bool) -> None:
    """Refuse a covariate whose value is the same for every patient: no effect can be
    estimated for it."""
    if per_patient.nunique() > 1:
        return
    value = _covariate_text(per_patient.iloc[0])
    if numeric:
        raise DataError(f"numeric covariate {name!r} has the same value ({value}) for all "
                        f"{len(per_patient)} patients, so it has no spread to standardise "
                        "and no effect to estimate. Remove it from covariates=.")
    raise DataError(f"categorical covariate {name!r} has a single level ({value}) over all "
                    f"{len(per_patient)} patients, so it has no effect to estimate. Remove "
                    "it from covariates=, or check the column.")
