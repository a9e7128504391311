"""Dose estimands (EDp, MED, target dose, onset time, monotonicity) on fixed-draw
posteriors whose answers are known in closed form (no MCMC)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fixed_fit
from scipy import optimize

import bayesdose as bd
from bayesdose.components.shapes import LogLinear
from bayesdose.errors import EstimandError
from bayesdose.results.dose_estimands import (
    GRID_POINTS,
    ByConstructionWarning,
    effective_dose_draws,
)

P50 = 500 ** (1 / 3)  # geometric mean of the tested doses 1, 10, 50
N = 1000  # draws: 2 chains x 500
LOG2 = np.log(2.0)


def onset(time: float, t_half: float) -> float:
    """Exponential onset g(t) by hand, scaled to 1 at the last visit (12)."""
    return (1 - 0.5 ** (time / t_half)) / (1 - 0.5 ** (12 / t_half))


def emax_of(delta: float, ed50: float, low: float = 1.0, top: float = 50.0) -> float:
    """Emax by hand of the curve whose effect rises by ``delta`` from ``low`` to ``top``:
    delta / (top/(ED50 + top) - low/(ED50 + low))."""
    return delta / (top / (ed50 + top) - low / (ed50 + low))


def scale_sd(fit: bd.DoseResponseFit, outcome: str) -> float:
    """The SD that maps the standardised scale to the outcome's units in this fit."""
    return float(fit.inputs.scales.sd[fit.outcomes.index(outcome)])


