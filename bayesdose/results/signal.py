"""The Bayesian MCP-Mod test for a dose-response signal (Fleischer et al. 2022).

Is there a dose-response signal at all? :func:`signal_test` computes, for each candidate
shape, the posterior probability that its optimal contrast of the dose effects is
positive, and declares a signal when the largest of them exceeds a multiplicity-adjusted
threshold. Like MCP-Mod, which contrasts the arm means, it runs on per-dose estimates:
a posterior of the ``"free"`` dose shape (:func:`require_free` refuses others, and
:func:`free_refit` refits a fit of another shape with the free one). The pieces are
public: :func:`optimal_contrasts` (Bretz, Pinheiro and Branson 2005) gives the contrasts
of candidate shapes from their guesstimates (:data:`SIGNAL_SHAPES`),
:func:`contrast_correlation` their correlations for the arm sizes and
:func:`critical_value` the adjusted critical value of the maximum contrast statistic.
Each row (outcome, family, time) is a test of its own; ``multiplicity="bonferroni"``
adjusts across them.

Examples
--------
>>> from bayesdose.results.signal import optimal_contrasts
>>> optimal_contrasts([0, 1, 2], [10, 10, 10], ["linear"]).round(4).to_numpy().tolist()
[[-0.7071, 0.0, 0.7071]]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayesdose.components.shapes import get_dose_shape
from bayesdose.errors import BayesdoseError, EstimandError
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


def _check_alpha(alpha: Any, name: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise EstimandError(f"{name} must be a one-sided level between 0 and 0.5 "
                            f"(got {alpha!r}).")
    return float(alpha)


def contrast_correlation(contrasts: Any, n: Sequence[float]) -> np.ndarray:
    """Correlations of the contrast statistics c_m' y under no dose effect.

    With y the arm means (variances proportional to 1/n), the statistics have covariance
    C S C' with S = diag(1/n), so R_ml = c_m' S c_l / sqrt(c_m' S c_m c_l' S c_l): the
    ``corMat`` of DoseFinding's ``optContr`` and ``critVal``.

    Parameters
    ----------
    contrasts : array-like or DataFrame
        One contrast per row, one column per dose.
    n : sequence of float
        Patients per dose.

    Returns
    -------
    numpy.ndarray
        The correlation matrix, one row and column per contrast.

    Examples
    --------
    >>> contrast_correlation([[-1, 1, 0], [-1, 0, 1]], [10, 10, 10]).round(3).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    c = np.atleast_2d(np.asarray(contrasts, dtype=float))
    n_arr = np.asarray(n, dtype=float)
    if (c.ndim != 2 or n_arr.ndim != 1 or c.shape[1] != n_arr.size
            or not np.all(np.isfinite(c)) or not np.all(np.isfinite(n_arr))
            or np.any(n_arr <= 0)):
        raise EstimandError(f"contrasts must be finite, one column per dose, and n a "
                            f"positive number of patients per dose (contrasts of shape "
                            f"{c.shape}, n {n_arr.tolist()}).")
    cov = (c / n_arr) @ c.T
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 1e-12 * max(1.0, float(np.abs(c).max()))):
        zero = [int(i) for i in np.flatnonzero(sd <= 1e-12 * max(1.0, float(np.abs(c).max())))]
        raise EstimandError(f"contrast row(s) {zero} are zero: drop them.")
    corr = cov / np.outer(sd, sd)
    return np.clip((corr + corr.T) / 2, -1.0, 1.0)


def _plane_max_cdf(units: np.ndarray, q: float) -> float:
    """P(max_m u_m' W <= q) for W ~ N(0, I_2) and unit vectors u_m (rows of ``units``).

    In polar coordinates W = r e(theta), r^2 ~ chi^2_2: with h(theta) = max_m u_m' e(theta),
    P = (1/2 pi) integral of [1 - exp(-q^2 / (2 h^2)) if h > 0, else 1] dtheta. The
    integrand is smooth between the angles where the maximising u_m changes or h crosses 0,
    so Gauss-Legendre on each such arc gives the probability to rounding error.
    """
    angles = np.arctan2(units[:, 1], units[:, 0])
    pairs = [(a + b) / 2 for i, a in enumerate(angles) for b in angles[i + 1:]]
    breaks = np.concatenate([angles, angles + np.pi / 2, angles - np.pi / 2,
                             pairs, np.add(pairs, np.pi), [0.0]])
    breaks = np.unique(np.round(np.mod(breaks, 2 * np.pi), 14))
    breaks = np.append(breaks, 2 * np.pi)
    nodes, weights = np.polynomial.legendre.leggauss(40)
    low, high = breaks[:-1, None], breaks[1:, None]
    theta = ((low + high) / 2 + (high - low) / 2 * nodes).ravel()
    width = np.broadcast_to((high - low) / 2 * weights, (len(low), nodes.size)).ravel()
    h = (units @ np.vstack([np.cos(theta), np.sin(theta)])).max(axis=0)
    safe = np.where(h > 0, h, 1.0)
    inside = np.where(h > 0, -np.expm1(-q * q / (2 * safe * safe)), 1.0)
    return float(np.sum(width * inside) / (2 * np.pi))


