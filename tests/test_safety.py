"""Tests of the adverse-event (safety) model: input checks, closed-form read-outs on
hand-built posteriors, parameter recovery and the embedded MSC adverse events."""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import arviz as az
import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.data.safety import LogDoseScale, SafetyData
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.inference.backends import installed_backends, resolve_sampler
from bayesdose.model.safety import SafetyModel, load_msc_safety
from bayesdose.results.diagnostics import Diagnostics
from bayesdose.results.estimands import hdi
from bayesdose.results.safety import SafetyFit, expit

FAST = {"draws": 300, "tune": 300, "chains": 2}


def safety_frame() -> pd.DataFrame:
    """Six patients at doses 1, 10, 100 (reference dose 10), three with events."""
    return pd.DataFrame({
        "patient": ["p0", "p1", "p2", "p3", "p4", "p5"],
        "dose": [1.0, 1.0, 10.0, 10.0, 100.0, 100.0],
        "event": [0, 0, 0, 1, 1, 1],
        "n_events": [0, 0, 0, 1, 2, 1],
        "description": ["", "", "", "rash", "fever", "rash"],
    })


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return change


# ---------------------------------------------------------------------- input checks
BAD_INPUTS = [
    ("missing column", lambda f: f.drop(columns="dose"), {}, ["'dose'", "not found"]),
    ("non-numeric dose", _set("dose", 2, "ten"), {}, ["'dose'", "row 2", "non-numeric"]),
    ("negative dose", _set("dose", 3, -1.0), {}, ["'dose'", "row 3", "negative"]),
    ("missing dose", _set("dose", 1, np.nan), {}, ["'dose'", "row 1", "empty"]),
    ("blank dose", _set("dose", 4, "  "), {}, ["'dose'", "row 4", "empty"]),
    ("infinite dose", _set("dose", 5, np.inf), {}, ["'dose'", "row 5", "infinite"]),
    ("event not 0/1", _set("event", 4, 2), {}, ["'event'", "row 4", "0 and 1"]),
    ("missing event", _set("event", 0, np.nan), {}, ["'event'", "row 0", "empty"]),
    ("text event", _set("event", 1, "yes"), {}, ["'event'", "row 1", "non-numeric"]),
    ("negative count", _set("n_events", 5, -1), {"n_events": "n_events"},
     ["'n_events'", "row 5", "non-negative integers"]),
    ("fractional count", _set("n_events", 3, 1.5), {"n_events": "n_events"},
     ["'n_events'", "row 3", "non-negative integers"]),
    ("missing count", _set("n_events", 2, None), {"n_events": "n_events"},
     ["'n_events'", "row 2", "empty"]),
    ("event without count", _set("n_events", 1, 2), {"n_events": "n_events"},
     ["'event'", "row 1", "'n_events'"]),
    ("count without event", _set("event", 4, 0), {"n_events": "n_events"},
     ["'event'", "row 4", "'n_events'"]),
    ("duplicate patient", _set("patient", 1, "p0"), {}, ["'patient'", "rows 0, 1", "p0"]),
    ("missing patient", _set("patient", 2, None), {}, ["'patient'", "row 2", "empty"]),
    ("single dose", lambda f: f.assign(dose=5.0), {}, ["'dose'", "single dose"]),
    ("empty table", lambda f: f.iloc[:0], {}, ["empty"]),
    ("no event column", lambda f: f, {"event": None}, ["event=", "n_events="]),
]


