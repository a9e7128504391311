"""Model comparison and model averaging.

Two questions about a set of candidate models fitted to the same trial:

- **Which candidate predicts new patients best?** :func:`compare` estimates each model's
  expected log predictive density for a new patient by leaving out one patient at a time
  (all of their visits and outcomes together), and weighs the candidates by stacking (Yao
  et al. 2018) and by pseudo-BMA+ (pseudo-BMA with the Bayesian bootstrap). Given the
  trial data, it fits the candidate models first (:func:`fit_candidates`), so models are
  fitted and compared in one call.
- **What do the candidates say together?** :class:`Comparison` averages estimands over
  the candidates: the posterior of the averaged estimand is the *mixture* of the models'
  posteriors with the comparison's weights (model averaging by stacking or pseudo-BMA).

Whether there is a dose-response signal at all is a question for one fit (preferably of
the free dose shape): see :func:`bayesdose.results.signal.signal_test`.

Why patients: a patient's visits are correlated (they share the patient's effect), so
leaving out one observation at a time measures how well a model fills in a patient's
missing visit, and a standard error over observations treats n correlated visits as n
independent pieces of evidence, understating the uncertainty of a difference between
models. :func:`compare` therefore scores each patient as a unit: PSIS-LOO on the sum of
the patient's log likelihoods (Vehtari, Gelman and Gabry 2017) where its Pareto k is
below 0.7, exact refits without the patient where a few are not, and K-fold
cross-validation by patient (every model refitted on the same folds, stratified by dose)
where many are not (:mod:`bayesdose.results.crossval`). Standard errors of the elpd and
of the differences are over patients, and stacking and pseudo-BMA+ weigh the patients'
terms. ``unit="observation"`` gives the observation-level comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayesdose.components.shapes import dose_shape_names
from bayesdose.data.trial import TrialData
from bayesdose.errors import DataError, SpecError
from bayesdose.inference.trees import group
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.results.averaging import Comparison
from bayesdose.results.crossval import (
    KFOLD_K,
    MAX_REFITS,
    UNITS,
    CrossValidation,
    kfold,
    loo,
    unit_labels,
)
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.psis import (
    PARETO_K_MAX,
    pointwise_log_likelihood,
    psis_loo,
    unit_log_likelihood,
    with_exact_terms,
)

IC = ("loo",)


METHODS = ("stacking", "BB-pseudo-BMA", "pseudo-BMA")


#: A model weight above this is decisive: :func:`compare` warns when a model gets it while
#: its elpd is within 2 standard errors of another model's.
DECISIVE_WEIGHT = 0.9


#: Bayesian-bootstrap replicates of the pseudo-BMA+ weights.
N_BOOTSTRAP = 1000


#: The response each likelihood's log density is a density of: ELPDs are comparable only
#: between likelihoods of the same response.
RESPONSE_SCALES = {"normal": "change from baseline", "student_t": "change from baseline",
                   "lognormal": "change in log value", "ordinal": "grade"}




def model_name(model: DoseResponseModel) -> str:
    """The default name of a candidate model: ``"<dose_shape> x <time_shape>"``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model_name(bd.DoseResponseModel("emax", "exponential"))
    'emax x exponential'
    """
    return f"{model.dose_shape.name} x {model.time_shape.name}"


# ---------------------------------------------------------------------- checks
def _check_fits(fits: Mapping[str, DoseResponseFit]) -> dict[str, DoseResponseFit]:
    if not isinstance(fits, Mapping):
        raise SpecError("fits must be a mapping of model name to DoseResponseFit, e.g. "
                        "{'emax': fit_emax, 'linear': fit_linear}.")
    fits = dict(fits)
    if len(fits) < 2:
        raise SpecError(f"fits: compare needs at least two fits (got {len(fits)}).")
    for name, fit in fits.items():
        if not isinstance(name, str) or not name:
            raise SpecError(f"fits: model names must be non-empty strings (got {name!r}).")
        if not isinstance(fit, DoseResponseFit):
            raise SpecError(f"fits[{name!r}] is a {type(fit).__name__}, not a "
                            "DoseResponseFit.")
    return fits


def _check_likelihoods(fits: dict[str, DoseResponseFit]) -> None:
    """Every outcome is modelled on the same response scale in every fit."""
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        fit = fits[name]
        if fit.outcomes != first.outcomes:
            raise DataError(
                f"fits {names[0]!r} and {name!r} model different outcomes "
                f"({first.outcomes} and {fit.outcomes}); model comparison needs the same "
                "observations in every fit. Fit every candidate to the same outcomes.")
        for outcome in first.outcomes:
            a = first.inputs.likelihoods[outcome].name
            b = fit.inputs.likelihoods[outcome].name
            scale_a, scale_b = RESPONSE_SCALES.get(a, a), RESPONSE_SCALES.get(b, b)
            if scale_a != scale_b:
                raise SpecError(
                    f"outcome {outcome!r} has a {a} likelihood (a density of the {scale_a}) "
                    f"in {names[0]!r} but a {b} likelihood (of the {scale_b}) in {name!r}: "
                    "their log predictive densities are not on the same scale, so their "
                    "ELPDs cannot be compared. Fit the candidates with the same likelihood "
                    f"for {outcome!r} (DoseResponseModel(likelihood=...)); normal and "
                    "student_t, both densities of the change, may be compared.")


def _check_same_data(fits: dict[str, DoseResponseFit]) -> None:
    """Same trial data and the same observation rows in every fit."""
    names = list(fits)
    first = fits[names[0]]
    columns = ["patient", "dose", "time", "outcome", "value"]
    table = first.data.table[columns].reset_index(drop=True)
    for name in names[1:]:
        fit = fits[name]
        other = fit.data.table[columns].reset_index(drop=True)
        same = table.shape == other.shape and all(
            np.array_equal(table[c].to_numpy(), other[c].to_numpy(),
                           equal_nan=c in ("dose", "time", "value"))
            for c in columns)
        a, b = first.inputs, fit.inputs
        same = same and a.patients == b.patients and all(
            np.array_equal(getattr(a, key), getattr(b, key))
            for key in ("outcome_idx", "patient_idx", "time_idx", "dose"))
        if not same:
            raise DataError(
                f"fits {names[0]!r} and {name!r} were fitted to different data (their "
                "patients, doses, visits or values differ): model comparison needs the "
                "same observations in every fit. Fit every candidate to the same "
                "TrialData, e.g. with fit_candidates(models, data).")


def _check_settings(ic: str, method: str, unit: str = "patient",
                    max_refits: int | None = MAX_REFITS, k_folds: int = KFOLD_K) -> None:
    if ic not in IC:
        raise SpecError(f"ic must be one of {', '.join(map(repr, IC))} (leave-one-out "
                        f"cross-validation; got {ic!r}).")
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(map(repr, METHODS))} "
                        f"(got {method!r}).")
    if unit not in UNITS:
        raise SpecError(f"unit must be one of {', '.join(map(repr, UNITS))} (what is left "
                        f"out: a whole patient, or one observation; got {unit!r}).")
    if max_refits is not None and (isinstance(max_refits, bool) or not isinstance(
            max_refits, int | np.integer) or max_refits < 0):
        raise SpecError(f"max_refits must be a whole number >= 0, or None for no limit "
                        f"(got {max_refits!r}).")
    if isinstance(k_folds, bool) or not isinstance(k_folds, int | np.integer) or k_folds < 2:
        raise SpecError(f"k_folds must be a whole number of folds >= 2 (got {k_folds!r}).")


def _candidate_kinds(candidates: Any) -> dict[str, list[str]]:
    """Names (or positions) of the candidates that are fits and of those that are models
    (DoseResponseModel or dose shape names); a mix of both is an error."""
    if isinstance(candidates, Mapping):
        items = [(repr(name), value) for name, value in candidates.items()]
    elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
        items = [(f"#{i}", value) for i, value in enumerate(candidates)]
    else:
        return {"fit": [], "model": []}  # refused later with what to pass
    shapes = dose_shape_names()
    kinds = {
        "fit": [label for label, value in items if isinstance(value, DoseResponseFit)],
        "model": [label for label, value in items if isinstance(value, DoseResponseModel)
                  or (isinstance(value, str) and value in shapes)],
    }
    if kinds["fit"] and kinds["model"]:
        raise SpecError(
            f"candidates mix fits ({', '.join(kinds['fit'])}) and models "
            f"({', '.join(kinds['model'])}): pass either fits, {{name: fit}} without data, "
            "or models (DoseResponseModel or dose shape names) with data=<TrialData>.")
    return kinds


# ---------------------------------------------------------------------- weights
def pseudo_bma_weights(elpd_i: np.ndarray, bootstrap: bool = True, seed: int = 0,
                       n_bootstrap: int = N_BOOTSTRAP) -> np.ndarray:
    """Pseudo-BMA weights of models from their pointwise elpd terms (Yao et al. 2018).

    Without the bootstrap, model m's weight is proportional to exp(elpd_m), its total.
    With it (pseudo-BMA+, the default), the uncertainty of the totals is taken into
    account: each of ``n_bootstrap`` replicates draws Dirichlet(1, ..., 1) weights
    alpha over the n units, sets ``z_m = n sum_i alpha_i elpd_im``, and takes the weights
    proportional to exp(z_m); the weights are the mean over the replicates. This is
    ArviZ's ``"BB-pseudo-BMA"``, with the replicates drawn from ``seed`` (the same seed
    gives the same weights).

    Parameters
    ----------
    elpd_i : numpy.ndarray
        Shape (n_units, n_models): every model's term of every unit (e.g. patient).
    bootstrap : bool
        Pseudo-BMA+ (with the Bayesian bootstrap) or plain pseudo-BMA.
    seed : int
        Seed of the bootstrap.
    n_bootstrap : int
        Number of replicates.

    Returns
    -------
    numpy.ndarray
        One weight per model, summing to 1.

    Examples
    --------
    >>> terms = np.array([[-1.0, -1.2], [-2.0, -1.9], [-1.5, -1.7]])
    >>> plain = pseudo_bma_weights(terms, bootstrap=False)
    >>> plain.round(3).tolist()             # proportional to exp(-4.5) and exp(-4.8)
    [0.574, 0.426]
    >>> weights = pseudo_bma_weights(terms, seed=1)
    >>> bool(np.isclose(weights.sum(), 1.0)), bool(weights[0] > 0.5)
    (True, True)
    >>> bool(np.array_equal(weights, pseudo_bma_weights(terms, seed=1)))
    True
    """
    terms = np.asarray(elpd_i, dtype=float)
    if terms.ndim != 2 or terms.shape[0] < 1 or terms.shape[1] < 1:
        raise SpecError("elpd_i must be a (units, models) array of pointwise elpd terms.")
    if not bootstrap:
        return _softmax(terms.sum(axis=0)[None, :])[0]
    n_units = terms.shape[0]
    alpha = np.random.default_rng(seed).dirichlet(np.ones(n_units), size=n_bootstrap)
    return _softmax(n_units * alpha @ terms).mean(axis=0)


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise exp(z) / sum exp(z)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def stacking_weights(loos: Mapping[str, az.ELPDData]) -> pd.Series:
    """Stacking weights (Yao et al. 2018) from the models' pointwise elpd terms, through
    :func:`arviz.compare`, clipped at 0 and normalised to sum to 1.

    Parameters
    ----------
    loos : mapping of str to arviz.ELPDData
        Every model's elpd with pointwise terms (``elpd_i``) of the same units.

    Returns
    -------
    pandas.Series
        Weight by model name.

    Examples
    --------
    >>> comparison = compare({"emax": fit_emax, "linear": fit_linear})   # doctest: +SKIP
    >>> stacking_weights(comparison.loo)                                 # doctest: +SKIP
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = az.compare(dict(loos), method="stacking", round_to="none")
    weights = raw["weight"].clip(lower=0.0)
    return weights / weights.sum()


