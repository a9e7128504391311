"""Model comparison and model averaging.

The fast tests use fits with fixed posterior draws and synthetic log likelihoods, whose
answers are known (or computed by ArviZ on the same arrays); refits are mocked. The slow
tests sample: Emax-truth trials should give the Emax candidate the largest stacking weight
(and the Emax fit should show a signal), and a comparison by patient with K-fold refits
runs end to end.
"""

from __future__ import annotations

import time
import warnings

import arviz as az
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import fixed_fit
from scipy import stats

import bayesdose as bd
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.model.comparison import (
    compare,
    decisive_but_uncertain,
    fit_candidates,
    model_name,
    pseudo_bma_weights,
)
from bayesdose.plots.comparison import plot_candidates
from bayesdose.results import crossval
from bayesdose.results.averaging import Comparison, MixtureDraws
from bayesdose.results.crossval import unit_labels
from bayesdose.results.dose_estimands import effective_dose_draws
from bayesdose.results.psis import exact_term, pointwise_log_likelihood
from bayesdose.results.signal import signal_test

CHAINS, DRAWS = 2, 500


def quantile_draws(mean: float, sd: float, n: int = CHAINS * DRAWS) -> np.ndarray:
    """Evenly spaced Normal quantiles: a 'posterior' whose moments are (nearly) exact."""
    return stats.norm.ppf((np.arange(n) + 0.5) / n, loc=mean, scale=sd)


def add_log_likelihood(fit, values: dict[str, np.ndarray]):
    """Attach a log_likelihood group: one variable per likelihood, obs coord = rows."""
    inputs = fit.inputs
    data = {}
    coords = {"chain": fit.idata.posterior["chain"].to_numpy(),
              "draw": fit.idata.posterior["draw"].to_numpy()}
    for kind, ll in values.items():
        var = {"normal": "change", "student_t": "change_t", "lognormal": "log_change"}[kind]
        rows = inputs.observations(kind)
        data[var] = (("chain", "draw", f"obs_{var}"), ll[:, :, rows])
        coords[f"obs_{var}"] = rows
    fit.idata["log_likelihood"] = xr.Dataset(data, coords=coords)
    return fit


def emax_fit(data, delta: tuple[float, float], seed: int, shape: str = "emax",
             likelihood: str | None = None, time_shape: str = "exponential"):
    """A fixed fit of koos_pain with random (so LOO's relative ESS is defined) draws."""
    rng = np.random.default_rng(seed)
    model = bd.DoseResponseModel(shape, time_shape, likelihood=likelihood)
    k = len(model.select_data(data).outcomes)
    visits = len(model.inputs(data).visits)
    draws = {
        "delta": quantile_draws(*delta)[rng.permutation(CHAINS * DRAWS)].reshape(
            CHAINS, DRAWS, 1).repeat(k, axis=2),
        "log_t_half": rng.normal(np.log(3 / 12), 0.05, (CHAINS, DRAWS, k)),
        "course": rng.normal(0.2, 0.05, (CHAINS, DRAWS, k, visits)),
    }
    if shape == "emax":
        draws["log_ed50"] = rng.normal(0.0, 0.05, (CHAINS, DRAWS, k))
    return fixed_fit(data, model, draws)


@pytest.fixture(scope="module")
def koos(msc):
    return msc.select(["koos_pain"])


@pytest.fixture(scope="module")
def two_fits(koos):
    """Model A's pointwise log likelihood is clearly higher than model B's."""
    rng = np.random.default_rng(7)
    n = 47
    a = emax_fit(koos, (1.0, 0.3), seed=1)
    b = emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")
    ll_a = -1.0 + 0.1 * rng.normal(size=(CHAINS, DRAWS, n))
    ll_b = -1.6 + 0.1 * rng.normal(size=(CHAINS, DRAWS, n))
    add_log_likelihood(a, {"normal": ll_a})
    add_log_likelihood(b, {"normal": ll_b})
    return {"A": a, "B": b}, {"A": ll_a, "B": ll_b}


def arviz_reference(fits, lls: dict[str, np.ndarray]) -> pd.DataFrame:
    """ArviZ's own comparison of the given log-likelihood arrays (chain, draw, unit)."""
    reference = az.compare({
        name: xr.DataTree.from_dict({
            "posterior": fits[name].idata["posterior"].to_dataset(),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), lls[name])})})
        for name in fits}, round_to="none")
    reference["elpd_diff"] = -reference["elpd_diff"]  # the table's: best minus this one
    return reference


def by_patient(fit, ll: np.ndarray) -> np.ndarray:
    """Each patient's log likelihood per draw: the sum over their observations."""
    code, names = unit_labels(fit, "patient")
    return np.stack([ll[:, :, code == p].sum(axis=2) for p in range(len(names))], axis=2)


