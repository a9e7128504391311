"""Leave-one-out by patient and by observation: PSIS against known answers, exact refits,
K-fold by patient where too many patients need refits (refits mocked in the fast tests);
one PSIS-LOO (:mod:`bayesdose.results.psis`) for cross-validation, diagnostics and
model comparison."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.errors import DataError, EstimandError
from bayesdose.results import crossval, diagnostics
from bayesdose.results.crossval import (
    CrossValidation,
    exact_elpd,
    kfold,
    loo,
    stratified_folds,
    unit_doses,
    unit_labels,
)
from bayesdose.results.psis import (
    PARETO_K_MAX,
    exact_term,
    pointwise_log_likelihood,
    pointwise_loo,
    psis_loo,
    unit_log_likelihood,
    with_exact_terms,
)
from tests.conftest import fixed_fit

RNG = np.random.default_rng(8)


def arviz_loo(loglik: np.ndarray, posterior: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's own PSIS-LOO of each column of ``loglik`` (draws x units): (elpd_i, k)."""
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    group = xr.Dataset({"ll": (("chain", "draw", "unit"), loglik.reshape(chains, draws, -1))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = az.loo(xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": group}),
                        pointwise=True)
    return result.elpd_i.to_numpy(), result.pareto_k.to_numpy()


@pytest.fixture(scope="module")
def fit_with_loglik():
    """A fixed-draw fit whose pointwise log likelihood is given: observation 0 heavy-tailed."""
    data = bd.datasets.load_msc_trial().select(["koos_pain", "sf_il6"])
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="free")
    draws = {name: RNG.normal(size=(2, 500, 2)) for name in ("delta", "beta_baseline")}
    fit = fixed_fit(data, model, draws)
    inputs = fit.inputs
    n = len(inputs.response)
    loglik = RNG.normal(-1.0, 0.05, size=(2, 500, n))
    loglik[:, :, 0] = -3.0 * np.exp(RNG.normal(0.0, 1.5, size=(2, 500)))
    groups = {}
    for kind, name in (("normal", "change"), ("lognormal", "log_change")):
        rows = inputs.observations(kind)
        groups[name] = (rows, loglik[:, :, rows])
    fit.idata["log_likelihood"] = az.from_dict(
        {"log_likelihood": {k: v for k, (_, v) in groups.items()}},
        dims={k: [f"obs_{k}"] for k in groups},
        coords={f"obs_{k}": rows for k, (rows, _) in groups.items()})["log_likelihood"]
    return fit, loglik.reshape(1000, n)


def test_observation_loo_matches_arviz_on_the_same_values(fit_with_loglik):
    fit, loglik = fit_with_loglik
    cv = loo(fit, unit="observation", refit=False)
    expected_elpd, expected_k = arviz_loo(loglik, fit.idata["posterior"].to_dataset())
    table = cv.pointwise
    assert len(table) == loglik.shape[1] and (table["n_obs"] == 1).all()
    np.testing.assert_allclose(table["elpd_psis"], expected_elpd)
    np.testing.assert_allclose(table["pareto_k"], expected_k)
    assert cv.elpd == pytest.approx(expected_elpd.sum())
    assert cv.se == pytest.approx(np.sqrt(len(expected_elpd) * np.var(expected_elpd)))
    # the heavy-tailed observation is flagged, named, and left unrefitted
    assert list(cv.unreliable.index) == [0]
    first = fit.inputs
    assert table.loc[0, "unit"] == (f"{first.outcomes[first.outcome_idx[0]]} of patient "
                                    f"{first.patients[first.patient_idx[0]]} at time "
                                    f"{first.visits[first.time_idx[0]]:g}")
    assert not table["refitted"].any() and table["elpd_exact"].isna().all()


def test_patient_loo_sums_each_patients_observations(fit_with_loglik):
    fit, loglik = fit_with_loglik
    cv = loo(fit, unit="patient", refit=False)
    inputs = fit.inputs
    assert list(cv.pointwise["unit"]) == inputs.patients
    counts = np.bincount(inputs.patient_idx, minlength=len(inputs.patients))
    assert cv.pointwise["n_obs"].tolist() == counts.tolist()
    per_patient = np.stack([loglik[:, inputs.patient_idx == p].sum(axis=1)
                            for p in range(len(inputs.patients))], axis=1)
    elpd, k = arviz_loo(per_patient, fit.idata["posterior"].to_dataset())
    np.testing.assert_allclose(cv.pointwise["elpd_psis"], elpd)
    np.testing.assert_allclose(cv.pointwise["pareto_k"], k)


def test_one_psis_loo_and_one_threshold_for_crossval_diagnostics_and_compare(fit_with_loglik):
    fit, loglik = fit_with_loglik
    assert crossval.PARETO_K_MAX is diagnostics.PARETO_K_MAX is PARETO_K_MAX
    combined = pointwise_log_likelihood(fit)
    assert combined.dims == ("chain", "draw", "obs")
    np.testing.assert_array_equal(combined.to_numpy().reshape(1000, -1), loglik)
    elpd = psis_loo(combined, fit.idata["posterior"].to_dataset())  # what compare() weighs
    cv = loo(fit, unit="observation", refit=False)
    np.testing.assert_array_equal(cv.pointwise["pareto_k"], elpd.pareto_k.to_numpy())
    np.testing.assert_array_equal(cv.pointwise["elpd_psis"], elpd.elpd_i.to_numpy())
    per_variable = pointwise_loo(fit.idata).set_index("obs").sort_index()   # diagnostics
    np.testing.assert_allclose(per_variable["pareto_k"], elpd.pareto_k.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(per_variable["elpd_loo"], elpd.elpd_i.to_numpy(), rtol=1e-12)
    assert list(cv.unreliable.index) == list(np.flatnonzero(elpd.pareto_k > PARETO_K_MAX))


def test_constant_log_likelihood_is_exact_for_every_unit():
    """A unit whose log likelihood is the same in every draw has that value as its term and
    k = 0, in cross-validation and model comparison as in the diagnostics."""
    rng = np.random.default_rng(3)
    values = rng.normal(-1.0, 0.1, size=(2, 500, 4))
    values[..., 2] = -2.5
    loglik = xr.DataArray(values, dims=("chain", "draw", "obs"))
    posterior = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(2, 500)))})
    plain, _ = arviz_loo(values[..., [0, 1, 3]].reshape(1000, 3), posterior)  # ArviZ
    elpd = psis_loo(loglik, posterior)                   # refuses the constant column
    assert elpd.pareto_k.values[2] == 0.0 and elpd.elpd_i.values[2] == -2.5
    np.testing.assert_array_equal(elpd.elpd_i.values[[0, 1, 3]], plain)
    assert elpd.elpd == pytest.approx(elpd.elpd_i.values.sum())
    assert np.isfinite(elpd.p) and not elpd.warning
    # patients 0 (observations 0, 2) and 1 (1, 3): patient 0's sum is not constant
    patients = psis_loo(unit_log_likelihood(loglik, np.array([0, 1, 0, 1])), posterior)
    assert np.all(patients.pareto_k.values != 0.0)


