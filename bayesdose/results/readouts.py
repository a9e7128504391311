"""Read-outs of a posterior view as tidy tables: dose effects, contrasts, expected change,
grade probabilities of ordinal outcomes, family effects, the probability of improving
several outcomes, derived parameters.

Effects and contrasts are measured against a reference dose: by default the lowest tested
dose (placebo when a placebo arm was tested); dose 0 without a placebo arm only when asked
for (``reference=0``), and then the tables say that it is extrapolated by the dose shape.
Intervals are equal-tailed by default (``ci_kind="eti"``), highest-density on request
(``ci_kind="hdi"``).

Each function takes a :class:`~bayesdose.results.posterior.PosteriorView` (or a fit, whose
:attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view` is used); the methods of
:class:`~bayesdose.results.fit.DoseResponseFit` of the same names call them.

Examples
--------
>>> import bayesdose as bd
>>> from bayesdose.results.posterior import PosteriorView
>>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
>>> model = bd.DoseResponseModel()
>>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
>>> view = PosteriorView.from_model(model, data, prior.prior)
>>> effect(view, dose=50, time=12)[["outcome", "dose", "time", "dose_status"]]
      outcome  dose  time dose_status
0   koos_pain  50.0  12.0      tested
1  womac_pain  50.0  12.0      tested
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.results import estimands
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    contrast_probabilities,
    dose_status,
    interval_label,
    summarise,
    tidy_grid,
)
from bayesdose.results.posterior import PosteriorView, ViewLike, view_of


def _shape_draws(view: PosteriorView, doses: list[float], times: list[float],
                 index: list[int], scale: str) -> np.ndarray:
    """Draws of f(d) g(t) as the model has it: (chain, draw, outcome, dose, time)."""
    inputs = view.inputs
    post = view.posterior.isel(outcome=index)
    return estimands.effect_draws(post, view.dose_shape, view.time_shape, inputs.dose_scale,
                                  inputs.time_scale, doses, view.elapsed(times),
                                  view.unit(scale)[index])


def effect_draws(view: ViewLike, dose: Any = None, time: Any = None, outcome: Any = None,
                 scale: str = "outcome", reference: float | None = None) -> xr.DataArray:
    """Draws of the dose effect against a reference dose on a dose x time grid.

    The effect of dose d at time t against the reference r is (f(d) - f(r)) g(t): the
    expected change from baseline at d minus that at r, for the same patient and
    baseline.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose, time : float or sequence, optional
        Doses and times in the user's units (default: tested doses, visits).
    outcome : str or list of str, optional
        Outcomes (default: all).
    scale : {"outcome", "standardised"}
        Outcome units (sign as the outcome) or the standardised, direction-aligned scale
        (positive = better).
    reference : float, optional
        Reference dose (default: the lowest tested dose, which is placebo when a placebo
        arm was tested). Without a placebo arm, ``reference=0`` asks for the effect
        against dose 0 extrapolated by the dose shape.

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, outcome, dose, time; ``attrs`` ``reference``,
        ``reference_status`` (tested, interpolated or extrapolated) and ``versus``.
    """
    view = view_of(view)
    inputs = view.inputs
    doses = as_list(dose, inputs.doses, "dose")
    times = as_list(time, inputs.visits, "time")
    ref = view.reference_dose(reference)
    index = view.outcome_index(outcome)
    values = _shape_draws(view, [*doses, ref], times, index, scale)
    draws = values[..., :-1, :] - values[..., -1:, :]
    post = view.posterior
    outcomes = view.outcomes
    return xr.DataArray(draws, dims=("chain", "draw", "outcome", "dose", "time"),
                        coords={"chain": post["chain"], "draw": post["draw"],
                                "outcome": [outcomes[i] for i in index],
                                "dose": doses, "time": times}, name="effect",
                        attrs={"reference": ref, "reference_status": view.reference_status(ref),
                               "versus": view.versus(ref)})


def _with_interval(table: pd.DataFrame, ci_prob: float, ci_kind: str) -> pd.DataFrame:
    """Record the interval of a table in its ``attrs["ci"]`` (e.g. ``"eti 95%"``)."""
    table.attrs["ci"] = interval_label(ci_prob, ci_kind)
    return table


def effect(view: ViewLike, dose: Any = None, time: Any = None, outcome: Any = None,
           ci_prob: float = 0.95, ci_kind: str = "eti", scale: str = "outcome",
           reference: float | None = None) -> pd.DataFrame:
    """Dose effect against a reference dose at each dose and time, as a tidy table.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose, time : float or sequence, optional
        Doses and times in the user's units (default: tested doses, visits).
    outcome : str or list of str, optional
        Outcomes (default: all).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    scale : {"outcome", "standardised"}
        Outcome units or the standardised, direction-aligned scale.
    reference : float, optional
        Reference dose (default: the lowest tested dose, placebo when tested); a
        reference that was not tested (dose 0 without a placebo arm) rests on the dose
        shape, and ``reference_status`` says so.

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, time, mean, sd, median, ci_low, ci_high, dose_status,
        reference, reference_status, versus; ``attrs`` ``ci`` (e.g. ``"eti 95%"``),
        ``reference``, ``reference_status`` and ``versus``.
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    draws = effect_draws(view, dose, time, outcome, scale, reference)
    table = tidy_grid(summarise(draws.to_numpy(), ci_prob, ci_kind), draws["outcome"].values,
                      draws["dose"].values, draws["time"].values)
    status = dict(zip(draws["dose"].values,
                      dose_status(draws["dose"].values, view.inputs.doses), strict=True))
    table["dose_status"] = table["dose"].map(status)
    for key in ("reference", "reference_status", "versus"):
        table[key] = draws.attrs[key]
        table.attrs[key] = draws.attrs[key]
    return _with_interval(table, ci_prob, ci_kind)


