"""Calibration of a model on a trial design: simulation-based calibration (SBC) and the
coverage of the decision estimands under fixed truths.

**Simulation-based calibration** (Talts et al. 2018): for each replicate, draw the
parameters from the model's prior and a trial from the model itself on the design's layout
(its doses, patients per dose, visits and dropout; baselines drawn afresh, as in
:mod:`bayesdose.design.simulation`), fit the model to that trial, and count how many of
``L`` posterior draws (thinned from the chains, so roughly independent) lie below the
drawn value. When the sampler and the model's code are right, this *rank* is uniform on
0, 1, ..., L for every quantity, whatever the design; a non-uniform rank flags a bug, a
sampler that does not explore the posterior, or a prior and likelihood that do not agree.
The quantities ranked are the model's population parameters (the dose- and time-shape
parameters such as ``delta``, ``log_ed50`` and ``log_t_half``, the common ``course`` at
each visit, ``beta_baseline``, ``sigma`` and the patient SD; not the per-patient effects)
and the decision estimand: the improvement of each tested dose over the decision's
reference dose at the decision's time, in outcome units.

Uniformity is read from the ranks' ECDF with its simultaneous band (Säilynoja, Bürkner
and Vehtari 2022: under uniformity the whole ECDF stays inside the band with probability
``band_prob``) and a chi-square test on binned ranks (:func:`rank_summary`).

**Coverage under fixed truths**: each replicate simulates a trial from a user-given true
scenario (:class:`~bayesdose.design.designs.Scenario`), fits the model and records whether
the credible interval of each contrast against the reference, and of the minimum effective
dose (MED), covers the truth, and whether the decision rule picks the true MED among the
tested doses. It also records each contrast's posterior mean and SD and their standardised
error ``z = (mean - truth) / sd``: averaged over replicates (``bias_z`` in
:func:`coverage_table`), how far off the posterior is systematically, in posterior SDs.
``calibrate(..., reps=0, truths=..., coverage_reps=R)`` runs this check alone.

Every replicate is fitted with the model built and compiled once per design and worker
process (:class:`~bayesdose.inference.compiled.CompiledModel`; the prior predictive is
compiled once too), its data swapped in, and replicates run through
:func:`bayesdose.design.runner.run_replicates`: resumable, stored as they finish, on a
local Dask cluster or in process, with per-replicate seeds, so the same seed gives the
same ranks whatever the number of workers.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A., Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

Säilynoja, T., Bürkner, P.-C., Vehtari, A. (2022). Graphical test for discrete uniformity
and its applications in goodness-of-fit evaluation and multiple sample comparison.
Statistics and Computing 32, 32.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.ecdf_utils import get_pointwise_confidence_band, simulate_confidence_bands
from scipy import stats

from bayesdose.components.inputs import OutcomeScales
from bayesdose.components.likelihoods import LIKELIHOODS
from bayesdose.design.designs import Arms, Design, Scenario
from bayesdose.design.runner import run_replicates
from bayesdose.design.simulation import (
    ESS_PER_CHAIN,
    RHAT_MAX,
    ReplicateAnalysis,
    dropout_weights,
    fastest_sampler,
    scenario_parameters,
)
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.inference.compiled import CompiledModel
from bayesdose.inference.trees import group
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.results.dose_estimands import GRID_POINTS
from bayesdose.results.estimands import check_interval, credible_interval, effect_draws

#: Default number of posterior draws each truth is ranked among (L).
N_RANKS = 100


#: Simulations behind the simultaneous ECDF band (as arviz-plots draws it).
BAND_SIMULATIONS = 1000


#: The files a calibration stores its replicates' ranks and coverage under, per candidate.
SBC_FOLDER, COVERAGE_FOLDER = "sbc", "coverage"


#: Likelihoods whose trials a calibration can draw and fit.
CALIBRATED_LIKELIHOODS = ("normal", "student_t")


_ANALYSES: dict[tuple[str, ...], CalibrationAnalysis] = {}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


# ---------------------------------------------------------------------- ranks
def thin_draws(values: np.ndarray, n_ranks: int) -> np.ndarray:
    """``n_ranks`` draws spread evenly over the chains and through each chain.

    Parameters
    ----------
    values : numpy.ndarray
        Draws, shape ``(chain, draw)``.
    n_ranks : int
        How many draws to keep; rounded down to a multiple of the number of chains, each
        chain giving the same number of draws, evenly spaced (every ``draw / k``-th).

    Returns
    -------
    numpy.ndarray
        The kept draws, chain after chain (1-D).

    Raises
    ------
    SpecError
        When the chains hold fewer draws than asked.

    Examples
    --------
    >>> values = np.arange(20.0).reshape(2, 10)   # 2 chains of 10 draws
    >>> thin_draws(values, 4).tolist()
    [2.0, 7.0, 12.0, 17.0]
    """
    values = np.asarray(values, dtype=float)
    chains, draws = values.shape
    per_chain = int(n_ranks) // chains
    if per_chain < 1 or per_chain > draws:
        raise SpecError(f"cannot rank among {n_ranks} draws: the fits have {chains} chains of "
                        f"{draws} draws; ask for at most {chains * draws} ranks (n_ranks) or "
                        "sample more draws.")
    index = ((np.arange(per_chain) + 0.5) * draws / per_chain).astype(int)
    return values[:, index].reshape(-1)


def sbc_rank(draws: np.ndarray, truth: float | np.ndarray) -> np.ndarray:
    """Rank of the truth among posterior draws: how many draws lie strictly below it.

    Parameters
    ----------
    draws : numpy.ndarray
        Posterior draws on the last axis (``L`` of them).
    truth : float or numpy.ndarray
        The value drawn from the prior (broadcast against ``draws`` without its last axis).

    Returns
    -------
    numpy.ndarray
        Integers from 0 (the truth below every draw) to ``L`` (above every draw).

    Examples
    --------
    >>> draws = np.array([1.0, 2.0, 3.0, 4.0])
    >>> [int(sbc_rank(draws, truth)) for truth in (0.5, 2.5, 9.0)]
    [0, 2, 4]
    >>> sbc_rank(np.stack([draws, draws + 10]), np.array([2.5, 2.5])).tolist()
    [2, 0]
    """
    draws = np.asarray(draws, dtype=float)
    return (draws < np.asarray(truth, dtype=float)[..., None]).sum(axis=-1)


def pit_values(ranks: np.ndarray, n_ranks: int) -> np.ndarray:
    """Ranks on 0, ..., L as values in (0, 1): ``(rank + 0.5) / (L + 1)``, uniform on
    (0, 1) (up to the grid of L + 1 values) when the ranks are.

    Examples
    --------
    >>> pit_values(np.array([0, 4]), 4).tolist()
    [0.1, 0.9]
    """
    return (np.asarray(ranks, dtype=float) + 0.5) / (n_ranks + 1)


@lru_cache(maxsize=64)
def _band(n: int, n_ranks: int, band_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits, at ``z_i = i / (L + 1)``, ``i = 1, ..., L``, of the
    simultaneous band of the ECDF of ``n`` ranks uniform on 0, ..., L (fixed seed)."""
    points = np.arange(1, n_ranks + 1) / (n_ranks + 1)
    rng = np.random.default_rng(214)
    # at least 20 simulated ECDFs beyond the band, so that narrow tails are estimated too
    simulations = max(BAND_SIMULATIONS, int(np.ceil(20 / (1 - band_prob))))
    prob = simulate_confidence_bands(n, 1, points, band_prob, simulations, rng)
    return get_pointwise_confidence_band(prob, n, points)


