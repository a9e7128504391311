"""Trial data arranged for the model: one entry per observed post-baseline value.

:func:`prepare_inputs` turns validated :class:`~bayesdose.data.trial.TrialData` into index
arrays (outcome, patient, visit), the response each outcome's likelihood models, the
standardised baseline covariate, the design matrix of patient-level covariates
(:class:`CovariateCoding`), censoring bounds and the per-outcome scales that map the
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

from bayesdose.components.censoring import detection_limit_bounds
from bayesdose.components.likelihoods import (
    Likelihood,
    ordinal_categories,
    pooled_change_sd,
    resolve_likelihoods,
)
from bayesdose.components.shapes import DoseScale
from bayesdose.components.timecourses import TimeScale
from bayesdose.data.trial import TrialData, covariate_kind, covariate_label
from bayesdose.errors import DataError, SpecError, describe_rows


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
class CovariateCoding:
    """How patient-level covariates become the columns of the model's design matrix.

    A numeric covariate is one column, centred on the trial's mean over patients and
    divided by its SD over patients (ddof=1); its effect is that of one SD. A categorical
    covariate is one column per level but the first in sorted order (the reference),
    the indicator of that level minus the share of the trial's patients at it; its effect
    is that of the level against the reference. Every column averages to zero over the
    trial's patients, so the course and dose effects are those of a patient population
    with the trial's mix of covariates.

    Attributes
    ----------
    names : list of str
        Column names: the covariate's for numeric ones, ``"<covariate>[<level>]"`` for
        levels of categorical ones (for example ``["age", "sex[M]"]``).
    sources : list of str
        The covariate each column codes.
    levels : list
        The level each column indicates (None for numeric columns).
    centre : numpy.ndarray
        Per column: the trial's mean (numeric) or share of patients at the level.
    scale : numpy.ndarray
        Per column: the trial's SD over patients (numeric) or 1.
    reference : dict of str to str
        The reference level of each categorical covariate.

    Examples
    --------
    >>> table = pd.DataFrame({"age": [40.0, 50.0, 60.0], "sex": ["F", "M", "M"]})
    >>> coding = CovariateCoding.from_table(table)
    >>> coding.names, coding.reference
    (['age', 'sex[M]'], {'sex': 'F'})
    >>> coding.encode(table).round(3).tolist()
    [[-1.0, -0.667], [0.0, 0.333], [1.0, 0.333]]
    """

    names: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    levels: list[str | None] = field(default_factory=list)
    centre: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    reference: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_table(cls, covariates: pd.DataFrame) -> CovariateCoding:
        """The coding of a per-patient covariates table (:attr:`TrialData.covariates`).

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per patient; float columns are numeric, others categorical.

        Returns
        -------
        CovariateCoding

        Examples
        --------
        >>> CovariateCoding.from_table(pd.DataFrame({"kl": ["2", "3", "4", "3"]})).names
        ['kl[3]', 'kl[4]']
        """
        names, sources, levels, centre, scale, reference = [], [], [], [], [], {}
        for source in covariates.columns:
            values = covariates[source]
            if covariate_kind(values) == "numeric":
                numbers = values.to_numpy(dtype=float)
                names.append(str(source))
                sources.append(str(source))
                levels.append(None)
                centre.append(float(numbers.mean()))
                scale.append(float(numbers.std(ddof=1)))
                continue
            text = _labels(values)
            found = sorted(set(text))
            reference[str(source)] = found[0]
            for level in found[1:]:
                names.append(f"{source}[{level}]")
                sources.append(str(source))
                levels.append(level)
                centre.append(float(np.mean(text == level)))
                scale.append(1.0)
        return cls(names, sources, levels, np.array(centre, dtype=float),
                   np.array(scale, dtype=float), reference)

    def encode(self, covariates: pd.DataFrame) -> np.ndarray:
        """The standardised design rows of patients with the given covariate values.

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per patient (or per prediction), a column per covariate; values of a
            categorical covariate must be among the trial's levels (numbers are read as
            their labels, so ``1`` and ``1.0`` are the level ``"1"``).

        Returns
        -------
        numpy.ndarray
            Shape (rows, columns), on the scale the model's ``beta_covariate`` multiplies.

        Raises
        ------
        DataError
            For a missing covariate column or an unknown level.

        Examples
        --------
        >>> coding = CovariateCoding.from_table(pd.DataFrame({"sex": ["1", "2", "2", "2"]}))
        >>> coding.encode(pd.DataFrame({"sex": [1, 2.0]})).tolist()
        [[-0.75], [0.25]]
        """
        missing = [c for c in dict.fromkeys(self.sources) if c not in covariates.columns]
        if missing:
            raise DataError(f"covariate(s) {', '.join(map(repr, missing))} are needed (the "
                            "model was fitted with them) but not given.")
        out = np.empty((len(covariates), len(self.names)))
        for j, (source, level) in enumerate(zip(self.sources, self.levels, strict=True)):
            values = covariates[source]
            if level is None:
                out[:, j] = (values.to_numpy(dtype=float) - self.centre[j]) / self.scale[j]
                continue
            text = _labels(values)
            known = {self.reference[source], *(lv for s, lv in zip(self.sources, self.levels,
                                                                     strict=True)
                                               if s == source)}
            unknown = sorted(set(text) - known)
            if unknown:
                raise DataError(f"covariate {source!r}: level(s) {unknown} were not in the "
                                f"trial (its levels are {sorted(known)}).")
            out[:, j] = (text == level).astype(float) - self.centre[j]
        return out

    def table(self) -> pd.DataFrame:
        """The columns with their covariate, level, centre and scale (one row each).

        Examples
        --------
        >>> coding = CovariateCoding.from_table(pd.DataFrame({"age": [40.0, 60.0]}))
        >>> coding.table()[["column", "centre", "scale"]].round(2).values.tolist()
        [['age', 50.0, 14.14]]
        """
        return pd.DataFrame({"column": self.names, "covariate": self.sources,
                             "level": self.levels, "reference": [
                                 self.reference.get(s) for s in self.sources],
                             "centre": self.centre, "scale": self.scale})


def _labels(values: pd.Series) -> np.ndarray:
    """The levels of a categorical covariate's values, as text (``1`` and ``1.0`` are
    ``"1"``)."""
    return np.array([str(covariate_label(v)) for v in values.astype(object)], dtype=object)


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
    covariate_std: np.ndarray | None = None
    covariate_coding: CovariateCoding = field(default_factory=CovariateCoding)
    analysis: str = "change"
    is_baseline: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.covariate_std is None:
            object.__setattr__(self, "covariate_std",
                               np.zeros((len(self.response), len(self.covariate_names))))
        if self.is_baseline is None:
            object.__setattr__(self, "is_baseline", np.zeros(len(self.response), dtype=bool))

    @property
    def offset(self) -> np.ndarray:
        """Per outcome, the level the standardised mean is centred on: 0 for the change
        from baseline (the response is a change), the mean observed baseline level in the
        constrained longitudinal analysis (the response is the level itself)."""
        if self.analysis == "clda":
            return np.asarray(self.scales.baseline_mean, dtype=float)
        return np.zeros(len(self.outcomes))

    @property
    def nominal_elapsed(self) -> np.ndarray:
        """Each observation's nominal visit, counted from baseline (0 at baseline rows),
        whatever its actual time (:attr:`elapsed`)."""
        visits = np.asarray(self.time_scale.visits, dtype=float)
        return np.where(self.is_baseline, 0.0, visits[self.time_idx])

    @property
    def has_baseline_rows(self) -> bool:
        """Whether baseline values are among the observations (constrained longitudinal
        analysis with at least one observed baseline)."""
        return bool(np.any(self.is_baseline))

    @property
    def covariate_names(self) -> list[str]:
        """Names of the covariate design columns (``age``, ``sex[M]``; empty when none)."""
        return list(self.covariate_coding.names)

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
                   "baseline_std", "response", "lower", "upper", "covariate_std",
                   "is_baseline")
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


#: The analyses of the baseline: chosen by the data, change from baseline, constrained
#: longitudinal analysis.
ANALYSES = ("auto", "change", "clda")


def lacking_baselines(data: TrialData) -> pd.DataFrame:
    """The patient x outcome pairs without an observed baseline value.

    Parameters
    ----------
    data : TrialData
        The trial.

    Returns
    -------
    pandas.DataFrame
        Columns patient, outcome and rows (the source rows of that patient's values of
        that outcome, for messages); empty when every pair has its baseline.

    Examples
    --------
    >>> import bayesdose as bd
    >>> len(lacking_baselines(bd.datasets.load_msc_trial()))
    0
    """
    table = data.table
    at_base = table[(table["time"] == data.baseline_time) & table["value"].notna()]
    have = set(zip(at_base["patient"], at_base["outcome"], strict=True))
    keys = list(zip(table["patient"], table["outcome"], strict=True))
    lacking = table[[key not in have for key in keys]]
    grouped = lacking.groupby(["patient", "outcome"], sort=False)["source_row"]
    return grouped.agg(list).reset_index().rename(columns={"source_row": "rows"})


def resolve_analysis(data: TrialData, analysis: str,
                     likelihoods: dict[str, Likelihood]) -> str:
    """The analysis of the baseline to use on ``data``.

    ``"auto"`` is the change from baseline when every patient has a baseline value of
    every outcome, and the constrained longitudinal analysis (cLDA: the baseline is a
    response, its mean common to every dose) when some baseline is missing, beyond a
    detection limit (censored: no change can be computed from it) or the data have none.

    Parameters
    ----------
    data : TrialData
        The trial (the outcomes to model).
    analysis : {"auto", "change", "clda"}
        The choice.
    likelihoods : dict of str to Likelihood
        Each outcome's likelihood (ordinal outcomes need the change analysis).

    Returns
    -------
    str
        ``"change"`` or ``"clda"``.

    Raises
    ------
    SpecError
        An unknown choice, or cLDA with an ordinal outcome.
    DataError
        The change analysis with a baseline missing (names patients, outcomes and rows).

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.likelihoods import get_likelihood
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> resolve_analysis(data, "auto", {"koos_pain": get_likelihood("normal")})
    'change'
    """
    if analysis not in ANALYSES:
        raise SpecError(f"analysis {analysis!r} is not one of {', '.join(ANALYSES)} "
                        "(\"auto\" chooses by the data).")
    lacking = lacking_baselines(data)
    if analysis == "auto":
        ordinal = any(likelihoods[o].name == "ordinal" for o in data.outcomes)
        censored = _censored_baselines(data) and not ordinal  # ordinal: refused below
        analysis = "clda" if len(lacking) or censored else "change"
    if analysis == "change" and len(lacking):
        shown = "; ".join(f"patient {p!r} outcome {o!r} ({describe_rows(rows)})"
                          for p, o, rows in lacking.head(6).itertuples(index=False))
        more = f" ({len(lacking)} in all)" if len(lacking) > 6 else ""
        raise DataError(
            f"no baseline value (a non-empty row at {data.columns['time']} = "
            f"{data.baseline_time:g}) for {shown}{more}. The change from baseline needs "
            "one: use the constrained longitudinal analysis (analysis=\"clda\", the "
            "default \"auto\" chooses it), add the baseline rows, or remove those rows.")
    ordinal = [o for o in data.outcomes if likelihoods[o].name == "ordinal"]
    if analysis == "clda" and ordinal:
        lacking_ordinal = lacking[lacking["outcome"].isin(ordinal)]
        where = ("; some baselines are missing, e.g. patient "
                 f"{lacking_ordinal['patient'].iloc[0]!r} outcome "
                 f"{lacking_ordinal['outcome'].iloc[0]!r}") if len(lacking_ordinal) else ""
        raise SpecError(
            f"ordinal outcome(s) {', '.join(map(repr, ordinal))} need the change-from-"
            f"baseline analysis (the baseline grade is a covariate){where}. Fit them "
            "separately on the patients with a baseline grade, or use another likelihood.")
    return analysis


def _censored_baselines(data: TrialData) -> bool:
    """Whether some baseline value lies beyond a detection limit."""
    table = data.table
    if "censored" not in table:
        return False
    at_base = table["time"] == data.baseline_time
    return bool((at_base & (table["censored"] != 0) & table["value"].notna()).any())


def prepare_inputs(data: TrialData,
                   likelihood: str | dict[str, str] | None = None,
                   analysis: str = "auto") -> ModelInputs:
    """Arrange validated trial data for the model.

    Parameters
    ----------
    data : TrialData
        The trial (already restricted to the outcomes to model).
    likelihood : str, dict or None
        Likelihood choice (see :func:`bayesdose.components.likelihoods.resolve_likelihoods`).
    analysis : {"auto", "change", "clda"}
        How the baseline enters (see :func:`resolve_analysis`): in the change analysis
        each post-baseline value's change from its baseline is the response, the
        baseline a covariate; in the constrained longitudinal analysis every observed
        value, baselines included, is a response (its level), with one baseline mean per
        outcome common to all doses.

    Returns
    -------
    ModelInputs
        With ``covariate_std`` (observations x design columns) the patient-level
        covariates of ``data`` coded by :class:`CovariateCoding` (no columns when the data
        declare none) and ``covariate_coding`` the means, SDs and shares used.

    Examples
    --------
    >>> import bayesdose as bd
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> inputs.doses
    (1.0, 10.0, 50.0)
    """
    outcomes, patients, visits = data.outcomes, data.patients, tuple(data.visits)
    likelihoods = resolve_likelihoods(
        outcomes, likelihood, {o: data.info(o).likelihood for o in outcomes})
    analysis = resolve_analysis(data, analysis, likelihoods)
    changes = observed_rows(data, analysis)
    if not (~changes["is_baseline"]).any():
        raise DataError("no post-baseline values to model: every patient has only a baseline "
                        "(or only missing values after it).")
    clda = analysis == "clda"
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
        if clda:
            response[rows] = lik.level(part)
            baseline_t[rows] = 0.0
            scales.append(_level_scale(data, outcome, lik, part, response[rows]))
        else:
            response[rows] = lik.response(part)
            baseline_t[rows] = lik.baseline_covariate(part["baseline"].to_numpy())
            scales.append(_outcome_scale(data, outcome, lik, part, response[rows]))
        _check_changes_vary(outcome, lik, response[rows])
        info = data.info(outcome)
        if lik.name in ("normal", "student_t"):
            base = (np.zeros(len(part)) if clda
                    else part["baseline"].to_numpy(dtype=float))
            if info.lower is not None:
                lower[rows] = info.lower - base
            if info.upper is not None:
                upper[rows] = info.upper - base
        censoring = detection_limit_bounds(data, outcome, lik.name, part, levels=clda)
        response[rows], lower[rows], upper[rows] = censoring.apply(
            response[rows], lower[rows], upper[rows])
        if lik.name == "ordinal":
            values = np.concatenate([response[rows], part["baseline"].to_numpy(dtype=float)])
            categories[outcome] = ordinal_categories(values, info.lower, info.upper)
    sd, source, mean = (np.array([s[j] for s in scales]) for j in (0, 1, 2))
    signs = np.array([data.info(o).sign for o in outcomes], dtype=float)
    families = [data.info(o).family or o for o in outcomes]
    family_names = list(dict.fromkeys(families))
    patient_idx = changes["patient"].map({p: i for i, p in enumerate(patients)}).to_numpy()
    coding = CovariateCoding.from_table(data.covariates.loc[patients])
    is_baseline = changes["is_baseline"].to_numpy(dtype=bool)
    time_idx = changes["time"].map({t: i for i, t in enumerate(visits)})
    baseline_std = _standardise_baseline(baseline_t, k, mean.astype(float), sd.astype(float))
    return ModelInputs(
        outcomes=outcomes,
        patients=patients,
        doses=tuple(data.doses),
        visits=visits,
        baseline_time=data.baseline_time,
        outcome_idx=k,
        patient_idx=patient_idx,
        time_idx=time_idx.fillna(0).to_numpy(dtype=int),  # baseline rows: masked
        dose=changes["dose"].to_numpy(dtype=float),
        elapsed=measured_at(changes) - data.baseline_time,
        baseline_std=np.zeros(len(changes)) if clda else baseline_std,
        response=response,
        lower=lower,
        upper=upper,
        scales=OutcomeScales(sd.astype(float), signs, mean.astype(float), list(source),
                             [scale_units(data, o, likelihoods[o]) for o in outcomes]),
        likelihoods=likelihoods,
        families=family_names,
        family_idx=np.array([family_names.index(f) for f in families]),
        categories=categories,
        covariate_std=coding.encode(data.covariates.loc[patients])[patient_idx],
        covariate_coding=coding,
        analysis=analysis,
        is_baseline=is_baseline,
    )


def measured_at(rows: pd.DataFrame) -> np.ndarray:
    """When each row was measured: its actual time where the data have actual times
    (the baseline time at a baseline row), else its (nominal) time.

    Examples
    --------
    >>> measured_at(pd.DataFrame({"time": [0.0, 3.0], "actual_time": [0.0, 3.2]})).tolist()
    [0.0, 3.2]
    """
    column = "actual_time" if "actual_time" in rows else "time"
    return rows[column].to_numpy(dtype=float)


def observed_rows(data: TrialData, analysis: str) -> pd.DataFrame:
    """The observed values the model takes as responses, one row each.

    Parameters
    ----------
    data : TrialData
        The trial.
    analysis : {"change", "clda"}
        The change analysis takes the post-baseline values (with their baseline);
        the constrained longitudinal analysis every observed value, baselines included.

    Returns
    -------
    pandas.DataFrame
        Columns patient, dose, time, outcome, baseline (NaN when missing), value,
        change, source_row and is_baseline; ``actual_time`` too when the data have
        actual times (``time`` is then the nominal visit).

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> len(observed_rows(data, "clda")) - len(observed_rows(data, "change"))  # baselines
    12
    """
    extra = ["actual_time"] if "actual_time" in data.table else []
    if analysis == "change":
        keys = ["patient", "time", "outcome"]
        rows = data.changes.merge(data.table[[*keys, "source_row", *extra]], on=keys,
                                  how="left")
        return rows.assign(is_baseline=False)
    table = data.table[data.table["value"].notna()]
    rows = table.merge(data.baselines.dropna(subset=["baseline"]),
                       on=["patient", "outcome"], how="left")
    rows["change"] = rows["value"] - rows["baseline"]
    rows["is_baseline"] = rows["time"] == data.baseline_time
    cols = ["patient", "dose", "time", "outcome", "baseline", "value", "change",
            "source_row", "is_baseline", *extra]
    return rows[cols].reset_index(drop=True)


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


def _level_scale(data: TrialData, outcome: str, lik: Likelihood, part: pd.DataFrame,
                 level: np.ndarray) -> tuple[float, str, float]:
    """Scale SD and centre of one outcome in the constrained longitudinal analysis.

    The SD is the declared one, else the pooled within-arm SD of the changes of the
    patients who have a baseline (the scale of the change analysis), else, when no arm
    has two such changes, the pooled within-arm SD of the post-baseline levels. The
    centre is the mean observed baseline level, or the mean level when none is observed.
    """
    post = ~part["is_baseline"].to_numpy(dtype=bool)
    paired = post & part["baseline"].notna().to_numpy()
    arm = part["dose"].to_numpy(dtype=float)
    time = part["time"].to_numpy(dtype=float)
    declared = data.info(outcome).sd
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sd, source = np.nan, ""
        if declared is not None or paired.sum() >= 2:
            sd, source = lik.scale_sd(lik.response(part[paired]), arm[paired], time[paired],
                                      declared)
        if not (np.isfinite(sd) and sd > 0):
            what = "log value" if lik.name == "lognormal" else "value"
            sd, source = pooled_change_sd(level[post], arm[post], time[post], what)
    if not (np.isfinite(sd) and sd > 0):
        _refuse_scale(outcome, lik, level[~post], level[post], sd)
    centre = level[~post] if (~post).any() else level
    return float(sd), source, float(np.mean(centre))


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
        "and give the actual times as actual_time= (the dose effect's time course is "
        "then evaluated at them).",
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
