"""Read-outs of arm-level fits for a chosen population (study="pooled", "new" or a study's
label): checked on fixed draws against hand computations, and on one small fit."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.results.arm_estimands import NEW_STUDY_STREAM
from bayesdose.results.arm_fit import ArmFit

DOSES = (0.0, 10.0, 50.0)
TIMES = (4.0, 12.0)
STUDIES = ("A", "B", "C")
SD = 2.0  # se * sqrt(n) of every row: the scale SD
N_DRAWS = 2000


def arm_data(direction: str = "higher_is_better", times: bool = True,
             agents: tuple[str, ...] = ("X",)) -> bd.ArmData:
    rows = []
    for s, study in enumerate(STUDIES):
        for agent in agents:
            for dose in DOSES:
                if dose == 0 and agent != agents[0]:
                    continue
                for t in TIMES if times else (np.nan,):
                    rows.append({"study": study, "agent": "placebo" if dose == 0 else agent,
                                 "dose": dose * (1 + agents.index(agent)), "week": t,
                                 "cfb": 0.1 * s + 0.01 * dose, "se": SD / 10.0, "n": 100})
    frame = pd.DataFrame(rows)
    extra = {"time": "week"} if times else {}
    return bd.ArmData.from_frame(frame.drop(columns=[] if times else ["week"]), study="study",
                                 agent="agent", dose="dose", mean="cfb", se="se", n="n",
                                 outcome_info={"cfb": {"direction": direction}}, **extra)


def draws(seed: int = 0, agents: int = 1, free: bool = False,
          fixed: bool = False) -> dict[str, np.ndarray]:
    """Fixed posterior draws (one chain): delta around 0.5, log_ed50 and log_et50 around
    0, tau 0.3, and each study's delta_s."""
    rng = np.random.default_rng(seed)
    lead = (1, N_DRAWS) + ((agents,) if agents > 1 else ())
    out = {"delta": rng.normal(0.5, 0.05, (*lead, 2) if free else lead),
           "log_et50": rng.normal(-1.0, 0.1, (1, N_DRAWS))}
    if not free:
        out["log_ed50"] = rng.normal(0.0, 0.2, lead)
    if not fixed:
        out["tau"] = np.full((1, N_DRAWS), 0.3)
        out["delta_study"] = rng.normal(0.5, 0.1, (1, N_DRAWS, len(STUDIES),
                                                   *out["delta"].shape[2:]))
    return out


def make_fit(model: bd.ArmModel, data: bd.ArmData, posterior: dict[str, np.ndarray],
             seed: int = 11) -> ArmFit:
    dims = {"delta_study": ["study"]} if "delta_study" in posterior else {}
    idata = az.from_dict({"posterior": posterior}, dims=dims,
                         coords={"study": list(STUDIES)})
    return ArmFit(model, model.inputs(data), idata, {"random_seed": seed}, data=data)


def hand_effect(delta, log_ed50, log_et50, dose, time, sign=1.0):
    """Emax in dose (placebo, 10, 50: p50 = sqrt(500)), Emax in time (last week 12), in
    outcome units."""
    ed50 = np.sqrt(500.0) * np.exp(log_ed50)
    emax = delta * (ed50 + 50.0) / 50.0
    et50 = 12.0 * np.exp(log_et50)
    g = time / (et50 + time) * (et50 + 12.0) / 12.0
    return sign * SD * emax * dose / (ed50 + dose) * g


def new_z(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence([seed, NEW_STUDY_STREAM])
                                 ).standard_normal(shape)


def test_pooled_study_and_new_effects_are_the_hand_computed_ones():
    posterior = draws()
    fit = make_fit(bd.ArmModel(), arm_data(), posterior)
    d, e, t = posterior["delta"][0], posterior["log_ed50"][0], posterior["log_et50"][0]
    q = (0.05, 0.95)
    pooled = fit.effect(dose=[10.0, 50.0], time=[4.0, 12.0])
    assert pooled["study"].eq("pooled").all() and pooled["agent"].eq("X").all()
    expected = hand_effect(d, e, t, 10.0, 4.0)
    row = pooled.iloc[0]
    assert (row["dose"], row["time"]) == (10.0, 4.0)
    assert np.isclose(row["mean"], expected.mean()) and np.isclose(row["sd"], expected.std(ddof=1))
    assert np.allclose([row["ci_low"], row["ci_high"]], np.quantile(expected, q))
    assert pooled.attrs["ci"] == "eti 90%"
    # one study's own effect size
    study_b = fit.effect(dose=50.0, study="B").iloc[0]
    own = hand_effect(posterior["delta_study"][0, :, 1], e, t, 50.0, 12.0)
    assert study_b["study"] == "B" and np.isclose(study_b["mean"], own.mean())
    assert "delta_s" in study_b["population"]
    # a new study: delta + tau z, z drawn from the fit's seed
    new = fit.effect(dose=50.0, study="new").iloc[0]
    delta_new = d + 0.3 * new_z(11, (N_DRAWS,))
    hand = hand_effect(delta_new, e, t, 50.0, 12.0)
    assert np.isclose(new["mean"], hand.mean())
    assert np.allclose([new["ci_low"], new["ci_high"]], np.quantile(hand, q))
    assert new["study"] == "new" and "tau * z" in new["population"]