def test_exact_terms_replace_psis_terms_and_their_totals():
    rng = np.random.default_rng(4)
    values = rng.normal(-1.0, 0.1, size=(2, 500, 3))
    loglik = xr.DataArray(values, dims=("chain", "draw", "obs"))
    posterior = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(2, 500)))})
    elpd = psis_loo(loglik, posterior)
    swapped = with_exact_terms(elpd, np.array([False, True, False]), np.array([0, -4.0, 0]))
    assert swapped.elpd_i.values.tolist() == [elpd.elpd_i.values[0], -4.0, elpd.elpd_i.values[2]]
    assert swapped.pareto_k.values[1] == 0.0 and elpd.elpd_i.values[1] != -4.0
    assert swapped.elpd == pytest.approx(swapped.elpd_i.values.sum())
    assert swapped.se == pytest.approx(np.sqrt(3 * np.var(swapped.elpd_i.values)))
    lppd = elpd.p + elpd.elpd
    assert swapped.p == pytest.approx(lppd - swapped.elpd)
    # the exact term of observations left out together: log mean of their joint likelihood
    joint = values.reshape(1000, 3)[:, [0, 2]].sum(axis=1)
    assert exact_term(loglik, np.array([0, 2])) == pytest.approx(np.log(np.exp(joint).mean()))


