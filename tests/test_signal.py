"""The Bayesian MCP-Mod signal test: optimal contrasts, critical values and the test.

The fast tests use fits with fixed posterior draws whose answers are known: the test runs
on free per-dose draws and refuses any other dose shape, and a fit of another shape is
tested on its free refit. Critical values are checked against computations that share
nothing with the package's (one-dimensional integrals, Dunnett's table, Monte Carlo). The
slow tests sample: no-effect trials should show no signal, and a sampled Emax fit is
tested on its sampled free refit.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import fixed_fit
from pymc_extras.prior import Prior
from scipy import integrate, optimize, stats

import bayesdose as bd
from bayesdose.components.shapes import get_dose_shape
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import EstimandError
from bayesdose.results.signal import (
    contrast_correlation,
    critical_value,
    optimal_contrasts,
    signal_test,
)

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


# ---------------------------------------------------------------------- only per-dose draws
def emax_fit(data, model=None, seed: int = 0):
    """Fixed fit of the Emax dose shape: delta ~ N(1.5, 0.1), ED50 near p50."""
    rng = np.random.default_rng(seed)
    k = len(data.outcomes)
    model = model or bd.DoseResponseModel("emax", "free")
    return fixed_fit(data, model, {
        "delta": rng.normal(1.5, 0.1, (CHAINS, DRAWS, k)),
        "log_ed50": rng.normal(0.0, 0.3, (CHAINS, DRAWS, k)),
        "gamma": rng.normal(0.5, 0.05, (CHAINS, DRAWS, k, 3)),
        "course": np.zeros((CHAINS, DRAWS, k, 4))})


def test_signal_test_refuses_draws_of_a_dose_curve(koos):
    """On an Emax curve every contrast has the sign of delta (all P_m = P(delta > 0)):
    the test refuses it, and the order-constrained monotone shape, saying what to do."""
    view = emax_fit(koos).posterior_view
    with pytest.raises(EstimandError, match=r"per-dose \(free\) estimates.*'emax' dose "
                       r"shape.*sign of delta.*dose_shape='free', time_shape='free'"):
        signal_test(view)
    with pytest.raises(EstimandError, match="'emax' dose shape"):
        bd.signal_test(emax_fit(koos))
    monotone = dataclasses.replace(view, dose_shape=get_dose_shape("monotone"))
    with pytest.raises(EstimandError, match="'monotone' dose shape: its order constraint"):
        signal_test(monotone)
    linear = dataclasses.replace(view, dose_shape=get_dose_shape("linear"))
    with pytest.raises(EstimandError, match="'linear' dose shape"):
        signal_test(linear)


def test_free_draws_give_each_shape_its_own_probability(koos):
    """Per-dose effects rising fast then falling back (1.0 at dose 10, 0.6 at dose 50,
    independent Normal(., 0.4) draws): c'theta ~ Normal(c'mu, 0.4^2 |c|^2), so each
    shape's P_m is known, and the Emax-like contrast is the most probable."""
    fit = free_fit(koos, [1.0, 0.6], 0.4, seed=3)
    row = signal_test(fit.posterior_view).iloc[0]
    contrasts = optimal_contrasts([1, 10, 50], [4, 4, 4])
    mean = np.array([0.0, 1.0, 0.6])
    for shape, c in contrasts.iterrows():
        c = c.to_numpy()
        truth = stats.norm.cdf(c @ mean / (0.4 * np.linalg.norm(c[1:])))
        assert row[f"prob_{shape}"] == pytest.approx(truth, abs=0.03), shape
    probs = row.filter(like="prob_").drop(["prob_not_flat"]).astype(float)
    assert probs.max() - probs.min() > 0.25
    assert row["best_shape"] == "emax" and row["max_prob"] == probs["prob_emax"]
    assert row["tested_on"] == "free per-dose fit"
    # 0.95 is below gamma = Phi(q) for four correlated contrasts: no signal at 5%
    assert row["gamma"] > row["max_prob"] > 0.9 and not row["signal"]


