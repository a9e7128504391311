"""Coverage of the default model's 90% intervals across trial scenarios.

What it measures: for each scenario below, ``--reps`` trials are simulated from a fixed
true Emax dose-response (in outcome units, like ``models/msc_phase2_design.toml``: KOOS
pain, SD 15, higher is better; Emax 20 points, ED50 10 million cells, half the effect by 2
months, visit-to-visit SD 6, patient SD 7) and each is fitted with the default analysis
model (Emax dose shape x exponential onset, normal likelihood, default priors; nutpie, 2
chains of ``--tune`` + ``--draws``, target acceptance 0.95). Over the replicates of a
scenario it reports, with Monte Carlo SEs:

* the coverage of the equal-tailed 90% interval of the improvement of dose 50 over dose
  1 at 12 months (and of every other tested dose over dose 1 in the long table), nominal
  0.9;
* the coverage of the 90% interval of the minimum effective dose (MED: the smallest dose
  beating dose 1 by the MCID of 10 points at 12 months; infinite when none does);
* ``bias_z``: the mean, over replicates, of ``(posterior mean - truth) / posterior SD`` of
  the 50-vs-1 contrast, i.e. how far the posterior is systematically off, in posterior
  SDs (0 when not), and ``sd_z``, the SD of that standardised error (about 1 when the
  posterior SD is the right size);
* the share of fits that failed their diagnostics (R-hat above 1.01, bulk ESS below 100
  per chain, or a divergence), and the same coverages and ``bias_z`` over the fits that
  passed (a sensitivity check: leaving fits out selects trials).

Each scenario is one :class:`bayesdose.Design` (``Design.from_dict``; decision at 12
months against the lowest dose, MCID 10, level 0.8, ``ci_prob`` 0.9) run with
``bd.calibrate(None, design, reps=0, truths=design.scenario, coverage_reps=R,
workers=W, out=RUNS/<scenario>)``: coverage only, no simulation-based calibration,
resumable (a rerun with the same settings reads the finished replicates back).

Usage (the first command wrote ``docs/guides/coverage_results``, the next two
``docs/guides/coverage_results/delta_sd_2``)::

    python benchmarks/coverage_scenarios.py --reps 80 --workers 1 \
        --runs /tmp/coverage_runs --out docs/guides/coverage_results
    python benchmarks/coverage_scenarios.py --delta-sd 2 --scenarios small_arms --reps 200 \
        --out docs/guides/coverage_results/delta_sd_2
    python benchmarks/coverage_scenarios.py --delta-sd 2 --scenarios large_arms steep \
        --reps 80 --out docs/guides/coverage_results/delta_sd_2
    python benchmarks/coverage_scenarios.py --scenarios null_effect steep --reps 50 \
        --out /tmp/coverage_check

``--serial`` runs the scenario with serially correlated residuals instead (the phase II
truth, 15 per dose, residuals correlated within a patient as 0.7 ** (|t - s| / 2.5),
2.5 months the median visit gap, beside the patient effects), each trial fitted with the
default model and with ``serial_correlation="ar1"`` (the same trials for both); its
table adds the mean width of the 50-vs-1 interval::

    python benchmarks/coverage_scenarios.py --serial --reps 400 --workers 2 \
        --runs /tmp/coverage_runs --out docs/guides/coverage_results/serial_ar1

(about 18 minutes on two workers sharing 2 CPU cores: 0.9 s per fit without and 1.8 s
with ``ar1``).

It writes into ``--out`` ``coverage_scenarios.csv`` (one row per scenario: its layout,
truth and every number above with its MCSE), ``coverage_table.csv`` (the long table of
:func:`bayesdose.design.calibration.coverage_table` per scenario, over all replicates and
over the passing ones), ``coverage_scenarios.md`` (the Markdown table of
``docs/guides/coverage.md``) and ``timing.json`` (wall time per scenario of the run that
fitted its replicates). The per-replicate Parquet files stay in ``--runs``.

Timing (one worker on 2 CPU cores, 1000 tuning steps and 1000 draws): 80 replicates of
each of the eight scenarios took about 30 minutes while another calibration shared the
cores, from 0.6 s per replicate (4 patients per dose) to 3 s (15 per dose) and 8 s (30
per dose, four doses), plus a compile of about 10 s per scenario; uncontended, 0.8 s,
1.8 s and 4 s. ``--draws 500 --tune 500`` halves that. 200 replicates (MCSE of a
coverage near 0.9: 0.021, against 0.034 at 80) take about 2.5 times as long.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.components.residuals import ar1_lag
from bayesdose.components.timecourses import TimeScale
from bayesdose.design import calibration
from bayesdose.design.calibration import (
    COVERAGE_FOLDER,
    CalibrationAnalysis,
    CalibrationTask,
    coverage_table,
    run_coverage_replicate,
)
from bayesdose.design.runner import run_replicates

ROOT = Path(__file__).parents[1]
OUT = ROOT / "docs" / "guides" / "coverage_results"
RUNS = Path(tempfile.gettempdir()) / "bayesdose_coverage_runs"

SD = 15.0
TRUTH = {"dose_shape": "emax", "emax": 20.0, "ed50": 10.0, "t_half": 2.0, "sigma": 6.0,
         "patient_sd": 7.0, "course": 0.0}
DOSES = [1, 10, 50]
VISITS = [1, 3, 6, 12]
TOP, REFERENCE, TIME, NOMINAL = 50.0, 1.0, 12.0, 0.9

#: name -> (description, layout, truth changes, outcome changes)
SCENARIOS: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "small_arms": ("4 per arm, the embedded trial's size",
                   {"n_per_arm": 4}, {}, {}),
    "large_arms": ("30 per arm, doses 1/10/25/50, visits 3/6/12",
                   {"n_per_arm": 30, "doses": [1, 10, 25, 50], "visits": [3, 6, 12]},
                   {}, {}),
    "null_effect": ("no effect (Emax 0)", {"n_per_arm": 15}, {"emax": 0.0}, {}),
    "weak": ("Emax 8, below the MCID at every dose", {"n_per_arm": 15}, {"emax": 8.0}, {}),
    "steep": ("ED50 1: nearly all the effect by the lowest doses", {"n_per_arm": 15},
              {"ed50": 1.0}, {}),
    "narrow_baselines": ("baselines spread SD / 4 (3.75 points)", {"n_per_arm": 8}, {},
                         {"baseline_sd": SD / 4}),
    "wide_baselines": ("baselines spread 2 SD (30 points)", {"n_per_arm": 8}, {},
                       {"baseline_sd": 2 * SD}),
    "dropout": ("25% dropout before each visit", {"n_per_arm": 10, "dropout": 0.25}, {},
                {}),
}


def scenario_design(name: str, draws: int, tune: int) -> bd.Design:
    """The design of one scenario: its one candidate trial, truth and the default model."""
    spec = SERIAL_SPEC if name == SERIAL_NAME else SCENARIOS[name]
    _, layout, truth, outcome = spec
    trial = {"doses": DOSES, "visits": VISITS, "dropout": 0.0, **layout}
    return bd.Design.from_dict({
        "name": name,
        "description": spec[0],
        "outcome": {"name": "koos_pain", "direction": "higher_is_better", "sd": SD,
                    "baseline_mean": 45.0, **outcome},
        "scenario": {**TRUTH, **truth},
        "analysis": {"dose_shape": "emax", "time_shape": "exponential"},
        "sampler": {"draws": draws, "tune": tune, "chains": 2},
        "decision": {"time": TIME, "reference": "lowest", "mcid": 10.0, "level": 0.8,
                     "ci_prob": 0.9},
        "designs": {"trial": trial},
    })


def _fitted(folder: Path) -> int:
    return sum(1 for _ in folder.rglob(f"{COVERAGE_FOLDER}-*/rep_*.parquet"))


def analysis_model(delta_sd: float | None) -> bd.DoseResponseModel | None:
    """The design's default analysis model (None), or the same model with the prior of
    ``delta`` widened or narrowed to Normal(0, ``delta_sd``)."""
    if delta_sd is None:
        return None
    return bd.DoseResponseModel(dose_shape="emax", time_shape="exponential",
                                priors={"delta": Prior("Normal", mu=0, sigma=delta_sd)})


def run_scenario(name: str, args: argparse.Namespace) -> tuple[pd.DataFrame, float, int]:
    """The coverage replicates of one scenario, the seconds this run took and how many
    replicates it fitted (0 when all were read back)."""
    design = scenario_design(name, args.draws, args.tune)
    folder = args.runs / (name if args.delta_sd is None
                          else f"{name}_delta_sd{args.delta_sd:g}")
    folder.mkdir(parents=True, exist_ok=True)
    before = _fitted(folder)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # R-hat of constant draws
        warnings.simplefilter("ignore", FutureWarning)  # sampler keyword renames
        result = bd.calibrate(analysis_model(args.delta_sd), design, reps=0, seed=args.seed,
                              truths={"truth": design.scenario}, coverage_reps=args.reps,
                              workers=args.workers, out=folder, progress=False)
    elapsed = time.perf_counter() - start
    return result.coverage_replicates, elapsed, _fitted(folder) - before


def _row(table: pd.DataFrame, metric: str, dose: float | None = None) -> pd.Series:
    part = table[table["metric"] == metric]
    part = part[part["dose"].isna()] if dose is None else part[part["dose"] == dose]
    return part.iloc[0]


def summarise(name: str, rows: pd.DataFrame,
              spec: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]] | None = None
              ) -> tuple[dict[str, Any], pd.DataFrame]:
    """One scenario's wide row and its long coverage table (all and passing replicates);
    ``spec`` as an entry of :data:`SCENARIOS` (default: ``name``'s)."""
    description, layout, truth, outcome = spec or SCENARIOS[name]
    failed = rows["failed_diagnostics"].astype(bool)
    passing = rows[~failed]
    table = coverage_table(rows)
    long = table.merge(coverage_table(passing) if len(passing) else table.iloc[:0],
                       on=["scenario", "design", "metric", "dose"], how="left",
                       suffixes=("", "_passing"))
    top = rows[rows["dose"] == TOP]
    out: dict[str, Any] = {
        "scenario": name, "description": description,
        "doses": "/".join(f"{d:g}" for d in layout.get("doses", DOSES)),
        "n_per_arm": layout["n_per_arm"],
        "visits": "/".join(f"{v:g}" for v in layout.get("visits", VISITS)),
        "dropout": layout.get("dropout", 0.0),
        "baseline_sd": outcome.get("baseline_sd", SD),
        "emax": truth.get("emax", TRUTH["emax"]), "ed50": truth.get("ed50", TRUTH["ed50"]),
        "truth_50v1": float(top["truth"].iloc[0]),
        "true_med": float(rows["med_truth"].iloc[0]),
        "reps": int(rows["replicate"].nunique()),
    }
    for suffix in ("", "_passing"):
        for label, metric, dose in (("coverage_50v1", "coverage", TOP),
                                    ("med_coverage", "med_coverage", None),
                                    ("bias_z_50v1", "bias_z", TOP)):
            row = _row(long, metric, dose)
            out[label + suffix] = row["estimate" + suffix]
            out[label + suffix + "_mcse"] = row["mcse" + suffix]
    out["n"], out["n_passing"] = rows["replicate"].nunique(), passing["replicate"].nunique()
    out["sd_z_50v1"] = float(top["z"].std(ddof=1))
    out["sd_z_50v1_passing"] = float(top.loc[~top["failed_diagnostics"].astype(bool),
                                             "z"].std(ddof=1))
    share = _row(long, "failed_diagnostics")
    out["failed_share"], out["failed_share_mcse"] = share["estimate"], share["mcse"]
    out["mean_max_rhat"] = float(rows.drop_duplicates("replicate")["max_rhat"].mean())
    out["divergent_share"] = float((rows.drop_duplicates("replicate")["divergences"] > 0)
                                   .mean())
    return out, long.assign(scenario=name)


def _pm(value: float, mcse: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f} ± {mcse:.{digits}f}"


def _flag_coverage(value: float, n: float) -> str:
    """'*' when a coverage lies more than 2 Monte Carlo SEs (at nominal) from 0.9."""
    if not (np.isfinite(value) and n):
        return ""
    return " *" if abs(value - NOMINAL) > 2 * np.sqrt(NOMINAL * (1 - NOMINAL) / n) else ""


def _flag_med(value: float, n: float, true_med: float) -> str:
    """'‡' for the MED coverage when no dose truly reaches the MCID (the true MED is
    infinite, covered whenever 5% of the draws have no MED: near 1 by construction),
    else as :func:`_flag_coverage`."""
    return " ‡" if not np.isfinite(true_med) else _flag_coverage(value, n)


def _flag_bias(value: float, mcse: float) -> str:
    """'†' when the mean standardised error is beyond ±0.25 by more than 2 MCSEs."""
    return " †" if np.isfinite(value) and abs(value) - 2 * mcse > 0.25 else ""


def markdown(wide: pd.DataFrame) -> str:
    """The table of the coverage guide."""
    head = ("| scenario | n per arm | true 50 vs 1 | true MED | coverage 50 vs 1 | "
            "MED coverage | bias_z 50 vs 1 | sd_z | failed diagnostics | passing fits | "
            "coverage 50 vs 1 (passing) | MED coverage (passing) | bias_z (passing) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in wide.itertuples():
        med = "none" if not np.isfinite(r.true_med) else f"{r.true_med:.3g}"
        lines.append(
            f"| {r.scenario} | {r.n_per_arm} | {r.truth_50v1:.2f} | {med} | "
            f"{_pm(r.coverage_50v1, r.coverage_50v1_mcse)}"
            f"{_flag_coverage(r.coverage_50v1, r.n)} | "
            f"{_pm(r.med_coverage, r.med_coverage_mcse)}"
            f"{_flag_med(r.med_coverage, r.n, r.true_med)} | "
            f"{_pm(r.bias_z_50v1, r.bias_z_50v1_mcse, 2)}"
            f"{_flag_bias(r.bias_z_50v1, r.bias_z_50v1_mcse)} | {r.sd_z_50v1:.2f} | "
            f"{_pm(r.failed_share, r.failed_share_mcse)} | {int(r.n_passing)} / {r.reps} | "
            f"{_pm(r.coverage_50v1_passing, r.coverage_50v1_passing_mcse)}"
            f"{_flag_coverage(r.coverage_50v1_passing, r.n_passing)} | "
            f"{_pm(r.med_coverage_passing, r.med_coverage_passing_mcse)}"
            f"{_flag_med(r.med_coverage_passing, r.n_passing, r.true_med)} | "
            f"{_pm(r.bias_z_50v1_passing, r.bias_z_50v1_passing_mcse, 2)}"
            f"{_flag_bias(r.bias_z_50v1_passing, r.bias_z_50v1_passing_mcse)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- serial correlation
#: The serially correlated scenario (``--serial``): the phase II truth, 15 patients per
#: dose, patient effects (SD 7) and residuals of SD 6 at every visit correlated within a
#: patient as ``SERIAL_RHO ** (|t_i - t_j| / lag)``, lag the median gap between
#: consecutive visits, baseline included (2.5 months for visits 1, 3, 6 and 12: the lag
#: of ``serial_correlation="ar1"``), so visits 1 and 3 correlate 0.75 beyond the patient
#: effect and visits 6 and 12 0.42.
SERIAL_NAME = "serial_ar1"
SERIAL_RHO = 0.7
SERIAL_SPEC = (f"AR(1) residuals, rho {SERIAL_RHO:g} at the median visit gap",
               {"n_per_arm": 15}, {}, {})
#: The analysis models the serial scenario is fitted with: the default (independent
#: residuals) and the same model with ``serial_correlation="ar1"``.
SERIAL_ANALYSES: dict[str, dict[str, Any]] = {"none": {}, "ar1": {"serial_correlation": "ar1"}}


def ar1_errors(inputs: Any, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Standard Normal residuals of every observation of ``inputs``, correlated within a
    patient as ``rho ** (|t_i - t_j| / lag)`` (lag: :func:`ar1_lag` of the visits)."""
    times = np.asarray(inputs.time_scale.visits, dtype=float)
    corr = rho ** (np.abs(times[:, None] - times[None, :]) / ar1_lag(inputs.time_scale))
    z = rng.multivariate_normal(np.zeros(times.size), corr, size=len(inputs.patients))
    return z[inputs.patient_idx, inputs.time_idx]


class SerialAnalysis(CalibrationAnalysis):
    """A coverage analysis whose trials have AR(1) residuals: the design's trial without
    residual noise, plus ``scenario.sigma`` times :func:`ar1_errors`."""

    def simulate(self, seed: int, scenario: Any) -> dict[str, np.ndarray]:
        arrays = dict(super().simulate(seed, replace(scenario, sigma=1e-9)))
        errors = ar1_errors(self.inputs, SERIAL_RHO, np.random.default_rng([seed, 1]))
        arrays["response"] = arrays["response"] + scenario.sigma * errors
        return arrays


@dataclass(frozen=True)
class SerialTask(CalibrationTask):
    """The coverage task of the serial scenario (kept per worker like calibrate's)."""

    def analysis(self) -> CalibrationAnalysis:
        config = json.dumps(self.model.config(), sort_keys=True, default=str)
        key = ("serial", SERIAL_RHO, config, self.design.identity, self.arms_name,
               self.sampler)
        if key not in calibration._ANALYSES:
            calibration._ANALYSES[key] = SerialAnalysis(
                self.model, self.design, self.design.arm(self.arms_name), self.sampler)
        return calibration._ANALYSES[key]


def run_serial(analysis: str, args: argparse.Namespace) -> tuple[pd.DataFrame, float, int]:
    """The coverage replicates of the serial scenario under one analysis model (the same
    simulated trials for every model: same seeds)."""
    design = scenario_design(SERIAL_NAME, args.draws, args.tune)
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential",
                                 **SERIAL_ANALYSES[analysis])
    folder = args.runs / SERIAL_NAME / analysis
    folder.mkdir(parents=True, exist_ok=True)
    before = _fitted(folder)
    settings = design.sampler_settings()
    sampler = "nutpie"
    task = SerialTask(model, design, "trial", settings, sampler, scenario=design.scenario,
                      ci_prob=NOMINAL)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        rows = run_replicates(
            run_coverage_replicate, args.reps, args.seed, folder / f"{COVERAGE_FOLDER}-truth",
            workers=args.workers, progress=False, key="rep", task_args=(task,),
            identity={"design": design.to_dict(), "model": model.config(),
                      "sampler": sampler, "settings": settings, "rho": SERIAL_RHO,
                      "check": "coverage-serial"})
    elapsed = time.perf_counter() - start
    rows = rows.assign(scenario=SERIAL_NAME, design="trial")
    return rows, elapsed, _fitted(folder) - before


def serial_markdown(wide: pd.DataFrame) -> str:
    """The table of the serial scenario: one row per analysis model."""
    head = ("| analysis | trials | coverage 50 vs 1 | bias_z 50 vs 1 | sd_z | mean 90% width "
            "(points) | MED coverage | failed diagnostics | coverage 50 vs 1 (passing) | "
            "bias_z (passing) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in wide.itertuples():
        lines.append(
            f"| serial_correlation=\"{r.analysis}\" | {r.reps} | "
            f"{_pm(r.coverage_50v1, r.coverage_50v1_mcse)}"
            f"{_flag_coverage(r.coverage_50v1, r.n)} | "
            f"{_pm(r.bias_z_50v1, r.bias_z_50v1_mcse, 2)}"
            f"{_flag_bias(r.bias_z_50v1, r.bias_z_50v1_mcse)} | {r.sd_z_50v1:.2f} | "
            f"{r.width_50v1:.2f} ± {r.width_50v1_mcse:.2f} | "
            f"{_pm(r.med_coverage, r.med_coverage_mcse)} | "
            f"{_pm(r.failed_share, r.failed_share_mcse)} | "
            f"{_pm(r.coverage_50v1_passing, r.coverage_50v1_passing_mcse)} | "
            f"{_pm(r.bias_z_50v1_passing, r.bias_z_50v1_passing_mcse, 2)} |")
    return "\n".join(lines) + "\n"


def main_serial(args: argparse.Namespace) -> None:
    """Run the serial scenario under both analysis models and write its files."""
    args.out.mkdir(parents=True, exist_ok=True)
    timing_path = args.out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    wide, long = [], []
    for analysis in SERIAL_ANALYSES:
        rows, elapsed, fitted = run_serial(analysis, args)
        if fitted:
            timing[analysis] = {"seconds": round(elapsed, 1), "fitted": fitted,
                                "workers": args.workers, "draws": args.draws,
                                "tune": args.tune}
        row, table = summarise(SERIAL_NAME, rows, SERIAL_SPEC)
        width = rows.loc[rows["dose"] == TOP, "ci_high"] - rows.loc[rows["dose"] == TOP,
                                                                    "ci_low"]
        row.update({"analysis": analysis, "rho": SERIAL_RHO,
                    "lag": ar1_lag(TimeScale(tuple(float(v) for v in VISITS))),
                    "width_50v1": float(width.mean()),
                    "width_50v1_mcse": float(width.std(ddof=1) / np.sqrt(width.size))})
        wide.append(row)
        long.append(table.assign(analysis=analysis))
        print(f"{analysis}: {fitted} replicates fitted in {elapsed:.0f} s; coverage 50 vs 1 "
              f"{_pm(row['coverage_50v1'], row['coverage_50v1_mcse'])}, bias_z "
              f"{_pm(row['bias_z_50v1'], row['bias_z_50v1_mcse'], 2)}, width "
              f"{row['width_50v1']:.2f}, failed {row['failed_share']:.3f}", flush=True)
    frame = pd.DataFrame(wide)
    frame.to_csv(args.out / "coverage_scenarios.csv", index=False)
    pd.concat(long, ignore_index=True).to_csv(args.out / "coverage_table.csv", index=False)
    (args.out / "coverage_scenarios.md").write_text(serial_markdown(frame), encoding="utf-8")
    timing_path.write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")
    print(serial_markdown(frame))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=80,
                        help="fixed-truth replicates per scenario (default 80)")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS),
                        default=list(SCENARIOS), help="scenarios to run (default: all)")
    parser.add_argument("--workers", type=int, default=1,
                        help="1: in this process; more: a local Dask cluster")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder for the summary files (default docs/guides/"
                             "coverage_results)")
    parser.add_argument("--runs", type=Path, default=RUNS,
                        help="folder for the per-replicate files (resumable)")
    parser.add_argument("--delta-sd", type=float, default=None,
                        help="analyse with delta ~ Normal(0, DELTA_SD) instead of the "
                             "default prior (a sensitivity analysis; write it to its own "
                             "--out)")
    parser.add_argument("--serial", action="store_true",
                        help="run the AR(1) scenario instead, fitted without and with "
                             "serial_correlation=\"ar1\" (write it to its own --out, e.g. "
                             "docs/guides/coverage_results/serial_ar1)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if args.serial:
        main_serial(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    timing_path = args.out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    wide, long = [], []
    for name in args.scenarios:
        rows, elapsed, fitted = run_scenario(name, args)
        if fitted:
            timing[name] = {"seconds": round(elapsed, 1), "fitted": fitted,
                            "workers": args.workers, "draws": args.draws, "tune": args.tune}
        row, table = summarise(name, rows)
        wide.append(row)
        long.append(table)
        print(f"{name}: {fitted} replicates fitted in {elapsed:.0f} s; coverage 50 vs 1 "
              f"{_pm(row['coverage_50v1'], row['coverage_50v1_mcse'])}, MED "
              f"{_pm(row['med_coverage'], row['med_coverage_mcse'])}, bias_z "
              f"{_pm(row['bias_z_50v1'], row['bias_z_50v1_mcse'], 2)}, failed "
              f"{row['failed_share']:.3f}", flush=True)
        _write(args.out, wide, long, timing)
    print(markdown(pd.read_csv(args.out / "coverage_scenarios.csv")))


def _merged(path: Path, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` over the rows of the other scenarios already in ``path``, in the order of
    :data:`SCENARIOS`."""
    if path.is_file():
        old = pd.read_csv(path)
        new = pd.concat([old[~old["scenario"].isin(new["scenario"])], new],
                        ignore_index=True)
    order = {name: k for k, name in enumerate(SCENARIOS)}
    return new.sort_values("scenario", key=lambda s: s.map(order), kind="stable")


def _write(out: Path, wide: list[dict[str, Any]], long: list[pd.DataFrame],
           timing: dict[str, Any]) -> None:
    frame = _merged(out / "coverage_scenarios.csv", pd.DataFrame(wide))
    frame.to_csv(out / "coverage_scenarios.csv", index=False)
    table = _merged(out / "coverage_table.csv", pd.concat(long, ignore_index=True))
    table.to_csv(out / "coverage_table.csv", index=False)
    (out / "coverage_scenarios.md").write_text(markdown(frame), encoding="utf-8")
    (out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
