r"""Simulated longitudinal dose-finding trial of mesenchymal stromal cells in knee osteoarthritis.

The data produced here are **simulated. They are not patient data.** The design is
modelled on a published phase I/IIa trial of a single intra-articular injection of
autologous bone-marrow mesenchymal stromal cells (MSCs) in late-stage knee
osteoarthritis [1]_, but every number is drawn from the generating model described
below, with known true parameters, so that dose-response methods can be checked
against the truth.

Notes
-----
**Design.**

* 12 patients, ``"P01"`` to ``"P12"``, 4 per dose arm. Arms are enrolled as
  sequential dose-escalation cohorts: P01-P04 receive 1, P05-P08 receive 10 and
  P09-P12 receive 50 million cells.
* Visits at month 0 (baseline, before injection) and months 1, 3, 6 and 12.
* Outcomes and the visits at which they are measured:

  ===============  =========  ==============  ================  ==========
  outcome          unit       months          direction         likelihood
  ===============  =========  ==============  ================  ==========
  koos_pain        points     0, 1, 3, 6, 12  higher is better  normal
  koos_symptoms    points     0, 1, 3, 6, 12  higher is better  normal
  koos_adl         points     0, 1, 3, 6, 12  higher is better  normal
  koos_sport_rec   points     0, 1, 3, 6, 12  higher is better  normal
  koos_qol         points     0, 1, 3, 6, 12  higher is better  normal
  womac_pain       points     0, 1, 3, 6, 12  lower is better   normal
  womac_stiffness  points     0, 1, 3, 6, 12  lower is better   normal
  womac_function   points     0, 1, 3, 6, 12  lower is better   normal
  mri_t2           ms         0, 6, 12        lower is better   normal
  mri_synovitis    grade 0-3  0, 6, 12        lower is better   ordinal
  sf_il6           pg/mL      0, 3, 6, 12     lower is better   lognormal
  serum_comp       ng/mL      0, 1, 3, 6, 12  lower is better   lognormal
  ===============  =========  ==============  ================  ==========

  KOOS and WOMAC subscales are on 0-100 point scales (WOMAC normalised to 0-100)
  with a minimal clinically important difference (MCID) of 10 points.
* Each outcome's metadata declare its SD (``sd``): the population between-patient SD
  :math:`\sigma_{0k}` of the generating model (on the log scale for the biomarkers; none
  for the ordinal synovitis grade). bayesdose states every default prior in units of the
  declared SD.
* Patient P07 missed the month-6 visit: those rows are kept with a missing value.
  There are no other missing values.
* Pain and swelling at the injection site is reported for exactly 0, 1 and 3 of
  the 4 patients at 1, 10 and 50 million cells; which patients in an arm are
  affected is drawn at random, as is the number of events (1 or 2).

**Generating model.**

Each outcome is modelled on a model scale :math:`y` (the value itself; its natural
logarithm for the log-normal biomarkers; a latent continuous score for synovitis).
With :math:`s = +1` for higher-is-better outcomes and :math:`s = -1` otherwise,
the direction-aligned "improvement" scale is :math:`a = s\,y`. For patient
:math:`i`, outcome :math:`k` and post-baseline month :math:`t`,

.. math::

    a_{ik0} &= s\,\mu_k + \sigma_{0k} z_{ik}, \\
    a_{ikt} - a_{ik0} &= f_k(d_i)\,g_k(t) + h_k(t)
        + \beta_k\,(a_{ik0} - s\,\mu_k) + u_{ik} + e_{ikt},

with the Emax dose-response curve parameterised by its effect at the top dose,

.. math::

    f(d) = \delta \, \frac{d}{ED_{50} + d} \, \frac{ED_{50} + 50}{50},
    \qquad f(0) = 0, \quad f(50) = \delta,

the exponential onset :math:`g(t) = 1 - \exp(-\ln 2 \, t / t_{1/2})`, a common
course :math:`h(t)` shared by all doses, :math:`z_{ik} \sim N(0, 1)`,
:math:`u_{ik} \sim N(0, \sigma_u^2)` and :math:`e_{ikt} \sim N(0, \sigma_e^2)`.
For the eight patient-reported outcomes (PROMs) the baseline deviates
:math:`z_{ik}` and the random effects :math:`u_{ik}` each share one patient factor
across PROMs, with correlation 0.5 on the improvement scale. Values are converted
back with :math:`y = s\,a`, then

* PROMs are rounded to 1 decimal and clipped to [0, 100];
* T2 is rounded to 1 decimal; the true dose effect on T2 is zero;
* the synovitis latent score is rounded to the nearest integer and clipped to 0-3;
* biomarkers are :math:`\exp(y)` rounded to 2 decimals.

The true parameters and true expected dose effects :math:`s\,f(d)\,g(t)` (versus
dose 0, in each outcome's own units and sign) are returned by
:func:`simulate_msc_trial` and written to ``msc_trial_truth.json``.

References
----------
.. [1] Chahal J, Gómez-Aristizábal A, Shestopaloff K, et al. Bone marrow
   mesenchymal stromal cell treatment in patients with osteoarthritis results in
   overall improvement in pain and symptoms and reduces synovial inflammation.
   Stem Cells Transl Med. 2019;8(8):746-757.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_SEED",
    "DOSES",
    "MONTHS",
    "OUTCOMES",
    "OutcomeSpec",
    "dose_response",
    "onset_fraction",
    "simulate_msc_trial",
    "write_msc_trial",
]

DEFAULT_SEED = 20190101
DOSES: tuple[int, ...] = (1, 10, 50)
MONTHS: tuple[int, ...] = (0, 1, 3, 6, 12)
TOP_DOSE = 50
PATIENTS_PER_ARM = 4
PROM_FACTOR_CORRELATION = 0.5
MISSED_VISIT = ("P07", 6)

AE_DESCRIPTION = "Pain and swelling at the injection site"
AE_COUNTS_BY_DOSE = {1: 0, 10: 1, 50: 3}

FORMULA = (
    "a_ik0 = s*mu_k + sd0_k*z_ik; "
    "a_ikt - a_ik0 = f_k(d_i)*g_k(t) + h_k(t) + beta_k*(a_ik0 - s*mu_k) + u_ik + e_ikt; "
    "f(d) = delta*(d/(ed50 + d))*(ed50 + 50)/50; "
    "g(t) = 1 - exp(-ln(2)*t/t_half); "
    "u_ik ~ N(0, sd_u^2); e_ikt ~ N(0, sd_e^2); "
    "y = s*a with s = +1 (higher_is_better) or -1 (lower_is_better); "
    "value = y (additive), exp(y) (log) or clip(round(y), 0, 3) (ordinal latent)"
)

FILES = {
    "data": "msc_trial.csv",
    "outcomes": "msc_trial_outcomes.csv",
    "adverse_events": "msc_trial_adverse_events.csv",
    "truth": "msc_trial_truth.json",
}

_PROM_COURSE = {1: 4.0, 3: 3.0, 6: 2.0, 12: 1.0}


@dataclass(frozen=True)
class OutcomeSpec:
    """True generating parameters and metadata of one simulated outcome.

    Parameters
    ----------
    name, label, unit : str
        Identifier, human-readable label and unit of the outcome.
    direction : str
        ``"higher_is_better"`` or ``"lower_is_better"``.
    mcid : float or None
        Minimal clinically important difference, if one is established.
    family : str
        ``"PROM"``, ``"MRI"`` (cartilage T2), ``"MRI grade"`` (the ordinal synovitis
        grade, whose effects are on another scale) or ``"biomarker"``.
    lower, upper : float or None
        Bounds of the measurement scale, ``None`` where unbounded.
    likelihood : str
        Suggested likelihood: ``"normal"``, ``"lognormal"`` or ``"ordinal"``.
    scale : str
        Model scale of the generating model: ``"additive"`` or ``"log"``.
    months : tuple of int
        Visits at which the outcome is measured.
    baseline_mean, baseline_sd : float
        Population mean and between-patient SD of the baseline on the model scale.
    delta : float
        True improvement at the top dose (50 million cells) at full onset.
    ed50 : float
        Dose (million cells) giving half the maximal Emax effect.
    t_half : float
        Onset half-time in months.
    course : dict of int to float
        Common course ``h(t)`` on the improvement scale, by post-baseline month.
    beta : float
        Coefficient of the centred baseline on the improvement scale.
    sd_u, sd_e : float
        SDs of the patient random effect and of the residual.
    decimals : int
        Rounding of the reported values.
    """

    name: str
    label: str
    unit: str
    direction: str
    mcid: float | None
    family: str
    lower: float | None
    upper: float | None
    likelihood: str
    scale: str
    months: tuple[int, ...]
    baseline_mean: float
    baseline_sd: float
    delta: float
    ed50: float
    t_half: float
    course: dict[int, float]
    beta: float
    sd_u: float
    sd_e: float
    decimals: int

    @property
    def sign(self) -> int:
        """Return +1 for higher-is-better outcomes and -1 otherwise."""
        return 1 if self.direction == "higher_is_better" else -1


def _prom(name: str, label: str, direction: str, baseline: float, delta: float) -> OutcomeSpec:
    """Build the specification of a 0-100 point patient-reported outcome."""
    return OutcomeSpec(
        name=name,
        label=label,
        unit="points",
        direction=direction,
        mcid=10.0,
        family="PROM",
        lower=0.0,
        upper=100.0,
        likelihood="normal",
        scale="additive",
        months=MONTHS,
        baseline_mean=baseline,
        baseline_sd=12.0,
        delta=delta,
        ed50=8.0,
        t_half=1.5,
        course=dict(_PROM_COURSE),
        beta=-0.2,
        sd_u=6.0,
        sd_e=5.0,
        decimals=1,
    )


def _other_outcomes() -> tuple[OutcomeSpec, ...]:
    """Build the specifications of the MRI and biomarker outcomes."""
    lower = "lower_is_better"
    return (
        OutcomeSpec(
            name="mri_t2",
            label="Cartilage T2 relaxation time",
            unit="ms",
            direction=lower,
            mcid=None,
            family="MRI",
            lower=0.0,
            upper=None,
            likelihood="normal",
            scale="additive",
            months=(0, 6, 12),
            baseline_mean=45.0,
            baseline_sd=4.0,
            delta=0.0,
            ed50=8.0,
            t_half=1.5,
            course={6: -0.3, 12: -0.6},
            beta=-0.2,
            sd_u=1.2,
            sd_e=1.2,
            decimals=1,
        ),
        OutcomeSpec(
            name="mri_synovitis",
            label="MRI synovitis score",
            unit="grade",
            direction=lower,
            mcid=None,
            # its own family: ordinal effects are log odds, T2's are outcome SDs, and
            # pooling needs one scale
            family="MRI grade",
            lower=0.0,
            upper=3.0,
            likelihood="ordinal",
            scale="additive",
            months=(0, 6, 12),
            baseline_mean=1.8,
            baseline_sd=0.6,
            delta=0.8,
            ed50=8.0,
            t_half=1.5,
            course={6: 0.1, 12: 0.05},
            beta=-0.2,
            sd_u=0.3,
            sd_e=0.3,
            decimals=0,
        ),
        OutcomeSpec(
            name="sf_il6",
            label="Synovial-fluid interleukin-6",
            unit="pg/mL",
            direction=lower,
            mcid=None,
            family="biomarker",
            lower=0.0,
            upper=None,
            likelihood="lognormal",
            scale="log",
            months=(0, 3, 6, 12),
            baseline_mean=5.0,
            baseline_sd=0.7,
            delta=0.6,
            ed50=8.0,
            t_half=1.5,
            course={3: 0.05, 6: 0.03, 12: 0.0},
            beta=-0.2,
            sd_u=0.3,
            sd_e=0.35,
            decimals=2,
        ),
        OutcomeSpec(
            name="serum_comp",
            label="Serum cartilage oligomeric matrix protein",
            unit="ng/mL",
            direction=lower,
            mcid=None,
            family="biomarker",
            lower=0.0,
            upper=None,
            likelihood="lognormal",
            scale="log",
            months=MONTHS,
            baseline_mean=7.1,
            baseline_sd=0.25,
            delta=0.25,
            ed50=8.0,
            t_half=1.5,
            course={1: 0.02, 3: 0.02, 6: 0.01, 12: 0.0},
            beta=-0.2,
            sd_u=0.1,
            sd_e=0.12,
            decimals=2,
        ),
    )


def _outcome_specs() -> tuple[OutcomeSpec, ...]:
    """Build all outcome specifications in their canonical order."""
    better, worse = "higher_is_better", "lower_is_better"
    proms = (
        _prom("koos_pain", "KOOS pain", better, 45.0, 18.0),
        _prom("koos_symptoms", "KOOS symptoms", better, 50.0, 16.0),
        _prom("koos_adl", "KOOS activities of daily living", better, 55.0, 17.0),
        _prom("koos_sport_rec", "KOOS sport and recreation", better, 25.0, 16.0),
        _prom("koos_qol", "KOOS quality of life", better, 30.0, 18.0),
        _prom("womac_pain", "WOMAC pain (0-100)", worse, 48.0, 18.0),
        _prom("womac_stiffness", "WOMAC stiffness (0-100)", worse, 50.0, 16.0),
        _prom("womac_function", "WOMAC physical function (0-100)", worse, 45.0, 17.0),
    )
    return proms + _other_outcomes()


OUTCOMES: tuple[OutcomeSpec, ...] = _outcome_specs()


def dose_response(dose: float | np.ndarray, delta: float, ed50: float) -> float | np.ndarray:
    """Evaluate the Emax curve parameterised by its effect at the top dose.

    Parameters
    ----------
    dose : float or numpy.ndarray
        Dose in million cells.
    delta : float
        Effect at the top dose of 50 million cells.
    ed50 : float
        Dose giving half the maximal effect.

    Returns
    -------
    float or numpy.ndarray
        ``delta * dose / (ed50 + dose) * (ed50 + 50) / 50``; zero at dose zero.
    """
    return delta * (dose / (ed50 + dose)) * (ed50 + TOP_DOSE) / TOP_DOSE


def onset_fraction(month: float | np.ndarray, t_half: float) -> float | np.ndarray:
    """Evaluate the exponential onset ``1 - exp(-ln(2) * t / t_half)``.

    Parameters
    ----------
    month : float or numpy.ndarray
        Months since injection.
    t_half : float
        Months to reach half of the full effect.

    Returns
    -------
    float or numpy.ndarray
        Fraction of the full effect reached, 0 at month 0 and tending to 1.
    """
    return 1.0 - np.exp(-math.log(2.0) * np.asarray(month, dtype=float) / t_half)


def _design() -> pd.DataFrame:
    """Return one row per patient with its dose, in enrolment order."""
    doses = np.repeat(np.asarray(DOSES), PATIENTS_PER_ARM)
    patients = [f"P{i:02d}" for i in range(1, doses.size + 1)]
    return pd.DataFrame({"patient": patients, "dose": doses})


def _patient_deviates(rng: np.random.Generator, n_patients: int) -> dict[str, np.ndarray]:
    """Draw standard-normal baseline and random-effect deviates per outcome.

    PROMs share one patient factor (on the improvement scale) for both the baseline
    deviate and the random effect; the other outcomes are independent.
    """
    rho = PROM_FACTOR_CORRELATION
    shared_base = rng.standard_normal(n_patients)
    shared_u = rng.standard_normal(n_patients)
    deviates = {}
    for spec in OUTCOMES:
        base = rng.standard_normal(n_patients)
        u = rng.standard_normal(n_patients)
        if spec.family == "PROM":
            base = math.sqrt(rho) * shared_base + math.sqrt(1.0 - rho) * base
            u = math.sqrt(rho) * shared_u + math.sqrt(1.0 - rho) * u
        deviates[spec.name] = np.stack([base, u])
    return deviates


def _improvement_paths(
    rng: np.random.Generator, spec: OutcomeSpec, doses: np.ndarray, deviates: np.ndarray
) -> np.ndarray:
    """Simulate the improvement-scale value of one outcome, patients by visits."""
    centre = spec.sign * spec.baseline_mean
    baseline = centre + spec.baseline_sd * deviates[0]
    u = spec.sd_u * deviates[1]
    post = np.asarray(spec.months[1:], dtype=float)
    residual = rng.normal(0.0, spec.sd_e, size=(doses.size, post.size))
    drug = np.outer(
        dose_response(doses.astype(float), spec.delta, spec.ed50), onset_fraction(post, spec.t_half)
    )
    course = np.asarray([spec.course[int(t)] for t in post])
    change = drug + course + (spec.beta * (baseline - centre) + u)[:, None] + residual
    return np.column_stack([baseline, baseline[:, None] + change])


def _observed_values(spec: OutcomeSpec, improvement: np.ndarray) -> np.ndarray:
    """Convert improvement-scale values to rounded values on the outcome's own scale."""
    y = spec.sign * improvement
    if spec.scale == "log":
        return np.round(np.exp(y), spec.decimals)
    values = np.round(y, spec.decimals)
    if spec.lower is not None or spec.upper is not None:
        values = np.clip(values, spec.lower, spec.upper)
    return values + 0.0