def test_a_new_study_is_wider_by_the_between_study_spread_and_reproducible():
    posterior = draws()
    fit = make_fit(bd.ArmModel(dose_shape="linear"), arm_data(), {
        k: v for k, v in posterior.items() if k != "log_ed50"})
    pooled = fit.effect(dose=50.0, study="pooled").iloc[0]
    new = fit.effect(dose=50.0, study="new").iloc[0]
    # linear: the effect at the top dose and week 12 is SD * delta; Var adds (SD tau)^2
    assert np.isclose(pooled["sd"], SD * 0.05, rtol=0.1)
    assert np.isclose(new["sd"] ** 2, pooled["sd"] ** 2 + (SD * 0.3) ** 2, rtol=0.1)
    assert new["ci_high"] - new["ci_low"] > 3 * (pooled["ci_high"] - pooled["ci_low"])
    again = fit.effect(dose=50.0, study="new").iloc[0]
    linear = {k: v for k, v in posterior.items() if k != "log_ed50"}
    same_seed = make_fit(fit.model, arm_data(), linear).effect(50.0, study="new").iloc[0]
    other_seed = make_fit(fit.model, arm_data(), linear, seed=12).effect(
        50.0, study="new").iloc[0]
    assert again["mean"] == new["mean"] and same_seed["mean"] == new["mean"]
    assert other_seed["mean"] != new["mean"]


def test_fixed_study_effects_make_a_new_study_the_pooled_one():
    posterior = draws(fixed=True)
    fit = make_fit(bd.ArmModel(study_effects="fixed"), arm_data(), posterior)
    pooled = fit.effect(dose=[10.0, 50.0], study="pooled")
    new = fit.effect(dose=[10.0, 50.0], study="new")
    study = fit.effect(dose=[10.0, 50.0], study="C")
    columns = ["mean", "sd", "ci_low", "ci_high"]
    assert new[columns].equals(pooled[columns]) and study[columns].equals(pooled[columns])
    assert "same as pooled" in new["population"].iloc[0]
    assert "fixed study effects" in study["population"].iloc[0]


def test_contrast_and_probability_beyond_the_mcid_follow_the_better_direction():
    posterior = draws()
    fit = make_fit(bd.ArmModel(), arm_data("lower_is_better"), posterior)
    d, e, t = posterior["delta"][0], posterior["log_ed50"][0], posterior["log_et50"][0]
    contrast = fit.contrast(dose=50.0, reference=10.0, time=12.0, study="new").iloc[0]
    delta_new = d + 0.3 * new_z(11, (N_DRAWS,))
    hand = (hand_effect(delta_new, e, t, 50.0, 12.0, -1.0)
            - hand_effect(delta_new, e, t, 10.0, 12.0, -1.0))
    assert contrast["mean"] < 0 and np.isclose(contrast["mean"], hand.mean())
    assert np.isclose(contrast["prob_gt_0"], np.mean(hand < 0))
    assert contrast["direction"] == "lower_is_better"
    assert (contrast["reference"], contrast["reference_status"]) == (10.0, "tested")
    prob = fit.prob_beyond_mcid(dose=[10.0, 50.0], mcid=1.0, time=12.0)
    pooled_50 = hand_effect(d, e, t, 50.0, 12.0, -1.0)
    assert np.isclose(prob["prob"].iloc[1], np.mean(pooled_50 < -1.0))
    assert 0 < prob["prob"].iloc[1] < 1 and prob["study"].eq("pooled").all()
    assert prob["prob"].iloc[0] < prob["prob"].iloc[1]
    with pytest.raises(bd.EstimandError, match="mcid"):
        fit.prob_beyond_mcid(dose=50.0, mcid=-1.0)


