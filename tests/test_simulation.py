"""Design simulations end to end: reproducible across workers and resumes; calibrated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesdose.cli.commands import main
from bayesdose.design.designs import Design
from bayesdose.errors import SpecError
from bayesdose.results.estimands import hdi

TINY = {
    "name": "tiny",
    "outcome": {"name": "pain", "direction": "lower_is_better", "sd": 10,
                "baseline_mean": 50},
    "scenario": {"dose_shape": "linear", "slope": 0.4, "t_half": 2, "sigma": 4,
                 "patient_sd": 4},
    "analysis": {"dose_shape": "linear", "time_shape": "exponential"},
    "sampler": {"draws": 300, "tune": 300, "chains": 2},
    "decision": {"time": 6, "mcid": 5, "level": 0.8},
    "designs": {"small": {"doses": [0, 10, 20], "n_per_arm": 6, "visits": [3, 6],
                          "dropout": 0.1}},
}


def tiny(**changes) -> Design:
    raw = {**TINY, **changes}
    return Design.from_dict(raw)


def test_simulate_in_process_gives_complete_replicates(tmp_path):
    from bayesdose.design.simulation import simulate

    design = tiny()
    result = simulate(design, reps=2, seed=4, workers=1, out=tmp_path, progress=False)
    reps = result.replicates
    assert sorted(reps["replicate"].unique()) == [0, 1]
    assert set(reps["dose"]) == {10.0, 20.0} and (reps["reference"] == 0).all()
    truth = design.true_improvements(design.arms[0])
    np.testing.assert_allclose(reps["truth"], reps["dose"].map(truth))
    assert truth[20.0] == pytest.approx(0.4 * 20 * (1 - 2 ** (-6 / 2)))
    assert not reps[["estimate", "low", "high", "prob_gt_mcid"]].isna().any().any()
    assert (reps["low"] < reps["estimate"]).all() and (reps["estimate"] < reps["high"]).all()
    go = reps.groupby("replicate")["go"].first()
    chosen = reps.groupby("replicate")["chosen_dose"].first()
    assert ((chosen.notna()) == go).all()
    assert set(result.table["metric"]) >= {"prob_go", "prob_correct", "prob_pick", "bias",
                                           "rmse", "coverage", "failed_diagnostics"}
    assert sorted(p.name for p in (tmp_path / "small").glob("rep_*.parquet")) == [
        "rep_000000.parquet", "rep_000001.parquet"]



@pytest.mark.parametrize("failed_go", [False, True])
def test_simulate_warns_when_the_failed_fits_move_the_operating_characteristics(
        monkeypatch, failed_go):
    """Replicate rows given (no MCMC): failed fits that all end in no-go move P(go) by
    more than 2 MCSE and simulate() says so; failed fits like the others do not."""
    import warnings

    from bayesdose.design import simulation
    from tests.test_design import known_replicates

    rows = known_replicates(failed_go).assign(design="small")
    monkeypatch.setattr(simulation, "run_replicates", lambda *args, **kwargs: rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = simulation.simulate(tiny(), reps=40, progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    go = result.table.set_index("metric").loc["prob_go"]
    if failed_go:
        assert go["estimate"] == go["estimate_passing"] == 0.75
        assert not any("failed their diagnostics" in m for m in messages)
    else:
        assert (go["estimate"], go["estimate_passing"]) == (0.375, 0.75)
        assert any("design 'small': prob_go 0.375 over all 40 replicates" in m
                   for m in messages), messages


@pytest.mark.slow
def test_same_seed_same_results_with_one_or_two_workers_and_after_a_resume(tmp_path):
    from bayesdose.design.simulation import simulate

    design = tiny()
    one = simulate(design, reps=6, seed=9, workers=1, out=tmp_path / "one", progress=False)
    two = simulate(design, reps=6, seed=9, workers=2, out=tmp_path / "two", progress=False)
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    pd.testing.assert_frame_equal(one.table, two.table)
    # a run stopped after 3 replicates (and one lost file) resumes to the same numbers
    part = simulate(design, reps=3, seed=9, workers=1, out=tmp_path / "resume",
                    progress=False)
    pd.testing.assert_frame_equal(part.replicates,
                                  one.replicates[one.replicates["replicate"] < 3])
    (tmp_path / "resume" / "small" / "rep_000001.parquet").unlink()
    resumed = simulate(design, reps=6, seed=9, workers=2, out=tmp_path / "resume",
                       progress=False)
    pd.testing.assert_frame_equal(resumed.replicates, one.replicates)


@pytest.mark.slow
def test_interval_coverage_is_near_nominal_over_many_replicates(tmp_path):
    """300 replicates of a well-specified linear scenario: the 90% HDI of each contrast
    covers the truth 90% of the time, within 3 Monte Carlo SEs (about 0.05)."""
    from bayesdose.design.simulation import simulate

    design = tiny(designs={"cal": {"doses": [0, 10, 20], "n_per_arm": 8, "visits": [3, 6]}},
                  sampler={"draws": 400, "tune": 400, "chains": 2})
    result = simulate(design, reps=300, seed=21, workers=2, out=tmp_path, progress=False)
    coverage = result.table[result.table["metric"] == "coverage"]
    for row in coverage.itertuples():
        assert abs(row.estimate - 0.9) <= 3 * np.sqrt(0.9 * 0.1 / row.n), row
    bias = result.table[result.table["metric"] == "bias"]
    assert (bias["estimate"].abs() <= 3 * bias["mcse"] + 0.5).all()


@pytest.mark.slow
def test_simulate_command_writes_the_operating_characteristics(tmp_path, capsys):
    design = tmp_path / "tiny_design.toml"
    design.write_text("""