def decisive_but_uncertain(weights: pd.DataFrame, elpd_i: pd.DataFrame,
                           threshold: float = DECISIVE_WEIGHT) -> list[str]:
    """Where a weight is decisive but the elpd difference is within 2 standard errors.

    For every kind of weight (a column of ``weights``) whose largest weight exceeds
    ``threshold``, that model's elpd is set against every other model's: the difference
    sum_i (elpd_i,top - elpd_i,other) and its standard error sqrt(n var(...)) over the n
    units. A difference below 2 standard errors is listed: the weight says more than the
    data do about which model predicts better (stacking can give all the weight to a model
    that the data hardly favour).

    Parameters
    ----------
    weights : pandas.DataFrame
        One row per model (index: name), one column per kind of weight.
    elpd_i : pandas.DataFrame
        One column per model: its elpd term of every unit (rows).
    threshold : float
        A weight above this is decisive.

    Returns
    -------
    list of str
        One line per such pair, e.g. ``"stacking gives 'A' 1.00 and 'B' 0.00, but their
        elpd difference is 2.20 (SE 1.40), within 2 SE"``.

    Examples
    --------
    >>> weights = pd.DataFrame({"stacking": [1.0, 0.0]}, index=["A", "B"])
    >>> terms = pd.DataFrame({"A": [0.0, 0.0, 0.0, 3.0], "B": [0.1, 0.1, 0.1, 0.0]})
    >>> for line in decisive_but_uncertain(weights, terms):  # doctest: +NORMALIZE_WHITESPACE
    ...     print(line)
    stacking gives 'A' 1.00 and 'B' 0.00, but their elpd difference is 2.70 (SE 2.68),
    within 2 SE
    """
    lines = []
    n_units = len(elpd_i)
    for kind in weights.columns:
        column = weights[kind]
        top = str(column.idxmax())
        if not column[top] > threshold:
            continue
        for other in column.index:
            if other == top:
                continue
            d = (elpd_i[top] - elpd_i[other]).to_numpy()
            diff, se = float(d.sum()), float(np.sqrt(n_units * np.var(d)))
            if diff < 2 * se:
                lines.append(f"{kind} gives {top!r} {column[top]:.2f} and {other!r} "
                             f"{column[other]:.2f}, but their elpd difference is "
                             f"{diff:.2f} (SE {se:.2f}), within 2 SE")
    return lines


