"""Trial data arranged for the model: one entry per observed post-baseline value.

:func:`prepare_inputs` turns validated :class:`~bayesdose.data.trial.TrialData` into index
arrays (outcome, patient, visit), the response each outcome's likelihood models, the
standardised baseline covariate, censoring bounds and the per-outcome scales that map the
standardised, direction-aligned scale of the priors to the outcome's own units.

The scale SD of an outcome is its declared SD (``OutcomeInfo.sd``) when its metadata give
one, else the pooled within-arm SD of its modelled change at the last visit (see
:func:`bayesdose.components.likelihoods.pooled_change_sd`); 1 for ordinal outcomes. It is
never the SD of the trial's baselines: eligibility criteria narrow that spread, and with a
dozen patients it is a noisy number that would move every prior with it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.likelihoods import Likelihood, ordinal_categories, resolve_likelihoods
from bayesdose.components.shapes import DoseScale
from bayesdose.components.timecourses import TimeScale
from bayesdose.data.trial import TrialData
from bayesdose.errors import DataError


@dataclass(frozen=True)
class OutcomeScales:
    """Per-outcome constants that map the standardised scale to the outcome's units.

    Attributes
    ----------
    sd : numpy.ndarray
        The scale SD of each outcome, on its likelihood's scale: the declared SD
        (``OutcomeInfo.sd``; of log values for lognormal outcomes), else the pooled
        within-arm SD of the modelled change at the last visit; 1 for ordinal outcomes.
    sign : numpy.ndarray
        +1 where higher is better, -1 where lower is better.
    baseline_mean : numpy.ndarray
        Mean baseline (on the likelihood's scale); the baseline covariate is centred on it.
    sd_source : list of str
        What each SD is, in words (``"declared sd"``, ``"pooled within-arm SD of the
        change at time 12 (n=12, 3 arms)"``, ...).
    units : list of str
        The units of each SD (the outcome's unit, ``"log(<unit>)"`` for lognormal
        outcomes, ``"latent logit"`` for ordinal ones).
    """

    sd: np.ndarray
    sign: np.ndarray
    baseline_mean: np.ndarray
    sd_source: list[str]
    units: list[str] = field(default_factory=list)

    def table(self, outcomes: list[str]) -> pd.DataFrame:
        """The scales as a tidy table (one row per outcome).

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> prepare_inputs(data).scales.table(["koos_pain"])[["sd", "unit", "sd_source"]]
             sd    unit    sd_source
        0  12.0  points  declared sd
        """
        units = self.units or [""] * len(outcomes)
        return pd.DataFrame({"outcome": outcomes, "sd": self.sd, "unit": units,
                             "sd_source": self.sd_source, "sign": self.sign,
                             "baseline_mean": self.baseline_mean})


@dataclass(frozen=True)
class ModelInputs:
    """Trial data arranged for the model: index arrays, responses, scales and coordinates."""

    outcomes: list[str]
    patients: list[str]
    doses: tuple[float, ...]
    visits: tuple[float, ...]
    baseline_time: float
    outcome_idx: np.ndarray
    patient_idx: np.ndarray
    time_idx: np.ndarray
    dose: np.ndarray
    elapsed: np.ndarray
    baseline_std: np.ndarray
    response: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scales: OutcomeScales
    likelihoods: dict[str, Likelihood]
    families: list[str]
    family_idx: np.ndarray
    categories: dict[str, np.ndarray]

    @property
    def dose_scale(self) -> DoseScale:
        """Dose constants for the shapes."""
        return DoseScale(self.doses)

    @property
    def time_scale(self) -> TimeScale:
        """Time constants for the time courses (visits counted from baseline)."""
        return TimeScale(tuple(v - self.baseline_time for v in self.visits))

    @property
    def kinds(self) -> set[str]:
        """Names of the likelihoods in use."""
        return {lik.name for lik in self.likelihoods.values()}

    def family_sizes(self) -> np.ndarray:
        """Number of outcomes in each outcome's family."""
        counts = np.bincount(self.family_idx, minlength=len(self.families))
        return counts[self.family_idx]

    def without(self, rows: np.ndarray) -> ModelInputs:
        """The same inputs with observations ``rows`` left out of the likelihood.

        Scales, categories, patients, doses and visits stay those of the full data, so a
        model built on the result has the same parameters, on the same scale, as the
        full model (what exact leave-one-out refits need).

        Examples
        --------
        >>> import bayesdose as bd
        >>> full = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> len(full.without(np.array([0, 1])).response) == len(full.response) - 2
        True
        """
        keep = np.ones(len(self.response), dtype=bool)
        keep[np.asarray(rows, dtype=int)] = False
        per_row = ("outcome_idx", "patient_idx", "time_idx", "dose", "elapsed",
                   "baseline_std", "response", "lower", "upper")
        return replace(self, **{name: getattr(self, name)[keep] for name in per_row})

    def observations(self, kind: str) -> np.ndarray:
        """Positions of the observations whose outcome uses likelihood ``kind``."""
        names = [o for o in self.outcomes if self.likelihoods[o].name == kind]
        codes = [self.outcomes.index(o) for o in names]
        return np.flatnonzero(np.isin(self.outcome_idx, codes))


def by_row(group: xr.Dataset, n_obs: int, what: str) -> xr.DataArray:
    """Put a fit group's observed variables together by observation row.

    The model has one observed variable per likelihood (``change``, ``change_t``,
    ``log_change``, ``grade_<outcome>``), each with an observation dim whose coordinate is
    the observation's row in :class:`ModelInputs`; this puts their values (log
    likelihood, predictive draws) side by side in row order.

    Parameters
    ----------
    group : xarray.Dataset
        One variable per likelihood, each with chain, draw and one observation dim.
    n_obs : int
        Number of observations.
    what : str
        The group's name, for error messages.

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, obs.

    Examples
    --------
    >>> group = xr.Dataset({"change": (("chain", "draw", "obs_change"), np.zeros((1, 2, 2)))},
    ...                    coords={"obs_change": [1, 0]})
    >>> by_row(group, 2, "log_likelihood").sizes["obs"]
    2
    """
    chains, draws = group.sizes["chain"], group.sizes["draw"]
    out = np.full((chains, draws, n_obs), np.nan)
    seen = np.zeros(n_obs, dtype=int)
    for name, values in group.data_vars.items():
        obs_dims = [d for d in values.dims if d not in ("chain", "draw")]
        if len(obs_dims) != 1:
            raise DataError(f"{what} variable {name!r} has dims {values.dims}; "
                            "expected chain, draw and one observation dim.")
        rows = np.asarray(values[obs_dims[0]].to_numpy())
        if (not np.issubdtype(rows.dtype, np.integer) or rows.size == 0
                or rows.min() < 0 or rows.max() >= n_obs):
            raise DataError(f"{what} variable {name!r}: its {obs_dims[0]!r} "
                            f"coordinate is not a row index 0..{n_obs - 1} of the fit's "
                            "observations; refit with this version of bayesdose.")
        out[:, :, rows] = values.transpose("chain", "draw", obs_dims[0]).to_numpy()
        np.add.at(seen, rows, 1)
    if not np.all(seen == 1):
        raise DataError(f"the {what} group covers {int((seen > 0).sum())} of the "
                        f"fit's {n_obs} observations ({int((seen > 1).sum())} twice); "
                        "refit the model so every observation has one value there.")
    return xr.DataArray(out, dims=("chain", "draw", "obs"),
                        coords={"chain": group["chain"].to_numpy(),
                                "draw": group["draw"].to_numpy(), "obs": np.arange(n_obs)},
                        name=what)


def prepare_inputs(data: TrialData,
                   likelihood: str | dict[str, str] | None = None) -> ModelInputs:
    """Arrange validated trial data for the model.

    Parameters
    ----------
    data : TrialData
        The trial (already restricted to the outcomes to model).
    likelihood : str, dict or None
        Likelihood choice (see :func:`bayesdose.components.likelihoods.resolve_likelihoods`).

    Returns
    -------
    ModelInputs

    Examples
    --------
    >>> import bayesdose as bd
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> inputs.doses
    (1.0, 10.0, 50.0)
    """
    changes = data.changes.merge(data.table[["patient", "time", "outcome", "source_row"]],
                                 on=["patient", "time", "outcome"], how="left")
    if changes.empty:
        raise DataError("no post-baseline values to model: every patient has only a baseline "
                        "(or only missing values after it).")
    outcomes, patients, visits = data.outcomes, data.patients, tuple(data.visits)
    likelihoods = resolve_likelihoods(
        outcomes, likelihood, {o: data.info(o).likelihood for o in outcomes})
    k = changes["outcome"].map({o: i for i, o in enumerate(outcomes)}).to_numpy()
    response = np.empty(len(changes))
    baseline_t = np.empty(len(changes))
    lower = np.full(len(changes), -np.inf)
    upper = np.full(len(changes), np.inf)
    scales, categories = [], {}
    for i, outcome in enumerate(outcomes):
        lik, rows = likelihoods[outcome], k == i
        part = changes[rows]
        lik.check(outcome, part)
        _warn_on_scattered_times(data, outcome)
        response[rows] = lik.response(part)
        baseline_t[rows] = lik.baseline_covariate(part["baseline"].to_numpy())
        scales.append(_outcome_scale(data, outcome, lik, part, response[rows]))
        _check_changes_vary(outcome, lik, response[rows])
        info = data.info(outcome)
        if lik.name in ("normal", "student_t"):
            base = part["baseline"].to_numpy(dtype=float)
            if info.lower is not None:
                lower[rows] = info.lower - base
            if info.upper is not None:
                upper[rows] = info.upper - base
        if lik.name == "ordinal":
            values = np.concatenate([response[rows], part["baseline"].to_numpy(dtype=float)])
            categories[outcome] = ordinal_categories(values, info.lower, info.upper)
    sd, source, mean = (np.array([s[j] for s in scales]) for j in (0, 1, 2))
    signs = np.array([data.info(o).sign for o in outcomes], dtype=float)
    families = [data.info(o).family or o for o in outcomes]
    family_names = list(dict.fromkeys(families))
    return ModelInputs(
        outcomes=outcomes,
        patients=patients,
        doses=tuple(data.doses),
        visits=visits,
        baseline_time=data.baseline_time,
        outcome_idx=k,
        patient_idx=changes["patient"].map({p: i for i, p in enumerate(patients)}).to_numpy(),
        time_idx=changes["time"].map({t: i for i, t in enumerate(visits)}).to_numpy(),
        dose=changes["dose"].to_numpy(dtype=float),
        elapsed=changes["time"].to_numpy(dtype=float) - data.baseline_time,
        baseline_std=_standardise_baseline(baseline_t, k, mean.astype(float), sd.astype(float)),
        response=response,
        lower=lower,
        upper=upper,
        scales=OutcomeScales(sd.astype(float), signs, mean.astype(float), list(source),
                             [scale_units(data, o, likelihoods[o]) for o in outcomes]),
        likelihoods=likelihoods,
        families=family_names,
        family_idx=np.array([family_names.index(f) for f in families]),
        categories=categories,
    )


def scale_units(data: TrialData, outcome: str, lik: Likelihood) -> str:
    """The units of an outcome's scale SD: its unit, its log for lognormal outcomes.

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.likelihoods import get_likelihood
    >>> data = bd.datasets.load_msc_trial()
    >>> scale_units(data, "sf_il6", get_likelihood("lognormal"))
    'log(pg/mL)'
    """
    unit = data.info(outcome).unit or "outcome units"
    if lik.name == "ordinal":
        return "latent logit"
    return f"log({unit})" if lik.name == "lognormal" else unit


def _outcome_scale(data: TrialData, outcome: str, lik: Likelihood, part: pd.DataFrame,
                   response: np.ndarray) -> tuple[float, str, float]:
    """The scale SD of one outcome, what it is, and the mean baseline covariate."""
    base = data.baselines
    baseline = lik.baseline_covariate(
        base.loc[base["outcome"] == outcome, "baseline"].to_numpy(dtype=float))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sd, source = lik.scale_sd(response, part["dose"].to_numpy(dtype=float),
                                  part["time"].to_numpy(dtype=float), data.info(outcome).sd)
    if not (np.isfinite(sd) and sd > 0):
        _refuse_scale(outcome, lik, baseline, response, sd)
    return sd, source, float(np.mean(baseline))


def _refuse_scale(outcome: str, lik: Likelihood, baseline: np.ndarray, response: np.ndarray,
                  sd: float) -> None:
    """Say why no scale SD could be computed for an outcome (always raises)."""
    changes = np.asarray(response, dtype=float)
    changes = changes[np.isfinite(changes)]
    if changes.size > 1 and np.ptp(changes) > 0:
        parts = [v[np.isfinite(v)] for v in (np.asarray(baseline, float), changes)]
        largest = float(np.max(np.abs(np.concatenate(parts))))
        raise DataError(
            f"outcome {outcome!r}: its values (largest magnitude {largest:.3g}) are too "
            f"{'large' if largest > 1 else 'small'} to standardise in floating point "
            f"(their SD is {sd!r}). Express them in another unit (e.g. "
            f"{'divide' if largest > 1 else 'multiply'} them by 1e6)."
        )
    finite_baseline = np.asarray(baseline, float)[np.isfinite(baseline)]
    if changes.size < 2:
        raise DataError(
            f"outcome {outcome!r} has {changes.size} post-baseline value(s), too few to "
            "compute the SD that sets the scale of its priors. Declare the outcome's SD "
            "(sd in its metadata, e.g. outcome_info={" + repr(outcome) + ": {'sd': ...}})."
        )
    if finite_baseline.size > 1 and np.ptp(finite_baseline) > 0:
        _check_changes_vary(outcome, lik, changes)
    raise DataError(
        f"outcome {outcome!r} does not vary (neither its baselines nor its changes), "
        "so no effect can be estimated on it. Remove it from the outcomes to fit."
    )


def _warn_on_scattered_times(data: TrialData, outcome: str) -> None:
    """Warn when an outcome has more distinct post-baseline times than a trial has visits.

    The model has one common-course parameter per outcome and visit, so times that
    differ by patient (actual days since dosing rather than the scheduled visit) make
    many visits with a handful of values each. Flagged when there are more distinct times
    than any one patient has, or when fewer than half of the patient x time cells hold a
    row (a missing value on a scheduled visit still counts as a row).
    """
    table = data.table
    rows = table[(table["outcome"] == outcome) & (table["time"] > data.baseline_time)]
    if rows.empty:
        return
    per_patient = rows.groupby("patient", sort=False)["time"]
    n_times, most = rows["time"].nunique(), int(per_patient.nunique().max())
    filled = len(rows) / (per_patient.ngroups * n_times)
    if n_times <= most and (n_times < 2 or filled >= 0.5):
        return
    patient, times = next(iter(per_patient))
    shown = ", ".join(f"{t:g}" for t in sorted(times.unique())[:6])
    more = " ..." if times.nunique() > 6 else ""
    warnings.warn(
        f"outcome {outcome!r} has {n_times} distinct post-baseline times but no patient has "
        f"more than {most} (for example patient {patient!r} at {shown}{more}), and only "
        f"{filled:.0%} of the patient x time cells hold a value. The model estimates a "
        "common course at every distinct time, so times that differ by patient (actual "
        "days since dosing instead of the scheduled visit) leave most visits with a "
        "handful of values. If they are visits, map each time to its scheduled visit "
        "before fitting.",
        UserWarning, stacklevel=3)


def _check_changes_vary(outcome: str, lik: Likelihood, response: np.ndarray) -> None:
    """Refuse an outcome whose modelled changes are all equal: its residual SD would be
    estimated as zero and its posterior would be degenerate, not an estimate."""
    if lik.name == "ordinal" or response.size < 2 or np.ptp(response) > 0:
        return
    what = "change from baseline" if lik.name in ("normal", "student_t") else "log ratio"
    raise DataError(
        f"outcome {outcome!r}: every post-baseline {what} is the same "
        f"({response[0]:g} at all {response.size} values), so the residual SD would be zero "
        "and no dose effect can be estimated. Check the values (were baselines carried "
        "forward?) or leave the outcome out."
    )


def _standardise_baseline(baseline: np.ndarray, k: np.ndarray, mean: np.ndarray,
                          sd: np.ndarray) -> np.ndarray:
    """Centre each outcome's baseline covariate on its mean and divide by its scale SD."""
    return (baseline - mean[k]) / sd[k]
