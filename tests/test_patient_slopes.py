"""Patient-specific slopes in time (``patient_slopes=True``): each patient's own change by
the last visit, v_ik * t / t_last on the standardised scale, beyond the patient effect."""

from __future__ import annotations

import matplotlib
import numpy as np
import pymc as pm
import pytest
from conftest import FAST, fixed_fit
from pymc_extras.prior import Prior
from scipy import stats

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import SpecError
from bayesdose.inference.compiled import CompiledModel, design_key
from bayesdose.report.fit_report import build_report

matplotlib.use("Agg")

SD = 10.0
SHAPE = {"delta": 1.0, "log_ed50": 0.0, "log_t_half": -1.5}
VISITS = (1.0, 2.0, 4.0, 8.0, 12.0)


def trial_with_slopes(n_per_arm: int, slope_sd: float, patient_sd: float = 0.4,
                      sigma: float = 0.4, visits=VISITS, seed: int = 0):
    """A simulated trial (doses 1, 10, 50) whose patients have, on the standardised scale,
    a lasting effect of SD ``patient_sd`` and their own change by the last visit,
    Normal(0, ``slope_sd``) x t / t_last, independent of it."""
    sim = simulate_trial(doses=(1.0, 10.0, 50.0), n_per_arm=n_per_arm, visits=visits,
                         shape_params=SHAPE, course=0.2, sigma=sigma, patient_sd=patient_sd,
                         baseline_sd=SD, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    frame = sim.data.to_frame()
    patients = frame["patient"].unique()
    slope = dict(zip(patients, rng.normal(0.0, slope_sd, patients.size), strict=True))
    fraction = frame["time"] / max(visits)
    frame["value"] += SD * frame["patient"].map(slope) * fraction
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}})
    return sim, data


def _point(model: pm.Model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, 0.5, np.shape(value))
            for name, value in model.initial_point().items()}


def _evaluate(model: pm.Model, outputs: list, point: dict) -> list[np.ndarray]:
    values = model.replace_rvs_by_values(outputs)
    function = pm.compile(model.value_vars, values, on_unused_input="ignore", mode=FAST)
    return function(*[point[v.name] for v in model.value_vars])


# ---------------------------------------------------------------------- the options
def test_options_are_checked_and_kept_in_the_config():
    with pytest.raises(SpecError, match="patient_slopes must be true or false"):
        bd.DoseResponseModel(patient_slopes="yes")
    with pytest.raises(SpecError, match=r"patient_slopes=True needs patient effects.*"
                                        r"patient_effects=False"):
        bd.DoseResponseModel(patient_slopes=True, patient_effects=False)
    model = bd.DoseResponseModel(patient_slopes=True)
    config = model.config()
    assert config["patient_slopes"] is True
    again = bd.DoseResponseModel.from_config(config)
    assert again.patient_slopes is True and again.config() == config
    assert "patient_slopes" not in bd.DoseResponseModel().config()
    old = bd.DoseResponseModel.from_config({"dose_shape": "emax", "time_shape": "exponential"})
    assert old.patient_slopes is False
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    inputs = model.inputs(data)
    assert design_key(model, inputs) != design_key(bd.DoseResponseModel(), inputs)


def test_prior_table_states_the_slope_sd_with_its_reason():
    data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    table = bd.DoseResponseModel(patient_slopes=True).prior_table(data)
    rows = table.set_index("parameter")
    assert rows.loc["patient_slope_sd", "prior"] == 'Prior("HalfNormal", sigma=0.5)'
    assert "independent of the patient effects" in rows.loc["patient_slope_sd", "reason"]
    assert "by the last visit" in rows.loc["patient_slope_sd", "meaning"]
    names = table["parameter"].tolist()
    assert names.index("patient_slope_sd") == names.index("patient_sd") + 1
    assert "patient_slope_sd" not in bd.DoseResponseModel().prior_table(data)["parameter"].tolist()
    narrow = {"patient_slope_sd": Prior("HalfNormal", sigma=0.2)}
    table = bd.DoseResponseModel(patient_slopes=True, priors=narrow).prior_table(data)
    row = table.set_index("parameter").loc["patient_slope_sd"]
    assert (row["default"], row["reason"]) == (False, "set by the user")
    with pytest.raises(SpecError, match="no parameter named 'patient_slope_sd'"):
        bd.DoseResponseModel(priors=narrow).prior_table(data)


