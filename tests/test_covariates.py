"""Patient-level covariates: declaring and checking them, their design matrix, the model
term ``beta_covariate`` and its recovery from a simulated trial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import FAST
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.components.inputs import CovariateCoding, prepare_inputs
from bayesdose.data.trial import patient_covariates
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.inference.compiled import design_key
from bayesdose.results.storage import covariates_from_config, covariates_to_config


def small_frame() -> pd.DataFrame:
    """Four patients in two arms, wide, baseline and one visit, with two covariates."""
    return pd.DataFrame({
        "id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "mg": [1, 1, 1, 1, 5, 5, 5, 5],
        "wk": [0, 4] * 4,
        "pain": [50.0, 45.0, 52.0, 40.0, 48.0, 30.0, 55.0, 33.0],
        "sex": ["F", "F", "M", "M", "M", "M", "F", "F"],
        "age": [40, 40, 50, 50, 60, 60, 70, 70],
    })


def build(frame: pd.DataFrame, covariates: list[str]) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                   outcomes=["pain"], covariates=covariates)


# ---------------------------------------------------------------------- bad input
def test_unknown_covariate_column_is_named():
    with pytest.raises(DataError, match=r"covariate column\(s\) 'sx' not found.*'sex'"):
        build(small_frame(), ["sx"])


def test_covariate_that_varies_within_a_patient_names_patient_and_values():
    frame = small_frame()
    frame.loc[3, "sex"] = "F"
    with pytest.raises(DataError) as info:
        build(frame, ["sex"])
    message = str(info.value)
    assert "covariate 'sex'" in message and "patient 'b'" in message
    assert "'M', 'F'" in message and "rows 2, 3" in message


def test_missing_covariate_names_patient_rows_and_says_impute_or_drop():
    frame = small_frame().astype({"age": float})
    frame.loc[[4, 5], "age"] = np.nan
    with pytest.raises(DataError) as info:
        build(frame, ["age"])
    message = str(info.value)
    assert "covariate 'age' is missing for patient 'c' (rows 4, 5)" in message
    assert "impute" in message and "remove those patients' rows" in message


def test_missing_covariate_in_a_csv_names_the_lines(tmp_path):
    path = tmp_path / "trial.csv"
    small_frame().assign(sex=["F", "F", "M", "", "M", "M", "F", "F"]).to_csv(path,
                                                                              index=False)
    with pytest.raises(DataError, match=r"covariate 'sex' is missing for patient 'b' "
                                         r"\(line 5\)"):
        bd.TrialData.from_csv(path, patient="id", dose="mg", time="wk", outcomes=["pain"],
                              covariates=["sex"])


def test_single_level_categorical_covariate_is_refused():
    with pytest.raises(DataError, match=r"categorical covariate 'sex' has a single level "
                                        r"\('F'\).*Remove it"):
        build(small_frame().assign(sex="F"), ["sex"])


def test_constant_numeric_covariate_is_refused():
    with pytest.raises(DataError, match=r"numeric covariate 'age' has the same value \(40\)"):
        build(small_frame().assign(age=40), ["age"])


@pytest.mark.parametrize("covariates, match", [
    ("sex", r"covariates= must be a list"),
    (["sex", "sex"], r"more than once"),
    (["mg"], r"'mg' is given both as dose= and in covariates="),
])
def test_bad_covariate_argument(covariates, match):
    with pytest.raises(DataError, match=match):
        build(small_frame(), covariates)


# ---------------------------------------------------------------------- declared kinds
def coded_frame() -> pd.DataFrame:
    """The small trial with sex coded 1/2 and a Kellgren-Lawrence grade 2/3/4."""
    return small_frame().assign(gender=[1, 1, 2, 2, 2, 2, 1, 1],
                                kl=[2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 2.0, 2.0])


def test_a_list_keeps_the_automatic_rule_numbers_are_numeric():
    data = build(coded_frame(), ["gender"])
    assert data.covariate_kinds == {"gender": "numeric"}
    assert data.covariates["gender"].dtype == float


def test_numbers_declared_categorical_become_readable_labels():
    data = bd.TrialData.from_frame(coded_frame(), patient="id", dose="mg", time="wk",
                                   outcomes=["pain"],
                                   covariates={"gender": "categorical", "kl": "categorical",
                                               "age": "numeric"})
    assert data.covariate_kinds == {"gender": "categorical", "kl": "categorical",
                                    "age": "numeric"}
    assert data.covariates["gender"].tolist() == ["1", "2", "2", "1"]
    assert data.covariates["kl"].tolist() == ["2", "3", "4", "2"]  # no "2.0"
    inputs = prepare_inputs(data)
    assert inputs.covariate_names == ["gender[2]", "kl[3]", "kl[4]", "age"]
    assert inputs.covariate_coding.reference == {"gender": "1", "kl": "2"}


def test_categorical_labels_agree_for_numbers_and_their_text(tmp_path):
    frame = coded_frame().astype({"gender": object})
    frame["gender"] = [1.0, "1", 2, " 2 ", "2.0", 2.0, "1.0", 1]
    with pytest.warns(UserWarning, match="read as one level"):
        data = bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                       outcomes=["pain"],
                                       covariates={"gender": "categorical"})
    assert data.covariates["gender"].tolist() == ["1", "2", "2", "1"]
    path = tmp_path / "trial.csv"
    coded_frame().assign(kl=[2.0, 2.0, 3.5, 3.5, 4.0, 4.0, 2.0, 2.0]).to_csv(path,
                                                                             index=False)
    from_csv = bd.TrialData.from_csv(path, patient="id", dose="mg", time="wk",
                                     outcomes=["pain"],
                                     covariates={"gender": "categorical",
                                                 "kl": "categorical"})
    assert from_csv.covariates["gender"].tolist() == ["1", "2", "2", "1"]
    assert from_csv.covariates["kl"].tolist() == ["2", "3.5", "4", "2"]


def test_coding_reads_new_numbers_as_the_labels_of_a_categorical():
    data = bd.TrialData.from_frame(coded_frame(), patient="id", dose="mg", time="wk",
                                   outcomes=["pain"], covariates={"gender": "categorical"})
    coding = CovariateCoding.from_table(data.covariates)
    np.testing.assert_allclose(coding.encode(pd.DataFrame({"gender": [2, 1.0, "2"]})),
                               [[0.5], [-0.5], [0.5]])
    with pytest.raises(DataError, match=r"level\(s\) \['3'\]"):
        coding.encode(pd.DataFrame({"gender": [3.0]}))


def test_text_declared_numeric_names_the_column_rows_and_value():
    frame = coded_frame().astype({"age": object})
    frame.loc[[2, 3], "age"] = "fifty"
    with pytest.raises(DataError) as info:
        bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                outcomes=["pain"], covariates={"age": "numeric"})
    message = str(info.value)
    assert "covariate 'age' is declared numeric" in message
    assert "rows 2, 3" in message and "'fifty'" in message


def test_numeric_text_declared_numeric_is_read_as_numbers(tmp_path):
    path = tmp_path / "trial.csv"
    coded_frame().to_csv(path, index=False)
    data = bd.TrialData.from_csv(path, patient="id", dose="mg", time="wk",
                                 outcomes=["pain"], covariates={"age": "numeric"})
    assert data.covariates["age"].tolist() == [40.0, 50.0, 60.0, 70.0]


@pytest.mark.parametrize("kind", ["cat", "Numeric", None, 1])
def test_unknown_kind_lists_the_allowed_kinds(kind):
    with pytest.raises(DataError, match=r"unknown kind .* for column 'gender'; the kinds "
                                        r"are 'numeric' and 'categorical'"):
        bd.TrialData.from_frame(coded_frame(), patient="id", dose="mg", time="wk",
                                outcomes=["pain"], covariates={"gender": kind})


def test_a_mapping_is_checked_like_a_list():
    with pytest.raises(DataError, match=r"covariate column\(s\) 'sx' not found"):
        build(small_frame(), {"sx": "categorical"})
    with pytest.raises(DataError, match=r"'mg' is given both as dose= and in covariates="):
        build(small_frame(), {"mg": "numeric"})


def test_declared_kinds_survive_to_frame_and_the_stored_configuration():
    data = bd.TrialData.from_frame(coded_frame(), patient="id", dose="mg", time="wk",
                                   outcomes=["pain"],
                                   covariates={"kl": "categorical", "age": "numeric"})
    again = bd.TrialData.from_frame(data.to_frame(), patient="id", dose="mg", time="wk",
                                    outcome="outcome", value="value",
                                    covariates=data.covariate_kinds)
    pd.testing.assert_frame_equal(again.covariates, data.covariates)
    stored = covariates_to_config(data.covariates)
    assert [(c["name"], c["kind"]) for c in stored["columns"]] == [
        ("kl", "categorical"), ("age", "numeric")]
    assert stored["columns"][0]["values"] == ["2", "3", "4", "2"]
    back = covariates_from_config(stored)
    pd.testing.assert_frame_equal(back, data.covariates)
    assert prepare_inputs(bd.TrialData(table=data.table, columns=data.columns,
                                       baseline_time=data.baseline_time,
                                       outcome_info=data.outcome_info,
                                       covariates=back)).covariate_names == [
        "kl[3]", "kl[4]", "age"]


def test_stored_covariates_without_kinds_or_with_numeric_levels_still_load():
    stored = {"patients": ["a", "b"], "columns": [
        {"name": "age", "values": [40.0, 50]},
        {"name": "sex", "values": ["F", "M"]},
        {"name": "kl", "kind": "categorical", "values": [2.0, 3]}]}
    back = covariates_from_config(stored)
    assert back["age"].dtype == float and back["age"].tolist() == [40.0, 50.0]
    assert back["sex"].tolist() == ["F", "M"] and back["kl"].tolist() == ["2", "3"]
    with pytest.raises(DataError, match=r"unknown kind 'ordinal'"):
        covariates_from_config({"patients": ["a"], "columns": [
            {"name": "kl", "kind": "ordinal", "values": [2]}]})


def test_saved_fit_keeps_a_categorical_coded_as_numbers(tmp_path, msc, prior_sampler):
    frame = msc.select(["koos_pain"]).to_frame()
    patients = sorted(frame["patient"].unique())
    frame["gender"] = frame["patient"].map(dict(zip(patients, [1, 2] * (len(patients) // 2),
                                                    strict=True)))
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="month",
                                   outcome="outcome", value="value",
                                   outcome_info={"koos_pain": {"sd": 12.0}},
                                   covariates={"gender": "categorical"})
    fit = bd.DoseResponseModel(dose_shape="linear").fit(
        data, draws=20, tune=20, chains=1, random_seed=1, sampler="nutpie",
        progressbar=False, prior_draws=0)
    loaded = bd.load_fit(fit.save(tmp_path / "fit.nc"))
    assert loaded.data.covariate_kinds == {"gender": "categorical"}
    pd.testing.assert_frame_equal(loaded.data.covariates, data.covariates)
    assert loaded.inputs.covariate_names == ["gender[2]"]


# ---------------------------------------------------------------------- data
def test_covariates_are_kept_per_patient_through_select_and_to_frame():
    data = build(small_frame(), ["sex", "age"])
    assert data.covariates.index.tolist() == ["a", "b", "c", "d"]
    assert data.covariates["sex"].tolist() == ["F", "M", "M", "F"]
    assert data.covariates["age"].dtype == float
    assert data.select(["pain"]).covariates.equals(data.covariates)
    frame = data.to_frame()
    assert frame.columns.tolist()[-2:] == ["sex", "age"]
    again = bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                    outcome="outcome", value="value",
                                    covariates=["sex", "age"])
    assert again.covariates.equals(data.covariates)


def test_no_covariates_gives_an_empty_table_and_the_same_frame():
    data = build(small_frame(), [])
    assert data.covariates.shape == (4, 0)
    assert data.to_frame().columns.tolist() == ["id", "mg", "wk", "outcome", "value"]


def test_covariates_round_trip_through_the_stored_configuration():
    data = build(small_frame(), ["sex", "age"])
    back = covariates_from_config(covariates_to_config(data.covariates))
    pd.testing.assert_frame_equal(back, data.covariates)
    assert covariates_from_config(None) is None  # fits saved without covariates


# ---------------------------------------------------------------------- design matrix
def test_numeric_covariate_is_centred_and_scaled_over_patients():
    inputs = prepare_inputs(build(small_frame(), ["age"]))
    assert inputs.covariate_names == ["age"]
    ages = np.array([40.0, 50.0, 60.0, 70.0])
    expected = (ages - ages.mean()) / ages.std(ddof=1)
    np.testing.assert_allclose(inputs.covariate_std[:, 0], expected[inputs.patient_idx])
    assert inputs.covariate_coding.centre[0] == pytest.approx(55.0)
    assert inputs.covariate_coding.scale[0] == pytest.approx(ages.std(ddof=1))


def test_categorical_covariate_is_dummy_coded_against_the_first_sorted_level():
    frame = small_frame().assign(site=["s2"] * 2 + ["s1"] * 2 + ["s3"] * 4)
    inputs = prepare_inputs(build(frame, ["site", "sex"]))
    assert inputs.covariate_names == ["site[s2]", "site[s3]", "sex[M]"]
    assert inputs.covariate_coding.reference == {"site": "s1", "sex": "F"}
    per_patient = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]], dtype=float)
    shares = per_patient.mean(axis=0)  # 1/4, 1/2, 1/2
    np.testing.assert_allclose(inputs.covariate_coding.centre, shares)
    np.testing.assert_allclose(inputs.covariate_std,
                               (per_patient - shares)[inputs.patient_idx])
    # each column averages to zero over the trial's patients
    np.testing.assert_allclose((per_patient - shares).mean(axis=0), 0.0, atol=1e-12)


def test_coding_encodes_new_values_and_refuses_unknown_levels():
    coding = CovariateCoding.from_table(build(small_frame(), ["sex", "age"]).covariates)
    new = pd.DataFrame({"sex": ["M"], "age": [55.0]})
    np.testing.assert_allclose(coding.encode(new), [[0.5, 0.0]])
    with pytest.raises(DataError, match=r"covariate 'sex': level\(s\) \['X'\]"):
        coding.encode(pd.DataFrame({"sex": ["X"], "age": [55.0]}))


def test_no_covariates_means_zero_columns_and_the_same_parameters(msc):
    data = msc.select(["koos_pain"])
    inputs = prepare_inputs(data)
    assert inputs.covariate_std.shape == (len(inputs.response), 0)
    assert inputs.covariate_names == []
    model = bd.DoseResponseModel()
    names = [p.name for p in model.parameters(data)]
    assert names == ["delta", "log_ed50", "log_t_half", "course", "beta_baseline",
                     "patient_effect", "sigma"]
    assert "beta_covariate" not in model.build(data)[0].named_vars
    assert "covariate" not in model.build(data)[0].coords


def test_left_out_rows_leave_the_covariate_rows_with_them():
    inputs = prepare_inputs(build(small_frame(), ["age"]))
    fewer = inputs.without(np.array([0]))
    np.testing.assert_array_equal(fewer.covariate_std, inputs.covariate_std[1:])


# ---------------------------------------------------------------------- graph and model
def msc_with_covariates(msc) -> bd.TrialData:
    frame = msc.select(["koos_pain"]).to_frame()
    patients = sorted(frame["patient"].unique())
    sex = dict(zip(patients, ["F", "M"] * (len(patients) // 2), strict=True))
    age = dict(zip(patients, np.linspace(30, 70, len(patients)), strict=True))
    frame["sex"], frame["age"] = frame["patient"].map(sex), frame["patient"].map(age)
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="month",
                                   outcome="outcome", value="value",
                                   outcome_info={"koos_pain": {"sd": 12.0}},
                                   covariates=["age", "sex"])


def test_beta_covariate_is_a_parameter_with_a_default_prior_and_a_reason(msc):
    data = msc_with_covariates(msc)
    model = bd.DoseResponseModel()
    table = model.prior_table(data).set_index("parameter")
    row = table.loc["beta_covariate"]
    assert row["prior"] == 'Prior("Normal", mu=0, sigma=1)' and row["default"]
    assert "one trial SD" in row["reason"]
    pymc_model, _ = model.build(data)
    assert pymc_model.named_vars_to_dims["beta_covariate"] == ("outcome", "covariate")
    assert list(pymc_model.coords["covariate"]) == ["age", "sex[M]"]
    swappable = model.build_inputs(model.inputs(data), swappable=True)
    assert "beta_covariate" in swappable.named_vars


def test_beta_covariate_prior_can_be_overridden(msc):
    data = msc_with_covariates(msc)
    model = bd.DoseResponseModel(priors={"beta_covariate": Prior("Normal", mu=0,
                                                                 sigma=0.5)})
    row = model.prior_table(data).set_index("parameter").loc["beta_covariate"]
    assert not row["default"] and "sigma=0.5" in row["prior"]
    with pytest.raises(SpecError, match="no parameter named 'beta_covariate'"):
        model.prior_table(msc.select(["koos_pain"]))


def test_covariates_enter_the_mean_and_the_design_key(msc):
    data = msc_with_covariates(msc)
    model = bd.DoseResponseModel()
    inputs = model.inputs(data)
    pymc_model = model.build_inputs(inputs)
    point = pymc_model.initial_point()
    base = pymc_model.compile_logp(mode=FAST)(point)
    point["beta_covariate"] = np.array([[0.8, -0.6]])
    assert pymc_model.compile_logp(mode=FAST)(point) != base
    other = inputs.covariate_std.copy()
    other[:, 0] = -other[:, 0]
    flipped = type(inputs)(**{**inputs.__dict__, "covariate_std": other})
    assert design_key(model, inputs) != design_key(model, flipped)
    plain = model.inputs(msc.select(["koos_pain"]))
    assert design_key(model, plain) == design_key(bd.DoseResponseModel(), plain)


def test_model_file_passes_covariates_to_the_csv(tmp_path, msc):
    msc_with_covariates(msc).to_frame().to_csv(tmp_path / "trial.csv", index=False)
    spec = bd.ModelSpec.from_dict({"data": {"source": "trial.csv", "time": "month",
                                            "covariates": ["sex", "age"]}},
                                  base_dir=tmp_path)
    data = spec.load_data()
    assert data.covariate_names == ["sex", "age"]
    with pytest.raises(SpecError, match=r"data.covariates must be a list of distinct"):
        bd.ModelSpec.from_dict({"data": {"source": "trial.csv", "covariates": "sex"}})
    with pytest.raises(DataError, match=r"covariate column\(s\) 'sex' not found"):
        bd.ModelSpec.from_dict({"data": {"source": "embedded:msc_trial",
                                         "covariates": ["sex"]}}).load_data()


def test_model_file_declares_kinds_in_an_inline_table(tmp_path, msc):
    frame = msc.select(["koos_pain"]).to_frame()
    patients = sorted(frame["patient"].unique())
    frame["gender"] = frame["patient"].map(dict(zip(patients, [1, 2] * (len(patients) // 2),
                                                    strict=True)))
    frame.to_csv(tmp_path / "trial.csv", index=False)
    (tmp_path / "model.toml").write_text(
        '[data]\nsource = "trial.csv"\ntime = "month"\n'
        'covariates = {gender = "categorical"}\n', encoding="utf-8")
    spec = bd.ModelSpec.from_toml(tmp_path / "model.toml")
    assert spec.data["covariates"] == {"gender": "categorical"}
    data = spec.load_data()
    assert data.covariate_kinds == {"gender": "categorical"}
    assert sorted(data.covariates["gender"].unique()) == ["1", "2"]
    again = bd.ModelSpec.from_toml(spec.to_toml(tmp_path / "again.toml"))
    assert again.data["covariates"] == {"gender": "categorical"}
    for bad in ({"gender": "cat"}, {}, {"gender": 1}):
        with pytest.raises(SpecError, match=r"data.covariates must be a list of distinct "
                                            r"column names .* or a table of column = "
                                            r"\"numeric\" or \"categorical\""):
            bd.ModelSpec.from_dict({"data": {"source": "trial.csv", "covariates": bad}},
                                   base_dir=tmp_path)


# ---------------------------------------------------------------------- recovery
AGE_EFFECT, MALE_EFFECT, SD = 0.5, -0.4, 10.0


def simulated_trial_with_covariates(seed: int = 3):
    """3 doses x 20 patients, 3 visits; the change depends on age (0.5 outcome SDs per
    trial SD) and sex (-0.4 outcome SDs for M against F)."""
    sim = simulate_trial(doses=(1.0, 10.0, 50.0), n_per_arm=20, visits=(1.0, 3.0, 6.0),
                         shape_params={"delta": 1.0, "log_ed50": 0.0, "log_t_half": -1.5},
                         course=[0.2, 0.1, 0.0], sigma=0.4, patient_sd=0.3,
                         baseline_sd=SD, seed=seed)
    frame = sim.data.to_frame()
    rng = np.random.default_rng([seed, 1])  # a stream apart from the trial's
    patients = sim.data.patients
    age = pd.Series(rng.normal(55.0, 12.0, len(patients)).round(), index=patients)
    sex = pd.Series(rng.choice(["F", "M"], len(patients)), index=patients)
    z_age = (age - age.mean()) / age.std(ddof=1)
    male = (sex == "M").astype(float)
    shift = SD * (AGE_EFFECT * z_age + MALE_EFFECT * (male - male.mean()))
    post = frame["time"] > 0
    frame.loc[post, "value"] += frame.loc[post, "patient"].map(shift).to_numpy()
    frame["age"], frame["sex"] = frame["patient"].map(age), frame["patient"].map(sex)
    data = bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   outcome_info={"score": {"sd": SD}},
                                   covariates=["age", "sex"])
    return sim, data


@pytest.mark.slow
def test_covariate_effects_and_the_dose_contrast_are_recovered(tmp_path):
    sim, data = simulated_trial_with_covariates()
    fit = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential").fit(
        data, draws=500, tune=500, chains=2, random_seed=11, sampler="nutpie",
        progressbar=False, prior_draws=0)
    beta = fit.idata["posterior"]["beta_covariate"].sel(outcome="score")
    for column, truth in (("age", AGE_EFFECT), ("sex[M]", MALE_EFFECT)):
        draws = beta.sel(covariate=column).to_numpy().ravel()
        low, high = np.quantile(draws, [0.05, 0.95])
        assert low <= truth <= high, (column, low, high)
        assert abs(draws.mean() - truth) < 0.2, (column, draws.mean())
    truth = sim.true_contrast("score", 50.0, 1.0, 6.0)
    row = fit.contrast(50, 1, time=6, ci_prob=0.9).iloc[0]
    assert row["ci_low"] <= truth <= row["ci_high"], (truth, row)
    path = fit.save(tmp_path / "fit.nc")
    loaded = bd.load_fit(path)
    pd.testing.assert_frame_equal(loaded.data.covariates, data.covariates)
    assert loaded.inputs.covariate_names == ["age", "sex[M]"]


def test_levels_written_two_ways_are_read_as_one_with_a_warning():
    frame = pd.DataFrame({"patient": ["a", "b", "c", "d"], "grade": ["01", "1", "2", "2"]})
    with pytest.warns(UserWarning, match=r"'grade'.*'01', '1' as level '1'"):
        table = patient_covariates(frame, [f"row {i}" for i in range(4)],
                                   pd.DataFrame({"patient": ["a", "b", "c", "d"]}),
                                   ["grade"], "patient", {"grade": "categorical"})
    assert table["grade"].tolist() == ["1", "1", "2", "2"]


def test_grade_probabilities_average_over_the_patients_covariates_too():
    """Ordinal grade probabilities are averaged over the trial's patients with their
    covariates: with a zero covariate effect they are those of the same draws without
    covariates; with a large one they differ."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(12):
        dose, sex = (1, 10, 50)[i % 3], "FM"[i % 2]
        for week in (0, 4, 12):
            rows.append({"id": f"p{i}", "mg": dose, "wk": week, "sex": sex,
                         "kl": int(rng.integers(0, 4))})
    frame = pd.DataFrame(rows)
    info = {"kl": {"likelihood": "ordinal", "direction": "lower_is_better"}}
    with_sex = bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                       outcomes=["kl"], outcome_info=info, covariates=["sex"])
    without = bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk",
                                      outcomes=["kl"], outcome_info=info)
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="free")
    prior = model.sample_prior_predictive(with_sex, draws=30, random_seed=2)["prior"]
    prior = prior.to_dataset()
    ordered = np.sort(prior["cutpoints_kl"].to_numpy(), axis=-1)
    prior["cutpoints_kl"] = (prior["cutpoints_kl"].dims, ordered)

    def probabilities(data, beta):
        draws = prior.copy()
        if beta is None:
            draws = draws.drop_vars("beta_covariate")
        else:
            draws["beta_covariate"] = xr.full_like(draws["beta_covariate"], beta)
        fit = bd.DoseResponseFit(model, data, xr.DataTree.from_dict({"posterior": draws}))
        return fit.grade_probabilities(time=12)["mean"].to_numpy()

    np.testing.assert_allclose(probabilities(with_sex, 0.0), probabilities(without, None))
    assert np.abs(probabilities(with_sex, 3.0) - probabilities(without, None)).max() > 0.01