def test_a_fit_of_a_dose_curve_is_tested_on_its_free_refit(koos, monkeypatch):
    """DoseResponseFit.signal_test refits the same model (class, time course, data,
    priors of the non-dose parameters, sampler settings and seed) with the free dose
    shape and tests that, saying so."""
    priors = {"delta": Prior("Normal", mu=0, sigma=0.5),
              "log_ed50": Prior("Normal", mu=0, sigma=1),
              "sigma": Prior("HalfNormal", sigma=0.8)}
    model = bd.DoseResponseModel("emax", "free", priors=priors, pooling="none")
    fit = emax_fit(koos, model)
    free = free_fit(koos, [1.0, 0.6], 0.4, seed=3)
    calls = []

    def fake_fit(self, data, **settings):
        calls.append((self, data, settings))
        return free

    monkeypatch.setattr(bd.DoseResponseModel, "fit", fake_fit)
    with pytest.warns(UserWarning, match=r"refits the 'emax' fit's model with "
                      r"dose_shape='free'.*seed 0.*delta, log_ed50"):
        table = fit.signal_test()
    (refit_model, data, settings), = calls
    assert type(refit_model) is bd.DoseResponseModel and refit_model is not model
    expected = {**model.config(), "dose_shape": "free", "dose_options": {},
                "priors": {"sigma": {"distribution": "HalfNormal", "sigma": 0.8}}}
    assert refit_model.config() == expected
    assert data is fit.data
    assert settings == {"draws": DRAWS, "tune": 0, "chains": CHAINS, "random_seed": 0,
                        "target_accept": 0.9, "sampler": "fixed", "prior_draws": 0}
    assert (table["tested_on"] == "free per-dose refit of the emax fit").all()
    assert table.attrs["tested_on"] == "free per-dose refit of the emax fit"
    on_free = signal_test(free.posterior_view)
    pd.testing.assert_frame_equal(table.drop(columns="tested_on"),
                                  on_free.drop(columns="tested_on"))
    assert table["best_shape"].iloc[0] == "emax"
    # sampler settings of the refit can be changed; bad options fail before refitting
    with pytest.warns(UserWarning):
        fit.signal_test(refit_settings={"draws": 50, "progressbar": False})
    assert calls[-1][2]["draws"] == 50 and calls[-1][2]["progressbar"] is False
    calls.clear()
    with pytest.raises(EstimandError, match="multiplicity must be one of none, bonferroni"):
        fit.signal_test(multiplicity="holm")
    with pytest.raises(EstimandError, match="alpha"):
        fit.signal_test(alpha=0.5)
    assert not calls
    # a free fit is tested as it is
    pd.testing.assert_frame_equal(free.signal_test(), on_free)
    assert len(calls) == 0


def test_a_fit_without_sampler_settings_says_how_to_test(koos):
    model = bd.DoseResponseModel("emax", "exponential")
    prior = model.sample_prior_predictive(koos, draws=20)
    fit = bd.DoseResponseFit(model, koos,
                             xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()}))
    with pytest.raises(EstimandError, match=r"records no sampler settings.*dose_shape='free', "
                       r"time_shape='exponential'"):
        fit.signal_test()


# ---------------------------------------------------------------------- multiplicity
def test_multiplicity_across_outcomes_is_stated_and_bonferroni_on_request(msc):
    data = msc.select(["koos_pain", "womac_pain"])
    fit = free_fit(data, [1.0, 0.6], 0.4, seed=3)
    plain = signal_test(fit.posterior_view)
    assert (plain["multiplicity"] == "none").all() and (plain["tests"] == 3).all()
    assert (plain["outcomes_tested"] == 2).all() and (plain["alpha_test"] == 0.05).all()
    assert plain.attrs["multiplicity"].startswith("none: 3 test(s): 2 outcome(s)")
    adjusted = signal_test(fit.posterior_view, multiplicity="bonferroni")
    np.testing.assert_allclose(adjusted["alpha_test"], 0.05 / 3)
    assert (adjusted["alpha"] == 0.05).all()
    assert adjusted.attrs["multiplicity"].startswith("bonferroni: 3 test(s)")
    q = critical_value(optimal_contrasts([1, 10, 50], [4, 4, 4]).to_numpy(), [4, 4, 4],
                       alpha=0.05 / 3)
    assert adjusted["critical_value"].iloc[0] == pytest.approx(q)
    assert (adjusted["gamma"] > plain["gamma"]).all()
    pd.testing.assert_frame_equal(adjusted.filter(like="prob_"), plain.filter(like="prob_"))
    # two times and no family: 2 x 2 tests
    two = signal_test(fit.posterior_view, time=[3, 12], family=False,
                      multiplicity="bonferroni")
    assert (two["tests"] == 4).all()
    np.testing.assert_allclose(two["alpha_test"], 0.0125)
    # one outcome: nothing to adjust
    one = signal_test(fit.posterior_view, outcome="koos_pain", multiplicity="bonferroni")
    assert one["tests"].tolist() == [1] and one["alpha_test"].tolist() == [0.05]
    with pytest.raises(EstimandError, match="multiplicity must be one of"):
        signal_test(fit.posterior_view, multiplicity="holm")