def test_an_outcome_at_one_visit_is_refused():
    _, data = trial_with_slopes(2, 0.5, visits=(12.0,), seed=1)
    model = bd.DoseResponseModel(patient_slopes=True)
    with pytest.raises(SpecError, match=r"two or more times, but 'score' \(values at one "
                                        "visit only\\)"):
        model.prior_table(data)
    with pytest.raises(SpecError, match="two or more times"):
        model.build(data)
    # in the constrained analysis the baseline is a time of its own
    clda = bd.DoseResponseModel(patient_slopes=True, analysis="clda")
    assert "patient_slope_sd" in clda.prior_table(data)["parameter"].tolist()


def test_model_files_take_patient_slopes(tmp_path):
    _, data = trial_with_slopes(2, 0.5, visits=(1.0, 2.0), seed=1)
    data.to_frame().to_csv(tmp_path / "trial.csv", index=False)
    text = """
name = "slopes"
[data]
source = "trial.csv"
[outcomes.score]
sd = 10.0
[model]
{model}
[priors.patient_slope_sd]
distribution = "HalfNormal"
sigma = 0.3
"""
    path = tmp_path / "model.toml"
    path.write_text(text.format(model="patient_slopes = true"))
    spec = bd.ModelSpec.from_toml(path)
    model = spec.build_model()
    assert model.patient_slopes is True
    assert model.priors["patient_slope_sd"].parameters == {"sigma": 0.3}
    assert spec.to_dict()["model"]["patient_slopes"] is True
    path.write_text(text.format(model='patient_slopes = "yes"'))
    with pytest.raises(SpecError, match=r"model\.patient_slopes must be true \(a slope in "
                                        r"time per patient and outcome\) or false"):
        bd.ModelSpec.from_toml(path)
    path.write_text(text.format(model="patient_slopes = true\npatient_effects = false"))
    with pytest.raises(SpecError, match="patient_slopes=True needs patient effects"):
        bd.ModelSpec.from_toml(path).build_model()
    path.write_text(text.format(model=""))  # the slope SD's prior without the slopes
    with pytest.raises(SpecError, match=r"priors\.patient_slope_sd: no parameter named"):
        bd.ModelSpec.from_toml(path)


def test_the_fit_report_lists_the_slopes_among_the_model_components(msc):
    rng = np.random.default_rng(0)
    draws = {"delta": rng.normal(1.0, 0.1, (2, 40, 1)),
             "log_ed50": rng.normal(0.0, 0.1, (2, 40, 1)),
             "log_t_half": rng.normal(-1.6, 0.1, (2, 40, 1)),
             "course": rng.normal(0.0, 0.1, (2, 40, 1, 4)),
             "patient_slope_sd": np.abs(rng.normal(0.3, 0.05, (2, 40, 1)))}
    data = msc.select(["koos_pain"])
    model = bd.DoseResponseModel(patient_slopes=True)
    page = build_report(fixed_fit(data, model, draws)).to_html()
    assert "patient slopes v" in page and "patient_slopes=True" in page
    assert "patient_slope_sd[koos_pain]" in page  # in the priors and the posterior summary
    draws.pop("patient_slope_sd")
    plain = build_report(fixed_fit(data, bd.DoseResponseModel(), draws)).to_html()
    assert "patient slopes" not in plain and "patient_slope" not in plain


