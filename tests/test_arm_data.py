"""Arm-level summaries (bd.ArmData): the public datasets load with the counts of their
files, every bad input is refused with a message naming the column and rows, the SE comes
from SD and n, and the table survives a round trip through to_frame()."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.data.arms import ARM_COLUMNS, ONE_AGENT, PLACEBO

ROOT = Path(__file__).resolve().parents[1]
#: The public datasets (shared/data, README.md there): beside the checkout or inside it.
SHARED = next((folder for folder in (ROOT / "shared" / "data", ROOT.parent / "shared" / "data")
               if folder.is_dir()), None)
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="the public datasets folder shared/data (MBNMAtime, MBNMAdose, "
    "clinDR CSV files) is not beside or inside this checkout")

ARGS = {"study": "trial", "agent": "drug", "dose": "mg", "time": "week", "mean": "cfb",
        "se": "se", "n": "n"}


def arms_frame() -> pd.DataFrame:
    """Two studies: S1 with placebo, 10 and 50 mg of X; S2 with placebo and 50 mg; weeks
    4 and 12; SE 0.2 and 40 patients per arm."""
    rows = []
    for study, doses in (("S1", (0, 10, 50)), ("S2", (0, 50))):
        for dose in doses:
            for week in (4, 12):
                rows.append({"trial": study, "drug": "placebo" if dose == 0 else "X",
                             "mg": dose, "week": week, "cfb": -0.01 * dose - 0.02 * week,
                             "se": 0.2, "n": 40})
    return pd.DataFrame(rows)


def with_cell(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.at[row, column] = value
    return frame


def build(frame: pd.DataFrame, **extra) -> bd.ArmData:
    return bd.ArmData.from_frame(frame, **{**ARGS, **extra})


def refused(frame: pd.DataFrame, pattern: str, **extra) -> str:
    with pytest.raises(bd.DataError, match=pattern) as info:
        build(frame, **extra)
    return str(info.value)


# ---------------------------------------------------------------------- the canonical table
def test_the_table_and_its_accessors():
    data = build(arms_frame())
    assert tuple(data.table.columns) == ARM_COLUMNS
    assert data.studies == ["S1", "S2"]
    assert data.agents == [PLACEBO, "X"]
    assert data.doses == {PLACEBO: [0.0], "X": [10.0, 50.0]}
    assert data.times == [4.0, 12.0]
    assert data.outcomes == ["cfb"]
    assert data.arms.to_dict("list") == {
        "study": ["S1", "S1", "S1", "S2", "S2"], "arm": ["placebo", "X 10", "X 50",
                                                        "placebo", "X 50"],
        "agent": [PLACEBO, "X", "X", PLACEBO, "X"], "dose": [0.0, 10.0, 50.0, 0.0, 50.0]}
    assert data.summary().to_dict("list") == {
        "study": ["S1", "S2"], "n_arms": [3, 2], "n_times": [2, 2], "n_rows": [6, 4],
        "placebo": [True, True]}
    assert data.table["source_row"].tolist() == [f"row {i}" for i in range(10)]
    assert data.change and data.dose_unit == "mg" and data.time_unit == "week"
    assert "2 studies, 5 arms" in repr(data)


def test_an_arm_column_is_used_as_given():
    frame = arms_frame().assign(group=lambda f: f["mg"].map({0: "a", 10: "b", 50: "c"}))
    data = build(frame, arm="group")
    assert data.arms["arm"].tolist() == ["a", "b", "c", "a", "c"]


def test_without_a_time_column_every_row_is_at_one_time_point():
    frame = arms_frame().query("week == 12").drop(columns="week")
    data = build(frame, time=None)
    assert data.times == [] and data.table["time"].isna().all() and data.time_unit is None
    assert data.summary()["n_times"].tolist() == [1, 1]
    assert "one time point" in repr(data)


def test_without_an_agent_column_positive_doses_are_one_agent():
    data = build(arms_frame().drop(columns="drug"), agent=None)
    assert data.doses == {PLACEBO: [0.0], ONE_AGENT: [10.0, 50.0]}
    assert data.arms["arm"].tolist()[:3] == ["placebo", "active 10", "active 50"]


def test_outcome_names_come_from_a_column_or_an_argument():
    frame = arms_frame()
    both = pd.concat([frame.assign(end="hba1c"), frame.assign(end="fpg")], ignore_index=True)
    assert build(both, outcome="end").outcomes == ["hba1c", "fpg"]
    assert build(frame, outcome_name="hba1c").outcomes == ["hba1c"]
    info = build(frame, outcome_name="hba1c",
                 outcome_info={"hba1c": {"direction": "lower_is_better"}}).info("hba1c")
    assert info.direction == "lower_is_better"


def test_labels_are_read_by_their_value_in_a_frame_and_a_file(tmp_path):
    frame = arms_frame().assign(trial=lambda f: f["trial"].map({"S1": 1.0, "S2": 2.0}))
    path = tmp_path / "arms.csv"
    frame.assign(trial=frame["trial"].astype(int)).to_csv(path, index=False)
    from_file = bd.ArmData.from_csv(path, **ARGS)
    assert build(frame).studies == from_file.studies == ["1", "2"]
    assert from_file.table["source_row"].iloc[0] == "line 2"


# ---------------------------------------------------------------------- placebo
def test_dose_zero_is_placebo_whatever_the_agent_is_called():
    frame = arms_frame()
    frame.loc[frame["mg"] == 0, "drug"] = "X"
    data = build(frame)
    assert data.agents == [PLACEBO, "X"]
    assert set(data.table.loc[data.table["dose"] == 0, "arm"]) == {"placebo"}


@pytest.mark.parametrize("name", ["Placebo", "PBO", " placebo "])
def test_a_placebo_agent_must_have_dose_zero(name):
    frame = with_cell(arms_frame().assign(drug=lambda f: f["drug"].where(f["mg"] > 0, name)),
                      "drug", 2, name)
    message = refused(frame, "names placebo")
    assert "column 'drug'" in message and "column 'mg'" in message and "row 2" in message
    assert "dose 0" in message


# ---------------------------------------------------------------------- standard errors
def test_the_se_is_sd_over_root_n_where_it_is_not_given():
    frame = arms_frame().assign(sd=2.0, n=25)
    frame["se"] = frame["se"].astype(object)
    frame.loc[[1, 4], "se"] = None
    data = build(frame, sd="sd")
    expected = np.full(10, 0.2)
    expected[[1, 4]] = 2.0 / 5.0
    np.testing.assert_allclose(data.table["se"], expected)
    only_sd = build(frame.drop(columns="se"), se=None, sd="sd")
    np.testing.assert_allclose(only_sd.table["se"], 0.4)


def test_n_may_be_empty_where_the_se_is_given():
    data = build(with_cell(arms_frame(), "n", 3, None))
    assert np.isnan(data.table["n"].iloc[3]) and data.table["n"].notna().sum() == 9
    assert build(arms_frame().drop(columns="n"), n=None).table["n"].isna().all()


def test_a_row_without_se_and_without_sd_and_n_is_refused():
    message = refused(with_cell(arms_frame(), "se", 2, None), "no standard error at row 2")
    assert "column 'se' is empty" in message and "sd=, n=" in message
    frame = with_cell(with_cell(arms_frame().assign(sd=1.0), "se", 5, None), "n", 5, None)
    message = refused(frame, "no standard error at row 5", sd="sd")
    assert "'sd' or 'n'" in message


def test_no_se_column_and_no_sd_is_refused():
    with pytest.raises(bd.DataError, match=r"se=\) or the SDs and the numbers of patients"):
        build(arms_frame(), se=None)
    with pytest.raises(bd.DataError, match=r"sd='sd' needs the numbers of patients \(n=\)"):
        build(arms_frame().assign(sd=1.0), sd="sd", n=None)


@pytest.mark.parametrize(("column", "value", "what"), [
    ("se", 0.0, "standard error"), ("se", -0.1, "standard error"), ("sd", 0.0, "SD"),
    ("n", 0, "number of patients"), ("n", -3, "number of patients")])
def test_non_positive_se_sd_or_n_is_refused(column, value, what):
    frame = with_cell(arms_frame().assign(sd=1.0), column, 7, value)
    message = refused(frame, f"column '{column}' has values that are not positive at row 7",
                      sd="sd")
    assert f"Each {what} must be > 0" in message


def test_a_fractional_n_is_refused():
    message = refused(with_cell(arms_frame(), "n", 4, 40.5), "column 'n' has numbers of "
                      "patients that are not whole at row 4")
    assert "(1, 2, ...)" in message


# ---------------------------------------------------------------------- cells
def test_a_missing_column_is_refused():
    message = refused(arms_frame().drop(columns="se"), r"column\(s\) 'se' not found")
    assert "se= or sd= and n=" in message


@pytest.mark.parametrize("column", ["mg", "week", "cfb", "se", "n"])
def test_a_non_numeric_cell_is_refused(column):
    refused(with_cell(arms_frame(), column, 3, "5 mg"),
            f"column '{column}' has non-numeric values \\('5 mg'\\) at row 3")


def test_a_boolean_is_not_a_number():
    refused(arms_frame().assign(mg=lambda f: f["mg"] > 0), "column 'mg' has non-numeric")


@pytest.mark.parametrize("value", [b"1", 1 + 1j, [0.2], pd.Timestamp("2020-01-01")])
def test_a_cell_that_is_not_a_real_number_is_refused(value):
    refused(with_cell(arms_frame(), "se", 3, value), "column 'se' has non-numeric values .* "
                                                      "at row 3")


def test_an_integer_beyond_the_floats_is_infinite():
    refused(with_cell(arms_frame(), "cfb", 3, 10**400), "column 'cfb' has infinite values")


@pytest.mark.parametrize("column", ["mg", "week", "cfb", "se"])
def test_an_infinite_cell_is_refused(column):
    refused(with_cell(arms_frame(), column, 6, np.inf),
            f"column '{column}' has infinite values at row 6")


@pytest.mark.parametrize("column", ["trial", "mg", "week", "cfb"])
def test_an_empty_required_cell_is_refused(column):
    message = refused(with_cell(arms_frame(), column, 1, None),
                      f"column '{column}' is empty at row 1")
    assert "remove those rows" in message


def test_a_negative_dose_is_refused():
    frame = arms_frame().assign(mg=lambda f: f["mg"].where(f["mg"] != 10, -10))
    refused(frame, "column 'mg' has negative doses at rows 2, 3. Doses must be >= 0")


# ---------------------------------------------------------------------- arms and rows
def test_an_arm_with_two_doses_is_refused():
    frame = with_cell(arms_frame().assign(group=lambda f: f["mg"].astype(str)), "mg", 5, 40)
    message = refused(frame, "an arm has one dose within a study", arm="group")
    assert "study 'S1', arm '50' has doses 50, 40 (rows 4, 5)" in message
    assert "column 'group'" in message


def test_an_arm_with_two_agents_is_refused():
    frame = with_cell(arms_frame().assign(group=lambda f: f["mg"].astype(str)), "drug", 5, "Y")
    message = refused(frame, "column 'drug': an arm has one agent", arm="group")
    assert "'X', 'Y'" in message


def test_a_repeated_study_arm_time_outcome_row_is_refused():
    frame = pd.concat([arms_frame(), arms_frame().iloc[[3]]], ignore_index=True)
    message = refused(frame, r"duplicate rows for the same study x arm x time x outcome at "
                             r"rows 3, 10 \(for example study 'S1', arm 'X 10', time 12")
    assert "arm=" in message
    frame = frame.assign(group=frame["mg"])
    assert "arm=" not in refused(frame, "duplicate rows", arm="group")


def test_a_study_with_a_single_arm_is_kept_with_a_warning():
    frame = pd.concat([arms_frame(), pd.DataFrame([{"trial": "S3", "drug": "placebo",
                                                    "mg": 0, "week": 4, "cfb": -0.1,
                                                    "se": 0.3, "n": 30}])], ignore_index=True)
    with pytest.warns(UserWarning, match=r"study 'S3' \(arm 'placebo'\) has a single arm"):
        data = build(frame)
    assert data.studies == ["S1", "S2", "S3"] and len(data.table) == 11


def test_no_warning_when_every_study_has_two_arms():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(arms_frame())


# ---------------------------------------------------------------------- arguments
def test_bad_arguments_are_refused():
    with pytest.raises(bd.DataError, match="must be a pandas DataFrame"):
        bd.ArmData.from_frame(arms_frame().to_dict(), **ARGS)
    with pytest.raises(bd.DataError, match="given both as dose= and as time="):
        build(arms_frame(), time="mg")
    with pytest.raises(bd.DataError, match=r"either outcome= .* or outcome_name="):
        build(arms_frame().assign(end="a"), outcome="end", outcome_name="a")
    with pytest.raises(bd.DataError, match="change= must be True"):
        build(arms_frame(), change="yes")
    with pytest.raises(bd.DataError, match="mean= must be the name of one column"):
        build(arms_frame(), mean=["cfb"])
    with pytest.raises(bd.DataError, match="the arm-level table is empty"):
        build(arms_frame().iloc[:0])


def test_outcome_info_is_checked():
    with pytest.raises(bd.DataError, match="outcome_info names outcome\\(s\\) 'pain'"):
        build(arms_frame(), outcome_info={"pain": {"mcid": 1}})
    levels = arms_frame().assign(cfb=lambda f: 5 + f["cfb"])
    levels.loc[2, "cfb"] = 11.0
    with pytest.raises(bd.DataError, match=r"outside its declared bounds \[0, 10\] at row 2"):
        build(levels, change=False, outcome_info={"cfb": {"lower": 0, "upper": 10}})
    build(levels, outcome_info={"cfb": {"lower": 0, "upper": 10}})  # changes: not checked


def test_a_csv_file_is_read_strictly_with_line_numbers(tmp_path):
    path = tmp_path / "arms.csv"
    with_cell(arms_frame(), "se", 2, "n/k").to_csv(path, index=False)
    with pytest.raises(bd.DataError, match="column 'se' has non-numeric values \\('n/k'\\) "
                                           "at line 4"):
        bd.ArmData.from_csv(path, **ARGS)
    with_cell(arms_frame(), "se", 2, "NA").to_csv(path, index=False)
    with pytest.raises(bd.DataError, match="no standard error at line 4"):
        bd.ArmData.from_csv(path, **ARGS)


# ---------------------------------------------------------------------- round trip
ROUND_TRIPS = {
    "as given": ({}, lambda f: f),
    "arm column, no n": ({"arm": "group", "n": None},
                         lambda f: f.assign(group=f["mg"] * 2).drop(columns="n")),
    "one time point, no agent": ({"time": None, "agent": None},
                                 lambda f: f.query("week == 4").drop(columns=["week", "drug"])
                                 .reset_index(drop=True)),
    "se from sd, named outcome": ({"se": None, "sd": "sd", "outcome_name": "hba1c"},
                                  lambda f: f.assign(sd=1.3).drop(columns="se")),
    "two outcomes, absolute levels": ({"outcome": "end", "change": False},
                                      lambda f: pd.concat([f.assign(end="a"),
                                                           f.assign(end="b")],
                                                          ignore_index=True)),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
def test_round_trip_through_to_frame(case, tmp_path):
    extra, change = ROUND_TRIPS[case]
    data = build(change(arms_frame()), **extra)
    frame = data.to_frame()
    again = bd.ArmData.from_frame(frame, **data.frame_arguments())
    pd.testing.assert_frame_equal(again.table, data.table)
    assert again.columns["dose_unit"] == data.columns["dose_unit"]
    assert again.change == data.change
    frame.to_csv(tmp_path / "arms.csv", index=False)
    from_file = bd.ArmData.from_csv(tmp_path / "arms.csv", **data.frame_arguments())
    pd.testing.assert_frame_equal(from_file.table.drop(columns="source_row"),
                                  data.table.drop(columns="source_row"))


def test_to_frame_keeps_the_users_names_and_avoids_taken_ones():
    frame = arms_frame().drop(columns="drug").rename(columns={"cfb": "agent"})
    data = build(frame, agent=None, mean="agent")
    out = data.to_frame()
    assert list(out.columns) == ["trial", "arm", "agent_", "mg", "week", "outcome", "agent",
                                 "se", "n"]
    again = bd.ArmData.from_frame(out, **data.frame_arguments())
    pd.testing.assert_frame_equal(again.table, data.table)


# ---------------------------------------------------------------------- the public datasets
def shared_csv(name: str) -> Path:
    return SHARED / name


def counts_of(frame: pd.DataFrame, study: str, arm: list[str], time: str | None) -> dict:
    """Studies, arms per study and time points per study, counted from the file itself."""
    grouped = frame.groupby(study, sort=False)
    return {"studies": frame[study].nunique(),
            "arms": frame.groupby([study, *arm]).ngroups,
            "n_arms": grouped.apply(lambda g: g[arm].drop_duplicates().shape[0]).tolist(),
            "n_times": (grouped[time].nunique().tolist() if time is not None
                        else [1] * frame[study].nunique())}


def check_counts(data: bd.ArmData, file: pd.DataFrame, study: str, arm: list[str],
                 time: str | None) -> None:
    expected = counts_of(file, study, arm, time)
    summary = data.summary()
    assert len(data.studies) == expected["studies"]
    assert len(data.arms) == expected["arms"]
    assert summary["n_arms"].tolist() == expected["n_arms"]
    assert summary["n_times"].tolist() == expected["n_times"]
    assert summary["n_rows"].sum() == len(file) == len(data.table)


@needs_shared
def test_mbnmatime_alogliptin():
    file = pd.read_csv(shared_csv("MBNMAtime_alog_pcfb.csv"))
    data = bd.ArmData.from_csv(shared_csv("MBNMAtime_alog_pcfb.csv"), study="studyID",
                               agent="agent", dose="dose", time="time", mean="y", se="se",
                               n="n", dose_unit="mg", time_unit="weeks")
    check_counts(data, file, "studyID", ["dose"], "time")
    assert (len(data.studies), len(data.arms), len(data.table)) == (14, 46, 233)
    assert data.doses == {PLACEBO: [0.0], "alogliptin": [6.25, 12.5, 25.0, 50.0, 100.0]}
    assert data.times == sorted(file["time"].unique().tolist())
    np.testing.assert_array_equal(data.table["mean"], file["y"])
    np.testing.assert_array_equal(data.table["se"], file["se"])
    np.testing.assert_array_equal(data.table["n"], file["n"])
    assert data.table["source_row"].iloc[-1] == "line 234"


@needs_shared
def test_mbnmadose_alogliptin_one_time_point():
    file = pd.read_csv(shared_csv("MBNMAdose_alog_pcfb.csv"))
    data = bd.ArmData.from_csv(shared_csv("MBNMAdose_alog_pcfb.csv"), study="studyID",
                               agent="agent", dose="dose", mean="y", se="se", n="n")
    check_counts(data, file, "studyID", ["dose"], None)
    assert (len(data.studies), len(data.arms), data.times) == (14, 46, [])


@needs_shared
def test_mbnmadose_osteopain_absolute_levels():
    file = pd.read_csv(shared_csv("MBNMAdose_osteopain.csv"))
    data = bd.ArmData.from_csv(shared_csv("MBNMAdose_osteopain.csv"), study="studyID",
                               agent="agent", dose="dose", mean="y", se="se", n="n",
                               change=False, outcome_name="womac_pain",
                               outcome_info={"womac_pain": {"lower": 0, "upper": 10,
                                                            "direction": "lower_is_better"}})
    check_counts(data, file, "studyID", ["agent", "dose"], None)
    assert (len(data.studies), len(data.arms)) == (18, 74)
    assert set(data.agents) == set(file["agent"]) - {"Placebo"} | {PLACEBO}
    assert data.doses["Etoricoxib"] == [5.0, 10.0, 30.0, 60.0, 90.0]


@needs_shared
def test_mbnmatime_osteopain_with_an_undisclosed_dose():
    """Agent and dose are parts of ``treatname`` (``Celebrex_200``); one lumiracoxib arm
    has no dose (``Lumiracoxib_NA``): refused by name, then left out explicitly."""
    file = pd.read_csv(shared_csv("MBNMAtime_osteopain.csv"))
    parts = file["treatname"].str.rsplit("_", n=1, expand=True)
    file = file.assign(agent=parts[0], dose=parts[1])
    args = {"study": "studyID", "arm": "arm", "agent": "agent", "dose": "dose",
            "time": "time", "mean": "y", "se": "se", "change": False}
    undisclosed = file["dose"] == "NA"
    assert undisclosed.sum() == 2
    with pytest.raises(bd.DataError, match="column 'dose' has non-numeric values \\('NA'\\) "
                                           "at rows 390, 391"):
        bd.ArmData.from_frame(file, **args)
    kept = file[~undisclosed]
    data = bd.ArmData.from_frame(kept, **args)
    check_counts(data, kept, "studyID", ["arm"], "time")
    assert (len(data.studies), len(data.arms), len(data.table)) == (30, 103, 415)
    assert data.doses[PLACEBO] == [0.0] and "Placebo" not in data.agents
    assert data.table.query("time == 0")["arm"].count() == 103  # every arm has a baseline


@needs_shared
def test_mbnmatime_hyaluronan_treatments_as_agents():
    """Each HA product is an agent at one regimen (dose 1); placebo is dose 0. Two rows
    have no n but an SE."""
    file = pd.read_csv(shared_csv("MBNMAtime_hyalarthritis.csv"))
    file = file.assign(dose=np.where(file["treatment"] == "placebo", 0, 1))
    data = bd.ArmData.from_frame(file, study="studyID", agent="treatment", dose="dose",
                                 time="time", mean="y", se="se", n="n")
    check_counts(data, file, "studyID", ["treatment"], "time")
    assert (len(data.studies), len(data.arms), len(data.table)) == (16, 34, 150)
    assert data.table["n"].isna().sum() == 2 == file["n"].isna().sum()
    assert len(data.agents) == 7


@needs_shared
def test_clindr_meta_analysis_database():
    """Continuous primary endpoints (the usual filter); a protocol is a study, each row a
    dose group; three reference rows with SE 0 are refused by name, then left out."""
    file = pd.read_csv(shared_csv("clinDR_metaData.csv"))
    rows = file.query("etype == 1 and poptype == 1 and primregimen == 1 "
                      "and primtype == 'CONTINUOUS'").copy()
    rows["study"] = rows["taid"].astype(str) + "-" + rows["protid"].astype(str)
    rows["group"] = rows.groupby("study").cumcount() + 1
    args = {"study": "study", "arm": "group", "agent": "gname", "dose": "dose",
            "mean": "rslt", "se": "se", "n": "sampsize", "outcome": "endpointShort"}
    zero = rows["se"] <= 0
    assert zero.sum() == 3
    expected = ", ".join(str(i) for i in rows.index[zero])
    with pytest.raises(bd.DataError, match=re.escape(
            f"column 'se' has values that are not positive at rows {expected}")):
        bd.ArmData.from_frame(rows, **args)
    kept = rows[~zero]
    data = bd.ArmData.from_frame(kept, **args)
    check_counts(data, kept, "study", ["group"], None)
    assert (len(data.studies), len(data.arms)) == (225, 923)
    assert len(data.outcomes) == kept["endpointShort"].nunique()
    # the file's SD is its SE x sqrt(n): the SE computed from SD and n is the file's SE
    from_sd = bd.ArmData.from_frame(kept, **{**args, "se": None, "sd": "sd"})
    np.testing.assert_allclose(from_sd.table["se"], kept["se"], rtol=1e-12)
