"""Numerical edge cases: outcomes without variation, values at a scale bound, huge or tiny
dose and value units, a one-patient arm, extreme baselines. Each gives a correct fit or a
clear error, never NaN estimates.

The checks without MCMC run by default; the fits are small but several, so they are
marked slow (``pytest -m slow``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError

KW = {"patient": "subject", "dose": "dose_mg", "time": "week", "outcome": "endpoint",
      "value": "score"}
ESTIMATES = ["mean", "sd", "ci_low", "ci_high"]


def build(frame: pd.DataFrame, **extra) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, **{**KW, **extra})


def model_inputs(data: bd.TrialData, **model):
    model = bd.DoseResponseModel(**model)
    return model.inputs(model.select_data(data))


# ---------------------------------------------------------------- clear errors, no MCMC
def test_an_outcome_that_does_not_vary_is_a_clear_error(frame):
    data = build(frame.assign(score=50.0))
    for check in (lambda: model_inputs(data), lambda: bd.DoseResponseModel().prior_table(data)):
        with pytest.raises(DataError, match=r"outcome 'pain' does not vary"):
            check()


def test_changes_that_do_not_vary_are_a_clear_error(frame):
    frame["score"] = frame.groupby("subject")["score"].transform("first")  # carried forward
    with pytest.raises(DataError, match=r"'pain': every post-baseline change .* same \(0 at "
                                        r"all 12 values\).*carried forward"):
        model_inputs(build(frame))


def test_all_values_at_a_scale_bound(frame):
    info = {"pain": {"lower": 0, "upper": 100}}
    with pytest.raises(DataError, match="does not vary"):
        model_inputs(build(frame.assign(score=100.0), outcome_info=info))
    frame.loc[frame["week"] > 0, "score"] = 100.0  # every visit after baseline at the ceiling
    inputs = model_inputs(build(frame, outcome_info=info))
    assert np.array_equal(inputs.response, inputs.upper)  # all censored at the bound
    assert np.isfinite(inputs.baseline_std).all() and np.isfinite(inputs.scales.sd).all()
    frame.loc[3, "score"] = 100.5
    with pytest.raises(DataError, match=r"outside its declared bounds \[0, 100\] at row 3"):
        build(frame, outcome_info=info)


@pytest.mark.parametrize(("factor", "word"), [(1e300, "large"), (1e200, "large"),
                                              (1e-300, "small")])
def test_values_beyond_floating_point_range_are_a_clear_error(frame, factor, word):
    data = build(frame.assign(score=frame["score"] * factor))
    with pytest.raises(DataError, match=rf"'pain'.*too {word} to standardise.*another unit"):
        model_inputs(data)


def test_a_lognormal_outcome_with_values_at_or_below_zero(frame):
    frame.loc[4, "score"] = 0.0
    with pytest.raises(DataError, match=r"'pain'.*lognormal.*<= 0 at row 4"):
        model_inputs(build(frame), likelihood="lognormal")


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dose_power=st.integers(-6, 8), value_power=st.integers(-6, 6),
       shift=st.sampled_from([0.0, 1e3, -50.0]))
def test_units_change_nothing_on_the_model_scale(frame, dose_power, value_power, shift):
    """Doses in any unit (1e-6 .. 1e8 times) and values in any unit (1e-6 .. 1e6 times, and
    shifted): the model sees the same standardised data, all of it finite."""
    reference = model_inputs(build(frame), dose_shape="emax")
    dose_factor, value_factor = 10.0 ** dose_power, 10.0 ** value_power
    scaled = frame.assign(dose_mg=frame["dose_mg"] * dose_factor,
                          score=(frame["score"] + shift) * value_factor)
    inputs = model_inputs(build(scaled), dose_shape="emax")
    for name in ("response", "baseline_std", "elapsed"):
        assert np.isfinite(getattr(inputs, name)).all()
    np.testing.assert_allclose(inputs.response / inputs.scales.sd[inputs.outcome_idx],
                               reference.response / reference.scales.sd[
                                   reference.outcome_idx], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(inputs.baseline_std, reference.baseline_std, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(np.array(inputs.doses) / inputs.dose_scale.reference,
                               np.array(reference.doses) / reference.dose_scale.reference,
                               rtol=1e-12)
    assert inputs.dose_scale.midpoint == pytest.approx(reference.dose_scale.midpoint
                                                       * dose_factor, rel=1e-12)


# ---------------------------------------------------------------- small fits
def emax_trial(n_per_arm: int = 3) -> pd.DataFrame:
    sim = simulate_trial(dose_shape="emax",
                         shape_params={"delta": 1.0, "log_ed50": 0.0, "log_t_half": -1.0},
                         n_per_arm=n_per_arm, seed=5)
    return sim.data.to_frame()


def trial_data(frame: pd.DataFrame, **data_kw) -> bd.TrialData:
    return bd.TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value", **data_kw)


def small_fit(frame: pd.DataFrame, dose_shape: str = "emax", **data_kw) -> bd.DoseResponseFit:
    return bd.DoseResponseModel(dose_shape=dose_shape).fit(
        trial_data(frame, **data_kw), draws=100, tune=100, chains=1, random_seed=2,
        progressbar=False)


def assert_no_nan_estimates(fit: bd.DoseResponseFit) -> None:
    tables = {"effect": fit.effect(), "contrast": fit.contrast(dose=max(fit.inputs.doses)),
              "parameters": fit.parameter_summary()}
    for name, table in tables.items():
        columns = [c for c in ESTIMATES if c in table.columns]
        assert columns and np.isfinite(table[columns].to_numpy(dtype=float)).all(), name


def assert_same_posterior_up_to_a_constant(model: bd.DoseResponseModel, a: bd.TrialData,
                                           b: bd.TrialData) -> None:
    """The two data sets' log posteriors differ by a constant (the Jacobian of a change
    of unit) at random points of the parameter space: the same posterior of the model's
    parameters, which are on the standardised scale."""
    built_a, _ = model.build(a)
    built_b, _ = model.build(b)
    logp_a = built_a.compile_logp(mode=FAST)
    logp_b = built_b.compile_logp(mode=FAST)
    rng = np.random.default_rng(7)
    start = built_a.initial_point(random_seed=1)
    differences = []
    for _ in range(5):
        point = {k: v + rng.normal(0.0, 0.5, size=np.shape(v)) for k, v in start.items()}
        differences.append(float(logp_b(point)) - float(logp_a(point)))
    assert np.ptp(differences) < 1e-6 * max(1.0, abs(differences[0])), differences


def with_draws_of(fit: bd.DoseResponseFit, data: bd.TrialData) -> bd.DoseResponseFit:
    """A fit of ``data`` whose posterior is ``fit``'s draws (no sampling)."""
    return bd.DoseResponseFit(fit.model, fit.model.select_data(data), fit.idata)


