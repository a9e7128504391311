"""Leave-one-out cross-validation: PSIS-LOO, with exact refits or K-fold refits where it
is unreliable.

The unit left out is a patient (all their post-baseline observations; the default) or an
observation (one outcome of one patient at one visit). PSIS-LOO (Vehtari, Gelman and Gabry
2017) approximates every unit's leave-one-out predictive density from one fit
(:func:`bayesdose.results.psis.psis_loo`); where its Pareto k exceeds
:data:`~bayesdose.results.psis.PARETO_K_MAX` the approximation cannot be trusted, and the
unit is left out for real: the model is refitted without it (same scales, priors, sampler
settings and seed) and its observations are scored under that refit. For a patient left
out, their patient effect is drawn from its population distribution in the refit, so the
score is that of a new patient with the same dose and baseline.

When more patients need refits than ``max_refits`` (default :data:`MAX_REFITS`), leaving
each of them out would cost one refit per patient; K-fold cross-validation by patient
(:func:`kfold`) refits the model K times instead (:data:`KFOLD_K`, 10, or one fold per
patient when there are fewer), each time without one fold of patients, the folds drawn
with a seed and stratified by dose, and scores every patient under the refit that left
them out. Each patient's term is then ``log p(y_i | y_-fold(i))``, a little pessimistic
beside leave-one-out (each refit sees a fold fewer patients), and the same for every model
cross-validated on the same folds.

Pointwise log likelihoods of all outcomes are put together by observation, so the total
``elpd`` covers every outcome of the model. Models are only comparable on it when they
model the same response for each outcome (a change and a log change are not on one scale).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.inference.backends import resolve_sampler
from bayesdose.inference.compiled import WEIGHTED_KINDS, compiled_model
from bayesdose.inference.trees import group
from bayesdose.results.psis import (
    PARETO_K_MAX,
    exact_term,
    pointwise_log_likelihood,
    psis_loo,
    unit_log_likelihood,
)

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.results.fit import DoseResponseFit


UNITS = ("patient", "observation")


#: Most units refitted one at a time; with more units above the Pareto k threshold, units
#: that are patients are cross-validated by K-fold (:func:`kfold`) instead.
MAX_REFITS = 5


#: Number of folds of K-fold cross-validation by patient (fewer when there are fewer
#: patients: then every patient is a fold of their own).
KFOLD_K = 10


#: How each unit's term was computed: PSIS-LOO alone, PSIS-LOO with exact refits of the
#: units where it is unreliable, or K-fold refits for every unit.
LOO_KINDS = ("psis", "psis+exact", "kfold")


def unit_labels(fit: DoseResponseFit, unit: str) -> tuple[np.ndarray, list[str]]:
    """Which unit each observation belongs to, and the units' names.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (its inputs name the patients, outcomes and visits).
    unit : {"patient", "observation"}
        The unit.

    Returns
    -------
    tuple of numpy.ndarray and list of str
        The unit (0 to n - 1) of every observation (row of ``fit.inputs``) and the n
        units' names: the patient, or ``"<outcome> of patient <id> at time <t>"``.

    Examples
    --------
    >>> code, names = unit_labels(fit, "patient")      # doctest: +SKIP
    """
    if unit not in UNITS:
        raise EstimandError(f"unit must be 'patient' or 'observation' (got {unit!r}).")
    if unit == "observation" and getattr(fit.model, "serial_correlation", "none") != "none":
        raise EstimandError("with serial_correlation=\"ar1\" an observation's likelihood "
                            "term is conditional on the patient's previous value, so leaving "
                            "one observation out is not what it computes: use unit=\"patient\".")
    inputs = fit.inputs
    if unit == "patient":
        present = np.unique(inputs.patient_idx)
        code = np.searchsorted(present, inputs.patient_idx)
        return code, [inputs.patients[i] for i in present]
    names = [f"{inputs.outcomes[k]} of patient {inputs.patients[p]} at time "
             f"{inputs.visits[t]:g}"
             for k, p, t in zip(inputs.outcome_idx, inputs.patient_idx, inputs.time_idx,
                                strict=True)]
    return np.arange(len(names)), names


def unit_doses(fit: DoseResponseFit, code: np.ndarray) -> np.ndarray:
    """The dose of each unit (that of its first observation: a patient has one dose).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (``fit.inputs.dose`` gives every observation's dose).
    code : numpy.ndarray
        The unit of every observation (:func:`unit_labels`).

    Returns
    -------
    numpy.ndarray
        One dose per unit.

    Examples
    --------
    >>> doses = unit_doses(fit, unit_labels(fit, "patient")[0])     # doctest: +SKIP
    """
    code = np.asarray(code, dtype=int)
    n_units = int(code.max()) + 1
    first = np.full(n_units, -1)
    first[code[::-1]] = np.arange(len(code))[::-1]
    return np.asarray(fit.inputs.dose, dtype=float)[first]


def stratified_folds(strata: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Assign units to ``k`` folds at random, spreading every stratum over the folds.

    The units of each stratum (e.g. each dose) are shuffled and dealt to the folds in
    turn, one stratum after another, so that every fold holds about the same number of
    units and of each stratum (a stratum of m units lands in min(m, k) folds). The same
    seed gives the same folds.

    Parameters
    ----------
    strata : numpy.ndarray
        The stratum of each unit (any values that can be sorted).
    k : int
        Number of folds, 2 to the number of units.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    numpy.ndarray
        The fold (0 to k - 1) of each unit.

    Raises
    ------
    EstimandError
        For ``k`` below 2 or above the number of units.

    Examples
    --------
    >>> folds = stratified_folds(np.array([0, 0, 0, 10, 10, 10]), k=3, seed=1)
    >>> np.bincount(folds).tolist()
    [2, 2, 2]
    >>> sorted(folds[:3].tolist()) == sorted(folds[3:].tolist()) == [0, 1, 2]
    True
    """
    strata = np.asarray(strata)
    n = strata.size
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= n:
        raise EstimandError(f"k must be a whole number of folds from 2 to the number of "
                            f"units ({n}); got {k!r}.")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(strata == value))
                            for value in np.unique(strata)])
    labels = rng.permutation(k)
    folds = np.empty(n, dtype=int)
    folds[order] = labels[np.arange(n) % k]
    return folds


