"""Likelihoods per outcome: what is modelled, on which scale, with which distribution.

Each outcome has one likelihood, chosen by name:

- ``normal`` and ``student_t``: the change from baseline in the outcome's units. When the
  outcome declares scale bounds, a value at a bound is treated as censored there (its
  likelihood is the probability of reaching the bound), so posterior predictions stay
  inside the scale.
- ``lognormal``: for positive, right-skewed outcomes (biomarkers): the change in log value,
  log(y_t / y_0); effects are log ratios (exp(effect) is the ratio to baseline). Values
  beyond the assay's limits of quantification are censored at them (see
  :mod:`bayesdose.components.censoring`), as are those of normal and student_t outcomes
  that declare limits.
- ``ordinal``: for graded scores (for example synovitis 0-3): the grade after baseline,
  ordered logistic with the baseline grade as a covariate; effects are on the latent
  logit scale (log odds ratios of a better grade).

Every likelihood maps the direction-aligned, standardised mean of the model to its own
scale; :class:`Likelihood` says how. The standardising SD (:meth:`Likelihood.scale_sd`) is
the outcome's declared SD when its metadata give one, else the pooled within-arm SD of the
modelled change at the last visit (:func:`pooled_change_sd`); never the SD of the
baselines, which eligibility criteria narrow and which a dozen patients estimate poorly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bayesdose.errors import DataError, SpecError, describe_rows


@dataclass(frozen=True)
class Likelihood:
    """Base class: the response modelled for an outcome and its observation model."""

    name: ClassVar[str] = ""
    effect_units: ClassVar[str] = "outcome units"
    variable: ClassVar[str] = ""
    response_name: ClassVar[str] = "change"

    def response(self, rows: pd.DataFrame) -> np.ndarray:
        """The modelled response for each post-baseline row (columns value, baseline)."""
        return (rows["value"] - rows["baseline"]).to_numpy(dtype=float)

    def baseline_covariate(self, baseline: np.ndarray) -> np.ndarray:
        """The baseline on the scale the covariate uses."""
        return np.asarray(baseline, dtype=float)

    def level(self, rows: pd.DataFrame) -> np.ndarray:
        """The modelled level of each value (baseline rows included), for the constrained
        longitudinal analysis: the value itself, its log for lognormal outcomes.

        Examples
        --------
        >>> rows = pd.DataFrame({"value": [10.0, 20.0]})
        >>> get_likelihood("normal").level(rows).tolist()
        [10.0, 20.0]
        >>> np.exp(get_likelihood("lognormal").level(rows)).round(6).tolist()
        [10.0, 20.0]
        """
        return rows["value"].to_numpy(dtype=float)

    def check(self, outcome: str, rows: pd.DataFrame) -> None:
        """Raise :class:`DataError` when the outcome's values do not suit the likelihood."""

    def scale_sd(self, response: np.ndarray, arm: np.ndarray, time: np.ndarray,
                 declared: float | None = None) -> tuple[float, str]:
        """The SD that standardises this outcome, and what it is.

        Parameters
        ----------
        response : numpy.ndarray
            The modelled response of each post-baseline value (see :meth:`response`).
        arm, time : numpy.ndarray
            Each value's dose arm and visit.
        declared : float, optional
            The outcome's declared SD (``OutcomeInfo.sd``), on this likelihood's scale.

        Returns
        -------
        sd : float
            The declared SD, else :func:`pooled_change_sd` of the responses.
        source : str
            What the SD is, in words.

        Examples
        --------
        >>> lik = get_likelihood("normal")
        >>> lik.scale_sd(np.array([1.0, 3.0]), np.array([1, 1]), np.array([4, 4]), 12.0)
        (12.0, 'declared sd')
        """
        if declared is not None:
            return float(declared), "declared sd"
        return pooled_change_sd(response, arm, time, self.response_name)


@dataclass(frozen=True)
class NormalChange(Likelihood):
    """Normal change from baseline (censored at declared scale bounds)."""

    name: ClassVar[str] = "normal"
    variable: ClassVar[str] = "change"


@dataclass(frozen=True)
class StudentTChange(Likelihood):
    """Student-t change from baseline, for heavy-tailed scores (censored at bounds)."""

    name: ClassVar[str] = "student_t"
    variable: ClassVar[str] = "change_t"


