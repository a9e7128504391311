"""Dose estimands beyond contrasts: EDp, minimum effective dose, target dose, onset time
and monotonicity, as tidy tables.

Each function reads the posterior draws of the effect curve f(d) g(t) (f the dose shape, g
the time course) from a :class:`~bayesdose.results.posterior.PosteriorView` (a fit's
:attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`; a fit is accepted too), solves
the estimand per posterior draw (in closed form where the shape has one, otherwise on a
fine grid) and summarises the draws.

**Reached or not.** A dose or time estimand exists only in the draws in which the dose
effect is an improvement (in the outcome's better direction) and reaches the level asked
for: EDp needs an effect at the highest tested dose above 0 (a fraction of no effect, or
of a worsening, is no "effective" dose); a target dose, a minimum effective dose and the
time to half the effect likewise. The other draws are "not reached" (``inf``): they are
kept, never dropped, and counted in ``prob_not_reached``.

**Summaries of doses and times.** Doses and times are positive and heavy-tailed (under
the default priors the mean of ED50 does not exist), so they are summarised by
quantiles, never by a mean and SD:

- ``median``, ``ci_low``, ``ci_high``: the median and the credible interval (probability
  ``ci_prob``; equal-tailed by default, ``ci_kind="hdi"`` for the highest-density one)
  over *all* draws, a draw that is not reached counting as ``inf``, larger than any
  dose or time. The interval is open, ``ci_high = inf``, when more than
  ``(1 - ci_prob) / 2`` of the draws (``1 - ci_prob`` for the HDI) are not reached:
  read it as "beyond any dose"; the median is ``inf`` when half of them are;
- ``geo_mean``, ``geo_sd``: geometric mean and geometric SD (the exponentials of the
  mean and SD of the log dose or time) over the draws in which the estimand is reached
  (conditional on it being reached; NaN when it is reached in none);
- ``prob_not_reached``: the share of draws in which the estimand is not reached.

**Against the prior.** Where the view carries prior draws (a fit's ``prior`` group), every
estimand is computed on them too, and the table says how much the data narrowed it:
``prior_prob_not_reached`` (the prior's share of draws not reached),
``prior_width_ratio`` (width of the posterior interval over that of the prior interval,
on the log scale for doses and times, over the draws that reach them) and
``prior_dominated`` (ratio above
:data:`~bayesdose.results.posterior.PRIOR_DOMINATED_RATIO` = 0.9: the data narrowed the
interval by less than 10%, so the table mostly shows the prior). Both are NaN ("not
computable") without prior draws (:func:`bayesdose.results.posterior.compare_to_prior`).

The functions are also methods of the fit (``fit.effective_dose(...)`` and so on).
The draws of EDp themselves are :func:`effective_dose_draws` (what
:meth:`bayesdose.results.averaging.Comparison.average_effective_dose` averages over models).
"""

from __future__ import annotations

import warnings
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
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    credible_interval,
    interval_label,
    summarise,
)
from bayesdose.results.posterior import PosteriorView, ViewLike, compare_to_prior, view_of
from bayesdose.results.readouts import effect_draws

#: Number of evenly spaced doses (or times) of the grids searched numerically.
GRID_POINTS = 201

#: Default smallest step counted by ``prob_steps_gt_min`` of :func:`prob_increasing`, in
#: outcome SDs (standardised units).
MIN_STEP_SD = 0.1


_CLOSED_FORM_DOSE = (Linear, LogLinear, Emax, SigmoidEmax, ExponentialDose)


class ByConstructionWarning(UserWarning):
    """A probability that holds by construction of the model, not by the data.

    Raised by :func:`prob_increasing` on dose shapes that are monotone whatever the data.

    Examples
    --------
    >>> issubclass(ByConstructionWarning, UserWarning)
    True
    """


# ---------------------------------------------------------------------------- helpers
def check_fraction(value: Any, name: str) -> float:
    """A number strictly between 0 and 1, or :class:`EstimandError` naming ``name``.

    Examples
    --------
    >>> check_fraction(0.5, "p")
    0.5
    """
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


def _parameter_names(view: PosteriorView) -> list[str]:
    return [p.name for p in (*view.dose_shape.parameters(view.inputs.dose_scale),
                             *view.time_shape.parameters(view.inputs.time_scale))]


def _params(view: PosteriorView, index: list[int]) -> tuple[dict[str, np.ndarray], set[str]]:
    """Shape parameters as ``(chain, draw, outcome[, level])`` arrays, and the vectors."""
    post = view.posterior.isel(outcome=index)
    parameters = [*view.dose_shape.parameters(view.inputs.dose_scale),
                  *view.time_shape.parameters(view.inputs.time_scale)]
    values = {p.name: post[p.name].transpose("chain", "draw", "outcome", ...).to_numpy()
              for p in parameters}
    return values, {p.name for p in parameters if p.levels}


def _prior_view(view: PosteriorView) -> PosteriorView | None:
    """The view of the prior draws, when they hold every shape parameter of every outcome."""
    prior = view.prior_view()
    if prior is None:
        return None
    draws = prior.posterior
    if "outcome" not in draws.dims or [str(o) for o in draws["outcome"].values] \
            != view.outcomes or any(name not in draws for name in _parameter_names(view)):
        return None
    return prior


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
            vectors: set[str], elapsed: Sequence[float], dose: Any = None) -> np.ndarray:
    """Draws of g at times since baseline: (chain, draw, outcome, T). ``dose`` (a number,
    or per draw ``(chain, draw, outcome, 1)``) is the dose of a course whose onset varies
    with dose; dose-independent courses ignore it."""
    time_arr = np.asarray(elapsed, dtype=float)
    shape, scale = view.time_shape, view.inputs.time_scale
    shape.check_times(time_arr, scale)
    values = shape.evaluate_at(time_arr, dose, _on_axis(params, vectors), scale,
                               view.inputs.dose_scale, np)
    return np.broadcast_to(values, (*_lead(view, index), time_arr.size))


