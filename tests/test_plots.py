"""Figures: what they draw, checked on their data (no pixel comparisons)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from conftest import fixed_fit
from matplotlib.collections import PathCollection, PolyCollection
from scipy import stats

import bayesdose as bd
from bayesdose.errors import BayesdoseError, DataError, EstimandError
from bayesdose.inference.trees import drop_group, set_group
from bayesdose.model.dose_response import IdentifiabilityWarning
from bayesdose.plots.fits import (
    dose_grid,
    parameter_names,
    plot_contrast_forest,
    plot_forest,
    plot_loo_pit,
    plot_predictive_check,
    plot_time_course,
    plot_trace,
    predictive_draws,
)

MIXED = ["koos_pain", "womac_pain", "mri_t2", "mri_synovitis", "sf_il6"]


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
    # effects against the lowest tested dose (no placebo arm): none at dose 1 itself
    assert dose_ax.get_lines()[-1].get_ydata()[0] == pytest.approx(0.0, abs=1e-12)
    assert "vs dose 1" in dose_ax.get_ylabel()


def test_sigmoid_emax_with_three_doses_warns(msc):
    with pytest.warns(IdentifiabilityWarning, match="sigmoid_emax.*3 tested doses identify"):
        bd.DoseResponseModel("sigmoid_emax").build(msc.select(["koos_pain"]))


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def mixed_fit(msc):
    """Five outcomes, three families, normal/ordinal/lognormal likelihoods; 2 x 40
    random (fixed-seed) draws, with observed data, a posterior predictive and a log
    likelihood group."""
    rng = np.random.default_rng(7)
    shape = (2, 40, len(MIXED))
    draws = {"delta": rng.normal(0.6, 0.4, shape), "log_t_half": rng.normal(-1.0, 0.3, shape),
             "course": rng.normal(0.2, 0.1, (*shape, 4)), "sigma": rng.gamma(5.0, 0.1, shape)}
    fit = fixed_fit(msc.select(MIXED), bd.DoseResponseModel("linear", "exponential"), draws)
    groups = observed_groups(fit, shift=rng.normal(0.0, 1.0, (2, 40)), rng=rng)
    for name, dataset in zip(("observed_data", "posterior_predictive", "log_likelihood"),
                             groups, strict=True):
        set_group(fit.idata, name, dataset)
    return fit


def observed_groups(fit, shift, rng):
    """observed_data, a predictive group and a log likelihood laid out as the model lays
    them out: one variable per likelihood (``grade_<outcome>`` per ordinal outcome) whose
    ``obs_*`` coordinate holds positions in the model's inputs. Continuous draws are the
    observed values plus ``shift[chain, draw]``, their log likelihood a normal one with a
    random location per draw and observation; ordinal draws repeat the observed grades, their
    log likelihood is the same in every draw (as for a value censored at a scale bound)."""
    inputs = fit.inputs
    observed, predictive, loglik = {}, {}, {}
    for kind in sorted(inputs.kinds):
        rows = inputs.observations(kind)
        if kind == "ordinal":
            for i, outcome in enumerate(inputs.outcomes):
                if inputs.likelihoods[outcome].name == "ordinal":
                    own = rows[inputs.outcome_idx[rows] == i]
                    codes = (inputs.response[own] - inputs.categories[outcome][0]).astype(int)
                    dim = f"obs_grade_{outcome}"
                    draws = ("chain", "draw", dim)
                    observed[f"grade_{outcome}"] = xr.DataArray(codes, {dim: own}, dim)
                    predictive[f"grade_{outcome}"] = xr.DataArray(
                        np.broadcast_to(codes, (*shift.shape, codes.size)), {dim: own}, draws)
                    loglik[f"grade_{outcome}"] = xr.DataArray(
                        np.full((*shift.shape, codes.size), np.log(0.3)), {dim: own}, draws)
            continue
        variable = inputs.likelihoods[inputs.outcomes[inputs.outcome_idx[rows[0]]]].variable
        dim = f"obs_{variable}"
        values = inputs.response[rows]
        observed[variable] = xr.DataArray(values, {dim: rows}, dim)
        predictive[variable] = xr.DataArray(values + shift[..., None], {dim: rows},
                                            ("chain", "draw", dim))
        location = values + rng.normal(0.0, 1.0, (*shift.shape, values.size))
        loglik[variable] = xr.DataArray(stats.norm.logpdf(values, location), {dim: rows},
                                        ("chain", "draw", dim))
    return xr.Dataset(observed), xr.Dataset(predictive), xr.Dataset(loglik)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


# ---------------------------------------------------------------------- time course
def test_time_course_draws_expected_change_per_dose_with_observed_means(mixed_fit, msc):
    fig = plot_time_course(mixed_fit)
    assert len(fig.axes) == len(MIXED)  # spare grid cell removed
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [mixed_fit.data.info(o).label for o in MIXED]
    ax = fig.axes[0]
    assert "months" in ax.get_xlabel() and "points" in ax.get_ylabel()
    assert list(ax.get_xticks()) == [1.0, 3.0, 6.0, 12.0]
    curves = [line for line in ax.get_lines() if line.get_label().endswith("million cells")]
    assert [c.get_label() for c in curves] == ["1 million cells", "10 million cells",
                                               "50 million cells"]
    expected = mixed_fit.expected_change(dose=50, outcome="koos_pain", ci_prob=0.9)
    x, y = curves[2].get_data()
    np.testing.assert_allclose(x, expected["time"])
    np.testing.assert_allclose(y, expected["mean"])
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3  # one band per dose
    band = bands[2].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(expected["ci_low"].min())
    assert band.max() == pytest.approx(expected["ci_high"].max())
    assert ax.get_legend().get_title().get_text().startswith("90% equal-tailed interval")
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(points) == 3
    raw = msc.summary().query("outcome == 'koos_pain' and dose == 50")
    np.testing.assert_allclose(np.asarray(points[2].get_ydata(), dtype=float),
                               raw["mean_change"].to_numpy())
    np.testing.assert_allclose(np.asarray(points[2].get_xdata(), dtype=float),
                               raw["time"].to_numpy(), atol=0.5)  # nudged sideways only


def test_time_course_marks_mcid_in_the_direction_of_improvement(mixed_fit):
    fig = plot_time_course(mixed_fit, outcome=["koos_pain", "womac_pain", "mri_t2"],
                           dose=[10, 50])
    assert len(fig.axes) == 3
    for ax, name, sign in zip(fig.axes[:2], ["koos_pain", "womac_pain"], [1, -1],
                              strict=True):
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1
        lowest = mixed_fit.expected_change(dose=1, outcome=name)["mean"].to_numpy()
        np.testing.assert_allclose(dashed[0].get_ydata(), lowest + sign * 10.0)
        assert "MCID" in dashed[0].get_label()
    assert not [line for line in fig.axes[2].get_lines() if line.get_linestyle() == "--"]
    assert len([c for c in fig.axes[0].get_lines() if c.get_marker() == "o"]) == 2


def test_time_course_has_no_observed_means_on_the_latent_ordinal_scale(mixed_fit):
    ax = plot_time_course(mixed_fit, outcome="mri_synovitis").axes[0]
    assert not [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert "latent" in ax.get_ylabel()
    with pytest.raises(EstimandError, match="not in this fit"):
        plot_time_course(mixed_fit, outcome="koos_qol")


# ---------------------------------------------------------------------- forest
def forest_rows(ax):
    """Map each y tick position to its label."""
    return {round(y, 6): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels(),
                                                      strict=True)}


def test_forest_points_are_contrast_means_grouped_by_family(mixed_fit):
    fig = plot_contrast_forest(mixed_fit, dose=50, time=12)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["PROM", "KOOS pain", "WOMAC pain (0-100)", "MRI",
                      "Cartilage T2 relaxation time", "MRI grade", "MRI synovitis score",
                      "biomarker", "Synovial-fluid interleukin-6"]
    bold = [t.get_fontweight() for t in ax.get_yticklabels()]
    assert bold[0] == "bold" and bold[1] != "bold"
    table = mixed_fit.contrast(50, time=12, ci_prob=0.9, scale="standardised")
    by_label = {mixed_fit.data.info(o).label: row for o, row in table.set_index("outcome")
                .iterrows()}
    rows = forest_rows(ax)
    points = next(line for line in ax.get_lines() if line.get_marker() == "o")
    for x, y in zip(*points.get_data(), strict=True):
        assert x == pytest.approx(by_label[rows[round(y, 6)]]["mean"])
    intervals = ax.collections[0].get_segments()
    assert len(intervals) == len(MIXED)
    lows = sorted(seg[0, 0] for seg in intervals)
    assert lows == pytest.approx(sorted(table["ci_low"]))
    assert "vs 1 million cells at 12 months" in ax.get_title()  # the lowest tested dose
    assert "90% equal-tailed interval" in ax.get_title()
    texts = {round(t.get_position()[1], 6): t.get_text() for t in ax.texts}
    koos = by_label["KOOS pain"]
    y_koos = next(y for y, label in rows.items() if label == "KOOS pain")
    assert texts[y_koos] == f"P(>MCID) {koos['prob_gt_mcid']:.2f}"
    y_t2 = next(y for y, label in rows.items() if label.startswith("Cartilage"))
    assert texts[y_t2].startswith("P(>0)")  # no MCID declared
    assert any(line.get_xdata()[0] == 0 for line in ax.get_lines()
               if line.get_linestyle() == "-" and line.get_marker() in ("None", ""))


def test_forest_on_outcome_scale_marks_mcid_on_the_improving_side(mixed_fit):
    fig = plot_contrast_forest(mixed_fit, dose=[10, 50], reference=1, time=12,
                               scale="outcome")
    ax = fig.axes[0]
    marks = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    xs = sorted(float(seg[0, 0]) for c in marks for seg in c.get_segments())
    assert xs == [-10.0, 10.0]  # WOMAC pain: lower is better; KOOS pain: higher
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(points) == 2  # one series per dose
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "KOOS pain (points)" in labels and "Synovial-fluid interleukin-6 (log ratio)" in labels
    assert "MRI synovitis score (latent logit)" in labels
    assert len(ax.texts) == 2 * len(MIXED)
    with pytest.raises(EstimandError, match="one time"):
        plot_contrast_forest(mixed_fit, dose=50, time=[3, 12])


def test_forest_without_families_has_no_headers(msc):
    data = msc.select(["koos_pain", "womac_pain"])
    draws = {"delta": np.full((1, 20, 2), 1.0), "log_t_half": np.full((1, 20, 2), -2.0),
             "course": np.zeros((1, 20, 2, 4))}
    fit = fixed_fit(data, bd.DoseResponseModel("linear", "exponential"), draws)
    ax = plot_contrast_forest(fit, dose=50).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["KOOS pain", "WOMAC pain (0-100)"]
    assert "at 12 months" in ax.get_title()
    one = {"delta": draws["delta"][:, :, :1], "log_t_half": draws["log_t_half"][:, :, :1],
           "course": np.zeros((1, 20, 1, 2))}  # T2 measured at two visits
    t2 = fixed_fit(msc.select(["mri_t2"]), bd.DoseResponseModel("linear", "exponential"), one)
    ax = plot_contrast_forest(t2, dose=10).axes[0]
    assert "MCID" not in ax.get_title() and ax.texts[0].get_text().startswith("P(>0)")


# ---------------------------------------------------------------------- trace
def test_trace_defaults_to_the_summary_parameters(msc):
    rng = np.random.default_rng(3)
    draws = {"delta": rng.normal(size=(2, 30, 1)), "log_t_half": rng.normal(size=(2, 30, 1)),
             "course": rng.normal(size=(2, 30, 1, 4)), "sigma": rng.gamma(5.0, size=(2, 30, 1)),
             "patient_effect_offset": rng.normal(size=(2, 30, 1, 12))}
    fit = fixed_fit(msc.select(["koos_pain"]), bd.DoseResponseModel("linear", "exponential"),
                    draws)
    names = parameter_names(fit)
    assert names == ["delta", "log_t_half", "course", "sigma"]  # no offsets
    fig = plot_trace(fit)
    assert len(fig.axes) == 2 * len(names)  # one row per variable: density, ranks
    assert [fig.axes[2 * i].get_xlabel() for i in range(len(names))] == names
    assert [fig.axes[2 * i + 1].get_ylabel() for i in range(len(names))] == names
    assert fig.axes[1].get_xlabel() == "Fractional ranks"
    assert len(fig.axes[1].get_lines()) >= 2  # a rank Δ-ECDF per chain
    assert len(fig.axes[5].get_lines()) >= 2 * 4  # course: per chain and visit, one row
    assert fig._suptitle.get_text() == "Rank plots, 2 chains x 30 draws"


def test_trace_kinds_and_bad_arguments(mixed_fit):
    fig = plot_trace(mixed_fit, var_names="delta", kind="trace")
    assert len(fig.axes) == 2
    lines = fig.axes[1].get_lines()
    assert len(lines) == 2 * len(MIXED)  # a line per chain and outcome
    delta = mixed_fit.idata["posterior"]["delta"]
    np.testing.assert_allclose(sorted(line.get_ydata()[0] for line in lines),
                               np.sort(delta.isel(draw=0).values.ravel()))
    assert fig.axes[1].get_xlabel() == "Draw" and fig.axes[0].get_xlabel() == "delta"
    assert fig._suptitle.get_text().startswith("Trace plots")
    for removed in ("rank_bars", "rank_vlines"):
        with pytest.raises(EstimandError, match=rf"{removed}.*ArviZ 1.*kind='rank'"):
            plot_trace(mixed_fit, ["sigma"], kind=removed)
    with pytest.raises(EstimandError, match="kind must be one of rank, trace"):
        plot_trace(mixed_fit, kind="pair")
    with pytest.raises(EstimandError, match="patient_z"):
        plot_trace(mixed_fit, var_names=["patient_z"])
    with pytest.raises(EstimandError, match="not in the posterior"):
        plot_trace(mixed_fit, var_names=[])


def test_trace_with_more_rows_than_arviz_allows_by_default(msc):
    """arviz-plots refuses more than plot.max_subplots (40) panels; 21 variables need 42."""
    rng = np.random.default_rng(5)
    draws = {f"v{i}": rng.normal(size=(2, 20, 1)) for i in range(21)}
    fit = fixed_fit(msc.select(["koos_pain"]), bd.DoseResponseModel("linear", "exponential"),
                    draws)
    fig = plot_trace(fit, var_names=list(draws), kind="trace")
    assert len(fig.axes) == 42
    assert az.rcParams["plot.max_subplots"] == 40  # the cap is raised only inside


# ---------------------------------------------------------------------- parameter forest
def test_parameter_forest_points_are_posterior_means(mixed_fit):
    fig = plot_forest(mixed_fit, var_names=["delta", "sigma"])
    labels_ax, forest_ax = fig.axes
    labels = [t.get_text() for t in labels_ax.texts]
    assert "delta" in labels and "sigma" in labels and "koos_pain" in labels
    posterior = mixed_fit.idata["posterior"]
    means = np.concatenate([posterior[v].mean(("chain", "draw")).values for v in
                            ("delta", "sigma")])
    points = np.concatenate([c.get_offsets()[:, 0] for c in forest_ax.collections
                             if isinstance(c, PathCollection)])
    np.testing.assert_allclose(np.sort(points), np.sort(means))
    lines = forest_ax.get_lines()
    assert len(lines) == 2 * means.size  # 50% and 90% intervals per component
    assert "90% equal-tailed intervals" in fig._suptitle.get_text()
    sigma = posterior["sigma"].sel(outcome="koos_pain").values.ravel()
    ends = [sorted(line.get_xdata()) for line in lines]
    eti = sorted(np.quantile(sigma, [0.05, 0.95]))
    assert any(np.allclose(end, eti, rtol=1e-6) for end in ends)  # equal-tailed by default
    hdi = plot_forest(mixed_fit, var_names=["delta", "sigma"], ci_kind="hdi")
    assert "90% highest-density intervals" in hdi._suptitle.get_text()


def test_parameter_forest_defaults_and_bad_arguments(mixed_fit):
    fig = plot_forest(mixed_fit)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert set(parameter_names(mixed_fit)) <= texts
    points = sum(len(c.get_offsets()) for c in fig.axes[1].collections
                 if isinstance(c, PathCollection))
    assert points == 5 + 5 + 5 * 4 + 5  # delta, log_t_half, course (x 4 visits), sigma
    with pytest.raises(EstimandError, match="patient_z"):
        plot_forest(mixed_fit, var_names="patient_z")


# ---------------------------------------------------------------------- predictive checks
def test_predictive_draws_select_one_outcomes_rows(mixed_fit, msc):
    observed, draws = predictive_draws(mixed_fit, "womac_pain")
    raw = msc.changes.query("outcome == 'womac_pain'")["change"].to_numpy()
    np.testing.assert_allclose(np.sort(observed), np.sort(raw))
    assert draws.shape == (80, raw.size)
    grades, _ = predictive_draws(mixed_fit, "mri_synovitis")
    assert sorted(grades.tolist()) == sorted(
        msc.changes.query("outcome == 'mri_synovitis'")["value"].astype(int).tolist())


def test_predictive_check_overlays_observed_ecdf_and_draws(mixed_fit, msc):
    fig = plot_predictive_check(mixed_fit, n_draws=30)
    assert len(fig.axes) == len(MIXED)
    assert [ax.get_title() for ax in fig.axes] == [mixed_fit.data.info(o).label
                                                   for o in MIXED]
    ax = fig.axes[0]
    assert "points" in ax.get_xlabel() and ax.get_ylabel() == "cumulative proportion"
    observed = next(line for line in ax.get_lines() if line.get_label() == "observed")
    raw = np.sort(msc.changes.query("outcome == 'koos_pain'")["change"].to_numpy())
    x, y = (np.asarray(v, dtype=float) for v in observed.get_data())
    assert x.min() == pytest.approx(raw[0]) and x.max() == pytest.approx(raw[-1])
    assert y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)
    # the ECDF: share of observed values at or below each x
    np.testing.assert_allclose(y[1:-1], np.searchsorted(raw, x[1:-1], side="right")
                               / raw.size, atol=1.0 / raw.size)
    assert len(ax.get_lines()) == 30 + 1  # one ECDF per predictive data set, and the data
    shifted = ax.get_lines()[0]  # a predictive data set: the data shifted by one draw
    assert np.ptp(shifted.get_xdata()) == pytest.approx(raw[-1] - raw[0])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["posterior predictive", "observed"]
    assert "log ratio" in fig.axes[4].get_xlabel()
    assert fig._suptitle.get_text() == "Posterior predictive check (30 draws)"


def test_predictive_check_ordinal_shows_grade_shares(mixed_fit, msc):
    ax = plot_predictive_check(mixed_fit, outcome="mri_synovitis").axes[0]
    grades = msc.changes.query("outcome == 'mri_synovitis'")["value"].astype(int)
    share = np.bincount(grades, minlength=4) / grades.size
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], share)
    predicted = next(line for line in ax.get_lines() if line.get_marker() == "o")
    np.testing.assert_allclose(predicted.get_ydata(), share)  # draws repeat the data
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]


def test_predictive_check_needs_the_group(mixed_fit):
    with pytest.raises(BayesdoseError, match="no prior_predictive group"):
        plot_predictive_check(mixed_fit, group="prior")
    with pytest.raises(DataError):
        plot_predictive_check(mixed_fit, group="prior")
    with pytest.raises(EstimandError, match="group must be"):
        plot_predictive_check(mixed_fit, group="posterior_predictive")
    with pytest.raises(EstimandError, match="n_draws"):
        plot_predictive_check(mixed_fit, n_draws=0)


# ---------------------------------------------------------------------- LOO-PIT
def loo_pit_curve(ax):
    """The Δ-ECDF of an LOO-PIT panel: its evaluation points and ECDF minus uniform CDF."""
    x, y = (np.asarray(v, dtype=float) for v in ax.get_lines()[-1].get_data())
    return x, y


def test_loo_pit_is_that_of_each_outcomes_own_observations(mixed_fit):
    fig = plot_loo_pit(mixed_fit, outcome=["koos_pain", "sf_il6"])
    assert [ax.get_title() for ax in fig.axes] == ["KOOS pain", "Synovial-fluid interleukin-6"]
    assert all(ax.get_xlabel() == "LOO-PIT" for ax in fig.axes)
    assert "test of uniformity" in fig._suptitle.get_text()
    assert all(any(t.get_text().startswith("p=") for t in ax.texts) for ax in fig.axes)
    variables = {"koos_pain": "change", "sf_il6": mixed_fit.inputs.likelihoods["sf_il6"].variable}
    for ax, (outcome, variable) in zip(fig.axes, variables.items(), strict=True):
        pit = az.loo_pit(mixed_fit.idata, var_names=[variable], pareto_pit=True)[variable]
        dim = f"obs_{variable}"
        rows = pit[dim].values
        own = rows[mixed_fit.inputs.outcome_idx[rows] == MIXED.index(outcome)]
        values = np.sort(pit.sel({dim: own}).values)
        x, y = loo_pit_curve(ax)
        assert x.size == values.size and x[0] == 0 and x[-1] == 1
        np.testing.assert_allclose(y, np.searchsorted(values, x, side="right") / values.size
                                   - x, atol=1e-12)


def test_loo_pit_with_a_constant_log_likelihood(mixed_fit):
    """The ordinal outcome's log likelihood is the same in every draw: arviz-stats' PSIS
    fails on it, its weights are uniform, and the other outcomes' panels do not change."""
    fig = plot_loo_pit(mixed_fit)
    assert [ax.get_title() for ax in fig.axes] == [mixed_fit.data.info(o).label for o in MIXED]
    assert len(fig.axes) == len(MIXED)  # the spare grid cell removed
    alone = plot_loo_pit(mixed_fit, outcome="koos_pain").axes[0]
    np.testing.assert_allclose(loo_pit_curve(fig.axes[0]), loo_pit_curve(alone))
    _, grades = loo_pit_curve(fig.axes[3])
    assert np.all(np.abs(grades) <= 1.0)


