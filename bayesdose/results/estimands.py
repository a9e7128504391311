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
    if not 0 < prob < 1:
        raise EstimandError(f"hdi_prob must be between 0 and 1 (got {prob!r}).")
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
    g = time_shape.evaluate(time_arr, params, time_scale, np)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    n_out = posterior.sizes["outcome"]
    grid = np.broadcast_to(f * g, (n_chain, n_draw, n_out, dose_arr.size, time_arr.size))
    return grid * np.asarray(unit, dtype=float)[:, None, None]


def summarise(draws: np.ndarray, hdi_prob: float) -> dict[str, np.ndarray]:
    """Mean, SD and HDI over the leading (chain, draw) axes.

    Examples
    --------
    >>> s = summarise(np.ones((2, 50, 3)), 0.9)
    >>> s["mean"].tolist()
    [1.0, 1.0, 1.0]
    """
    flat = draws.reshape((-1, *draws.shape[2:]))
    low, high = hdi(np.moveaxis(flat, 0, -1), hdi_prob)
    return {"mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1),
            "hdi_low": low, "hdi_high": high}


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
