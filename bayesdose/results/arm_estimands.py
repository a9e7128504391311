"""Read-outs of an arm-level fit for a chosen population of studies, as tidy tables.

An arm-level fit (:class:`~bayesdose.results.arm_fit.ArmFit`, and the combined model's
:class:`~bayesdose.model.combined.CombinedFit`) has an effect size per study drawn from a
between-study distribution, ``delta_s = delta + tau * z_s``. Every read-out here is for a
population named by ``study=``:

- ``"pooled"`` (default): the mean of the between-study distribution, ``delta``;
- ``"new"``: a new study, ``delta_new = delta + tau * z`` with z ~ Normal(0, 1) drawn
  once per posterior draw (independently per tested dose for the ``"free"`` shape, and
  per agent, as in the model), from a generator seeded by the fit's ``random_seed``: the
  same fit gives the same numbers. Its intervals are wider than the pooled ones by the
  between-study spread. With fixed study effects (``study_effects="fixed"``) every study
  has ``delta``, and ``"new"`` is the same as ``"pooled"``;
- a study's label: that study's own effect size ``delta_s`` (``delta`` with fixed study
  effects).

The dose-shape and time-course parameters other than the effect size are those of the
chosen agent, whatever the population. Effects are against placebo (dose 0), in outcome
units (the standardised, direction-aligned draws times ``sign * scale_sd``), at the
time(s) asked for (default: the last time point). Every table has columns ``study`` (the
population asked for), ``agent`` and ``population`` (the population in words).

The functions are also methods of the fit (``fit.effect(...)`` and so on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayesdose.components.shapes import (
    DoseScale,
    Emax,
    ExponentialDose,
    Linear,
    LogLinear,
    Quadratic,
    SigmoidEmax,
)
from bayesdose.errors import EstimandError
from bayesdose.results.dose_estimands import (
    GRID_POINTS,
    check_fraction,
    first_crossing,
    invert_dose,
    summarise_dose_draws,
)
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    dose_status,
    interval_label,
    summarise,
)

if TYPE_CHECKING:
    from bayesdose.results.arm_fit import ArmFit

#: A constant mixed into the fit's seed for the draws of a new study's z, so that they do
#: not repeat the sampler's stream.
NEW_STUDY_STREAM = 7919

_CLOSED_FORM = (Linear, LogLinear, Emax, SigmoidEmax, ExponentialDose)


@dataclass(frozen=True)
class Population:
    """The draws of one population's dose-shape and time-course parameters, one agent.

    Attributes
    ----------
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str
        The agent.
    dose_params : dict of str to numpy.ndarray
        The dose-shape parameters, draws first (``delta`` that of the population).
    time_params : dict of str to numpy.ndarray
        The time-course parameters, draws first (empty with one time point per study).
    dose_scale : DoseScale
        The agent's dose scale.
    description : str
        The population in words.

    Examples
    --------
    >>> population(fit, "pooled", agent="X").dose_scale.tested  # doctest: +SKIP
    (0.0, 10.0, 50.0)
    """

    study: str
    agent: str
    dose_params: dict[str, np.ndarray]
    time_params: dict[str, np.ndarray]
    dose_scale: DoseScale
    description: str

    @property
    def draws(self) -> int:
        """The number of posterior draws."""
        return len(self.dose_params["delta"])


# ---------------------------------------------------------------------------- populations
def agent_position(fit: ArmFit, agent: str | None) -> tuple[int, str]:
    """The position and name of ``agent`` among the fit's agents.

    Parameters
    ----------
    fit : ArmFit
    agent : str or None
        Required when the fit has several agents; with one, None or its name.

    Returns
    -------
    tuple of (int, str)

    Raises
    ------
    EstimandError
        No agent given with several, or one that is not in the fit.

    Examples
    --------
    >>> agent_position(fit, "X")  # doctest: +SKIP
    (0, 'X')
    """
    agents = list(fit.inputs.agents) or ["active"]
    if agent is None:
        if len(agents) > 1:
            raise EstimandError(f"the fit has several agents ({', '.join(map(repr, agents))});"
                                " choose one with agent=...")
        return 0, agents[0]
    if agent not in agents:
        raise EstimandError(f"agent {agent!r} is not in the fit (agents: "
                            f"{', '.join(map(repr, agents))}).")
    return agents.index(agent), str(agent)


def _stacked(values: np.ndarray) -> np.ndarray:
    """Draws with chains and draws stacked first."""
    return values.reshape((-1, *values.shape[2:]))


def _for_agent(values: np.ndarray, part: Any, several: bool, lead: int = 1) -> np.ndarray:
    """The agent's part of stacked draws whose axis ``lead`` is the agent (or its doses)."""
    if not several:
        return values
    index = (slice(None),) * lead + (part,)
    return values[index]


