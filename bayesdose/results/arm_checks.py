"""Checks of an arm-level fit against its studies: fitted means, posterior predictive
checks per arm, each study's fitted contrasts, the between-study heterogeneity in words,
and leave-one-study-out influence.

These work for :class:`~bayesdose.results.arm_fit.ArmFit` and for the combined model's
:class:`~bayesdose.model.combined.CombinedFit` (whose arm-level studies they check; the
patient-level trial has checks of its own). Every number is in outcome units unless a
column says otherwise.

A row's fitted mean is its study's common course at its time point plus the dose effect
with the study's own effect size, ``course[s, t] + f(dose; delta_s) * g(t)``, times
``sign * scale_sd`` (see :class:`~bayesdose.ArmModel`). Replicated means add sampling
error with the arm's reported SEs and the model's AR(1) working correlation ``rho``
between an arm's consecutive time points. Random numbers (replicates, a new study's
effect size) come from generators seeded by the fit's ``random_seed``: the same fit gives
the same numbers.

The functions are also methods of the fit (``fit.predictive_check()`` and so on).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd

from bayesdose.data.arms import PLACEBO, ArmData
from bayesdose.errors import BayesdoseError, EstimandError
from bayesdose.results.arm_estimands import Population, course, curve, population
from bayesdose.results.estimands import check_interval, credible_interval, interval_label
from bayesdose.results.psis import CONSTANT_LOGLIK

if TYPE_CHECKING:
    from bayesdose.results.arm_fit import ArmFit

#: A constant mixed into the fit's seed for the replicated means, so that they do not
#: repeat the sampler's stream or a new study's draws.
REPLICATE_STREAM = 104729

#: With fewer studies than this, the reading says the data cannot tell the between-study
#: SD from 0.
FEW_STUDIES = 5

#: The reading says the between-study SD's interval reaches near 0 when its lower end is
#: below this fraction of its upper end.
NEAR_ZERO = 0.1

#: The arm-level studies' course variable: its name in a combined fit (whose ``course``
#: is the patient-level trial's), then in an arm-level fit.
COURSE_NAMES = ("arm_course", "course")


# ---------------------------------------------------------------------------- helpers
def _unit(fit: ArmFit) -> float:
    """Outcome units per standardised, direction-aligned unit."""
    return float(fit.inputs.sign * fit.inputs.scale_sd)


def _n_draws(fit: ArmFit) -> int:
    sizes = fit.idata["posterior"].sizes
    return int(sizes["chain"] * sizes["draw"])


def _rng(fit: ArmFit, stream: int) -> np.random.Generator:
    seed = fit.settings.get("random_seed")
    seed = 0 if seed is None else int(seed)
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def _course_draws(fit: ArmFit) -> np.ndarray:
    """Draws of the arm-level studies' common course, (draws, study, time)."""
    posterior = fit.idata["posterior"]
    name = next((n for n in COURSE_NAMES if n in posterior), None)
    if name is None:
        raise EstimandError("the fit's draws have no study course ('arm_course' or "
                            "'course'), so the arm means cannot be fitted; refit the "
                            "model.")
    values = posterior[name].to_numpy()
    return values.reshape((-1, *values.shape[2:]))


def _agent_of(fit: ArmFit, agent: Any) -> str | None:
    """The agent a population is asked for with: None with one agent."""
    return str(agent) if fit.inputs.several_agents else None


def _effect(fit: ArmFit, pop: Population, doses: np.ndarray, times: np.ndarray
            ) -> np.ndarray:
    """f(dose) g(time) per draw at paired doses and times (standardised, aligned)."""
    f = curve(fit, pop, np.asarray(doses, dtype=float))
    if fit.inputs.time_scale is None:
        return f
    return f * course(fit, pop, np.asarray(times, dtype=float))[1]


def _row_effects(fit: ArmFit, table: pd.DataFrame, study: str | None) -> np.ndarray:
    """The dose effect at each row of ``table`` per draw, (draws, rows), standardised.

    ``study=None``: each row's own study's effect size; otherwise a population of
    :func:`~bayesdose.results.arm_estimands.population` (``"pooled"``, ``"new"``). With
    several agents placebo rows have no dose effect (as in the model); with one agent
    the shape is evaluated at every row, placebo included (f(0) = 0).
    """
    out = np.zeros((_n_draws(fit), len(table)))
    cache: dict[tuple[str, str | None], Population] = {}
    groups = table.reset_index(drop=True).groupby(["study", "agent"], sort=False).indices
    for (name, agent), rows in groups.items():
        if fit.inputs.several_agents and agent == PLACEBO:
            continue
        key = (str(name) if study is None else study, _agent_of(fit, agent))
        if key not in cache:
            cache[key] = population(fit, *key)
        part = table.iloc[rows]
        out[:, rows] = _effect(fit, cache[key], part["dose"].to_numpy(float),
                               part["time"].to_numpy(float))
    return out


