"""The residual structure of the dose-response model: how large the residual is at each
visit, and how a patient's residuals are related over time.

Two options of :class:`~bayesdose.model.dose_response.DoseResponseModel` set it:

``residual_sd``
    ``"common"`` (default): one residual SD per outcome (``sigma``, dims ``outcome``).
    ``"per_visit"``: one per outcome and visit (``sigma``, dims ``outcome, time``), each
    with the default prior of ``sigma``; for outcomes whose visit-to-visit noise grows
    (or shrinks) over the trial.

``serial_correlation``
    ``"none"`` (default): given the mean (patient effect included), a patient's
    residuals are independent. ``"ar1"``: within each patient and outcome they follow a
    continuous-time first-order autoregression,
    ``corr(e_i, e_j) = rho ** (|t_i - t_j| / lag)``, with ``rho`` per outcome
    (Beta(2, 2) by default) and ``lag`` the fixed time span :func:`ar1_lag`: the median
    gap between consecutive scheduled visits, baseline included (2.5 months for visits
    at 1, 3, 6 and 12 months). So ``rho`` is the correlation of two residuals a typical
    visit interval apart, whatever the unit of time; residuals closer in time are more
    alike, and with a patient effect (the intended combination) the correlation decays
    towards that of the patient effect alone.

The AR(1) likelihood is exact and written by its sequential (conditional) decomposition
(:func:`ar1_conditional`): each patient x outcome series is sorted by time
(:func:`series_links`); its first observation is Normal(mu_1, s_1) and each later one
Normal(mu_j + c_j (s_j / s_p) (y_p - mu_p), s_j sqrt(1 - c_j^2)) with c_j =
rho ** ((t_j - t_p) / lag), where p is the previous *observed* value of the series. A
missing visit is skipped and unequal spacing is taken as it is. Consequences:

* the pointwise log likelihood of an observation is its conditional term given the
  patient's earlier values; summed over a patient's rows it is that patient's joint log
  density, so leave-one-*patient*-out (the default unit of :func:`bayesdose.loo`) stays
  valid, while leave-one-*observation*-out is not (an observation's term conditions on
  its neighbour, which would be left in);
* posterior (and prior) predictive draws are one-step-ahead: each observation is
  replicated given the patient's previous observed value, not jointly with it;
* with censoring at scale bounds, each observation's term is the conditional Normal
  censored at its bounds, and a previous value at a bound is conditioned on as if it
  were observed exactly there (an approximation: the exact term would integrate over
  the censored previous value);
* Student-t outcomes get Student-t innovations (the same conditional location and scale,
  ``nu`` degrees of freedom): an AR(1) with heavy-tailed shocks, not a multivariate t;
  lognormal outcomes are autoregressive on the log scale; ordinal outcomes are refused.

The mean structure, and so every read-out of the dose effect (effects, contrasts, the
MED), means the same with either option: the residual structure changes only how the
data weigh in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytensor.tensor as pt

from bayesdose.components.timecourses import TimeScale
from bayesdose.errors import DataError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.components.inputs import ModelInputs

#: The choices of ``residual_sd``: one SD per outcome, or one per outcome and visit.
RESIDUAL_SDS = ("common", "per_visit")

#: The choices of ``serial_correlation``: independent residuals, or a continuous-time AR(1).
SERIAL_CORRELATIONS = ("none", "ar1")

#: Likelihoods whose residuals can be serially correlated.
AR1_KINDS = frozenset({"normal", "student_t", "lognormal"})


def check_residual_options(residual_sd: Any, serial_correlation: Any) -> None:
    """Refuse unknown values of ``residual_sd`` and ``serial_correlation``.

    Parameters
    ----------
    residual_sd : {"common", "per_visit"}
        One residual SD per outcome, or one per outcome and visit.
    serial_correlation : {"none", "ar1"}
        Independent residuals, or a continuous-time AR(1) within patient and outcome.

    Raises
    ------
    SpecError
        Naming the option, the value and the choices.

    Examples
    --------
    >>> check_residual_options("per_visit", "ar1")
    >>> check_residual_options("visit", "none")
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: residual_sd 'visit' is not one of common, per_visit ...
    """
    for option, value, choices, meaning in (
            ("residual_sd", residual_sd, RESIDUAL_SDS,
             "one residual SD per outcome, or one per outcome and visit"),
            ("serial_correlation", serial_correlation, SERIAL_CORRELATIONS,
             "independent residuals, or a continuous-time AR(1) within patient and "
             "outcome")):
        if not isinstance(value, str) or value not in choices:
            raise SpecError(f"{option} {value!r} is not one of {', '.join(choices)} "
                            f"({meaning}).")


def ar1_lag(time_scale: TimeScale) -> float:
    """The time span ``rho`` is the correlation at: the median gap between consecutive
    scheduled visits, baseline included.

    It depends on the visit schedule only (not on which values are observed), so it is
    the same for every fit of a design and for refits that leave observations out.

    Parameters
    ----------
    time_scale : TimeScale
        The visits, counted from baseline.

    Returns
    -------
    float
        The lag, in the data's time unit.

    Examples
    --------
    >>> ar1_lag(TimeScale((1.0, 3.0, 6.0, 12.0)))  # gaps 1, 2, 3, 6
    2.5
    >>> ar1_lag(TimeScale((12.0,)))
    12.0
    """
    times = np.unique(np.concatenate([[0.0], np.asarray(time_scale.visits, dtype=float)]))
    gaps = np.diff(times)
    return float(np.median(gaps)) if gaps.size else 1.0


def check_ar1_likelihoods(inputs: ModelInputs) -> None:
    """Refuse serial correlation for outcomes whose likelihood cannot carry it (ordinal).

    Parameters
    ----------
    inputs : ModelInputs
        The data arranged for the model.

    Raises
    ------
    SpecError
        Naming the ordinal outcomes and the fixes.

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> msc = bd.datasets.load_msc_trial()
    >>> check_ar1_likelihoods(prepare_inputs(msc.select(["koos_pain"])))
    >>> check_ar1_likelihoods(prepare_inputs(msc.select(["mri_synovitis"])))
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: serial_correlation="ar1" needs continuous residuals, ...
    """
    refused = [o for o in inputs.outcomes if inputs.likelihoods[o].name not in AR1_KINDS]
    if refused:
        kinds = sorted({inputs.likelihoods[o].name for o in refused})
        raise SpecError(
            f"serial_correlation=\"ar1\" needs continuous residuals, but outcome(s) "
            f"{', '.join(map(repr, refused))} use the {' and '.join(kinds)} likelihood. "
            "Fit them in a model of their own with serial_correlation=\"none\", or leave "
            "them out (outcomes=[...]).")


def check_rho_prior(prior: Any) -> None:
    """Refuse a prior of ``rho`` that reaches outside (0, 1), where ``rho ** (gap / lag)``
    is no correlation.

    Parameters
    ----------
    prior : pymc_extras.prior.Prior
        The prior of ``rho`` in force.

    Raises
    ------
    SpecError
        For a distribution not on (0, 1).

    Examples
    --------
    >>> from pymc_extras.prior import Prior
    >>> check_rho_prior(Prior("Beta", alpha=2, beta=2))
    >>> check_rho_prior(Prior("Uniform", lower=0.2, upper=0.95))
    >>> check_rho_prior(Prior("Normal", mu=0.5, sigma=0.2))
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: priors['rho'] must keep rho within (0, 1) ...
    """
    ok = prior.distribution in ("Beta", "Kumaraswamy", "LogitNormal")
    if prior.distribution == "Uniform":
        low, high = prior.parameters.get("lower", 0.0), prior.parameters.get("upper", 1.0)
        ok = (isinstance(low, (int, float)) and isinstance(high, (int, float))
              and 0.0 <= low < high <= 1.0)
    if not ok:
        raise SpecError(f"priors['rho'] must keep rho within (0, 1) (the correlation of "
                        f"two residuals one lag apart); got {prior}. Use a Beta (the "
                        "default is Beta(2, 2)) or a Uniform with 0 <= lower < upper <= 1.")


def visit_index(inputs: ModelInputs) -> np.ndarray:
    """The visit of each observation, for per-visit residual SDs (``time_idx``).

    Raises
    ------
    SpecError
        When baseline values are among the observations (they have no visit of their own
        in the ``time`` coordinate).

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> visit_index(inputs)[:4].tolist()
    [0, 1, 2, 3]
    """
    baseline = getattr(inputs, "is_baseline", None)
    if baseline is not None and np.any(baseline):
        raise SpecError("residual_sd=\"per_visit\" has one SD per post-baseline visit, but "
                        "baseline values are among the observations here (the constrained "
                        "longitudinal analysis); use residual_sd=\"common\", or "
                        "analysis=\"change\" when every patient has a baseline value.")
    return np.asarray(inputs.time_idx, dtype=int)


def residual_scale(sigma: Any, outcome_sd: Any, inputs: ModelInputs, rows: np.ndarray,
                   per_visit: bool) -> Any:
    """Each observation's residual SD in outcome units: ``sigma`` (standardised, per
    outcome or per outcome and visit) times the outcome's scale SD.

    Parameters
    ----------
    sigma : TensorVariable or numpy.ndarray
        Dims ``outcome`` (``residual_sd="common"``) or ``outcome, time``.
    outcome_sd : TensorVariable or numpy.ndarray
        Each outcome's scale SD.
    inputs : ModelInputs
        The data arranged for the model.
    rows : numpy.ndarray
        The observations (positions in ``inputs``).
    per_visit : bool
        Whether ``sigma`` has a visit dim.

    Returns
    -------
    TensorVariable or numpy.ndarray
        One SD per row of ``rows``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> sigma = np.array([[0.5, 1.0, 1.5, 2.0]])  # one outcome, four visits
    >>> residual_scale(sigma, np.array([12.0]), inputs, np.arange(4), True).tolist()
    [6.0, 12.0, 18.0, 24.0]
    """
    k = inputs.outcome_idx[rows]
    if per_visit:
        return sigma[k, visit_index(inputs)[rows]] * outcome_sd[k]
    return sigma[k] * outcome_sd[k]


@dataclass(frozen=True)
class SeriesLinks:
    """Each observation's previous observation in its patient x outcome series.

    Attributes
    ----------
    previous : numpy.ndarray
        Position of the previous observation (by time) of the same patient and outcome;
        the observation's own position where it is the first of its series.
    has_previous : numpy.ndarray
        Whether there is one.
    gap : numpy.ndarray
        Time since the previous observation (0 for the first of a series).

    Examples
    --------
    >>> links = series_links(np.array([0, 0, 0]), np.array([0, 0, 0]),
    ...                      np.array([6.0, 1.0, 12.0]))
    >>> links.previous.tolist(), links.gap.tolist()
    ([1, 1, 0], [5.0, 0.0, 6.0])
    """

    previous: np.ndarray
    has_previous: np.ndarray
    gap: np.ndarray

    def within(self, rows: np.ndarray) -> SeriesLinks:
        """The links of the observations ``rows`` as positions within ``rows`` (every
        previous observation of a row must be among them: same outcome, same
        likelihood).

        Examples
        --------
        >>> links = series_links(np.array([0, 0, 0, 0]), np.array([0, 1, 0, 1]),
        ...                      np.array([1.0, 1.0, 3.0, 3.0]))
        >>> links.within(np.array([1, 3])).previous.tolist()
        [0, 0]
        """
        rows = np.asarray(rows, dtype=int)
        position = np.full(len(self.previous), -1)
        position[rows] = np.arange(rows.size)
        previous = position[self.previous[rows]]
        if np.any(previous < 0):
            raise SpecError("an observation's previous value lies outside its likelihood's "
                            "observations (outcomes of one series must share a likelihood).")
        return SeriesLinks(previous, self.has_previous[rows], self.gap[rows])


def series_links(patient_idx: np.ndarray, outcome_idx: np.ndarray,
                 elapsed: np.ndarray) -> SeriesLinks:
    """Link every observation to the previous observation of its patient and outcome.

    Works on whatever rows are present, in any order: series are sorted by time (any
    times, a time 0 included); a visit without a value is simply not a row, so the gap
    spans it.

    Parameters
    ----------
    patient_idx, outcome_idx : numpy.ndarray
        Patient and outcome of each observation (``ModelInputs``).
    elapsed : numpy.ndarray
        Time since baseline of each observation.

    Returns
    -------
    SeriesLinks

    Raises
    ------
    DataError
        When two observations of one patient and outcome share a time (the AR(1)
        correlation between them would be 1).

    Examples
    --------
    >>> links = series_links(np.array([0, 0, 1, 0]), np.array([0, 0, 0, 0]),
    ...                      np.array([1.0, 6.0, 1.0, 12.0]))  # patient 0 misses 3
    >>> links.has_previous.tolist(), links.gap.tolist()
    ([False, True, False, True], [0.0, 5.0, 0.0, 6.0])
    """
    patient_idx, outcome_idx = np.asarray(patient_idx), np.asarray(outcome_idx)
    elapsed = np.asarray(elapsed, dtype=float)
    n = elapsed.size
    order = np.lexsort((elapsed, outcome_idx, patient_idx))
    same = ((patient_idx[order][1:] == patient_idx[order][:-1])
            & (outcome_idx[order][1:] == outcome_idx[order][:-1]))
    previous = np.arange(n)
    previous[order[1:][same]] = order[:-1][same]
    has_previous = np.zeros(n, dtype=bool)
    has_previous[order[1:][same]] = True
    gap = elapsed - elapsed[previous]
    tied = np.flatnonzero(has_previous & (gap <= 0))
    if tied.size:
        shown = ", ".join(f"{int(previous[j])} and {int(j)}" for j in tied[:5])
        raise DataError(
            f"observations {shown} (positions in the model's inputs) are of the same "
            "patient and outcome at the same time; a serially correlated residual needs "
            "one value per patient, outcome and time. Average or remove the duplicates.")
    return SeriesLinks(previous, has_previous, gap)


def earlier_rows(patient_idx: np.ndarray, outcome_idx: np.ndarray,
                 elapsed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every earlier observation of each observation's series, oldest first, for picking
    the previous *present* one when observations are weighted in or out (the swappable
    form: :func:`present_links`).

    Parameters
    ----------
    patient_idx, outcome_idx, elapsed : numpy.ndarray
        As in :func:`series_links`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``candidates`` (observations x (longest series - 1)), positions of the earlier
        observations, padded with the observation's own position; ``valid``, True where a
        candidate is a real earlier observation.

    Examples
    --------
    >>> candidates, valid = earlier_rows(np.zeros(3, int), np.zeros(3, int),
    ...                                  np.array([1.0, 3.0, 6.0]))
    >>> candidates.tolist(), valid.tolist()
    ([[0, 0], [0, 1], [0, 1]], [[False, False], [True, False], [True, True]])
    """
    links = series_links(patient_idx, outcome_idx, elapsed)
    n = links.previous.size
    chains: list[list[int]] = [[] for _ in range(n)]
    order = np.lexsort((np.asarray(elapsed, dtype=float), outcome_idx, patient_idx))
    for j in order:  # earlier rows come first, so their chains are complete
        if links.has_previous[j]:
            p = int(links.previous[j])
            chains[j] = [*chains[p], p]
    width = max((len(c) for c in chains), default=0)
    candidates = np.repeat(np.arange(n)[:, None], width, axis=1)
    valid = np.zeros((n, width), dtype=bool)
    for j, chain in enumerate(chains):
        candidates[j, :len(chain)] = chain
        valid[j, :len(chain)] = True
    return candidates, valid


