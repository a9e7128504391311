"""The scale SD every prior is stated in: the declared SD, else the pooled within-arm SD of
the change at the last visit, never the SD of the baselines; prior-data conflict in the
diagnostics; a warning for times that are not visits."""

from __future__ import annotations

import copy
import math
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.components.inputs import prepare_inputs
from bayesdose.components.likelihoods import pooled_change_sd
from bayesdose.design.designs import Design
from bayesdose.design.simulation import ReplicateAnalysis, simulated_trial
from bayesdose.errors import DataError, SpecError
from bayesdose.model.spec import ModelSpec

DESIGN_FILE = Path(__file__).parents[1] / "models" / "msc_phase2_design.toml"
KW = {"patient": "subject", "dose": "dose_mg", "time": "week", "outcome": "endpoint",
      "value": "score"}


def koos_pain(msc: bd.TrialData, compress: float = 1.0, sd: float | None = None
              ) -> bd.TrialData:
    """KOOS pain of the example, its baselines pulled towards their mean by ``compress``
    with every change from baseline kept, and its declared SD replaced by ``sd``."""
    frame = msc.select(["koos_pain"]).to_frame()
    base = frame[frame["month"] == 0].set_index("patient")["value"]
    moved = base.mean() + (base - base.mean()) / compress
    frame["value"] = frame["value"] - frame["patient"].map(base) + frame["patient"].map(moved)
    info = {**msc.info("koos_pain").to_dict(), "sd": sd}
    info.pop("name")
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="month",
                                   outcome="outcome", value="value",
                                   outcome_info={"koos_pain": info})


def as_fit(model: bd.DoseResponseModel, data: bd.TrialData, posterior: xr.Dataset,
           prior: xr.Dataset | None = None) -> bd.DoseResponseFit:
    groups = {"posterior": posterior} if prior is None else {"posterior": posterior,
                                                              "prior": prior}
    return bd.DoseResponseFit(model, data, xr.DataTree.from_dict(groups))


# ---------------------------------------------------------------- the scale rule
@pytest.mark.parametrize("sd", [None, 12.0])
def test_compressing_the_baselines_moves_neither_the_scale_nor_the_readouts(msc, sd):
    """Eligibility narrows the baselines, not the changes: the same changes with baselines
    four times less spread give the same scale, the same prior in points and the same
    read-outs from the same standardised draws."""
    wide, narrow = koos_pain(msc, 1.0, sd), koos_pain(msc, 4.0, sd)
    assert narrow.baselines["baseline"].std() == pytest.approx(
        wide.baselines["baseline"].std() / 4)
    scales = [prepare_inputs(d).scales for d in (wide, narrow)]
    assert scales[0].sd[0] == scales[1].sd[0]
    assert scales[0].sd_source == scales[1].sd_source
    model = bd.DoseResponseModel()
    prior = [model.sample_prior_predictive(d, draws=200, random_seed=3)["prior"]
             for d in (wide, narrow)]
    np.testing.assert_allclose(prior[0]["effect"], prior[1]["effect"], rtol=1e-12)
    draws = prior[0].to_dataset()
    contrast = [as_fit(model, d, draws).contrast(dose=[10, 50], reference=1, time=12)
                for d in (wide, narrow)]
    pd.testing.assert_frame_equal(contrast[0], contrast[1])
    assert contrast[0]["sd"].min() > 0