# ---------------------------------------------------------------------- comparison
def compare(candidates: Mapping[str, Any] | Sequence[Any], data: TrialData | None = None,
            ic: str = "loo", method: str = "stacking", seed: int = 0, refit: bool = True,
            max_refits: int | None = MAX_REFITS, unit: str = "patient",
            k_folds: int = KFOLD_K, **fit_kwargs: Any) -> Comparison:
    """Compare candidate models of the same data by leave-one-patient-out
    cross-validation, with stacking and pseudo-BMA+ weights.

    Each fit's log likelihood (all its observed variables, all outcomes) is put together
    per observation (:func:`bayesdose.results.psis.pointwise_log_likelihood`) and summed
    per patient (:func:`bayesdose.results.psis.unit_log_likelihood`); PSIS-LOO on the
    patients' sums (:func:`bayesdose.results.psis.psis_loo`) estimates every patient's
    leave-one-patient-out term. Where a patient's Pareto k exceeds 0.7, PSIS-LOO cannot
    be trusted, and with ``refit`` the terms come from refits instead
    (:mod:`bayesdose.results.crossval`):

    - when no model has more than ``max_refits`` such patients, each model is refitted
      without each of its own (exact leave-one-patient-out, ``loo_kind`` "psis+exact");
    - otherwise every model is cross-validated by K-fold by patient on the same folds
      (``k_folds`` folds, or one per patient when there are fewer; stratified by dose and
      drawn with ``seed``; ``loo_kind`` "kfold"), so that no model's terms are favoured
      by a different method.

    The elpd, its standard error and the standard errors of the differences
    (:func:`arviz.compare`) are then over patients, stacking weighs the patients' terms,
    and pseudo-BMA+ weights (:func:`pseudo_bma_weights`) are given beside them. Given
    ``data``, the candidates are models, fitted first with the same settings and seed
    (:func:`fit_candidates`); without it, they are fits.

    Parameters
    ----------
    candidates : mapping of str to DoseResponseFit, or models
        Without ``data``: two or more fits (a mapping ``{name: fit}``) of the same data
        (same outcomes, patients, visits and values) with, per outcome, likelihoods of
        the same response: normal and student_t (both densities of the change from
        baseline) can be compared; a lognormal likelihood (a density of the change in log
        value) or an ordinal one (probabilities of grades) only with its own kind.
        With ``data``: two or more models to fit, as a mapping ``{name: model}`` or a
        sequence of :class:`~bayesdose.model.dose_response.DoseResponseModel` or dose shape names (a
        name ``s`` stands for ``DoseResponseModel(dose_shape=s)``; models of a sequence
        are named ``"<dose_shape> x <time_shape>"``, :func:`model_name`). Fits and
        models cannot be mixed.
    data : TrialData, optional
        The trial to fit every candidate model to.
    ic : {"loo"}
        Leave-one-out cross-validation (PSIS-LOO, with refits where it is unreliable).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        The weights of ``Comparison.weights`` (and the table's ``weight``), used for model
        averaging: stacking of the predictive distributions (Yao et al. 2018; the
        default), pseudo-BMA+ (pseudo-BMA with the Bayesian bootstrap), or pseudo-BMA
        (weights proportional to exp(elpd)). Stacking and pseudo-BMA+ weights are both in
        the table whatever the method.
    seed : int
        Seed of the K-fold folds and of the Bayesian bootstrap of the pseudo-BMA+ weights:
        the same seed gives the same folds and weights.
    refit : bool
        Refit where PSIS-LOO is unreliable (Pareto k > 0.7), as above; ``False`` keeps the
        PSIS-LOO terms and warns about them.
    max_refits : int or None
        Most patients refitted one at a time per model (default 5); with more above the
        threshold in any model, every model is cross-validated by K-fold. ``None``: no
        limit (never K-fold). With ``unit="observation"``: at most this many observations
        (largest k first) are refitted, and any others stay unreliable.
    unit : {"patient", "observation"}
        What is left out: a whole patient (the default; the score of a new patient, and
        standard errors over patients) or one observation (a patient's missing visit;
        standard errors over observations, which treat a patient's visits as independent).
    k_folds : int
        Number of folds of the K-fold fallback.
    **fit_kwargs
        With ``data`` only: passed to every :meth:`DoseResponseModel.fit` (``draws``,
        ``tune``, ``chains``, ``random_seed``, ...), so every candidate is sampled with
        the same settings and seed.

    Returns
    -------
    Comparison
        ``.table`` (one row per model, best first): model, rank, dose_shape, time_shape,
        elpd_loo, se, p_loo, elpd_diff (the best model's elpd minus this one's), dse (its
        standard error), weight (by ``method``), weight_stacking, weight_pseudo_bma
        (pseudo-BMA+), unit, n_units, n_obs, loo_kind ("psis", "psis+exact" or "kfold"),
        n_refits (refits of the model), n_refitted (units whose term came from a refit),
        max_pareto_k and n_pareto_k_high (of PSIS-LOO, before refits: the units that
        needed a refit), n_unreliable (units above the threshold left with their PSIS-LOO
        term) and warning (any such unit). ``.weights`` (by ``method``), ``.fits``, and
        ``.loo``: every model's elpd with its pointwise terms (``elpd_i``, one per unit,
        with the patients' names as coordinate ``unit``).

    Raises
    ------
    SpecError
        For models without ``data``, fits with ``data``, a mix of fits and models, fit
        settings without ``data``, fewer than two candidates, or an unknown ``ic``,
        ``method`` or ``unit``.

    Warns
    -----
    UserWarning
        When a model keeps units with Pareto k > 0.7 (no refit): their terms, and so its
        elpd, are unreliable. When stacking or pseudo-BMA+ gives a model a weight above
        0.9 although its elpd is within 2 standard errors of another model's
        (:func:`decisive_but_uncertain`): the weights are more decisive than the data.

    Examples
    --------
    Fits of the same data:

    >>> comparison = compare({"emax": fit_emax, "linear": fit_linear})   # doctest: +SKIP
    >>> comparison.table[["model", "elpd_loo", "elpd_diff", "dse", "weight_stacking",
    ...                   "weight_pseudo_bma", "loo_kind"]]              # doctest: +SKIP

    Models, fitted and compared in one call:

    >>> comparison = compare(["emax", "linear", "exponential"], data, draws=500,
    ...                      tune=500, random_seed=1)                 # doctest: +SKIP
    """
    _check_settings(ic, method, unit, max_refits, k_folds)
    kinds = _candidate_kinds(candidates)
    settings = {"ic": ic, "method": method, "seed": seed, "refit": refit,
                "max_refits": max_refits, "unit": unit, "k_folds": k_folds}
    if data is not None:
        if not isinstance(data, TrialData):
            raise SpecError(f"data must be a TrialData to fit the candidate models to (got "
                            f"a {type(data).__name__}); to compare fits, leave data out.")
        if kinds["fit"]:
            raise SpecError(
                f"candidates {kinds['fit']} are already fitted (DoseResponseFit), but data "
                "was given to fit them: pass fits without data (compare({name: fit, ...})) "
                "or models (DoseResponseModel or dose shape names) with data.")
        return fit_candidates(candidates, data, **settings, **fit_kwargs)
    if kinds["model"]:
        raise SpecError(
            f"candidates {kinds['model']} are models (DoseResponseModel or dose shape "
            "names), not fits, and no data was given: pass data=<TrialData> to fit them "
            "(compare(models, data, draws=..., random_seed=...)), or pass fitted "
            "DoseResponseFit objects as {name: fit}.")
    if fit_kwargs:
        raise SpecError(
            f"fit settings {sorted(fit_kwargs)} apply only when compare fits models: pass "
            "models with data=<TrialData>, or leave the settings out when comparing fits.")
    fits = _check_fits(candidates)
    _check_likelihoods(fits)
    _check_same_data(fits)
    return _compare_fits(fits, **settings)


