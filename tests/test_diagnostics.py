"""Diagnostics: each check passes on good draws and fails, with its advice, on bad ones."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesdose.results.diagnostics import ADVICE, diagnose
from bayesdose.results.psis import PARETO_K_MAX, pointwise_loo

RNG = np.random.default_rng(42)


def idata_from(posterior: dict, **stats) -> xr.DataTree:
    shape = next(iter(posterior.values())).shape[:2]
    sample_stats = {"diverging": np.zeros(shape, bool),
                    "energy": RNG.normal(size=shape),
                    "reached_max_treedepth": np.zeros(shape, bool)}
    sample_stats.update(stats)
    return az.from_dict({"posterior": posterior, "sample_stats": sample_stats})


def checks(diag) -> dict:
    return diag.table.set_index("check")["passed"].to_dict()


def test_independent_draws_pass_everything():
    diag = diagnose(idata_from({"a": RNG.normal(size=(4, 1000)),
                                "b": RNG.normal(size=(4, 1000, 3))}))
    assert diag.ok, diag
    assert all(checks(diag).values())
    assert (diag.table["advice"] == "").all()
    assert len(diag.parameters) == 4  # a and three elements of b


def test_disagreeing_chains_fail_rhat_and_name_the_parameter():
    good = RNG.normal(size=(4, 1000))
    bad = RNG.normal(size=(4, 1000)) + np.array([0, 0, 0, 3.0])[:, None]
    diag = diagnose(idata_from({"good": good, "bad": bad}))
    assert not diag.ok
    row = diag.table.set_index("check").loc["r_hat"]
    assert not row["passed"] and row["worst"] == "bad" and row["value"] > 1.1
    assert row["advice"] == ADVICE["r_hat"]
    assert "FAIL" in repr(diag) and "r_hat" in repr(diag)


def test_few_draws_fail_ess():
    diag = diagnose(idata_from({"x": RNG.normal(size=(2, 50))}))
    result = checks(diag)
    assert not result["ess_bulk"] and not result["ess_tail"]
    assert "Increase draws" in diag.table.set_index("check").loc["ess_bulk", "advice"]


def test_divergences_are_counted_and_located():
    n = 1000
    x = RNG.normal(size=(4, n))
    diverging = np.zeros((4, n), bool)
    diverging[:, :20] = True
    x[:, :20] = -3.0  # divergences sit in the left tail of x
    idata = idata_from({"x": x, "y": RNG.normal(size=(4, n))}, diverging=diverging)
    diag = diagnose(idata)
    row = diag.table.set_index("check").loc["divergences"]
    assert row["value"] == 80 and not row["passed"] and row["worst"] == "x"
    assert "target_accept" in row["advice"]
    assert diag.divergences["parameter"].iloc[0] == "x"
    assert diag.divergences["shift_sd"].iloc[0] < -2


def test_low_ebfmi_and_tree_depth_fail():
    n = 1000
    energy = np.cumsum(RNG.normal(size=(4, n)), axis=1)  # a random walk: E-BFMI near 0
    depth = np.zeros((4, n), bool)
    depth[0, :5] = True
    diag = diagnose(idata_from({"x": RNG.normal(size=(4, n))}, energy=energy,
                               reached_max_treedepth=depth))
    result = checks(diag)
    assert not result["e_bfmi"] and not result["tree_depth"]
    table = diag.table.set_index("check")
    assert table.loc["tree_depth", "value"] == 5 / 4000
    assert "non-centred" in table.loc["e_bfmi", "advice"]


def test_influential_observation_gets_a_pareto_k_warning_not_a_failed_verdict():
    n = 1000
    loglik = RNG.normal(-1.0, 0.1, size=(4, n, 20))
    loglik[:, :, 7] = -3.0 * np.exp(RNG.normal(0.0, 1.5, size=(4, n)))  # heavy-tailed ratios
    idata = idata_from({"x": RNG.normal(size=(4, n))})
    idata["log_likelihood"] = az.from_dict(
        {"log_likelihood": {"change": loglik}}, dims={"change": ["obs_change"]},
        coords={"obs_change": np.arange(100, 120)})["log_likelihood"]
    labels = pd.DataFrame({"obs": np.arange(100, 120), "outcome": "koos_pain",
                           "patient": [f"P{i:02d}" for i in range(20)], "time": 12.0})
    diag = diagnose(idata, observation_labels=labels)
    row = diag.table.set_index("check").loc["pareto_k"]
    assert not row["passed"] and not row["verdict"] and row["value"] > 0.7
    assert "1 of 20 observations" in row["worst"]
    assert "koos_pain of patient P07 at time 12" in row["worst"]
    assert row["advice"] == ADVICE["pareto_k"]
    assert diag.ok  # the draws are fine: a large k is reported, it does not fail the fit
    assert "warn" in repr(diag)
    k = diag.observations.set_index("obs")["pareto_k"]
    assert k.loc[107] > 0.7 and (k.drop(107) < 0.7).all()
    assert len(diag.observations) == 20


def test_pareto_k_is_absent_without_a_log_likelihood():
    diag = diagnose(idata_from({"x": RNG.normal(size=(4, 1000))}))
    assert "pareto_k" not in set(diag.table["check"]) and diag.observations.empty


def test_constant_log_likelihood_has_its_value_as_loo_and_k_zero():
    """An observation with the same log likelihood in every draw (a value censored at a
    bound the model is sure of): PSIS cannot fit its tail, the exact answer is known."""
    rng = np.random.default_rng(1)
    ll = rng.normal(-1, 0.1, size=(2, 500, 3))
    ll[..., 1] = -2e-9
    idata = az.from_dict({"posterior": {"x": rng.normal(size=(2, 500))},
                          "log_likelihood": {"y": ll}})
    table = pointwise_loo(idata)
    assert table.loc[1, "pareto_k"] == 0.0
    assert table.loc[1, "elpd_loo"] == pytest.approx(-2e-9)
    assert np.isfinite(table["elpd_loo"]).all() and np.isfinite(table["pareto_k"]).all()
    assert table.loc[[0, 2], "pareto_k"].lt(PARETO_K_MAX).all()