def contrast(view: ViewLike, dose: Any, reference: float | None = None, time: Any = None,
             mcid: float | dict[str, float] | None = None, outcome: Any = None,
             ci_prob: float = 0.95, ci_kind: str = "eti",
             scale: str = "outcome") -> pd.DataFrame:
    """Contrast between doses, with the probability of a (clinically important)
    improvement.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose : float or sequence
        Dose(s) to compare.
    reference : float, optional
        Reference dose (default: the lowest tested dose).
    time : float or sequence, optional
        Times (default: every visit).
    mcid : float or dict, optional
        Minimal clinically important difference (positive, outcome units): one number
        for all outcomes or one per outcome (default: each outcome's declared MCID).
    outcome : str or list of str, optional
        Outcomes (default: all).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    scale : {"outcome", "standardised"}
        Outcome units (the MCID as given), or the standardised, direction-aligned scale
        (the MCID divided by the outcome's scale SD).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, reference, time, mean, sd, median, ci_low, ci_high,
        direction, mcid, mcid_scale, prob_gt_0, prob_gt_mcid, dose_status,
        reference_status (as :meth:`~bayesdose.results.fit.DoseResponseFit.contrast`);
        ``attrs["ci"]`` names the interval.
    """
    view = view_of(view)
    inputs = view.inputs
    check_interval(ci_prob, ci_kind)
    doses = as_list(dose, [], "dose")
    draws = effect_draws(view, doses, time, outcome, scale, reference)
    diff = draws.to_numpy()
    names = list(draws["outcome"].values)
    sign = np.array([view.info(n).sign for n in names], dtype=float)
    thresholds = view.mcids(names, mcid)
    if scale == "standardised":
        sign = np.ones_like(sign)
        thresholds = thresholds / inputs.scales.sd[view.outcome_index(names)]
    stats = summarise(diff, ci_prob, ci_kind)
    stats.update(contrast_probabilities(diff, sign, thresholds))
    table = tidy_grid(stats, names, doses, draws["time"].values)
    table.insert(2, "reference", draws.attrs["reference"])
    after = table.columns.get_loc("ci_high") + 1
    table.insert(after, "direction", table["outcome"].map(
        {n: view.info(n).direction for n in names}))
    table.insert(after + 1, "mcid", table["outcome"].map(
        dict(zip(names, thresholds, strict=True))))
    table.insert(after + 2, "mcid_scale", table["outcome"].map(
        {n: view.mcid_scale(n, scale) for n in names}))
    table["dose_status"] = dose_status(table["dose"].tolist(), inputs.doses)
    table["reference_status"] = draws.attrs["reference_status"]
    return _with_interval(table, ci_prob, ci_kind)


