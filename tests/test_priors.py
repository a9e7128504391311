"""Priors: defaults with reasons, overrides by name, model-file form, documented table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.components.priors import prior_from_mapping, prior_to_mapping, with_dims
from bayesdose.errors import SpecError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "concepts.md"


def test_prior_table_states_every_default_with_a_reason(msc):
    data = msc.select(["koos_pain"])
    table = bd.DoseResponseModel("emax", "free").prior_table(data)
    assert table["parameter"].tolist() == ["delta", "log_ed50", "gamma", "course",
                                           "beta_baseline", "patient_effect", "sigma",
                                           "scale_sd[koos_pain]"]
    params = table[~table["parameter"].str.startswith("scale_sd[")]
    assert params["default"].all()
    assert (table["reason"].str.len() > 40).all()
    # the example declares its SD, so its scale row is the user's, not the default rule
    scale = table.set_index("parameter").loc["scale_sd[koos_pain]"]
    assert scale["prior"] == "fixed: 12 points" and not scale["default"]
    assert table.set_index("parameter").loc["log_ed50", "prior"] == str(
        Prior("StudentT", nu=5, mu=0, sigma=1.73))


def test_override_by_name_is_used_in_the_model(msc):
    data = msc.select(["koos_pain"])
    tight = Prior("Normal", mu=0.5, sigma=0.01)
    model = bd.DoseResponseModel("linear", "exponential", priors={"delta": tight})
    table = model.prior_table(data).set_index("parameter")
    assert not table.loc["delta", "default"]
    assert table.loc["delta", "reason"] == "set by the user"
    prior = model.sample_prior_predictive(data, draws=200, random_seed=1)
    delta = prior.prior["delta"].values
    assert abs(delta.mean() - 0.5) < 0.01 and delta.std() < 0.02


def test_student_t_likelihood_adds_nu(msc):
    params = [p.name for p in bd.DoseResponseModel(likelihood="student_t").parameters(
        msc.select(["koos_pain"]))]
    assert params[-1] == "nu"
    with pytest.raises(SpecError, match="likelihood 'poisson'"):
        bd.DoseResponseModel(likelihood="poisson")


def test_unknown_prior_name_lists_the_parameters(msc):
    model = bd.DoseResponseModel("linear", "exponential", priors={"log_ed50": Prior("Normal")})
    with pytest.raises(SpecError, match=r"no parameter named 'log_ed50'.*delta, log_t_half"):
        model.prior_table(msc.select(["koos_pain"]))
    with pytest.raises(SpecError, match=r"must be a pymc_extras\.prior\.Prior"):
        bd.DoseResponseModel(priors={"delta": 3.0}).prior_table(msc.select(["koos_pain"]))


def test_hierarchical_prior_gets_per_outcome_hyperparameters():
    prior = with_dims(Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=1), centered=False),
                      ("outcome", "patient"))
    assert prior.dims == ("outcome", "patient")
    assert prior.parameters["sigma"].dims == ("outcome",)
    assert prior.centered is False


def test_model_file_form_round_trips():
    table = {"distribution": "Normal", "mu": 0, "centered": False,
             "sigma": {"distribution": "HalfNormal", "sigma": 0.3}}
    prior = prior_from_mapping(table, "priors.x")
    assert prior.to_dict() == Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=0.3),
                                    centered=False).to_dict()
    assert prior_to_mapping(prior) == table


def test_documented_prior_table_matches_the_code(msc):
    """docs/concepts.md states each default prior the code uses."""
    text = DOCS.read_text(encoding="utf-8")
    data = msc.select(["koos_pain"])
    for dose_shape in ("linear", "log_linear", "emax", "free"):
        for time_shape in ("exponential", "free"):
            model = bd.DoseResponseModel(dose_shape, time_shape, likelihood="student_t")
            for row in model.prior_table(data).itertuples():
                name = "scale_sd[" if row.parameter.startswith("scale_sd[") else row.parameter
                assert name in text, row.parameter
    assert "StudentT(nu=5, mu=0, sigma=1.73)" in text
    assert "Normal(log 0.2, 1)" in text and "HalfNormal(0.5)" in text
