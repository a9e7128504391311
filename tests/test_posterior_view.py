"""Read-outs are functions of a posterior view (draws, shapes, inputs, outcome metadata):
they work from draws that never were a fit, and the fit's methods give the same tables."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.errors import EstimandError
from bayesdose.results import dose_estimands, readouts
from bayesdose.results.posterior import PosteriorView, view_of
from bayesdose.results.signal import signal_test

RESULTS = Path(__file__).resolve().parents[1] / "bayesdose" / "results"


@pytest.fixture(scope="module")
def prior_draws():
    """Prior draws of the default model on two outcomes of one family (MCID 10 each)."""
    data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    model = bd.DoseResponseModel()
    prior = model.sample_prior_predictive(data, draws=100, random_seed=7)
    return model, data, prior


@pytest.fixture(scope="module")
def view(prior_draws) -> PosteriorView:
    """A view of the prior's draws, made without any DoseResponseFit."""
    model, data, prior = prior_draws
    return PosteriorView.from_model(model, data, prior.prior)


@pytest.fixture(scope="module")
def fit(prior_draws) -> bd.DoseResponseFit:
    """A fit holding the same draws as its posterior."""
    model, data, prior = prior_draws
    draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    return bd.DoseResponseFit(model, data, draws)


@pytest.fixture(scope="module")
def free_view_and_fit(prior_draws) -> tuple[PosteriorView, bd.DoseResponseFit]:
    """A view and a fit of prior draws of the free dose shape (what MCP-Mod tests)."""
    _, data, _ = prior_draws
    model = bd.DoseResponseModel(dose_shape="free")
    prior = model.sample_prior_predictive(data, draws=100, random_seed=7)
    draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    return (PosteriorView.from_model(model, data, prior.prior),
            bd.DoseResponseFit(model, data, draws))


#: Read-outs of a view and the fit methods that must give the same table.
READOUTS = {
    "effect": (lambda v: readouts.effect(v, dose=[10, 50], time=[3, 12]),
               lambda f: f.effect(dose=[10, 50], time=[3, 12])),
    "contrast": (lambda v: readouts.contrast(v, dose=50, reference=1, time=12),
                 lambda f: f.contrast(dose=50, reference=1, time=12)),
    "contrast_standardised": (
        lambda v: readouts.contrast(v, dose=[10, 50], mcid={"koos_pain": 5},
                                    scale="standardised"),
        lambda f: f.contrast(dose=[10, 50], mcid={"koos_pain": 5}, scale="standardised")),
    "expected_change": (lambda v: readouts.expected_change(v, dose=50, time=[3, 12]),
                        lambda f: f.expected_change(dose=50, time=[3, 12])),
    "family_effect": (lambda v: readouts.family_effect(v, dose=[10, 50], time=12),
                      lambda f: f.family_effect(dose=[10, 50], time=12)),
    "prob_improves": (lambda v: readouts.prob_improves(v, dose=50, time=12),
                      lambda f: f.prob_improves(dose=50, time=12)),
    "observed_means": (readouts.observed_means, lambda f: f.observed_means()),
    "effective_dose": (lambda v: dose_estimands.effective_dose(v, p=0.9, time=[3, 12]),
                       lambda f: f.effective_dose(p=0.9, time=[3, 12])),
    "minimum_effective_dose": (
        lambda v: dose_estimands.minimum_effective_dose(v, level=0.3, time=12),
        lambda f: f.minimum_effective_dose(level=0.3, time=12)),
    "target_dose": (lambda v: dose_estimands.target_dose(v, effect=5, time=12),
                    lambda f: f.target_dose(effect=5, time=12)),
    "time_to_half_effect": (lambda v: dose_estimands.time_to_half_effect(v, dose=[10, 50]),
                            lambda f: f.time_to_half_effect(dose=[10, 50])),
    "prob_increasing": (lambda v: dose_estimands.prob_increasing(v, time=[3, 12]),
                        lambda f: f.prob_increasing(time=[3, 12])),
}


@pytest.mark.parametrize("name", sorted(READOUTS))
def test_a_view_without_a_fit_gives_the_fit_methods_table(name, view, fit):
    of_view, of_fit = READOUTS[name]
    table = of_view(view)
    assert isinstance(table, pd.DataFrame) and len(table)
    pd.testing.assert_frame_equal(table, of_fit(fit), check_exact=True)


def test_draws_and_derived_parameters_of_a_view_match_the_fit(view, fit):
    draws = readouts.effect_draws(view, dose=[10, 50], time=12, outcome="womac_pain")
    assert draws.dims == ("chain", "draw", "outcome", "dose", "time")
    assert draws.shape == (1, 100, 1, 2, 1)
    xr.testing.assert_identical(draws, fit.effect_draws(dose=[10, 50], time=12,
                                                        outcome="womac_pain"))
    xr.testing.assert_identical(readouts.derived(view), fit.derived())
    np.testing.assert_array_equal(
        dose_estimands.effective_dose_draws(view, p=0.5),
        dose_estimands.effective_dose_draws(fit.posterior_view, p=0.5))