@dataclass
class CrossValidation:
    """Leave-one-out (or K-fold) results of a fit (from :func:`loo` or :func:`kfold`).

    Attributes
    ----------
    unit : str
        ``"patient"`` or ``"observation"``.
    pointwise : pandas.DataFrame
        One row per unit: unit (the patient, or ``"<outcome> of patient <id> at time
        <t>"``), n_obs, pareto_k (PSIS-LOO's), elpd_psis, elpd_exact (the term from a refit
        without the unit or its fold; NaN where not refitted), refitted, elpd (the exact
        value where refitted, else PSIS); after K-fold also fold.
    elpd : float
        Sum of the units' elpd.
    se : float
        Its standard error, sqrt(n var(elpd_i)) over the n units.
    kind : str
        How the terms were computed: ``"psis"`` (PSIS-LOO alone), ``"psis+exact"``
        (exact refits where PSIS-LOO is unreliable) or ``"kfold"`` (K-fold refits).
    n_refits : int
        Number of refits of the model.

    Examples
    --------
    >>> import bayesdose as bd
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> fit = bd.DoseResponseModel().fit(data)              # doctest: +SKIP
    >>> cv = bd.loo(fit, unit="patient", refit=False)       # doctest: +SKIP

    The result holds a table of the units; built by hand here:

    >>> import numpy as np, pandas as pd
    >>> pointwise = pd.DataFrame({
    ...     "unit": ["P01", "P02", "P03"], "n_obs": [4, 4, 4],
    ...     "pareto_k": [0.2, 0.9, 0.8], "elpd_psis": [-15.0, -19.0, -17.0],
    ...     "elpd_exact": [np.nan, -21.0, np.nan], "refitted": [False, True, False],
    ...     "elpd": [-15.0, -21.0, -17.0]})
    >>> cv = CrossValidation(unit="patient", pointwise=pointwise, elpd=-53.0, se=4.32,
    ...                      kind="psis+exact", n_refits=1)
    >>> cv  # doctest: +NORMALIZE_WHITESPACE
    CrossValidation(unit='patient', kind='psis+exact', elpd=-53.00, se=4.32, units=3,
                    refitted=1, unreliable=1)
    >>> cv.unreliable["unit"].tolist()
    ['P03']
    """

    unit: str
    pointwise: pd.DataFrame
    elpd: float
    se: float
    kind: str = "psis"
    n_refits: int = 0

    @property
    def unreliable(self) -> pd.DataFrame:
        """Units whose Pareto k is above :data:`~bayesdose.results.psis.PARETO_K_MAX` and
        that were not refitted (their elpd is the PSIS-LOO value, which cannot be
        trusted): the rows of :attr:`pointwise`."""
        table = self.pointwise
        return table[(table["pareto_k"] > PARETO_K_MAX) & ~table["refitted"]]

    def __repr__(self) -> str:
        refits = int(self.pointwise["refitted"].sum())
        return (f"CrossValidation(unit={self.unit!r}, kind={self.kind!r}, "
                f"elpd={self.elpd:.2f}, se={self.se:.2f}, units={len(self.pointwise)}, "
                f"refitted={refits}, unreliable={len(self.unreliable)})")


