"""Dose and adverse events: Bayesian logistic regression of a per-patient event on log dose.

A :class:`SafetyData` holds one row per patient: the dose and whether the patient had an
adverse event (and, optionally, how many). :class:`SafetyModel` fits

.. math::

    \\operatorname{logit} p(d) = \\alpha + \\beta \\log\\frac{d + c}{d_\\mathrm{ref}}

where :math:`p(d)` is the probability that a patient given dose :math:`d` has at least one
event, :math:`d_\\mathrm{ref}` is the geometric mean of the positive tested doses (so
:math:`\\alpha` is the log-odds of an event at a typical tested dose) and :math:`c` is 0
when every tested dose is positive. A placebo arm (dose 0) has no logarithm, so when one
is present the offset is :math:`c = 0.1 \\times` the smallest positive dose.

Only the binary event (any event or none) is modelled. Event counts (``n_events``) are
validated, kept in the data and reported per dose by :meth:`SafetyData.by_dose`, but no
count model (Poisson or otherwise) is fitted: with a dozen patients and counts of 0 to 2
the counts add little beyond the binary event, and a count model needs its own
overdispersion assumptions.

:class:`SafetyFit` reads the posterior: the event probability at any dose (tested or not),
the probability that it exceeds a threshold, and the odds ratio per doubling of dose.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from pymc_extras.prior import Prior

from bayesdose.data import require_columns
from bayesdose.diagnostics import Diagnostics, diagnose
from bayesdose.errors import DataError, EstimandError, SpecError, describe_rows
from bayesdose.estimands import as_list, dose_status, summarise
from bayesdose.model import check_sampler_settings

PARAMETERS = ("alpha", "beta")
DEFAULT_PRIORS = {
    "alpha": Prior("Normal", mu=-1, sigma=1.5),
    "beta": Prior("Normal", mu=0, sigma=1),
}
MEANINGS = {
    "alpha": "log-odds of an event at the reference dose (geometric mean of tested doses)",
    "beta": "change in the log-odds of an event per e-fold (x 2.72) of dose",
}
REASONS = {
    "alpha": "Centres the event rate at the reference dose near 27% (expit(-1)), with a wide "
             "spread on the logit scale: the central 95% of the prior covers rates from "
             "about 2% to 87%, so the data, not the prior, set the rate.",
    "beta": "Centred on no dose effect, so the data decide the direction; the odds ratio "
            "per e-fold of dose lies within about exp(-2) to exp(2) (0.14 to 7.4) with 95% "
            "prior probability, i.e. 0.25 to 4 per doubling: strong but not extreme trends.",
}


# ---------------------------------------------------------------------- dose scale
@dataclass(frozen=True)
class LogDoseScale:
    """The dose covariate of the safety model: ``log((dose + offset) / reference)``.

    Attributes
    ----------
    reference : float
        Geometric mean of the positive tested doses.
    offset : float
        0 when every tested dose is positive; otherwise (placebo arm) 0.1 x the smallest
        positive dose, so that dose 0 has a finite logarithm.

    Examples
    --------
    >>> scale = LogDoseScale.from_doses([1, 10, 100])
    >>> scale.reference, scale.offset
    (10.0, 0.0)
    >>> LogDoseScale.from_doses([0, 1, 100]).offset
    0.1
    """

    reference: float
    offset: float

    @classmethod
    def from_doses(cls, doses: Sequence[float]) -> LogDoseScale:
        """The scale for a set of tested doses (at least one positive)."""
        values = np.asarray(doses, dtype=float)
        positive = values[values > 0]
        reference = float(np.exp(np.mean(np.log(positive))))
        offset = 0.0 if np.all(values > 0) else 0.1 * float(positive.min())
        return cls(reference=round(reference, 12), offset=offset)

    def transform(self, doses: Any) -> np.ndarray:
        """``log((dose + offset) / reference)`` for each dose."""
        return np.log((np.asarray(doses, dtype=float) + self.offset) / self.reference)

    def check(self, doses: Sequence[float]) -> None:
        """Raise :class:`EstimandError` for doses the model cannot evaluate."""
        negative = [d for d in doses if d < 0]
        if negative:
            raise EstimandError(f"dose(s) {negative} are negative; doses must be >= 0.")
        if self.offset == 0 and any(d == 0 for d in doses):
            raise EstimandError(
                "dose 0 is outside this model: no placebo arm was tested, so the model is "
                "linear in log dose with no offset and log(0) is undefined. Ask for a small "
                "positive dose instead, or fit data with a placebo arm."
            )


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class SafetyData:
    """Validated adverse-event data, one row per patient.

    Build it with :meth:`from_frame`; the constructor expects an already validated table.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``patient`` (str), ``dose`` (float), ``event`` (0/1 int), ``n_events``
        (float; NaN when no count column was given) and ``source_row`` (for messages).
    columns : dict
        The user's column names and the dose unit.

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events(),
    ...                              n_events="n_events")
    >>> data.doses, data.n_patients
    ([1.0, 10.0, 50.0], 12)
    """

    table: pd.DataFrame
    columns: dict[str, Any]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        patient: str = "patient",
        dose: str = "dose",
        event: str | None = "event",
        n_events: str | None = None,
        dose_unit: str | None = None,
    ) -> SafetyData:
        """Validate a one-row-per-patient table and build a :class:`SafetyData`.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table. Other columns (for example a description) are ignored.
        patient, dose : str
            Names of the patient id and dose columns. Doses are numbers >= 0 (0 for
            placebo).
        event : str or None
            Name of the 0/1 column (1 = the patient had at least one adverse event).
            None to derive it from ``n_events`` (event = n_events > 0).
        n_events : str, optional
            Name of a column counting each patient's events (non-negative integers).
            When both are given, event must be 1 exactly when n_events > 0.
        dose_unit : str, optional
            Unit of dose, used in labels (default: the dose column's name).

        Returns
        -------
        SafetyData

        Raises
        ------
        DataError
            On any malformed input; the message names the column and the rows. No row is
            dropped: a missing value is an error.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"id": ["a", "b", "c"], "mg": [1, 10, 10], "ae": [0, 0, 1]})
        >>> SafetyData.from_frame(df, patient="id", dose="mg", event="ae").by_dose()
           dose  n_patients  n_with_event
        0   1.0           1             0
        1  10.0           2             1
        """
        if event is None and n_events is None:
            raise DataError("name the event column (event=) or the event-count column "
                            "(n_events=), or both.")
        if len(frame) == 0:
            raise DataError("the adverse-event table is empty: it has no rows.")
        needed = [c for c in (patient, dose, event, n_events) if c is not None]
        require_columns(frame, needed, hint="patient=, dose=, event=, n_events=")
        labels = pd.Series([f"row {label}" for label in frame.index])
        frame = frame.reset_index(drop=True)
        table = pd.DataFrame({
            "patient": _patients(frame[patient], labels, patient),
            "dose": _doses(frame[dose], labels, dose),
        })
        counts = None if n_events is None else _counts(frame[n_events], labels, n_events)
        if event is None:
            table["event"] = (counts > 0).astype(int)
        else:
            table["event"] = _events(frame[event], labels, event)
            if counts is not None:
                _check_consistent(table["event"].to_numpy(), counts, labels, event, n_events)
        table["n_events"] = np.nan if counts is None else counts
        table["source_row"] = labels
        _check_unique_patients(table, patient)
        if table["dose"].nunique() < 2:
            raise DataError(f"column {dose!r} has a single dose ({table['dose'].iloc[0]:g}); "
                            "a dose-event model needs at least two distinct doses.")
        columns = {"patient": patient, "dose": dose, "event": event, "n_events": n_events,
                   "dose_unit": dose_unit or dose}
        return cls(table=table, columns=columns)

    @property
    def doses(self) -> list[float]:
        """The distinct tested doses, ascending."""
        return sorted(float(d) for d in self.table["dose"].unique())

    @property
    def patients(self) -> list[str]:
        """Patient ids in table order."""
        return self.table["patient"].tolist()

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self.table)

    @property
    def has_counts(self) -> bool:
        """Whether event counts were given."""
        return self.columns["n_events"] is not None

    @property
    def dose_unit(self) -> str:
        """Unit of dose."""
        return self.columns["dose_unit"]

    @property
    def scale(self) -> LogDoseScale:
        """The log-dose scale of the model (reference dose and placebo offset)."""
        return LogDoseScale.from_doses(self.doses)

    def by_dose(self) -> pd.DataFrame:
        """Patients and patients with an event per tested dose (and total events, if known).

        Returns
        -------
        pandas.DataFrame
            Columns dose, n_patients, n_with_event and, with counts, total_events.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events(),
        ...                              n_events="n_events")
        >>> data.by_dose()
           dose  n_patients  n_with_event  total_events
        0   1.0           4             0             0
        1  10.0           4             1             1
        2  50.0           4             3             5
        """
        grouped = self.table.groupby("dose", sort=True)
        out = pd.DataFrame({"n_patients": grouped.size(),
                            "n_with_event": grouped["event"].sum()})
        if self.has_counts:
            out["total_events"] = grouped["n_events"].sum().astype(int)
        out.index = out.index.astype(float)
        return out.rename_axis("dose").reset_index()


def _blank(raw: pd.Series) -> np.ndarray:
    text = raw.astype(object)
    return (raw.isna() | text.map(lambda v: isinstance(v, str) and v.strip() == "")).to_numpy()


def _fail(column: str, mask: np.ndarray, labels: pd.Series, problem: str, fix: str) -> None:
    if np.any(mask):
        rows = labels[mask].tolist()
        raise DataError(f"column {column!r} {problem} at {describe_rows(rows)}. {fix}")


def _numbers(raw: pd.Series, labels: pd.Series, column: str, what: str) -> np.ndarray:
    """Numbers from a column; blank, non-numeric or infinite values are errors."""
    blank = _blank(raw)
    _fail(column, blank, labels, "is empty",
          f"Every patient needs a {what}; fill it in (nothing is dropped silently).")
    text = raw.astype(object)
    values = pd.to_numeric(text, errors="coerce").astype(float).to_numpy()
    bad = np.isnan(values) & ~blank
    examples = ", ".join(repr(v) for v in pd.unique(text[bad])[:3])
    _fail(column, bad, labels, f"has non-numeric values ({examples})",
          "Use plain numbers (no units or text).")
    _fail(column, np.isinf(values), labels, "has infinite values", "Use finite numbers.")
    return values


def _patients(raw: pd.Series, labels: pd.Series, column: str) -> pd.Series:
    _fail(column, _blank(raw), labels, "is empty", "Every row needs a patient id.")
    return raw.astype(str).str.strip()


def _doses(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "dose")
    _fail(column, values < 0, labels, "has negative doses", "Doses must be >= 0 (0 for placebo).")
    return values


def _events(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "event indicator (0 or 1)")
    _fail(column, ~np.isin(values, (0.0, 1.0)), labels, "has values other than 0 and 1",
          "Code 1 for a patient with at least one adverse event and 0 otherwise.")
    return values.astype(int)


def _counts(raw: pd.Series, labels: pd.Series, column: str) -> np.ndarray:
    values = _numbers(raw, labels, column, "event count")
    bad = (values < 0) | (values != np.round(values))
    _fail(column, bad, labels, "has values that are not non-negative integers",
          "Give each patient's number of adverse events (0, 1, 2, ...).")
    return values


def _check_consistent(events: np.ndarray, counts: np.ndarray, labels: pd.Series,
                      event: str, n_events: str) -> None:
    _fail(event, events != (counts > 0), labels, f"disagrees with column {n_events!r}",
          f"{event!r} must be 1 exactly when {n_events!r} > 0.")


def _check_unique_patients(table: pd.DataFrame, column: str) -> None:
    dup = table["patient"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = table.loc[dup, "patient"].iloc[0]
        _fail(column, dup, table["source_row"],
              f"repeats patient ids (for example {first!r})",
              "Give one row per patient (sum a patient's events into n_events).")


# ---------------------------------------------------------------------- model
class SafetyModel:
    """Bayesian logistic regression of a per-patient adverse event on log dose.

    ``logit p(d) = alpha + beta * log((d + offset) / d_ref)``, where ``p(d)`` is the
    probability of at least one event at dose ``d``, ``d_ref`` is the geometric mean of
    the positive tested doses and ``offset`` is 0 when every tested dose is positive.
    Placebo (dose 0) needs the offset, since log(0) is undefined: with a placebo arm,
    ``offset = 0.1 x`` the smallest positive dose. Only the binary event is modelled;
    event counts are not (see the module docstring).

    Parameters
    ----------
    prior_intercept : Prior, optional
        Prior of ``alpha``, the log-odds of an event at the reference dose. Default
        ``Prior("Normal", mu=-1, sigma=1.5)``: the event rate at the reference dose is
        centred near 27% (expit(-1)) with a wide spread on the logit scale (95% prior
        range about 2% to 87%).
    prior_slope : Prior, optional
        Prior of ``beta``, the change in log-odds per e-fold of dose. Default
        ``Prior("Normal", mu=0, sigma=1)``: centred on no dose effect, with the odds
        ratio per e-fold of dose within about exp(-2) to exp(2) (95% prior probability).
    priors : mapping of str to Prior, optional
        Overrides by parameter name, ``"alpha"`` or ``"beta"`` (an alternative to the two
        arguments above; naming a parameter both ways is an error).

    Examples
    --------
    >>> from pymc_extras.prior import Prior
    >>> model = SafetyModel(priors={"beta": Prior("Normal", mu=0, sigma=0.5)})
    >>> model.prior_table()[["parameter", "prior", "default"]]
      parameter                              prior  default
    0     alpha  Prior("Normal", mu=-1, sigma=1.5)     True
    1      beta   Prior("Normal", mu=0, sigma=0.5)    False
    """

    def __init__(self, prior_intercept: Prior | None = None, prior_slope: Prior | None = None,
                 priors: Mapping[str, Prior] | None = None) -> None:
        given = dict(priors or {})
        unknown = sorted(set(given) - set(PARAMETERS))
        if unknown:
            raise SpecError(f"unknown prior name(s) {', '.join(map(repr, unknown))}; the "
                            f"safety model's parameters are {', '.join(PARAMETERS)}.")
        for name, value in (("alpha", prior_intercept), ("beta", prior_slope)):
            if value is None:
                continue
            if name in given:
                raise SpecError(f"the prior of {name!r} is given twice (as an argument and "
                                "in priors=); give it once.")
            given[name] = value
        for name, value in given.items():
            _check_prior(name, value)
        self.overrides = given
        self.priors = {name: given.get(name, DEFAULT_PRIORS[name]) for name in PARAMETERS}

    def __repr__(self) -> str:
        return (f"SafetyModel(alpha={self.priors['alpha']}, beta={self.priors['beta']})")

    def prior_table(self) -> pd.DataFrame:
        """Each parameter, its prior in force, whether it is the default, and why.

        Returns
        -------
        pandas.DataFrame
            Columns parameter, prior, default, meaning, reason.

        Examples
        --------
        >>> SafetyModel().prior_table()[["parameter", "prior"]]
          parameter                              prior
        0     alpha  Prior("Normal", mu=-1, sigma=1.5)
        1      beta     Prior("Normal", mu=0, sigma=1)
        """
        return pd.DataFrame([
            {"parameter": name, "prior": str(self.priors[name]),
             "default": name not in self.overrides, "meaning": MEANINGS[name],
             "reason": REASONS[name] if name not in self.overrides else "set by the user"}
            for name in PARAMETERS
        ])

    def build(self, data: SafetyData) -> pm.Model:
        """The PyMC model for ``data``.

        Its variables are ``alpha``, ``beta``, the observed ``event`` (dim patient) and
        the deterministic ``event_prob`` at the tested doses (dim dose).

        Parameters
        ----------
        data : SafetyData
            The adverse-event data.

        Returns
        -------
        pymc.Model

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> model = SafetyModel().build(data)
        >>> sorted(model.named_vars), model.named_vars_to_dims["event_prob"]
        (['alpha', 'beta', 'event', 'event_prob'], ('dose',))
        """
        scale = data.scale
        coords = {"patient": data.patients, "dose": data.doses}
        x_patient = scale.transform(data.table["dose"].to_numpy())
        x_dose = scale.transform(data.doses)
        with pm.Model(coords=coords) as model:
            alpha = self.priors["alpha"].create_variable("alpha")
            beta = self.priors["beta"].create_variable("beta")
            pm.Bernoulli("event", logit_p=alpha + beta * x_patient,
                         observed=data.table["event"].to_numpy(), dims="patient")
            pm.Deterministic("event_prob", pm.math.invlogit(alpha + beta * x_dose), dims="dose")
        return model

    def fit(
        self,
        data: SafetyData,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int = 1,
        target_accept: float = 0.9,
        progressbar: bool = False,
        cores: int | None = None,
    ) -> SafetyFit:
        """Sample the posterior with NUTS and return a :class:`SafetyFit`.

        Parameters
        ----------
        data : SafetyData
            The adverse-event data.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed; the same seed, data and model give the same draws.
        target_accept : float
            NUTS target acceptance rate.
        progressbar : bool
            Show PyMC's progress bar.
        cores : int, optional
            Parallel chains (default: min(chains, CPU count)).

        Returns
        -------
        SafetyFit

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> fit = SafetyModel().fit(data, draws=300, tune=300, chains=2)  # doctest: +SKIP
        >>> fit.event_probability(dose=[1, 25, 50])  # doctest: +SKIP
        """
        check_sampler_settings(draws, tune, chains, target_accept)
        cores = cores or min(chains, os.cpu_count() or 1)
        with self.build(data):
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores,
                              random_seed=random_seed, target_accept=target_accept,
                              progressbar=progressbar, idata_kwargs={"log_likelihood": True},
                              compute_convergence_checks=False)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept}
        return SafetyFit(data, idata, model=self, settings=settings)


def _check_prior(name: str, prior: Any) -> None:
    if not isinstance(prior, Prior):
        raise SpecError(f"the prior of {name!r} must be a pymc_extras.prior.Prior "
                        f"(got {type(prior).__name__}).")
    if prior.dims:
        raise SpecError(f"the prior of {name!r} must be scalar (no dims; got {prior.dims}).")


# ---------------------------------------------------------------------- fit
def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), without overflow.

    Examples
    --------
    >>> expit(np.array([0.0, 1000.0, -1000.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


class SafetyFit:
    """A fitted :class:`SafetyModel`: posterior draws and what to read from them.

    Every read-out is computed with NumPy from the draws of ``alpha`` and ``beta``, so it
    is available at any dose, tested or not.

    Parameters
    ----------
    data : SafetyData
        The data that were fitted (their doses set the log-dose scale).
    idata : arviz.InferenceData
        Its ``posterior`` must hold ``alpha`` and ``beta`` (dims chain, draw). A fit from
        :meth:`SafetyModel.fit` also has ``event_prob`` (dim dose), ``log_likelihood``,
        ``observed_data`` and ``sample_stats``.
    model : SafetyModel, optional
        The model that was fitted.
    settings : dict, optional
        Sampler settings and seed.

    Examples
    --------
    >>> import arviz as az, bayesdose as bd
    >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
    >>> idata = az.from_dict(posterior={"alpha": np.zeros((1, 4)), "beta": np.ones((1, 4))})
    >>> fit = SafetyFit(data, idata)
    >>> fit.event_probability(dose=data.scale.reference)["mean"].round(3).tolist()
    [0.5]
    """

    def __init__(self, data: SafetyData, idata: az.InferenceData,
                 model: SafetyModel | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        posterior = getattr(idata, "posterior", None)
        missing = [n for n in PARAMETERS if posterior is None or n not in posterior]
        if missing:
            raise DataError(f"the InferenceData has no posterior draws of "
                            f"{', '.join(map(repr, missing))}; it is not a safety-model fit.")
        self.data = data
        self.idata = idata
        self.model = model
        self.settings = dict(settings or {})

    def _draws(self, name: str) -> np.ndarray:
        return self.idata.posterior[name].transpose("chain", "draw").to_numpy()

    def _doses(self, dose: Any) -> list[float]:
        doses = as_list(dose, self.data.doses, "dose")
        self.data.scale.check(doses)
        return doses

    def event_probability_draws(self, dose: Any = None) -> xr.DataArray:
        """Posterior draws of the event probability at each dose.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).

        Returns
        -------
        xarray.DataArray
            Dims chain, draw, dose.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict(posterior=draws))  # fixed draws, no sampling
        >>> probs = fit.event_probability_draws(dose=[1, 50])
        >>> probs.dims, probs.shape
        (('chain', 'draw', 'dose'), (2, 4, 2))
        """
        doses = self._doses(dose)
        x = self.data.scale.transform(doses)
        logit = self._draws("alpha")[..., None] + self._draws("beta")[..., None] * x
        post = self.idata.posterior
        return xr.DataArray(expit(logit), dims=("chain", "draw", "dose"),
                            coords={"chain": post["chain"], "draw": post["draw"],
                                    "dose": doses}, name="event_prob")

    def event_probability(self, dose: Any = None, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Posterior probability of at least one adverse event at each dose.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses). Untested doses are
            allowed; ``dose_status`` says whether each is tested, interpolated or
            extrapolated.
        hdi_prob : float
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns dose, mean, sd, hdi_low, hdi_high, n_patients and n_events (patients
            observed at that dose and how many of them had an event; NaN for untested
            doses) and dose_status.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict(posterior=draws))  # fixed draws, no sampling
        >>> fit.event_probability(dose=[10, 25])[["dose", "n_patients", "dose_status"]]
           dose  n_patients   dose_status
        0  10.0         4.0        tested
        1  25.0         NaN  interpolated
        """
        draws = self.event_probability_draws(dose)
        stats = summarise(draws.to_numpy(), hdi_prob)
        table = pd.DataFrame({"dose": draws["dose"].to_numpy(), **stats})
        observed = self.data.by_dose().set_index("dose")
        tested = observed.index.to_numpy()
        n_patients, n_events = [], []
        for value in table["dose"]:
            match = np.isclose(value, tested)
            n_patients.append(float(observed["n_patients"].to_numpy()[match][0])
                              if match.any() else np.nan)
            n_events.append(float(observed["n_with_event"].to_numpy()[match][0])
                            if match.any() else np.nan)
        table["n_patients"] = n_patients
        table["n_events"] = n_events
        table["dose_status"] = dose_status(table["dose"].tolist(), self.data.doses)
        return table

    def prob_exceeds(self, threshold: float | Sequence[float], dose: Any = None) -> pd.DataFrame:
        """Posterior probability that the event probability at a dose exceeds a threshold.

        Parameters
        ----------
        threshold : float or sequence of float
            Event probabilities in (0, 1), for example 0.33 for a tolerability limit.
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).

        Returns
        -------
        pandas.DataFrame
            Columns dose, threshold, prob; one row per dose and threshold.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict(posterior=draws))  # fixed draws, no sampling
        >>> fit.prob_exceeds([0.2, 0.5], dose=50)
           dose  threshold   prob
        0  50.0        0.2  0.875
        1  50.0        0.5  0.500
        """
        thresholds = as_list(threshold, [], "threshold")
        outside = [t for t in thresholds if not 0 < t < 1]
        if outside:
            raise EstimandError(f"threshold(s) {outside} are not event probabilities strictly "
                                "between 0 and 1.")
        draws = self.event_probability_draws(dose)
        flat = draws.to_numpy().reshape(-1, draws.sizes["dose"])
        rows = [{"dose": d, "threshold": t, "prob": float((flat[:, i] > t).mean())}
                for i, d in enumerate(draws["dose"].to_numpy()) for t in thresholds]
        return pd.DataFrame(rows, columns=["dose", "threshold", "prob"])

    def odds_ratio_per_doubling(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """Posterior of the odds ratio of an event for doubling the dose, exp(beta log 2).

        With a placebo offset the ratio is exact for doubling ``dose + offset`` and close
        to it for doses well above the offset.

        Parameters
        ----------
        hdi_prob : float
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row: mean, sd, hdi_low, hdi_high, prob_gt_1 (posterior probability that
            the risk rises with dose, i.e. beta > 0).

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict(posterior=draws))  # fixed draws, no sampling
        >>> fit.odds_ratio_per_doubling()["prob_gt_1"].tolist()
        [0.875]
        """
        beta = self._draws("beta")
        ratio = np.exp(beta * np.log(2.0))
        stats = summarise(ratio[..., None], hdi_prob)
        row = {k: float(v[0]) for k, v in stats.items()}
        row["prob_gt_1"] = float((beta > 0).mean())
        return pd.DataFrame([row])

    def parameter_summary(self, hdi_prob: float = 0.95) -> pd.DataFrame:
        """ArviZ summary of alpha, beta and the event probability at the tested doses.

        Parameters
        ----------
        hdi_prob : float
            Probability of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (and per tested dose for ``event_prob``), with ArviZ's
            columns (mean, sd, HDI, MCSE, ESS, R-hat).

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict(posterior=draws))  # fixed draws, no sampling
        >>> fit.parameter_summary()["parameter"].tolist()
        ['alpha', 'beta']
        """
        names = [n for n in (*PARAMETERS, "event_prob") if n in self.idata.posterior]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = az.summary(self.idata, var_names=names, hdi_prob=hdi_prob)
        return table.rename_axis("parameter").reset_index()

    def diagnostics(self) -> Diagnostics:
        """R-hat, bulk/tail ESS, divergences, E-BFMI and tree depth, with a verdict.

        Returns
        -------
        Diagnostics
            See :func:`bayesdose.diagnostics.diagnose`.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> fit = SafetyModel().fit(data, draws=500, tune=500, chains=2)  # doctest: +SKIP
        >>> fit.diagnostics().ok  # doctest: +SKIP
        True
        """
        return diagnose(self.idata)

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (f"SafetyFit({self.data.n_patients} patients, doses {self.data.doses}, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws)")


def load_msc_safety() -> SafetyData:
    """The adverse events of the simulated MSC trial as :class:`SafetyData`.

    Twelve patients at 1, 10 and 50 million cells; four had an event (with counts).

    Returns
    -------
    SafetyData

    Examples
    --------
    >>> data = load_msc_safety()
    >>> data.by_dose()["n_with_event"].tolist()
    [0, 1, 3]
    """
    from bayesdose.datasets import load_msc_adverse_events

    return SafetyData.from_frame(load_msc_adverse_events(), n_events="n_events",
                                 dose_unit="million cells")


__all__ = ["LogDoseScale", "SafetyData", "SafetyFit", "SafetyModel", "expit", "load_msc_safety"]
