"""Predictive checks in numbers: does the model reproduce each arm's mean response?

For every outcome, dose and visit the observed arm mean of the modelled response (change
from baseline, log ratio to baseline, or grade) is set against the distribution of the
same mean over replicated data sets drawn from the posterior (or prior) predictive. The
predictive p-value ``P(replicated >= observed)`` near 0 or 1 flags an arm the model does
not reproduce (Gelman, Meng and Stern 1996); with many arms a few extreme values arise by
chance, so the table reports them and leaves the judgement to the reader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.inputs import ModelInputs, by_row
from bayesdose.errors import EstimandError
from bayesdose.inference.trees import group as tree_group
from bayesdose.inference.trees import has_group
from bayesdose.results.estimands import check_interval, credible_interval, interval_label

GROUPS = {"posterior": "posterior_predictive", "prior": "prior_predictive"}


EXTREME = 0.025


def replicated_response(idata: xr.DataTree, inputs: ModelInputs,
                        group: str = "posterior") -> np.ndarray:
    """Predictive draws of every observation, in the order of the model's inputs.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit's groups, holding the predictive group.
    inputs : ModelInputs
        The model's inputs for the fitted data (the observations and their grades).
    group : {"posterior", "prior"}
        Which predictive distribution.

    Returns
    -------
    numpy.ndarray
        Shape (draws, observations); row ``i`` of ``inputs`` is column ``i``.
    """
    if group not in GROUPS:
        raise EstimandError(f"group must be 'posterior' or 'prior' (got {group!r}).")
    name = GROUPS[group]
    predictive = tree_group(idata, name) if has_group(idata, name) else None
    if predictive is None:
        raise EstimandError(f"this fit has no {name} group; refit with "
                            + ("prior_draws > 0." if group == "prior" else "DoseResponseModel.fit"
                               " (it draws the posterior predictive)."))
    out = by_row(predictive, len(inputs.response), name).to_numpy()
    out = out.reshape(-1, out.shape[-1])
    for outcome, grades in inputs.categories.items():  # grade positions -> grades
        rows = inputs.outcome_idx == inputs.outcomes.index(outcome)
        out[:, rows] += grades[0]
    return out


def predictive_check(idata: xr.DataTree, inputs: ModelInputs, group: str = "posterior",
                     ci_prob: float = 0.9, ci_kind: str = "eti") -> pd.DataFrame:
    """Observed arm means against their predictive distribution.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit's groups, holding the predictive group (``posterior_predictive`` or
        ``prior_predictive``).
    inputs : ModelInputs
        The model's inputs for the fitted data (the observed responses, doses, visits).
    group : {"posterior", "prior"}
        Posterior predictive (does the fitted model reproduce the data?) or prior
        predictive (are the priors compatible with data like these?).
    ci_prob : float
        Probability of the predictive interval of each arm mean.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.

    Returns
    -------
    pandas.DataFrame
        One row per outcome, dose and visit: n, observed (arm mean of the modelled
        response), predicted (mean of the replicated arm means), ci_low, ci_high (the
        predictive interval of the arm mean), p_value (the share of replicated arm means
        at or above the observed one), inside (observed within the interval) and extreme
        (p_value below 0.025 or above 0.975);
        ``attrs["ci"]`` names the interval.

    Examples
    --------
    >>> table = predictive_check(fit.idata, fit.inputs)   # doctest: +SKIP
    >>> table[table["extreme"]]                            # doctest: +SKIP
    """
    check_interval(ci_prob, ci_kind)
    replicated = replicated_response(idata, inputs, group)
    cells = pd.DataFrame({"outcome": np.asarray(inputs.outcomes)[inputs.outcome_idx],
                          "dose": inputs.dose,
                          "time": np.asarray(inputs.visits, dtype=float)[inputs.time_idx]})
    rows = []
    for (outcome, dose, time), index in cells.groupby(["outcome", "dose", "time"],
                                                      sort=False).indices.items():
        observed = float(np.mean(inputs.response[index]))
        means = replicated[:, index].mean(axis=1)
        low, high = credible_interval(means, ci_prob, ci_kind)
        rows.append({"outcome": outcome, "dose": float(dose), "time": float(time),
                     "n": len(index), "observed": observed,
                     "predicted": float(means.mean()), "ci_low": float(low),
                     "ci_high": float(high),
                     "p_value": float(np.mean(means >= observed))})
    table = pd.DataFrame(rows)
    table["inside"] = (table["observed"] >= table["ci_low"]) & (
        table["observed"] <= table["ci_high"])
    table["extreme"] = (table["p_value"] < EXTREME) | (table["p_value"] > 1 - EXTREME)
    order = {name: i for i, name in enumerate(inputs.outcomes)}
    table = table.sort_values(["outcome", "dose", "time"],
                              key=lambda col: col.map(order) if col.name == "outcome" else col)
    table = table.reset_index(drop=True)
    table.attrs["ci"] = interval_label(ci_prob, ci_kind)
    return table