def _course_by_dose(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
                    vectors: set[str], elapsed: Sequence[float],
                    doses: Sequence[float]) -> np.ndarray:
    """Draws of g(d, t) at each dose and time since baseline: (chain, draw, outcome, D, T)."""
    time_arr, dose_arr = np.asarray(elapsed, dtype=float), np.asarray(doses, dtype=float)
    shape, scale = view.time_shape, view.inputs.time_scale
    shape.check_times(time_arr, scale)
    grid = {k: v[..., None, None, :] if k in vectors else v[..., None, None]
            for k, v in params.items()}
    values = shape.evaluate_at(time_arr, dose_arr[:, None], grid, scale,
                               view.inputs.dose_scale, np)
    return np.broadcast_to(values, (*_lead(view, index), dose_arr.size, time_arr.size))


def _origin(view: PosteriorView) -> float:
    """The dose the dose shape measures effects against: 0, or the lowest tested dose
    for shapes that do not extrapolate to dose 0 (``free``, ``monotone``)."""
    if view.dose_shape.extrapolates_to_zero:
        return 0.0
    return view.inputs.dose_scale.baseline_dose


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


def _not_reached_as_inf(draws: np.ndarray) -> np.ndarray:
    values = np.asarray(draws, dtype=float)
    return np.where(np.isnan(values), np.inf, values)


def _tail_interval(values: np.ndarray, ci_prob: float, ci_kind: str
                   ) -> tuple[float, float, float]:
    """Median and credible interval of 1-D draws in which ``inf`` = not reached, counted
    as larger than any value; a bound that falls on (or between a value and) a draw not
    reached is ``inf``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.inf, np.inf, np.inf
    top = float(finite.max())
    # a stand-in for inf, far enough above the draws that an interval holding it is
    # always wider than one that does not (and still finite for the arithmetic)
    stand_in = top + 10.0 * (top - float(finite.min()) + abs(top) + 1.0)
    filled = np.where(np.isfinite(values), values, stand_in)
    low, high = credible_interval(filled, ci_prob, ci_kind)
    median = np.quantile(filled, 0.5)
    return tuple(np.inf if v > top else float(v) for v in (median, low, high))


def _summary(draws: np.ndarray, ci_prob: float, ci_kind: str, low: float | None = None,
             high: float | None = None) -> dict[str, float]:
    """Summary of one dose or time estimand's draws (NaN and inf = not reached), see the
    module notes."""
    values = _not_reached_as_inf(draws).reshape(-1)
    median, ci_low, ci_high = _tail_interval(values, ci_prob, ci_kind)
    positive = values[np.isfinite(values) & (values > 0)]
    logs = np.log(positive)
    out = {"median": median, "ci_low": ci_low, "ci_high": ci_high,
           "geo_mean": float(np.exp(logs.mean())) if logs.size else np.nan,
           "geo_sd": float(np.exp(logs.std(ddof=1))) if logs.size > 1 else np.nan}
    if low is not None and high is not None:
        tol = 1e-9 * max(abs(high), 1.0)
        out["prob_below_range"] = float(np.mean(values < low - tol))
        out["prob_in_range"] = float(np.mean((values >= low - tol) & (values <= high + tol)))
        out["prob_beyond_range"] = float(np.mean(values > high + tol))
    out["prob_not_reached"] = float(np.mean(np.isinf(values)))
    return out


def _against_prior(posterior: np.ndarray, prior: np.ndarray | None, ci_prob: float,
                   ci_kind: str, dose_like: bool = True) -> dict[str, np.ndarray]:
    """Prior columns of every cell of ``(chain, draw, ...)`` draws: for dose and time
    estimands ``prior_prob_not_reached`` and the width ratio on the log scale."""
    if dose_like:
        posterior = _not_reached_as_inf(posterior)
        prior = None if prior is None else _not_reached_as_inf(prior)
    out: dict[str, np.ndarray] = {}
    if dose_like:
        trailing = np.shape(posterior)[2:]
        out["prior_prob_not_reached"] = (np.full(trailing, np.nan) if prior is None
                                         else np.isinf(prior).mean(axis=(0, 1)))
    out.update(compare_to_prior(posterior, prior, ci_prob, ci_kind, log=dose_like))
    return out


def _cell(columns: dict[str, np.ndarray], *index: int) -> dict[str, Any]:
    """One row's values of per-cell arrays, as plain Python numbers and booleans."""
    out = {}
    for name, values in columns.items():
        value = np.asarray(values, dtype=object)[index]
        out[name] = value if isinstance(value, bool) else float(value)
    return out


