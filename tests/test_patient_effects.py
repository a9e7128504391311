"""Patient effects switched off (``patient_effects=False``)."""

from __future__ import annotations

import numpy as np
import pytest

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import SpecError

SD = 10.0


def parallel_group_trial(seed: int = 5):
    """One post-baseline visit per patient: 3 doses x 30 patients; patient deviations
    (SD 0.3) and visit noise (SD 0.4) together, sqrt(0.3^2 + 0.4^2) = 0.5 outcome SDs."""
    sim = simulate_trial(doses=(1.0, 10.0, 50.0), n_per_arm=30, visits=(6.0,),
                         shape_params={"delta": 1.0, "log_ed50": 0.0, "log_t_half": -1.5},
                         course=[0.2], sigma=0.4, patient_sd=0.3, baseline_sd=SD, seed=seed)
    data = bd.TrialData.from_frame(sim.data.to_frame(), patient="patient", dose="dose",
                                   time="time", outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}})
    return sim, data


def test_without_patient_effects_the_model_has_no_patient_parameters():
    _, data = parallel_group_trial()
    on = bd.DoseResponseModel().prior_table(data)["parameter"].tolist()
    off_model = bd.DoseResponseModel(patient_effects=False)
    off = off_model.prior_table(data)["parameter"].tolist()
    assert "patient_effect" in on
    assert not [name for name in off if name.startswith("patient")]
    inputs = off_model.inputs(data)
    assert off_model.correlated(inputs) == "off"
    assert off_model.default_target_accept(inputs) == 0.95
    model = off_model.build_inputs(inputs)
    assert not [rv.name for rv in model.free_RVs if rv.name.startswith("patient")]
    assert "patient_effect" in model.named_vars  # zeros, so read-outs stay the same


def test_a_prior_for_patient_effects_that_are_off_is_refused():
    _, data = parallel_group_trial()
    model = bd.DoseResponseModel(patient_effects=False, priors={
        "patient_effect": bd.DoseResponseModel().parameters(data)[-2].prior})
    with pytest.raises(SpecError, match="patient_effect"):
        model.prior_table(data)


def test_patient_effects_setting_is_kept_in_the_config_and_checked():
    model = bd.DoseResponseModel(patient_effects=False)
    assert model.config()["patient_effects"] is False
    assert bd.DoseResponseModel.from_config(model.config()).patient_effects is False
    assert "patient_effects" not in bd.DoseResponseModel().config()  # older configs alike
    with pytest.raises(SpecError, match="patient_effects must be true or false"):
        bd.DoseResponseModel(patient_effects="no")


def test_model_files_take_patient_effects(tmp_path):
    _, data = parallel_group_trial()
    data.to_frame().to_csv(tmp_path / "trial.csv", index=False)
    text = """
name = "parallel"
[data]
source = "trial.csv"
patient = "patient"
dose = "dose"
time = "time"
outcome = "outcome"
value = "value"
[outcomes.score]
sd = 10.0
[model]
patient_effects = {value}
"""
    path = tmp_path / "model.toml"
    path.write_text(text.format(value="false"))
    assert bd.ModelSpec.from_toml(path).build_model().patient_effects is False
    path.write_text(text.format(value='"no"'))
    with pytest.raises(SpecError, match="patient_effects"):
        bd.ModelSpec.from_toml(path)


@pytest.mark.slow
def test_parallel_group_trial_without_patient_effects_recovers_the_truth():
    """The dose contrast is recovered, and the residual SD takes up the patients'
    deviations: it estimates sqrt(sigma^2 + patient_sd^2) = 0.5 outcome SDs."""
    sim, data = parallel_group_trial()
    fit = bd.DoseResponseModel(time_shape="free", patient_effects=False).fit(
        data, draws=1000, tune=1000, chains=2, random_seed=3, sampler="nutpie",
        progressbar=False, prior_draws=0)
    assert fit.diagnostics().ok
    for dose in (10.0, 50.0):
        truth = sim.true_contrast("score", dose, 1.0, 6.0)
        row = fit.contrast(dose, 1, time=6, ci_prob=0.9).iloc[0]
        assert row["ci_low"] <= truth <= row["ci_high"], (dose, truth, row)
    sigma = fit.idata["posterior"]["sigma"].sel(outcome="score").to_numpy().ravel()
    low, high = np.quantile(sigma, [0.05, 0.95])
    assert low <= np.hypot(0.4, 0.3) <= high, (low, high)
    patient = fit.idata["posterior"]["patient_effect"].to_numpy()
    assert np.all(patient == 0.0)
