"""Predictive checks in numbers, against replicated data whose answer is known."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.errors import EstimandError
from bayesdose.results.predictive import predictive_check
from tests.conftest import fixed_fit


@pytest.fixture(scope="module")
def fit_with_replicates():
    data = bd.datasets.load_msc_trial().select(["koos_pain", "sf_il6"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="free")
    n_draws = 400
    zeros = np.zeros((1, n_draws, 2))
    fit = fixed_fit(data, model, {"delta": zeros, "beta_baseline": zeros})
    inputs = fit.inputs
    shift = np.linspace(-0.5, 1.5, n_draws)  # replicated = observed + shift, every row
    groups = {}
    for kind in inputs.kinds:
        rows = inputs.observations(kind)
        name = {"normal": "change", "lognormal": "log_change"}[kind]
        values = inputs.response[rows][None, None, :] + shift[None, :, None]
        groups[name] = az.from_dict({"posterior_predictive": {name: values}},
                                    dims={name: [f"obs_{name}"]},
                                    coords={f"obs_{name}": rows})["posterior_predictive"][name]
    fit.idata["posterior_predictive"] = az.from_dict(
        {"posterior_predictive": {k: v.to_numpy() for k, v in groups.items()}},
        dims={k: [f"obs_{k}"] for k in groups},
        coords={f"obs_{k}": v[f"obs_{k}"].to_numpy() for k, v in groups.items()},
    )["posterior_predictive"]
    return fit, shift


def test_arm_means_and_p_values_match_the_known_shift(fit_with_replicates):
    fit, shift = fit_with_replicates
    table = fit.predictive_check(ci_prob=0.9)
    observed = fit.observed_means().set_index(["outcome", "dose", "time"])["mean"]
    assert len(table) == len(observed) == 3 * (4 + 3)  # doses x (KOOS visits + IL-6 visits)
    keyed = table.set_index(["outcome", "dose", "time"])
    np.testing.assert_allclose(keyed["observed"], observed.loc[keyed.index], rtol=1e-12)
    np.testing.assert_allclose(keyed["predicted"] - keyed["observed"], shift.mean(),
                               atol=1e-9)
    np.testing.assert_allclose(table["p_value"], np.mean(shift >= 0), atol=1e-12)
    # the 90% interval of a uniform grid of shifts is 90% of its width: by default the
    # equal-tailed one, from the 5% to the 95% quantile of the replicated arm means
    width = table["ci_high"] - table["ci_low"]
    np.testing.assert_allclose(width, 0.9 * 2.0, atol=0.01)
    np.testing.assert_allclose(keyed["ci_low"] - keyed["predicted"], np.quantile(shift, 0.05)
                               - shift.mean(), atol=1e-9)
    assert table.attrs["ci"] == "eti 90%"
    hdi_table = fit.predictive_check(ci_prob=0.9, ci_kind="hdi")
    np.testing.assert_allclose(hdi_table["ci_high"] - hdi_table["ci_low"], 0.9 * 2.0,
                               atol=0.01)
    assert not table["extreme"].any()
    assert list(table["outcome"].unique()) == ["koos_pain", "sf_il6"]
    # the method reads the fit's groups and inputs, and nothing else
    pd.testing.assert_frame_equal(predictive_check(fit.idata, fit.inputs, ci_prob=0.9), table)


def test_an_arm_the_model_misses_is_flagged(fit_with_replicates):
    fit, _ = fit_with_replicates
    pp = fit.idata.posterior_predictive
    original = pp["change"].copy()
    pp["change"] = original + 10.0  # every replicate far above the observed changes
    try:
        table = fit.predictive_check()
    finally:
        pp["change"] = original
    koos = table[table["outcome"] == "koos_pain"]
    assert koos["extreme"].all() and (koos["p_value"] == 1.0).all()
    assert not koos["inside"].any()
    assert not table.loc[table["outcome"] == "sf_il6", "extreme"].any()


def test_missing_group_and_bad_arguments_are_errors(fit_with_replicates):
    fit, _ = fit_with_replicates
    with pytest.raises(EstimandError, match="prior_predictive"):
        fit.predictive_check(group="prior")
    with pytest.raises(EstimandError, match="group"):
        fit.predictive_check(group="posterior_predictive")
    with pytest.raises(EstimandError, match="ci_prob"):
        fit.predictive_check(ci_prob=1.5)
    with pytest.raises(EstimandError, match="ci_kind"):
        fit.predictive_check(ci_kind="central")


def test_ordinal_grades_are_compared_on_the_grade_scale():
    """Predictive draws of an ordinal outcome are grade positions; the check puts them
    back on the grades (here 2-5, so positions and grades differ)."""
    from dataclasses import replace

    data = bd.datasets.load_msc_trial().select(["mri_synovitis"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="free")
    zeros = np.zeros((1, 100, 1))
    fit = fixed_fit(data, model, {"delta": zeros, "beta_baseline": zeros})
    outcome = "mri_synovitis"
    fit.inputs = replace(fit.inputs, response=fit.inputs.response + 2,
                         categories={outcome: fit.inputs.categories[outcome] + 2})
    rows = fit.inputs.observations("ordinal")
    positions = fit.inputs.response[rows] - fit.inputs.categories[outcome][0]
    name = f"grade_{outcome}"
    fit.idata["posterior_predictive"] = az.from_dict(
        {"posterior_predictive": {name: np.broadcast_to(positions, (1, 100, rows.size)).copy()}},
        dims={name: [f"obs_{name}"]}, coords={f"obs_{name}": rows})["posterior_predictive"]
    table = fit.predictive_check()
    np.testing.assert_allclose(table["predicted"], table["observed"])
    assert (table["observed"] >= 2).all()
