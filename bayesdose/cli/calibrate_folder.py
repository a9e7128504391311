"""``bayesdose calibrate``: simulation-based calibration of a design's analysis model (or
a model file's model) on its candidate designs, and the coverage of its decision
estimands under the design file's true scenario. Writes the rank table, the per-quantity
uniformity summary, one rank-ECDF figure per candidate design, the coverage table and a
plain-text summary into a folder, all files moved into place together.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.design.calibration import CalibrationResult, calibrate
from bayesdose.design.designs import Design
from bayesdose.errors import SpecError
from bayesdose.files.output import staged_folder, write_atomic, write_csv, write_text
from bayesdose.model.spec import ModelSpec
from bayesdose.plots.backend import close_figure

#: The files :func:`write_calibration` always writes (besides one figure per design).
CALIBRATION_FILES = ("ranks.csv", "summary.csv", "settings.json", "summary.txt")


#: The files it writes when the coverage was checked.
COVERAGE_FILES = ("coverage.csv", "coverage_replicates.csv")


def add_calibrate_parser(sub: Any) -> None:
    """The ``calibrate`` subcommand and its options, on the command's subparsers."""
    cal = sub.add_parser(
        "calibrate", help="simulation-based calibration of a model on candidate designs",
        description="Simulation-based calibration (SBC) of DESIGN.toml's analysis model (or "
                    "--model's) on every candidate design: --reps times, parameters drawn "
                    "from the prior and a trial from the model on the design's layout, "
                    "the model fitted, and the rank of each drawn value among --ranks "
                    "thinned posterior draws. Then, under the design file's fixed "
                    "[scenario], --coverage-reps trials per design: coverage of the "
                    "contrasts' and the MED's intervals and the decision. Writes ranks.csv, "
                    "summary.csv (uniformity per quantity: chi-square p-value, whether the "
                    "rank ECDF leaves its simultaneous band), calibration_<design>.png, "
                    "coverage.csv, coverage_replicates.csv, settings.json and summary.txt. "
                    "Each replicate is stored in OUT/<design>/ as it finishes: rerunning "
                    "the same command resumes; results do not depend on --workers.",
        epilog="Exit codes: 0 success, 2 bad input, 3 internal error.")
    cal.add_argument("design", type=Path, help="design file (TOML)")
    cal.add_argument("--model", type=Path,
                     help="model file (TOML) whose model to calibrate instead of the design "
                          "file's [analysis] (its data section is not used)")
    cal.add_argument("--candidate", action="append", dest="candidates", metavar="NAME",
                     help="calibrate this candidate design only (repeatable; default: all)")
    cal.add_argument("--reps", type=int, default=100, help="SBC replicates per design")
    cal.add_argument("--ranks", type=int, default=100, dest="n_ranks",
                     help="posterior draws each truth is ranked among (L)")
    cal.add_argument("--coverage-reps", type=int, dest="coverage_reps",
                     help="fixed-truth replicates per design, from the design file's "
                          "[scenario] (default: --reps; 0: no coverage check)")
    cal.add_argument("--ci-prob", type=float, default=0.9, dest="ci_prob",
                     help="probability of the intervals whose coverage is checked")
    cal.add_argument("--ci-kind", choices=["eti", "hdi"], default="eti", dest="ci_kind",
                     help="kind of the contrasts' intervals (equal-tailed or highest-density)")
    group = cal.add_argument_group("sampler (override the design file's [sampler])")
    group.add_argument("--draws", type=int, help="posterior draws per chain")
    group.add_argument("--tune", type=int, help="tuning steps per chain")
    group.add_argument("--chains", type=int, help="number of chains")
    group.add_argument("--target-accept", type=float, dest="target_accept",
                       help="NUTS target acceptance rate")
    group.add_argument("--sampler", choices=["nutpie", "pymc"],
                       help="NUTS implementation (default: the fastest installed)")
    cal.add_argument("--workers", type=int, default=None,
                     help="Dask worker processes (default: one per CPU; 1 runs in process)")
    cal.add_argument("--scheduler", help="address of a running Dask scheduler to use")
    cal.add_argument("--seed", type=int, default=1, help="random seed")
    cal.add_argument("--out", type=Path, required=True, help="output folder")
    cal.add_argument("--force", action="store_true",
                     help="write into a folder that holds other files than this design's "
                          "calibration")


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``bayesdose calibrate``; returns the exit code (0)."""
    design = Design.from_toml(args.design)
    model = ModelSpec.from_toml(args.model).build_model() if args.model else None
    names = args.candidates or [arms.name for arms in design.arms]
    for name in names:
        design.arm(name)
    truths, note = _coverage_truths(design, args.coverage_reps)
    _check_folder(args.out, names, args.force)
    args.out.mkdir(parents=True, exist_ok=True)
    result = calibrate(
        model, design, reps=args.reps, seed=args.seed, candidates=names,
        n_ranks=args.n_ranks, draws=args.draws, tune=args.tune, chains=args.chains,
        target_accept=args.target_accept, truths=truths,
        coverage_reps=args.coverage_reps or None, ci_prob=args.ci_prob,
        ci_kind=args.ci_kind, workers=args.workers, out=args.out, scheduler=args.scheduler,
        progress=args.progress, sampler=args.sampler)
    written = write_calibration(result, args.out)
    print(f"Wrote {', '.join(written['files'])} to {args.out}")
    if note:
        print(note)
    print(written["summary"])
    return 0


def _coverage_truths(design: Design, reps: int | None) -> tuple[Any, str]:
    """The fixed truth of the coverage check (the design's [scenario]), or None."""
    if reps == 0:
        return None, ""
    if design.posterior is not None:
        if reps is not None:
            raise SpecError("--coverage-reps: the coverage check needs a fixed [scenario], "
                            "but this design draws its truths from a fit's posterior; give a "
                            "design file with fixed values, or --coverage-reps 0.")
        return None, ("No coverage check: the design draws its truths from a posterior "
                      "(give a design file with a fixed [scenario] for one).")
    return {"scenario": design.scenario}, ""


def _check_folder(out: Path, designs: list[str], force: bool) -> None:
    """Refuse a folder holding anything but this calibration's files, unless ``force``
    (rerunning into the same folder resumes)."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {str(out)!r} is a file, not a folder.")
    if force or not out.is_dir():
        return
    own = {*CALIBRATION_FILES, *COVERAGE_FILES, *designs,
           *(f"calibration_{name}.png" for name in designs)}
    others = sorted(p.name for p in out.iterdir() if p.name not in own)
    if others:
        shown = ", ".join(map(repr, others[:5])) + (" ..." if len(others) > 5 else "")
        raise SpecError(
            f"output folder {str(out)!r} holds files that are not this design file's "
            f"calibration ({shown}); choose a new folder (rerunning into the same folder "
            "resumes a calibration), or pass --force to write into it anyway.")


def write_calibration(result: CalibrationResult, out: Path) -> dict[str, Any]:
    """Write ``ranks.csv``, ``summary.csv``, ``calibration_<design>.png`` per candidate
    design, ``coverage.csv`` and ``coverage_replicates.csv`` (when checked),
    ``settings.json`` and ``summary.txt`` into ``out``.

    The files are written into a staging folder and moved into ``out`` together, so a
    failure midway leaves those of an earlier run as they were.

    Returns
    -------
    dict
        ``files`` (names written) and ``summary`` (text).
    """
    ranked = len(result.ranks) > 0  # none in a coverage-only run (reps=0)
    figures = [f"calibration_{name}.png" for name in result.designs] if ranked else []
    files = [*(CALIBRATION_FILES if ranked else ("settings.json", "summary.txt")), *figures]
    if len(result.coverage):
        files += COVERAGE_FILES
    replaces = [*CALIBRATION_FILES, *files, *COVERAGE_FILES]
    with staged_folder(out, replaces=replaces) as stage:
        if ranked:
            write_csv(result.ranks, stage / "ranks.csv")
            write_csv(result.summary(), stage / "summary.csv")
        if len(result.coverage):
            write_csv(result.coverage, stage / "coverage.csv")
            write_csv(result.coverage_replicates, stage / "coverage_replicates.csv")
        settings = {"name": result.name, **result.settings}
        write_text(json.dumps(settings, indent=2, default=str) + "\n",
                   stage / "settings.json")
        for name, target in zip(result.designs if ranked else [], figures, strict=True):
            figure = result.plot(name)
            try:
                write_atomic(stage / target,
                             lambda tmp, fig=figure: fig.savefig(tmp, dpi=110, format="png"))
            finally:
                close_figure(figure)
        summary = format_calibration(result)
        write_text(summary + "\n", stage / "summary.txt")
    return {"files": files, "summary": summary}


def format_calibration(result: CalibrationResult) -> str:
    """The uniformity summary (when there are ranks) and the coverage table as text."""
    lines = _rank_lines(result) if len(result.ranks) else [
        f"{result.name}: coverage only (no simulation-based calibration: reps=0)."]
    if len(result.coverage):
        table = result.coverage.copy()
        table["estimate (mcse)"] = [f"{e:.3g} ({s:.2g})" for e, s in
                                    zip(table["estimate"], table["mcse"], strict=True)]
        prob = result.settings.get("ci_prob", 0.9)
        kind = result.settings.get("ci_kind", "eti")
        lines += [f"Under the fixed truth: coverage of the {prob:.0%} {kind} intervals of "
                  "the contrasts and the MED, bias_z (the mean of (posterior mean - truth) "
                  "/ posterior SD of each contrast: near 0 when the posterior is not "
                  "systematically off), and the decision.",
                  table[["scenario", "design", "metric", "dose", "estimate (mcse)", "n"]]
                  .to_string(index=False)]
    return "\n".join(lines)


def _rank_lines(result: CalibrationResult) -> list[str]:
    """The uniformity summary of the ranks as lines of text."""
    summary = result.summary()
    shown = summary[["design", "variable", "replicates", "L", "mean_pit", "z_mean_pit",
                     "p_value", "outside_band", "outside_familywise_band"]]
    prob = summary["band_prob"].iloc[0]
    return [
        f"{result.name}: simulation-based calibration, {int(summary['replicates'].max())} "
        "replicates per design; z_mean_pit: the mean PIT's distance from 0.5 in SEs; "
        "p_value: chi-square test of uniform ranks; outside_band: the rank ECDF leaves its "
        f"simultaneous {prob:.0%} band; outside_familywise_band: it leaves the band that "
        f"holds every quantity of a design at once with probability {prob:.0%} "
        "(Bonferroni over the quantities).",
        shown.to_string(index=False),
        f"Outside the band: {_flagged(summary, 'outside_band')}.",
        f"Outside the family-wise band: {_flagged(summary, 'outside_familywise_band')}.",
    ]


def _flagged(summary: pd.DataFrame, column: str) -> str:
    """The design: variable pairs flagged in ``column``, or "none"."""
    outside = summary.loc[summary[column], ["design", "variable"]]
    if outside.empty:
        return "none"
    return ", ".join(f"{d}: {v}" for d, v in zip(outside["design"], outside["variable"],
                                                 strict=True))
