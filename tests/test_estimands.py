"""Estimands on posteriors whose answer is known in closed form (fixed draws, no MCMC)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.errors import EstimandError
from bayesdose.results.estimands import (
    contrast_probabilities,
    credible_interval,
    dose_status,
    hdi,
    summarise,
)

ED50 = 10.0
T_HALF = 3.0


def quantile_draws(mean: float, sd: float, n: int = 4000) -> np.ndarray:
    """Evenly spaced Normal quantiles: a 'posterior' whose probabilities are exact."""
    return stats.norm.ppf((np.arange(n) + 0.5) / n, loc=mean, scale=sd)


@pytest.fixture(scope="module")
def emax_fit():
    data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
    p50 = (1 * 10 * 50) ** (1 / 3)
    n = 4000
    delta = np.stack([quantile_draws(1.0, 0.5, n), quantile_draws(0.8, 0.4, n)], axis=-1)
    draws = {
        "delta": delta.reshape(2, n // 2, 2),
        "log_ed50": np.full((2, n // 2, 2), np.log(ED50 / p50)),
        "log_t_half": np.full((2, n // 2, 2), np.log(T_HALF / 12)),
        "course": np.full((2, n // 2, 2, 4), 0.25),
    }
    return fixed_fit(data, model, draws)


def shape_factor(dose: float, time: float) -> float:
    """Closed-form f(d) g(t) per unit delta for ED50 = 10, doses 1 to 50, t_half = 3, last
    visit 12: delta is the effect of 50 against 1 at month 12."""
    emax = 1 / (50 / (ED50 + 50) - 1 / (ED50 + 1))
    onset = (1 - 0.5 ** (time / T_HALF)) / (1 - 0.5 ** (12 / T_HALF))
    return emax * dose / (ED50 + dose) * onset


def baseline_sd(fit: bd.DoseResponseFit, outcome: str) -> float:
    """The SD that standardises ``outcome`` in the fit (outcome units per standardised
    unit)."""
    return float(fit.inputs.scales.sd[fit.outcomes.index(outcome)])


def test_effect_matches_closed_form(emax_fit):
    table = emax_fit.effect(dose=[1, 10, 25, 50], time=[3, 12], reference=0).set_index(
        ["outcome", "dose", "time"])
    sd_pain = baseline_sd(emax_fit, "koos_pain")
    sd_womac = baseline_sd(emax_fit, "womac_pain")
    for dose in (1, 10, 25, 50):
        for time in (3, 12):
            expected = 1.0 * sd_pain * shape_factor(dose, time)
            assert table.loc[("koos_pain", dose, time), "mean"] == pytest.approx(expected,
                                                                                 rel=1e-6)
            # lower is better: the effect in outcome units is negative
            expected_w = -0.8 * sd_womac * shape_factor(dose, time)
            assert table.loc[("womac_pain", dose, time), "mean"] == pytest.approx(expected_w,
                                                                                  rel=1e-6)
    sd_expected = 0.5 * sd_pain * shape_factor(50, 12)
    assert table.loc[("koos_pain", 50, 12), "sd"] == pytest.approx(sd_expected, rel=1e-3)
    low, high = table.loc[("koos_pain", 50, 12), ["ci_low", "ci_high"]]
    z = stats.norm.ppf(0.975)
    tol = 0.01 * sd_expected  # a Normal posterior: the 95% interval is mean +/- 1.96 sd
    assert low == pytest.approx((1 - z * 0.5) * sd_pain * shape_factor(50, 12), abs=tol)
    assert high == pytest.approx((1 + z * 0.5) * sd_pain * shape_factor(50, 12), abs=tol)
    assert table.loc[("koos_pain", 25, 3), "dose_status"] == "interpolated"
    assert set(table["versus"]) == {"dose 0 (not tested: extrapolated by the dose shape)"}
    assert set(table["reference_status"]) == {"extrapolated"} and set(table["reference"]) == {0}


def test_standardised_scale_is_direction_aligned(emax_fit):
    table = emax_fit.effect(dose=50, time=12, scale="standardised").set_index("outcome")
    expected = 0.8 * (shape_factor(50, 12) - shape_factor(1, 12))  # against dose 1
    assert table.loc["womac_pain", "mean"] == pytest.approx(expected, rel=1e-6)


def test_contrast_and_probabilities_match_closed_form(emax_fit):
    mcid = 10.0
    table = emax_fit.contrast(dose=50, reference=1, time=12, mcid=mcid).set_index("outcome")
    for outcome, mean, sd, sign in (("koos_pain", 1.0, 0.5, 1), ("womac_pain", 0.8, 0.4, -1)):
        scale = baseline_sd(emax_fit, outcome) * (shape_factor(50, 12)
                                                       - shape_factor(1, 12))
        row = table.loc[outcome]
        assert row["mean"] == pytest.approx(sign * mean * scale, rel=1e-6)
        # P(improvement > 0) = P(delta > 0); P(improvement > mcid) = P(delta > mcid / scale)
        assert row["prob_gt_0"] == pytest.approx(stats.norm.sf(0, mean, sd), abs=1e-3)
        assert row["prob_gt_mcid"] == pytest.approx(stats.norm.sf(mcid / scale, mean, sd),
                                                    abs=1e-3)
        assert row["reference"] == 1.0 and row["mcid"] == mcid


def test_contrast_defaults_reference_lowest_dose_and_declared_mcid(emax_fit):
    table = emax_fit.contrast(dose=[10, 50], time=12)
    assert set(table["reference"]) == {1.0}
    assert set(table["mcid"]) == {10.0}  # the embedded example declares MCID 10
    explicit = emax_fit.contrast(dose=[10, 50], reference=1, time=12, mcid=10)
    assert table["prob_gt_mcid"].tolist() == explicit["prob_gt_mcid"].tolist()
    per_outcome = emax_fit.contrast(dose=50, time=12, mcid={"koos_pain": 5.0})
    assert per_outcome.set_index("outcome").loc["koos_pain", "mcid"] == 5.0


def test_effect_draws_agree_with_deterministic_formula(emax_fit):
    draws = emax_fit.effect_draws(dose=50, time=12, outcome="koos_pain")
    assert draws.dims == ("chain", "draw", "outcome", "dose", "time")
    delta = emax_fit.idata.posterior["delta"].sel(outcome="koos_pain") * baseline_sd(
        emax_fit, "koos_pain")
    expected = delta * (shape_factor(50, 12) - shape_factor(1, 12))  # against dose 1
    np.testing.assert_allclose(draws.sel(outcome="koos_pain", dose=50, time=12), expected)
    assert draws.attrs["reference"] == 1.0 and draws.attrs["reference_status"] == "tested"
    from_zero = emax_fit.effect_draws(dose=50, time=12, outcome="koos_pain", reference=0)
    np.testing.assert_allclose(from_zero.sel(outcome="koos_pain", dose=50, time=12),
                               delta * shape_factor(50, 12))
    assert from_zero.attrs["reference_status"] == "extrapolated"


def test_expected_change_adds_the_common_course(emax_fit):
    # course (0.25 SDs) is the change at the lowest tested dose, 1: the change at 50 adds
    # the contrast of 50 against 1, and at dose 0 it is 0.25 minus the effect of 1 vs 0
    change = emax_fit.expected_change(dose=[0, 50], time=12, outcome="koos_pain")
    change = change.set_index("dose")["mean"]
    effect = emax_fit.effect(dose=50, time=12, outcome="koos_pain", reference=1)
    sd = baseline_sd(emax_fit, "koos_pain")
    assert change[50] == pytest.approx(effect["mean"].iloc[0] + 0.25 * sd)
    delta = emax_fit.idata.posterior["delta"].sel(outcome="koos_pain").to_numpy().mean()
    lowest = delta * shape_factor(1, 12) * sd  # f(1) g(12) against dose 0
    assert change[0] == pytest.approx(0.25 * sd - lowest)
    assert emax_fit.contrast(dose=50, time=12, outcome="koos_pain")["mean"].iloc[0] == (
        pytest.approx(delta * sd))


def test_estimand_errors(emax_fit):
    with pytest.raises(EstimandError, match="not in this fit"):
        emax_fit.effect(outcome="koos_qol")
    with pytest.raises(EstimandError, match="before the baseline"):
        emax_fit.effect(time=-1)
    with pytest.raises(EstimandError, match="mcid must be positive"):
        emax_fit.contrast(dose=50, mcid=-3)
    with pytest.raises(EstimandError, match="scale must be one of"):
        emax_fit.effect(scale="log")
    with pytest.raises(EstimandError, match="ci_prob"):
        emax_fit.effect(ci_prob=1.2)
    with pytest.raises(EstimandError, match="ci_kind"):
        emax_fit.contrast(dose=50, ci_kind="quantile")
    with pytest.raises(EstimandError, match="reference must be one dose"):
        emax_fit.effect(reference=-1)


def test_free_shape_without_placebo_measures_against_lowest_dose():
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel(dose_shape="free", time_shape="free")
    draws = {
        "delta": np.tile([0.5, 1.0], (1, 100, 1, 1)),
        "gamma": np.tile([0.2, 0.5, 0.8], (1, 100, 1, 1)),
        "course": np.zeros((1, 100, 1, 4)),
    }
    fit = fixed_fit(data, model, draws)
    table = fit.effect(time=[3, 12]).set_index(["dose", "time"])
    sd = baseline_sd(fit, "koos_pain")
    assert table.loc[(1.0, 12.0), "mean"] == pytest.approx(0.0)
    assert table.loc[(10.0, 12.0), "mean"] == pytest.approx(0.5 * sd)
    assert table.loc[(50.0, 3.0), "mean"] == pytest.approx(1.0 * 0.5 * sd)
    assert table["versus"].iloc[0].startswith("dose 1 (lowest tested")
    with pytest.raises(EstimandError, match="not tested"):
        fit.effect(dose=20)
    with pytest.raises(EstimandError, match="not tested"):
        fit.effect(dose=50, reference=0)  # no curve below the lowest tested dose
    with pytest.raises(EstimandError, match="not visits"):
        fit.effect(time=9)


def test_hdi_matches_arviz():
    rng = np.random.default_rng(0)
    samples = rng.gamma(2.0, size=(3, 5000))
    low, high = hdi(samples, 0.9)
    for i in range(3):
        ref = az.hdi(samples[i], prob=0.9)
        assert [low[i], high[i]] == pytest.approx(ref, rel=1e-12)


def test_contrast_probabilities_direction_aware():
    draws = np.array([-12.0, -3.0, 1.0, 20.0]).reshape(1, 4, 1)
    lower_better = contrast_probabilities(draws, np.array([-1.0]), np.array([5.0]))
    higher_better = contrast_probabilities(draws, np.array([1.0]), np.array([np.nan]))
    assert lower_better["prob_gt_0"][0] == 0.5 and lower_better["prob_gt_mcid"][0] == 0.25
    assert higher_better["prob_gt_0"][0] == 0.5 and np.isnan(higher_better["prob_gt_mcid"][0])


def test_dose_status_labels():
    assert dose_status([1, 2, 60, 0], [1, 10, 50]) == [
        "tested", "interpolated", "extrapolated", "extrapolated"]


def test_standardised_contrast_gives_the_same_probabilities(emax_fit):
    outcome = emax_fit.contrast(dose=50, time=12, mcid=10).set_index("outcome")
    standard = emax_fit.contrast(dose=50, time=12, mcid=10, scale="standardised").set_index(
        "outcome")
    sd = baseline_sd(emax_fit, "womac_pain")
    assert standard.loc["womac_pain", "mean"] == pytest.approx(
        -outcome.loc["womac_pain", "mean"] / sd)  # aligned: improvement is positive
    assert standard.loc["womac_pain", "mcid"] == pytest.approx(10 / sd)
    for column in ("prob_gt_0", "prob_gt_mcid"):
        np.testing.assert_allclose(standard[column], outcome[column])


# ---------------------------------------------------------------------- intervals
def skewed_fit():
    """A fit whose delta draws are fixed and right-skewed (ETI and HDI differ)."""
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="exponential")
    rng = np.random.default_rng(11)
    draws = {"delta": rng.gamma(1.5, 0.6, size=(2, 400, 1)),
             "log_t_half": np.full((2, 400, 1), np.log(0.01)),  # plateau by month 1
             "course": np.zeros((2, 400, 1, 4))}
    return fixed_fit(data, model, draws)


def test_intervals_are_equal_tailed_numpy_quantiles_by_default():
    fit = skewed_fit()
    delta = fit.idata.posterior["delta"].to_numpy()[..., 0].reshape(-1)
    sd = baseline_sd(fit, "koos_pain")
    # delta is the effect of 50 against 1 at the last visit: the contrast is delta * sd
    values = delta * sd
    table = fit.contrast(dose=50, time=12, ci_prob=0.9)
    row = table.iloc[0]
    low, high = np.quantile(values, [0.05, 0.95])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert row["median"] == pytest.approx(np.median(values), rel=1e-9)
    assert table.attrs["ci"] == "eti 90%"
    effect = fit.effect(dose=50, time=12, ci_prob=0.9).iloc[0]
    assert (effect["ci_low"], effect["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    change = fit.expected_change(dose=50, time=12, ci_prob=0.9).iloc[0]
    # the course (0) is the change at the lowest dose: the change at 50 is the contrast
    np.testing.assert_allclose([change["ci_low"], change["ci_high"]],
                               np.quantile(delta * sd, [0.05, 0.95]), rtol=1e-9)
    # highest density on request: the shortest interval holding 90% of the draws
    hdi_row = fit.contrast(dose=50, time=12, ci_prob=0.9, ci_kind="hdi").iloc[0]
    h_low, h_high = (float(v) for v in hdi(values, 0.9))
    assert (hdi_row["ci_low"], hdi_row["ci_high"]) == pytest.approx((h_low, h_high), rel=1e-12)
    assert h_high - h_low < high - low and h_low < low  # right skew: the HDI sits lower
    assert fit.contrast(dose=50, time=12, ci_kind="hdi").attrs["ci"] == "hdi 95%"


def test_credible_interval_is_the_one_rule():
    rng = np.random.default_rng(3)
    samples = rng.lognormal(0.0, 0.8, size=(3, 2000))
    low, high = credible_interval(samples, 0.8)
    np.testing.assert_allclose(low, np.quantile(samples, 0.1, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(high, np.quantile(samples, 0.9, axis=-1), rtol=1e-12)
    for i in range(3):
        ref = az.eti(samples[i], prob=0.8)
        assert [low[i], high[i]] == pytest.approx(ref, rel=1e-9)
    h_low, h_high = credible_interval(samples, 0.8, "hdi")
    np.testing.assert_array_equal(h_low, hdi(samples, 0.8)[0])
    np.testing.assert_array_equal(h_high, hdi(samples, 0.8)[1])
    stats_ = summarise(samples.T.reshape(1, 2000, 3), 0.8)
    assert set(stats_) == {"mean", "sd", "median", "ci_low", "ci_high"}
    np.testing.assert_allclose(stats_["ci_low"], low, rtol=1e-12)
    with pytest.raises(EstimandError, match="ci_kind"):
        credible_interval(samples, 0.8, "shortest")
    with pytest.raises(EstimandError, match="ci_prob"):
        credible_interval(samples, 1.0)


def test_parameter_summary_is_equal_tailed_unless_hdi_is_asked_for(emax_fit):
    eti = emax_fit.parameter_summary(ci_prob=0.9)
    assert {"eti90_lb", "eti90_ub"} <= set(eti.columns)
    row = eti.set_index("parameter").loc["delta[koos_pain]"]
    delta = emax_fit.idata.posterior["delta"].sel(outcome="koos_pain").to_numpy().reshape(-1)
    assert (row["eti90_lb"], row["eti90_ub"]) == pytest.approx(
        tuple(np.quantile(delta, [0.05, 0.95])), rel=1e-9)
    assert {"hdi90_lb", "hdi90_ub"} <= set(emax_fit.parameter_summary(0.9, "hdi").columns)


# ---------------------------------------------------------------------- reference dose
def test_default_reference_without_placebo_is_the_lowest_tested_dose(emax_fit):
    """Without a placebo arm, effects are against the lowest tested dose unless dose 0 is
    asked for, and then the table says that dose 0 is extrapolated."""
    table = emax_fit.effect(dose=[1, 10, 50], time=12).set_index(["outcome", "dose"])
    sd = baseline_sd(emax_fit, "koos_pain")
    assert table.loc[("koos_pain", 1.0), "mean"] == 0.0  # the reference itself
    assert table.loc[("koos_pain", 50.0), "mean"] == pytest.approx(
        sd * (shape_factor(50, 12) - shape_factor(1, 12)), rel=1e-6)
    assert set(table["reference"]) == {1.0} and set(table["reference_status"]) == {"tested"}
    assert set(table["versus"]) == {"dose 1 (lowest tested; no placebo arm)"}
    assert emax_fit.versus() == "dose 1 (lowest tested; no placebo arm)"
    # the default effect is the contrast against the lowest dose, draw by draw
    contrast = emax_fit.contrast(dose=50, time=12).set_index("outcome")
    assert table.loc[("koos_pain", 50.0), "mean"] == pytest.approx(
        contrast.loc["koos_pain", "mean"], rel=1e-12)
    assert contrast.loc["koos_pain", "reference_status"] == "tested"
    # dose 0 only when asked for, flagged as an extrapolation
    zero = emax_fit.effect(dose=50, time=12, reference=0)
    assert set(zero["reference_status"]) == {"extrapolated"}
    assert zero.attrs["reference_status"] == "extrapolated"
    assert set(zero["versus"]) == {"dose 0 (not tested: extrapolated by the dose shape)"}
    explicit = emax_fit.contrast(dose=50, reference=0, time=12)
    assert set(explicit["reference_status"]) == {"extrapolated"}
    improves = emax_fit.prob_improves(dose=50, time=12)
    assert set(improves["reference"]) == {1.0}
    assert set(emax_fit.family_effect(dose=50, time=12)["reference"]) == {1.0}


def test_default_reference_with_placebo_is_dose_0():
    rows = []
    for i, dose in enumerate([0, 0, 10, 10, 50, 50]):
        for t in (0, 3, 12):
            rows.append({"patient": f"p{i}", "dose": dose, "time": t, "outcome": "pain",
                         "value": 40.0 + i + (dose / 10) * (t > 0) + 0.5 * t})
    data = bd.TrialData.from_frame(pd.DataFrame(rows), patient="patient", dose="dose",
                                   time="time", outcome="outcome", value="value")
    model = bd.DoseResponseModel("linear", "exponential")
    fit = fixed_fit(data, model, {"delta": np.full((1, 10, 1), 1.0),
                                  "log_t_half": np.full((1, 10, 1), -3.0),
                                  "course": np.zeros((1, 10, 1, 2))})
    table = fit.effect(time=12)
    assert set(table["reference"]) == {0.0} and set(table["reference_status"]) == {"tested"}
    assert set(table["versus"]) == {"dose 0 (tested)"}
    assert table["mean"].iloc[0] == 0.0 and table["mean"].iloc[-1] > 0
