"""Dose estimands beyond contrasts: EDp, minimum effective dose, target dose, onset time
and monotonicity, as tidy tables.

Each function reads the posterior draws of the effect curve f(d) g(t) (f the dose shape, g
the time course) from a :class:`~bayesdose.results.posterior.PosteriorView` (a fit's
:attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`; a fit is accepted too), solves
the estimand per posterior draw (in closed form where the shape has one, otherwise on a
fine grid) and summarises the draws.

Dose and time estimands need not exist in every draw: a target effect beyond a draw's
maximal effect is never reached. Such draws are kept as ``inf`` ("not reached"), never
dropped silently. Every table reports:

- ``mean``, ``sd``, ``hdi_low``, ``hdi_high``: over the draws in which the estimand is
  reached (conditional on it being reached; NaN when it is reached in none);
- ``median``, ``q_low``, ``q_high``: median and equal-tailed interval (probability
  ``hdi_prob``) over *all* draws, counting a draw that is not reached as larger than any
  dose or time (so ``q_high`` is ``inf`` when more than ``(1 - hdi_prob) / 2`` of the
  draws are not reached: read it as "beyond the range");
- ``prob_not_reached``: the fraction of draws in which the estimand is not reached.

The functions are also methods of the fit (``fit.effective_dose(...)`` and so on).
The draws of EDp themselves are :func:`effective_dose_draws` (what
:meth:`bayesdose.results.averaging.Comparison.average_effective_dose` averages over models).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.shapes import (
    DoseScale,
    DoseShape,
    Emax,
    ExponentialDose,
    Linear,
    LogLinear,
    Quadratic,
    SigmoidEmax,
)
from bayesdose.components.timecourses import (
    Bateman,
    EmaxTime,
    Exponential,
    PiecewiseLinear,
    TimeShape,
)
from bayesdose.errors import EstimandError
from bayesdose.results.estimands import as_list, hdi, summarise
from bayesdose.results.posterior import PosteriorView, ViewLike, view_of
from bayesdose.results.readouts import effect_draws

#: Number of evenly spaced doses (or times) of the grids searched numerically.
GRID_POINTS = 201


_CLOSED_FORM_DOSE = (Linear, LogLinear, Emax, SigmoidEmax, ExponentialDose)


# ---------------------------------------------------------------------------- helpers
def check_fraction(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = np.nan
    if not 0 < number < 1:
        raise EstimandError(f"{name} must be between 0 and 1, exclusive (got {value!r}).")
    return number


def _names(view: PosteriorView, outcome: Any) -> tuple[list[int], list[str]]:
    index = view.outcome_index(outcome)
    return index, [view.outcomes[i] for i in index]


def _times(view: PosteriorView, time: Any) -> tuple[list[float], np.ndarray]:
    """Requested times (default: the last visit) and their time since baseline."""
    times = as_list(time, [max(view.inputs.visits)], "time")
    elapsed = np.asarray(view.elapsed(times), dtype=float)
    view.time_shape.check_times(elapsed, view.inputs.time_scale)
    return times, elapsed


def _params(view: PosteriorView, index: list[int]) -> tuple[dict[str, np.ndarray], set[str]]:
    """Shape parameters as ``(chain, draw, outcome[, level])`` arrays, and the vectors."""
    post = view.posterior.isel(outcome=index)
    parameters = [*view.dose_shape.parameters(view.inputs.dose_scale),
                  *view.time_shape.parameters(view.inputs.time_scale)]
    values = {p.name: post[p.name].transpose("chain", "draw", "outcome", ...).to_numpy()
              for p in parameters}
    return values, {p.name for p in parameters if p.levels}


def _on_axis(params: dict[str, np.ndarray], vectors: set[str]) -> dict[str, np.ndarray]:
    """Add a trailing axis for a dose or time grid (before the levels of vectors)."""
    return {k: v[..., None, :] if k in vectors else v[..., None] for k, v in params.items()}


def _lead(view: PosteriorView, index: list[int]) -> tuple[int, int, int]:
    post = view.posterior
    return post.sizes["chain"], post.sizes["draw"], len(index)


def _curve(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
           vectors: set[str], doses: Sequence[float]) -> np.ndarray:
    """Draws of f (standardised, direction-aligned) at ``doses``: (chain, draw, outcome, D)."""
    dose_arr = np.asarray(doses, dtype=float)
    shape, scale = view.dose_shape, view.inputs.dose_scale
    shape.check_doses(dose_arr, scale)
    values = shape.evaluate(dose_arr, _on_axis(params, vectors), scale, np)
    return np.broadcast_to(values, (*_lead(view, index), dose_arr.size))


def _course(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
            vectors: set[str], elapsed: Sequence[float]) -> np.ndarray:
    """Draws of g at times since baseline: (chain, draw, outcome, T)."""
    time_arr = np.asarray(elapsed, dtype=float)
    shape, scale = view.time_shape, view.inputs.time_scale
    shape.check_times(time_arr, scale)
    values = shape.evaluate(time_arr, _on_axis(params, vectors), scale, np)
    return np.broadcast_to(values, (*_lead(view, index), time_arr.size))


def _interpolates(shape: DoseShape, scale: DoseScale) -> bool:
    """Whether the dose shape has a curve between the tested doses."""
    low, high = min(scale.tested), max(scale.tested)
    try:
        shape.check_doses(np.array([(low + high) / 2.0]), scale)
    except EstimandError:
        return False
    return True


def _dose_grid(view: PosteriorView, start: float, stop: float) -> tuple[np.ndarray, bool]:
    """Doses searched between ``start`` and ``stop``, and whether they are a dense grid."""
    tested = np.asarray(view.inputs.doses, dtype=float)
    inside = tested[(tested >= start - 1e-12) & (tested <= stop + 1e-12)]
    if _interpolates(view.dose_shape, view.inputs.dose_scale):
        grid = np.linspace(start, stop, GRID_POINTS) if stop > start else np.array([start])
        return np.unique(np.concatenate([grid, inside])), True
    return np.unique(np.concatenate([[start], inside])), False


def _first_crossing(nodes: np.ndarray, values: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Smallest x at which the piecewise-linear curve through (nodes, values) reaches
    ``level`` (values on the last axis); ``inf`` where it never does."""
    level = np.asarray(level, dtype=float)
    with np.errstate(invalid="ignore"):
        above = values >= level[..., None]
    hit = above.any(axis=-1)
    j = np.argmax(above, axis=-1)
    prev = np.maximum(j - 1, 0)
    v_j = np.take_along_axis(values, j[..., None], axis=-1)[..., 0]
    v_prev = np.take_along_axis(values, prev[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(j > 0, (level - v_prev) / (v_j - v_prev), 0.0)
    x = nodes[prev] + frac * (nodes[j] - nodes[prev])
    return np.where(hit, x, np.inf)


def _quantiles(values: np.ndarray, probs: Sequence[float]) -> list[float]:
    """Linear-interpolation quantiles over all draws, ``inf`` counted as the largest."""
    ordered = np.sort(values)
    n = ordered.size
    out = []
    for prob in probs:
        h = (n - 1) * prob
        lo, hi = int(np.floor(h)), int(np.ceil(h))
        if lo == hi or not np.isfinite(ordered[hi]):
            out.append(float(ordered[lo] if lo == hi else ordered[hi]))
        else:
            out.append(float(ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])))
    return out


