"""Tests of the simulated MSC knee-osteoarthritis dose-finding data set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesdose.datasets import msc_simulation
from bayesdose.datasets.msc_simulation import simulate_msc_trial, write_msc_trial

DATA_DIR = Path(msc_simulation.__file__).parent
FILE_NAMES = (
    "msc_trial.csv",
    "msc_trial_outcomes.csv",
    "msc_trial_adverse_events.csv",
    "msc_trial_truth.json",
)
OUTCOME_ORDER = [
    "koos_pain",
    "koos_symptoms",
    "koos_adl",
    "koos_sport_rec",
    "koos_qol",
    "womac_pain",
    "womac_stiffness",
    "womac_function",
    "mri_t2",
    "mri_synovitis",
    "sf_il6",
    "serum_comp",
]
PROMS = OUTCOME_ORDER[:8]
VISITS = {
    **{name: [0, 1, 3, 6, 12] for name in PROMS},
    "mri_t2": [0, 6, 12],
    "mri_synovitis": [0, 6, 12],
    "sf_il6": [0, 3, 6, 12],
    "serum_comp": [0, 1, 3, 6, 12],
}


@pytest.fixture(scope="module")
def shipped() -> dict:
    """Read the four shipped files."""
    return {
        "data": pd.read_csv(DATA_DIR / "msc_trial.csv"),
        "outcomes": pd.read_csv(DATA_DIR / "msc_trial_outcomes.csv"),
        "adverse_events": pd.read_csv(DATA_DIR / "msc_trial_adverse_events.csv"),
        "truth": json.loads((DATA_DIR / "msc_trial_truth.json").read_text(encoding="utf-8")),
    }


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the data set with the default seed into a fresh folder."""
    directory = tmp_path_factory.mktemp("msc")
    write_msc_trial(directory)
    return directory