def _studies(fit: ArmFit) -> list[str]:
    """Study labels of the study effect sizes (those of the draws when they have them)."""
    posterior = fit.idata["posterior"]
    if "delta_study" in posterior and "study" in posterior["delta_study"].coords:
        return [str(s) for s in posterior["delta_study"].coords["study"].to_numpy()]
    return list(fit.inputs.studies)


def new_study_z(fit: ArmFit, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Normal draws of a new study's z, one per posterior draw and level.

    Drawn from a generator seeded by the fit's ``random_seed`` (0 when it has none), so
    the same fit gives the same draws.

    Parameters
    ----------
    fit : ArmFit
    shape : tuple of int
        The shape of the stacked draws of ``delta`` (draws first, all agents).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> z = new_study_z(fit, (4,))  # doctest: +SKIP
    """
    seed = fit.settings.get("random_seed")
    seed = 0 if seed is None else int(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, NEW_STUDY_STREAM]))
    return rng.standard_normal(shape)


def population(fit: ArmFit, study: Any = "pooled", agent: str | None = None) -> Population:
    """The parameter draws of the population ``study`` for one agent.

    Parameters
    ----------
    fit : ArmFit
    study : str
        ``"pooled"``, ``"new"`` or a study's label (module notes).
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    Population

    Raises
    ------
    EstimandError
        A study that is not in the fit, or one without an arm of the agent.

    Examples
    --------
    >>> population(fit, "new").description  # doctest: +SKIP
    'a new study: delta + tau * z, z ~ Normal(0, 1) per posterior draw'
    """
    if not isinstance(study, str):
        raise EstimandError(f"study= takes 'pooled' (the mean of the between-study "
                            f"distribution), 'new' (a new study) or a study's label; got "
                            f"{study!r}.")
    position, name = agent_position(fit, agent)
    inputs, model = fit.inputs, fit.model
    several = inputs.several_agents
    slices = inputs.level_slices(model.dose_shape)
    part = slices[position] if slices else position
    scale = inputs.agent_scale(position)
    posterior = fit.idata["posterior"]
    dose_params = {p.name: _for_agent(_stacked(posterior[p.name].to_numpy()), part, several)
                   for p in model.dose_shape.parameters(scale)}
    time_params = {}
    if inputs.time_scale is not None:
        by_agent = several and model.time_by_agent
        time_params = {p.name: _for_agent(_stacked(posterior[p.name].to_numpy()), position,
                                          by_agent)
                       for p in model.time_shape.parameters(inputs.time_scale)}
    delta, description = _population_delta(fit, study, name, part, several)
    dose_params["delta"] = delta
    return Population(study, name, dose_params, time_params, scale, description)


def _population_delta(fit: ArmFit, study: str, agent: str, part: Any,
                      several: bool) -> tuple[np.ndarray, str]:
    """Draws of the population's effect size (stacked, the agent's part) and words."""
    posterior = fit.idata["posterior"]
    pooled = _stacked(posterior["delta"].to_numpy())
    random = "tau" in posterior
    if study == "pooled":
        return _for_agent(pooled, part, several), (
            "pooled: the mean of the between-study distribution (delta)" if random else
            "pooled: the effect size common to every study (fixed study effects)")
    if study == "new":
        if not random:
            return _for_agent(pooled, part, several), (
                "a new study: with fixed study effects every study has delta, so the same "
                "as pooled")
        tau = _stacked(posterior["tau"].to_numpy())
        z = new_study_z(fit, pooled.shape)
        values = pooled + tau.reshape((-1,) + (1,) * (pooled.ndim - 1)) * z
        return _for_agent(values, part, several), (
            "a new study: delta + tau * z, z ~ Normal(0, 1) per posterior draw")
    studies = _studies(fit)
    if study not in studies:
        raise EstimandError(f"study {study!r} is not in the fit: give 'pooled', 'new' or one "
                            f"of {', '.join(map(repr, studies))}.")
    table = fit.inputs.table
    own = table[table["study"] == study]
    if several and not (own["agent"] == agent).any():
        raise EstimandError(f"study {study!r} has no arm of agent {agent!r}, so its effect "
                            "size for that agent is not informed by its data; ask for "
                            "study='new' (a new study) or 'pooled'.")
    if not random:
        return _for_agent(pooled, part, several), (
            f"study {study!r}: with fixed study effects its effect size is delta")
    values = _stacked(posterior["delta_study"].to_numpy())[:, studies.index(study)]
    return _for_agent(values, part, several), f"study {study!r}: its own effect size delta_s"


# ---------------------------------------------------------------------------- curves
def _doses(dose: Any, pop: Population, fit: ArmFit) -> np.ndarray:
    doses = np.asarray(as_list(dose, [], "dose"), dtype=float)
    if np.any(doses < 0):
        raise EstimandError(f"doses must be >= 0 (got {dose!r}); dose 0 is placebo.")
    fit.model.dose_shape.check_doses(doses, pop.dose_scale)
    return doses


def curve(fit: ArmFit, pop: Population, doses: np.ndarray) -> np.ndarray:
    """f at ``doses`` per draw (standardised, direction-aligned), shape (draws, dose).

    Examples
    --------
    >>> curve(fit, population(fit), np.array([10.0, 50.0])).shape  # doctest: +SKIP
    (2000, 2)
    """
    params = {k: v.reshape((v.shape[0], 1, *v.shape[1:])) for k, v in pop.dose_params.items()}
    values = fit.model.dose_shape.evaluate(np.asarray(doses, dtype=float), params,
                                           pop.dose_scale, np)
    return np.broadcast_to(values, (pop.draws, len(doses)))


def course(fit: ArmFit, pop: Population, time: Any) -> tuple[np.ndarray, np.ndarray]:
    """The times asked for (default: the last time point) and g at them, (draws, time).

    With one time point per study, times are ``[nan]`` and g = 1.

    Examples
    --------
    >>> times, g = course(fit, population(fit), None)  # doctest: +SKIP
    """
    scale = fit.inputs.time_scale
    if scale is None:
        return np.array([np.nan]), np.ones((pop.draws, 1))
    times = np.asarray(as_list(time, [scale.reference], "time"), dtype=float)
    fit.model.time_shape.check_times(times, scale)
    params = {k: v.reshape((v.shape[0], 1, *v.shape[1:])) for k, v in pop.time_params.items()}
    values = fit.model.time_shape.evaluate(times, params, scale, np)
    return times, np.broadcast_to(values, (pop.draws, len(times)))


def _unit(fit: ArmFit) -> float:
    """Outcome units per standardised, direction-aligned unit."""
    return float(fit.inputs.sign * fit.inputs.scale_sd)


def _direction(fit: ArmFit) -> str:
    return "higher_is_better" if fit.inputs.sign > 0 else "lower_is_better"


def _stats(draws: np.ndarray, ci_prob: float) -> dict[str, np.ndarray]:
    """Mean, SD, median and equal-tailed interval of (draws, ...) over the draws."""
    return summarise(draws[None], ci_prob, "eti")


def _frame(rows: list[dict[str, Any]], ci_prob: float) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.attrs["ci"] = interval_label(ci_prob, "eti")
    return frame


def _contrast_draws(fit: ArmFit, pop: Population, dose: Any, reference: float, time: Any
                    ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Draws of (f(dose) - f(reference)) g(time) in outcome units, (draws, dose, time)."""
    if np.ndim(reference) != 0:
        raise EstimandError(f"reference= takes one dose (got {reference!r}).")
    doses = _doses(dose, pop, fit)
    reference = float(_doses(reference, pop, fit)[0])
    f = curve(fit, pop, np.append(doses, reference))
    times, g = course(fit, pop, time)
    values = (f[:, :-1] - f[:, -1:])[:, :, None] * g[:, None, :] * _unit(fit)
    return values, reference, doses, times


