"""Figures: what they draw, checked on their data (no pixel comparisons)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
from conftest import fixed_fit

import bayesdose as bd
from bayesdose.model import IdentifiabilityWarning
from bayesdose.plots import dose_grid


def test_dose_response_figure_draws_curve_band_and_observed_means(msc):
    data = msc.select(["koos_pain", "womac_pain"])
    model = bd.DoseResponseModel("linear", "exponential")
    draws = {"delta": np.full((1, 50, 2), 1.0), "log_t_half": np.full((1, 50, 2), -2.0),
             "course": np.zeros((1, 50, 2, 4))}
    fit = fixed_fit(data, model, draws)
    fig = fit.plot_dose_response(time=[3, 12])
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_title() == "KOOS pain"
    assert ax.get_xscale() == "log"  # no placebo: log dose axis
    curve = ax.get_lines()[0]
    x, y = curve.get_data()
    expected = fit.expected_change(dose=x, time=3, outcome="koos_pain")["mean"].to_numpy()
    np.testing.assert_allclose(y, expected)
    observed = msc.summary().query("outcome == 'koos_pain' and time == 3")  # raw changes
    points = next(line for line in ax.get_lines() if line.get_marker() == "o")
    np.testing.assert_allclose(np.asarray(points.get_ydata(), dtype=float),
                               observed["mean_change"].to_numpy())
    assert "million cells" in ax.get_xlabel()


def test_dose_grid_covers_tested_doses():
    grid = dose_grid([0.0, 10.0, 50.0], extrapolates=True)
    assert grid[0] == 0 and grid[-1] == 50 and 10.0 in grid
    assert dose_grid([1.0, 50.0], extrapolates=True)[0] == 1.0


def test_prior_plot_shows_the_prior_on_the_standardised_scale(msc):
    data = msc.select(["koos_pain"])
    fig = bd.DoseResponseModel("linear", "exponential").plot_prior(data, draws=400)
    dose_ax, time_ax = fig.axes
    median_dose = dose_ax.get_lines()[-1].get_ydata()
    assert abs(median_dose[-1]) < 0.2  # delta ~ Normal(0, 1): median effect near 0
    band = dose_ax.collections[0].get_paths()[0].vertices[:, 1]
    assert 1.0 < band.max() < 2.5  # 95th percentile of N(0,1) x g(12) is about 1.6
    assert time_ax.get_lines()[-1].get_ydata()[0] == pytest.approx(0.0)  # no effect at t=0


def test_sigmoid_emax_with_three_doses_warns(msc):
    with pytest.warns(IdentifiabilityWarning, match="sigmoid_emax.*3 tested doses identify"):
        bd.DoseResponseModel("sigmoid_emax").build(msc.select(["koos_pain"]))