def test_stratified_folds_spread_every_dose_over_the_folds():
    strata = np.repeat([1.0, 10.0, 50.0], [4, 4, 4])
    folds = stratified_folds(strata, k=10, seed=0)
    assert sorted(np.bincount(folds, minlength=10).tolist()) == [1] * 8 + [2] * 2
    for dose in (1.0, 10.0, 50.0):  # 4 patients of a dose in 4 different folds
        assert len(set(folds[strata == dose])) == 4
    assert np.array_equal(folds, stratified_folds(strata, k=10, seed=0))
    assert not np.array_equal(folds, stratified_folds(strata, k=10, seed=1))
    three = stratified_folds(strata, k=3, seed=2)
    for fold in range(3):  # 4 units per fold, at most 2 of a dose
        members = strata[three == fold]
        assert members.size == 4 and max(np.unique(members, return_counts=True)[1]) <= 2
    assert sorted(stratified_folds(strata, k=12, seed=3).tolist()) == list(range(12))
    for bad in (1, 13, 2.5, True):
        with pytest.raises(EstimandError, match="k must be a whole number of folds"):
            stratified_folds(strata, k=bad)


@pytest.fixture
def mocked_refits(monkeypatch):
    """Refits replaced by the fit's own log likelihood less 0.5 per observation."""
    calls = []

    def refit_log_likelihood(fit, rows, progressbar=False):
        calls.append(np.sort(np.asarray(rows)))
        return pointwise_log_likelihood(fit) - 0.5

    monkeypatch.setattr(crossval, "refit_log_likelihood", refit_log_likelihood)
    return calls


def test_loo_by_patient_refits_exactly_or_by_kfold(fit_with_loglik, mocked_refits):
    fit, _ = fit_with_loglik
    code, names = unit_labels(fit, "patient")
    scored = pointwise_log_likelihood(fit) - 0.5
    psis = loo(fit, refit=False)                               # by patient, the default
    assert psis.unit == "patient" and psis.kind == "psis" and psis.n_refits == 0
    high = list(psis.unreliable.index)
    assert high == [int(code[0])]                      # the heavy-tailed observation's patient
    exact = loo(fit)                                           # one patient: an exact refit
    assert exact.kind == "psis+exact" and exact.n_refits == 1
    assert [list(rows) for rows in mocked_refits] == [list(np.flatnonzero(code == high[0]))]
    row = exact.pointwise.loc[high[0]]
    assert row["refitted"] and row["elpd"] == pytest.approx(
        exact_term(scored, np.flatnonzero(code == high[0])), rel=1e-12)
    others = exact.pointwise.drop(index=high[0])
    np.testing.assert_array_equal(others["elpd"], psis.pointwise.drop(index=high[0])["elpd"])
    # more flagged patients than max_refits: K-fold over every patient
    mocked_refits.clear()
    folded = loo(fit, max_refits=0, k_folds=4, seed=3)
    assert folded.kind == "kfold" and folded.n_refits == 4 and len(mocked_refits) == 4
    table = folded.pointwise
    assert table["refitted"].all() and folded.unreliable.empty
    assert sorted(table["fold"].unique()) == [0, 1, 2, 3]
    for fold, rows in enumerate(mocked_refits):  # each refit leaves out one fold
        members = np.flatnonzero(table["fold"].to_numpy() == fold)
        assert np.array_equal(np.flatnonzero(np.isin(code, members)), rows)
    expected = [exact_term(scored, np.flatnonzero(code == p)) for p in range(len(names))]
    np.testing.assert_allclose(table["elpd"], expected, rtol=1e-12)
    assert folded.elpd == pytest.approx(sum(expected))
    doses = unit_doses(fit, code)
    np.testing.assert_array_equal(table["fold"], stratified_folds(doses, 4, seed=3))
    assert "kind='kfold'" in repr(folded)
    # given folds
    mocked_refits.clear()
    given = kfold(fit, folds=np.arange(len(names)) % 2)
    assert given.n_refits == 2 and len(mocked_refits) == 2
    np.testing.assert_allclose(given.pointwise["elpd"], expected, rtol=1e-12)
    with pytest.raises(EstimandError, match="one fold per patient"):
        kfold(fit, folds=np.zeros(3))
    # leaving out observations never falls back to K-fold: the largest k first, capped
    mocked_refits.clear()
    capped = loo(fit, unit="observation", max_refits=0)
    assert capped.kind == "psis" and not mocked_refits and len(capped.unreliable) == 1
    with pytest.raises(EstimandError, match="max_refits"):
        loo(fit, max_refits=-1)


