"""Command line: ``bayesdose demo``, ``bayesdose fit MODEL.toml --data FILE --out DIR``,
``bayesdose compare A.toml B.toml ... --out DIR``, ``bayesdose simulate DESIGN.toml --out DIR``,
``bayesdose calibrate DESIGN.toml --out DIR`` and ``bayesdose report FIT.nc --out DIR``.

Exit codes: 0 success, 1 the fit ran but failed its diagnostics, 2 bad input (a one-line
reason on stderr), 3 an unexpected internal error (with its traceback, to report).
``bayesdose report`` exits 0 once the report is written, whatever the diagnostics: the
verdict is printed and stated at the top of the report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bayesdose as bd
from bayesdose.cli.arms_folder import run_arm_analysis, write_arm_report
from bayesdose.cli.calibrate_folder import add_calibrate_parser, run_calibrate
from bayesdose.cli.compare_folder import run_comparison
from bayesdose.cli.fit_folder import RESULT_NAMES, write_results
from bayesdose.cli.safety_folder import SAFETY_FOLDER, write_safety_results
from bayesdose.cli.simulate_folder import SIMULATION_FILES, write_simulation
from bayesdose.design.designs import Design
from bayesdose.design.simulation import simulate
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.output import check_folder, folder_lock, staged_folder
from bayesdose.model.arm_fits import load_arm_fit
from bayesdose.model.dose_response import load_fit
from bayesdose.model.spec import ModelSpec
from bayesdose.plots.backend import draw_to_files
from bayesdose.progress import progress_default
from bayesdose.report.fit_report import write_report
from bayesdose.results.arm_storage import ARM_FIT_KINDS, fit_kind
from bayesdose.results.storage import read_fit_file

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


#: The files ``bayesdose compare`` writes besides each candidate's folder.
COMPARE_NAMES = ("comparison.csv", "averaged_contrasts.csv", "signal.csv", "diagnostics.csv",
                 "candidates.png", "summary.txt")


DEMO_SPEC: dict[str, Any] = {
    "name": "demo",
    "description": "Emax x exponential onset on the embedded (simulated) MSC trial's "
                   "patient-reported outcomes, dose parameters pooled within the PROM "
                   "family and a patient factor shared across outcomes.",
    "data": {"source": "embedded:msc_trial"},
    "model": {"outcomes": ["koos_pain", "koos_symptoms", "womac_pain"],
              "dose_shape": "emax", "time_shape": "exponential"},
    "estimands": {"times": [12], "contrasts": [[50, 1], [10, 1]]},
}


def _sampler_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampler (override the model file)")
    group.add_argument("--draws", type=int, help="posterior draws per chain")
    group.add_argument("--tune", type=int, help="tuning steps per chain")
    group.add_argument("--chains", type=int, help="number of chains")
    group.add_argument("--seed", type=int, dest="random_seed", help="random seed")
    group.add_argument("--target-accept", type=float, dest="target_accept",
                       help="NUTS target acceptance rate")
    group.add_argument("--sampler", choices=["pymc", "nutpie", "numpyro", "blackjax", "auto"],
                       help="NUTS implementation")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayesdose`` command."""
    parser = argparse.ArgumentParser(
        prog="bayesdose",
        description="Bayesian dose-response modelling of longitudinal clinical trials.",
        epilog="Exit codes: 0 success, 1 diagnostics failed, 2 bad input, 3 internal error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="fit the embedded example and print the dose effect",
        description="Fit the default model (Emax dose shape, exponential onset) to the "
                    "embedded simulated MSC trial and print the dose effect at 12 months.")
    demo.add_argument("--out", type=Path, help="also write the results into this folder")
    demo.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    _sampler_arguments(demo)
    fit = sub.add_parser(
        "fit", help="run a model file end to end",
        description="Fit MODEL.toml and write fit.nc, CSV tables, figures and a report "
                    "(report.html, report.md). A model file with a [safety] section also "
                    "fits its adverse-event model, with the same sampler settings, and "
                    "writes its tables and summary into safety/; a file with only [safety] "
                    "and [sampler] runs the safety analysis alone. A file with [arm_data] "
                    "fits arm-level summaries of several studies (with [data], together "
                    "with the patient-level trial) and writes fit.nc, effects.csv (a "
                    "'study' column: pooled, new and each study), the model checks, "
                    "figures and a report.")
    fit.add_argument("model", type=Path, help="model file (TOML)")
    fit.add_argument("--data", type=Path, help="CSV data of the dose-response fit (overrides "
                     "the model file's [data] source; [safety] names its own)")
    fit.add_argument("--out", type=Path, required=True, help="output folder")
    fit.add_argument("--force", action="store_true",
                     help="overwrite the results in a non-empty output folder")
    fit.add_argument("--leave-one-study-out", action="store_true", dest="leave_one_study_out",
                     help="arm-level model files: also refit without each study in turn "
                          "and write leave_one_study_out.csv (one refit per study: slow)")
    _sampler_arguments(fit)
    comp = sub.add_parser(
        "compare", help="fit candidate model files on the same data and compare them",
        description="Fit every MODEL.toml on the same data (--data, else each file's own "
                    "source, which must be the same) with the same sampler settings; rank "
                    "them by leave-one-patient-out cross-validation (PSIS-LOO, with refits "
                    "where Pareto k is high) with stacking and pseudo-BMA+ weights and "
                    "write comparison.csv, averaged_contrasts.csv (the first file's "
                    "[estimands], averaged over the candidates by weight), signal.csv "
                    "(Bayesian MCP-Mod test on per-dose estimates: the free candidate, or "
                    "a free refit of the first), diagnostics.csv, candidates.png, summary.txt and "
                    "each candidate's fit.nc in a folder named after it.",
        epilog="Exit codes: 0 success, 1 a candidate failed its diagnostics, 2 bad input, "
               "3 internal error.")
    comp.add_argument("models", type=Path, nargs="+", help="model files (TOML), two or more")
    comp.add_argument("--data", type=Path, help="CSV data for every candidate")
    comp.add_argument("--out", type=Path, required=True, help="output folder")
    comp.add_argument("--force", action="store_true",
                      help="overwrite the results in a non-empty output folder")
    comp.add_argument("--method", choices=["stacking", "BB-pseudo-BMA", "pseudo-BMA"],
                      default="stacking", help="how the weights are computed")
    comp.add_argument("--unit", choices=["patient", "observation"], default="patient",
                      help="what cross-validation leaves out: a whole patient (default) or "
                           "one observation")
    _sampler_arguments(comp)
    sim = sub.add_parser(
        "simulate", help="operating characteristics of candidate designs by simulation",
        description="Simulate every design of DESIGN.toml --reps times from its true "
                    "scenario, fit its analysis model to each replicate, apply its decision "
                    "rule, and write operating_characteristics.csv (with Monte Carlo SEs), "
                    "operating_characteristics.png, replicates.csv and summary.txt. Each "
                    "replicate is stored in OUT/<design>/ as it finishes: rerunning the same "
                    "command resumes where it stopped; results do not depend on --workers.",
        epilog="Exit codes: 0 success, 2 bad input, 3 internal error.")
    sim.add_argument("design", type=Path, help="design file (TOML)")
    sim.add_argument("--reps", type=int, default=200, help="replicates per design")
    sim.add_argument("--workers", type=int, default=None,
                     help="Dask worker processes (default: one per CPU; 1 runs in process)")
    sim.add_argument("--scheduler", help="address of a running Dask scheduler to use")
    sim.add_argument("--seed", type=int, default=1, help="random seed")
    sim.add_argument("--out", type=Path, required=True, help="output folder")
    sim.add_argument("--force", action="store_true",
                     help="write into a folder that holds other files than this design's "
                          "simulation")
    sim.add_argument("--sampler", choices=["nutpie", "pymc"],
                     help="NUTS implementation (default: the fastest installed)")
    add_calibrate_parser(sub)
    report = sub.add_parser(
        "report", help="write an HTML and Markdown report of a saved fit",
        description="Read a saved fit (the fit.nc that 'bayesdose fit' writes; nothing in it "
                    "is unpickled) and write report.html (one self-contained page, figures "
                    "embedded), report.md and figures/*.png into the output folder. The "
                    "effects and contrasts shown are the fit's model file's [estimands], "
                    "else the last visit and the highest against the lowest dose. An "
                    "arm-level or combined fit gets the report 'bayesdose fit' writes for "
                    "it, without leave-one-study-out (which refits).",
        epilog="Exit codes: 0 the report was written (also when the fit failed its "
               "diagnostics: the verdict is printed and heads the report), 2 bad input (no "
               "such file, not a bayesdose fit, a non-empty --out without --force), 3 "
               "internal error.")
    report.add_argument("fit", type=Path, help="saved fit (netCDF, e.g. results/fit.nc)")
    report.add_argument("--out", type=Path, required=True, help="output folder")
    report.add_argument("--force", action="store_true",
                        help="write into a non-empty output folder (replacing an earlier "
                             "report)")
    for command in sub.choices.values():  # the same progress switch on every command
        command.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=None,
            help="show progress bars (sampling, refits, replicates) and notes on stderr, "
                 "or not; default: BAYESDOSE_PROGRESS=1/0 if set, else only when stderr "
                 "is a terminal and CI is unset")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("draws", "tune", "chains", "random_seed", "target_accept", "sampler")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _run(spec, data_path: Path | None, out: Path | None, force: bool,
         overrides: dict[str, Any], leave_one_study_out: bool = False) -> int:
    if spec.has_arm_data:
        if out is None:
            raise SpecError("an arm-level model file needs an output folder (--out DIR).")
        result = run_arm_analysis(spec, data_path, out, force, overrides,
                                  leave_one_study_out)
        print(f"Wrote {', '.join(result['files'])} to {out}")
        print(result["summary"])
        return EXIT_OK if result["diagnostics"].ok else EXIT_DIAGNOSTICS
    if leave_one_study_out:
        raise SpecError("--leave-one-study-out is for model files with arm-level data "
                        "([arm_data]); this file has none.")

    if data_path is not None and not spec.has_dose_response:
        raise SpecError("--data gives the data of a dose-response fit, but this model file "
                        "has only a [safety] analysis (no [data] or [model]); name the "
                        "adverse-event file in [safety] source instead.")
    data = spec.load_data(data_path) if spec.has_dose_response else None
    if data is not None:
        spec.build_model().prior_table(data)  # every check that needs the data, before output
    safety_data = spec.safety.load_data() if spec.safety is not None else None
    if safety_data is not None:
        spec.safety.check_data(safety_data)
    folder = check_folder(out, force) if out is not None else None
    fit = bd.fit(spec, data=data, **overrides) if data is not None else None
    safety_fit = (spec.safety.fit(safety_data, **{**spec.sampler, **overrides})
                  if safety_data is not None else None)
    if folder is None:

        with tempfile.TemporaryDirectory() as tmp:
            results = _write_all(spec, fit, safety_fit, Path(tmp))
    else:
        # all or nothing: the results replace an earlier run's only once all are written
        with staged_folder(folder, replaces=(*RESULT_NAMES, SAFETY_FOLDER)) as stage:
            results = _write_all(spec, fit, safety_fit, stage)
        files = [name for result in results for name in result["files"]]
        print(f"Wrote {', '.join(files)} to {folder}")
    print("\n\n".join(result["summary"] for result in results))
    ok = all(result["diagnostics"].ok for result in results)
    return EXIT_OK if ok else EXIT_DIAGNOSTICS


