"""Values beyond an assay's limits of quantification: censored responses and their bounds.

A value below the lower limit of quantification (LLOQ) is only known to be at most the
limit, one above the upper limit (ULOQ) only to be at least it. Such a value's likelihood
is the probability of lying beyond its limit, never the density at a substitute (LLOQ/2
and the like bias the dose effect towards no change).

:class:`~bayesdose.data.trial.TrialData` keeps a censored value at its limit (the row's own
limit, or the outcome's declared ``lloq``/``uloq``) with its code in the table's
``censored`` column: -1 below the lower limit, 0 observed, +1 above the upper one. The
model's observed distribution is censored per row (``pm.Censored``, or
:func:`bayesdose.components.graph.censored_logp` in the swappable form), which treats a
response EQUAL to its bound as censored mass. So a censored row's response is its limit on
the modelled scale, and its bound on that side is the same number:

- change from baseline: ``log(limit) - log(baseline)`` for a ``lognormal`` outcome,
  ``limit - baseline`` for ``normal`` and ``student_t`` ones;
- a level (a response that is the value itself, as for baseline rows in the constrained
  longitudinal analysis): ``log(limit)``, or ``limit``.

Every other row keeps its bounds (``-inf``/``+inf``, or a score's bounds): a row has one
finite bound per side, and a detection limit replaces a score bound on its row. Ordinal
outcomes cannot be censored. A censored baseline gives no change from baseline: such
patients need the constrained longitudinal analysis (the baseline as a response) or their
rows removed.

:func:`censored_responses` does the per-row arithmetic on canonical table rows;
:func:`detection_limit_bounds` looks a model's response rows up in the trial and applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesdose.data.trial import ABOVE_LIMIT, BELOW_LIMIT, OBSERVED, OutcomeInfo, TrialData
from bayesdose.errors import DataError, describe_rows

#: The likelihoods whose responses can be censored, with the scale of their levels.
CENSORABLE = {"normal": "value", "student_t": "value", "lognormal": "log(value)"}


@dataclass(frozen=True)
class CensoredRows:
    """Per row: the censoring code, and the response and bounds of the censored rows.

    Attributes
    ----------
    code : numpy.ndarray
        -1 below the lower limit of quantification, 0 observed, +1 above the upper one.
    response : numpy.ndarray
        The modelled response at the row's limit (NaN on observed rows).
    lower : numpy.ndarray
        The response on rows below the lower limit (their bound), ``-inf`` elsewhere.
    upper : numpy.ndarray
        The response on rows above the upper limit, ``+inf`` elsewhere.

    Examples
    --------
    >>> rows = CensoredRows(np.array([0, -1]), np.array([np.nan, -1.0]),
    ...                     np.array([-np.inf, -1.0]), np.array([np.inf, np.inf]))
    >>> rows.n_censored
    1
    """

    code: np.ndarray
    response: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def n_censored(self) -> int:
        """Number of censored rows."""
        return int(np.count_nonzero(self.code))

    def apply(self, response: np.ndarray, lower: np.ndarray,
              upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Put the censored rows' response and bounds over those of all rows.

        Parameters
        ----------
        response, lower, upper : numpy.ndarray
            Every row's response and bounds (``-inf``/``+inf`` where unbounded, a score's
            bounds where it has some).

        Returns
        -------
        tuple of numpy.ndarray
            ``response``, ``lower`` and ``upper`` with the censored rows' values: a row
            below the lower limit gets its limit as lower bound (replacing a score's lower
            bound), one above the upper limit its limit as upper bound; observed rows are
            unchanged.

        Examples
        --------
        >>> rows = CensoredRows(np.array([0, -1]), np.array([np.nan, -1.0]),
        ...                     np.array([-np.inf, -1.0]), np.array([np.inf, np.inf]))
        >>> [a.tolist() for a in rows.apply(np.array([0.3, -1.0]), np.array([-5.0, -5.0]),
        ...                                 np.array([5.0, 5.0]))]
        [[0.3, -1.0], [-5.0, -1.0], [5.0, 5.0]]
        """
        censored = self.code != OBSERVED
        return (np.where(censored, self.response, response),
                np.where(self.code == BELOW_LIMIT, self.lower, lower),
                np.where(self.code == ABOVE_LIMIT, self.upper, upper))


