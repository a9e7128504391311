"""Simulation-based calibration of the default model on the MSC phase II designs.

Usage: python benchmarks/calibration.py [--reps 200] [--coverage-reps 200] [--workers 2]
                                        [--draws 1000] [--tune 1000] [--out FOLDER]
                                        [--candidate NAME ...]

The tutorial's files come from two runs:

    python benchmarks/calibration.py
    python benchmarks/calibration.py --candidate phase1_repeat --reps 1000 \
        --coverage-reps 0 --out docs/tutorials/calibration_results/phase1_repeat_1000

The design file is models/msc_phase2_design.toml: the default analysis model (Emax dose
shape, exponential onset, normal likelihood, default priors) on its two candidate designs,
the 12-patient repeat of the embedded MSC trial (4 per arm at 1/10/50 million cells,
visits 1/3/6/12, 5% dropout per visit) and a 60-patient phase IIb (15 per arm at
1/10/25/50, visits 3/6/12, 10% dropout). Each SBC replicate draws the parameters from the
prior and a trial from the model, fits it (nutpie, 2 chains of --draws after --tune) and
ranks every quantity among 100 thinned draws; each coverage replicate simulates a trial
from the design file's [scenario] (Emax 20 points, ED50 10, half the effect by 2 months).

The results (ranks.csv, summary.csv, coverage.csv, coverage_replicates.csv,
settings.json, summary.txt, calibration_<design>.png and timing.json) are written into
--out (default docs/tutorials/calibration_results, the files the calibration tutorial
reads); the replicates' own files go to a temporary folder. The wall time includes the
Dask cluster's start and each worker's compilation.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import bayesdose as bd
from bayesdose.cli.calibrate_folder import write_calibration
from bayesdose.files.output import write_text
from bayesdose.plots.backend import draw_to_files

ROOT = Path(__file__).parents[1]
DESIGN = ROOT / "models" / "msc_phase2_design.toml"
OUT = ROOT / "docs" / "tutorials" / "calibration_results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--coverage-reps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--candidate", action="append", dest="candidates",
                        help="calibrate this candidate design only (repeatable)")
    args = parser.parse_args()
    draw_to_files()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    design = bd.Design.from_toml(DESIGN)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        truths = {"scenario": design.scenario} if args.coverage_reps else None
        result = bd.calibrate(None, design, reps=args.reps, seed=args.seed,
                              candidates=args.candidates, draws=args.draws, tune=args.tune,
                              chains=2, n_ranks=100, truths=truths,
                              coverage_reps=args.coverage_reps or None, workers=args.workers,
                              out=tmp, progress=False)
        elapsed = time.perf_counter() - start
    written = write_calibration(result, args.out)
    timing = {"elapsed_s": round(elapsed, 1), "workers": args.workers, "reps": args.reps,
              "coverage_reps": args.coverage_reps, "draws": args.draws, "tune": args.tune,
              "designs": result.designs,
              "fits": (args.reps + args.coverage_reps) * len(result.designs)}
    write_text(json.dumps(timing, indent=2) + "\n", args.out / "timing.json")
    print(written["summary"])
    print(f"{timing['fits']} fits in {elapsed:.0f} s with {args.workers} workers "
          f"({timing['fits'] / elapsed * 60:.0f} fits / min); written to {args.out}")


if __name__ == "__main__":
    main()
