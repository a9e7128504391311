r"""Simulated arm-level results of two other MSC knee trials, for borrowing across studies.

The results produced here are **simulated. They are not the results of any real trial.**
They are the published-style summaries (arm mean change from baseline in KOOS pain, its
standard error and the number of patients, at months 3, 6 and 12) of two imaginary
placebo-controlled trials of the same bone-marrow mesenchymal stromal cells (MSCs) as the
embedded, also simulated, patient-level trial (:mod:`bayesdose.datasets.msc_simulation`),
at other doses. They are drawn from one known truth, consistent with the embedded trial's
truth for ``koos_pain`` (the same Emax dose shape, ED50 and onset), so that a model that
combines the three trials can be checked against the truth.
``bayesdose/datasets/msc_arm_studies.csv`` and ``msc_arm_studies_truth.json`` hold the
output for :data:`DEFAULT_SEED`; regenerate them, byte for byte, with::

    python -m bayesdose.datasets.msc_arm_studies

Notes
-----
**Design** (:data:`STUDIES`).

* ``MSC-B``: saline placebo and 5, 25 or 100 million cells, 24 patients per arm;
* ``MSC-C``: saline placebo and 20 or 75 million cells, 28 patients per arm;
* KOOS pain (0-100, higher is better) at baseline and months 3, 6 and 12. A patient
  leaves before month 6 with probability 0.04, and before month 12 with probability 0.10
  in all (monotone dropout, completely at random), so the arms' n shrink over time.

**Generating model.** Study s has its own effect size
:math:`\delta_s = \delta + \tau z_s`, :math:`z_s \sim N(0, 1)` (drawn with the seed and
recorded in the truth), with :math:`\delta = 18` points, the embedded trial's effect at
the top dose of 50 million cells at full onset, and the between-study SD
:math:`\tau = 3` points (:data:`BETWEEN_STUDY_SD`). The embedded trial was simulated at
:math:`\delta` itself, so its study effect is :math:`z = 0`. For patient i of study s
at dose :math:`d_i` and month t, on the KOOS pain scale,

.. math::

    a_{i0} &= \mu + \sigma_0 x_i, \\
    a_{it} - a_{i0} &= f(d_i; \delta_s)\,g(t) + h(t) + c_s
        + \beta\,(a_{i0} - \mu) + u_i + e_{it},

with the embedded trial's Emax dose shape
:math:`f(d; \delta) = \delta\,\frac{d}{ED_{50} + d}\,\frac{ED_{50} + 50}{50}`
(:math:`ED_{50} = 8` million cells), its onset
:math:`g(t) = 1 - \exp(-\ln 2\,t / t_{1/2})` (:math:`t_{1/2} = 1.5` months), its common
course :math:`h(t)` (4, 3, 2, 1 points at months 1, 3, 6, 12) plus a study's own shift
:math:`c_s` (:data:`PLACEBO_SHIFT`: a saline injection's placebo response), and its
patient model (:math:`\mu = 45`, :math:`\sigma_0 = 12`, :math:`\beta = -0.2`,
:math:`u_i \sim N(0, 6^2)`, :math:`e_{it} \sim N(0, 5^2)`). Patient values are not rounded
or clipped. Each arm's mean change and its standard error (the arm's sample SD over
:math:`\sqrt{n}`) at each month are reported to two decimals, as a publication would.

Because every study's dose effect is its :math:`\delta_s` times one curve, the SD between
studies of any dose contrast is :math:`\tau / \delta = 1/6` of its mean. A patient's
changes at two visits are correlated,
:math:`(\sigma_u^2 + \beta^2\sigma_0^2) / (\sigma_u^2 + \beta^2\sigma_0^2 + \sigma_e^2)
\approx 0.63`, and so are an arm's means at two months (:func:`msc_arm_truth`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.datasets.msc_simulation import OUTCOMES, dose_response, onset_fraction

__all__ = [
    "BETWEEN_STUDY_SD",
    "DEFAULT_SEED",
    "FILES",
    "MONTHS",
    "STUDIES",
    "StudyDesign",
    "msc_arm_truth",
    "simulate_msc_arm_studies",
    "true_arm_mean",
    "write_msc_arm_studies",
]

DEFAULT_SEED = 20230905
#: Post-baseline months at which the arm means are reported.
MONTHS: tuple[int, ...] = (3, 6, 12)
#: SD between studies of the effect size delta (points of KOOS pain).
BETWEEN_STUDY_SD = 3.0
#: Probability of having left the trial before each month (monotone, at random).
DROPOUT: dict[int, float] = {3: 0.0, 6: 0.04, 12: 0.10}
#: The files :func:`write_msc_arm_studies` writes.
FILES = {"data": "msc_arm_studies.csv", "truth": "msc_arm_studies_truth.json"}
COLUMNS = ("study", "arm", "dose", "month", "n", "mean_change", "se")

HEADER = (
    "# SIMULATED DATA - NOT THE RESULTS OF ANY REAL TRIAL.\n"
    "# Arm-level KOOS pain change from baseline (points, higher is better) of two imaginary\n"
    "# placebo-controlled MSC knee trials, drawn from a known truth consistent with the\n"
    "# embedded simulated MSC trial (msc_arm_studies_truth.json). Written by\n"
    "# python -m bayesdose.datasets.msc_arm_studies (seed {seed}).\n"
)


@dataclass(frozen=True)
class StudyDesign:
    """The design of one simulated arm-level study.

    Parameters
    ----------
    doses : tuple of float
        Doses in million cells, 0 for the saline placebo.
    patients_per_arm : int
        Patients randomised to each arm.
    placebo_shift : float
        The study's shift :math:`c_s` of the common course (points), at every month.

    Examples
    --------
    >>> STUDIES["MSC-C"].doses
    (0.0, 20.0, 75.0)
    """

    doses: tuple[float, ...]
    patients_per_arm: int
    placebo_shift: float


#: The two simulated studies.
STUDIES: dict[str, StudyDesign] = {
    "MSC-B": StudyDesign((0.0, 5.0, 25.0, 100.0), 24, 6.0),
    "MSC-C": StudyDesign((0.0, 20.0, 75.0), 28, 3.0),
}


def _koos_pain() -> Any:
    """The embedded trial's generating parameters of KOOS pain."""
    return next(spec for spec in OUTCOMES if spec.name == "koos_pain")


