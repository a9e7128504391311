"""Time courses g(t) of the dose effect: how the effect of dose builds up after baseline.

The dose effect at time t is f(d) * g(t), where f is the dose shape (see
:mod:`bayesdose.components.shapes`) and g is a time course scaled so that g = 1 at the last
visit: f(d) is the dose effect at the last visit, which the data identify best whatever
the speed of onset (``bateman``, whose effect wanes, is scaled to 1 at its peak instead).
Parametric courses say how large the plateau is against the last visit's effect
(``plateau`` in :meth:`TimeShape.derived`). Time is counted from the baseline visit. The
course common to every dose (natural history and the injection itself) is a separate term
of the model, not part of g.

Like dose shapes, time courses evaluate on PyTensor tensors and NumPy draws alike and can
be extended with :func:`register_time_shape`.

A course may also depend on the dose (``dose_dependent = True``: ``exponential_by_dose``,
``emax_time_by_dose``): its onset is then faster or slower at higher doses, the dose effect
is f(d) * g(d, t), and g(d, t_last) = 1 at every dose, so that f(d) stays the effect at the
last visit. Callers evaluate any course through :meth:`TimeShape.evaluate_at`, which passes
the dose on to such courses only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pymc_extras.prior import Prior

from bayesdose.components.shapes import DoseScale, Parameter, one_hot
from bayesdose.errors import EstimandError, SpecError


@dataclass(frozen=True)
class TimeScale:
    """Time constants a time course needs: the visits, counted from baseline.

    Parameters
    ----------
    visits : tuple of float
        Post-baseline visit times minus the baseline time, ascending.

    Examples
    --------
    >>> TimeScale((1.0, 3.0, 6.0, 12.0)).reference
    12.0
    """

    visits: tuple[float, ...]

    @property
    def reference(self) -> float:
        """The last visit (time since baseline)."""
        return float(max(self.visits))


class TimeShape:
    """Base class of time courses of the dose effect.

    Examples
    --------
    >>> get_time_shape("exponential").name
    'exponential'
    """

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    #: Whether the course depends on the dose. A dose-dependent course's
    #: :meth:`evaluate` takes the keyword arguments ``dose`` and ``dose_scale``
    #: (:class:`~bayesdose.components.shapes.DoseScale`); others take neither.
    dose_dependent: ClassVar[bool] = False

    def parameters(self, scale: TimeScale) -> list[Parameter]:  # pragma: no cover - abstract
        """The course's parameters and their default priors."""
        raise NotImplementedError

    def evaluate(self, time: Any, params: dict[str, Any], scale: TimeScale, xp: Any) -> Any:
        """Fraction of the dose effect reached at ``time`` (time since baseline)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def evaluate_at(self, time: Any, dose: Any, params: dict[str, Any], scale: TimeScale,
                    dose_scale: DoseScale, xp: Any) -> Any:
        """g(d, t) for any course: the fraction of the effect of ``dose`` reached at ``time``.

        A dose-independent course ignores ``dose`` and ``dose_scale`` (the call is
        ``evaluate(time, params, scale, xp)``, so its values are exactly those of
        :meth:`evaluate`); a dose-dependent one receives them. ``time``, ``dose`` and the
        parameters broadcast against one another.

        Parameters
        ----------
        time : array-like
            Times since baseline.
        dose : array-like
            Doses (user units, NumPy).
        params : dict
            The course's parameters (NumPy draws or PyTensor tensors).
        scale : TimeScale
            The visits.
        dose_scale : DoseScale
            The tested doses.
        xp : module
            ``numpy`` or ``pytensor.tensor``.

        Returns
        -------
        array or tensor

        Examples
        --------
        >>> import numpy as np
        >>> from bayesdose.components.shapes import DoseScale
        >>> s, d = TimeScale((1.0, 12.0)), DoseScale((0.0, 10.0, 50.0))
        >>> p = {"log_t_half": np.log(3 / 12), "log_onset_ratio": 0.0}
        >>> g = get_time_shape("exponential_by_dose").evaluate_at(
        ...     np.array([3.0, 12.0]), np.array([[10.0], [50.0]]), p, s, d, np)
        >>> g.round(4).tolist()   # no dose dependence: the exponential course at each dose
        [[0.5333, 1.0], [0.5333, 1.0]]
        """
        if self.dose_dependent:
            return self.evaluate(time, params, scale, xp, dose=dose,  # type: ignore[call-arg]
                                 dose_scale=dose_scale)
        return self.evaluate(time, params, scale, xp)

    def derived(self, params: dict[str, Any], scale: TimeScale) -> dict[str, Any]:
        """Derived quantities in the user's time unit, from NumPy draws."""
        return {}

    def options(self) -> dict[str, Any]:
        """Settings that define this course besides its name."""
        return {}

    def check_times(self, times: Any, scale: TimeScale) -> None:
        """Raise :class:`EstimandError` for times the course cannot evaluate."""
        if np.any(np.asarray(times, dtype=float) < 0):
            raise EstimandError("times must be at or after the baseline visit.")


