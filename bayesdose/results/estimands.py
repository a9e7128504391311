"""Estimands from posterior draws: dose effects and contrasts as tidy tables.

Everything here is a plain function of NumPy/xarray draws, so it is tested on posteriors
whose answer is known in closed form. The read-outs of a posterior view
(:mod:`bayesdose.results.readouts`, :mod:`bayesdose.results.dose_estimands`) call these
with the view's draws, shapes and scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.shapes import DoseScale, DoseShape
from bayesdose.components.timecourses import TimeScale, TimeShape
from bayesdose.errors import EstimandError


def hdi(samples: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval along the last axis (the shortest interval holding prob).

    Parameters
    ----------
    samples : numpy.ndarray
        Draws on the last axis.
    prob : float
        Interval probability in (0, 1).

    Returns
    -------
    (low, high) : tuple of numpy.ndarray

    Examples
    --------
    >>> low, high = hdi(np.arange(101.0), 0.9)
    >>> float(high - low)
    90.0
    """
    check_interval(prob, "hdi")
    ordered = np.sort(samples, axis=-1)
    n = ordered.shape[-1]
    width = int(np.floor(prob * n))
    if width < 1 or width >= n:
        return ordered[..., 0], ordered[..., -1]
    widths = ordered[..., width:] - ordered[..., : n - width]
    start = np.argmin(widths, axis=-1)[..., None]
    low = np.take_along_axis(ordered, start, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, start + width, axis=-1)[..., 0]
    return low, high


#: The kinds of credible interval: equal-tailed (the default) and highest-density.
CI_KINDS = {"eti": "equal-tailed", "hdi": "highest-density"}


def check_interval(prob: Any, kind: str = "eti") -> float:
    """Check an interval's probability and kind; the probability as a float.

    Examples
    --------
    >>> check_interval(0.9, "hdi")
    0.9
    """
    if not isinstance(kind, str) or kind not in CI_KINDS:
        raise EstimandError(f"ci_kind must be 'eti' (equal-tailed interval) or 'hdi' "
                            f"(highest-density interval) (got {kind!r}).")
    if isinstance(prob, bool) or not isinstance(prob, (int, float, np.integer, np.floating)) \
            or not 0 < prob < 1:
        raise EstimandError(f"ci_prob must be a number between 0 and 1 (got {prob!r}).")
    return float(prob)


def credible_interval(samples: np.ndarray, prob: float, kind: str = "eti",
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Credible interval of draws along the last axis: the one rule every read-out uses.

    Parameters
    ----------
    samples : numpy.ndarray
        Draws on the last axis.
    prob : float
        Interval probability in (0, 1).
    kind : {"eti", "hdi"}
        ``"eti"``: equal-tailed, from the ``(1 - prob) / 2`` to the ``(1 + prob) / 2``
        quantile (:func:`numpy.quantile`, linear interpolation between draws; ArviZ's
        default); ``"hdi"``: highest-density, the shortest interval holding ``prob`` of
        the draws (:func:`hdi`).

    Returns
    -------
    (low, high) : tuple of numpy.ndarray

    Examples
    --------
    >>> low, high = credible_interval(np.arange(101.0), 0.9)
    >>> round(float(low), 9), round(float(high), 9)
    (5.0, 95.0)
    >>> low, high = credible_interval(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 50]), 0.8, "hdi")
    >>> float(low), float(high)
    (0.0, 8.0)
    """
    prob = check_interval(prob, kind)
    samples = np.asarray(samples, dtype=float)
    if kind == "hdi":
        return hdi(samples, prob)
    tail = (1.0 - prob) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=-1)
    return low, high


def interval_label(prob: float, kind: str = "eti") -> str:
    """A short name of an interval, as tables state it (``attrs["ci"]``).

    Examples
    --------
    >>> interval_label(0.95), interval_label(0.9, "hdi")
    ('eti 95%', 'hdi 90%')
    """
    return f"{kind} {prob * 100:g}%"


def interval_text(prob: float, kind: str = "eti") -> str:
    """The interval in words, for figure legends and reports.

    Examples
    --------
    >>> interval_text(0.95), interval_text(0.9, "hdi")
    ('95% equal-tailed interval', '90% highest-density interval')
    """
    return f"{prob * 100:g}% {CI_KINDS.get(kind, kind)} interval"


def shape_parameters(posterior: xr.Dataset, names: Sequence[str],
                     vector_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Draws of the shape parameters arranged for evaluation on a (dose, time) grid.

    Scalars become ``(chain, draw, outcome, 1, 1)``; vectors (levels last) become
    ``(chain, draw, outcome, 1, 1, level)``.
    """
    out = {}
    for name in names:
        values = posterior[name].transpose("chain", "draw", "outcome", ...).to_numpy()
        if name in vector_names:
            out[name] = values[:, :, :, None, None, :]
        else:
            out[name] = values[:, :, :, None, None]
    return out


