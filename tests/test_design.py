"""Design files, the true scenario, and operating characteristics from known replicates."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesdose.design.designs import Design
from bayesdose.design.simulation import (
    dropout_weights,
    operating_characteristics,
    scenario_parameters,
)
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import SpecError

DESIGN_FILE = Path(__file__).parents[1] / "models" / "msc_phase2_design.toml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads(DESIGN_FILE.read_text())


def test_shipped_design_file_reads(raw):
    design = Design.from_toml(DESIGN_FILE)
    assert "design" in DESIGN_FILE.name
    assert [a.name for a in design.arms] == list(raw["designs"])
    assert design.decision.reference_dose(design.arms[0]) == 1.0
    assert design.sampler_settings()["chains"] == raw["sampler"]["chains"]
    assert len(design.identity) == 16
    assert Design.from_dict(raw).identity == design.identity


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda r: r["scenario"].update(ed5=3), "Did you mean 'ed50'"),
    (lambda r: r["scenario"].pop("ed50"), "scenario.ed50 is needed"),
    (lambda r: r["scenario"].update(dose_shape="cubic"), "scenario.dose_shape"),
    (lambda r: r["decision"].update(reference=5), "not a dose of design"),
    (lambda r: r["decision"].update(time=9), "not a visit of design"),
    (lambda r: r["designs"]["phase2b"].update(dropout=1.5), "dropout must be <= 0.9"),
    (lambda r: r["designs"]["phase2b"].update(n_per_arm=1), "n_per_arm must be an integer"),
    (lambda r: r["designs"]["phase2b"].update(doses=[10, 10]), "lists a dose twice"),
    (lambda r: r["designs"]["phase2b"].pop("visits"), "designs.phase2b.visits is missing"),
    (lambda r: r.pop("decision"), "[decision] is missing"),
    (lambda r: r["analysis"].update(dose_shape="zigzag"), "analysis:"),
    (lambda r: r["sampler"].update(draws=0), "sampler.draws must be a positive integer"),
    (lambda r: r["outcome"].update(direction="up"), "outcome.direction"),
    (lambda r: r["outcome"].update(baseline_sd=0), "outcome.baseline_sd must be > 0"),
    (lambda r: r["outcome"].update(baseline_sd=-4.0), "outcome.baseline_sd must be > 0"),
    (lambda r: r["outcome"].update(baseline_sd="narrow"),
     "outcome.baseline_sd must be a number"),
    (lambda r: r["outcome"].update(baseline_spread=4), "outcome.baseline_spread"),
])
def test_design_errors_name_the_field(raw, edit, needle):
    broken = copy.deepcopy(raw)
    edit(broken)
    with pytest.raises(SpecError, match=None) as err:
        Design.from_dict(broken)
    assert needle in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        Design.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        Design.from_toml(bad)


def test_scenario_truth_is_the_emax_curve_and_the_true_choice_follows_the_mcid():
    design = Design.from_toml(DESIGN_FILE)
    s = design.scenario
    emax, ed50, t_half = s.emax, s.ed50, s.t_half
    arms = design.arm("phase2b")
    onset = 1 - 2 ** (-12 / t_half)
    truth = design.true_improvements(arms)
    for dose, value in truth.items():
        expected = (emax * dose / (ed50 + dose) - emax * 1 / (ed50 + 1)) * onset
        assert value == pytest.approx(expected, rel=1e-12)
    expected_choice = min(d for d, v in truth.items() if v > design.decision.mcid)
    assert design.true_choice(arms) == expected_choice == 25.0
    assert design.true_ed50() == ed50


def test_simulated_trials_follow_the_scenario_in_outcome_units():
    design = Design.from_toml(DESIGN_FILE)
    for arms in design.arms:
        sim = simulate_trial(**scenario_parameters(design, arms), seed=3)
        for row in sim.true_effect.itertuples():
            expected = float(design.scenario.improvement(np.array(row.dose), row.time))
            assert row.effect == pytest.approx(design.sign * expected, rel=1e-9, abs=1e-9)
        assert sorted(set(sim.data.doses)) == list(arms.doses)
        assert len(sim.data.patients) == arms.n_per_arm * len(arms.doses)



def test_baseline_sd_spreads_only_the_baselines_and_keeps_the_scale(raw):
    from bayesdose.design.simulation import simulated_trial

    plain = Design.from_dict(raw)
    assert plain.baseline_sd is None and plain.baseline_spread == plain.sd == 15
    assert "baseline_sd" not in plain.to_dict()  # the record (and run identity) as before
    narrow_raw = copy.deepcopy(raw)
    narrow_raw["outcome"]["baseline_sd"] = 15 / 4
    narrow = Design.from_dict(narrow_raw)
    assert (narrow.baseline_sd, narrow.baseline_spread, narrow.sd) == (3.75, 3.75, 15.0)
    assert narrow.to_dict()["baseline_sd"] == 3.75
    assert narrow.identity != plain.identity
    same = copy.deepcopy(narrow_raw)
    assert Design.from_dict(same).to_dict() == narrow.to_dict()
    arms = narrow.arm("phase2b").__class__("many", (1.0, 10.0, 50.0), 2000, (3.0, 12.0))
    params = scenario_parameters(narrow, arms)
    assert (params["baseline_sd"], params["baseline_spread"]) == (15.0, 3.75)
    sims = {name: simulate_trial(**scenario_parameters(d, arms), seed=5)
            for name, d in (("plain", plain), ("narrow", narrow))}
    spread = {name: sim.data.baselines["baseline"].std() for name, sim in sims.items()}
    assert spread["plain"] == pytest.approx(15, rel=0.05)
    assert spread["narrow"] == pytest.approx(3.75, rel=0.05)
    pd.testing.assert_frame_equal(sims["plain"].true_effect, sims["narrow"].true_effect)
    changes = {name: sim.data.changes.groupby("time")["change"].std()
               for name, sim in sims.items()}
    np.testing.assert_allclose(changes["narrow"], changes["plain"], rtol=0.05)
    # the analysis standardises by the declared outcome SD, however narrow the baselines
    model = narrow.analysis_model()
    inputs = model.inputs(simulated_trial(narrow, narrow.arms[0], seed=1).data)
    assert inputs.scales.sd.tolist() == [15.0]
    assert [str(v) for v in inputs.scales.sd_source] == ["declared sd"]
    # the default spread draws the baselines exactly as before it existed
    before = {k: v for k, v in scenario_parameters(plain, arms).items()
              if k != "baseline_spread"}
    pd.testing.assert_frame_equal(simulate_trial(**before, seed=5).data.table,
                                  sims["plain"].data.table)


def test_dropout_is_monotone_at_the_stated_rate():
    design = Design.from_toml(DESIGN_FILE)
    arms = design.arm("phase2b")
    kept = dropout_weights(arms, 20000, np.random.default_rng(0))
    assert np.all(np.diff(kept, axis=1) <= 0)  # once gone, gone
    stay = kept.mean(axis=0)
    expected = (1 - arms.dropout) ** np.arange(1, len(arms.visits) + 1)
    np.testing.assert_allclose(stay, expected, atol=0.01)


def test_operating_characteristics_of_known_replicates():
    rows = []
    for rep in range(100):
        go = rep < 30                     # 30% go, all picking dose 10
        for dose, truth in ((10, 5.0), (50, 12.0)):
            rows.append({"design": "A", "replicate": rep, "dose": dose, "reference": 1,
                         "estimate": truth + (1.0 if rep % 2 else -1.0) + 0.5,
                         "truth": truth, "covered": rep % 4 != 0, "go": go,
                         "chosen_dose": 10.0 if go else np.nan, "true_choice": 10.0,
                         "correct": go, "ed50_median": 12.0, "ed50_truth": 10.0,
                         "ed50_covered": 1.0, "failed_diagnostics": rep < 5})
    table = operating_characteristics(pd.DataFrame(rows)).set_index(["metric", "dose"])
    assert table.loc[("prob_go", np.nan), "estimate"] == pytest.approx(0.3)
    assert table.loc[("prob_go", np.nan), "mcse"] == pytest.approx(np.sqrt(0.3 * 0.7 / 100))
    assert table.loc[("prob_pick", 10.0), "estimate"] == pytest.approx(0.3)
    assert table.loc[("prob_pick", 50.0), "estimate"] == 0.0
    assert table.loc[("prob_pick", np.nan), "estimate"] == pytest.approx(0.7)
    assert table.loc[("failed_diagnostics", np.nan), "estimate"] == pytest.approx(0.05)
    assert table.loc[("bias", 50.0), "estimate"] == pytest.approx(0.5)
    assert table.loc[("rmse", 50.0), "estimate"] == pytest.approx(np.sqrt((0.25 + 2.25) / 2))
    assert table.loc[("coverage", 10.0), "estimate"] == pytest.approx(0.75)
    assert table.loc[("ed50_bias", np.nan), "estimate"] == pytest.approx(2.0)
    assert (table["n"] == 100).all()



def known_replicates(failed_go: bool, n: int = 40) -> pd.DataFrame:
    """``n`` replicates, the second half failing their diagnostics and copying the first
    half's rows, except that with ``failed_go=False`` every failed one ends in no-go."""
    rows = []
    for rep in range(n):
        failed, source = rep >= n // 2, rep % (n // 2)
        go = source % 4 != 0 and (failed_go or not failed)   # 75% go among the passing
        for dose, truth in ((10, 5.0), (50, 12.0)):
            rows.append({"design": "A", "replicate": rep, "dose": dose, "reference": 1,
                         "estimate": truth + (1.0 if source % 2 else -1.0)
                         + (0.0 if failed_go or not failed else -4.0),
                         "truth": truth, "covered": source % 5 != 0, "go": go,
                         "chosen_dose": 50.0 if go else np.nan, "true_choice": 50.0,
                         "correct": go, "ed50_median": 12.0 + source % 3,
                         "ed50_truth": 10.0, "ed50_covered": 1.0,
                         "failed_diagnostics": failed})
    return pd.DataFrame(rows)