T_HALF_REASON = (
    "Normal(log 0.2, 1) on log(t_half / last visit): onset half-time centred at a fifth "
    "of the follow-up (2.4 months for 12 months), 95% between about 1/35 and 1.4 times "
    "the follow-up, so early, gradual and late onsets are all allowed."
)


class Exponential(TimeShape):
    """Exponential onset scaled to the last visit: g(t) = h(t) / h(t_last),
    h(t) = 1 - exp(-ln 2 * t / t_half).

    ``t_half`` (time to half the plateau effect) = last visit * exp(log_t_half); the
    plateau is 1 / h(t_last) times the effect at the last visit.

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 12.0))
    >>> p = {"log_t_half": np.log(3 / 12)}
    >>> float(Exponential().evaluate(np.array([3.0, 12.0]), p, s, np)[1])
    1.0
    >>> round(float(Exponential().evaluate(np.array(3.0), p, s, np)), 4)  # 0.5 / (15 / 16)
    0.5333
    """

    name = "exponential"
    formula = ("g(t) = h(t)/h(t_last), h(t) = 1 - exp(-ln2 * t / t_half), "
               "t_half = t_last * exp(log_t_half)")

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [Parameter("log_t_half", Prior("Normal", mu=float(np.log(0.2)), sigma=1),
                          T_HALF_REASON,
                          "log of the time to half the plateau effect, relative to the "
                          "last visit")]

    def evaluate(self, time, params, scale, xp):
        rate = np.log(2.0) / (scale.reference * xp.exp(params["log_t_half"]))
        return xp.expm1(-rate * time) / xp.expm1(-rate * scale.reference)

    def derived(self, params, scale):
        t_half = scale.reference * np.exp(params["log_t_half"])
        return {"t_half": t_half,
                "plateau": -1 / np.expm1(-np.log(2.0) * scale.reference / t_half)}


