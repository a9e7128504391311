"""Estimands on posteriors whose answer is known in closed form (fixed draws, no MCMC)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.errors import EstimandError
from bayesdose.results.estimands import contrast_probabilities, dose_status, hdi

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
    """Closed-form f(d) g(t) per unit delta for ED50 = 10, top dose 50, t_half = 3."""
    return dose / (ED50 + dose) * (ED50 + 50) / 50 * (1 - 0.5 ** (time / T_HALF))


def baseline_sd(data: bd.TrialData, outcome: str) -> float:
    base = data.baselines
    return float(base.loc[base["outcome"] == outcome, "baseline"].std(ddof=1))


def test_effect_matches_closed_form(emax_fit):
    table = emax_fit.effect(dose=[1, 10, 25, 50], time=[3, 12]).set_index(
        ["outcome", "dose", "time"])
    sd_pain = baseline_sd(emax_fit.data, "koos_pain")
    sd_womac = baseline_sd(emax_fit.data, "womac_pain")
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
    low, high = table.loc[("koos_pain", 50, 12), ["hdi_low", "hdi_high"]]
    z = stats.norm.ppf(0.975)
    tol = 0.01 * sd_expected  # a Normal posterior: the 95% HDI is mean +/- 1.96 sd
    assert low == pytest.approx((1 - z * 0.5) * sd_pain * shape_factor(50, 12), abs=tol)
    assert high == pytest.approx((1 + z * 0.5) * sd_pain * shape_factor(50, 12), abs=tol)
    assert table.loc[("koos_pain", 25, 3), "dose_status"] == "interpolated"
    assert set(table["versus"]) == {"dose 0 (not tested: extrapolated by the dose shape)"}


def test_standardised_scale_is_direction_aligned(emax_fit):
    table = emax_fit.effect(dose=50, time=12, scale="standardised").set_index("outcome")
    assert table.loc["womac_pain", "mean"] == pytest.approx(0.8 * shape_factor(50, 12),
                                                            rel=1e-6)


def test_contrast_and_probabilities_match_closed_form(emax_fit):
    mcid = 10.0
    table = emax_fit.contrast(dose=50, reference=1, time=12, mcid=mcid).set_index("outcome")
    for outcome, mean, sd, sign in (("koos_pain", 1.0, 0.5, 1), ("womac_pain", 0.8, 0.4, -1)):
        scale = baseline_sd(emax_fit.data, outcome) * (shape_factor(50, 12)
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
    expected = emax_fit.idata.posterior["delta"].sel(outcome="koos_pain") * baseline_sd(
        emax_fit.data, "koos_pain") * shape_factor(50, 12)
    np.testing.assert_allclose(draws.sel(outcome="koos_pain", dose=50, time=12), expected)


def test_expected_change_adds_the_common_course(emax_fit):
    change = emax_fit.expected_change(dose=50, time=12, outcome="koos_pain")
    effect = emax_fit.effect(dose=50, time=12, outcome="koos_pain")
    sd = baseline_sd(emax_fit.data, "koos_pain")
    assert change["mean"].iloc[0] == pytest.approx(effect["mean"].iloc[0] + 0.25 * sd)


def test_estimand_errors(emax_fit):
    with pytest.raises(EstimandError, match="not in this fit"):
        emax_fit.effect(outcome="koos_qol")
    with pytest.raises(EstimandError, match="before the baseline"):
        emax_fit.effect(time=-1)
    with pytest.raises(EstimandError, match="mcid must be positive"):
        emax_fit.contrast(dose=50, mcid=-3)
    with pytest.raises(EstimandError, match="scale must be one of"):
        emax_fit.effect(scale="log")
    with pytest.raises(EstimandError, match="hdi_prob"):
        emax_fit.effect(hdi_prob=1.2)


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
    sd = baseline_sd(data, "koos_pain")
    assert table.loc[(1.0, 12.0), "mean"] == pytest.approx(0.0)
    assert table.loc[(10.0, 12.0), "mean"] == pytest.approx(0.5 * sd)
    assert table.loc[(50.0, 3.0), "mean"] == pytest.approx(1.0 * 0.5 * sd)
    assert table["versus"].iloc[0].startswith("dose 1 (lowest tested")
    with pytest.raises(EstimandError, match="not tested"):
        fit.effect(dose=20)
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
    sd = baseline_sd(emax_fit.data, "womac_pain")
    assert standard.loc["womac_pain", "mean"] == pytest.approx(
        -outcome.loc["womac_pain", "mean"] / sd)  # aligned: improvement is positive
    assert standard.loc["womac_pain", "mcid"] == pytest.approx(10 / sd)
    for column in ("prob_gt_0", "prob_gt_mcid"):
        np.testing.assert_allclose(standard[column], outcome[column])