def _check_mcid(mcid: Any) -> float:
    try:
        value = float(mcid)
    except (TypeError, ValueError) as exc:
        raise EstimandError(f"mcid must be a number >= 0 in outcome units (got {mcid!r})."
                            ) from exc
    if not np.isfinite(value) or value < 0:
        raise EstimandError(f"mcid must be a finite number >= 0 in outcome units (got "
                            f"{mcid!r}); the outcome's direction decides which way is better.")
    return value


# ---------------------------------------------------------------------------- tables
def effect(fit: ArmFit, dose: Any, time: Any = None, ci_prob: float = 0.9,
           study: str = "pooled", agent: str | None = None) -> pd.DataFrame:
    """The effect of ``dose`` against placebo at ``time`` for a population, outcome units.

    ``sign * scale_sd * f(dose; delta_pop) * g(time)``, ``delta_pop`` the population's
    effect size (module notes).

    Parameters
    ----------
    fit : ArmFit
    dose : float or sequence of float
        Doses (>= 0; only tested doses for ``"free"``).
    time : float or sequence of float, optional
        Times since baseline (default: the last time point; NaN with one time point per
        study).
    ci_prob : float
        Probability of the equal-tailed intervals.
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    pandas.DataFrame
        Columns study, agent, dose, time, mean, sd, median, ci_low, ci_high, dose_status
        (tested, interpolated or extrapolated among the agent's doses), population;
        ``attrs["ci"]`` names the interval.

    Examples
    --------
    >>> effect(fit, dose=[10, 50], time=12, study="new")  # doctest: +SKIP
    """
    check_interval(ci_prob, "eti")
    pop = population(fit, study, agent)
    doses = _doses(dose, pop, fit)
    times, g = course(fit, pop, time)
    values = curve(fit, pop, doses)[:, :, None] * g[:, None, :] * _unit(fit)
    stats = _stats(values, ci_prob)
    status = dose_status(doses, pop.dose_scale.tested)
    return _frame([{"study": study, "agent": pop.agent, "dose": float(d), "time": float(t),
                    **{k: float(v[i, j]) for k, v in stats.items()},
                    "dose_status": status[i], "population": pop.description}
                   for i, d in enumerate(doses) for j, t in enumerate(times)], ci_prob)


