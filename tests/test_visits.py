"""Nominal visits and actual times: the common course at the nominal visits, the time
course of the dose effect at the actual times of measurement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.errors import DataError, SpecError

VISITS = (0.0, 1.0, 2.0, 4.0, 8.0)
T_HALF, TOP_EFFECT, SD = 1.0, 10.0, 1.5


def simulate(seed: int, per_arm: int = 12, jitter: float = 0.3) -> pd.DataFrame:
    """Measurements at visits 1, 2, 4, 8 taken up to ``jitter`` x the visit early or late;
    the dose effect rises exponentially with half-time ``T_HALF`` in actual time."""
    rng = np.random.default_rng(seed)
    rows = []
    for dose in (1.0, 10.0, 50.0):
        top_share = {1.0: 0.0, 10.0: 0.5, 50.0: 1.0}[dose]
        for i in range(per_arm):
            u = rng.normal(0, 2.0)
            for visit in VISITS:
                actual = visit * (1 + rng.uniform(-jitter, jitter)) if visit else 0.0
                onset = (1 - 2 ** (-actual / T_HALF)) / (1 - 2 ** (-VISITS[-1] / T_HALF))
                value = 30 + u + TOP_EFFECT * top_share * onset + rng.normal(0, SD)
                rows.append((f"d{dose:g}p{i}", dose, visit, actual, value))
    return pd.DataFrame(rows, columns=["patient", "dose", "visit", "day", "score"])


def load(frame: pd.DataFrame, **kwargs) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="visit",
                                   outcomes=["score"], **kwargs)


def test_actual_times_drive_the_time_course_and_visits_the_common_course():
    frame = simulate(1, per_arm=2)
    data = load(frame, actual_time="day")
    assert data.visits == [1.0, 2.0, 4.0, 8.0]  # nominal
    inputs = bd.DoseResponseModel().inputs(data)
    post = frame[frame["visit"] > 0].reset_index(drop=True)
    np.testing.assert_allclose(inputs.elapsed, post["day"])
    np.testing.assert_allclose(np.asarray(inputs.visits)[inputs.time_idx], post["visit"])
    # a course with one value per visit is evaluated at the nominal visits
    free = bd.DoseResponseModel(time_shape="free").inputs(data)
    np.testing.assert_allclose(free.elapsed, post["visit"])
    # without actual times, the elapsed time is the visit
    np.testing.assert_allclose(bd.DoseResponseModel().inputs(load(frame)).elapsed,
                               post["visit"])


def test_actual_times_survive_to_frame_and_a_model_file(tmp_path: Path):
    frame = simulate(2, per_arm=2)
    frame.loc[0, "day"] = np.nan  # a baseline row may leave it empty
    data = load(frame, actual_time="day")
    assert data.table.loc[0, "actual_time"] == 0.0
    again = data.to_frame()
    assert "day" in again.columns
    rebuilt = bd.TrialData.from_frame(again, patient="patient", dose="dose", time="visit",
                                      outcome="outcome", value="value", actual_time="day")
    np.testing.assert_array_equal(rebuilt.table["actual_time"], data.table["actual_time"])
    frame.to_csv(tmp_path / "trial.csv", index=False)
    (tmp_path / "m.toml").write_text(
        '[data]\nsource = "trial.csv"\npatient = "patient"\ndose = "dose"\ntime = "visit"\n'
        'outcomes = ["score"]\nactual_time = "day"\n')
    spec = bd.ModelSpec.from_toml(tmp_path / "m.toml")
    np.testing.assert_array_equal(spec.load_data().table["actual_time"],
                                  data.table["actual_time"])


def test_bad_actual_times_name_the_column_and_rows():
    frame = simulate(3, per_arm=1)
    with pytest.raises(DataError, match=r"column\(s\) 'study_day' not found"):
        load(frame, actual_time="study_day")
    with pytest.raises(DataError, match=r"column 'visit' is given both as time= and as "
                                        r"actual_time="):
        load(frame, actual_time="visit")
    blank = frame.copy()
    blank.loc[2, "day"] = np.nan
    with pytest.raises(DataError, match=r"column 'day' \(actual time\) is empty at row 2"):
        load(blank, actual_time="day")
    early = frame.copy()
    early.loc[1, "day"] = -0.5
    with pytest.raises(DataError, match=r"column 'day' \(actual time\) is at or before the "
                                        r"baseline time 0 at row 1"):
        load(early, actual_time="day")
    text = frame.astype({"day": object})
    text.loc[3, "day"] = "day 4"
    with pytest.raises(DataError, match=r"column 'day' has non-numeric values \('day 4'\) "
                                        r"at row 3"):
        load(text, actual_time="day")
    twice = pd.concat([frame, frame.iloc[[2]].assign(day=2.4)], ignore_index=True)
    with pytest.raises(DataError, match=r"duplicate rows .*rows 2, 15"):
        load(twice, actual_time="day")
    with pytest.raises(SpecError, match=r"data.actual_time must be the name of the column"):
        bd.ModelSpec.from_dict({"data": {"source": "x.csv", "actual_time": 3}})


@pytest.mark.slow
def test_actual_times_recover_the_onset_that_nominal_visits_blur():
    """With measurements up to 30% off their visit, the exponential course on actual
    times covers the true half-time and the top-dose effect at the last visit and at
    the first one."""
    data = load(simulate(2026, per_arm=20), actual_time="day")
    # the effect is about 5 scale SDs: a wide prior on it, so that what is tested is the
    # time axis and not the default prior's pull on large effects
    wide = {"delta": Prior("Normal", mu=0, sigma=5)}
    model = bd.DoseResponseModel(dose_shape="free", time_shape="exponential", priors=wide)
    fit = model.fit(data, draws=400, tune=400, chains=2, random_seed=11, progressbar=False)
    contrast = fit.contrast(dose=50.0, reference=1.0, time=8.0, ci_prob=0.9).iloc[0]
    assert contrast["ci_low"] <= TOP_EFFECT <= contrast["ci_high"]  # g = 1 at time 8
    early = fit.contrast(dose=50.0, reference=1.0, time=1.0, ci_prob=0.9).iloc[0]
    truth = TOP_EFFECT * (1 - 2 ** (-1 / T_HALF)) / (1 - 2 ** (-VISITS[-1] / T_HALF))
    assert early["ci_low"] <= truth <= early["ci_high"]
    log_t_half = fit.idata.posterior["log_t_half"].to_numpy().ravel()
    t_half = np.exp(log_t_half) * VISITS[-1]
    low, high = np.quantile(t_half, [0.05, 0.95])
    assert low <= T_HALF <= high
