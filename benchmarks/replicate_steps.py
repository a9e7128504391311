"""Where a design-simulation replicate's time goes, in one process.

Usage: python benchmarks/replicate_steps.py [--reps N] [--design models/msc_phase2_design.toml]

Builds the analysis of the file's first candidate design once (``ReplicateAnalysis``:
the model built and compiled for nutpie), then runs ``--reps`` replicates as
``bd.simulate`` does on each worker, timing each step of a replicate: simulating the trial
and arranging its data (``simulate``), swapping the data in and sampling (``sample``, of
which the sampler's own time is ``sampling``), and the read-out of the replicate's
estimates, decision and diagnostics (``summarise``). Prints the one-off compile and the
mean seconds per replicate of each step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--design", default=str(ROOT / "models" / "msc_phase2_design.toml"))
    arguments = parser.parse_args()

    from bayesdose.design.designs import Design
    from bayesdose.design.simulation import ReplicateAnalysis, summarise_replicate
    from bayesdose.inference.trees import group

    design = Design.from_toml(arguments.design)
    begun = time.perf_counter()
    analysis = ReplicateAnalysis(design, design.arms[0])
    analysis.sample(analysis.simulate(0)[0], 0)  # compiles nutpie's model
    compile_s = time.perf_counter() - begun
    steps = {"simulate": [], "sample": [], "sampling": [], "summarise": []}
    for seed in np.random.SeedSequence(1).spawn(arguments.reps):
        sim_seed, fit_seed, _ = (int(s) for s in seed.generate_state(3))
        begun = time.perf_counter()
        arrays, _ = analysis.simulate(sim_seed)
        steps["simulate"].append(time.perf_counter() - begun)
        begun = time.perf_counter()
        idata = analysis.sample(arrays, fit_seed)
        steps["sample"].append(time.perf_counter() - begun)
        steps["sampling"].append(group(idata, "posterior").attrs["sampling_time"])
        begun = time.perf_counter()
        summarise_replicate(analysis, idata)
        steps["summarise"].append(time.perf_counter() - begun)
    total = sum(np.mean(v) for k, v in steps.items() if k != "sampling")
    print(f"design {design.arms[0].name!r}, {arguments.reps} replicates; build and compile "
          f"once: {compile_s:.1f} s")
    for name, values in steps.items():
        print(f"{name:>10}: {np.mean(values):.3f} s per replicate "
              f"({100 * np.mean(values) / total:.0f}% of {total:.3f} s)")


if __name__ == "__main__":
    main()