@pytest.mark.parametrize(("change", "kwargs", "fragments"),
                         [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_names_column_and_rows(change, kwargs, fragments):
    frame = change(safety_frame())
    with pytest.raises(DataError) as info:
        SafetyData.from_frame(frame, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_errors_use_the_users_column_names_and_row_labels():
    frame = safety_frame().rename(columns={"patient": "id", "dose": "dose_mg", "event": "ae"})
    frame.index = range(10, 16)
    frame.loc[12, "dose_mg"] = -5.0
    with pytest.raises(DataError, match=r"'dose_mg' has negative doses at row 12\b"):
        SafetyData.from_frame(frame, patient="id", dose="dose_mg", event="ae")


def test_valid_table_keeps_every_row():
    data = SafetyData.from_frame(safety_frame(), n_events="n_events", dose_unit="mg")
    assert data.n_patients == 6
    assert data.doses == [1.0, 10.0, 100.0]
    assert data.dose_unit == "mg"
    assert data.has_counts
    summary = data.by_dose()
    assert summary["n_with_event"].tolist() == [0, 1, 2]
    assert summary["total_events"].tolist() == [0, 1, 3]


def test_event_from_counts_and_text_values():
    frame = safety_frame().drop(columns="event").astype({"dose": str, "n_events": str})
    data = SafetyData.from_frame(frame, event=None, n_events="n_events")
    assert data.table["event"].tolist() == [0, 0, 0, 1, 1, 1]
    frame = safety_frame().assign(event=[False, False, False, True, True, True])
    assert SafetyData.from_frame(frame).table["event"].tolist() == [0, 0, 0, 1, 1, 1]


def test_embedded_adverse_events_load():
    data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
    assert data.n_patients == 12
    assert data.doses == [1.0, 10.0, 50.0]
    assert int(data.table["event"].sum()) == 4
    assert load_msc_safety().by_dose()["n_with_event"].tolist() == [0, 1, 3]


def test_log_dose_scale_reference_and_placebo_offset():
    scale = LogDoseScale.from_doses([1, 10, 100])
    assert scale.reference == pytest.approx(10.0)
    assert scale.offset == 0.0
    placebo = LogDoseScale.from_doses([0, 2, 8])
    assert placebo.reference == pytest.approx(4.0)
    assert placebo.offset == pytest.approx(0.2)
    assert placebo.transform([0.0])[0] == pytest.approx(np.log(0.2 / 4.0))


# ---------------------------------------------------------------------- model settings
def test_priors_override_by_name_and_argument():
    model = SafetyModel(prior_slope=Prior("Normal", mu=0.5, sigma=0.5))
    table = model.prior_table().set_index("parameter")
    assert table.loc["alpha", "prior"] == 'Prior("Normal", mu=-1, sigma=1.5)'
    assert table.loc["alpha", "default"]
    assert "27%" in table.loc["alpha", "reason"]
    assert table.loc["beta", "prior"] == 'Prior("Normal", mu=0.5, sigma=0.5)'
    assert not table.loc["beta", "default"]
    named = SafetyModel(priors={"alpha": Prior("Normal", mu=3, sigma=0.1)})
    assert str(named.priors["alpha"]) == 'Prior("Normal", mu=3, sigma=0.1)'


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"priors": {"gamma": Prior("Normal")}}, "unknown prior"),
    ({"priors": {"beta": Prior("Normal")}, "prior_slope": Prior("Normal")}, "given twice"),
    ({"prior_intercept": 1.0}, "must be a pymc_extras.prior.Prior"),
    ({"prior_intercept": Prior("Normal", dims="dose")}, "must be scalar"),
])
def test_bad_priors(kwargs, message):
    with pytest.raises(SpecError, match=message):
        SafetyModel(**kwargs)


@pytest.mark.parametrize("settings", [{"draws": 0}, {"chains": 1.5}, {"target_accept": 1.0},
                                      {"sampler": "stan"}])
def test_bad_sampler_settings(settings):
    data = SafetyData.from_frame(safety_frame())
    with pytest.raises(SpecError):
        SafetyModel().fit(data, **settings)


def test_built_model_has_named_variables():
    model = SafetyModel().build(SafetyData.from_frame(safety_frame()))
    assert {"alpha", "beta", "event", "event_prob"} <= set(model.named_vars)
    assert list(model.coords["dose"]) == [1.0, 10.0, 100.0]


# ---------------------------------------------------------------------- closed form
def normal_quantiles(n: int) -> np.ndarray:
    """Evenly spaced standard Normal quantiles: a deterministic 'sample' of N(0, 1)."""
    return np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])


