"""Dose and time estimands exist only where the dose effect is an improvement, are
summarised by quantiles (never by a mean that need not exist), say when their posterior
is barely narrower than their prior, and do not pass shape constraints off as evidence.
Fixed draws with known answers (no MCMC)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import fixed_fit

import bayesdose as bd
from bayesdose.errors import EstimandError
from bayesdose.results import dose_estimands as de
from bayesdose.results.dose_estimands import ByConstructionWarning, effective_dose_draws
from bayesdose.results.estimands import credible_interval
from bayesdose.results.posterior import PRIOR_DOMINATED_RATIO, compare_to_prior

P50 = 500 ** (1 / 3)  # geometric mean of the tested doses 1, 10, 50
CHAINS, DRAWS = 2, 2000
OUTCOMES = ("koos_pain", "womac_pain")
NO_MEAN = {"mean", "sd", "hdi_low", "hdi_high", "q_low", "q_high"}


def draws(rng: np.random.Generator, delta: tuple[float, float],
          log_ed50: tuple[float, float] | None, log_t_half: tuple[float, float],
          chains: int = CHAINS, n: int = DRAWS) -> dict[str, np.ndarray]:
    """Emax x exponential draws, (chain, draw, outcome): delta Normal(mean, sd), log ED50
    ``sd`` x Student-t(5) around ``mean`` (the default prior's form; None: the prior
    itself), log t_half Normal(mean, sd)."""
    size = (chains, n, len(OUTCOMES))
    mean, sd = log_ed50 if log_ed50 is not None else (0.0, 1.73)
    ed50 = (mean + sd * rng.standard_t(5, size) if log_ed50 is None
            else rng.normal(mean, sd, size))
    return {"delta": rng.normal(*delta, size), "log_ed50": ed50,
            "log_t_half": rng.normal(*log_t_half, size)}


def fit_with_prior(posterior: dict[str, np.ndarray],
                   prior: dict[str, np.ndarray] | None) -> bd.DoseResponseFit:
    """A fixed-draw Emax fit, with a ``prior`` group of the given draws (or none)."""
    data = bd.datasets.load_msc_trial().select(list(OUTCOMES))
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
    fit = fixed_fit(data, model, posterior)
    if prior is not None:
        dims = ("chain", "draw", "outcome")
        first = next(iter(prior.values()))
        fit.idata["prior"] = xr.Dataset(
            {name: (dims, values) for name, values in prior.items()},
            coords={"chain": np.arange(first.shape[0]), "draw": np.arange(first.shape[1]),
                    "outcome": list(OUTCOMES)})
    return fit


PRIOR_LIKE = {"delta": (0.0, 1.0), "log_ed50": None, "log_t_half": (np.log(0.2), 1.0)}


@pytest.fixture(scope="module")
def prior_draws():
    return draws(np.random.default_rng(11), chains=1, n=4000, **PRIOR_LIKE)


@pytest.fixture(scope="module")
def null_fit(prior_draws):
    """A trial with no effect: delta centred on 0, ED50 and t_half as in the prior."""
    posterior = draws(np.random.default_rng(3), (0.0, 0.3), None, (np.log(0.2), 1.0))
    return fit_with_prior(posterior, prior_draws)


@pytest.fixture(scope="module")
def sharp_fit(prior_draws):
    """Every parameter pinned down by the data."""
    posterior = draws(np.random.default_rng(5), (1.0, 0.05), (np.log(10 / P50), 0.05),
                      (np.log(0.25), 0.05))
    return fit_with_prior(posterior, prior_draws)


def share_not_improving(fit: bd.DoseResponseFit) -> np.ndarray:
    """Per outcome, the share of draws whose direction-aligned effect is not positive."""
    delta = fit.idata["posterior"]["delta"].transpose("chain", "draw", "outcome").to_numpy()
    return (delta <= 0).mean(axis=(0, 1))


# ---------------------------------------------------------------------------- existence
def test_null_trial_ed50_is_not_reached_where_the_effect_is_not_an_improvement(null_fit):
    table = de.effective_dose(null_fit, p=0.5).set_index("outcome")
    expected = share_not_improving(null_fit)
    assert 0.4 < expected.min() and expected.max() < 0.6
    # lower is better for WOMAC: the standardised effect is direction-aligned already
    np.testing.assert_allclose(table.loc[list(OUTCOMES), "prob_not_reached"], expected)
    assert not NO_MEAN & set(table.columns)
    assert (table["ci_high"] == np.inf).all()  # an open interval: "beyond any dose"
    assert np.isfinite(table["geo_mean"]).all() and np.isfinite(table["ci_low"]).all()
    ed = effective_dose_draws(null_fit, p=0.5).transpose("chain", "draw", "outcome")
    delta = null_fit.idata["posterior"]["delta"].transpose("chain", "draw", "outcome")
    np.testing.assert_array_equal(np.isinf(ed.to_numpy()), delta.to_numpy() <= 0)


def test_null_trial_onset_and_target_dose_are_not_reached_without_improvement(null_fit):
    expected = share_not_improving(null_fit)
    half = de.time_to_half_effect(null_fit).set_index("outcome")
    np.testing.assert_allclose(half.loc[list(OUTCOMES), "prob_not_reached"], expected)
    assert not NO_MEAN & set(half.columns)
    target = de.target_dose(null_fit, effect=0.2, scale="standardised").set_index("outcome")
    assert (target.loc[list(OUTCOMES), "prob_not_reached"] >= expected).all()
    assert not NO_MEAN & set(target.columns)
    med = de.minimum_effective_dose(null_fit, mcid=5).set_index("outcome")
    assert (med.loc[list(OUTCOMES), "prob_not_reached"] >= expected).all()
    assert not NO_MEAN & set(med.columns)


def test_min_effect_leaves_out_draws_with_a_small_top_dose_effect():
    # delta 0.1, 0.5 and 1 SD in thirds of the draws; ED50 = 10 everywhere
    delta = np.repeat([0.1, 0.5, 1.0], 200).reshape(2, 300, 1).repeat(2, axis=2)
    fit = fit_with_prior({"delta": delta, "log_ed50": np.full(delta.shape, np.log(10 / P50)),
                          "log_t_half": np.full(delta.shape, np.log(0.25))}, None)
    row = de.effective_dose(fit, min_effect=0.3, scale="standardised",
                            outcome="koos_pain").iloc[0]
    assert row["prob_not_reached"] == pytest.approx(1 / 3)
    assert row["min_effect"] == 0.3 and row["geo_mean"] == pytest.approx(10.0)
    assert "above min_effect" in row["definition"]
    sd = float(fit.inputs.scales.sd[0])
    units = de.effective_dose(fit, min_effect=0.7 * sd, outcome="koos_pain").iloc[0]
    assert units["prob_not_reached"] == pytest.approx(2 / 3)
    assert units["min_effect"] == pytest.approx(0.7 * sd)
    with pytest.raises(EstimandError, match="min_effect must be >= 0"):
        de.effective_dose(fit, min_effect=-1)


# ---------------------------------------------------------------------------- known truth
def test_emax_edp_known_truth_per_draw_and_summarised():
    rng = np.random.default_rng(21)
    size = (CHAINS, 500, len(OUTCOMES))
    ed50 = np.exp(rng.normal(np.log(12.0), 0.6, size))
    delta = np.where(rng.uniform(size=size) < 0.3, -0.4, rng.uniform(0.2, 1.5, size))
    fit = fit_with_prior({"delta": delta, "log_ed50": np.log(ed50 / P50),
                          "log_t_half": np.full(size, np.log(0.25))}, None)
    for p in (0.2, 0.5, 0.8):
        truth = np.where(delta > 0, ed50 * p / (1 - p), np.inf)
        got = effective_dose_draws(fit, p=p).transpose("chain", "draw", "outcome")
        np.testing.assert_allclose(got.to_numpy(), truth, rtol=1e-10)
        table = de.effective_dose(fit, p=p, ci_prob=0.9).set_index("outcome")
        hdi = de.effective_dose(fit, p=p, ci_prob=0.9, ci_kind="hdi").set_index("outcome")
        assert table.attrs["ci"] == "eti 90%" and hdi.attrs["ci"] == "hdi 90%"
        for k, outcome in enumerate(OUTCOMES):
            values = np.sort(truth[..., k].reshape(-1))
            reached = values[np.isfinite(values)]
            row = table.loc[outcome]
            assert row["prob_not_reached"] == pytest.approx(np.mean(delta[..., k] <= 0))
            assert row["median"] == pytest.approx(np.median(values), rel=1e-10)
            assert row["ci_low"] == pytest.approx(np.quantile(values, 0.05), rel=1e-10)
            assert row["ci_high"] == np.inf  # 30% of the draws are not reached
            assert row["geo_mean"] == pytest.approx(np.exp(np.log(reached).mean()))
            assert row["geo_sd"] == pytest.approx(np.exp(np.log(reached).std(ddof=1)))
            # HDI holding 90% of the draws when 30% are beyond any dose: [a, inf) with
            # the largest a, the 10% quantile
            width = int(np.floor(0.9 * values.size))
            assert hdi.loc[outcome, "ci_low"] == pytest.approx(values[values.size - 1 - width])
            assert hdi.loc[outcome, "ci_high"] == np.inf


def test_closed_intervals_match_credible_interval_when_every_draw_reaches():
    rng = np.random.default_rng(8)
    size = (CHAINS, 500, len(OUTCOMES))
    ed50 = np.exp(rng.normal(np.log(12.0), 0.6, size))
    fit = fit_with_prior({"delta": np.full(size, 0.8), "log_ed50": np.log(ed50 / P50),
                          "log_t_half": np.full(size, np.log(0.25))}, None)
    for kind in ("eti", "hdi"):
        row = de.effective_dose(fit, p=0.5, ci_kind=kind, outcome="koos_pain").iloc[0]
        low, high = credible_interval(ed50[..., 0].reshape(-1), 0.95, kind)
        assert [row["ci_low"], row["ci_high"]] == pytest.approx([float(low), float(high)],
                                                                rel=1e-10)
        assert row["prob_not_reached"] == 0.0


# ---------------------------------------------------------------------------- prior
def test_prior_as_posterior_is_prior_dominated_for_every_estimand():
    data = bd.datasets.load_msc_trial().select(list(OUTCOMES))
    model = bd.DoseResponseModel()
    prior = model.sample_prior_predictive(data, draws=300)["prior"].to_dataset()
    fit = bd.DoseResponseFit(model, data, xr.DataTree.from_dict(
        {"posterior": prior, "prior": prior}))
    assert fit.posterior_view.prior is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ByConstructionWarning)
        tables = {
            "ed50": de.effective_dose(fit, p=0.5),
            "target": de.target_dose(fit, effect=0.3, scale="standardised"),
            "med": de.minimum_effective_dose(fit, mcid=2),
            "half": de.time_to_half_effect(fit),
            "increasing": de.prob_increasing(fit),
        }
    for name, table in tables.items():
        assert table["prior_width_ratio"].tolist() == pytest.approx([1.0, 1.0]), name
        assert table["prior_dominated"].tolist() == [True, True], name
    ed50 = tables["ed50"]
    np.testing.assert_allclose(ed50["prior_prob_not_reached"], ed50["prob_not_reached"])
    increasing = tables["increasing"]
    np.testing.assert_allclose(increasing["prior_prob_increasing"],
                               increasing["prob_increasing"])
    # without a prior group: not computable
    bare = bd.DoseResponseFit(model, data, xr.DataTree.from_dict({"posterior": prior}))
    assert bare.posterior_view.prior is None
    row = de.effective_dose(bare, p=0.5).iloc[0]
    assert np.isnan(row["prior_width_ratio"]) and np.isnan(row["prior_dominated"])
    assert np.isnan(row["prior_prob_not_reached"])


def test_null_trial_is_prior_dominated_and_a_sharp_posterior_is_not(null_fit, sharp_fit):
    null_ed = de.effective_dose(null_fit, p=0.5)
    null_half = de.time_to_half_effect(null_fit)
    for table in (null_ed, null_half):
        assert (table["prior_width_ratio"] > PRIOR_DOMINATED_RATIO).all()
        assert table["prior_dominated"].tolist() == [True, True]
    sharp_ed = de.effective_dose(sharp_fit, p=0.5)
    sharp_half = de.time_to_half_effect(sharp_fit)
    for table in (sharp_ed, sharp_half):
        assert (table["prior_width_ratio"] < 0.2).all()
        assert table["prior_dominated"].tolist() == [False, False]
        assert (table["prob_not_reached"] == 0).all()
        assert (table["prior_prob_not_reached"] > 0.4).all()


def test_compare_to_prior_on_the_log_scale_leaves_out_unreached_draws():
    rng = np.random.default_rng(2)
    prior = np.exp(rng.normal(0, 2.0, (1, 4000)))
    posterior = np.exp(rng.normal(0, 0.2, (2, 2000)))
    posterior[:, :500] = np.inf  # a quarter not reached: left out of the widths
    out = compare_to_prior(posterior, prior, 0.9, log=True)
    assert float(out["prior_width_ratio"]) == pytest.approx(0.1, abs=0.01)
    assert out["prior_dominated"].item() is False
    wide = compare_to_prior(np.log(prior), np.log(prior[:, ::-1]), 0.9)
    assert float(wide["prior_width_ratio"]) == pytest.approx(1.0)
    assert wide["prior_dominated"].item() is True
    grid = compare_to_prior(rng.normal(size=(2, 100, 3, 4)), None, 0.9)
    assert grid["prior_width_ratio"].shape == (3, 4)
    assert np.isnan(grid["prior_width_ratio"]).all()


# ---------------------------------------------------------------------------- monotonicity
def test_prob_increasing_on_shapes_monotone_by_construction(null_fit):
    with pytest.warns(ByConstructionWarning, match="'emax' dose shape is monotone"):
        table = de.prob_increasing(null_fit)
    assert table["by_construction"].tolist() == [True, True]
    assert "not evidence" in table["note"].iloc[0]
    # on Emax the probability of a monotone rise is that of an improvement, nothing more
    np.testing.assert_allclose(table["prob_increasing"], 1 - share_not_improving(null_fit))
    np.testing.assert_allclose(table["prob_increasing"], table["prob_highest_better"])


def test_prob_increasing_free_shape_is_not_by_construction():
    pattern = np.array([[0.5, 1.0]] * 500 + [[1.2, 1.0]] * 500)
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel(dose_shape="free", time_shape="exponential")
    fit = fixed_fit(data, model, {"delta": pattern.reshape(2, 500, 1, 2),
                                  "log_t_half": np.full((2, 500, 1), np.log(0.25))})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ByConstructionWarning)
        row = de.prob_increasing(fit).iloc[0]
    assert not row["by_construction"] and row["note"] == ""
    assert row["prob_increasing"] == pytest.approx(0.5)


def test_monotone_shape_steps_are_judged_against_a_minimum_step():
    # increments of 0.02 SD (no real effect) in half the draws, 0.5 SD in the other half
    steps = np.array([[0.02, 0.02]] * 500 + [[0.5, 0.5]] * 500).reshape(2, 500, 1, 2)
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel(dose_shape="monotone", time_shape="exponential")
    fit = fixed_fit(data, model, {"increments": steps,
                                  "log_t_half": np.full((2, 500, 1), np.log(0.25))})
    with pytest.warns(ByConstructionWarning, match="non-negative increments"):
        row = de.prob_increasing(fit, time=12).iloc[0]
    assert row["by_construction"] and row["prob_increasing"] == 1.0
    # default minimum step 0.1 outcome SDs at the plateau; here at 12 months g = 1 - 2^-4
    assert row["min_step"] == pytest.approx(0.1 * float(fit.inputs.scales.sd[0]))
    assert row["prob_steps_gt_min"] == pytest.approx(0.5)
    with pytest.warns(ByConstructionWarning):
        small = de.prob_increasing(fit, time=12, min_step=0.01, scale="standardised").iloc[0]
    assert small["prob_steps_gt_min"] == pytest.approx(1.0)
    with pytest.raises(EstimandError, match="min_step must be >= 0"):
        de.prob_increasing(fit, min_step=-0.1)