class FreeVisits(TimeShape):
    """Free per-visit effects: g at each visit is a free fraction of the last visit's.

    g(t_last) = 1, so the dose shape gives the effect at the last visit; g(t_j) for the
    earlier visits are free, so onset, waning and overshoot are all allowed.

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 6.0, 12.0))
    >>> FreeVisits().evaluate(np.array([1.0, 12.0]), {"gamma": np.array([0.3, 0.8])}, s, np)
    array([0.3, 1. ])
    """

    name = "free"
    formula = "g(t_last) = 1; g(t_j) = gamma_j at each earlier visit"

    @staticmethod
    def levels(scale: TimeScale) -> tuple[float, ...]:
        """Visits that own a parameter (all but the last)."""
        return tuple(scale.visits[:-1])

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        if not self.levels(scale):
            return []
        reason = ("Normal(0.5, 0.5) per visit: the effect at an earlier visit is usually a "
                  "fraction (0 to 1) of the last visit's; waning (above 1) and reversal "
                  "(below 0) stay possible.")
        return [Parameter("gamma", Prior("Normal", mu=0.5, sigma=0.5), reason,
                          "dose effect at each earlier visit, as a fraction of the last "
                          "visit's", levels="visit_level")]

    def evaluate(self, time, params, scale, xp):
        last = np.isclose(np.asarray(time, dtype=float), scale.reference).astype(float)
        if not self.levels(scale):
            return last
        indicator = one_hot(time, self.levels(scale))
        return xp.sum(params["gamma"] * indicator, axis=-1) + last

    def check_times(self, times, scale):
        super().check_times(times, scale)
        unknown = [t for t in np.atleast_1d(times) if not np.isclose(t, scale.visits).any()]
        if unknown:
            raise EstimandError(
                f"the free per-visit time course is defined only at the visits "
                f"({', '.join(f'{t:g}' for t in scale.visits)} after baseline); time(s) "
                f"{', '.join(f'{t:g}' for t in unknown)} are not visits. Ask for a visit or "
                "fit a time shape such as 'exponential'."
            )


WANE_REASON = (
    "Normal(log 4, 1) on log(t_wane / t_half - 1): the waning half-life about five times "
    "the onset half-time (95% between about 1.6 and 30 times), so the effect may fade "
    "within the follow-up or last well beyond it."
)


class Bateman(TimeShape):
    """Onset then waning (Bateman function), scaled so that its peak is 1.

    g(t) = (exp(-k_out t) - exp(-k_in t)) / (exp(-k_out t*) - exp(-k_in t*)), with
    k_in = ln 2 / t_half, k_out = ln 2 / t_wane, t_wane = t_half * (1 + exp(log_wane)) so
    that k_out < k_in (which makes the two rates identifiable), and t* the time of the peak.
    The dose shape then gives the peak effect.

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 12.0))
    >>> p = {"log_t_half": np.log(1 / 12), "log_wane": np.log(3.0)}
    >>> g = Bateman().evaluate(np.linspace(0, 12, 241), p, s, np)
    >>> round(float(g.max()), 4), float(g[0])
    (1.0, 0.0)
    """

    name = "bateman"
    formula = ("g(t) = (exp(-k_out t) - exp(-k_in t)) / peak, k_in = ln2/t_half, "
               "k_out = ln2/t_wane, t_wane = t_half * (1 + exp(log_wane))")

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [*Exponential().parameters(scale),
                Parameter("log_wane", Prior("Normal", mu=float(np.log(4.0)), sigma=1),
                          WANE_REASON, "log of (waning half-life / onset half-time - 1)")]

    @staticmethod
    def rates(params: dict[str, Any], scale: TimeScale, xp: Any) -> tuple[Any, Any]:
        """Onset and waning rates (per unit of time)."""
        t_half = scale.reference * xp.exp(params["log_t_half"])
        t_wane = t_half * (1 + xp.exp(params["log_wane"]))
        return np.log(2.0) / t_half, np.log(2.0) / t_wane

    def evaluate(self, time, params, scale, xp):
        k_in, k_out = self.rates(params, scale, xp)
        peak_time = xp.log(k_in / k_out) / (k_in - k_out)
        peak = xp.exp(-k_out * peak_time) - xp.exp(-k_in * peak_time)
        return (xp.exp(-k_out * time) - xp.exp(-k_in * time)) / peak

    def derived(self, params, scale):
        k_in, k_out = self.rates(params, scale, np)
        return {"t_half": np.log(2.0) / k_in, "t_wane": np.log(2.0) / k_out,
                "t_peak": np.log(k_in / k_out) / (k_in - k_out)}


ET50_REASON = (
    "Normal(log 0.2, 1) on log(ET50 / last visit): half the plateau at a fifth of the "
    "follow-up, 95% between about 1/35 and 1.4 times the follow-up."
)


