"""Values beyond an assay's limits of quantification: declaring the limits and the flags,
the per-row censoring bounds, keeping the flags with the data and in saved fits, and the
recovery of a dose effect on a biomarker with a quarter of its values below the LLOQ."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.components.censoring import censored_responses, detection_limit_bounds
from bayesdose.components.inputs import prepare_inputs
from bayesdose.data.trial import OutcomeInfo, censoring_codes
from bayesdose.errors import DataError, SpecError
from bayesdose.results.storage import attach_metadata, data_from_idata, read_config

LONG = {"patient": "id", "dose": "mg", "time": "wk", "outcome": "marker", "value": "conc"}
LLOQ, ULOQ = 0.5, 40.0


def biomarker() -> pd.DataFrame:
    """Six patients at 1, 10 and 50 mg, weeks 0, 3 and 12, one biomarker (``crp``) with a
    flag column ``blq`` (all observed)."""
    rows = []
    for i, dose in enumerate([1, 1, 10, 10, 50, 50]):
        for week, ratio in ((0, 1.0), (3, 0.8 - 0.05 * i), (12, 0.6 - 0.08 * i)):
            rows.append({"id": f"p{i}", "mg": dose, "wk": week, "marker": "crp",
                         "conc": round((4.0 + i) * ratio, 3), "blq": ""})
    return pd.DataFrame(rows)


def flagged(frame: pd.DataFrame, **rows: tuple[str, float | None]) -> pd.DataFrame:
    """``frame`` with ``r<row>=(flag, value)`` set."""
    frame = frame.copy()
    frame["conc"] = frame["conc"].astype(object)
    for key, (flag, value) in rows.items():
        frame.at[int(key[1:]), "blq"] = flag
        frame.at[int(key[1:]), "conc"] = value
    return frame


def build(frame: pd.DataFrame, lloq: float | None = LLOQ, uloq: float | None = ULOQ,
          censored: str | None = "blq", **meta) -> bd.TrialData:
    info = {"likelihood": "lognormal", "lloq": lloq, "uloq": uloq, **meta}
    return bd.TrialData.from_frame(frame, **LONG, censored=censored,
                                   outcome_info={"crp": info})


# ---------------------------------------------------------------------- metadata
@pytest.mark.parametrize(("meta", "match"), [
    ({"lloq": 0}, r"outcome 'crp': lloq must be a positive, finite number.*got 0"),
    ({"lloq": -1.0}, r"outcome 'crp': lloq must be a positive"),
    ({"uloq": np.inf}, r"outcome 'crp': uloq must be a positive, finite number"),
    ({"lloq": "0.5"}, r"outcome 'crp': lloq must be a number"),
    ({"lloq": 5.0, "uloq": 5.0}, r"outcome 'crp': lloq 5.0 is not below uloq 5.0"),
    ({"lloq": 1.0, "likelihood": "ordinal"}, r"outcome 'crp': lloq/uloq are given but the "
                                             r"outcome is ordinal"),
])
def test_bad_limits_are_refused_naming_outcome_and_field(meta, match):
    with pytest.raises(DataError, match=match):
        OutcomeInfo("crp", **meta)


def test_limits_are_metadata_fields_kept_by_to_dict():
    info = OutcomeInfo("crp", likelihood="lognormal", lloq=0.5, uloq=40)
    assert info.to_dict()["lloq"] == 0.5 and info.to_dict()["uloq"] == 40
    assert bd.TrialData.from_frame(biomarker(), **LONG).info("crp").lloq is None


# ---------------------------------------------------------------------- flags
def test_every_accepted_flag_is_read():
    cells = pd.Series(["<", "below", " LLOQ ", ">", "Above", "uloq", "", None, np.nan, "no",
                       "0", 0, 0.0])
    codes = censoring_codes(cells, "blq", [f"row {i}" for i in range(len(cells))])
    assert codes.tolist() == [-1, -1, -1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("bad", ["BLQ", "yes", "1", 1, True, "<<"])
def test_an_unknown_flag_names_column_rows_and_accepted_codes(bad):
    frame = biomarker()
    frame["blq"] = frame["blq"].astype(object)
    frame.at[4, "blq"] = bad
    frame.at[7, "blq"] = bad
    with pytest.raises(DataError, match=r"column 'blq' \(censored=\) has values that are not "
                                        r"censoring flags .* at rows 4, 7\. Use '<', 'below' "
                                        r"or 'lloq'.*'>', 'above' or 'uloq'.*'no' or '0'"):
        build(frame)


def test_flags_in_a_csv_file_name_the_lines(tmp_path: Path):
    frame = flagged(biomarker(), r4=("x", None))
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'blq' .* at line 6\."):
        bd.TrialData.from_csv(path, **LONG, censored="blq")
    frame = flagged(biomarker(), r4=("<", None))
    frame.to_csv(path, index=False)
    data = bd.TrialData.from_csv(path, **LONG, censored="blq",
                                 outcome_info={"crp": {"lloq": LLOQ}})
    assert data.table.loc[4, ["value", "censored"]].tolist() == [LLOQ, -1]


def test_a_flag_column_not_in_the_table_or_with_another_role_is_refused():
    with pytest.raises(DataError, match=r"flag column\(s\) 'flag' not found.*'blq'.*"
                                        r"censored="):
        build(biomarker(), censored="flag")
    with pytest.raises(DataError, match=r"column 'conc' is given both as value= and as "
                                        r"censored="):
        build(biomarker(), censored="conc")
    with pytest.raises(DataError, match=r"censored= must be the name of one column"):
        build(biomarker(), censored=["blq"])


def test_a_flagged_empty_value_without_a_declared_limit_says_how_to_fix_it():
    frame = flagged(biomarker(), r4=("<", None), r8=("<", None))
    with pytest.raises(DataError, match=r"column 'blq' flags values of outcome 'crp' as below "
                                        r"the lower limit of quantification at rows 4, 8 with "
                                        r"an empty value, and the outcome declares no lloq\. "
                                        r"Declare it .*'lloq'"):
        build(frame, lloq=None)
    frame = flagged(biomarker(), r5=(">", None))
    with pytest.raises(DataError, match=r"as above the upper limit .* at row 5 .*declares no "
                                        r"uloq"):
        build(frame, uloq=None)


def test_a_flagged_value_is_the_rows_own_limit_and_an_empty_one_the_declared_limit():
    frame = flagged(biomarker(), r4=("<", None), r5=("<", 0.8), r8=(">", None))
    data = build(frame)
    table = data.table
    assert table.loc[[4, 5, 8], "value"].tolist() == [LLOQ, 0.8, ULOQ]
    assert table.loc[[4, 5, 8], "censored"].tolist() == [-1, -1, 1]
    assert int((table["censored"] != 0).sum()) == 3


def test_flags_on_an_ordinal_outcome_are_refused():
    frame = biomarker().assign(conc=[1.0 + (i % 3) for i in range(18)],
                               blq=["<" if i == 4 else "" for i in range(18)])
    with pytest.raises(DataError, match=r"column 'blq' flags values of outcome 'crp' as "
                                        r"censored at row 4, but the outcome is ordinal"):
        bd.TrialData.from_frame(frame, **LONG, censored="blq",
                                outcome_info={"crp": {"likelihood": "ordinal"}})
    data = bd.TrialData.from_frame(frame, **LONG, censored="blq")
    with pytest.raises(DataError, match=r"outcome 'crp' has censored values .* at row 4, "
                                        r"but its likelihood 'ordinal' cannot be censored"):
        prepare_inputs(data, likelihood="ordinal")
    baseline = bd.TrialData.from_frame(frame.assign(blq=np.roll(frame["blq"], -1)), **LONG,
                                       censored="blq")  # p1's baseline flagged
    with pytest.raises(DataError, match=r"censored values .* at row 3, but its likelihood "
                                        r"'ordinal'"):
        prepare_inputs(baseline, likelihood="ordinal")


def test_wide_data_take_a_mapping_from_outcome_column_to_flag_column():
    frame = biomarker().pivot(index=["id", "mg", "wk"], columns="marker",
                              values="conc").reset_index()
    frame["il6"] = frame["crp"] * 2
    frame["crp_flag"] = np.where(frame.index == 1, "<", "")
    wide = {"patient": "id", "dose": "mg", "time": "wk", "outcomes": ["crp", "il6"]}
    info = {"crp": {"lloq": 2.0}}
    data = bd.TrialData.from_frame(frame, **wide, censored={"crp": "crp_flag"},
                                   outcome_info=info)
    censored = data.table[data.table["censored"] != 0]
    assert censored[["patient", "outcome", "value"]].values.tolist() == [["p0", "crp", 3.2]]
    with pytest.raises(DataError, match=r"censored='crp_flag': with several outcome columns"):
        bd.TrialData.from_frame(frame, **wide, censored="crp_flag")
    with pytest.raises(DataError, match=r"censored= names outcome column\(s\) 'tnf'"):
        bd.TrialData.from_frame(frame, **wide, censored={"tnf": "crp_flag"})
    with pytest.raises(DataError, match=r"mapping .* is for wide data"):
        build(biomarker(), censored={"crp": "blq"})


def test_without_flags_values_beyond_declared_limits_are_censored_with_one_warning():
    frame = biomarker()
    frame.loc[[4, 7], "conc"] = [0.0, -0.2]  # not quantified: allowed with an lloq
    frame.loc[8, "conc"] = 55.0
    with pytest.warns(UserWarning, match=r"outcome 'crp': .* 2 at or below its lloq 0.5 "
                                         r"\(rows 4, 7\); 1 at or above its uloq 40 \(row 8\)"
                      ) as caught:
        data = build(frame, censored=None)
    assert len([w for w in caught if "crp" in str(w.message)]) == 1
    assert data.table.loc[[4, 7, 8], "value"].tolist() == [LLOQ, LLOQ, ULOQ]
    assert data.table.loc[[4, 7, 8], "censored"].tolist() == [-1, -1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = build(biomarker(), censored=None)  # nothing beyond the limits: no warning
    assert (plain.table["censored"] == 0).all()
    assert "censored" not in bd.TrialData.from_frame(biomarker(), **LONG).table


def test_a_value_of_zero_without_an_lloq_is_still_refused_and_points_to_lloq():
    frame = biomarker()
    frame.loc[4, "conc"] = 0.0
    data = bd.TrialData.from_frame(frame, **LONG, outcome_info={"crp": {"likelihood":
                                                                        "lognormal"}})
    with pytest.raises(DataError, match=r"values <= 0 at row 4.*declare the outcome's lloq"):
        prepare_inputs(data)


# ---------------------------------------------------------------------- bounds
def test_lognormal_change_bounds_are_the_limit_against_the_baseline():
    frame = flagged(biomarker(), r4=("<", None), r5=("<", 0.8), r8=(">", None))
    data = build(frame)
    inputs = prepare_inputs(data)
    changes = data.changes
    base = {p: v for p, v in zip(data.baselines["patient"], data.baselines["baseline"],
                                 strict=True)}
    for patient, time, limit, side in (("p1", 3.0, LLOQ, "lower"), ("p1", 12.0, 0.8, "lower"),
                                       ("p2", 12.0, ULOQ, "upper")):
        row = np.flatnonzero((changes["patient"] == patient) & (changes["time"] == time))[0]
        expected = np.log(limit) - np.log(base[patient])
        assert inputs.response[row] == pytest.approx(expected)
        bound, other = ((inputs.lower, inputs.upper) if side == "lower"
                        else (inputs.upper, inputs.lower))
        assert bound[row] == pytest.approx(expected)
        assert np.isinf(other[row])
    observed = (data.table["censored"] == 0).to_numpy()[
        data.table["time"].to_numpy() > 0]
    assert np.isneginf(inputs.lower[observed]).all() and np.isposinf(inputs.upper[observed]).all()


def test_censored_responses_arithmetic_for_changes_and_levels():
    rows = pd.DataFrame({"patient": ["a", "a", "b"], "value": [0.5, 3.0, 40.0],
                         "source_row": ["row 1", "row 2", "row 4"], "censored": [-1, 0, 1]})
    baselines = pd.DataFrame({"patient": ["a", "b"], "value": [4.0, 10.0],
                              "source_row": ["row 0", "row 3"], "censored": [0, 0]})
    info = OutcomeInfo("crp", likelihood="lognormal", lloq=0.5, uloq=40.0)
    change = censored_responses(rows, info, baselines=baselines)
    assert change.code.tolist() == [-1, 0, 1]
    np.testing.assert_allclose(change.lower, [np.log(0.5 / 4.0), -np.inf, -np.inf])
    np.testing.assert_allclose(change.upper, [np.inf, np.inf, np.log(40.0 / 10.0)])
    assert np.isnan(change.response[1])
    level = censored_responses(rows, info)  # responses that are the level itself
    np.testing.assert_allclose(level.lower, [np.log(0.5), -np.inf, -np.inf])
    np.testing.assert_allclose(level.upper, [np.inf, np.inf, np.log(40.0)])
    normal = censored_responses(rows, info, "normal", baselines)
    np.testing.assert_allclose(normal.lower, [0.5 - 4.0, -np.inf, -np.inf])
    np.testing.assert_allclose(normal.upper, [np.inf, np.inf, 30.0])
    response, lower, upper = normal.apply(np.array([9.0, -1.0, 9.0]), np.full(3, -4.0),
                                          np.full(3, 96.0))
    assert response.tolist() == [-3.5, -1.0, 30.0]
    assert lower.tolist() == [-3.5, -4.0, -4.0] and upper.tolist() == [96.0, 96.0, 30.0]


def test_a_detection_limit_replaces_a_score_bound_on_its_row_only():
    frame = flagged(biomarker(), r4=("<", None))
    data = bd.TrialData.from_frame(frame, **LONG, censored="blq", outcome_info={
        "crp": {"lower": 0, "upper": 100, "lloq": LLOQ}})
    inputs = prepare_inputs(data)
    changes = data.changes
    base = changes["baseline"].to_numpy()
    row = np.flatnonzero((changes["patient"] == "p1") & (changes["time"] == 3.0))[0]
    assert inputs.lower[row] == pytest.approx(LLOQ - base[row])
    assert inputs.upper[row] == pytest.approx(100 - base[row])
    others = np.arange(len(changes)) != row
    np.testing.assert_allclose(inputs.lower[others], 0 - base[others])
    np.testing.assert_allclose(inputs.upper[others], 100 - base[others])


def test_a_censored_baseline_in_the_change_analysis_names_patient_outcome_and_rows():
    frame = flagged(biomarker(), r3=("<", None), r9=("<", None))
    data = build(frame)
    with pytest.raises(DataError, match=r"outcome 'crp': the baseline is below the lower "
                                        r"limit of quantification for patient\(s\) 'p1', "
                                        r"'p3' \(rows 3, 9\), so no change from baseline.*"
                                        r"constrained longitudinal analysis.*removed"):
        prepare_inputs(data, analysis="change")
    assert prepare_inputs(data).analysis == "clda"  # what "auto" chooses for them


def test_censored_baselines_are_levels_in_the_constrained_longitudinal_analysis():
    frame = flagged(biomarker(), r3=("<", None))
    data = build(frame)
    inputs = prepare_inputs(data, analysis="clda")
    rows = np.flatnonzero(inputs.lower > -np.inf)
    assert len(rows) == 1 and inputs.response[rows[0]] == pytest.approx(np.log(LLOQ))
    assert inputs.lower[rows[0]] == pytest.approx(np.log(LLOQ))


def test_detection_limit_bounds_without_censored_values_change_nothing():
    data = bd.TrialData.from_frame(biomarker(), **LONG)
    rows = data.changes.assign(source_row="row 0")
    bounds = detection_limit_bounds(data, "crp", "lognormal", rows)
    assert bounds.n_censored == 0 and np.isneginf(bounds.lower).all()


# ---------------------------------------------------------------------- the flags travel
def test_flags_survive_select_to_frame_and_summary():
    frame = flagged(biomarker(), r4=("<", None), r8=(">", None))
    other = frame.assign(marker="il6", conc=frame["id"].str[1:].astype(float) + frame["wk"],
                         blq="")
    data = bd.TrialData.from_frame(pd.concat([frame, other], ignore_index=True), **LONG,
                                   censored="blq", outcome_info={"crp": {
                                       "likelihood": "lognormal", "lloq": LLOQ, "uloq": ULOQ}})
    picked = data.select(["crp"])
    assert picked.table["censored"].tolist() == data.table["censored"].tolist()[:18]
    written = picked.to_frame()
    assert written.columns[-1] == "blq"
    assert written["blq"].tolist().count("<") == 1 and written["blq"].tolist().count(">") == 1
    again = bd.TrialData.from_frame(written, **LONG, censored="blq",
                                    outcome_info={"crp": picked.info("crp")})
    pd.testing.assert_frame_equal(again.table, picked.table)
    summary = picked.summary()
    assert summary["n_censored"].sum() == 2
    assert summary.set_index(["dose", "time"]).loc[(1.0, 3.0), "n_censored"] == 1
    assert "n_censored" not in bd.TrialData.from_frame(biomarker(), **LONG).summary()


def test_a_model_file_declares_the_flag_column_and_the_limits(tmp_path: Path):
    flagged(biomarker(), r4=("<", None)).to_csv(tmp_path / "trial.csv", index=False)
    head = ('[data]\nsource = "trial.csv"\npatient = "id"\ndose = "mg"\ntime = "wk"\n'
            'outcome = "marker"\nvalue = "conc"\n')
    (tmp_path / "model.toml").write_text(
        head + 'censored = "blq"\n\n[outcomes.crp]\nlikelihood = "lognormal"\nlloq = 0.5\n')
    data = bd.ModelSpec.from_toml(tmp_path / "model.toml").load_data()
    assert data.info("crp").lloq == 0.5
    assert data.table.loc[4, ["value", "censored"]].tolist() == [0.5, -1]
    (tmp_path / "bad.toml").write_text(head + "censored = 3\n")
    with pytest.raises(SpecError, match=r"data\.censored must be the name of the column of "
                                        r"censoring flags"):
        bd.ModelSpec.from_toml(tmp_path / "bad.toml")
    (tmp_path / "bad.toml").write_text(head + '[outcomes.crp]\nlloq = "low"\n')
    with pytest.raises(SpecError, match=r"outcomes\.crp\.lloq must be a finite number"):
        bd.ModelSpec.from_toml(tmp_path / "bad.toml")


def test_an_embedded_trial_keeps_its_inferred_censoring_through_a_model_file():
    spec = bd.ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
                                   "outcomes": {"sf_il6": {"lloq": 30.0}}})
    with pytest.warns(UserWarning, match=r"outcome 'sf_il6': .* at or below its lloq 30"):
        data = spec.load_data()
    censored = data.table[data.table["censored"] != 0]
    assert (censored["outcome"] == "sf_il6").all() and (censored["value"] == 30.0).all()


def test_the_data_stored_with_a_fit_keep_flags_limits_and_flag_column():

    data = build(flagged(biomarker(), r4=("<", None), r8=(">", None)))
    idata = xr.DataTree()
    attach_metadata(idata, bd.DoseResponseModel(), data, prepare_inputs(data), {})
    back = data_from_idata(idata, read_config(idata))
    pd.testing.assert_frame_equal(back.table.drop(columns="source_row"),
                                  data.table.drop(columns="source_row"), check_dtype=False)
    assert back.columns["censored"] == "blq" and back.info("crp").uloq == ULOQ
    np.testing.assert_array_equal(prepare_inputs(back).lower, prepare_inputs(data).lower)


# ---------------------------------------------------------------------- recovery
DOSES, VISITS = (1.0, 10.0, 50.0), (1.0, 3.0, 6.0)
EMAX, ED50, T_HALF, COURSE, RECOVERY_LLOQ = -1.0, 5.0, 1.5, -0.3, 1.5


def true_effect(dose: float, time: float) -> float:
    """The log ratio to baseline at ``dose`` against the lowest dose (Emax in dose times
    an exponential course reaching 1 at the last visit)."""
    rate = np.log(2.0) / T_HALF
    course = np.expm1(-rate * time) / np.expm1(-rate * VISITS[-1])
    return float(EMAX * (dose / (ED50 + dose) - DOSES[0] / (ED50 + DOSES[0])) * course)


def simulated_biomarker(seed: int = 1, n_per_arm: int = 20) -> pd.DataFrame:
    """Log value = log baseline (about log 4, SD 0.25) + common course + dose effect +
    patient effect (SD 0.2) + noise (SD 0.25)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(len(DOSES) * n_per_arm):
        dose = DOSES[i // n_per_arm]
        base, patient = np.log(4.0) + rng.normal(0, 0.25), rng.normal(0, 0.2)
        rows.append({"id": f"p{i}", "mg": dose, "wk": 0.0, "conc": np.exp(base)})
        for week in VISITS:
            log_value = (base + COURSE + true_effect(dose, week) + patient
                         + rng.normal(0, 0.25))
            rows.append({"id": f"p{i}", "mg": dose, "wk": week, "conc": np.exp(log_value)})
    return pd.DataFrame(rows).assign(marker="crp")


def _contrast(data: bd.TrialData, tmp_path: Path | None = None) -> pd.Series:
    fit = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential").fit(
        data, draws=400, tune=400, chains=2, random_seed=11, sampler="nutpie",
        progressbar=False, prior_draws=0)
    if tmp_path is not None:
        loaded = bd.load_fit(fit.save(tmp_path / "fit.nc"))
        pd.testing.assert_frame_equal(loaded.data.table.drop(columns="source_row"),
                                      data.table.drop(columns="source_row"),
                                      check_dtype=False)
        assert loaded.data.info("crp").lloq == RECOVERY_LLOQ
        np.testing.assert_array_equal(loaded.inputs.lower, fit.inputs.lower)
    return fit.contrast(50, 1, time=VISITS[-1], ci_prob=0.9).iloc[0]


