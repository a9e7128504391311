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

:class:`SafetyModel` models the binary event (any event or none); the event counts of a
:class:`SafetyData` (``n_events``) are validated and reported per dose by
:meth:`SafetyData.by_dose`. :class:`SafetyFit` reads its posterior: the event probability
at any dose (tested or not), the probability that it exceeds a threshold, and the odds
ratio per doubling of dose.

When each patient's follow-up time is known, :class:`SafetyCountModel` models the counts
of a :class:`~bayesdose.data.safety.SafetyCountData` (per patient, or per patient and event
type) as Poisson or negative binomial with a log-exposure offset,

.. math::

    \\log \\lambda_k(d) = \\alpha_k + \\beta_k \\log\\frac{d + c}{d_\\mathrm{ref}},

on the same log-dose scale, with the event types' :math:`\\alpha_k` and :math:`\\beta_k`
partially pooled. :class:`SafetyCountFit` reads the event rate per unit exposure and the
rate ratio against a reference dose.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from pymc_extras.prior import Prior

from bayesdose.data.safety import SafetyCountData, SafetyData
from bayesdose.datasets import load_msc_adverse_events
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.inference.backends import (
    check_sampler_settings,
    resolve_sampler,
    sample_posterior,
)
from bayesdose.inference.trees import has_group
from bayesdose.results.diagnostics import Diagnostics, diagnose
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    dose_status,
    interval_label,
    summarise,
)
from bayesdose.results.safety import PARAMETERS, SafetyFit

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
        sampler: str = "auto",
    ) -> SafetyFit:
        """Sample the posterior with NUTS and return a :class:`SafetyFit`.

        Parameters
        ----------
        data : SafetyData
            The adverse-event data.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed; the same seed, data, model and sampler give the same draws.
        target_accept : float
            NUTS target acceptance rate.
        progressbar : bool
            Show the sampler's progress bar.
        cores : int, optional
            Parallel chains (default: min(chains, CPU count)).
        sampler : {"auto", "pymc", "nutpie", "numpyro", "blackjax"}
            NUTS implementation, as in :meth:`DoseResponseModel.fit
            <bayesdose.model.dose_response.DoseResponseModel.fit>` (through
            :func:`bayesdose.inference.backends.sample_posterior`): the default ``"auto"``
            takes nutpie when installed, else PyMC's own NUTS. The fit records the backend
            that ran (``fit.settings["sampler"]``).

        Returns
        -------
        SafetyFit

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> fit = SafetyModel().fit(data, draws=300, tune=300, chains=2)  # doctest: +SKIP
        >>> fit.event_probability(dose=[1, 25, 50])  # doctest: +SKIP
        >>> fit.settings["sampler"]  # doctest: +SKIP
        'nutpie'
        """
        check_sampler_settings(draws, tune, chains, target_accept, sampler)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": resolve_sampler(sampler)}
        idata = sample_posterior(self.build(data), settings["sampler"], draws=draws, tune=tune,
                                 chains=chains, random_seed=random_seed,
                                 target_accept=target_accept, cores=cores,
                                 progressbar=progressbar)
        return SafetyFit(data, idata, model=self, settings=settings)


def _check_prior(name: str, prior: Any) -> None:
    if not isinstance(prior, Prior):
        raise SpecError(f"the prior of {name!r} must be a pymc_extras.prior.Prior "
                        f"(got {type(prior).__name__}).")
    if prior.dims:
        raise SpecError(f"the prior of {name!r} must be scalar (no dims; got {prior.dims}).")


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

    return SafetyData.from_frame(load_msc_adverse_events(), n_events="n_events",
                                 dose_unit="million cells")


# ---------------------------------------------------------------------- event counts
#: Count families of :class:`SafetyCountModel`.
COUNT_FAMILIES = ("poisson", "negative_binomial")


COUNT_DEFAULT_PRIORS = {
    "alpha": Prior("Normal", mu=0, sigma=3),
    "beta": Prior("Normal", mu=0, sigma=1),
    "sigma_alpha": Prior("HalfNormal", sigma=1),
    "sigma_beta": Prior("HalfNormal", sigma=0.5),
    "dispersion": Prior("Gamma", alpha=2, beta=0.1),
}


COUNT_MEANINGS = {
    "alpha": "log event rate per unit exposure at the reference dose (with several event "
             "types: the mean of the types' log rates)",
    "beta": "change in the log event rate per e-fold (x 2.72) of dose (with several event "
            "types: the mean of the types' slopes)",
    "sigma_alpha": "SD of the event types' log rates at the reference dose (several types)",
    "sigma_beta": "SD of the event types' log-dose slopes (several types)",
    "dispersion": "negative binomial shape phi: variance = mean + mean^2 / phi",
}