class EmaxTime(TimeShape):
    """Emax in time scaled to the last visit: g(t) = t / (ET50 + t) * (ET50 + t_last) /
    t_last, ET50 = last visit * exp(log_et50).

    The plateau (t -> infinity) is (ET50 + t_last) / t_last times the effect at the last
    visit.

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 12.0))
    >>> float(EmaxTime().evaluate(np.array(3.0), {"log_et50": np.log(3 / 12)}, s, np))
    0.625
    """

    name = "emax"
    formula = "g(t) = t/(ET50 + t) * (ET50 + t_last)/t_last, ET50 = t_last * exp(log_et50)"

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [Parameter("log_et50", Prior("Normal", mu=float(np.log(0.2)), sigma=1),
                          ET50_REASON, "log of the time to half the plateau effect, relative "
                          "to the last visit")]

    def evaluate(self, time, params, scale, xp):
        et50 = scale.reference * xp.exp(params["log_et50"])
        return time / (et50 + time) * (et50 + scale.reference) / scale.reference

    def derived(self, params, scale):
        et50 = scale.reference * np.exp(params["log_et50"])
        return {"et50": et50, "plateau": (et50 + scale.reference) / scale.reference}


ONSET_RATIO_REASON = (
    "Normal(0, 1) on log(onset rate at the highest tested dose / onset rate at the lowest "
    "active tested dose): centred on the same onset at every dose (0 gives the "
    "dose-independent course exactly), 95% between a 7-fold slower and a 7-fold faster "
    "onset at the highest dose, so a dose-dependent onset has to come from the data."
)


def onset_dose_range(dose_scale: DoseScale) -> tuple[float, float, float]:
    """The doses that anchor z(d): the lowest active and the highest tested dose, and the
    offset of u(d) = log(1 + d / off).

    The lowest active dose is the lowest tested dose above 0; with fewer than two tested
    doses above 0 it is the lowest tested dose (placebo), so that z stays defined (the
    dose dependence is then informed by its prior only). ``off`` is 0.1 x the highest
    tested dose, the offset of the ``log_linear`` dose shape.

    Parameters
    ----------
    dose_scale : DoseScale
        The tested doses.

    Returns
    -------
    (low, high, off) : tuple of float

    Examples
    --------
    >>> onset_dose_range(DoseScale((0.0, 10.0, 50.0)))
    (10.0, 50.0, 5.0)
    >>> onset_dose_range(DoseScale((0.0, 50.0)))
    (0.0, 50.0, 5.0)
    """
    positive = dose_scale.positive
    high = dose_scale.reference
    low = min(positive) if len(positive) >= 2 else dose_scale.lowest
    off = 0.1 * high if high > 0 else 1.0
    return float(low), float(high), float(off)


def onset_dose_position(dose: Any, dose_scale: DoseScale) -> np.ndarray:
    """z(d), the standardised log dose on which a dose-dependent onset rate depends.

    z(d) = (u(d) - (u(d_lo) + u(d_hi)) / 2) / (u(d_hi) - u(d_lo)), u(d) = log(1 + d / off),
    with d_lo, d_hi and off from :func:`onset_dose_range`. So z(d_lo) = -1/2 and
    z(d_hi) = +1/2: a log-rate slope in z is the log ratio of the rates at the highest
    and the lowest active tested doses. z is 0 at the centre dose
    (:func:`onset_centre_dose`) and finite at every dose >= 0, placebo and untested doses
    included, so a dose-dependent course is defined at any dose.

    Parameters
    ----------
    dose : array-like
        Doses (user units).
    dose_scale : DoseScale
        The tested doses.

    Returns
    -------
    numpy.ndarray
        z, shaped like ``dose``.

    Examples
    --------
    >>> s = DoseScale((0.0, 10.0, 50.0))
    >>> onset_dose_position([10.0, 50.0], s).round(12).tolist()
    [-0.5, 0.5]
    >>> bool(onset_dose_position(onset_centre_dose(s), s) == 0)
    True
    """
    low, high, off = onset_dose_range(dose_scale)
    u_low, u_high = np.log1p(low / off), np.log1p(high / off)
    span = u_high - u_low if u_high > u_low else 1.0
    return (np.log1p(np.asarray(dose, dtype=float) / off) - (u_low + u_high) / 2) / span