def contrast(fit: ArmFit, dose: Any, reference: float = 0.0, time: Any = None,
             ci_prob: float = 0.9, study: str = "pooled",
             agent: str | None = None) -> pd.DataFrame:
    """The contrast of ``dose`` against ``reference`` at ``time`` for a population.

    ``sign * scale_sd * (f(dose) - f(reference)) * g(time)`` per draw, both doses in the
    same population (for ``"new"``, the same new study).

    Parameters
    ----------
    fit : ArmFit
    dose : float or sequence of float
        Doses compared with ``reference``.
    reference : float
        The reference dose (default 0: placebo).
    time : float or sequence of float, optional
        Times since baseline (default: the last time point).
    ci_prob : float
        Probability of the equal-tailed intervals.
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    pandas.DataFrame
        Columns study, agent, dose, reference, time, mean, sd, median, ci_low, ci_high
        (outcome units, dose minus reference), direction, prob_gt_0 (posterior
        probability that ``dose`` is better than ``reference`` in the outcome's better
        direction), dose_status, reference_status, population.

    Examples
    --------
    >>> contrast(fit, dose=50, reference=10, time=12)  # doctest: +SKIP
    """
    check_interval(ci_prob, "eti")
    pop = population(fit, study, agent)
    values, reference, doses, times = _contrast_draws(fit, pop, dose, reference, time)
    stats = _stats(values, ci_prob)
    better = (values * fit.inputs.sign > 0).mean(axis=0)
    status = dose_status(doses, pop.dose_scale.tested)
    ref_status = dose_status([reference], pop.dose_scale.tested)[0]
    return _frame([{"study": study, "agent": pop.agent, "dose": float(d),
                    "reference": reference, "time": float(t),
                    **{k: float(v[i, j]) for k, v in stats.items()},
                    "direction": _direction(fit), "prob_gt_0": float(better[i, j]),
                    "dose_status": status[i], "reference_status": ref_status,
                    "population": pop.description}
                   for i, d in enumerate(doses) for j, t in enumerate(times)], ci_prob)


