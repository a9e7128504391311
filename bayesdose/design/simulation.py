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
import warnings
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
    arguments for ``arms`` (standardised scale: outcome units divided by the design SD;
    the baselines spread by ``design.baseline_spread``)."""
    scenario, sd = scenario or design.scenario, design.sd
    doses = np.asarray(arms.doses, dtype=float)
    last = float(max(arms.visits))
    # delta: the effect of the top dose against the lowest at the last visit (the
    # parameterisation of the shapes, bayesdose.components.shapes)
    top_vs_lowest = float(np.diff(scenario.improvement(
        np.array([doses.min(), doses.max()]), last))[0])
    shape = {"none": "linear", "linear": "linear"}.get(scenario.dose_shape,
                                                       scenario.dose_shape)
    params: dict[str, float] = {"delta": top_vs_lowest / sd}
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
        "baseline_sd": sd, "baseline_spread": design.baseline_spread,
        "direction": design.direction,
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
    if values.size < 2:  # no Monte Carlo SE from one replicate
        return (float(values.mean()) if values.size else np.nan), np.nan
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _rmse(errors: np.ndarray) -> tuple[float, float]:
    squared = np.asarray(errors, dtype=float) ** 2
    if squared.size < 2:
        return (float(np.sqrt(squared.mean())) if squared.size else np.nan), np.nan
    rmse = float(np.sqrt(squared.mean()))
    se = float(squared.std(ddof=1) / np.sqrt(squared.size) / (2 * rmse)) if rmse > 0 else 0.0
    return rmse, se


#: A metric whose estimate over all replicates lies more than this many Monte Carlo SEs
#: from its estimate over the replicates that passed their diagnostics is reported.
SHIFT_MCSE = 2.0


def _design_metrics(part: pd.DataFrame, doses: list[float],
                    ) -> list[tuple[str, float, tuple[float, float], int]]:
    """(metric, dose, (estimate, mcse), n) of one design's replicate rows."""
    per_rep = part.drop_duplicates("replicate")
    n = len(per_rep)
    out = [("prob_go", np.nan, _proportion(per_rep["go"]), n),
           ("prob_correct", np.nan, _proportion(per_rep["correct"]), n)]
    out += [("prob_pick", dose, _proportion(per_rep["chosen_dose"] == dose), n)
            for dose in doses]
    out.append(("prob_pick", np.nan, _proportion(per_rep["chosen_dose"].isna()), n))
    out.append(("failed_diagnostics", np.nan, _proportion(per_rep["failed_diagnostics"]), n))
    for dose in doses:
        rows_d = part[part["dose"] == dose]
        errors = rows_d["estimate"] - rows_d["truth"]
        out += [("bias", dose, _mean(errors), len(rows_d)),
                ("rmse", dose, _rmse(errors), len(rows_d)),
                ("coverage", dose, _proportion(rows_d["covered"]), len(rows_d))]
    ed50 = per_rep.dropna(subset=["ed50_median", "ed50_truth"])
    if len(ed50):
        errors = ed50["ed50_median"] - ed50["ed50_truth"]
        out += [("ed50_bias", np.nan, _mean(errors), len(ed50)),
                ("ed50_rmse", np.nan, _rmse(errors), len(ed50)),
                ("ed50_coverage", np.nan, _proportion(ed50["ed50_covered"].astype(bool)),
                 len(ed50))]
    return out


def _key(metric: str, dose: float) -> tuple[str, float | None]:
    return metric, None if pd.isna(dose) else float(dose)