def test_effective_dose_follows_the_patient_level_definitions():
    posterior = draws()
    posterior["delta"][0, :100] = -0.2  # no improvement: ED50 not reached
    fit = make_fit(bd.ArmModel(), arm_data(), posterior)
    row = fit.effective_dose(p=0.5).iloc[0]
    ed50 = np.sqrt(500.0) * np.exp(posterior["log_ed50"][0])
    hand = np.where(posterior["delta"][0] > 0, ed50, np.inf)
    assert np.isclose(row["median"], np.median(hand))
    assert np.isclose(row["prob_not_reached"], 100 / N_DRAWS)
    assert "p x Emax" in row["definition"] and row["study"] == "pooled"
    ed90 = fit.effective_dose(p=0.9).iloc[0]
    assert np.isclose(ed90["median"], np.median(np.where(hand < np.inf, 9 * hand, np.inf)))
    # a new study's ED50 misses where its own effect size is not an improvement
    new = fit.effective_dose(p=0.5, study="new").iloc[0]
    delta_new = posterior["delta"][0] + 0.3 * new_z(11, (N_DRAWS,))
    assert np.isclose(new["prob_not_reached"], np.mean(delta_new <= 0))
    assert new["prob_not_reached"] > row["prob_not_reached"]
    # free per-dose effects: linear interpolation between the tested doses
    free = draws(free=True, fixed=True)
    free["delta"] = np.broadcast_to([0.2, 1.0], (1, N_DRAWS, 2)).copy()
    fit = make_fit(bd.ArmModel(dose_shape="free", study_effects="fixed"), arm_data(), free)
    row = fit.effective_dose(p=0.5).iloc[0]
    assert np.isclose(row["median"], 10.0 + 0.3 / 0.8 * 40.0)
    assert row["method"] == "linear interpolation between the tested doses"
    with pytest.raises(bd.EstimandError, match="quadratic"):
        make_fit(bd.ArmModel(dose_shape="quadratic", study_effects="fixed"), arm_data(), {
            "delta": posterior["delta"], "curvature": posterior["log_ed50"],
            "log_et50": posterior["log_et50"]}).effective_dose()


def test_minimum_effective_dose_is_the_smallest_dose_reaching_the_probability():
    posterior = draws(fixed=True)
    posterior["delta"] = np.random.default_rng(1).normal(0.5, 0.1, (1, N_DRAWS))
    fit = make_fit(bd.ArmModel(dose_shape="linear", study_effects="fixed"), arm_data(), {
        "delta": posterior["delta"], "log_et50": posterior["log_et50"]})
    row = fit.minimum_effective_dose(mcid=0.5, prob=0.8).iloc[0]
    grid = np.unique(np.concatenate([np.linspace(0.0, 50.0, 201), DOSES]))
    effect = SD * posterior["delta"][0][:, None] * grid / 50.0  # linear, week 12: g = 1
    prob = (effect > 0.5).mean(axis=0)
    assert row["med"] == grid[np.argmax(prob >= 0.8)] and row["found"]
    assert np.isclose(row["prob_at_med"], prob[np.argmax(prob >= 0.8)])
    assert row["level"] == 0.8 and row["study"] == "pooled" and row["note"] == ""
    given = fit.minimum_effective_dose(mcid=0.5, doses=[10.0, 40.0, 50.0]).iloc[0]
    assert given["med"] == 40.0 and given["doses_searched"] == "the doses given"
    none = fit.minimum_effective_dose(mcid=5.0).iloc[0]
    assert np.isnan(none["med"]) and not none["found"]
    assert "no searched dose" in none["note"] and "NaN" in none["note"]


def test_one_time_point_gives_time_nan_and_no_course():
    data = arm_data(times=False)
    posterior = {"delta": np.full((1, 4), 0.5)}
    fit = ArmFit(bd.ArmModel(dose_shape="linear", study_effects="fixed"), bd.ArmModel(
        dose_shape="linear", study_effects="fixed").inputs(data),
        az.from_dict({"posterior": posterior}), {})
    table = fit.effect(dose=[25.0, 50.0])
    assert table["time"].isna().all() and np.allclose(table["mean"], [0.5 * SD / 2, 0.5 * SD])
    assert table["dose_status"].tolist() == ["interpolated", "tested"]