# ---------------------------------------------------------------------- the likelihood
@pytest.mark.parametrize("analysis", ["change", "clda"])
def test_log_density_is_the_hand_computation(analysis):
    """At fixed parameter values (no sampling), on 6 patients at visits 1, 2, 4, 8 and 12
    (one value missing): the model's log density is the same model's without slopes plus
    the slope SD's HalfNormal(0.5) (on the log scale, with its Jacobian), the offsets'
    standard Normals, and the change in the Normal likelihood when each mean moves by
    s * patient_slope_sd * offset * t / 12 (0 on the baselines of the constrained
    analysis). The swappable form agrees, also with an observation weighted out."""
    _, data = trial_with_slopes(2, 0.5, seed=3)
    frame = data.to_frame()
    frame = frame[~((frame["patient"] == "S002") & (frame["time"] == 8.0))]
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}})
    slopes = bd.DoseResponseModel(patient_slopes=True, analysis=analysis)
    plain = bd.DoseResponseModel(analysis=analysis)
    inputs = slopes.inputs(data)
    assert inputs.analysis == analysis
    assert inputs.has_baseline_rows == (analysis == "clda")
    model, without = slopes.build_inputs(inputs), plain.build_inputs(inputs)
    point = _point(model, seed=4)
    log_sd, offset = point["patient_slope_sd_log__"], point["patient_slope_offset"]
    rv = without["change"]
    mu, sigma = _evaluate(without, list(rv.owner.op.dist_params(rv.owner)), point)
    fraction = np.where(inputs.is_baseline, 0.0, inputs.elapsed) / 12.0
    slope = np.exp(log_sd)[:, None] * offset
    assert np.allclose(fraction[inputs.is_baseline], 0.0)
    moved = mu + SD * slope[inputs.outcome_idx, inputs.patient_idx] * fraction
    y = inputs.response
    by_hand = (stats.halfnorm(scale=0.5).logpdf(np.exp(log_sd)).sum() + log_sd.sum()
               + stats.norm.logpdf(offset).sum()
               + stats.norm.logpdf(y, moved, sigma).sum()
               - stats.norm.logpdf(y, mu, sigma).sum())
    (with_slopes,) = _evaluate(model, [model.logp()], point)
    (plain_total,) = _evaluate(without, [without.logp()], point)
    assert float(with_slopes) == pytest.approx(float(plain_total) + by_hand, rel=1e-9)
    (slope_draw,) = _evaluate(model, [model["patient_slope"]], point)
    np.testing.assert_allclose(slope_draw, slope)

    observed = stats.norm.logpdf(y, moved, sigma).sum()
    (total,) = _evaluate(model, [model.logp(vars=model.observed_RVs)], point)
    assert float(total) == pytest.approx(observed, rel=1e-9)
    swappable = slopes.build_inputs(inputs, swappable=True)
    (weighted,) = _evaluate(swappable, [swappable["loglik"]], point)
    assert float(weighted) == pytest.approx(observed, rel=1e-9)
    left_out = int(np.flatnonzero((inputs.patient_idx == 0) & (inputs.elapsed == 4.0))[0])
    weight = np.ones(len(y))
    weight[left_out] = 0.0
    with swappable:
        pm.set_data({"weight": weight})
    (weighted,) = _evaluate(swappable, [swappable["loglik"]], point)
    fewer = slopes.build_inputs(inputs.without(np.array([left_out])))
    (expected,) = _evaluate(fewer, [fewer.logp(vars=fewer.observed_RVs)], point)
    assert float(weighted) == pytest.approx(float(expected), rel=1e-9)


def test_the_weighted_form_samples_new_data_of_the_design():
    """As a design simulation does: the weighted model compiled once samples another
    trial of the same design with values dropped (weight 0), without rebuilding."""
    _, data = trial_with_slopes(2, 0.5, seed=5)
    _, other = trial_with_slopes(2, 0.5, seed=6)
    model = bd.DoseResponseModel(patient_slopes=True)
    inputs = model.inputs(data)
    compiled = CompiledModel(model, inputs, weighted=True)
    new = model.inputs(other)
    assert design_key(model, new, weighted=True) == design_key(model, inputs, weighted=True)
    weight = np.ones(len(new.response))
    weight[::7] = 0.0
    settings = {"draws": 50, "tune": 50, "chains": 1, "random_seed": 1,
                "target_accept": 0.9, "sampler": "pymc"}
    idata = compiled.sample_values({"response": new.response, "weight": weight,
                                    "baseline_std": new.baseline_std}, settings, cores=1)
    posterior = idata["posterior"]
    assert posterior["patient_slope"].dims[2:] == ("outcome", "patient")
    assert np.isfinite(posterior["patient_slope_sd"]).all()


