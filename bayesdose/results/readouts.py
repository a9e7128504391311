"""Read-outs of a posterior view as tidy tables: dose effects, contrasts, expected change,
family effects, the probability of improving several outcomes, derived parameters.

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

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.results import estimands
from bayesdose.results.estimands import (
    as_list,
    contrast_probabilities,
    dose_status,
    summarise,
    tidy_grid,
)
from bayesdose.results.posterior import ViewLike, view_of


def effect_draws(view: ViewLike, dose: Any = None, time: Any = None, outcome: Any = None,
                 scale: str = "outcome") -> xr.DataArray:
    """Draws of the dose effect against dose 0 on a dose x time grid.

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

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, outcome, dose, time.
    """
    view = view_of(view)
    inputs = view.inputs
    doses = as_list(dose, inputs.doses, "dose")
    times = as_list(time, inputs.visits, "time")
    index = view.outcome_index(outcome)
    post = view.posterior.isel(outcome=index)
    draws = estimands.effect_draws(post, view.dose_shape, view.time_shape, inputs.dose_scale,
                                   inputs.time_scale, doses, view.elapsed(times),
                                   view.unit(scale)[index])
    outcomes = view.outcomes
    return xr.DataArray(draws, dims=("chain", "draw", "outcome", "dose", "time"),
                        coords={"chain": post["chain"], "draw": post["draw"],
                                "outcome": [outcomes[i] for i in index],
                                "dose": doses, "time": times}, name="effect")


def effect(view: ViewLike, dose: Any = None, time: Any = None, outcome: Any = None,
           hdi_prob: float = 0.95, scale: str = "outcome") -> pd.DataFrame:
    """Dose effect against dose 0 at each dose and time, as a tidy table.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose, time : float or sequence, optional
        Doses and times in the user's units (default: tested doses, visits).
    outcome : str or list of str, optional
        Outcomes (default: all).
    hdi_prob : float
        Probability of the highest-density interval.
    scale : {"outcome", "standardised"}
        Outcome units or the standardised, direction-aligned scale.

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, time, mean, sd, hdi_low, hdi_high, dose_status, versus.
    """
    view = view_of(view)
    draws = effect_draws(view, dose, time, outcome, scale)
    table = tidy_grid(summarise(draws.to_numpy(), hdi_prob), draws["outcome"].values,
                      draws["dose"].values, draws["time"].values)
    status = dict(zip(draws["dose"].values,
                      dose_status(draws["dose"].values, view.inputs.doses), strict=True))
    table["dose_status"] = table["dose"].map(status)
    table["versus"] = view.versus()
    return table


def contrast(view: ViewLike, dose: Any, reference: float | None = None, time: Any = None,
             mcid: float | dict[str, float] | None = None, outcome: Any = None,
             hdi_prob: float = 0.95, scale: str = "outcome") -> pd.DataFrame:
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
    hdi_prob : float
        Probability of the highest-density interval.
    scale : {"outcome", "standardised"}
        Outcome units (the MCID as given), or the standardised, direction-aligned scale
        (the MCID divided by the outcome's scale SD).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, reference, time, mean, sd, hdi_low, hdi_high, direction,
        mcid, mcid_scale, prob_gt_0, prob_gt_mcid (as
        :meth:`~bayesdose.results.fit.DoseResponseFit.contrast`).
    """
    view = view_of(view)
    inputs = view.inputs
    reference = float(min(inputs.doses) if reference is None else reference)
    doses = as_list(dose, [], "dose")
    draws = effect_draws(view, [*doses, reference], time, outcome, scale)
    values = draws.to_numpy()
    diff = values[..., :-1, :] - values[..., -1:, :]
    names = list(draws["outcome"].values)
    sign = np.array([view.info(n).sign for n in names], dtype=float)
    thresholds = view.mcids(names, mcid)
    if scale == "standardised":
        sign = np.ones_like(sign)
        thresholds = thresholds / inputs.scales.sd[view.outcome_index(names)]
    stats = summarise(diff, hdi_prob)
    stats.update(contrast_probabilities(diff, sign, thresholds))
    table = tidy_grid(stats, names, doses, draws["time"].values)
    table.insert(2, "reference", reference)
    table.insert(8, "direction", table["outcome"].map(
        {n: view.info(n).direction for n in names}))
    table.insert(9, "mcid", table["outcome"].map(dict(zip(names, thresholds, strict=True))))
    table.insert(10, "mcid_scale", table["outcome"].map(
        {n: view.mcid_scale(n, scale) for n in names}))
    return table