def onset_centre_dose(dose_scale: DoseScale) -> float:
    """The dose at which z(d) = 0: the centre of the active tested doses on the u scale
    (near their geometric mean), the dose at which ``log_t_half`` and ``log_et50``
    of the dose-dependent courses apply.

    Examples
    --------
    >>> round(onset_centre_dose(DoseScale((0.0, 10.0, 50.0))), 3)
    23.723
    """
    low, high, off = onset_dose_range(dose_scale)
    return float(off * np.expm1((np.log1p(low / off) + np.log1p(high / off)) / 2))


class DoseDependentOnset(TimeShape):
    """Base class of time courses whose onset speed varies with dose.

    The course's characteristic time (half-time, ET50) at dose d is
    ``t_last * exp(<log time> - log_onset_ratio * z(d))`` (:func:`onset_dose_position`):
    the onset rate is proportional to ``exp(log_onset_ratio * z(d))``, log-linear in the
    standardised log dose, so ``log_onset_ratio`` is the log of how many times faster the
    onset is at the highest than at the lowest active tested dose, and 0 gives the
    dose-independent course exactly. Every dose's course is scaled so that
    g(d, t_last) = 1: the dose shape f(d) stays the effect at the last visit.

    Examples
    --------
    >>> get_time_shape("exponential_by_dose").dose_dependent
    True
    """

    dose_dependent: ClassVar[bool] = True
    #: The parameter holding the log characteristic time at the centre dose.
    time_parameter: ClassVar[str] = ""

    @staticmethod
    def onset_ratio_parameter() -> Parameter:
        """``log_onset_ratio`` and its default prior.

        Examples
        --------
        >>> DoseDependentOnset.onset_ratio_parameter().prior
        Prior("Normal", mu=0, sigma=1)
        """
        return Parameter("log_onset_ratio", Prior("Normal", mu=0, sigma=1),
                         ONSET_RATIO_REASON,
                         "log of the ratio of the onset rates at the highest and the lowest "
                         "active tested doses (> 0: faster onset at higher doses; 0: the "
                         "same course at every dose)")

    def characteristic_time(self, params: dict[str, Any], scale: TimeScale, dose: Any,
                            dose_scale: DoseScale | None, xp: Any) -> Any:
        """The half-time (or ET50) at each dose, in the user's time unit.

        Raises :class:`EstimandError` without ``dose`` and ``dose_scale``.

        Examples
        --------
        >>> import numpy as np
        >>> p = {"log_et50": np.log(2 / 12), "log_onset_ratio": np.log(4.0)}
        >>> EmaxTimeByDose().characteristic_time(p, TimeScale((1.0, 12.0)), 50.0,
        ...                                      DoseScale((0.0, 10.0, 50.0)), np).round(6)
        np.float64(1.0)
        """
        if dose is None or dose_scale is None:
            raise EstimandError(
                f"the '{self.name}' time course depends on the dose: evaluate it with "
                "dose= and dose_scale= (TimeShape.evaluate_at).")
        z = onset_dose_position(dose, dose_scale)
        return scale.reference * xp.exp(params[self.time_parameter]
                                        - params["log_onset_ratio"] * z)

    def half_time(self, params: dict[str, Any], scale: TimeScale, dose: Any,
                  dose_scale: DoseScale) -> np.ndarray:
        """Time since baseline to half the plateau effect at each dose (NumPy draws).

        Examples
        --------
        >>> import numpy as np
        >>> s, d = TimeScale((1.0, 12.0)), DoseScale((0.0, 10.0, 50.0))
        >>> p = {"log_t_half": np.log(2 / 12), "log_onset_ratio": np.log(4.0)}
        >>> get_time_shape("exponential_by_dose").half_time(p, s, np.array([10.0, 50.0]),
        ...                                                 d).round(6).tolist()
        [4.0, 1.0]
        """
        return self.characteristic_time(params, scale, dose, dose_scale, np)

    def by_dose(self, params: dict[str, Any], scale: TimeScale, prefix: str) -> dict[str, Any]:
        """The characteristic time at the centre, lowest active and highest tested doses
        (z = 0, -1/2, +1/2), and the ratio of the onset rates.

        Examples
        --------
        >>> import numpy as np
        >>> p = {"log_t_half": np.log(2 / 12), "log_onset_ratio": np.log(4.0)}
        >>> out = ExponentialByDose().by_dose(p, TimeScale((1.0, 12.0)), "t_half")
        >>> {k: round(float(v), 6) for k, v in out.items()}
        {'t_half_mid': 2.0, 't_half_lowest': 4.0, 't_half_highest': 1.0, 'onset_rate_ratio': 4.0}
        """
        log_time, ratio = params[self.time_parameter], params["log_onset_ratio"]
        return {f"{prefix}_mid": scale.reference * np.exp(log_time),
                f"{prefix}_lowest": scale.reference * np.exp(log_time + ratio / 2),
                f"{prefix}_highest": scale.reference * np.exp(log_time - ratio / 2),
                "onset_rate_ratio": np.exp(ratio)}


