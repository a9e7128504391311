"""Baselines as they come: the change analysis, the constrained longitudinal analysis (cLDA)
for missing or absent baselines, and one-visit parallel-group data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.components.inputs import lacking_baselines, observed_rows
from bayesdose.errors import DataError, SpecError
from bayesdose.inference.compiled import design_key

DOSES = (1.0, 10.0, 50.0)
VISITS = (0.0, 3.0, 6.0, 12.0)
SD, PATIENT_SD, BASE = 6.0, 8.0, 50.0
#: True mean change at the lowest dose (the common course) at visits 3, 6 and 12.
COURSE = {3.0: -2.0, 6.0: -3.0, 12.0: -4.0}
#: True dose effect against the lowest dose at each visit: the top dose's is 12 at 12.
EFFECT = {1.0: {3.0: 0.0, 6.0: 0.0, 12.0: 0.0},
          10.0: {3.0: 2.0, 6.0: 3.5, 12.0: 4.0},
          50.0: {3.0: 6.0, 6.0: 10.0, 12.0: 12.0}}


def simulate(seed: int, per_arm: int = 20, missing_share: float = 0.3,
             visits: tuple[float, ...] = VISITS) -> pd.DataFrame:
    """A trial whose levels are a patient effect plus the course, the dose effect and
    noise; ``missing_share`` of the patients lose their baseline row (at random)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arm, dose in enumerate(DOSES):
        for i in range(per_arm):
            patient = f"d{arm}p{i}"
            u = rng.normal(0.0, PATIENT_SD)
            for t in visits:
                mean = BASE + u + (0.0 if t == 0 else COURSE[t] + EFFECT[dose][t])
                rows.append((patient, dose, t, mean + rng.normal(0.0, SD)))
    frame = pd.DataFrame(rows, columns=["patient", "dose", "time", "score"])
    patients = frame["patient"].unique()
    lose = rng.choice(patients, size=round(missing_share * len(patients)), replace=False)
    drop = frame["patient"].isin(lose) & (frame["time"] == visits[0])
    return frame[~drop].reset_index(drop=True)


def load(frame: pd.DataFrame, **kwargs) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcomes=["score"], **kwargs)


# ---------------------------------------------------------------- which analysis, and why
def test_auto_is_the_change_analysis_when_every_baseline_is_there():
    data = load(simulate(1, per_arm=4, missing_share=0.0))
    inputs = bd.DoseResponseModel().inputs(data)
    assert inputs.analysis == "change" and not inputs.is_baseline.any()
    assert len(lacking_baselines(data)) == 0


def test_auto_is_the_constrained_analysis_when_a_baseline_is_missing():
    frame = simulate(1, per_arm=4, missing_share=0.25)
    data = load(frame)
    lacking = lacking_baselines(data)
    assert len(lacking) == 3  # 0.25 of 12 patients
    inputs = bd.DoseResponseModel().inputs(data)
    assert inputs.analysis == "clda"
    # every observed value is a response, baselines included, none dropped or doubled
    assert len(inputs.response) == len(frame)
    assert int(inputs.is_baseline.sum()) == int((frame["time"] == 0).sum())
    np.testing.assert_allclose(np.sort(inputs.response), np.sort(frame["score"]))
    # baseline rows sit at elapsed 0; the mean is centred on the observed baseline mean
    assert np.all(inputs.elapsed[inputs.is_baseline] == 0)
    assert inputs.offset[0] == pytest.approx(frame.loc[frame["time"] == 0, "score"].mean())
    assert np.all(inputs.baseline_std == 0)


def test_the_change_analysis_names_patients_without_a_baseline():
    data = load(simulate(1, per_arm=4, missing_share=0.25))
    with pytest.raises(DataError, match=r"no baseline value .*patient 'd\d+p\d+' outcome "
                                        r"'score' \(rows .*analysis=\"clda\""):
        bd.DoseResponseModel(analysis="change").inputs(data)


def test_unknown_analysis_is_refused_by_name():
    with pytest.raises(SpecError, match=r"analysis 'ancova' is not one of auto, change, clda"):
        bd.DoseResponseModel(analysis="ancova")
    with pytest.raises(SpecError, match=r"model.analysis must be \"auto\", \"change\" or "
                                        r"\"clda\" \(got 'cLDA'\)"):
        bd.ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
                                "model": {"analysis": "cLDA"}})


