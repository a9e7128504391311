"""Figures (matplotlib): dose-response curves, time courses and contrast forests of a fit,
and its MCMC rank/trace plots, parameter forest, predictive and LOO-PIT checks, drawn by
ArviZ's arviz-plots (:mod:`~bayesdose.plots.fits`); the candidates of a model comparison
(:mod:`~bayesdose.plots.comparison`), the operating characteristics of simulated
designs (:mod:`~bayesdose.plots.simulation`), the fit of each study of an arm-level model
(:mod:`~bayesdose.plots.arms`) and the rank ECDFs of a simulation-based
calibration (:mod:`~bayesdose.plots.calibration`).

``bd.plots`` is loaded on first use, so ``import bayesdose`` does not import matplotlib.
"""

from __future__ import annotations

from bayesdose.plots.arms import plot_study_fits
from bayesdose.plots.calibration import plot_calibration
from bayesdose.plots.comparison import plot_candidates
from bayesdose.plots.fits import (
    dose_grid,
    parameter_names,
    plot_contrast_forest,
    plot_dose_response,
    plot_forest,
    plot_loo_pit,
    plot_predictive_check,
    plot_prior_predictive,
    plot_time_course,
    plot_trace,
    predictive_draws,
)
from bayesdose.plots.simulation import plot_operating_characteristics

__all__ = [
    "dose_grid",
    "parameter_names",
    "plot_calibration",
    "plot_candidates",
    "plot_contrast_forest",
    "plot_dose_response",
    "plot_forest",
    "plot_loo_pit",
    "plot_operating_characteristics",
    "plot_predictive_check",
    "plot_prior_predictive",
    "plot_study_fits",
    "plot_time_course",
    "plot_trace",
    "predictive_draws",
]