def psis_table(fit: DoseResponseFit, unit: str) -> tuple[pd.DataFrame, np.ndarray]:
    """PSIS-LOO of every unit of a fit: the table of :class:`CrossValidation` before any
    refit, and the unit of each observation.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit, with its log likelihood.
    unit : {"patient", "observation"}
        The unit left out.

    Returns
    -------
    tuple of pandas.DataFrame and numpy.ndarray
        Columns unit, n_obs, pareto_k, elpd_psis, elpd_exact (NaN); and the unit (row of
        the table) of each observation.

    Examples
    --------
    >>> table, code = psis_table(fit, "patient")      # doctest: +SKIP
    """
    code, names = unit_labels(fit, unit)
    n_units = len(names)
    loglik = unit_log_likelihood(pointwise_log_likelihood(fit), code, n_units)
    psis = psis_loo(loglik, group(fit.idata, "posterior"))
    table = pd.DataFrame({"unit": names, "n_obs": np.bincount(code, minlength=n_units),
                          "pareto_k": psis.pareto_k.to_numpy(),
                          "elpd_psis": psis.elpd_i.to_numpy(), "elpd_exact": np.nan})
    return table, code


def _finish(table: pd.DataFrame, unit: str, kind: str, n_refits: int) -> CrossValidation:
    table["refitted"] = table["elpd_exact"].notna()
    table["elpd"] = table["elpd_exact"].where(table["refitted"], table["elpd_psis"])
    values = table["elpd"].to_numpy()
    return CrossValidation(unit=unit, pointwise=table, elpd=float(values.sum()),
                           se=float(np.sqrt(len(values) * np.var(values))), kind=kind,
                           n_refits=n_refits)


def _check_refit_settings(k_threshold: float, max_refits: int | None) -> None:
    if not 0 < k_threshold:
        raise EstimandError(f"k_threshold must be positive (got {k_threshold}).")
    if max_refits is not None and (isinstance(max_refits, bool) or not isinstance(
            max_refits, int | np.integer) or max_refits < 0):
        raise EstimandError(f"max_refits must be a whole number >= 0 or None (no limit); "
                            f"got {max_refits!r}.")


