"""Model comparison and model averaging.

Two questions about a set of candidate models fitted to the same trial:

- **Which candidate predicts the data best?** :func:`compare` estimates each model's
  expected log predictive density for a new observation by PSIS-LOO (Vehtari, Gelman and
  Gabry 2017) and weighs the candidates by stacking (Yao et al. 2018) or pseudo-BMA,
  through :func:`arviz.compare`. Given the trial data, it fits the candidate models
  first (:func:`fit_candidates`), so models are fitted and compared in one call.
- **What do the candidates say together?** :class:`Comparison` averages estimands over
  the candidates: the posterior of the averaged estimand is the *mixture* of the models'
  posteriors with the comparison's weights (model averaging by stacking or pseudo-BMA).

Whether there is a dose-response signal at all is a question for one fit (preferably of
the free dose shape): see :func:`bayesdose.results.signal.signal_test`.

PSIS-LOO leaves out one observation (one value of one outcome at one visit) at a time.
With repeated measures, this measures how well a model predicts a patient's missing
visit, not a new patient; a model that fits patients' idiosyncrasies can look better than
it would on new patients. Leaving out whole patients needs refits and is not done here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd

from bayesdose.components.shapes import dose_shape_names
from bayesdose.data.trial import TrialData
from bayesdose.errors import DataError, SpecError
from bayesdose.inference.trees import group
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.results.averaging import Comparison
from bayesdose.results.crossval import loo
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.psis import (
    PARETO_K_MAX,
    pointwise_log_likelihood,
    psis_loo,
    with_exact_terms,
)

if TYPE_CHECKING:  # pragma: no cover
    pass


IC = ("loo",)


METHODS = ("stacking", "BB-pseudo-BMA", "pseudo-BMA")


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


def _check_settings(ic: str, method: str) -> None:
    if ic not in IC:
        raise SpecError(f"ic must be one of {', '.join(map(repr, IC))} (PSIS-LOO; got "
                        f"{ic!r}).")
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(map(repr, METHODS))} "
                        f"(got {method!r}).")


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


# ---------------------------------------------------------------------- comparison
def compare(candidates: Mapping[str, Any] | Sequence[Any], data: TrialData | None = None,
            ic: str = "loo", method: str = "stacking", seed: int = 0, refit: bool = False,
            max_refits: int | None = None, **fit_kwargs: Any) -> Comparison:
    """Compare candidate models of the same data by PSIS-LOO, with model weights.

    Each fit's log likelihood (all its observed variables, all outcomes) is put together
    per observation (:func:`bayesdose.results.psis.pointwise_log_likelihood`), PSIS-LOO
    estimates each model's expected log predictive density from it
    (:func:`bayesdose.results.psis.psis_loo`, as for the diagnostics and
    :func:`bayesdose.results.crossval.loo`), and :func:`arviz.compare` weighs the models.
    Given ``data``, the candidates are models, fitted first with the same settings and seed
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
        Information criterion: PSIS-LOO.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        Weights: stacking of the predictive distributions (Yao et al. 2018; the
        default), pseudo-BMA with the Bayesian bootstrap, or pseudo-BMA (weights
        proportional to exp(elpd_loo)).
    seed : int
        Kept so that calls written for bayesdose 0.1.0 run; it has no effect: ArviZ 1 seeds
        the Bayesian bootstrap of ``"BB-pseudo-BMA"`` itself, so its weights are the same on
        every run.
    refit : bool
        Replace the PSIS-LOO term of every observation with Pareto k > 0.7 by its exact
        leave-one-out value, refitting the model without it
        (:func:`bayesdose.results.crossval.loo`); a refitted observation's ``pareto_k`` is then
        reported as 0 and counted in ``n_refitted``.
    max_refits : int, optional
        At most this many refits per model (largest k first).
    **fit_kwargs
        With ``data`` only: passed to every :meth:`DoseResponseModel.fit` (``draws``,
        ``tune``, ``chains``, ``random_seed``, ...), so every candidate is sampled with
        the same settings and seed.

    Returns
    -------
    Comparison
        ``.table`` (one row per model, best first), ``.weights``, ``.fits``.

    Raises
    ------
    SpecError
        For models without ``data``, fits with ``data``, a mix of fits and models, fit
        settings without ``data``, fewer than two candidates, or an unknown ``ic`` or
        ``method``.

    Warns
    -----
    UserWarning
        When a model has observations with Pareto k > 0.7: their leave-one-out terms,
        and so its elpd_loo, are unreliable.

    Examples
    --------
    Fits of the same data:

    >>> comparison = compare({"emax": fit_emax, "linear": fit_linear})   # doctest: +SKIP
    >>> comparison.table[["model", "elpd_loo", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP

    Models, fitted and compared in one call:

    >>> comparison = compare(["emax", "linear", "exponential"], data, draws=500,
    ...                      tune=500, random_seed=1)                 # doctest: +SKIP
    """
    _check_settings(ic, method)
    kinds = _candidate_kinds(candidates)
    if data is not None:
        if not isinstance(data, TrialData):
            raise SpecError(f"data must be a TrialData to fit the candidate models to (got "
                            f"a {type(data).__name__}); to compare fits, leave data out.")
        if kinds["fit"]:
            raise SpecError(
                f"candidates {kinds['fit']} are already fitted (DoseResponseFit), but data "
                "was given to fit them: pass fits without data (compare({name: fit, ...})) "
                "or models (DoseResponseModel or dose shape names) with data.")
        return fit_candidates(candidates, data, ic=ic, method=method, seed=seed,
                              refit=refit, max_refits=max_refits, **fit_kwargs)
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
    loos = {name: psis_loo(pointwise_log_likelihood(fit), group(fit.idata, "posterior"))
            for name, fit in fits.items()}
    refitted = {name: 0 for name in fits}
    if refit:
        for name, fit in fits.items():
            if np.any(np.asarray(loos[name].pareto_k) > PARETO_K_MAX):
                exact = loo(fit, unit="observation", max_refits=max_refits).pointwise
                done = exact["refitted"].to_numpy()
                loos[name] = with_exact_terms(loos[name], done, exact["elpd"].to_numpy())
                refitted[name] = int(done.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = az.compare(loos, method=method, round_to="none")
    weights = raw["weight"].clip(lower=0.0)
    weights = weights / weights.sum()
    rows = []
    for name in raw.index:
        k = np.asarray(loos[name].pareto_k, dtype=float)
        model = fits[name].model
        rows.append({
            "model": name, "rank": int(raw.loc[name, "rank"]),
            "dose_shape": model.dose_shape.name, "time_shape": model.time_shape.name,
            "elpd_loo": float(raw.loc[name, "elpd"]), "se": float(raw.loc[name, "se"]),
            "p_loo": float(raw.loc[name, "p"]),
            # ArviZ gives this model's elpd minus the best one's (<= 0); the table keeps
            # the best one's minus this one's (>= 0)
            "elpd_diff": -float(raw.loc[name, "elpd_diff"]),
            "dse": float(raw.loc[name, "dse"]), "weight": float(weights[name]),
            "n_obs": int(k.size), "max_pareto_k": float(np.nanmax(k)),
            "n_pareto_k_high": int(np.sum(k > PARETO_K_MAX)),
            "n_refitted": refitted[name],
            "warning": bool(np.any(k > PARETO_K_MAX)),
        })
    table = pd.DataFrame(rows)
    flagged = table[table["warning"]]
    if len(flagged):
        listed = ", ".join(f"{r.model!r} ({r.n_pareto_k_high} of {r.n_obs})"
                           for r in flagged.itertuples())
        warnings.warn(
            f"observations with Pareto k > {PARETO_K_MAX} in {listed}: PSIS-LOO cannot "
            "approximate leaving them out, so those models' elpd_loo (and the weights) are "
            "unreliable. See fit.diagnostics().observations for which ones; refit with "
            "more draws, or compare with refit=True (exact leave-one-out refits for them).",
            UserWarning, stacklevel=2)
    series = pd.Series(table["weight"].to_numpy(), index=pd.Index(table["model"], name="model"),
                       name="weight")
    return Comparison(table=table, weights=series, fits=fits, ic=ic, method=method, loo=loos)


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
                   refit: bool = False, max_refits: int | None = None,
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
    ic, method, seed, refit, max_refits
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
    _check_settings(ic, method)
    named = _named_models(models)
    if not isinstance(data, TrialData):
        raise SpecError(f"data must be a TrialData to fit the candidate models to (got a "
                        f"{type(data).__name__}).")
    fits = {name: model.fit(data, **fit_kwargs) for name, model in named.items()}
    return compare(fits, ic=ic, method=method, seed=seed, refit=refit,
                   max_refits=max_refits)


# ---------------------------------------------------------------------- mixtures








# ---------------------------------------------------------------------- the comparison