def test_bad_populations_and_agents_are_refused():
    fit = make_fit(bd.ArmModel(), arm_data(), draws())
    with pytest.raises(bd.EstimandError, match="'pooled', 'new' or one of 'A', 'B', 'C'"):
        fit.effect(dose=10.0, study="D")
    with pytest.raises(bd.EstimandError, match="study="):
        fit.effect(dose=10.0, study=None)
    with pytest.raises(bd.EstimandError, match="agent 'Y' is not in the fit"):
        fit.effect(dose=10.0, agent="Y")
    assert fit.effect(dose=10.0, agent="X")["agent"].iloc[0] == "X"


def test_several_agents_read_each_agents_own_parameters():
    data = arm_data(agents=("X", "Y"))  # Y is tested at twice the doses of X
    model = bd.ArmModel()
    assert model.inputs(data).agents == ("X", "Y")
    posterior = draws(agents=2)
    posterior["delta"][..., 1] = 1.0
    fit = make_fit(model, data, posterior)
    with pytest.raises(bd.EstimandError, match="several agents \\('X', 'Y'\\)"):
        fit.effect(dose=10.0)
    e, t = posterior["log_ed50"][0], posterior["log_et50"][0]
    y = fit.effect(dose=100.0, agent="Y").iloc[0]
    # Y's own scale: p50 = sqrt(20 * 100), top dose 100; delta = its effect at 100
    assert np.isclose(y["mean"], SD * 1.0) and y["agent"] == "Y"
    ed50_y = np.sqrt(2000.0) * np.exp(e[:, 1])
    assert np.isclose(fit.effective_dose(agent="Y")["median"].iloc[0], np.median(ed50_y))
    x = fit.effect(dose=10.0, agent="X", study="A").iloc[0]
    own = hand_effect(posterior["delta_study"][0, :, 0, 0], e[:, 0], t, 10.0, 12.0)
    assert np.isclose(x["mean"], own.mean())
    new = fit.effect(dose=10.0, agent="X", study="new").iloc[0]
    z = new_z(11, (N_DRAWS, 2))[:, 0]
    hand = hand_effect(posterior["delta"][0, :, 0] + 0.3 * z, e[:, 0], t, 10.0, 12.0)
    assert np.isclose(new["mean"], hand.mean())


def test_reserved_study_labels_are_refused():
    frame = pd.DataFrame({"s": ["A", "A", "pooled", "pooled"], "d": [0, 5, 0, 5],
                          "y": [0.0, 0.3, 0.1, 0.4], "se": [0.1] * 4})
    with pytest.raises(bd.DataError, match=r"reserved study label\(s\) 'pooled' at rows 2, 3"):
        bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se")
    with pytest.raises(bd.SpecError, match="trial_study='new' is reserved"):
        bd.CombinedModel(bd.DoseResponseModel("emax", "exponential"),
                         bd.ArmModel("emax", "exponential"), trial_study="new")


def simulated_studies(seed: int = 4) -> bd.ArmData:
    """Five studies of placebo and two of 5, 10, 25, 50 at weeks 4 and 12: Emax in dose
    (ED50 10, effect of 50 vs placebo 1.0 at week 12, SD 2), a study SD of 0.3."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(5):
        delta = 1.0 + 0.3 * rng.normal()
        for dose in (0.0, *sorted(rng.choice([5.0, 10.0, 25.0, 50.0], 2, replace=False))):
            for t in TIMES:
                g = t / (2.0 + t) * 14.0 / 12.0
                mean = 0.1 * t + delta * 60.0 / 50.0 * dose / (10.0 + dose) * g
                rows.append({"study": f"S{s}", "dose": dose, "week": t, "n": 100,
                             "cfb": mean + rng.normal(0.0, 0.2), "se": 0.2})
    return bd.ArmData.from_frame(pd.DataFrame(rows), study="study", dose="dose", time="week",
                                 mean="cfb", se="se", n="n")


def test_a_small_fit_reads_out_every_population():
    fit = bd.ArmModel().fit(simulated_studies(), draws=300, tune=300, chains=2,
                            random_seed=2)
    pooled = fit.effect(dose=50.0).iloc[0]
    new = fit.effect(dose=50.0, study="new").iloc[0]
    assert pooled["ci_low"] <= 1.0 <= pooled["ci_high"], pooled
    assert new["ci_high"] - new["ci_low"] > pooled["ci_high"] - pooled["ci_low"]
    assert fit.effect(dose=50.0, study="new")["mean"].iloc[0] == new["mean"]
    ed50 = fit.effective_dose().iloc[0]
    assert ed50["ci_low"] <= 10.0 <= ed50["ci_high"], ed50
    med = fit.minimum_effective_dose(mcid=0.3, prob=0.8).iloc[0]
    assert med["found"] and 0 < med["med"] <= 50.0