def censored_responses(rows: pd.DataFrame, info: OutcomeInfo, likelihood: str | None = None,
                       baselines: pd.DataFrame | None = None) -> CensoredRows:
    """The response and censoring bounds of each row of one outcome.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows of :attr:`TrialData.table <bayesdose.data.trial.TrialData.table>` of one
        outcome, with columns ``patient``, ``value`` (on a censored row, its limit),
        ``source_row`` and ``censored`` (-1, 0, +1; all rows observed when the column is
        absent).
    info : OutcomeInfo
        The outcome's metadata (its name, for messages; its likelihood when
        ``likelihood`` is not given).
    likelihood : str, optional
        The outcome's likelihood: ``"normal"``, ``"student_t"`` or ``"lognormal"``
        (``"ordinal"`` only when no row is censored). Default: ``info.likelihood``, else
        ``"normal"``.
    baselines : pandas.DataFrame, optional
        For responses that are changes from baseline: the outcome's baseline rows (the
        table's rows at the baseline time), with ``patient``, ``value``, ``source_row`` and
        optionally ``censored``; every patient of ``rows`` needs one. None (default): the
        response is the level itself, ``log(value)`` for a lognormal outcome, ``value``
        otherwise (as for the baseline rows of the constrained longitudinal analysis).

    Returns
    -------
    CensoredRows
        Per row: its code, and on censored rows the response at the limit (the level, or
        its change from the baseline) with that number as the bound on its side.

    Raises
    ------
    DataError
        A censored row of an outcome whose likelihood cannot be censored (ordinal), or,
        for changes, a patient of ``rows`` whose baseline is censored (it gives no change:
        use the constrained longitudinal analysis, or remove the patient's rows).

    Examples
    --------
    A lognormal biomarker with a baseline of 4 and one value below its LLOQ of 0.5:

    >>> rows = pd.DataFrame({"patient": ["a", "a"], "value": [2.0, 0.5],
    ...                      "source_row": ["row 1", "row 2"], "censored": [0, -1]})
    >>> baselines = pd.DataFrame({"patient": ["a"], "value": [4.0], "source_row": ["row 0"]})
    >>> info = OutcomeInfo("crp", likelihood="lognormal", lloq=0.5)
    >>> change = censored_responses(rows, info, baselines=baselines)
    >>> change.lower.round(4).tolist(), change.upper.tolist()  # log(0.5 / 4) on row 2
    ([-inf, -2.0794], [inf, inf])
    >>> censored_responses(rows, info).response.round(4).tolist()  # the level: log(0.5)
    [nan, -0.6931]
    """
    name = info.name
    likelihood = likelihood or info.likelihood or "normal"
    code = (rows["censored"].to_numpy(dtype=int) if "censored" in rows
            else np.zeros(len(rows), dtype=int))
    n = len(rows)
    out = CensoredRows(code, np.full(n, np.nan), np.full(n, -np.inf), np.full(n, np.inf))
    censored = code != OBSERVED
    if likelihood not in CENSORABLE:
        flagged = (rows.loc[censored, "source_row"].tolist()
                   + _censored_baseline_rows(rows, baselines))
        if flagged:
            raise DataError(
                f"outcome {name!r} has censored values (beyond a limit of quantification) at "
                f"{describe_rows(flagged)}, but its likelihood {likelihood!r} cannot be "
                f"censored. Use one of {', '.join(map(repr, CENSORABLE))}, or clear those "
                "flags.")
        return out
    baseline = None if baselines is None else _baseline_of(rows, baselines, name)
    if not censored.any():
        return out
    response = _level(rows["value"].to_numpy(dtype=float), likelihood)
    if baseline is not None:
        response = response - _level(baseline, likelihood)
    response = np.where(censored, response, np.nan)
    return CensoredRows(code, response,
                        np.where(code == BELOW_LIMIT, response, -np.inf),
                        np.where(code == ABOVE_LIMIT, response, np.inf))