def unit_loo(fit: DoseResponseFit, unit: str = "patient") -> az.ELPDData:
    """PSIS-LOO of a fit by patient (each patient's log likelihoods summed per draw) or by
    observation, with the units' names as the ``unit`` coordinate of ``elpd_i`` and
    ``pareto_k``.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit, with its log likelihood.
    unit : {"patient", "observation"}
        The unit left out.

    Returns
    -------
    arviz.ELPDData

    Examples
    --------
    >>> unit_loo(fit).elpd_i.to_series()                 # doctest: +SKIP
    """
    code, names = unit_labels(fit, unit)
    loglik = unit_log_likelihood(pointwise_log_likelihood(fit), code, len(names))
    return psis_loo(loglik.assign_coords(unit=names), group(fit.idata, "posterior"))


def _cross_validate(fits: dict[str, DoseResponseFit], loos: dict[str, az.ELPDData],
                    unit: str, max_refits: int | None, k_folds: int, seed: int,
                    ) -> dict[str, CrossValidation]:
    """Refits where PSIS-LOO is unreliable: exact per unit, or K-fold for every model when
    some model has more patients above the threshold than ``max_refits``."""
    high = {name: int(np.sum(np.asarray(e.pareto_k) > PARETO_K_MAX))
            for name, e in loos.items()}
    if unit == "patient" and max_refits is not None and max(high.values()) > max_refits:
        n_units = next(iter(loos.values())).elpd_i.size
        return {name: kfold(fit, unit=unit, k=min(k_folds, n_units), seed=seed)
                for name, fit in fits.items()}
    return {name: loo(fit, unit=unit, max_refits=max_refits, k_folds=k_folds, seed=seed)
            for name, fit in fits.items() if high[name]}