def _arm_label(dose: float) -> str:
    return "placebo" if dose == 0 else f"{dose:g} million cells"


def true_arm_mean(dose: float, month: float, delta: float, placebo_shift: float) -> float:
    """The expected mean change of an arm (points of KOOS pain).

    Parameters
    ----------
    dose : float
        Million cells (0: placebo).
    month : float
        One of :data:`MONTHS` (the common course is defined there).
    delta : float
        The study's effect size (the effect of 50 million cells at full onset).
    placebo_shift : float
        The study's shift of the common course.

    Returns
    -------
    float
        ``f(dose; delta) * g(month) + h(month) + placebo_shift``.

    Examples
    --------
    >>> round(true_arm_mean(0.0, 12, 18.0, 6.0), 3)   # placebo: h(12) + 6
    7.0
    >>> round(true_arm_mean(50.0, 12, 18.0, 0.0) - true_arm_mean(0.0, 12, 18.0, 0.0), 3)
    17.93
    """
    spec = _koos_pain()
    effect = dose_response(float(dose), delta, spec.ed50) * onset_fraction(month, spec.t_half)
    return float(effect) + spec.course[int(month)] + placebo_shift


def _study_effects(rng: np.random.Generator) -> dict[str, float]:
    """Each study's effect size delta_s = delta + tau * z_s (z drawn in study order)."""
    spec = _koos_pain()
    z = rng.standard_normal(len(STUDIES))
    return {name: spec.delta + BETWEEN_STUDY_SD * float(zs) for name, zs in
            zip(STUDIES, z, strict=True)}


