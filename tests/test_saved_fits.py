"""Fits saved by bayesdose 0.1.0 (the flat-module layout, ArviZ 0.x InferenceData netCDF)
still load, and their read-outs are those the saving version computed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.results.dose_estimands import effective_dose_draws

DATA = Path(__file__).resolve().parent / "data"

#: 0.1.0 reported highest-density intervals as hdi_low, hdi_high; they are ci_low, ci_high
#: with ci_kind="hdi" now (equal-tailed ones by default).
HDI_COLUMNS = {"ci_low": "hdi_low", "ci_high": "hdi_high"}


@pytest.fixture(scope="module")
def saved():
    fit = bd.load_fit(DATA / "fit_0.1.0.nc")
    expected = json.loads((DATA / "fit_0.1.0_readouts.json").read_text())
    return fit, expected


def _same(table: pd.DataFrame, expected: dict) -> None:
    assert list(table.columns) == list(expected)
    for column, values in expected.items():
        got = table[column].tolist()
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            np.testing.assert_allclose(np.asarray(got, float), np.asarray(values, float),
                                       rtol=1e-12, atol=0, err_msg=column)
        else:
            assert [str(v) for v in got] == [str(v) for v in values], column


def test_a_fit_saved_before_the_move_loads_with_its_model_and_data(saved):
    fit, expected = saved
    assert fit.outcomes == ["koos_pain", "womac_pain"]
    assert fit.model.dose_shape.name == "emax" and fit.model.time_shape.name == "exponential"
    assert fit.settings["random_seed"] == expected["settings"]["random_seed"] == 7
    assert fit.idata.posterior.sizes["draw"] == 100


def test_its_contrasts_are_those_the_saving_version_computed(saved):
    fit, expected = saved
    table = fit.contrast(dose=50, reference=1, time=12, ci_kind="hdi")
    _same(table.rename(columns=HDI_COLUMNS)[list(expected["contrast"])], expected["contrast"])
    default = fit.contrast(dose=50, reference=1, time=12)  # the same draws, equal-tailed
    np.testing.assert_allclose(default["mean"], expected["contrast"]["mean"], rtol=1e-12)
    draws = fit.effect_draws(dose=50, time=12, reference=1).to_numpy().reshape(-1, 2)
    np.testing.assert_allclose(default[["ci_low", "ci_high"]].to_numpy().T,
                               np.quantile(draws, [0.025, 0.975], axis=0), rtol=1e-12)


def test_its_ed50_is_the_one_the_saving_version_computed(saved):
    fit, expected = saved
    old = expected["ed50"]
    assert old["prob_not_reached"] == [0.0, 0.0]  # every draw has an ED50
    table = fit.effective_dose(p=0.5, time=12)
    same = ["outcome", "time", "p", "method", "median", "prob_below_range",
            "prob_in_range", "prob_beyond_range", "prob_not_reached"]
    _same(table[same], {k: old[k] for k in same})
    # equal-tailed by default: 0.1.0's q_low, q_high; highest-density: its hdi_low, hdi_high
    _same(table[["ci_low", "ci_high"]].rename(columns={"ci_low": "q_low", "ci_high": "q_high"}),
          {k: old[k] for k in ("q_low", "q_high")})
    hdi = fit.effective_dose(p=0.5, time=12, ci_kind="hdi")
    _same(hdi[["ci_low", "ci_high"]].rename(columns=HDI_COLUMNS),
          {k: old[k] for k in ("hdi_low", "hdi_high")})
    # 0.1.0's mean and SD of the ED50 draws
    draws = effective_dose_draws(fit.posterior_view, p=0.5).to_numpy().reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(axis=0), old["mean"], rtol=1e-12)
    np.testing.assert_allclose(draws.std(axis=0, ddof=1), old["sd"], rtol=1e-12)


def test_a_design_run_saved_before_the_move_resumes_without_running_again(tmp_path):
    saved = DATA / "simulation_0.1.0"
    folder = tmp_path / "run"
    folder.mkdir()
    for arm in ("phase1_repeat", "phase2b"):
        (folder / arm).mkdir()
        for path in (saved / arm).iterdir():
            (folder / arm / path.name).write_bytes(path.read_bytes())
    before = {p: p.read_bytes() for p in folder.rglob("*.parquet")}
    design = bd.Design.from_toml(saved / "design.toml")
    result = bd.simulate(design, reps=2, seed=3, workers=1, out=folder, progress=False)
    assert {p: p.read_bytes() for p in folder.rglob("*.parquet")} == before
    expected = pd.read_csv(saved / "operating_characteristics.csv", index_col=0)
    # the columns 0.1.0 wrote, over all replicates (the table now also has the same
    # metrics over the replicates whose fits passed their diagnostics)
    pd.testing.assert_frame_equal(result.table[list(expected.columns)].reset_index(drop=True),
                                  expected.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize(("dose_shape", "extra"), [
    ("emax", {"log_ed50": np.log(10 / 500 ** (1 / 3))}),
    ("linear", {}),
    ("quadratic", {"curvature": -0.7}),
    ("free", {}),
])
def test_draws_of_the_previous_parameterisation_load_as_the_same_curves(dose_shape, extra):
    """Parameterisation 1 (fits saved without the key): delta against dose 0 at the
    plateau, course the change at dose 0. Loading converts them to the same curves."""
    from conftest import fixed_fit

    from bayesdose.results.storage import read_config, upgrade_parameterisation

    data = bd.datasets.load_msc_trial().select(["koos_pain"])  # doses 1, 10, 50: no placebo
    model = bd.DoseResponseModel(dose_shape=dose_shape, time_shape="exponential")
    course = np.array([0.1, 0.3, 0.2, 0.4])
    delta = (np.broadcast_to([0.5, 1.2], (1, 2, 1, 2)).copy() if dose_shape == "free"
             else np.full((1, 2, 1), 1.2))
    draws = {"delta": delta, "log_t_half": np.full((1, 2, 1), np.log(0.25)),
             "course": np.broadcast_to(course, (1, 2, 1, 4)).copy(),
             **{k: np.full((1, 2, 1), v) for k, v in extra.items()}}
    fit = fixed_fit(data, model, draws)
    config = read_config(fit.idata)
    del config["parameterisation"]
    upgrade_parameterisation(fit.idata, config, model, fit.inputs)

    def old_curve(dose: float) -> float:  # f_1(d): delta at the top dose against dose 0
        x = dose / 50
        if dose_shape == "emax":
            return 1.2 * dose / (10 + dose) * 60 / 50
        if dose_shape == "linear":
            return 1.2 * x
        if dose_shape == "free":  # against the lowest dose, 1 (and no curve below it)
            return {1.0: 0.0, 10.0: 0.5, 50.0: 1.2}[dose]
        return 1.2 * x - 0.7 * x * (x - 1)

    times = np.array([1.0, 3.0, 6.0, 12.0])
    onset = 1 - 0.5 ** (times / 3)  # g_1(t): 1 at the plateau, t_half 3
    sd = float(fit.inputs.scales.sd[0]) * float(fit.inputs.scales.sign[0])
    doses = [1.0, 10.0, 50.0] if dose_shape == "free" else [0.0, 1.0, 10.0, 50.0]
    effect = fit.effect(dose=doses, time=list(times), reference=doses[0])
    change = fit.expected_change(dose=[1.0, 10.0, 50.0], time=list(times))
    for d in doses:
        got = effect[effect["dose"] == d].sort_values("time")["mean"].to_numpy()
        np.testing.assert_allclose(got, old_curve(d) * onset * sd, rtol=1e-10, atol=1e-12)
    for d in (1.0, 10.0, 50.0):
        got = change[change["dose"] == d].sort_values("time")["mean"].to_numpy()
        np.testing.assert_allclose(got, (old_curve(d) * onset + course) * sd, rtol=1e-10)