@pytest.mark.parametrize("name", FILE_NAMES)
def test_regeneration_is_byte_identical(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_bytes() == (DATA_DIR / name).read_bytes()


def test_writer_leaves_only_the_four_files(regenerated: Path) -> None:
    assert sorted(path.name for path in regenerated.iterdir()) == sorted(FILE_NAMES)


def test_seed_changes_values_but_not_design(tmp_path: Path) -> None:
    write_msc_trial(tmp_path, seed=7)
    other = pd.read_csv(tmp_path / "msc_trial.csv")
    default = pd.read_csv(DATA_DIR / "msc_trial.csv")
    pd.testing.assert_frame_equal(other.drop(columns="value"), default.drop(columns="value"))
    assert not other["value"].equals(default["value"])
    assert json.loads((tmp_path / "msc_trial_truth.json").read_text())["seed"] == 7


def test_in_memory_frames_match_files(shipped: dict) -> None:
    data, outcomes, adverse_events, truth = simulate_msc_trial()
    np.testing.assert_array_equal(data["value"].to_numpy(), shipped["data"]["value"].to_numpy())
    assert list(outcomes.columns) == list(shipped["outcomes"].columns)
    assert adverse_events["event"].tolist() == shipped["adverse_events"]["event"].tolist()
    assert truth == shipped["truth"]


def test_columns_are_exact(shipped: dict) -> None:
    assert list(shipped["data"].columns) == ["patient", "dose", "month", "outcome", "value"]
    assert list(shipped["outcomes"].columns) == [
        "outcome",
        "label",
        "unit",
        "direction",
        "mcid",
        "family",
        "lower",
        "upper",
        "likelihood",
        "sd",
    ]
    assert list(shipped["adverse_events"].columns) == [
        "patient",
        "dose",
        "event",
        "n_events",
        "description",
    ]


def test_patients_and_doses(shipped: dict) -> None:
    data = shipped["data"]
    patients = data.drop_duplicates("patient")
    assert patients["patient"].tolist() == [f"P{i:02d}" for i in range(1, 13)]
    assert patients["dose"].value_counts().sort_index().to_dict() == {1: 4, 10: 4, 50: 4}
    assert (data.groupby("patient")["dose"].nunique() == 1).all()


def test_visits_per_outcome_and_sort_order(shipped: dict) -> None:
    data = shipped["data"]
    assert data["outcome"].drop_duplicates().tolist() == OUTCOME_ORDER
    for name, months in VISITS.items():
        rows = data[data["outcome"] == name]
        assert len(rows) == 12 * len(months)
        for _, visits in rows.groupby("patient"):
            assert visits["month"].tolist() == months
    rank = data["outcome"].map({name: i for i, name in enumerate(OUTCOME_ORDER)})
    keys = list(zip(rank, data["patient"], data["month"], strict=True))
    assert keys == sorted(keys)


def test_only_p07_month_6_is_missing(shipped: dict) -> None:
    data = shipped["data"]
    missing = data[data["value"].isna()]
    assert set(missing["patient"]) == {"P07"}
    assert set(missing["month"]) == {6}
    assert sorted(missing["outcome"]) == sorted(OUTCOME_ORDER)
    p07_month_6 = data[(data["patient"] == "P07") & (data["month"] == 6)]
    assert len(p07_month_6) == len(OUTCOME_ORDER)


def test_outcome_metadata(shipped: dict) -> None:
    meta = shipped["outcomes"].set_index("outcome")
    assert meta.index.tolist() == OUTCOME_ORDER
    koos = [name for name in PROMS if name.startswith("koos")]
    assert (meta.loc[koos, "direction"] == "higher_is_better").all()
    others = [name for name in OUTCOME_ORDER if name not in koos]
    assert (meta.loc[others, "direction"] == "lower_is_better").all()
    assert (meta.loc[PROMS, "mcid"] == 10).all()
    assert (meta.loc[PROMS, ["lower", "upper"]] == [0, 100]).all().all()
    assert meta.loc["mri_synovitis", "likelihood"] == "ordinal"
    assert meta.loc[["sf_il6", "serum_comp"], "likelihood"].tolist() == ["lognormal"] * 2
    assert math.isnan(meta.loc["sf_il6", "upper"])
    # each declared SD is the generating population SD of the outcome (log scale for the
    # biomarkers); the ordinal grade declares none
    truth = shipped["truth"]["outcomes"]
    for name in OUTCOME_ORDER:
        if name == "mri_synovitis":
            assert math.isnan(meta.loc[name, "sd"])
        else:
            assert meta.loc[name, "sd"] == truth[name]["baseline_sd"], name


def test_truth_contrasts(shipped: dict) -> None:
    truth = shipped["truth"]["outcomes"]
    mcid = shipped["outcomes"].set_index("outcome")["mcid"]
    assert truth["koos_pain"]["contrast_50_vs_1_month_12"] > mcid["koos_pain"]
    assert truth["womac_pain"]["contrast_50_vs_1_month_12"] < -mcid["womac_pain"]
    assert truth["mri_t2"]["contrast_50_vs_1_month_12"] == 0
    assert truth["mri_t2"]["delta"] == 0
    assert all(row["effect"] == 0 for row in truth["mri_t2"]["expected_dose_effect"])


@pytest.mark.parametrize("name", OUTCOME_ORDER)
def test_truth_contrast_follows_the_formula(shipped: dict, name: str) -> None:
    spec = shipped["truth"]["outcomes"][name]
    sign = 1 if spec["direction"] == "higher_is_better" else -1

    def effect(dose: float) -> float:
        emax = spec["delta"] * dose / (spec["ed50"] + dose) * (spec["ed50"] + 50) / 50
        return sign * emax * (1 - math.exp(-math.log(2) * 12 / spec["t_half"]))

    assert spec["contrast_50_vs_1_month_12"] == pytest.approx(effect(50) - effect(1), abs=1e-6)
    assert spec["contrast_10_vs_1_month_12"] == pytest.approx(effect(10) - effect(1), abs=1e-6)
    listed = {(row["dose"], row["month"]) for row in spec["expected_dose_effect"]}
    assert listed == {(d, m) for d in (1, 10, 50) for m in VISITS[name][1:]}


def test_prom_values_within_scale(shipped: dict) -> None:
    data = shipped["data"]
    values = data.loc[data["outcome"].isin(PROMS), "value"].dropna()
    assert values.between(0, 100).all()
    assert (values.round(1) == values).all()


def test_synovitis_is_an_integer_grade(shipped: dict) -> None:
    data = shipped["data"]
    values = data.loc[data["outcome"] == "mri_synovitis", "value"].dropna()
    assert (values == values.round()).all()
    assert set(values.astype(int)) <= {0, 1, 2, 3}
    assert values.nunique() > 1


def test_biomarkers_are_positive(shipped: dict) -> None:
    data = shipped["data"]
    values = data.loc[data["outcome"].isin(["sf_il6", "serum_comp"]), "value"].dropna()
    assert len(values) == 12 * 9 - 2
    assert (values > 0).all()


def test_adverse_events(shipped: dict) -> None:
    events = shipped["adverse_events"]
    assert events["patient"].tolist() == [f"P{i:02d}" for i in range(1, 13)]
    assert set(events["event"]) <= {0, 1}
    assert events["event"].sum() == 4
    assert events.groupby("dose")["event"].sum().to_dict() == {1: 0, 10: 1, 50: 3}
    affected = events[events["event"] == 1]
    assert set(affected["n_events"]) <= {1, 2}
    assert (events.loc[events["event"] == 0, "n_events"] == 0).all()
    assert affected["description"].notna().all()
    probabilities = shipped["truth"]["adverse_events"]["probability_by_dose"]
    assert probabilities == {"1": 0.0, "10": 0.25, "50": 0.75}


@pytest.mark.parametrize("name", [*PROMS, "mri_t2", "sf_il6", "serum_comp"])
def test_baselines_agree_with_truth(shipped: dict, name: str) -> None:
    spec = shipped["truth"]["outcomes"][name]
    data = shipped["data"]
    baseline = data.loc[(data["outcome"] == name) & (data["month"] == 0), "value"]
    model_scale = np.log(baseline) if spec["scale"] == "log" else baseline
    standard_error = spec["baseline_sd"] / math.sqrt(len(baseline))
    assert abs(model_scale.mean() - spec["baseline_mean"]) < 4 * standard_error


def test_prom_improvement_is_larger_at_top_dose(shipped: dict) -> None:
    data = shipped["data"]
    sign = (
        shipped["outcomes"]
        .set_index("outcome")["direction"]
        .map({"higher_is_better": 1, "lower_is_better": -1})
    )
    proms = data[data["outcome"].isin(PROMS)]
    wide = proms.pivot_table(index=["outcome", "patient", "dose"], columns="month", values="value")
    aligned = (wide[12] - wide[0]) * sign.reindex(wide.index.get_level_values("outcome")).values
    by_dose = aligned.groupby(level="dose").mean()
    assert by_dose[50] - by_dose[1] > 5