def critical_value(contrasts: Any, n: Sequence[float], alpha: float = 0.05) -> float:
    """Multiplicity-adjusted critical value of the maximum contrast statistic.

    Under no dose effect the standardised contrast statistics c_m' y / sd are jointly
    Normal with correlations R_ml = c_m' S c_l / sqrt(c_m' S c_m c_l' S c_l),
    S = diag(1/n) (:func:`contrast_correlation`). The critical value q solves
    P(max_m Z_m <= q) = 1 - alpha (one-sided): DoseFinding's ``critVal(corMat, alpha,
    df = Inf)``, which Bayesian MCP-Mod turns into the probability threshold Phi(q).

    Contrasts that are perfectly correlated count once; for a single contrast
    q = Phi^-1(1 - alpha). Contrasts sum to 0, so with k doses they span at most k - 1
    dimensions and R is singular whenever there are more candidate shapes than that
    (four shapes on three doses span a plane). When they span at most two dimensions
    (three doses, or two contrasts) the probability is integrated exactly over the angle
    of the plane and q is accurate to about 1e-9; otherwise it comes from
    :func:`scipy.stats.multivariate_normal` (quasi-Monte Carlo with a fixed seed, so q is
    reproducible; accurate to about 0.001 in q, i.e. about 1e-4 in gamma = Phi(q)).

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

    Dunnett's test of three doses against placebo (equal arms; correlations 0.5):

    >>> dunnett = [[-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]]
    >>> round(critical_value(dunnett, [30, 30, 30, 30], alpha=0.05), 2)
    2.06
    """
    alpha = _check_alpha(alpha)
    corr = contrast_correlation(contrasts, n)
    keep: list[int] = []
    for i in range(corr.shape[0]):
        if all(corr[i, j] < 1 - 1e-9 for j in keep):
            keep.append(i)
    corr = corr[np.ix_(keep, keep)]
    single = float(stats.norm.ppf(1 - alpha))
    if len(keep) == 1:
        return single
    low, high = single - 0.05, float(stats.norm.ppf(1 - alpha / len(keep))) + 0.05
    eigenvalues, vectors = np.linalg.eigh(corr)
    if np.sum(eigenvalues > 1e-10) <= 2:
        units = vectors[:, -2:] * np.sqrt(np.clip(eigenvalues[-2:], 0.0, None))
        units /= np.linalg.norm(units, axis=1, keepdims=True)
        return float(optimize.brentq(lambda q: _plane_max_cdf(units, q) - (1 - alpha),
                                     low, high, xtol=1e-12))
    dist = stats.multivariate_normal(mean=np.zeros(len(keep)), cov=corr, allow_singular=True,
                                     maxpts=25_000 * len(keep), abseps=1e-6, releps=0.0)

    def excess(q: float) -> float:
        probability = dist.cdf(np.full(len(keep), q), rng=np.random.default_rng(0))
        return float(probability) - (1 - alpha)

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


#: The dose shape whose per-dose estimates the signal test contrasts.
FREE_SHAPE = "free"

#: How the signal test may adjust its level for testing several outcomes (and families).
MULTIPLICITY = ("none", "bonferroni")


def check_options(alpha: Any, multiplicity: Any) -> float:
    """Check the level and the multiplicity rule of :func:`signal_test` (before any work).

    Parameters
    ----------
    alpha : float
        One-sided level, in (0, 0.5).
    multiplicity : {"none", "bonferroni"}
        Adjustment across the tests of one call.

    Returns
    -------
    float
        ``alpha``.

    Examples
    --------
    >>> check_options(0.05, "bonferroni")
    0.05
    """
    if multiplicity not in MULTIPLICITY:
        raise EstimandError(f"multiplicity must be one of {', '.join(MULTIPLICITY)} "
                            f"(got {multiplicity!r}).")
    return _check_alpha(alpha)


