"""The arm-level model (bd.ArmModel): its likelihood is the multivariate Normal density of
each arm's means with the AR(1) working correlation, and it recovers known parameters
from simulated arm-level studies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesdose as bd
from bayesdose.components.shapes import DoseScale
from bayesdose.components.timecourses import TimeScale

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((folder for folder in (ROOT / "shared" / "data", ROOT.parent / "shared" / "data")
               if folder.is_dir()), None)

DOSES = (0.0, 5.0, 10.0, 25.0, 50.0)
TIMES = (4.0, 8.0, 12.0)
TRUTH = {"delta": -0.8, "ed50": 8.0, "et50": 3.0, "tau": 0.15}  # outcome units, SD = 2
SD, N = 2.0, 150


def simulate_arms(seed: int = 3, studies: int = 6, rho: float = 0.0) -> pd.DataFrame:
    """Studies of placebo and 2-3 active doses at weeks 4, 8, 12: Emax in dose (ED50 8,
    effect of 50 vs placebo -0.8 at week 12), Emax in time (ET50 3), a per-study effect
    size with SD 0.15 and a per-study placebo course; means drawn with their SEs."""
    rng = np.random.default_rng(seed)
    ref = max(DOSES)
    emax = TRUTH["delta"] * (TRUTH["ed50"] + ref) / ref
    rows = []
    for s in range(studies):
        doses = (0.0, *sorted(rng.choice(DOSES[1:], size=2 + s % 2, replace=False)))
        scale_s = 1 + TRUTH["tau"] * rng.normal() / TRUTH["delta"]
        placebo = -0.3 * np.array(TIMES) / 12 + rng.normal(0, 0.1, len(TIMES))
        for dose in doses:
            g = np.array(TIMES) / (TRUTH["et50"] + np.array(TIMES)) * (
                TRUTH["et50"] + 12) / 12
            mean = placebo + scale_s * emax * dose / (TRUTH["ed50"] + dose) * g
            se = np.full(len(TIMES), SD / np.sqrt(N))
            lags = np.abs(np.subtract.outer(range(len(TIMES)), range(len(TIMES))))
            cov = rho ** lags * np.outer(se, se)
            y = rng.multivariate_normal(mean, cov)
            rows += [{"study": f"S{s}", "dose": dose, "week": t, "cfb": y[i], "se": se[i],
                      "n": N} for i, t in enumerate(TIMES)]
    return pd.DataFrame(rows)


def arm_data(frame: pd.DataFrame) -> bd.ArmData:
    return bd.ArmData.from_frame(frame, study="study", dose="dose", time="week",
                                 mean="cfb", se="se", n="n")


def test_the_likelihood_is_the_multivariate_normal_density_of_each_arm():
    data = arm_data(simulate_arms(rho=0.5))
    model = bd.ArmModel(rho=0.5)
    inputs = model.inputs(data)
    built = model.build(data)
    point = {"delta": -0.3, "log_ed50": 0.2, "log_et50": -1.0, "tau_log__": np.log(0.2),
             "delta_z": np.linspace(-1, 1, 6), "course": np.full((6, 3), -0.05)}
    logp = built.compile_logp(vars=[built["y"]], jacobian=False)(point)
    # the same mean in outcome units, with numpy, and scipy's density per arm
    table = inputs.table
    dose_scale, time_scale = DoseScale(DOSES), TimeScale(TIMES)
    delta_s = point["delta"] + 0.2 * point["delta_z"][inputs.study]
    f = bd.ArmModel().dose_shape.evaluate(table["dose"].to_numpy(), {
        "delta": delta_s, "log_ed50": point["log_ed50"]}, dose_scale, np)
    g = bd.ArmModel().time_shape.evaluate(table["time"].to_numpy(),
                                          {"log_et50": point["log_et50"]}, time_scale, np)
    scale = inputs.scale_sd
    mean = (point["course"][0, 0] + f * g) * scale * inputs.sign
    expected = 0.0
    for _, rows in table.assign(mean_model=mean).groupby(["study", "arm"]):
        se = rows["se"].to_numpy()
        lags = np.abs(np.subtract.outer(range(len(rows)), range(len(rows))))
        cov = 0.5 ** lags * np.outer(se, se)
        expected += stats.multivariate_normal(rows["mean_model"], cov).logpdf(rows["mean"])
    assert np.isclose(scale, SD)
    assert np.isclose(float(logp) + inputs.log_det_whitening, expected, rtol=1e-9)


def test_bad_input_is_refused():
    with pytest.raises(bd.SpecError, match="rho"):
        bd.ArmModel(rho=1.0)
    with pytest.raises(bd.SpecError, match="study_effects"):
        bd.ArmModel(study_effects="mixed")
    frame = simulate_arms().drop(columns="n")
    data = bd.ArmData.from_frame(frame, study="study", dose="dose", time="week",
                                 mean="cfb", se="se")
    with pytest.raises(bd.DataError, match="scale_sd"):
        bd.ArmModel().inputs(data)
    assert bd.ArmModel(scale_sd=2.0).inputs(data).scale_sd == 2.0
    levels = bd.ArmData.from_frame(simulate_arms(), study="study", dose="dose", time="week",
                                   mean="cfb", se="se", n="n", change=False)
    with pytest.raises(bd.DataError, match="change=True"):
        bd.ArmModel().inputs(levels)


def test_the_prior_table_states_the_scale():
    table = bd.ArmModel().prior_table(arm_data(simulate_arms()))
    assert table["parameter"].tolist() == ["delta", "log_ed50", "log_et50", "course", "tau",
                                           "scale_sd[cfb]"]
    assert "se * sqrt(n)" in table["reason"].iloc[-1]


def test_recovery_from_simulated_studies():
    data = arm_data(simulate_arms(rho=0.3))
    fit = bd.ArmModel(rho=0.3).fit(data, draws=500, tune=500, chains=2, random_seed=7)
    summary = fit.parameter_summary(ci_prob=0.9).set_index("parameter")
    dose_scale = DoseScale(DOSES)
    # delta is standardised, direction-aligned (higher is better): -0.8 / 2
    truth = {"delta": TRUTH["delta"] / SD,
             "log_ed50": np.log(TRUTH["ed50"] / dose_scale.midpoint),
             "log_et50": np.log(TRUTH["et50"] / 12), "tau": TRUTH["tau"] / SD}
    lower, upper = summary.columns[2], summary.columns[3]
    for name, value in truth.items():
        assert summary.loc[name, lower] <= value <= summary.loc[name, upper], (name, summary)
    effect = fit.effect(dose=[50.0], time=[12.0]).iloc[0]
    assert effect["lower"] <= TRUTH["delta"] <= effect["upper"]
    assert abs(effect["mean"] - TRUTH["delta"]) < 0.15
    sd = fit.between_study_sd().set_index("scale")
    assert sd.loc["outcome units", "lower"] <= TRUTH["tau"] <= sd.loc["outcome units", "upper"]
    diagnostics = fit.diagnostics()
    assert diagnostics.table.set_index("check").loc["divergences", "value"] <= 5


@pytest.mark.slow
@pytest.mark.skipif(SHARED is None or not (SHARED / "MBNMAtime_alog_pcfb.csv").is_file()
                    if SHARED else True, reason="shared/data/MBNMAtime_alog_pcfb.csv absent")
def test_alogliptin_free_doses_emax_time(capsys):
    data = bd.ArmData.from_csv(SHARED / "MBNMAtime_alog_pcfb.csv", study="studyID",
                               agent="agent", dose="dose", time="time", mean="y", se="se",
                               n="n", outcome_info={"y": {"direction": "lower_is_better"}})
    fit = bd.ArmModel(dose_shape="free", time_shape="emax", study_effects="fixed").fit(
        data, draws=500, tune=500, chains=2, random_seed=1)
    effect = fit.effect(dose=[6.25, 12.5, 25.0, 50.0, 100.0], time=[26.0])
    with capsys.disabled():
        print(fit.parameter_summary().round(3).to_string())
        print(effect.round(3).to_string())
    # alogliptin lowers HbA1c against placebo at every dose
    assert (effect["upper"] < 0).all()