def _compare_fits(fits: dict[str, DoseResponseFit], ic: str, method: str, seed: int,
                  refit: bool, max_refits: int | None, unit: str, k_folds: int,
                  ) -> Comparison:
    psis = {name: unit_loo(fit, unit) for name, fit in fits.items()}
    loos = dict(psis)
    done = _cross_validate(fits, psis, unit, max_refits, k_folds, seed) if refit else {}
    for name, cv in done.items():
        loos[name] = with_exact_terms(psis[name], cv.pointwise["refitted"].to_numpy(),
                                      cv.pointwise["elpd"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = az.compare(loos, method="stacking", round_to="none")
    order = list(raw.index)
    terms = pd.DataFrame({name: np.ravel(loos[name].elpd_i.values) for name in order})
    weights = pd.DataFrame({
        "stacking": stacking_weights(loos).reindex(order),
        "pseudo-BMA+": pseudo_bma_weights(terms.to_numpy(), seed=seed),
        "pseudo-BMA": pseudo_bma_weights(terms.to_numpy(), bootstrap=False)}, index=order)
    chosen = weights[{"stacking": "stacking", "BB-pseudo-BMA": "pseudo-BMA+",
                      "pseudo-BMA": "pseudo-BMA"}[method]]
    n_obs = len(next(iter(fits.values())).inputs.response)
    rows = []
    for name in order:
        k = np.ravel(np.asarray(psis[name].pareto_k, dtype=float))
        cv = done.get(name)
        refitted = (cv.pointwise["refitted"].to_numpy() if cv is not None
                    else np.zeros(k.size, dtype=bool))
        unreliable = int(np.sum((k > PARETO_K_MAX) & ~refitted))
        model = fits[name].model
        rows.append({
            "model": name, "rank": int(raw.loc[name, "rank"]),
            "dose_shape": model.dose_shape.name, "time_shape": model.time_shape.name,
            "elpd_loo": float(raw.loc[name, "elpd"]), "se": float(raw.loc[name, "se"]),
            "p_loo": float(raw.loc[name, "p"]),
            # ArviZ gives this model's elpd minus the best one's (<= 0); the table keeps
            # the best one's minus this one's (>= 0)
            "elpd_diff": -float(raw.loc[name, "elpd_diff"]),
            "dse": float(raw.loc[name, "dse"]), "weight": float(chosen[name]),
            "weight_stacking": float(weights.loc[name, "stacking"]),
            "weight_pseudo_bma": float(weights.loc[name, "pseudo-BMA+"]),
            "unit": unit, "n_units": int(k.size), "n_obs": n_obs,
            "loo_kind": cv.kind if cv is not None else "psis",
            "n_refits": cv.n_refits if cv is not None else 0,
            "n_refitted": int(refitted.sum()),
            "max_pareto_k": float(np.nanmax(k)),
            "n_pareto_k_high": int(np.sum(k > PARETO_K_MAX)),
            "n_unreliable": unreliable, "warning": unreliable > 0,
        })
    table = pd.DataFrame(rows)
    table.attrs["unit"] = unit
    _warn_unreliable(table, unit)
    lines = decisive_but_uncertain(weights[["stacking", "pseudo-BMA+"]], terms)
    if lines:
        warnings.warn(
            "decisive weights, uncertain difference: " + "; ".join(lines) + f" over "
            f"{len(terms)} {unit}s. The data do not clearly separate these models; read "
            "the elpd differences with their standard errors (dse), and consider "
            "averaging with the pseudo-BMA+ weights (method='BB-pseudo-BMA') or keeping "
            "the models side by side.", UserWarning, stacklevel=3)
    series = pd.Series(table["weight"].to_numpy(), index=pd.Index(table["model"], name="model"),
                       name="weight")
    return Comparison(table=table, weights=series, fits=fits, ic=ic, method=method, loo=loos)


def _warn_unreliable(table: pd.DataFrame, unit: str) -> None:
    flagged = table[table["warning"]]
    if not len(flagged):
        return
    listed = ", ".join(f"{r.model!r} ({r.n_unreliable} of {r.n_units})"
                       for r in flagged.itertuples())
    warnings.warn(
        f"{unit}s with Pareto k > {PARETO_K_MAX} in {listed}: PSIS-LOO cannot "
        f"approximate leaving them out, so those models' elpd_loo (and the weights) are "
        "unreliable. See fit.diagnostics().observations for the observations behind them; "
        "compare with refit=True (refits where PSIS-LOO is unreliable; the default) or a "
        "larger max_refits.", UserWarning, stacklevel=4)


def _named_models(models: Mapping[str, DoseResponseModel] | Sequence[Any],
                  ) -> dict[str, DoseResponseModel]:
    if isinstance(models, Mapping):
        items = [(name, DoseResponseModel(dose_shape=model) if isinstance(model, str) else model)
                 for name, model in models.items()]
    elif isinstance(models, Sequence) and not isinstance(models, str):
        items = []
        for model in models:
            if isinstance(model, str):
                model = DoseResponseModel(dose_shape=model)
            if not isinstance(model, DoseResponseModel):
                raise SpecError(f"models: {model!r} is not a DoseResponseModel or a dose "
                                "shape name.")
            items.append((model_name(model), model))
    else:
        raise SpecError("models must be a mapping of name to DoseResponseModel or a list of "
                        "DoseResponseModel (or dose shape names).")
    names = [name for name, _ in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"models: several candidates are named {duplicates}; pass a mapping "
                        "{name: model} to tell them apart.")
    for name, model in items:
        if not isinstance(model, DoseResponseModel):
            raise SpecError(f"models[{name!r}] is a {type(model).__name__}, not a "
                            "DoseResponseModel.")
    if len(items) < 2:
        raise SpecError(f"models: give at least two candidates (got {len(items)}).")
    return dict(items)


def fit_candidates(models: Mapping[str, DoseResponseModel] | Sequence[Any], data: TrialData,
                   ic: str = "loo", method: str = "stacking", seed: int = 0,
                   refit: bool = True, max_refits: int | None = MAX_REFITS,
                   unit: str = "patient", k_folds: int = KFOLD_K,
                   **fit_kwargs: Any) -> Comparison:
    """Fit every candidate model to the same data with the same settings, and compare.

    Parameters
    ----------
    models : mapping of str to DoseResponseModel, or sequence
        The candidates: models or dose shape names (a name ``s`` stands for
        ``DoseResponseModel(dose_shape=s)``). The models of a sequence are named
        ``"<dose_shape> x <time_shape>"`` (:func:`model_name`).
    data : TrialData
        The trial; every candidate is fitted to all of it (give each model the same
        ``outcomes``).
    ic, method, seed, refit, max_refits, unit, k_folds
        As in :func:`compare`.
    **fit_kwargs
        Passed to every :meth:`DoseResponseModel.fit` (``draws``, ``tune``, ``chains``,
        ``random_seed``, ...): all candidates are sampled with the same settings and seed.

    Notes
    -----
    ``compare(models, data, ...)`` does the same.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from bayesdose.model.comparison import fit_candidates
    >>> comparison = fit_candidates(["emax", "linear", "exponential"], data, draws=500,
    ...                             tune=500, progressbar=False)   # doctest: +SKIP
    >>> comparison.weights                                      # doctest: +SKIP
    """
    _check_settings(ic, method, unit, max_refits, k_folds)
    named = _named_models(models)
    if not isinstance(data, TrialData):
        raise SpecError(f"data must be a TrialData to fit the candidate models to (got a "
                        f"{type(data).__name__}).")
    fits = {name: model.fit(data, **fit_kwargs) for name, model in named.items()}
    return compare(fits, ic=ic, method=method, seed=seed, refit=refit,
                   max_refits=max_refits, unit=unit, k_folds=k_folds)


# ---------------------------------------------------------------------- mixtures








# ---------------------------------------------------------------------- the comparison