def test_ordinal_outcomes_take_slopes_on_the_latent_scale():
    """An ordinal outcome's slope moves its latent logit as its patient effect does: with
    the slope offsets of one patient set to 2 (a change of 2 x patient_slope_sd logits by
    the last visit), only that patient's grade terms change."""
    data = bd.datasets.load_msc_trial().select(["koos_pain", "mri_synovitis"])
    model = bd.DoseResponseModel(patient_slopes=True)
    inputs = model.inputs(data)
    built = model.build_inputs(inputs)
    point = _point(built, seed=2)
    point["patient_slope_offset"] = np.zeros_like(point["patient_slope_offset"])
    terms = built.logp(vars=[built["grade_mri_synovitis"]], sum=False)
    (before,) = _evaluate(built, terms, point)
    point["patient_slope_offset"][inputs.outcomes.index("mri_synovitis"), 0] = 2.0
    (after,) = _evaluate(built, terms, point)
    rows = inputs.observations("ordinal")
    first = inputs.patient_idx[rows] == 0
    assert np.all(after[first] != before[first]) and np.all(after[~first] == before[~first])
    assert np.isfinite(after).all()


# ---------------------------------------------------------------------- recovery
def _interval(values: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    tail = (1 - prob) / 2
    low, high = np.quantile(np.asarray(values).ravel(), [tail, 1 - tail])
    return float(low), float(high)


@pytest.mark.slow
def test_slope_sd_is_recovered_and_the_contrast_covered():
    """3 doses x 20 patients at visits 1, 2, 4, 8 and 12, patient effects SD 0.4, slopes
    SD 0.6 by the last visit, residual SD 0.4 (standardised; seed 11, the first tried):
    the 90% interval of patient_slope_sd covers 0.6 and stays above 0.3, that of the
    patient effects' SD covers 0.4, the 50-vs-1 contrast at month 12 is covered, and
    leave-one-patient-out runs."""
    sim, data = trial_with_slopes(20, 0.6, seed=11)
    fit = bd.DoseResponseModel(patient_slopes=True).fit(
        data, draws=500, tune=500, chains=2, random_seed=3, sampler="nutpie",
        progressbar=False, prior_draws=0)
    posterior = fit.idata["posterior"]
    low, high = _interval(posterior["patient_slope_sd"].to_numpy())
    assert low <= 0.6 <= high and low > 0.3, (low, high)
    low, high = _interval(posterior["patient_effect_sigma"].to_numpy())
    assert low <= 0.4 <= high, (low, high)
    row = fit.contrast(50, 1, time=12, ci_prob=0.9).iloc[0]
    assert row["ci_low"] <= sim.true_contrast("score", 50.0, 1.0, 12.0) <= row["ci_high"]
    summary = fit.parameter_summary()
    assert "patient_slope_sd[score]" in summary["parameter"].tolist()
    cv = bd.loo(fit, unit="patient", refit=False)
    assert len(cv.pointwise) == len(data.patients) and np.isfinite(cv.elpd)


@pytest.mark.slow
def test_slope_sd_is_near_zero_without_slopes():
    """The same trial without patient slopes (seed 11): the slope SD's posterior sits near
    0 (its 90% upper bound below 0.25, against a prior 95% point of 0.98)."""
    _, data = trial_with_slopes(20, 0.0, seed=11)
    fit = bd.DoseResponseModel(patient_slopes=True).fit(
        data, draws=500, tune=500, chains=2, random_seed=3, sampler="nutpie",
        progressbar=False, prior_draws=0)
    _, high = _interval(fit.idata["posterior"]["patient_slope_sd"].to_numpy())
    assert high < 0.25, high
