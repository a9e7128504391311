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

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pymc as pm
from pymc_extras.prior import Prior

from bayesdose.data.safety import SafetyData
from bayesdose.datasets import load_msc_adverse_events
from bayesdose.errors import SpecError
from bayesdose.inference.backends import (
    check_sampler_settings,
    resolve_sampler,
    sample_posterior,
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