def expected_change(view: ViewLike, dose: Any = None, time: Any = None,
                    outcome: Any = None, ci_prob: float = 0.95,
                    ci_kind: str = "eti",
                    covariates: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Mean change from baseline at each dose and visit (outcome units): the common
    course plus the dose effect, for a patient at the mean baseline.

    In the constrained longitudinal analysis it is the change from the common baseline
    mean; for data without baselines, the level against the outcome's centre (the mean
    of all values), as :func:`observed_means` reports the data.

    The common course is the one the model uses (:meth:`PosteriorView.common_course`): 0
    at the first visit of an ordinal outcome, whose cutpoints hold the level there.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (with the common course ``course``).
    dose : float or sequence, optional
        Doses in the user's units (default: the tested doses).
    time : float or sequence, optional
        Visits (default: all); other times are an error.
    outcome : str or list of str, optional
        Outcomes (default: all).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    covariates : mapping, optional
        A patient profile, one value per covariate the model was fitted with (for
        example ``{"sex": "F", "age": 60}``): the change of such a patient. Default: the
        trial's covariate mix (the coded covariates are centred on it).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, time, mean, sd, median, ci_low, ci_high;
        ``attrs["ci"]`` names the interval.
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    times = _visits(view, time)
    doses = as_list(dose, view.inputs.doses, "dose")
    index = view.outcome_index(outcome)
    names = [view.outcomes[i] for i in index]
    effects = _shape_draws(view, doses, times, index, "outcome")
    course = view.common_course(names, times).to_numpy()
    if covariates is not None:
        course = course + profile_shift(view, covariates)[:, :, index, None]
    unit = view.unit("outcome")[index]
    total = effects + (course * unit[:, None])[:, :, :, None, :]
    table = tidy_grid(summarise(total, ci_prob, ci_kind), names, doses, times)
    return _with_interval(table, ci_prob, ci_kind)


def profile_shift(view: ViewLike, covariates: Mapping[str, Any]) -> np.ndarray:
    """Per draw and outcome, the covariate term of a patient with the given covariates
    (standardised scale): ``beta_covariate`` times the profile's coded covariates.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (with ``beta_covariate``) and inputs.
    covariates : mapping
        One value per covariate of the model.

    Returns
    -------
    numpy.ndarray
        Shape ``(chain, draw, outcome)``.

    Raises
    ------
    EstimandError
        When the model has no covariates, or a name is not one of them.
    DataError
        For a missing covariate or a level the trial did not have.
    """
    view = view_of(view)
    coding = view.inputs.covariate_coding
    known = list(dict.fromkeys(coding.sources))
    if not known:
        raise EstimandError("covariates= needs a model fitted with covariates; this one "
                            "has none.")
    unknown = [str(name) for name in covariates if name not in known]
    if unknown:
        raise EstimandError(f"covariates= names {unknown}, not covariates of the model "
                            f"({', '.join(map(str, known))}).")
    coded = coding.encode(pd.DataFrame({k: [v] for k, v in covariates.items()}))[0]
    gamma = view.posterior["beta_covariate"].transpose(
        "chain", "draw", "outcome", "covariate").to_numpy()
    return gamma @ coded


