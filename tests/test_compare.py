"""Model comparison and model averaging.

The fast tests use fits with fixed posterior draws and synthetic log likelihoods, whose
answers are known (or computed by ArviZ on the same arrays). The slow test samples:
Emax-truth trials should give the Emax candidate the largest stacking weight (and the
Emax fit should show a signal).
"""

from __future__ import annotations

import time
import warnings

import arviz as az
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.model.comparison import compare, fit_candidates, model_name
from bayesdose.plots.comparison import plot_candidates
from bayesdose.results.averaging import Comparison, MixtureDraws
from bayesdose.results.dose_estimands import effective_dose_draws
from bayesdose.results.psis import pointwise_log_likelihood
from bayesdose.results.signal import signal_test

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
    fit.idata["log_likelihood"] = xr.Dataset(data, coords=coords)
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
        name: xr.DataTree.from_dict({
            "posterior": fits[name].idata["posterior"].to_dataset(),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), lls[name])})})
        for name in fits}, round_to="none")
    reference["elpd_diff"] = -reference["elpd_diff"]  # the table's: best minus this one
    for ours, theirs in (("elpd_loo", "elpd"), ("p_loo", "p"), ("elpd_diff", "elpd_diff"),
                         ("dse", "dse"), ("se", "se")):
        np.testing.assert_allclose(table.set_index("model")[ours],
                                   reference.loc[["A", "B"], theirs], rtol=1e-10, atol=1e-12)
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


# ---------------------------------------------------------------------- compare fits models
def test_compare_fits_models_given_data_with_the_same_settings(two_fits, koos, monkeypatch):
    fits, _ = two_fits
    calls = []

    def fake_fit(self, data, **kwargs):
        calls.append((model_name(self), data, kwargs))
        return {"emax": fits["A"], "linear": fits["B"]}[self.dose_shape.name]

    monkeypatch.setattr(bd.DoseResponseModel, "fit", fake_fit)
    settings = {"draws": 50, "tune": 20, "chains": 2, "random_seed": 7}
    result = bd.compare(["emax", bd.DoseResponseModel("linear")], koos, **settings)
    assert [name for name, _, _ in calls] == ["emax x exponential", "linear x exponential"]
    assert all(data is koos and kwargs == settings for _, data, kwargs in calls)
    assert set(result.fits) == {"emax x exponential", "linear x exponential"}
    assert result.fits["emax x exponential"] is fits["A"]
    np.testing.assert_allclose(result.weights.sort_index().to_numpy(),
                               compare(fits).weights.sort_index().to_numpy())
    # a mapping keeps its names; compare's own settings reach the comparison
    calls.clear()
    named = bd.compare({"E": "emax", "L": bd.DoseResponseModel("linear")}, data=koos,
                       method="pseudo-BMA", random_seed=3)
    assert set(named.fits) == {"E", "L"} and named.method == "pseudo-BMA"
    assert [kwargs for _, _, kwargs in calls] == [{"random_seed": 3}] * 2
    # fit_candidates does the same
    calls.clear()
    again = fit_candidates(["emax", "linear"], koos, **settings)
    assert [kwargs for _, _, kwargs in calls] == [settings] * 2
    pd.testing.assert_series_equal(again.weights, result.weights)


def test_compare_says_what_to_pass_for_models_fits_and_data(two_fits, koos, monkeypatch):
    fits, _ = two_fits

    def no_fit(self, data, **kwargs):
        raise AssertionError("nothing should be fitted")

    monkeypatch.setattr(bd.DoseResponseModel, "fit", no_fit)
    with pytest.raises(SpecError, match="no data was given: pass data="):
        compare(["emax", "linear"])
    with pytest.raises(SpecError, match="no data was given"):
        compare({"E": bd.DoseResponseModel("emax"), "L": bd.DoseResponseModel("linear")})
    with pytest.raises(SpecError, match=r"already fitted .* pass fits without data"):
        compare(fits, koos)
    with pytest.raises(SpecError, match=r"mix fits .* and models"):
        compare({"A": fits["A"], "L": "linear"})
    with pytest.raises(SpecError, match="mix fits"):
        compare([fits["A"], bd.DoseResponseModel("linear")], koos)
    with pytest.raises(SpecError, match=r"fit settings \['draws'\] apply only"):
        compare(fits, draws=100)
    with pytest.raises(SpecError, match="data must be a TrialData"):
        compare(["emax", "linear"], data=koos.table)
    with pytest.raises(SpecError, match="data must be a TrialData"):
        fit_candidates(["emax", "linear"], koos.table)
    # settings are checked before anything is fitted
    with pytest.raises(SpecError, match="method must be one of"):
        compare(["emax", "linear"], koos, method="bma")
    with pytest.raises(SpecError, match="ic must be one of"):
        fit_candidates(["emax", "linear"], koos, ic="waic")
    with pytest.raises(SpecError, match="at least two"):
        compare(["emax"], koos)