def require_free(view: PosteriorView) -> None:
    """Refuse a posterior that is not of per-dose (free) means, saying how to get one.

    MCP-Mod contrasts the arms' own estimates. On a parametric curve the effects at the
    tested doses are functions of a few parameters: on a one-parameter curve every
    candidate contrast has the sign of that parameter, so every P_m is the same
    probability, and the multiplicity-adjusted threshold (which assumes distinct
    contrasts) means nothing. The ``"monotone"`` shape forces the effects to rise with
    dose, which pushes every contrast towards a signal.

    Parameters
    ----------
    view : PosteriorView

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> model = bd.DoseResponseModel("emax")
    >>> view = PosteriorView.from_model(model, data,
    ...                                 model.sample_prior_predictive(data, draws=10).prior)
    >>> require_free(view)
    Traceback (most recent call last):
    ...
    bayesdose.errors.EstimandError: the signal test needs per-dose (free) estimates ...
    """
    shape = view.dose_shape.name
    if shape == FREE_SHAPE:
        return
    if shape == "monotone":
        why = ("its order constraint makes the effects rise with dose, which pushes every "
               "candidate contrast towards a signal")
    else:
        why = (f"the {shape!r} curve ties the effects at the tested doses to its "
               "parameters (on a one-parameter curve every candidate contrast has the "
               "sign of delta), so the contrasts do not test the arms")
    raise EstimandError(
        f"the signal test needs per-dose (free) estimates of the dose effects, and this "
        f"posterior is of the {shape!r} dose shape: {why}. DoseResponseFit.signal_test() "
        f"refits the same model with dose_shape='free' and tests that; or fit "
        f"bd.DoseResponseModel(dose_shape='free', time_shape="
        f"{view.time_shape.name!r}) and test its fit.")


def free_refit(fit: Any, **settings: Any) -> Any:
    """The fit's model refitted with the free dose shape, for :func:`signal_test`.

    The same model class, time course, likelihoods, outcomes, pooling and patient
    structure, the same data, and the fit's sampler settings and seed (so the same fit
    gives the same refit); ``settings`` change sampler settings as in
    :meth:`~bayesdose.results.fit.DoseResponseFit.refit`. Priors set on the fitted dose
    shape's parameters (and their family SDs) do not carry over: the free shape's
    per-dose effects take their default prior. A UserWarning says what was done.

    Parameters
    ----------
    fit : DoseResponseFit
        A fit made by :meth:`DoseResponseModel.fit` (it records its sampler settings).
    **settings
        Sampler settings to change (``draws``, ``tune``, ``chains``, ``random_seed``, ...).

    Returns
    -------
    DoseResponseFit
        The free per-dose fit.

    Examples
    --------
    >>> free = free_refit(fit)                            # doctest: +SKIP
    >>> free.model.dose_shape.name                        # doctest: +SKIP
    'free'
    """
    model = fit.model
    try:
        recorded = fit.settings
    except BayesdoseError as exc:
        raise EstimandError(
            f"this fit records no sampler settings ({exc}), so it cannot be refitted with "
            f"the free dose shape for the signal test; fit bd.DoseResponseModel("
            f"dose_shape='free', time_shape={model.time_shape.name!r}) and test that "
            "fit.") from exc
    scale = fit.inputs.dose_scale
    dose_names = {p.name for shape in (model.dose_shape, get_dose_shape(FREE_SHAPE))
                  for p in shape.parameters(scale)}
    dose_names |= {f"{name}_family_sd" for name in dose_names}
    config = model.config()
    priors = config.get("priors") or {}
    dropped = sorted(set(priors) & dose_names)
    config.update(dose_shape=FREE_SHAPE, dose_options={},
                  priors={k: v for k, v in priors.items() if k not in dose_names})
    free_model = type(model).from_config(config)
    note = (f"the signal test needs per-dose estimates, so it refits the "
            f"{model.dose_shape.name!r} fit's model with dose_shape='free' (same time "
            f"course, data, sampler settings and seed {recorded.get('random_seed')!r}) "
            "and tests that")
    if dropped:
        note += (f"; the prior(s) set on {', '.join(dropped)} belong to the fitted dose "
                 "shape and are not used, the per-dose effects have their default prior")
    warnings.warn(note + ". Fit dose_shape='free' to test without refitting.", UserWarning,
                  stacklevel=3)
    # The fit's own refit with the free model in place of its model: the same data,
    # recorded sampler settings, seed and number of prior draws.
    return type(fit)(free_model, fit.data, fit.idata).refit(**settings)