def _write_all(spec, fit, safety_fit, out: Path) -> list[dict[str, Any]]:
    """Write the dose-response results (when fitted) and the safety ones into ``out``."""
    results = []
    if fit is not None:
        results.append(write_results(fit, out, spec.estimands))
    if safety_fit is not None:
        result = write_safety_results(safety_fit, out / SAFETY_FOLDER, spec.safety,
                                      spec.estimands)
        result["files"] = [f"{SAFETY_FOLDER}/{name}" for name in result["files"]]
        results.append(result)
    return results


def _report(path: Path, out: Path, force: bool) -> int:

    _, config = read_fit_file(path)
    if fit_kind(config) in ARM_FIT_KINDS:
        recorded = config.get("spec") or {"name": path.stem}
        result = write_arm_report(load_arm_fit(path), out, ModelSpec.from_dict(recorded),
                                  force=force)
    else:
        result = write_report(load_fit(path), out, force=force, source=str(path))
    figures = len(result["figures"])
    print(f"Wrote report.html, report.md and {figures} figure{'s' * (figures != 1)} "
          f"(figures/) to {result['folder']}")
    if result["diagnostics_ok"]:
        print("Diagnostics PASSED.")
    else:
        print("Diagnostics FAILED: the report was written; read its diagnostics section "
              "before its estimates.")
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:

    specs = [ModelSpec.from_toml(path) for path in args.models]
    check_folder(args.out, args.force)
    with staged_folder(args.out, replaces=COMPARE_NAMES) as stage:
        result = run_comparison(specs, args.data, stage, True, _overrides(args),
                                method=args.method, unit=args.unit)
    print(f"Wrote {', '.join(result['files'])} to {args.out}")
    print(result["summary"])
    return EXIT_OK if result["ok"] else EXIT_DIAGNOSTICS


