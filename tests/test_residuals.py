"""The residual structure: per-visit residual SDs (``residual_sd="per_visit"``) and a
continuous-time AR(1) within patient and outcome (``serial_correlation="ar1"``)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from conftest import FAST
from pymc_extras.prior import Prior
from scipy import stats

import bayesdose as bd
from bayesdose.components.residuals import (
    ar1_conditional,
    ar1_lag,
    earlier_rows,
    present_links,
    series_links,
)
from bayesdose.components.timecourses import TimeScale
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.inference.compiled import CompiledModel, design_key
from bayesdose.results.crossval import unit_labels

SD = 10.0
SHAPE = {"delta": 1.0, "log_ed50": 0.0, "log_t_half": -1.5}


def trial_with_residuals(doses, n_per_arm, visits, residual_sd, rho=0.0, lag=1.0,
                         patient_sd=0.3, missing=0.0, seed=0):
    """A simulated trial whose residuals (standardised) have SD ``residual_sd`` at each
    visit and correlation ``rho ** (|t_i - t_j| / lag)`` within a patient; a share
    ``missing`` of the post-baseline values is dropped at random."""
    sim = simulate_trial(doses=doses, n_per_arm=n_per_arm, visits=visits,
                         shape_params=SHAPE, course=0.2, sigma=0.0, patient_sd=patient_sd,
                         baseline_sd=SD, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    times = np.asarray(visits, dtype=float)
    scale = np.broadcast_to(np.asarray(residual_sd, dtype=float), times.shape)
    corr = rho ** (np.abs(times[:, None] - times[None, :]) / lag)
    cov = corr * scale[:, None] * scale[None, :]
    frame = sim.data.to_frame()
    for patient in frame["patient"].unique():
        rows = (frame["patient"] == patient) & (frame["time"] > 0)
        noise = rng.multivariate_normal(np.zeros(times.size), cov)
        order = np.searchsorted(times, frame.loc[rows, "time"].to_numpy())
        frame.loc[rows, "value"] += SD * noise[order]
    if missing:
        drop = (frame["time"] > 0) & (rng.random(len(frame)) < missing)
        frame = frame[~drop]
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}})
    return sim, data


# ---------------------------------------------------------------------- the likelihood
def test_conditional_terms_of_one_series_are_its_multivariate_normal_density():
    """One series with unequal gaps and a missing visit (8 of 1, 2, 4, 8, 12), rows in
    any order: the sum of the conditional Normal terms is the multivariate Normal log
    density with cov_ij = s_i s_j rho ** (|t_i - t_j| / lag)."""
    times = np.array([12.0, 1.0, 4.0, 2.0])
    mu = np.array([1.5, 0.2, 0.9, 0.4])
    sigma = np.array([1.6, 0.5, 1.0, 0.7])
    y = np.array([2.9, -0.3, 1.4, 0.8])
    rho, lag = 0.6, ar1_lag(TimeScale((1.0, 2.0, 4.0, 8.0, 12.0)))
    assert lag == 2.0  # gaps 1, 1, 2, 4, 4 from baseline
    links = series_links(np.zeros(4, int), np.zeros(4, int), times)
    loc, scale = ar1_conditional(mu, sigma, y, np.full(4, rho), links.previous,
                                 links.has_previous, links.gap, lag, xp=np)
    sequential = stats.norm.logpdf(y, loc, scale).sum()
    cov = rho ** (np.abs(times[:, None] - times[None, :]) / lag) * np.outer(sigma, sigma)
    joint = stats.multivariate_normal(mu, cov).logpdf(y)
    assert sequential == pytest.approx(joint, rel=1e-10)


def test_series_links_follow_each_patient_and_outcome_whatever_the_rows():
    # two patients, two outcomes, a time-0 row, rows shuffled
    patient = np.array([0, 1, 0, 0, 1, 0, 0])
    outcome = np.array([0, 0, 1, 0, 0, 1, 0])
    elapsed = np.array([6.0, 1.0, 1.0, 0.0, 3.0, 12.0, 1.0])
    links = series_links(patient, outcome, elapsed)
    assert links.previous.tolist() == [6, 1, 2, 3, 1, 2, 3]
    assert links.has_previous.tolist() == [True, False, False, False, True, True, True]
    assert links.gap.tolist() == [5.0, 0.0, 0.0, 0.0, 2.0, 11.0, 1.0]
    with pytest.raises(DataError, match="same patient and outcome at the same time"):
        series_links(np.zeros(2, int), np.zeros(2, int), np.array([3.0, 3.0]))


def test_present_links_skip_observations_weighted_out():
    elapsed = np.array([1.0, 2.0, 4.0, 8.0])
    candidates, valid = earlier_rows(np.zeros(4, int), np.zeros(4, int), elapsed)
    previous, has, gap = present_links(candidates, valid, np.array([0.0, 1.0, 0.0, 1.0]),
                                       elapsed)
    assert previous.eval().tolist() == [0, 1, 1, 1]
    assert has.eval().tolist() == [False, False, True, True]
    assert gap.eval().tolist() == [0.0, 0.0, 2.0, 6.0]


def _small_trial():
    """Six patients, visits 1, 2, 4, 8, 12, one patient without the visit at 8."""
    _, data = trial_with_residuals((1.0, 10.0, 50.0), 2, (1.0, 2.0, 4.0, 8.0, 12.0),
                                   [0.3, 0.4, 0.5, 0.6, 0.7], rho=0.5, lag=2.0, seed=3)
    frame = data.to_frame()
    frame = frame[~((frame["patient"] == "S002") & (frame["time"] == 8.0))]
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}})


def _point(model: pm.Model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, 0.5, np.shape(value))
            for name, value in model.initial_point().items()}


def _evaluate(model: pm.Model, outputs: list, point: dict) -> list[np.ndarray]:
    values = model.replace_rvs_by_values(outputs)
    function = pm.compile(model.value_vars, values, on_unused_input="ignore", mode=FAST)
    return function(*[point[v.name] for v in model.value_vars])


def test_model_likelihood_is_the_multivariate_normal_of_every_series():
    """The AR(1) model with per-visit SDs and patient effects, at fixed parameter values
    (no sampling): its log likelihood is the sum over patients of the multivariate Normal
    density of their series around the same model's mean; the dose effect is the same
    as without serial correlation; the swappable form agrees, also with an observation
    weighted out, where it equals the model built without that observation."""
    data = _small_trial()
    ar1 = bd.DoseResponseModel(time_shape="exponential", residual_sd="per_visit",
                               serial_correlation="ar1", pooling="none")
    plain = bd.DoseResponseModel(time_shape="exponential", residual_sd="per_visit",
                                 pooling="none")
    inputs = ar1.inputs(data)
    model, independent = ar1.build_inputs(inputs), plain.build_inputs(inputs)
    point = _point(model, seed=4)
    rv = independent["change"]
    mu, sigma = _evaluate(independent, list(rv.owner.op.dist_params(rv.owner)), point)
    rho, effect_ar1 = _evaluate(model, [model["rho"], model["effect"]], point)
    (effect_plain,) = _evaluate(independent, [independent["effect"]], point)
    np.testing.assert_allclose(effect_ar1, effect_plain)
    lag = ar1_lag(inputs.time_scale)
    joint = 0.0
    for p in range(len(inputs.patients)):
        rows = np.flatnonzero(inputs.patient_idx == p)
        t = inputs.elapsed[rows]
        cov = (float(rho[0]) ** (np.abs(t[:, None] - t[None, :]) / lag)
               * np.outer(sigma[rows], sigma[rows]))
        joint += stats.multivariate_normal(mu[rows], cov).logpdf(inputs.response[rows])
    (total,) = _evaluate(model, [model.logp(vars=model.observed_RVs)], point)
    assert float(total) == pytest.approx(joint, rel=1e-9)

    swappable = ar1.build_inputs(inputs, swappable=True)
    (weighted,) = _evaluate(swappable, [swappable["loglik"]], point)
    assert float(weighted) == pytest.approx(joint, rel=1e-9)
    left_out = int(np.flatnonzero((inputs.patient_idx == 0) & (inputs.elapsed == 4.0))[0])
    weight = np.ones(len(inputs.response))
    weight[left_out] = 0.0
    with swappable:
        pm.set_data({"weight": weight})
    (weighted,) = _evaluate(swappable, [swappable["loglik"]], point)
    fewer = ar1.build_inputs(inputs.without(np.array([left_out])))
    (expected,) = _evaluate(fewer, [fewer.logp(vars=fewer.observed_RVs)], point)
    assert float(weighted) == pytest.approx(float(expected), rel=1e-9)


def test_predictive_draws_and_pointwise_log_likelihood_work_with_ar1():
    data = _small_trial()
    model = bd.DoseResponseModel(serial_correlation="ar1", residual_sd="per_visit")
    inputs = model.inputs(data)
    compiled = CompiledModel(model, inputs)
    draws, prior_predictive = compiled.prior(10, seed=1)
    assert draws["sigma"].dims[2:] == ("outcome", "time")
    assert draws["rho"].dims[2:] == ("outcome",)
    replicated = compiled.posterior_predictive(draws, seed=2)["change"]
    assert replicated.shape == (1, 10, len(inputs.response))
    assert np.isfinite(replicated).all() and np.isfinite(prior_predictive["change"]).all()
    assert np.isfinite(compiled.log_likelihood(draws)["change"]).all()


@pytest.mark.parametrize("likelihood", ["normal", "student_t", "lognormal"])
def test_both_forms_agree_for_every_continuous_likelihood_and_at_bounds(likelihood):
    """Normal (censored: values at the scale's upper bound, conditioned on as observed
    there), Student-t (t innovations) and lognormal (AR(1) on the log scale): the
    observed-variable form and the swappable form give the same finite log likelihood."""
    _, data = trial_with_residuals((1.0, 10.0, 50.0), 3, (1.0, 3.0, 6.0), 0.4, rho=0.5,
                                   lag=2.0, seed=5)
    frame = data.to_frame()
    info = {"sd": SD}
    if likelihood == "normal":
        upper = float(frame.loc[frame["time"] > 0, "value"].quantile(0.8))
        frame["value"] = frame["value"].clip(upper=upper)
        info = {"sd": SD, "lower": 0.0, "upper": upper}
    if likelihood == "lognormal":
        info = {"sd": 0.2}
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {**info, "likelihood": likelihood}})
    model = bd.DoseResponseModel(serial_correlation="ar1")
    inputs = model.inputs(data)
    if likelihood == "normal":
        assert (inputs.response >= inputs.upper).sum() >= 3
    observed, swappable = model.build_inputs(inputs), model.build_inputs(inputs, True)
    point = _point(observed, seed=6)
    (total,) = _evaluate(observed, [observed.logp(vars=observed.observed_RVs)], point)
    (weighted,) = _evaluate(swappable, [swappable["loglik"]], point)
    assert np.isfinite(total) and float(weighted) == pytest.approx(float(total), rel=1e-9)


# ---------------------------------------------------------------------- the options
def test_options_are_checked_and_kept_in_the_config():
    with pytest.raises(SpecError, match="residual_sd 'visit' is not one of common, "
                                        "per_visit"):
        bd.DoseResponseModel(residual_sd="visit")
    with pytest.raises(SpecError, match="serial_correlation 'AR1' is not one of none, ar1"):
        bd.DoseResponseModel(serial_correlation="AR1")
    model = bd.DoseResponseModel(residual_sd="per_visit", serial_correlation="ar1")
    config = model.config()
    assert (config["residual_sd"], config["serial_correlation"]) == ("per_visit", "ar1")
    again = bd.DoseResponseModel.from_config(config)
    assert (again.residual_sd, again.serial_correlation) == ("per_visit", "ar1")
    assert again.config() == config
    default = bd.DoseResponseModel().config()
    assert "residual_sd" not in default and "serial_correlation" not in default
    old = bd.DoseResponseModel.from_config({"dose_shape": "emax", "time_shape": "exponential"})
    assert (old.residual_sd, old.serial_correlation) == ("common", "none")
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    inputs = model.inputs(data)
    assert design_key(model, inputs) != design_key(bd.DoseResponseModel(), inputs)


def test_prior_table_states_the_new_parameters_and_the_lag():
    data = bd.datasets.load_msc_trial().select(["koos_pain"])  # visits 1, 3, 6, 12
    table = bd.DoseResponseModel(residual_sd="per_visit",
                                 serial_correlation="ar1").prior_table(data)
    rows = table.set_index("parameter")
    assert rows.loc["rho", "prior"] == 'Prior("Beta", alpha=2, beta=2)'
    assert "2.5 time units apart" in rows.loc["rho", "reason"]
    assert "per outcome and visit" in rows.loc["sigma", "reason"]
    assert "rho" not in bd.DoseResponseModel().prior_table(data)["parameter"].tolist()
    with pytest.raises(SpecError, match="no parameter named 'rho'"):
        bd.DoseResponseModel(priors={"rho": Prior("Beta", alpha=2, beta=2)}).prior_table(data)
    bad = bd.DoseResponseModel(serial_correlation="ar1",
                               priors={"rho": Prior("Normal", mu=0.5, sigma=0.2)})
    with pytest.raises(SpecError, match=r"priors\['rho'\] must keep rho within"):
        bad.build(data)


def test_ar1_is_refused_for_ordinal_outcomes():
    data = bd.datasets.load_msc_trial().select(["koos_pain", "mri_synovitis"])
    model = bd.DoseResponseModel(serial_correlation="ar1")
    with pytest.raises(SpecError, match="'mri_synovitis' use the ordinal likelihood"):
        model.prior_table(data)
    with pytest.raises(SpecError, match="serial_correlation=\"ar1\" needs continuous"):
        model.build(data)


def test_model_files_take_the_residual_options(tmp_path):
    _, data = trial_with_residuals((1.0, 50.0), 3, (1.0, 2.0), 0.4, seed=1)
    data.to_frame().to_csv(tmp_path / "trial.csv", index=False)
    text = """