def prob_beyond_mcid(fit: ArmFit, dose: Any, mcid: float, reference: float = 0.0,
                     time: Any = None, study: str = "pooled",
                     agent: str | None = None) -> pd.DataFrame:
    """The posterior probability that ``dose`` is better than ``reference`` by more than
    the MCID, in the outcome's better direction, for a population.

    Parameters
    ----------
    fit : ArmFit
    dose : float or sequence of float
    mcid : float
        The minimal clinically important difference (>= 0, outcome units); for a
        lower-is-better outcome, a contrast below ``-mcid`` is beyond it.
    reference : float
        The reference dose (default 0: placebo).
    time : float or sequence of float, optional
        Times since baseline (default: the last time point).
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    pandas.DataFrame
        Columns study, agent, dose, reference, time, mcid, direction, mean (posterior
        mean contrast, outcome units), prob (P(sign * contrast > mcid)), population.

    Examples
    --------
    >>> prob_beyond_mcid(fit, dose=50, mcid=0.5, study="new")  # doctest: +SKIP
    """
    mcid = _check_mcid(mcid)
    pop = population(fit, study, agent)
    values, reference, doses, times = _contrast_draws(fit, pop, dose, reference, time)
    prob = (values * fit.inputs.sign > mcid).mean(axis=0)
    mean = values.mean(axis=0)
    return pd.DataFrame([{"study": study, "agent": pop.agent, "dose": float(d),
                          "reference": reference, "time": float(t), "mcid": mcid,
                          "direction": _direction(fit), "mean": float(mean[i, j]),
                          "prob": float(prob[i, j]), "population": pop.description}
                         for i, d in enumerate(doses) for j, t in enumerate(times)])


def _interpolates(fit: ArmFit, scale: DoseScale) -> bool:
    """Whether the dose shape has a curve between the tested doses."""
    low, high = min(scale.tested), max(scale.tested)
    try:
        fit.model.dose_shape.check_doses(np.array([(low + high) / 2.0]), scale)
    except EstimandError:
        return False
    return True


def _grid(fit: ArmFit, scale: DoseScale, start: float, stop: float) -> tuple[np.ndarray, bool]:
    """Doses searched between ``start`` and ``stop`` and whether they are a dense grid."""
    tested = np.asarray(scale.tested, dtype=float)
    inside = tested[(tested >= start - 1e-12) & (tested <= stop + 1e-12)]
    if _interpolates(fit, scale):
        grid = np.linspace(start, stop, GRID_POINTS) if stop > start else np.array([start])
        return np.unique(np.concatenate([grid, inside])), True
    return np.unique(np.concatenate([[start], inside])), False


