"""The combined model (bd.CombinedModel): a patient-level trial and other studies' arm
means, simulated from one truth, share the dose shape and time course; the pooled effect
covers the truth and the arm-level studies sharpen the trial's own top-dose effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

import bayesdose as bd

SD = 2.0  # outcome units per standardised unit of the simulation
TIMES = (3.0, 6.0, 12.0)
TRIAL_DOSES = (0.0, 10.0, 50.0)
ARM_DOSES = ((0.0, 5.0, 20.0), (0.0, 20.0, 100.0), (0.0, 5.0, 30.0), (0.0, 30.0, 100.0))
# standardised: effect of 50 vs 0 at week 12 (pooled), ED50 and onset half-time (weeks),
# between-study SD of the effect size, patient-effect and residual SDs
TRUTH = {"delta": 1.0, "ed50": 8.0, "t_half": 2.5, "tau": 0.1, "patient_sd": 0.6,
         "sigma": 0.5}
N_TRIAL, N_ARM = 10, 60


def true_effect(dose: float, time: float, delta: float) -> float:
    """Emax in dose (delta = effect of 50 vs 0 at week 12), exponential onset; outcome
    units."""
    emax = delta * (TRUTH["ed50"] + 50.0) / 50.0
    rate = np.log(2.0) / TRUTH["t_half"]
    g = np.expm1(-rate * time) / np.expm1(-rate * 12.0)
    return SD * emax * dose / (TRUTH["ed50"] + dose) * g


def changes(rng: np.random.Generator, dose: float, n: int, delta: float,
            course: np.ndarray) -> np.ndarray:
    """Simulated changes from baseline (patients x times), outcome units."""
    mean = np.array([true_effect(dose, t, delta) for t in TIMES]) + SD * course
    patient = rng.normal(0.0, TRUTH["patient_sd"], (n, 1))
    noise = rng.normal(0.0, TRUTH["sigma"], (n, len(TIMES)))
    return mean + SD * (patient + noise)


def simulate(seed: int = 11) -> tuple[bd.TrialData, bd.ArmData, float]:
    """The patient-level trial (3 doses x 10 patients) and 4 arm-level studies (arm means
    of 60 simulated patients, with their SEs); and the trial's own effect size."""
    rng = np.random.default_rng(seed)
    deltas = TRUTH["delta"] + TRUTH["tau"] * rng.normal(size=1 + len(ARM_DOSES))
    course = np.array([0.1, 0.2, 0.25])
    rows, patient = [], 0
    for dose in TRIAL_DOSES:
        for change in changes(rng, dose, N_TRIAL, deltas[0], course):
            baseline = 50.0 + 10.0 * rng.normal()
            rows.append({"patient": f"P{patient}", "dose": dose, "week": 0.0,
                         "score": baseline})
            rows += [{"patient": f"P{patient}", "dose": dose, "week": t,
                      "score": baseline + c} for t, c in zip(TIMES, change, strict=True)]
            patient += 1
    trial = bd.TrialData.from_frame(pd.DataFrame(rows), patient="patient", dose="dose",
                                    time="week", outcomes=["score"])
    arms = []
    for s, doses in enumerate(ARM_DOSES):
        study_course = course + rng.normal(0.0, 0.1, len(TIMES))
        for dose in doses:
            values = changes(rng, dose, N_ARM, deltas[1 + s], study_course)
            arms += [{"study": f"S{s + 1}", "dose": dose, "week": t, "cfb": values[:, i].mean(),
                      "se": values[:, i].std(ddof=1) / np.sqrt(N_ARM), "n": N_ARM}
                     for i, t in enumerate(TIMES)]
    arm_data = bd.ArmData.from_frame(pd.DataFrame(arms), study="study", dose="dose",
                                     time="week", mean="cfb", se="se", n="n")
    return trial, arm_data, float(deltas[0])


def combined_model() -> bd.CombinedModel:
    return bd.CombinedModel(bd.DoseResponseModel("emax", "exponential"),
                            bd.ArmModel("emax", "exponential", rho=0.6))