@dataclass(frozen=True)
class LogNormalChange(Likelihood):
    """Normal change in log value: for positive, right-skewed outcomes."""

    name: ClassVar[str] = "lognormal"
    effect_units: ClassVar[str] = "log ratio to baseline"
    variable: ClassVar[str] = "log_change"
    response_name: ClassVar[str] = "log change"

    def response(self, rows: pd.DataFrame) -> np.ndarray:
        return np.log(rows["value"].to_numpy(dtype=float)) - np.log(
            rows["baseline"].to_numpy(dtype=float))

    def scale_sd(self, response: np.ndarray, arm: np.ndarray, time: np.ndarray,
                 declared: float | None = None) -> tuple[float, str]:
        if declared is not None:
            return float(declared), "declared sd (of log values)"
        return pooled_change_sd(response, arm, time, self.response_name)

    def baseline_covariate(self, baseline: np.ndarray) -> np.ndarray:
        return np.log(np.asarray(baseline, dtype=float))

    def level(self, rows: pd.DataFrame) -> np.ndarray:
        return np.log(rows["value"].to_numpy(dtype=float))

    def check(self, outcome: str, rows: pd.DataFrame) -> None:
        bad = rows[(rows["value"] <= 0) | (rows["baseline"] <= 0)]
        if len(bad):
            raise DataError(
                f"outcome {outcome!r} uses the lognormal likelihood but has values <= 0 at "
                f"{describe_rows(bad['source_row'].tolist())}. Use likelihood 'normal', or "
                "correct the values; for values below the assay's limit of quantification, "
                "declare the outcome's lloq (values at or below it are then censored there) "
                "or flag them in a column (censored=)."
            )


@dataclass(frozen=True)
class OrdinalGrade(Likelihood):
    """Ordered logistic model of the grade after baseline, baseline grade as covariate."""

    name: ClassVar[str] = "ordinal"
    effect_units: ClassVar[str] = "latent logit scale"
    variable: ClassVar[str] = "grade"

    def response(self, rows: pd.DataFrame) -> np.ndarray:
        return rows["value"].to_numpy(dtype=float)

    def check(self, outcome: str, rows: pd.DataFrame) -> None:
        values = rows["value"].to_numpy(dtype=float)
        bad = rows[~np.isclose(values, np.round(values))]
        if len(bad):
            raise DataError(
                f"outcome {outcome!r} uses the ordinal likelihood but has non-integer grades "
                f"at {describe_rows(bad['source_row'].tolist())}. Grades must be whole "
                "numbers (e.g. 0, 1, 2, 3)."
            )

    def scale_sd(self, response: np.ndarray, arm: np.ndarray, time: np.ndarray,
                 declared: float | None = None) -> tuple[float, str]:
        if declared is not None:
            return 1.0, (f"latent logit (the declared sd {declared:g} is not used: ordinal "
                         "effects are on the latent logit scale)")
        return 1.0, "latent logit"


def pooled_change_sd(response: np.ndarray, arm: np.ndarray, time: np.ndarray,
                     what: str = "change") -> tuple[float, str]:
    """The pooled within-arm SD of an outcome's changes, and what it was computed from.

    At the last visit when every arm has two or more values there (the primary visit);
    otherwise pooled over the deviations from each arm's mean at each visit; otherwise
    (no arm has two values at any visit) the SD of all the changes. The SD of the
    baselines is never used: eligibility criteria narrow it, so it says little about the
    spread of the changes the model describes.

    Parameters
    ----------
    response : numpy.ndarray
        The modelled change of each post-baseline value.
    arm, time : numpy.ndarray
        Each value's dose arm and visit.
    what : str
        The name of the response, for the source text (``"change"``, ``"log change"``).

    Returns
    -------
    sd : float
        ``sqrt(sum of squared deviations from the arm means / (n - number of arms))``;
        NaN when no SD can be computed (fewer than two values).
    source : str
        What was pooled, for example ``"pooled within-arm SD of the change at time 12
        (n=12, 3 arms)"``.

    Examples
    --------
    Two arms of two patients at the last visit, time 4: deviations +-1 and +-2, so the
    pooled SD is sqrt((1 + 1 + 4 + 4) / (4 - 2)) = sqrt(5):

    >>> sd, source = pooled_change_sd(np.array([0.0, 9.0, 1.0, 3.0, 4.0, 8.0]),
    ...                               np.array([1, 1, 1, 1, 10, 10]),
    ...                               np.array([2, 2, 4, 4, 4, 4]))
    >>> round(sd ** 2, 12), source
    (5.0, 'pooled within-arm SD of the change at time 4 (n=4, 2 arms)')
    """
    response = np.asarray(response, dtype=float)
    arm, time = np.asarray(arm), np.asarray(time, dtype=float)
    if response.size == 0:
        return np.nan, f"no {what} to compute an SD from"
    arms = np.unique(arm)
    last = float(np.max(time))
    at_last = time == last
    counts = np.array([np.sum(at_last & (arm == a)) for a in arms])
    if counts.min() >= 2:
        sd = _pooled_sd(response[at_last], arm[at_last], np.zeros(int(at_last.sum())))
        if np.isfinite(sd) and sd > 0:
            return sd, (f"pooled within-arm SD of the {what} at time {last:g} "
                        f"(n={int(counts.sum())}, {len(arms)} arms)")
    sd = _pooled_sd(response, arm, time)
    if np.isfinite(sd) and sd > 0:
        short = [f"{a:g}" if isinstance(a, (int, float, np.number)) else str(a)
                 for a, c in zip(arms, counts, strict=True) if c < 2]
        why = (f"arm(s) {', '.join(short)} have fewer than 2 values at the last visit "
               f"{last:g}" if short else f"no spread within arms at the last visit {last:g}")
        return sd, (f"pooled within-arm-and-visit SD of the {what} over all visits "
                    f"(n={response.size}, {len(arms)} arms, {len(np.unique(time))} visits; "
                    f"{why})")
    sd = float(np.std(response, ddof=1)) if response.size > 1 else np.nan
    return sd, (f"SD of all {response.size} {what} values (no arm has two differing values "
                "at any visit)")


