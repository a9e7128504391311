"""Time courses g(t) of the dose effect: how the effect of dose builds up after baseline.

The dose effect at time t is f(d) * g(t), where f is the dose shape (see
:mod:`bayesdose.shapes`) and g is a time course scaled so that f(d) is the effect at the
plateau (parametric courses) or at the last visit (free per-visit courses). Time is
counted from the baseline visit. The course common to every dose (natural history and
the injection itself) is a separate term of the model, not part of g.

Like dose shapes, time courses evaluate on PyTensor tensors and NumPy draws alike and can
be extended with :func:`register_time_shape`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pymc_extras.prior import Prior

from bayesdose.errors import EstimandError, SpecError
from bayesdose.shapes import Parameter, one_hot


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

    def parameters(self, scale: TimeScale) -> list[Parameter]:  # pragma: no cover - abstract
        """The course's parameters and their default priors."""
        raise NotImplementedError

    def evaluate(self, time: Any, params: dict[str, Any], scale: TimeScale, xp: Any) -> Any:
        """Fraction of the dose effect reached at ``time`` (time since baseline)."""
        raise NotImplementedError  # pragma: no cover - abstract

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
    """Exponential onset: g(t) = 1 - exp(-ln 2 * t / t_half).

    ``t_half`` (time to half the plateau effect) = last visit * exp(log_t_half).

    Examples
    --------
    >>> import numpy as np
    >>> s = TimeScale((1.0, 12.0))
    >>> float(Exponential().evaluate(np.array(3.0), {"log_t_half": np.log(3 / 12)}, s, np))
    0.5
    """

    name = "exponential"
    formula = "g(t) = 1 - exp(-ln2 * t / t_half), t_half = t_last * exp(log_t_half)"

    def parameters(self, scale: TimeScale) -> list[Parameter]:
        return [Parameter("log_t_half", Prior("Normal", mu=float(np.log(0.2)), sigma=1),
                          T_HALF_REASON,
                          "log of the time to half the plateau effect, relative to the "
                          "last visit")]

    def evaluate(self, time, params, scale, xp):
        t_half = scale.reference * xp.exp(params["log_t_half"])
        return 1 - xp.exp(-np.log(2.0) * time / t_half)

    def derived(self, params, scale):
        return {"t_half": scale.reference * np.exp(params["log_t_half"])}


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
        indicator = one_hot(time, self.levels(scale), "time")
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


for _shape in (Exponential, FreeVisits):
    register_time_shape(_shape)