@pytest.mark.slow
def test_the_dose_effect_is_recovered_with_a_quarter_of_values_below_the_lloq(tmp_path):
    frame = simulated_biomarker()
    below = frame["conc"] <= RECOVERY_LLOQ
    post = frame["wk"] > 0
    assert not below[~post].any()  # every baseline is quantified
    assert 0.2 <= below[post].mean() <= 0.3
    meta = {"likelihood": "lognormal", "direction": "lower_is_better"}
    data = bd.TrialData.from_frame(
        frame.assign(blq=np.where(below, "<", ""), conc=frame["conc"].where(~below)),
        **LONG, censored="blq", outcome_info={"crp": {**meta, "lloq": RECOVERY_LLOQ}})
    truth = true_effect(50.0, VISITS[-1])
    row = _contrast(data, tmp_path)
    assert row["ci_low"] <= truth <= row["ci_high"], (truth, row)
    assert abs(row["mean"] - truth) < 0.15, (truth, row)
    # substituting LLOQ/2 puts the censored values, most of them at the top dose, below
    # where they lie: the decrease at the top dose is overstated
    naive = bd.TrialData.from_frame(frame.assign(conc=frame["conc"].where(
        ~below, RECOVERY_LLOQ / 2)), **LONG, outcome_info={"crp": meta})
    biased = _contrast(naive)
    assert biased["mean"] < truth and biased["mean"] < row["mean"] - 0.1, (biased, row)

