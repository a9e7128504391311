"""False positives of a null outcome pooled with a real effect in one family.

Simulates trials in which a family of continuous outcomes holds one outcome with a real
dose effect and one with none (family "2 outcomes": real + null; family "3 outcomes":
two real + null), fits each trial three ways and reports, over replicates:

* ``none``: no pooling (every outcome alone);
* ``family_normal``: every outcome drawn from a family-level Normal (non-centred
  offsets; the family distribution of bayesdose 0.1);
* ``family``: each outcome's effect size follows its family with prior probability 1/2,
  else keeps its own prior (the default).

For the null outcome the false-positive rate, the share of replicates with
P(top dose better than the lowest) above 0.95 (and above 0.9), and the mean of that
probability; for the (first) real outcome the power, the share above 0.95. Each rate
comes with its Monte Carlo standard error sqrt(p (1 - p) / n) (for a mean, the SD over
replicates / sqrt(n)). Every method fits the same simulated trials, so the methods are
compared on paired data: "P minus P unpooled" is the mean, over replicates, of the null
outcome's probability under the method minus its probability fitted without pooling
(how far pooling pulls it), whose standard error is much smaller than that of a rate.

Run (about 9 minutes on two CPU cores with the defaults, longer when other work shares
them; prints a Markdown table and writes every replicate's numbers to ``--out``)::

    nice -n 10 python benchmarks/pooling_false_positives.py --reps 60

The design: doses 1, 10 and 50 with 8 patients each, visits at 1, 3, 6 and 12 months,
Emax x exponential onset (ED50 8, onset half-life 1.5 months), real effect
``--effect`` (0.8) outcome SDs at the top dose, residual SD 0.4, patient SD 0.5,
patient effects correlated 0.5 across outcomes. Sampling: nutpie, 2 chains of
``--tune`` + ``--draws`` (400 + 400), target acceptance 0.98 (the default for pooled
models).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesdose as bd
from bayesdose.design.trials import simulate_trial

METHODS = ("none", "family_normal", "family")
FAMILIES = {"2 outcomes": ("real", "null"), "3 outcomes": ("real", "real2", "null")}
DOSES = (1.0, 10.0, 50.0)
LAST_VISIT = 12.0


def simulate(outcomes: tuple[str, ...], effect: float, seed: int) -> bd.TrialData:
    """One trial: every outcome but ``null`` improves by ``effect`` at the top dose."""
    params = {"delta": 0.0, "log_ed50": float(np.log(8 / np.sqrt(50))),
              "log_t_half": float(np.log(1.5 / 12))}
    real = {o: {"delta": effect} for o in outcomes if o != "null"}
    return simulate_trial(doses=DOSES, n_per_arm=8, shape_params=params,
                          outcomes=list(outcomes), outcome_params=real,
                          families={o: "F" for o in outcomes}, patient_correlation=0.5,
                          sigma=0.4, patient_sd=0.5, seed=seed).data


def prob_better(model: bd.DoseResponseModel, data: bd.TrialData, draws: int, tune: int,
                seed: int) -> tuple[dict[str, float], int]:
    """P(top dose better than the lowest at the last visit) per outcome, and the number
    of divergent transitions."""
    inputs = model.inputs(data)
    settings = {"draws": draws, "tune": tune, "chains": 2, "random_seed": seed,
                "target_accept": model.default_target_accept(inputs), "sampler": "nutpie"}
    idata = model.sample_inputs(inputs, settings, cores=2, progressbar=False,
                                prior_draws=0, predictive=False)
    effect = idata["posterior"]["effect"].sel(time=LAST_VISIT)
    contrast = (effect.sel(dose=DOSES[-1]) - effect.sel(dose=DOSES[0])).values
    better = (contrast * inputs.scales.sign > 0).mean(axis=(0, 1))
    divergent = int(idata["sample_stats"]["diverging"].sum())
    return dict(zip(inputs.outcomes, better.tolist(), strict=True)), divergent


def run(reps: int, effect: float, draws: int, tune: int, seed: int) -> pd.DataFrame:
    """Every replicate's probabilities, per family and method."""
    rows = []
    for family, outcomes in FAMILIES.items():
        models = {m: bd.DoseResponseModel(pooling=m) for m in METHODS}  # compiled once
        for i in range(reps):
            data = simulate(outcomes, effect, seed + i)
            for method, model in models.items():
                start = time.perf_counter()
                prob, divergent = prob_better(model, data, draws, tune, seed + i)
                rows.append({"family": family, "replicate": i, "method": method,
                             "p_null": prob["null"], "p_real": prob["real"],
                             "divergent": divergent,
                             "seconds": time.perf_counter() - start})
            print(f"{family}: replicate {i + 1}/{reps}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def rate(x: pd.Series) -> str:
    p, n = float(x.mean()), len(x)
    return f"{p:.3f} ({np.sqrt(p * (1 - p) / n):.3f})"


def mean_se(x: pd.Series) -> str:
    return f"{x.mean():.3f} ({x.std(ddof=1) / np.sqrt(len(x)):.3f})"


def table(results: pd.DataFrame) -> pd.DataFrame:
    """Rates with their Monte Carlo SEs, per family and method."""
    out = []
    alone = results[results["method"] == "none"].set_index(["family", "replicate"])["p_null"]
    for (family, method), g in results.groupby(["family", "method"], sort=False):
        keyed = g.set_index(["family", "replicate"])["p_null"]
        shift = keyed - alone.reindex(keyed.index)  # paired: the same simulated trials
        out.append({
            "family": family, "method": method, "replicates": len(g),
            "null: P > 0.95": rate(g["p_null"] > 0.95),
            "null: P > 0.9": rate(g["p_null"] > 0.9),
            "null: mean P": mean_se(g["p_null"]),
            "null: P minus P unpooled": mean_se(shift),
            "real: P > 0.95 (power)": rate(g["p_real"] > 0.95),
            "fits with divergences": int((g["divergent"] > 0).sum()),
            "seconds per fit": f"{g['seconds'].mean():.1f}",
        })
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=60, help="replicates per family")
    parser.add_argument("--effect", type=float, default=0.8,
                        help="real effect at the top dose, outcome SDs")
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--out", type=Path, default=Path("pooling_false_positives.csv"),
                        help="CSV of every replicate's probabilities")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    results = run(args.reps, args.effect, args.draws, args.tune, args.seed)
    results.to_csv(args.out, index=False)
    print(table(results).to_markdown(index=False))
    print(f"\n{args.reps} replicates per family, effect {args.effect:g}, draws {args.draws}, "
          f"tune {args.tune}, seed {args.seed}; {time.perf_counter() - start:.0f} s in all; "
          f"every replicate in {args.out}")


if __name__ == "__main__":
    main()
