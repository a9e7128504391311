"""Arm-level summaries in: the mean per study x arm x time (x outcome) with its SE, checked.

An :class:`ArmData` holds published or aggregated results of several studies, one row
per study, arm, time point and outcome: the arm's mean (a change from baseline or an
absolute level) with its standard error and, where known, the number of patients. It is
built from a :class:`pandas.DataFrame` or a CSV file; every check that fails raises a
:class:`~bayesdose.errors.DataError` naming the column, the rows and the fix, and no row
is dropped. No model uses it yet: it is the data layer for arm-level evidence.

Placebo is dose 0. An arm at dose 0 is a placebo arm whatever its agent is called, and its
agent is :data:`PLACEBO` in the canonical table (dose 0 of every agent is the same
treatment). An agent whose name is one of :data:`PLACEBO_NAMES` (case ignored) must have
dose 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.data.trial import (
    OutcomeInfo,
    covariate_label,
    outcome_info_from_mapping,
    read_csv_table,
    require_columns,
)
from bayesdose.errors import DataError, describe_rows

#: The columns of :attr:`ArmData.table`, in order.
ARM_COLUMNS = ("study", "arm", "agent", "dose", "time", "outcome", "mean", "se", "n",
               "source_row")

#: The agent of every placebo (dose 0) arm in :attr:`ArmData.table`.
PLACEBO = "placebo"

#: Agent names read as placebo (compared in lower case, surrounding spaces ignored); an
#: arm of such an agent must have dose 0.
PLACEBO_NAMES = frozenset({"placebo", "pbo"})

#: The agent of every arm at a positive dose when no agent column is given (one agent).
ONE_AGENT = "active"

#: Labels that no study may have: a fit's read-outs take them as the population asked
#: for (``study="pooled"``: the mean of the between-study distribution; ``study="new"``:
#: a new study drawn from it).
RESERVED_STUDIES = ("pooled", "new")

_HINT = "study=, dose=, mean=, se= or sd= and n=; optionally arm=, time=, agent=, outcome="


@dataclass(frozen=True)
class _Roles:
    """The user's column for each role (None: not given), the outcome name and units."""

    study: Any
    dose: Any
    mean: Any
    arm: Any = None
    time: Any = None
    se: Any = None
    sd: Any = None
    n: Any = None
    agent: Any = None
    outcome: Any = None
    outcome_name: str | None = None
    dose_unit: str | None = None
    time_unit: str | None = None

    def given(self) -> dict[str, Any]:
        """Role -> column for the roles that name a column."""
        names = ("study", "arm", "agent", "dose", "time", "outcome", "mean", "se", "sd", "n")
        return {role: getattr(self, role) for role in names if getattr(self, role) is not None}