def _interval(values: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval over the draws (first axis)."""
    return credible_interval(np.moveaxis(values, 0, -1), ci_prob, "eti")


def _tail_probability(replicates: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Two-sided posterior predictive p of ``observed`` among ``replicates`` (draws
    first): twice the smaller tail, at most 1."""
    above = np.mean(replicates >= observed, axis=0)
    below = np.mean(replicates <= observed, axis=0)
    return np.minimum(1.0, 2.0 * np.minimum(above, below))


def _frame(rows: list[dict[str, Any]] | pd.DataFrame, ci_prob: float) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.attrs["ci"] = interval_label(ci_prob, "eti")
    return frame


# ---------------------------------------------------------------------------- fitted means
def fitted_means(fit: ArmFit) -> np.ndarray:
    """Each arm row's fitted mean per posterior draw, in outcome units.

    ``sign * scale_sd * (course[s, t] + f(dose; delta_s) * g(t))``: the study's own
    common course at the row's time point plus the dose effect with the study's own
    effect size (``delta`` with fixed study effects).

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit.

    Returns
    -------
    numpy.ndarray
        Shape (draws, rows), chains stacked, the rows in the order of
        ``fit.inputs.table`` (sorted by study, arm and time).

    Examples
    --------
    >>> import arviz as az, numpy as np, pandas as pd, bayesdose as bd
    >>> from bayesdose.results.arm_fit import ArmFit
    >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.6],
    ...                       "se": [0.1] * 2, "n": [100] * 2})
    >>> data = bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
    >>> model = bd.ArmModel(dose_shape="linear", study_effects="fixed")
    >>> draws = {"delta": np.full((1, 3), 0.5), "course": np.full((1, 3, 1, 1), 0.1)}
    >>> fit = ArmFit(model, model.inputs(data), az.from_dict({"posterior": draws}), {})
    >>> fitted_means(fit)[0].round(3).tolist()   # rows: active 10, placebo
    [0.6, 0.1]
    """
    inputs = fit.inputs
    levels = _course_draws(fit)[:, inputs.study, inputs.time_index]
    return _unit(fit) * (levels + _row_effects(fit, inputs.table, None))


def _arm_covariances(fit: ArmFit) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each arm's rows (positions in ``fit.inputs.table``) and the covariance of its
    means: the reported SEs with the AR(1) working correlation (outcome units)."""
    inputs = fit.inputs
    se = inputs.table["se"].to_numpy(float)
    rho = float(getattr(fit.model, "rho", 0.0))
    out = []
    for code in np.unique(inputs.arm_index):
        rows = np.flatnonzero(inputs.arm_index == code)
        lags = np.abs(np.subtract.outer(np.arange(rows.size), np.arange(rows.size)))
        out.append((rows, rho ** lags * np.outer(se[rows], se[rows])))
    return out


def _replicates(fit: ArmFit, means: np.ndarray) -> np.ndarray:
    """Replicated arm means: ``means`` plus sampling error with the arms' SEs and the
    AR(1) working correlation within an arm (outcome units)."""
    z = _rng(fit, REPLICATE_STREAM).standard_normal(means.shape)
    noise = np.empty_like(means)
    for rows, cov in _arm_covariances(fit):
        noise[:, rows] = z[:, rows] @ np.linalg.cholesky(cov).T
    return means + noise


def _conditionals(fit: ArmFit, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, each mean's Normal given the other means of its arm: its mean
    (draws, rows) and SD (rows), from the arm's precision matrix P:
    ``y_i - (P (y - m))_i / P_ii`` and ``1 / sqrt(P_ii)``."""
    observed = fit.inputs.table["mean"].to_numpy(float)
    centre, sd = np.empty_like(means), np.empty(means.shape[1])
    for rows, cov in _arm_covariances(fit):
        precision = np.linalg.inv(cov)
        diagonal = np.diag(precision)
        residual = observed[rows] - means[:, rows]
        centre[:, rows] = observed[rows] - (residual @ precision) / diagonal
        sd[rows] = 1.0 / np.sqrt(diagonal)
    return centre, sd


def _posterior_columns(fit: ArmFit, means: np.ndarray, ci_prob: float) -> dict[str, Any]:
    observed = fit.inputs.table["mean"].to_numpy(float)
    replicates = _replicates(fit, means)
    lower, upper = _interval(replicates, ci_prob)
    return {"predicted": means.mean(axis=0), "lower": lower, "upper": upper,
            "p": _tail_probability(replicates, observed)}


def _loo_columns(fit: ArmFit, means: np.ndarray, ci_prob: float) -> dict[str, Any]:
    """PSIS-LOO predictive of each mean given every other mean (of its arm too: the
    conditional Normal), by ArviZ's ``loo_pit`` and ``loo_expectations``."""
    observed = fit.inputs.table["mean"].to_numpy(float)
    centre, sd = _conditionals(fit, means)
    shape = (fit.idata["posterior"].sizes["chain"], -1, means.shape[1])
    replicates = centre + sd * _rng(fit, REPLICATE_STREAM).standard_normal(centre.shape)
    loglik = -0.5 * ((observed - centre) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
    constant = np.ptp(loglik, axis=0) < CONSTANT_LOGLIK
    if constant.any():  # equal weights; ArviZ refuses a constant column, so jitter it
        jitter = 1e-6 * np.random.default_rng(0).standard_normal(loglik.shape)
        loglik = np.where(constant, loglik + jitter, loglik)
    tree = az.from_dict({"posterior": {"mean": means.reshape(shape)},
                         "posterior_predictive": {"y": replicates.reshape(shape)},
                         "log_likelihood": {"y": loglik.reshape(shape)},
                         "observed_data": {"y": observed}})
    tail = (1.0 - ci_prob) / 2.0
    with warnings.catch_warnings():  # a large Pareto k is reported in the table
        warnings.simplefilter("ignore")
        try:
            pit = az.loo_pit(tree)["y"].to_numpy()
            mean, _ = az.loo_expectations(tree, kind="mean")
            bounds, k = az.loo_expectations(tree, kind="quantile", probs=[tail, 1.0 - tail])
        except ValueError as exc:  # e.g. too few distinct draws to fit the Pareto tail
            raise EstimandError(f"the leave-one-out check cannot be computed from these "
                                f"draws (ArviZ: {exc}); refit with more draws, or use "
                                "kind='posterior'.") from exc
    bounds = bounds.to_numpy()
    return {"predicted": mean.to_numpy(), "lower": bounds[0], "upper": bounds[1],
            "p": np.minimum(1.0, 2.0 * np.minimum(pit, 1.0 - pit)),
            "pareto_k": k.to_numpy()}


def arm_predictive_check(fit: ArmFit, ci_prob: float = 0.9,
                         kind: str = "loo") -> pd.DataFrame:
    """A predictive check of every arm mean: posterior predictive, or leave-one-out.

    ``kind="posterior"``: replicates of each mean are its fitted mean
    (:func:`fitted_means`) plus sampling error with the arm's reported SEs and the
    working correlation between an arm's time points. The data informed the fit, and an
    arm-level fit has many parameters per mean (a course per study and time point, an
    effect size per study), so this check is conservative: well-fitted data have far
    fewer than ``1 - ci_prob`` of their means outside, and only a mean far outside is
    flagged.

    ``kind="loo"``: each mean is predicted from the fit to all the other means (PSIS-LOO,
    with :func:`arviz.loo_pit` and :func:`arviz.loo_expectations`): per draw its Normal
    given the other means of its arm (the conditional of the arm's correlated means), the
    draws reweighted as if the mean had not been fitted. Calibrated: about
    ``1 - ci_prob`` of well-fitted means fall outside. ``pareto_k`` above 0.7 marks a
    mean so influential that its leave-one-out prediction cannot be trusted (refit
    without it).

    ``p`` is the two-sided predictive tail probability of the observed mean (twice the
    smaller share of replicates beyond it), ``outside`` whether it falls outside the
    ``ci_prob`` predictive interval; a mean with ``p`` near 0 is one the model does not
    reproduce (a discrepant arm, a data-entry error, a study unlike the others).

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit.
    ci_prob : float
        Probability of the predictive intervals.
    kind : {"loo", "posterior"}
        Leave-one-out predictive (default: calibrated, so its share outside the interval
        can be read against ``1 - ci_prob``) or posterior predictive (conservative).

    Returns
    -------
    pandas.DataFrame
        One row per arm mean (study, arm and time order): study, arm, agent, dose, time,
        source_row, observed, se, predicted (predictive mean), lower, upper (predictive
        interval of a replicated mean), p, outside; with ``kind="loo"`` also pareto_k.
        ``attrs`` has ``ci`` and ``kind``.

    Raises
    ------
    EstimandError
        An unknown ``kind`` or a ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> check = arm_predictive_check(fit, kind="loo")  # doctest: +SKIP
    >>> check[check["outside"]]  # doctest: +SKIP
    """
    ci_prob = check_interval(ci_prob, "eti")
    kinds = {"posterior": _posterior_columns, "loo": _loo_columns}
    if kind not in kinds:
        raise EstimandError(f"kind must be 'posterior' (posterior predictive) or 'loo' "
                            f"(leave-one-out predictive) (got {kind!r}).")
    table = fit.inputs.table
    columns = kinds[kind](fit, fitted_means(fit), ci_prob)
    observed = table["mean"].to_numpy(float)
    out = table[["study", "arm", "agent", "dose", "time", "source_row"]].copy()
    out["observed"] = observed
    out["se"] = table["se"].to_numpy(float)
    for name in ("predicted", "lower", "upper", "p"):
        out[name] = columns[name]
    out["outside"] = (observed < columns["lower"]) | (observed > columns["upper"])
    if "pareto_k" in columns:
        out["pareto_k"] = columns["pareto_k"]
    out = _frame(out.reset_index(drop=True), ci_prob)
    out.attrs["kind"] = kind
    return out


# ---------------------------------------------------------------------------- study fits
def _reference_arm(rows: pd.DataFrame) -> str:
    """A study's reference arm: placebo (dose 0), else its lowest dose."""
    arms = rows.drop_duplicates("arm")
    arms = arms.assign(not_placebo=arms["agent"] != PLACEBO)
    return str(arms.sort_values(["dose", "not_placebo", "arm"]).iloc[0]["arm"])


def contrast_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Each arm row paired with its study's reference arm at the same time point.

    Parameters
    ----------
    table : pandas.DataFrame
        An arm-level table (columns study, arm, agent, dose, time), as
        ``fit.inputs.table``.

    Returns
    -------
    pandas.DataFrame
        Columns row and reference_row (positions in ``table``), study, arm, agent, dose,
        reference_arm, reference_dose, time; the reference arm is placebo (dose 0), else
        the study's lowest dose; arms without a reference mean at their time are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"study": ["A"] * 4, "arm": ["placebo", "X 5"] * 2,
    ...                       "agent": ["placebo", "X"] * 2, "dose": [0.0, 5.0] * 2,
    ...                       "time": [4.0, 4.0, 8.0, 8.0]})
    >>> contrast_pairs(table)[["row", "reference_row", "time"]].values.tolist()
    [[1.0, 0.0, 4.0], [3.0, 2.0, 8.0]]
    """
    table = table.reset_index(drop=True)
    time_key = table["time"].fillna(-1.0)
    out = []
    for study, rows in table.groupby("study", sort=False):
        reference = _reference_arm(rows)
        base = {float(time_key[i]): i for i in rows.index[rows["arm"] == reference]}
        for i in rows.index[rows["arm"] != reference]:
            j = base.get(float(time_key[i]))
            if j is None:
                continue
            out.append({"row": i, "reference_row": j, "study": study,
                        "arm": table.at[i, "arm"], "agent": table.at[i, "agent"],
                        "dose": float(table.at[i, "dose"]), "reference_arm": reference,
                        "reference_dose": float(table.at[j, "dose"]),
                        "time": float(table.at[i, "time"])})
    columns = ["row", "reference_row", "study", "arm", "agent", "dose", "reference_arm",
               "reference_dose", "time"]
    return pd.DataFrame(out, columns=columns)


def study_fits(fit: ArmFit, ci_prob: float = 0.9) -> pd.DataFrame:
    """Each study's observed contrasts against its reference arm beside the fitted ones.

    Per study, arm and time point: the observed difference of the arm's mean from the
    study's reference arm (placebo, else its lowest dose) at that time, with its SE
    ``sqrt(se_arm^2 + se_reference^2)``; the fitted contrast of the study itself (its own
    effect size, ``f(dose; delta_s) g(t) - f(reference; delta_s) g(t)``; the course
    cancels) and the pooled one (the mean of the between-study distribution). A study
    whose observed contrasts sit far from its own fitted ones is one the shared dose
    shape and time course do not describe; a study whose own fit sits far from the
    pooled one is one the between-study spread accommodates.

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit.
    ci_prob : float
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Columns study, arm, agent, dose, reference_arm, reference_dose, time, observed,
        se, fitted_mean, fitted_lower, fitted_upper, pooled_mean, pooled_lower,
        pooled_upper (outcome units).

    Examples
    --------
    >>> study_fits(fit).query("study == 'S3'")  # doctest: +SKIP
    """
    ci_prob = check_interval(ci_prob, "eti")
    table = fit.inputs.table.reset_index(drop=True)
    pairs = contrast_pairs(table)
    mean, se = table["mean"].to_numpy(float), table["se"].to_numpy(float)
    i, j = pairs["row"].to_numpy(int), pairs["reference_row"].to_numpy(int)
    means = fitted_means(fit)
    pooled = _unit(fit) * _row_effects(fit, table, "pooled")
    out = pairs.drop(columns=["row", "reference_row"])
    out["observed"] = mean[i] - mean[j]
    out["se"] = np.sqrt(se[i] ** 2 + se[j] ** 2)
    for label, values in (("fitted", means[:, i] - means[:, j]),
                          ("pooled", pooled[:, i] - pooled[:, j])):
        low, high = _interval(values, ci_prob)
        out[f"{label}_mean"] = values.mean(axis=0)
        out[f"{label}_lower"], out[f"{label}_upper"] = low, high
    return _frame(out, ci_prob)


# ---------------------------------------------------------------------------- heterogeneity
@dataclass(frozen=True)
class Heterogeneity:
    """The between-study heterogeneity of an arm-level fit, in numbers and in words.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns quantity, unit, mean, median, lower, upper (see
        :func:`heterogeneity`); ``attrs`` has the dose, time, reference, ci and the
        number of studies.
    reading : str
        What the numbers say, in a sentence or three.

    Examples
    --------
    >>> import pandas as pd
    >>> Heterogeneity(pd.DataFrame(), "No between-study SD.").reading
    'No between-study SD.'
    """

    table: pd.DataFrame
    reading: str

    def __str__(self) -> str:
        return self.reading


@dataclass(frozen=True)
class _Labels:
    """How the reading names the comparison and the unit."""

    comparison: str
    unit: str


def _labels(fit: ArmFit, dose: float, reference: str, time: float) -> _Labels:
    data = fit.data
    outcome = str(fit.inputs.table["outcome"].iloc[0])
    unit = None
    if data is not None and outcome in data.outcome_info:
        unit = data.info(outcome).unit
    dose_unit = data.dose_unit if data is not None else "dose"
    dose_text = f"dose {dose:g}" if dose_unit == "dose" else f"{dose:g} {dose_unit}"
    text = f"{dose_text} vs {reference}"
    if np.isfinite(time):
        time_unit = data.time_unit if data is not None else None
        text += " at " + _time_text(time, time_unit)
    return _Labels(text, unit or "outcome units")


def _time_text(time: float, unit: str | None) -> str:
    """A time point in words: "week 12" (a singular unit), "26 weeks", "time 3"."""
    if not unit:
        return f"time {time:g}"
    return f"{time:g} {unit}" if unit.endswith("s") else f"{unit} {time:g}"


def _decimals(*values: float) -> int:
    """Decimals that show the largest of ``values`` to about two significant digits."""
    size = max((abs(v) for v in values if np.isfinite(v) and v != 0), default=1.0)
    return int(max(0, 1 - np.floor(np.log10(size))))


def _n_studies(fit: ArmFit, agent: str | None) -> int:
    """Studies informing the agent's effect size (a combined fit's trial included)."""
    table = fit.inputs.table
    rows = table if agent is None else table[table["agent"] == agent]
    rows = rows[rows["agent"] != PLACEBO]
    return int(rows["study"].nunique()) + int(hasattr(fit, "combined_model"))


def _target(fit: ArmFit, dose: Any, time: Any, agent: str | None
            ) -> tuple[Population, float, float, str]:
    """The pooled population, the dose and time read (defaults: the agent's highest
    tested dose, the last time point) and the reference in words."""
    pop = population(fit, "pooled", agent)
    scale = pop.dose_scale
    dose = scale.reference if dose is None else dose
    if np.ndim(dose) != 0 or (time is not None and np.ndim(time) != 0):
        raise EstimandError(f"give one dose and one time (got dose={dose!r}, time={time!r}).")
    dose = float(dose)
    if not np.isfinite(dose) or dose < 0:
        raise EstimandError(f"dose must be a finite number >= 0 (got {dose!r}).")
    fit.model.dose_shape.check_doses(np.array([dose]), scale)
    times, _ = course(fit, pop, time)
    shape = fit.model.dose_shape
    placebo = shape.extrapolates_to_zero or 0.0 in scale.tested
    reference = "placebo" if placebo else f"dose {scale.lowest:g}"
    return pop, dose, float(times[0]), reference


def _at(fit: ArmFit, pop: Population, dose: float, time: float) -> np.ndarray:
    """The effect at (dose, time) per draw, outcome units."""
    return _unit(fit) * _effect(fit, pop, np.array([dose]), np.array([time]))[:, 0]


def _row(quantity: str, unit: str, values: np.ndarray, ci_prob: float) -> dict[str, Any]:
    low, high = credible_interval(values, ci_prob, "eti")
    return {"quantity": quantity, "unit": unit, "mean": float(np.mean(values)),
            "median": float(np.median(values)), "lower": float(low), "upper": float(high)}


def heterogeneity(fit: ArmFit, dose: Any = None, time: Any = None, ci_prob: float = 0.9,
                  agent: str | None = None) -> Heterogeneity:
    """How much the effect varies between studies, with a plain-language reading.

    The between-study SD ``tau`` is that of the effect size ``delta_s``; at a dose and
    time it is the SD of the effect across studies, ``|f(d; delta + tau) - f(d; delta)|
    g(t)`` in outcome units (equal to ``tau * scale_sd`` at the highest tested dose and
    the last time point for the shapes whose ``delta`` is that effect). It is set against
    the pooled effect there (their ratio per draw), and a new study's effect (its
    prediction interval) against the pooled one's interval.

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit.
    dose : float, optional
        The dose read (default: the agent's highest tested dose), against placebo.
    time : float, optional
        The time read (default: the last time point).
    ci_prob : float
        Probability of the equal-tailed intervals.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    Heterogeneity
        ``table`` rows (random study effects): ``tau`` standardised and in outcome
        units; the between-study SD of the effect at the dose and time; the pooled
        effect; the SD relative to ``|pooled effect|`` (ratio); a new study's effect;
        ``P(SD > 0.5 |pooled effect|)`` (``mean`` is the probability). With fixed study
        effects only the pooled effect, and a reading that says the model has no
        between-study SD. ``reading`` says when the data cannot tell the SD from 0
        (fewer than :data:`FEW_STUDIES` studies, or its interval's lower end below
        :data:`NEAR_ZERO` times its upper end).

    Examples
    --------
    >>> import arviz as az, numpy as np, pandas as pd, bayesdose as bd
    >>> from bayesdose.results.arm_fit import ArmFit
    >>> frame = pd.DataFrame({"s": ["A", "A", "B", "B"], "mg": [0, 10] * 2,
    ...                       "y": [0.0, 0.5, 0.1, 0.6], "se": [0.1] * 4, "n": [100] * 4})
    >>> data = bd.ArmData.from_frame(frame, study="s", dose="mg", mean="y", se="se", n="n")
    >>> model = bd.ArmModel(dose_shape="linear", study_effects="fixed")
    >>> draws = az.from_dict({"posterior": {"delta": np.full((1, 4), 0.5)}})
    >>> print(heterogeneity(ArmFit(model, model.inputs(data), draws, {}, data=data)))
    ... # doctest: +NORMALIZE_WHITESPACE
    The model has fixed study effects (study_effects='fixed'): every study has the same
    effect size, so there is no between-study SD. The effect of 10 mg vs placebo is
    0.50 outcome units (90% interval 0.50 to 0.50), and a new study's is the same.
    """
    ci_prob = check_interval(ci_prob, "eti")
    agent = None if agent is None else str(agent)
    pop, dose, time, reference = _target(fit, dose, time, agent)
    labels = _labels(fit, dose, reference, time)
    pooled = _at(fit, pop, dose, time)
    what = f"effect of {labels.comparison}"
    rows = [_row(f"pooled {what}", labels.unit, pooled, ci_prob)]
    attrs = {"dose": dose, "time": time, "reference": reference,
             "ci": interval_label(ci_prob, "eti"), "studies": _n_studies(fit, agent)}
    posterior = fit.idata["posterior"]
    if "tau" not in posterior:
        table = pd.DataFrame(rows)
        table.attrs.update(attrs)
        return Heterogeneity(table, _fixed_reading(rows[0], labels, ci_prob))
    tau = posterior["tau"].to_numpy().reshape(-1)
    shifted = pop.dose_params["delta"] + tau.reshape((-1,) + (1,) * (
        pop.dose_params["delta"].ndim - 1))
    spread = np.abs(_at(fit, replace(pop, dose_params={**pop.dose_params, "delta": shifted}),
                        dose, time) - pooled)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = spread / np.abs(pooled)
    new = _at(fit, population(fit, "new", agent), dose, time)
    rows = [_row("tau (between-study SD of the effect size)", "standardised", tau, ci_prob),
            _row("tau (between-study SD of the effect size)", "outcome units",
                 tau * fit.inputs.scale_sd, ci_prob),
            _row(f"between-study SD of the {what}", labels.unit, spread, ci_prob),
            rows[0],
            _row("between-study SD / |pooled effect|", "ratio", ratio, ci_prob),
            _row(f"new study's {what}", labels.unit, new, ci_prob),
            {"quantity": "P(between-study SD > 0.5 |pooled effect|)", "unit": "probability",
             "mean": float(np.mean(spread > 0.5 * np.abs(pooled))), "median": np.nan,
             "lower": np.nan, "upper": np.nan}]
    table = pd.DataFrame(rows)
    table.attrs.update(attrs)
    return Heterogeneity(table, _random_reading(table, labels, ci_prob, attrs["studies"]))


def _fixed_reading(pooled: dict[str, Any], labels: _Labels, ci_prob: float) -> str:
    d = _decimals(pooled["mean"], pooled["lower"], pooled["upper"])
    return ("The model has fixed study effects (study_effects='fixed'): every study has "
            "the same effect size, so there is no between-study SD. The effect of "
            f"{labels.comparison} is {pooled['mean']:.{d}f} {labels.unit} "
            f"({ci_prob * 100:g}% interval {pooled['lower']:.{d}f} to "
            f"{pooled['upper']:.{d}f}), and a new study's is the same.")


def _random_reading(table: pd.DataFrame, labels: _Labels, ci_prob: float,
                    studies: int) -> str:
    spread, pooled, ratio, new, prob = (table.iloc[k] for k in (2, 3, 4, 5, 6))
    d = _decimals(pooled["mean"], pooled["lower"], pooled["upper"])
    level = f"{ci_prob * 100:g}%"
    text = (f"Between-study SD of the effect of {labels.comparison}: "
            f"{spread['median']:.{d}f} {labels.unit} ({level} interval "
            f"{spread['lower']:.{d}f} to {spread['upper']:.{d}f}), about "
            f"{ratio['median'] * 100:.0f}% of the pooled effect's size "
            f"(P(SD > half of it) = {prob['mean']:.2f}). The pooled effect is "
            f"{pooled['mean']:.{d}f} ({level} interval {pooled['lower']:.{d}f} to "
            f"{pooled['upper']:.{d}f}); a new study's effect is expected within "
            f"{new['lower']:.{d}f} to {new['upper']:.{d}f} ({level} prediction interval).")
    tau = table.iloc[1]
    if studies < FEW_STUDIES:
        text += (f" With {studies} {'study' if studies == 1 else 'studies'} the data "
                 "cannot tell the between-study SD from 0: its interval reflects its prior "
                 "as much as the data.")
    elif tau["lower"] < NEAR_ZERO * tau["upper"]:
        text += (" Its interval reaches near 0: the data cannot tell the between-study SD "
                 "from 0 (they are compatible with a common effect).")
    return text


# ---------------------------------------------------------------------------- leave one out
def _without(data: ArmData, study: str) -> ArmData:
    """``data`` without one study, rebuilt from its frame."""
    frame = data.to_frame()
    arguments = data.frame_arguments()
    keep = frame[arguments["study"]].astype(str) != study
    with warnings.catch_warnings():  # the data were checked, and warned about, when fitted
        warnings.simplefilter("ignore", UserWarning)
        return ArmData.from_frame(frame[keep].reset_index(drop=True), **arguments)


def _refitter(fit: ArmFit, settings: dict[str, Any]) -> Callable[[ArmData], ArmFit]:
    """A function fitting reduced arm data with the fit's model and sampler settings
    (a combined fit keeps its patient-level trial; an arm-level fit keeps its scale SD,
    so that every refit has the same priors)."""
    combined = getattr(fit, "combined_model", None)
    if combined is not None:
        trial = getattr(fit, "trial_data", None)
        if trial is None:
            raise EstimandError("the combined fit has no patient-level trial data "
                                "(trial_data), so it cannot be refitted.")
        return lambda arms: combined.fit(trial, arms, **settings)
    model = copy.copy(fit.model)
    model.scale_sd = fit.inputs.scale_sd
    return lambda arms: model.fit(arms, **settings)


def _sampler_settings(fit: ArmFit, draws: int | None, tune: int | None,
                      chains: int | None) -> dict[str, Any]:
    keys = ("draws", "tune", "chains", "random_seed", "target_accept", "sampler")
    settings = {k: fit.settings[k] for k in keys if fit.settings.get(k) is not None}
    given = {"draws": draws, "tune": tune, "chains": chains}
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings


def _left_out_contrast(table: pd.DataFrame, agent: str | None) -> pd.DataFrame:
    """The left-out study's contrast to predict: its highest dose (of the agent) against
    its reference arm at its last time point with both; empty when it has none."""
    pairs = contrast_pairs(table)
    if agent is not None:
        pairs = pairs[pairs["agent"] == agent]
    time_key = pairs["time"].fillna(-1.0)
    return pairs.assign(key=time_key).sort_values(["dose", "key"]).tail(1)


def _prediction(reduced: ArmFit, table: pd.DataFrame, pair: pd.DataFrame,
                rng: np.random.Generator, ci_prob: float) -> dict[str, float]:
    """The left-out study's observed contrast against the reduced fit's prediction for a
    new study (the same new study at both doses), with sampling error."""
    blank = {"dose": np.nan, "time": np.nan, "observed": np.nan, "observed_se": np.nan,
             "predicted": np.nan, "predicted_lower": np.nan, "predicted_upper": np.nan,
             "z": np.nan, "p": np.nan}
    if pair.empty:
        return blank
    i, j = int(pair["row"].iloc[0]), int(pair["reference_row"].iloc[0])
    rows = table.iloc[[i, j]]
    try:
        effects = _unit(reduced) * _row_effects(reduced, rows, "new")
    except BayesdoseError:  # a dose or time the reduced fit cannot evaluate
        return {**blank, "dose": float(rows["dose"].iloc[0]),
                "time": float(rows["time"].iloc[0])}
    predicted = effects[:, 0] - effects[:, 1]
    observed = float(rows["mean"].iloc[0] - rows["mean"].iloc[1])
    se = float(np.hypot(rows["se"].iloc[0], rows["se"].iloc[1]))
    replicates = predicted + se * rng.standard_normal(predicted.shape)
    return {"dose": float(rows["dose"].iloc[0]), "time": float(rows["time"].iloc[0]),
            "observed": observed, "observed_se": se, "predicted": float(predicted.mean()),
            "z": float((observed - predicted.mean()) / np.sqrt(predicted.var() + se ** 2)),
            "p": float(_tail_probability(replicates[:, None], np.array([observed]))[0]),
            **dict(zip(("predicted_lower", "predicted_upper"),
                       map(float, credible_interval(replicates, ci_prob, "eti")), strict=True))}


def leave_one_study_out(fit: ArmFit, dose: Any = None, time: Any = None,
                        draws: int | None = None, tune: int | None = None,
                        chains: int | None = None, agent: str | None = None,
                        ci_prob: float = 0.9) -> pd.DataFrame:
    """Refit without each arm-level study in turn: its influence on the pooled effect, and
    how surprising it is to the other studies.

    Each arm-level study is left out and the same model refitted with the same sampler
    settings (``fit.settings``; ``draws``, ``tune`` and ``chains`` may be given to refit
    more cheaply). A combined fit keeps its patient-level trial in every refit. An
    arm-level refit keeps the full fit's scale SD, so every refit has the same priors.

    For each left-out study: the pooled effect at ``dose`` and ``time`` and its shift from
    the full fit's, in units of the full fit's posterior SD of that effect (a study whose
    removal moves it by more than about 1 is influential); the between-study SD
    ``tau`` (outcome units); and the study's own observed contrast (its highest dose
    against its reference arm, placebo or its lowest dose, at its last time point) against
    the refit's prediction for a new study, with the contrast's sampling error: ``z`` and
    the two-sided tail probability ``p`` (a small ``p``: the other studies do not predict
    this one).

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit with its data (``fit.data``).
    dose : float, optional
        The dose of the pooled effect (default: the agent's highest tested dose).
    time : float, optional
        Its time (default: the last time point).
    draws, tune, chains : int, optional
        Sampler settings of the refits (default: those of ``fit``).
    agent : str, optional
        Required when the fit has several agents.
    ci_prob : float
        Probability of the intervals (the pooled effect's, tau's upper end, and the
        prediction interval of the left-out study's contrast).

    Returns
    -------
    pandas.DataFrame
        One row per left-out study: study, pooled_mean, pooled_lower, pooled_upper,
        shift_sd, tau_mean, tau_upper, dose, time (of the contrast predicted), observed,
        observed_se, predicted, predicted_lower, predicted_upper, z, p, converged (the
        refit's diagnostics verdict). ``attrs`` holds the full fit's pooled mean, sd,
        dose and time.

    Raises
    ------
    EstimandError
        Without the fit's data, or with fewer than two arm-level studies.

    Examples
    --------
    >>> loo = leave_one_study_out(fit, draws=500, tune=500)  # doctest: +SKIP
    >>> loo.sort_values("shift_sd", key=abs).tail(1)  # doctest: +SKIP
    """
    ci_prob = check_interval(ci_prob, "eti")
    if fit.data is None:
        raise EstimandError("the fit has no data (ArmFit(data=...)), so it cannot be "
                            "refitted without each study; fit it with ArmModel.fit.")
    studies = list(fit.inputs.studies)
    if len(studies) < 2:
        raise EstimandError(f"the fit has {len(studies)} arm-level study; leaving one out "
                            "needs at least two.")
    agent = None if agent is None else str(agent)
    pop, dose, time, _ = _target(fit, dose, time, agent)
    full = _at(fit, pop, dose, time)
    refit = _refitter(fit, _sampler_settings(fit, draws, tune, chains))
    table = fit.inputs.table.reset_index(drop=True)
    rng = _rng(fit, REPLICATE_STREAM + 1)
    rows = []
    for study in studies:
        reduced = refit(_without(fit.data, study))
        own = table[table["study"] == study].reset_index(drop=True)
        rows.append({"study": study, **_influence(reduced, dose, time, agent, full, ci_prob),
                     **_prediction(reduced, own, _left_out_contrast(own, agent), rng, ci_prob),
                     "converged": bool(reduced.diagnostics().ok)})
    out = _frame(rows, ci_prob)
    out.attrs.update({"full_mean": float(full.mean()), "full_sd": float(full.std(ddof=1)),
                      "dose": dose, "time": time})
    return out


def _influence(reduced: ArmFit, dose: float, time: float, agent: str | None,
               full: np.ndarray, ci_prob: float) -> dict[str, float]:
    """The reduced fit's pooled effect, its shift from the full fit's, and tau."""
    try:
        values = _at(reduced, population(reduced, "pooled", agent), dose, time)
    except BayesdoseError:  # the agent, dose or time is not in the reduced fit
        values = np.full(2, np.nan)
    low, high = credible_interval(values, ci_prob, "eti")
    posterior = reduced.idata["posterior"]
    tau = (posterior["tau"].to_numpy().reshape(-1) * reduced.inputs.scale_sd
           if "tau" in posterior else np.full(2, np.nan))
    return {"pooled_mean": float(values.mean()), "pooled_lower": float(low),
            "pooled_upper": float(high),
            "shift_sd": float((values.mean() - full.mean()) / full.std(ddof=1)),
            "tau_mean": float(tau.mean()),
            "tau_upper": float(credible_interval(tau, ci_prob, "eti")[1])}