def detection_limit_bounds(data: TrialData, outcome: str, likelihood: str, rows: pd.DataFrame,
                           levels: bool = False) -> CensoredRows:
    """The censoring of a model's response rows of one outcome, looked up in the trial.

    Parameters
    ----------
    data : TrialData
        The trial.
    outcome : str
        The outcome.
    likelihood : str
        Its likelihood's name.
    rows : pandas.DataFrame
        The response rows, with ``patient``, ``time``, ``value`` and ``source_row`` (as
        :func:`bayesdose.components.inputs.prepare_inputs` arranges them).
    levels : bool
        Whether the responses are levels (the constrained longitudinal analysis, baseline
        rows included) rather than changes from baseline.

    Returns
    -------
    CensoredRows
        See :func:`censored_responses`; no row censored when the trial has none.

    Examples
    --------
    >>> frame = pd.DataFrame({"id": [1, 1, 2, 2], "mg": [1, 1, 5, 5], "wk": [0, 4, 0, 4],
    ...                       "crp": [4.0, None, 5.0, 3.0], "flag": ["", "<", "", ""]})
    >>> data = TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
    ...                             outcomes=["crp"], censored="flag",
    ...                             outcome_info={"crp": {"lloq": 0.5}})
    >>> rows = data.table[data.table["time"] > 0]
    >>> bounds = detection_limit_bounds(data, "crp", "lognormal", rows)
    >>> bounds.code.tolist(), bounds.lower.round(4).tolist()  # log(0.5 / 4)
    ([-1, 0], [-2.0794, -inf])
    """
    table = data.table
    if "censored" not in table:
        n = len(rows)
        return CensoredRows(np.zeros(n, dtype=int), np.full(n, np.nan),
                            np.full(n, -np.inf), np.full(n, np.inf))
    own = table[table["outcome"] == outcome]
    flags = own[["patient", "time", "censored"]]
    canonical = rows[["patient", "time", "value", "source_row"]].merge(
        flags, on=["patient", "time"], how="left", validate="many_to_one")
    canonical["censored"] = canonical["censored"].fillna(OBSERVED).astype(int)
    baselines = None
    if not levels:
        baselines = own[own["time"] == data.baseline_time]
    return censored_responses(canonical, data.info(outcome), likelihood, baselines)


def _level(values: np.ndarray, likelihood: str) -> np.ndarray:
    """Values on the likelihood's scale: their log for lognormal outcomes."""
    if CENSORABLE[likelihood] == "log(value)":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)
    return values


def _censored_baseline_rows(rows: pd.DataFrame, baselines: pd.DataFrame | None) -> list:
    """Source rows of the censored baselines of the patients of ``rows``."""
    if baselines is None or "censored" not in baselines:
        return []
    own = baselines[baselines["patient"].isin(rows["patient"])]
    return own.loc[own["censored"] != OBSERVED, "source_row"].tolist()


def _baseline_of(rows: pd.DataFrame, baselines: pd.DataFrame, outcome: str) -> np.ndarray:
    """Each row's baseline value; refuses censored baselines of the rows' patients."""
    base = baselines.drop_duplicates("patient").set_index("patient")
    patients = list(pd.unique(rows["patient"]))
    code = (base["censored"] if "censored" in base
            else pd.Series(OBSERVED, index=base.index)).reindex(patients).fillna(OBSERVED)
    censored = [p for p in patients if code[p] != OBSERVED]
    if censored:
        sides = {"below the lower": [p for p in censored if code[p] == BELOW_LIMIT],
                 "above the upper": [p for p in censored if code[p] == ABOVE_LIMIT]}
        shown = " and ".join(
            f"{side} limit of quantification for patient(s) {', '.join(map(repr, found[:6]))}"
            + (f" ({len(found)} in all)" if len(found) > 6 else "")
            for side, found in sides.items() if found)
        where = describe_rows(base.loc[censored, "source_row"].tolist())
        raise DataError(
            f"outcome {outcome!r}: the baseline is {shown} ({where}), so no change from "
            "baseline can be computed for these patients. They need the constrained "
            "longitudinal analysis (analysis=\"clda\": every value, the baseline included, "
            "is a response), or their rows of this outcome removed.")
    return base["value"].reindex(rows["patient"]).to_numpy(dtype=float)