def effective_dose_draws(fit: ArmFit, pop: Population, p: float
                         ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """EDp per draw (``inf`` where not reached), the maximal effect per draw
    (standardised), and the definition and method in words.

    As :func:`bayesdose.results.dose_estimands.effective_dose_draws`: for Emax-type
    shapes the dose giving p x Emax (the asymptote); for other shapes the smallest dose
    giving p x the effect at the agent's highest tested dose; not reached in a draw whose
    effect at the highest tested dose is not an improvement.

    Examples
    --------
    >>> ed, emax, definition, method = effective_dose_draws(fit, population(fit), 0.5)
    ... # doctest: +SKIP
    """
    shape, scale = fit.model.dose_shape, pop.dose_scale
    if isinstance(shape, Quadratic):
        raise EstimandError(
            "effective_dose: EDp is undefined for the 'quadratic' dose shape, whose curve "
            "may rise then fall. Use minimum_effective_dose(), or fit a monotone shape.")
    high = scale.reference
    top = curve(fit, pop, np.array([high]))[:, 0]
    if isinstance(shape, (Emax, SigmoidEmax)):
        maximal = shape.derived(pop.dose_params, scale)["emax"]
        ed = invert_dose(shape, pop.dose_params, p * maximal, scale)
        definition = ("dose at which f reaches p x Emax (the asymptote of the Emax curve; "
                      "ED50 = the model's ED50)")
        method = ("closed form: ED50 * p/(1-p)" if isinstance(shape, Emax)
                  else "closed form: ED50 * (p/(1-p))^(1/hill)")
    else:
        maximal = top
        origin = "placebo" if shape.extrapolates_to_zero else f"dose {scale.lowest:g}"
        definition = (f"smallest dose at which the effect against {origin} reaches p x its "
                      f"value at the highest tested dose ({high:g})")
        if isinstance(shape, _CLOSED_FORM):
            ed = invert_dose(shape, pop.dose_params, p * maximal, scale)
            method = "closed form"
        else:
            nodes, dense = _grid(fit, scale, 0.0 if shape.extrapolates_to_zero
                                 else scale.lowest, high)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = curve(fit, pop, nodes) / maximal[:, None]
            ed = first_crossing(nodes, ratio, np.full(pop.draws, p))
            method = (f"first crossing on a grid of {nodes.size} doses" if dense
                      else "linear interpolation between the tested doses")
    definition += "; not reached where the effect at the highest tested dose is not an " \
                  "improvement"
    ed = np.where(top > 0, np.where(np.isnan(ed), np.inf, ed), np.inf)
    return ed, maximal, definition, method


def effective_dose(fit: ArmFit, p: float = 0.5, time: Any = None, ci_prob: float = 0.9,
                   study: str = "pooled", agent: str | None = None) -> pd.DataFrame:
    """EDp: the dose giving a fraction ``p`` of the maximal dose effect, for a population.

    Defined as :meth:`bayesdose.DoseResponseFit.effective_dose`, per posterior draw: for
    Emax-type shapes (``emax``, ``sigmoid_emax``) the dose at which f reaches p x Emax,
    the asymptote (ED50 is the model's ED50; ED90 = 9 ED50 for the hyperbolic Emax, often
    beyond the tested doses); for other shapes (``linear``, ``log_linear``,
    ``exponential``, ``free``) the smallest dose at which the effect reaches p x the
    effect at the agent's highest tested dose. A draw whose effect at the highest tested
    dose is not an improvement has no EDp (``inf``, counted in ``prob_not_reached``).
    The population changes the effect size only, so for Emax-type and closed-form shapes
    it changes EDp only through the draws in which it is reached.

    Parameters
    ----------
    fit : ArmFit
    p : float
        Fraction of the maximal effect, in (0, 1) (0.5 for ED50).
    time : float or sequence of float, optional
        Times at which ``effect_at_ed`` is read (default: the last time point); EDp
        itself does not depend on the time.
    ci_prob : float
        Probability of the equal-tailed interval.
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    pandas.DataFrame
        One row per time: study, agent, time, p, definition, method, median, ci_low,
        ci_high (dose; over all draws, ``inf`` = not reached), geo_mean, geo_sd (over
        the draws where EDp is reached), prob_below_range, prob_in_range,
        prob_beyond_range (against the agent's tested doses), prob_not_reached,
        effect_at_ed (posterior median, over the draws where EDp is reached, of the
        effect at EDp at ``time``, outcome units), population.

    Examples
    --------
    >>> effective_dose(fit, p=0.5, study="pooled")  # doctest: +SKIP
    """
    p = check_fraction(p, "p")
    check_interval(ci_prob, "eti")
    pop = population(fit, study, agent)
    ed, maximal, definition, method = effective_dose_draws(fit, pop, p)
    times, g = course(fit, pop, time)
    reached = np.isfinite(ed)
    scale = pop.dose_scale
    stats = summarise_dose_draws(ed, ci_prob, "eti", min(scale.tested), scale.reference)
    rows = []
    for j, t in enumerate(times):
        at_ed = p * maximal * g[:, j] * _unit(fit)
        rows.append({"study": study, "agent": pop.agent, "time": float(t), "p": p,
                     "definition": definition, "method": method, **stats,
                     "effect_at_ed": float(np.median(at_ed[reached])) if reached.any()
                     else np.nan, "population": pop.description})
    return _frame(rows, ci_prob)


def minimum_effective_dose(fit: ArmFit, mcid: float, prob: float = 0.8, time: Any = None,
                           reference: float = 0.0, doses: Any = None, ci_prob: float = 0.9,
                           study: str = "pooled", agent: str | None = None) -> pd.DataFrame:
    """The smallest searched dose better than the reference by more than the MCID with
    posterior probability at least ``prob``, for a population.

    For each searched dose d, P(sign * contrast(d vs reference) > mcid) is computed as in
    :func:`prob_beyond_mcid`; the MED is the smallest searched dose where it reaches
    ``prob``. When no searched dose does, ``med`` is NaN, ``found`` is False and ``note``
    says so. Also summarised: the per-draw MED (in each draw, the smallest searched dose
    whose contrast is beyond the MCID; ``inf`` when none is), as
    :meth:`bayesdose.DoseResponseFit.minimum_effective_dose` does.

    Parameters
    ----------
    fit : ArmFit
    mcid : float
        The minimal clinically important difference (>= 0, outcome units).
    prob : float
        Posterior probability required, in (0, 1).
    time : float or sequence of float, optional
        Times since baseline (default: the last time point).
    reference : float
        The reference dose (default 0: placebo).
    doses : sequence of float, optional
        Doses searched (default: :data:`~bayesdose.results.dose_estimands.GRID_POINTS`
        evenly spaced doses from the agent's lowest to its highest tested dose plus the
        tested doses; the tested doses only for ``"free"``).
    ci_prob : float
        Probability of the equal-tailed interval of the per-draw MED.
    study : str
        ``"pooled"``, ``"new"`` or a study's label.
    agent : str, optional
        Required when the fit has several agents.

    Returns
    -------
    pandas.DataFrame
        One row per time: study, agent, time, reference, mcid, level (``prob``),
        direction, med (NaN when none), found, prob_at_med, max_prob, dose_at_max_prob,
        doses_searched, median, ci_low, ci_high, geo_mean, geo_sd, prob_not_reached (of
        the per-draw MED), note, population.

    Examples
    --------
    >>> minimum_effective_dose(fit, mcid=0.5, prob=0.8, study="new")  # doctest: +SKIP
    """
    mcid = _check_mcid(mcid)
    prob = check_fraction(prob, "prob")
    check_interval(ci_prob, "eti")
    pop = population(fit, study, agent)
    scale = pop.dose_scale
    if doses is None:
        grid, dense = _grid(fit, scale, scale.lowest, scale.reference)
        searched = (f"{grid.size} doses from {scale.lowest:g} to {scale.reference:g}" if dense
                    else "the tested doses")
    else:
        grid = np.unique(_doses(doses, pop, fit))
        searched = "the doses given"
    values, reference, grid, times = _contrast_draws(fit, pop, grid, reference, time)
    better = values * fit.inputs.sign > mcid  # (draws, dose, time)
    curve_prob = better.mean(axis=0)
    per_draw = np.where(better.any(axis=1), grid[np.argmax(better, axis=1)], np.inf)
    rows = []
    for j, t in enumerate(times):
        qualifies = np.flatnonzero(curve_prob[:, j] >= prob)
        found = qualifies.size > 0
        best = int(np.argmax(curve_prob[:, j]))
        note = ("" if found else
                f"no searched dose is better than dose {reference:g} by more than {mcid:g} "
                f"with probability >= {prob:g} (highest: {curve_prob[best, j]:.3f} at dose "
                f"{grid[best]:g}); med is NaN")
        rows.append({"study": study, "agent": pop.agent, "time": float(t),
                     "reference": reference, "mcid": mcid, "level": prob,
                     "direction": _direction(fit),
                     "med": float(grid[qualifies[0]]) if found else np.nan, "found": found,
                     "prob_at_med": float(curve_prob[qualifies[0], j]) if found else np.nan,
                     "max_prob": float(curve_prob[best, j]),
                     "dose_at_max_prob": float(grid[best]), "doses_searched": searched,
                     **summarise_dose_draws(per_draw[:, j], ci_prob, "eti"), "note": note,
                     "population": pop.description})
    return _frame(rows, ci_prob)