def _pooled_sd(response: np.ndarray, arm: np.ndarray, time: np.ndarray) -> float:
    """sqrt(sum of squared deviations from the (arm, time) cell means / its df)."""
    frame = pd.DataFrame({"arm": arm, "time": time, "y": response})
    cells = frame.groupby(["arm", "time"], sort=False)["y"]
    df = len(frame) - cells.ngroups
    if df <= 0:
        return np.nan
    deviation = frame["y"] - cells.transform("mean")
    return float(np.sqrt(np.sum(deviation.to_numpy() ** 2) / df))


LIKELIHOODS: dict[str, Likelihood] = {
    lik.name: lik for lik in (NormalChange(), StudentTChange(), LogNormalChange(),
                              OrdinalGrade())
}


def get_likelihood(name: str, outcome: str | None = None) -> Likelihood:
    """Look up a likelihood by name.

    Examples
    --------
    >>> get_likelihood("lognormal").effect_units
    'log ratio to baseline'
    """
    if name not in LIKELIHOODS:
        where = f"outcome {outcome!r}: " if outcome else ""
        raise SpecError(f"{where}likelihood {name!r} is not one of "
                        f"{', '.join(LIKELIHOODS)}.")
    return LIKELIHOODS[name]


def resolve_likelihoods(outcomes: list[str], choice: str | dict[str, str] | None,
                        metadata: dict[str, str | None]) -> dict[str, Likelihood]:
    """The likelihood of each outcome.

    Parameters
    ----------
    outcomes : list of str
        Outcomes modelled.
    choice : str, dict or None
        One name for every outcome, a per-outcome mapping, or None.
    metadata : dict
        Each outcome's declared ``likelihood`` (may be None).

    Returns
    -------
    dict of str to Likelihood
        A name in ``choice`` wins; otherwise the outcome's metadata; otherwise ``normal``.

    Examples
    --------
    >>> lik = resolve_likelihoods(["a", "b"], {"b": "lognormal"}, {"a": None, "b": None})
    >>> [lik[k].name for k in ("a", "b")]
    ['normal', 'lognormal']
    """
    if isinstance(choice, dict):
        unknown = [k for k in choice if k not in outcomes]
        if unknown:
            raise SpecError(f"likelihood names outcome(s) {unknown} that are not modelled "
                            f"({', '.join(outcomes)}).")
    out = {}
    for outcome in outcomes:
        if isinstance(choice, str):
            name = choice
        elif isinstance(choice, dict) and outcome in choice:
            name = choice[outcome]
        else:
            name = metadata.get(outcome) or "normal"
        out[outcome] = get_likelihood(name, outcome)
    return out


def ordinal_categories(values: np.ndarray, lower: Any, upper: Any) -> np.ndarray:
    """The grades of an ordinal outcome: its declared bounds, else the observed range.

    Examples
    --------
    >>> ordinal_categories(np.array([1.0, 3.0]), 0, 3).tolist()
    [0, 1, 2, 3]
    """
    low = int(lower) if lower is not None else int(np.nanmin(values))
    high = int(upper) if upper is not None else int(np.nanmax(values))
    if high <= low:
        raise DataError("an ordinal outcome needs at least two grades.")
    return np.arange(low, high + 1)