def test_ordinal_outcomes_need_the_change_analysis():
    frame = simulate(1, per_arm=4, missing_share=0.25)
    frame["score"] = np.clip(np.round(frame["score"] / 20), 0, 4)
    data = load(frame, outcome_info={"score": {"likelihood": "ordinal"}})
    with pytest.raises(SpecError, match=r"ordinal outcome\(s\) 'score' need the change-"
                                        r"from-baseline analysis.*some baselines are missing"):
        bd.DoseResponseModel().inputs(data)


def test_constrained_parameters_replace_the_baseline_slope():
    data = load(simulate(1, per_arm=4, missing_share=0.25))
    names = bd.DoseResponseModel().prior_table(data)["parameter"].tolist()
    assert "baseline_mean" in names and "beta_baseline" not in names
    complete = load(simulate(1, per_arm=4, missing_share=0.0))
    names = bd.DoseResponseModel().prior_table(complete)["parameter"].tolist()
    assert "beta_baseline" in names and "baseline_mean" not in names


def test_forced_clda_on_complete_data_and_its_design_key():
    data = load(simulate(1, per_arm=4, missing_share=0.0))
    auto, clda = bd.DoseResponseModel(), bd.DoseResponseModel(analysis="clda")
    assert clda.inputs(data).analysis == "clda"
    assert design_key(auto, auto.inputs(data)) != design_key(clda, clda.inputs(data))
    config = clda.config()
    assert config["analysis"] == "clda" and "analysis" not in auto.config()
    assert bd.DoseResponseModel.from_config(config).analysis == "clda"


def test_data_without_any_baseline_need_an_earlier_baseline_time():
    one = simulate(1, per_arm=4, missing_share=0.0)
    one = one[one["time"] == 12].reset_index(drop=True)
    with pytest.raises(DataError, match=r"no post-baseline values"):
        bd.DoseResponseModel().inputs(load(one))  # the only time is taken as the baseline
    with pytest.raises(DataError, match=r"baseline_time 13 does not occur in column 'time'.*"
                                        r"a time before all of them"):
        load(one, baseline_time=13)
    data = load(one, baseline_time=0)
    inputs = bd.DoseResponseModel().inputs(data)
    assert inputs.analysis == "clda" and not inputs.has_baseline_rows
    assert len(inputs.response) == len(one)
    names = bd.DoseResponseModel().prior_table(data)["parameter"].tolist()
    assert "baseline_mean" not in names and "beta_baseline" not in names


def test_observed_rows_keep_every_value_once():
    frame = simulate(3, per_arm=3, missing_share=0.3)
    data = load(frame)
    change, clda = observed_rows(data, "change"), observed_rows(data, "clda")
    assert len(clda) == len(frame)
    assert clda["is_baseline"].sum() == (frame["time"] == 0).sum()
    post = frame[frame["time"] > 0]
    assert len(change) == len(post)
    lost = set(frame["patient"]) - set(frame.loc[frame["time"] == 0, "patient"])
    assert set(change.loc[change["change"].isna(), "patient"]) == lost


# ---------------------------------------------------------------- recovery from the truth
def _covers(fit: bd.DoseResponseFit, dose: float, time: float, truth: float,
            prob: float = 0.9) -> tuple[bool, float]:
    row = fit.contrast(dose=dose, reference=1.0, time=time, ci_prob=prob).iloc[0]
    return bool(row["ci_low"] <= truth <= row["ci_high"]), float(row["mean"])


@pytest.mark.slow
def test_clda_recovers_the_dose_effect_with_30_percent_of_baselines_missing():
    frame = simulate(2024, per_arm=20, missing_share=0.3)
    data = load(frame)
    model = bd.DoseResponseModel(dose_shape="free", time_shape="free")
    fit = model.fit(data, draws=400, tune=400, chains=2, random_seed=7, progressbar=False)
    assert fit.inputs.analysis == "clda"
    for dose, time in [(50.0, 12.0), (50.0, 3.0)]:
        covered, mean = _covers(fit, dose, time, EFFECT[dose][time])
        assert covered, (dose, time, mean)
        assert abs(mean - EFFECT[dose][time]) < 4.0
    summary = fit.parameter_summary(ci_prob=0.9).set_index("parameter")
    sd_hat = fit.inputs.scales.sd[0]
    sigma = summary.loc["sigma[score]"]
    assert sigma["eti90_lb"] * sd_hat <= SD <= sigma["eti90_ub"] * sd_hat