def _summary(draws: np.ndarray, hdi_prob: float, low: float | None = None,
             high: float | None = None) -> dict[str, float]:
    """Summary of one estimand's draws (NaN and inf = not reached), see the module notes."""
    values = np.where(np.isnan(draws), np.inf, np.asarray(draws, dtype=float)).reshape(-1)
    reached = values[np.isfinite(values)]
    out = {"mean": np.nan, "sd": np.nan, "hdi_low": np.nan, "hdi_high": np.nan}
    if reached.size:
        band = hdi(reached, hdi_prob)
        out.update(mean=float(reached.mean()),
                   sd=float(reached.std(ddof=1)) if reached.size > 1 else 0.0,
                   hdi_low=float(band[0]), hdi_high=float(band[1]))
    tail = (1 - hdi_prob) / 2
    out.update(zip(("median", "q_low", "q_high"),
                   _quantiles(values, (0.5, tail, 1 - tail)), strict=True))
    if low is not None and high is not None:
        tol = 1e-9 * max(abs(high), 1.0)
        out["prob_below_range"] = float(np.mean(values < low - tol))
        out["prob_in_range"] = float(np.mean((values >= low - tol) & (values <= high + tol)))
        out["prob_beyond_range"] = float(np.mean(values > high + tol))
    out["prob_not_reached"] = float(np.mean(np.isinf(values)))
    return out