class ExponentialByDose(DoseDependentOnset):
    """Exponential onset whose rate varies with dose, scaled to the last visit at every dose.

    g(d, t) = h(d, t) / h(d, t_last), h(d, t) = 1 - exp(-ln 2 * t / t_half(d)),
    t_half(d) = t_last * exp(log_t_half - log_onset_ratio * z(d)), z(d) the standardised
    log dose (:func:`onset_dose_position`: -1/2 at the lowest active tested dose, +1/2 at
    the highest). The onset rate ln 2 / t_half(d) is log-linear in z, defined at every
    dose; ``log_onset_ratio = 0`` is the ``exponential`` course. g(d, 0) = 0 and
    g(d, t_last) = 1, so f(d) is the effect at the last visit at every dose.

    Derived quantities (:meth:`derived`): ``t_half_mid``, ``t_half_lowest``,
    ``t_half_highest`` (time to half the plateau effect at the centre dose, the lowest
    active and the highest tested dose) and ``onset_rate_ratio`` (how many times faster
    the onset is at the highest than at the lowest active dose);
    :meth:`~DoseDependentOnset.half_time` gives the half-time at any dose.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdose.components.shapes import DoseScale
    >>> s, d = TimeScale((1.0, 12.0)), DoseScale((0.0, 10.0, 50.0))
    >>> p = {"log_t_half": np.log(2 / 12), "log_onset_ratio": np.log(4.0)}
    >>> g = ExponentialByDose().evaluate(np.array([2.0, 12.0]), p, s, np,
    ...                                  dose=np.array([[10.0], [50.0]]), dose_scale=d)
    >>> g[:, 1].tolist(), bool(g[0, 0] < g[1, 0])   # 1 at the last visit; faster at 50
    ([1.0, 1.0], True)
    """

    name = "exponential_by_dose"
    formula = ("g(d, t) = h(d, t)/h(d, t_last), h(d, t) = 1 - exp(-ln2 * t / t_half(d)), "
               "t_half(d) = t_last * exp(log_t_half - log_onset_ratio * z(d)), z(d) = "
               "standardised log dose (-1/2 at the lowest active, +1/2 at the highest "
               "tested dose)")
    time_parameter = "log_t_half"

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [Parameter("log_t_half", Prior("Normal", mu=float(np.log(0.2)), sigma=1),
                          T_HALF_REASON + " Here at the centre dose (z = 0).",
                          "log of the time to half the plateau effect at the centre of the "
                          "active tested doses, relative to the last visit"),
                self.onset_ratio_parameter()]

    def evaluate(self, time, params, scale, xp, dose=None, dose_scale=None):
        rate = np.log(2.0) / self.characteristic_time(params, scale, dose, dose_scale, xp)
        return xp.expm1(-rate * time) / xp.expm1(-rate * scale.reference)

    def derived(self, params, scale):
        return self.by_dose(params, scale, "t_half")