def present_links(candidates: np.ndarray, valid: np.ndarray, weight: Any,
                  elapsed: np.ndarray) -> tuple[Any, Any, Any]:
    """The previous observation of each observation among those with a positive weight
    (a symbolic choice: the weights are data that change between fits).

    Parameters
    ----------
    candidates, valid : numpy.ndarray
        From :func:`earlier_rows`.
    weight : TensorVariable
        Per-observation weights (0: left out).
    elapsed : numpy.ndarray
        Time since baseline of each observation.

    Returns
    -------
    (TensorVariable, TensorVariable, TensorVariable)
        ``previous``, ``has_previous`` and ``gap`` as in :class:`SeriesLinks`.

    Examples
    --------
    >>> candidates, valid = earlier_rows(np.zeros(3, int), np.zeros(3, int),
    ...                                  np.array([1.0, 3.0, 6.0]))
    >>> weight = pt.as_tensor(np.array([1.0, 0.0, 1.0]))  # the visit at 3 left out
    >>> previous, has, gap = present_links(candidates, valid, weight, np.array([1., 3, 6]))
    >>> previous.eval().tolist(), gap.eval().tolist()
    ([0, 0, 0], [0.0, 2.0, 5.0])
    """
    n = candidates.shape[0]
    own = np.arange(n)
    if candidates.shape[1] == 0:
        return pt.as_tensor(own), pt.zeros(n, dtype=bool), pt.zeros(n)
    rank = valid * np.arange(1, candidates.shape[1] + 1)[None, :]
    score = rank * pt.gt(pt.as_tensor(weight)[candidates], 0)
    has_previous = pt.gt(pt.max(score, axis=1), 0)
    best = pt.as_tensor(candidates)[own, pt.argmax(score, axis=1)]
    previous = pt.where(has_previous, best, own)
    elapsed = np.asarray(elapsed, dtype=float)
    return previous, has_previous, pt.as_tensor(elapsed) - pt.as_tensor(elapsed)[previous]