def _invert(shape: DoseShape, params: dict[str, np.ndarray], level: np.ndarray,
            scale: DoseScale) -> np.ndarray:
    """Closed-form smallest dose >= 0 with f(d) = ``level`` (standardised), per draw.

    ``params`` broadcast against ``level``; ``inf`` where f never reaches ``level``.
    """
    ref = scale.reference
    with np.errstate(all="ignore"):
        if isinstance(shape, (Emax, SigmoidEmax)):
            q = level / shape.derived(params, scale)["emax"]
            odds = q / (1 - q)
            ed50 = scale.midpoint * np.exp(params["log_ed50"])
            if isinstance(shape, SigmoidEmax):
                dose = ed50 * odds ** (1 / np.exp(params["log_hill"]))
            else:
                dose = ed50 * odds
            ok = (q >= 0) & (q < 1)
        else:
            r = level / params["delta"]
            if isinstance(shape, Linear):
                dose = r * ref
            elif isinstance(shape, LogLinear):
                off = shape.off(scale)
                dose = off * np.expm1(r * np.log1p(ref / off))
            else:  # ExponentialDose: expm1(d / kappa) = r * expm1(ref / kappa)
                kappa = ref * np.exp(params["log_kappa"])
                x = ref / kappa
                dose = kappa * (x + np.log(r + (1 - r) * np.exp(-x)))
            ok = r >= 0
        return np.where(ok & np.isfinite(dose), np.maximum(dose, 0.0), np.inf)


def _versus(view: PosteriorView, reference: float | None) -> str:
    return view.versus() if reference is None else f"dose {reference:g}"


def _direction(view: PosteriorView, name: str, scale: str) -> str:
    if scale == "standardised":
        return "higher_is_better (standardised)"
    return view.info(name).direction