def test_failed_replicates_like_the_others_leave_the_table_as_it_is():
    from bayesdose.design.simulation import failed_fit_message

    table = operating_characteristics(known_replicates(failed_go=True))
    assert {"estimate_passing", "mcse_passing", "n_passing", "shift_in_mcse"} <= set(table)
    rows = table[table["metric"] != "failed_diagnostics"]
    np.testing.assert_allclose(rows["estimate_passing"], rows["estimate"], rtol=1e-12)
    assert (rows["shift_in_mcse"] == 0).all()
    assert (rows["n"] == 40).all() and (rows["n_passing"] == 20).all()
    failed = table.set_index("metric").loc["failed_diagnostics"]
    assert failed["estimate"] == 0.5 and np.isnan(failed["estimate_passing"])
    assert failed_fit_message(table) is None


def test_failed_replicates_that_all_end_in_no_go_show_their_shift():
    from bayesdose.design.simulation import failed_fit_message, failed_fit_shifts

    table = operating_characteristics(known_replicates(failed_go=False))
    by = table.set_index(["metric", "dose"])
    go = by.loc[("prob_go", np.nan)]
    assert (go["estimate"], go["estimate_passing"]) == pytest.approx((0.375, 0.75))
    assert go["mcse_passing"] == pytest.approx(np.sqrt(0.75 * 0.25 / 20))
    assert go["shift_in_mcse"] == pytest.approx((0.375 - 0.75) / go["mcse"])
    bias = by.loc[("bias", 50.0)]
    assert (bias["estimate"], bias["estimate_passing"]) == pytest.approx((-2.0, 0.0))
    shifted = failed_fit_shifts(table)
    assert {"prob_go", "prob_correct", "bias", "rmse"} <= set(shifted["metric"])
    assert "coverage" not in set(shifted["metric"])   # the failed ones cover as often
    message = failed_fit_message(table)
    assert "prob_go 0.375 over all 40 replicates, 0.75 over the 20 that passed" in message
    assert "[sampler]" in message
    none = operating_characteristics(known_replicates(False).assign(failed_diagnostics=True))
    assert (none["n_passing"] == 0).all() and none["estimate_passing"].isna().all()
    assert "No replicate passed in design 'A' (none of 40)" in failed_fit_message(none)