def ecdf_band(ranks: np.ndarray, n_ranks: int, band_prob: float = 0.95,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ECDF of ranks on 0, ..., L and its simultaneous band (Säilynoja, Bürkner and
    Vehtari 2022).

    The ranks' ECDF is evaluated where the discrete uniform CDF is exact, at
    ``z_i = i / (L + 1)``: there it is the share of ranks below ``i``, and for uniform
    ranks it has the distribution of the ECDF of continuous uniform values, so a band
    computed by simulating those (:func:`arviz_stats.ecdf_utils.simulate_confidence_bands`,
    fixed seed, as arviz-plots does) holds the whole ECDF with probability ``band_prob``
    even with many ties (more replicates than rank values). Evaluated at ``i / n``
    instead, as for continuous values, ties would take the ECDF out of the band more
    often than ``1 - band_prob``.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks, integers from 0 to ``n_ranks``, one per replicate.
    n_ranks : int
        L, the number of draws each truth was ranked among.
    band_prob : float
        Probability of the simultaneous band.

    Returns
    -------
    (points, ecdf, lower, upper) : tuple of numpy.ndarray
        The evaluation points ``0, 1 / (L + 1), ..., L / (L + 1), 1``, the ECDF there and
        the band's limits.

    Examples
    --------
    >>> points, ecdf, lower, upper = ecdf_band(np.arange(100), 99)
    >>> points[:3].tolist(), ecdf[:3].tolist()
    ([0.0, 0.01, 0.02], [0.0, 0.01, 0.02])
    >>> bool(np.all((lower <= ecdf) & (ecdf <= upper)))
    True
    """
    ranks = np.sort(np.asarray(ranks))
    lower, upper = _band(ranks.size, int(n_ranks), float(check_interval(band_prob)))
    inner = np.searchsorted(ranks, np.arange(1, n_ranks + 1), side="left") / ranks.size
    points = np.arange(n_ranks + 2) / (n_ranks + 1)
    return (points, np.concatenate([[0.0], inner, [1.0]]),
            np.concatenate([[0.0], lower, [1.0]]), np.concatenate([[0.0], upper, [1.0]]))


def ecdf_band_check(ranks: np.ndarray, n_ranks: int,
                    band_prob: float = 0.95) -> tuple[float, bool]:
    """The largest distance between the ranks' ECDF and the uniform CDF at the points
    ``i / (L + 1)``, and whether the ECDF leaves its simultaneous ``band_prob`` band
    there (:func:`ecdf_band`).

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks, integers from 0 to ``n_ranks``, one per replicate.
    n_ranks : int
        L, the number of draws each truth was ranked among.
    band_prob : float
        Probability that the ECDF of uniform ranks stays inside the whole band.

    Returns
    -------
    (float, bool)

    Examples
    --------
    >>> uniform = np.arange(100)
    >>> ecdf_band_check(uniform, 99)
    (0.0, False)
    >>> ecdf_band_check(uniform // 2, 99)[1]    # all below 50: far from uniform
    True
    """
    points, ecdf, lower, upper = ecdf_band(ranks, n_ranks, band_prob)
    outside = bool(np.any(ecdf < lower - 1e-12) or np.any(ecdf > upper + 1e-12))
    return float(np.max(np.abs(ecdf - points))), outside


def chi_square_uniformity(ranks: np.ndarray, n_ranks: int,
                          bins: int | None = None) -> tuple[float, int, float]:
    """Pearson's chi-square test of uniform ranks on 0, ..., L, the ranks binned.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks, integers from 0 to ``n_ranks``.
    n_ranks : int
        L, the number of draws each truth was ranked among.
    bins : int, optional
        Number of bins (consecutive ranks; each bin's expected share is its number of
        rank values over L + 1). Default: one per 5 replicates, between 2 and 20.

    Returns
    -------
    (statistic, df, p_value)

    Examples
    --------
    >>> ranks = np.tile(np.arange(10), 10)      # every rank 0..9 ten times: uniform
    >>> chi_square_uniformity(ranks, 9, bins=5)
    (0.0, 4, 1.0)
    """
    ranks = np.asarray(ranks)
    n = ranks.size
    if bins is None:
        bins = max(2, min(20, n // 5))
    bins = int(min(bins, n_ranks + 1))
    edges = np.floor(np.linspace(0, n_ranks + 1, bins + 1)).astype(int)
    observed = np.histogram(ranks, bins=edges)[0]
    expected = n * np.diff(edges) / (n_ranks + 1)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    df = bins - 1
    return statistic, df, float(stats.chi2.sf(statistic, df))


def rank_summary(ranks: pd.DataFrame, band_prob: float = 0.95,
                 bins: int | None = None) -> pd.DataFrame:
    """Uniformity of the ranks, per candidate design and quantity.

    Parameters
    ----------
    ranks : pandas.DataFrame
        The rank table (columns design, replicate, variable, rank, L; see
        :func:`calibrate`).
    band_prob : float
        Probability of the simultaneous ECDF band.
    bins : int, optional
        Bins of the chi-square test (see :func:`chi_square_uniformity`).

    Returns
    -------
    pandas.DataFrame
        One row per design and variable: replicates, L, mean_pit (0.5 when centred),
        chi2, df, p_value (chi-square test of uniformity), ecdf_max_diff (largest
        distance between the ranks' ECDF and the uniform CDF at the points i / (L + 1)),
        outside_band (True when the ECDF leaves its simultaneous ``band_prob`` band: evidence of
        miscalibration), band_prob, outside_familywise_band (True when it leaves the
        wider band of probability ``1 - (1 - band_prob) / k``, k the number of quantities
        of the design: a Bonferroni bound, so that for calibrated ranks no quantity of the
        design leaves it with probability at least ``band_prob``), z_mean_pit (mean_pit's
        distance from 0.5 in SEs of a mean of uniform values, ``1 / sqrt(12 n)``), and
        divergent_fits (the share of replicates whose fit had a divergent transition).

    Examples
    --------
    >>> ranks = pd.DataFrame({"design": "a", "replicate": np.arange(100), "variable": "delta",
    ...                       "rank": np.arange(100), "L": 99})
    >>> row = rank_summary(ranks).iloc[0]
    >>> float(row["p_value"]), bool(row["outside_band"])
    (1.0, False)
    """
    check_interval(band_prob)
    quantities = ranks.groupby("design", sort=False)["variable"].nunique()
    rows = []
    for (name, variable), part in ranks.groupby(["design", "variable"], sort=False):
        sizes = part["L"].unique()
        if sizes.size != 1:
            raise DataError(f"{name} / {variable}: ranks among different numbers of draws "
                            f"(L = {sorted(sizes.tolist())}); summarise one run at a time.")
        size = int(sizes[0])
        ranks_v = part["rank"].to_numpy()
        pit = pit_values(ranks_v, size)
        chi2, df, p_value = chi_square_uniformity(ranks_v, size, bins)
        max_diff, outside = ecdf_band_check(ranks_v, size, band_prob)
        familywise = 1 - (1 - band_prob) / int(quantities[name])
        outside_familywise = ecdf_band_check(ranks_v, size, familywise)[1]
        divergent = (part["divergences"] > 0).mean() if "divergences" in part else np.nan
        rows.append({"design": name, "variable": variable, "replicates": len(part),
                     "L": size, "mean_pit": float(pit.mean()),
                     "z_mean_pit": float((pit.mean() - 0.5) * np.sqrt(12 * len(part))),
                     "chi2": chi2, "df": df,
                     "p_value": p_value, "ecdf_max_diff": max_diff, "outside_band": outside,
                     "band_prob": float(band_prob),
                     "outside_familywise_band": outside_familywise,
                     "divergent_fits": float(divergent)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- the analysis
def _check_model(model: DoseResponseModel, design: Design) -> None:
    if not isinstance(model, DoseResponseModel):
        raise SpecError(f"model must be a DoseResponseModel (got {type(model).__name__}).")
    if model.outcomes is not None and list(model.outcomes) != [design.outcome]:
        raise SpecError(f"the model's outcomes {model.outcomes} are not the design's one "
                        f"outcome {design.outcome!r}: give a model of {design.outcome!r} "
                        "(outcomes=None takes it).")
    likelihood = model.likelihood
    if isinstance(likelihood, Mapping):
        likelihood = likelihood.get(design.outcome)
    if (likelihood or "normal") not in CALIBRATED_LIKELIHOODS:
        raise SpecError(f"calibration draws and fits continuous changes: the model's "
                        f"likelihood must be one of {', '.join(CALIBRATED_LIKELIHOODS)} "
                        f"(got {likelihood!r}).")


def _label(name: str, labels: tuple[str, ...]) -> str:
    return f"{name}[{', '.join(labels)}]" if labels else name


def _coord_text(dim: str, value: Any) -> str:
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return f"t={text}" if dim in ("time", "visit_level") else text


class CalibrationAnalysis:
    """A model on one candidate design, built and compiled once, for calibration.

    Parameters
    ----------
    model : DoseResponseModel
        The model (one outcome: the design's; normal or Student-t likelihood).
    design : Design
        The design study (its outcome scale, decision and candidates).
    arms : Arms
        The candidate design whose layout the trials have.
    sampler : {"nutpie", "pymc"}, optional
        Default: the fastest installed.

    Examples
    --------
    >>> analysis = CalibrationAnalysis(model, design, design.arms[0])    # doctest: +SKIP
    >>> ranks = analysis.sbc(np.random.SeedSequence(1), settings, 100)   # doctest: +SKIP
    """

    def __init__(self, model: DoseResponseModel, design: Design, arms: Arms,
                 sampler: str | None = None) -> None:
        _check_model(model, design)
        self.model, self.design, self.arms = model, design, arms
        self.sampler = sampler or fastest_sampler()
        if self.sampler not in ("nutpie", "pymc"):
            raise SpecError(f"sampler must be 'nutpie' or 'pymc' (got {self.sampler!r}).")
        template = simulate_trial(**scenario_parameters(design, arms), seed=0).data
        inputs = model.inputs(template)
        scales = OutcomeScales(np.array([design.sd]), np.array([design.sign]),
                               np.array([design.baseline_mean]), ["design"])
        self.inputs = replace(inputs, scales=scales)
        self.compiled = CompiledModel(model, self.inputs, weighted=True)
        self.generator = CompiledModel(model, self.inputs)  # the prior predictive
        pymc_model = self.generator.pymc_model
        self.ranked = [rv.name for rv in pymc_model.free_RVs
                       if "patient" not in pymc_model.named_vars_to_dims.get(rv.name, ())]
        decision = design.decision
        self.reference = decision.reference_dose(arms)
        self.doses = [d for d in arms.doses if d != self.reference]
        self._simulator: ReplicateAnalysis | None = None

    # -------------------------------------------------------------- quantities
    def contrasts(self, draws: xr.Dataset, doses: list[float] | None = None) -> np.ndarray:
        """Improvement of ``doses`` (default: the tested ones but the reference) over the
        reference at the decision time, outcome units, positive = better: shape
        ``(chain, draw, dose)``."""
        doses = self.doses if doses is None else doses
        inputs = self.inputs
        unit = inputs.scales.sd * inputs.scales.sign
        elapsed = [self.design.decision.time - inputs.baseline_time]
        effect = effect_draws(draws, self.model.dose_shape, self.model.time_shape,
                              inputs.dose_scale, inputs.time_scale,
                              [*doses, self.reference], elapsed, unit)[:, :, 0, :, 0]
        return self.design.sign * (effect[..., :-1] - effect[..., -1:])

    def quantities(self, draws: xr.Dataset) -> dict[str, np.ndarray]:
        """Every ranked quantity's draws, shape ``(chain, draw)``, by label."""
        out: dict[str, np.ndarray] = {}
        for name in self.ranked:
            values = draws[name]
            if "outcome" in values.dims:
                values = values.isel(outcome=0)
            extra = [d for d in values.dims if d not in ("chain", "draw")]
            stacked = values.transpose("chain", "draw", *extra).to_numpy()
            stacked = stacked.reshape(*stacked.shape[:2], -1)
            grids = np.meshgrid(*[values[d].to_numpy() for d in extra], indexing="ij")
            for j in range(stacked.shape[-1]):
                labels = tuple(_coord_text(d, g.reshape(-1)[j])
                               for d, g in zip(extra, grids, strict=True))
                out[_label(name, labels)] = stacked[..., j]
        contrasts = self.contrasts(draws)
        time = self.design.decision.time
        for k, dose in enumerate(self.doses):
            out[f"contrast[{dose:g} vs {self.reference:g}, t={time:g}]"] = contrasts[..., k]
        return out

    # -------------------------------------------------------------- replicates
    def layout(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Per observation: standardised baselines (a fresh draw per patient, spread by
        the design's ``baseline_spread`` over its ``sd``) and weights (0 after a patient's
        dropout, as :func:`~bayesdose.design.simulation.dropout_weights`)."""
        inputs = self.inputs
        n_patients = len(inputs.patients)
        spread = self.design.baseline_spread / self.design.sd
        baseline = rng.standard_normal(n_patients) * spread
        kept = dropout_weights(self.arms, n_patients, rng)
        return {"baseline_std": baseline[inputs.patient_idx],
                "weight": kept[inputs.patient_idx, inputs.time_idx]}

    def draw_prior(self, layout: dict[str, np.ndarray],
                   seed: int) -> tuple[xr.Dataset, np.ndarray]:
        """One draw of the parameters from the prior and of a trial's changes from the
        model given them, on ``layout``'s baselines."""
        self.generator.set_data({"baseline_std": layout["baseline_std"]})
        prior, predictive = self.generator.prior(1, seed)
        response = np.empty(len(self.inputs.response))
        for kind in self.inputs.kinds:
            rows = self.inputs.observations(kind)
            response[rows] = predictive[LIKELIHOODS[kind].variable].to_numpy().reshape(-1)
        return prior, response

    def fit(self, values: dict[str, np.ndarray], settings: dict[str, Any],
            seed: int) -> xr.DataTree:
        """Sample the model on one trial's data (``response``, ``baseline_std``,
        ``weight``) without recompiling."""
        return self.compiled.sample_values(
            values, {**settings, "random_seed": seed, "sampler": self.sampler}, cores=1)

    def sbc(self, seed: np.random.SeedSequence, settings: dict[str, Any],
            n_ranks: int) -> pd.DataFrame:
        """One SBC replicate: truth from the prior, a trial from the model, a fit, ranks.

        Returns
        -------
        pandas.DataFrame
            One row per quantity: variable, rank, L, truth, divergences, max_rhat,
            min_ess.
        """
        layout_seed, prior_seed, fit_seed = (int(s) for s in seed.generate_state(3))
        layout = self.layout(np.random.default_rng(layout_seed))
        prior, response = self.draw_prior(layout, prior_seed)
        idata = self.fit({**layout, "response": response}, settings, fit_seed)
        posterior = group(idata, "posterior")
        truths = self.quantities(prior)
        draws = self.quantities(posterior)
        thinned = {k: thin_draws(v, n_ranks) for k, v in draws.items()}
        size = next(iter(thinned.values())).size
        rows = pd.DataFrame({
            "variable": list(truths),
            "rank": [int(sbc_rank(thinned[k], float(truths[k].reshape(-1)[0])))
                     for k in truths],
            "L": size, "truth": [float(v.reshape(-1)[0]) for v in truths.values()]})
        return rows.assign(**diagnostics(idata, self.ranked))

    def simulate(self, seed: int, scenario: Scenario) -> dict[str, np.ndarray]:
        """One trial of the candidate design from a fixed true scenario (as
        :meth:`bayesdose.design.simulation.ReplicateAnalysis.simulate` draws it)."""
        if self._simulator is None:
            self._simulator = ReplicateAnalysis(self.design, self.arms, self.sampler)
            if not self._simulator.rows.equals(pd.MultiIndex.from_arrays(
                    [np.asarray(self.inputs.patients)[self.inputs.patient_idx],
                     np.asarray(self.inputs.visits)[self.inputs.time_idx]])):
                raise SpecError("the model orders the trial's observations differently "
                                "from the design simulation; calibrate with the design's "
                                "analysis model.")
        arrays, _ = self._simulator.simulate(seed, scenario)
        return {k: arrays[k] for k in ("response", "baseline_std", "weight")}

    def coverage(self, seed: np.random.SeedSequence, settings: dict[str, Any],
                 scenario: Scenario, ci_prob: float, ci_kind: str) -> pd.DataFrame:
        """One fixed-truth replicate: a trial from ``scenario``, a fit, and per tested
        dose (against the reference) its contrast's interval and the truth, the MED's
        interval and the truth, and the decision.

        Returns
        -------
        pandas.DataFrame
            One row per tested dose but the reference: dose, reference, estimate (the
            posterior mean of the contrast), sd (its posterior SD), ci_low, ci_high,
            truth, covered, z (the standardised error ``(estimate - truth) / sd``);
            med_low, med_high, med_truth, med_covered; go, chosen_dose, true_choice,
            correct; divergences, max_rhat, min_ess, failed_diagnostics.
        """
        sim_seed, fit_seed = (int(s) for s in seed.generate_state(2))
        idata = self.fit(self.simulate(sim_seed, scenario), settings, fit_seed)
        posterior = group(idata, "posterior")
        flat = self.contrasts(posterior).reshape(-1, len(self.doses))
        low, high = credible_interval(flat.T, ci_prob, ci_kind)
        truth = self.design.true_improvements(self.arms, scenario)
        decision = self.design.decision
        prob = (flat > decision.mcid).mean(axis=0)
        passing = [d for d, p in zip(self.doses, prob, strict=True) if p >= decision.level]
        chosen = float(min(passing)) if passing else np.nan
        true_choice = self.design.true_choice(self.arms, scenario)
        med = self.med_interval(posterior, ci_prob)
        med_truth = self.true_med(scenario)
        rows = pd.DataFrame({
            "design": self.arms.name, "dose": self.doses, "reference": self.reference,
            "estimate": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1), "ci_low": low,
            "ci_high": high, "truth": [truth[d] for d in self.doses]})
        rows["covered"] = (rows["ci_low"] <= rows["truth"]) & (rows["truth"] <= rows["ci_high"])
        rows["z"] = standardised_errors(rows["estimate"], rows["truth"], rows["sd"])
        rows = rows.assign(
            med_low=med[0], med_high=med[1], med_truth=med_truth,
            med_covered=bool(med[0] <= med_truth <= med[1]), go=bool(passing),
            chosen_dose=chosen, true_choice=true_choice,
            correct=bool(chosen == true_choice or (np.isnan(chosen)
                                                   and np.isnan(true_choice))))
        return rows.assign(**diagnostics(idata, self.ranked))

    # -------------------------------------------------------------- the MED
    def med_grid(self) -> np.ndarray:
        """Doses searched for the MED: :data:`~bayesdose.results.dose_estimands.GRID_POINTS`
        evenly spaced doses from the lowest to the highest tested dose and the tested
        doses (the tested doses only for shapes without a curve between them)."""
        tested = np.asarray(self.arms.doses, dtype=float)
        grid = np.linspace(tested.min(), tested.max(), GRID_POINTS)
        try:
            self.model.dose_shape.check_doses(grid, self.inputs.dose_scale)
        except EstimandError:
            return tested
        return np.unique(np.concatenate([grid, tested]))

    def med_interval(self, posterior: xr.Dataset, ci_prob: float) -> tuple[float, float]:
        """Equal-tailed ``ci_prob`` interval of the per-draw MED: in each draw the smallest
        searched dose whose improvement over the reference exceeds the MCID (infinite
        where none does, the largest value)."""
        grid = self.med_grid()
        better = self.contrasts(posterior, list(grid)).reshape(-1, grid.size)
        better = better > self.design.decision.mcid
        per_draw = np.where(better.any(axis=1), grid[np.argmax(better, axis=1)], np.inf)
        tail = (1 - ci_prob) / 2
        return (float(np.quantile(per_draw, tail, method="lower")),
                float(np.quantile(per_draw, 1 - tail, method="higher")))

    def true_med(self, scenario: Scenario) -> float:
        """The smallest searched dose whose true improvement exceeds the MCID (infinite
        when none does)."""
        grid = self.med_grid()
        time = self.design.decision.time
        base = float(scenario.improvement(np.array(self.reference), time))
        better = scenario.improvement(grid, time) - base > self.design.decision.mcid
        return float(grid[np.argmax(better)]) if better.any() else float(np.inf)


def diagnostics(idata: xr.DataTree, names: list[str]) -> dict[str, Any]:
    """Divergences, the largest R-hat and the smallest bulk ESS over ``names``, and
    whether the fit fails (R-hat above 1.01, ESS below 100 per chain, or a divergence).

    Examples
    --------
    >>> diagnostics(idata, ["delta", "sigma"])    # doctest: +SKIP
    {'divergences': 0, 'max_rhat': 1.002, 'min_ess': 812.0, 'failed_diagnostics': False}
    """
    posterior = group(idata, "posterior")[names]
    rhat, ess = az.rhat(posterior), az.ess(posterior)
    max_rhat = float(max(float(rhat[v].max()) for v in names))
    min_ess = float(min(float(ess[v].min()) for v in names))
    diverging = idata["sample_stats"].get("diverging")
    divergences = int(diverging.sum()) if diverging is not None else 0
    failed = not (max_rhat <= RHAT_MAX and min_ess >= ESS_PER_CHAIN * posterior.sizes["chain"]
                  and divergences == 0)
    return {"divergences": divergences, "max_rhat": max_rhat, "min_ess": min_ess,
            "failed_diagnostics": failed}


@dataclass(frozen=True)
class CalibrationTask:
    """What every replicate of one calibration run gets: the model, the design and the
    candidate, the sampler settings and, for a fixed-truth run, the truth and interval.

    ``token`` is unique to each run: the task is sent to a cluster's workers once per run
    under a name derived from its content, so that two runs never share (and release)
    one copy.

    Examples
    --------
    >>> task = CalibrationTask(model, design, "small", settings, "nutpie")   # doctest: +SKIP
    """

    model: DoseResponseModel
    design: Design
    arms_name: str
    settings: dict[str, Any]
    sampler: str
    n_ranks: int = N_RANKS
    scenario: Scenario | None = None
    ci_prob: float = 0.9
    ci_kind: str = "eti"
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def analysis(self) -> CalibrationAnalysis:
        """This worker's analysis of the model on the candidate, compiled on first use.

        Examples
        --------
        >>> task.analysis().arms.name                     # doctest: +SKIP
        'small'
        """
        config = json.dumps(self.model.config(), sort_keys=True, default=str)
        key = (hashlib.sha256(config.encode()).hexdigest(), self.design.identity,
               self.arms_name, self.sampler)
        if key not in _ANALYSES:
            _ANALYSES[key] = CalibrationAnalysis(self.model, self.design,
                                                 self.design.arm(self.arms_name), self.sampler)
        return _ANALYSES[key]


def run_sbc_replicate(index: int, seed: np.random.SeedSequence,
                      task: CalibrationTask) -> pd.DataFrame:
    """One SBC replicate of one candidate design (the task each worker runs).

    Examples
    --------
    >>> run_sbc_replicate(0, np.random.SeedSequence(1), task)     # doctest: +SKIP
    """
    return task.analysis().sbc(seed, task.settings, task.n_ranks)


def run_coverage_replicate(index: int, seed: np.random.SeedSequence,
                           task: CalibrationTask) -> pd.DataFrame:
    """One fixed-truth replicate of one candidate design (the task each worker runs).

    Examples
    --------
    >>> run_coverage_replicate(0, np.random.SeedSequence(1), task)   # doctest: +SKIP
    """
    return task.analysis().coverage(seed, task.settings, task.scenario, task.ci_prob,
                                    task.ci_kind)


# ---------------------------------------------------------------------- coverage table
def _proportion(values: Any) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    p = float(values.mean())
    return p, float(np.sqrt(p * (1 - p) / values.size))


def _mean(values: Any) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float(values.mean()) if values.size else np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def standardised_errors(estimate: Any, truth: Any, sd: Any) -> np.ndarray:
    """The error of the posterior mean in posterior SDs: ``(estimate - truth) / sd``.

    Averaged over replicates, it says whether the posterior is systematically off: near 0
    when the posterior mean is unbiased for the truth, and its SD near 1 when the
    posterior SD is the right size (a calibrated normal posterior).

    Parameters
    ----------
    estimate, truth, sd : array_like
        Posterior means, true values and posterior SDs (broadcast together).

    Returns
    -------
    numpy.ndarray
        NaN where the SD is not positive.

    Examples
    --------
    >>> standardised_errors([12.0, 9.0], [10.0, 10.0], [4.0, 0.0]).tolist()
    [0.5, nan]
    """
    estimate, truth, sd = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                                for v in (estimate, truth, sd)))
    out = np.full(estimate.shape, np.nan)
    np.divide(estimate - truth, sd, out=out, where=sd > 0)
    return out


def coverage_table(replicates: pd.DataFrame) -> pd.DataFrame:
    """Coverage and decisions under each fixed truth, with Monte Carlo standard errors.

    Parameters
    ----------
    replicates : pandas.DataFrame
        Fixed-truth replicate rows (:attr:`CalibrationResult.coverage_replicates`).

    Returns
    -------
    pandas.DataFrame
        Columns scenario (the truth's name), design, metric, dose (NaN for design-level
        metrics), estimate, mcse, n. Metrics: coverage (of each contrast's interval, per
        dose), bias_z (per dose, the mean standardised error ``(estimate - truth) / sd``
        of the contrast's posterior mean, in posterior SDs, with MCSE ``sd(z) / sqrt(n)``;
        near 0 when the posterior is not systematically off; from replicates that
        recorded ``z``), med_coverage (of the MED's interval), prob_correct (the decision
        picks the true MED among the tested doses, or no-go when none reaches the MCID),
        prob_go, failed_diagnostics.

    Examples
    --------
    >>> rows = pd.DataFrame({"scenario": "t", "design": "a", "replicate": [0, 0, 1, 1],
    ...                      "dose": [10.0, 50.0, 10.0, 50.0],
    ...                      "covered": [True, True, False, True],
    ...                      "med_covered": [True, True, False, False],
    ...                      "correct": [True, True, True, True], "go": True,
    ...                      "failed_diagnostics": False})
    >>> table = coverage_table(rows)
    >>> table.loc[table["metric"] == "med_coverage", "estimate"].tolist()
    [0.5]
    >>> rows["z"] = [0.5, -1.0, 1.5, 0.0]
    >>> table = coverage_table(rows).query("metric == 'bias_z'")
    >>> table[["dose", "estimate", "mcse"]].to_numpy().tolist()
    [[10.0, 1.0, 0.5], [50.0, -0.5, 0.5]]
    """
    rows = []
    for (scenario, name), part in replicates.groupby(["scenario", "design"], sort=False):
        per_rep = part.drop_duplicates("replicate")
        base = {"scenario": scenario, "design": name, "n": len(per_rep)}
        for dose, rows_d in part.groupby("dose"):
            rows.append({**base, "metric": "coverage", "dose": dose,
                         **dict(zip(("estimate", "mcse"), _proportion(rows_d["covered"]),
                                    strict=True))})
            if "z" in rows_d:
                z = rows_d["z"].dropna()
                rows.append({**base, "metric": "bias_z", "dose": dose, "n": len(z),
                             **dict(zip(("estimate", "mcse"), _mean(z), strict=True))})
        for metric, column in (("med_coverage", "med_covered"), ("prob_correct", "correct"),
                               ("prob_go", "go"), ("failed_diagnostics",
                                                   "failed_diagnostics")):
            rows.append({**base, "metric": metric, "dose": np.nan,
                         **dict(zip(("estimate", "mcse"), _proportion(per_rep[column]),
                                    strict=True))})
    columns = ["scenario", "design", "metric", "dose", "estimate", "mcse", "n"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------- the result
@dataclass
class CalibrationResult:
    """Ranks of a simulation-based calibration and coverage under fixed truths.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per candidate design, replicate and quantity: design, replicate,
        variable, rank (0 to L), L, truth (the prior draw), and the replicate fit's
        divergences, max_rhat, min_ess and failed_diagnostics. Empty (with these
        columns) for a coverage-only run (``reps=0``).
    coverage_replicates : pandas.DataFrame
        Fixed-truth replicates (empty when none ran): scenario (the truth's name), design,
        replicate, and the columns of :meth:`CalibrationAnalysis.coverage`.
    coverage : pandas.DataFrame
        :func:`coverage_table` of the fixed-truth replicates.
    name : str
        The design study's name.
    settings : dict
        How the replicates were fitted (draws, tune, chains, target_accept, sampler) and
        ranked (n_ranks), the seed, and the interval of the coverage (ci_prob, ci_kind).
    """

    ranks: pd.DataFrame
    coverage_replicates: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    name: str = "design"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def designs(self) -> list[str]:
        """The candidate designs calibrated, in order (those of the coverage check when
        no ranks were computed).

        Examples
        --------
        >>> CalibrationResult(pd.DataFrame({"design": ["a", "a", "b"]})).designs
        ['a', 'b']
        """
        if len(self.ranks) or "design" not in self.coverage_replicates:
            return list(dict.fromkeys(self.ranks.get("design", [])))
        return list(dict.fromkeys(self.coverage_replicates["design"]))

    def _require_ranks(self, what: str) -> None:
        """Refuse a read-out of the ranks when the calibration computed none."""
        if len(self.ranks) == 0:
            coverage = (" Its coverage under the fixed truths is in .coverage."
                        if len(self.coverage) else "")
            raise DataError(f"{what}: the calibration holds no ranks (it ran no "
                            "simulation-based calibration replicates, e.g. reps=0 for a "
                            f"coverage-only run).{coverage} Run calibrate with reps >= 2 "
                            "(100 or more) for ranks.")

    def summary(self, band_prob: float = 0.95, bins: int | None = None) -> pd.DataFrame:
        """Uniformity of the ranks per candidate design and quantity (:func:`rank_summary`).

        Parameters
        ----------
        band_prob : float
            Probability of the simultaneous ECDF band.
        bins : int, optional
            Bins of the chi-square test.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> ranks = pd.DataFrame({"design": "a", "replicate": np.arange(50),
        ...                       "variable": "sigma", "rank": np.arange(50) * 2, "L": 99})
        >>> CalibrationResult(ranks).summary()[["variable", "outside_band"]]
          variable  outside_band
        0    sigma         False
        """
        self._require_ranks("summary()")
        return rank_summary(self.ranks, band_prob, bins)

    def ecdf(self, variable: str, design: str | None = None, band_prob: float = 0.95,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The ECDF of one quantity's ranks and its simultaneous band (:func:`ecdf_band`).

        Parameters
        ----------
        variable : str
            The quantity (a ``variable`` of :attr:`ranks`).
        design : str, optional
            The candidate design (default: the first).
        band_prob : float
            Probability of the simultaneous band.

        Returns
        -------
        (points, ecdf, lower, upper) : tuple of numpy.ndarray

        Examples
        --------
        >>> ranks = pd.DataFrame({"design": "a", "replicate": [0, 1], "variable": "delta",
        ...                       "rank": [0, 3], "L": 3})
        >>> points, ecdf, lower, upper = CalibrationResult(ranks).ecdf("delta")
        >>> points.tolist(), ecdf.tolist()
        ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 0.5, 1.0])
        """
        self._require_ranks("ecdf()")
        name = self.design_name(design)
        part = self.ranks[(self.ranks["design"] == name) & (self.ranks["variable"] == variable)]
        if part.empty:
            raise SpecError(f"no ranks of {variable!r} for design {name!r} (quantities: "
                            f"{', '.join(dict.fromkeys(self.ranks['variable']))}).")
        return ecdf_band(part["rank"].to_numpy(), int(part["L"].iloc[0]), band_prob)

    def to_datatree(self, design: str | None = None) -> xr.DataTree:
        """The PIT values of one candidate design's ranks as a DataTree, group
        ``prior_sbc`` (dims chain = 1, draw = replicate; one variable per quantity), the
        layout of simuk's results that :func:`arviz_plots.plot_ecdf_pit` takes.

        Parameters
        ----------
        design : str, optional
            The candidate design (default: the first).

        Returns
        -------
        xarray.DataTree

        Examples
        --------
        >>> ranks = pd.DataFrame({"design": "a", "replicate": [0, 1], "variable": "delta",
        ...                       "rank": [0, 99], "L": 99})
        >>> CalibrationResult(ranks).to_datatree()["prior_sbc"]["delta"].values.tolist()
        [[0.005, 0.995]]
        """
        self._require_ranks("to_datatree()")
        name = self.design_name(design)
        part = self.ranks[self.ranks["design"] == name]
        data = {}
        for variable, rows in part.groupby("variable", sort=False):
            rows = rows.sort_values("replicate")
            pit = pit_values(rows["rank"].to_numpy(), int(rows["L"].iloc[0]))
            data[variable] = xr.DataArray(pit[None, :], dims=("chain", "draw"),
                                          coords={"chain": [0],
                                                  "draw": rows["replicate"].to_numpy()})
        return xr.DataTree.from_dict({"prior_sbc": xr.Dataset(data)})

    def plot(self, design: str | None = None, band_prob: float = 0.95):
        """ECDF-difference plot of one candidate design's ranks with simultaneous bands
        (see :func:`bayesdose.plots.calibration.plot_calibration`).

        Examples
        --------
        >>> fig = result.plot()    # doctest: +SKIP
        """
        self._require_ranks("plot()")
        # matplotlib loads only when a figure is drawn
        from bayesdose.plots.calibration import plot_calibration

        return plot_calibration(self, design, band_prob)

    def design_name(self, design: str | None = None) -> str:
        """The name of a calibrated candidate design (default: the first).

        Raises
        ------
        SpecError
            For a name not calibrated.

        Examples
        --------
        >>> CalibrationResult(pd.DataFrame({"design": ["a", "b"]})).design_name()
        'a'
        """
        names = self.designs
        if not names:
            raise DataError("the calibration holds no ranks.")
        if design is None:
            return names[0]
        if design not in names:
            raise SpecError(f"no calibrated design named {design!r} (designs: "
                            f"{', '.join(names)}).")
        return design


# ---------------------------------------------------------------------- running
def _positive_int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SpecError(f"{name} must be an integer >= {low} (got {value!r}).")
    return int(value)


def _replicate_counts(reps: Any, coverage_reps: Any, truths: bool) -> tuple[int, int]:
    """SBC and fixed-truth replicates per candidate: ``reps`` 0 (coverage only, with
    truths and ``coverage_reps``) or >= 2; ``coverage_reps`` >= 2 (default ``reps``)."""
    if isinstance(reps, (int, np.integer)) and not isinstance(reps, bool) and reps == 0:
        if not truths:
            raise SpecError("reps=0 runs no simulation-based calibration, and without "
                            "truths there is nothing else to run: give reps >= 2, or "
                            "truths and coverage_reps for a coverage-only run.")
        if coverage_reps is None:
            raise SpecError("reps=0 is a coverage-only run: give coverage_reps (the "
                            "fixed-truth replicates per candidate and truth, >= 2).")
        return 0, _positive_int(coverage_reps, "coverage_reps", 2)
    if isinstance(reps, (int, np.integer)) and not isinstance(reps, bool) and reps == 1:
        raise SpecError("reps must be 0 (coverage only, with truths) or an integer >= 2 "
                        "(got 1).")
    reps = _positive_int(reps, "reps", 2)
    return reps, reps if coverage_reps is None else _positive_int(coverage_reps,
                                                                 "coverage_reps", 2)


def _truths(truths: Any) -> dict[str, Scenario]:
    """Named fixed scenarios from a Scenario, a [scenario]-like mapping, or a mapping of
    names to either."""
    if truths is None:
        return {}
    if isinstance(truths, Scenario):
        return {"scenario": truths}
    if not isinstance(truths, Mapping) or not truths:
        raise SpecError("truths must be a Scenario, or a dict of names to Scenario objects "
                        "or [scenario] tables (dose_shape, emax, ed50, ...).")
    if all(isinstance(v, (Scenario, Mapping)) for v in truths.values()):
        out = {}
        for name, value in truths.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise SpecError(f"truth name {name!r}: use letters, digits, '_' and '-' "
                                "(it names a folder).")
            out[name] = value if isinstance(value, Scenario) else Scenario.from_mapping(value)
        return out
    return {"scenario": Scenario.from_mapping(truths)}


def _settings(design: Design, draws: int | None, tune: int | None, chains: int | None,
              target_accept: float | None) -> dict[str, Any]:
    settings = design.sampler_settings()
    for key, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if value is not None:
            settings[key] = _positive_int(value, key)
    if target_accept is not None:
        if isinstance(target_accept, bool) or not 0 < float(target_accept) < 1:
            raise SpecError(f"target_accept must be between 0 and 1 (got {target_accept!r}).")
        settings["target_accept"] = float(target_accept)
    return settings


def calibrate(model: DoseResponseModel | None, design: Design, reps: int = 100, seed: int = 1,
              *, candidates: list[str] | None = None, n_ranks: int = N_RANKS,
              draws: int | None = None, tune: int | None = None, chains: int | None = None,
              target_accept: float | None = None, truths: Any = None,
              coverage_reps: int | None = None, ci_prob: float = 0.9, ci_kind: str = "eti",
              workers: int | None = 1, out: str | Path | None = None,
              scheduler: str | None = None, progress: bool | None = None,
              sampler: str | None = None) -> CalibrationResult:
    """Simulation-based calibration of a model on a design, and coverage under fixed truths.

    For every candidate design, ``reps`` replicates: parameters drawn from the model's
    prior, a trial drawn from the model on the candidate's layout (its doses, patients per
    dose, visits and dropout, fresh baselines), the model fitted to it (compiled once,
    the data swapped in), and the rank of each drawn value among ``n_ranks`` posterior
    draws thinned evenly from the chains (see the module's documentation). With
    ``truths``, also ``coverage_reps`` trials per candidate and truth simulated from that
    fixed scenario, each fitted and checked: does the ``ci_prob`` interval of each
    contrast against the reference, and of the MED, cover the truth, and does the
    decision rule pick the true MED?

    Parameters
    ----------
    model : DoseResponseModel or None
        The model to calibrate, of the design's one outcome with a normal or Student-t
        likelihood. None: the design's ``[analysis]`` model.
    design : Design
        The design study: outcome scale, decision (reference dose, time, MCID, level),
        candidate designs and ``[sampler]`` settings.
    reps : int
        SBC replicates per candidate design (100 or more to read the ranks). 0, with
        ``truths`` and ``coverage_reps``: a coverage-only run, no SBC (the result holds
        no ranks; ``summary()`` and ``plot()`` then say so).
    seed : int
        Seed; replicate i gets the i-th seed spawned from it: same seed, same ranks,
        whatever the number of workers. As in :func:`~bayesdose.design.simulation.simulate`,
        replicate i of every candidate design gets the same seed (so the same prior draws
        of the parameters the designs share): the designs' results are paired.
    candidates : list of str, optional
        The candidate designs to calibrate (default: all).
    n_ranks : int
        L, the posterior draws each truth is ranked among (rounded down to a multiple of
        the chains); 100 to 200 keeps thinned draws roughly independent.
    draws, tune, chains, target_accept : optional
        Override the design's ``[sampler]`` settings for every replicate's fit.
    truths : Scenario, mapping, or dict of names to either, optional
        Fixed true scenarios for the coverage check (``[scenario]`` tables such as
        ``{"dose_shape": "emax", "emax": 20, "ed50": 10}``); ``design.scenario`` is the
        design file's. None: no coverage check.
    coverage_reps : int, optional
        Fixed-truth replicates per candidate and truth (default: ``reps``; needed when
        ``reps`` is 0).
    ci_prob, ci_kind : float, str
        The contrasts' credible interval whose coverage is checked (``"eti"``
        equal-tailed or ``"hdi"``); the MED's interval is equal-tailed.
    workers : int, optional
        1: in this process. More (or None: one per CPU): a Dask LocalCluster.
    out : str or Path, optional
        Folder for the replicates (``<candidate>/sbc`` and ``<candidate>/coverage-<truth>``,
        one Parquet file per replicate, written as they finish; a rerun into the same
        folder resumes). Default: a temporary folder.
    scheduler : str, optional
        Address of a running Dask scheduler to use instead.
    progress : bool, optional
        Show progress bars; default: on a terminal only
        (:func:`bayesdose.progress.resolve_progress`).
    sampler : {"nutpie", "pymc"}, optional
        Default: the fastest installed.

    Returns
    -------
    CalibrationResult
        ``ranks`` (tidy: design, replicate, variable, rank, L, ...), ``summary()``
        (uniformity per quantity), ``plot()`` (ECDF differences with simultaneous bands),
        ``coverage`` (with Monte Carlo SEs: :func:`coverage_table`) and its replicates
        ``coverage_replicates`` (each contrast's posterior mean, SD, interval, truth and
        standardised error, the MED's interval, the decision and the fit's diagnostics).

    Raises
    ------
    SpecError
        For a model that does not fit the design, or bad settings.

    Examples
    --------
    >>> import bayesdose as bd
    >>> design = bd.Design.from_toml("models/msc_phase2_design.toml")    # doctest: +SKIP
    >>> result = bd.calibrate(None, design, reps=100, draws=500, tune=500,
    ...                       truths=design.scenario, workers=2)        # doctest: +SKIP
    >>> result.summary()[["design", "variable", "p_value", "outside_band"]]  # doctest: +SKIP

    Coverage only (no SBC), of the design's contrasts and MED under its own scenario:

    >>> result = bd.calibrate(None, design, reps=0, truths=design.scenario,
    ...                       coverage_reps=200, workers=2)             # doctest: +SKIP
    >>> result.coverage.query("metric in ['coverage', 'bias_z']")      # doctest: +SKIP
    """
    model = design.analysis_model() if model is None else model
    _check_model(model, design)
    scenarios = _truths(truths)
    reps, coverage_reps = _replicate_counts(reps, coverage_reps, bool(scenarios))
    if reps and getattr(model, "serial_correlation", "none") != "none":
        raise SpecError("simulation-based calibration needs trials drawn from the model's "
                        "joint prior predictive, and with serial_correlation=\"ar1\" it "
                        "draws each value given the template trial's previous one (one step "
                        "ahead): run calibrate with reps=0 and truths= (coverage only), or "
                        "calibrate the model without the serial correlation.")
    n_ranks = _positive_int(n_ranks, "n_ranks", 2)
    settings = _settings(design, draws, tune, chains, target_accept)
    if reps:
        thin_draws(np.zeros((settings["chains"], settings["draws"])), n_ranks)  # enough?
    ci_prob = check_interval(ci_prob, ci_kind)
    arms = [design.arm(n) for n in candidates] if candidates else list(design.arms)
    sampler = sampler or fastest_sampler()
    # workers get a fresh copy: a model's compiled cache stays in this process
    shipped = DoseResponseModel.from_config(model.config())
    identity = {"design": design.to_dict(), "model": model.config(), "sampler": sampler,
                "settings": settings}
    common = {"workers": workers, "progress": progress, "key": "rep"}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(out) if out is not None else Path(tmp)
        if scheduler is None and workers != 1:  # one cluster for every run
            scheduler = _local_client(stack, workers)
        if scheduler is not None:
            common["workers"] = None
        common["scheduler"] = scheduler
        ranks, covered = [], []
        for candidate in arms:
            if reps:
                frame = run_replicates(
                    run_sbc_replicate, reps, seed, folder / candidate.name / SBC_FOLDER,
                    task_args=(CalibrationTask(shipped, design, candidate.name, settings,
                                               sampler, n_ranks=n_ranks),),
                    identity={**identity, "arms": candidate.name, "n_ranks": n_ranks,
                              "check": "sbc"}, **common)
                ranks.append(frame.assign(design=candidate.name))
            for truth, scenario in scenarios.items():
                frame = run_replicates(
                    run_coverage_replicate, coverage_reps, seed,
                    folder / candidate.name / f"{COVERAGE_FOLDER}-{truth}",
                    task_args=(CalibrationTask(shipped, design, candidate.name, settings,
                                               sampler, scenario=scenario, ci_prob=ci_prob,
                                               ci_kind=ci_kind),),
                    identity={**identity, "arms": candidate.name, "truth": asdict(scenario),
                              "ci_prob": ci_prob, "ci_kind": ci_kind, "check": "coverage"},
                    **common)
                covered.append(frame.assign(scenario=truth))
    front = ["design", "replicate", "variable", "rank", "L"]
    ranks_table = pd.concat(ranks, ignore_index=True) if ranks else pd.DataFrame(columns=front)
    ranks_table = ranks_table[front + [c for c in ranks_table if c not in front]]
    coverage_rows = (pd.concat(covered, ignore_index=True) if covered else pd.DataFrame())
    if len(coverage_rows):
        front = ["scenario", "design", "replicate"]
        coverage_rows = coverage_rows[front + [c for c in coverage_rows if c not in front]]
    return CalibrationResult(
        ranks=ranks_table, coverage_replicates=coverage_rows,
        coverage=coverage_table(coverage_rows) if len(coverage_rows) else pd.DataFrame(),
        name=design.name,
        settings={**settings, "sampler": sampler, "n_ranks": n_ranks, "seed": seed,
                  "ci_prob": ci_prob, "ci_kind": ci_kind})


def _local_client(stack: contextlib.ExitStack, workers: int | None):
    """A Dask LocalCluster (one single-threaded process per worker) and its client."""
    # Dask is the optional [distributed] extra, loaded only for a cluster run
    from distributed import Client, LocalCluster

    cluster = stack.enter_context(LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
        dashboard_address=None))
    return stack.enter_context(Client(cluster))


def load_calibration(folder: str | Path) -> CalibrationResult:
    """A calibration's results from the files ``bayesdose calibrate`` writes.

    Parameters
    ----------
    folder : str or Path
        The folder holding ``ranks.csv`` and, when coverage was checked,
        ``coverage.csv`` and ``coverage_replicates.csv``.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    DataError
        When the folder has no ``ranks.csv`` or it lacks a column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"design": "a", "replicate": [0, 1], "variable": "delta",
    ...               "rank": [3, 40], "L": 99}).to_csv(folder / "ranks.csv", index=False)
    >>> load_calibration(folder).ranks["rank"].tolist()
    [3, 40]
    """
    folder = Path(folder)
    path = folder / "ranks.csv"
    if not path.is_file():
        raise DataError(f"no ranks.csv in {str(folder)!r}: give the folder "
                        "'bayesdose calibrate' wrote.")
    ranks = pd.read_csv(path)
    missing = sorted({"design", "replicate", "variable", "rank", "L"} - set(ranks.columns))
    if missing:
        raise DataError(f"{str(path)!r} lacks the column(s) {', '.join(missing)}.")
    optional = {name: pd.read_csv(folder / f"{name}.csv")
                for name in ("coverage", "coverage_replicates")
                if (folder / f"{name}.csv").is_file()}
    settings = {}
    if (folder / "settings.json").is_file():
        settings = json.loads((folder / "settings.json").read_text(encoding="utf-8"))
    return CalibrationResult(
        ranks=ranks, coverage=optional.get("coverage", pd.DataFrame()),
        coverage_replicates=optional.get("coverage_replicates", pd.DataFrame()),
        name=str(settings.pop("name", "design")), settings=settings)