def test_cross_validation_repr_says_how_terms_were_computed():
    table = pd.DataFrame({"unit": ["P1", "P2"], "n_obs": [4, 4], "pareto_k": [0.9, 0.2],
                          "elpd_psis": [-5.0, -4.0], "elpd_exact": [-6.0, -7.0],
                          "refitted": [True, True], "elpd": [-6.0, -7.0], "fold": [0, 1]})
    cv = CrossValidation(unit="patient", pointwise=table, elpd=-13.0, se=1.0, kind="kfold",
                         n_refits=2)
    assert repr(cv).startswith("CrossValidation(unit='patient', kind='kfold', elpd=-13.00")
    assert cv.unreliable.empty
    # built without kind: PSIS-LOO alone
    assert CrossValidation(unit="patient", pointwise=table, elpd=-13.0, se=1.0).kind == "psis"


def test_bad_arguments(fit_with_loglik):
    fit, _ = fit_with_loglik
    with pytest.raises(EstimandError, match="unit"):
        loo(fit, unit="visit", refit=False)
    with pytest.raises(EstimandError, match="k_threshold"):
        loo(fit, k_threshold=0)
    without = fixed_fit(fit.data, fit.model, {"delta": np.zeros((1, 5, 2))})
    with pytest.raises(DataError, match="no log_likelihood"):
        loo(without, refit=False)


@pytest.mark.slow
def test_exact_refit_agrees_with_psis_where_psis_is_reliable_and_replaces_it_elsewhere():
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    fit = bd.DoseResponseModel().fit(data, draws=500, tune=500, chains=2, random_seed=3,
                                     progressbar=False, prior_draws=0)
    cv = loo(fit, unit="observation", refit=False)
    easy = int(cv.pointwise["pareto_k"].idxmin())
    assert cv.pointwise.loc[easy, "pareto_k"] < 0.5
    exact = exact_elpd(fit, np.array([easy]))
    # measured: PSIS -2.90, exact -2.94 (seed 3); Monte Carlo error of both is ~0.05
    assert exact == pytest.approx(cv.pointwise.loc[easy, "elpd_psis"], abs=0.2)
    patients = loo(fit, unit="patient", refit=False).pointwise["pareto_k"]
    second = float(patients.sort_values().iloc[-2])  # only the largest k above it
    refitted = loo(fit, unit="patient", k_threshold=second, max_refits=1)
    assert refitted.kind == "psis+exact" and refitted.n_refits == 1
    row = refitted.pointwise[refitted.pointwise["refitted"]]
    assert len(row) == 1 and row["pareto_k"].iloc[0] == refitted.pointwise["pareto_k"].max()
    assert np.isfinite(row["elpd_exact"].iloc[0])
    assert row["elpd"].iloc[0] == row["elpd_exact"].iloc[0]
    assert refitted.elpd == pytest.approx(refitted.pointwise["elpd"].sum())


@pytest.mark.slow
def test_compare_with_refit_swaps_in_the_exact_terms():
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    settings = dict(draws=300, tune=300, chains=2, random_seed=5, progressbar=False,
                    prior_draws=0)
    fits = {shape: bd.DoseResponseModel(dose_shape=shape).fit(data, **settings)
            for shape in ("emax", "linear")}
    with pytest.warns(UserWarning, match="Pareto k"):
        psis = bd.compare(fits, unit="observation", refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exact = bd.compare(fits, unit="observation", refit=True, max_refits=1)
    for name in fits:
        before = psis.table.set_index("model").loc[name]
        after = exact.table.set_index("model").loc[name]
        if before["n_pareto_k_high"] == 0:
            assert after["n_refitted"] == 0 and after["elpd_loo"] == before["elpd_loo"]
            continue
        assert after["n_refitted"] == 1 and after["loo_kind"] == "psis+exact"
        assert after["n_pareto_k_high"] == before["n_pareto_k_high"]   # PSIS-LOO's count
        assert after["n_unreliable"] == before["n_unreliable"] - 1
        worst = int(np.argmax(psis.loo[name].pareto_k.values))
        term = exact.loo[name].elpd_i.values[worst]
        assert term == pytest.approx(exact_elpd(fits[name], np.array([worst])), abs=1e-9)
        change = after["elpd_loo"] - before["elpd_loo"]
        assert change == pytest.approx(term - psis.loo[name].elpd_i.values[worst], abs=1e-9)
