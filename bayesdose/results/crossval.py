"""Leave-one-out cross-validation: PSIS-LOO, with exact refits where it is unreliable.

The unit left out is an observation (one outcome of one patient at one visit) or a
patient (all their post-baseline observations). PSIS-LOO (Vehtari, Gelman and Gabry 2017)
approximates every unit's leave-one-out predictive density from one fit
(:func:`bayesdose.results.psis.psis_loo`); where its Pareto k exceeds
:data:`~bayesdose.results.psis.PARETO_K_MAX` the approximation cannot be trusted, and the
unit is left out for real: the model is refitted without it (same scales, priors, sampler
settings and seed) and its observations are scored under that refit. For a patient left
out, their patient effect is drawn from its population distribution in the refit, so the
score is that of a new patient with the same dose and baseline.

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


UNITS = ("observation", "patient")


def unit_labels(fit: DoseResponseFit, unit: str) -> tuple[np.ndarray, list[str]]:
    """Which unit each observation belongs to, and the units' names."""
    if unit not in UNITS:
        raise EstimandError(f"unit must be 'observation' or 'patient' (got {unit!r}).")
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


@dataclass
class CrossValidation:
    """Leave-one-out results of a fit (from :func:`loo`).

    Attributes
    ----------
    unit : str
        ``"observation"`` or ``"patient"``.
    pointwise : pandas.DataFrame
        One row per unit: unit (the patient, or ``"<outcome> of patient <id> at time
        <t>"``), n_obs, pareto_k, elpd_psis, elpd_exact (NaN where not refitted),
        refitted, elpd (the exact value where refitted, else PSIS).
    elpd : float
        Sum of the units' elpd.
    se : float
        Its standard error, sqrt(n var(elpd_i)) over the n units.

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
    >>> cv = CrossValidation(unit="patient", pointwise=pointwise, elpd=-53.0, se=4.32)
    >>> cv
    CrossValidation(unit='patient', elpd=-53.00, se=4.32, units=3, refitted=1, unreliable=1)
    >>> cv.unreliable["unit"].tolist()
    ['P03']
    """

    unit: str
    pointwise: pd.DataFrame
    elpd: float
    se: float

    @property
    def unreliable(self) -> pd.DataFrame:
        """Units whose Pareto k is above :data:`~bayesdose.results.psis.PARETO_K_MAX` and
        that were not refitted (their elpd is the PSIS-LOO value, which cannot be
        trusted): the rows of :attr:`pointwise`."""
        table = self.pointwise
        return table[(table["pareto_k"] > PARETO_K_MAX) & ~table["refitted"]]

    def __repr__(self) -> str:
        refits = int(self.pointwise["refitted"].sum())
        return (f"CrossValidation(unit={self.unit!r}, elpd={self.elpd:.2f}, se={self.se:.2f}, "
                f"units={len(self.pointwise)}, refitted={refits}, "
                f"unreliable={len(self.unreliable)})")


def loo(fit: DoseResponseFit, unit: str = "observation", refit: bool = True,
        k_threshold: float = PARETO_K_MAX, max_refits: int | None = None,
        progressbar: bool = False) -> CrossValidation:
    """Leave-one-out predictive accuracy (elpd) of a fit, by observation or by patient.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (with its log likelihood, as every fit from ``DoseResponseModel.fit``).
    unit : {"observation", "patient"}
        What is left out: one observation, or all of one patient's observations.
    refit : bool
        Refit the model without each unit whose Pareto k exceeds ``k_threshold`` and
        score it exactly; ``False`` reports PSIS-LOO alone (and lists those units in
        :attr:`CrossValidation.unreliable`).
    k_threshold : float
        Pareto k above which a unit is refitted (default
        :data:`~bayesdose.results.psis.PARETO_K_MAX`, 0.7: Vehtari et al. 2024).
    max_refits : int, optional
        At most this many refits (the units with the largest k first); the others stay
        unreliable and are listed as such.
    progressbar : bool
        Show the sampler's progress bar during refits.

    Returns
    -------
    CrossValidation

    Examples
    --------
    >>> cv = bd.loo(fit, unit="patient")       # doctest: +SKIP
    >>> cv.pointwise.query("refitted")         # doctest: +SKIP
    """
    if not 0 < k_threshold:
        raise EstimandError(f"k_threshold must be positive (got {k_threshold}).")
    code, names = unit_labels(fit, unit)
    n_units = len(names)
    loglik = unit_log_likelihood(pointwise_log_likelihood(fit), code, n_units)
    psis = psis_loo(loglik, group(fit.idata, "posterior"))
    elpd_psis, k = psis.elpd_i.to_numpy(), psis.pareto_k.to_numpy()
    table = pd.DataFrame({"unit": names, "n_obs": np.bincount(code, minlength=n_units),
                          "pareto_k": k, "elpd_psis": elpd_psis, "elpd_exact": np.nan})
    if refit:
        bad = np.flatnonzero(k > k_threshold)
        bad = bad[np.argsort(-k[bad])][:max_refits]
        for index in bad:
            rows = np.flatnonzero(code == index)
            table.loc[index, "elpd_exact"] = exact_elpd(fit, rows, progressbar)
    table["refitted"] = table["elpd_exact"].notna()
    table["elpd"] = table["elpd_exact"].where(table["refitted"], table["elpd_psis"])
    values = table["elpd"].to_numpy()
    return CrossValidation(unit=unit, pointwise=table, elpd=float(values.sum()),
                           se=float(np.sqrt(n_units * np.var(values))))


def exact_elpd(fit: DoseResponseFit, rows: np.ndarray, progressbar: bool = False) -> float:
    """log p(y_rows | y_rest): refit without ``rows`` and score them under the refit.

    The refit is compiled once per fit and design: a model of continuous likelihoods is
    refitted in its weighted form (:class:`bayesdose.inference.compiled.CompiledModel` with
    ``weighted=True``), the left-out observations at weight 0, so every refit of a fit
    swaps weights into one compiled model; a model with an ordinal outcome is rebuilt
    without the rows. The left-out observations are scored with the full model's
    log-likelihood function (compiled once), their joint term computed by
    :func:`bayesdose.results.psis.exact_term`.

    Parameters
    ----------
    fit : DoseResponseFit
        The full fit.
    rows : numpy.ndarray
        Observations (rows of ``fit.inputs``) to leave out together.
    progressbar : bool
        Show the sampler's progress bar.

    Returns
    -------
    float
        The log predictive density of the left-out observations jointly.

    Examples
    --------
    >>> exact_elpd(fit, np.array([3]))          # doctest: +SKIP
    -4.96
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
    return exact_term(pointwise_log_likelihood(scored, len(fit.inputs.response)), rows)
