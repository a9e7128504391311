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

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
from pymc_extras.prior import Prior

from bayesdose.data.safety import SafetyCountData, SafetyData
from bayesdose.datasets import load_msc_adverse_events
from bayesdose.errors import SpecError
from bayesdose.inference.backends import (
    check_sampler_settings,
    resolve_sampler,
    sample_posterior,
)
from bayesdose.results.safety import PARAMETERS, SafetyCountFit, SafetyFit

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
        progressbar: bool | None = None,
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
        progressbar : bool, optional
            Show the sampler's progress bar (default: on a terminal only, see
            :func:`bayesdose.progress.resolve_progress`).
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
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": sampler}
        idata, settings = sample_safety(self.build(data), settings, cores, progressbar)
        return SafetyFit(data, idata, model=self, settings=settings)


def sample_safety(model: pm.Model, settings: dict[str, Any], cores: int | None,
                  progressbar: bool | None) -> tuple[Any, dict[str, Any]]:
    """Sample a safety model's posterior with the dose-response model's sampler settings.

    Parameters
    ----------
    model : pymc.Model
        The built model.
    settings : dict
        ``draws``, ``tune``, ``chains``, ``random_seed``, ``target_accept`` and
        ``sampler`` (``"auto"`` or a backend name), checked here.
    cores : int, optional
        Parallel chains (default: min(chains, CPU count)).
    progressbar : bool or None
        Show the sampler's progress bar (``None``: on a terminal only).

    Returns
    -------
    (xarray.DataTree, dict)
        The draws, and the settings with the backend that ran as ``sampler``.
    """
    check_sampler_settings(settings["draws"], settings["tune"], settings["chains"],
                           settings["target_accept"], settings["sampler"])
    settings = {**settings, "sampler": resolve_sampler(settings["sampler"])}
    idata = sample_posterior(model, settings["sampler"], draws=settings["draws"],
                             tune=settings["tune"], chains=settings["chains"],
                             random_seed=settings["random_seed"],
                             target_accept=settings["target_accept"], cores=cores,
                             progressbar=progressbar)
    return idata, settings


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
        progressbar: bool | None = None,
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
        progressbar : bool, optional
            Show the sampler's progress bar (default: on a terminal only, see
            :func:`bayesdose.progress.resolve_progress`).
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
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": sampler}
        idata, settings = sample_safety(self.build(data), settings, cores, progressbar)
        return SafetyCountFit(data, idata, model=self, settings={**settings,
                                                                 "family": self.family})
