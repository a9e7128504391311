"""The Bayesian MCP-Mod test for a dose-response signal (Fleischer et al. 2022).

Is there a dose-response signal at all? :func:`signal_test` computes, for each candidate
shape, the posterior probability that its optimal contrast of the dose effects is
positive, and declares a signal when the largest of them exceeds a multiplicity-adjusted
threshold. The pieces are public: :func:`optimal_contrasts` (Bretz, Pinheiro and Branson
2005) gives the contrasts of candidate shapes from their guesstimates
(:data:`SIGNAL_SHAPES`), and :func:`critical_value` the adjusted critical value of the
maximum contrast statistic.

Examples
--------
>>> from bayesdose.results.signal import optimal_contrasts
>>> optimal_contrasts([0, 1, 2], [10, 10, 10], ["linear"]).round(4).to_numpy().tolist()
[[-0.7071, 0.0, 0.7071]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayesdose.errors import EstimandError
from bayesdose.results.estimands import as_list
from bayesdose.results.posterior import PosteriorView, ViewLike, view_of
from bayesdose.results.readouts import effect_draws

#: Candidate shapes of :func:`signal_test` when none are given.
DEFAULT_SIGNAL_SHAPES = ("linear", "emax", "exponential", "sigmoid_emax")


# ---------------------------------------------------------------------- guesstimates
def _linear(dose: np.ndarray, top: float) -> np.ndarray:
    return dose / top


def _log_linear(dose: np.ndarray, top: float) -> np.ndarray:
    return np.log1p(dose / (0.1 * top))


def _emax(dose: np.ndarray, top: float) -> np.ndarray:
    return dose / (0.2 * top + dose)


def _exponential(dose: np.ndarray, top: float) -> np.ndarray:
    kappa = top / np.log(16.0)
    return np.expm1(dose / kappa)


def _sigmoid_emax(dose: np.ndarray, top: float) -> np.ndarray:
    return dose**3 / ((0.4 * top) ** 3 + dose**3)


def _quadratic(dose: np.ndarray, top: float) -> np.ndarray:
    x = dose / top
    return 1.5 * x - x**2


#: Candidate shapes of the signal test with their guesstimates (D = highest tested dose).
SIGNAL_SHAPES: dict[str, tuple[Callable[[np.ndarray, float], np.ndarray], str]] = {
    "linear": (_linear, "mu(d) = d / D"),
    "log_linear": (_log_linear, "mu(d) = log(1 + d / (0.1 D))"),
    "emax": (_emax, "mu(d) = d / (ED50 + d), ED50 = 0.2 D"),
    "exponential": (_exponential, "mu(d) = exp(d / kappa) - 1, kappa = D / log(16) "
                                  "(the effect at D/2 is 20% of that at D)"),
    "sigmoid_emax": (_sigmoid_emax, "mu(d) = d^3 / (ED50^3 + d^3), ED50 = 0.4 D, Hill 3"),
    "quadratic": (_quadratic, "mu(d) = 1.5 x - x^2, x = d / D (peak at 0.75 D)"),
}


# ---------------------------------------------------------------------- contrasts
def _shape_means(shapes: Any, doses: np.ndarray) -> dict[str, np.ndarray]:
    """Guesstimate mean responses of the candidate shapes at ``doses``."""
    top = float(doses.max())
    if shapes is None:
        shapes = DEFAULT_SIGNAL_SHAPES
    if isinstance(shapes, str):
        shapes = [shapes]
    if isinstance(shapes, Mapping):
        items = list(shapes.items())
    elif isinstance(shapes, Sequence):
        items = [(name, name) for name in shapes]
    else:
        raise EstimandError("shapes must be a list of shape names or a mapping of name to "
                            "a function of dose or to mean responses at the tested doses.")
    if not items:
        raise EstimandError("shapes: give at least one candidate shape.")
    means = {}
    for name, spec in items:
        if isinstance(spec, str):
            if spec not in SIGNAL_SHAPES:
                raise EstimandError(f"shapes: unknown shape {spec!r}; built in: "
                                    f"{', '.join(SIGNAL_SHAPES)}, or give a mapping "
                                    "{name: function of dose or mean responses}.")
            mu = SIGNAL_SHAPES[spec][0](doses, top)
        elif callable(spec):
            mu = spec(doses)
        else:
            mu = spec
        mu = np.asarray(mu, dtype=float)
        if mu.shape != doses.shape or not np.all(np.isfinite(mu)):
            raise EstimandError(f"shapes[{name!r}] must give one finite mean response per "
                                f"tested dose ({doses.size}: {doses.tolist()}); got "
                                f"{mu.tolist()}.")
        means[str(name)] = mu
    return means


def optimal_contrasts(doses: Sequence[float], n: Sequence[float],
                      shapes: Any = None) -> pd.DataFrame:
    """MCP-Mod optimal contrasts of candidate shapes (Bretz, Pinheiro and Branson 2005).

    For a shape with mean responses mu at the doses and S = diag(1/n),
    c is proportional to S^-1 (mu - (mu' S^-1 1 / 1' S^-1 1) 1), i.e. c_j = n_j (mu_j -
    mu_bar) with mu_bar the n-weighted mean, normalised to unit length. c sums to 0, so
    c' theta does not depend on what the effects theta are measured against.

    Parameters
    ----------
    doses : sequence of float
        Tested doses.
    n : sequence of float
        Patients per dose.
    shapes : list of str or mapping, optional
        Candidate shapes (default :data:`DEFAULT_SIGNAL_SHAPES`); see :func:`signal_test`.

    Returns
    -------
    pandas.DataFrame
        One row per shape (index), one column per dose.

    Examples
    --------
    >>> optimal_contrasts([0, 1, 2], [10, 10, 10], ["linear"]).round(4).to_numpy().tolist()
    [[-0.7071, 0.0, 0.7071]]
    """
    dose_arr = np.asarray(doses, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if dose_arr.size < 2 or n_arr.shape != dose_arr.shape or np.any(n_arr <= 0):
        raise EstimandError(f"need two or more doses and a positive number of patients per "
                            f"dose (doses {dose_arr.tolist()}, n {n_arr.tolist()}).")
    rows = {}
    for name, mu in _shape_means(shapes, dose_arr).items():
        c = n_arr * (mu - np.sum(n_arr * mu) / n_arr.sum())
        length = float(np.linalg.norm(c))
        if length < 1e-12 * max(1.0, float(np.abs(mu).max())):
            raise EstimandError(f"shapes: {name!r} is flat at the tested doses "
                                f"{dose_arr.tolist()}, so it has no contrast; drop it.")
        rows[name] = c / length
    return pd.DataFrame(rows, index=dose_arr).T


def critical_value(contrasts: Any, n: Sequence[float], alpha: float = 0.05) -> float:
    """Multiplicity-adjusted critical value of the maximum contrast statistic.

    Under no dose effect the standardised contrast statistics c_m' y / sd are jointly
    Normal with correlations R_ml = c_m' S c_l / sqrt(c_m' S c_m c_l' S c_l),
    S = diag(1/n). The critical value q solves P(max_m Z_m <= q) = 1 - alpha (one-sided),
    found by root-finding on :func:`scipy.stats.multivariate_normal` probabilities
    (quasi-Monte Carlo with a fixed seed, so q is reproducible; accurate to about 0.001,
    i.e. about 1e-4 in gamma = Phi(q)). Contrasts that are perfectly correlated count
    once; for a single contrast q = Phi^-1(1 - alpha).

    Parameters
    ----------
    contrasts : array-like or DataFrame
        One contrast per row, one column per dose.
    n : sequence of float
        Patients per dose.
    alpha : float
        One-sided level, in (0, 0.5).

    Returns
    -------
    float

    Examples
    --------
    >>> round(critical_value([[-1.0, 1.0]], [5, 5], alpha=0.05), 4)
    1.6449
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise EstimandError(f"alpha must be a one-sided level between 0 and 0.5 "
                            f"(got {alpha!r}).")
    c = np.atleast_2d(np.asarray(contrasts, dtype=float))
    s = np.diag(1.0 / np.asarray(n, dtype=float))
    cov = c @ s @ c.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    keep: list[int] = []
    for i in range(corr.shape[0]):
        if all(corr[i, j] < 1 - 1e-9 for j in keep):
            keep.append(i)
    corr = corr[np.ix_(keep, keep)]
    single = float(stats.norm.ppf(1 - alpha))
    if len(keep) == 1:
        return single
    dist = stats.multivariate_normal(mean=np.zeros(len(keep)), cov=corr, allow_singular=True,
                                     maxpts=25_000 * len(keep), abseps=1e-6, releps=0.0)

    def excess(q: float) -> float:
        probability = dist.cdf(np.full(len(keep), q), rng=np.random.default_rng(0))
        return float(probability) - (1 - alpha)

    low, high = single - 0.05, float(stats.norm.ppf(1 - alpha / len(keep))) + 0.05
    return float(optimize.brentq(excess, low, high, xtol=1e-6))