name = "tiny"
[outcome]
name = "pain"
direction = "lower_is_better"
sd = 10
[scenario]
dose_shape = "linear"
slope = 0.4
[analysis]
dose_shape = "linear"
[sampler]
draws = 200
tune = 200
chains = 2
[decision]
time = 6
mcid = 5
[designs.a]
doses = [0, 10, 20]
n_per_arm = 6
visits = [3, 6]
[designs.b]
doses = [0, 20]
n_per_arm = 9
visits = [6]
""")
    out = tmp_path / "out"
    code = main(["simulate", str(design), "--reps", "3", "--workers", "1", "--seed", "2",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_csv(out / "operating_characteristics.csv")
    assert set(table["design"]) == {"a", "b"}
    assert (out / "operating_characteristics.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "prob_go" in printed and "a" in printed and "b" in printed
    # the same command again resumes: nothing is refitted, the numbers are the same
    assert main(["simulate", str(design), "--reps", "3", "--workers", "1", "--seed", "2",
                 "--out", str(out), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "operating_characteristics.csv"), table)
    # another seed into the same folder is refused
    assert main(["simulate", str(design), "--reps", "3", "--workers", "1", "--seed", "3",
                 "--out", str(out), "--no-progress"]) == 2


@pytest.mark.slow
def test_assurance_draws_each_replicates_truth_from_a_posterior(tmp_path):
    from bayesdose.design.simulation import simulate
    from tests.test_design import posterior_fit

    posterior_fit(tmp_path)
    raw = {**TINY, "scenario": {"posterior": "fit.nc"},
           "outcome": {"name": "koos_pain", "direction": "higher_is_better", "sd": 15,
                       "baseline_mean": 45},
           "analysis": {"dose_shape": "emax", "time_shape": "exponential"},
           "designs": {"next": {"doses": [1, 10, 50], "n_per_arm": 5, "visits": [3, 6]}}}
    design = Design.from_dict(raw, base_dir=tmp_path)
    result = simulate(design, reps=4, seed=8, workers=1, out=tmp_path / "out", progress=False)
    per_rep = result.replicates.drop_duplicates("replicate")
    assert per_rep["ed50_truth"].nunique() == 4
    assert set(per_rep["ed50_truth"]) <= set(design.posterior.draws["ed50"])
    for row in result.replicates.itertuples():
        index = design.posterior.draws["ed50"].index(row.ed50_truth)
        truth = design.true_improvements(design.arms[0], design.posterior.scenario(index))
        assert row.truth == pytest.approx(truth[row.dose])


# ---------------------------------------------------------------------- interval rule
def replicate_with_fixed_draws(design: Design):
    """summarise_replicate of one replicate whose posterior is given (no sampling): slopes
    drawn right-skewed, so equal-tailed and highest-density intervals differ."""
    import xarray as xr

    from bayesdose.design.simulation import simulated_trial, summarise_replicate

    arms = design.arms[0]
    model = design.analysis_model()
    inputs = model.inputs(simulated_trial(design, arms, seed=0).data)
    analysis = type("Analysis", (), {"design": design, "arms": arms, "model": model,
                                     "inputs": inputs})()
    rng = np.random.default_rng(8)
    shape = (2, 300, 1)
    posterior = xr.Dataset({
        "delta": (("chain", "draw", "outcome"), rng.gamma(2.0, 0.4, shape)),
        "log_t_half": (("chain", "draw", "outcome"), np.full(shape, np.log(0.01))),
        "sigma": (("chain", "draw", "outcome"), rng.gamma(5.0, 0.1, shape))},
        coords={"outcome": inputs.outcomes})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros(shape[:2], dtype=bool))})
    idata = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    rows = summarise_replicate(analysis, idata)
    top = max(arms.doses)
    # plateau reached: improvement of dose d over 0 is delta * sd * d / top (higher = better)
    delta = posterior["delta"].values.reshape(-1)
    return rows, {d: delta * design.sd * d / top for d in rows["dose"]}


def test_the_simulator_reports_equal_tailed_intervals_by_default():
    rows, draws = replicate_with_fixed_draws(tiny())
    for row in rows.itertuples():
        low, high = np.quantile(draws[row.dose], [0.05, 0.95])  # ci_prob 0.9 by default
        assert (row.low, row.high) == pytest.approx((low, high), rel=1e-9)
    decision = dict(TINY["decision"], ci_kind="hdi", ci_prob=0.8)
    rows, draws = replicate_with_fixed_draws(tiny(decision=decision))
    for row in rows.itertuples():
        low, high = hdi(draws[row.dose], 0.8)
        assert (row.low, row.high) == pytest.approx((float(low), float(high)), rel=1e-9)


def test_an_old_hdi_prob_keeps_its_meaning_and_its_run_identity():
    with pytest.warns(DeprecationWarning, match=r"decision\.hdi_prob"):
        old = tiny(decision=dict(TINY["decision"], hdi_prob=0.8))
    assert (old.decision.ci_prob, old.decision.ci_kind) == (0.8, "hdi")
    assert old.to_dict()["decision"]["hdi_prob"] == 0.8  # the record earlier versions wrote
    new = tiny(decision=dict(TINY["decision"], ci_prob=0.8, ci_kind="hdi"))
    assert new.identity == old.identity
    assert tiny().identity != old.identity  # equal-tailed: other results, another run
    assert tiny().to_dict()["decision"]["ci_kind"] == "eti"
    with pytest.raises(SpecError, match="both given"):
        tiny(decision=dict(TINY["decision"], hdi_prob=0.8, ci_prob=0.8))
    with pytest.raises(SpecError, match=r"decision\.ci_kind"):
        tiny(decision=dict(TINY["decision"], ci_kind="central"))
    with pytest.raises(SpecError, match=r"decision\.ci_prob"):
        tiny(decision=dict(TINY["decision"], ci_prob=1.0))
