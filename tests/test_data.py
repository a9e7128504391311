"""TrialData: validation of every kind of bad input, baseline and change, missing report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.errors import DataError

KW = {"patient": "subject", "dose": "dose_mg", "time": "week", "outcome": "endpoint",
      "value": "score"}


def build(frame: pd.DataFrame, **extra) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, **{**KW, **extra})


def test_change_from_baseline_is_derived(frame):
    data = build(frame)
    changes = data.changes.set_index(["patient", "time"])
    # patient p2: baseline 46, week 3 value 46 + 7, week 12 value 46 + 12
    assert changes.loc[("p2", 3.0), "change"] == pytest.approx(7.0)
    assert changes.loc[("p2", 12.0), "change"] == pytest.approx(12.0)
    assert changes.loc[("p2", 12.0), "baseline"] == pytest.approx(46.0)
    assert data.doses == [1.0, 10.0, 50.0]
    assert data.visits == [3.0, 12.0]
    assert data.baseline_time == 0.0


def test_wide_and_long_give_the_same_changes(frame):
    wide = frame.pivot_table(index=["subject", "dose_mg", "week"], columns="endpoint",
                             values="score").reset_index()
    from_wide = bd.TrialData.from_frame(wide, patient="subject", dose="dose_mg", time="week",
                                        outcomes=["pain"])
    pd.testing.assert_frame_equal(from_wide.changes, build(frame).changes)


def test_explicit_baseline_time_and_user_units(frame):
    frame.loc[frame["week"] == 0, "week"] = -1  # baseline recorded as week -1
    data = build(frame, baseline_time=-1, dose_unit="mg", time_unit="weeks")
    assert data.baseline_time == -1.0
    assert data.dose_unit == "mg" and data.time_unit == "weeks"
    assert list(data.to_frame().columns) == ["subject", "dose_mg", "week", "endpoint", "score"]


def test_missing_visits_are_kept_and_reported(frame):
    frame.loc[(frame["subject"] == "p3") & (frame["week"] == 12), "score"] = np.nan
    dropped = frame[~((frame["subject"] == "p4") & (frame["week"] == 3))]
    data = build(dropped)
    report = data.missing().set_index("dose")
    assert report.loc[10.0, "n_missing"] == 1 and report.loc[10.0, "missing"] == "p3@12"
    assert report.loc[50.0, "n_missing"] == 1 and report.loc[50.0, "missing"] == "p4@3"
    assert report.loc[1.0, "n_missing"] == 0
    assert len(data.changes) == 12 - 2  # observed post-baseline values only


def test_empty_table(frame):
    with pytest.raises(DataError, match="empty"):
        build(frame.iloc[0:0])


def test_missing_columns_are_named(frame):
    with pytest.raises(DataError, match=r"'dose_mg'.*not found.*'subject'"):
        build(frame.drop(columns="dose_mg"))


@pytest.mark.parametrize("bad", ["ten", "5 mg"])
def test_non_numeric_dose_names_rows(frame, bad):
    frame["dose_mg"] = frame["dose_mg"].astype(object)
    frame.loc[4, "dose_mg"] = bad
    with pytest.raises(DataError, match=rf"'dose_mg' has non-numeric values \('{bad}'\) at row 4"):
        build(frame)


def test_negative_dose(frame):
    frame.loc[frame["subject"] == "p1", "dose_mg"] = -1
    with pytest.raises(DataError, match=r"negative doses at rows 3, 4, 5.*>= 0"):
        build(frame)


def test_patient_with_two_doses(frame):
    frame.loc[2, "dose_mg"] = 10
    with pytest.raises(DataError, match=r"patient 'p0' has doses 1, 10"):
        build(frame)


def test_duplicate_rows(frame):
    doubled = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
    with pytest.raises(DataError, match=r"duplicate rows .* rows 7, 18 .*patient 'p2'"):
        build(doubled)


def test_patient_without_baseline_loads_and_the_change_analysis_names_them(frame):
    no_base = frame.drop(index=frame[(frame["subject"] == "p5") & (frame["week"] == 0)].index)
    data = build(no_base)
    assert bd.DoseResponseModel().inputs(data).analysis == "clda"
    with pytest.raises(DataError, match=r"no baseline value .*patient 'p5' outcome 'pain' "
                                        r"\(rows 1[0-9], 1[0-9]\).*analysis=\"clda\""):
        bd.DoseResponseModel(analysis="change").inputs(data)


def test_empty_baseline_value_is_no_baseline(frame):
    frame.loc[0, "score"] = np.nan
    data = build(frame)
    with pytest.raises(DataError, match=r"patient 'p0' outcome 'pain'"):
        bd.DoseResponseModel(analysis="change").inputs(data)


def test_non_numeric_values(frame):
    frame["score"] = frame["score"].astype(object)
    frame.loc[5, "score"] = "n/a"
    with pytest.raises(DataError, match=r"'score' has non-numeric values \('n/a'\) at row 5"):
        build(frame)


def test_fewer_than_two_doses(frame):
    frame["dose_mg"] = 10
    with pytest.raises(DataError, match=r"single dose .*at least two distinct doses"):
        build(frame)


def test_missing_time_and_patient(frame):
    frame.loc[3, "week"] = np.nan
    with pytest.raises(DataError, match=r"'week' is empty at row 3"):
        build(frame)
    frame = frame.dropna()
    frame.loc[1, "subject"] = None
    with pytest.raises(DataError, match=r"'subject' is empty at row 1"):
        build(frame)


def test_long_and_wide_arguments_conflict(frame):
    with pytest.raises(DataError, match="not both"):
        build(frame, outcomes=["pain"])
    with pytest.raises(DataError, match="name the outcomes"):
        bd.TrialData.from_frame(frame, patient="subject", dose="dose_mg", time="week")


def test_rows_before_baseline_time(frame):
    with pytest.raises(DataError, match="before the baseline time 3"):
        build(frame, baseline_time=3)
    with pytest.raises(DataError, match="does not occur"):
        build(frame, baseline_time=7)


def test_bounds_and_outcome_info(frame):
    with pytest.raises(DataError, match=r"outside its declared bounds \[0, 50\]"):
        build(frame, outcome_info={"pain": {"lower": 0, "upper": 50}})
    with pytest.raises(DataError, match="not in the data"):
        build(frame, outcome_info={"itch": {"mcid": 1}})
    with pytest.raises(DataError, match="unknown metadata field"):
        build(frame, outcome_info={"pain": {"mcdi": 1}})
    with pytest.raises(DataError, match="direction 'up'"):
        build(frame, outcome_info={"pain": {"direction": "up"}})
    with pytest.raises(DataError, match="mcid must be a positive number"):
        build(frame, outcome_info={"pain": {"mcid": -5}})
    data = build(frame, outcome_info={"pain": {"direction": "lower_is_better", "mcid": 5}})
    assert data.info("pain").sign == -1 and data.info("pain").mcid == 5


def test_csv_errors_cite_line_numbers(tmp_path, frame):
    frame["score"] = frame["score"].astype(object)
    frame.loc[5, "score"] = "?"
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="at line 7"):
        bd.TrialData.from_csv(path, **KW)
    with pytest.raises(DataError, match="does not exist"):
        bd.TrialData.from_csv(tmp_path / "nope.csv", **KW)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        bd.TrialData.from_csv(tmp_path / "empty.csv", **KW)


def test_csv_round_trip_keeps_values(tmp_path, frame):
    path = tmp_path / "trial.csv"
    frame.to_csv(path, index=False)
    data = bd.TrialData.from_csv(path, **KW)
    assert data.table["value"].tolist() == pytest.approx(frame["score"].tolist())
    assert data.patients == [f"p{i}" for i in range(6)]


def test_select_and_unknown_outcome(msc):
    sub = msc.select(["koos_pain", "womac_pain"])
    assert sub.outcomes == ["koos_pain", "womac_pain"]
    assert sub.info("womac_pain").direction == "lower_is_better"
    with pytest.raises(DataError, match=r"unknown outcome.*'koos_pian'"):
        msc.select(["koos_pian"])


def test_summary_matches_hand_computation(msc):
    summary = msc.summary().set_index(["outcome", "dose", "time"])
    changes = msc.changes
    rows = changes[(changes["outcome"] == "koos_pain") & (changes["dose"] == 50)
                   & (changes["time"] == 12)]
    assert summary.loc[("koos_pain", 50.0, 12.0), "mean_change"] == pytest.approx(
        rows["change"].mean())
    assert summary.loc[("koos_pain", 50.0, 12.0), "n"] == 4
    assert summary.loc[("koos_pain", 10.0, 6.0), "n"] == 3  # P07 missed month 6


def test_embedded_example_design(msc):
    assert len(msc.patients) == 12
    assert msc.visits == [1.0, 3.0, 6.0, 12.0]
    assert msc.visits_for("mri_t2") == [6.0, 12.0]
    missing = msc.missing()
    assert set(missing.loc[missing["n_missing"] > 0, "missing"]) == {"P07@6"}