def _arm_sizes(view: PosteriorView, members: list[str], time: float) -> np.ndarray:
    """Patients per tested dose observed at ``time`` for any of ``members`` (or, when an
    arm has none there, observed at any visit)."""
    inputs = view.inputs
    codes = [inputs.outcomes.index(m) for m in members]
    rows = np.isin(inputs.outcome_idx, codes)
    visit = inputs.elapsed + inputs.baseline_time
    doses = np.asarray(inputs.doses, dtype=float)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.array([np.unique(inputs.patient_idx[mask & np.isclose(inputs.dose, d)]).size
                         for d in doses], dtype=float)

    n = count(rows & np.isclose(visit, time))
    if np.any(n == 0):
        n = count(rows)
    if np.any(n == 0):
        empty = [f"{d:g}" for d, k in zip(doses, n, strict=True) if k == 0]
        raise EstimandError(f"{', '.join(members)}: no patient observed at dose(s) "
                            f"{', '.join(empty)}, so the signal test has no arm there.")
    return n


def signal_test(view: ViewLike, time: Any = None, outcome: Any = None,
                shapes: Any = None, alpha: float = 0.05, family: bool = True,
                ) -> pd.DataFrame:
    """Bayesian MCP-Mod test for a dose-response signal (Fleischer et al. 2022).

    For each outcome (and each family of two or more of the chosen outcomes), with theta
    the posterior draws of the dose effects at the tested doses at ``time`` on the
    standardised, direction-aligned scale (positive = better; a family's theta is the
    mean of its outcomes' standardised effects):

    1. for each candidate shape m, the optimal contrast c_m (:func:`optimal_contrasts`,
       with n the patients per dose observed at ``time``);
    2. P_m = P(c_m' theta > 0 | data): the posterior probability that the effects rise
       with dose in the way shape m predicts, in the better direction;
    3. a signal is declared when max_m P_m > gamma = Phi(q), q the multiplicity-adjusted
       one-sided critical value of the maximum of the correlated contrast statistics
       at level ``alpha`` (:func:`critical_value`). With vague priors this controls the
       probability of declaring a signal when there is none at about ``alpha``.

    ``prob_not_flat`` is max_m P_m, the largest of the shapes' posterior probabilities
    (the statistic compared with gamma; it is not the probability that at least one
    contrast is positive). Contrasts sum to 0, so the test is the same whether effects
    are measured against placebo or, without placebo, against the lowest tested dose
    (``reference``). ``alpha`` applies per row: there is no adjustment across outcomes.

    Fit the ``"free"`` dose shape for this test: MCP-Mod contrasts the ANOVA means of
    the doses, which the free shape estimates without imposing a curve. On a fit of a
    parametric shape (e.g. ``"linear"``) the effects are forced onto that curve, and the
    test leans on the model's assumption.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws of a fit (preferably of the ``"free"`` dose shape): its
        :attr:`~bayesdose.results.fit.DoseResponseFit.posterior_view`, or the fit.
    time : float or sequence, optional
        Visit(s) at which to test (default: the last visit).
    outcome : str or list of str, optional
        Outcomes (default: all fitted).
    shapes : list of str or mapping, optional
        Candidate shapes. Built-in guesstimates (D = highest tested dose): ``"linear"``
        (d / D), ``"emax"`` (ED50 = 0.2 D), ``"exponential"`` (the effect at D/2 is 20%
        of that at D), ``"sigmoid_emax"`` (ED50 = 0.4 D, Hill 3); also ``"log_linear"``
        (offset 0.1 D) and ``"quadratic"`` (peak at 0.75 D). Default: the first four.
        A mapping gives each name a function of the dose array, or the mean responses at
        the tested doses.
    alpha : float
        One-sided level of the test, in (0, 0.5).
    family : bool
        Also test each family of two or more of the chosen outcomes.

    Returns
    -------
    pandas.DataFrame
        One row per outcome (``level`` "outcome") and family (``level`` "family"):
        level, name, members, time, reference, n_patients, ``prob_<shape>`` per shape
        (P_m), max_prob, prob_not_flat (= max_prob), best_shape, critical_value (q),
        gamma, alpha, signal.

    Examples
    --------
    >>> free = bd.DoseResponseModel("free", "exponential").fit(data)   # doctest: +SKIP
    >>> signal_test(free, time=12)[["name", "prob_not_flat", "gamma", "signal"]]  # doctest: +SKIP
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise EstimandError(f"alpha must be a one-sided level between 0 and 0.5 "
                            f"(got {alpha!r}).")
    view = view_of(view)
    inputs = view.inputs
    doses = np.asarray(inputs.doses, dtype=float)
    if doses.size < 2:
        raise EstimandError("the signal test needs two or more tested doses.")
    times = as_list(time, [inputs.visits[-1]], "time")
    names = view.outcome_names(outcome)
    _shape_means(shapes, doses)  # check the shapes before any work
    groups: list[tuple[str, str, list[str]]] = [("outcome", n, [n]) for n in names]
    if family:
        for fam, members in view.families().items():
            chosen = [m for m in members if m in names]
            if len(chosen) >= 2:
                groups.append(("family", fam, chosen))
    draws = effect_draws(view, list(doses), times, names, scale="standardised")
    critical: dict[tuple[float, ...], tuple[pd.DataFrame, float]] = {}
    rows = []
    for t_index, t in enumerate(times):
        for level, name, members in groups:
            theta = draws.sel(outcome=members).isel(time=t_index).mean("outcome")
            theta = theta.transpose("chain", "draw", "dose").to_numpy().reshape(-1, doses.size)
            n = _arm_sizes(view, members, t)
            if tuple(n) not in critical:
                contrasts = optimal_contrasts(doses, n, shapes)
                critical[tuple(n)] = (contrasts, critical_value(contrasts.to_numpy(), n, alpha))
            contrasts, q = critical[tuple(n)]
            probs = (theta @ contrasts.to_numpy().T > 0).mean(axis=0)
            best = int(np.argmax(probs))
            row = {"level": level, "name": name, "members": ", ".join(members),
                   "time": float(t), "reference": float(doses.min()),
                   "n_patients": int(n.sum())}
            row.update({f"prob_{shape}": float(p)
                        for shape, p in zip(contrasts.index, probs, strict=True)})
            gamma = float(stats.norm.cdf(q))
            row.update({"max_prob": float(probs[best]), "prob_not_flat": float(probs[best]),
                        "best_shape": str(contrasts.index[best]), "critical_value": q,
                        "gamma": gamma, "alpha": float(alpha),
                        "signal": bool(probs[best] > gamma)})
            rows.append(row)
    return pd.DataFrame(rows)
