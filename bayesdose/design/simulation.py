"""Operating characteristics of trial designs by simulation.

Each replicate simulates one trial of a candidate design from the true scenario
(:mod:`bayesdose.design.designs`), fits the analysis model, applies the decision rule and records
the estimates against the truth. The analysis model is built and compiled once per
design and process (:class:`ReplicateAnalysis`); each replicate only swaps in its data
(``pm.Data`` containers; nutpie's ``with_data`` when nutpie is installed, the fastest
sampler here, else PyMC's NUTS on the same model). Replicates run through
:func:`bayesdose.design.runner.run_replicates`: in process or on Dask distributed, each one's
result written as it finishes, resumable, and with seeds spawned per replicate so the
numbers do not depend on the number of workers.

Every simulated trial declares the design's SD (``[outcome] sd``) as its outcome's SD
(``OutcomeInfo.sd``, see :func:`simulated_trial`), so its analysis standardises by that SD
under the rule any analysed trial follows (:func:`bayesdose.components.inputs.prepare_inputs`),
and every replicate shares one compiled model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.shapes import DoseScale
from bayesdose.design.designs import Arms, Design, Scenario
from bayesdose.design.runner import run_replicates
from bayesdose.design.trials import SimulatedTrial, simulate_trial
from bayesdose.errors import SpecError
from bayesdose.inference.compiled import CompiledModel
from bayesdose.inference.trees import group
from bayesdose.results.estimands import credible_interval, effect_draws

RHAT_MAX, ESS_PER_CHAIN = 1.01, 100  # Vehtari et al. (2021): bulk ESS > 100 per chain


_ANALYSES: dict[tuple[str, str], ReplicateAnalysis] = {}


def fastest_sampler() -> str:
    """``"nutpie"`` when installed (compiled once, data swapped), else ``"pymc"``."""
    return "nutpie" if importlib.util.find_spec("nutpie") else "pymc"


# ---------------------------------------------------------------------- simulating
def scenario_parameters(design: Design, arms: Arms,
                        scenario: Scenario | None = None) -> dict[str, Any]:
    """A scenario (default: the design's) as :func:`bayesdose.design.trials.simulate_trial`
    arguments for ``arms`` (standardised scale: outcome units divided by the design SD)."""
    scenario, sd = scenario or design.scenario, design.sd
    doses = np.asarray(arms.doses, dtype=float)
    top = float(doses.max())
    plateau = float(scenario.improvement(np.array(top), np.inf))
    shape = {"none": "linear", "linear": "linear"}.get(scenario.dose_shape,
                                                       scenario.dose_shape)
    params: dict[str, float] = {"delta": plateau / sd}
    if scenario.dose_shape in ("emax", "sigmoid_emax"):
        params["log_ed50"] = float(np.log(scenario.ed50 / DoseScale(tuple(doses)).midpoint))
    if scenario.dose_shape == "sigmoid_emax":
        params["log_hill"] = float(np.log(scenario.hill))
    params["log_t_half"] = float(np.log(scenario.t_half / max(arms.visits)))
    return {
        "doses": arms.doses, "n_per_arm": arms.n_per_arm, "visits": arms.visits,
        "dose_shape": shape, "time_shape": "exponential", "shape_params": params,
        "outcomes": (design.outcome,), "course": scenario.course / sd,
        "beta_baseline": scenario.beta_baseline, "patient_sd": scenario.patient_sd / sd,
        "sigma": scenario.sigma / sd, "baseline_mean": design.baseline_mean,
        "baseline_sd": sd, "direction": design.direction,
    }


def simulated_trial(design: Design, arms: Arms, seed: int,
                    scenario: Scenario | None = None) -> SimulatedTrial:
    """One trial of ``arms`` under ``scenario`` (default: the design's), whose outcome
    declares the design's SD (``OutcomeInfo.sd = design.sd``).

    Its analysis (:func:`bayesdose.components.inputs.prepare_inputs`) then standardises
    the outcome by the design's SD, the SD the trial was simulated with, whatever the
    spread of the simulated baselines.
    """
    sim = simulate_trial(**scenario_parameters(design, arms, scenario), seed=seed)
    info = replace(sim.data.info(design.outcome), sd=design.sd)
    data = replace(sim.data, outcome_info={**sim.data.outcome_info, design.outcome: info})
    return replace(sim, data=data)


def dropout_weights(arms: Arms, n_patients: int, rng: np.random.Generator) -> np.ndarray:
    """1 for observed, 0 after a patient drops out (probability ``dropout`` before each
    visit, monotone): shape (patients, visits)."""
    leaves = rng.random((n_patients, len(arms.visits))) < arms.dropout
    return (np.cumsum(leaves, axis=1) == 0).astype(float)


# ---------------------------------------------------------------------- analysing
class ReplicateAnalysis:
    """The analysis model of one design, built and compiled once, fitted to many trials.

    Parameters
    ----------
    design : Design
        The design study.
    arms : Arms
        The candidate design whose trials are analysed.
    sampler : {"nutpie", "pymc"}, optional
        Default: :func:`fastest_sampler`.

    Examples
    --------
    >>> analysis = ReplicateAnalysis(design, design.arms[0])     # doctest: +SKIP
    >>> row = analysis.run(np.random.SeedSequence(1))           # doctest: +SKIP
    """

    def __init__(self, design: Design, arms: Arms, sampler: str | None = None) -> None:
        self.design, self.arms = design, arms
        self.sampler = sampler or fastest_sampler()
        if self.sampler not in ("nutpie", "pymc"):
            raise SpecError(f"sampler must be 'nutpie' or 'pymc' (got {self.sampler!r}).")
        self.model = design.analysis_model()
        likelihood = design.analysis.get("likelihood") or "normal"
        if likelihood not in ("normal", "student_t"):
            raise SpecError("analysis.likelihood must be 'normal' or 'student_t' for a "
                            f"design simulation (got {likelihood!r}).")
        inputs = self.model.inputs(simulated_trial(design, arms, seed=0).data)
        self.inputs = inputs
        self.rows = _rows(inputs)
        self.compiled = CompiledModel(self.model, self.inputs, weighted=True)

    # -------------------------------------------------------------- data
    def simulate(self, seed: int,
                 scenario: Scenario | None = None) -> tuple[dict[str, np.ndarray], Any]:
        """One trial of the design under ``scenario`` (default: the design's): the
        model's data arrays and the simulated trial."""
        rng = np.random.default_rng(seed)
        sim = simulated_trial(self.design, self.arms, int(rng.integers(2**31)), scenario)
        inputs = self.model.inputs(sim.data)
        rows = _rows(inputs).get_indexer(self.rows)
        kept = dropout_weights(self.arms, len(inputs.patients), rng)
        visit = {v: j for j, v in enumerate(self.arms.visits)}
        t = np.array([visit[v] for v in np.asarray(inputs.visits)[inputs.time_idx[rows]]])
        arrays = {
            "response": inputs.response[rows],
            "baseline_std": inputs.baseline_std[rows],
            "weight": kept[inputs.patient_idx[rows], t],
            "lower": inputs.lower[rows],
            "upper": inputs.upper[rows],
        }
        return arrays, sim

    # -------------------------------------------------------------- fitting
    def sample(self, arrays: dict[str, np.ndarray], seed: int) -> xr.DataTree:
        """Sample the analysis model on new data (same design), without recompiling."""
        settings = {**self.design.sampler_settings(), "random_seed": seed,
                    "sampler": self.sampler}
        return self.compiled.sample_values(arrays, settings, cores=1)

    def run(self, seed: np.random.SeedSequence) -> pd.DataFrame:
        """Simulate, fit and decide for one replicate; one row per tested dose.

        With a posterior scenario, the replicate's truth is a posterior draw picked by
        its own seed."""
        sim_seed, fit_seed, truth_seed = (int(s) for s in seed.generate_state(3))
        scenario = self.design.scenario_for(np.random.default_rng(truth_seed))
        arrays, _ = self.simulate(sim_seed, scenario)
        idata = self.sample(arrays, fit_seed)
        return summarise_replicate(self, idata, scenario)


def _rows(inputs: ModelInputs) -> pd.MultiIndex:
    """(patient, time) of each observation row of ``inputs``."""
    return pd.MultiIndex.from_arrays(
        [np.asarray(inputs.patients)[inputs.patient_idx],
         np.asarray(inputs.visits)[inputs.time_idx]], names=["patient", "time"])


def summarise_replicate(analysis: ReplicateAnalysis, idata: xr.DataTree,
                        scenario: Scenario | None = None) -> pd.DataFrame:
    """Estimates, decision and diagnostics of one fitted replicate, against the truth of
    ``scenario`` (default: the design's)."""
    design, arms, inputs = analysis.design, analysis.arms, analysis.inputs
    decision = design.decision
    posterior = group(idata, "posterior")
    reference = decision.reference_dose(arms)
    doses = [d for d in arms.doses if d != reference]
    unit = inputs.scales.sd * inputs.scales.sign
    elapsed = [decision.time - inputs.baseline_time]
    draws = effect_draws(posterior, analysis.model.dose_shape, analysis.model.time_shape,
                         inputs.dose_scale, inputs.time_scale, [*doses, reference], elapsed,
                         unit)[:, :, 0, :, 0]
    improvement = design.sign * (draws[..., :-1] - draws[..., -1:])
    flat = improvement.reshape(-1, len(doses))
    low, high = credible_interval(flat.T, decision.ci_prob, decision.ci_kind)
    prob = (flat > decision.mcid).mean(axis=0)
    passing = [d for d, p in zip(doses, prob, strict=True) if p >= decision.level]
    chosen = float(min(passing)) if passing else float("nan")
    truth = design.true_improvements(arms, scenario)
    true_choice = design.true_choice(arms, scenario)
    rows = pd.DataFrame({
        "design": arms.name, "dose": doses, "reference": reference,
        "estimate": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1), "low": low,
        "high": high, "prob_gt_mcid": prob, "truth": [truth[d] for d in doses]})
    rows["covered"] = (rows["low"] <= rows["truth"]) & (rows["truth"] <= rows["high"])
    rows["go"] = bool(passing)
    rows["chosen_dose"] = chosen
    rows["true_choice"] = true_choice
    rows["correct"] = (chosen == true_choice) or (np.isnan(chosen) and np.isnan(true_choice))
    rows = rows.assign(**_ed50_summary(analysis, posterior, design.true_ed50(scenario)),
                       **_diagnostics(idata))
    return rows


def _ed50_summary(analysis: ReplicateAnalysis, posterior: xr.Dataset,
                  truth: float) -> dict[str, float]:
    names = [p.name for p in analysis.model.dose_shape.parameters(analysis.inputs.dose_scale)]
    params = {n: posterior[n].to_numpy() for n in names if n in posterior}
    derived = analysis.model.dose_shape.derived(params, analysis.inputs.dose_scale)
    if "ed50" not in derived:
        return {"ed50_median": np.nan, "ed50_low": np.nan, "ed50_high": np.nan,
                "ed50_truth": truth, "ed50_covered": np.nan}
    values = np.asarray(derived["ed50"]).reshape(-1)
    decision = analysis.design.decision
    low, high = (float(v) for v in credible_interval(values, decision.ci_prob,
                                                      decision.ci_kind))
    covered = float(low <= truth <= high) if np.isfinite(truth) else np.nan
    return {"ed50_median": float(np.median(values)), "ed50_low": float(low),
            "ed50_high": float(high), "ed50_truth": truth, "ed50_covered": covered}


def _diagnostics(idata: xr.DataTree) -> dict[str, Any]:
    posterior = group(idata, "posterior")
    names = [v for v in ("delta", "log_ed50", "log_t_half", "log_hill", "sigma")
             if v in posterior]
    rhat = az.rhat(posterior[names])
    ess = az.ess(posterior[names])
    max_rhat = float(max(float(rhat[v].max()) for v in names))
    min_ess = float(min(float(ess[v].min()) for v in names))
    diverging = idata["sample_stats"].get("diverging")
    divergences = int(diverging.sum()) if diverging is not None else 0
    ess_min = ESS_PER_CHAIN * posterior.sizes["chain"]
    failed = not (max_rhat <= RHAT_MAX and min_ess >= ess_min and divergences == 0)
    return {"max_rhat": max_rhat, "min_ess": min_ess, "divergences": divergences,
            "failed_diagnostics": failed}


def run_replicate(index: int, seed: np.random.SeedSequence, design: Design,
                  arms_name: str, sampler: str | None = None) -> pd.DataFrame:
    """One replicate of one candidate design (the task each worker runs).

    The analysis model is compiled on a worker's first replicate of a design and kept
    for the next ones.
    """
    key = (design.identity, arms_name, sampler or fastest_sampler())
    analysis = _ANALYSES.get(key)
    if analysis is None:
        analysis = ReplicateAnalysis(design, design.arm(arms_name), sampler)
        _ANALYSES[key] = analysis
    return analysis.run(seed)


# ---------------------------------------------------------------------- summaries
def _proportion(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    p = float(values.mean())
    return p, float(np.sqrt(p * (1 - p) / values.size))


def _mean(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _rmse(errors: np.ndarray) -> tuple[float, float]:
    squared = np.asarray(errors, dtype=float) ** 2
    rmse = float(np.sqrt(squared.mean()))
    se = float(squared.std(ddof=1) / np.sqrt(squared.size) / (2 * rmse)) if rmse > 0 else 0.0
    return rmse, se


def operating_characteristics(results: pd.DataFrame) -> pd.DataFrame:
    """Operating characteristics with Monte Carlo standard errors, per design.

    Parameters
    ----------
    results : pandas.DataFrame
        Replicate rows (one per replicate and tested dose) from :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        Columns design, metric, dose (NaN for design-level metrics), estimate, mcse, n
        (replicates). Metrics: prob_go, prob_correct, prob_pick (per dose, and dose NaN
        for no-go), failed_diagnostics (a replicate fails with R-hat > 1.01 on a shape
        parameter or sigma, bulk ESS below 100 per chain, or any divergence), bias, rmse,
        coverage (of the ``ci_prob`` credible interval of the contrast against the
        reference, per dose, in outcome units with positive = better; equal-tailed unless
        the decision asks for ``ci_kind = "hdi"``), ed50_bias, ed50_rmse, ed50_coverage
        (of the ED50's interval of the same kind, when the analysis has an ED50).

    Examples
    --------
    >>> operating_characteristics(result.replicates)     # doctest: +SKIP
    """
    rows = []
    for name, part in results.groupby("design", sort=False):
        per_rep = part.drop_duplicates("replicate")
        n = len(per_rep)

        def add(metric: str, dose: float, stat: tuple[float, float], _n: int = n,
                _name: str = name) -> None:
            rows.append({"design": _name, "metric": metric, "dose": dose,
                         "estimate": stat[0], "mcse": stat[1], "n": _n})

        add("prob_go", np.nan, _proportion(per_rep["go"]))
        add("prob_correct", np.nan, _proportion(per_rep["correct"]))
        for dose in sorted(part["dose"].unique()):
            add("prob_pick", dose, _proportion(per_rep["chosen_dose"] == dose))
        add("prob_pick", np.nan, _proportion(per_rep["chosen_dose"].isna()))
        add("failed_diagnostics", np.nan, _proportion(per_rep["failed_diagnostics"]))
        for dose, rows_d in part.groupby("dose"):
            errors = rows_d["estimate"] - rows_d["truth"]
            add("bias", dose, _mean(errors))
            add("rmse", dose, _rmse(errors))
            add("coverage", dose, _proportion(rows_d["covered"]))
        ed50 = per_rep.dropna(subset=["ed50_median", "ed50_truth"])
        if len(ed50):
            errors = ed50["ed50_median"] - ed50["ed50_truth"]
            add("ed50_bias", np.nan, _mean(errors))
            add("ed50_rmse", np.nan, _rmse(errors))
            add("ed50_coverage", np.nan, _proportion(ed50["ed50_covered"].astype(bool)))
    return pd.DataFrame(rows)


@dataclass
class SimulationResult:
    """Replicates and operating characteristics of a design study.

    Attributes
    ----------
    design : Design
        The study.
    replicates : pandas.DataFrame
        One row per design, replicate and tested dose (see :func:`summarise_replicate`).
    table : pandas.DataFrame
        :func:`operating_characteristics` of the replicates.
    """

    design: Design
    replicates: pd.DataFrame
    table: pd.DataFrame

    def plot(self):
        """Figure of the operating characteristics (see :func:`plot_operating_characteristics`)."""
        # matplotlib loads only when a figure is drawn
        from bayesdose.plots.simulation import plot_operating_characteristics

        return plot_operating_characteristics(self.table)


def simulate(design: Design, reps: int = 200, seed: int = 1, workers: int | None = 1,
             out: str | Path | None = None, scheduler: str | None = None,
             progress: bool = True, sampler: str | None = None) -> SimulationResult:
    """Simulate every candidate design ``reps`` times and report operating characteristics.

    Parameters
    ----------
    design : Design
        The design study (:meth:`Design.from_toml`).
    reps : int
        Replicates per candidate design.
    seed : int
        Seed; replicate i of every design uses the i-th seed spawned from it, so results
        are the same whatever the number of workers.
    workers : int, optional
        1: in this process. More (or None: one per CPU): a Dask LocalCluster.
    out : str or Path, optional
        Folder for the replicates (one Parquet file each, written as they finish; a rerun
        into the same folder resumes). Default: a temporary folder.
    scheduler : str, optional
        Address of an existing Dask scheduler to run on instead.
    progress : bool
        Show a progress bar.
    sampler : {"nutpie", "pymc"}, optional
        Default: the fastest installed.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import bayesdose as bd
    >>> design = bd.Design.from_toml("models/msc_phase2_design.toml")   # doctest: +SKIP
    >>> result = bd.simulate(design, reps=200, workers=2)               # doctest: +SKIP
    >>> result.table.query("metric == 'prob_go'")                       # doctest: +SKIP
    """

    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise SpecError(f"reps must be an integer >= 2 (got {reps!r}).")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(out) if out is not None else Path(tmp)
        if scheduler is None and workers != 1:  # one cluster for every design
            scheduler = _local_client(stack, workers)
            workers = None
        frames = []
        for arms in design.arms:
            identity = {"design": design.to_dict(), "arms": arms.name,
                        "sampler": sampler or fastest_sampler()}
            frames.append(run_replicates(
                run_replicate, reps, seed, folder / arms.name, workers=workers,
                scheduler=scheduler, progress=progress, key="rep",
                task_args=(design, arms.name, sampler), identity=identity))
    replicates = pd.concat(frames, ignore_index=True)
    return SimulationResult(design, replicates, operating_characteristics(replicates))


def _local_client(stack: contextlib.ExitStack, workers: int | None):
    """A Dask LocalCluster (one single-threaded process per worker) and its client."""
    # Dask is the optional [distributed] extra, loaded only for a cluster run
    from distributed import Client, LocalCluster

    cluster = stack.enter_context(LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
        dashboard_address=None))
    return stack.enter_context(Client(cluster))
