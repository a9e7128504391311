"""Figures (matplotlib): the dose-response curve with credible bands, per outcome and time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from bayesdose.estimands import as_list
from bayesdose.timecourses import FreeVisits

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from bayesdose.fit import DoseResponseFit


def dose_grid(tested: list[float], extrapolates: bool, n: int = 60) -> np.ndarray:
    """Doses at which to draw a curve: dense over the tested range (log-spaced when no
    placebo was tested), only the tested doses for a shape without a curve.

    Examples
    --------
    >>> dose_grid([1.0, 10.0, 50.0], extrapolates=False).tolist()
    [1.0, 10.0, 50.0]
    """
    if not extrapolates:
        return np.asarray(tested, dtype=float)
    low, high = min(tested), max(tested)
    if low == 0:
        grid = np.linspace(0.0, high, n)
    else:
        grid = np.geomspace(low, high, n)
    return np.unique(np.concatenate([grid, tested]))


def plot_dose_response(fit: DoseResponseFit, outcome: Any = None, time: Any = None,
                       hdi_prob: float = 0.9) -> Figure:
    """Expected change from baseline against dose, one panel per outcome.

    Each chosen time gets a posterior-mean curve with its ``hdi_prob`` band; the observed
    arm means (with +/- 1 SE bars) are overlaid, and the MCID (when declared) is marked
    as a dashed line at the MCID above/below the curve's value at the lowest dose.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    time : float or sequence, optional
        Visits to draw (default: the last visit).
    hdi_prob : float
        Probability of the bands.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = fit.plot_dose_response(time=[3, 12])   # doctest: +SKIP
    """
    outcomes = fit.outcomes if outcome is None else (
        [outcome] if isinstance(outcome, str) else list(outcome))
    times = as_list(time, [fit.inputs.visits[-1]], "time")
    tested = list(fit.inputs.doses)
    grid = dose_grid(tested, fit.model.dose_shape.extrapolates_to_zero)
    curves = fit.expected_change(dose=grid, time=times, outcome=outcomes, hdi_prob=hdi_prob)
    observed = fit.observed_means()
    ncols = min(3, len(outcomes))
    nrows = int(np.ceil(len(outcomes) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(times)))
    for ax, name in zip(axes.flat, outcomes, strict=False):
        _panel(ax, fit, name, times, curves, observed, colours, hdi_prob)
    for ax in list(axes.flat)[len(outcomes):]:
        ax.set_visible(False)
    fig.suptitle(f"Dose-response ({fit.model.dose_shape.name} x {fit.model.time_shape.name}); "
                 f"effect vs {fit.versus()}", fontsize=9)
    fig.tight_layout()
    return fig


def _panel(ax, fit, name, times, curves, observed, colours, hdi_prob) -> None:
    info = fit.data.info(name)
    likelihood = fit.inputs.likelihoods[name]
    for t, colour in zip(times, colours, strict=True):
        rows = curves[(curves["outcome"] == name) & np.isclose(curves["time"], t)]
        label = f"{t:g} {fit.data.time_unit}"
        ax.plot(rows["dose"], rows["mean"], color=colour, label=label)
        ax.fill_between(rows["dose"], rows["hdi_low"], rows["hdi_high"], color=colour,
                        alpha=0.25, linewidth=0)
        obs = observed[(observed["outcome"] == name) & np.isclose(observed["time"], t)]
        if likelihood.name != "ordinal" and len(obs):
            se = (obs["sd"] / np.sqrt(obs["n"])).to_numpy()
            ax.errorbar(obs["dose"].to_numpy(), obs["mean"].to_numpy(), yerr=se, fmt="o",
                        color=colour, capsize=3, markersize=4)
        if info.mcid is not None and likelihood.name in ("normal", "student_t"):
            start = float(rows["mean"].iloc[0])
            ax.axhline(start + info.sign * info.mcid, color=colour, linestyle="--",
                       linewidth=0.8)
    if min(fit.inputs.doses) > 0:
        ax.set_xscale("log")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel(f"dose ({fit.data.dose_unit})")
    what = {"lognormal": "log ratio to baseline", "ordinal": "latent grade (logit scale)"}
    unit = f" ({info.unit})" if info.unit else ""
    ylabel = what.get(likelihood.name, f"change from baseline{unit}")
    arrow = "higher is better" if info.sign > 0 else "lower is better"
    ax.set_ylabel(f"{ylabel}\n{arrow}", fontsize=8)
    ax.set_title(info.label or name, fontsize=10)
    ax.legend(fontsize=7, title=f"{int(hdi_prob * 100)}% HDI", title_fontsize=7)


def plot_prior_predictive(model, data, draws: int = 500, random_seed: int = 1,
                          n_curves: int = 40) -> Figure:
    """What the priors say before seeing data: implied dose-response and time course.

    Left: the dose effect at the last visit against dose; right: the effect of the top
    dose over time. Both on the standardised, direction-aligned scale (baseline SDs,
    positive = better), where the priors are stated, with 50% and 90% prior bands and a
    few single prior draws.

    Parameters
    ----------
    model : DoseResponseModel
        The model (its priors in force).
    data : TrialData
        The trial design (doses, visits); its values are not used.
    draws : int
        Prior draws.
    random_seed : int
        Seed.
    n_curves : int
        Single draws to draw as thin lines.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> fig = plot_prior_predictive(bd.DoseResponseModel(), data, draws=100)
    >>> len(fig.axes)
    2
    """
    from bayesdose.estimands import effect_draws
    data = model.select_data(data)
    data = data.select(data.outcomes[:1])
    inputs = model.inputs(data)
    prior = model.sample_prior_predictive(data, draws=draws, random_seed=random_seed).prior
    doses = dose_grid(list(inputs.doses), model.dose_shape.extrapolates_to_zero)
    last = inputs.time_scale.reference
    defined_between_visits = not isinstance(model.time_shape, FreeVisits)
    times = (np.linspace(0.0, last * 1.25, 60) if defined_between_visits
             else np.asarray(inputs.time_scale.visits))
    unit = np.ones(1)
    by_dose = effect_draws(prior, model.dose_shape, model.time_shape, inputs.dose_scale,
                           inputs.time_scale, doses, [last], unit)[:, :, 0, :, 0]
    by_time = effect_draws(prior, model.dose_shape, model.time_shape, inputs.dose_scale,
                           inputs.time_scale, [inputs.dose_scale.reference], times,
                           unit)[:, :, 0, 0, :]
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    _prior_panel(axes[0], doses, by_dose.reshape(-1, doses.size), n_curves)
    axes[0].set_xlabel(f"dose ({data.dose_unit})")
    axes[0].set_title(f"dose effect at {last:g} {data.time_unit} after baseline", fontsize=9)
    if min(inputs.doses) > 0:
        axes[0].set_xscale("log")
    _prior_panel(axes[1], times + inputs.baseline_time, by_time.reshape(-1, times.size),
                 n_curves)
    axes[1].set_xlabel(f"time ({data.time_unit})")
    axes[1].set_title(f"effect of the top dose ({inputs.dose_scale.reference:g}) over time",
                      fontsize=9)
    for ax in axes:
        ax.set_ylabel("effect vs dose 0 (baseline SDs, + = better)", fontsize=8)
        ax.axhline(0.0, color="grey", linewidth=0.6)
    fig.suptitle(f"Prior predictive: {model.dose_shape.name} x {model.time_shape.name}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _prior_panel(ax, x: np.ndarray, draws: np.ndarray, n_curves: int) -> None:
    for low, high, alpha in ((5, 95, 0.2), (25, 75, 0.35)):
        ax.fill_between(x, np.percentile(draws, low, axis=0), np.percentile(draws, high, axis=0),
                        color="C0", alpha=alpha, linewidth=0)
    for row in draws[: n_curves]:
        ax.plot(x, row, color="C0", linewidth=0.4, alpha=0.5)
    ax.plot(x, np.median(draws, axis=0), color="C0", linewidth=1.5)
