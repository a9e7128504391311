"""Figure of a simulation-based calibration: the ECDF of each quantity's ranks minus the
uniform CDF, with its simultaneous band.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from bayesdose.design.calibration import CalibrationResult


def plot_calibration(result: CalibrationResult, design: str | None = None,
                     band_prob: float = 0.95) -> Figure:
    """Rank ECDF differences of a simulation-based calibration, one panel per quantity.

    Each panel shows, for one quantity, the ECDF of the replicates' ranks minus the
    uniform CDF at the points ``i / (L + 1)``, and the simultaneous ``band_prob`` band
    (Säilynoja, Bürkner and Vehtari 2022), drawn as :func:`arviz_plots.plot_ecdf_pit`
    draws its ``"envelope"``; it is the band the calibration's ``summary()`` checks
    (:meth:`CalibrationResult.ecdf`). Under
    calibration the whole curve stays inside the band with
    probability ``band_prob``. A curve above then below zero (a U-shaped rank histogram:
    truths often in the posterior's tails) means posteriors too narrow; below then above
    (ranks piled in the middle), too wide; mostly above zero, truths ranked low (the
    posterior sits above the truth); mostly below, the reverse. Panels
    whose curve leaves the band are titled in red.

    Parameters
    ----------
    result : CalibrationResult
        The calibration (:func:`bayesdose.design.calibration.calibrate`).
    design : str, optional
        The candidate design (default: the first calibrated).
    band_prob : float
        Probability of the simultaneous band.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from bayesdose.design.calibration import CalibrationResult
    >>> ranks = pd.DataFrame({"design": "a", "replicate": np.arange(50), "variable": "delta",
    ...                       "rank": np.arange(50) * 2, "L": 99})
    >>> fig = plot_calibration(CalibrationResult(ranks))
    >>> fig.axes[0].get_title()
    'delta'
    """
    name = result.design_name(design)
    summary = result.summary(band_prob)
    summary = summary[summary["design"] == name]
    variables = list(summary["variable"])
    cols = min(4, len(variables))
    rows = -(-len(variables) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.5 * rows), sharex=True,
                             sharey=True, squeeze=False, constrained_layout=True)
    limit = 0.0
    for ax, row in zip(axes.ravel(), summary.itertuples(), strict=False):
        points, ecdf, lower, upper = result.ecdf(row.variable, name, band_prob)
        limit = max(limit, *np.abs(lower - points), *np.abs(upper - points),
                    *np.abs(ecdf - points))
        ax.fill_between(points, lower - points, upper - points, color="0.85",
                        label=f"simultaneous {band_prob:.0%} band")
        ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
        ax.plot(points, ecdf - points, color="tab:blue", linewidth=1.2,
                label="ECDF - uniform CDF")
        ax.set_title(row.variable + ("  (outside the band)" if row.outside_band else ""),
                     fontsize=9, color="tab:red" if row.outside_band else "black")
        ax.text(0.02, 0.04, f"chi-square p = {row.p_value:.2g}", transform=ax.transAxes,
                fontsize=7, color="0.3")
    for ax in axes.ravel()[len(variables):]:
        ax.remove()
    for j in range(cols):  # the lowest panel of each column carries the x axis
        ax = axes[(len(variables) - 1 - j) // cols, j]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("rank / (L + 1)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("Δ ECDF", fontsize=8)
    axes[0, 0].set_ylim(-1.1 * limit, 1.1 * limit)
    axes[0, 0].set_xlim(0.0, 1.0)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    n = int(summary["replicates"].max())
    fig.suptitle(f"{result.name}, design {name}: rank ECDF minus uniform CDF, {n} "
                 f"replicates, L = {int(summary['L'].max())}", fontsize=10)
    return fig
