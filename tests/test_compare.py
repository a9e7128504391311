"""Model comparison, model averaging and the signal test.

The fast tests use fits with fixed posterior draws and synthetic log likelihoods, whose
answers are known (or computed by ArviZ on the same arrays). The slow tests sample:
Emax-truth trials should give the Emax candidate the largest stacking weight, and
no-effect trials should show no signal.
"""

from __future__ import annotations

import time
import warnings

import arviz as az
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import xarray as xr
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.compare import (
    Comparison,
    MixtureDraws,
    compare,
    critical_value,
    fit_candidates,
    model_name,
    optimal_contrasts,
    plot_candidates,
    pointwise_log_likelihood,
    signal_test,
)
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.simulate import simulate_trial

CHAINS, DRAWS = 2, 500


def quantile_draws(mean: float, sd: float, n: int = CHAINS * DRAWS) -> np.ndarray:
    """Evenly spaced Normal quantiles: a 'posterior' whose moments are (nearly) exact."""
    return stats.norm.ppf((np.arange(n) + 0.5) / n, loc=mean, scale=sd)


def add_log_likelihood(fit, values: dict[str, np.ndarray]):
    """Attach a log_likelihood group: one variable per likelihood, obs coord = rows."""
    inputs = fit.inputs
    data = {}
    coords = {"chain": fit.idata.posterior["chain"].to_numpy(),
              "draw": fit.idata.posterior["draw"].to_numpy()}
    for kind, ll in values.items():
        var = {"normal": "change", "student_t": "change_t", "lognormal": "log_change"}[kind]
        rows = inputs.observations(kind)
        data[var] = (("chain", "draw", f"obs_{var}"), ll[:, :, rows])
        coords[f"obs_{var}"] = rows
    fit.idata.add_groups(log_likelihood=xr.Dataset(data, coords=coords))
    return fit


def emax_fit(data, delta: tuple[float, float], seed: int, shape: str = "emax",
             likelihood: str | None = None, time_shape: str = "exponential"):
    """A fixed fit of koos_pain with random (so LOO's relative ESS is defined) draws."""
    rng = np.random.default_rng(seed)
    model = bd.DoseResponseModel(shape, time_shape, likelihood=likelihood)
    k = len(model.select_data(data).outcomes)
    visits = len(model.inputs(data).visits)
    draws = {
        "delta": quantile_draws(*delta)[rng.permutation(CHAINS * DRAWS)].reshape(
            CHAINS, DRAWS, 1).repeat(k, axis=2),
        "log_t_half": rng.normal(np.log(3 / 12), 0.05, (CHAINS, DRAWS, k)),
        "course": rng.normal(0.2, 0.05, (CHAINS, DRAWS, k, visits)),
    }
    if shape == "emax":
        draws["log_ed50"] = rng.normal(0.0, 0.05, (CHAINS, DRAWS, k))
    return fixed_fit(data, model, draws)


@pytest.fixture(scope="module")
def koos(msc):
    return msc.select(["koos_pain"])


@pytest.fixture(scope="module")
def two_fits(koos):
    """Model A's pointwise log likelihood is clearly higher than model B's."""
    rng = np.random.default_rng(7)
    n = 47
    a = emax_fit(koos, (1.0, 0.3), seed=1)
    b = emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")
    ll_a = -1.0 + 0.1 * rng.normal(size=(CHAINS, DRAWS, n))
    ll_b = -1.6 + 0.1 * rng.normal(size=(CHAINS, DRAWS, n))
    add_log_likelihood(a, {"normal": ll_a})
    add_log_likelihood(b, {"normal": ll_b})
    return {"A": a, "B": b}, {"A": ll_a, "B": ll_b}