def _table(rows: list[dict[str, Any]], ci_prob: float, ci_kind: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.attrs["ci"] = interval_label(ci_prob, ci_kind)
    return frame


def _invert(shape: DoseShape, params: dict[str, np.ndarray], level: np.ndarray,
            scale: DoseScale) -> np.ndarray:
    """Closed-form smallest dose >= 0 with f(d) = ``level`` (standardised), per draw.

    ``params`` broadcast against ``level``; ``inf`` where f never reaches ``level``. The
    solution is that of the curve's own equation: the callers decide which draws reach
    an effective dose at all (:func:`effective_dose_draws`, :func:`target_dose`).
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
        else:  # f(d) = delta * u(d) / (u(ref) - u(low)): solve u(d) = r (u(ref) - u(low))
            r, low = level / params["delta"], scale.lowest
            if isinstance(shape, Linear):
                dose = r * (ref - low)
            elif isinstance(shape, LogLinear):
                off = shape.off(scale)
                dose = off * np.expm1(r * (np.log1p(ref / off) - np.log1p(low / off)))
            else:  # ExponentialDose: expm1(d / kappa) = r * (exp(ref / kappa) - exp(low / kappa))
                kappa = ref * np.exp(params["log_kappa"])
                x, x_low = ref / kappa, low / kappa
                dose = kappa * (x + np.log(np.exp(-x) + r * -np.expm1(x_low - x)))
            ok = r >= 0
        return np.where(ok & np.isfinite(dose), np.maximum(dose, 0.0), np.inf)


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
    if not np.all(np.isfinite(out)):
        raise EstimandError(f"{what} must be finite numbers (got {value!r}).")
    return out


def _targets(value: Any, names: list[str]) -> np.ndarray:
    out = _per_outcome(value, names, "effect")
    if np.any(out == 0):
        raise EstimandError(f"effect must be a finite, non-zero number (got {value!r}); "
                            "positive = an improvement in the outcome's better direction.")
    return out


def _thresholds(view: PosteriorView, value: Any, names: list[str], index: list[int],
                scale: str, what: str, default: np.ndarray) -> np.ndarray:
    """Non-negative per-outcome thresholds given in ``scale`` units, in standardised units
    (``default``, standardised, when ``value`` is None)."""
    per_unit = np.abs(view.unit(scale)[index])
    if value is None:
        return np.asarray(default, dtype=float)
    out = _per_outcome(value, names, what)
    if np.any(out < 0):
        raise EstimandError(f"{what} must be >= 0 (got {value!r}), in "
                            f"{'outcome SDs' if scale == 'standardised' else 'outcome units'}"
                            "; the outcome's direction decides which way is better.")
    return out / per_unit


# ---------------------------------------------------------------------------- EDp
def effective_dose(view: ViewLike, p: float = 0.5, time: Any = None,
                   outcome: Any = None, ci_prob: float = 0.95, ci_kind: str = "eti",
                   scale: str = "outcome", min_effect: Any = None) -> pd.DataFrame:
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

    **EDp exists only where the dose has an effective effect.** In a draw whose effect
    at the highest tested dose (at the time course's full effect: its plateau, peak or
    last visit) is not an improvement in the outcome's better direction, above
    ``min_effect`` (default 0), EDp is "not reached" (``inf``; counted in
    ``prob_not_reached``): a fraction of no effect, or of a worsening, is no effective
    dose. Without this, a trial with no effect would return an ED50 in every draw,
    namely the prior's. For Emax-type shapes the sign of the effect at the highest dose
    is that of Emax.

    For an effect f(d) g(t) the fraction of the maximal effect does not depend on the
    time, so EDp is the same at every time; ``time`` sets the time at which the effect
    reached at EDp (column ``effect_at_ed``) is read. With a time course whose onset
    varies with dose (``exponential_by_dose``, ``emax_by_dose``), EDp is that of f, the
    effect at the last visit; ``effect_at_ed`` follows the course of the EDp dose. For a
    dose reaching an effect at an earlier time, use :func:`target_dose`.

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
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    scale : {"outcome", "standardised"}
        Units of ``effect_at_ed`` and ``min_effect``: outcome units or the standardised,
        direction-aligned scale (outcome SDs).
    min_effect : float or dict, optional
        Smallest effect at the highest tested dose (>= 0, an improvement, in ``scale``
        units; one number or one per outcome) for EDp to count as reached (default 0:
        any improvement). For example the MCID: EDp of the draws in which the top dose
        is clinically effective.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, p, min_effect, definition, method,
        median, ci_low, ci_high (dose; over all draws, ``inf`` = not reached), geo_mean,
        geo_sd (over the draws where EDp is reached), prob_below_range (EDp below the
        lowest tested dose), prob_in_range, prob_beyond_range (above the highest tested
        dose or not reached), prob_not_reached, prior_prob_not_reached,
        prior_width_ratio, prior_dominated (see the module notes), effect_at_ed
        (posterior median, over the draws where EDp is reached, of the effect at EDp at
        ``time``: p x the maximal effect). ``attrs["ci"]`` names the interval.

    See Also
    --------
    effective_dose_draws : the per-draw EDp summarised here.
    bayesdose.results.averaging.Comparison.average_effective_dose : EDp averaged over models.

    Examples
    --------
    >>> import numpy as np, xarray as xr, bayesdose as bd
    >>> from bayesdose.results.dose_estimands import effective_dose
    >>> from bayesdose.results.posterior import PosteriorView
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> model = bd.DoseResponseModel()
    >>> prior = model.sample_prior_predictive(data, draws=200)["prior"].to_dataset()
    >>> view = PosteriorView.from_model(model, data, prior, prior=prior)
    >>> row = effective_dose(view, p=0.5).iloc[0]
    >>> bool(0.3 < row["prob_not_reached"] < 0.7)   # delta < 0 in about half the draws
    True
    >>> bool(row["prior_dominated"]), float(row["prior_width_ratio"])   # prior as posterior
    (True, 1.0)
    """
    view = view_of(view)
    p = check_fraction(p, "p")
    check_interval(ci_prob, ci_kind)
    ed = effective_dose_draws(view, p=p, outcome=outcome, min_effect=min_effect, scale=scale)
    index, names = _names(view, list(ed["outcome"].values))
    times, elapsed = _times(view, time)
    unit = view.unit(scale)[index]
    floors = ed.attrs["min_effect"]
    params, vectors = _params(view, index)
    maximal = _maximal_effect(view, index, params, vectors)
    values = ed.transpose("chain", "draw", "outcome").to_numpy()
    reached = np.isfinite(values)
    at_dose = np.where(reached, values, view.inputs.dose_scale.reference)[..., None]
    g = _course(view, index, params, vectors, elapsed, at_dose)  # (chain, draw, outcome, T)
    at_ed = np.where(reached[..., None], p * maximal[..., None] * g * unit[:, None], np.nan)
    prior = _prior_view(view)
    prior_ed = None if prior is None else effective_dose_draws(
        prior, p=p, outcome=names, min_effect=min_effect, scale=scale).to_numpy()
    versus = _against_prior(values, prior_ed, ci_prob, ci_kind)
    dscale = view.inputs.dose_scale
    low, high = min(dscale.tested), dscale.reference
    rows = []
    for k, name in enumerate(names):
        stats = _summary(values[:, :, k], ci_prob, ci_kind, low, high)
        for t_i, t in enumerate(times):
            effect = at_ed[:, :, k, t_i]
            rows.append({"outcome": name, "time": t, "p": p,
                         "min_effect": float(floors[k] * abs(unit[k])),
                         "definition": ed.attrs["definition"], "method": ed.attrs["method"],
                         **stats, **_cell(versus, k),
                         "effect_at_ed": float(np.nanmedian(effect)) if reached[:, :, k].any()
                         else np.nan})
    return _table(rows, ci_prob, ci_kind)


def _maximal_effect(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
                    vectors: set[str]) -> np.ndarray:
    """Per draw, the effect of which EDp gives the fraction p (standardised, aligned):
    Emax for Emax-type shapes, else the effect at the highest tested dose.
    Shape (chain, draw, outcome)."""
    shape, dscale = view.dose_shape, view.inputs.dose_scale
    if isinstance(shape, (Emax, SigmoidEmax)):
        return shape.derived(params, dscale)["emax"]
    return _top_effect(view, index, params, vectors)


def _top_effect(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
                vectors: set[str]) -> np.ndarray:
    """Per draw, the effect at the highest tested dose (standardised, aligned)."""
    return _curve(view, index, params, vectors, [view.inputs.dose_scale.reference])[..., 0]


def effective_dose_draws(view: ViewLike, p: float = 0.5, outcome: Any = None,
                         min_effect: Any = None, scale: str = "outcome") -> xr.DataArray:
    """EDp per posterior draw: the draws that :func:`effective_dose` summarises.

    EDp is defined as in :func:`effective_dose` (for Emax-type shapes the dose giving p x
    Emax; for other shapes the smallest dose giving p x the effect at the highest tested
    dose) and does not depend on the time. A draw whose effect at the highest tested
    dose is not an improvement above ``min_effect`` (default 0) has no EDp and is
    ``inf`` ("not reached"), as is one whose curve never reaches the fraction p.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    p : float
        Fraction of the maximal effect, in (0, 1) (0.5 for ED50).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    min_effect : float or dict, optional
        Smallest effect at the highest tested dose (>= 0, in ``scale`` units) for EDp to
        be reached (default 0: any improvement).
    scale : {"outcome", "standardised"}
        Units of ``min_effect``.

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, outcome: EDp in dose units, ``inf`` where not reached. Attributes
        ``p``, ``definition``, ``method`` (as the columns of :func:`effective_dose`) and
        ``min_effect`` (per outcome, standardised).

    Raises
    ------
    EstimandError
        When ``p`` is not in (0, 1), an outcome is not in the fit, ``min_effect`` is
        negative, or the dose shape is ``quadratic`` (EDp undefined).

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.results.dose_estimands import effective_dose_draws
    >>> from bayesdose.results.posterior import PosteriorView
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> model = bd.DoseResponseModel()
    >>> prior = model.sample_prior_predictive(data, draws=100)["prior"].to_dataset()
    >>> view = PosteriorView.from_model(model, data, prior)
    >>> ed50 = effective_dose_draws(view, p=0.5)
    >>> bool(((ed50 == float("inf")) == (prior["delta"] <= 0)).all())
    True
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
    floors = _thresholds(view, min_effect, names, index, scale, "min_effect",
                         np.zeros(len(names)))
    params, vectors = _params(view, index)
    maximal = _maximal_effect(view, index, params, vectors)
    effective = _top_effect(view, index, params, vectors) > floors
    low, high = min(dscale.tested), dscale.reference
    if isinstance(shape, (Emax, SigmoidEmax)):
        ed = _invert(shape, params, p * maximal, dscale)
        definition = ("dose at which f reaches p x Emax (the asymptote of the Emax curve; "
                      "ED50 = the model's ED50)")
        method = ("closed form: ED50 * p/(1-p)" if isinstance(shape, Emax)
                  else "closed form: ED50 * (p/(1-p))^(1/hill)")
    else:
        definition = (f"smallest dose at which the effect against "
                      f"{view.versus(_origin(view))} reaches p x its value at the highest "
                      f"tested dose ({high:g})")
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
    definition += ("; not reached where the effect at the highest tested dose is not an "
                   "improvement" + (" above min_effect" if np.any(floors > 0) else ""))
    ed = np.where(effective, _not_reached_as_inf(ed), np.inf)
    post = view.posterior
    return xr.DataArray(ed, dims=("chain", "draw", "outcome"),
                        coords={"chain": post["chain"].to_numpy(),
                                "draw": post["draw"].to_numpy(), "outcome": names},
                        name="effective_dose",
                        attrs={"p": p, "definition": definition, "method": method,
                               "min_effect": floors})


# ---------------------------------------------------------------------------- MED
def _med_better(view: PosteriorView, grid: np.ndarray, reference: float, times: list[float],
                names: list[str], thresholds: np.ndarray, scale: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """Contrasts of the searched doses against the reference, (chain, draw, outcome, D,
    T), and whether each improves on it by more than the MCID (``scale`` units)."""
    draws = effect_draws(view, [*grid, reference], times, names, scale).to_numpy()
    diff = draws[..., :-1, :] - draws[..., -1:, :]
    if scale == "standardised":
        sign = np.ones(len(names))
    else:
        sign = np.array([view.info(n).sign for n in names], dtype=float)
    return diff, diff * sign[:, None, None] > thresholds[:, None, None]


def _first_dose(better: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per draw, the smallest searched dose that is better (``inf`` when none)."""
    return np.where(better.any(axis=3), grid[np.argmax(better, axis=3)], np.inf)


def minimum_effective_dose(view: ViewLike, mcid: float | dict[str, float] | None = None,
                           level: float = 0.8, time: Any = None,
                           reference: float | None = None, outcome: Any = None,
                           doses: Any = None, ci_prob: float = 0.95, ci_kind: str = "eti",
                           scale: str = "outcome", curve: bool = False) -> pd.DataFrame:
    """Minimum effective dose: the smallest dose whose improvement over the reference
    exceeds the MCID with posterior probability at least ``level``.

    For each searched dose d the posterior probability
    P(contrast(d vs reference) > MCID in the outcome's better direction) is computed, as
    ``prob_gt_mcid`` of :meth:`~bayesdose.results.fit.DoseResponseFit.contrast`; the MED is the
    smallest searched dose where it reaches ``level``. When no dose qualifies, ``med`` is
    NaN and ``found`` is False.

    A second summary is the posterior distribution of the per-draw MED: in each draw,
    the smallest searched dose whose contrast is an improvement larger than the MCID
    (not reached, ``inf``, when none is). It differs from the MED, which applies
    ``level`` to the probability curve. It is summarised as the other dose estimands
    (module notes): median and interval over all draws, geometric mean and SD over the
    draws that have one, and against the same on the prior draws.

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
    ci_prob : float
        Probability of the credible interval of the per-draw MED.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
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
        doses_searched (description); then the per-draw MED: median, ci_low, ci_high
        (over all draws, a draw without MED counted as ``inf``, beyond the searched
        doses), geo_mean, geo_sd (over the draws that have one), prob_not_reached (the
        fraction of draws where no searched dose exceeds the MCID),
        prior_prob_not_reached, prior_width_ratio, prior_dominated.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import minimum_effective_dose
    >>> minimum_effective_dose(fit.posterior_view, level=0.8, time=12)    # doctest: +SKIP
    """
    view = view_of(view)
    level = check_fraction(level, "level")
    check_interval(ci_prob, ci_kind)
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
    if scale == "standardised":
        thresholds = thresholds / view.inputs.scales.sd[index]
    diff, better = _med_better(view, grid, reference, times, names, thresholds, scale)
    prob = better.mean(axis=(0, 1))  # (outcome, D, T)
    if curve:
        mean = diff.mean(axis=(0, 1))
        return pd.DataFrame([
            {"outcome": name, "time": t, "dose": float(d), "reference": reference,
             "mcid": float(thresholds[k]), "mean": float(mean[k, d_i, t_i]),
             "prob_gt_mcid": float(prob[k, d_i, t_i])}
            for k, name in enumerate(names) for t_i, t in enumerate(times)
            for d_i, d in enumerate(grid)])
    per_draw = _first_dose(better, grid)  # (chain, draw, outcome, T)
    prior = _prior_view(view)
    prior_draws = None if prior is None else _first_dose(
        _med_better(prior, grid, reference, times, names, thresholds, scale)[1], grid)
    versus = _against_prior(per_draw, prior_draws, ci_prob, ci_kind)
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
                **_summary(per_draw[:, :, k, t_i], ci_prob, ci_kind), **_cell(versus, k, t_i),
            })
    return _table(rows, ci_prob, ci_kind)