def _outcome_frame(spec: OutcomeSpec, design: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """Arrange a patients-by-visits array of one outcome as long-format rows."""
    n_visits = len(spec.months)
    frame = pd.DataFrame(
        {
            "patient": np.repeat(design["patient"].to_numpy(), n_visits),
            "dose": np.repeat(design["dose"].to_numpy(), n_visits),
            "month": np.tile(np.asarray(spec.months), len(design)),
            "outcome": spec.name,
            "value": values.reshape(-1),
        }
    )
    missed = (frame["patient"] == MISSED_VISIT[0]) & (frame["month"] == MISSED_VISIT[1])
    frame.loc[missed, "value"] = np.nan
    return frame[["patient", "dose", "month", "outcome", "value"]]


def _simulate_outcomes(rng: np.random.Generator, design: pd.DataFrame) -> pd.DataFrame:
    """Simulate every outcome and stack them in the canonical long format."""
    doses = design["dose"].to_numpy()
    deviates = _patient_deviates(rng, len(design))
    frames = []
    for spec in OUTCOMES:
        improvement = _improvement_paths(rng, spec, doses, deviates[spec.name])
        frames.append(_outcome_frame(spec, design, _observed_values(spec, improvement)))
    data = pd.concat(frames, ignore_index=True)
    data["dose"] = data["dose"].astype("int64")
    data["month"] = data["month"].astype("int64")
    data["value"] = data["value"].astype("float64")
    return data


def _adverse_events(rng: np.random.Generator, design: pd.DataFrame) -> pd.DataFrame:
    """Assign injection-site events: a fixed count per arm, random patients and counts."""
    event = np.zeros(len(design), dtype="int64")
    for dose, count in AE_COUNTS_BY_DOSE.items():
        arm = np.flatnonzero(design["dose"].to_numpy() == dose)
        event[rng.choice(arm, size=count, replace=False)] = 1
    n_events = np.where(event == 1, rng.integers(1, 3, size=len(design)), 0)
    return pd.DataFrame(
        {
            "patient": design["patient"].to_numpy(),
            "dose": design["dose"].to_numpy().astype("int64"),
            "event": event,
            "n_events": n_events.astype("int64"),
            "description": np.where(event == 1, AE_DESCRIPTION, ""),
        }
    )


def _metadata() -> pd.DataFrame:
    """Return one row of metadata per outcome."""
    rows = [
        {
            "outcome": spec.name,
            "label": spec.label,
            "unit": spec.unit,
            "direction": spec.direction,
            "mcid": spec.mcid,
            "family": spec.family,
            "lower": spec.lower,
            "upper": spec.upper,
            "likelihood": spec.likelihood,
            "sd": None if spec.likelihood == "ordinal" else spec.baseline_sd,
        }
        for spec in OUTCOMES
    ]
    frame = pd.DataFrame(rows)
    for column in ("mcid", "lower", "upper", "sd"):
        frame[column] = frame[column].astype("float64")
    return frame


def _true_effect(spec: OutcomeSpec, dose: float, month: float) -> float:
    """True expected effect versus dose 0, in the outcome's own sign."""
    effect = spec.sign * dose_response(dose, spec.delta, spec.ed50)
    return effect * float(onset_fraction(month, spec.t_half))


def _rounded(value: float) -> float:
    """Round to 6 decimals, turning a negative zero into zero."""
    return round(value, 6) + 0.0


def _effect_units(spec: OutcomeSpec) -> str:
    """Describe the units in which the true effects of an outcome are stated."""
    if spec.scale == "log":
        return f"natural log of {spec.unit}; exp(effect) is the ratio of geometric means"
    if spec.likelihood == "ordinal":
        return "latent continuous synovitis score (grade units) before rounding"
    return spec.unit


def _outcome_truth(spec: OutcomeSpec) -> dict:
    """Collect the true parameters and dose effects of one outcome."""
    effects = [
        {"dose": dose, "month": month, "effect": _rounded(_true_effect(spec, dose, month))}
        for dose in DOSES
        for month in spec.months[1:]
    ]
    last = spec.months[-1]
    top, mid, low = (_true_effect(spec, d, last) for d in (50, 10, 1))
    return {
        "direction": spec.direction,
        "scale": spec.scale,
        "months": list(spec.months),
        "delta": spec.delta,
        "ed50": spec.ed50,
        "t_half": spec.t_half,
        "h": {str(month): value for month, value in spec.course.items()},
        "beta": spec.beta,
        "sd_u": spec.sd_u,
        "sd_e": spec.sd_e,
        "baseline_mean": spec.baseline_mean,
        "baseline_sd": spec.baseline_sd,
        "mcid": spec.mcid,
        "effect_units": _effect_units(spec),
        "expected_dose_effect": effects,
        "contrast_50_vs_1_month_12": _rounded(top - low),
        "contrast_10_vs_1_month_12": _rounded(mid - low),
    }


def _truth(seed: int) -> dict:
    """Assemble the truth dictionary of the simulation."""
    per_arm = PATIENTS_PER_ARM
    return {
        "seed": int(seed),
        "simulated": True,
        "formula": FORMULA,
        "scales": (
            "delta, h, beta, sd_u and sd_e act on the direction-aligned improvement scale "
            "a = s*y; baseline_mean and baseline_sd are on the model scale y; "
            "expected_dose_effect and the contrasts are s*f(d)*g(t) versus dose 0, "
            "in the outcome's own units and sign"
        ),
        "doses": list(DOSES),
        "prom_shared_factor_correlation": PROM_FACTOR_CORRELATION,
        "missing": {"patient": MISSED_VISIT[0], "month": MISSED_VISIT[1]},
        "outcomes": {spec.name: _outcome_truth(spec) for spec in OUTCOMES},
        "adverse_events": {
            "description": AE_DESCRIPTION,
            "patients_with_event_by_dose": {str(d): c for d, c in AE_COUNTS_BY_DOSE.items()},
            "probability_by_dose": {str(d): c / per_arm for d, c in AE_COUNTS_BY_DOSE.items()},
            "mechanism": (
                "fixed number of affected patients per arm, chosen uniformly at random; "
                "probability is the per-patient marginal probability; "
                "n_events uniform on {1, 2} for affected patients"
            ),
        },
    }


def simulate_msc_trial(
    seed: int = DEFAULT_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Simulate the MSC knee-osteoarthritis dose-finding trial.

    Parameters
    ----------
    seed : int, default 20190101
        Seed of :func:`numpy.random.default_rng`; the output is a pure function of it.

    Returns
    -------
    data : pandas.DataFrame
        Long format with columns ``patient, dose, month, outcome, value``, sorted by
        outcome (canonical order), patient and month. ``value`` is missing only for
        patient P07 at month 6.
    outcomes : pandas.DataFrame
        Outcome metadata with columns ``outcome, label, unit, direction, mcid,
        family, lower, upper, likelihood, sd``. ``sd`` is the generating population
        SD of the outcome (``baseline_sd``, on the model scale: of log values for the
        biomarkers), declared so that every prior is stated in units of a known SD; it
        is empty for the ordinal synovitis grade, which is on the latent logit scale.
    adverse_events : pandas.DataFrame
        One row per patient with columns ``patient, dose, event, n_events,
        description``.
    truth : dict
        Seed, generating formula, true parameters and true expected dose effects.

    Notes
    -----
    The data are simulated, not patient data; see the module docstring for the
    design and the generating model.
    """
    rng = np.random.default_rng(seed)
    design = _design()
    data = _simulate_outcomes(rng, design)
    adverse_events = _adverse_events(rng, design)
    return data, _metadata(), adverse_events, _truth(seed)


def _csv_text(frame: pd.DataFrame) -> str:
    """Render a data frame as CSV text with fixed formatting."""
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def _write_atomic(path: Path, text: str) -> None:
    """Write text to ``path`` through a temporary file in the same directory."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_msc_trial(directory: Path, seed: int = DEFAULT_SEED) -> None:
    """Simulate the trial and write its four files into ``directory``.

    Parameters
    ----------
    directory : pathlib.Path
        Existing folder that receives ``msc_trial.csv``, ``msc_trial_outcomes.csv``,
        ``msc_trial_adverse_events.csv`` and ``msc_trial_truth.json``.
    seed : int, default 20190101
        Seed passed to :func:`simulate_msc_trial`.

    Notes
    -----
    Each file is written to a temporary file in ``directory`` and moved into place
    with :func:`os.replace`, so readers never see a partly written file. The output
    is byte-for-byte identical for a given seed.
    """
    directory = Path(directory)
    data, outcomes, adverse_events, truth = simulate_msc_trial(seed)
    texts = {
        FILES["data"]: _csv_text(data),
        FILES["outcomes"]: _csv_text(outcomes),
        FILES["adverse_events"]: _csv_text(adverse_events),
        FILES["truth"]: json.dumps(truth, indent=2, sort_keys=True) + "\n",
    }
    for name, text in texts.items():
        _write_atomic(directory / name, text)


if __name__ == "__main__":
    write_msc_trial(Path(__file__).parent)