@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_compare_ranks_the_better_model_first_and_matches_arviz(two_fits):
    fits, lls = two_fits
    result = compare(fits)
    assert isinstance(result, Comparison)
    table = result.table
    assert table["model"].tolist() == ["A", "B"]
    assert table["rank"].tolist() == [0, 1]
    assert result.weights.sum() == pytest.approx(1.0)
    assert result.weights["A"] > 0.95
    reference = az.compare({
        name: az.InferenceData(posterior=fits[name].idata.posterior,
                               log_likelihood=xr.Dataset(
                                   {"y": (("chain", "draw", "obs"), lls[name])}))
        for name in fits})
    for column in ("elpd_loo", "p_loo", "elpd_diff", "dse", "se"):
        np.testing.assert_allclose(table.set_index("model")[column],
                                   reference.loc[["A", "B"], column], rtol=1e-10)
    assert table.loc[0, "elpd_diff"] == 0
    assert table.loc[1, "elpd_diff"] == pytest.approx(0.6 * 47, rel=0.05)
    assert (table["n_obs"] == 47).all()
    assert (table["max_pareto_k"] < 0.7).all() and not table["warning"].any()
    assert (table["n_pareto_k_high"] == 0).all()
    assert table.loc[0, "dose_shape"] == "emax" and table.loc[1, "dose_shape"] == "linear"
    assert set(result.fits) == {"A", "B"}
    for method in ("BB-pseudo-BMA", "pseudo-BMA"):
        other = compare(fits, method=method)
        assert other.weights.sum() == pytest.approx(1.0)
        assert other.weights.idxmax() == "A"
    assert "elpd_loo" in repr(result)


def test_pointwise_log_likelihood_puts_every_likelihood_in_row_order(msc):
    data = msc.select(["koos_pain", "sf_il6"])
    fit = emax_fit(data, (1.0, 0.2), seed=3)
    n = len(fit.inputs.response)
    ll = np.random.default_rng(0).normal(size=(CHAINS, DRAWS, n))
    add_log_likelihood(fit, {"normal": ll, "lognormal": ll})
    combined = pointwise_log_likelihood(fit)
    assert combined.dims == ("chain", "draw", "obs")
    np.testing.assert_array_equal(combined.to_numpy(), ll)
    with pytest.raises(DataError, match="no log_likelihood"):
        pointwise_log_likelihood(emax_fit(data, (1.0, 0.2), seed=3))


def test_compare_refuses_different_data_or_likelihood_scales(two_fits, msc, koos):
    fits, lls = two_fits
    other = emax_fit(msc.select(["koos_symptoms"]), (1.0, 0.3), seed=4)
    add_log_likelihood(other, {"normal": lls["B"][:, :, :len(other.inputs.response)]})
    with pytest.raises(DataError, match="different outcomes"):
        compare({"A": fits["A"], "other": other})
    # same outcome, one patient's values changed
    table = koos.table.copy()
    table.loc[table["time"] > 0, "value"] += np.where(
        table.loc[table["time"] > 0, "patient"] == table["patient"].iloc[0], 1.0, 0.0)
    changed = bd.TrialData(table=table, columns=koos.columns,
                           baseline_time=koos.baseline_time, outcome_info=koos.outcome_info)
    moved = emax_fit(changed, (1.0, 0.3), seed=5)
    add_log_likelihood(moved, {"normal": lls["B"]})
    with pytest.raises(DataError, match="different data"):
        compare({"A": fits["A"], "moved": moved})
    il6 = msc.select(["sf_il6"])
    log_fit = emax_fit(il6, (1.0, 0.3), seed=6)
    raw_fit = emax_fit(il6, (1.0, 0.3), seed=7, likelihood="normal")
    n = len(log_fit.inputs.response)
    ll = np.random.default_rng(1).normal(-1, 0.1, size=(CHAINS, DRAWS, n))
    add_log_likelihood(log_fit, {"lognormal": ll})
    add_log_likelihood(raw_fit, {"normal": ll})
    with pytest.raises(SpecError, match="not on the same scale"):
        compare({"lognormal": log_fit, "normal": raw_fit})
    # normal and student_t are densities of the same change: comparable
    robust = emax_fit(koos, (1.0, 0.3), seed=8, likelihood="student_t")
    add_log_likelihood(robust, {"student_t": lls["B"]})
    assert compare({"A": fits["A"], "t": robust}).table["model"].iloc[0] == "A"