def posterior_fit(tmp_path: Path):
    """A saved Emax x exponential fit of KOOS pain with known draws."""
    import bayesdose as bd
    from tests.conftest import fixed_fit

    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
    rng = np.random.default_rng(2)
    shape = (2, 50, 1)
    n_visits, n_patients = len(data.visits), len(data.patients)
    draws = {"delta": rng.normal(1.0, 0.2, shape), "log_ed50": rng.normal(0.0, 0.3, shape),
             "log_t_half": rng.normal(-1.5, 0.2, shape), "beta_baseline": np.full(shape, -0.3),
             "sigma": rng.uniform(0.3, 0.5, shape),
             "course": rng.normal(0.1, 0.05, (*shape, n_visits)),
             "patient_effect": rng.normal(0.0, 0.4, (*shape, n_patients))}
    fit = fixed_fit(data, model, draws)
    fit.save(tmp_path / "fit.nc")
    return fit


def test_posterior_scenario_reproduces_the_fitted_curves_draw_by_draw(raw, tmp_path):
    fit = posterior_fit(tmp_path)
    changed = copy.deepcopy(raw)
    changed["scenario"] = {"posterior": "fit.nc", "outcome": "koos_pain"}
    design = Design.from_dict(changed, base_dir=tmp_path)
    assert len(design.posterior) == 100 and design.identity != Design.from_dict(raw).identity
    sd = float(fit.inputs.scales.sd[0])
    doses, times = [1.0, 10.0, 50.0], [1.0, 6.0, 12.0]
    curves = fit.effect_draws(dose=doses, time=times, scale="standardised",
                              reference=0).to_numpy()  # the scenario: against dose 0
    curves = curves.reshape(100, len(doses), len(times)) * sd
    for index in (0, 37, 99):
        scenario = design.posterior.scenario(index)
        for a, dose in enumerate(doses):
            for b, time in enumerate(times):
                assert float(scenario.improvement(np.array(dose), time)) == pytest.approx(
                    curves[index, a, b], rel=1e-9)
        assert scenario.sigma == pytest.approx(
            float(fit.idata.posterior["sigma"].to_numpy().reshape(-1)[index]) * sd)
    picked = {design.scenario_for(np.random.default_rng(s)).ed50 for s in range(20)}
    assert len(picked) > 10  # each replicate's truth is its own posterior draw


def test_posterior_scenario_errors(raw, tmp_path):
    posterior_fit(tmp_path)
    for table, needle in (({"posterior": "fit.nc", "emax": 3}, "remove emax"),
                          ({"posterior": "../fit.nc"}, "outside the design file's folder"),
                          ({"posterior": "none.nc"}, "no file"),
                          ({"posterior": "fit.nc", "outcome": "womac"}, "not in the fit"),
                          ({"outcome": "koos_pain", "emax": 3, "ed50": 2}, "only goes with")):
        changed = copy.deepcopy(raw)
        changed["scenario"] = table
        with pytest.raises(SpecError) as err:
            Design.from_dict(changed, base_dir=tmp_path)
        assert needle in str(err.value)
