"""A posterior view: what the read-outs need from a fit (the draws, the model's shapes, its
inputs and the outcomes' metadata), so that they are functions of draws, not of the fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from numbers import Real
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import xarray as xr

from bayesdose.components.graph import course_mask
from bayesdose.components.inputs import ModelInputs
from bayesdose.components.shapes import (
    DoseShape,
    Emax,
    ExponentialDose,
    Linear,
    LogLinear,
    Monotone,
    SigmoidEmax,
)
from bayesdose.components.timecourses import TimeShape
from bayesdose.data.trial import OutcomeInfo, TrialData
from bayesdose.errors import EstimandError
from bayesdose.results.estimands import credible_interval, effect_draws

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.model.dose_response import DoseResponseModel

#: The scales effects are reported on: outcome units or standardised (outcome SDs).
SCALES = ("outcome", "standardised")

#: An estimand whose posterior interval is wider than this fraction of its prior interval
#: (``prior_width_ratio``) is flagged ``prior_dominated``: the data narrowed it by less
#: than 10%, so what the table shows is mostly the prior.
PRIOR_DOMINATED_RATIO = 0.9

#: Dose shapes whose curve is monotone in dose whatever the data (the data decide the
#: direction only, through the sign of ``delta``; ``monotone`` fixes even that).
MONOTONE_BY_CONSTRUCTION = (Linear, LogLinear, Emax, SigmoidEmax, ExponentialDose, Monotone)


@dataclass(frozen=True, eq=False)
class PosteriorView:
    """The draws of a dose-response model and what is needed to read estimands from them.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws of the model's variables with dims chain, draw, outcome (...): a fit's
        posterior, or the prior's draws.
    dose_shape, time_shape : DoseShape, TimeShape
        The model's dose shape and time course of the dose effect.
    inputs : ModelInputs
        The model's inputs for the data (outcomes, doses, visits, scales, likelihoods,
        families, the observations).
    outcome_info : mapping of str to OutcomeInfo
        The metadata (direction, MCID, ...) of every outcome in ``inputs``.
    prior : xarray.Dataset, optional
        Draws of the same variables from the prior (a fit's ``prior`` group), against
        which the read-outs measure how much the data narrowed an estimand
        (:func:`compare_to_prior`); None when there are none.

    Notes
    -----
    A :class:`~bayesdose.results.fit.DoseResponseFit` gives its own as
    :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`; :meth:`from_model`
    makes one from any draws of a model's variables. The read-outs are functions of a
    view (:mod:`bayesdose.results.readouts`, :mod:`bayesdose.results.dose_estimands`,
    :func:`bayesdose.results.signal.signal_test`).

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    >>> model = bd.DoseResponseModel()
    >>> prior = model.sample_prior_predictive(data, draws=100)
    >>> view = PosteriorView.from_model(model, data, prior.prior)
    >>> view.outcomes, view.families()
    (['koos_pain', 'womac_pain'], {'PROM': ['koos_pain', 'womac_pain']})
    """

    posterior: xr.Dataset
    dose_shape: DoseShape
    time_shape: TimeShape
    inputs: ModelInputs
    outcome_info: Mapping[str, OutcomeInfo]
    prior: xr.Dataset | None = None

    @classmethod
    def from_model(cls, model: DoseResponseModel, data: TrialData,
                   posterior: xr.Dataset, prior: xr.Dataset | None = None) -> PosteriorView:
        """The view of draws of ``model`` fitted (or to be fitted) to ``data``.

        Parameters
        ----------
        model : DoseResponseModel
            The model whose variables were drawn.
        data : TrialData
            The trial data (the model's outcomes of it are used).
        posterior : xarray.Dataset
            Draws with dims chain, draw, outcome (for example ``idata.posterior``, or the
            ``prior`` group of :meth:`DoseResponseModel.sample_prior_predictive`).
        prior : xarray.Dataset, optional
            Prior draws of the same variables (a fit's ``prior`` group).

        Returns
        -------
        PosteriorView
        """
        inputs = model.inputs(data)
        return cls(posterior=posterior, dose_shape=model.dose_shape,
                   time_shape=model.time_shape, inputs=inputs,
                   outcome_info={name: data.info(name) for name in inputs.outcomes},
                   prior=prior)

    def prior_view(self) -> PosteriorView | None:
        """The same view of the prior draws (None when the view has none).

        A read-out computed on it is the read-out the prior alone gives, the yardstick
        of :func:`compare_to_prior`.

        Returns
        -------
        PosteriorView or None
        """
        if self.prior is None:
            return None
        return replace(self, posterior=self.prior, prior=None)

    @property
    def monotone_by_construction(self) -> bool:
        """Whether the dose shape is monotone in dose whatever the data.

        True for ``linear``, ``log_linear``, ``emax``, ``sigmoid_emax``, ``exponential``
        (one sign for the whole curve, that of ``delta``) and ``monotone`` (non-negative
        increments in a fixed direction); False for ``free``, ``quadratic`` and
        registered shapes. For these shapes a probability that the response rises with
        dose is not evidence that it does.

        Returns
        -------
        bool
        """
        return isinstance(self.dose_shape, MONOTONE_BY_CONSTRUCTION)

    @property
    def direction_by_construction(self) -> str | None:
        """``"increasing"`` or ``"decreasing"`` when the dose shape fixes the direction
        of every dose step whatever the data (the ``monotone`` shape: its contrasts
        against lower doses are improvements, or worsenings, with probability 1 by
        construction), else None.

        Returns
        -------
        str or None
        """
        if isinstance(self.dose_shape, Monotone):
            return self.dose_shape.direction
        return None

    # ------------------------------------------------------------------ outcomes
    @property
    def outcomes(self) -> list[str]:
        """The outcomes, in the order of the draws."""
        return list(self.inputs.outcomes)

    def info(self, outcome: str) -> OutcomeInfo:
        """The :class:`~bayesdose.data.trial.OutcomeInfo` of one outcome.

        Parameters
        ----------
        outcome : str
            An outcome of the view.

        Returns
        -------
        OutcomeInfo
        """
        return self.outcome_info[outcome]

    def outcome_index(self, outcome: str | list[str] | None) -> list[int]:
        """Positions of the chosen outcomes among :attr:`outcomes` (default: all).

        Parameters
        ----------
        outcome : str or list of str, optional
            Outcome names.

        Returns
        -------
        list of int

        Raises
        ------
        EstimandError
            When an outcome is not in the view.
        """
        outcomes = self.outcomes
        if outcome is None:
            return list(range(len(outcomes)))
        names = [outcome] if isinstance(outcome, str) else list(outcome)
        unknown = [n for n in names if n not in outcomes]
        if unknown:
            raise EstimandError(f"outcome(s) {', '.join(map(repr, unknown))} not in this fit "
                                f"(fitted: {', '.join(map(repr, outcomes))}).")
        return [outcomes.index(n) for n in names]

    def outcome_names(self, outcome: str | list[str] | None) -> list[str]:
        """The chosen outcomes, checked (default: all), in the order given.

        Parameters
        ----------
        outcome : str or list of str, optional
            Outcome names.

        Returns
        -------
        list of str
        """
        outcomes = self.outcomes
        return [outcomes[i] for i in self.outcome_index(outcome)]

    # ------------------------------------------------------------------ scales
    def unit(self, scale: str) -> np.ndarray:
        """Per outcome, the factor from the standardised, direction-aligned scale to
        ``scale`` (``sd * sign`` for outcome units, ones for the standardised scale).

        Parameters
        ----------
        scale : {"outcome", "standardised"}

        Returns
        -------
        numpy.ndarray
        """
        if scale not in SCALES:
            raise EstimandError(f"scale must be one of {', '.join(SCALES)} (got {scale!r}).")
        sc = self.inputs.scales
        return sc.sd * sc.sign if scale == "outcome" else np.ones_like(sc.sd)

    def elapsed(self, times: list[float]) -> list[float]:
        """Times since baseline of times in the user's units (none before baseline).

        Parameters
        ----------
        times : list of float

        Returns
        -------
        list of float
        """
        base = self.inputs.baseline_time
        early = [t for t in times if t < base]
        if early:
            raise EstimandError(f"time(s) {early} are before the baseline time {base:g}.")
        return [t - base for t in times]

    def reference_dose(self, reference: Any = None) -> float:
        """The dose effects and contrasts are measured against.

        Parameters
        ----------
        reference : float, optional
            A dose in the user's units (default: the lowest tested dose, which is dose 0
            when a placebo arm was tested).

        Returns
        -------
        float

        Raises
        ------
        EstimandError
            When ``reference`` is not one finite dose >= 0.
        """
        if reference is None:
            return float(min(self.inputs.doses))
        values = np.atleast_1d(np.asarray(reference, dtype=float)) if _numeric(reference) \
            else np.array([])
        if values.size != 1 or not np.isfinite(values[0]) or values[0] < 0:
            raise EstimandError(f"reference must be one dose (a finite number >= 0), got "
                                f"{reference!r}.")
        return float(values[0])

    def reference_status(self, reference: Any = None) -> str:
        """Whether the reference dose was tested, or lies between (interpolated) or beyond
        (extrapolated) the tested doses (as ``dose_status`` in the effect tables).

        Parameters
        ----------
        reference : float, optional
            The reference dose (default: the lowest tested dose).

        Returns
        -------
        str
            ``"tested"``, ``"interpolated"`` or ``"extrapolated"``.
        """
        dose = self.reference_dose(reference)
        tested = np.asarray(self.inputs.doses, dtype=float)
        if np.isclose(dose, tested).any():
            return "tested"
        return "interpolated" if tested.min() < dose < tested.max() else "extrapolated"

    def versus(self, reference: Any = None) -> str:
        """What effects are measured against, in words.

        Parameters
        ----------
        reference : float, optional
            The reference dose (default: the lowest tested dose: placebo when a placebo
            arm was tested).

        Returns
        -------
        str
            ``"dose 0 (tested)"`` with a placebo arm; without one, by default
            ``"dose <d> (lowest tested; no placebo arm)"``; a reference that was not
            tested is said to be interpolated or extrapolated by the dose shape.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> model = bd.DoseResponseModel()
        >>> view = PosteriorView.from_model(model, data, model.sample_prior_predictive(
        ...     data, draws=10).prior)
        >>> view.versus()
        'dose 1 (lowest tested; no placebo arm)'
        >>> view.versus(0)
        'dose 0 (not tested: extrapolated by the dose shape)'
        """
        dose = self.reference_dose(reference)
        status = self.reference_status(dose)
        if status != "tested":
            return f"dose {dose:g} (not tested: {status} by the dose shape)"
        if np.isclose(dose, min(self.inputs.doses)) and not self.inputs.dose_scale.has_zero:
            return f"dose {dose:g} (lowest tested; no placebo arm)"
        return f"dose {dose:g} (tested)"

    # ------------------------------------------------------------------ common course
    def common_course(self, outcome: str | list[str] | None = None,
                      times: list[float] | None = None) -> xr.DataArray:
        """Draws of the common course h(t), the expected change at dose 0 (standardised
        scale), as the model has it.

        The model's ``course`` is the change at the lowest tested dose (at dose 0 with
        placebo), which the data identify whatever the dose shape says below it; the
        change at dose 0 is that minus f(d_low) g(t), the effect of the lowest dose
        against dose 0 extrapolated by the dose shape. At the first visit of an ordinal
        outcome the model sets ``course`` to 0 (its cutpoints absorb the level there:
        :func:`bayesdose.components.graph.course_mask`), so the ``course`` draws there
        are the prior's alone and are replaced by 0 here.

        Parameters
        ----------
        outcome : str or list of str, optional
            Outcomes (default: all).
        times : list of float, optional
            Visits (default: all).

        Returns
        -------
        xarray.DataArray
            Dims chain, draw, outcome, time.
        """
        names = self.outcome_names(outcome)
        mask = xr.DataArray(course_mask(self.inputs), dims=("outcome", "time"),
                            coords={"outcome": self.outcomes,
                                    "time": list(self.inputs.visits)})
        course = self.posterior["course"] * mask.reindex_like(self.posterior["course"])
        course = course.sel(outcome=names)
        if times is not None:
            course = course.sel(time=times)
        course = course.transpose("chain", "draw", "outcome", "time")
        scale = self.inputs.dose_scale
        if scale.lowest == 0:
            return course
        index = [self.outcomes.index(n) for n in names]
        lowest = effect_draws(self.posterior.isel(outcome=index), self.dose_shape,
                              self.time_shape, scale, self.inputs.time_scale,
                              [scale.lowest], self.elapsed(list(course["time"].values)),
                              np.ones(len(index)))[:, :, :, 0, :]
        return course - lowest

    # ------------------------------------------------------------------ MCIDs
    def mcids(self, names: list[str], mcid: float | dict[str, float] | None) -> np.ndarray:
        """The MCID of each outcome (outcome units; NaN where there is none).

        Parameters
        ----------
        names : list of str
            Outcomes.
        mcid : float or dict, optional
            One MCID for all, MCIDs by outcome (the others declared), or None (declared).

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        EstimandError
            When ``mcid`` names other outcomes or an MCID is not positive.
        """
        if isinstance(mcid, dict):
            unknown = [k for k in mcid if k not in names]
            if unknown:
                raise EstimandError(f"mcid names outcome(s) {unknown} not in this contrast.")
            values = [mcid.get(n, self.info(n).mcid) for n in names]
        elif mcid is None:
            values = [self.info(n).mcid for n in names]
        else:
            values = [mcid] * len(names)
        out = np.array([np.nan if v is None else float(v) for v in values])
        if np.any(out[~np.isnan(out)] <= 0):
            raise EstimandError("mcid must be positive (in outcome units); the outcome's "
                                "direction decides which way is better.")
        return out

    def mcid_scale(self, name: str, scale: str) -> str:
        """What the effects (and so the MCID) of an outcome are measured in.

        Parameters
        ----------
        name : str
            Outcome.
        scale : {"outcome", "standardised"}

        Returns
        -------
        str
        """
        if scale == "standardised":
            return "outcome SDs"
        return {"lognormal": "change in log value", "ordinal": "latent logits"}.get(
            self.inputs.likelihoods[name].name, "outcome units")

    # ------------------------------------------------------------------ families
    def families(self) -> dict[str, list[str]]:
        """The outcomes of each family (an outcome without family is its own).

        Returns
        -------
        dict of str to list of str
            Family name to its outcomes, in the order of :attr:`outcomes`.
        """
        out: dict[str, list[str]] = {}
        for outcome, index in zip(self.outcomes, self.inputs.family_idx, strict=True):
            out.setdefault(self.inputs.families[index], []).append(outcome)
        return out

    def family_members(self, family: str | None) -> dict[str, list[str]]:
        """One family and its outcomes (default: every family).

        Parameters
        ----------
        family : str, optional

        Returns
        -------
        dict of str to list of str

        Raises
        ------
        EstimandError
            When there is no such family.
        """
        groups = self.families()
        if family is None:
            return groups
        if family not in groups:
            raise EstimandError(f"family {family!r} not in this fit (families: "
                                f"{', '.join(map(repr, groups))}).")
        return {family: groups[family]}


def _numeric(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool) or a sequence of them."""
    items = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
    return all(isinstance(v, (Real, np.number)) and not isinstance(v, (bool, np.bool_))
               for v in items)


def _width(samples: np.ndarray, ci_prob: float, ci_kind: str, log: bool) -> float:
    """Width of the credible interval of one estimand's draws (1-D); on the log scale over
    the finite positive draws when ``log``; NaN with fewer than two usable draws."""
    values = np.asarray(samples, dtype=float).reshape(-1)
    if log:
        values = values[np.isfinite(values) & (values > 0)]
        values = np.log(values)
    else:
        values = values[np.isfinite(values)]
    if values.size < 2:
        return np.nan
    low, high = credible_interval(values, ci_prob, ci_kind)
    return float(high - low)


def compare_to_prior(posterior: np.ndarray, prior: np.ndarray | None, ci_prob: float,
                     ci_kind: str = "eti", log: bool = False) -> dict[str, np.ndarray]:
    """How much the data narrowed an estimand: its posterior interval width over the width
    of the same estimand's interval under the prior.

    Parameters
    ----------
    posterior : numpy.ndarray
        Posterior draws of the estimand, chains and draws on the first two axes (as
        :func:`bayesdose.results.estimands.summarise` takes them), any trailing axes.
    prior : numpy.ndarray or None
        The same estimand computed on the prior draws (same trailing axes; the number of
        draws may differ), or None when there are no prior draws.
    ci_prob : float
        Probability of the intervals, in (0, 1).
    ci_kind : {"eti", "hdi"}
        Equal-tailed or highest-density intervals.
    log : bool
        Compare widths on the log scale (for doses and times, which are positive and
        heavy-tailed): over the finite, positive draws only, so draws in which a dose or
        time is not reached (``inf``) are left out of the widths (their share is reported
        apart, as ``prob_not_reached``).

    Returns
    -------
    dict
        ``prior_width_ratio``: posterior width / prior width (float; NaN where either
        width cannot be computed, for example without prior draws, and ``inf`` where the
        prior width is 0); ``prior_dominated``: ``prior_width_ratio`` >
        :data:`PRIOR_DOMINATED_RATIO` (0.9: the data narrowed the interval by less than
        10%) as True or False, NaN where the ratio is NaN ("not computable"). Each is
        shaped like the trailing axes.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> prior = rng.normal(0, 1, (1, 4000))
    >>> narrow = compare_to_prior(rng.normal(0, 0.1, (2, 2000)), prior, 0.95)
    >>> round(float(narrow["prior_width_ratio"]), 1), narrow["prior_dominated"].item()
    (0.1, False)
    >>> compare_to_prior(prior, prior, 0.95)["prior_dominated"].item()
    True
    >>> compare_to_prior(prior, None, 0.95)["prior_dominated"].item()
    nan
    """
    post = np.asarray(posterior, dtype=float)
    trailing = post.shape[2:]
    flat_post = post.reshape((-1, *trailing))
    flat_prior = None if prior is None else np.asarray(prior, dtype=float).reshape(
        (-1, *trailing))
    ratio = np.full(trailing, np.nan)
    for cell in np.ndindex(*trailing):
        if flat_prior is None:
            continue
        index = (slice(None), *cell)
        post_width = _width(flat_post[index], ci_prob, ci_kind, log)
        prior_width = _width(flat_prior[index], ci_prob, ci_kind, log)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio[cell] = np.divide(post_width, prior_width)
    dominated = np.empty(trailing, dtype=object)
    for cell in np.ndindex(*trailing):
        value = ratio[cell]
        dominated[cell] = np.nan if np.isnan(value) else bool(value > PRIOR_DOMINATED_RATIO)
    return {"prior_width_ratio": ratio, "prior_dominated": dominated}


class HasPosteriorView(Protocol):
    """Anything that gives a :class:`PosteriorView` (a fit)."""

    @property
    def posterior_view(self) -> PosteriorView:  # pragma: no cover - a protocol
        ...


#: A posterior view, or a fit that gives one (what the read-out functions accept).
ViewLike = PosteriorView | HasPosteriorView


def view_of(source: ViewLike) -> PosteriorView:
    """The view itself, or the :attr:`posterior_view` of a fit.

    Parameters
    ----------
    source : PosteriorView or DoseResponseFit

    Returns
    -------
    PosteriorView

    Raises
    ------
    TypeError
        When ``source`` is neither.
    """
    if isinstance(source, PosteriorView):
        return source
    view = getattr(source, "posterior_view", None)
    if not isinstance(view, PosteriorView):
        raise TypeError(f"expected a PosteriorView or a fit (got {type(source).__name__}).")
    return view