def test_expected_change_for_a_covariate_profile_adds_its_coded_effect():
    """expected_change(covariates=...) is the trial-mix change plus beta times the
    profile's coded covariates (outcome units); bad profiles are named."""
    data = build(small_frame(), ["sex", "age"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="free")
    prior = model.sample_prior_predictive(data, draws=20, random_seed=5)["prior"]
    fit = bd.DoseResponseFit(model, data,
                             xr.DataTree.from_dict({"posterior": prior.to_dataset()}))
    mix = fit.expected_change(dose=5, time=4)["mean"].to_numpy()
    profile = {"sex": "M", "age": 70.0}
    person = fit.expected_change(dose=5, time=4, covariates=profile)["mean"].to_numpy()
    inputs = fit.inputs
    coded = inputs.covariate_coding.encode(pd.DataFrame({k: [v] for k, v in profile.items()}))
    gamma = prior["beta_covariate"].to_numpy()  # chain, draw, outcome, covariate
    shift = (gamma @ coded[0]).mean() * inputs.scales.sd[0] * inputs.scales.sign[0]
    np.testing.assert_allclose(person - mix, shift, rtol=1e-9, atol=1e-9)
    with pytest.raises(EstimandError, match=r"covariates= names \['weight'\]"):
        fit.expected_change(covariates={"weight": 80})
    with pytest.raises(DataError, match=r"covariate 'sex': level\(s\) \['X'\]"):
        fit.expected_change(covariates={"sex": "X", "age": 50})
