"""Every dose shape and time course recovers known parameters from simulated trials.

Each fast test simulates one trial large enough to learn the shape (five doses with
placebo, 12 patients per arm, four visits), fits it with few draws and checks that the
posterior intervals cover the true effects. The slow grid repeats this over more seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayesdose as bd
from bayesdose.design.trials import simulate_trial

DOSES = (0.0, 5.0, 10.0, 25.0, 50.0)
VISITS = (1.0, 3.0, 6.0, 12.0)
P50 = float(np.exp(np.mean(np.log([5.0, 10.0, 25.0, 50.0]))))
EXPONENTIAL_ONSET = {"log_t_half": float(np.log(1.5 / 12))}

DOSE_TRUTHS = {
    "linear": {"delta": 1.0},
    "log_linear": {"delta": 1.0},
    "emax": {"delta": 1.2, "log_ed50": float(np.log(8.0 / P50))},
    "sigmoid_emax": {"delta": 1.2, "log_ed50": float(np.log(12.0 / P50)),
                     "log_hill": float(np.log(2.5))},
    "exponential": {"delta": 1.0, "log_kappa": float(np.log(0.4))},
    "quadratic": {"delta": 0.6, "curvature": -1.2},
    "free": {"delta": np.array([0.3, 0.6, 0.9, 1.0])},
    "monotone": {"increments": np.array([0.1, 0.3, 0.4, 0.2])},
}
TIME_TRUTHS = {
    "bateman": {"log_t_half": float(np.log(1.0 / 12)), "log_wane": float(np.log(5.0))},
    "emax": {"log_et50": float(np.log(2.0 / 12))},
    "piecewise_linear": {"gamma": np.array([0.3, 0.6, 0.9])},
    "free": {"gamma": np.array([0.4, 0.7, 1.1])},
}


def recover(dose_shape: str, time_shape: str, params: dict, seed: int, draws: int = 300,
            tune: int = 400):
    sim = simulate_trial(doses=DOSES, n_per_arm=12, visits=VISITS, dose_shape=dose_shape,
                         time_shape=time_shape, shape_params=params,
                         course=[0.2, 0.1, 0.0, -0.1], sigma=0.35, patient_sd=0.4, seed=seed)
    fit = bd.DoseResponseModel(dose_shape, time_shape).fit(
        sim.data, draws=draws, tune=tune, chains=2, random_seed=seed, progressbar=False,
        prior_draws=0)
    return sim, fit


def coverage(sim, fit) -> tuple[bool, int, int]:
    """(90% interval of the top-dose effect at the last visit covers the truth, number of
    dose x visit effects whose 99% interval misses the truth, number of divergences)."""
    truth = sim.true_effect.set_index(["dose", "time"])["effect"]
    main = fit.effect(dose=50, time=12, ci_prob=0.9).iloc[0]
    covered = bool(main["ci_low"] <= truth[(50.0, 12.0)] <= main["ci_high"])
    table = fit.effect(ci_prob=0.99).set_index(["dose", "time"])
    missed = int((~((table["ci_low"] <= truth) & (truth <= table["ci_high"]))).sum())
    divergences = int(fit.diagnostics().table.set_index("check").loc["divergences", "value"])
    return covered, missed, divergences


def assert_covers(sim, fit) -> None:
    """One trial: the 90% interval of the top-dose effect covers the truth, so do the 99% intervals
    of all dose x visit effects, and the sampler hardly diverges."""
    covered, missed, divergences = coverage(sim, fit)
    assert covered and missed == 0 and divergences <= 2, (covered, missed, divergences,
                                                          fit.effect(dose=50, time=12))


def assert_calibrated(results: list[tuple[bool, int, int]]) -> None:
    """Three trials: a 90% interval may miss one of three (P(>= 2 of 3 cover) = 0.97), and
    of the 99% intervals (about 60 checks) at most two may miss."""
    assert sum(r[0] for r in results) >= 2, results
    assert sum(r[1] for r in results) <= 2, results
    assert all(r[2] <= 2 for r in results), results


@pytest.mark.slow
@pytest.mark.parametrize("dose_shape", sorted(DOSE_TRUTHS))
def test_dose_shape_recovery(dose_shape):
    params = {**DOSE_TRUTHS[dose_shape], **EXPONENTIAL_ONSET}
    sim, fit = recover(dose_shape, "exponential", params, seed=101)
    assert_covers(sim, fit)


@pytest.mark.slow
@pytest.mark.parametrize("time_shape", sorted(TIME_TRUTHS))
def test_time_shape_recovery(time_shape):
    params = {"delta": 1.2, **TIME_TRUTHS[time_shape]}
    sim, fit = recover("linear", time_shape, params, seed=202)
    assert_covers(sim, fit)


@pytest.mark.slow
@pytest.mark.parametrize("dose_shape", sorted(DOSE_TRUTHS))
def test_dose_shape_recovery_grid(dose_shape):
    params = {**DOSE_TRUTHS[dose_shape], **EXPONENTIAL_ONSET}
    # the package's default tuning (1000 steps): with 400, one of the three sigmoid Emax
    # trials diverged 5 times
    assert_calibrated([coverage(*recover(dose_shape, "exponential", params, seed=seed,
                                         draws=1000, tune=1000)) for seed in (1, 2, 3)])


@pytest.mark.slow
@pytest.mark.parametrize("time_shape", sorted(TIME_TRUTHS))
def test_time_shape_recovery_grid(time_shape):
    params = {"delta": 1.2, "log_ed50": 0.0, **TIME_TRUTHS[time_shape]}
    assert_calibrated([coverage(*recover("emax", time_shape, params, seed=seed, draws=1000))
                       for seed in (1, 2, 3)])


@pytest.mark.slow
@pytest.mark.parametrize("dose_shape", sorted(DOSE_TRUTHS))
def test_each_shape_samples_the_embedded_example_cleanly(dose_shape, recwarn):
    """Default priors and settings on the three-dose example: no divergences, or a warning
    that the shape is not identifiable from three doses."""
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    fit = bd.DoseResponseModel(dose_shape, "exponential").fit(data, random_seed=5,
                                                              progressbar=False, prior_draws=0)
    divergences = fit.diagnostics().table.set_index("check").loc["divergences", "value"]
    warned = any(w.category.__name__ == "IdentifiabilityWarning" for w in recwarn)
    assert divergences == 0 or warned, f"{dose_shape}: {divergences} divergences"