def operating_characteristics(results: pd.DataFrame) -> pd.DataFrame:
    """Operating characteristics with Monte Carlo standard errors, per design, over all
    replicates and over those whose fits passed their diagnostics.

    Parameters
    ----------
    results : pandas.DataFrame
        Replicate rows (one per replicate and tested dose) from :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        One row per design, metric and dose. Columns:

        - design, metric, dose (NaN for design-level metrics);
        - estimate, mcse, n: over all replicates (n of them);
        - estimate_passing, mcse_passing, n_passing: the same metric over the replicates
          whose fits passed their diagnostics (NaN for failed_diagnostics itself, and
          when none passed);
        - shift_in_mcse: (estimate - estimate_passing) / mcse, how many Monte Carlo SEs
          of the all-replicate estimate the failed fits move it. Beyond
          :data:`SHIFT_MCSE` (2) the failed replicates are not like the others, and the
          all-replicate number depends on fits that did not converge
          (:func:`simulate` then warns). Leaving them out selects trials, so
          ``estimate_passing`` is a sensitivity check, not a correction.

        Metrics: prob_go, prob_correct, prob_pick (per dose, and dose NaN for no-go),
        failed_diagnostics (a replicate fails with R-hat > 1.01 on a shape parameter or
        sigma, bulk ESS below 100 per chain, or any divergence), bias, rmse, coverage (of
        the ``ci_prob`` credible interval of the contrast against the reference, per
        dose, in outcome units with positive = better; equal-tailed unless the decision
        asks for ``ci_kind = "hdi"``), ed50_bias, ed50_rmse, ed50_coverage (of the
        ED50's interval of the same kind, when the analysis has an ED50).

    Examples
    --------
    Ten replicates, the four whose fits failed all ending in no-go:

    >>> rows = pd.DataFrame({"design": "A", "replicate": range(10), "dose": 50.0,
    ...                      "estimate": 12.0, "truth": 12.0, "covered": True,
    ...                      "go": [True] * 6 + [False] * 4,
    ...                      "chosen_dose": [50.0] * 6 + [np.nan] * 4, "correct": True,
    ...                      "failed_diagnostics": [False] * 6 + [True] * 4,
    ...                      "ed50_median": np.nan, "ed50_truth": np.nan})
    >>> table = operating_characteristics(rows).set_index("metric")
    >>> row = table.loc["prob_go"]
    >>> float(row["estimate"]), float(row["estimate_passing"]), int(row["n_passing"])
    (0.6, 1.0, 6)
    """
    rows = []
    for name, part in results.groupby("design", sort=False):
        doses = sorted(part["dose"].unique())
        passing = part[~part["failed_diagnostics"].astype(bool)]
        subset = {_key(m, d): (s, k) for m, d, s, k in _design_metrics(passing, doses)
                  } if len(passing) else {}
        for metric, dose, (estimate, mcse), n in _design_metrics(part, doses):
            (est_p, mcse_p), n_p = subset.get(_key(metric, dose), ((np.nan, np.nan), 0))
            if metric == "failed_diagnostics":
                (est_p, mcse_p), n_p = (np.nan, np.nan), len(passing.drop_duplicates(
                    "replicate"))
            rows.append({"design": name, "metric": metric, "dose": dose,
                         "estimate": estimate, "mcse": mcse, "n": n,
                         "estimate_passing": est_p, "mcse_passing": mcse_p,
                         "n_passing": n_p, "shift_in_mcse": _shift(estimate, est_p, mcse)})
    return pd.DataFrame(rows)


def _shift(estimate: float, passing: float, mcse: float) -> float:
    """(estimate - passing) / mcse; 0 when equal, infinite when the MCSE is 0."""
    if not (np.isfinite(estimate) and np.isfinite(passing)):
        return np.nan
    difference = estimate - passing
    if np.isclose(difference, 0.0, rtol=0.0, atol=1e-12):
        return 0.0
    return float(difference / mcse) if mcse > 0 else float(np.copysign(np.inf, difference))


def failed_fit_shifts(table: pd.DataFrame, threshold: float = SHIFT_MCSE) -> pd.DataFrame:
    """The operating characteristics that the replicates whose fits failed their
    diagnostics move by more than ``threshold`` Monte Carlo SEs.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`operating_characteristics` of a simulation.
    threshold : float
        Shift, in Monte Carlo SEs of the all-replicate estimate, beyond which a metric is
        reported.

    Returns
    -------
    pandas.DataFrame
        The rows of ``table`` whose ``|shift_in_mcse|`` exceeds ``threshold``, largest
        first.

    Examples
    --------
    >>> table = pd.DataFrame({"design": "A", "metric": ["prob_go", "coverage"],
    ...                       "dose": [np.nan, 50.0], "estimate": [0.6, 0.9],
    ...                       "mcse": [0.05, 0.03], "estimate_passing": [0.75, 0.91],
    ...                       "shift_in_mcse": [-3.0, -0.33]})
    >>> failed_fit_shifts(table)["metric"].tolist()
    ['prob_go']
    """
    if "shift_in_mcse" not in table:
        return table.iloc[:0]
    shifted = table[table["shift_in_mcse"].abs() > threshold]
    return shifted.sort_values("shift_in_mcse", key=np.abs, ascending=False, kind="stable")