def loo(fit: DoseResponseFit, unit: str = "patient", refit: bool = True,
        k_threshold: float = PARETO_K_MAX, max_refits: int | None = MAX_REFITS,
        k_folds: int = KFOLD_K, seed: int = 0, progressbar: bool | None = None,
        ) -> CrossValidation:
    """Leave-one-out predictive accuracy (elpd) of a fit, by patient or by observation.

    PSIS-LOO for every unit; where its Pareto k exceeds ``k_threshold`` the unit is left
    out for real. Leaving out patients: when at most ``max_refits`` of them are above the
    threshold, each is refitted without (exact leave-one-patient-out); with more, every
    patient is cross-validated by K-fold (:func:`kfold`: ``k_folds`` refits, folds
    stratified by dose and drawn with ``seed``). Leaving out observations: the (at most
    ``max_refits``) observations with the largest k are refitted without, and any others
    above the threshold stay unreliable.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (with its log likelihood, as every fit from ``DoseResponseModel.fit``).
    unit : {"patient", "observation"}
        What is left out: all of one patient's observations (the default: the score of a
        new patient), or one observation (a patient's missing visit).
    refit : bool
        Refit where PSIS-LOO is unreliable; ``False`` reports PSIS-LOO alone (and lists
        the units above the threshold in :attr:`CrossValidation.unreliable`).
    k_threshold : float
        Pareto k above which a unit is refitted (default
        :data:`~bayesdose.results.psis.PARETO_K_MAX`, 0.7: Vehtari et al. 2024).
    max_refits : int or None
        Most units refitted one at a time (default :data:`MAX_REFITS`); ``None``: no
        limit (every unit above the threshold is refitted, never K-fold).
    k_folds : int
        Folds of the K-fold fallback (fewer when there are fewer patients).
    seed : int
        Seed of the K-fold folds.
    progressbar : bool, optional
        Show the sampler's progress bar during refits (default: on a terminal only,
        see :func:`bayesdose.progress.resolve_progress`).

    Returns
    -------
    CrossValidation
        ``kind`` says which of PSIS-LOO alone, exact refits or K-fold gave the terms.

    Examples
    --------
    >>> cv = bd.loo(fit, unit="patient")       # doctest: +SKIP
    >>> cv.kind, cv.pointwise.query("refitted")   # doctest: +SKIP
    """
    _check_refit_settings(k_threshold, max_refits)
    table, code = psis_table(fit, unit)
    k = table["pareto_k"].to_numpy()
    bad = np.flatnonzero(k > k_threshold)
    if not refit or bad.size == 0:
        return _finish(table, unit, "psis", 0)
    if unit == "patient" and max_refits is not None and bad.size > max_refits:
        return kfold(fit, unit=unit, k=min(k_folds, len(table)), seed=seed,
                     progressbar=progressbar)
    bad = bad[np.argsort(-k[bad], kind="stable")][:max_refits]
    for index in bad:
        rows = np.flatnonzero(code == index)
        table.loc[index, "elpd_exact"] = exact_elpd(fit, rows, progressbar)
    return _finish(table, unit, "psis+exact" if bad.size else "psis", int(bad.size))


def kfold(fit: DoseResponseFit, unit: str = "patient", k: int = KFOLD_K, seed: int = 0,
          folds: np.ndarray | None = None,
          progressbar: bool | None = None) -> CrossValidation:
    """K-fold cross-validation: refit without each fold of units, score the fold's units.

    Every unit's term is ``log p(y_unit | y_rest_of_fold_out)``: the log of the mean, over
    the draws of the refit without its fold, of the unit's likelihood (its observations
    jointly; :func:`bayesdose.results.psis.exact_term`). The folds are drawn with ``seed``
    and stratified by dose (:func:`stratified_folds`), so two models cross-validated with
    the same seed on the same data use the same folds.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (its settings and seed are those of every refit).
    unit : {"patient", "observation"}
        The unit the folds are made of.
    k : int
        Number of folds (2 to the number of units).
    seed : int
        Seed of the folds.
    folds : numpy.ndarray, optional
        The fold of each unit, instead of drawing them (then ``k`` and ``seed`` are not
        used).
    progressbar : bool, optional
        Show the sampler's progress bar during refits (default: on a terminal only,
        see :func:`bayesdose.progress.resolve_progress`).

    Returns
    -------
    CrossValidation
        ``kind="kfold"``; ``pointwise`` has a ``fold`` column, and every unit is refitted.

    Examples
    --------
    >>> cv = kfold(fit, unit="patient", k=10, seed=0)      # doctest: +SKIP
    >>> cv.pointwise.groupby("fold")["elpd"].sum()         # doctest: +SKIP
    """
    table, code = psis_table(fit, unit)
    if folds is None:
        folds = stratified_folds(unit_doses(fit, code), k, seed)
    folds = np.asarray(folds, dtype=int)
    if folds.shape != (len(table),):
        raise EstimandError(f"folds must give one fold per {unit} ({len(table)}); got "
                            f"{folds.shape[0] if folds.ndim else 0}.")
    labels = np.unique(folds)
    for label in labels:
        members = np.flatnonzero(folds == label)
        rows = np.flatnonzero(np.isin(code, members))
        scored = refit_log_likelihood(fit, rows, progressbar)
        for index in members:
            table.loc[index, "elpd_exact"] = exact_term(scored, np.flatnonzero(code == index))
    table["fold"] = folds
    return _finish(table, unit, "kfold", int(labels.size))