def hand_fit(alpha: np.ndarray, beta: np.ndarray, frame: pd.DataFrame | None = None):
    data = SafetyData.from_frame(safety_frame() if frame is None else frame)
    shape = (2, alpha.size // 2)
    idata = az.from_dict({"posterior": {"alpha": np.reshape(alpha, shape),
                                    "beta": np.reshape(np.broadcast_to(beta, alpha.shape),
                                                       shape)}})
    return SafetyFit(data, idata)


def logit_normal_moments(mu: float, sigma: float) -> tuple[float, float]:
    """Mean and SD of expit(N(mu, sigma)) by Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    values = expit(mu + sigma * nodes)
    mean = float(np.sum(weights * values))
    return mean, float(np.sqrt(np.sum(weights * (values - mean) ** 2)))


M, S, B = -0.8, 0.7, 0.5          # alpha ~ N(M, S), beta = B; reference dose 10


@pytest.fixture(scope="module")
def closed_fit() -> SafetyFit:
    return hand_fit(M + S * normal_quantiles(4000), B)


def test_event_probability_matches_logit_normal(closed_fit):
    doses = [1.0, 3.0, 10.0, 100.0, 400.0]
    table = closed_fit.event_probability(dose=doses, ci_prob=0.9)
    for dose, row in zip(doses, table.itertuples(), strict=True):
        mean, sd = logit_normal_moments(M + B * np.log(dose / 10.0), S)
        assert row.mean == pytest.approx(mean, abs=1e-3)
        assert row.sd == pytest.approx(sd, abs=1e-3)
        assert row.ci_low < row.mean < row.ci_high
    draws = closed_fit.event_probability_draws(doses).to_numpy().reshape(-1, len(doses))
    inside = (draws >= table["ci_low"].to_numpy()) & (draws <= table["ci_high"].to_numpy())
    np.testing.assert_allclose(inside.mean(axis=0), 0.9, atol=1e-3)
    # equal-tailed by default: the 5% and 95% quantiles of the draws (logit-normal: the
    # logistic of the Normal's quantiles), highest-density on request
    np.testing.assert_allclose(table["ci_low"], np.quantile(draws, 0.05, axis=0), rtol=1e-12)
    centre = M + B * np.log(np.array(doses) / 10.0)
    np.testing.assert_allclose(table["ci_high"], expit(centre + NormalDist().inv_cdf(0.95) * S),
                               rtol=2e-3)
    shortest = closed_fit.event_probability(dose=doses, ci_prob=0.9, ci_kind="hdi")
    assert ((shortest["ci_high"] - shortest["ci_low"])
            <= (table["ci_high"] - table["ci_low"]) + 1e-12).all()


def test_prob_exceeds_matches_normal_tail(closed_fit):
    doses, thresholds = [1.0, 10.0, 50.0], [0.1, 0.33, 0.5]
    table = closed_fit.prob_exceeds(thresholds, dose=doses)
    assert table.columns.tolist() == ["dose", "threshold", "prob"]
    assert len(table) == 9
    for row in table.itertuples():
        centre = M + B * np.log(row.dose / 10.0)
        cut = np.log(row.threshold / (1 - row.threshold))
        expected = 1 - NormalDist(centre, S).cdf(cut)
        assert row.prob == pytest.approx(expected, abs=1e-3)


def test_fixed_draws_give_the_logistic_curve_exactly():
    fit = hand_fit(np.full(10, -1.0), 0.6)
    table = fit.event_probability(dose=[1.0, 10.0, 25.0])
    expected = expit(-1.0 + 0.6 * np.log(np.array([1.0, 10.0, 25.0]) / 10.0))
    np.testing.assert_allclose(table["mean"], expected, rtol=1e-12)
    np.testing.assert_allclose(table["ci_low"], expected, rtol=1e-12)
    np.testing.assert_allclose(table["sd"], 0.0, atol=1e-12)


def test_observed_counts_at_tested_doses_only(closed_fit):
    table = closed_fit.event_probability(dose=[1.0, 5.0, 100.0, 300.0])
    assert table.columns.tolist() == ["dose", "mean", "sd", "median", "ci_low", "ci_high",
                                      "n_patients", "n_events", "dose_status"]
    np.testing.assert_array_equal(table["n_patients"], [2.0, np.nan, 2.0, np.nan])
    np.testing.assert_array_equal(table["n_events"], [0.0, np.nan, 2.0, np.nan])
    assert table["dose_status"].tolist() == ["tested", "interpolated", "tested", "extrapolated"]
    assert closed_fit.event_probability()["dose"].tolist() == [1.0, 10.0, 100.0]


def test_odds_ratio_per_doubling_is_lognormal():
    b0, sb = 0.4, 0.3
    fit = hand_fit(np.zeros(4000), b0 + sb * normal_quantiles(4000))
    row = fit.odds_ratio_per_doubling().iloc[0]
    log2 = np.log(2.0)
    assert row["mean"] == pytest.approx(np.exp(b0 * log2 + (sb * log2) ** 2 / 2), abs=1e-3)
    assert row["prob_gt_1"] == pytest.approx(1 - NormalDist(b0, sb).cdf(0), abs=1e-3)
    assert row["ci_low"] < np.exp(b0 * log2) < row["ci_high"]
    assert row["median"] == pytest.approx(np.exp(b0 * log2), rel=1e-3)
    fixed = hand_fit(np.zeros(10), 0.5).odds_ratio_per_doubling().iloc[0]
    assert fixed["mean"] == pytest.approx(np.sqrt(2.0))


def test_placebo_offset_in_read_outs():
    frame = safety_frame().assign(dose=[0.0, 0.0, 1.0, 1.0, 100.0, 100.0])
    fit = hand_fit(np.full(10, -1.0), 0.6, frame)
    value = fit.event_probability(dose=0.0)["mean"].iloc[0]
    assert value == pytest.approx(expit(-1.0 + 0.6 * np.log(0.1 / 10.0)))


@pytest.mark.parametrize(("call", "message"), [
    (lambda f: f.event_probability(dose=0.0), "no placebo arm"),
    (lambda f: f.event_probability(dose=-1.0), "negative"),
    (lambda f: f.prob_exceeds(1.5), "between 0 and 1"),
    (lambda f: f.event_probability(ci_prob=1.2), "ci_prob"),
    (lambda f: f.event_probability(ci_kind="hpd"), "ci_kind"),
])
def test_bad_estimand_requests(closed_fit, call, message):
    with pytest.raises(EstimandError, match=message):
        call(closed_fit)


def test_fit_needs_alpha_and_beta():
    idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 5))}})
    with pytest.raises(DataError, match="'beta'"):
        SafetyFit(SafetyData.from_frame(safety_frame()), idata)


# ---------------------------------------------------------------------- sampling
@pytest.fixture(scope="module")
def msc_fit() -> SafetyFit:
    return SafetyModel().fit(load_msc_safety(), random_seed=1, **FAST)


def test_fit_inference_data_layout(msc_fit):
    assert msc_fit.settings == {**FAST, "random_seed": 1, "target_accept": 0.9,
                                "sampler": resolve_sampler("auto")}
    idata = msc_fit.idata
    assert {"posterior", "log_likelihood", "observed_data", "sample_stats"} <= set(
        idata.children)
    prob = idata.posterior["event_prob"]
    assert prob.dims == ("chain", "draw", "dose")
    assert prob["dose"].to_numpy().tolist() == [1.0, 10.0, 50.0]
    assert idata.log_likelihood["event"].dims == ("chain", "draw", "patient")
    assert int(idata.observed_data["event"].sum()) == 4
    numpy_draws = msc_fit.event_probability_draws().to_numpy()
    np.testing.assert_allclose(numpy_draws, prob.to_numpy(), rtol=1e-8)
    assert isinstance(msc_fit.diagnostics(), Diagnostics)
    assert set(msc_fit.parameter_summary()["parameter"]) >= {"alpha", "beta"}


def test_msc_event_probability_rises_with_dose(msc_fit):
    # Observed: 0/4 at 1, 1/4 at 10 and 3/4 at 50 million cells. P(beta > 0) was about
    # 0.99 over several seeds; we assert > 0.9.
    table = msc_fit.event_probability(dose=[1, 5, 10, 25, 50])
    assert np.all(np.diff(table["mean"]) > 0.05)
    assert table["n_events"].dropna().tolist() == [0.0, 1.0, 3.0]
    assert msc_fit.odds_ratio_per_doubling()["prob_gt_1"].iloc[0] > 0.9
    exceeds = msc_fit.prob_exceeds(0.33, dose=[1, 50])["prob"].to_numpy()
    assert exceeds[0] < 0.2 < 0.8 < exceeds[1]


def test_same_seed_same_numbers(msc_fit):
    again = SafetyModel().fit(load_msc_safety(), random_seed=1, **FAST)
    for name in ("alpha", "beta", "event_prob"):
        np.testing.assert_array_equal(again.idata.posterior[name], msc_fit.idata.posterior[name])
    pd.testing.assert_frame_equal(again.event_probability(), msc_fit.event_probability())
    other = SafetyModel().fit(load_msc_safety(), random_seed=2, **FAST)
    assert not np.array_equal(other.idata.posterior["alpha"], msc_fit.idata.posterior["alpha"])


@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_fits_with_each_sampler_and_the_same_seed_gives_the_same_numbers(sampler):
    """The safety model samples through the same backends as the dose-response model."""
    if sampler not in installed_backends():
        pytest.skip(f"{sampler} is not installed")
    first = SafetyModel().fit(load_msc_safety(), random_seed=3, sampler=sampler, **FAST)
    assert first.settings["sampler"] == sampler
    idata = first.idata
    assert {"posterior", "log_likelihood", "observed_data", "sample_stats"} <= set(
        idata.children)
    assert set(idata.posterior.data_vars) == {"alpha", "beta", "event_prob"}
    assert idata.log_likelihood["event"].dims == ("chain", "draw", "patient")
    assert isinstance(first.diagnostics(), Diagnostics)
    again = SafetyModel().fit(load_msc_safety(), random_seed=3, sampler=sampler, **FAST)
    for name in ("alpha", "beta", "event_prob"):
        np.testing.assert_array_equal(again.idata.posterior[name], idata.posterior[name])
    np.testing.assert_array_equal(again.idata.log_likelihood["event"],
                                  idata.log_likelihood["event"])
    pd.testing.assert_frame_equal(again.event_probability(), first.event_probability())
    other = SafetyModel().fit(load_msc_safety(), random_seed=4, sampler=sampler, **FAST)
    assert not np.array_equal(other.idata.posterior["alpha"], idata.posterior["alpha"])


@pytest.mark.slow
def test_recovers_known_dose_event_curve():
    alpha, beta, doses = -1.0, 0.6, np.repeat([1.0, 10.0, 50.0, 100.0], 75)
    reference = np.exp(np.mean(np.log([1.0, 10.0, 50.0, 100.0])))
    truth = expit(alpha + beta * np.log(np.array([1.0, 10.0, 50.0, 100.0]) / reference))
    p = expit(alpha + beta * np.log(doses / reference))
    events = np.random.default_rng(0).binomial(1, p)
    frame = pd.DataFrame({"patient": [f"p{i}" for i in range(doses.size)], "dose": doses,
                          "event": events})
    fit = SafetyModel().fit(SafetyData.from_frame(frame), draws=1000, tune=500, chains=2,
                            random_seed=1)
    post = fit.idata.posterior
    # six checks on one simulated trial: 99% intervals keep the chance of a spurious miss
    # small without picking the simulation seed; the beta interval must also exclude 0
    for name, value in (("alpha", alpha), ("beta", beta)):
        low, high = hdi(post[name].to_numpy().ravel(), 0.99)
        assert low < value < high, name
    assert hdi(post["beta"].to_numpy().ravel(), 0.99)[0] > 0
    table = fit.event_probability(ci_prob=0.99)
    assert np.all((table["ci_low"] < truth) & (truth < table["ci_high"]))
    assert fit.diagnostics().parameters["r_hat"].max() <= 1.01
