"""The model sampled with MCMC: recovery of known parameters, reproducibility, round trip.

MCMC here uses few draws and fixed seeds; the repeated-seeds check is marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.design.trials import simulate_trial

P50 = (1 * 10 * 50) ** (1 / 3)
TRUTH = {"delta": 1.2, "log_ed50": float(np.log(8.0 / P50)),
         "log_t_half": float(np.log(1.5 / 12))}


def simulate(seed: int, n_per_arm: int = 10):
    return simulate_trial(doses=(1.0, 10.0, 50.0), n_per_arm=n_per_arm,
                          visits=(1.0, 3.0, 6.0, 12.0), dose_shape="emax",
                          time_shape="exponential", shape_params=TRUTH,
                          course=[0.3, 0.2, 0.1, 0.0], sigma=0.4, patient_sd=0.5, seed=seed)


def covers(fit, sim, prob: float = 0.9) -> tuple[bool, float, float, float]:
    row = fit.contrast(dose=50, reference=1, time=12, ci_prob=prob).iloc[0]
    truth = sim.true_contrast("score", 50.0, 1.0, 12.0)
    return bool(row["ci_low"] <= truth <= row["ci_high"]), row["ci_low"], truth, \
        row["ci_high"]


@pytest.fixture(scope="module")
def recovery():
    sim = simulate(seed=12)  # one trial; calibration over seeds is the slow test's job
    fit = bd.DoseResponseModel("emax", "exponential").fit(
        sim.data, draws=500, tune=1000, chains=4, random_seed=3, progressbar=False,
        prior_draws=100)
    return sim, fit


def test_emax_recovery_contrast_covers_truth(recovery):
    sim, fit = recovery
    covered, low, truth, high = covers(fit, sim)
    assert covered, f"90% interval [{low:.2f}, {high:.2f}] misses the truth {truth:.2f}"
    # the interval is informative, not trivially wide: narrower than the truth itself
    assert high - low < abs(truth)
    diag = fit.diagnostics()
    # a short run (4 x 500 draws): the largest R-hat over 80 parameter elements measured
    # 1.01 to 1.04 over seeds 3-5 on PyMC 5 and on PyMC 6, so this checks for chains that
    # disagree grossly; 1.01 is the verdict's threshold for a full run
    assert diag.parameters["r_hat"].max() <= 1.05, diag
    assert diag.table.set_index("check").loc["divergences", "value"] == 0


def test_posterior_has_named_dims_and_groups(recovery):
    _, fit = recovery
    idata = fit.idata
    for group in ("posterior", "posterior_predictive", "log_likelihood", "observed_data",
                  "prior", "prior_predictive", "sample_stats", "constant_data"):
        assert group in idata.children, group
    effect = idata.posterior["effect"]
    assert effect.dims == ("chain", "draw", "outcome", "dose", "time")
    assert effect["dose"].values.tolist() == [1.0, 10.0, 50.0]
    assert effect["time"].values.tolist() == [1.0, 3.0, 6.0, 12.0]
    assert idata.posterior["patient_effect"].dims[-1] == "patient"
    assert idata.observed_data["change"].size == len(fit.data.changes)


def test_stored_effect_equals_effect_computed_from_parameters(recovery):
    _, fit = recovery
    stored = fit.idata.posterior["effect"]  # f(d) g(t) in outcome units: against dose 0
    computed = fit.effect_draws(reference=0)
    xr.testing.assert_allclose(stored, computed.transpose(*stored.dims), rtol=1e-9)


def test_save_and_load_round_trip(recovery, tmp_path):
    _, fit = recovery
    path = fit.save(tmp_path / "fit.nc")
    loaded = bd.load_fit(path)
    assert loaded.model.config() == fit.model.config()
    assert loaded.settings == fit.settings
    assert loaded.settings["random_seed"] == 3
    assert loaded.data.outcome_info == fit.data.outcome_info
    np.testing.assert_array_equal(loaded.data.table["value"], fit.data.table["value"])
    for group in fit.idata.children:
        xr.testing.assert_identical(loaded.idata[group].to_dataset().drop_attrs(),
                                    fit.idata[group].to_dataset().drop_attrs())
    a = fit.contrast(dose=[10, 50], time=[3, 12])
    b = loaded.contrast(dose=[10, 50], time=[3, 12])
    assert a.equals(b)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temporary file


def test_same_seed_same_numbers_and_other_seed_differs(recovery):
    """On the recovery fit's data and model, whose compiled model the new model object
    reuses (the same configuration on data of the same design)."""
    data = recovery[0].data
    model = bd.DoseResponseModel("emax", "exponential")
    kwargs = {"draws": 60, "tune": 60, "chains": 2, "progressbar": False, "prior_draws": 0}
    first = model.fit(data, random_seed=7, **kwargs)
    second = model.fit(data, random_seed=7, **kwargs)
    third = model.fit(data, random_seed=8, **kwargs)
    xr.testing.assert_identical(first.idata["posterior"].to_dataset().drop_attrs(),
                                second.idata["posterior"].to_dataset().drop_attrs())
    assert not np.array_equal(first.idata.posterior["delta"], third.idata.posterior["delta"])


def test_prior_predictive_on_the_design():
    data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    prior = bd.DoseResponseModel().sample_prior_predictive(data, draws=400, random_seed=2)
    assert prior.prior["effect"].sizes["outcome"] == 2
    # both outcomes are PROMs: the family mean of delta is Normal(0, 1), and an outcome's
    # delta adds a HalfNormal(0.5)-scaled deviation: prior SD sqrt(1 + 0.25) = 1.12
    family_mean = prior.prior["delta_family_mean"].values.ravel()
    assert abs(family_mean.mean()) < 0.15 and 0.85 < family_mean.std() < 1.15
    delta = prior.prior["delta"].values.ravel()
    assert 1.0 < delta.std() < 1.3
    assert prior.prior_predictive["change"].sizes["obs_change"] == len(data.changes)


@pytest.mark.slow
def test_emax_recovery_over_seeds():
    results = []
    for seed in range(20, 26):
        sim = simulate(seed=seed, n_per_arm=8)
        fit = bd.DoseResponseModel("emax", "exponential").fit(
            sim.data, draws=1000, tune=1000, chains=4, random_seed=seed, progressbar=False,
            prior_draws=0)
        results.append((covers(fit, sim)[0], fit.diagnostics().parameters["r_hat"].max()))
    assert sum(c for c, _ in results) >= 5, results  # 90% intervals: 5 or 6 of 6 expected
    assert max(r for _, r in results) <= 1.01, results


def test_every_public_name_is_importable():
    missing = [name for name in bd.__all__ if not hasattr(bd, name)]
    assert not missing, f"bayesdose.__all__ names {missing} that do not exist"
    assert callable(bd.compare) and callable(bd.loo) and callable(bd.SafetyModel)