def ar1_conditional(mu: Any, sigma: Any, observed: Any, rho: Any, previous: Any,
                    has_previous: Any, gap: Any, lag: float, xp: Any = pt) -> tuple[Any, Any]:
    """Location and scale of each observation given the previous observed value of its
    series under a continuous-time AR(1) residual.

    With ``c = rho ** (gap / lag)`` (0 for the first of a series) and ``p`` the previous
    observation: location ``mu + c (sigma / sigma_p) (y_p - mu_p)``, scale
    ``sigma sqrt(1 - c^2)``. The product of these Normal densities over a series is its
    multivariate Normal density with ``cov_ij = sigma_i sigma_j rho ** (|t_i - t_j| /
    lag)``.

    Parameters
    ----------
    mu, sigma : array or TensorVariable
        Each observation's mean and marginal residual SD.
    observed : array or TensorVariable
        The observed values (the previous observation's is conditioned on).
    rho : array or TensorVariable
        Each observation's correlation at one ``lag`` (its outcome's ``rho``).
    previous, has_previous, gap : array or TensorVariable
        The links (:class:`SeriesLinks` or :func:`present_links`).
    lag : float
        The time span ``rho`` is the correlation at (:func:`ar1_lag`).
    xp : module
        ``pytensor.tensor`` (default) or ``numpy``.

    Returns
    -------
    (array or TensorVariable, array or TensorVariable)
        The conditional location and scale.

    Examples
    --------
    >>> links = series_links(np.zeros(2, int), np.zeros(2, int), np.array([1.0, 3.0]))
    >>> loc, scale = ar1_conditional(np.zeros(2), np.ones(2), np.array([1.0, 0.0]),
    ...                              np.full(2, 0.5), links.previous, links.has_previous,
    ...                              links.gap, lag=2.0, xp=np)
    >>> loc.tolist(), np.round(scale, 4).tolist()
    ([0.0, 0.5], [1.0, 0.866])
    """
    c = xp.where(has_previous, rho ** (gap / lag), 0.0)
    deviation = xp.where(has_previous, observed[previous] - mu[previous], 0.0)
    location = mu + c * (sigma / sigma[previous]) * deviation
    return location, sigma * xp.sqrt(1.0 - c ** 2)