COUNT_REASONS = {
    "alpha": "Centred on one event per unit exposure with a very wide spread: the central "
             "95% of the prior covers rates from about 0.003 to 360 per unit, so the data "
             "set the rate whether exposure is counted in days or in years.",
    "beta": "Centred on no dose effect, so the data decide the direction; the rate ratio "
            "per e-fold of dose lies within about exp(-2) to exp(2) (0.14 to 7.4) with 95% "
            "prior probability, i.e. 0.25 to 4 per doubling, as for the yes/no model.",
    "sigma_alpha": "Event types' rates at the reference dose typically differ by a factor "
                   "up to about exp(2) (7-fold) from their mean, allowing larger gaps; zero "
                   "(identical rates) is not excluded.",
    "sigma_beta": "Event types share most of their dose trend: their slopes typically lie "
                  "within about 1 of the mean slope (rate ratios per e-fold within a factor "
                  "of e of each other), and can be pulled together when the data agree.",
    "dispersion": "Gamma(2, 0.1) (Juarez and Steel, 2010): mean 20 with mass from about 2 "
                  "to 56, so strong over-dispersion (phi near 1) and near-Poisson counts "
                  "(large phi) are both allowed while phi near 0 (unbounded variance) is "
                  "ruled out.",
}


class SafetyCountModel:
    """Poisson or negative binomial regression of adverse-event counts on log dose.

    For patient ``i`` with dose ``d_i``, follow-up ``t_i`` and event type ``k``, the count
    has mean ``t_i * exp(alpha_k + beta_k * log((d_i + offset) / d_ref))``: ``log t_i`` is
    an offset, so ``exp(alpha_k)`` is the event rate per unit exposure at the reference
    dose ``d_ref`` (geometric mean of the positive tested doses) and ``beta_k`` is the
    change in log rate per e-fold of dose. The log-dose scale and its placebo offset are
    those of :class:`SafetyModel` (:class:`~bayesdose.data.safety.LogDoseScale`). With
    several event types, the intercepts and slopes are partially pooled, non-centred:
    ``alpha_k = mu_alpha + sigma_alpha * z_alpha_k`` with ``z_alpha_k ~ Normal(0, 1)``,
    and likewise for ``beta_k``; with one type, ``alpha`` and ``beta`` are plain
    parameters.

    Parameters
    ----------
    family : {"poisson", "negative_binomial"}
        Count distribution. The negative binomial has variance ``mean + mean^2 / phi``
        (``phi`` = ``dispersion``), for counts more variable between patients than a
        Poisson allows.
    priors : mapping of str to Prior, optional
        Overrides by name: ``"alpha"`` and ``"beta"`` (the parameters with one event
        type; with several, the means of the types' parameters), ``"sigma_alpha"`` and
        ``"sigma_beta"`` (the types' SDs, several types only) and ``"dispersion"``
        (negative binomial only). See :meth:`prior_table` for the defaults and reasons.

    Examples
    --------
    >>> model = SafetyCountModel(family="negative_binomial")
    >>> model.prior_table()["parameter"].tolist()
    ['alpha', 'beta', 'sigma_alpha', 'sigma_beta', 'dispersion']
    """

    def __init__(self, family: str = "poisson",
                 priors: Mapping[str, Prior] | None = None) -> None:
        if family not in COUNT_FAMILIES:
            raise SpecError(f"family must be one of {', '.join(map(repr, COUNT_FAMILIES))} "
                            f"(got {family!r}).")
        self.family = family
        names = self.parameters
        given = dict(priors or {})
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise SpecError(f"unknown prior name(s) {', '.join(map(repr, unknown))}; the "
                            f"{family} count model's parameters are {', '.join(names)}.")
        for name, value in given.items():
            _check_prior(name, value)
        self.overrides = given
        self.priors = {name: given.get(name, COUNT_DEFAULT_PRIORS[name]) for name in names}

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the parameters that have a prior, for this family."""
        names = ("alpha", "beta", "sigma_alpha", "sigma_beta")
        return (*names, "dispersion") if self.family == "negative_binomial" else names

    def __repr__(self) -> str:
        return f"SafetyCountModel(family={self.family!r})"

    def prior_table(self) -> pd.DataFrame:
        """Each parameter, its prior in force, whether it is the default, and why.

        Returns
        -------
        pandas.DataFrame
            Columns parameter, prior, default, meaning, reason.

        Examples
        --------
        >>> SafetyCountModel().prior_table()[["parameter", "prior"]]
             parameter                           prior
        0        alpha  Prior("Normal", mu=0, sigma=3)
        1         beta  Prior("Normal", mu=0, sigma=1)
        2  sigma_alpha    Prior("HalfNormal", sigma=1)
        3   sigma_beta  Prior("HalfNormal", sigma=0.5)
        """
        return pd.DataFrame([
            {"parameter": name, "prior": str(self.priors[name]),
             "default": name not in self.overrides, "meaning": COUNT_MEANINGS[name],
             "reason": COUNT_REASONS[name] if name not in self.overrides else "set by the user"}
            for name in self.parameters
        ])

    def build(self, data: SafetyCountData) -> pm.Model:
        """The PyMC model for ``data``.

        Its variables are ``alpha`` and ``beta`` (scalars with one event type; with
        several, deterministics of dim event_type built from ``mu_*``, ``sigma_*`` and
        ``z_*``), ``dispersion`` (negative binomial), the observed ``count`` (dim row) and
        the deterministic ``event_rate`` per unit exposure (dims event_type, dose).

        Parameters
        ----------
        data : SafetyCountData
            The event counts.

        Returns
        -------
        pymc.Model

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 5], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> sorted(SafetyCountModel().build(data).named_vars)
        ['alpha', 'beta', 'count', 'event_rate']
        """
        table = data.table
        types = data.event_types
        type_index = pd.Categorical(table["event_type"], categories=types).codes
        coords = {"row": table["source_row"].tolist(), "event_type": types,
                  "dose": data.doses}
        x_row = data.scale.transform(table["dose"].to_numpy())
        x_dose = data.scale.transform(data.doses)
        with pm.Model(coords=coords) as model:
            alpha, beta = self._coefficients(len(types))
            log_mu = (alpha[type_index] + beta[type_index] * x_row
                      + np.log(table["exposure"].to_numpy()))
            observed = table["count"].to_numpy()
            if self.family == "poisson":
                pm.Poisson("count", mu=pm.math.exp(log_mu), observed=observed, dims="row")
            else:
                phi = self.priors["dispersion"].create_variable("dispersion")
                pm.NegativeBinomial("count", mu=pm.math.exp(log_mu), alpha=phi,
                                    observed=observed, dims="row")
            pm.Deterministic("event_rate", pm.math.exp(alpha[:, None] + beta[:, None] * x_dose),
                             dims=("event_type", "dose"))
        return model

    def _coefficients(self, n_types: int) -> tuple[Any, Any]:
        """Per-type intercepts and slopes (vectors of length ``n_types``)."""
        if n_types == 1:
            alpha = self.priors["alpha"].create_variable("alpha")
            beta = self.priors["beta"].create_variable("beta")
            return alpha[None], beta[None]
        return self._pooled("alpha"), self._pooled("beta")

    def _pooled(self, name: str) -> Any:
        """A non-centred hierarchical Normal across event types."""
        mu = self.priors[name].create_variable(f"mu_{name}")
        sigma = self.priors[f"sigma_{name}"].create_variable(f"sigma_{name}")
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims="event_type")
        return pm.Deterministic(name, mu + sigma * z, dims="event_type")

    def fit(
        self,
        data: SafetyCountData,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int = 1,
        target_accept: float = 0.9,
        progressbar: bool = False,
        cores: int | None = None,
        sampler: str = "auto",
    ) -> SafetyCountFit:
        """Sample the posterior with NUTS and return a :class:`SafetyCountFit`.

        Parameters
        ----------
        data : SafetyCountData
            The event counts.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed; the same seed, data, model and sampler give the same draws.
        target_accept : float
            NUTS target acceptance rate.
        progressbar : bool
            Show the sampler's progress bar.
        cores : int, optional
            Parallel chains (default: min(chains, CPU count)).
        sampler : {"auto", "pymc", "nutpie", "numpyro", "blackjax"}
            NUTS implementation, as in :meth:`SafetyModel.fit`. The fit records the
            backend that ran (``fit.settings["sampler"]``).

        Returns
        -------
        SafetyCountFit

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 5], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> fit = SafetyCountModel().fit(data, draws=300, tune=300, chains=2)  # doctest: +SKIP
        >>> fit.rate_ratio()  # doctest: +SKIP
        """
        check_sampler_settings(draws, tune, chains, target_accept, sampler)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": resolve_sampler(sampler),
                    "family": self.family}
        idata = sample_posterior(self.build(data), settings["sampler"], draws=draws, tune=tune,
                                 chains=chains, random_seed=random_seed,
                                 target_accept=target_accept, cores=cores,
                                 progressbar=progressbar)
        return SafetyCountFit(data, idata, model=self, settings=settings)


class SafetyCountFit:
    """A fitted :class:`SafetyCountModel`: event rates and rate ratios by dose.

    Every read-out is computed with NumPy from the draws of ``alpha`` and ``beta``, so it
    is available at any dose, tested or not.

    Parameters
    ----------
    data : SafetyCountData
        The data that were fitted (their doses set the log-dose scale).
    idata : xarray.DataTree
        Its ``posterior`` must hold ``alpha`` and ``beta`` (dims chain, draw and, with
        several event types, event_type).
    model : SafetyCountModel, optional
        The model that was fitted.
    settings : dict, optional
        Sampler settings and seed.

    Examples
    --------
    >>> import arviz as az, pandas as pd
    >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
    ...                    "exposure": [2.0, 1.0]})
    >>> data = SafetyCountData.from_frame(df)
    >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
    ...                                      "beta": np.full((1, 4), 0.5)}})
    >>> fit = SafetyCountFit(data, idata)
    >>> fit.rate_ratio()[["event_type", "dose", "reference", "mean", "prob_gt_1"]]
      event_type  dose  reference  mean  prob_gt_1
    0        any   4.0        1.0   2.0        1.0
    """

    def __init__(self, data: SafetyCountData, idata: Any,
                 model: SafetyCountModel | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        posterior = idata["posterior"] if has_group(idata, "posterior") else None
        missing = [n for n in ("alpha", "beta") if posterior is None or n not in posterior]
        if missing:
            raise DataError(f"the sampling results have no posterior draws of "
                            f"{', '.join(map(repr, missing))}; it is not a count-model fit.")
        self.data = data
        self.idata = idata
        self.model = model
        self.settings = dict(settings or {})

    def _draws(self, name: str) -> np.ndarray:
        """Draws ``(chain, draw, event_type)``; a scalar parameter is shared by all types."""
        values = self.idata["posterior"][name]
        if "event_type" in values.dims:
            return values.transpose("chain", "draw", "event_type").to_numpy()
        array = values.transpose("chain", "draw").to_numpy()[..., None]
        return np.broadcast_to(array, (*array.shape[:2], len(self.data.event_types)))

    def _doses(self, dose: Any) -> list[float]:
        doses = as_list(dose, self.data.doses, "dose")
        self.data.scale.check(doses)
        return doses

    def _types(self, event_type: str | Sequence[str] | None) -> list[str]:
        known = self.data.event_types
        if event_type is None:
            return known
        wanted = [event_type] if isinstance(event_type, str) else list(event_type)
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise EstimandError(f"unknown event type(s) {unknown}; the data have "
                                f"{', '.join(map(repr, known))}.")
        return wanted

    def log_rate_draws(self, dose: Any = None,
                       event_type: str | Sequence[str] | None = None) -> np.ndarray:
        """Draws of the log event rate per unit exposure, ``(chain, draw, type, dose)``.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).
        event_type : str or sequence of str, optional
            Event types (default: all).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import arviz as az, pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
        ...                                      "beta": np.ones((1, 4))}})
        >>> SafetyCountFit(data, idata).log_rate_draws(dose=[1, 4]).shape
        (1, 4, 1, 2)
        """
        x = self.data.scale.transform(self._doses(dose))
        index = [self.data.event_types.index(t) for t in self._types(event_type)]
        alpha = self._draws("alpha")[..., index]
        beta = self._draws("beta")[..., index]
        return alpha[..., None] + beta[..., None] * x

    def event_rate(self, dose: Any = None, event_type: str | Sequence[str] | None = None,
                   ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior event rate per unit exposure at each dose and event type.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).
        event_type : str or sequence of str, optional
            Event types (default: all).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns event_type, dose, mean, sd, median, ci_low, ci_high (events per unit
            exposure), crude_rate (observed events / exposure; NaN at untested doses) and
            dose_status; ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> import arviz as az, pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
        ...                                      "beta": np.ones((1, 4))}})
        >>> SafetyCountFit(data, idata).event_rate()[["dose", "mean", "crude_rate"]]
           dose  mean  crude_rate
        0   1.0   0.5         0.5
        1   4.0   2.0         3.0
        """
        check_interval(ci_prob, ci_kind)
        doses, types = self._doses(dose), self._types(event_type)
        stats = summarise(np.exp(self.log_rate_draws(doses, types)), ci_prob, ci_kind)
        table = _tidy(stats, types, doses)
        crude = self.data.by_dose().set_index(["event_type", "dose"])["crude_rate"]
        table["crude_rate"] = [_lookup(crude, t, d) for t, d in
                               zip(table["event_type"], table["dose"], strict=True)]
        table["dose_status"] = dose_status(table["dose"].tolist(), self.data.doses)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def rate_ratio(self, dose: Any = None, reference: float | None = None,
                   event_type: str | Sequence[str] | None = None, ci_prob: float = 0.95,
                   ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior rate ratio of each dose against a reference dose, per event type.

        The ratio ``exp(beta_k * (x(dose) - x(reference)))`` does not depend on the
        exposure unit.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses other than the reference).
        reference : float, optional
            Reference dose (default: the lowest tested dose).
        event_type : str or sequence of str, optional
            Event types (default: all).
        ci_prob : float
            Probability of the credible interval (default 0.95).
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns event_type, dose, reference, mean, sd, median, ci_low, ci_high and
            prob_gt_1 (posterior probability that the rate at the dose exceeds the rate at
            the reference); ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> import arviz as az, pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b", "c"], "dose": [1, 2, 4],
        ...                    "n_events": [1, 3, 2], "exposure": [2.0, 1.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 2)),
        ...                                      "beta": np.array([[1.0, -1.0]])}})
        >>> SafetyCountFit(data, idata).rate_ratio(reference=2)[["dose", "prob_gt_1"]]
           dose  prob_gt_1
        0   1.0        0.5
        1   4.0        0.5
        """
        check_interval(ci_prob, ci_kind)
        ref = self.data.doses[0] if reference is None else float(reference)
        self.data.scale.check([ref])
        default = [d for d in self.data.doses if not np.isclose(d, ref)]
        doses, types = self._doses(dose if dose is not None else default), self._types(event_type)
        log_ratio = (self.log_rate_draws(doses, types)
                     - self.log_rate_draws([ref], types))
        stats = summarise(np.exp(log_ratio), ci_prob, ci_kind)
        stats["prob_gt_1"] = (log_ratio > 0).reshape((-1, *log_ratio.shape[2:])).mean(axis=0)
        table = _tidy(stats, types, doses)
        table.insert(2, "reference", ref)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def parameter_summary(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """ArviZ summary of the model's parameters and the event rates at the tested doses.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (and element), with ArviZ's columns.

        Examples
        --------
        >>> import arviz as az, pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
        ...                                      "beta": np.ones((1, 4))}})
        >>> SafetyCountFit(data, idata).parameter_summary()["parameter"].tolist()
        ['alpha', 'beta']
        """
        check_interval(ci_prob, ci_kind)
        names = [n for n in ("alpha", "beta", "mu_alpha", "mu_beta", "sigma_alpha",
                             "sigma_beta", "dispersion", "event_rate")
                 if n in self.idata["posterior"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = az.summary(self.idata, var_names=names, ci_prob=ci_prob, ci_kind=ci_kind,
                               round_to="none")
        return table.rename_axis("parameter").reset_index()

    def diagnostics(self) -> Diagnostics:
        """R-hat, bulk/tail ESS, divergences, E-BFMI and tree depth, with a verdict.

        Returns
        -------
        Diagnostics
            See :func:`bayesdose.results.diagnostics.diagnose`.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = SafetyCountData.from_frame(df)
        >>> fit = SafetyCountModel().fit(data, draws=500, tune=500, chains=2)  # doctest: +SKIP
        >>> fit.diagnostics().ok  # doctest: +SKIP
        True
        """
        return diagnose(self.idata)

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        family = self.settings.get("family", self.model.family if self.model else "?")
        return (f"SafetyCountFit({family}, {self.data.n_patients} patients, "
                f"{len(self.data.event_types)} event type(s), doses {self.data.doses}, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws)")


def _tidy(stats: Mapping[str, np.ndarray], types: Sequence[str],
          doses: Sequence[float]) -> pd.DataFrame:
    """Flatten ``(type, dose)`` arrays of statistics into a tidy DataFrame."""
    index = pd.MultiIndex.from_product([list(types), [float(d) for d in doses]],
                                       names=["event_type", "dose"])
    frame = pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in stats.items()}, index=index)
    return frame.reset_index()


def _lookup(crude: pd.Series, event_type: str, dose: float) -> float:
    """The crude rate of a tested dose and type, NaN otherwise."""
    rows = crude.loc[event_type] if event_type in crude.index.get_level_values(0) else None
    if rows is None:
        return np.nan
    match = np.isclose(rows.index.to_numpy(dtype=float), dose)
    return float(rows.to_numpy()[match][0]) if match.any() else np.nan