def test_compare_rejects_bad_settings(two_fits):
    fits, _ = two_fits
    with pytest.raises(SpecError, match="at least two"):
        compare({"A": fits["A"]})
    with pytest.raises(SpecError, match="method must be one of"):
        compare(fits, method="bma")
    with pytest.raises(SpecError, match="ic must be one of"):
        compare(fits, ic="waic")
    with pytest.raises(SpecError, match="not a DoseResponseFit"):
        compare({"A": fits["A"], "B": "fit.nc"})
    with pytest.raises(SpecError, match="mapping of model name"):
        compare([fits["A"], fits["B"]])


def test_fit_candidates_names_and_checks_models_before_fitting(koos):
    assert model_name(bd.DoseResponseModel("emax", "exponential")) == "emax x exponential"
    with pytest.raises(SpecError, match="several candidates are named"):
        fit_candidates([bd.DoseResponseModel("emax"), "emax"], koos)
    with pytest.raises(SpecError, match="at least two"):
        fit_candidates(["emax"], koos)
    with pytest.raises(SpecError, match="not a DoseResponseModel"):
        fit_candidates([bd.DoseResponseModel("emax"), 3], koos)


def test_averaged_contrast_is_the_weighted_mixture(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    weights = {"A": 0.25, "B": 0.75}
    averaged = result.average_contrast(dose=[10, 50], time=12, weights=weights, mcid=5)
    own = {name: fit.contrast(dose=[10, 50], time=12, mcid=5) for name, fit in fits.items()}
    mean = 0.25 * own["A"]["mean"] + 0.75 * own["B"]["mean"]
    np.testing.assert_allclose(averaged["mean"], mean, rtol=1e-12)
    for column in ("prob_gt_0", "prob_gt_mcid"):
        expected = 0.25 * own["A"][column] + 0.75 * own["B"][column]
        np.testing.assert_allclose(averaged[column], expected, rtol=1e-12)
    # mixture variance: sum_m w_m (var_m + mean_m^2) - mean^2
    second = sum(w * (own[m]["sd"] ** 2 + own[m]["mean"] ** 2) for m, w in weights.items())
    np.testing.assert_allclose(averaged["sd"], np.sqrt(second - mean**2), rtol=2e-3)
    np.testing.assert_allclose(averaged["mean[A]"], own["A"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(averaged["min_model_mean"],
                               np.minimum(own["A"]["mean"], own["B"]["mean"]))
    np.testing.assert_allclose(averaged["max_model_mean"],
                               np.maximum(own["A"]["mean"], own["B"]["mean"]))
    assert (averaged["hdi_low"] < averaged["mean"]).all()
    assert (averaged["mean"] < averaged["hdi_high"]).all()
    for column in ("outcome", "dose", "reference", "time", "direction", "mcid"):
        assert averaged[column].tolist() == own["A"][column].tolist()
    # one model at weight 1 gives that model's own contrast table
    alone = result.average_contrast(dose=[10, 50], time=12, weights={"B": 1.0})
    plain = fits["B"].contrast(dose=[10, 50], time=12)
    for column in ("mean", "sd", "hdi_low", "hdi_high", "prob_gt_0"):
        np.testing.assert_allclose(alone[column], plain[column], rtol=1e-10)


def test_averaged_effect_and_generic_draws(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    w = result.weights
    effect = result.average_effect(time=12)
    own = {name: fit.effect(time=12) for name, fit in fits.items()}
    np.testing.assert_allclose(effect["mean"],
                               w["A"] * own["A"]["mean"] + w["B"] * own["B"]["mean"])
    assert effect["versus"].iloc[0] == fits["A"].versus()
    assert effect["dose_status"].tolist() == ["tested"] * 3
    mix = result.average_draws(lambda fit: fit.effect_draws(50, 12, "koos_pain"),
                               weights={"A": 0.5, "B": 0.5})
    assert isinstance(mix, MixtureDraws)
    assert mix.values.shape == (2 * CHAINS * DRAWS, 1, 1, 1)
    expected = 0.5 * (own["A"]["mean"].iloc[-1] + own["B"]["mean"].iloc[-1])
    assert float(mix.mean().squeeze()) == pytest.approx(expected)
    resampled = mix.sample(size=20000, seed=3)
    assert np.array_equal(resampled, mix.sample(size=20000, seed=3))
    assert resampled.mean() == pytest.approx(expected, rel=0.02)
    median = float(mix.quantile(0.5).squeeze())
    assert float(np.mean(mix.values.squeeze() <= median)) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(EstimandError, match="different shapes"):
        result.average_draws(lambda fit: np.zeros((10, 1 if fit is fits["A"] else 2)))
    with pytest.raises(EstimandError, match="one number"):
        result.average_draws(lambda fit: 1.0)
    with pytest.raises(EstimandError, match="not in this comparison"):
        result.average_effect(weights={"C": 1.0})
    with pytest.raises(EstimandError, match="non-negative"):
        result.average_effect(weights={"A": -1.0, "B": 2.0})
    with pytest.raises(EstimandError, match="model 'A'"):
        result.average_effect(dose=-5)


def test_averaged_effect_refuses_models_measured_against_different_doses(two_fits, koos):
    fits, lls = two_fits
    rng = np.random.default_rng(2)
    model = bd.DoseResponseModel("free", "exponential")
    free = fixed_fit(koos, model, {
        "delta": rng.normal([0.5, 1.0], 0.1, (CHAINS, DRAWS, 1, 2)),
        "log_t_half": rng.normal(-1.0, 0.05, (CHAINS, DRAWS, 1)),
        "course": rng.normal(0.0, 0.05, (CHAINS, DRAWS, 1, 4))})
    add_log_likelihood(free, {"normal": lls["B"]})
    result = compare({"A": fits["A"], "free": free})
    with pytest.raises(EstimandError, match="against different doses"):
        result.average_effect()
    table = result.average_contrast(dose=50, reference=1, time=12)
    assert table["mean"].notna().all()
    with pytest.raises(EstimandError, match="model 'free'"):
        result.average_contrast(dose=20, reference=1, time=12)
    fig = plot_candidates(result)  # tested doses only: 'free' has no curve between them
    line = next(x for x in fig.axes[0].get_lines()
                if x.get_label().startswith("model average"))
    np.testing.assert_array_equal(line.get_xdata(), [1.0, 10.0, 50.0])


def test_plot_candidates_draws_each_model_and_the_average(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    fig = result.plot(time=12)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert f"A (w = {result.weights['A']:.2f})" in labels
    assert f"B (w = {result.weights['B']:.2f})" in labels
    average = ax.get_lines()[labels.index("model average (90% HDI)")]
    x, y = average.get_data()
    table = result.average_contrast(dose=x[1:], reference=1, time=12)
    np.testing.assert_allclose(y[1:], table["mean"])
    assert y[0] == 0 and ax.get_xscale() == "log"
    with pytest.raises(EstimandError, match="needs a Comparison"):
        plot_candidates(fits)


# ---------------------------------------------------------------------- signal test
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
    table = signal_test(fit)
    row = table.iloc[0]
    assert row["name"] == "koos_pain" and row["time"] == 12.0 and row["reference"] == 1.0
    for shape in ("linear", "emax", "exponential", "sigmoid_emax"):
        assert row[f"prob_{shape}"] == pytest.approx(1.0)
    assert row["signal"] and row["prob_not_flat"] == row["max_prob"] == 1.0
    assert 0.95 < row["gamma"] < 1 - 0.05 / 4
    assert row["n_patients"] == 12
    single = signal_test(fit, shapes=["linear"]).iloc[0]
    assert single["gamma"] == pytest.approx(0.95, abs=1e-12)
    # a custom shape given as means at the tested doses
    custom = signal_test(fit, shapes={"step": [0.0, 1.0, 1.0]}).iloc[0]
    assert custom["prob_step"] == pytest.approx(1.0)
    # a lower-is-better outcome improving with dose is a signal too (direction-aligned)
    womac = free_fit(bd.datasets.load_msc_trial().select(["womac_pain"]), [1.0, 2.0], 0.05)
    assert signal_test(womac)["signal"].iloc[0]


def test_signal_test_on_flat_draws_finds_no_signal(koos):
    fit = free_fit(koos, [0.0, 0.0], 0.3, seed=11)
    row = signal_test(fit, time=[3, 12]).iloc[1]
    assert row["time"] == 12.0
    for shape in ("linear", "emax", "exponential", "sigmoid_emax"):
        assert 0.4 < row[f"prob_{shape}"] < 0.6
    assert not row["signal"]
    decreasing = free_fit(koos, [-1.0, -2.0], 0.05)
    assert signal_test(decreasing)["prob_not_flat"].iloc[0] == 0.0
    with pytest.raises(EstimandError, match="alpha"):
        signal_test(fit, alpha=0)
    with pytest.raises(EstimandError, match="not in this fit"):
        signal_test(fit, outcome="koos_qol")


def test_signal_test_tests_families_on_the_standardised_scale(msc):
    data = msc.select(["koos_pain", "womac_pain"])
    fit = free_fit(data, [1.0, 2.0], 0.05)
    table = signal_test(fit)
    assert table["level"].tolist() == ["outcome", "outcome", "family"]
    family = table.iloc[2]
    assert family["name"] == "PROM" and family["members"] == "koos_pain, womac_pain"
    assert family["signal"]
    assert len(signal_test(fit, family=False)) == 2


# ---------------------------------------------------------------------- slow: sampling
SEEDS = (1, 2, 3, 4, 5)
EMAX_DOSES = (0.0, 5.0, 25.0, 50.0)
P50 = float(np.exp(np.mean(np.log([5.0, 25.0, 50.0]))))
EMAX_TRUTH = {"delta": 1.2, "log_ed50": float(np.log(2.5 / P50)),
              "log_t_half": float(np.log(1.5 / 12))}
SETTINGS = {"draws": 200, "tune": 200, "chains": 2, "progressbar": False, "prior_draws": 0}


def simulated(seed: int, delta: float):
    return simulate_trial(
        doses=EMAX_DOSES, n_per_arm=8, visits=(1.0, 3.0, 6.0, 12.0), dose_shape="emax",
        time_shape="exponential", shape_params={**EMAX_TRUTH, "delta": delta},
        course=[0.2, 0.1, 0.0, -0.1], sigma=0.35, patient_sd=0.4, seed=seed)


@pytest.mark.slow
def test_stacking_prefers_emax_on_emax_truth():
    start = time.perf_counter()
    winners, weights, covered, signals = [], [], [], []
    for seed in SEEDS:
        sim = simulated(seed, delta=1.2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_candidates(["emax", "linear", "exponential"], sim.data,
                                    random_seed=seed, **SETTINGS)
        winners.append(result.weights.idxmax())
        weights.append(round(float(result.weights["emax x exponential"]), 2))
        averaged = result.average_contrast(dose=[5, 25, 50], reference=0, time=12)
        truth = [sim.true_contrast("score", d, 0.0, 12.0) for d in (5.0, 25.0, 50.0)]
        covered.append(bool(((averaged["hdi_low"] <= truth)
                             & (truth <= averaged["hdi_high"])).all()))
        signals.append(bool(signal_test(result.fits["emax x exponential"])["signal"].iloc[0]))
    elapsed = time.perf_counter() - start
    print(f"emax-truth: winners {winners}; emax weights {weights}; averaged 95% HDIs "
          f"cover {covered}; signals {signals}; {elapsed:.0f} s")
    assert winners.count("emax x exponential") >= 4, winners
    assert sum(covered) >= 4, covered
    assert all(signals), signals


@pytest.mark.slow
def test_signal_test_finds_no_signal_without_dose_effect():
    start = time.perf_counter()
    signals, probs = [], []
    for seed in SEEDS:
        sim = simulated(100 + seed, delta=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bd.DoseResponseModel("free", "exponential").fit(
                sim.data, random_seed=seed, **SETTINGS)
        row = signal_test(fit).iloc[0]
        signals.append(bool(row["signal"]))
        probs.append(round(float(row["prob_not_flat"]), 3))
    elapsed = time.perf_counter() - start
    print(f"null signals {signals}; prob_not_flat {probs}; {elapsed:.0f} s")
    assert sum(signals) <= 1, (signals, probs)

