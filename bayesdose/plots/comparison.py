"""Figure of a model comparison: each candidate's dose-response curve with the
model-averaged one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from bayesdose.errors import EstimandError
from bayesdose.plots.fits import dose_grid
from bayesdose.results.estimands import as_list, interval_text

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from bayesdose.results.averaging import Comparison


# ---------------------------------------------------------------------- figure
def plot_candidates(comparison: Comparison, outcome: Any = None, time: float | None = None,
                    ci_prob: float = 0.9, ci_kind: str = "eti") -> Figure:
    """The candidates' dose-response curves with the model-averaged curve, per outcome.

    Every curve is the effect against the lowest tested dose (placebo when tested), so
    shapes that extrapolate to dose 0 and free per-dose means are drawn on one footing.
    Each candidate's posterior-mean curve is a coloured line (dashed when its weight is
    0); the model average is black with its ``ci_prob`` band (weighted mixture, as in
    :meth:`Comparison.average_contrast`). The legend gives each model's weight. Curves
    are drawn between the tested doses when every candidate has a curve there, else at
    the tested doses only.

    Parameters
    ----------
    comparison : Comparison
        The comparison.
    outcome : str or list of str, optional
        Outcomes, one panel each (default: all).
    time : float, optional
        Visit (default: the last visit).
    ci_prob : float
        Probability of the band.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density band.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_candidates(comparison, time=12)     # doctest: +SKIP
    """

    if not all(hasattr(comparison, name) for name in ("fits", "weights", "average_draws")):
        raise EstimandError("plot_candidates needs a Comparison (from compare or "
                            "fit_candidates).")
    first = comparison.first_fit
    names = first.posterior_view.outcome_names(outcome)
    t = float(first.inputs.visits[-1] if time is None else as_list(time, [], "time")[0])
    tested = list(first.inputs.doses)
    reference = float(min(tested))
    curves_everywhere = all(f.model.dose_shape.extrapolates_to_zero
                            for f in comparison.fits.values())
    grid = dose_grid(tested, curves_everywhere)
    doses = [d for d in grid if not np.isclose(d, reference)]
    table = comparison.average_contrast(doses, reference=reference, time=t, outcome=names,
                                        ci_prob=ci_prob, ci_kind=ci_kind)
    ncols = min(3, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.8 * nrows), squeeze=False)
    for ax in list(axes.flat)[len(names):]:
        ax.remove()
    colours = plt.get_cmap("tab10")(np.arange(len(comparison.fits)) % 10)
    for ax, name in zip(axes.flat, names, strict=False):
        rows = table[table["outcome"] == name]
        x = np.concatenate([[reference], rows["dose"].to_numpy()])

        def with_ref(values: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], values])

        for colour, (model, weight) in zip(colours, comparison.weights.items(), strict=False):
            ax.plot(x, with_ref(rows[f"mean[{model}]"].to_numpy()), color=colour,
                    linestyle="-" if weight > 0 else "--", linewidth=1.2,
                    label=f"{model} (w = {weight:.2f})")
        ax.fill_between(x, with_ref(rows["ci_low"].to_numpy()),
                        with_ref(rows["ci_high"].to_numpy()), color="black", alpha=0.15,
                        linewidth=0)
        ax.plot(x, with_ref(rows["mean"].to_numpy()), color="black", linewidth=2.0,
                label=f"model average ({interval_text(ci_prob, ci_kind)})")
        if not curves_everywhere:
            ax.plot(x, with_ref(rows["mean"].to_numpy()), "o", color="black", markersize=4)
        if reference > 0:
            ax.set_xscale("log")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        info = first.data.info(name)
        ax.set_xlabel(f"dose ({first.data.dose_unit})")
        ax.set_ylabel(f"effect vs dose {reference:g}\n"
                      + ("higher is better" if info.sign > 0 else "lower is better"),
                      fontsize=8)
        ax.set_title(info.label or name, fontsize=10)
        ax.legend(fontsize=7)
    table = comparison.table
    left_out = f", by {table['unit'].iloc[0]}" if "unit" in table.columns else ""
    fig.suptitle(f"Candidate models at {t:g} {first.data.time_unit}; weights by "
                 f"{comparison.method} ({comparison.ic}{left_out})", fontsize=9)
    fig.tight_layout()
    return fig