# ---------------------------------------------------------------------- critical values
def bivariate_max_cdf(q: float, rho: float) -> float:
    """P(max(Z1, Z2) <= q) for standard Normals with correlation rho, by conditioning on
    Z1 (a one-dimensional integral)."""
    s = np.sqrt(1 - rho * rho)
    return integrate.quad(lambda z: stats.norm.pdf(z) * stats.norm.cdf((q - rho * z) / s),
                          -np.inf, q, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def plane_max_cdf(q: float, corr: np.ndarray) -> float:
    """P(max_m Z_m <= q) for Z of rank 2: Z = U W, W ~ N(0, I_2); conditioning on W1, each
    constraint bounds W2 above or below (a one-dimensional integral in Cartesian
    coordinates)."""
    values, vectors = np.linalg.eigh(corr)
    u = vectors[:, -2:] * np.sqrt(values[-2:])

    def inner(w1: float) -> float:
        room = q - u[:, 0] * w1
        up = np.min(room[u[:, 1] > 1e-12] / u[u[:, 1] > 1e-12, 1], initial=np.inf)
        down = np.max(room[u[:, 1] < -1e-12] / u[u[:, 1] < -1e-12, 1], initial=-np.inf)
        flat = np.abs(u[:, 1]) <= 1e-12
        if np.any(room[flat] < 0) or up <= down:
            return 0.0
        return stats.norm.cdf(up) - stats.norm.cdf(down)

    # kinks of the integrand: where two constraints' bounds on W2 cross
    a, b = u[:, 0], u[:, 1]
    kinks = [(q / b[i] - q / b[j]) / (a[i] / b[i] - a[j] / b[j])
             for i in range(len(u)) for j in range(i + 1, len(u))
             if min(abs(b[i]), abs(b[j])) > 1e-12 and abs(a[i] / b[i] - a[j] / b[j]) > 1e-12]
    kinks = sorted(k for k in kinks if -9 < k < 9)
    return integrate.quad(lambda w: stats.norm.pdf(w) * inner(w), -9, 9, points=kinks,
                          limit=500, epsabs=1e-13, epsrel=1e-12)[0]


@pytest.mark.parametrize("rho", [-0.9, 0.0, 0.5, 0.95, 0.9999])
def test_critical_value_of_two_contrasts_matches_the_bivariate_normal(rho):
    basis = np.array([[1, -1, 0] / np.sqrt(2), [1, 1, -2] / np.sqrt(6)])
    angle = np.arccos(rho)
    contrasts = np.array([[1, 0], [np.cos(angle), np.sin(angle)]]) @ basis
    assert contrast_correlation(contrasts, [1, 1, 1])[0, 1] == pytest.approx(rho)
    q = critical_value(contrasts, [1, 1, 1], alpha=0.05)
    exact = optimize.brentq(lambda x: bivariate_max_cdf(x, rho) - 0.95, 1, 3, xtol=1e-12)
    assert q == pytest.approx(exact, abs=1e-7)


@pytest.mark.parametrize(("doses", "n"), [([1, 10, 50], [4, 4, 4]),
                                          ([0, 10, 50], [4, 8, 2]),
                                          ([0, 0.5, 1], [20, 20, 20])])
def test_critical_value_of_collinear_contrasts_on_three_doses(doses, n):
    """Four candidate contrasts on three doses span a plane (their correlation matrix
    has rank 2): q is exact there, checked against a Cartesian integral (P(max <= q) to
    1e-7, so q to about 1e-6) and Monte Carlo."""
    contrasts = optimal_contrasts(doses, n).to_numpy()
    corr = contrast_correlation(contrasts, n)
    assert np.linalg.matrix_rank(corr, tol=1e-9) == 2
    for level in (0.95, 0.975):
        q = critical_value(contrasts, n, alpha=1 - level)
        assert plane_max_cdf(q, corr) == pytest.approx(level, abs=1e-7)
    q = critical_value(contrasts, n, alpha=0.05)
    values, vectors = np.linalg.eigh(corr)
    u = vectors[:, -2:] * np.sqrt(values[-2:])
    z = np.random.default_rng(7).standard_normal((1_000_000, 2)) @ u.T
    assert np.mean(z.max(axis=1) <= q) == pytest.approx(0.95, abs=1e-3)
    assert stats.norm.ppf(0.95) < q < stats.norm.ppf(1 - 0.05 / 4)


def test_critical_value_of_dunnett_contrasts_matches_dunnetts_table():
    """Three doses against placebo, equal arms: equicorrelated (0.5) statistics, whose
    maximum has P(max <= q) = int phi(z) Phi((q + sqrt(.5) z) / sqrt(.5))^3 dz; Dunnett's
    (1955) one-sided table gives 2.06 for df = infinity, alpha = 0.05."""
    dunnett = [[-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]]
    corr = contrast_correlation(dunnett, [30, 30, 30, 30])
    np.testing.assert_allclose(corr, [[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]])

    def equicorrelated(q: float) -> float:
        return integrate.quad(lambda z: stats.norm.pdf(z) * stats.norm.cdf(
            (q + np.sqrt(0.5) * z) / np.sqrt(0.5)) ** 3, -np.inf, np.inf, epsabs=1e-13)[0]

    q = critical_value(dunnett, [30, 30, 30, 30], alpha=0.05)
    exact = optimize.brentq(lambda x: equicorrelated(x) - 0.95, 1, 3, xtol=1e-12)
    assert q == pytest.approx(exact, abs=1e-3)
    assert round(q, 2) == 2.06
    # unequal arms: R_ml = c_m' S c_l / sqrt(...), S = diag(1/n)
    n = np.array([10.0, 20.0, 30.0, 40.0])
    c = np.asarray(dunnett, dtype=float)
    cov = (c / n) @ c.T
    np.testing.assert_allclose(contrast_correlation(c, n),
                               cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov))))
    with pytest.raises(EstimandError, match="one column per dose"):
        contrast_correlation(c, [10, 20, 30])
    with pytest.raises(EstimandError, match=r"contrast row\(s\) \[1\] are zero"):
        critical_value([[-1, 1, 0], [0, 0, 0]], [5, 5, 5])