def _simulate(args: argparse.Namespace) -> int:

    design = Design.from_toml(args.design)
    _check_simulation_folder(args.out, [arms.name for arms in design.arms], args.force)
    args.out.mkdir(parents=True, exist_ok=True)
    result = simulate(design, reps=args.reps, seed=args.seed, workers=args.workers,
                      out=args.out, scheduler=args.scheduler, progress=args.progress,
                      sampler=args.sampler)
    written = write_simulation(result, args.out)
    print(f"Wrote {', '.join(written['files'])} to {args.out}")
    print(written["summary"])
    return EXIT_OK


def _check_simulation_folder(out: Path, designs: list[str], force: bool) -> None:
    """Refuse an output folder holding anything but this design file's simulation (its
    result files and one folder per candidate design), unless ``force``: rerunning into
    the same folder resumes, and nothing else in a folder is overwritten by accident."""

    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {str(out)!r} is a file, not a folder.")
    if force or not out.is_dir():
        return
    own = {*SIMULATION_FILES, *designs}
    others = sorted(p.name for p in out.iterdir() if p.name not in own)
    if others:
        shown = ", ".join(map(repr, others[:5])) + (" ..." if len(others) > 5 else "")
        raise SpecError(
            f"output folder {str(out)!r} holds files that are not this design file's "
            f"simulation ({shown}); choose a new folder (rerunning into the same folder "
            "resumes a simulation), or pass --force to write into it anyway."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayesdose`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    draw_to_files()  # the command draws figures into files only
    try:
        # one run per output folder; --progress/--no-progress for everything the run does
        with folder_lock(getattr(args, "out", None)), progress_default(args.progress):
            return _dispatch(args)
    except BayesdoseError as exc:
        print(f"bayesdose: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # anything else is a bug: show it, and keep exit 1 for diagnostics

        traceback.print_exc()
        print("bayesdose: internal error (not a problem with your input); please report it.",
              file=sys.stderr)
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit code."""
    if args.command == "report":
        return _report(args.fit, args.out, args.force)
    if args.command == "compare":
        return _compare(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "calibrate":
        return run_calibrate(args)
    if args.command == "demo":
        spec = ModelSpec.from_dict(DEMO_SPEC)
        return _run(spec, None, args.out, args.force, _overrides(args))
    spec = ModelSpec.from_toml(args.model)
    return _run(spec, args.data, args.out, args.force, _overrides(args),
                args.leave_one_study_out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