def test_the_declared_sd_sets_the_scale_and_the_prior_in_outcome_units(msc):
    data = koos_pain(msc, sd=7.5)
    inputs = prepare_inputs(data)
    assert inputs.scales.sd[0] == 7.5 and inputs.scales.sd_source == ["declared sd"]
    assert inputs.scales.table(["koos_pain"])["unit"].tolist() == ["points"]
    model = bd.DoseResponseModel()
    row = model.prior_table(data).set_index("parameter").loc["scale_sd[koos_pain]"]
    assert row["prior"] == "fixed: 7.5 points" and not row["default"]
    assert row["reason"].startswith("declared sd")
    prior = model.sample_prior_predictive(data, draws=100, random_seed=1)["prior"]
    other = model.sample_prior_predictive(koos_pain(msc, sd=15.0), draws=100,
                                          random_seed=1)["prior"]
    np.testing.assert_allclose(other["effect"] / 15.0, prior["effect"] / 7.5, rtol=1e-12)
    # the baseline covariate is standardised by the same SD
    centred = data.baselines["baseline"] - data.baselines["baseline"].mean()
    np.testing.assert_allclose(np.unique(np.round(inputs.baseline_std, 12)),
                               np.unique(np.round(centred / 7.5, 12)))


def test_the_example_declares_its_generating_sds(msc):
    inputs = bd.DoseResponseModel().inputs(msc)
    table = inputs.scales.table(inputs.outcomes).set_index("outcome")
    truth = bd.datasets.load_msc_truth()["outcomes"]
    for name in inputs.outcomes:
        if name == "mri_synovitis":
            assert table.loc[name, "sd"] == 1.0
            assert table.loc[name, "sd_source"] == "latent logit"
        else:
            assert table.loc[name, "sd"] == truth[name]["baseline_sd"], name
            assert table.loc[name, "sd_source"].startswith("declared sd"), name
    assert table.loc["sf_il6", "unit"] == "log(pg/mL)"
    assert table.loc["sf_il6", "sd_source"] == "declared sd (of log values)"


def hand_trial(last_of_p4: float | None = 16.0) -> bd.TrialData:
    """Two arms of two patients, baselines far apart, visits 4 and 12."""
    change = {"p1": (1.0, 2.0), "p2": (3.0, 6.0), "p3": (10.0, 20.0), "p4": (14.0, 16.0)}
    baseline = {"p1": 10.0, "p2": 90.0, "p3": 40.0, "p4": 60.0}
    rows = []
    for patient, (at4, at12) in change.items():
        dose = 1 if patient in ("p1", "p2") else 10
        b = baseline[patient]
        last = at12 if patient != "p4" else last_of_p4
        rows += [(patient, dose, 0, "pain", b), (patient, dose, 4, "pain", b + at4),
                 (patient, dose, 12, "pain", None if last is None else b + last)]
    frame = pd.DataFrame(rows, columns=["subject", "dose_mg", "week", "endpoint", "score"])
    return bd.TrialData.from_frame(frame, **KW)


def test_fallback_is_the_pooled_within_arm_sd_of_the_change_at_the_last_visit():
    # week 12: arm 1 changes 2 and 6 (deviations -+2), arm 10 changes 20 and 16 (+-2):
    # sqrt((4 + 4 + 4 + 4) / (4 - 2)) = sqrt(8); the baselines (SD about 33) play no part
    scales = prepare_inputs(hand_trial()).scales
    assert scales.sd[0] == pytest.approx(math.sqrt(8.0), rel=1e-12)
    assert scales.sd_source == ["pooled within-arm SD of the change at time 12 (n=4, 2 arms)"]


def test_with_one_value_in_an_arm_at_the_last_visit_it_pools_over_all_visits():
    # p4 misses week 12: arm 10 has one value there. Cells (arm, week): (1, 4) 1 and 3,
    # (1, 12) 2 and 6, (10, 4) 10 and 14, (10, 12) 20 alone: squared deviations
    # 1+1 + 4+4 + 4+4 + 0 = 18 on 7 - 4 = 3 degrees of freedom
    scales = prepare_inputs(hand_trial(last_of_p4=None)).scales
    assert scales.sd[0] == pytest.approx(math.sqrt(6.0), rel=1e-12)
    assert scales.sd_source[0].startswith("pooled within-arm-and-visit SD of the change "
                                          "over all visits (n=7, 2 arms, 2 visits; arm(s) 10")
    sd, source = pooled_change_sd(np.array([1.0, 5.0]), np.array([1, 10]), np.array([4, 4]))
    assert sd == pytest.approx(np.std([1.0, 5.0], ddof=1))
    assert source.startswith("SD of all 2 change values")


