"""Figures (matplotlib): dose-response and time-course curves with credible bands,
contrast forest plots (bayesdose's own), and MCMC rank/trace plots, parameter forest
plots, predictive checks and LOO-PIT checks (drawn by arviz-plots).

Every function returns a :class:`matplotlib.figure.Figure`; none shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from bayesdose.components.timecourses import FreeVisits
from bayesdose.errors import DataError, EstimandError
from bayesdose.results.estimands import as_list, check_interval, effect_draws, interval_text
from bayesdose.results.psis import CONSTANT_LOGLIK

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from bayesdose.results.fit import DoseResponseFit


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


def _panels(n: int, width: float = 4.6, height: float = 3.6) -> tuple[Figure, list]:
    """A figure with ``n`` panels, at most three per row (the spare grid cells removed,
    so ``fig.axes`` holds exactly the panels)."""
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.remove()
    return fig, list(axes.flat)[:n]


def _outcome_names(fit: DoseResponseFit, outcome: Any) -> list[str]:
    """The chosen outcomes, checked against the fit (default: all fitted)."""
    return fit.posterior_view.outcome_names(outcome)


def _response_label(fit: DoseResponseFit, name: str, arrow: bool = False) -> str:
    """Axis label of the response an outcome's likelihood models, in the outcome's unit."""
    info = fit.data.info(name)
    what = {"lognormal": "log ratio to baseline", "ordinal": "latent grade (logit scale)"}
    unit = f" ({info.unit})" if info.unit else ""
    label = what.get(fit.inputs.likelihoods[name].name, f"change from baseline{unit}")
    if arrow:
        label += "\n" + ("higher is better" if info.sign > 0 else "lower is better")
    return label


def _title(fit: DoseResponseFit, name: str) -> str:
    return fit.data.info(name).label or name


def plot_dose_response(fit: DoseResponseFit, outcome: Any = None, time: Any = None,
                       ci_prob: float = 0.9, ci_kind: str = "eti") -> Figure:
    """Expected change from baseline against dose, one panel per outcome.

    Each chosen time gets a posterior-mean curve with its ``ci_prob`` band; the observed
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
    ci_prob : float
        Probability of the bands.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density bands.

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
    curves = fit.expected_change(dose=grid, time=times, outcome=outcomes, ci_prob=ci_prob,
                                 ci_kind=ci_kind)
    observed = fit.observed_means()
    fig, axes = _panels(len(outcomes))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(times)))
    for ax, name in zip(axes, outcomes, strict=True):
        _panel(ax, fit, name, times, curves, observed, colours, interval_text(ci_prob, ci_kind))
    fig.suptitle(f"Dose-response ({fit.model.dose_shape.name} x {fit.model.time_shape.name}): "
                 "expected change from baseline", fontsize=9)
    fig.tight_layout()
    return fig