def _per_outcome(value: Any, names: list[str], what: str) -> np.ndarray:
    """A number for every outcome from one number or a mapping by outcome."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise EstimandError(f"{what}: the mapping must name exactly the outcomes asked "
                                f"for ({names}); unknown {unknown}, missing {missing}.")
        values = [value[n] for n in names]
    else:
        values = [value] * len(names)
    try:
        out = np.array(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EstimandError(f"{what} must be a number or a mapping of numbers by outcome "
                            f"(got {value!r}).") from exc
    if not np.all(np.isfinite(out)) or np.any(out == 0):
        raise EstimandError(f"{what} must be a finite, non-zero number (got {value!r}); "
                            "positive = an improvement in the outcome's better direction.")
    return out


# ---------------------------------------------------------------------------- EDp
def effective_dose(view: ViewLike, p: float = 0.5, time: Any = None,
                   outcome: Any = None, hdi_prob: float = 0.95,
                   scale: str = "outcome") -> pd.DataFrame:
    """EDp: the dose giving a fraction ``p`` of the maximal dose effect.

    Definitions, per posterior draw:

    - Emax-type shapes (``emax``, ``sigmoid_emax``): the dose at which f reaches
      p x Emax, Emax being the asymptote of f as dose grows (so ED50 is the model's
      ED50): ED_p = ED50 p / (1 - p), and ED50 (p / (1 - p))^(1 / n) for the sigmoid
      Emax with Hill exponent n. EDp can lie beyond the tested doses (ED90 = 9 ED50 for
      the hyperbolic Emax); it is then an extrapolation, counted in
      ``prob_beyond_range``.
    - Shapes without an asymptote (``linear``, ``log_linear``, ``exponential``, ``free``,
      ``monotone`` and registered shapes): the smallest dose at which the effect reaches
      p x the effect at the highest tested dose, so EDp lies within [0, highest tested
      dose]. Closed form for ``linear`` (p d_ref), ``log_linear`` and ``exponential``;
      linear interpolation between the tested doses for ``free`` and ``monotone``
      (effects against the lowest tested dose); the first crossing on a grid of
      :data:`GRID_POINTS` doses for registered shapes.
    - ``quadratic``: undefined (the curve need not be monotone, so "the dose giving p of
      the maximal effect" has no single answer): :class:`EstimandError`.

    For an effect f(d) g(t) the fraction of the maximal effect does not depend on the
    time, so EDp is the same at every time; ``time`` sets the time at which the effect
    reached at EDp (column ``effect_at_ed``) is read.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    p : float
        Fraction of the maximal effect, in (0, 1) (0.5 for ED50, 0.9 for ED90).
    time : float or sequence, optional
        Times for ``effect_at_ed`` (default: the last visit).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    hdi_prob : float
        Probability of the highest-density and equal-tailed intervals.
    scale : {"outcome", "standardised"}
        Units of ``effect_at_ed``: outcome units or the standardised, direction-aligned
        scale.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, p, definition, method, mean, sd,
        hdi_low, hdi_high (dose, over draws where EDp is reached), median, q_low, q_high
        (over all draws), prob_below_range (EDp below the lowest tested dose),
        prob_in_range, prob_beyond_range (above the highest tested dose or not reached),
        prob_not_reached, effect_at_ed (posterior mean effect at EDp at ``time``: p x the
        maximal effect).

    See Also
    --------
    effective_dose_draws : the per-draw EDp summarised here.
    bayesdose.results.averaging.Comparison.average_effective_dose : EDp averaged over models.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import effective_dose
    >>> effective_dose(fit.posterior_view, p=0.9, outcome="koos_pain")    # doctest: +SKIP
    """
    view = view_of(view)
    p = check_fraction(p, "p")
    check_fraction(hdi_prob, "hdi_prob")
    ed = effective_dose_draws(view, p=p, outcome=outcome)
    index, names = _names(view, list(ed["outcome"].values))
    times, elapsed = _times(view, time)
    unit = view.unit(scale)[index]
    params, vectors = _params(view, index)
    maximal = _maximal_effect(view, index, params, vectors)
    g = _course(view, index, params, vectors, elapsed)  # (chain, draw, outcome, T)
    at_ed = p * maximal[..., None] * g * unit[:, None]
    dscale = view.inputs.dose_scale
    low, high = min(dscale.tested), dscale.reference
    values = ed.transpose("chain", "draw", "outcome").to_numpy()
    rows = []
    for k, name in enumerate(names):
        stats = _summary(values[:, :, k], hdi_prob, low, high)
        for t_i, t in enumerate(times):
            rows.append({"outcome": name, "time": t, "p": p,
                         "definition": ed.attrs["definition"], "method": ed.attrs["method"],
                         **stats, "effect_at_ed": float(at_ed[:, :, k, t_i].mean())})
    return pd.DataFrame(rows)


def _maximal_effect(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
                    vectors: set[str]) -> np.ndarray:
    """Per draw, the effect of which EDp gives the fraction p (standardised, aligned):
    Emax for Emax-type shapes, else the effect at the highest tested dose.
    Shape (chain, draw, outcome)."""
    shape, dscale = view.dose_shape, view.inputs.dose_scale
    if isinstance(shape, (Emax, SigmoidEmax)):
        return shape.derived(params, dscale)["emax"]
    return _curve(view, index, params, vectors, [dscale.reference])[..., 0]


def effective_dose_draws(view: ViewLike, p: float = 0.5,
                         outcome: Any = None) -> xr.DataArray:
    """EDp per posterior draw: the draws that :func:`effective_dose` summarises.

    EDp is defined as in :func:`effective_dose` (for Emax-type shapes the dose giving p x
    Emax; for other shapes the smallest dose giving p x the effect at the highest tested
    dose) and does not depend on the time. A draw in which EDp is never reached (for
    example a curve that does not rise in the outcome's better direction) is ``inf``.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    p : float
        Fraction of the maximal effect, in (0, 1) (0.5 for ED50).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, outcome: EDp in dose units, ``inf`` where not reached. Attributes
        ``p``, ``definition`` and ``method`` (as the columns of :func:`effective_dose`).

    Raises
    ------
    EstimandError
        When ``p`` is not in (0, 1), an outcome is not in the fit, or the dose shape is
        ``quadratic`` (EDp undefined).

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import effective_dose_draws
    >>> view = fit.posterior_view                                         # doctest: +SKIP
    >>> ed50 = effective_dose_draws(view, p=0.5, outcome="koos_pain")     # doctest: +SKIP
    >>> float((ed50 < 20).mean())       # P(ED50 < 20 | data)             # doctest: +SKIP
    """
    view = view_of(view)
    p = check_fraction(p, "p")
    shape, dscale = view.dose_shape, view.inputs.dose_scale
    if isinstance(shape, Quadratic):
        raise EstimandError(
            "effective_dose: EDp is undefined for the 'quadratic' dose shape, whose curve "
            "may rise then fall (no single dose gives a fraction p of a maximal effect). "
            "Use target_dose() or minimum_effective_dose(), or fit a monotone shape.")
    index, names = _names(view, outcome)
    params, vectors = _params(view, index)
    maximal = _maximal_effect(view, index, params, vectors)
    low, high = min(dscale.tested), dscale.reference
    if isinstance(shape, (Emax, SigmoidEmax)):
        ed = _invert(shape, params, p * maximal, dscale)
        definition = ("dose at which f reaches p x Emax (the asymptote of the Emax curve; "
                      "ED50 = the model's ED50)")
        method = ("closed form: ED50 * p/(1-p)" if isinstance(shape, Emax)
                  else "closed form: ED50 * (p/(1-p))^(1/hill)")
    else:
        definition = (f"smallest dose at which the effect against {view.versus()} reaches p "
                      f"x its value at the highest tested dose ({high:g})")
        if isinstance(shape, _CLOSED_FORM_DOSE):
            ed = _invert(shape, params, p * maximal, dscale)
            method = "closed form"
        else:
            nodes, dense = _dose_grid(view, 0.0 if shape.extrapolates_to_zero else low, high)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = _curve(view, index, params, vectors, nodes) / maximal[..., None]
            ed = _first_crossing(nodes, ratio, np.full(ratio.shape[:-1], p))
            method = (f"first crossing on a grid of {nodes.size} doses" if dense
                      else "linear interpolation between the tested doses")
    ed = np.asarray(ed, dtype=float)
    ed = np.where(np.isnan(ed), np.inf, ed)
    post = view.posterior
    return xr.DataArray(ed, dims=("chain", "draw", "outcome"),
                        coords={"chain": post["chain"].to_numpy(),
                                "draw": post["draw"].to_numpy(), "outcome": names},
                        name="effective_dose",
                        attrs={"p": p, "definition": definition, "method": method})


# ---------------------------------------------------------------------------- MED
def minimum_effective_dose(view: ViewLike, mcid: float | dict[str, float] | None = None,
                           level: float = 0.8, time: Any = None,
                           reference: float | None = None, outcome: Any = None,
                           doses: Any = None, hdi_prob: float = 0.95, scale: str = "outcome",
                           curve: bool = False) -> pd.DataFrame:
    """Minimum effective dose: the smallest dose whose improvement over the reference
    exceeds the MCID with posterior probability at least ``level``.

    For each searched dose d the posterior probability
    P(contrast(d vs reference) > MCID in the outcome's better direction) is computed, as
    ``prob_gt_mcid`` of :meth:`~bayesdose.results.fit.DoseResponseFit.contrast`; the MED is the
    smallest searched dose where it reaches ``level``. When no dose qualifies, ``med`` is
    NaN and ``found`` is False.

    A second summary is the posterior distribution of the per-draw MED: in each draw,
    the smallest searched dose whose contrast exceeds the MCID (not reached when none
    does). It differs from the MED, which applies ``level`` to the probability curve.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    mcid : float or dict, optional
        Minimal clinically important difference (positive, outcome units): one number
        for all outcomes or one per outcome (default: each outcome's declared MCID).
    level : float
        Posterior probability required, in (0, 1).
    time : float or sequence, optional
        Times (default: the last visit).
    reference : float, optional
        Reference dose (default: the lowest tested dose).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    doses : sequence of float, optional
        Doses searched (default: :data:`GRID_POINTS` evenly spaced doses over the tested
        range plus the tested doses, or the tested doses only for shapes without a curve
        between them, ``free`` and ``monotone``).
    hdi_prob : float
        Probability of the intervals of the per-draw MED.
    scale : {"outcome", "standardised"}
        Units of the contrast means in the curve (the probabilities do not depend on it).
    curve : bool
        If True, return the probability curve instead of the summary: one row per
        outcome, time and searched dose with columns outcome, time, dose, reference,
        mcid, mean (posterior mean contrast), prob_gt_mcid.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, reference, mcid, level, direction,
        med (the MED; NaN when none), found, prob_at_med (probability at the MED),
        max_prob (largest probability over the searched doses), dose_at_max_prob,
        doses_searched (description); then the per-draw MED: mean, sd, hdi_low,
        hdi_high (over draws that have one), median, q_low, q_high (over all draws, a
        draw without MED counted as beyond the searched doses), prob_not_reached (the
        fraction of draws where no searched dose exceeds the MCID).

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import minimum_effective_dose
    >>> minimum_effective_dose(fit.posterior_view, level=0.8, time=12)    # doctest: +SKIP
    """
    view = view_of(view)
    level = check_fraction(level, "level")
    check_fraction(hdi_prob, "hdi_prob")
    index, names = _names(view, outcome)
    thresholds = view.mcids(names, mcid)
    missing = [n for n, t in zip(names, thresholds, strict=True) if np.isnan(t)]
    if missing:
        raise EstimandError(f"mcid: outcome(s) {missing} have no MCID; declare one (outcome "
                            "metadata) or pass mcid=... .")
    reference = float(min(view.inputs.doses) if reference is None else reference)
    low, high = min(view.inputs.doses), max(view.inputs.doses)
    if doses is None:
        grid, dense = _dose_grid(view, low, high)
        searched = (f"{grid.size} doses from {low:g} to {high:g}" if dense
                    else "the tested doses")
    else:
        grid = np.unique(as_list(doses, [], "dose"))
        searched = "the doses given"
    times, _ = _times(view, time)
    draws = effect_draws(view, [*grid, reference], times, names, scale).to_numpy()
    diff = draws[..., :-1, :] - draws[..., -1:, :]  # (chain, draw, outcome, D, T)
    if scale == "standardised":
        sign = np.ones(len(names))
        thresholds = thresholds / view.inputs.scales.sd[index]
    else:
        sign = np.array([view.info(n).sign for n in names], dtype=float)
    better = diff * sign[:, None, None] > thresholds[:, None, None]
    prob = better.mean(axis=(0, 1))  # (outcome, D, T)
    if curve:
        mean = diff.mean(axis=(0, 1))
        return pd.DataFrame([
            {"outcome": name, "time": t, "dose": float(d), "reference": reference,
             "mcid": float(thresholds[k]), "mean": float(mean[k, d_i, t_i]),
             "prob_gt_mcid": float(prob[k, d_i, t_i])}
            for k, name in enumerate(names) for t_i, t in enumerate(times)
            for d_i, d in enumerate(grid)])
    any_draw = better.any(axis=3)
    first = np.argmax(better, axis=3)
    per_draw = np.where(any_draw, grid[first], np.inf)  # (chain, draw, outcome, T)
    rows = []
    for k, name in enumerate(names):
        for t_i, t in enumerate(times):
            curve_k = prob[k, :, t_i]
            qualifies = np.flatnonzero(curve_k >= level)
            found = qualifies.size > 0
            rows.append({
                "outcome": name, "time": t, "reference": reference,
                "mcid": float(thresholds[k]), "level": level,
                "direction": _direction(view, name, scale),
                "med": float(grid[qualifies[0]]) if found else np.nan, "found": found,
                "prob_at_med": float(curve_k[qualifies[0]]) if found else np.nan,
                "max_prob": float(curve_k.max()),
                "dose_at_max_prob": float(grid[np.argmax(curve_k)]),
                "doses_searched": searched,
                **_summary(per_draw[:, :, k, t_i], hdi_prob),
            })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- target dose
def target_dose(view: ViewLike, effect: float | dict[str, float], time: Any = None,
                outcome: Any = None, reference: float | None = None,
                hdi_prob: float = 0.95, scale: str = "outcome") -> pd.DataFrame:
    """The dose achieving a stated effect, per posterior draw, summarised.

    Per draw, the smallest dose d at or above the reference whose effect against the
    reference, (f(d) - f(reference)) g(t), reaches ``effect`` in the outcome's better
    direction (``effect = 10`` on a lower-is-better score asks for a 10-point
    reduction). Solved in closed form for ``emax``, ``sigmoid_emax``, ``linear``,
    ``log_linear`` and ``exponential`` (the solution may lie beyond the tested doses:
    an extrapolation, see ``prob_in_range``; a draw whose curve never reaches the
    effect, for example an Emax below it, is "not reached"); for other shapes the
    search runs over the tested range only (a grid of :data:`GRID_POINTS` doses, or
    linear interpolation between the tested doses for ``free`` and ``monotone``), and a
    draw not reaching the effect there is "not reached".

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    effect : float or dict
        Target effect, non-zero, positive = improvement: in outcome units (or baseline
        SDs with ``scale="standardised"``); one number or one per outcome.
    time : float or sequence, optional
        Times (default: the last visit).
    outcome : str or list of str, optional
        Outcomes (default: all fitted; with a dict ``effect``, its outcomes).
    reference : float, optional
        Reference dose (default: the effect against dose 0 as in
        :meth:`~bayesdose.results.fit.DoseResponseFit.effect`, or against the lowest tested dose
        for shapes that do not extrapolate to dose 0).
    hdi_prob : float
        Probability of the intervals.
    scale : {"outcome", "standardised"}
        Units of ``effect``.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, effect, direction, versus, method,
        mean, sd, hdi_low, hdi_high (dose, over the draws that reach the effect), median,
        q_low, q_high (over all draws), prob_below_range, prob_in_range (the dose lies
        within the tested doses), prob_beyond_range (above the highest tested dose or not
        reached), prob_not_reached.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import target_dose
    >>> target_dose(fit.posterior_view, effect=10, time=12, outcome="womac_pain")  # doctest: +SKIP
    """
    view = view_of(view)
    check_fraction(hdi_prob, "hdi_prob")
    if outcome is None and isinstance(effect, dict):
        outcome = list(effect)
    index, names = _names(view, outcome)
    targets = _per_outcome(effect, names, "effect")
    per_unit = np.abs(view.unit(scale)[index])  # outcome units per standardised unit
    tau = targets / per_unit  # standardised, direction-aligned
    times, elapsed = _times(view, time)
    shape, dscale = view.dose_shape, view.inputs.dose_scale
    low, high = min(dscale.tested), dscale.reference
    if reference is not None:
        reference = float(as_list(reference, [], "reference")[0])
        start = reference
    else:
        start = 0.0 if shape.extrapolates_to_zero else dscale.baseline_dose
    params, vectors = _params(view, index)
    g = _course(view, index, params, vectors, elapsed)  # (chain, draw, outcome, T)
    f_ref = _curve(view, index, params, vectors, [start])[..., 0]
    if isinstance(shape, _CLOSED_FORM_DOSE):
        with np.errstate(divide="ignore", invalid="ignore"):
            goal = f_ref[..., None] + tau[:, None] / g
        dose = _invert(shape, {k: v[..., None] for k, v in params.items()}, goal, dscale)
        dose = np.where(dose >= start * (1 - 1e-12), dose, np.inf)
        method = "closed form (may extrapolate beyond the tested doses)"
    else:
        nodes, dense = _dose_grid(view, start, high)
        f = _curve(view, index, params, vectors, nodes)
        contrast = (f - f_ref[..., None])[..., None, :] * g[..., None]  # (..., T, D)
        aligned = contrast * np.sign(tau)[:, None, None]
        level = np.broadcast_to(np.abs(tau)[:, None], contrast.shape[:-1])
        dose = _first_crossing(nodes, aligned, level)
        method = (f"first crossing on a grid of {nodes.size} doses up to {high:g}" if dense
                  else "linear interpolation between the tested doses")
    rows = []
    for k, name in enumerate(names):
        for t_i, t in enumerate(times):
            rows.append({"outcome": name, "time": t, "effect": float(targets[k]),
                         "direction": _direction(view, name, scale),
                         "versus": _versus(view, reference), "method": method,
                         **_summary(dose[:, :, k, t_i], hdi_prob, low, high)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- onset time
def _half_time(shape: TimeShape, view: PosteriorView, index: list[int],
               params: dict[str, np.ndarray], vectors: set[str]
               ) -> tuple[np.ndarray, str, str]:
    """Per-draw time since baseline to half the reference effect, definition, method."""
    tscale = view.inputs.time_scale
    last = tscale.reference
    if isinstance(shape, Exponential):
        return (shape.derived(params, tscale)["t_half"], "half the plateau effect",
                "closed form: t_half")
    if isinstance(shape, EmaxTime):
        return (shape.derived(params, tscale)["et50"], "half the plateau effect",
                "closed form: ET50")
    if isinstance(shape, Bateman):
        low = np.zeros_like(params["log_t_half"])
        high = shape.derived(params, tscale)["t_peak"]
        for _ in range(80):  # g rises from 0 to 1 on [0, t_peak]
            mid = (low + high) / 2
            below = shape.evaluate(mid, params, tscale, np) < 0.5
            low, high = np.where(below, mid, low), np.where(below, high, mid)
        return ((low + high) / 2, "half the peak effect (rising limb)",
                "numeric: bisection")
    if isinstance(shape, PiecewiseLinear):
        knots = shape.knot_times(tscale)
        nodes = np.array([0.0, *knots])
        values = _course(view, index, params, vectors, nodes)
        return (_first_crossing(nodes, values, np.full(values.shape[:-1], 0.5)),
                f"half the plateau effect (reached at the last knot, {knots[-1]:g})",
                "exact: piecewise linear between knots")
    try:
        shape.check_times(np.array([last / 2]), tscale)
        nodes = np.unique(np.concatenate([np.linspace(0.0, last, GRID_POINTS),
                                          tscale.visits]))
        method = f"numeric: first crossing on a grid of {nodes.size} times"
        values = _course(view, index, params, vectors, nodes)
    except EstimandError:  # defined at the visits only (free per-visit course)
        nodes = np.array([0.0, *tscale.visits])
        method = "linear interpolation between visits (no effect at baseline)"
        values = np.concatenate([np.zeros((*_lead(view, index), 1)),
                                 _course(view, index, params, vectors, tscale.visits)],
                                axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / values[..., -1:]
    return (_first_crossing(nodes, ratio, np.full(ratio.shape[:-1], 0.5)),
            f"half the effect at the last visit ({last:g} after baseline)", method)


def time_to_half_effect(view: ViewLike, dose: Any = None, outcome: Any = None,
                        hdi_prob: float = 0.95) -> pd.DataFrame:
    """Time after baseline at which the dose effect reaches half its maximal value.

    The maximal value is the plateau for ``exponential`` (closed form: t_half) and
    ``emax`` (closed form: ET50) time courses, the peak for ``bateman`` (numeric, on the
    rising limb), the value at the last knot for ``piecewise_linear`` (exact), and the
    value at the last visit for ``free`` (linear interpolation between visits, no effect
    at baseline) and registered courses (numeric on a grid up to the last visit). Where
    the time course crosses half its reference value more than once, the first time is
    reported. Column ``method`` says which applies.

    For an effect f(d) g(t) the answer does not depend on the dose (as long as the dose
    has an effect); ``dose`` only labels the rows.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    dose : float or sequence, optional
        Doses (default: the highest tested dose).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    hdi_prob : float
        Probability of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and dose: outcome, dose, definition, method, mean, sd,
        hdi_low, hdi_high (time since baseline, over draws that reach half the effect),
        median, q_low, q_high (over all draws), prob_beyond_follow_up (later than the last
        visit or never), prob_not_reached.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import time_to_half_effect
    >>> time_to_half_effect(fit.posterior_view, outcome="koos_pain")    # doctest: +SKIP
    """
    view = view_of(view)
    check_fraction(hdi_prob, "hdi_prob")
    index, names = _names(view, outcome)
    doses = as_list(dose, [view.inputs.dose_scale.reference], "dose")
    params, vectors = _params(view, index)
    f = _curve(view, index, params, vectors, doses)
    null = [d for j, d in enumerate(doses) if np.all(f[..., j] == 0)]
    if null:
        raise EstimandError(f"dose: dose(s) {null} have no effect by construction ("
                            f"effects are against {view.versus()}); ask for a higher dose.")
    half, definition, method = _half_time(view.time_shape, view, index, params, vectors)
    last = view.inputs.time_scale.reference
    rows = []
    for k, name in enumerate(names):
        stats = _summary(half[:, :, k], hdi_prob)
        reached_in_time = half[:, :, k] <= last * (1 + 1e-12)  # False for NaN and inf
        not_reached = stats.pop("prob_not_reached")
        stats.update(prob_beyond_follow_up=float(np.mean(~reached_in_time)),
                     prob_not_reached=not_reached)
        for d in doses:
            rows.append({"outcome": name, "dose": d, "definition": definition,
                         "method": method, **stats})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- monotonicity
def prob_increasing(view: ViewLike, time: Any = None, outcome: Any = None,
                    doses: Any = None, hdi_prob: float = 0.95,
                    scale: str = "outcome") -> pd.DataFrame:
    """Posterior probability that the response improves monotonically with dose.

    ``prob_increasing`` is P(every successive contrast between the doses, in ascending
    order, is an improvement in the outcome's better direction);
    ``prob_highest_better`` is P(the highest dose is better than the lowest). The
    contrast of the highest against the lowest dose is summarised as well.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    time : float or sequence, optional
        Times (default: the last visit).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    doses : sequence of float, optional
        At least two doses (default: the tested doses).
    hdi_prob : float
        Probability of the interval of the contrast.
    scale : {"outcome", "standardised"}
        Units of the contrast (the probabilities do not depend on it).

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, doses, lowest, highest, direction,
        prob_increasing, prob_highest_better, and mean, sd, hdi_low, hdi_high of the
        contrast highest minus lowest dose (outcome units, or standardised).

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import prob_increasing
    >>> prob_increasing(fit.posterior_view, time=12)    # doctest: +SKIP
    """
    view = view_of(view)
    check_fraction(hdi_prob, "hdi_prob")
    grid = np.unique(as_list(doses, view.inputs.doses, "dose"))
    if grid.size < 2:
        raise EstimandError(f"doses: give at least two distinct doses (got {doses!r}).")
    _, names = _names(view, outcome)
    times, _ = _times(view, time)
    draws = effect_draws(view, grid, times, names, scale).to_numpy()
    if scale == "standardised":
        sign = np.ones(len(names))
    else:
        sign = np.array([view.info(n).sign for n in names], dtype=float)
    aligned = draws * sign[:, None, None]
    steps = np.diff(aligned, axis=3)  # (chain, draw, outcome, D - 1, T)
    monotone = (steps > 0).all(axis=3).mean(axis=(0, 1))
    span = draws[..., -1, :] - draws[..., 0, :]  # (chain, draw, outcome, T)
    top = (span * sign[:, None] > 0).mean(axis=(0, 1))
    stats = summarise(span, hdi_prob)
    label = ", ".join(f"{d:g}" for d in grid)
    rows = []
    for k, name in enumerate(names):
        for t_i, t in enumerate(times):
            rows.append({"outcome": name, "time": t, "doses": label,
                         "lowest": float(grid[0]), "highest": float(grid[-1]),
                         "direction": _direction(view, name, scale),
                         "prob_increasing": float(monotone[k, t_i]),
                         "prob_highest_better": float(top[k, t_i]),
                         **{s: float(v[k, t_i]) for s, v in stats.items()}})
    return pd.DataFrame(rows)