def _visits(view: PosteriorView, time: Any) -> list[float]:
    """The chosen visits (default: all), checked: the common course exists only there."""
    visits = view.inputs.visits
    times = as_list(time, visits, "time")
    not_visits = [t for t in times if not np.isclose(t, visits).any()]
    if not_visits:
        raise EstimandError(f"the common course is estimated at the visits only "
                            f"({visits}); {not_visits} are not visits.")
    return times


def family_effect(view: ViewLike, dose: Any = None, time: Any = None,
                  family: str | None = None, ci_prob: float = 0.95, ci_kind: str = "eti",
                  reference: float | None = None) -> pd.DataFrame:
    """Average standardised dose effect of the outcomes of each family, per draw.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose, time : float or sequence, optional
        Doses and times in the user's units (default: tested doses, visits).
    family : str, optional
        One family (default: every family, including outcomes alone in theirs).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    reference : float, optional
        Reference dose (default: the lowest tested dose).

    Returns
    -------
    pandas.DataFrame
        Columns family, n_outcomes, dose, time, mean, sd, median, ci_low, ci_high,
        reference, reference_status; ``attrs["ci"]`` names the interval.
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    rows = []
    for name, members in view.family_members(family).items():
        draws = effect_draws(view, dose, time, members, "standardised", reference)
        average = draws.mean("outcome").to_numpy()[:, :, None]
        table = tidy_grid(summarise(average, ci_prob, ci_kind), [name],
                          draws["dose"].values,
                          draws["time"].values).rename(columns={"outcome": "family"})
        table.insert(1, "n_outcomes", len(members))
        table["reference"] = draws.attrs["reference"]
        table["reference_status"] = draws.attrs["reference_status"]
        rows.append(table)
    return _with_interval(pd.concat(rows, ignore_index=True), ci_prob, ci_kind)


def prob_improves(view: ViewLike, dose: Any, reference: float | None = None,
                  time: Any = None, family: str | None = None,
                  mcid: dict[str, float] | None = None) -> pd.DataFrame:
    """Probability that a dose improves at least k outcomes of a family by their MCIDs,
    for every k.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose : float or sequence
        Dose(s) compared with ``reference``.
    reference : float, optional
        Reference dose (default: the lowest tested dose).
    time : float or sequence, optional
        Times (default: every visit).
    family : str, optional
        One family (default: every family).
    mcid : dict, optional
        MCIDs per outcome replacing the declared ones.

    Returns
    -------
    pandas.DataFrame
        Columns family, dose, reference, time, k, n_outcomes, prob, reference_status.
    """
    view = view_of(view)
    ref = view.reference_dose(reference)
    doses = as_list(dose, [], "dose")
    rows = []
    for name, members in view.family_members(family).items():
        thresholds = view.mcids(members, mcid)
        missing = [m for m, t in zip(members, thresholds, strict=True) if np.isnan(t)]
        if missing:
            raise EstimandError(f"family {name!r}: outcome(s) {missing} have no MCID; "
                                "declare one (outcome metadata) or pass mcid={...}.")
        draws = effect_draws(view, doses, time, members, reference=ref)
        diff = draws.to_numpy()
        sign = np.array([view.info(m).sign for m in members])[:, None, None]
        better = (diff * sign) > thresholds[:, None, None]
        count = better.sum(axis=2)  # (chain, draw, dose, time)
        for d_i, d in enumerate(doses):
            for t_i, t in enumerate(draws["time"].values):
                for k in range(1, len(members) + 1):
                    rows.append({"family": name, "dose": d, "reference": ref,
                                 "time": float(t), "k": k, "n_outcomes": len(members),
                                 "prob": float((count[:, :, d_i, t_i] >= k).mean()),
                                 "reference_status": draws.attrs["reference_status"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- ordinal grades
def _ordinal_names(view: PosteriorView, outcome: Any) -> list[str]:
    """The chosen ordinal outcomes (default: every ordinal outcome of the view)."""
    likelihoods = view.inputs.likelihoods
    if outcome is None:
        names = [n for n in view.outcomes if likelihoods[n].name == "ordinal"]
        if not names:
            raise EstimandError("grade probabilities are for ordinal outcomes, and this fit "
                                "has none (likelihoods: " + ", ".join(
                                    f"{n}: {likelihoods[n].name}" for n in view.outcomes)
                                + ").")
        return names
    names = view.outcome_names(outcome)
    other = [n for n in names if likelihoods[n].name != "ordinal"]
    if other:
        raise EstimandError(f"grade probabilities are for ordinal outcomes; {other} "
                            "use(s) another likelihood (see expected_change for them).")
    return names


def _graded_visits(view: PosteriorView, k: int, time: Any) -> list[float]:
    """The visits with grades of outcome ``k`` (default: all of them), checked."""
    inputs = view.inputs
    rows = inputs.outcome_idx == k
    measured = [float(inputs.visits[i]) for i in np.unique(inputs.time_idx[rows])]
    times = as_list(time, measured, "time")
    outside = [t for t in times if not np.isclose(t, measured).any()]
    if outside:
        raise EstimandError(f"outcome {view.outcomes[k]!r} was graded at {measured} only: "
                            f"its common course (and so its grade probabilities) is not "
                            f"estimated at {outside}.")
    return times


def trial_baselines(view: PosteriorView, outcome: str) -> np.ndarray:
    """The centred baseline covariate of each of the trial's patients with post-baseline
    values of ``outcome`` (one value per patient, as the model uses it).

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The view (its inputs).
    outcome : str
        An outcome of the view.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_patients,)``.
    """
    view = view_of(view)
    inputs = view.inputs
    rows = np.flatnonzero(inputs.outcome_idx == view.outcomes.index(outcome))
    _, first = np.unique(inputs.patient_idx[rows], return_index=True)
    return np.asarray(inputs.baseline_std[rows[first]], dtype=float)


def covariate_shift(view: ViewLike, outcome: str) -> np.ndarray | float:
    """Per draw, each of the trial's patients' covariate term of ``outcome`` (the sum of
    ``beta_covariate`` times the patient's coded covariates), in the patient order of
    :func:`trial_baselines`; 0 when the model has no covariates.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws and inputs.
    outcome : str
        An outcome of the view.

    Returns
    -------
    numpy.ndarray or float
        Shape ``(chain * draw, n_patients)``, or 0.0 without covariates.
    """
    view = view_of(view)
    inputs = view.inputs
    if not inputs.covariate_names or "beta_covariate" not in view.posterior:
        return 0.0
    k = view.outcomes.index(outcome)
    rows = np.flatnonzero(inputs.outcome_idx == k)
    _, first = np.unique(inputs.patient_idx[rows], return_index=True)
    coded = np.asarray(inputs.covariate_std, dtype=float)[rows[first]]
    gamma = view.posterior["beta_covariate"].isel(outcome=k).transpose(
        "chain", "draw", "covariate").to_numpy()
    return gamma.reshape(-1, gamma.shape[-1]) @ coded.T


def ordinal_probabilities(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Ordered-logistic probabilities of each grade.

    ``P(Y <= j) = logistic(c_j - eta)``, as :class:`pymc.OrderedLogistic` has them.

    Parameters
    ----------
    eta : numpy.ndarray
        Latent means, any shape ``S``.
    cutpoints : numpy.ndarray
        Ordered cutpoints, shape broadcastable to ``S + (K - 1,)``.

    Returns
    -------
    numpy.ndarray
        Shape ``S + (K,)``: the probability of each of the K grades (summing to 1).

    Examples
    --------
    >>> p = ordinal_probabilities(np.array(0.0), np.array([-1.0, 1.0]))
    >>> p.round(3).tolist(), float(p.sum())
    ([0.269, 0.462, 0.269], 1.0)
    """
    below = 1.0 / (1.0 + np.exp(-(np.asarray(cutpoints) - np.asarray(eta)[..., None])))
    shape = below.shape[:-1]
    cumulative = np.concatenate([np.zeros((*shape, 1)), below, np.ones((*shape, 1))], axis=-1)
    return np.diff(cumulative, axis=-1)


def _cutpoints(view: PosteriorView, outcome: str) -> np.ndarray:
    """Draws of an ordinal outcome's cutpoints: (chain * draw, K - 1)."""
    name = f"cutpoints_{outcome}"
    post = view.posterior
    missing = [v for v in (name, "beta_baseline", "course") if v not in post]
    if missing:
        raise EstimandError(f"grade probabilities need the draws of {missing} (the ordinal "
                            f"model's variables), which these draws lack.")
    values = post[name].transpose("chain", "draw", ...).to_numpy()
    values = values.reshape(-1, values.shape[-1])
    unordered = int((np.diff(values, axis=-1) <= 0).any(axis=-1).sum())
    if unordered:
        raise EstimandError(f"{unordered} of {values.shape[0]} draws of {name} are not "
                            "increasing, so they define no grade probabilities (forward "
                            "draws of the prior, as from sample_prior_predictive, ignore the "
                            "cutpoints' ordering; posterior draws respect it).")
    return values


def grade_probabilities(view: ViewLike, dose: Any = None, time: Any = None,
                        outcome: Any = None, ci_prob: float = 0.9,
                        ci_kind: str = "eti") -> pd.DataFrame:
    """Predicted grade probabilities of ordinal outcomes by dose and visit.

    For a patient of the trial with centred baseline grade b and coded covariates x at
    dose d and visit t, the latent mean is ``eta = sign * (f(d) g(t) + h(t) + beta * b
    + gamma' x)`` (patient effect 0) and ``P(grade <= j) = logistic(c_j - eta)`` with the
    outcome's cutpoints c. Per posterior draw, these probabilities are averaged over the
    trial's patients (each once, with their baseline grade and covariates): the grade
    distribution at dose d and visit t in a population like the trial's. The expected
    grade is the sum of grade times its probability.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (with the cutpoints ``cutpoints_<outcome>``, ``beta_baseline`` and
        ``course``).
    dose : float or sequence, optional
        Doses in the user's units (default: the tested doses).
    time : float or sequence, optional
        Visits at which the outcome was graded (default: all of them); the common course
        is not estimated at other times.
    outcome : str or list of str, optional
        Ordinal outcomes (default: every ordinal outcome).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.

    Returns
    -------
    pandas.DataFrame
        One row per outcome, dose, visit and grade with ``quantity`` "probability"
        (posterior of P(grade = g)), then one with ``quantity`` "expected_grade"
        (``grade`` NaN); columns outcome, dose, time, quantity, grade, mean, sd, median,
        ci_low, ci_high. The means of the probabilities of one outcome, dose and visit
        sum to 1. ``attrs["ci"]`` names the interval.

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.results.posterior import PosteriorView
    >>> data = bd.datasets.load_msc_trial().select(["mri_synovitis"])
    >>> model = bd.DoseResponseModel()
    >>> draws = model.sample_prior_predictive(data, draws=50)["prior"].to_dataset()
    >>> draws["cutpoints_mri_synovitis"].values.sort(axis=-1)  # ordered, as a posterior's
    >>> view = PosteriorView.from_model(model, data, draws)
    >>> table = grade_probabilities(view, dose=50, time=12)
    >>> table["grade"].tolist()[:4], table["quantity"].iloc[-1]
    ([0.0, 1.0, 2.0, 3.0], 'expected_grade')
    >>> round(float(table.query("quantity == 'probability'")["mean"].sum()), 6)
    1.0
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    names = _ordinal_names(view, outcome)
    doses = as_list(dose, view.inputs.doses, "dose")
    frames = []
    for name in names:
        k = view.outcomes.index(name)
        times = _graded_visits(view, k, time)
        grades = np.asarray(view.inputs.categories[name], dtype=float)
        cut = _cutpoints(view, name)
        beta = view.posterior["beta_baseline"].isel(outcome=k).transpose(
            "chain", "draw").to_numpy().reshape(-1)
        baselines = trial_baselines(view, name)
        shift = covariate_shift(view, name)
        effect = _shape_draws(view, doses, times, [k], "standardised")[:, :, 0]
        effect = effect.reshape(-1, len(doses), len(times))
        course = view.common_course(name, times).to_numpy().reshape(-1, len(times))
        sign = float(view.inputs.scales.sign[k])
        probs = np.empty((cut.shape[0], len(doses), len(times), grades.size))
        for d_i in range(len(doses)):
            for t_i in range(len(times)):
                level = effect[:, d_i, t_i] + course[:, t_i]
                eta = sign * (level[:, None] + beta[:, None] * baselines[None, :] + shift)
                probs[:, d_i, t_i] = ordinal_probabilities(eta, cut[:, None, :]).mean(axis=1)
        expected = probs @ grades
        prob_stats = summarise(probs[None], ci_prob, ci_kind)
        grade_stats = summarise(expected[None], ci_prob, ci_kind)
        for d_i, d in enumerate(doses):
            for t_i, t in enumerate(times):
                for g_i, g in enumerate(grades):
                    frames.append({"outcome": name, "dose": d, "time": t,
                                   "quantity": "probability", "grade": float(g),
                                   **{s: float(v[d_i, t_i, g_i])
                                      for s, v in prob_stats.items()}})
                frames.append({"outcome": name, "dose": d, "time": t,
                               "quantity": "expected_grade", "grade": np.nan,
                               **{s: float(v[d_i, t_i]) for s, v in grade_stats.items()}})
    return _with_interval(pd.DataFrame(frames), ci_prob, ci_kind)


def observed_means(view: ViewLike) -> pd.DataFrame:
    """Observed mean of each outcome's modelled response per dose and visit.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The view (its inputs' observations; the draws are not used).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, likelihood, dose, time, n, mean, sd (sorted by dose and time),
        at the nominal visits after baseline. In the constrained longitudinal analysis,
        whose responses are levels, the mean is that of the level minus the outcome's
        centre (the mean observed baseline; the mean of all values when no baseline is
        observed): the observed counterpart of :func:`expected_change`.
    """
    inputs = view_of(view).inputs
    post = ~np.asarray(inputs.is_baseline, dtype=bool)
    centre = np.asarray(inputs.offset, dtype=float)[inputs.outcome_idx]
    frame = pd.DataFrame({
        "outcome": np.asarray(inputs.outcomes)[inputs.outcome_idx],
        "dose": inputs.dose,
        "time": inputs.nominal_elapsed + inputs.baseline_time,
        "response": inputs.response - centre,
    })[post]
    frame["likelihood"] = frame["outcome"].map(
        {o: lik.name for o, lik in inputs.likelihoods.items()})
    grouped = frame.groupby(["outcome", "likelihood", "dose", "time"], sort=False)
    out = grouped["response"].agg(n="count", mean="mean", sd="std").reset_index()
    return out.sort_values(["dose", "time"], kind="stable").reset_index(drop=True)


def derived(view: ViewLike) -> xr.Dataset:
    """Derived parameters of the shapes per draw and outcome (for example ED50, t_half).

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.

    Returns
    -------
    xarray.Dataset
        One variable per derived quantity, dims chain, draw, outcome (doses and times in
        the user's units; ``emax`` standardised and direction-aligned).
    """
    view = view_of(view)
    post = view.posterior
    params = {name: post[name].to_numpy() for name in post.data_vars}
    out = {**view.dose_shape.derived(params, view.inputs.dose_scale),
           **view.time_shape.derived(params, view.inputs.time_scale)}
    return xr.Dataset({k: (("chain", "draw", "outcome"), v) for k, v in out.items()},
                      coords={"chain": post["chain"], "draw": post["draw"],
                              "outcome": view.outcomes})