def _multiplicity_note(multiplicity: str, alpha: float, tests: int, alpha_test: float,
                       outcomes: int) -> str:
    counted = (f"{tests} test(s): {outcomes} outcome(s), with any families, at each time "
               "tested")
    if multiplicity == "bonferroni":
        return (f"bonferroni: {counted}, each at one-sided level alpha / {tests} = "
                f"{alpha_test:.4g}, so the chance of a false signal in any of them is at "
                f"most {alpha:g}")
    return (f"none: {counted}, each at one-sided level {alpha:g}; the chance of a false "
            "signal in at least one grows with the number of tests (multiplicity="
            "'bonferroni' adjusts for it)")


def signal_test(view: ViewLike, time: Any = None, outcome: Any = None,
                shapes: Any = None, alpha: float = 0.05, family: bool = True,
                multiplicity: str = "none") -> pd.DataFrame:
    """Bayesian MCP-Mod test for a dose-response signal (Fleischer et al. 2022).

    The test needs per-dose estimates: a posterior of the ``"free"`` dose shape (the
    Bayesian counterpart of MCP-Mod's ANOVA means). Other dose shapes are refused
    (:func:`require_free`); :meth:`DoseResponseFit.signal_test
    <bayesdose.results.fit.DoseResponseFit.signal_test>` refits such a fit with the free
    shape and tests the refit.

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
       at the row's level (:func:`critical_value`: DoseFinding's ``critVal`` with the
       correlations of the contrasts for the arm sizes). With vague priors this controls
       the probability of declaring a signal when there is none at about that level.

    ``prob_not_flat`` is max_m P_m, the largest of the shapes' posterior probabilities
    (the statistic compared with gamma; it is not the probability that at least one
    contrast is positive). Contrasts sum to 0, so the test is the same whether effects
    are measured against placebo or, without placebo, against the lowest tested dose
    (``reference``).

    Multiplicity across outcomes: the candidate shapes are adjusted for within each row;
    the rows (outcomes, families, times) are separate tests. With ``multiplicity="none"``
    (the default) each row is tested at ``alpha``, so with several rows the chance of a
    false signal in at least one of them exceeds ``alpha``; ``"bonferroni"`` tests each
    row at ``alpha`` / the number of rows. The columns ``multiplicity``, ``tests``,
    ``outcomes_tested`` and ``alpha_test`` and ``attrs["multiplicity"]`` state which.

    Parameters
    ----------
    view : PosteriorView or DoseResponseFit
        The draws of a fit of the ``"free"`` dose shape: its
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
        One-sided level, in (0, 0.5): of each row (``multiplicity="none"``) or of all
        rows together (``"bonferroni"``).
    family : bool
        Also test each family of two or more of the chosen outcomes.
    multiplicity : {"none", "bonferroni"}
        Adjustment across the rows (outcomes, families and times) of this call.

    Returns
    -------
    pandas.DataFrame
        One row per outcome (``level`` "outcome") and family (``level`` "family") at each
        time: level, name, members, time, reference, n_patients, ``prob_<shape>`` per
        shape (P_m), max_prob, prob_not_flat (= max_prob), best_shape, critical_value (q,
        at ``alpha_test``), gamma, alpha, multiplicity, tests (rows tested together),
        outcomes_tested, alpha_test (the row's level), signal, tested_on (what was
        tested). ``attrs`` holds ``multiplicity`` (in words) and ``tested_on``.

    Raises
    ------
    EstimandError
        For a posterior of a dose shape other than ``"free"``, and for bad settings.

    Examples
    --------
    >>> free = bd.DoseResponseModel("free", "exponential").fit(data)   # doctest: +SKIP
    >>> signal_test(free, time=12)[["name", "prob_not_flat", "gamma", "signal"]]  # doctest: +SKIP
    """
    alpha = check_options(alpha, multiplicity)
    view = view_of(view)
    require_free(view)
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
    tests = len(groups) * len(times)
    alpha_test = alpha / tests if multiplicity == "bonferroni" else alpha
    tested_on = "free per-dose fit"
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
                critical[tuple(n)] = (contrasts,
                                      critical_value(contrasts.to_numpy(), n, alpha_test))
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
                        "gamma": gamma, "alpha": alpha, "multiplicity": multiplicity,
                        "tests": tests, "outcomes_tested": len(names),
                        "alpha_test": alpha_test, "signal": bool(probs[best] > gamma),
                        "tested_on": tested_on})
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["multiplicity"] = _multiplicity_note(multiplicity, alpha, tests, alpha_test,
                                                     len(names))
    table.attrs["tested_on"] = tested_on
    return table
