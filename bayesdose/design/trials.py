"""Simulate trials from known parameters, for recovery checks and design work.

:func:`simulate_trial` draws one trial from the model of
:mod:`bayesdose.model.dose_response` with the parameters given on the standardised,
direction-aligned scale, and returns it as
:class:`~bayesdose.data.trial.TrialData` together with the true effects in outcome units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.components.shapes import DoseScale, get_dose_shape
from bayesdose.components.timecourses import TimeScale, get_time_shape
from bayesdose.data.trial import TrialData


@dataclass(frozen=True)
class SimulatedTrial:
    """A simulated trial and its truth.

    Attributes
    ----------
    data : TrialData
        The simulated data.
    true_effect : pandas.DataFrame
        True dose effect against dose 0 (outcome units) per outcome, dose and visit.
    parameters : dict
        The parameters used (standardised scale).
    """

    data: TrialData
    true_effect: pd.DataFrame
    parameters: dict[str, Any]

    def true_contrast(self, outcome: str, dose: float, reference: float, time: float) -> float:
        """True contrast dose minus reference at ``time`` (outcome units)."""
        rows = self.true_effect[(self.true_effect["outcome"] == outcome)
                                & np.isclose(self.true_effect["time"], time)]
        by_dose = dict(zip(rows["dose"], rows["effect"], strict=True))
        return float(by_dose[dose] - by_dose[reference])


def simulate_trial(
    *,
    doses: Sequence[float] = (1.0, 10.0, 50.0),
    n_per_arm: int = 4,
    visits: Sequence[float] = (1.0, 3.0, 6.0, 12.0),
    dose_shape: str = "emax",
    time_shape: str = "exponential",
    shape_params: Mapping[str, Any] | None = None,
    outcomes: Sequence[str] = ("score",),
    course: Sequence[float] | float = 0.0,
    beta_baseline: float = -0.2,
    patient_sd: float = 0.5,
    sigma: float = 0.4,
    baseline_mean: float = 50.0,
    baseline_sd: float = 10.0,
    baseline_spread: float | None = None,
    direction: str = "higher_is_better",
    outcome_params: Mapping[str, Mapping[str, Any]] | None = None,
    families: Mapping[str, str] | None = None,
    patient_correlation: float = 0.0,
    seed: int = 0,
) -> SimulatedTrial:
    """Simulate a longitudinal dose trial from the bayesdose model with known parameters.

    Every outcome gets the same parameters (independent noise). Shape parameters,
    ``course``, ``patient_sd`` and ``sigma`` are on the standardised, direction-aligned
    scale (units of ``baseline_sd``, positive = better); the data are in outcome units.

    Parameters
    ----------
    doses : sequence of float
        Tested doses.
    n_per_arm : int
        Patients per dose.
    visits : sequence of float
        Post-baseline visit times (baseline is time 0).
    dose_shape, time_shape : str
        Registered shape names.
    shape_params : mapping, optional
        Values of the shapes' parameters, e.g. ``{"delta": 1.0, "log_ed50": 0.0,
        "log_t_half": -1.6}``.
    outcomes : sequence of str
        Outcome names.
    course : float or sequence of float
        Common change at dose 0 at each visit.
    beta_baseline : float
        Slope of the change on the standardised baseline.
    patient_sd, sigma : float
        Patient-effect SD and residual SD.
    baseline_mean, baseline_sd : float
        Mean of the baselines, and the outcome's SD (outcome units): the unit of the
        standardised scale (of the changes, the effects, and of the baseline in the
        ``beta_baseline`` term).
    baseline_spread : float, optional
        SD of the simulated baselines (outcome units); default: ``baseline_sd``. Only the
        spread of the baselines changes: the changes stay on the ``baseline_sd`` scale.
    direction : {"higher_is_better", "lower_is_better"}
        Direction of every outcome.
    outcome_params : mapping, optional
        Per outcome, shape parameters that replace ``shape_params`` for that outcome.
    families : mapping, optional
        Per outcome, its family (stored as outcome metadata).
    patient_correlation : float
        Correlation of a patient's effects across outcomes (equicorrelated).
    seed : int
        Random seed.

    Returns
    -------
    SimulatedTrial

    Examples
    --------
    >>> sim = simulate_trial(shape_params={"delta": 1.0, "log_ed50": 0.0,
    ...                                    "log_t_half": -1.6}, seed=1)
    >>> len(sim.data.patients)
    12

    Baselines four times narrower than the outcome's SD, the changes as before:

    >>> narrow = simulate_trial(shape_params={"delta": 1.0, "log_ed50": 0.0,
    ...                                       "log_t_half": -1.6}, n_per_arm=500,
    ...                         baseline_sd=10.0, baseline_spread=2.5, seed=1)
    >>> round(float(narrow.data.baselines["baseline"].std()), 1)
    2.5
    """
    rng = np.random.default_rng(seed)
    dose_obj, time_obj = get_dose_shape(dose_shape), get_time_shape(time_shape)
    dose_scale = DoseScale(tuple(sorted(float(d) for d in doses)))
    time_scale = TimeScale(tuple(float(t) for t in visits))
    course_arr = np.broadcast_to(np.asarray(course, dtype=float), (len(visits),))
    sign = 1.0 if direction == "higher_is_better" else -1.0
    spread = baseline_sd if baseline_spread is None else float(baseline_spread)
    patient_dose = np.repeat(np.asarray(doses, dtype=float), n_per_arm)
    patients = [f"S{i + 1:03d}" for i in range(patient_dose.size)]
    visit_arr = np.asarray(visits, dtype=float)
    n_out = len(outcomes)
    corr = np.full((n_out, n_out), patient_correlation) + (1 - patient_correlation) * np.eye(n_out)
    u_all = rng.multivariate_normal(np.zeros(n_out), corr * patient_sd**2, patient_dose.size)
    rows, truth, used = [], [], {}
    for j, outcome in enumerate(outcomes):
        merged = {**(shape_params or {}), **((outcome_params or {}).get(outcome, {}))}
        params = {k: np.asarray(v, dtype=float) for k, v in merged.items()}
        used[outcome] = {k: v.tolist() for k, v in params.items()}
        effect_std = (dose_obj.evaluate(patient_dose[:, None], params, dose_scale, np)
                      * time_obj.evaluate_at(visit_arr, patient_dose[:, None], params,
                                             time_scale, dose_scale, np))
        baseline = rng.normal(baseline_mean, spread, patient_dose.size)
        z_base = (baseline - baseline_mean) / baseline_sd
        noise = rng.normal(0.0, sigma, (patient_dose.size, visit_arr.size))
        mean_std = (effect_std + course_arr + beta_baseline * z_base[:, None]
                    + u_all[:, j, None])
        change = sign * baseline_sd * (mean_std + noise)
        for i, patient in enumerate(patients):
            rows.append((patient, patient_dose[i], 0.0, outcome, baseline[i]))
            rows.extend((patient, patient_dose[i], t, outcome, baseline[i] + change[i, b])
                        for b, t in enumerate(visit_arr))
        tested = np.asarray(dose_scale.tested)[:, None]
        grid = (dose_obj.evaluate(tested, params, dose_scale, np)
                * time_obj.evaluate_at(visit_arr, tested, params, time_scale, dose_scale, np))
        truth.extend({"outcome": outcome, "dose": d, "time": t,
                      "effect": float(sign * baseline_sd * grid[a, b])}
                     for a, d in enumerate(dose_scale.tested) for b, t in enumerate(visit_arr))
    frame = pd.DataFrame(rows, columns=["patient", "dose", "time", "outcome", "value"])
    info = {name: {"direction": direction, "family": (families or {}).get(name)}
            for name in outcomes}
    data = TrialData.from_frame(frame, patient="patient", dose="dose", time="time",
                                outcome="outcome", value="value", outcome_info=info)
    used = {**used, "course": course_arr.tolist(), "beta_baseline": beta_baseline,
            "patient_sd": patient_sd, "sigma": sigma}
    return SimulatedTrial(data=data, true_effect=pd.DataFrame(truth), parameters=used)