@dataclass
class ArmData:
    """Validated arm-level summaries, one row per study x arm x time x outcome.

    Build it with :meth:`from_frame` or :meth:`from_csv`; the constructor expects an
    already validated table and is not meant to be called directly.

    Attributes
    ----------
    table : pandas.DataFrame
        The canonical table, one row per input row in input order, with the columns of
        :data:`ARM_COLUMNS`: ``study``, ``arm``, ``agent`` and ``outcome`` (text);
        ``dose`` (float, 0 for placebo); ``time`` (float; NaN for every row when no time
        column was given: one time point); ``mean`` (float); ``se`` (float: the SE
        column where it has a value, else SD / sqrt(n)); ``n`` (float; NaN where not
        given); and ``source_row`` (``"row 3"`` or ``"line 4"``, for messages). A
        placebo arm's agent is :data:`PLACEBO`.
    columns : dict
        The user's column for each role (None when not given), the outcome name given
        with ``outcome_name`` and the units of dose and time.
    change : bool
        Whether ``mean`` is a change from baseline (True) or an absolute level (False).
    outcome_info : dict of str to OutcomeInfo
        Metadata per outcome (direction, MCID, bounds, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"trial": ["A", "A", "B", "B"], "mg": [0, 10, 0, 20],
    ...                       "cfb": [-0.1, -0.6, 0.0, -0.8], "se": [0.1, 0.1, 0.2, 0.2]})
    >>> data = ArmData.from_frame(frame, study="trial", dose="mg", mean="cfb", se="se")
    >>> data.studies, data.doses
    (['A', 'B'], {'placebo': [0.0], 'active': [10.0, 20.0]})
    """

    table: pd.DataFrame
    columns: dict[str, Any]
    change: bool = True
    outcome_info: dict[str, OutcomeInfo] = field(default_factory=dict)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        study: str,
        arm: str | None = None,
        dose: str,
        time: str | None = None,
        mean: str,
        se: str | None = None,
        sd: str | None = None,
        n: str | None = None,
        agent: str | None = None,
        outcome: str | None = None,
        outcome_name: str | None = None,
        change: bool = True,
        dose_unit: str | None = None,
        time_unit: str | None = None,
        outcome_info: Mapping[str, Mapping[str, Any] | OutcomeInfo] | None = None,
    ) -> ArmData:
        """Validate a table of arm-level summaries and build an :class:`ArmData`.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per study x arm x time point (x outcome). Other columns are ignored.
        study : str
            The study column (text or numbers).
        arm : str, optional
            The arm column, whose labels are unique within a study (an arm has one
            agent and one dose). Without it an arm is an agent at a dose within a study,
            labelled ``"<agent> <dose>"`` (``"placebo"`` at dose 0); give it when a study
            has two arms of one agent at one dose.
        dose : str
            The dose column: numbers >= 0, 0 for placebo.
        time : str, optional
            The time column (numbers). Without it every row is at one time point (for
            example each study's primary endpoint), and ``time`` is NaN in :attr:`table`.
        mean : str
            The column of arm means.
        se : str, optional
            The column of standard errors of the means (> 0). A row with an empty SE
            takes SD / sqrt(n) when ``sd`` and ``n`` are given.
        sd : str, optional
            The column of within-arm SDs (> 0), used with ``n`` where the SE is not given.
        n : str, optional
            The column of the numbers of patients (integers >= 1). It may be empty on a
            row that has an SE.
        agent : str, optional
            The agent (drug) column. Without it every arm at a positive dose is of one
            agent, :data:`ONE_AGENT`. Whatever the column says, an arm at dose 0 is
            placebo (agent :data:`PLACEBO`); an agent named ``"placebo"`` or ``"pbo"``
            (case ignored) must have dose 0.
        outcome : str, optional
            A column of outcome names, for several outcomes in one table.
        outcome_name : str, optional
            The name of the one outcome when there is no outcome column (default: the
            ``mean`` column's name).
        change : bool
            True (default) when the means are changes from baseline, False when they are
            absolute levels (for example a score at each visit, baseline included).
        dose_unit, time_unit : str, optional
            Units, used in labels (default: the column names).
        outcome_info : mapping, optional
            Per outcome, an :class:`~bayesdose.OutcomeInfo` or a mapping of its fields.
            The bounds ``lower``/``upper`` are checked against the means of absolute
            levels (``change=False``).

        Returns
        -------
        ArmData

        Raises
        ------
        DataError
            On any malformed input (a missing column; an empty, non-numeric or infinite
            number; no SE and no SD and n; a non-positive SE, SD or n; a fractional n; a
            negative dose; a placebo agent at a positive dose; an arm with two doses or
            two agents; a repeated study x arm x time x outcome; a study labelled
            ``"pooled"`` or ``"new"``, see :data:`RESERVED_STUDIES`); the message names
            the column, the rows and the fix. A study with a single arm gives a warning.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"study": ["S1"] * 4, "drug": ["Placebo", "X"] * 2,
        ...                       "mg": [0, 50] * 2, "week": [4, 4, 12, 12],
        ...                       "cfb": [-1.0, -3.0, -1.5, -5.0],
        ...                       "sd": [4.0, 4.2, 4.1, 4.4], "n": [25, 25, 24, 23]})
        >>> data = ArmData.from_frame(frame, study="study", agent="drug", dose="mg",
        ...                           time="week", mean="cfb", sd="sd", n="n")
        >>> data.table[["arm", "agent", "time", "se"]].round(3)
               arm    agent  time     se
        0  placebo  placebo   4.0  0.800
        1     X 50        X   4.0  0.840
        2  placebo  placebo  12.0  0.837
        3     X 50        X  12.0  0.917
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"the arm-level table must be a pandas DataFrame (got "
                            f"{type(frame).__name__}); read a file with ArmData.from_csv.")
        roles = _roles(study=study, arm=arm, dose=dose, time=time, mean=mean, se=se, sd=sd,
                       n=n, agent=agent, outcome=outcome, outcome_name=outcome_name,
                       dose_unit=dose_unit, time_unit=time_unit)
        labels = [f"row {label}" for label in frame.index]
        return cls._build(frame.reset_index(drop=True), labels, roles, change, outcome_info)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        study: str,
        arm: str | None = None,
        dose: str,
        time: str | None = None,
        mean: str,
        se: str | None = None,
        sd: str | None = None,
        n: str | None = None,
        agent: str | None = None,
        outcome: str | None = None,
        outcome_name: str | None = None,
        change: bool = True,
        dose_unit: str | None = None,
        time_unit: str | None = None,
        outcome_info: Mapping[str, Mapping[str, Any] | OutcomeInfo] | None = None,
    ) -> ArmData:
        """Read a CSV file of arm-level summaries and build an :class:`ArmData`.

        The file is read strictly (see :func:`bayesdose.data.trial.read_csv_table`):
        UTF-8, comma-separated, one field per column on every row; an empty cell or a
        usual missing-value marker (``NA``, ``NaN``, ...) is a missing value. Error
        messages cite line numbers (the header is line 1).

        Parameters
        ----------
        path : str or Path
            The CSV file.
        study, arm, dose, time, mean, se, sd, n, agent, outcome : str
            Column names, as in :meth:`from_frame`.
        outcome_name, change, dose_unit, time_unit, outcome_info
            As in :meth:`from_frame`.

        Returns
        -------
        ArmData

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "arms.csv")
        >>> _ = open(path, "w").write("study,dose,y,se\\nA,0,0.1,0.2\\nA,5,-0.4,0.2\\n"
        ...                           "B,0,0.0,0.3\\nB,10,-0.7,0.3\\n")
        >>> ArmData.from_csv(path, study="study", dose="dose", mean="y", se="se").summary()
          study  n_arms  n_times  n_rows  placebo
        0     A       2        1       2     True
        1     B       2        1       2     True
        """
        roles = _roles(study=study, arm=arm, dose=dose, time=time, mean=mean, se=se, sd=sd,
                       n=n, agent=agent, outcome=outcome, outcome_name=outcome_name,
                       dose_unit=dose_unit, time_unit=time_unit)
        frame, labels = read_csv_table(path)
        return cls._build(frame, labels, roles, change, outcome_info)

    @classmethod
    def _build(cls, frame: pd.DataFrame, labels: list[str], roles: _Roles, change: Any,
               outcome_info: Any) -> ArmData:
        if not isinstance(change, (bool, np.bool_)):
            raise DataError(f"change= must be True (the means are changes from baseline) or "
                            f"False (absolute levels), got {_shown(change)}.")
        if isinstance(frame.columns, pd.MultiIndex):
            raise DataError("the arm-level table has multi-level column names; flatten them "
                            "(e.g. frame.columns = ['_'.join(map(str, c)) for c in "
                            "frame.columns]) and name the flat columns.")
        if len(frame) == 0:
            raise DataError("the arm-level table is empty: it has no rows. Check the file or "
                            "filter.")
        require_columns(frame, list(roles.given().values()), hint=_HINT)
        table = _canonical(frame, pd.Series(labels, dtype=object), roles, bool(change))
        info = _outcome_info(table, outcome_info)
        if not change:
            _check_bounds(table, info, roles)
        _warn_single_arm_studies(table)
        columns = {**dict.fromkeys(("study", "arm", "agent", "dose", "time", "outcome",
                                    "mean", "se", "sd", "n")), **roles.given(),
                   "outcome_name": roles.outcome_name,
                   "dose_unit": roles.dose_unit or str(roles.dose),
                   "time_unit": None if roles.time is None else roles.time_unit
                   or str(roles.time)}
        return cls(table=table, columns=columns, change=bool(change), outcome_info=info)

    # ------------------------------------------------------------------ views
    @property
    def studies(self) -> list[str]:
        """Study labels, in order of first appearance."""
        return list(pd.unique(self.table["study"]))

    @property
    def agents(self) -> list[str]:
        """Agents, in order of first appearance (:data:`PLACEBO` among them when a study
        has a placebo arm)."""
        return list(pd.unique(self.table["agent"]))

    @property
    def doses(self) -> dict[str, list[float]]:
        """Per agent (in order of first appearance) its distinct doses, ascending."""
        grouped = self.table.groupby("agent", sort=False)["dose"]
        return {str(agent): sorted(float(d) for d in doses.unique())
                for agent, doses in grouped}

    @property
    def times(self) -> list[float]:
        """Distinct time points, ascending (empty when no time column was given)."""
        return sorted(float(t) for t in self.table["time"].dropna().unique())

    @property
    def outcomes(self) -> list[str]:
        """Outcome names, in order of first appearance."""
        return list(pd.unique(self.table["outcome"]))

    @property
    def arms(self) -> pd.DataFrame:
        """One row per study x arm (in order of first appearance): study, arm, agent,
        dose."""
        keys = ["study", "arm", "agent", "dose"]
        return self.table.drop_duplicates(["study", "arm"])[keys].reset_index(drop=True)

    @property
    def dose_unit(self) -> str:
        """The dose unit used in labels."""
        return str(self.columns["dose_unit"])

    @property
    def time_unit(self) -> str | None:
        """The time unit used in labels (None when no time column was given)."""
        unit = self.columns["time_unit"]
        return None if unit is None else str(unit)

    def summary(self) -> pd.DataFrame:
        """Arms and time points per study.

        Returns
        -------
        pandas.DataFrame
            One row per study (in order of first appearance) with columns study, n_arms,
            n_times (1 when no time column was given), n_rows and placebo (whether the
            study has a placebo arm).

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": [1, 1, 1, 2, 2], "d": [0, 5, 5, 0, 5],
        ...                       "t": [4, 4, 8, 4, 4], "y": [0.1, -0.3, -0.5, 0.0, -0.2],
        ...                       "se": [0.1] * 5})
        >>> ArmData.from_frame(frame, study="s", dose="d", time="t", mean="y",
        ...                    se="se").summary()
          study  n_arms  n_times  n_rows  placebo
        0     1       2        2       3     True
        1     2       2        1       2     True
        """
        grouped = self.table.groupby("study", sort=False)
        out = pd.DataFrame({
            "n_arms": grouped["arm"].nunique(),
            "n_times": grouped["time"].nunique(dropna=False),
            "n_rows": grouped.size(),
            "placebo": grouped["dose"].agg(lambda d: bool((d == 0).any())).astype(bool),
        })
        return out.rename_axis("study").reset_index()

    def info(self, outcome: str) -> OutcomeInfo:
        """The :class:`~bayesdose.OutcomeInfo` of ``outcome`` (defaults when none was
        given).

        Parameters
        ----------
        outcome : str
            Outcome name, present in the data.

        Returns
        -------
        OutcomeInfo

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 5], "hba1c": [0.0, -0.5],
        ...                       "se": [0.1, 0.1]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="hba1c", se="se",
        ...                           outcome_info={"hba1c": {"direction": "lower_is_better"}})
        >>> data.info("hba1c").direction
        'lower_is_better'
        """
        if outcome not in self.outcome_info:
            raise DataError(f"unknown outcome {_shown(outcome)}; the data have "
                            f"{', '.join(map(repr, self.outcomes))}.")
        return self.outcome_info[outcome]

    def to_frame(self) -> pd.DataFrame:
        """The canonical table with the user's column names (for saving or inspection).

        Returns
        -------
        pandas.DataFrame
            Columns study, arm, agent, dose, time (only when a time column was given),
            outcome, mean, se (computed where it came from SD and n) and n (when an n
            column was given), each named as in the input, or by its role when the input
            had no such column (``arm``, ``agent``, ``outcome``, ``se``); placebo arms
            have agent :data:`PLACEBO`. ``ArmData.from_frame(frame,
            **data.frame_arguments())`` rebuilds the same data.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 5], "y": [0.0, -0.5],
        ...                       "sd": [1.0, 1.2], "n": [25, 36]})
        >>> ArmData.from_frame(frame, study="s", dose="d", mean="y", sd="sd",
        ...                    n="n").to_frame()
           s       arm    agent    d outcome    y   se   n
        0  A   placebo  placebo  0.0       y  0.0  0.2  25
        1  A  active 5   active  5.0       y -0.5  0.2  36
        """
        names = self._frame_names()
        out = pd.DataFrame({names[role]: self.table[role] for role in names})
        if "n" in names:
            n = self.table["n"]
            out[names["n"]] = n.astype("Int64") if n.notna().all() else n
        return out

    def frame_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`from_frame` that rebuild these data from
        :meth:`to_frame`.

        Returns
        -------
        dict
            Column names (study, arm, agent, dose, time, mean, se, n, outcome), change,
            dose_unit, time_unit and outcome_info.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 5], "y": [0.0, -0.5],
        ...                       "se": [0.2, 0.2]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se")
        >>> again = ArmData.from_frame(data.to_frame(), **data.frame_arguments())
        >>> again.table.equals(data.table)
        True
        """
        names = self._frame_names()
        return {**{role: names.get(role) for role in ("study", "arm", "agent", "dose",
                                                      "time", "mean", "se", "n", "outcome")},
                "change": self.change, "dose_unit": self.dose_unit,
                "time_unit": self.time_unit, "outcome_info": dict(self.outcome_info)}

    def _frame_names(self) -> dict[str, Any]:
        """The column name of each role in :meth:`to_frame`: the user's, else the role's
        own name (with ``_`` appended while it is taken by another column)."""
        roles = ["study", "arm", "agent", "dose", "time", "outcome", "mean", "se", "n"]
        if self.columns["time"] is None:
            roles.remove("time")
        if self.columns["n"] is None:
            roles.remove("n")
        taken = {self.columns[role] for role in roles if self.columns[role] is not None}
        names: dict[str, Any] = {}
        for role in roles:
            name = self.columns[role]
            if name is None:
                name = role
                while name in taken:
                    name += "_"
                taken.add(name)
            names[role] = name
        return names

    def __repr__(self) -> str:
        times = (f"times [{', '.join(f'{t:g}' for t in self.times)}] {self.time_unit}"
                 if self.times else "one time point")
        kind = "change from baseline" if self.change else "absolute level"
        return (f"ArmData({len(self.studies)} studies, {len(self.arms)} arms, "
                f"{len(self.table)} rows, agents {_listed(self.agents)}, {times}, outcomes "
                f"{_listed(self.outcomes)} ({kind}))")