def _panel(ax, fit, name, times, curves, observed, colours, band: str) -> None:
    info = fit.data.info(name)
    likelihood = fit.inputs.likelihoods[name]
    for t, colour in zip(times, colours, strict=True):
        rows = curves[(curves["outcome"] == name) & np.isclose(curves["time"], t)]
        label = f"{t:g} {fit.data.time_unit}"
        ax.plot(rows["dose"], rows["mean"], color=colour, label=label)
        ax.fill_between(rows["dose"], rows["ci_low"], rows["ci_high"], color=colour,
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
    ax.set_ylabel(_response_label(fit, name, arrow=True), fontsize=8)
    ax.set_title(_title(fit, name), fontsize=10)
    ax.legend(fontsize=7, title=band, title_fontsize=7)


def plot_prior_predictive(model, data, draws: int = 500, random_seed: int = 1,
                          n_curves: int = 40) -> Figure:
    """What the priors say before seeing data: implied dose-response and time course.

    Left: the dose effect at the last visit against dose; right: the effect of the top
    dose over time. Effects are against the lowest tested dose (placebo when tested), as
    in :meth:`DoseResponseFit.effect`, on the standardised, direction-aligned scale
    (positive = better) where the priors are stated, with 50% and 90% equal-tailed prior
    bands and a few single prior draws.

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
    lowest = float(min(inputs.doses))
    by_dose = effect_draws(prior, model.dose_shape, model.time_shape, inputs.dose_scale,
                           inputs.time_scale, [*doses, lowest], [last], unit)[:, :, 0, :, 0]
    by_dose = by_dose[..., :-1] - by_dose[..., -1:]
    by_time = effect_draws(prior, model.dose_shape, model.time_shape, inputs.dose_scale,
                           inputs.time_scale, [inputs.dose_scale.reference, lowest], times,
                           unit)[:, :, 0, :, :]
    by_time = by_time[:, :, 0] - by_time[:, :, 1]
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
        ax.set_ylabel(f"effect vs dose {lowest:g} (standardised, + = better)", fontsize=8)
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


# ---------------------------------------------------------------------- time course
def plot_time_course(fit: DoseResponseFit, outcome: Any = None, dose: Any = None,
                     ci_prob: float = 0.9, ci_kind: str = "eti") -> Figure:
    """Expected change from baseline against time, one panel per outcome.

    Each dose gets its posterior-mean curve through the visits at which the outcome was
    measured, with its ``ci_prob`` band (:meth:`DoseResponseFit.expected_change`: common
    course plus dose effect, for a patient at the mean baseline; at visits without data the
    common course is the prior's, so it is not drawn there). The observed arm means (+/- 1
    SE) at each visit are overlaid, nudged sideways so the arms do not hide one another.
    Where the outcome declares an MCID (normal and Student-t outcomes, whose curves are in
    outcome units), a dashed grey line marks the lowest tested dose's curve shifted by the
    MCID in the direction of improvement: a curve beyond it beats the lowest dose by more
    than the MCID. The response is the one the likelihood models: log ratio to baseline for
    lognormal outcomes, the latent logit scale for ordinal ones (no observed means there).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    dose : float or sequence, optional
        Doses to draw (default: the tested doses).
    ci_prob : float
        Probability of the bands.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density bands.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayesdose.plots import plot_time_course
    >>> fig = plot_time_course(fit, outcome="koos_pain")     # doctest: +SKIP
    >>> fig.axes[0].get_title()                              # doctest: +SKIP
    'KOOS pain'
    """
    outcomes = _outcome_names(fit, outcome)
    doses = as_list(dose, fit.inputs.doses, "dose")
    visits = list(fit.inputs.visits)
    curves = fit.expected_change(dose=doses, time=visits, outcome=outcomes,
                                 ci_prob=ci_prob, ci_kind=ci_kind)
    reference = float(min(fit.inputs.doses))
    references = fit.expected_change(dose=reference, time=visits, outcome=outcomes,
                                     ci_prob=ci_prob, ci_kind=ci_kind)
    observed = fit.observed_means()
    fig, axes = _panels(len(outcomes))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(doses)))
    span = max(visits) - min(min(visits), fit.inputs.baseline_time)
    nudge = 0.012 * (span or 1.0)
    tested = np.asarray(fit.inputs.doses)
    for ax, name in zip(axes, outcomes, strict=True):
        likelihood = fit.inputs.likelihoods[name].name
        measured = fit.data.visits_for(name)  # the common course is only estimated there
        for i, (d, colour) in enumerate(zip(doses, colours, strict=True)):
            rows = curves[(curves["outcome"] == name) & np.isclose(curves["dose"], d)
                          & curves["time"].isin(measured)]
            rows = rows.sort_values("time")
            label = f"{d:g} {fit.data.dose_unit}"
            if not np.isclose(d, tested).any():
                label += " (not tested)"
            ax.plot(rows["time"].to_numpy(), rows["mean"].to_numpy(), color=colour,
                    label=label)
            ax.fill_between(rows["time"].to_numpy(), rows["ci_low"].to_numpy(),
                            rows["ci_high"].to_numpy(), color=colour, alpha=0.2,
                            linewidth=0)
            obs = observed[(observed["outcome"] == name) & np.isclose(observed["dose"], d)]
            if likelihood != "ordinal" and len(obs):
                obs = obs.sort_values("time")
                shift = nudge * (i - (len(doses) - 1) / 2)
                se = (obs["sd"] / np.sqrt(obs["n"])).to_numpy()
                ax.errorbar(obs["time"].to_numpy() + shift, obs["mean"].to_numpy(), yerr=se,
                            fmt="o", color=colour, capsize=3, markersize=4)
        info = fit.data.info(name)
        if info.mcid is not None and likelihood in ("normal", "student_t"):
            ref = references[(references["outcome"] == name)
                             & references["time"].isin(measured)].sort_values("time")
            ax.plot(ref["time"].to_numpy(), ref["mean"].to_numpy() + info.sign * info.mcid,
                    color="grey", linestyle="--", linewidth=0.9,
                    label=f"{reference:g} {fit.data.dose_unit} + MCID ({info.mcid:g})")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xticks(visits)
        ax.set_xlabel(f"time ({fit.data.time_unit})")
        ax.set_ylabel(_response_label(fit, name, arrow=True), fontsize=8)
        ax.set_title(_title(fit, name), fontsize=10)
        ax.legend(fontsize=7, title=f"{interval_text(ci_prob, ci_kind)}; points: mean ± SE",
                  title_fontsize=7)
    fig.suptitle(f"Expected change from baseline over time ({fit.model.dose_shape.name} x "
                 f"{fit.model.time_shape.name})", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- contrast forest
def plot_contrast_forest(fit: DoseResponseFit, dose: Any, reference: float | None = None,
                         time: float | None = None, ci_prob: float = 0.9,
                         ci_kind: str = "eti", scale: str = "standardised") -> Figure:
    """Forest plot of the contrast between doses across outcomes.

    One row per outcome (grouped under family headings when the fit has more than one
    family): the posterior mean of :meth:`DoseResponseFit.contrast` as a point and its
    ``ci_prob`` credible interval as a line, a vertical line at 0 (no difference) and, where the
    outcome has an MCID, a short vertical mark on its row at the MCID on the side of
    improvement. On the right, each row reads the posterior probability that ``dose``
    beats ``reference`` by more than the MCID, or by anything when there is no MCID
    (direction-aware for both scales).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    dose : float or sequence
        Dose(s) to compare (several doses share a row, nudged apart, one colour each).
    reference : float, optional
        Reference dose (default: the lowest tested dose).
    time : float, optional
        One time (default: the last visit).
    ci_prob : float
        Probability of the intervals.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density intervals.
    scale : {"standardised", "outcome"}
        The standardised, direction-aligned scale (outcome SDs, positive = better), on
        which the outcomes share an axis, or each outcome's own units (sign as the
        outcome: negative is better on a lower-is-better scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayesdose.plots import plot_contrast_forest
    >>> fig = plot_contrast_forest(fit, dose=50, reference=1, time=12)   # doctest: +SKIP
    """
    doses = as_list(dose, [], "dose")
    times = as_list(time, [fit.inputs.visits[-1]], "time")
    if len(times) != 1:
        raise EstimandError(f"the forest plot shows one time (got {times}); draw one "
                            "figure per time.")
    table = fit.contrast(doses, reference=reference, time=times[0], ci_prob=ci_prob,
                         ci_kind=ci_kind, scale=scale)
    reference = float(table["reference"].iloc[0])
    families = fit.families()
    grouped = len(families) > 1
    rows: list[tuple[str, str]] = []  # (kind, name), top to bottom
    for family, members in families.items():
        if grouped:
            rows.append(("family", family))
        rows.extend(("outcome", m) for m in members)
    y_of = {name: -float(i) for i, (kind, name) in enumerate(rows) if kind == "outcome"}
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.32 * len(rows) * max(1, len(doses) ** 0.5)))
    step = 0.6 / len(doses)
    colours = ["C0"] if len(doses) == 1 else [f"C{i % 10}" for i in range(len(doses))]
    trans = ax.get_yaxis_transform()
    for i, (d, colour) in enumerate(zip(doses, colours, strict=True)):
        part = table[np.isclose(table["dose"], d)].set_index("outcome").loc[list(y_of)]
        y = np.array(list(y_of.values())) - step * (i - (len(doses) - 1) / 2)
        ax.hlines(y, part["ci_low"], part["ci_high"], color=colour, linewidth=1.6)
        ax.plot(part["mean"].to_numpy(), y, "o", color=colour, markersize=5,
                label=f"{d:g} vs {reference:g} {fit.data.dose_unit}")
        for y_row, (name, row) in zip(y, part.iterrows(), strict=True):
            mcid = row["mcid"]
            has_mcid = np.isfinite(mcid)
            text = (f"P(>MCID) {row['prob_gt_mcid']:.2f}" if has_mcid
                    else f"P(>0) {row['prob_gt_0']:.2f}")
            ax.text(1.02, y_row, text, transform=trans, fontsize=7, va="center",
                    color=colour)
            if has_mcid and i == 0:
                sign = 1.0 if scale == "standardised" else fit.data.info(name).sign
                base = y_of[name]
                ax.vlines(sign * mcid, base - 0.4, base + 0.4, color="firebrick",
                          linestyle="--", linewidth=1.0)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    labels = [name if kind == "family" else _title(fit, name)
              + (f" ({_contrast_unit(fit, name)})" if scale == "outcome" else "")
              for kind, name in rows]
    ax.set_yticks([-float(i) for i in range(len(rows))], labels, fontsize=8)
    for tick, (kind, _) in zip(ax.get_yticklabels(), rows, strict=True):
        if kind == "family":
            tick.set_fontweight("bold")
    for i, (kind, _) in enumerate(rows):
        if kind == "family" and i > 0:
            ax.axhline(-i + 0.5, color="lightgrey", linewidth=0.6)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    if scale == "standardised":
        ax.set_xlabel("contrast (outcome SDs; positive = better)")
    else:
        ax.set_xlabel("contrast (outcome units; sign as the outcome)")
    extrapolated = table["reference_status"].iloc[0] != "tested"
    ax.set_title(f"{', '.join(f'{d:g}' for d in doses)} vs {reference:g} "
                 f"{fit.data.dose_unit}"
                 + (f" ({table['reference_status'].iloc[0]})" if extrapolated else "")
                 + f" at {times[0]:g} {fit.data.time_unit}: mean and "
                 f"{interval_text(ci_prob, ci_kind)}"
                 + ("; dashed: MCID" if np.isfinite(table["mcid"]).any() else ""), fontsize=9)
    if len(doses) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _contrast_unit(fit: DoseResponseFit, name: str) -> str:
    """Unit of an outcome's contrast on the outcome scale (that of its modelled response)."""
    likelihood = fit.inputs.likelihoods[name].name
    if likelihood == "lognormal":
        return "log ratio"
    if likelihood == "ordinal":
        return "latent logit"
    return fit.data.info(name).unit or "outcome units"


# ---------------------------------------------------------------------- MCMC
#: The right-hand panels of :func:`plot_trace`, each drawn by an arviz-plots function.
TRACE_KINDS = {"rank": "plot_rank_dist", "trace": "plot_trace_dist"}
#: Kinds of ArviZ 0.x's ``plot_trace`` that arviz-plots (ArviZ 1) no longer draws.
REMOVED_TRACE_KINDS = ("rank_bars", "rank_vlines")


def parameter_names(fit: DoseResponseFit) -> list[str]:
    """The posterior variables of :meth:`DoseResponseFit.parameter_summary`, in order.

    Examples
    --------
    >>> parameter_names(fit)[:2]    # doctest: +SKIP
    ['delta', 'log_t_half']
    """
    names = fit.parameter_summary()["parameter"].str.split("[", n=1).str[0]
    return list(dict.fromkeys(names))


def _posterior_names(fit: DoseResponseFit, var_names: Any) -> list[str]:
    """The chosen posterior variables, checked (default: :func:`parameter_names`)."""
    names = (parameter_names(fit) if var_names is None
             else [var_names] if isinstance(var_names, str) else list(var_names))
    posterior = fit.idata["posterior"]
    unknown = [n for n in names if n not in posterior.data_vars]
    if unknown or not names:
        raise EstimandError(f"variable(s) {unknown or names} not in the posterior (it has: "
                            f"{', '.join(map(str, posterior.data_vars))}).")
    return names


def _figure(collection) -> Figure:
    """The matplotlib figure of an arviz-plots ``PlotCollection``, without the spare grid
    cells arviz-plots switches off (so ``fig.axes`` holds exactly the panels)."""
    fig = collection.viz["figure"].item()
    for ax in list(fig.axes):
        if not ax.axison:
            ax.remove()
    return fig


def plot_trace(fit: DoseResponseFit, var_names: str | list[str] | None = None,
               kind: str = "rank") -> Figure:
    """MCMC rank or trace plots of the model's parameters (arviz-plots).

    One row per variable: its marginal posterior per chain (left) and, on the right,
    either the fractional-rank Δ-ECDF of each chain (``kind="rank"``,
    :func:`arviz_plots.plot_rank_dist`: the ranks of a chain's draws among all chains'
    draws, as the difference between their ECDF and the uniform CDF; a multi-chain
    uniformity test marks, in black, the points that contribute most to a departure from
    uniform ranks, so flat curves without marks mean the chains agree) or the chains'
    draws against iteration (``kind="trace"``, :func:`arviz_plots.plot_trace_dist`).
    The components of a variable (outcomes, visits) share its row, one colour each (line
    style: chain).

    The rank histograms of ArviZ 0.x (``kind="rank_bars"``, ``"rank_vlines"``) have no
    counterpart in ArviZ 1; asking for them raises :class:`~bayesdose.errors.EstimandError`.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    var_names : str or list of str, optional
        Posterior variables (default: those of :meth:`DoseResponseFit.parameter_summary`,
        leaving out patient-level terms and non-centred offsets).
    kind : {"rank", "trace"}
        Right-hand panels (a fit with one chain gets its trace: ranks compare chains).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    EstimandError
        For an unknown or removed ``kind``, or variables not in the posterior.

    Examples
    --------
    >>> from bayesdose.plots import plot_trace
    >>> fig = plot_trace(fit, var_names=["delta", "sigma"], kind="trace")  # doctest: +SKIP
    """
    if kind in REMOVED_TRACE_KINDS:
        raise EstimandError(f"kind {kind!r} (an ArviZ 0.x rank histogram) is not drawn by "
                            "ArviZ 1; use kind='rank' (fractional-rank Δ-ECDF per chain) or "
                            "kind='trace'.")
    if kind not in TRACE_KINDS:
        raise EstimandError(f"kind must be one of {', '.join(TRACE_KINDS)} (got {kind!r}).")
    names = _posterior_names(fit, var_names)
    posterior = fit.idata["posterior"]
    if kind == "rank" and posterior.sizes["chain"] < 2:
        kind = "trace"  # ranks compare chains: one chain has only its trace to show
    draw = getattr(az, TRACE_KINDS[kind])
    # compact: a variable's components are overlaid in its row, so the figure has two panels
    # per variable; arviz-plots refuses more than plot.max_subplots (40) panels, which a
    # long var_names list can pass, so the cap is raised to what these rows need
    limit = max(2 * len(names), az.rcParams["plot.max_subplots"] or 0)
    with az.rc_context({"plot.max_subplots": limit}):
        collection = draw(fit.idata, var_names=names, compact=True, backend="matplotlib")
    fig = _figure(collection)
    fig.suptitle(f"{'Trace' if kind == 'trace' else 'Rank'} plots, "
                 f"{posterior.sizes['chain']} chains x {posterior.sizes['draw']} draws",
                 fontsize=10)
    fig.set_layout_engine("constrained")  # leaves room for the suptitle and long labels
    return fig


def plot_forest(fit: DoseResponseFit, var_names: str | list[str] | None = None,
                ci_kind: str = "eti") -> Figure:
    """Forest plot of the posterior of the model's parameters (arviz-plots).

    One row per scalar component (variable, outcome, visit, ...), labelled on the left:
    the posterior mean as a point, its 50% credible interval as a thick line and its 90%
    one as a thin line (equal-tailed by default), the chains pooled
    (:func:`arviz_plots.plot_forest`). The parameters are on the scale the model samples
    them on (``log_t_half`` on the log scale, ``delta`` standardised, ...).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    var_names : str or list of str, optional
        Posterior variables (default: those of :meth:`DoseResponseFit.parameter_summary`,
        leaving out patient-level terms and non-centred offsets).
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density intervals.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: the row labels (left) and the intervals (right).

    Raises
    ------
    EstimandError
        For variables not in the posterior.

    Examples
    --------
    >>> from bayesdose.plots import plot_forest
    >>> fig = plot_forest(fit, var_names=["delta", "sigma"])    # doctest: +SKIP
    >>> len(fig.axes)                                           # doctest: +SKIP
    2
    """
    check_interval(0.9, ci_kind)
    names = _posterior_names(fit, var_names)
    collection = az.plot_forest(fit.idata, var_names=names, combined=True,
                                point_estimate="mean", ci_kind=ci_kind, ci_probs=(0.5, 0.9),
                                backend="matplotlib")
    fig = _figure(collection)
    fig.suptitle(f"Posterior of the parameters: mean, 50% and 90% "
                 f"{'highest-density' if ci_kind == 'hdi' else 'equal-tailed'} intervals "
                 "(chains pooled)", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- predictive checks
PREDICTIVE_GROUPS = ("posterior", "prior")


def _missing_group(fit: DoseResponseFit, needed: tuple[str, ...]) -> str | None:
    """The first of ``needed`` that the fit's DataTree lacks (None when it has them all)."""
    return next((name for name in needed if name not in fit.idata.children), None)


def _observed_rows(fit: DoseResponseFit, outcome: Any,
                   groups: tuple[str, ...]) -> tuple[str, np.ndarray]:
    """The observed variable that holds ``outcome``'s observations and their coordinate
    values along its ``obs_<variable>`` dim, checked to be in each of ``groups``."""
    if not isinstance(outcome, str):
        raise EstimandError(f"give one outcome by name (got {outcome!r}).")
    k = fit.posterior_view.outcome_index(outcome)[0]
    likelihood = fit.inputs.likelihoods[outcome]
    variable = (f"grade_{outcome}" if likelihood.name == "ordinal" else likelihood.variable)
    for where in groups:
        if variable not in fit.idata[where].data_vars:
            raise DataError(f"the fit's {where} group has no variable {variable!r} for "
                            f"outcome {outcome!r}.")
    positions = np.asarray(fit.idata["observed_data"][f"obs_{variable}"].values)
    return variable, positions[fit.inputs.outcome_idx[positions] == k]


def predictive_draws(fit: DoseResponseFit, outcome: str, group: str = "posterior",
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Observed values and predictive draws of one outcome's observed variable.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    outcome : str
        One fitted outcome.
    group : {"posterior", "prior"}
        Posterior or prior predictive.

    Returns
    -------
    observed : numpy.ndarray
        Shape ``(n_obs,)``: the modelled response (change, log ratio, or the grade's
        position among the outcome's grades for ordinal outcomes).
    draws : numpy.ndarray
        Shape ``(n_samples, n_obs)``: chains and draws stacked.

    Examples
    --------
    >>> observed, draws = predictive_draws(fit, "koos_pain")    # doctest: +SKIP
    """
    if group not in PREDICTIVE_GROUPS:
        raise EstimandError(f"group must be one of {', '.join(PREDICTIVE_GROUPS)} "
                            f"(got {group!r}).")
    name = f"{group}_predictive"
    missing = _missing_group(fit, (name, "observed_data"))
    if missing is not None:
        how = ("fit with prior_draws > 0" if group == "prior"
               else "sample it (pymc.sample_posterior_predictive) or refit")
        raise DataError(f"this fit has no {missing} group, so it has no {group} predictive "
                        f"check; {how}. Groups present: {', '.join(fit.idata.children)}.")
    variable, own = _observed_rows(fit, outcome, (name, "observed_data"))
    dim = f"obs_{variable}"
    obs = fit.idata["observed_data"][variable].sel({dim: own}).to_numpy()
    pred = (fit.idata[name][variable].sel({dim: own}).transpose("chain", "draw", dim)
            .to_numpy())
    return obs, pred.reshape(-1, own.size)


def plot_predictive_check(fit: DoseResponseFit, group: str = "posterior",
                          outcome: Any = None, n_draws: int = 100) -> Figure:
    """Predictive check, one panel per outcome: observed data against predictive draws.

    Continuous outcomes (normal, Student-t: change from baseline; lognormal: log ratio to
    baseline): the empirical CDF of the observed values (black) over those of
    ``n_draws`` predictive data sets (thin lines), drawn by
    :func:`arviz_plots.plot_ppc_dist` (``kind="ecdf"``). Ordinal outcomes: the observed
    share of each grade (bars) against the predictive median and 90% interval of that
    share (points with bars). All visits and doses of an outcome are pooled.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    group : {"posterior", "prior"}
        Draws from the posterior predictive or the prior predictive.
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    n_draws : int
        Predictive data sets drawn (evenly spaced over the chains' draws).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        When the fit has no ``<group>_predictive`` (or no observed_data) group.

    Examples
    --------
    >>> from bayesdose.plots import plot_predictive_check
    >>> fig = plot_predictive_check(fit, group="prior")    # doctest: +SKIP
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise EstimandError(f"n_draws must be a positive integer (got {n_draws!r}).")
    outcomes = _outcome_names(fit, outcome)
    fig, axes = _panels(len(outcomes), width=4.4, height=3.3)
    shown = 0
    for ax, name in zip(axes, outcomes, strict=True):
        observed, draws = predictive_draws(fit, name, group)
        pick = np.unique(np.linspace(0, draws.shape[0] - 1, min(n_draws, draws.shape[0]))
                         .round().astype(int))
        draws = draws[pick]
        shown = draws.shape[0]
        if fit.inputs.likelihoods[name].name == "ordinal":
            _ordinal_check(ax, fit.inputs.categories[name], observed, draws, group)
        else:
            _ecdf_check(ax, observed, draws, group)
            ax.set_xlabel(_response_label(fit, name), fontsize=8)
        ax.set_title(_title(fit, name), fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"{group.capitalize()} predictive check ({shown} draws)", fontsize=10)
    fig.tight_layout()
    return fig


def _ecdf_check(ax, observed: np.ndarray, draws: np.ndarray, group: str) -> None:
    """ECDFs of the observed values and of each predictive data set on ``ax``, drawn by
    ``az.plot_ppc_dist`` through a plot collection whose one plot is ``ax`` (so the panel
    sits in the figure of :func:`plot_predictive_check` next to the ordinal ones)."""
    dim = "observation"
    coords = {dim: np.arange(observed.size)}
    predictive = xr.Dataset({"y": (("chain", "draw", dim), draws[np.newaxis])}, coords=coords)
    tree = xr.DataTree.from_dict({f"{group}_predictive": predictive,
                                  "observed_data": xr.Dataset({"y": (dim, observed)},
                                                              coords=coords)})
    target = np.empty((), dtype=object)
    target[()] = ax
    figure = np.empty((), dtype=object)
    figure[()] = ax.figure
    viz = xr.DataTree(xr.Dataset({"figure": figure, "plot": target}))
    # one line per predictive data set: the "overlay_ppc" aesthetic over the stacked draws,
    # as plot_ppc_dist sets it when it makes its own figure
    collection = az.PlotCollection(predictive.stack(sample=("chain", "draw")), viz,
                                   aes={"overlay_ppc": ["sample"]}, backend="matplotlib")
    az.plot_ppc_dist(tree, group=f"{group}_predictive", kind="ecdf",
                     num_samples=draws.shape[0], plot_collection=collection,
                     visuals={"predictive_dist": {"color": "C0", "alpha": 0.25},
                              "observed_dist": {"color": "black"},
                              "title": False, "remove_axis": False})
    lines = collection.viz["predictive_dist"]["y"].values.ravel()
    lines[0].set_label(f"{group} predictive")
    collection.viz["observed_dist"]["y"].item().set_label("observed")
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("cumulative proportion", fontsize=8)


def plot_loo_pit(fit: DoseResponseFit, outcome: Any = None) -> Figure:
    """LOO-PIT calibration check, one panel per outcome (arviz-plots).

    For each observation, the leave-one-out probability integral transform (LOO-PIT):
    the posterior predictive probability, with that observation left out (PSIS-LOO), of a
    value at or below the observed one. For a calibrated model these values are uniform;
    each panel shows the difference between their ECDF and the uniform CDF (Δ-ECDF) with
    the p-value of a test of uniformity (``p=``, at level ``α`` = 1 - ArviZ's
    ``stats.envelope_prob``), and marks the points that contribute most to a departure
    (:func:`arviz_plots.plot_loo_pit`). A curve far from zero flags miscalibration: below
    then above zero means predictions too wide, above then below too narrow, a
    curve mostly above or below zero a shifted prediction.
    All visits and doses of an outcome are pooled; ordinal grades get randomised PIT
    values (ties broken at random, fixed seed).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (with ``posterior_predictive``, ``observed_data`` and ``log_likelihood``
        groups, which :meth:`DoseResponseModel.fit` stores).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        When the fit lacks one of the groups the check needs.
    EstimandError
        For an outcome not in the fit.

    Examples
    --------
    >>> from bayesdose.plots import plot_loo_pit
    >>> fig = plot_loo_pit(fit, outcome="koos_pain")    # doctest: +SKIP
    >>> fig.axes[0].get_title()                         # doctest: +SKIP
    'KOOS pain'
    """
    outcomes = _outcome_names(fit, outcome)
    needed = ("posterior", "posterior_predictive", "observed_data", "log_likelihood")
    missing = _missing_group(fit, needed)
    if missing is not None:
        raise DataError(f"this fit has no {missing} group, so it has no LOO-PIT check; "
                        "refit with DoseResponseModel.fit (which stores the posterior "
                        "predictive and the log likelihood). Groups present: "
                        f"{', '.join(fit.idata.children)}.")
    # one variable per outcome (named by it), holding that outcome's observations only:
    # each observation's LOO-PIT depends on its own log likelihood alone
    groups: dict[str, dict[str, xr.DataArray]] = {name: {} for name in needed[1:]}
    for name in outcomes:
        variable, own = _observed_rows(fit, name, needed[1:])
        dim = f"obs_{variable}"
        for where, variables in groups.items():
            variables[name] = (fit.idata[where][variable].sel({dim: own})
                               .rename({dim: f"obs_{name}"}))
    tree = xr.DataTree.from_dict({"posterior": fit.idata["posterior"].to_dataset(),
                                  **{where: xr.Dataset(variables)
                                     for where, variables in groups.items()}})
    loglik = tree["log_likelihood"].to_dataset()
    spread = loglik.max(("chain", "draw")) - loglik.min(("chain", "draw"))
    constant = {name: (np.isfinite(spread[name]) & (spread[name] < CONSTANT_LOGLIK)).values
                for name in outcomes}
    layout = {"col_wrap": min(3, len(outcomes)), "backend": "matplotlib"}
    try:
        if not any(rows.any() for rows in constant.values()):
            collection = az.plot_loo_pit(tree, var_names=outcomes, **layout)
        else:
            collection = _loo_pit_with_constant_rows(tree, outcomes, constant, layout)
    except ValueError as exc:  # PSIS fits a Pareto tail to the largest weights
        if "n_draws_tail" not in str(exc):
            raise
        samples = tree["posterior"].sizes["chain"] * tree["posterior"].sizes["draw"]
        raise DataError(f"the fit has too few posterior draws ({samples}) for PSIS-LOO to "
                        "smooth the leave-one-out weights of the LOO-PIT check; refit with "
                        "more draws.") from exc
    fig = _figure(collection)
    for name in outcomes:
        collection.viz["plot"][name].item().set_title(_title(fit, name), fontsize=10)
    fig.suptitle("LOO-PIT calibration: ECDF minus uniform CDF (p: test of uniformity; "
                 "marked: the points that depart most)", fontsize=10)
    fig.tight_layout()
    return fig


def _loo_pit_with_constant_rows(tree: xr.DataTree, outcomes: list[str],
                                constant: dict[str, np.ndarray], layout: dict[str, Any]):
    """The LOO-PIT figure when some observations have the same log likelihood in every
    draw (a value censored at a scale bound the model puts all its mass beyond).

    ``az.plot_loo_pit`` smooths every observation's importance weights with PSIS, which
    fails on such an observation ("All tail values are the same"); its leave-one-out
    weights are uniform (as :mod:`bayesdose.results.psis` takes them), so the weights are
    computed here, PSIS for the others, and given to ``az.loo_pit``; the values are drawn
    by ``az.plot_ecdf_pit`` with the settings ``az.plot_loo_pit`` uses.
    """
    posterior = tree["posterior"].to_dataset()
    samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    r_eff = 1.0  # relative efficiency of the draws, as az.loo_pit takes it
    if posterior.sizes["chain"] > 1:
        ess = az.ess(posterior, method="mean")
        r_eff = float(np.mean(np.concatenate([ess[v].values.ravel() for v in ess.data_vars]))
                      / samples)
    log_weights, pareto_k = {}, {}
    for name in outcomes:
        loglik = tree["log_likelihood"][name]
        dim = f"obs_{name}"
        weights = xr.full_like(loglik, -np.log(samples), dtype=float)
        k = xr.zeros_like(loglik.isel(chain=0, draw=0, drop=True), dtype=float)
        varying = ~constant[name]
        if varying.any():
            smoothed, khat = loglik.isel({dim: varying}).azstats.psislw(
                r_eff=r_eff, dim=["chain", "draw"])
            weights.loc[{dim: smoothed[dim]}] = smoothed.transpose(*weights.dims)
            k.loc[{dim: khat[dim]}] = khat
        log_weights[name], pareto_k[name] = weights, k
    values = az.loo_pit(tree, var_names=outcomes, log_weights=xr.Dataset(log_weights),
                        pareto_k=xr.Dataset(pareto_k), pareto_pit=True)
    return az.plot_ecdf_pit(xr.DataTree.from_dict({"loo_pit": values}), var_names=outcomes,
                            group="loo_pit", sample_dims=list(values.dims), method="pot_c",
                            visuals={"ylabel": {}, "remove_axis": False,
                                     "xlabel": {"text": "LOO-PIT"}},
                            **layout)


def _ordinal_check(ax, grades: np.ndarray, observed: np.ndarray, draws: np.ndarray,
                   group: str) -> None:
    k = grades.size
    observed_share = np.bincount(observed.astype(int), minlength=k)[:k] / observed.size
    shares = np.stack([np.bincount(row.astype(int), minlength=k)[:k] for row in draws])
    shares = shares / observed.size
    low, mid, high = np.percentile(shares, [5, 50, 95], axis=0)
    ax.bar(grades, observed_share, color="lightgrey", edgecolor="black", label="observed")
    ax.errorbar(grades, mid, yerr=[mid - low, high - mid], fmt="o", color="C0", capsize=3,
                label=f"{group} predictive (median, 90%)")
    ax.set_xticks(grades, [f"{g:g}" for g in grades])
    ax.set_xlabel("grade", fontsize=8)
    ax.set_ylabel("share of observations", fontsize=8)