def expected_change(view: ViewLike, dose: Any = None, time: Any = None,
                    outcome: Any = None, hdi_prob: float = 0.95) -> pd.DataFrame:
    """Mean change from baseline at each dose and visit (outcome units): the common
    course plus the dose effect, for a patient at the mean baseline.

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
    hdi_prob : float
        Probability of the highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Columns outcome, dose, time, mean, sd, hdi_low, hdi_high.
    """
    view = view_of(view)
    visits = view.inputs.visits
    times = as_list(time, visits, "time")
    not_visits = [t for t in times if not np.isclose(t, visits).any()]
    if not_visits:
        raise EstimandError(f"the common course is estimated at the visits only "
                            f"({visits}); {not_visits} are not visits.")
    draws = effect_draws(view, dose, times, outcome)
    course = view.posterior["course"].sel(outcome=draws["outcome"].values, time=times)
    unit = view.unit("outcome")[view.outcome_index(list(draws["outcome"].values))]
    course_units = course.transpose("chain", "draw", "outcome", "time").to_numpy()
    total = draws.to_numpy() + (course_units * unit[:, None])[:, :, :, None, :]
    return tidy_grid(summarise(total, hdi_prob), draws["outcome"].values,
                     draws["dose"].values, draws["time"].values)


def family_effect(view: ViewLike, dose: Any = None, time: Any = None,
                  family: str | None = None, hdi_prob: float = 0.95) -> pd.DataFrame:
    """Average standardised dose effect of the outcomes of each family, per draw.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws.
    dose, time : float or sequence, optional
        Doses and times in the user's units (default: tested doses, visits).
    family : str, optional
        One family (default: every family, including outcomes alone in theirs).
    hdi_prob : float
        Probability of the highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Columns family, n_outcomes, dose, time, mean, sd, hdi_low, hdi_high.
    """
    view = view_of(view)
    rows = []
    for name, members in view.family_members(family).items():
        draws = effect_draws(view, dose, time, members, scale="standardised")
        average = draws.mean("outcome").to_numpy()[:, :, None]
        table = tidy_grid(summarise(average, hdi_prob), [name], draws["dose"].values,
                          draws["time"].values).rename(columns={"outcome": "family"})
        table.insert(1, "n_outcomes", len(members))
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


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
        Columns family, dose, reference, time, k, n_outcomes, prob.
    """
    view = view_of(view)
    reference = float(min(view.inputs.doses) if reference is None else reference)
    doses = as_list(dose, [], "dose")
    rows = []
    for name, members in view.family_members(family).items():
        thresholds = view.mcids(members, mcid)
        missing = [m for m, t in zip(members, thresholds, strict=True) if np.isnan(t)]
        if missing:
            raise EstimandError(f"family {name!r}: outcome(s) {missing} have no MCID; "
                                "declare one (outcome metadata) or pass mcid={...}.")
        draws = effect_draws(view, [*doses, reference], time, members)
        values = draws.to_numpy()
        diff = values[..., :-1, :] - values[..., -1:, :]
        sign = np.array([view.info(m).sign for m in members])[:, None, None]
        better = (diff * sign) > thresholds[:, None, None]
        count = better.sum(axis=2)  # (chain, draw, dose, time)
        for d_i, d in enumerate(doses):
            for t_i, t in enumerate(draws["time"].values):
                for k in range(1, len(members) + 1):
                    rows.append({"family": name, "dose": d, "reference": reference,
                                 "time": float(t), "k": k, "n_outcomes": len(members),
                                 "prob": float((count[:, :, d_i, t_i] >= k).mean())})
    return pd.DataFrame(rows)


def observed_means(view: ViewLike) -> pd.DataFrame:
    """Observed mean of each outcome's modelled response per dose and visit.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The view (its inputs' observations; the draws are not used).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, likelihood, dose, time, n, mean, sd (sorted by dose and time).
    """
    inputs = view_of(view).inputs
    frame = pd.DataFrame({
        "outcome": np.asarray(inputs.outcomes)[inputs.outcome_idx],
        "dose": inputs.dose,
        "time": inputs.elapsed + inputs.baseline_time,
        "response": inputs.response,
    })
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
