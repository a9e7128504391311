"""Adverse-event data in: one row per patient with the dose and whether (and how often)
the patient had an event, checked column by column; event counts with follow-up time per
patient (and event type); the log-dose scale of the safety models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.data.trial import read_csv_table, require_columns
from bayesdose.errors import DataError, EstimandError, describe_rows


@dataclass(frozen=True)
class LogDoseScale:
    """The dose covariate of the safety model: ``log((dose + offset) / reference)``.

    Attributes
    ----------
    reference : float
        Geometric mean of the positive tested doses.
    offset : float
        0 when every tested dose is positive; otherwise (placebo arm) 0.1 x the smallest
        positive dose, so that dose 0 has a finite logarithm.

    Examples
    --------
    >>> scale = LogDoseScale.from_doses([1, 10, 100])
    >>> scale.reference, scale.offset
    (10.0, 0.0)
    >>> LogDoseScale.from_doses([0, 1, 100]).offset
    0.1
    """

    reference: float
    offset: float

    @classmethod
    def from_doses(cls, doses: Sequence[float]) -> LogDoseScale:
        """The scale for a set of tested doses (at least one positive)."""
        values = np.asarray(doses, dtype=float)
        positive = values[values > 0]
        reference = float(np.exp(np.mean(np.log(positive))))
        offset = 0.0 if np.all(values > 0) else 0.1 * float(positive.min())
        return cls(reference=round(reference, 12), offset=offset)

    def transform(self, doses: Any) -> np.ndarray:
        """``log((dose + offset) / reference)`` for each dose."""
        return np.log((np.asarray(doses, dtype=float) + self.offset) / self.reference)

    def check(self, doses: Sequence[float]) -> None:
        """Raise :class:`EstimandError` for doses the model cannot evaluate."""
        negative = [d for d in doses if d < 0]
        if negative:
            raise EstimandError(f"dose(s) {negative} are negative; doses must be >= 0.")
        if self.offset == 0 and any(d == 0 for d in doses):
            raise EstimandError(
                "dose 0 is outside this model: no placebo arm was tested, so the model is "
                "linear in log dose with no offset and log(0) is undefined. Ask for a small "
                "positive dose instead, or fit data with a placebo arm."
            )


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class SafetyData:
    """Validated adverse-event data, one row per patient.

    Build it with :meth:`from_frame`; the constructor expects an already validated table.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``patient`` (str), ``dose`` (float), ``event`` (0/1 int), ``n_events``
        (float; NaN when no count column was given) and ``source_row`` (for messages).
    columns : dict
        The user's column names and the dose unit.

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events(),
    ...                              n_events="n_events")
    >>> data.doses, data.n_patients
    ([1.0, 10.0, 50.0], 12)
    """

    table: pd.DataFrame
    columns: dict[str, Any]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        patient: str = "patient",
        dose: str = "dose",
        event: str | None = "event",
        n_events: str | None = None,
        dose_unit: str | None = None,
    ) -> SafetyData:
        """Validate a one-row-per-patient table and build a :class:`SafetyData`.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table. Other columns (for example a description) are ignored.
        patient, dose : str
            Names of the patient id and dose columns. Doses are numbers >= 0 (0 for
            placebo).
        event : str or None
            Name of the 0/1 column (1 = the patient had at least one adverse event).
            None to derive it from ``n_events`` (event = n_events > 0).
        n_events : str, optional
            Name of a column counting each patient's events (non-negative integers).
            When both are given, event must be 1 exactly when n_events > 0.
        dose_unit : str, optional
            Unit of dose, used in labels (default: the dose column's name).

        Returns
        -------
        SafetyData

        Raises
        ------
        DataError
            On any malformed input; the message names the column and the rows. No row is
            dropped: a missing value is an error.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"id": ["a", "b", "c"], "mg": [1, 10, 10], "ae": [0, 0, 1]})
        >>> SafetyData.from_frame(df, patient="id", dose="mg", event="ae").by_dose()
           dose  n_patients  n_with_event
        0   1.0           1             0
        1  10.0           2             1
        """
        labels = [f"row {label}" for label in frame.index]
        return cls._build(frame.reset_index(drop=True), labels, patient, dose, event,
                          n_events, dose_unit)

    @classmethod
    def from_csv(cls, path: str | Path, patient: str = "patient", dose: str = "dose",
                 event: str | None = "event", n_events: str | None = None,
                 dose_unit: str | None = None) -> SafetyData:
        """Read a CSV file strictly and build a :class:`SafetyData`.

        Error messages cite CSV line numbers (the header is line 1).

        Parameters
        ----------
        path : str or Path
            The CSV file (see :func:`bayesdose.data.trial.read_csv_table`).
        patient, dose, event, n_events, dose_unit
            As in :meth:`from_frame`.

        Returns
        -------
        SafetyData

        Raises
        ------
        DataError
            On a malformed file or malformed values (naming the column and the lines).

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ae.csv")
        >>> _ = open(path, "w").write("patient,dose,event\\n"
        ...                           "a,1,0\\nb,10,1\\n")
        >>> SafetyData.from_csv(path).table["event"].tolist()
        [0, 1]
        """
        frame, labels = read_csv_table(path)
        return cls._build(frame, labels, patient, dose, event, n_events, dose_unit)

    @classmethod
    def _build(cls, frame: pd.DataFrame, row_labels: list[str], patient: str, dose: str,
               event: str | None, n_events: str | None, dose_unit: str | None) -> SafetyData:
        if event is None and n_events is None:
            raise DataError("name the event column (event=) or the event-count column "
                            "(n_events=), or both.")
        if len(frame) == 0:
            raise DataError("the adverse-event table is empty: it has no rows.")
        needed = [c for c in (patient, dose, event, n_events) if c is not None]
        require_columns(frame, needed, hint="patient=, dose=, event=, n_events=")
        labels = pd.Series(row_labels)
        table = pd.DataFrame({
            "patient": _patients(frame[patient], labels, patient),
            "dose": _doses(frame[dose], labels, dose),
        })
        counts = None if n_events is None else _counts(frame[n_events], labels, n_events)
        if event is None:
            table["event"] = (counts > 0).astype(int)
        else:
            table["event"] = _events(frame[event], labels, event)
            if counts is not None:
                _check_consistent(table["event"].to_numpy(), counts, labels, event, n_events)
        table["n_events"] = np.nan if counts is None else counts
        table["source_row"] = labels
        _check_unique_patients(table, patient)
        if table["dose"].nunique() < 2:
            raise DataError(f"column {dose!r} has a single dose ({table['dose'].iloc[0]:g}); "
                            "a dose-event model needs at least two distinct doses.")
        columns = {"patient": patient, "dose": dose, "event": event, "n_events": n_events,
                   "dose_unit": dose_unit or dose}
        return cls(table=table, columns=columns)

    @property
    def doses(self) -> list[float]:
        """The distinct tested doses, ascending."""
        return sorted(float(d) for d in self.table["dose"].unique())

    @property
    def patients(self) -> list[str]:
        """Patient ids in table order."""
        return self.table["patient"].tolist()

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self.table)

    @property
    def has_counts(self) -> bool:
        """Whether event counts were given."""
        return self.columns["n_events"] is not None

    @property
    def dose_unit(self) -> str:
        """Unit of dose."""
        return self.columns["dose_unit"]

    @property
    def scale(self) -> LogDoseScale:
        """The log-dose scale of the model (reference dose and placebo offset)."""
        return LogDoseScale.from_doses(self.doses)

    def by_dose(self) -> pd.DataFrame:
        """Patients and patients with an event per tested dose (and total events, if known).

        Returns
        -------
        pandas.DataFrame
            Columns dose, n_patients, n_with_event and, with counts, total_events.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events(),
        ...                              n_events="n_events")
        >>> data.by_dose()
           dose  n_patients  n_with_event  total_events
        0   1.0           4             0             0
        1  10.0           4             1             1
        2  50.0           4             3             5
        """
        grouped = self.table.groupby("dose", sort=True)
        out = pd.DataFrame({"n_patients": grouped.size(),
                            "n_with_event": grouped["event"].sum()})
        if self.has_counts:
            out["total_events"] = grouped["n_events"].sum().astype(int)
        out.index = out.index.astype(float)
        return out.rename_axis("dose").reset_index()


def _blank(raw: pd.Series) -> np.ndarray:
    text = raw.astype(object)
    return (raw.isna() | text.map(lambda v: isinstance(v, str) and v.strip() == "")).to_numpy()


def _fail(column: str, mask: np.ndarray, labels: pd.Series, problem: str, fix: str) -> None:
    if np.any(mask):
        rows = labels[mask].tolist()
        raise DataError(f"column {column!r} {problem} at {describe_rows(rows)}. {fix}")


def _numbers(raw: pd.Series, labels: pd.Series, column: str, what: str) -> np.ndarray:
    """Numbers from a column; blank, non-numeric or infinite values are errors."""
    blank = _blank(raw)
    _fail(column, blank, labels, "is empty",
          f"Every patient needs a {what}; fill it in (nothing is dropped silently).")
    text = raw.astype(object)
    values = pd.to_numeric(text, errors="coerce").astype(float).to_numpy()
    bad = np.isnan(values) & ~blank
    examples = ", ".join(repr(v) for v in pd.unique(text[bad])[:3])
    _fail(column, bad, labels, f"has non-numeric values ({examples})",
          "Use plain numbers (no units or text).")
    _fail(column, np.isinf(values), labels, "has infinite values", "Use finite numbers.")
    return values


def _patients(raw: pd.Series, labels: pd.Series, column: str) -> pd.Series:
    _fail(column, _blank(raw), labels, "is empty", "Every row needs a patient id.")
    return raw.astype(str).str.strip()


def _doses(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "dose")
    _fail(column, values < 0, labels, "has negative doses", "Doses must be >= 0 (0 for placebo).")
    return values


def _events(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "event indicator (0 or 1)")
    _fail(column, ~np.isin(values, (0.0, 1.0)), labels, "has values other than 0 and 1",
          "Code 1 for a patient with at least one adverse event and 0 otherwise.")
    return values.astype(int)


def _counts(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "event count")
    bad = (values < 0) | (values != np.round(values))
    _fail(column, bad, labels, "has values that are not non-negative integers",
          "Give each patient's number of adverse events (0, 1, 2, ...).")
    return values


def _check_consistent(events: np.ndarray, counts: np.ndarray, labels: pd.Series,
                      event: str, n_events: str) -> None:
    _fail(event, events != (counts > 0), labels, f"disagrees with column {n_events!r}",
          f"{event!r} must be 1 exactly when {n_events!r} > 0.")


def _check_unique_patients(table: pd.DataFrame, column: str) -> None:
    dup = table["patient"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = table.loc[dup, "patient"].iloc[0]
        _fail(column, dup, table["source_row"],
              f"repeats patient ids (for example {first!r})",
              "Give one row per patient (sum a patient's events into n_events).")


# ---------------------------------------------------------------------- event counts
#: The event-type label of count data that give no event-type column.
ALL_EVENTS = "any"


@dataclass(frozen=True)
class SafetyCountData:
    """Validated adverse-event counts with follow-up time, one row per patient (and type).

    Each row is one patient's number of adverse events over an exposure time (follow-up,
    in patient-years, days or any unit), optionally for one event type. Build it with
    :meth:`from_frame` or :meth:`from_csv`; the constructor expects a validated table.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``patient`` (str), ``event_type`` (str; :data:`ALL_EVENTS` without an
        event-type column), ``dose`` (float), ``count`` (int), ``exposure`` (float > 0) and
        ``source_row`` (for messages).
    columns : dict
        The user's column names and the dose and exposure units.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b", "c"], "mg": [1, 10, 10],
    ...                    "n": [0, 2, 1], "years": [1.0, 0.5, 1.5]})
    >>> data = SafetyCountData.from_frame(df, patient="id", dose="mg", count="n",
    ...                                   exposure="years")
    >>> data.doses, data.event_types, data.n_patients
    ([1.0, 10.0], ['any'], 3)
    """

    table: pd.DataFrame
    columns: dict[str, Any]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        patient: str = "patient",
        dose: str = "dose",
        count: str = "n_events",
        exposure: str = "exposure",
        event_type: str | None = None,
        dose_unit: str | None = None,
        exposure_unit: str | None = None,
    ) -> SafetyCountData:
        """Validate a table of event counts and exposure times.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table. Other columns are ignored.
        patient, dose : str
            Names of the patient id and dose columns. Doses are numbers >= 0 (0 for
            placebo); each patient has one dose.
        count : str
            Name of the column of event counts (non-negative integers).
        exposure : str
            Name of the column of exposure (follow-up) times, numbers > 0.
        event_type : str, optional
            Name of a column of event types; then each row is one patient and event type
            (at most one row per pair). Without it, one row per patient.
        dose_unit, exposure_unit : str, optional
            Units of dose and exposure, for labels (default: the columns' names).

        Returns
        -------
        SafetyCountData

        Raises
        ------
        DataError
            On any malformed input; the message names the column and the rows. No row is
            dropped: a missing value is an error.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "a", "b", "b"], "dose": [1, 1, 5, 5],
        ...                    "type": ["rash", "fever", "rash", "fever"],
        ...                    "n_events": [0, 1, 2, 0], "exposure": [1.0, 1.0, 0.5, 0.5]})
        >>> data = SafetyCountData.from_frame(df, event_type="type")
        >>> data.by_dose()
          event_type  dose  n_patients  total_events  total_exposure  crude_rate
        0      fever   1.0           1             1             1.0         1.0
        1      fever   5.0           1             0             0.5         0.0
        2       rash   1.0           1             0             1.0         0.0
        3       rash   5.0           1             2             0.5         4.0
        """
        labels = [f"row {label}" for label in frame.index]
        return cls._build(frame.reset_index(drop=True), labels, patient, dose, count,
                          exposure, event_type, dose_unit, exposure_unit)

    @classmethod
    def from_csv(cls, path: str | Path, **columns: Any) -> SafetyCountData:
        """Read a CSV file strictly and build a :class:`SafetyCountData`.

        Error messages cite CSV line numbers (the header is line 1).

        Parameters
        ----------
        path : str or Path
            The CSV file (see :func:`bayesdose.data.trial.read_csv_table`).
        **columns
            The keyword arguments of :meth:`from_frame` (patient, dose, count, exposure,
            event_type, dose_unit, exposure_unit).

        Returns
        -------
        SafetyCountData

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ae.csv")
        >>> _ = open(path, "w").write("patient,dose,n_events,exposure\\n"
        ...                           "a,1,0,1.0\\nb,10,3,0.5\\n")
        >>> SafetyCountData.from_csv(path).table["count"].tolist()
        [0, 3]
        """
        frame, labels = read_csv_table(path)
        options = {"patient": "patient", "dose": "dose", "count": "n_events",
                   "exposure": "exposure", "event_type": None, "dose_unit": None,
                   "exposure_unit": None}
        unknown = sorted(set(columns) - set(options))
        if unknown:
            raise DataError(f"unknown argument(s) {', '.join(map(repr, unknown))}; give "
                            f"{', '.join(options)}.")
        options.update(columns)
        return cls._build(frame, labels, **options)

    @classmethod
    def _build(cls, frame: pd.DataFrame, labels: list[str], patient: str, dose: str,
               count: str, exposure: str, event_type: str | None, dose_unit: str | None,
               exposure_unit: str | None) -> SafetyCountData:
        if len(frame) == 0:
            raise DataError("the adverse-event table is empty: it has no rows.")
        needed = [c for c in (patient, dose, count, exposure, event_type) if c is not None]
        require_columns(frame, needed,
                        hint="patient=, dose=, count=, exposure=, event_type=")
        rows = pd.Series(labels)
        table = pd.DataFrame({
            "patient": _patients(frame[patient], rows, patient),
            "event_type": (ALL_EVENTS if event_type is None
                           else _event_types(frame[event_type], rows, event_type)),
            "dose": _doses(frame[dose], rows, dose),
            "count": _counts(frame[count], rows, count).astype(int),
            "exposure": _exposures(frame[exposure], rows, exposure),
            "source_row": rows,
        })
        _check_one_dose(table, dose)
        _check_unique_rows(table, patient, event_type)
        if table["dose"].nunique() < 2:
            raise DataError(f"column {dose!r} has a single dose ({table['dose'].iloc[0]:g}); "
                            "a dose-event model needs at least two distinct doses.")
        columns = {"patient": patient, "dose": dose, "count": count, "exposure": exposure,
                   "event_type": event_type, "dose_unit": dose_unit or dose,
                   "exposure_unit": exposure_unit or exposure}
        return cls(table=table, columns=columns)

    @property
    def doses(self) -> list[float]:
        """The distinct tested doses, ascending."""
        return sorted(float(d) for d in self.table["dose"].unique())

    @property
    def event_types(self) -> list[str]:
        """The distinct event types, sorted."""
        return sorted(self.table["event_type"].unique().tolist())

    @property
    def n_patients(self) -> int:
        """Number of distinct patients."""
        return int(self.table["patient"].nunique())

    @property
    def dose_unit(self) -> str:
        """Unit of dose."""
        return self.columns["dose_unit"]

    @property
    def exposure_unit(self) -> str:
        """Unit of exposure."""
        return self.columns["exposure_unit"]

    @property
    def scale(self) -> LogDoseScale:
        """The log-dose scale of the model (reference dose and placebo offset)."""
        return LogDoseScale.from_doses(self.doses)

    def by_dose(self) -> pd.DataFrame:
        """Patients, events, exposure and crude event rate per event type and dose.

        Returns
        -------
        pandas.DataFrame
            Columns event_type, dose, n_patients, total_events, total_exposure and
            crude_rate (total events / total exposure).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 5], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> SafetyCountData.from_frame(df).by_dose()["crude_rate"].tolist()
        [0.5, 3.0]
        """
        grouped = self.table.groupby(["event_type", "dose"], sort=True)
        out = pd.DataFrame({"n_patients": grouped["patient"].nunique(),
                            "total_events": grouped["count"].sum().astype(int),
                            "total_exposure": grouped["exposure"].sum()})
        out["crude_rate"] = out["total_events"] / out["total_exposure"]
        return out.reset_index()


def _event_types(raw: pd.Series, labels: pd.Series, column: str) -> pd.Series:
    _fail(column, _blank(raw), labels, "is empty",
          "Every row needs an event type (nothing is dropped silently).")
    return raw.astype(str).str.strip()


def _exposures(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "exposure (follow-up) time")
    _fail(column, values <= 0, labels, "has exposure times that are not positive",
          "Give each row's follow-up time as a number > 0 (a patient followed for no time "
          "cannot inform an event rate).")
    return values


def _check_one_dose(table: pd.DataFrame, column: str) -> None:
    doses = table.groupby("patient")["dose"].nunique()
    several = doses[doses > 1].index.tolist()
    if several:
        mask = table["patient"].isin(several).to_numpy()
        _fail(column, mask, table["source_row"],
              f"gives patient {several[0]!r} more than one dose",
              "Each patient has one dose; correct the dose or the patient id.")


def _check_unique_rows(table: pd.DataFrame, patient: str, event_type: str | None) -> None:
    dup = table.duplicated(["patient", "event_type"], keep=False).to_numpy()
    if not dup.any():
        return
    first = table.loc[dup, "patient"].iloc[0]
    if event_type is None:
        _fail(patient, dup, table["source_row"],
              f"repeats patient ids (for example {first!r})",
              "Give one row per patient (sum a patient's events and follow-up), or name the "
              "event-type column (event_type=).")
    kind = table.loc[dup, "event_type"].iloc[0]
    rows = describe_rows(table.loc[dup, "source_row"].tolist())
    raise DataError(f"columns {patient!r} and {event_type!r} repeat patient {first!r} with "
                    f"event type {kind!r} at {rows}. Give one row per patient and event type "
                    "(sum the events of a type).")