@pytest.mark.slow
def test_clda_and_change_agree_when_every_baseline_is_there():
    """On complete data the two analyses estimate the same contrasts (both condition on
    the baselines, one through the covariate, one through the patient effects)."""
    data = load(simulate(2024, per_arm=20, missing_share=0.0))
    means = {}
    for analysis in ("change", "clda"):
        model = bd.DoseResponseModel(dose_shape="free", time_shape="free", analysis=analysis)
        fit = model.fit(data, draws=400, tune=400, chains=2, random_seed=7,
                        progressbar=False)
        means[analysis] = fit.contrast(dose=[10.0, 50.0], reference=1.0, time=12.0)["mean"]
    np.testing.assert_allclose(means["clda"], means["change"], atol=0.5)


@pytest.mark.slow
def test_clda_intervals_cover_at_their_nominal_rate_with_missing_baselines():
    """20 trials with 30% of baselines missing: the 90% interval of the top-dose contrast
    at the last visit covers the truth in at least 15 (a binomial(20, 0.9) count falls
    below 15 with probability 0.011)."""
    covered = 0
    model = bd.DoseResponseModel(dose_shape="free", time_shape="free")
    for seed in range(20):
        data = load(simulate(100 + seed, per_arm=12, missing_share=0.3))
        fit = model.fit(data, draws=300, tune=300, chains=2, random_seed=seed,
                        progressbar=False)
        covered += _covers(fit, 50.0, 12.0, EFFECT[50.0][12.0])[0]
    assert covered >= 15, covered


@pytest.mark.slow
def test_one_visit_parallel_group_data_fit_directly():
    """No baseline, one value per patient: the levels are modelled directly and the dose
    contrasts are those of the arm means."""
    rng = np.random.default_rng(5)
    means = {0.0: 10.0, 1.0: 12.0, 4.0: 15.0}
    rows = [(f"p{d:g}_{i}", d, 1.0, means[d] + rng.normal(0, 3.0))
            for d in means for i in range(40)]
    frame = pd.DataFrame(rows, columns=["patient", "dose", "time", "score"])
    data = load(frame, baseline_time=0)
    model = bd.DoseResponseModel(dose_shape="free", time_shape="free", patient_effects=False)
    fit = model.fit(data, draws=400, tune=400, chains=2, random_seed=3, progressbar=False)
    arm = frame.groupby("dose")["score"].mean()
    contrast = fit.contrast(dose=[1.0, 4.0], reference=0.0, time=1.0, ci_prob=0.9)
    for _, row in contrast.iterrows():
        observed = arm[row["dose"]] - arm[0.0]
        # within one standard error (3 * sqrt(2 / 40) = 0.67) of the difference in arm
        # means: the Normal(0, 1) prior (about 3 points) shrinks it by about 5%
        assert row["mean"] == pytest.approx(observed, abs=0.67)
        assert row["ci_low"] <= means[row["dose"]] - means[0.0] <= row["ci_high"]


def test_observed_means_match_what_expected_change_describes():
    """In the constrained analysis the observed means are levels minus the centre at the
    nominal visits (baseline rows left out), the counterpart of expected_change."""
    frame = simulate(9, per_arm=6, missing_share=0.3)
    data = load(frame)
    model = bd.DoseResponseModel(dose_shape="free", time_shape="free")
    inputs = model.inputs(data)
    prior = model.sample_prior_predictive(data, draws=20)
    draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    fit = bd.DoseResponseFit(model, data, draws)
    means = fit.observed_means()
    assert sorted(means["time"].unique()) == [3.0, 6.0, 12.0]
    centre = frame.loc[frame["time"] == 0, "score"].mean()
    at = frame[(frame["time"] == 12) & (frame["dose"] == 50)]["score"].mean() - centre
    row = means[(means["time"] == 12) & (means["dose"] == 50)].iloc[0]
    assert row["mean"] == pytest.approx(at)
    assert inputs.offset[0] == pytest.approx(centre)
