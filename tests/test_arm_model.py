"""The arm-level model (bd.ArmModel): its likelihood is the multivariate Normal density of
each arm's means with the AR(1) working correlation, and it recovers known parameters
from simulated arm-level studies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
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
    logp = built.compile_logp(vars=[built["y"]], jacobian=False, mode=FAST)(point)
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
    assert effect["ci_low"] <= TRUTH["delta"] <= effect["ci_high"]
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
    assert (effect["ci_high"] < 0).all()


# ---------------------------------------------------------------------- several agents
AGENTS = {"A": {"doses": (5.0, 10.0, 25.0, 50.0), "delta": 1.0, "ed50": 8.0},
          "B": {"doses": (20.0, 50.0, 100.0, 200.0), "delta": 0.6, "ed50": 40.0}}
ET50_AGENTS, TAU_AGENTS = 3.0, 0.15  # weeks; outcome units


def simulate_agents(seed: int = 1, studies: int = 8) -> pd.DataFrame:
    """Studies of placebo and three doses of agent A, of B, or of both (every third
    study), at weeks 4, 8, 12: Emax in dose per agent (delta = the effect of the agent's
    top dose against placebo at week 12, outcome units, SD 2), one Emax time course, a
    study SD of the effect size of 0.15 per study and agent."""
    rng = np.random.default_rng(seed)
    g = np.array(TIMES) / (ET50_AGENTS + np.array(TIMES)) * (ET50_AGENTS + 12) / 12
    rows = []
    for s in range(studies):
        names = ("A",) if s % 3 == 0 else ("B",) if s % 3 == 1 else ("A", "B")
        placebo = -0.3 * np.array(TIMES) / 12 + rng.normal(0, 0.1, len(TIMES))
        arms = [("placebo", 0.0, np.zeros(len(TIMES)))]
        for name in names:
            spec = AGENTS[name]
            top = max(spec["doses"])
            emax = (spec["delta"] + TAU_AGENTS * rng.normal()) * (spec["ed50"] + top) / top
            arms += [(name, dose, emax * dose / (spec["ed50"] + dose) * g) for dose in
                     sorted(rng.choice(spec["doses"], size=3, replace=False))]
        for name, dose, effect in arms:
            y = placebo + effect + rng.normal(0, SD / np.sqrt(N), len(TIMES))
            rows += [{"study": f"S{s}", "agent": name, "dose": dose, "week": t, "cfb": y[i],
                      "se": SD / np.sqrt(N), "n": N} for i, t in enumerate(TIMES)]
    return pd.DataFrame(rows)


def agents_data(frame: pd.DataFrame | None = None) -> bd.ArmData:
    return bd.ArmData.from_frame(simulate_agents() if frame is None else frame,
                                 study="study", agent="agent", dose="dose", time="week",
                                 mean="cfb", se="se", n="n")


@pytest.mark.parametrize("time_by_agent", [False, True])
def test_several_agents_have_their_own_dose_shapes_in_the_likelihood(time_by_agent):
    data = agents_data()
    model = bd.ArmModel(rho=0.4, time_by_agent=time_by_agent)
    inputs = model.inputs(data)
    assert inputs.agents == ("A", "B")
    assert inputs.agent_scale(1).tested == (0.0, 20.0, 50.0, 100.0, 200.0)
    built = model.build(data)
    assert built.named_vars_to_dims["delta"] == ("agent",)
    assert built.named_vars_to_dims["delta_study"] == ("study", "agent")
    assert built.named_vars_to_dims.get("log_et50", ()) == (("agent",) if time_by_agent
                                                             else ())
    studies = len(inputs.studies)
    point = {"delta": np.array([0.4, -0.3]), "log_ed50": np.array([0.2, -0.5]),
             "log_et50": np.array([-1.0, -0.3]) if time_by_agent else -1.0,
             "tau_log__": np.log(0.2), "delta_z": np.linspace(-1, 1, 2 * studies).reshape(
                 studies, 2), "course": np.linspace(-0.2, 0.1, 3 * studies).reshape(studies, 3)}
    logp = built.compile_logp(vars=[built["y"]], jacobian=False, mode=FAST)(point)
    # the mean by hand: each agent's Emax on its own doses (p50 its geometric mean dose)
    table = inputs.table
    mean = np.empty(len(table))
    for r, row in enumerate(table.itertuples()):
        s = inputs.studies.index(row.study)
        mean[r] = point["course"][s, TIMES.index(row.time)]
        if row.agent != "placebo":
            a = inputs.agents.index(row.agent)
            doses = AGENTS[row.agent]["doses"]
            ed50 = np.exp(np.mean(np.log(doses)) + point["log_ed50"][a])
            delta = point["delta"][a] + 0.2 * point["delta_z"][s, a]
            et50 = 12 * np.exp(np.atleast_1d(point["log_et50"])[a if time_by_agent else 0])
            g = row.time / (et50 + row.time) * (et50 + 12) / 12
            mean[r] += delta * (ed50 + max(doses)) / max(doses) * row.dose / (ed50 + row.dose) * g
    expected = 0.0
    for _, rows in table.assign(model_mean=mean * inputs.scale_sd).groupby(["study", "arm"]):
        se = rows["se"].to_numpy()
        lags = np.abs(np.subtract.outer(range(len(rows)), range(len(rows))))
        expected += stats.multivariate_normal(rows["model_mean"], 0.4 ** lags * np.outer(
            se, se)).logpdf(rows["mean"])
    assert np.isclose(float(logp) + inputs.log_det_whitening, expected, rtol=1e-9)


def test_several_agents_prior_table_and_free_doses():
    data = agents_data()
    table = bd.ArmModel(time_by_agent=True).prior_table(data)
    assert table["parameter"].tolist() == [
        "delta[A]", "delta[B]", "log_ed50[A]", "log_ed50[B]", "log_et50[A]", "log_et50[B]",
        "course", "tau", "scale_sd[cfb]"]
    assert "agent B; doses 0, 20, 50, 100, 200" in table["meaning"].iloc[1]
    model = bd.ArmModel(dose_shape="free")
    built = model.build(data)
    assert built.named_vars_to_dims["delta"] == ("agent_dose",)
    assert list(built.coords["agent_dose"]) == ["A 5", "A 10", "A 25", "A 50", "B 20",
                                                "B 50", "B 100", "B 200"]
    no_placebo = simulate_agents().query("dose > 0")
    with pytest.raises(bd.DataError, match="no placebo arm"):
        model.inputs(agents_data(no_placebo))
    assert bd.ArmModel().inputs(agents_data(no_placebo)).agent_scale(0).tested == (
        5.0, 10.0, 25.0, 50.0)
    with pytest.raises(bd.SpecError, match="time_by_agent"):
        bd.ArmModel(time_by_agent="yes")
    with pytest.raises(bd.SpecError, match="no effect size delta"):
        bd.ArmModel(dose_shape="monotone")


@pytest.mark.slow
def test_recovery_of_each_agents_effect_and_ed50():
    data = agents_data()
    fit = bd.ArmModel().fit(data, draws=400, tune=400, chains=2, random_seed=3)
    summary = fit.parameter_summary(ci_prob=0.9).set_index("parameter")
    lower, upper = summary.columns[2], summary.columns[3]
    for name, spec in AGENTS.items():
        p50 = np.exp(np.mean(np.log(spec["doses"])))
        truth = {"delta": spec["delta"] / SD, "log_ed50": np.log(spec["ed50"] / p50)}
        for param, value in truth.items():
            row = summary.loc[f"{param}[{name}]"]
            assert row[lower] <= value <= row[upper], (name, param, value, summary)
        ed50 = fit.effective_dose(agent=name).iloc[0]
        assert ed50["ci_low"] <= spec["ed50"] <= ed50["ci_high"], (name, ed50)
        effect = fit.effect(dose=max(spec["doses"]), agent=name).iloc[0]
        assert effect["ci_low"] <= spec["delta"] <= effect["ci_high"], (name, effect)
    assert fit.diagnostics().table.set_index("check").loc["divergences", "value"] <= 5