# ---------------------------------------------------------------------------- target dose
def _target_draws(view: PosteriorView, index: list[int], tau: np.ndarray,
                  elapsed: np.ndarray, start: float) -> tuple[np.ndarray, str]:
    """Per draw the smallest dose >= ``start`` whose effect against ``start`` reaches the
    standardised, direction-aligned targets ``tau``: (chain, draw, outcome, T), method."""
    shape, dscale = view.dose_shape, view.inputs.dose_scale
    high = dscale.reference
    params, vectors = _params(view, index)
    if view.time_shape.dose_dependent:
        return _target_draws_by_dose(view, index, params, vectors, tau, elapsed, start)
    g = _course(view, index, params, vectors, elapsed)  # (chain, draw, outcome, T)
    f_ref = _curve(view, index, params, vectors, [start])[..., 0]
    if isinstance(shape, _CLOSED_FORM_DOSE):
        with np.errstate(divide="ignore", invalid="ignore"):
            goal = f_ref[..., None] + tau[:, None] / g
        dose = _invert(shape, {k: v[..., None] for k, v in params.items()}, goal, dscale)
        dose = np.where(dose >= start * (1 - 1e-12), dose, np.inf)
        return dose, "closed form (may extrapolate beyond the tested doses)"
    nodes, dense = _dose_grid(view, start, high)
    f = _curve(view, index, params, vectors, nodes)
    contrast = (f - f_ref[..., None])[..., None, :] * g[..., None]  # (..., T, D)
    aligned = contrast * np.sign(tau)[:, None, None]
    level = np.broadcast_to(np.abs(tau)[:, None], contrast.shape[:-1])
    dose = _first_crossing(nodes, aligned, level)
    return dose, (f"first crossing on a grid of {nodes.size} doses up to {high:g}" if dense
                  else "linear interpolation between the tested doses")