def effect_draws(
    posterior: xr.Dataset,
    dose_shape: DoseShape,
    time_shape: TimeShape,
    dose_scale: DoseScale,
    time_scale: TimeScale,
    doses: Sequence[float],
    elapsed: Sequence[float],
    unit: np.ndarray,
) -> np.ndarray:
    """Draws of the dose effect f(d) g(t) on a dose x time grid.

    For a time course whose onset varies with dose (``time_shape.dose_dependent``) the
    effect is f(d) g(d, t), each dose with its own course.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior (or prior) draws with the shape parameters, dims chain, draw, outcome.
    dose_shape, time_shape : DoseShape, TimeShape
        The model's shapes.
    dose_scale, time_scale : DoseScale, TimeScale
        The fit's dose and time constants.
    doses : sequence of float
        Doses (user units).
    elapsed : sequence of float
        Times since baseline (user units).
    unit : numpy.ndarray
        Per outcome, the factor from the standardised scale to the reported scale
        (``sd * sign`` for outcome units, ones for the standardised scale).

    Returns
    -------
    numpy.ndarray
        Shape ``(chain, draw, outcome, dose, time)``.
    """
    dose_arr = np.asarray(doses, dtype=float)
    time_arr = np.asarray(elapsed, dtype=float)
    dose_shape.check_doses(dose_arr, dose_scale)
    time_shape.check_times(time_arr, time_scale)
    dose_names = [p.name for p in dose_shape.parameters(dose_scale)]
    time_names = [p.name for p in time_shape.parameters(time_scale)]
    vectors = [p.name for p in (*dose_shape.parameters(dose_scale),
                                *time_shape.parameters(time_scale)) if p.levels]
    params = shape_parameters(posterior, dose_names + time_names, vectors)
    f = dose_shape.evaluate(dose_arr[:, None], params, dose_scale, np)
    g = time_shape.evaluate_at(time_arr, dose_arr[:, None], params, time_scale, dose_scale, np)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    n_out = posterior.sizes["outcome"]
    grid = np.broadcast_to(f * g, (n_chain, n_draw, n_out, dose_arr.size, time_arr.size))
    return grid * np.asarray(unit, dtype=float)[:, None, None]


def summarise(draws: np.ndarray, ci_prob: float, ci_kind: str = "eti",
              ) -> dict[str, np.ndarray]:
    """Mean, SD, median and credible interval over the leading (chain, draw) axes.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws with the chains and draws on the first two axes.
    ci_prob : float
        Probability of the interval, in (0, 1).
    ci_kind : {"eti", "hdi"}
        Equal-tailed or highest-density interval (see :func:`credible_interval`).

    Returns
    -------
    dict
        ``mean``, ``sd``, ``median``, ``ci_low``, ``ci_high``, each shaped like ``draws``
        without its first two axes.

    Examples
    --------
    >>> s = summarise(np.arange(101.0).reshape(1, 101, 1), 0.9)
    >>> [round(float(s[k][0]), 9) for k in ("mean", "median", "ci_low", "ci_high")]
    [50.0, 50.0, 5.0, 95.0]
    """
    flat = draws.reshape((-1, *draws.shape[2:]))
    low, high = credible_interval(np.moveaxis(flat, 0, -1), ci_prob, ci_kind)
    return {"mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1),
            "median": np.median(flat, axis=0), "ci_low": low, "ci_high": high}


def dose_status(doses: Sequence[float], tested: Sequence[float]) -> list[str]:
    """Label each dose as tested, interpolated (inside the tested range) or extrapolated.

    Examples
    --------
    >>> dose_status([0, 5, 10, 80], [1, 10, 50])
    ['extrapolated', 'interpolated', 'tested', 'extrapolated']
    """
    low, high = min(tested), max(tested)
    out = []
    for dose in doses:
        if np.isclose(dose, tested).any():
            out.append("tested")
        elif low < dose < high:
            out.append("interpolated")
        else:
            out.append("extrapolated")
    return out


def tidy_grid(stats: Mapping[str, np.ndarray], outcomes: Sequence[str],
              doses: Sequence[float], times: Sequence[float]) -> pd.DataFrame:
    """Flatten (outcome, dose, time) arrays of statistics into a tidy DataFrame."""
    index = pd.MultiIndex.from_product([list(outcomes), list(doses), list(times)],
                                       names=["outcome", "dose", "time"])
    frame = pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in stats.items()}, index=index)
    return frame.reset_index()


def contrast_probabilities(draws: np.ndarray, sign: np.ndarray,
                           mcid: np.ndarray) -> dict[str, np.ndarray]:
    """Posterior probabilities that a contrast is an improvement, and by at least the MCID.

    Parameters
    ----------
    draws : numpy.ndarray
        Contrast draws ``(chain, draw, outcome, ...)`` in outcome units.
    sign : numpy.ndarray
        Per outcome, +1 when higher is better, -1 when lower is better.
    mcid : numpy.ndarray
        Per outcome MCID (positive; NaN when none).

    Returns
    -------
    dict
        ``prob_gt_0`` = P(sign * contrast > 0), ``prob_gt_mcid`` = P(sign * contrast > mcid)
        (NaN where no MCID), each shaped like ``draws`` without its first two axes.

    Examples
    --------
    >>> d = np.array([-3.0, -1.0, 2.0, -12.0]).reshape(1, 4, 1)
    >>> p = contrast_probabilities(d, np.array([-1.0]), np.array([2.5]))
    >>> float(p["prob_gt_0"][0]), float(p["prob_gt_mcid"][0])
    (0.75, 0.5)
    """
    extra = (None,) * (draws.ndim - 3)
    aligned = draws * np.asarray(sign, dtype=float)[(slice(None), *extra)]
    flat = aligned.reshape((-1, *aligned.shape[2:]))
    threshold = np.asarray(mcid, dtype=float)[(slice(None), *extra)]
    prob_mcid = (flat > threshold).mean(axis=0)
    prob_mcid = np.where(np.isnan(threshold), np.nan, prob_mcid)
    return {"prob_gt_0": (flat > 0).mean(axis=0), "prob_gt_mcid": prob_mcid}


def as_list(value: Any, default: Sequence[float], what: str) -> list[float]:
    """A scalar or sequence of numbers as a list (``default`` when None)."""
    if value is None:
        return [float(v) for v in default]
    values = np.atleast_1d(np.asarray(value, dtype=float)).tolist()
    if not values:
        raise EstimandError(f"give at least one {what}.")
    if not np.all(np.isfinite(values)):
        raise EstimandError(f"{what} must be finite numbers (got {value!r}).")
    return values