class EmaxTimeByDose(DoseDependentOnset):
    """Emax in time whose ET50 varies with dose, scaled to the last visit at every dose.

    g(d, t) = t / (ET50(d) + t) * (ET50(d) + t_last) / t_last,
    ET50(d) = t_last * exp(log_et50 - log_onset_ratio * z(d)), z(d) the standardised log
    dose (:func:`onset_dose_position`). ``log_onset_ratio`` is the log of ET50 at the
    lowest active over ET50 at the highest tested dose; 0 is the ``emax`` course.

    Derived quantities (:meth:`derived`): ``et50_mid``, ``et50_lowest``, ``et50_highest``
    (time to half the plateau effect at the centre, lowest active and highest tested
    dose) and ``onset_rate_ratio``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdose.components.shapes import DoseScale
    >>> s, d = TimeScale((1.0, 12.0)), DoseScale((0.0, 10.0, 50.0))
    >>> p = {"log_et50": np.log(3 / 12), "log_onset_ratio": 0.0}
    >>> float(EmaxTimeByDose().evaluate(np.array(3.0), p, s, np, dose=50.0, dose_scale=d))
    0.625
    """

    name = "emax_by_dose"
    formula = ("g(d, t) = t/(ET50(d) + t) * (ET50(d) + t_last)/t_last, ET50(d) = t_last * "
               "exp(log_et50 - log_onset_ratio * z(d)), z(d) = standardised log dose (-1/2 "
               "at the lowest active, +1/2 at the highest tested dose)")
    time_parameter = "log_et50"

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [Parameter("log_et50", Prior("Normal", mu=float(np.log(0.2)), sigma=1),
                          ET50_REASON + " Here at the centre dose (z = 0).",
                          "log of the time to half the plateau effect at the centre of the "
                          "active tested doses, relative to the last visit"),
                self.onset_ratio_parameter()]

    def evaluate(self, time, params, scale, xp, dose=None, dose_scale=None):
        et50 = self.characteristic_time(params, scale, dose, dose_scale, xp)
        return time / (et50 + time) * (et50 + scale.reference) / scale.reference

    def derived(self, params, scale):
        return self.by_dose(params, scale, "et50")


def hat_basis(time: Any, knots: tuple[float, ...]) -> np.ndarray:
    """Piecewise-linear interpolation weights of ``time`` on the nodes (0, *knots).

    Beyond the last knot the weight stays on it (the course is flat there).

    Examples
    --------
    >>> hat_basis([1.5, 20.0], (1.0, 3.0)).tolist()
    [[0.0, 0.75, 0.25], [0.0, 0.0, 1.0]]
    """
    nodes = np.concatenate([[0.0], np.asarray(knots, dtype=float)])
    clipped = np.clip(np.asarray(time, dtype=float), 0.0, nodes[-1])
    eye = np.eye(nodes.size)
    return np.stack([np.interp(clipped, nodes, eye[j]) for j in range(nodes.size)], axis=-1)