name = "residuals"
[data]
source = "trial.csv"
[outcomes.score]
sd = 10.0
[model]
{model}
[priors.rho]
distribution = "Beta"
alpha = 3
beta = 2
"""
    path = tmp_path / "model.toml"
    path.write_text(text.format(model='residual_sd = "per_visit"\n'
                                      'serial_correlation = "ar1"'))
    model = bd.ModelSpec.from_toml(path).build_model()
    assert (model.residual_sd, model.serial_correlation) == ("per_visit", "ar1")
    assert model.priors["rho"].parameters == {"alpha": 3, "beta": 2}
    path.write_text(text.format(model='serial_correlation = "AR(1)"'))
    with pytest.raises(SpecError, match=r"model.serial_correlation must be \"none\" "
                                        r"\(independent residuals\) or \"ar1\""):
        bd.ModelSpec.from_toml(path)
    path.write_text(text.format(model='residual_sd = "visit"'))
    with pytest.raises(SpecError, match=r"model\.residual_sd must be \"common\""):
        bd.ModelSpec.from_toml(path)
    path.write_text(text.format(model='residual_sd = "per_visit"'))  # rho without AR(1)
    with pytest.raises(SpecError, match=r"priors\.rho: no parameter named 'rho'"):
        bd.ModelSpec.from_toml(path)


# ---------------------------------------------------------------------- recovery
def _interval(values: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    tail = (1 - prob) / 2
    low, high = np.quantile(np.asarray(values).ravel(), [tail, 1 - tail])
    return float(low), float(high)


def _max_rhat(fit, names: list[str]) -> float:
    posterior = fit.idata["posterior"].to_dataset()[names]
    return float(az.rhat(posterior).to_array().max())


@pytest.mark.slow
def test_per_visit_residual_sds_are_recovered():
    """Visit SDs 0.5, 0.8, 1 and 1.6 times a base SD of 0.5 (standardised) at visits 1,
    3, 6 and 12, patient effects SD 0.3: each 90% interval covers its truth, and the last
    visit's SD is credibly larger than the first's. (With fewer visits, the smallest
    visit SD trades off against the patient SD and mixes slowly: see docs/concepts.md.)"""
    visits = (1.0, 3.0, 6.0, 12.0)
    truth = 0.5 * np.array([0.5, 0.8, 1.0, 1.6])
    sim, data = trial_with_residuals((1.0, 10.0, 50.0), 20, visits, truth, patient_sd=0.3,
                                     seed=1)
    fit = bd.DoseResponseModel(residual_sd="per_visit").fit(
        data, draws=1000, tune=1000, chains=4, random_seed=5, sampler="nutpie",
        progressbar=False, prior_draws=0)
    assert _max_rhat(fit, ["sigma", "delta", "patient_effect_sigma"]) < 1.01
    assert int(fit.idata["sample_stats"]["diverging"].sum()) == 0
    sigma = fit.idata["posterior"]["sigma"].sel(outcome="score")
    assert sigma.dims[-1] == "time"
    for visit, value in zip(visits, truth, strict=True):
        low, high = _interval(sigma.sel(time=visit).to_numpy())
        assert low <= value <= high, (visit, value, low, high)
    larger = (sigma.sel(time=12.0) > sigma.sel(time=1.0)).mean()
    assert float(larger) > 0.99
    row = fit.contrast(50, 1, time=12, ci_prob=0.9).iloc[0]
    assert row["ci_low"] <= sim.true_contrast("score", 50.0, 1.0, 12.0) <= row["ci_high"]


@pytest.mark.slow
def test_serial_correlation_is_recovered_with_patient_effects():
    """40 patients x 5 unequally spaced visits (1, 2, 4, 7, 12: lag 2), about 10% of the
    values missing, patient effects (SD 0.4) and AR(1) residuals (SD 0.5, rho 0.6 at the
    lag): the 90% interval of rho covers 0.6, that of the residual SD covers 0.5, the
    contrast's covers its truth; predictive draws and patient-level LOO work."""
    visits = (1.0, 2.0, 4.0, 7.0, 12.0)
    lag = ar1_lag(TimeScale(visits))
    assert lag == 2.0
    sim, data = trial_with_residuals((1.0, 10.0, 25.0, 50.0), 10, visits, 0.5, rho=0.6,
                                     lag=lag, patient_sd=0.4, missing=0.1, seed=23)
    # rho, sigma and the patient SD are strongly correlated and mix slowly: with 1000 draws
    # R-hat sits about 1.01 whatever the seed, with 4 x 4000 about 1.002.
    fit = bd.DoseResponseModel(serial_correlation="ar1").fit(
        data, draws=4000, tune=1000, chains=4, random_seed=7, sampler="nutpie",
        progressbar=False, prior_draws=0)
    assert _max_rhat(fit, ["rho", "sigma", "delta", "patient_effect_sigma"]) < 1.01
    assert int(fit.idata["sample_stats"]["diverging"].sum()) == 0
    posterior = fit.idata["posterior"]
    low, high = _interval(posterior["rho"].to_numpy())
    assert low <= 0.6 <= high, (low, high)
    low, high = _interval(posterior["sigma"].to_numpy())
    assert low <= 0.5 <= high, (low, high)
    low, high = _interval(posterior["patient_effect_sigma"].to_numpy())
    assert low <= 0.4 <= high, (low, high)
    row = fit.contrast(50, 1, time=12, ci_prob=0.9).iloc[0]
    assert row["ci_low"] <= sim.true_contrast("score", 50.0, 1.0, 12.0) <= row["ci_high"]
    replicated = fit.idata["posterior_predictive"]["change"]
    assert np.isfinite(replicated).all()
    cv = bd.loo(fit, unit="patient", refit=False)
    assert len(cv.pointwise) == len(data.patients) and np.isfinite(cv.elpd)
    assert isinstance(cv.pointwise, pd.DataFrame)


def test_observation_loo_and_calibration_are_refused_with_ar1():
    """Leave-one-observation-out and simulation-based calibration would be wrong with the
    conditional (one-step-ahead) terms of the AR(1) likelihood: both say so."""
    data = _small_trial()
    model = bd.DoseResponseModel(serial_correlation="ar1")
    prior = model.sample_prior_predictive(data, draws=5, random_seed=1)["prior"]
    fit = bd.DoseResponseFit(model, data,
                             xr.DataTree.from_dict({"posterior": prior.to_dataset()}))
    with pytest.raises(EstimandError, match=r"use unit=\"patient\""):
        unit_labels(fit, "observation")
    assert len(unit_labels(fit, "patient")[1]) == len(data.patients)
    design = bd.Design.from_toml("models/msc_phase2_design.toml")
    with pytest.raises(SpecError, match=r"serial_correlation=\"ar1\".*reps=0"):
        bd.calibrate(bd.DoseResponseModel(serial_correlation="ar1"), design, reps=10)