@pytest.mark.slow
@pytest.mark.parametrize("dose_shape", ["emax", "linear"])
def test_dose_units_do_not_change_the_estimates(dose_shape):
    """Doses of 1, 10, 50 million cells or 1e6, 1e7, 5e7 cells: the same posterior of the
    model's parameters, hence the same effects at the same doses and ED50 in each unit;
    a fit in cells samples to finite estimates."""
    million = emax_trial()
    cells = million.assign(dose=million["dose"] * 1e6)
    model = bd.DoseResponseModel(dose_shape=dose_shape)
    assert_same_posterior_up_to_a_constant(model, trial_data(million), trial_data(cells))
    a = small_fit(million, dose_shape)
    b = with_draws_of(a, trial_data(cells))
    ea, eb = a.effect(time=12), b.effect(time=12)
    np.testing.assert_allclose(eb["dose"], ea["dose"] * 1e6)
    np.testing.assert_allclose(eb[ESTIMATES].to_numpy(), ea[ESTIMATES].to_numpy(),
                               rtol=1e-9, atol=1e-12)
    ca = a.contrast(dose=50, reference=1, time=12)
    cb = b.contrast(dose=5e7, reference=1e6, time=12)
    np.testing.assert_allclose(cb[ESTIMATES].to_numpy(), ca[ESTIMATES].to_numpy(),
                               rtol=1e-9, atol=1e-12)
    if dose_shape == "emax":
        da = a.effective_dose(p=0.5, time=12)["median"].to_numpy()
        db = b.effective_dose(p=0.5, time=12)["median"].to_numpy()
        np.testing.assert_allclose(db, da * 1e6, rtol=1e-9)
    assert_no_nan_estimates(a)
    assert_no_nan_estimates(small_fit(cells, dose_shape))