def test_the_view_built_by_hand_is_the_view_from_the_model(prior_draws, view):
    model, data, prior = prior_draws
    inputs = model.inputs(data)
    by_hand = PosteriorView(posterior=prior.prior, dose_shape=model.dose_shape,
                            time_shape=model.time_shape, inputs=inputs,
                            outcome_info={n: data.info(n) for n in inputs.outcomes})
    pd.testing.assert_frame_equal(readouts.effect(by_hand), readouts.effect(view))


def test_the_helpers_of_the_view(view):
    assert view.outcomes == ["koos_pain", "womac_pain"]
    assert view.outcome_index(None) == [0, 1]
    assert view.outcome_index(["womac_pain", "koos_pain"]) == [1, 0]
    assert view.outcome_names("womac_pain") == ["womac_pain"]
    with pytest.raises(EstimandError, match=r"outcome\(s\) 'koos_qol' not in this fit"):
        view.outcome_index("koos_qol")
    np.testing.assert_array_equal(view.unit("standardised"), [1.0, 1.0])
    scales = view.inputs.scales
    np.testing.assert_array_equal(view.unit("outcome"), scales.sd * scales.sign)
    with pytest.raises(EstimandError, match="scale must be one of outcome, standardised"):
        view.unit("log")
    base = view.inputs.baseline_time
    assert view.elapsed([base + 3.0]) == [3.0]
    with pytest.raises(EstimandError, match="before the baseline time"):
        view.elapsed([base - 1.0])
    assert view.versus() == "dose 1 (lowest tested; no placebo arm)"
    assert view.versus(0) == "dose 0 (not tested: extrapolated by the dose shape)"
    assert view.versus(20) == "dose 20 (not tested: interpolated by the dose shape)"
    assert view.reference_dose() == 1.0 and view.reference_dose(0) == 0.0
    assert [view.reference_status(d) for d in (None, 10, 0, 20, 80)] == [
        "tested", "tested", "extrapolated", "interpolated", "extrapolated"]
    with pytest.raises(EstimandError, match="reference must be one dose"):
        view.reference_dose([1, 10])
    assert view.families() == {"PROM": ["koos_pain", "womac_pain"]}
    assert view.family_members("PROM") == {"PROM": ["koos_pain", "womac_pain"]}
    with pytest.raises(EstimandError, match="family 'MRI' not in this fit"):
        view.family_members("MRI")
    np.testing.assert_array_equal(view.mcids(["koos_pain", "womac_pain"], None), [10, 10])
    np.testing.assert_array_equal(view.mcids(["koos_pain", "womac_pain"],
                                             {"womac_pain": 4}), [10, 4])
    with pytest.raises(EstimandError, match="mcid must be positive"):
        view.mcids(["koos_pain"], -1.0)
    with pytest.raises(EstimandError, match="not in this contrast"):
        view.mcids(["koos_pain"], {"womac_pain": 4})
    assert view.mcid_scale("koos_pain", "outcome") == "outcome units"
    assert view.mcid_scale("koos_pain", "standardised") == "outcome SDs"


def test_a_fit_is_accepted_where_a_view_is(view, fit):
    assert view_of(view) is view
    assert isinstance(view_of(fit), PosteriorView)
    with pytest.raises(TypeError, match="PosteriorView or a fit"):
        view_of(object())
    # the dose estimands of a fit
    pd.testing.assert_frame_equal(dose_estimands.effective_dose(fit),
                                  dose_estimands.effective_dose(view))


def test_the_fit_view_follows_the_fit(fit):
    """The view is made afresh on every access: a fit's replaced inputs or draws are seen."""
    first = fit.posterior_view
    xr.testing.assert_identical(first.posterior, fit.idata["posterior"].to_dataset())
    assert first.inputs is fit.inputs
    assert first.dose_shape is fit.model.dose_shape
    assert first.info("womac_pain") == fit.data.info("womac_pain")
    original = fit.inputs
    try:
        fit.inputs = replace(original, baseline_time=original.baseline_time - 1.0)
        assert fit.posterior_view.inputs is fit.inputs
        assert fit.posterior_view.elapsed([3.0]) == [4.0]
    finally:
        fit.inputs = original


def test_read_out_modules_do_not_import_the_fit():
    """The read-outs take the view; none of their modules names the fit's module, not even
    for type checking."""
    for module in ("posterior", "readouts", "dose_estimands", "signal", "predictive"):
        tree = ast.parse((RESULTS / f"{module}.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert "bayesdose.results.fit" not in imported, module


def test_signal_test_of_a_free_view_is_the_fit_method_and_bd_signal_test(free_view_and_fit):
    free_view, free_fit = free_view_and_fit
    table = signal_test(free_view, time=12)
    assert len(table) and set(table["tested_on"]) == {"free per-dose fit"}
    pd.testing.assert_frame_equal(table, free_fit.signal_test(time=12), check_exact=True)
    pd.testing.assert_frame_equal(bd.signal_test(free_fit), bd.signal_test(free_view))


def test_signal_test_refuses_a_view_of_a_parametric_shape(view, fit):
    with pytest.raises(EstimandError, match="free"):
        signal_test(view, time=12)
    with pytest.raises(EstimandError, match="free"):
        bd.signal_test(fit)
