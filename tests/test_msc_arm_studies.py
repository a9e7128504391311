"""Tests of the simulated arm-level MSC studies: the shipped files, the loader, and that the
summaries are drawn from the stated truth, consistent with the embedded trial's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.datasets import msc_arm_studies
from bayesdose.datasets.msc_arm_studies import (
    BETWEEN_STUDY_SD,
    DEFAULT_SEED,
    FILES,
    MONTHS,
    STUDIES,
    msc_arm_truth,
    simulate_msc_arm_studies,
    true_arm_mean,
    write_msc_arm_studies,
)

DATA_DIR = Path(msc_arm_studies.__file__).parent


def _expected(truth: dict) -> pd.DataFrame:
    rows = [(study, e["dose"], e["month"], e["mean"])
            for study, values in truth["studies"].items()
            for e in values["expected_mean_change"]]
    return pd.DataFrame(rows, columns=["study", "dose", "month", "true"])


def test_regenerating_reproduces_the_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    written = write_msc_arm_studies(tmp_path)
    assert [p.name for p in written] == [FILES["data"], FILES["truth"]]
    for name in FILES.values():
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, truth = simulate_msc_arm_studies(DEFAULT_SEED)
    again, truth_again = simulate_msc_arm_studies(DEFAULT_SEED)
    other, other_truth = simulate_msc_arm_studies(DEFAULT_SEED + 1)
    pd.testing.assert_frame_equal(first, again)
    assert truth == truth_again
    assert not first["mean_change"].equals(other["mean_change"])
    assert truth["studies"]["MSC-B"]["delta"] != other_truth["studies"]["MSC-B"]["delta"]


def test_files_are_marked_simulated() -> None:
    lines = (DATA_DIR / FILES["data"]).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# SIMULATED DATA - NOT THE RESULTS OF ANY REAL TRIAL."
    truth = json.loads((DATA_DIR / FILES["truth"]).read_text(encoding="utf-8"))
    assert truth["simulated"] is True
    assert "SIMULATED" in truth["description"]
    assert "simulated" in (msc_arm_studies.__doc__ or "").lower()
    assert "simulated" in (bd.datasets.load_msc_arm_studies.__doc__ or "").lower()


def test_loader_returns_the_design_with_the_trials_koos_pain_metadata() -> None:
    data = bd.datasets.load_msc_arm_studies()
    trial = bd.datasets.load_msc_trial()
    assert isinstance(data, bd.ArmData)
    assert data.studies == list(STUDIES)
    assert data.outcomes == ["koos_pain"]
    assert data.change is True
    assert data.times == [float(m) for m in MONTHS]
    assert (data.dose_unit, data.time_unit) == (trial.dose_unit, trial.time_unit)
    assert data.info("koos_pain") == trial.info("koos_pain")
    for study, design in STUDIES.items():
        rows = data.table[data.table["study"] == study]
        assert sorted(rows["dose"].unique()) == list(design.doses)
        assert rows["n"].max() == design.patients_per_arm
        assert 20 <= rows["n"].min()


def test_dropout_only_shrinks_an_arm_over_time() -> None:
    frame, _ = simulate_msc_arm_studies()
    for _, arm in frame.groupby(["study", "arm"]):
        n = arm.sort_values("month")["n"].to_numpy()
        assert np.all(np.diff(n) <= 0)
        assert n[0] == STUDIES[arm["study"].iloc[0]].patients_per_arm


def test_truth_is_the_embedded_trials_for_koos_pain() -> None:
    trial = bd.datasets.load_msc_truth()["outcomes"]["koos_pain"]
    truth = bd.datasets.load_msc_arm_truth()
    assert truth == msc_arm_truth(DEFAULT_SEED)
    for name in ("delta", "ed50", "t_half"):
        assert truth[name] == trial[name]
    assert {month: truth["h"][month] for month in ("3", "6", "12")} == {
        month: trial["h"][month] for month in ("3", "6", "12")}
    assert truth["pooled"]["contrast_50_vs_1_month_12"] == pytest.approx(
        trial["contrast_50_vs_1_month_12"], abs=1e-5)
    assert truth["embedded_trial"]["z"] == 0.0
    assert truth["between_study_sd"] == BETWEEN_STUDY_SD
    pooled_50 = truth["pooled"]["contrast_vs_placebo_month_12"]["50"]
    assert pooled_50 == pytest.approx(
        next(e["effect"] for e in trial["expected_dose_effect"]
         if (e["dose"], e["month"]) == (50, 12)), abs=1e-5)


def test_study_effects_and_their_contrasts_follow_the_stated_model() -> None:
    truth = msc_arm_truth()
    for study, values in truth["studies"].items():
        assert values["delta"] == pytest.approx(truth["delta"] + BETWEEN_STUDY_SD * values["z"],
                                                abs=1e-5)
        # every effect scales with delta_s: the contrast relative to the pooled one
        assert values["contrast_50_vs_1_month_12"] == pytest.approx(
            truth["pooled"]["contrast_50_vs_1_month_12"] * values["delta"] / truth["delta"],
            abs=1e-5)
        placebo = STUDIES[study].placebo_shift + truth["h"]["12"]
        assert true_arm_mean(0.0, 12, values["delta"], STUDIES[study].placebo_shift) == placebo
    assert truth["pooled"]["between_study_sd_contrast_50_vs_1_month_12"] == pytest.approx(
        truth["pooled"]["contrast_50_vs_1_month_12"] * BETWEEN_STUDY_SD / truth["delta"],
        abs=1e-5)


def test_summaries_scatter_around_the_truth_as_their_standard_errors_say() -> None:
    """Over many seeds, (mean - true mean) / se is centred on 0 with SD about 1 (a t
    variable with 19 to 27 degrees of freedom), and the study effects have SD tau."""
    z, deltas = [], []
    for seed in range(400):
        frame, truth = simulate_msc_arm_studies(seed)
        merged = frame.merge(_expected(truth), on=["study", "dose", "month"])
        z.append(((merged["mean_change"] - merged["true"]) / merged["se"]).to_numpy())
        deltas += [v["delta"] for v in truth["studies"].values()]
    z = np.concatenate(z)
    per_arm = z.reshape(-1, len(MONTHS)).mean(axis=1)  # an arm's months are correlated
    assert abs(per_arm.mean()) < 3 * per_arm.std() / np.sqrt(per_arm.size)
    assert 0.98 < z.std() < 1.12
    assert np.std(deltas) == pytest.approx(BETWEEN_STUDY_SD, rel=0.12)
    assert np.mean(deltas) == pytest.approx(18.0, abs=0.45)


def test_arm_means_are_correlated_over_time_as_the_truth_says() -> None:
    """An arm's mean at months 3 and 12 share the patients' lasting deviations: their
    errors correlate about as a patient's changes do (0.63, a little less with dropout)."""
    pairs = []
    for seed in range(300):
        frame, truth = simulate_msc_arm_studies(seed)
        merged = frame.merge(_expected(truth), on=["study", "dose", "month"])
        error = (merged["mean_change"] - merged["true"]).to_numpy().reshape(-1, len(MONTHS))
        pairs.append(error[:, [0, 2]])
    pairs = np.concatenate(pairs)
    correlation = np.corrcoef(pairs.T)[0, 1]
    expected = msc_arm_truth()["within_arm_correlation"]
    assert expected == pytest.approx(0.6255, abs=1e-3)
    assert 0.5 < correlation < expected + 0.05