def test_loo_pit_needs_the_groups_and_known_outcomes(mixed_fit):
    with pytest.raises(EstimandError, match="not in this fit"):
        plot_loo_pit(mixed_fit, outcome="koos_qol")
    tree = mixed_fit.idata.copy()
    drop_group(tree, "log_likelihood")
    bare = bd.DoseResponseFit(mixed_fit.model, mixed_fit.data, tree)
    with pytest.raises(DataError, match=r"no log_likelihood group.*LOO-PIT"):
        plot_loo_pit(bare)
    assert "log_likelihood" in mixed_fit.idata.children  # the fixture is left as it was
    few = mixed_fit.idata.isel(draw=slice(0, 10), missing_dims="ignore")  # 2 x 10 draws
    with pytest.raises(DataError, match=r"too few posterior draws \(20\)"):
        plot_loo_pit(bd.DoseResponseFit(mixed_fit.model, mixed_fit.data, few))


@pytest.mark.slow
def test_figures_of_a_sampled_fit(msc):
    fit = bd.DoseResponseModel("linear", "exponential").fit(
        msc.select(["koos_pain"]), draws=50, tune=50, chains=2, cores=1, random_seed=2,
        progressbar=False, prior_draws=50)
    names = parameter_names(fit)
    assert "patient_effect_offset" not in names and "delta" in names
    assert len(plot_trace(fit).axes) == 2 * len(names)
    assert len(plot_trace(fit, kind="trace").axes) == 2 * len(names)
    raw = np.sort(msc.changes.query("outcome == 'koos_pain'")["change"].to_numpy())
    for group in ("posterior", "prior"):
        ax = plot_predictive_check(fit, group=group, n_draws=20).axes[0]
        observed = next(line for line in ax.get_lines() if line.get_label() == "observed")
        assert np.min(observed.get_xdata()) == pytest.approx(raw[0])
        assert np.max(observed.get_xdata()) == pytest.approx(raw[-1])
    assert [ax.get_title() for ax in plot_loo_pit(fit).axes] == ["KOOS pain"]
    assert len(plot_forest(fit).axes) == 2
    assert len(plot_time_course(fit).axes) == 1
    assert len(plot_contrast_forest(fit, dose=50).axes) == 1


def test_time_course_is_drawn_only_at_the_visits_an_outcome_was_measured(msc):
    data = msc.select(["koos_pain", "sf_il6"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="exponential")
    rng = np.random.default_rng(0)
    draws = {"delta": rng.normal(1, 0.1, (1, 50, 2)),
             "log_t_half": rng.normal(-1.5, 0.1, (1, 50, 2)),
             "beta_baseline": np.zeros((1, 50, 2)),
             "course": rng.normal(0, 0.1, (1, 50, 2, len(data.visits)))}
    fit = fixed_fit(data, model, draws)
    fig = plot_time_course(fit)
    try:
        for ax, name in zip(fig.axes, ["koos_pain", "sf_il6"], strict=True):
            curve = ax.get_lines()[0]
            assert list(curve.get_xdata()) == data.visits_for(name)
        assert data.visits_for("sf_il6") != data.visits_for("koos_pain")
    finally:
        plt.close(fig)
