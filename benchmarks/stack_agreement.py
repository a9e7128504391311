"""Do two installations of bayesdose give the same numbers within Monte Carlo error?

Run the tutorials' headline read-outs with several seeds under each installation (for
example the previous PyMC 5 / ArviZ 0.x stack and the current PyMC 6 / ArviZ 1 one), then
compare. Only the public API is used, so the script runs under either.

    python benchmarks/stack_agreement.py run --out new.json --seeds 1 2 3 4
    /path/to/other/python benchmarks/stack_agreement.py run --out old.json --seeds 1 2 3 4
    python benchmarks/stack_agreement.py compare old.json new.json

For each read-out (a posterior mean, or an HDI bound, or a probability) and stack, the
seeds give independent Monte Carlo replicates: their mean estimates the read-out and their
standard deviation / sqrt(n seeds) its Monte Carlo standard error. The comparison prints
z = (new - old) / sqrt(se_old^2 + se_new^2) per read-out; under agreement z is standard
normal (|z| > 3 flags a difference beyond Monte Carlo error).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Sampler settings of the tutorials' full (not fast) runs.
SAMPLING = {"draws": 1000, "tune": 1000, "chains": 4}


def quick_start(seed: int) -> dict[str, float]:
    """Tutorial 01: the default model on the embedded example's three PROMs."""
    import bayesdose as bd

    data = bd.datasets.load_msc_trial().select(["koos_pain", "koos_adl", "womac_pain"])
    fit = bd.DoseResponseModel().fit(data, random_seed=seed, progressbar=False, **SAMPLING)
    out = {}
    table = fit.contrast(dose=[10, 50], reference=1, time=12)
    for row in table.itertuples():
        key = f"quick_start {row.outcome} {row.dose:g} vs 1"
        out[f"{key} mean"] = float(row.mean)
        out[f"{key} prob_gt_mcid"] = float(row.prob_gt_mcid)
    for row in fit.effective_dose(p=0.5).itertuples():
        out[f"quick_start {row.outcome} ED50 median"] = float(row.median)
    return out


def real_data(seed: int) -> dict[str, float]:
    """Tutorial 05: the model files on DoseFinding's biom and IBScovars data."""
    import bayesdose as bd

    out = {}
    for name in ("biom_emax", "ibscovars_emax"):
        spec = bd.ModelSpec.from_toml(ROOT / "models" / f"{name}.toml")
        fit = bd.fit(spec, random_seed=seed, progressbar=False, **SAMPLING)
        # the highest-density interval, as the recorded stacks reported it
        table = fit.contrast(dose=[max(fit.inputs.doses)], reference=0, ci_kind="hdi")
        for row in table.itertuples():
            out[f"{name} {row.dose:g} vs 0 mean"] = float(row.mean)
            out[f"{name} {row.dose:g} vs 0 hdi_high"] = float(row.ci_high)
        for row in fit.expected_change(dose=[0, max(fit.inputs.doses)]).itertuples():
            out[f"{name} expected change at {row.dose:g}"] = float(row.mean)
    return out


def run(out: Path, seeds: list[int]) -> None:
    """Every read-out under every seed, written to ``out`` as JSON."""
    import pymc as pm

    import bayesdose as bd

    results: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    for seed in seeds:
        values = {**quick_start(seed), **real_data(seed)}
        results[str(seed)] = values
        print(f"seed {seed}: {len(values)} read-outs, {time.perf_counter() - start:.0f} s")
    out.write_text(json.dumps({"bayesdose": bd.__version__, "pymc": pm.__version__,
                               "seeds": results}, indent=1))


def compare(old: Path, new: Path) -> int:
    """Print z per read-out; return the number with |z| > 3."""
    first, second = json.loads(old.read_text()), json.loads(new.read_text())
    print(f"old: pymc {first['pymc']}; new: pymc {second['pymc']}")
    print(f"{'read-out':58s} {'old':>9s} {'new':>9s} {'se old':>7s} {'se new':>7s} {'z':>6s}")
    flagged = 0
    keys = list(next(iter(first["seeds"].values())))
    for key in keys:
        a = [run[key] for run in first["seeds"].values()]
        b = [run[key] for run in second["seeds"].values()]
        mean_a, se_a = _mean_se(a)
        mean_b, se_b = _mean_se(b)
        se = math.hypot(se_a, se_b)
        z = (mean_b - mean_a) / se if se > 0 else (0.0 if mean_a == mean_b else math.inf)
        flagged += abs(z) > 3
        print(f"{key:58s} {mean_a:9.4g} {mean_b:9.4g} {se_a:7.2g} {se_b:7.2g} {z:6.2f}")
    print(f"{flagged} of {len(keys)} read-outs differ by more than 3 Monte Carlo SEs")
    return flagged


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run")
    runner.add_argument("--out", type=Path, required=True)
    runner.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    comparer = sub.add_parser("compare")
    comparer.add_argument("old", type=Path)
    comparer.add_argument("new", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.seeds)
    else:
        raise SystemExit(1 if compare(args.old, args.new) else 0)


if __name__ == "__main__":
    main()