def test_nearly_collinear_contrasts_count_once():
    c = optimal_contrasts([0, 1, 2], [10, 10, 10], ["linear"]).to_numpy()[0]
    other = c + 1e-7 * np.array([1.0, -2.0, 1.0])
    q = critical_value(np.vstack([c, other]), [10, 10, 10])
    assert q == pytest.approx(stats.norm.ppf(0.95), abs=1e-6)
    opposite = critical_value(np.vstack([c, -c]), [10, 10, 10])
    assert opposite == pytest.approx(stats.norm.ppf(0.975), abs=1e-7)


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


@pytest.mark.slow
def test_a_sampled_emax_fit_is_tested_on_its_sampled_free_refit(koos):
    """A tiny sampled Emax fit: its signal test is the test of the free model fitted with
    the same settings and seed, number for number, and says so."""
    start = time.perf_counter()
    settings = {"draws": 100, "tune": 100, "chains": 2, "random_seed": 4,
                "progressbar": False, "prior_draws": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emax = bd.DoseResponseModel("emax", "exponential").fit(koos, **settings)
    with pytest.warns(UserWarning, match="refits the 'emax' fit's model"):
        table = emax.signal_test(refit_settings={"progressbar": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = bd.DoseResponseModel("free", "exponential").fit(koos, **settings)
    direct = free.signal_test()
    elapsed = time.perf_counter() - start
    print(f"emax fit, free refit and free fit with signal tests: {elapsed:.0f} s; "
          f"P_m {table.filter(like='prob_').iloc[0].round(3).to_dict()}")
    assert table["tested_on"].tolist() == ["free per-dose refit of the emax fit"]
    assert direct["tested_on"].tolist() == ["free per-dose fit"]
    pd.testing.assert_frame_equal(table.drop(columns="tested_on"),
                                  direct.drop(columns="tested_on"))
    probs = table.filter(regex="^prob_(linear|emax|exponential|sigmoid_emax)$").iloc[0]
    assert probs.nunique() > 1
