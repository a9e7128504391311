r"""Simulated adverse-event counts with follow-up time for the design of the MSC knee trial.

The counts produced here are **simulated. They are not patient data**, and they are not
the embedded adverse-event table of :func:`bayesdose.datasets.load_msc_adverse_events`
(one yes/no per patient): they are a separate draw, with known true rates, that shows
the count models of :class:`~bayesdose.model.safety.SafetyCountModel` on the design of
the MSC trial (:mod:`bayesdose.datasets.msc_simulation`) and lets their estimates be
checked against the truth. ``models/data/msc_safety_counts.csv`` holds the output for
:data:`DEFAULT_SEED`; regenerate it with::

    python -m bayesdose.datasets.msc_safety_counts models/data/msc_safety_counts.csv

Notes
-----
**Design.** The 12 patients of the MSC trial, ``"P01"`` to ``"P12"``, 4 per arm at 1, 10
and 50 million cells. Each is followed for :data:`FOLLOW_UP_MONTHS` months, except
:data:`N_SHORT_FOLLOW_UP` patients drawn at random, who leave early, after a follow-up
drawn uniformly between 3 and 11 months (rounded to 0.1 month). Three event types
(:data:`EVENT_TYPES`) are counted for every patient, zeros included: one row per patient
and event type.

**Generating model.** The count of patient :math:`i` (dose :math:`d_i`, follow-up
:math:`t_i` months) and event type :math:`k` is Poisson with mean

.. math::

    t_i \, \lambda_k \left(\frac{d_i}{d_\mathrm{ref}}\right)^{\beta},

with :math:`d_\mathrm{ref}` the geometric mean of the tested doses (:data:`REFERENCE_DOSE`,
as in the safety models), :math:`\lambda_k` the event rate per patient-month at that
dose (:data:`TRUE_RATES`) and one dose slope :math:`\beta` (:data:`TRUE_SLOPE`) for every
type: doubling the dose multiplies each rate by :math:`2^\beta \approx 1.27`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_SEED",
    "EVENT_TYPES",
    "TRUE_RATES",
    "TRUE_SLOPE",
    "msc_safety_truth",
    "simulate_msc_safety_counts",
    "true_rate",
    "write_msc_safety_counts",
]

DEFAULT_SEED = 20190717
DOSES: tuple[int, ...] = (1, 10, 50)
PATIENTS_PER_ARM = 4
FOLLOW_UP_MONTHS = 12.0
N_SHORT_FOLLOW_UP = 3
EVENT_TYPES: tuple[str, ...] = ("arthralgia", "injection_site_pain", "joint_effusion")
#: Events per patient-month at the reference dose, by event type.
TRUE_RATES: dict[str, float] = {"arthralgia": 0.05, "injection_site_pain": 0.08,
                                "joint_effusion": 0.03}
#: Change in the log event rate per e-fold of dose, the same for every type.
TRUE_SLOPE = 0.35
#: Geometric mean of the tested doses (million cells): the safety models' reference dose.
REFERENCE_DOSE = float(np.exp(np.mean(np.log(DOSES))))
COLUMNS = ("patient", "dose", "event_type", "n_events", "follow_up_months")


def true_rate(event_type: str, dose: float) -> float:
    """The true event rate per patient-month of one event type at a dose.

    Parameters
    ----------
    event_type : str
        One of :data:`EVENT_TYPES`.
    dose : float
        Dose in million cells (> 0).

    Returns
    -------
    float

    Examples
    --------
    >>> round(true_rate("injection_site_pain", REFERENCE_DOSE), 3)
    0.08
    >>> round(true_rate("arthralgia", 50) / true_rate("arthralgia", 25), 3)  # 2 ** 0.35
    1.275
    """
    return TRUE_RATES[event_type] * (float(dose) / REFERENCE_DOSE) ** TRUE_SLOPE


def msc_safety_truth(seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The parameters that generate :func:`simulate_msc_safety_counts`.

    Parameters
    ----------
    seed : int
        The seed the data were drawn with (recorded, not used).

    Returns
    -------
    dict
        seed, reference_dose, slope (per e-fold of dose), rate_ratio_per_doubling,
        rates_at_reference (per patient-month) and rates_by_dose (type -> dose -> rate).

    Examples
    --------
    >>> truth = msc_safety_truth()
    >>> round(truth["rate_ratio_per_doubling"], 3)
    1.275
    >>> round(truth["rates_by_dose"]["joint_effusion"]["50"], 4)
    0.0571
    """
    return {
        "seed": seed,
        "reference_dose": REFERENCE_DOSE,
        "slope": TRUE_SLOPE,
        "rate_ratio_per_doubling": 2.0 ** TRUE_SLOPE,
        "rates_at_reference": dict(TRUE_RATES),
        "rates_by_dose": {k: {str(d): true_rate(k, d) for d in DOSES} for k in EVENT_TYPES},
    }


def simulate_msc_safety_counts(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Draw the adverse-event counts: one row per patient and event type.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the output is a pure function of it.

    Returns
    -------
    pandas.DataFrame
        Columns patient, dose (million cells), event_type, n_events and
        follow_up_months; 36 rows (12 patients x 3 event types), zero counts included.

    Examples
    --------
    >>> frame = simulate_msc_safety_counts()
    >>> frame.shape, sorted(frame["event_type"].unique()) == list(EVENT_TYPES)
    ((36, 5), True)
    >>> int((frame.groupby("patient")["follow_up_months"].first() < 12).sum())
    3
    """
    rng = np.random.default_rng(seed)
    doses = np.repeat(np.asarray(DOSES, dtype=float), PATIENTS_PER_ARM)
    patients = [f"P{i:02d}" for i in range(1, doses.size + 1)]
    follow_up = np.full(doses.size, FOLLOW_UP_MONTHS)
    early = rng.choice(doses.size, size=N_SHORT_FOLLOW_UP, replace=False)
    follow_up[early] = np.round(rng.uniform(3.0, 11.0, size=N_SHORT_FOLLOW_UP), 1)
    rows = []
    for patient, dose, months in zip(patients, doses, follow_up, strict=True):
        for kind in EVENT_TYPES:
            mean = months * true_rate(kind, dose)
            rows.append({"patient": patient, "dose": int(dose), "event_type": kind,
                         "n_events": int(rng.poisson(mean)),
                         "follow_up_months": float(months)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_msc_safety_counts(path: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """Simulate the counts and write them as CSV, atomically (byte for byte reproducible).

    Parameters
    ----------
    path : str or Path
        The CSV file to write (its folder must exist).
    seed : int
        Seed of :func:`simulate_msc_safety_counts`.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = write_msc_safety_counts(pathlib.Path(tempfile.mkdtemp()) / "counts.csv")
    >>> path.read_text().splitlines()[0]
    'patient,dose,event_type,n_events,follow_up_months'
    """
    path = Path(path)
    text = simulate_msc_safety_counts(seed).to_csv(index=False, lineterminator="\n")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bayesdose.datasets.msc_safety_counts OUT.csv")
    print(f"Wrote {write_msc_safety_counts(sys.argv[1])}")