# ---------------------------------------------------------------------- arguments
def _roles(**arguments: Any) -> _Roles:
    """Check the column arguments of the constructors and gather them."""
    for role in ("study", "dose", "mean"):
        _column(arguments[role], role)
    for role in ("arm", "time", "se", "sd", "n", "agent", "outcome"):
        if arguments[role] is not None:
            _column(arguments[role], role)
    for role in ("outcome_name", "dose_unit", "time_unit"):
        value = arguments[role]
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise DataError(f"{role}= must be non-empty text (got {_shown(value)}).")
    if arguments["outcome"] is not None and arguments["outcome_name"] is not None:
        raise DataError("give either outcome= (a column of outcome names) or outcome_name= "
                        "(the name of the one outcome), not both.")
    if arguments["se"] is None and arguments["sd"] is None:
        raise DataError("give the standard errors of the means (se=) or the SDs and the "
                        "numbers of patients (sd= and n=; the SE is then SD / sqrt(n)).")
    if arguments["sd"] is not None and arguments["n"] is None:
        raise DataError(f"sd={arguments['sd']!r} needs the numbers of patients (n=): the SE "
                        "is computed as SD / sqrt(n).")
    roles = _Roles(**arguments)
    seen: dict[Any, str] = {}
    for role, column in roles.given().items():
        if column in seen:
            raise DataError(f"column {column!r} is given both as {seen[column]}= and as "
                            f"{role}=; each role needs a column of its own.")
        seen[column] = role
    return roles