def _target_draws_by_dose(view: PosteriorView, index: list[int],
                          params: dict[str, np.ndarray], vectors: set[str], tau: np.ndarray,
                          elapsed: np.ndarray, start: float) -> tuple[np.ndarray, str]:
    """:func:`_target_draws` for a course whose onset varies with dose: the contrast
    f(d) g(d, t) - f(start) g(start, t) has no closed-form inverse, so it is searched over
    the tested range."""
    high = view.inputs.dose_scale.reference
    nodes, dense = _dose_grid(view, start, high)
    f = _curve(view, index, params, vectors, nodes)  # (chain, draw, outcome, D)
    g = _course_by_dose(view, index, params, vectors, elapsed, nodes)  # (..., D, T)
    f_ref = _curve(view, index, params, vectors, [start])  # (..., 1)
    g_ref = _course_by_dose(view, index, params, vectors, elapsed, [start])[..., 0, :]
    effect = np.swapaxes(f[..., :, None] * g, -1, -2)  # (chain, draw, outcome, T, D)
    contrast = effect - (f_ref * g_ref)[..., None]
    aligned = contrast * np.sign(tau)[:, None, None]
    level = np.broadcast_to(np.abs(tau)[:, None], contrast.shape[:-1])
    dose = _first_crossing(nodes, aligned, level)
    return dose, ((f"first crossing on a grid of {nodes.size} doses up to {high:g}" if dense
                   else "linear interpolation between the tested doses")
                  + " (the onset varies with dose: no closed form)")