@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_compare_ranks_the_better_model_first_and_matches_arviz(two_fits):
    fits, lls = two_fits
    result = compare(fits)
    assert isinstance(result, Comparison)
    table = result.table
    assert table["model"].tolist() == ["A", "B"]
    assert table["rank"].tolist() == [0, 1]
    assert result.weights.sum() == pytest.approx(1.0)
    assert result.weights["A"] > 0.95
    # by patient (the default): ArviZ on each patient's summed log likelihood
    patients = arviz_reference(fits, {name: by_patient(fits[name], ll)
                                      for name, ll in lls.items()})
    observations = arviz_reference(fits, lls)
    by_observation = compare(fits, unit="observation").table
    for ours, theirs in (("elpd_loo", "elpd"), ("p_loo", "p"), ("elpd_diff", "elpd_diff"),
                         ("dse", "dse"), ("se", "se")):
        np.testing.assert_allclose(table.set_index("model")[ours],
                                   patients.loc[["A", "B"], theirs], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(by_observation.set_index("model")[ours],
                                   observations.loc[["A", "B"], theirs], rtol=1e-10,
                                   atol=1e-12)
    assert table.loc[0, "elpd_diff"] == 0
    assert table.loc[1, "elpd_diff"] == pytest.approx(0.6 * 47, rel=0.05)
    assert (table["n_obs"] == 47).all() and (table["n_units"] == 12).all()
    assert (table["unit"] == "patient").all() and table.attrs["unit"] == "patient"
    assert (by_observation["n_units"] == 47).all()
    assert (by_observation["unit"] == "observation").all()
    assert (table["max_pareto_k"] < 0.7).all() and not table["warning"].any()
    assert (table["n_pareto_k_high"] == 0).all() and (table["n_refitted"] == 0).all()
    assert (table["loo_kind"] == "psis").all() and (table["n_refits"] == 0).all()
    assert table.loc[0, "dose_shape"] == "emax" and table.loc[1, "dose_shape"] == "linear"
    assert set(result.fits) == {"A", "B"}
    assert list(result.loo["A"].elpd_i["unit"].values) == fits["A"].inputs.patients
    for method in ("BB-pseudo-BMA", "pseudo-BMA"):
        other = compare(fits, method=method)
        assert other.weights.sum() == pytest.approx(1.0)
        assert other.weights.idxmax() == "A"
    assert "elpd_loo" in repr(result)


def near_constant(fit, means: np.ndarray, seed: int, noise: float = 1e-4) -> np.ndarray:
    """Log likelihoods that hardly vary over the draws: every PSIS-LOO term is (to about
    noise^2) its observation's mean, and a patient's term the sum of theirs."""
    rng = np.random.default_rng(seed)
    return means[None, None, :] + noise * rng.standard_normal((CHAINS, DRAWS, means.size))


def test_patient_terms_are_the_observation_terms_summed_by_patient(koos):
    """By patient, each patient's term is PSIS-LOO of their summed log likelihood; with
    log likelihoods (nearly) constant over the draws it is the sum of their observations'
    terms."""
    fits = {"A": emax_fit(koos, (1.0, 0.3), seed=1),
            "B": emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")}
    n = len(fits["A"].inputs.response)
    rng = np.random.default_rng(3)
    lls = {"A": near_constant(fits["A"], rng.normal(-1.0, 0.5, n), seed=4),
           "B": near_constant(fits["B"], rng.normal(-1.3, 0.5, n), seed=5)}
    for name, ll in lls.items():
        add_log_likelihood(fits[name], {"normal": ll})
    patients = compare(fits, unit="patient")
    observations = compare(fits, unit="observation")
    code, names = unit_labels(fits["A"], "patient")
    for name in fits:
        terms = patients.loo[name].elpd_i
        assert terms.sizes["unit"] == len(names) == 12
        obs_terms = observations.loo[name].elpd_i.to_numpy()
        summed = np.bincount(code, weights=obs_terms, minlength=len(names))
        np.testing.assert_allclose(terms.to_numpy(), summed, atol=1e-6)
        assert patients.loo[name].elpd == pytest.approx(observations.loo[name].elpd, abs=1e-5)


def test_standard_errors_are_over_patients_when_visits_are_perfectly_correlated(koos):
    """Model B is worse than A by c_p at every visit of patient p: the visits carry one
    piece of evidence per patient, and the SE of the difference is over patients,
    sqrt(P var(n_p c_p)), about twice the observation-level sqrt(N var(c)) with 4 visits."""
    fits = {"A": emax_fit(koos, (1.0, 0.3), seed=1),
            "B": emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")}
    code, names = unit_labels(fits["A"], "patient")
    rng = np.random.default_rng(6)
    base = rng.normal(-1.0, 0.3, len(code))
    c = rng.normal(0.2, 0.4, len(names))          # per patient, the same at every visit
    add_log_likelihood(fits["A"], {"normal": near_constant(fits["A"], base, seed=7)})
    add_log_likelihood(fits["B"], {"normal": near_constant(fits["B"], base - c[code], seed=8)})
    patient = compare(fits).table.set_index("model")
    observation = compare(fits, unit="observation").table.set_index("model")
    per_patient = np.bincount(code, weights=c[code])          # n_p c_p
    expected = np.sqrt(len(names) * np.var(per_patient))
    per_observation = np.sqrt(len(code) * np.var(c[code]))
    worse = patient["dse"].idxmax()
    assert patient.loc[worse, "dse"] == pytest.approx(expected, rel=1e-3)
    assert observation.loc[worse, "dse"] == pytest.approx(per_observation, rel=1e-3)
    assert patient.loc[worse, "dse"] > 1.8 * observation.loc[worse, "dse"]
    # the same elpd difference either way; only its standard error changes
    assert patient.loc[worse, "elpd_diff"] == pytest.approx(
        observation.loc[worse, "elpd_diff"], abs=1e-5)
    assert patient.loc[worse, "elpd_diff"] == pytest.approx(abs(c[code].sum()), abs=1e-3)


def test_pseudo_bma_plus_weights_beside_stacking_and_deterministic(two_fits):
    fits, _ = two_fits
    first = compare(fits, seed=3).table.set_index("model")
    again = compare(fits, seed=3).table.set_index("model")
    for column in ("weight_stacking", "weight_pseudo_bma"):
        assert first[column].sum() == pytest.approx(1.0)
        assert (first[column] >= 0).all()
    assert first["weight"].equals(first["weight_stacking"])
    pd.testing.assert_series_equal(first["weight_pseudo_bma"], again["weight_pseudo_bma"])
    bb = compare(fits, method="BB-pseudo-BMA", seed=3)
    assert bb.weights.to_numpy() == pytest.approx(first["weight_pseudo_bma"].to_numpy())
    assert bb.table["weight_stacking"].to_numpy() == pytest.approx(
        first["weight_stacking"].to_numpy())
    # the Bayesian bootstrap, against ArviZ's (its own replicates) on the same terms
    loos = compare(fits).loo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = az.compare(loos, method="BB-pseudo-BMA", round_to="none")["weight"]
    terms = np.column_stack([loos[name].elpd_i.to_numpy() for name in theirs.index])
    for seed in (0, 1):
        ours = pseudo_bma_weights(terms, seed=seed)
        np.testing.assert_allclose(ours, theirs.to_numpy(), atol=0.02)
        assert np.array_equal(ours, pseudo_bma_weights(terms, seed=seed))
    # close models: the weights move with the seed, and are the same for the same seed
    close = np.random.default_rng(1).normal(-1.0, 0.5, size=(12, 2))
    w0, w1 = pseudo_bma_weights(close, seed=0), pseudo_bma_weights(close, seed=1)
    assert not np.array_equal(w0, w1) and np.allclose(w0, w1, atol=0.05)
    plain = pseudo_bma_weights(close, bootstrap=False)
    z = close.sum(axis=0)
    np.testing.assert_allclose(plain, np.exp(z - z.max()) / np.exp(z - z.max()).sum())


def decisive_fits(koos, c: np.ndarray):
    """Fits whose patient terms differ by c_p (A minus B), spread over each patient's
    visits; log likelihoods nearly constant over the draws."""
    fits = {"A": emax_fit(koos, (1.0, 0.3), seed=1),
            "B": emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")}
    code, _ = unit_labels(fits["A"], "patient")
    counts = np.bincount(code)
    base = np.random.default_rng(9).normal(-1.0, 0.3, len(code))
    add_log_likelihood(fits["A"], {"normal": near_constant(fits["A"], base + (c / counts)[code],
                                                           seed=10)})
    add_log_likelihood(fits["B"], {"normal": near_constant(fits["B"], base, seed=11)})
    return fits


def test_warns_when_weights_are_decisive_but_the_difference_is_within_two_se(koos):
    # three patients much better predicted by A, nine a little worse: stacking puts all
    # the weight on A (sum_p exp(-c_p) < 12), but the difference is 7.2 with SE 4.8
    c = np.array([3.0] * 3 + [-0.2] * 9)
    fits = decisive_fits(koos, c)
    with pytest.warns(UserWarning, match="decisive weights, uncertain difference") as caught:
        result = compare(fits)
    table = result.table.set_index("model")
    assert table.loc["A", "weight_stacking"] > 0.99
    assert table.loc["B", "elpd_diff"] == pytest.approx(7.2, abs=1e-4)
    assert table.loc["B", "dse"] == pytest.approx(4.8, abs=1e-4)
    message = str(next(w.message for w in caught if "decisive" in str(w.message)))
    assert "stacking gives 'A' 1.00 and 'B' 0.00" in message
    assert "elpd difference is 7.20 (SE 4.80), within 2 SE" in message
    assert "over 12 patients" in message
    # the same decisive weight on a clear difference (A better for every patient)
    with warnings.catch_warnings(record=True) as clear:
        warnings.simplefilter("always")
        compare(decisive_fits(koos, np.full(12, 1.0) + np.linspace(0, 0.2, 12)))
    assert not [w for w in clear if "decisive" in str(w.message)]
    # the rule itself, on given weights and terms
    terms = pd.DataFrame({"A": c, "B": np.zeros(12)})
    listed = decisive_but_uncertain(pd.DataFrame({"stacking": [0.95, 0.05],
                                                  "pseudo-BMA+": [0.6, 0.4]},
                                                 index=["A", "B"]), terms)
    assert len(listed) == 1 and listed[0].startswith("stacking gives 'A' 0.95")
    assert decisive_but_uncertain(pd.DataFrame({"stacking": [0.9, 0.1]}, index=["A", "B"]),
                                  terms) == []


def heavy_tailed_fits(koos, n_high: int):
    """Two fits in which the first ``n_high`` patients each have one heavy-tailed
    observation (their patient terms have Pareto k > 0.7)."""
    fits = {"A": emax_fit(koos, (1.0, 0.3), seed=1),
            "B": emax_fit(koos, (0.5, 0.2), seed=2, shape="linear")}
    code, _ = unit_labels(fits["A"], "patient")
    for seed, fit in enumerate(fits.values()):
        rng = np.random.default_rng(20 + seed)
        ll = rng.normal(-1.0 - 0.2 * seed, 0.1, size=(CHAINS, DRAWS, len(code)))
        for p in range(n_high):
            j = np.flatnonzero(code == p)[0]
            ll[:, :, j] = -3.0 * np.exp(rng.normal(0.0, 1.5, size=(CHAINS, DRAWS)))
        add_log_likelihood(fit, {"normal": ll})
    return fits


@pytest.fixture
def mocked_refits(monkeypatch):
    """Refits replaced by the fit's own log likelihood less 0.5 per observation; every
    call's fit and left-out rows recorded."""
    calls = []

    def refit_log_likelihood(fit, rows, progressbar=False):
        calls.append((fit, np.sort(np.asarray(rows))))
        return pointwise_log_likelihood(fit) - 0.5

    monkeypatch.setattr(crossval, "refit_log_likelihood", refit_log_likelihood)
    return calls


def test_kfold_by_patient_for_every_model_when_many_patients_have_high_k(koos, mocked_refits):
    fits = heavy_tailed_fits(koos, n_high=7)
    before = compare(fits, refit=False).table.set_index("model")
    assert (before["n_pareto_k_high"] == 7).all() and before["warning"].all()
    assert not mocked_refits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = compare(fits, max_refits=5, seed=4)
    table = result.table.set_index("model")
    assert (table["loo_kind"] == "kfold").all()
    assert (table["n_refits"] == 10).all() and (table["n_refitted"] == 12).all()
    assert (table["n_pareto_k_high"] == 7).all() and (table["n_unreliable"] == 0).all()
    assert not table["warning"].any()
    assert len(mocked_refits) == 2 * 10
    code, names = unit_labels(fits["A"], "patient")
    doses = np.array([fits["A"].inputs.dose[code == p][0] for p in range(len(names))])
    left_out = {name: [] for name in fits}
    for fit, rows in mocked_refits:
        name = next(n for n, f in fits.items() if f is fit)
        patients = np.unique(code[rows])
        # whole patients, at most one per dose in a fold of 1 or 2
        assert np.array_equal(np.sort(np.flatnonzero(np.isin(code, patients))), rows)
        assert len(patients) in (1, 2) and len(set(doses[patients])) == len(patients)
        left_out[name].append(tuple(patients))
    for name in fits:  # every patient left out once, on the same folds for every model
        assert sorted(p for fold in left_out[name] for p in fold) == list(range(12))
    assert left_out["A"] == left_out["B"]
    for name, fit in fits.items():  # each patient scored under the refit without their fold
        scored = pointwise_log_likelihood(fit) - 0.5
        expected = [exact_term(scored, np.flatnonzero(code == p)) for p in range(12)]
        np.testing.assert_allclose(result.loo[name].elpd_i.to_numpy(), expected, rtol=1e-12)
    # the same seed gives the same folds; another seed other folds
    mocked_refits.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        compare(fits, max_refits=5, seed=5)
    assert [tuple(np.unique(code[r])) for _, r in mocked_refits[:10]] != left_out["A"]


def test_exact_patient_refits_when_few_patients_have_high_k(koos, mocked_refits):
    fits = heavy_tailed_fits(koos, n_high=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = compare(fits)                                   # max_refits 5
    table = result.table.set_index("model")
    assert (table["loo_kind"] == "psis+exact").all()
    assert (table["n_refits"] == 3).all() and (table["n_refitted"] == 3).all()
    code, _ = unit_labels(fits["A"], "patient")
    for _, rows in mocked_refits:  # one whole patient per refit
        patient = np.unique(code[rows])
        assert len(patient) == 1 and np.array_equal(np.flatnonzero(code == patient[0]), rows)
    assert sorted({int(code[rows][0]) for _, rows in mocked_refits}) == [0, 1, 2]
    assert len(mocked_refits) == 6
    psis = compare(fits, refit=False)
    for name, fit in fits.items():
        scored = pointwise_log_likelihood(fit) - 0.5
        terms = result.loo[name].elpd_i.to_numpy()
        for p in range(12):
            expected = (exact_term(scored, np.flatnonzero(code == p)) if p < 3
                        else psis.loo[name].elpd_i.to_numpy()[p])
            assert terms[p] == pytest.approx(expected, rel=1e-12)
    # with max_refits=None, never K-fold: every flagged patient refitted exactly
    mocked_refits.clear()
    many = heavy_tailed_fits(koos, n_high=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        unlimited = compare(many, max_refits=None).table
    assert (unlimited["loo_kind"] == "psis+exact").all() and len(mocked_refits) == 14


def test_pointwise_log_likelihood_puts_every_likelihood_in_row_order(msc):
    data = msc.select(["koos_pain", "sf_il6"])
    fit = emax_fit(data, (1.0, 0.2), seed=3)
    n = len(fit.inputs.response)
    ll = np.random.default_rng(0).normal(size=(CHAINS, DRAWS, n))
    add_log_likelihood(fit, {"normal": ll, "lognormal": ll})
    combined = pointwise_log_likelihood(fit)
    assert combined.dims == ("chain", "draw", "obs")
    np.testing.assert_array_equal(combined.to_numpy(), ll)
    with pytest.raises(DataError, match="no log_likelihood"):
        pointwise_log_likelihood(emax_fit(data, (1.0, 0.2), seed=3))


def test_compare_refuses_different_data_or_likelihood_scales(two_fits, msc, koos):
    fits, lls = two_fits
    other = emax_fit(msc.select(["koos_symptoms"]), (1.0, 0.3), seed=4)
    add_log_likelihood(other, {"normal": lls["B"][:, :, :len(other.inputs.response)]})
    with pytest.raises(DataError, match="different outcomes"):
        compare({"A": fits["A"], "other": other})
    # same outcome, one patient's values changed
    table = koos.table.copy()
    table.loc[table["time"] > 0, "value"] += np.where(
        table.loc[table["time"] > 0, "patient"] == table["patient"].iloc[0], 1.0, 0.0)
    changed = bd.TrialData(table=table, columns=koos.columns,
                           baseline_time=koos.baseline_time, outcome_info=koos.outcome_info)
    moved = emax_fit(changed, (1.0, 0.3), seed=5)
    add_log_likelihood(moved, {"normal": lls["B"]})
    with pytest.raises(DataError, match="different data"):
        compare({"A": fits["A"], "moved": moved})
    il6 = msc.select(["sf_il6"])
    log_fit = emax_fit(il6, (1.0, 0.3), seed=6)
    raw_fit = emax_fit(il6, (1.0, 0.3), seed=7, likelihood="normal")
    n = len(log_fit.inputs.response)
    ll = np.random.default_rng(1).normal(-1, 0.1, size=(CHAINS, DRAWS, n))
    add_log_likelihood(log_fit, {"lognormal": ll})
    add_log_likelihood(raw_fit, {"normal": ll})
    with pytest.raises(SpecError, match="not on the same scale"):
        compare({"lognormal": log_fit, "normal": raw_fit})
    # normal and student_t are densities of the same change: comparable
    robust = emax_fit(koos, (1.0, 0.3), seed=8, likelihood="student_t")
    add_log_likelihood(robust, {"student_t": lls["B"]})
    assert compare({"A": fits["A"], "t": robust}).table["model"].iloc[0] == "A"


def test_compare_rejects_bad_settings(two_fits):
    fits, _ = two_fits
    with pytest.raises(SpecError, match="at least two"):
        compare({"A": fits["A"]})
    with pytest.raises(SpecError, match="method must be one of"):
        compare(fits, method="bma")
    with pytest.raises(SpecError, match="ic must be one of"):
        compare(fits, ic="waic")
    with pytest.raises(SpecError, match="not a DoseResponseFit"):
        compare({"A": fits["A"], "B": "fit.nc"})
    with pytest.raises(SpecError, match="mapping of model name"):
        compare([fits["A"], fits["B"]])


def test_fit_candidates_names_and_checks_models_before_fitting(koos):
    assert model_name(bd.DoseResponseModel("emax", "exponential")) == "emax x exponential"
    with pytest.raises(SpecError, match="several candidates are named"):
        fit_candidates([bd.DoseResponseModel("emax"), "emax"], koos)
    with pytest.raises(SpecError, match="at least two"):
        fit_candidates(["emax"], koos)
    with pytest.raises(SpecError, match="not a DoseResponseModel"):
        fit_candidates([bd.DoseResponseModel("emax"), 3], koos)


def test_averaged_contrast_is_the_weighted_mixture(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    weights = {"A": 0.25, "B": 0.75}
    averaged = result.average_contrast(dose=[10, 50], time=12, weights=weights, mcid=5)
    own = {name: fit.contrast(dose=[10, 50], time=12, mcid=5) for name, fit in fits.items()}
    mean = 0.25 * own["A"]["mean"] + 0.75 * own["B"]["mean"]
    np.testing.assert_allclose(averaged["mean"], mean, rtol=1e-12)
    for column in ("prob_gt_0", "prob_gt_mcid"):
        expected = 0.25 * own["A"][column] + 0.75 * own["B"][column]
        np.testing.assert_allclose(averaged[column], expected, rtol=1e-12)
    # mixture variance: sum_m w_m (var_m + mean_m^2) - mean^2
    second = sum(w * (own[m]["sd"] ** 2 + own[m]["mean"] ** 2) for m, w in weights.items())
    np.testing.assert_allclose(averaged["sd"], np.sqrt(second - mean**2), rtol=2e-3)
    np.testing.assert_allclose(averaged["mean[A]"], own["A"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(averaged["min_model_mean"],
                               np.minimum(own["A"]["mean"], own["B"]["mean"]))
    np.testing.assert_allclose(averaged["max_model_mean"],
                               np.maximum(own["A"]["mean"], own["B"]["mean"]))
    assert (averaged["ci_low"] < averaged["mean"]).all()
    assert (averaged["mean"] < averaged["ci_high"]).all()
    assert averaged.attrs["ci"] == "eti 95%"
    for column in ("outcome", "dose", "reference", "time", "direction", "mcid"):
        assert averaged[column].tolist() == own["A"][column].tolist()
    # one model at weight 1 gives that model's own contrast table
    alone = result.average_contrast(dose=[10, 50], time=12, weights={"B": 1.0})
    plain = fits["B"].contrast(dose=[10, 50], time=12)
    for column in ("mean", "sd", "median", "ci_low", "ci_high", "prob_gt_0"):
        np.testing.assert_allclose(alone[column], plain[column], rtol=1e-10)
    for kind in ("eti", "hdi"):  # equal-tailed and highest-density: one model's own
        alone = result.average_contrast(dose=[10, 50], time=12, weights={"B": 1.0},
                                        ci_prob=0.8, ci_kind=kind)
        plain = fits["B"].contrast(dose=[10, 50], time=12, ci_prob=0.8, ci_kind=kind)
        for column in ("ci_low", "ci_high"):
            np.testing.assert_allclose(alone[column], plain[column], rtol=1e-10)


def test_averaged_effect_and_generic_draws(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    w = result.weights
    effect = result.average_effect(time=12)
    own = {name: fit.effect(time=12) for name, fit in fits.items()}
    np.testing.assert_allclose(effect["mean"],
                               w["A"] * own["A"]["mean"] + w["B"] * own["B"]["mean"])
    assert effect["versus"].iloc[0] == fits["A"].versus()  # the lowest tested dose
    assert set(effect["reference"]) == {1.0}
    assert effect["dose_status"].tolist() == ["tested"] * 3
    mix = result.average_draws(lambda fit: fit.effect_draws(50, 12, "koos_pain"),
                               weights={"A": 0.5, "B": 0.5})
    assert isinstance(mix, MixtureDraws)
    assert mix.values.shape == (2 * CHAINS * DRAWS, 1, 1, 1)
    expected = 0.5 * (own["A"]["mean"].iloc[-1] + own["B"]["mean"].iloc[-1])
    assert float(mix.mean().squeeze()) == pytest.approx(expected)
    resampled = mix.sample(size=20000, seed=3)
    assert np.array_equal(resampled, mix.sample(size=20000, seed=3))
    assert resampled.mean() == pytest.approx(expected, rel=0.02)
    median = float(mix.quantile(0.5).squeeze())
    assert float(np.mean(mix.values.squeeze() <= median)) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(EstimandError, match="different shapes"):
        result.average_draws(lambda fit: np.zeros((10, 1 if fit is fits["A"] else 2)))
    with pytest.raises(EstimandError, match="one number"):
        result.average_draws(lambda fit: 1.0)
    with pytest.raises(EstimandError, match="not in this comparison"):
        result.average_effect(weights={"C": 1.0})
    with pytest.raises(EstimandError, match="non-negative"):
        result.average_effect(weights={"A": -1.0, "B": 2.0})
    with pytest.raises(EstimandError, match="model 'A'"):
        result.average_effect(dose=-5)


def test_averaged_effect_measures_every_model_against_the_same_dose(two_fits, koos):
    fits, lls = two_fits
    rng = np.random.default_rng(2)
    model = bd.DoseResponseModel("free", "exponential")
    free = fixed_fit(koos, model, {
        "delta": rng.normal([0.5, 1.0], 0.1, (CHAINS, DRAWS, 1, 2)),
        "log_t_half": rng.normal(-1.0, 0.05, (CHAINS, DRAWS, 1)),
        "course": rng.normal(0.0, 0.05, (CHAINS, DRAWS, 1, 4))})
    add_log_likelihood(free, {"normal": lls["B"]})
    result = compare({"A": fits["A"], "free": free})
    # both against the lowest tested dose by default, so one quantity
    effect = result.average_effect(time=12)
    own = {name: fit.effect(time=12) for name, fit in result.fits.items()}
    np.testing.assert_allclose(effect["mean[free]"], own["free"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(effect["mean[A]"], own["A"]["mean"], rtol=1e-12)
    assert set(effect["reference_status"]) == {"tested"}
    with pytest.raises(EstimandError, match="model 'free'"):  # no curve below dose 1
        result.average_effect(reference=0)
    table = result.average_contrast(dose=50, reference=1, time=12)
    assert table["mean"].notna().all()
    with pytest.raises(EstimandError, match="model 'free'"):
        result.average_contrast(dose=20, reference=1, time=12)
    fig = plot_candidates(result)  # tested doses only: 'free' has no curve between them
    line = next(x for x in fig.axes[0].get_lines()
                if x.get_label().startswith("model average"))
    np.testing.assert_array_equal(line.get_xdata(), [1.0, 10.0, 50.0])


def test_plot_candidates_draws_each_model_and_the_average(two_fits):
    fits, _ = two_fits
    result = compare(fits)
    fig = result.plot(time=12)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert f"A (w = {result.weights['A']:.2f})" in labels
    assert f"B (w = {result.weights['B']:.2f})" in labels
    average = ax.get_lines()[labels.index("model average (90% equal-tailed interval)")]
    x, y = average.get_data()
    table = result.average_contrast(dose=x[1:], reference=1, time=12)
    np.testing.assert_allclose(y[1:], table["mean"])
    assert y[0] == 0 and ax.get_xscale() == "log"
    with pytest.raises(EstimandError, match="needs a Comparison"):
        plot_candidates(fits)


# ---------------------------------------------------------------------- compare fits models
def test_compare_fits_models_given_data_with_the_same_settings(two_fits, koos, monkeypatch):
    fits, _ = two_fits
    calls = []

    def fake_fit(self, data, **kwargs):
        calls.append((model_name(self), data, kwargs))
        return {"emax": fits["A"], "linear": fits["B"]}[self.dose_shape.name]

    monkeypatch.setattr(bd.DoseResponseModel, "fit", fake_fit)
    settings = {"draws": 50, "tune": 20, "chains": 2, "random_seed": 7}
    result = bd.compare(["emax", bd.DoseResponseModel("linear")], koos, **settings)
    assert [name for name, _, _ in calls] == ["emax x exponential", "linear x exponential"]
    assert all(data is koos and kwargs == settings for _, data, kwargs in calls)
    assert set(result.fits) == {"emax x exponential", "linear x exponential"}
    assert result.fits["emax x exponential"] is fits["A"]
    np.testing.assert_allclose(result.weights.sort_index().to_numpy(),
                               compare(fits).weights.sort_index().to_numpy())
    # a mapping keeps its names; compare's own settings reach the comparison
    calls.clear()
    named = bd.compare({"E": "emax", "L": bd.DoseResponseModel("linear")}, data=koos,
                       method="pseudo-BMA", random_seed=3)
    assert set(named.fits) == {"E", "L"} and named.method == "pseudo-BMA"
    assert [kwargs for _, _, kwargs in calls] == [{"random_seed": 3}] * 2
    # fit_candidates does the same
    calls.clear()
    again = fit_candidates(["emax", "linear"], koos, **settings)
    assert [kwargs for _, _, kwargs in calls] == [settings] * 2
    pd.testing.assert_series_equal(again.weights, result.weights)


def test_compare_says_what_to_pass_for_models_fits_and_data(two_fits, koos, monkeypatch):
    fits, _ = two_fits

    def no_fit(self, data, **kwargs):
        raise AssertionError("nothing should be fitted")

    monkeypatch.setattr(bd.DoseResponseModel, "fit", no_fit)
    with pytest.raises(SpecError, match="no data was given: pass data="):
        compare(["emax", "linear"])
    with pytest.raises(SpecError, match="no data was given"):
        compare({"E": bd.DoseResponseModel("emax"), "L": bd.DoseResponseModel("linear")})
    with pytest.raises(SpecError, match=r"already fitted .* pass fits without data"):
        compare(fits, koos)
    with pytest.raises(SpecError, match=r"mix fits .* and models"):
        compare({"A": fits["A"], "L": "linear"})
    with pytest.raises(SpecError, match="mix fits"):
        compare([fits["A"], bd.DoseResponseModel("linear")], koos)
    with pytest.raises(SpecError, match=r"fit settings \['draws'\] apply only"):
        compare(fits, draws=100)
    with pytest.raises(SpecError, match="data must be a TrialData"):
        compare(["emax", "linear"], data=koos.table)
    with pytest.raises(SpecError, match="data must be a TrialData"):
        fit_candidates(["emax", "linear"], koos.table)
    # settings are checked before anything is fitted
    with pytest.raises(SpecError, match="method must be one of"):
        compare(["emax", "linear"], koos, method="bma")
    with pytest.raises(SpecError, match="ic must be one of"):
        fit_candidates(["emax", "linear"], koos, ic="waic")
    with pytest.raises(SpecError, match="at least two"):
        compare(["emax"], koos)


# ---------------------------------------------------------------------- averaged EDp
def ed_fit(data, ed50, delta=1.0, shape: str = "emax"):
    """A fixed fit of koos_pain whose draws have the given ED50 (Emax) and delta, each a
    number or one value per draw (CHAINS * DRAWS)."""
    model = bd.DoseResponseModel(shape, "exponential")
    midpoint = model.inputs(data).dose_scale.midpoint

    def per_draw(value):
        return np.broadcast_to(np.asarray(value, dtype=float),
                               (CHAINS * DRAWS,)).reshape(CHAINS, DRAWS, 1).copy()

    draws = {"delta": per_draw(delta),
             "log_t_half": np.full((CHAINS, DRAWS, 1), np.log(3 / 12))}
    if shape == "emax":
        draws["log_ed50"] = np.log(per_draw(ed50) / midpoint)
    return fixed_fit(data, model, draws)


def comparison_of(fits: dict, weights: dict) -> Comparison:
    """A Comparison with given weights (no log likelihood needed to average)."""
    table = pd.DataFrame({"model": list(weights), "weight": list(weights.values())})
    return Comparison(table=table, weights=pd.Series(weights, dtype=float), fits=fits)


def first_quarter(first: float, rest: float) -> np.ndarray:
    return np.where(np.arange(CHAINS * DRAWS) < CHAINS * DRAWS // 4, first, rest)


def test_average_effective_dose_is_the_weighted_mixture_of_known_ed50s(koos):
    fits = {"A": ed_fit(koos, 5.0), "B": ed_fit(koos, 20.0)}
    result = comparison_of(fits, {"A": 0.5, "B": 0.5})
    weights = {"A": 0.25, "B": 0.75}
    row = result.average_effective_dose(p=0.5, weights=weights).iloc[0]
    assert row["outcome"] == "koos_pain" and row["p"] == 0.5
    # weighted geometric mean; geometric SD from the weighted variance of the log ED50
    # with the reliability correction 1 / (1 - sum of squared weights)
    log_mean = 0.25 * np.log(5) + 0.75 * np.log(20)
    assert row["geo_mean"] == pytest.approx(np.exp(log_mean), rel=1e-12)
    square = CHAINS * DRAWS * ((0.25 / (CHAINS * DRAWS)) ** 2 + (0.75 / (CHAINS * DRAWS)) ** 2)
    log_sd = np.sqrt(0.25 * 0.75 * np.log(4) ** 2 / (1 - square))
    assert row["geo_sd"] == pytest.approx(np.exp(log_sd), rel=1e-9)
    assert row["median"] == pytest.approx(20.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((5.0, 20.0))
    hdi_row = result.average_effective_dose(p=0.5, weights=weights, ci_kind="hdi").iloc[0]
    assert (hdi_row["ci_low"], hdi_row["ci_high"]) == pytest.approx((5.0, 20.0))
    assert row["prob_not_reached"] == 0.0 and row["prob_in_range"] == pytest.approx(1.0)
    assert (row["median[A]"], row["median[B]"]) == pytest.approx((5.0, 20.0))
    assert (row["min_model_median"], row["max_model_median"]) == pytest.approx((5.0, 20.0))
    assert "Emax" in row["definition"]
    # P(ED50 < 10) from the same mixture of per-draw EDp
    mix = result.average_draws(lambda fit: effective_dose_draws(fit.posterior_view, p=0.5), weights)
    assert float(mix.prob(mix.values < 10)[0]) == pytest.approx(0.25, rel=1e-12)
    # the comparison's own weights (0.5 each) when none are given
    assert result.average_effective_dose()["geo_mean"].iloc[0] == pytest.approx(10.0)


def test_average_effective_dose_weighted_quantiles_and_hdi(koos):
    # mixture: ED50 5 with weight 0.25, 10 with 0.75 / 4 = 0.1875, 40 with 0.5625
    fits = {"A": ed_fit(koos, 5.0), "B": ed_fit(koos, first_quarter(10.0, 40.0))}
    result = comparison_of(fits, {"A": 0.25, "B": 0.75})
    wide = result.average_effective_dose(ci_prob=0.6).iloc[0]
    log_mean = 0.25 * np.log(5) + 0.1875 * np.log(10) + 0.5625 * np.log(40)
    assert wide["geo_mean"] == pytest.approx(np.exp(log_mean), rel=1e-12)
    assert wide["median"] == pytest.approx(40.0)  # cumulative weight 0.4375 below 40
    assert (wide["ci_low"], wide["ci_high"]) == pytest.approx((5.0, 40.0))  # 0.2 and 0.8
    # shortest interval holding more than 0.6: [10, 40] (0.75), not [5, 40]
    shortest = result.average_effective_dose(ci_prob=0.6, ci_kind="hdi").iloc[0]
    assert (shortest["ci_low"], shortest["ci_high"]) == pytest.approx((10.0, 40.0))
    narrow = result.average_effective_dose(ci_prob=0.4).iloc[0]
    assert (narrow["ci_low"], narrow["ci_high"]) == pytest.approx((10.0, 40.0))  # 0.3, 0.7
    assert narrow["median[B]"] == pytest.approx(40.0)
    assert narrow["prob_in_range"] == pytest.approx(1.0)


def test_average_effective_dose_counts_unreached_draws_by_weight(koos):
    # linear ED50 = 25 (half the effect at 50); a quarter of its draws are flat (delta 0):
    # no effect at the top dose, so no fraction of it is ever reached
    fits = {"E": ed_fit(koos, 5.0),
            "L": ed_fit(koos, None, delta=first_quarter(0.0, 1.0), shape="linear")}
    per_draw = effective_dose_draws(fits["L"].posterior_view)
    assert per_draw.isel(chain=0, draw=0, outcome=0).item() == np.inf
    assert per_draw.isel(chain=1, draw=0, outcome=0).item() == pytest.approx(25.0)
    result = comparison_of(fits, {"E": 0.4, "L": 0.6})
    row = result.average_effective_dose(ci_prob=0.9).iloc[0]
    assert row["prob_not_reached"] == pytest.approx(0.6 * 0.25, rel=1e-12)
    assert row["prob_beyond_range"] == pytest.approx(0.15, rel=1e-12)
    assert row["prob_in_range"] == pytest.approx(0.85, rel=1e-12)
    # geometric mean over the reached draws, weights renormalised: 0.4 at 5, 0.45 at 25
    assert row["geo_mean"] == pytest.approx(
        np.exp((0.4 * np.log(5) + 0.45 * np.log(25)) / 0.85), rel=1e-12)
    assert row["median"] == pytest.approx(25.0)
    assert row["ci_low"] == pytest.approx(5.0) and row["ci_high"] == np.inf
    assert (row["median[E]"], row["median[L]"]) == pytest.approx((5.0, 25.0))
    assert row["definition"].startswith("differs by model")
    # every draw of the mixture not reached
    flat = comparison_of({"E": fits["E"], "F": ed_fit(koos, None, 0.0, "linear")},
                         {"E": 0.0, "F": 1.0})
    none = flat.average_effective_dose().iloc[0]
    assert none["prob_not_reached"] == pytest.approx(1.0) and np.isnan(none["geo_mean"])
    assert none["median"] == np.inf and none["median[F]"] == np.inf
    assert none["median[E]"] == pytest.approx(5.0)  # every model's median, weight 0 too


def test_average_effective_dose_of_one_model_is_its_effective_dose(koos):
    rng = np.random.default_rng(4)
    ed50 = np.exp(rng.normal(np.log(12), 0.6, CHAINS * DRAWS))
    fits = {"A": ed_fit(koos, ed50, delta=np.where(rng.random(CHAINS * DRAWS) < 0.03,
                                                    0.0, 1.0)),
            "B": ed_fit(koos, 20.0)}
    result = comparison_of(fits, {"A": 0.5, "B": 0.5})
    for p, prob in ((0.9, 0.8), (0.5, 0.95)):
        for kind in ("eti", "hdi"):
            alone = result.average_effective_dose(p=p, ci_prob=prob, ci_kind=kind,
                                                  weights={"A": 1}).iloc[0]
            own = fits["A"].effective_dose(p=p, ci_prob=prob, ci_kind=kind).iloc[0]
            for column in ("ci_low", "ci_high"):
                assert alone[column] == pytest.approx(own[column], rel=1e-10), (kind, column)
        for column in ("geo_mean", "geo_sd", "median", "ci_low", "ci_high",
                       "prob_below_range", "prob_in_range", "prob_beyond_range",
                       "prob_not_reached"):
            assert alone[column] == pytest.approx(own[column], rel=1e-10), column
        assert alone["definition"] == own["definition"]
        assert alone["median[A]"] == pytest.approx(own["median"], rel=1e-10)
    # 4% of draws not reached: beyond the upper 2.5% tail of the equal-tailed interval,
    # within the 5% the highest-density interval may leave out
    eti = fits["A"].effective_dose(p=0.5).iloc[0]
    assert 0.025 < eti["prob_not_reached"] < 0.05 and eti["ci_high"] == np.inf
    assert np.isfinite(own["ci_high"])


def test_average_effective_dose_rejects_bad_arguments(koos):
    quadratic = fixed_fit(koos, bd.DoseResponseModel("quadratic", "exponential"), {
        "delta": np.ones((1, 4, 1)), "curvature": np.full((1, 4, 1), -0.5),
        "log_t_half": np.full((1, 4, 1), np.log(0.25))})
    result = comparison_of({"A": ed_fit(koos, 5.0), "Q": quadratic}, {"A": 1.0, "Q": 0.0})
    with pytest.raises(EstimandError, match=r"model 'Q': .*undefined for the 'quadratic'"):
        result.average_effective_dose()
    result = comparison_of({"A": ed_fit(koos, 5.0), "B": ed_fit(koos, 20.0)},
                           {"A": 0.5, "B": 0.5})
    with pytest.raises(EstimandError, match="p must be between 0 and 1"):
        result.average_effective_dose(p=1.0)
    with pytest.raises(EstimandError, match="ci_prob must be a number between 0 and 1"):
        result.average_effective_dose(ci_prob=0)
    with pytest.raises(EstimandError, match="ci_kind"):
        result.average_effective_dose(ci_kind="hpd")
    with pytest.raises(EstimandError, match="not in this comparison"):
        result.average_effective_dose(weights={"C": 1.0})
    with pytest.raises(EstimandError, match="not in this fit"):
        result.average_effective_dose(outcome="koos_qol")


# ---------------------------------------------------------------------- slow: sampling
SEEDS = (1, 2, 3, 4, 5)
EMAX_DOSES = (0.0, 5.0, 25.0, 50.0)
P50 = float(np.exp(np.mean(np.log([5.0, 25.0, 50.0]))))
EMAX_TRUTH = {"delta": 1.2, "log_ed50": float(np.log(2.5 / P50)),
              "log_t_half": float(np.log(1.5 / 12))}
SETTINGS = {"draws": 200, "tune": 200, "chains": 2, "progressbar": False, "prior_draws": 0}


def simulated(seed: int, delta: float):
    return simulate_trial(
        doses=EMAX_DOSES, n_per_arm=8, visits=(1.0, 3.0, 6.0, 12.0), dose_shape="emax",
        time_shape="exponential", shape_params={**EMAX_TRUTH, "delta": delta},
        course=[0.2, 0.1, 0.0, -0.1], sigma=0.35, patient_sd=0.4, seed=seed)


@pytest.mark.slow
def test_stacking_prefers_emax_on_emax_truth():
    start = time.perf_counter()
    winners, weights, covered, signals = [], [], [], []
    for seed in SEEDS:
        sim = simulated(seed, delta=1.2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_candidates(["emax", "linear", "exponential"], sim.data,
                                    random_seed=seed, **SETTINGS)
        winners.append(result.weights.idxmax())
        weights.append(round(float(result.weights["emax x exponential"]), 2))
        averaged = result.average_contrast(dose=[5, 25, 50], reference=0, time=12)
        truth = [sim.true_contrast("score", d, 0.0, 12.0) for d in (5.0, 25.0, 50.0)]
        covered.append(bool(((averaged["ci_low"] <= truth)
                             & (truth <= averaged["ci_high"])).all()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            free = bd.DoseResponseModel(dose_shape="free").fit(sim.data, random_seed=seed,
                                                               **SETTINGS)
        signals.append(bool(signal_test(free)["signal"].iloc[0]))
    elapsed = time.perf_counter() - start
    print(f"emax-truth: winners {winners}; emax weights {weights}; averaged 95% HDIs "
          f"cover {covered}; signals {signals}; {elapsed:.0f} s")
    assert winners.count("emax x exponential") >= 4, winners
    assert sum(covered) >= 4, covered
    assert all(signals), signals


@pytest.mark.slow
def test_compare_by_patient_refits_end_to_end():
    """Sampled fits of a steep Emax trial: most patients' PSIS-LOO terms are unreliable
    (measured: 21 and 20 of 32 with k > 0.7, seed 1), so both models are cross-validated
    by K-fold on the same folds; the table and the per-patient terms say so."""
    sim = simulated(1, delta=1.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {shape: bd.DoseResponseModel(shape, "exponential").fit(
                    sim.data, random_seed=1, **SETTINGS) for shape in ("emax", "linear")}
        psis = compare(fits, refit=False)
        result = compare(fits, seed=2)
    table = result.table.set_index("model")
    assert (table["n_units"] == 32).all() and (table["n_obs"] == 128).all()
    assert (psis.table["n_pareto_k_high"] > 5).all()
    assert (table["loo_kind"] == "kfold").all() and (table["n_refits"] == 10).all()
    assert (table["n_refitted"] == 32).all() and not table["warning"].any()
    for name in fits:
        terms = result.loo[name].elpd_i
        assert list(terms["unit"].values) == fits[name].inputs.patients
        assert np.isfinite(terms.values).all()
        assert result.loo[name].elpd == pytest.approx(float(terms.sum()))
        assert table.loc[name, "se"] == pytest.approx(np.sqrt(32 * np.var(terms.values)))
    for column in ("weight_stacking", "weight_pseudo_bma"):
        assert table[column].sum() == pytest.approx(1.0)
