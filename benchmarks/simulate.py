"""Replicates per minute of a design simulation against a plain PyMC loop.

Usage: python benchmarks/simulate.py [--reps 60] [--plain-reps 4] [--workers 2]

The design is the 12-patient repeat of the MSC trial in models/msc_phase2_design.toml
(4 per arm at 1/10/50, visits 1/3/6/12, 1000 tuning + 1000 draws x 2 chains). bayesdose
runs it with `bd.simulate` (model compiled once per worker, data swapped, nutpie, Dask
LocalCluster); the plain loop simulates the same trials and, for each, builds and samples
a fresh PyMC model (`DoseResponseModel.fit`, PyMC's NUTS, the same draws and chains, no
predictive draws). Wall times include compilation and cluster start.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bayesdose.design.designs import Design
from bayesdose.design.simulation import simulate

DESIGN = Path(__file__).parents[1] / "models" / "msc_phase2_design.toml"


def bayesdose_rate(design: Design, reps: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate(design, reps=reps, seed=1, workers=workers, out=tmp, progress=False)
        return reps / (time.perf_counter() - start) * 60


def plain_rate(design: Design, reps: int) -> float:
    from bayesdose.design.simulation import scenario_parameters
    from bayesdose.design.trials import simulate_trial

    arms = design.arms[0]
    model = design.analysis_model()
    settings = design.sampler_settings()
    start = time.perf_counter()
    for i in range(reps):
        data = simulate_trial(**scenario_parameters(design, arms), seed=i).data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.sample_inputs(model.inputs(data), {**settings, "random_seed": i,
                                                     "sampler": "pymc"},
                                progressbar=False, prior_draws=0, predictive=False)
    return reps / (time.perf_counter() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--plain-reps", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    full = Design.from_toml(DESIGN)
    design = Design(**{**full.__dict__, "arms": full.arms[:1]})
    fast = bayesdose_rate(design, args.reps, args.workers)
    plain = plain_rate(design, args.plain_reps)
    print(f"| bd.simulate, {args.workers} workers, {args.reps} replicates | {fast:.1f} / min |")
    print(f"| plain PyMC loop, {args.plain_reps} replicates | {plain:.2f} / min |")
    print(f"| ratio | {fast / plain:.1f}x |")
    np.testing.assert_array_less(0, [fast, plain])


if __name__ == "__main__":
    main()