def test_the_graph_shares_the_shape_and_puts_the_arms_on_the_trial_scale():
    trial, arms, _ = simulate()
    model = combined_model()
    inputs = model.inputs(trial, arms)
    sd = float(inputs.trial.scales.sd[0])
    assert inputs.arms.scale_sd == sd
    assert "patient-level trial" in inputs.arms.scale_source
    assert inputs.arms.dose_scale == inputs.trial.dose_scale
    assert inputs.arms.time_scale == inputs.trial.time_scale
    assert inputs.studies == ["trial", "S1", "S2", "S3", "S4"]
    built = model.build(trial, arms)
    assert [rv.name for rv in built.observed_RVs] == ["change", "arm_means"]
    free = {rv.name for rv in built.free_RVs}
    assert {"delta", "log_ed50", "log_t_half", "tau", "delta_z", "arm_course"} <= free
    assert built.named_vars_to_dims["delta_study"] == ("study",)
    assert built["log_ed50"].ndim == 0 and built["delta"].ndim == 0
    # the arm likelihood is the arm model's own, with the shared variables substituted
    point = built.initial_point()
    point.update({"delta": 0.4, "log_ed50": 0.1, "log_t_half": -1.0,
                  "tau_log__": np.log(0.2), "delta_z": np.linspace(-1, 1, 5)})
    combined_logp = built.compile_logp(vars=[built["arm_means"]], jacobian=False, mode=FAST)(point)
    alone = model.arm_model._build(inputs.arms)
    alone_point = {"delta": 0.4, "log_ed50": 0.1, "log_t_half": -1.0,
                   "tau_log__": np.log(0.2), "delta_z": np.linspace(-1, 1, 5)[1:],
                   "course": point["arm_course"]}
    # alone, delta_study[s] = delta + tau z_s for the arm studies only
    alone_logp = alone.compile_logp(vars=[alone["y"]], jacobian=False, mode=FAST)(alone_point)
    assert np.isclose(combined_logp, alone_logp, rtol=1e-10)


def test_bad_combinations_are_refused():
    patient = bd.DoseResponseModel("emax", "exponential")
    with pytest.raises(bd.SpecError, match="time_shape"):
        bd.CombinedModel(patient, bd.ArmModel("emax", "emax"))
    with pytest.raises(bd.SpecError, match="study_effects"):
        bd.CombinedModel(patient, bd.ArmModel("emax", "exponential", study_effects="fixed"))
    with pytest.raises(bd.SpecError, match="scale_sd"):
        bd.CombinedModel(patient, bd.ArmModel("emax", "exponential", scale_sd=2.0))
    with pytest.raises(bd.SpecError, match="log_ed50"):
        bd.CombinedModel(patient, bd.ArmModel(
            "emax", "exponential", priors={"log_ed50": patient.dose_shape.parameters(
                bd.components.shapes.DoseScale((0.0, 1.0)))[1].prior}))
    trial, arms, _ = simulate()
    with pytest.raises(bd.DataError, match="trial_study"):
        bd.CombinedModel(patient, bd.ArmModel("emax", "exponential"),
                         trial_study="S1").inputs(trial, arms)
    two_agents = arms.to_frame().assign(agent=lambda f: np.where(
        (f["dose"] > 0) & (f["study"] == "S2"), "other", f["agent"]))
    with pytest.raises(bd.DataError, match="'active', 'other'"):
        combined_model().inputs(trial, bd.ArmData.from_frame(two_agents,
                                                             **arms.frame_arguments()))
    frame = arms.table.assign(time=np.nan)
    timeless = bd.ArmData.from_frame(frame[frame["time"].isna()].drop_duplicates(
        ["study", "arm"]), study="study", dose="dose", mean="mean", se="se", n="n")
    with pytest.raises(bd.DataError, match="time"):
        combined_model().inputs(trial, timeless)


@pytest.mark.slow
def test_pooled_effect_covers_truth_and_the_arms_sharpen_the_trial():
    trial, arms, delta_0 = simulate()
    fit = combined_model().fit(trial, arms, draws=400, tune=400, chains=2, random_seed=5)
    pooled = fit.effect(dose=[50.0], time=[12.0]).iloc[0]
    truth = true_effect(50.0, 12.0, TRUTH["delta"])
    assert pooled["ci_low"] <= truth <= pooled["ci_high"], (pooled, truth)
    own = fit.trial_effect(dose=[50.0], time=[12.0]).iloc[0]
    assert own["ci_low"] <= true_effect(50.0, 12.0, delta_0) <= own["ci_high"], own
    assert own["study"] == "trial"
    new = fit.effect(dose=[50.0], time=[12.0], study="new").iloc[0]
    assert new["ci_high"] - new["ci_low"] > pooled["ci_high"] - pooled["ci_low"]
    alone = bd.DoseResponseModel("emax", "exponential").fit(
        trial, draws=400, tune=400, chains=2, random_seed=5, prior_draws=0)
    contrast = alone.contrast(dose=50.0, reference=0.0, time=12.0, ci_prob=0.9).iloc[0]
    width_alone = contrast["ci_high"] - contrast["ci_low"]
    width_combined = own["ci_high"] - own["ci_low"]
    print(f"pooled {pooled.to_dict()} truth {truth:.3f}; trial own {own.to_dict()} "
          f"truth {true_effect(50.0, 12.0, delta_0):.3f}; alone 90% width "
          f"{width_alone:.3f}, combined {width_combined:.3f}")
    assert width_combined < width_alone
    sd = fit.between_study_sd().set_index("scale")
    assert sd.loc["standardised", "lower"] <= TRUTH["tau"] * SD / fit.inputs.scale_sd \
        <= sd.loc["standardised", "upper"]
    assert fit.diagnostics().table.set_index("check").loc["divergences", "value"] <= 5
