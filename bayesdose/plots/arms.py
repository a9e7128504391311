"""Figure of an arm-level fit against its studies: each study's observed arm means with
the fitted means of its arms (:func:`plot_study_fits`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from bayesdose.errors import EstimandError
from bayesdose.results.arm_checks import fitted_means
from bayesdose.results.estimands import check_interval, credible_interval, interval_text

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bayesdose.results.arm_fit import ArmFit


def _grid(n: int, width: float = 4.6, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels, at most three per row (spare grid cells removed)."""
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.remove()
    return fig, list(axes.flat)[:n]


def _studies(fit: ArmFit, studies: Any) -> list[str]:
    known = list(fit.inputs.studies)
    if studies is None:
        return known
    chosen = [studies] if isinstance(studies, str) else [str(s) for s in studies]
    unknown = [s for s in chosen if s not in known]
    if unknown or not chosen:
        raise EstimandError(f"studies {unknown or chosen!r} are not in the fit (studies: "
                            f"{', '.join(map(repr, known))}).")
    return chosen


def _labels(fit: ArmFit) -> tuple[str, str]:
    """The x and y axis labels."""
    data, table = fit.data, fit.inputs.table
    outcome = str(table["outcome"].iloc[0])
    info = data.info(outcome) if data is not None and outcome in data.outcome_info else None
    name = (info.label if info is not None and info.label else outcome)
    unit = f" ({info.unit})" if info is not None and info.unit else ""
    if fit.inputs.time_scale is None:
        x = f"dose ({data.dose_unit})" if data is not None else "dose"
    else:
        x = f"time ({data.time_unit})" if data is not None and data.time_unit else "time"
    return x, f"{name}: change from baseline{unit}"


def plot_study_fits(fit: ArmFit, ci_prob: float = 0.9, studies: Any = None) -> Figure:
    """Each study's arms: observed means and the fitted means, one panel per study.

    Observed means are points with bars of +- 1.96 SE; the fitted means (the study's own
    course and effect size, :func:`~bayesdose.results.arm_checks.fitted_means`) are lines
    through each arm's time points, with their ``ci_prob`` credible band, one colour per
    arm. With one time point per study the x axis is the dose, and the fitted means are
    drawn as intervals beside the observed ones.

    Parameters
    ----------
    fit : ArmFit
        An arm-level or combined fit (its arm-level studies).
    ci_prob : float
        Probability of the bands of the fitted means.
    studies : str or list of str, optional
        The studies to draw (default: all).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    EstimandError
        A study that is not in the fit, or a ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> fig = plot_study_fits(fit, studies=["S1", "S2"])  # doctest: +SKIP
    """
    ci_prob = check_interval(ci_prob, "eti")
    chosen = _studies(fit, studies)
    table = fit.inputs.table.reset_index(drop=True)
    means = fitted_means(fit)
    low, high = credible_interval(means.T, ci_prob, "eti")
    table = table.assign(fitted=means.mean(axis=0), fitted_low=low, fitted_high=high)
    over_time = fit.inputs.time_scale is not None
    fig, axes = _grid(len(chosen))
    xlabel, ylabel = _labels(fit)
    for ax, study in zip(axes, chosen, strict=True):
        rows = table[table["study"] == study]
        for k, (arm, arm_rows) in enumerate(rows.sort_values(["dose", "arm"]).groupby(
                "arm", sort=False)):
            _draw_arm(ax, arm_rows, f"C{k % 10}", str(arm), over_time)
        ax.set_title(str(study))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.axhline(0.0, color="0.7", lw=0.8, zorder=0)
        ax.legend(fontsize="small")
    fig.suptitle(f"Arm means per study: observed (+- 1.96 SE) and fitted "
                 f"({interval_text(ci_prob)})")
    fig.tight_layout()
    return fig


def _draw_arm(ax: Axes, rows: Any, colour: str, label: str, over_time: bool) -> None:
    observed = rows["mean"].to_numpy(float)
    bars = 1.96 * rows["se"].to_numpy(float)
    if over_time:
        x = rows["time"].to_numpy(float)
        ax.plot(x, rows["fitted"], color=colour, lw=1.5, label=label)
        ax.fill_between(x, rows["fitted_low"], rows["fitted_high"], color=colour, alpha=0.2,
                        lw=0)
        ax.errorbar(x, observed, yerr=bars, fmt="o", color=colour, ms=4, capsize=2)
        return
    x = rows["dose"].to_numpy(float)
    shift = 0.01 * max(float(x.max()), 1.0)
    ax.errorbar(x, observed, yerr=bars, fmt="o", color=colour, ms=4, capsize=2, label=label)
    fitted = rows["fitted"].to_numpy(float)
    below = np.maximum(fitted - rows["fitted_low"].to_numpy(float), 0.0)
    above = np.maximum(rows["fitted_high"].to_numpy(float) - fitted, 0.0)
    ax.errorbar(x + shift, fitted, yerr=[below, above], fmt="s", color=colour, mfc="white",
                ms=4, capsize=0)