def target_dose(view: ViewLike, effect: float | dict[str, float], time: Any = None,
                outcome: Any = None, reference: float | None = None,
                ci_prob: float = 0.95, ci_kind: str = "eti",
                scale: str = "outcome") -> pd.DataFrame:
    """The dose achieving a stated effect, per posterior draw, summarised.

    Per draw, the smallest dose d at or above the reference whose effect against the
    reference, (f(d) - f(reference)) g(t), reaches ``effect`` in the outcome's better
    direction (``effect = 10`` on a lower-is-better score asks for a 10-point
    reduction). A draw in which the effect is not an improvement, or never as large as
    ``effect``, does not reach it ("not reached", ``inf``; for example an Emax curve
    whose asymptote is below the target). With a time course whose onset varies with
    dose the effect is f(d) g(d, t) - f(reference) g(reference, t), searched over the
    tested range whatever the dose shape. A negative ``effect`` asks for the smallest
    dose at which the outcome is worse by at least its size. Solved in closed form for
    ``emax``, ``sigmoid_emax``, ``linear``, ``log_linear`` and ``exponential`` (the
    solution may lie beyond the tested doses: an extrapolation, see ``prob_in_range``);
    for other shapes the search runs over the tested range only (a grid of
    :data:`GRID_POINTS` doses, or linear interpolation between the tested doses for
    ``free`` and ``monotone``), and a draw not reaching the effect there is "not
    reached".

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    effect : float or dict
        Target effect, non-zero, positive = improvement: in outcome units (or outcome
        SDs with ``scale="standardised"``); one number or one per outcome.
    time : float or sequence, optional
        Times (default: the last visit).
    outcome : str or list of str, optional
        Outcomes (default: all fitted; with a dict ``effect``, its outcomes).
    reference : float, optional
        Reference dose (default: the lowest tested dose, placebo when tested; pass
        ``reference=0`` for effects against dose 0 extrapolated by the dose shape).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    scale : {"outcome", "standardised"}
        Units of ``effect``.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, effect, direction, versus, method,
        median, ci_low, ci_high (dose; over all draws, ``inf`` = not reached), geo_mean,
        geo_sd (over the draws that reach the effect), prob_below_range, prob_in_range
        (the dose lies within the tested doses), prob_beyond_range (above the highest
        tested dose or not reached), prob_not_reached, prior_prob_not_reached,
        prior_width_ratio, prior_dominated.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import target_dose
    >>> target_dose(fit.posterior_view, effect=10, time=12, outcome="womac_pain")  # doctest: +SKIP
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    if outcome is None and isinstance(effect, dict):
        outcome = list(effect)
    index, names = _names(view, outcome)
    targets = _targets(effect, names)
    per_unit = np.abs(view.unit(scale)[index])  # outcome units per standardised unit
    tau = targets / per_unit  # standardised, direction-aligned
    times, elapsed = _times(view, time)
    dscale = view.inputs.dose_scale
    low, high = min(dscale.tested), dscale.reference
    start = low if reference is None else float(as_list(reference, [], "reference")[0])
    dose, method = _target_draws(view, index, tau, elapsed, start)
    prior = _prior_view(view)
    prior_dose = None if prior is None else _target_draws(prior, index, tau, elapsed, start)[0]
    versus = _against_prior(dose, prior_dose, ci_prob, ci_kind)
    rows = []
    for k, name in enumerate(names):
        for t_i, t in enumerate(times):
            rows.append({"outcome": name, "time": t, "effect": float(targets[k]),
                         "direction": _direction(view, name, scale),
                         "versus": view.versus(start), "method": method,
                         **_summary(dose[:, :, k, t_i], ci_prob, ci_kind, low, high),
                         **_cell(versus, k, t_i)})
    return _table(rows, ci_prob, ci_kind)


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


def _half_draws(view: PosteriorView, index: list[int], doses: list[float]
                ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Per draw and dose the time to half the effect, ``inf`` where the dose's effect is
    not an improvement: (chain, draw, outcome, D); the effects f(d); definition; method."""
    params, vectors = _params(view, index)
    f = _curve(view, index, params, vectors, doses)
    if view.time_shape.dose_dependent:
        half, definition, method = _half_time_by_dose(view, index, params, vectors, doses)
    else:
        half, definition, method = _half_time(view.time_shape, view, index, params, vectors)
        half = half[..., None]
    half = _not_reached_as_inf(half)
    return np.where(f > 0, half, np.inf), f, definition, method


def _half_time_by_dose(view: PosteriorView, index: list[int], params: dict[str, np.ndarray],
                       vectors: set[str], doses: list[float]
                       ) -> tuple[np.ndarray, str, str]:
    """Per draw and dose, the time to half the effect of a course whose onset varies with
    dose: (chain, draw, outcome, D), definition, method."""
    shape, tscale = view.time_shape, view.inputs.time_scale
    dscale = view.inputs.dose_scale
    if callable(getattr(shape, "half_time", None)):  # closed form: t_half(d) or ET50(d)
        half = shape.half_time(_on_axis(params, vectors), tscale, np.asarray(doses, float),
                               dscale)
        return (np.broadcast_to(half, (*_lead(view, index), len(doses))),
                "half the plateau effect of the dose", "closed form: t_half(d) or ET50(d)")
    last = tscale.reference
    nodes = np.unique(np.concatenate([np.linspace(0.0, last, GRID_POINTS), tscale.visits]))
    values = _course_by_dose(view, index, params, vectors, nodes, doses)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / values[..., -1:]
    return (_first_crossing(nodes, ratio, np.full(ratio.shape[:-1], 0.5)),
            f"half the effect of the dose at the last visit ({last:g} after baseline)",
            f"numeric: first crossing on a grid of {nodes.size} times")