def _column(value: Any, role: str) -> None:
    if isinstance(value, str) or (isinstance(value, (int, np.integer))
                                  and not isinstance(value, (bool, np.bool_))):
        return
    raise DataError(f"{role}= must be the name of one column, a string (got "
                    f"{_shown(value)}).")


# ---------------------------------------------------------------------- the table
def _canonical(frame: pd.DataFrame, rows: pd.Series, roles: _Roles,
               change: bool) -> pd.DataFrame:
    """The canonical table of :class:`ArmData`, every cell checked."""
    table = pd.DataFrame({"study": _labels(frame[roles.study], rows, roles.study, "study")})
    reserved = np.isin(table["study"].to_numpy(dtype=object), RESERVED_STUDIES)
    _fail(reserved, rows, f"column {roles.study!r} has the reserved study label(s) "
          f"{', '.join(map(repr, pd.unique(table['study'][reserved])))}",
          f"Rename those studies: {' and '.join(map(repr, RESERVED_STUDIES))} name the "
          "populations of a fit's read-outs (study='pooled', study='new').")
    dose = _numbers(frame[roles.dose], rows, roles.dose, "dose")
    _fail(dose < 0, rows, f"column {roles.dose!r} has negative doses",
          "Doses must be >= 0 (0 for placebo).")
    table["agent"] = _agents(frame, rows, roles, dose)
    table["dose"] = dose
    table["time"] = (np.nan if roles.time is None
                     else _numbers(frame[roles.time], rows, roles.time, "time"))
    table["outcome"] = (_labels(frame[roles.outcome], rows, roles.outcome, "outcome")
                        if roles.outcome is not None
                        else roles.outcome_name or str(roles.mean))
    table["mean"] = _numbers(frame[roles.mean], rows, roles.mean, "mean")
    table["se"], table["n"] = _standard_errors(frame, rows, roles, change)
    table["source_row"] = rows.to_numpy()
    table.insert(1, "arm", _arms(frame, table, rows, roles))
    _check_duplicates(table, roles)
    return table[list(ARM_COLUMNS)]


