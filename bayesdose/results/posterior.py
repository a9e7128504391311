"""A posterior view: what the read-outs need from a fit (the draws, the model's shapes, its
inputs and the outcomes' metadata), so that they are functions of draws, not of the fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import xarray as xr

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.shapes import DoseShape
from bayesdose.components.timecourses import TimeShape
from bayesdose.data.trial import OutcomeInfo, TrialData
from bayesdose.errors import EstimandError

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.model.dose_response import DoseResponseModel

#: The scales effects are reported on: outcome units or standardised (baseline SDs).
SCALES = ("outcome", "standardised")


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

    @classmethod
    def from_model(cls, model: DoseResponseModel, data: TrialData,
                   posterior: xr.Dataset) -> PosteriorView:
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

        Returns
        -------
        PosteriorView
        """
        inputs = model.inputs(data)
        return cls(posterior=posterior, dose_shape=model.dose_shape,
                   time_shape=model.time_shape, inputs=inputs,
                   outcome_info={name: data.info(name) for name in inputs.outcomes})

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

    def versus(self) -> str:
        """What effects are measured against (dose 0, extrapolated or tested).

        Returns
        -------
        str
            ``"dose 0 (tested)"`` with a placebo arm; without one, dose 0 extrapolated by
            the dose shape, or the lowest tested dose for shapes that do not extrapolate
            to dose 0 (``free``, ``monotone``).
        """
        dose_scale = self.inputs.dose_scale
        if dose_scale.has_zero:
            return "dose 0 (tested)"
        if not self.dose_shape.extrapolates_to_zero:
            return f"dose {dose_scale.baseline_dose:g} (lowest tested; no placebo arm)"
        return "dose 0 (not tested: extrapolated by the dose shape)"

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
            return "baseline SDs"
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