def time_to_half_effect(view: ViewLike, dose: Any = None, outcome: Any = None,
                        ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
    """Time after baseline at which the dose effect reaches half its maximal value.

    The maximal value is the plateau for ``exponential`` (closed form: t_half) and
    ``emax`` (closed form: ET50) time courses, the peak for ``bateman`` (numeric, on the
    rising limb), the value at the last knot for ``piecewise_linear`` (exact), and the
    value at the last visit for ``free`` (linear interpolation between visits, no effect
    at baseline) and registered courses (numeric on a grid up to the last visit). Where
    the time course crosses half its reference value more than once, the first time is
    reported. Column ``method`` says which applies.

    The time exists only in the draws in which the dose has an effect that is an
    improvement (f(d) > 0 in the outcome's better direction, against dose 0, or the
    lowest tested dose for ``free`` and ``monotone``): in the others there is no effect
    to reach half of, and the time is "not reached" (``inf``). For an effect f(d) g(t)
    the time itself does not depend on the dose, but which draws have an effect does,
    so each dose has its own row. For a course whose onset varies with dose
    (``exponential_by_dose``, ``emax_by_dose``) the time is the dose's own half-time,
    t_half(d) or ET50(d), in closed form.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws (of a fit: its :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`).
    dose : float or sequence, optional
        Doses (default: the highest tested dose).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    ci_prob : float
        Probability of the credible interval.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and dose: outcome, dose, definition, method, median, ci_low,
        ci_high (time since baseline; over all draws, ``inf`` = not reached), geo_mean,
        geo_sd (over the draws that reach half the effect), prob_beyond_follow_up (later
        than the last visit or never), prob_not_reached, prior_prob_not_reached,
        prior_width_ratio, prior_dominated.

    Examples
    --------
    >>> from bayesdose.results.dose_estimands import time_to_half_effect
    >>> time_to_half_effect(fit.posterior_view, outcome="koos_pain")    # doctest: +SKIP
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    index, names = _names(view, outcome)
    doses = as_list(dose, [view.inputs.dose_scale.reference], "dose")
    half, f, definition, method = _half_draws(view, index, doses)
    null = [d for j, d in enumerate(doses) if np.all(f[..., j] == 0)]
    if null:
        raise EstimandError(f"dose: dose(s) {null} have no effect by construction ("
                            f"effects are against {view.versus(_origin(view))}); ask for a "
                            "higher dose.")
    prior = _prior_view(view)
    prior_half = None if prior is None else _half_draws(prior, index, doses)[0]
    versus = _against_prior(half, prior_half, ci_prob, ci_kind)
    last = view.inputs.time_scale.reference
    definition += "; not reached where the dose's effect is not an improvement"
    rows = []
    for k, name in enumerate(names):
        for j, d in enumerate(doses):
            stats = _summary(half[:, :, k, j], ci_prob, ci_kind)
            reached_in_time = half[:, :, k, j] <= last * (1 + 1e-12)  # False for inf
            not_reached = stats.pop("prob_not_reached")
            stats.update(prob_beyond_follow_up=float(np.mean(~reached_in_time)),
                         prob_not_reached=not_reached)
            rows.append({"outcome": name, "dose": d, "definition": definition,
                         "method": method, **stats, **_cell(versus, k, j)})
    return _table(rows, ci_prob, ci_kind)


# ---------------------------------------------------------------------------- monotonicity
def _steps(view: PosteriorView, grid: np.ndarray, times: list[float], names: list[str],
           scale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Effect draws at the doses, their aligned steps (chain, draw, outcome, D - 1, T),
    and the signs aligning them."""
    draws = effect_draws(view, grid, times, names, scale).to_numpy()
    if scale == "standardised":
        sign = np.ones(len(names))
    else:
        sign = np.array([view.info(n).sign for n in names], dtype=float)
    return draws, np.diff(draws * sign[:, None, None], axis=3), sign


def _step_probabilities(steps: np.ndarray, floors: np.ndarray) -> tuple[np.ndarray, ...]:
    """P(every step improves), P(every step improves by more than the floor)."""
    return ((steps > 0).all(axis=3).mean(axis=(0, 1)),
            (steps > floors[:, None, None]).all(axis=3).mean(axis=(0, 1)))


def prob_increasing(view: ViewLike, time: Any = None, outcome: Any = None,
                    doses: Any = None, ci_prob: float = 0.95, ci_kind: str = "eti",
                    scale: str = "outcome", min_step: Any = None) -> pd.DataFrame:
    """Posterior probability that the response improves monotonically with dose.

    ``prob_increasing`` is P(every successive contrast between the doses, in ascending
    order, is an improvement in the outcome's better direction);
    ``prob_highest_better`` is P(the highest dose is better than the lowest);
    ``prob_steps_gt_min`` is P(every successive step improves by more than
    ``min_step``, default 0.1 outcome SDs). The contrast of the highest against the
    lowest dose is summarised as well, against the prior where the view has prior
    draws (``prior_width_ratio``, ``prior_dominated``, and the prior's
    ``prior_prob_increasing`` and ``prior_prob_steps_gt_min``).

    **Shapes monotone by construction.** ``linear``, ``log_linear``, ``emax``,
    ``sigmoid_emax`` and ``exponential`` curves are monotone in dose whatever the data
    (only their direction, the sign of ``delta``, is learnt), and ``monotone`` fixes
    even the direction: its increments are >= 0, so every step is an improvement (or,
    ``direction="decreasing"``, a worsening) in every draw. On these shapes
    ``prob_increasing`` is no evidence that the response rises with dose: it equals
    ``prob_highest_better`` (1 or 0 for ``monotone``). The table still gives it, so
    that tables of different shapes line up, with column ``by_construction`` True and a
    ``note`` saying what it is, and a :class:`ByConstructionWarning` is issued; refusing
    would also withhold ``prob_highest_better``, ``prob_steps_gt_min`` and the contrast,
    which do depend on the data. To learn whether the response is monotone, fit the
    ``free`` dose shape, on which ``by_construction`` is False.

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
    ci_prob : float
        Probability of the interval of the contrast.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.
    scale : {"outcome", "standardised"}
        Units of the contrast and of ``min_step`` (the probabilities do not depend on
        it).
    min_step : float or dict, optional
        Smallest improvement per dose step counted by ``prob_steps_gt_min`` (>= 0, in
        ``scale`` units; one number or one per outcome; default
        :data:`MIN_STEP_SD` = 0.1 outcome SDs).

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time: outcome, time, doses, lowest, highest, direction,
        by_construction, note, prob_increasing, prob_highest_better, min_step (in
        ``scale`` units), prob_steps_gt_min, prior_prob_increasing,
        prior_prob_steps_gt_min (NaN without prior draws), and mean, sd, median, ci_low,
        ci_high, prior_width_ratio, prior_dominated of the contrast highest minus lowest
        dose (outcome units, or standardised).

    Warns
    -----
    ByConstructionWarning
        When the dose shape is monotone by construction.

    Examples
    --------
    >>> import warnings, bayesdose as bd
    >>> from bayesdose.results.dose_estimands import prob_increasing
    >>> from bayesdose.results.posterior import PosteriorView
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> model = bd.DoseResponseModel(dose_shape="emax")
    >>> prior = model.sample_prior_predictive(data, draws=100)["prior"].to_dataset()
    >>> view = PosteriorView.from_model(model, data, prior)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     row = prob_increasing(view).iloc[0]
    >>> bool(row["by_construction"]), bool(row["prob_increasing"] == row["prob_highest_better"])
    (True, True)
    >>> caught[0].category.__name__
    'ByConstructionWarning'
    """
    view = view_of(view)
    check_interval(ci_prob, ci_kind)
    grid = np.unique(as_list(doses, view.inputs.doses, "dose"))
    if grid.size < 2:
        raise EstimandError(f"doses: give at least two distinct doses (got {doses!r}).")
    index, names = _names(view, outcome)
    times, _ = _times(view, time)
    per_unit = np.abs(view.unit(scale)[index])
    floors = _thresholds(view, min_step, names, index, scale, "min_step",
                         np.full(len(names), MIN_STEP_SD)) * per_unit  # scale units
    draws, steps, sign = _steps(view, grid, times, names, scale)
    monotone, above = _step_probabilities(steps, floors)
    span = draws[..., -1, :] - draws[..., 0, :]  # (chain, draw, outcome, T)
    top = (span * sign[:, None] > 0).mean(axis=(0, 1))
    prior = _prior_view(view)
    if prior is None:
        prior_span = None
        prior_monotone = prior_above = np.full(monotone.shape, np.nan)
    else:
        prior_draws, prior_steps, _ = _steps(prior, grid, times, names, scale)
        prior_span = prior_draws[..., -1, :] - prior_draws[..., 0, :]
        prior_monotone, prior_above = _step_probabilities(prior_steps, floors)
    stats = {**summarise(span, ci_prob, ci_kind),
             **_against_prior(span, prior_span, ci_prob, ci_kind, dose_like=False)}
    by_construction = view.monotone_by_construction
    note = _construction_note(view) if by_construction else ""
    if by_construction:
        warnings.warn(ByConstructionWarning(note), stacklevel=2)
    label = ", ".join(f"{d:g}" for d in grid)
    rows = []
    for k, name in enumerate(names):
        for t_i, t in enumerate(times):
            rows.append({"outcome": name, "time": t, "doses": label,
                         "lowest": float(grid[0]), "highest": float(grid[-1]),
                         "direction": _direction(view, name, scale),
                         "by_construction": by_construction, "note": note,
                         "prob_increasing": float(monotone[k, t_i]),
                         "prob_highest_better": float(top[k, t_i]),
                         "min_step": float(floors[k]),
                         "prob_steps_gt_min": float(above[k, t_i]),
                         "prior_prob_increasing": float(prior_monotone[k, t_i]),
                         "prior_prob_steps_gt_min": float(prior_above[k, t_i]),
                         **_cell(stats, k, t_i)})
    return _table(rows, ci_prob, ci_kind)


def _construction_note(view: PosteriorView) -> str:
    name = view.dose_shape.name
    direction = view.direction_by_construction
    if direction is not None:
        return (f"the '{name}' dose shape ({direction}) has non-negative increments: "
                f"prob_increasing is {1 if direction == 'increasing' else 0} by "
                "construction, not evidence of a monotone response; see "
                "prob_steps_gt_min, or fit the 'free' dose shape")
    return (f"the '{name}' dose shape is monotone in dose by construction: "
            "prob_increasing equals prob_highest_better (the probability that the dose "
            "effect is an improvement), not evidence of a monotone response; fit the "
            "'free' dose shape to test monotonicity")


# ---------------------------------------------------------------------------- shared helpers
#: Helpers that the arm-level read-outs (:mod:`bayesdose.results.arm_estimands`) share,
#: under public names: the closed-form inverse of a dose shape, the first crossing of a
#: piecewise-linear curve, and the summary of a dose estimand's draws.
invert_dose = _invert
first_crossing = _first_crossing
summarise_dose_draws = _summary
