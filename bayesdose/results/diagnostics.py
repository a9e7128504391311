"""Sampler diagnostics with stated thresholds, a verdict and what to try when they fail.

Thresholds follow Vehtari et al. (2021, rank-normalised R-hat and ESS) and the Stan
team's guidance: R-hat <= 1.01, bulk and tail ESS >= 400, no divergent transitions,
E-BFMI >= 0.3 in every chain, and no transition that stopped at the maximum tree depth.
These decide the verdict (``Diagnostics.ok``): whether the draws can be trusted. The
numbers are ArviZ's (arviz-stats: ``summary`` for R-hat, ESS and MCSE, ``bfmi``, ``loo``);
this module adds the thresholds, the verdict, the advice and where divergences sit.

PSIS-LOO Pareto k (Vehtari, Gelman and Gabry 2017; Vehtari et al. 2024) is reported per
observation with its threshold (:data:`bayesdose.results.psis.PARETO_K_MAX`, the one used
by cross-validation and model comparison too), but does not enter the verdict: a large k
says that an observation is too influential for PSIS-LOO to approximate leaving it out (for
model comparison), not that the posterior draws are wrong.

Prior-data conflict is reported the same way, outside the verdict. For every real-valued
parameter that is a scalar, or one scalar per outcome, and has draws in the fit's
``prior`` group, it takes the posterior median and its prior tail probability, the
prior mass beyond it on its side (``min(P(prior <= median), P(prior >= median))``,
estimated from the prior draws). The rule: a conflict when that probability is below
:data:`PRIOR_TAIL` = 0.01, that is when the posterior median lies outside the prior's
central 98% interval. The data then pull the parameter where the prior says it almost
never is: the draws may be fine, but the prior, the outcome's declared SD (which every
standardised prior is in units of) or the data deserve a second look. Without a
``prior`` group the check is not computable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.inference.trees import group, has_group
from bayesdose.results.psis import MIN_DRAWS, PARETO_K_MAX, pointwise_loo

RHAT_MAX = 1.01


ESS_MIN = 400


EBFMI_MIN = 0.3


#: Prior tail probability of the posterior median below which a parameter is flagged as in
#: conflict with its prior (the median outside the prior's central 98% interval).
PRIOR_TAIL = 0.01


SAMPLING_CHECKS = ("r_hat", "ess_bulk", "ess_tail", "divergences", "e_bfmi", "tree_depth")


ADVICE = {
    "r_hat": "Chains disagree. Run longer (tune=2000, draws=2000); look at trace/rank plots "
             "of the parameters listed for several modes (often log_ed50); if one exists, use "
             "a more informative prior or a simpler dose shape.",
    "ess_bulk": "Too few effective draws for stable means. Increase draws (ESS grows with "
                "them) or chains; if ESS per draw is very low for the parameters listed, "
                "tighten their priors or reparameterise.",
    "ess_tail": "Too few effective draws in the tails for stable intervals. Increase draws; "
                "heavy-tailed posteriors (e.g. of log_ed50 with three doses) need more.",
    "divergences": "Divergent transitions: the sampler met curvature it could not follow, so "
                   "the posterior may be biased. Raise target_accept (0.95, then 0.99); if "
                   "they persist, tighten the prior of the parameter where they concentrate "
                   "(see the divergences table), often log_ed50 or patient_effect_sigma.",
    "e_bfmi": "Low E-BFMI: the momentum resampling explores the energy poorly, usually a "
              "funnel. Keep patient effects non-centred and use tighter priors on "
              "hierarchical SDs.",
    "tree_depth": "Transitions hit the maximum tree depth: sampling is slow and may be "
                  "incomplete. Raise max_treedepth, or reparameterise strongly correlated "
                  "parameters.",
    "pareto_k": "PSIS-LOO cannot approximate leaving out the observations listed (Pareto k "
                f"> {PARETO_K_MAX}): each is highly influential, typically a patient far from "
                "their arm in a small arm. The posterior is not wrong, but their LOO terms "
                "are; for model comparison refit without each of them (fit.loo(), or "
                "bd.compare(..., refit=True): exact leave-one-out for those terms), and "
                "check them for data errors or outliers (a Student-t likelihood resists "
                "outliers).",
    "prior_conflict": "The posterior of the parameters listed sits where their prior puts "
                      f"less than {PRIOR_TAIL:.0%} of its mass (see .prior_conflict): data "
                      "and prior disagree. Check, in this order: the data (a unit or sign "
                      "error, a wrong direction, a mis-coded dose or visit); the outcome's "
                      "declared sd, which every standardised prior is in units of (a "
                      "declared sd far smaller than the outcome's real spread makes "
                      "effects, course and residual SD look huge on the standardised "
                      "scale; far larger, tiny); whether the prior is too narrow for this "
                      "outcome (model.prior_table(data) shows it and its scale; override "
                      "it by name). This is a warning, not a sampling failure.",
}


@dataclass
class Diagnostics:
    """The diagnostics of a fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per check: check, value, threshold, passed, worst (the parameter or
        observation at fault), advice (empty when passed), verdict (whether the check
        enters ``ok``: the sampling checks do, Pareto k does not).
    parameters : pandas.DataFrame
        Per parameter element: r_hat, ess_bulk, ess_tail, mcse_mean, mcse_sd.
    divergences : pandas.DataFrame
        Per parameter, the mean of its draws in divergent transitions against all draws
        (where divergences concentrate); empty when there are none.
    ok : bool
        True when every sampling check passed (Pareto k is reported, not part of it).
    observations : pandas.DataFrame
        PSIS-LOO per observation: variable, obs, pareto_k, elpd_loo (and, from a fit,
        outcome, patient, time); empty when the fit has no log likelihood.
    prior_conflict : pandas.DataFrame
        Per scalar (or per-outcome scalar) parameter with prior draws: parameter,
        posterior_median, prior_low and prior_high (the prior's 1% and 99% quantiles),
        prior_tail (prior mass beyond the posterior median, on its side), side
        (``"above"`` or ``"below"`` the prior's median) and conflict
        (``prior_tail < PRIOR_TAIL``); empty without a prior group.
    """

    table: pd.DataFrame
    parameters: pd.DataFrame
    divergences: pd.DataFrame
    ok: bool
    observations: pd.DataFrame = field(default_factory=pd.DataFrame)
    prior_conflict: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        verdict = "PASSED" if self.ok else "FAILED"
        conflicts = self._conflicting()
        if conflicts:
            verdict += (f" (warning: prior-data conflict for {', '.join(conflicts)}; the "
                        "draws may be fine, the prior or the data deserve a look)")
        lines = [f"Diagnostics {verdict}"]
        for row in self.table.itertuples():
            mark = ("ok  " if row.passed else "FAIL") if row.verdict else (
                "ok  " if row.passed else "warn")
            lines.append(f"  [{mark}] {row.check}: {row.value} (threshold {row.threshold})"
                         + (f" worst: {row.worst}" if row.worst else ""))
        for row in self.table[~self.table["passed"]].itertuples():
            lines.append(f"  -> {row.check}: {row.advice}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, escape=True)

    def _conflicting(self) -> list[str]:
        frame = self.prior_conflict
        if frame.empty or "conflict" not in frame:
            return []
        return frame.loc[frame["conflict"].astype(bool), "parameter"].astype(str).tolist()


def parameter_diagnostics(idata: xr.DataTree, var_names: list[str]) -> pd.DataFrame:
    """Rank-normalised R-hat, bulk/tail ESS and the Monte Carlo SEs of the mean and SD for
    every element of ``var_names`` (:func:`arviz.summary`).

    Elements that are constant by construction (an effect fixed at 0 at the reference
    dose, the upper triangle of a Cholesky factor) have no R-hat or ESS and are left out.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = az.summary(idata, var_names=var_names, kind="diagnostics",
                             round_to="none")
    posterior = idata["posterior"]
    varies = np.concatenate([
        (posterior[name].std(("chain", "draw")).to_numpy() > 0).ravel()
        for name in var_names
    ])
    frame = summary[["r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd"]].copy()
    frame.index.name = "parameter"
    return frame[varies].reset_index()


def _sample_stat(idata: xr.DataTree, *names: str):
    if not has_group(idata, "sample_stats"):
        return None
    stats = group(idata, "sample_stats")
    for name in names:
        if name in stats:
            return stats[name]
    return None


def divergence_locations(idata: xr.DataTree, var_names: list[str]) -> pd.DataFrame:
    """Where divergent transitions sit: per scalar parameter, its mean in divergent draws
    against its overall mean, in posterior SDs (a large shift flags the culprit)."""
    diverging = _sample_stat(idata, "diverging")
    if diverging is None or not bool(diverging.any()):
        return pd.DataFrame(columns=["parameter", "shift_sd", "n_divergent"])
    mask = diverging.to_numpy().astype(bool)
    rows = []
    for name in var_names:
        values = idata["posterior"][name]
        flat = values.to_numpy().reshape((*mask.shape, -1))
        sd = flat.reshape(-1, flat.shape[-1]).std(axis=0)
        shift = (flat[mask].mean(axis=0) - flat.reshape(-1, flat.shape[-1]).mean(axis=0))
        shift = np.where(sd > 0, shift / np.where(sd > 0, sd, 1), 0.0)
        worst = int(np.argmax(np.abs(shift)))
        rows.append({"parameter": _element_label(values, worst),
                     "shift_sd": float(shift[worst]), "n_divergent": int(mask.sum())})
    frame = pd.DataFrame(rows)
    return frame.reindex(frame["shift_sd"].abs().sort_values(ascending=False).index)


def _element_label(values, position: int) -> str:
    """ArviZ-style label of one element of a variable, e.g. ``delta[koos_pain]``."""
    dims = [d for d in values.dims if d not in ("chain", "draw")]
    if not dims:
        return str(values.name)
    index = np.unravel_index(position, [values.sizes[d] for d in dims])
    labels = [str(values[d].values[i]) if d in values.coords else str(i)
              for d, i in zip(dims, index, strict=True)]
    return f"{values.name}[{', '.join(labels)}]"


def diagnose(idata: xr.DataTree, var_names: list[str] | None = None,
             observation_labels: pd.DataFrame | None = None) -> Diagnostics:
    """Run every check on a fit's sampling results.

    Parameters
    ----------
    idata : xarray.DataTree
        Must hold ``posterior`` and ``sample_stats``.
    var_names : list of str, optional
        Parameters to check (default: every posterior variable).
    observation_labels : pandas.DataFrame, optional
        Columns obs (and optionally variable) and any labels (outcome, patient, time)
        joined onto the per-observation Pareto k table, so the worst observation is
        named in words.

    Returns
    -------
    Diagnostics

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict({"posterior": {"x": rng.normal(size=(4, 1000))},
    ...                       "sample_stats": {"diverging": np.zeros((4, 1000), bool)}})
    >>> diagnose(idata).ok
    True
    """
    var_names = var_names or list(idata["posterior"].data_vars)
    params = parameter_diagnostics(idata, var_names)
    rows = [
        _check_param(params, "r_hat", RHAT_MAX, high_is_bad=True),
        _check_param(params, "ess_bulk", ESS_MIN, high_is_bad=False),
        _check_param(params, "ess_tail", ESS_MIN, high_is_bad=False),
    ]
    locations = divergence_locations(idata, var_names)
    rows.append(_check_divergences(idata, locations))
    rows.append(_check_ebfmi(idata))
    rows.append(_check_tree_depth(idata))
    observations = pointwise_loo(idata)
    if observation_labels is not None and not observations.empty:
        keys = [key for key in ("variable", "obs") if key in observation_labels]
        observations = observations.merge(observation_labels, on=keys, how="left")
    if not observations.empty:
        rows.append(_check_pareto_k(observations))
    elif has_group(idata, "log_likelihood"):
        rows.append({"check": "pareto_k", "value": np.nan, "threshold": PARETO_K_MAX,
                     "passed": True, "worst": f"not computable (PSIS-LOO needs at least "
                                              f"{MIN_DRAWS} draws)"})
    conflicts = prior_conflicts(idata)
    rows.append(_check_prior_conflict(idata, conflicts))
    table = pd.DataFrame(rows)
    table["advice"] = [("" if passed else ADVICE[check])
                       for check, passed in zip(table["check"], table["passed"], strict=True)]
    table["verdict"] = table["check"].isin(SAMPLING_CHECKS)
    ok = bool(table.loc[table["verdict"], "passed"].all())
    return Diagnostics(table=table, parameters=params, divergences=locations, ok=ok,
                       observations=observations, prior_conflict=conflicts)


def prior_conflicts(idata: xr.DataTree) -> pd.DataFrame:
    """Where each scalar parameter's posterior median sits in its prior.

    Every variable of both the ``posterior`` and the ``prior`` group whose only dim
    besides chain and draw is ``outcome`` (or that has none), element by element; prior
    draws that do not vary (a constant) are left out.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit's draws, with a ``prior`` group (else the result is empty).

    Returns
    -------
    pandas.DataFrame
        Columns parameter, posterior_median, prior_low, prior_high (the prior's 1% and
        99% quantiles), prior_tail, side, conflict; conflicts first, then by prior_tail.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict({"posterior": {"x": rng.normal(4.0, 0.1, (2, 200))},
    ...                       "prior": {"x": rng.normal(0.0, 1.0, (1, 500))}})
    >>> row = prior_conflicts(idata).iloc[0]
    >>> row["parameter"], row["side"], bool(row["conflict"])
    ('x', 'above', True)
    """
    columns = ["parameter", "posterior_median", "prior_low", "prior_high", "prior_tail",
               "side", "conflict"]
    if not (has_group(idata, "prior") and has_group(idata, "posterior")):
        return pd.DataFrame(columns=columns)
    prior, posterior = group(idata, "prior"), group(idata, "posterior")
    rows = []
    for name in posterior.data_vars:
        if name not in prior.data_vars:
            continue
        post, pri = posterior[name], prior[name]
        dims = [d for d in post.dims if d not in ("chain", "draw")]
        if (dims not in ([], ["outcome"]) or [d for d in pri.dims if d not in
                                               ("chain", "draw")] != dims
                or not np.issubdtype(post.dtype, np.floating)):
            continue
        rows += _conflict_rows(post, pri, dims)
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame = frame.sort_values(["conflict", "prior_tail"], ascending=[False, True],
                              kind="stable")
    return frame.reset_index(drop=True)


def _conflict_rows(post: xr.DataArray, pri: xr.DataArray, dims: list[str]) -> list[dict]:
    post_flat = post.transpose("chain", "draw", *dims).to_numpy().reshape(
        post.sizes["chain"] * post.sizes["draw"], -1)
    pri_flat = pri.transpose("chain", "draw", *dims).to_numpy().reshape(
        pri.sizes["chain"] * pri.sizes["draw"], -1)
    rows = []
    for j in range(post_flat.shape[1]):
        draws = pri_flat[:, j][np.isfinite(pri_flat[:, j])]
        if draws.size < 2 or np.ptp(draws) == 0:
            continue
        median = float(np.median(post_flat[:, j]))
        below, above = float(np.mean(draws <= median)), float(np.mean(draws >= median))
        tail = min(below, above)
        rows.append({"parameter": _element_label(post, j), "posterior_median": median,
                     "prior_low": float(np.quantile(draws, PRIOR_TAIL)),
                     "prior_high": float(np.quantile(draws, 1 - PRIOR_TAIL)),
                     "prior_tail": tail, "side": "above" if above < below else "below",
                     "conflict": bool(tail < PRIOR_TAIL)})
    return rows


def _check_prior_conflict(idata: xr.DataTree, conflicts: pd.DataFrame) -> dict:
    row = {"check": "prior_conflict", "threshold": PRIOR_TAIL}
    if not has_group(idata, "prior"):
        return {**row, "value": np.nan, "passed": True,
                "worst": "not computable (the fit has no prior draws; fit with "
                         "prior_draws > 0)"}
    if conflicts.empty:
        return {**row, "value": np.nan, "passed": True,
                "worst": "not computable (no scalar parameter has prior draws)"}
    flagged = conflicts[conflicts["conflict"]]
    worst = conflicts.iloc[0]
    value = round(float(worst["prior_tail"]), 4)
    if flagged.empty:
        return {**row, "value": value, "passed": True, "worst": ""}
    n_draws = int(group(idata, "prior").sizes.get("chain", 1)
                  * group(idata, "prior").sizes.get("draw", 1))
    parts = [f"{r.parameter} (posterior median {r.posterior_median:.3g}, "
             f"{r.side} the prior's central 98% [{r.prior_low:.3g}, {r.prior_high:.3g}]; "
             f"prior tail {_tail_text(r.prior_tail, n_draws)})"
             for r in flagged.head(3).itertuples()]
    more = f" and {len(flagged) - 3} more" if len(flagged) > 3 else ""
    return {**row, "value": value, "passed": False,
            "worst": f"{len(flagged)} of {len(conflicts)} parameters: "
                     + "; ".join(parts) + more}


def _tail_text(tail: float, n_draws: int) -> str:
    return f"< 1/{n_draws}" if tail == 0 else f"{tail:.3g}"


def _observation_label(row: pd.Series) -> str:
    if {"outcome", "patient", "time"} <= set(row.index) and pd.notna(row["outcome"]):
        return f"{row['outcome']} of patient {row['patient']} at time {row['time']:g}"
    return f"{row['variable']}[{row['obs']}]"


def _check_pareto_k(observations: pd.DataFrame) -> dict:
    k = observations["pareto_k"].to_numpy(dtype=float)
    bad = int(np.sum(k > PARETO_K_MAX))
    worst = observations.iloc[int(np.nanargmax(k))]
    where = f"{bad} of {len(k)} observations above {PARETO_K_MAX}; worst: "
    return {"check": "pareto_k", "value": round(float(np.nanmax(k)), 3),
            "threshold": PARETO_K_MAX, "passed": bad == 0,
            "worst": "" if bad == 0 else where + _observation_label(worst)}


def _check_param(params: pd.DataFrame, column: str, threshold: float,
                 high_is_bad: bool) -> dict:
    values = params[column].to_numpy(dtype=float)
    if np.all(np.isnan(values)):
        return {"check": column, "value": np.nan, "threshold": threshold, "passed": False,
                "worst": "not computable (too few draws or one chain)"}
    position = int(np.nanargmax(values) if high_is_bad else np.nanargmin(values))
    value = float(values[position])
    passed = value <= threshold if high_is_bad else value >= threshold
    passed = passed and not np.isnan(values).any()
    worst = str(params["parameter"].iloc[position])
    return {"check": column, "value": round(value, 3), "threshold": threshold,
            "passed": bool(passed), "worst": "" if passed else worst}


def _check_divergences(idata: xr.DataTree, locations: pd.DataFrame) -> dict:
    diverging = _sample_stat(idata, "diverging")
    count = int(diverging.sum()) if diverging is not None else 0
    worst = "" if count == 0 or locations.empty else str(locations["parameter"].iloc[0])
    return {"check": "divergences", "value": count, "threshold": 0, "passed": count == 0,
            "worst": worst}


def _check_ebfmi(idata: xr.DataTree) -> dict:
    if _sample_stat(idata, "energy") is None:
        return {"check": "e_bfmi", "value": np.nan, "threshold": EBFMI_MIN, "passed": True,
                "worst": "not reported by this sampler"}
    values = np.atleast_1d(az.bfmi(idata)["energy"].to_numpy())
    low = float(np.min(values))
    passed = low >= EBFMI_MIN
    return {"check": "e_bfmi", "value": round(low, 3), "threshold": EBFMI_MIN,
            "passed": bool(passed), "worst": "" if passed else f"chain {int(np.argmin(values))}"}


def _check_tree_depth(idata: xr.DataTree) -> dict:
    hit = _sample_stat(idata, "reached_max_treedepth", "maxdepth_reached")
    if hit is None:
        return {"check": "tree_depth", "value": np.nan, "threshold": 0.0, "passed": True,
                "worst": "not reported by this sampler"}
    fraction = float(hit.to_numpy().astype(bool).mean())
    return {"check": "tree_depth", "value": fraction, "threshold": 0.0,
            "passed": fraction == 0.0, "worst": ""}
