"""Dose-response shapes f(d): the effect of dose d against dose 0, at the effect's plateau.

Each shape is one small object with its formula, its parameters (each with a default
prior and the reason for it) and a vectorised :meth:`DoseShape.evaluate` that works on
PyTensor tensors inside a PyMC model and on NumPy arrays of posterior draws alike, so a
curve can be drawn at doses that were never tested.

All shapes satisfy f(0) = 0 and are parameterised by ``delta``, the effect of the highest
tested dose against the lowest tested dose, f(d_ref) - f(d_low) (against placebo when it
was tested; clinDR's ``difTarget`` logic, Thomas et al. 2014): the difference between
tested doses is what three-dose data identify best, so a prior on it is easier to state
and to check than a prior on an asymptote, and it keeps ``delta`` identified by the data
whatever the curve's other parameters, which lets the sampler move freely when the effect
is null (with ``delta`` against an extrapolated dose 0, a small ED50 would trade the
effect of the lowest dose against the common course). Effects are on the standardised,
direction-aligned scale (outcome units divided by the outcome's SD, positive = better).

New shapes are added with :func:`register_dose_shape`; they are then available by name in
Python and in model files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pymc_extras.prior import Prior

from bayesdose.errors import EstimandError, SpecError


@dataclass(frozen=True)
class Parameter:
    """One parameter of a shape, with its default prior and the reason for it.

    Parameters
    ----------
    name : str
        Name of the variable in the model and in the posterior.
    prior : pymc_extras.prior.Prior
        Default prior (per outcome; the model adds the ``outcome`` dim).
    reason : str
        Why this default: what it allows and what it rules out.
    meaning : str
        What the parameter is, in words.
    levels : str, optional
        For a vector parameter, the name of its trailing dim (``"dose_level"``,
        ``"visit_level"``); None for a scalar.
    pool_sd : float
        Mean of the Gamma(2, 2 / pool_sd) prior on the between-outcome SD when the
        parameter is pooled within a family of outcomes.

    Examples
    --------
    >>> Parameter("delta", Prior("Normal", mu=0, sigma=1), "why", "what").levels is None
    True
    """

    name: str
    prior: Prior
    reason: str
    meaning: str
    levels: str | None = None
    pool_sd: float = 0.5

    @property
    def poolable(self) -> bool:
        """Whether the parameter can be drawn from a family-level Normal (real-valued)."""
        return self.prior.distribution in ("Normal", "StudentT")


@dataclass(frozen=True)
class DoseScale:
    """Dose constants a shape needs: the tested doses and the reference dose.

    Parameters
    ----------
    tested : tuple of float
        The distinct doses in the data, ascending.

    Examples
    --------
    >>> DoseScale((1.0, 10.0, 50.0)).reference
    50.0
    >>> DoseScale((1.0, 10.0, 50.0)).lowest
    1.0
    """

    tested: tuple[float, ...]

    @property
    def reference(self) -> float:
        """The highest tested dose; ``delta`` is its effect against :attr:`lowest`."""
        return float(max(self.tested))

    @property
    def lowest(self) -> float:
        """The lowest tested dose (0 with placebo)."""
        return float(min(self.tested))

    @property
    def positive(self) -> tuple[float, ...]:
        """Tested doses above zero."""
        return tuple(d for d in self.tested if d > 0)

    @property
    def has_zero(self) -> bool:
        """Whether dose 0 (placebo) was tested."""
        return min(self.tested) == 0

    @property
    def midpoint(self) -> float:
        """Geometric mean of the positive tested doses: the default projected ED50."""
        return float(np.exp(np.mean(np.log(self.positive))))

    @property
    def baseline_dose(self) -> float:
        """Dose against which a shape with no extrapolation (free means) measures effects."""
        return float(min(self.tested))


def one_hot(values: Any, levels: tuple[float, ...]) -> np.ndarray:
    """Indicator matrix of ``values`` against ``levels`` (trailing axis = levels).

    Parameters
    ----------
    values : array-like
        Doses or times (any shape).
    levels : tuple of float
        The levels that own a parameter.

    Returns
    -------
    numpy.ndarray
        Shape ``values.shape + (len(levels),)``.

    Examples
    --------
    >>> one_hot([10.0, 50.0], (10.0, 50.0)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    values = np.asarray(values, dtype=float)
    return (np.isclose(values[..., None], np.asarray(levels, dtype=float))).astype(float)


class DoseShape:
    """Base class of dose-response shapes. Subclasses set ``name`` and ``formula``.

    Examples
    --------
    >>> get_dose_shape("linear").formula
    'f(d) = delta * d / (d_ref - d_low)'
    """

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    extrapolates_to_zero: ClassVar[bool] = True

    def parameters(self, scale: DoseScale) -> list[Parameter]:  # pragma: no cover - abstract
        """The shape's parameters and their default priors."""
        raise NotImplementedError

    def evaluate(self, dose: Any, params: dict[str, Any], scale: DoseScale, xp: Any) -> Any:
        """Effect at ``dose`` against dose 0 (standardised scale).

        ``dose`` broadcasts against scalar parameters; vector parameters carry their
        levels on an extra trailing axis. ``xp`` is ``numpy`` or ``pytensor.tensor``.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def derived(self, params: dict[str, Any], scale: DoseScale) -> dict[str, Any]:
        """Derived quantities in the user's units (for example ED50), from NumPy draws."""
        return {}

    def options(self) -> dict[str, Any]:
        """Settings that define this shape besides its name (stored with a fit)."""
        return {}

    def check_doses(self, doses: Any, scale: DoseScale) -> None:
        """Raise :class:`EstimandError` for doses the shape cannot evaluate."""
        if np.any(np.asarray(doses, dtype=float) < 0):
            raise EstimandError("doses must be >= 0.")


DELTA_REASON = (
    "Normal(0, 1) on the standardised scale: an effect of the top dose against the lowest "
    "within about two outcome SDs either way, centred on no effect, so the data decide "
    "the direction."
)


def _delta() -> Parameter:
    return Parameter("delta", Prior("Normal", mu=0, sigma=1), DELTA_REASON,
                     "effect of the highest against the lowest tested dose")


class Linear(DoseShape):
    """Linear in dose: f(d) = delta * d / (d_ref - d_low).

    Examples
    --------
    >>> import numpy as np
    >>> Linear().evaluate(np.array([25.0]), {"delta": 2.0}, DoseScale((0.0, 50.0)), np)
    array([1.])
    >>> Linear().evaluate(np.array([10.0, 50.0]), {"delta": 2.0}, DoseScale((10.0, 50.0)), np)
    array([0.5, 2.5])
    """

    name = "linear"
    formula = "f(d) = delta * d / (d_ref - d_low)"

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [_delta()]

    def evaluate(self, dose, params, scale, xp):
        return params["delta"] * dose / (scale.reference - scale.lowest)


@dataclass
class LogLinear(DoseShape):
    """Linear in log dose: f(d) = delta * u(d) / (u(d_ref) - u(d_low)), u(d) = log(1 + d/off).

    Parameters
    ----------
    offset : float, optional
        The fixed offset ``off`` in dose units (default: 0.1 x the highest tested dose,
        DoseFinding's default for its linear-in-log-dose model).

    Examples
    --------
    >>> import numpy as np
    >>> LogLinear(offset=1.0).evaluate(np.array([50.0]), {"delta": 1.5},
    ...                                DoseScale((0.0, 50.0)), np)
    array([1.5])
    """

    offset: float | None = None
    name: ClassVar[str] = "log_linear"
    formula: ClassVar[str] = ("f(d) = delta * u(d)/(u(d_ref) - u(d_low)), "
                              "u(d) = log(1 + d/off)")

    def __post_init__(self) -> None:
        if self.offset is not None and not self.offset > 0:
            raise SpecError(f"log_linear: offset must be > 0 (got {self.offset!r}).")

    def off(self, scale: DoseScale) -> float:
        """The offset in dose units."""
        return float(self.offset) if self.offset is not None else 0.1 * scale.reference

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [_delta()]

    def evaluate(self, dose, params, scale, xp):
        off = self.off(scale)
        span = np.log1p(scale.reference / off) - np.log1p(scale.lowest / off)
        return params["delta"] * xp.log1p(dose / off) / span

    def options(self) -> dict[str, Any]:
        return {} if self.offset is None else {"offset": self.offset}


ED50_REASON = (
    "StudentT(nu=5, mu=0, sigma=1.73) on log(ED50 / p50), p50 = geometric mean of the "
    "tested doses: clinDR's meta-analytic prior for log ED50 (Thomas et al. 2014; "
    "emaxPrior.control: parmDF=5, loged50sca=1.73). It covers ED50s from about 1/80 to "
    "80 times p50 (95%), so the tested range and beyond, while its t tails keep the "
    "posterior proper when three doses cannot pin ED50 down."
)


class Emax(DoseShape):
    """Hyperbolic Emax, parameterised by the effect of the top dose against the lowest
    (clinDR's form, which has placebo as the lowest dose).

    f(d) = Emax * d / (ED50 + d), ED50 = p50 * exp(log_ed50), and
    Emax = delta / (u(d_ref) - u(d_low)) with u(d) = d / (ED50 + d), that is
    Emax = delta * (ED50 + d_ref) * (ED50 + d_low) / (ED50 * (d_ref - d_low)).

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((0.0, 10.0, 50.0))
    >>> p = {"delta": 1.0, "log_ed50": np.log(10 / s.midpoint)}
    >>> float(Emax().evaluate(np.array(10.0), p, s, np))  # half of Emax = 0.5 * 60 / 50
    0.6
    >>> s = DoseScale((1.0, 10.0, 50.0))
    >>> p = {"delta": 1.0, "log_ed50": np.log(10 / s.midpoint)}
    >>> f = Emax().evaluate(np.array([1.0, 50.0]), p, s, np)
    >>> round(float(f[1] - f[0]), 12)  # delta is the effect of 50 against 1
    1.0
    """

    name = "emax"
    formula = ("f(d) = Emax * d/(ED50 + d), Emax = delta * (ED50 + d_ref)(ED50 + d_low) / "
               "(ED50 (d_ref - d_low)), ED50 = p50 * exp(log_ed50)")

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [
            _delta(),
            Parameter("log_ed50", Prior("StudentT", nu=5, mu=0, sigma=1.73), ED50_REASON,
                      "log of ED50 relative to p50 (the geometric mean tested dose)",
                      pool_sd=1.0),
        ]

    @staticmethod
    def _emax(delta: Any, ed50: Any, scale: DoseScale) -> Any:
        """The asymptote whose curve rises by ``delta`` from the lowest to the top dose."""
        ref, low = scale.reference, scale.lowest
        if low == 0:
            return delta * (ed50 + ref) / ref
        return delta * (ed50 + ref) * (ed50 + low) / (ed50 * (ref - low))

    def evaluate(self, dose, params, scale, xp):
        ed50 = scale.midpoint * xp.exp(params["log_ed50"])
        return self._emax(params["delta"], ed50, scale) * dose / (ed50 + dose)

    def derived(self, params, scale):
        ed50 = scale.midpoint * np.exp(params["log_ed50"])
        return {"ed50": ed50, "emax": self._emax(params["delta"], ed50, scale)}


class FreeMeans(DoseShape):
    """Free per-dose means: one effect per tested dose, no shape imposed.

    The effect at the lowest tested dose is fixed at 0. With placebo that is the effect
    against placebo; without placebo, effects are against the lowest dose, because
    nothing without a shape can extrapolate to dose 0.

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((1.0, 10.0, 50.0))
    >>> FreeMeans().evaluate(np.array([1.0, 50.0]), {"delta": np.array([0.2, 0.9])}, s, np)
    array([0. , 0.9])
    """

    name = "free"
    formula = "f(d_j) = delta_j for each tested dose d_j above the lowest; f(d_lowest) = 0"
    extrapolates_to_zero = False

    @staticmethod
    def levels(scale: DoseScale) -> tuple[float, ...]:
        """Tested doses that own a parameter (all but the lowest)."""
        return tuple(scale.tested[1:])

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        reason = ("Normal(0, 1) per dose on the standardised scale: each dose's effect "
                  "against the lowest dose within about two scale SDs, independently.")
        return [Parameter("delta", Prior("Normal", mu=0, sigma=1), reason,
                          "effect of each dose against the lowest tested dose",
                          levels="dose_level")]

    def evaluate(self, dose, params, scale, xp):
        indicator = one_hot(dose, self.levels(scale))
        return xp.sum(params["delta"] * indicator, axis=-1)

    def check_doses(self, doses, scale):
        super().check_doses(doses, scale)
        untested = [d for d in np.atleast_1d(doses) if not np.isclose(d, scale.tested).any()]
        if untested:
            raise EstimandError(
                f"the free per-dose model has no curve between doses: dose(s) "
                f"{', '.join(f'{d:g}' for d in untested)} were not tested (tested: "
                f"{', '.join(f'{d:g}' for d in scale.tested)}). Ask for a tested dose or "
                "fit a dose shape such as 'emax'."
            )


HILL_REASON = (
    "StudentT(nu=5, mu=0, sigma=0.425) on log(Hill): clinDR's meta-analytic prior for the "
    "Hill exponent (emaxPrior.control: loglammu=0, loglamsca=0.425), centred on the "
    "hyperbolic Emax (Hill = 1) with 95% between about 0.34 and 3. clinDR also correlates "
    "it with log ED50 (parmCor = -0.45); here the two are independent."
)


class SigmoidEmax(DoseShape):
    """Sigmoid Emax (Hill) model, parameterised by the effect of the top dose against the
    lowest.

    f(d) = delta * h(d) / (h(d_ref) - h(d_low)), h(d) = d^n / (ED50^n + d^n),
    ED50 = p50 * exp(log_ed50), n = exp(log_hill); Emax = delta / (h(d_ref) - h(d_low)).
    With three doses and no placebo, ED50 and the Hill exponent are not both identified
    by the data; their priors carry them (a warning says so).

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((0.0, 10.0, 50.0))
    >>> p = {"delta": 1.0, "log_ed50": np.log(10 / s.midpoint), "log_hill": 0.0}
    >>> round(float(SigmoidEmax().evaluate(np.array(10.0), p, s, np)), 6)  # = hyperbolic
    0.6
    """

    name = "sigmoid_emax"
    formula = ("f(d) = delta * h(d)/(h(d_ref) - h(d_low)), h(d) = d^n/(ED50^n + d^n), "
               "ED50 = p50 * exp(log_ed50), n = exp(log_hill)")

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [*Emax().parameters(scale),
                Parameter("log_hill", Prior("StudentT", nu=5, mu=0, sigma=0.425), HILL_REASON,
                          "log of the Hill exponent (steepness; 0 = hyperbolic Emax)")]

    @staticmethod
    def _emax(delta: Any, ed50: Any, hill: Any, scale: DoseScale) -> Any:
        """The asymptote whose curve rises by ``delta`` from the lowest to the top dose:
        delta / (h(d_ref) - h(d_low)), with h(d_ref) - h(d_low) = (r_ref - r_low) /
        ((1 + r_ref)(1 + r_low)), r = (d / ED50)^n."""
        ratio_ref = (scale.reference / ed50) ** hill
        if scale.lowest == 0:
            return delta * (1 + ratio_ref) / ratio_ref
        ratio_low = (scale.lowest / ed50) ** hill
        return delta * (1 + ratio_ref) * (1 + ratio_low) / (ratio_ref - ratio_low)

    def evaluate(self, dose, params, scale, xp):
        hill = xp.exp(params["log_hill"])
        ed50 = scale.midpoint * xp.exp(params["log_ed50"])
        # (0 / ED50)^n has an undefined gradient in n: evaluate at dose 1 and mask to 0
        dose = np.asarray(dose, dtype=float)
        positive = (dose > 0).astype(float)
        ratio = positive * (np.where(dose > 0, dose, 1.0) / ed50) ** hill
        return self._emax(params["delta"], ed50, hill, scale) * ratio / (1 + ratio)

    def derived(self, params, scale):
        ed50 = scale.midpoint * np.exp(params["log_ed50"])
        hill = np.exp(params["log_hill"])
        return {"ed50": ed50, "hill": hill,
                "emax": self._emax(params["delta"], ed50, hill, scale)}


RATE_REASON = (
    "Normal(0, 1) on log(kappa / d_ref): the curvature scale between about 1/7 and 7 times "
    "the top dose (95%), from clearly convex (effect only near the top dose) to nearly linear."
)


class ExponentialDose(DoseShape):
    """Exponential (convex) dose-response, DoseFinding's ``exponential`` model.

    f(d) = delta * (exp(d/kappa) - 1) / (exp(d_ref/kappa) - exp(d_low/kappa)),
    kappa = d_ref * exp(log_kappa).

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((0.0, 50.0))
    >>> float(ExponentialDose().evaluate(np.array(50.0), {"delta": 2.0, "log_kappa": 0.3},
    ...                                  s, np))
    2.0
    """

    name = "exponential"
    formula = ("f(d) = delta * (exp(d/kappa) - 1)/(exp(d_ref/kappa) - exp(d_low/kappa)), "
               "kappa = d_ref * exp(log_kappa)")

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [_delta(),
                Parameter("log_kappa", Prior("Normal", mu=0, sigma=1), RATE_REASON,
                          "log of the dose scale of the convexity, relative to the top dose")]

    def evaluate(self, dose, params, scale, xp):
        kappa = scale.reference * xp.exp(params["log_kappa"])
        span = xp.expm1(scale.reference / kappa) - xp.expm1(scale.lowest / kappa)
        return params["delta"] * xp.expm1(dose / kappa) / span


CURVATURE_REASON = (
    "Normal(0, 1): the bend of the curve within about two scale SDs; 0 is linear, "
    "|curvature| > |delta| gives a peak inside the tested range (umbrella shape)."
)


class Quadratic(DoseShape):
    """Quadratic dose-response (may rise then fall), with x = d / d_ref.

    f(d) = a * x + curvature * x * (x - 1), so f(0) = 0, with the slope a set so that
    f(d_ref) - f(d_low) = delta: a = (delta + curvature * x_low * (x_low - 1)) / (1 - x_low)
    (a = delta with placebo).

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((0.0, 50.0))
    >>> Quadratic().evaluate(np.array([25.0, 50.0]), {"delta": 1.0, "curvature": -2.0}, s, np)
    array([1., 1.])
    """

    name = "quadratic"
    formula = ("f(d) = a * x + curvature * x * (x - 1), x = d / d_ref, "
               "a = (delta + curvature * x_low * (x_low - 1)) / (1 - x_low)")

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [_delta(),
                Parameter("curvature", Prior("Normal", mu=0, sigma=1), CURVATURE_REASON,
                          "departure from linearity (negative = concave)")]

    def evaluate(self, dose, params, scale, xp):
        x, low = dose / scale.reference, scale.lowest / scale.reference
        slope = (params["delta"] + params["curvature"] * low * (low - 1)) / (1 - low)
        return slope * x + params["curvature"] * x * (x - 1)


MONOTONE_DIRECTIONS = ("increasing", "decreasing")


@dataclass
class Monotone(DoseShape):
    """Monotone non-parametric dose-response: ordered non-negative increments.

    f(d_j) = s * (inc_1 + ... + inc_j) at the j-th tested dose above the lowest,
    f(lowest) = 0, inc_j >= 0 the gain from one tested dose to the next, and s = +1
    ("increasing": better with dose on the direction-aligned scale) or -1 ("decreasing").
    Increments are drawn directly (not as a split of a total effect), which keeps the
    posterior free of the funnel a total-times-simplex form has when the effect is small.

    Parameters
    ----------
    direction : {"increasing", "decreasing"}
        Which way the response moves with dose, on the direction-aligned scale.

    Examples
    --------
    >>> import numpy as np
    >>> s = DoseScale((1.0, 10.0, 50.0))
    >>> Monotone().evaluate(np.array([1.0, 10.0, 50.0]),
    ...                     {"increments": np.array([0.5, 1.5])}, s, np)
    array([0. , 0.5, 2. ])
    """

    direction: str = "increasing"
    name: ClassVar[str] = "monotone"
    formula: ClassVar[str] = ("f(d_j) = s * (inc_1 + ... + inc_j), inc >= 0, "
                              "f(lowest) = 0, s = +1 increasing / -1 decreasing")
    extrapolates_to_zero: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.direction not in MONOTONE_DIRECTIONS:
            raise SpecError(f"monotone: direction must be one of "
                            f"{', '.join(MONOTONE_DIRECTIONS)} (got {self.direction!r}).")

    levels = staticmethod(FreeMeans.levels)

    def parameters(self, scale: DoseScale) -> list[Parameter]:
        return [Parameter(
            "increments", Prior("HalfNormal", sigma=0.5),
            "HalfNormal(0.5) per step up in dose: each step adds between 0 and about one "
            "scale SD of improvement, and a step can be nil.",
            "gain in effect from each tested dose to the next (standardised, >= 0)",
            levels="dose_level")]

    def evaluate(self, dose, params, scale, xp):
        sign = 1.0 if self.direction == "increasing" else -1.0
        cumulative = xp.cumsum(params["increments"], axis=-1)
        indicator = one_hot(dose, self.levels(scale))
        return sign * xp.sum(cumulative * indicator, axis=-1)

    def check_doses(self, doses, scale):
        FreeMeans().check_doses(doses, scale)

    def options(self) -> dict[str, Any]:
        return {"direction": self.direction}


_DOSE_SHAPES: dict[str, Callable[..., DoseShape]] = {}


def register_dose_shape(factory: Callable[..., DoseShape], name: str | None = None) -> None:
    """Make a dose shape available by name in Python and in model files.

    Parameters
    ----------
    factory : callable
        A :class:`DoseShape` subclass (or any callable returning one from keyword options).
    name : str, optional
        The name to register (default: ``factory.name``).

    Examples
    --------
    >>> class Cubic(DoseShape):
    ...     name = "cubic_demo"
    ...     formula = "f(d) = delta * (d/d_ref)**3"
    ...     def parameters(self, scale):
    ...         return [Parameter("delta", Prior("Normal", mu=0, sigma=1), "why", "what")]
    ...     def evaluate(self, dose, params, scale, xp):
    ...         return params["delta"] * (dose / scale.reference) ** 3
    >>> register_dose_shape(Cubic)
    >>> get_dose_shape("cubic_demo").formula
    'f(d) = delta * (d/d_ref)**3'
    >>> del _DOSE_SHAPES["cubic_demo"]  # the example leaves the registry as it found it
    """
    key = name or getattr(factory, "name", "")
    if not key:
        raise SpecError("register_dose_shape: the shape needs a name.")
    _DOSE_SHAPES[key] = factory


def dose_shape_names() -> list[str]:
    """Names of the registered dose shapes."""
    return sorted(_DOSE_SHAPES)


def get_dose_shape(shape: str | DoseShape, **options: Any) -> DoseShape:
    """Look up a dose shape by name (or pass an instance through).

    Parameters
    ----------
    shape : str or DoseShape
        A registered name (see :func:`dose_shape_names`) or a shape object.
    **options
        Settings of the shape (for example ``offset`` for ``log_linear``).

    Returns
    -------
    DoseShape

    Examples
    --------
    >>> get_dose_shape("emax").name
    'emax'
    """
    if isinstance(shape, DoseShape):
        return shape
    if shape not in _DOSE_SHAPES:
        raise SpecError(f"unknown dose shape {shape!r}; choose one of "
                        f"{', '.join(dose_shape_names())} or register your own.")
    try:
        return _DOSE_SHAPES[shape](**options)
    except TypeError as exc:
        raise SpecError(f"dose shape {shape!r}: bad options {options!r} ({exc}).") from exc


for _shape in (Linear, LogLinear, Emax, SigmoidEmax, ExponentialDose, Quadratic, FreeMeans,
               Monotone):
    register_dose_shape(_shape)