def _arm_rows(rng: np.random.Generator, study: str, dose: float,
              delta: float) -> list[dict[str, Any]]:
    """Simulate the patients of one arm and summarise them at each month."""
    spec, design = _koos_pain(), STUDIES[study]
    n = design.patients_per_arm
    baseline = spec.baseline_sd * rng.standard_normal(n)  # a_i0 - mu
    lasting = spec.beta * baseline + spec.sd_u * rng.standard_normal(n)
    residual = spec.sd_e * rng.standard_normal((n, len(MONTHS)))
    leaves = rng.uniform(size=n)
    rows = []
    for j, month in enumerate(MONTHS):
        present = leaves >= DROPOUT[month]
        change = (true_arm_mean(dose, month, delta, design.placebo_shift) + lasting
                  + residual[:, j])[present]
        rows.append({"study": study, "arm": _arm_label(dose), "dose": dose, "month": month,
                     "n": int(present.sum()), "mean_change": round(float(change.mean()), 2),
                     "se": round(float(change.std(ddof=1) / math.sqrt(change.size)), 2)})
    return rows


def simulate_msc_arm_studies(seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Draw the two studies' arm-level summaries and state their truth.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the output is a pure function of it.

    Returns
    -------
    frame : pandas.DataFrame
        One row per study x arm x month: study, arm, dose (million cells), month, n,
        mean_change (points) and se (points).
    truth : dict
        See :func:`msc_arm_truth`.

    Examples
    --------
    >>> frame, truth = simulate_msc_arm_studies()
    >>> frame.shape, sorted(frame["study"].unique())
    ((21, 7), ['MSC-B', 'MSC-C'])
    >>> truth["simulated"], truth["between_study_sd"]
    (True, 3.0)
    """
    rng = np.random.default_rng(seed)
    deltas = _study_effects(rng)
    rows = [row for study, design in STUDIES.items() for dose in design.doses
            for row in _arm_rows(rng, study, dose, deltas[study])]
    return pd.DataFrame(rows, columns=list(COLUMNS)), msc_arm_truth(seed, deltas)


def _contrast(delta: float, dose: float, reference: float, month: float) -> float:
    """True contrast of two doses at a month for a study with effect size ``delta``."""
    spec = _koos_pain()
    onset = float(onset_fraction(month, spec.t_half))
    return (dose_response(dose, delta, spec.ed50) - dose_response(reference, delta, spec.ed50)
            ) * onset


def msc_arm_truth(seed: int = DEFAULT_SEED,
                  deltas: dict[str, float] | None = None) -> dict[str, Any]:
    """The truth behind the simulated arm-level studies.

    Parameters
    ----------
    seed : int
        The seed (the study effects are drawn with it unless ``deltas`` is given).
    deltas : dict, optional
        Each study's effect size, as drawn by :func:`simulate_msc_arm_studies`.

    Returns
    -------
    dict
        ``simulated`` (True), ``seed``, ``formula``, the shared parameters (``delta``,
        ``ed50``, ``t_half``, ``h``, ``between_study_sd`` and the coefficient of
        variation ``cv`` of the study effects), the patient model, the within-arm
        correlation of a patient's changes at two months, per study its design, ``z``,
        ``delta``, expected arm means and 50-vs-1 contrast at month 12, and the pooled
        (population mean) contrasts with their between-study SDs.

    Examples
    --------
    >>> truth = msc_arm_truth()
    >>> round(truth["pooled"]["contrast_50_vs_1_month_12"], 3)   # as the embedded trial
    15.619
    >>> round(truth["pooled"]["between_study_sd_contrast_50_vs_1_month_12"], 3)
    2.603
    """
    spec = _koos_pain()
    if deltas is None:
        deltas = _study_effects(np.random.default_rng(seed))
    lasting = spec.sd_u ** 2 + spec.beta ** 2 * spec.baseline_sd ** 2
    cv = BETWEEN_STUDY_SD / spec.delta
    pooled = _contrast(spec.delta, 50.0, 1.0, 12)
    studies = {}
    for name, design in STUDIES.items():
        delta = deltas[name]
        studies[name] = {
            "doses": list(design.doses), "patients_per_arm": design.patients_per_arm,
            "placebo_shift": design.placebo_shift,
            "z": (delta - spec.delta) / BETWEEN_STUDY_SD, "delta": delta,
            "contrast_50_vs_1_month_12": _contrast(delta, 50.0, 1.0, 12),
            "expected_mean_change": [
                {"dose": dose, "month": month,
                 "mean": true_arm_mean(dose, month, delta, design.placebo_shift)}
                for dose in design.doses for month in MONTHS],
        }
    return _rounded({
        "simulated": True,
        "description": ("SIMULATED arm-level results of two imaginary MSC knee trials; not "
                        "the results of any real trial"),
        "seed": int(seed),
        "outcome": "koos_pain",
        "units": "points of KOOS pain (0-100), higher is better",
        "formula": ("mean change of arm (study s, dose d, month t) = f(d; delta_s) * g(t) + "
                    "h(t) + c_s; f(d; delta) = delta*(d/(ed50 + d))*(ed50 + 50)/50; "
                    "g(t) = 1 - exp(-ln(2)*t/t_half); delta_s = delta + tau*z_s"),
        "delta": spec.delta, "ed50": spec.ed50, "t_half": spec.t_half,
        "h": {str(month): spec.course[month] for month in MONTHS},
        "between_study_sd": BETWEEN_STUDY_SD, "cv": cv,
        "patient_model": {"baseline_mean": spec.baseline_mean,
                          "baseline_sd": spec.baseline_sd, "beta": spec.beta,
                          "sd_u": spec.sd_u, "sd_e": spec.sd_e,
                          "dropout_before_month": {str(m): p for m, p in DROPOUT.items()}},
        "within_arm_correlation": lasting / (lasting + spec.sd_e ** 2),
        "embedded_trial": {"z": 0.0, "delta": spec.delta,
                           "contrast_50_vs_1_month_12": pooled},
        "studies": studies,
        "pooled": {
            "contrast_50_vs_1_month_12": pooled,
            "between_study_sd_contrast_50_vs_1_month_12": cv * pooled,
            "contrast_vs_placebo_month_12": {
                f"{dose:g}": _contrast(spec.delta, dose, 0.0, 12)
                for dose in (1.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0)},
        },
    })


def _rounded(value: Any) -> Any:
    """Floats rounded to 6 decimals (a negative zero as zero), in nested dicts and lists."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, float):
        return round(value, 6) + 0.0
    return value


def _csv_text(frame: pd.DataFrame, seed: int) -> str:
    """The CSV file: the header marking the data as simulated, then the table."""
    return HEADER.format(seed=seed) + frame.to_csv(index=False, float_format="%.10g",
                                                    lineterminator="\n")


def _write_atomic(path: Path, text: str) -> None:
    """Write text to ``path`` through a temporary file in the same folder, renamed into
    place, so that a reader never sees a partly written file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_msc_arm_studies(directory: str | Path, seed: int = DEFAULT_SEED) -> list[Path]:
    """Simulate the studies and write :data:`FILES` into ``directory``, atomically.

    Parameters
    ----------
    directory : str or Path
        An existing folder.
    seed : int
        Seed of :func:`simulate_msc_arm_studies`.

    Returns
    -------
    list of Path
        The CSV file and the truth (JSON), byte for byte the same for a given seed.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_msc_arm_studies(tempfile.mkdtemp())
    >>> paths[0].read_text().splitlines()[0]
    '# SIMULATED DATA - NOT THE RESULTS OF ANY REAL TRIAL.'
    """
    directory = Path(directory)
    frame, truth = simulate_msc_arm_studies(seed)
    texts = {FILES["data"]: _csv_text(frame, seed),
             FILES["truth"]: json.dumps(truth, indent=2, sort_keys=True) + "\n"}
    for name, text in texts.items():
        _write_atomic(directory / name, text)
    return [directory / name for name in texts]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for written in write_msc_arm_studies(target):
        print(f"Wrote {written}")