@pytest.mark.slow
@pytest.mark.parametrize("factor", [1e-6, 1e6])
def test_extreme_value_units_scale_the_estimates(factor):
    """Values around 6e7 or 6e-5 (baselines far from 0, in a huge or tiny unit): the same
    posterior of the model's parameters, so effects are those of the unit-scale data
    times the factor; a fit in that unit samples to finite estimates."""
    frame = emax_trial()
    scaled = frame.assign(value=frame["value"] * factor)
    assert_same_posterior_up_to_a_constant(bd.DoseResponseModel(), trial_data(frame),
                                           trial_data(scaled))
    a = small_fit(frame)
    b = with_draws_of(a, trial_data(scaled))
    np.testing.assert_allclose(b.effect(time=12)[ESTIMATES].to_numpy() / factor,
                               a.effect(time=12)[ESTIMATES].to_numpy(), rtol=1e-9,
                               atol=1e-12)
    assert_no_nan_estimates(small_fit(scaled))


@pytest.mark.slow
def test_edge_cases_in_one_fit_give_finite_estimates_and_tables(tmp_path):
    """A one-patient arm, an outcome whose every post-baseline value sits at its upper
    bound (censored), an outcome in units around 1e9 and a patient with an outlying
    baseline: the fit and every table it writes have finite estimates."""
    from bayesdose.cli.fit_folder import write_results

    base = emax_trial()
    arms = base.drop_duplicates("patient").groupby("dose")["patient"].apply(list)
    base = base[~base["patient"].isin(arms[10.0][1:])]  # dose 10: one patient
    ceiling = base.assign(outcome="ceiling")
    ceiling.loc[ceiling["time"] > 0, "value"] = 100.0
    ceiling.loc[ceiling["time"] == 0, "value"] = ceiling["value"].clip(0, 95)
    huge = base.assign(outcome="huge", value=base["value"] * 1e6 + 1e9)
    outlier = base.assign(outcome="outlier")
    first = outlier["patient"].iloc[0]
    outlier.loc[outlier["patient"] == first, "value"] += 500.0  # baseline and visits
    frame = pd.concat([base, ceiling, huge, outlier], ignore_index=True)
    fit = small_fit(frame, outcome_info={"ceiling": {"lower": 0, "upper": 100},
                                         "score": {"mcid": 2}})
    assert fit.data.missing()["n_patients"].min() == 1
    assert_no_nan_estimates(fit)
    write_results(fit, tmp_path, {"times": [12]})
    for name in ("effect.csv", "contrasts.csv", "parameters.csv", "ed50.csv"):
        table = pd.read_csv(tmp_path / name)
        # an ED50 interval is open (ci_high = inf) when too many draws never reach it
        wanted = ["median", "ci_low"] if name == "ed50.csv" else [*ESTIMATES, "median"]
        columns = [c for c in wanted if c in table.columns]
        assert np.isfinite(table[columns].to_numpy(dtype=float)).all(), name


def test_huge_and_tiny_units_survive_a_csv_and_a_saved_fit(frame):
    """Values and doses in extreme units are written and read back exactly."""
    frame = frame.assign(dose_mg=frame["dose_mg"] * 1e6, score=frame["score"] * 1e-7)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trial.csv"
        frame.to_csv(path, index=False)
        data = bd.TrialData.from_csv(path, **KW)
    assert data.doses == [1e6, 1e7, 5e7]
    assert data.table["value"].tolist() == frame["score"].tolist()
    assert not math.isnan(model_inputs(data).scales.sd[0])