def refit_log_likelihood(fit: DoseResponseFit, rows: np.ndarray,
                         progressbar: bool | None = None) -> xr.DataArray:
    """The log likelihood of every observation under a refit without ``rows``.

    The refit is compiled once per fit and design: a model of continuous likelihoods is
    refitted in its weighted form (:class:`bayesdose.inference.compiled.CompiledModel` with
    ``weighted=True``), the left-out observations at weight 0, so every refit of a fit
    swaps weights into one compiled model; a model with an ordinal outcome is rebuilt
    without the rows. Every observation is scored with the full model's log-likelihood
    function (compiled once) under the refit's posterior draws.

    Parameters
    ----------
    fit : DoseResponseFit
        The full fit (its sampler settings and seed are the refit's).
    rows : numpy.ndarray
        Observations (rows of ``fit.inputs``) to leave out together.
    progressbar : bool, optional
        Show the sampler's progress bar (default: on a terminal only).

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, obs (:func:`bayesdose.results.psis.pointwise_log_likelihood`).

    Examples
    --------
    >>> scored = refit_log_likelihood(fit, np.array([3]))   # doctest: +SKIP
    """
    settings = {key: fit.settings[key] for key in
                ("draws", "tune", "chains", "random_seed", "target_accept", "sampler")}
    settings["sampler"] = resolve_sampler(settings["sampler"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if fit.inputs.kinds <= WEIGHTED_KINDS:
            weight = np.ones(len(fit.inputs.response))
            weight[np.asarray(rows, dtype=int)] = 0.0
            refit = compiled_model(fit.model, fit.inputs, weighted=True).sample(
                fit.inputs, settings, progressbar=progressbar, weight=weight)
        else:
            refit = fit.model.sample_inputs(fit.inputs.without(rows), settings,
                                            progressbar=progressbar, prior_draws=0,
                                            predictive=False)
        full = compiled_model(fit.model, fit.inputs)
        full.set_data(full.data_values(fit.inputs))
        scored = full.log_likelihood(group(refit, "posterior"))
    return pointwise_log_likelihood(scored, len(fit.inputs.response))


def exact_elpd(fit: DoseResponseFit, rows: np.ndarray,
               progressbar: bool | None = None) -> float:
    """log p(y_rows | y_rest): refit without ``rows`` and score them under the refit.

    The refit is :func:`refit_log_likelihood`'s; the left-out observations' joint term is
    computed by :func:`bayesdose.results.psis.exact_term`.

    Parameters
    ----------
    fit : DoseResponseFit
        The full fit.
    rows : numpy.ndarray
        Observations (rows of ``fit.inputs``) to leave out together.
    progressbar : bool, optional
        Show the sampler's progress bar (default: on a terminal only).

    Returns
    -------
    float
        The log predictive density of the left-out observations jointly.

    Examples
    --------
    >>> exact_elpd(fit, np.array([3]))          # doctest: +SKIP
    -4.96
    """
    return exact_term(refit_log_likelihood(fit, rows, progressbar), rows)