# ---------------------------------------------------------------------- averaged EDp
def ed_fit(data, ed50, delta=1.0, shape: str = "emax"):
    """A fixed fit of koos_pain whose draws have the given ED50 (Emax) and delta, each a
    number or one value per draw (CHAINS * DRAWS)."""
    model = bd.DoseResponseModel(shape, "exponential")
    midpoint = model.inputs(data).dose_scale.midpoint

    def per_draw(value):
        return np.broadcast_to(np.asarray(value, dtype=float),
                               (CHAINS * DRAWS,)).reshape(CHAINS, DRAWS, 1).copy()

    draws = {"delta": per_draw(delta),
             "log_t_half": np.full((CHAINS, DRAWS, 1), np.log(3 / 12))}
    if shape == "emax":
        draws["log_ed50"] = np.log(per_draw(ed50) / midpoint)
    return fixed_fit(data, model, draws)


def comparison_of(fits: dict, weights: dict) -> Comparison:
    """A Comparison with given weights (no log likelihood needed to average)."""
    table = pd.DataFrame({"model": list(weights), "weight": list(weights.values())})
    return Comparison(table=table, weights=pd.Series(weights, dtype=float), fits=fits)


def first_quarter(first: float, rest: float) -> np.ndarray:
    return np.where(np.arange(CHAINS * DRAWS) < CHAINS * DRAWS // 4, first, rest)


def test_average_effective_dose_is_the_weighted_mixture_of_known_ed50s(koos):
    fits = {"A": ed_fit(koos, 5.0), "B": ed_fit(koos, 20.0)}
    result = comparison_of(fits, {"A": 0.5, "B": 0.5})
    weights = {"A": 0.25, "B": 0.75}
    row = result.average_effective_dose(p=0.5, weights=weights).iloc[0]
    assert row["outcome"] == "koos_pain" and row["p"] == 0.5
    assert row["mean"] == pytest.approx(0.25 * 5 + 0.75 * 20, rel=1e-12)
    # weighted variance with the reliability correction 1 / (1 - sum of squared weights)
    square = CHAINS * DRAWS * ((0.25 / (CHAINS * DRAWS)) ** 2 + (0.75 / (CHAINS * DRAWS)) ** 2)
    assert row["sd"] == pytest.approx(np.sqrt(0.25 * 0.75 * 15**2 / (1 - square)), rel=1e-9)
    assert row["median"] == pytest.approx(20.0)
    assert (row["q_low"], row["q_high"]) == pytest.approx((5.0, 20.0))
    assert (row["hdi_low"], row["hdi_high"]) == pytest.approx((5.0, 20.0))
    assert row["prob_not_reached"] == 0.0 and row["prob_in_range"] == pytest.approx(1.0)
    assert (row["median[A]"], row["median[B]"]) == pytest.approx((5.0, 20.0))
    assert (row["min_model_median"], row["max_model_median"]) == pytest.approx((5.0, 20.0))
    assert "Emax" in row["definition"]
    # P(ED50 < 10) from the same mixture of per-draw EDp
    mix = result.average_draws(lambda fit: effective_dose_draws(fit.posterior_view, p=0.5), weights)
    assert float(mix.prob(mix.values < 10)[0]) == pytest.approx(0.25, rel=1e-12)
    # the comparison's own weights (0.5 each) when none are given
    assert result.average_effective_dose()["mean"].iloc[0] == pytest.approx(12.5)


def test_average_effective_dose_weighted_quantiles_and_hdi(koos):
    # mixture: ED50 5 with weight 0.25, 10 with 0.75 / 4 = 0.1875, 40 with 0.5625
    fits = {"A": ed_fit(koos, 5.0), "B": ed_fit(koos, first_quarter(10.0, 40.0))}
    result = comparison_of(fits, {"A": 0.25, "B": 0.75})
    wide = result.average_effective_dose(hdi_prob=0.6).iloc[0]
    assert wide["mean"] == pytest.approx(0.25 * 5 + 0.1875 * 10 + 0.5625 * 40, rel=1e-12)
    assert wide["median"] == pytest.approx(40.0)  # cumulative weight 0.4375 below 40
    assert (wide["q_low"], wide["q_high"]) == pytest.approx((5.0, 40.0))  # 0.2 and 0.8
    # shortest interval holding more than 0.6: [10, 40] (0.75), not [5, 40]
    assert (wide["hdi_low"], wide["hdi_high"]) == pytest.approx((10.0, 40.0))
    narrow = result.average_effective_dose(hdi_prob=0.4).iloc[0]
    assert (narrow["q_low"], narrow["q_high"]) == pytest.approx((10.0, 40.0))  # 0.3, 0.7
    assert narrow["median[B]"] == pytest.approx(40.0)
    assert narrow["prob_in_range"] == pytest.approx(1.0)


def test_average_effective_dose_counts_unreached_draws_by_weight(koos):
    # linear ED50 = 25 (half the effect at 50); a quarter of its draws are flat (delta 0):
    # no effect at the top dose, so no fraction of it is ever reached
    fits = {"E": ed_fit(koos, 5.0),
            "L": ed_fit(koos, None, delta=first_quarter(0.0, 1.0), shape="linear")}
    per_draw = effective_dose_draws(fits["L"].posterior_view)
    assert per_draw.isel(chain=0, draw=0, outcome=0).item() == np.inf
    assert per_draw.isel(chain=1, draw=0, outcome=0).item() == pytest.approx(25.0)
    result = comparison_of(fits, {"E": 0.4, "L": 0.6})
    row = result.average_effective_dose(hdi_prob=0.9).iloc[0]
    assert row["prob_not_reached"] == pytest.approx(0.6 * 0.25, rel=1e-12)
    assert row["prob_beyond_range"] == pytest.approx(0.15, rel=1e-12)
    assert row["prob_in_range"] == pytest.approx(0.85, rel=1e-12)
    # mean over the reached draws, weights renormalised: 0.4 at 5 and 0.45 at 25
    assert row["mean"] == pytest.approx((0.4 * 5 + 0.45 * 25) / 0.85, rel=1e-12)
    assert row["median"] == pytest.approx(25.0)
    assert row["q_low"] == pytest.approx(5.0) and row["q_high"] == np.inf
    assert (row["median[E]"], row["median[L]"]) == pytest.approx((5.0, 25.0))
    assert row["definition"].startswith("differs by model")
    # every draw of the mixture not reached
    flat = comparison_of({"E": fits["E"], "F": ed_fit(koos, None, 0.0, "linear")},
                         {"E": 0.0, "F": 1.0})
    none = flat.average_effective_dose().iloc[0]
    assert none["prob_not_reached"] == pytest.approx(1.0) and np.isnan(none["mean"])
    assert none["median"] == np.inf and none["median[F]"] == np.inf
    assert none["median[E]"] == pytest.approx(5.0)  # every model's median, weight 0 too


def test_average_effective_dose_of_one_model_is_its_effective_dose(koos):
    rng = np.random.default_rng(4)
    ed50 = np.exp(rng.normal(np.log(12), 0.6, CHAINS * DRAWS))
    fits = {"A": ed_fit(koos, ed50, delta=np.where(rng.random(CHAINS * DRAWS) < 0.03,
                                                    0.0, 1.0)),
            "B": ed_fit(koos, 20.0)}
    result = comparison_of(fits, {"A": 0.5, "B": 0.5})
    for p, prob in ((0.9, 0.8), (0.5, 0.95)):
        alone = result.average_effective_dose(p=p, hdi_prob=prob, weights={"A": 1}).iloc[0]
        own = fits["A"].effective_dose(p=p, hdi_prob=prob).iloc[0]
        for column in ("mean", "sd", "hdi_low", "hdi_high", "median", "q_low", "q_high",
                       "prob_below_range", "prob_in_range", "prob_beyond_range",
                       "prob_not_reached"):
            assert alone[column] == pytest.approx(own[column], rel=1e-10), column
        assert alone["definition"] == own["definition"]
        assert alone["median[A]"] == pytest.approx(own["median"], rel=1e-10)
    assert 0 < own["prob_not_reached"] < 0.1 and own["q_high"] == np.inf


def test_average_effective_dose_rejects_bad_arguments(koos):
    quadratic = fixed_fit(koos, bd.DoseResponseModel("quadratic", "exponential"), {
        "delta": np.ones((1, 4, 1)), "curvature": np.full((1, 4, 1), -0.5),
        "log_t_half": np.full((1, 4, 1), np.log(0.25))})
    result = comparison_of({"A": ed_fit(koos, 5.0), "Q": quadratic}, {"A": 1.0, "Q": 0.0})
    with pytest.raises(EstimandError, match=r"model 'Q': .*undefined for the 'quadratic'"):
        result.average_effective_dose()
    result = comparison_of({"A": ed_fit(koos, 5.0), "B": ed_fit(koos, 20.0)},
                           {"A": 0.5, "B": 0.5})
    with pytest.raises(EstimandError, match="p must be between 0 and 1"):
        result.average_effective_dose(p=1.0)
    with pytest.raises(EstimandError, match="hdi_prob must be between 0 and 1"):
        result.average_effective_dose(hdi_prob=0)
    with pytest.raises(EstimandError, match="not in this comparison"):
        result.average_effective_dose(weights={"C": 1.0})
    with pytest.raises(EstimandError, match="not in this fit"):
        result.average_effective_dose(outcome="koos_qol")


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
        view = result.fits["emax x exponential"].posterior_view
        signals.append(bool(signal_test(view)["signal"].iloc[0]))
    elapsed = time.perf_counter() - start
    print(f"emax-truth: winners {winners}; emax weights {weights}; averaged 95% HDIs "
          f"cover {covered}; signals {signals}; {elapsed:.0f} s")
    assert winners.count("emax x exponential") >= 4, winners
    assert sum(covered) >= 4, covered
    assert all(signals), signals