@dataclass
class PiecewiseLinear(TimeShape):
    """Piecewise linear between knots: g(0) = 0, g(last knot) = 1, free values between.

    Parameters
    ----------
    knots : sequence of float, optional
        Knot times after baseline (default: the visits). The effect is flat after the
        last knot; the dose shape gives the effect there.

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 3.0, 6.0, 12.0))
    >>> shape = PiecewiseLinear(knots=(3.0, 12.0))
    >>> shape.evaluate(np.array([1.5, 3.0, 7.5, 24.0]), {"gamma": np.array([0.8])}, s, np)
    array([0.4, 0.8, 0.9, 1. ])
    """

    knots: tuple[float, ...] | None = None
    name: ClassVar[str] = "piecewise_linear"
    formula: ClassVar[str] = ("g linear between knots, g(0) = 0, g(k_j) = gamma_j, "
                              "g(k_last) = 1, flat after")

    def __post_init__(self) -> None:
        if self.knots is not None:
            knots = tuple(float(k) for k in self.knots)
            if not knots or any(k <= 0 for k in knots) or list(knots) != sorted(set(knots)):
                raise SpecError("piecewise_linear: knots must be increasing times after "
                                f"baseline (> 0); got {list(self.knots)!r}.")
            self.knots = knots

    def knot_times(self, scale: TimeScale) -> tuple[float, ...]:
        """The knots in force (the visits by default)."""
        return self.knots if self.knots is not None else scale.visits

    def levels(self, scale: TimeScale) -> tuple[float, ...]:
        """Knots that own a parameter (all but the last)."""
        return tuple(self.knot_times(scale)[:-1])

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        if not self.levels(scale):
            return []
        return [Parameter("gamma", Prior("Normal", mu=0.5, sigma=0.5),
                          "Normal(0.5, 0.5) per knot: the effect at an earlier knot is usually "
                          "a fraction (0 to 1) of the effect at the last knot.",
                          "dose effect at each earlier knot, as a fraction of the last knot's",
                          levels="visit_level")]

    def evaluate(self, time, params, scale, xp):
        basis = hat_basis(time, self.knot_times(scale))
        last = basis[..., -1]
        if basis.shape[-1] <= 2:
            return last
        return xp.sum(params["gamma"] * basis[..., 1:-1], axis=-1) + last

    def options(self) -> dict[str, Any]:
        return {} if self.knots is None else {"knots": list(self.knots)}


_TIME_SHAPES: dict[str, Callable[..., TimeShape]] = {}


def register_time_shape(factory: Callable[..., TimeShape], name: str | None = None) -> None:
    """Make a time course available by name in Python and in model files.

    Parameters
    ----------
    factory : callable
        A :class:`TimeShape` subclass (or a callable returning one from keyword options).
    name : str, optional
        The name to register (default: ``factory.name``).

    Examples
    --------
    >>> class Step(TimeShape):
    ...     name = "step_demo"
    ...     formula = "g(t) = 1"
    ...     def parameters(self, scale):
    ...         return []
    ...     def evaluate(self, time, params, scale, xp):
    ...         return time * 0 + 1
    >>> register_time_shape(Step)
    >>> "step_demo" in time_shape_names()
    True
    """
    key = name or getattr(factory, "name", "")
    if not key:
        raise SpecError("register_time_shape: the time course needs a name.")
    _TIME_SHAPES[key] = factory


def time_shape_names() -> list[str]:
    """Names of the registered time courses."""
    return sorted(_TIME_SHAPES)


def get_time_shape(shape: str | TimeShape, **options: Any) -> TimeShape:
    """Look up a time course by name (or pass an instance through).

    Parameters
    ----------
    shape : str or TimeShape
        A registered name (see :func:`time_shape_names`) or a time-course object.
    **options
        Settings of the time course.

    Returns
    -------
    TimeShape

    Examples
    --------
    >>> get_time_shape("free").formula
    'g(t_last) = 1; g(t_j) = gamma_j at each earlier visit'
    """
    if isinstance(shape, TimeShape):
        return shape
    if shape not in _TIME_SHAPES:
        raise SpecError(f"unknown time shape {shape!r}; choose one of "
                        f"{', '.join(time_shape_names())} or register your own.")
    try:
        return _TIME_SHAPES[shape](**options)
    except TypeError as exc:
        raise SpecError(f"time shape {shape!r}: bad options {options!r} ({exc}).") from exc


for _shape in (Exponential, Bateman, EmaxTime, PiecewiseLinear, FreeVisits,
               ExponentialByDose, EmaxTimeByDose):
    register_time_shape(_shape)