def _labels(cells: pd.Series, rows: pd.Series, column: Any, role: str) -> np.ndarray:
    """A label column as text: strings stripped, numbers by their value (``1`` and
    ``1.0`` are ``"1"``); empty cells and cells that are not labels are errors."""
    cells = cells.astype(object)
    odd = ~cells.map(lambda v: v is None or v is pd.NA
                     or isinstance(v, (str, int, float, np.number))).to_numpy(dtype=bool)
    if odd.any():
        raise DataError(f"column {column!r} has values that are not labels (for example "
                        f"{_shown(cells[odd].iloc[0])}) at {describe_rows(rows[odd].tolist())}; "
                        f"use text or numbers as {role} names.")
    text = cells.map(lambda v: v.strip() if isinstance(v, str) else covariate_label(v))
    blank = _blank(text)
    article = "an" if role[0] in "aeiou" else "a"
    _fail(blank, rows, f"column {column!r} is empty",
          f"Every row needs {article} {role}; fill it in or remove those rows.")
    return text.to_numpy(dtype=object)


def _blank(cells: pd.Series) -> np.ndarray:
    """Cells that hold no value: None, NaN, pd.NA or blank text."""
    return cells.map(lambda v: v is None or v is pd.NA or v is pd.NaT
                     or (isinstance(v, float) and math.isnan(v))
                     or (isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)


def _numbers(cells: pd.Series, rows: pd.Series, column: Any, what: str,
             allow_missing: bool = False) -> np.ndarray:
    """A numeric column as floats (NaN where empty); text that is not a plain number, a
    cell that is not a real number (a boolean, bytes, a date) and an infinite value are
    errors, and so is an empty cell unless allowed."""
    dtype = cells.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        cells = cells.astype(object)
    elif pd.api.types.is_numeric_dtype(dtype):
        values = cells.to_numpy(dtype=float, na_value=np.nan)
        return _checked(values, np.isnan(values), np.zeros(len(values), bool), cells, rows,
                        column, what, allow_missing)
    cells = cells.astype(object)
    blank = _blank(cells)
    odd = ~cells.map(_number_like).to_numpy(dtype=bool) & ~blank
    readable = cells.where(~(blank | odd), None).map(_real, na_action="ignore")
    parsed = pd.to_numeric(readable, errors="coerce")
    values = np.where(odd, np.nan, np.asarray(parsed, dtype=float))
    return _checked(values, blank, odd | (np.isnan(values) & ~blank), cells, rows, column,
                    what, allow_missing)


def _number_like(value: Any) -> bool:
    """Text, or a real number that is not a boolean (bytes, complex numbers, dates and
    containers are not numbers)."""
    return isinstance(value, str) or (
        isinstance(value, (int, float, np.integer, np.floating, Decimal))
        and not isinstance(value, (bool, np.bool_)))


def _real(value: Any) -> Any:
    """A number as a float (an integer beyond the floats as an infinity); text as it is."""
    if isinstance(value, str):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _checked(values: np.ndarray, blank: np.ndarray, bad: np.ndarray, cells: pd.Series,
             rows: pd.Series, column: Any, what: str, allow_missing: bool) -> np.ndarray:
    if bad.any():
        shown = list(dict.fromkeys(_shown(v) for v in cells[bad]))[:3]
        raise DataError(f"column {column!r} has non-numeric values ({', '.join(shown)}) at "
                        f"{describe_rows(rows[bad].tolist())}. Use plain numbers (no units "
                        "or text); leave a value empty if it is missing.")
    _fail(np.isinf(values), rows, f"column {column!r} has infinite values",
          "Use finite numbers.")
    if not allow_missing:
        _fail(blank, rows, f"column {column!r} is empty",
              f"Every row needs a {what}; fill it in or remove those rows (nothing is "
              "dropped silently).")
    return values


def _agents(frame: pd.DataFrame, rows: pd.Series, roles: _Roles,
            dose: np.ndarray) -> np.ndarray:
    """Each row's agent: :data:`PLACEBO` at dose 0, else the agent column (or
    :data:`ONE_AGENT`); an agent named as placebo at a positive dose is an error."""
    if roles.agent is None:
        return np.where(dose == 0, PLACEBO, ONE_AGENT).astype(object)
    names = _labels(frame[roles.agent], rows, roles.agent, "agent")
    placebo = np.array([str(a).lower() in PLACEBO_NAMES for a in names], dtype=bool)
    wrong = placebo & (dose > 0)
    if wrong.any():
        examples = ", ".join(f"{a!r} at {d:g}" for a, d in
                             list(dict.fromkeys(zip(names[wrong], dose[wrong], strict=True)))[:3])
        raise DataError(
            f"column {roles.agent!r} names placebo ({examples}) with a positive dose in "
            f"column {roles.dose!r} at {describe_rows(rows[wrong].tolist())}. Placebo is "
            "dose 0: give those rows dose 0, or, if they are an active agent, another name.")
    return np.where(dose == 0, PLACEBO, names).astype(object)


def _standard_errors(frame: pd.DataFrame, rows: pd.Series, roles: _Roles,
                     change: bool) -> tuple[np.ndarray, np.ndarray]:
    """The SE of each row (the SE column, else SD / sqrt(n)) and n (NaN where not given)."""
    count = len(frame)
    se = _positive(frame, rows, roles.se, "standard error", change)
    sd = _positive(frame, rows, roles.sd, "SD", change)
    n = _positive(frame, rows, roles.n, "number of patients", change)
    fractional = ~np.isnan(n) & (n != np.round(n))
    _fail(fractional, rows, f"column {roles.n!r} has numbers of patients that are not "
          "whole", "Give the number of patients behind each mean (1, 2, ...).")
    derived = sd / np.sqrt(n)
    missing = np.isnan(se) & np.isnan(derived)
    if missing.any():
        raise DataError(f"no standard error at {describe_rows(rows[missing].tolist())}: "
                        f"{_missing_se(roles)}")
    return np.where(np.isnan(se), derived, se), (n if roles.n is not None
                                                 else np.full(count, np.nan))


def _positive(frame: pd.DataFrame, rows: pd.Series, column: Any, what: str,
              change: bool) -> np.ndarray:
    """An optional column of positive numbers (NaN where empty or not given)."""
    if column is None:
        return np.full(len(frame), np.nan)
    values = _numbers(frame[column], rows, column, what, allow_missing=True)
    hint = (" A mean change of 0 with no spread (at the baseline visit, or in the "
            "reference arm of results given relative to it) carries no information: remove "
            "such rows." if change and what != "number of patients" else "")
    _fail(values <= 0, rows, f"column {column!r} has values that are not positive",
          f"Each {what} must be > 0; correct it, or leave it empty where it is not known."
          + hint)
    return values


def _missing_se(roles: _Roles) -> str:
    """Why a row has no SE and how to give one."""
    if roles.sd is None:
        return (f"column {roles.se!r} is empty there. Fill in the SE, or give the SDs and "
                "the numbers of patients (sd=, n=) to compute it as SD / sqrt(n).")
    if roles.se is None:
        return (f"column {roles.sd!r} or {roles.n!r} is empty there, and the SE is "
                "computed as SD / sqrt(n). Fill them in, or give an SE column (se=).")
    return (f"column {roles.se!r} is empty there, and so is column {roles.sd!r} or "
            f"{roles.n!r}. Fill in the SE, or the SD and n.")


def _arms(frame: pd.DataFrame, table: pd.DataFrame, rows: pd.Series,
          roles: _Roles) -> np.ndarray:
    """Each row's arm: the arm column (checked for one agent and one dose per arm), else
    ``"<agent> <dose>"`` (``"placebo"`` at dose 0)."""
    if roles.arm is None:
        return np.array([PLACEBO if dose == 0 else f"{agent} {covariate_label(dose)}"
                         for agent, dose in zip(table["agent"], table["dose"], strict=True)],
                        dtype=object)
    arms = _labels(frame[roles.arm], rows, roles.arm, "arm")
    keyed = table.assign(arm=arms)
    for role, fix in (("dose", roles.dose), ("agent", roles.agent)):
        _check_constant_within_arm(keyed, role, fix, roles)
    return arms


def _check_constant_within_arm(table: pd.DataFrame, role: str, column: Any,
                               roles: _Roles) -> None:
    """Refuse an arm whose rows disagree on its dose or agent."""
    counts = table.groupby(["study", "arm"], sort=False)[role].nunique()
    several = counts[counts > 1].index.tolist()
    if not several:
        return
    details = []
    for study, arm in several[:3]:
        own = table[(table["study"] == study) & (table["arm"] == arm)]
        values = ", ".join(f"{v:g}" if role == "dose" else repr(v)
                           for v in pd.unique(own[role]))
        details.append(f"study {study!r}, arm {arm!r} has {role}s {values} "
                       f"({describe_rows(own['source_row'].tolist(), 4)})")
    more = f" ({len(several)} arms in all)" if len(several) > 3 else ""
    where = f"column {column!r}" if column is not None else f"the {role}"
    raise DataError(f"{where}: an arm has one {role} within a study, but "
                    + "; ".join(details) + more + f". Correct the {role}, or give the arms "
                    f"distinct labels in column {roles.arm!r}.")


def _check_duplicates(table: pd.DataFrame, roles: _Roles) -> None:
    """Refuse two rows of one study, arm, time and outcome."""
    keys = ["study", "arm", "time", "outcome"]
    dup = table.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return
    first = table[dup].iloc[0]
    time = "" if roles.time is None else f", time {first['time']:g}"
    fix = ("Keep one row per study, arm, time and outcome." if roles.arm is not None else
           "Keep one row per study, arm, time and outcome; if a study has two arms of one "
           "agent at one dose, label its arms in a column and give it as arm=.")
    raise DataError(f"duplicate rows for the same study x arm x time x outcome at "
                    f"{describe_rows(table.loc[dup, 'source_row'].tolist())} (for example "
                    f"study {first['study']!r}, arm {first['arm']!r}{time}, outcome "
                    f"{first['outcome']!r}). {fix}")


def _outcome_info(table: pd.DataFrame, outcome_info: Any) -> dict[str, OutcomeInfo]:
    """Each outcome's metadata (defaults where none is given); unknown outcomes refused."""
    if outcome_info is not None and not isinstance(outcome_info, Mapping):
        raise DataError("outcome_info must be a dict from outcome name to its metadata, e.g. "
                        f"{{'hba1c': {{'direction': 'lower_is_better'}}}} (got "
                        f"{_shown(outcome_info)}).")
    given = dict(outcome_info or {})
    present = list(pd.unique(table["outcome"]))
    unknown = [str(name) for name in given if name not in present]
    if unknown:
        raise DataError(f"outcome_info names outcome(s) {', '.join(map(repr, unknown))} that "
                        f"are not in the data (outcomes present: "
                        f"{', '.join(map(repr, present))}).")
    return {name: outcome_info_from_mapping(name, given[name]) if name in given
            else OutcomeInfo(name) for name in present}


def _check_bounds(table: pd.DataFrame, info: Mapping[str, OutcomeInfo],
                  roles: _Roles) -> None:
    """Means of absolute levels must lie within their outcome's declared bounds."""
    for name, meta in info.items():
        own = (table["outcome"] == name).to_numpy()
        means = table["mean"].to_numpy()
        outside = own & (((means < meta.lower) if meta.lower is not None else False)
                         | ((means > meta.upper) if meta.upper is not None else False))
        if np.any(outside):
            raise DataError(
                f"outcome {name!r}: means in column {roles.mean!r} outside its declared "
                f"bounds [{meta.lower}, {meta.upper}] at "
                f"{describe_rows(table.loc[outside, 'source_row'].tolist())} (for example "
                f"{means[outside][0]:g}). Correct the values or the bounds; for changes "
                "from baseline give change=True (bounds are not checked on changes).")


def _warn_single_arm_studies(table: pd.DataFrame) -> None:
    """Warn (and keep them) about studies with one arm: they compare no arms."""
    arms = table.groupby("study", sort=False)["arm"].unique()
    single = [(study, labels[0]) for study, labels in arms.items() if len(labels) == 1]
    if not single:
        return
    shown = "; ".join(f"study {study!r} (arm {arm!r})" for study, arm in single[:5])
    more = f" ({len(single)} studies in all)" if len(single) > 5 else ""
    verb = "has" if len(single) == 1 else "each have"
    warnings.warn(f"{shown}{more} {verb} a single arm, which compares no doses within its "
                  "study and informs only the time course and, for a placebo arm, the "
                  "placebo response; kept.", UserWarning, stacklevel=4)


# ---------------------------------------------------------------------- messages
def _fail(mask: np.ndarray, rows: pd.Series, problem: str, fix: str) -> None:
    """Raise :class:`DataError` ``"<problem> at <rows>. <fix>"`` when ``mask`` is set."""
    if np.any(mask):
        raise DataError(f"{problem} at {describe_rows(rows[mask].tolist())}. {fix}")


def _listed(names: list[str], limit: int = 6) -> str:
    """``[a, b, ...]`` with at most ``limit`` names and the count of the rest."""
    shown = ", ".join(map(repr, names[:limit]))
    return f"[{shown}, ... ({len(names)} in all)]" if len(names) > limit else f"[{shown}]"


def _shown(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