def test_the_lognormal_fallback_uses_the_log_change():
    data = hand_trial()
    inputs = prepare_inputs(data, likelihood="lognormal")
    changes = data.changes
    last = changes[changes["time"] == 12]
    log_change = np.log(last["value"] / last["baseline"]).to_numpy()
    arm = last["dose"].to_numpy()
    dev = np.concatenate([log_change[arm == a] - log_change[arm == a].mean() for a in (1, 10)])
    assert inputs.scales.sd[0] == pytest.approx(np.sqrt(np.sum(dev**2) / 2), rel=1e-12)
    assert inputs.scales.sd_source[0].startswith("pooled within-arm SD of the log change")


def test_an_ordinal_outcome_keeps_the_logit_scale_and_says_a_declared_sd_is_unused(frame):
    frame["score"] = (frame["score"] // 10) % 4
    info = {"pain": {"sd": 0.8}}
    inputs = prepare_inputs(bd.TrialData.from_frame(frame, **KW, outcome_info=info),
                            likelihood="ordinal")
    assert inputs.scales.sd[0] == 1.0
    assert "declared sd 0.8 is not used" in inputs.scales.sd_source[0]


# ---------------------------------------------------------------- bad sd metadata
@pytest.mark.parametrize(("value", "needle"), [
    (-3.0, r"outcome 'pain': sd must be a positive, finite number"),
    (0.0, r"outcome 'pain': sd must be a positive, finite number"),
    (math.inf, r"outcome 'pain': sd must be a positive, finite number"),
    ("ten", r"outcome 'pain': sd must be a number \(got 'ten'\)"),
    (True, r"outcome 'pain': sd must be a number"),
])
def test_bad_sd_metadata_names_the_outcome_and_the_field(frame, value, needle):
    with pytest.raises(DataError, match=needle):
        bd.TrialData.from_frame(frame, **KW, outcome_info={"pain": {"sd": value}})


def test_an_sd_on_a_declared_ordinal_outcome_is_refused(frame):
    with pytest.raises(DataError, match=r"outcome 'pain': sd is given .* ordinal"):
        bd.OutcomeInfo("pain", likelihood="ordinal", sd=1.0)


def test_a_metadata_table_and_a_model_file_declare_sd(tmp_path, frame):
    meta = pd.DataFrame({"outcome": ["pain"], "direction": ["higher_is_better"],
                         "sd": [9.0]}).set_index("outcome")
    info = {name: {k: row[k] for k in ("direction", "sd")} for name, row in meta.iterrows()}
    data = bd.TrialData.from_frame(frame, **KW, outcome_info=info)
    assert data.info("pain").sd == 9.0
    frame.to_csv(tmp_path / "trial.csv", index=False)
    text = ('[data]\nsource = "trial.csv"\npatient = "subject"\ndose = "dose_mg"\n'
            'time = "week"\noutcome = "endpoint"\nvalue = "score"\n'
            '[outcomes.pain]\nsd = {sd}\n')
    (tmp_path / "good.toml").write_text(text.format(sd=9))
    loaded = ModelSpec.from_toml(tmp_path / "good.toml").load_data()
    assert loaded.info("pain").sd == 9
    assert prepare_inputs(loaded).scales.sd_source == ["declared sd"]
    (tmp_path / "bad.toml").write_text(text.format(sd=-2))
    with pytest.raises(SpecError, match=r"outcomes\.pain.*sd must be a positive"):
        ModelSpec.from_toml(tmp_path / "bad.toml")


# ---------------------------------------------------------------- design simulation
def test_the_simulators_analysis_inputs_are_prepare_inputs_of_the_simulated_trial():
    raw = tomllib.loads(DESIGN_FILE.read_text())
    raw = copy.deepcopy(raw)
    design = Design.from_dict(raw)
    analysis = ReplicateAnalysis(design, design.arms[0], sampler="pymc")
    arrays, sim = analysis.simulate(11)
    assert sim.data.info(design.outcome).sd == design.sd
    inputs = analysis.model.inputs(sim.data)
    assert inputs.scales.sd.tolist() == analysis.inputs.scales.sd.tolist() == [design.sd]
    assert inputs.scales.sd_source == ["declared sd"]
    np.testing.assert_array_equal(arrays["response"], inputs.response)
    np.testing.assert_array_equal(arrays["baseline_std"], inputs.baseline_std)
    again = simulated_trial(design, design.arms[0], seed=5).data
    assert prepare_inputs(again).scales.sd[0] == design.sd


# ---------------------------------------------------------------- prior-data conflict
@pytest.fixture(scope="module")
def prior_draws(msc):
    data = msc.select(["koos_pain"])
    model = bd.DoseResponseModel()
    prior = model.sample_prior_predictive(data, draws=500, random_seed=1)["prior"]
    other = model.sample_prior_predictive(data, draws=500, random_seed=2)["prior"]
    return model, data, prior.to_dataset(), other.to_dataset()


def test_a_posterior_far_out_of_its_prior_is_a_flagged_conflict(prior_draws):
    model, data, prior, other = prior_draws
    posterior = other.copy()
    posterior["delta"] = posterior["delta"] * 0.05 + 6.0  # 6 SDs of its Normal(0, 1) prior
    diag = as_fit(model, data, posterior, prior).diagnostics()
    table = diag.prior_conflict.set_index("parameter")
    assert table.loc["delta[koos_pain]", "conflict"]
    assert table.loc["delta[koos_pain]", "side"] == "above"
    assert table.loc["delta[koos_pain]", "prior_tail"] == 0.0
    assert table["conflict"].sum() == 1  # nothing else moved
    row = diag.table.set_index("check").loc["prior_conflict"]
    assert not row["passed"] and not row["verdict"]  # a warning, not a sampling failure
    assert "delta[koos_pain]" in row["worst"] and "< 1/500" in row["worst"]
    assert "declared sd" in row["advice"]
    text = repr(diag)
    assert "prior-data conflict for delta[koos_pain]" in text and "[warn] prior_conflict" in text
    sampling = diag.table[diag.table["verdict"]]
    assert diag.ok == bool(sampling["passed"].all())


def test_a_posterior_like_its_prior_is_no_conflict(prior_draws):
    model, data, prior, other = prior_draws
    diag = as_fit(model, data, other, prior).diagnostics()
    assert not diag.prior_conflict["conflict"].any()
    assert {"delta[koos_pain]", "log_ed50[koos_pain]", "sigma[koos_pain]",
            "beta_baseline[koos_pain]"} <= set(diag.prior_conflict["parameter"])
    row = diag.table.set_index("check").loc["prior_conflict"]
    assert row["passed"] and row["advice"] == ""
    assert "conflict" not in repr(diag).splitlines()[0]


def test_without_prior_draws_the_conflict_check_is_not_computable(prior_draws):
    model, data, _, other = prior_draws
    diag = as_fit(model, data, other).diagnostics()
    row = diag.table.set_index("check").loc["prior_conflict"]
    assert row["passed"] and row["worst"].startswith("not computable")
    assert diag.prior_conflict.empty


# ---------------------------------------------------------------- times that are not visits
def test_times_that_differ_by_patient_are_warned_about(frame):
    frame = frame.copy()
    post = frame["week"] > 0
    frame.loc[post, "week"] = frame.loc[post, "week"] * 7 + np.arange(post.sum()) % 5
    data = bd.TrialData.from_frame(frame, **KW)
    with pytest.warns(UserWarning, match=r"outcome 'pain' has 10 distinct post-baseline "
                                         r"times but no patient has more than 2 \(for "
                                         r"example patient 'p0' at"):
        prepare_inputs(data)


def test_scheduled_visits_with_a_missed_one_are_not_warned_about(msc):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        prepare_inputs(msc)
