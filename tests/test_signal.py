"""The Bayesian MCP-Mod signal test: optimal contrasts, critical values and the test.

The fast tests use fits of the free dose shape with fixed posterior draws whose answers
are known; the slow test samples no-effect trials, which should show no signal.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import EstimandError
from bayesdose.results.signal import critical_value, optimal_contrasts, signal_test

CHAINS, DRAWS = 2, 500


@pytest.fixture(scope="module")
def koos(msc):
    return msc.select(["koos_pain"])


def free_fit(data, delta_mean, delta_sd: float, seed: int = 0):
    """Fixed fit of the free dose shape: delta per dose above the lowest, per outcome."""
    rng = np.random.default_rng(seed)
    k = len(data.outcomes)
    model = bd.DoseResponseModel("free", "free")
    return fixed_fit(data, model, {
        "delta": rng.normal(delta_mean, delta_sd, (CHAINS, DRAWS, k, 2)),
        "gamma": rng.normal(0.5, 0.05, (CHAINS, DRAWS, k, 3)),
        "course": np.zeros((CHAINS, DRAWS, k, 4))})


def test_optimal_contrasts_and_critical_values():
    c = optimal_contrasts([0, 1, 2], [10, 10, 10], ["linear"])
    np.testing.assert_allclose(c.loc["linear"], [-np.sqrt(0.5), 0.0, np.sqrt(0.5)])
    unequal = optimal_contrasts([0, 10, 50], [4, 8, 2])
    np.testing.assert_allclose(unequal.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(unequal, axis=1), 1.0)
    assert list(unequal.index) == ["linear", "emax", "exponential", "sigmoid_emax"]
    # one contrast: gamma = Phi(q) = 1 - alpha
    q = critical_value(c.to_numpy(), [10, 10, 10], alpha=0.05)
    assert stats.norm.cdf(q) == pytest.approx(0.95, abs=1e-12)
    # two independent contrasts: P(max <= q) = Phi(q)^2
    independent = np.array([[1, -1, 0, 0], [0, 0, 1, -1]]) / np.sqrt(2)
    q2 = critical_value(independent, [1, 1, 1, 1], alpha=0.05)
    assert q2 == pytest.approx(stats.norm.ppf(np.sqrt(0.95)), abs=1e-4)
    # identical contrasts count once
    assert critical_value(np.vstack([c, c]), [10, 10, 10]) == pytest.approx(q)
    q4 = critical_value(unequal.to_numpy(), [4, 8, 2])
    assert stats.norm.ppf(0.95) < q4 < stats.norm.ppf(1 - 0.05 / 4)
    with pytest.raises(EstimandError, match="flat at the tested doses"):
        optimal_contrasts([0, 1, 2], [1, 1, 1], {"flat": [1.0, 1.0, 1.0]})
    with pytest.raises(EstimandError, match="unknown shape"):
        optimal_contrasts([0, 1, 2], [1, 1, 1], ["cubic"])
    with pytest.raises(EstimandError, match="alpha"):
        critical_value(c.to_numpy(), [10, 10, 10], alpha=0.7)


def test_signal_test_finds_a_strong_increasing_effect(koos):
    fit = free_fit(koos, [1.0, 2.0], 0.05)
    table = signal_test(fit.posterior_view)
    row = table.iloc[0]
    assert row["name"] == "koos_pain" and row["time"] == 12.0 and row["reference"] == 1.0
    for shape in ("linear", "emax", "exponential", "sigmoid_emax"):
        assert row[f"prob_{shape}"] == pytest.approx(1.0)
    assert row["signal"] and row["prob_not_flat"] == row["max_prob"] == 1.0
    assert 0.95 < row["gamma"] < 1 - 0.05 / 4
    assert row["n_patients"] == 12
    single = signal_test(fit.posterior_view, shapes=["linear"]).iloc[0]
    assert single["gamma"] == pytest.approx(0.95, abs=1e-12)
    # a custom shape given as means at the tested doses
    custom = signal_test(fit.posterior_view, shapes={"step": [0.0, 1.0, 1.0]}).iloc[0]
    assert custom["prob_step"] == pytest.approx(1.0)
    # a lower-is-better outcome improving with dose is a signal too (direction-aligned)
    womac = free_fit(bd.datasets.load_msc_trial().select(["womac_pain"]), [1.0, 2.0], 0.05)
    assert signal_test(womac.posterior_view)["signal"].iloc[0]


def test_signal_test_on_flat_draws_finds_no_signal(koos):
    fit = free_fit(koos, [0.0, 0.0], 0.3, seed=11)
    row = signal_test(fit.posterior_view, time=[3, 12]).iloc[1]
    assert row["time"] == 12.0
    for shape in ("linear", "emax", "exponential", "sigmoid_emax"):
        assert 0.4 < row[f"prob_{shape}"] < 0.6
    assert not row["signal"]
    decreasing = free_fit(koos, [-1.0, -2.0], 0.05)
    assert signal_test(decreasing.posterior_view)["prob_not_flat"].iloc[0] == 0.0
    with pytest.raises(EstimandError, match="alpha"):
        signal_test(fit.posterior_view, alpha=0)
    with pytest.raises(EstimandError, match="not in this fit"):
        signal_test(fit.posterior_view, outcome="koos_qol")


def test_signal_test_tests_families_on_the_standardised_scale(msc):
    data = msc.select(["koos_pain", "womac_pain"])
    fit = free_fit(data, [1.0, 2.0], 0.05)
    table = signal_test(fit.posterior_view)
    assert table["level"].tolist() == ["outcome", "outcome", "family"]
    family = table.iloc[2]
    assert family["name"] == "PROM" and family["members"] == "koos_pain, womac_pain"
    assert family["signal"]
    assert len(signal_test(fit.posterior_view, family=False)) == 2


# ---------------------------------------------------------------------- slow: sampling
SEEDS = (1, 2, 3, 4, 5)
SETTINGS = {"draws": 200, "tune": 200, "chains": 2, "progressbar": False, "prior_draws": 0}


def null_trial(seed: int):
    """A trial of doses 0, 5, 25 and 50 without any dose effect."""
    p50 = float(np.exp(np.mean(np.log([5.0, 25.0, 50.0]))))
    return simulate_trial(
        doses=(0.0, 5.0, 25.0, 50.0), n_per_arm=8, visits=(1.0, 3.0, 6.0, 12.0),
        dose_shape="emax", time_shape="exponential",
        shape_params={"delta": 0.0, "log_ed50": float(np.log(2.5 / p50)),
                      "log_t_half": float(np.log(1.5 / 12))},
        course=[0.2, 0.1, 0.0, -0.1], sigma=0.35, patient_sd=0.4, seed=seed)


@pytest.mark.slow
def test_signal_test_finds_no_signal_without_dose_effect():
    start = time.perf_counter()
    signals, probs = [], []
    for seed in SEEDS:
        sim = null_trial(100 + seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bd.DoseResponseModel("free", "exponential").fit(
                sim.data, random_seed=seed, **SETTINGS)
        row = signal_test(fit.posterior_view).iloc[0]
        signals.append(bool(row["signal"]))
        probs.append(round(float(row["prob_not_flat"]), 3))
    elapsed = time.perf_counter() - start
    print(f"null signals {signals}; prob_not_flat {probs}; {elapsed:.0f} s")
    assert sum(signals) <= 1, (signals, probs)