def per_draw(first: float, rest: float, n_first: int = N // 4) -> np.ndarray:
    """(chain, draw, outcome) draws: ``first`` in the first n_first draws, then ``rest``."""
    flat = np.where(np.arange(N) < n_first, first, rest)
    return np.repeat(flat.reshape(2, N // 2, 1), 2, axis=2)


def make_fit(dose_shape, time_shape, draws, outcomes=("koos_pain", "womac_pain")):
    data = bd.datasets.load_msc_trial().select(list(outcomes))
    model = bd.DoseResponseModel(dose_shape=dose_shape, time_shape=time_shape)
    k = len(outcomes)
    full = {name: np.broadcast_to(v, (2, N // 2, k, *np.shape(v)[3:])).copy()
            for name, v in draws.items()}
    return fixed_fit(data, model, full)


@pytest.fixture(scope="module")
def exact_fit():
    """Every draw: Emax with ED50 = 10, t_half = 3; delta 2 (KOOS) and 1.5 (WOMAC)."""
    delta = np.broadcast_to([2.0, 1.5], (2, N // 2, 2))
    return make_fit("emax", "exponential", {
        "delta": delta,
        "log_ed50": np.full((2, N // 2, 2), np.log(10 / P50)),
        "log_t_half": np.full((2, N // 2, 2), np.log(3 / 12)),
    })


@pytest.fixture(scope="module")
def mixed_fit():
    """A quarter of the draws: delta -0.5, ED50 5, t_half 2; the rest: delta 1, ED50 20,
    t_half 6 (both outcomes)."""
    return make_fit("emax", "exponential", {
        "delta": per_draw(-0.5, 1.0),
        "log_ed50": per_draw(np.log(5 / P50), np.log(20 / P50)),
        "log_t_half": per_draw(np.log(2 / 12), np.log(6 / 12)),
    })


@pytest.fixture(scope="module")
def sds(exact_fit):
    return {o: scale_sd(exact_fit, o) for o in ("koos_pain", "womac_pain")}


# ---------------------------------------------------------------------------- EDp
def test_emax_ed50_and_ed90_are_closed_form(exact_fit, sds):
    ed50 = exact_fit.effective_dose(p=0.5).set_index("outcome")
    ed90 = exact_fit.effective_dose(p=0.9).set_index("outcome")
    for outcome in ("koos_pain", "womac_pain"):
        row = ed50.loc[outcome]
        assert row["geo_mean"] == pytest.approx(10.0, rel=1e-9)
        assert row["median"] == pytest.approx(10.0, rel=1e-9)
        assert [row["ci_low"], row["ci_high"]] == pytest.approx([10.0, 10.0])
        assert row["geo_sd"] == pytest.approx(1.0)
        assert row["prob_in_range"] == 1.0 and row["prob_beyond_range"] == 0.0
        # ED90 = 9 ED50 = 90: beyond the highest tested dose, an extrapolation
        assert ed90.loc[outcome, "median"] == pytest.approx(9 * row["median"], rel=1e-9)
        assert ed90.loc[outcome, "prob_beyond_range"] == 1.0
        assert ed90.loc[outcome, "prob_not_reached"] == 0.0
    assert "Emax" in ed50["definition"].iloc[0]
    assert ed50["method"].iloc[0].startswith("closed form")
    ed20 = exact_fit.effective_dose(p=0.2, outcome="koos_pain")
    assert ed20["median"].iloc[0] == pytest.approx(2.5, rel=1e-9)
    # the effect at ED50 is half of Emax, at the time asked for
    assert ed50.loc["koos_pain", "effect_at_ed"] == pytest.approx(
        0.5 * emax_of(2.0, 10) * onset(12, 3) * sds["koos_pain"], rel=1e-9)
    assert ed50.loc["womac_pain", "effect_at_ed"] == pytest.approx(
        -0.5 * emax_of(1.5, 10) * onset(12, 3) * sds["womac_pain"], rel=1e-9)
    std = exact_fit.effective_dose(p=0.5, time=3, scale="standardised").set_index("outcome")
    assert std.loc["womac_pain", "effect_at_ed"] == pytest.approx(
        0.5 * emax_of(1.5, 10) * onset(3, 3))


def test_effective_dose_two_valued_posterior(mixed_fit):
    # the quarter of draws with delta < 0 (a worsening) has no effective dose
    ed50 = mixed_fit.effective_dose(p=0.5, outcome="koos_pain").iloc[0]
    assert ed50["prob_not_reached"] == pytest.approx(0.25)
    assert ed50["geo_mean"] == pytest.approx(20.0) and ed50["geo_sd"] == pytest.approx(1.0)
    assert ed50["median"] == pytest.approx(20.0)
    assert ed50["ci_low"] == pytest.approx(20.0) and ed50["ci_high"] == np.inf
    assert ed50["prob_in_range"] == pytest.approx(0.75)
    assert ed50["prob_beyond_range"] == pytest.approx(0.25)
    assert "mean" not in ed50.index and "sd" not in ed50.index
    ed90 = mixed_fit.effective_dose(p=0.9, outcome="koos_pain").iloc[0]
    assert ed90["median"] == pytest.approx(180.0)
    assert ed90["prob_in_range"] == 0.0
    assert ed90["prob_beyond_range"] == 1.0


def test_effective_dose_draws_are_the_draws_effective_dose_summarises(mixed_fit):
    draws = effective_dose_draws(mixed_fit.posterior_view, p=0.5)
    assert draws.dims == ("chain", "draw", "outcome")
    assert draws["outcome"].values.tolist() == ["koos_pain", "womac_pain"]
    assert draws.sizes == {"chain": 2, "draw": N // 2, "outcome": 2}
    expected = np.where(np.arange(N) < N // 4, np.inf, 20.0).reshape(2, N // 2)
    np.testing.assert_allclose(draws.sel(outcome="koos_pain"), expected, rtol=1e-12)
    table = mixed_fit.effective_dose(p=0.5).iloc[0]
    assert draws.attrs["p"] == 0.5
    assert draws.attrs["definition"] == table["definition"]
    assert draws.attrs["method"] == table["method"]
    ed90 = effective_dose_draws(mixed_fit.posterior_view, p=0.9,
                                outcome="womac_pain")
    assert ed90.dims == ("chain", "draw", "outcome") and ed90.sizes["outcome"] == 1
    np.testing.assert_allclose(ed90.isel(outcome=0), 9 * expected, rtol=1e-12)


def test_effective_dose_draws_are_inf_where_never_reached():
    # a flat draw (delta 0) has no effect at the top dose, so no fraction of it is reached
    fit = make_fit("linear", "exponential", {
        "delta": per_draw(0.0, 0.7)[..., :1],
        "log_t_half": np.full((1, 1, 1), np.log(0.25))}, outcomes=("koos_pain",))
    draws = effective_dose_draws(fit.posterior_view).isel(outcome=0).to_numpy().reshape(-1)
    assert np.isinf(draws[: N // 4]).all()
    np.testing.assert_allclose(draws[N // 4:], 25.0, rtol=1e-12)
    row = fit.effective_dose().iloc[0]
    assert row["prob_not_reached"] == pytest.approx(0.25)
    assert row["geo_mean"] == pytest.approx(25.0) and row["median"] == pytest.approx(25.0)
    assert row["ci_high"] == np.inf and row["prob_beyond_range"] == pytest.approx(0.25)


def test_sigmoid_emax_edp_uses_the_hill_exponent():
    fit = make_fit("sigmoid_emax", "exponential", {
        "delta": np.ones((1, 1, 1)),
        "log_ed50": np.full((1, 1, 1), np.log(10 / P50)),
        "log_hill": np.full((1, 1, 1), np.log(2.0)),
        "log_t_half": np.full((1, 1, 1), np.log(0.25)),
    }, outcomes=("koos_pain",))
    row = fit.effective_dose(p=0.9).iloc[0]
    assert row["median"] == pytest.approx(10 * 9 ** 0.5, rel=1e-9)
    assert "hill" in row["method"]


@pytest.mark.parametrize(("shape", "draws", "expected"), [
    ("linear", {}, lambda p: 50 * p),
    (LogLinear(offset=5.0), {}, lambda p: 5 * (11 ** p - 1)),
    ("exponential", {"log_kappa": np.full((1, 1, 1), np.log(0.5))},
     lambda p: 25 * np.log1p(p * np.expm1(2.0))),
])
def test_edp_without_asymptote_is_relative_to_the_top_dose(shape, draws, expected):
    fit = make_fit(shape, "exponential", {
        "delta": np.full((1, 1, 1), 0.7),
        "log_t_half": np.full((1, 1, 1), np.log(0.25)), **draws}, outcomes=("koos_pain",))
    for p in (0.2, 0.5, 0.9):
        row = fit.effective_dose(p=p).iloc[0]
        assert row["median"] == pytest.approx(expected(p), rel=1e-9)
        # the curve itself (evaluated by the shape) reaches p x its top-dose value there
        curve = fit.effect_draws(dose=[row["median"], 50], time=12,
                                 reference=0).to_numpy()[0, 0, 0, :, 0]
        assert curve[0] / curve[1] == pytest.approx(p, rel=1e-9)
        assert row["prob_in_range"] + row["prob_below_range"] == 1.0
    assert "highest tested dose (50)" in row["definition"]


def test_free_shape_edp_interpolates_between_tested_doses():
    fit = make_fit("free", "exponential", {
        "delta": np.array([0.5, 1.0]).reshape(1, 1, 1, 2),
        "log_t_half": np.full((1, 1, 1), np.log(0.25))}, outcomes=("koos_pain",))
    for p, expected in ((0.25, 1 + 0.5 * 9), (0.5, 10.0), (0.75, 30.0)):
        assert fit.effective_dose(p=p)["median"].iloc[0] == pytest.approx(expected)
    assert "interpolation" in fit.effective_dose()["method"].iloc[0]


def test_quadratic_edp_is_undefined():
    fit = make_fit("quadratic", "exponential", {
        "delta": np.ones((1, 1, 1)), "curvature": np.full((1, 1, 1), -0.5),
        "log_t_half": np.full((1, 1, 1), np.log(0.25))}, outcomes=("koos_pain",))
    with pytest.raises(EstimandError, match="undefined for the 'quadratic'"):
        fit.effective_dose()
    with pytest.raises(EstimandError, match="undefined for the 'quadratic'"):
        effective_dose_draws(fit.posterior_view)


# ---------------------------------------------------------------------------- MED
def med_by_hand(sd: float, emax: float, ed50: float, g: float, mcid: float,
                reference: float = 1.0) -> float:
    """Dose where sd * Emax * g * (d/(ED50+d) - ref/(ED50+ref)) equals the MCID."""
    u = reference / (ed50 + reference) + mcid / (sd * emax * g)
    return ed50 * u / (1 - u)


def test_med_matches_the_hand_computed_dose(exact_fit, sds):
    table = exact_fit.minimum_effective_dose(level=0.8).set_index("outcome")
    step = 49 / (GRID_POINTS - 1)
    for outcome, delta in (("koos_pain", 2.0), ("womac_pain", 1.5)):
        truth = med_by_hand(sds[outcome], emax_of(delta, 10), 10, onset(12, 3), 10)
        assert 1 < truth < 50
        row = table.loc[outcome]
        assert row["found"] and truth <= row["med"] <= truth + step + 1e-9
        assert row["prob_at_med"] == 1.0 and row["mcid"] == 10.0
        assert row["median"] == pytest.approx(row["med"]) and row["prob_not_reached"] == 0.0
    grid = np.arange(1, 50.01, 0.5)
    explicit = exact_fit.minimum_effective_dose(doses=grid, outcome="womac_pain").iloc[0]
    truth = med_by_hand(sds["womac_pain"], emax_of(1.5, 10), 10, onset(12, 3), 10)
    assert explicit["med"] == grid[grid > truth][0]
    curve = exact_fit.minimum_effective_dose(doses=grid, outcome="womac_pain", curve=True)
    np.testing.assert_array_equal(curve["prob_gt_mcid"], (grid > truth).astype(float))
    # the same dose from target_dose, which inverts the Emax curve exactly
    exact = exact_fit.target_dose(effect=10, reference=1, outcome="womac_pain").iloc[0]
    assert exact["median"] == pytest.approx(truth, rel=1e-9)


def test_med_two_valued_posterior_and_not_found(mixed_fit):
    sd = scale_sd(mixed_fit, "koos_pain")
    truth = med_by_hand(sd, emax_of(1.0, 20), 20, onset(12, 6), 5)  # the delta = 1 draws (75%)
    grid = np.arange(1, 50.01, 0.5)
    expected = grid[grid > truth][0]
    none = mixed_fit.minimum_effective_dose(mcid=5, level=0.8, outcome="koos_pain",
                                            doses=grid).iloc[0]
    assert not none["found"] and np.isnan(none["med"])
    assert none["max_prob"] == pytest.approx(0.75)
    row = mixed_fit.minimum_effective_dose(mcid={"koos_pain": 5}, level=0.7,
                                           outcome="koos_pain", doses=grid).iloc[0]
    assert row["found"] and row["med"] == expected
    assert row["prob_at_med"] == pytest.approx(0.75)
    # per-draw MED: the delta = -0.5 draws never exceed the MCID
    assert row["prob_not_reached"] == pytest.approx(0.25)
    assert row["geo_mean"] == pytest.approx(expected)
    assert row["median"] == pytest.approx(expected)
    # draws without a MED count as beyond every searched dose: the upper tail is inf
    assert row["ci_low"] == pytest.approx(expected) and row["ci_high"] == np.inf


def test_med_standardised_scale_gives_the_same_dose(exact_fit):
    outcome = exact_fit.minimum_effective_dose(mcid=8)
    standard = exact_fit.minimum_effective_dose(mcid=8, scale="standardised")
    np.testing.assert_allclose(outcome["med"], standard["med"])


# ---------------------------------------------------------------------------- target dose
def test_target_dose_inverts_emax_by_hand(exact_fit, sds):
    table = exact_fit.target_dose(effect=10, reference=0).set_index("outcome")
    for outcome, delta in (("koos_pain", 2.0), ("womac_pain", 1.5)):
        q = 10 / (sds[outcome] * emax_of(delta, 10) * onset(12, 3))
        row = table.loc[outcome]
        assert row["median"] == pytest.approx(10 * q / (1 - q), rel=1e-9)
        assert row["prob_in_range"] == 1.0 and row["prob_not_reached"] == 0.0
    # lower is better: effect = 10 asks for a 10-point reduction on WOMAC
    assert table.loc["womac_pain", "direction"] == "lower_is_better"
    dose = table.loc["womac_pain", "median"]
    reached = exact_fit.effect(dose=dose, time=12, outcome="womac_pain",
                               reference=0)["mean"].iloc[0]
    assert reached == pytest.approx(-10.0, rel=1e-9)
    # the same on the standardised scale, effect in outcome SDs
    std = exact_fit.target_dose(effect=10 / sds["koos_pain"], scale="standardised",
                                outcome="koos_pain", reference=0)
    assert std["median"].iloc[0] == pytest.approx(table.loc["koos_pain", "median"], rel=1e-9)


def test_target_dose_defaults_to_the_lowest_tested_dose(exact_fit, sds):
    # no placebo arm: the effect is against dose 1, not an extrapolated dose 0
    row = exact_fit.target_dose(effect=10, outcome="koos_pain").iloc[0]
    assert row["versus"] == exact_fit.posterior_view.versus(1.0)
    q = 10 / (sds["koos_pain"] * emax_of(2.0, 10) * onset(12, 3)) + 1 / (1 + 10)
    assert row["median"] == pytest.approx(10 * q / (1 - q), rel=1e-9)
    reached = exact_fit.effect(dose=row["median"], time=12, outcome="koos_pain",
                               reference=1)["mean"].iloc[0]
    assert reached == pytest.approx(10.0, rel=1e-9)


def test_target_dose_counts_unreached_and_extrapolated_draws(mixed_fit):
    sd = scale_sd(mixed_fit, "koos_pain")
    emax_units = sd * emax_of(1.0, 20) * onset(12, 6)  # the delta = 1 draws
    q = 5 / emax_units
    row = mixed_fit.target_dose(effect=5, outcome="koos_pain", reference=0).iloc[0]
    assert row["geo_mean"] == pytest.approx(20 * q / (1 - q), rel=1e-9)
    assert row["median"] == pytest.approx(20 * q / (1 - q), rel=1e-9)
    assert row["prob_not_reached"] == pytest.approx(0.25)  # delta < 0: never reached
    assert row["prob_in_range"] == pytest.approx(0.75)
    assert row["ci_high"] == np.inf
    q = 0.9 * emax_units / emax_units
    beyond = mixed_fit.target_dose(effect=0.9 * emax_units, outcome="koos_pain",
                                   reference=0).iloc[0]
    assert beyond["median"] == pytest.approx(20 * q / (1 - q), rel=1e-6)  # 180 > 50
    assert beyond["prob_in_range"] == 0.0 and beyond["prob_beyond_range"] == 1.0
    never = mixed_fit.target_dose(effect=1.1 * emax_units, outcome="koos_pain",
                                  reference=0).iloc[0]
    assert never["prob_not_reached"] == 1.0 and np.isnan(never["geo_mean"])
    assert never["median"] == never["ci_low"] == never["ci_high"] == np.inf


def test_target_dose_on_a_quadratic_grid_matches_the_root():
    fit = make_fit("quadratic", "free", {
        "delta": np.ones((1, 1, 1)), "curvature": np.full((1, 1, 1), -0.5),
        "gamma": np.array([0.2, 0.4, 0.8]).reshape(1, 1, 1, 3)}, outcomes=("koos_pain",))
    # x = d / 50, x_low = 1 / 50: f(x) = a x - 0.5 x (x - 1) with the slope
    # a = (1 - 0.5 x_low (x_low - 1)) / (1 - x_low) that makes f(50) - f(1) = delta = 1;
    # f(x) = (a + 0.5) x - 0.5 x^2 = 0.8 at x = (a + 0.5) - sqrt((a + 0.5)^2 - 1.6)
    low = 1 / 50
    b = (1 - 0.5 * low * (low - 1)) / (1 - low) + 0.5
    truth = 50 * (b - np.sqrt(b**2 - 1.6))
    row = fit.target_dose(effect=0.8, scale="standardised", reference=0).iloc[0]
    assert row["median"] == pytest.approx(truth, abs=0.01)
    assert row["method"].startswith("first crossing")


# ---------------------------------------------------------------------------- onset time
def test_time_to_half_effect_exponential_closed_form(exact_fit, mixed_fit):
    table = exact_fit.time_to_half_effect()
    assert table["median"].tolist() == pytest.approx([3.0, 3.0])
    assert table["geo_mean"].tolist() == pytest.approx([3.0, 3.0])
    assert set(table["dose"]) == {50.0}
    assert table["method"].iloc[0] == "closed form: t_half"
    # the quarter of draws with delta < 0 has no improvement to reach half of
    row = mixed_fit.time_to_half_effect(dose=[10, 50], outcome="koos_pain")
    assert len(row) == 2 and row["geo_mean"].iloc[0] == pytest.approx(6.0)
    assert row["prob_not_reached"].tolist() == pytest.approx([0.25, 0.25])
    assert row["median"].iloc[0] == pytest.approx(6.0)
    assert row["ci_low"].iloc[0] == pytest.approx(6.0) and row["ci_high"].iloc[0] == np.inf
    assert row["prob_beyond_follow_up"].iloc[0] == pytest.approx(0.25)


def test_time_to_half_effect_numeric_courses():
    # Bateman: t_half 1, t_wane 4; half the peak on the rising limb, by hand
    bateman = make_fit("linear", "bateman", {
        "delta": np.ones((1, 1, 1)), "log_t_half": np.full((1, 1, 1), np.log(1 / 12)),
        "log_wane": np.full((1, 1, 1), np.log(3.0))}, outcomes=("koos_pain",))
    k_in, k_out = LOG2, LOG2 / 4
    peak = np.log(k_in / k_out) / (k_in - k_out)

    def course(t):
        return np.exp(-k_out * t) - np.exp(-k_in * t)

    truth = optimize.brentq(lambda t: course(t) / course(peak) - 0.5, 0, peak, xtol=1e-12)
    row = bateman.time_to_half_effect().iloc[0]
    assert row["median"] == pytest.approx(truth, rel=1e-8)
    assert row["method"] == "numeric: bisection"
    # free per visit and piecewise linear: g = 0, 0.2, 0.4, 0.8, 1 at 0, 1, 3, 6, 12
    for time_shape in ("free", "piecewise_linear"):
        fit = make_fit("linear", time_shape, {
            "delta": np.ones((1, 1, 1)),
            "gamma": np.array([0.2, 0.4, 0.8]).reshape(1, 1, 1, 3)}, outcomes=("koos_pain",))
        assert fit.time_to_half_effect()["median"].iloc[0] == pytest.approx(3.75)


# ---------------------------------------------------------------------------- monotonicity
def test_prob_increasing_is_the_fraction_of_positive_deltas(exact_fit, mixed_fit):
    with pytest.warns(ByConstructionWarning):
        assert exact_fit.prob_increasing()["prob_increasing"].tolist() == [1.0, 1.0]
    with pytest.warns(ByConstructionWarning, match="monotone in dose by construction"):
        table = mixed_fit.prob_increasing().set_index("outcome")
    assert table["by_construction"].tolist() == [True, True]
    for outcome in ("koos_pain", "womac_pain"):  # direction-aware for WOMAC
        assert table.loc[outcome, "prob_increasing"] == pytest.approx(0.75)
        assert table.loc[outcome, "prob_highest_better"] == pytest.approx(0.75)
    assert table.loc["koos_pain", "doses"] == "1, 10, 50"


def test_prob_increasing_on_free_means():
    # half the draws increase, a quarter peak at 10 (top still better), a quarter worsen
    pattern = np.array([[0.5, 1.0]] * (N // 2) + [[1.2, 1.0]] * (N // 4)
                       + [[-0.2, -0.1]] * (N // 4))
    fit = make_fit("free", "exponential", {
        "delta": pattern.reshape(2, N // 2, 1, 2),
        "log_t_half": np.full((1, 1, 1), np.log(0.25))}, outcomes=("koos_pain",))
    row = fit.prob_increasing(time=12).iloc[0]
    assert row["prob_increasing"] == pytest.approx(0.5)
    assert row["prob_highest_better"] == pytest.approx(0.75)
    sd = scale_sd(fit, "koos_pain")
    assert row["mean"] == pytest.approx(sd * (0.5 + 0.25 - 0.025) * onset(12, 3), rel=1e-9)
    pair = fit.prob_increasing(doses=[10, 50]).iloc[0]
    assert pair["prob_increasing"] == pytest.approx(0.75)  # 10 -> 50: all but the peaked


# ---------------------------------------------------------------------------- errors
def test_bad_arguments_raise_estimand_errors(exact_fit):
    for p in (0, 1, 1.5, -0.1):
        with pytest.raises(EstimandError, match="p must be between 0 and 1"):
            exact_fit.effective_dose(p=p)
        with pytest.raises(EstimandError, match="p must be between 0 and 1"):
            effective_dose_draws(exact_fit.posterior_view, p=p)
    with pytest.raises(EstimandError, match="not in this fit"):
        effective_dose_draws(exact_fit.posterior_view, outcome="koos_qol")
    with pytest.raises(EstimandError, match="level must be between 0 and 1"):
        exact_fit.minimum_effective_dose(level=1.0)
    with pytest.raises(EstimandError, match="not in this fit"):
        exact_fit.target_dose(effect=5, outcome="koos_qol")
    with pytest.raises(EstimandError, match="before the baseline"):
        exact_fit.effective_dose(time=-1)
    with pytest.raises(EstimandError, match="before the baseline"):
        exact_fit.minimum_effective_dose(time=-2)
    with pytest.raises(EstimandError, match="effect must be a finite, non-zero"):
        exact_fit.target_dose(effect=0)
    with pytest.raises(EstimandError, match="effect: the mapping"):
        exact_fit.target_dose(effect={"koos_pain": 5}, outcome=["koos_pain", "womac_pain"])
    with pytest.raises(EstimandError, match="mcid must be positive"):
        exact_fit.minimum_effective_dose(mcid=-1)
    with pytest.raises(EstimandError, match="doses: give at least two"):
        exact_fit.prob_increasing(doses=[10])
    with pytest.raises(EstimandError, match="ci_prob"):
        exact_fit.time_to_half_effect(ci_prob=1.5)
    with pytest.raises(EstimandError, match="ci_kind"):
        exact_fit.effective_dose(ci_kind="hpd")
    with pytest.raises(EstimandError, match="scale must be one of"):
        exact_fit.effective_dose(scale="log")