def failed_fit_message(table: pd.DataFrame, threshold: float = SHIFT_MCSE) -> str | None:
    """A plain-language warning when the replicates whose fits failed their diagnostics
    change the operating characteristics beyond Monte Carlo error, or when no replicate
    of a design passed; None otherwise.

    Examples
    --------
    >>> table = pd.DataFrame({"design": "A", "metric": ["prob_go", "failed_diagnostics"],
    ...                       "dose": np.nan, "estimate": [0.6, 0.2], "mcse": [0.05, 0.04],
    ...                       "n": 100, "estimate_passing": [0.75, np.nan],
    ...                       "n_passing": 80, "shift_in_mcse": [-3.0, np.nan]})
    >>> print(failed_fit_message(table))      # doctest: +NORMALIZE_WHITESPACE
    The fits of some simulated trials failed their diagnostics (R-hat, ESS or
    divergences). Leaving those trials out changes operating characteristics by more
    than 2 Monte Carlo SEs: design 'A': prob_go 0.6 over all 100 replicates, 0.75 over
    the 80 that passed (-3 MCSE). The failed trials are not like the others, so these
    numbers depend on fits that did not converge: compare estimate with
    estimate_passing in the table. Raise [sampler] draws, tune or chains (or
    target_accept) and rerun.
    """
    none = []
    if "n_passing" in table:
        none = [f"{name!r} (none of {int(part['n'].max())})"
                for name, part in table.groupby("design", sort=False)
                if len(part) and (part["n_passing"] == 0).all()]
    shifted = [
        f"design {row.design!r}: "
        f"{row.metric if pd.isna(row.dose) else f'{row.metric} at dose {row.dose:g}'} "
        f"{row.estimate:.3g} over all {int(row.n)} replicates, {row.estimate_passing:.3g} "
        f"over the {int(row.n_passing)} that passed ({row.shift_in_mcse:+.2g} MCSE)"
        for row in failed_fit_shifts(table, threshold).itertuples()]
    if not (none or shifted):
        return None
    text = ["The fits of some simulated trials failed their diagnostics (R-hat, ESS or "
            "divergences)."]
    if shifted:
        text.append("Leaving those trials out changes operating characteristics by more "
                    f"than {threshold:g} Monte Carlo SEs: " + "; ".join(shifted) + ". The "
                    "failed trials are not like the others, so these numbers depend on "
                    "fits that did not converge: compare estimate with estimate_passing "
                    "in the table.")
    if none:
        text.append("No replicate passed in design " + ", ".join(none) + ".")
    text.append("Raise [sampler] draws, tune or chains (or target_accept) and rerun.")
    return " ".join(text)


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
             progress: bool | None = None, sampler: str | None = None) -> SimulationResult:
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
    progress : bool, optional
        Show a progress bar; default: on a terminal only
        (:func:`bayesdose.progress.resolve_progress`).
    sampler : {"nutpie", "pymc"}, optional
        Default: the fastest installed.

    Returns
    -------
    SimulationResult

    Warns
    -----
    UserWarning
        When the replicates whose fits failed their diagnostics move an operating
        characteristic by more than 2 Monte Carlo SEs (see
        :func:`operating_characteristics`, columns ``estimate_passing`` and
        ``shift_in_mcse``), or when no replicate of a design passed.

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
    table = operating_characteristics(replicates)
    message = failed_fit_message(table)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)
    return SimulationResult(design, replicates, table)


def _local_client(stack: contextlib.ExitStack, workers: int | None):
    """A Dask LocalCluster (one single-threaded process per worker) and its client."""
    # Dask is the optional [distributed] extra, loaded only for a cluster run
    from distributed import Client, LocalCluster

    cluster = stack.enter_context(LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
        dashboard_address=None))
    return stack.enter_context(Client(cluster))
