"""Sampler backends on the embedded example: wall time, ESS per second, memory, refits.

Usage: python benchmarks/run.py [--quick] [--one-outcome] [--write]

Cases: the embedded MSC trial with one outcome (koos_pain, the default model: Emax x
exponential onset, 4 chains x (1000 tune + 1000 draws)) and with all twelve outcomes (the
settings of models/msc_all_outcomes.toml), each with bayesdose's default sampler
(``"auto"``, marked "(default)") and every other installed backend, and for one outcome
also the same model written by hand (a) in PyMC, sampled with ``pm.sample()``'s defaults
(4 chains, 1000 tune + 1000 draws, target_accept 0.8), and (b) in NumPyro, sampled with
NumPyro's NUTS defaults (target_accept 0.8, chains in parallel, one JAX CPU device per
chain).

Each case runs in its own Python process, so memory is per case:

* data -> summary, cold: the first fit in the process and its effect table
  (``fit.effect()``; ``az.summary`` of the effect for the plain model), including model
  building, compilation (PyTensor's on-disk compile cache as earlier runs left it),
  sampling, the pointwise log likelihood and, for bayesdose, the posterior predictive and
  500 prior draws;
* warm refit: the same again with the same model object and data in the same process,
  with the next seed (bayesdose keeps the compiled model: see bayesdose/compiled.py);
  for the NumPyro model, the second ``mcmc.run`` (JAX's compiled sampler cached);
* sampling: the sampler's own sampling time of the cold fit (``posterior.attrs``;
  with NumPyro and BlackJAX through PyMC it includes JAX's compilation of the sampler;
  for the hand-written NumPyro model, the warm ``mcmc.run``, whose draws are the ones
  measured);
* minimum bulk ESS over the shape parameters (delta, log_ed50, log_t_half; every outcome),
  and that ESS per second of sampling;
* peak memory: the maximum resident set size of the case's process, and of its largest
  child process (PyMC's NUTS samples each chain in a worker process; PyTensor's C
  compiler runs as one too, so a case without chain workers may still show one).

``--quick`` checks the script: 2 chains x (100 tune + 100 draws), one outcome only.
``--one-outcome`` runs the one-outcome cases only, with full draws.
``--write`` also puts the table into benchmarks/README.md between the markers
``<!-- run.py:start -->`` and ``<!-- run.py:end -->`` (added at the end when absent).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALL_OUTCOMES = ROOT / "models" / "msc_all_outcomes.toml"
README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- run.py:start -->", "<!-- run.py:end -->"
PLAIN = "plain PyMC"
NUMPYRO = "plain NumPyro"
QUICK = {"draws": 100, "tune": 100, "chains": 2}
FULL = {"draws": 1000, "tune": 1000, "chains": 4}
SHAPE_PARAMETERS = ["delta", "log_ed50", "log_t_half"]
COLUMNS = [
    ("outcomes", "outcomes"), ("sampler", "sampler"), ("settings", "chains x (tune + draws)"),
    ("cold_s", "data -> summary, cold (s)"), ("warm_s", "warm refit (s)"),
    ("sampling_s", "sampling (s)"), ("min_ess", "min bulk ESS (shape)"),
    ("ess_per_s", "ESS / s"), ("divergences", "divergences"),
    ("rss_mib", "peak RSS (MiB)"), ("worker_rss_mib", "largest child process RSS (MiB)"),
]


# ---------------------------------------------------------------------- one case
def plain_model(inputs: Any) -> Any:
    """The one-outcome model written directly in PyMC, on bayesdose's prepared data.

    change = sd * (f(dose) g(t) + course[t] + beta * baseline_std + u_patient) + error,
    Emax f, exponential onset g, non-centred patient effects, Normal residual (the
    Normal censored at the scale bounds has this likelihood here: no koos_pain change
    lies on a bound).
    """
    import numpy as np
    import pymc as pm

    sd = float(inputs.scales.sd[0] * inputs.scales.sign[0])
    dose_scale, time_scale = inputs.dose_scale, inputs.time_scale
    coords = {"patient": inputs.patients, "time": list(inputs.visits),
              "dose": list(inputs.doses)}
    with pm.Model(coords=coords) as model:
        delta = pm.Normal("delta", 0.0, 1.0)
        log_ed50 = pm.StudentT("log_ed50", nu=5, mu=0.0, sigma=1.73)
        log_t_half = pm.Normal("log_t_half", np.log(0.2), 1.0)
        course = pm.Normal("course", 0.0, 1.0, dims="time")
        beta = pm.Normal("beta_baseline", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        patient_sigma = pm.HalfNormal("patient_effect_sigma", 0.5)
        patient_offset = pm.Normal("patient_effect_offset", 0.0, 1.0, dims="patient")
        patient = pm.Deterministic("patient_effect", patient_sigma * patient_offset,
                                   dims="patient")
        ed50 = dose_scale.midpoint * pm.math.exp(log_ed50)
        top = dose_scale.reference
        t_half = time_scale.reference * pm.math.exp(log_t_half)

        def f(dose):
            return delta * dose / (ed50 + dose) * (ed50 + top) / top

        def g(elapsed):
            return 1.0 - pm.math.exp(-np.log(2.0) * elapsed / t_half)

        mean = (f(inputs.dose) * g(inputs.elapsed) + course[inputs.time_idx]
                + beta * inputs.baseline_std + patient[inputs.patient_idx])
        pm.Normal("change", mu=sd * mean, sigma=sd * sigma, observed=inputs.response)
        doses = np.asarray(inputs.doses, dtype=float)[:, None]
        visits = np.asarray(time_scale.visits, dtype=float)[None, :]
        pm.Deterministic("effect", sd * f(doses) * g(visits), dims=("dose", "time"))
    return model


def numpyro_model(inputs: Any) -> Any:
    """The same one-outcome model as :func:`plain_model`, written directly in NumPyro."""
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist

    sd = float(inputs.scales.sd[0] * inputs.scales.sign[0])
    midpoint = float(inputs.dose_scale.midpoint)
    top = float(inputs.dose_scale.reference)
    t_ref = float(inputs.time_scale.reference)
    dose, elapsed = jnp.asarray(inputs.dose, dtype=float), jnp.asarray(inputs.elapsed,
                                                                       dtype=float)
    time_idx, patient_idx = jnp.asarray(inputs.time_idx), jnp.asarray(inputs.patient_idx)
    baseline, response = jnp.asarray(inputs.baseline_std), jnp.asarray(inputs.response)
    n_time, n_patient = len(inputs.visits), len(inputs.patients)

    def model() -> None:
        delta = numpyro.sample("delta", dist.Normal(0.0, 1.0))
        log_ed50 = numpyro.sample("log_ed50", dist.StudentT(5.0, 0.0, 1.73))
        log_t_half = numpyro.sample("log_t_half", dist.Normal(np.log(0.2), 1.0))
        course = numpyro.sample("course", dist.Normal(0.0, 1.0).expand([n_time]))
        beta = numpyro.sample("beta_baseline", dist.Normal(0.0, 1.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        patient_sigma = numpyro.sample("patient_effect_sigma", dist.HalfNormal(0.5))
        offset = numpyro.sample("patient_effect_offset",
                                dist.Normal(0.0, 1.0).expand([n_patient]))
        ed50 = midpoint * jnp.exp(log_ed50)
        t_half = t_ref * jnp.exp(log_t_half)
        f = delta * dose / (ed50 + dose) * (ed50 + top) / top
        g = 1.0 - jnp.exp(-np.log(2.0) * elapsed / t_half)
        mean = (f * g + course[time_idx] + beta * baseline
                + patient_sigma * offset[patient_idx])
        numpyro.sample("change", dist.Normal(sd * mean, sd * sigma), obs=response)

    return model


def numpyro_sampler(model: Any, settings: dict[str, Any]) -> Any:
    """NumPyro's NUTS with its defaults (target_accept 0.8), chains in parallel on the
    host's devices."""
    from numpyro.infer import MCMC, NUTS

    return MCMC(NUTS(model), num_warmup=settings["tune"], num_samples=settings["draws"],
                num_chains=settings["chains"], chain_method="parallel", progress_bar=False)


def run_numpyro(mcmc: Any, seed: int) -> tuple[Any, float]:
    """Run ``mcmc`` (compiled by JAX on its first run, cached for the next); the draws
    and the seconds of the run."""
    import arviz as az
    import jax

    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed))
    jax.block_until_ready(mcmc.get_samples())
    return az.from_numpyro(mcmc), time.perf_counter() - start


def run_case(outcomes: str, sampler: str, quick: bool) -> dict[str, Any]:
    """Fit one case twice in this process and measure it (see the module docstring)."""
    import arviz as az
    import pymc as pm

    import bayesdose as bd
    from bayesdose.model.spec import ModelSpec

    if outcomes == "all":
        spec = ModelSpec.from_toml(ALL_OUTCOMES)
        data, model = spec.load_data(), spec.build_model()
        settings = {**FULL, **spec.sampler}
    else:
        data = bd.datasets.load_msc_trial().select([outcomes])
        model, settings = bd.DoseResponseModel(), {**FULL, "random_seed": 1}
    if quick:
        settings.update(QUICK)

    plain = None
    if sampler == NUMPYRO:
        return run_numpyro_case(model.inputs(data), settings, outcomes)

    def once(seed: int) -> tuple[float, Any, str]:
        nonlocal plain
        start = time.perf_counter()
        if sampler == PLAIN:
            plain = plain or plain_model(model.inputs(data))
            with plain:
                idata = pm.sample(draws=settings["draws"], tune=settings["tune"],
                                  chains=settings["chains"], random_seed=seed,
                                  progressbar=False)
            az.summary(idata, var_names=["effect"])
            return time.perf_counter() - start, idata, PLAIN
        fit = model.fit(data, sampler=sampler, progressbar=False,
                        **{**settings, "random_seed": seed})
        fit.effect()
        ran = fit.settings["sampler"] + (" (default)" if sampler == "auto" else "")
        return time.perf_counter() - start, fit.idata, ran

    cold, idata, ran = once(settings["random_seed"])
    warm, _, _ = once(settings["random_seed"] + 1)
    ess = az.ess(idata, var_names=SHAPE_PARAMETERS, method="bulk")
    min_ess = float(min(ess[name].min() for name in SHAPE_PARAMETERS))
    sampling = float(idata.posterior.attrs.get("sampling_time", float("nan")))
    return {
        "outcomes": outcomes if outcomes != "all" else "all 12",
        "sampler": ran,
        "settings": f"{settings['chains']} x ({settings['tune']} + {settings['draws']})",
        "cold_s": cold, "warm_s": warm, "sampling_s": sampling, "min_ess": min_ess,
        "ess_per_s": min_ess / sampling,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def run_numpyro_case(inputs: Any, settings: dict[str, Any], outcomes: str) -> dict[str, Any]:
    """The hand-written NumPyro model: cold (JAX compiles the sampler) and warm runs."""
    import arviz as az
    import numpyro

    numpyro.set_host_device_count(settings["chains"])
    start = time.perf_counter()
    mcmc = numpyro_sampler(numpyro_model(inputs), settings)
    idata, _ = run_numpyro(mcmc, settings["random_seed"])
    cold = time.perf_counter() - start
    idata, sampling = run_numpyro(mcmc, settings["random_seed"] + 1)
    ess = az.ess(idata, var_names=SHAPE_PARAMETERS, method="bulk")
    min_ess = float(min(ess[name].min() for name in SHAPE_PARAMETERS))
    return {
        "outcomes": outcomes, "sampler": NUMPYRO,
        "settings": f"{settings['chains']} x ({settings['tune']} + {settings['draws']})",
        "cold_s": cold, "warm_s": sampling, "sampling_s": sampling, "min_ess": min_ess,
        "ess_per_s": min_ess / sampling,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def ratios(rows: list[dict[str, Any]]) -> str:
    """The goals' ratios, from the one-outcome rows of this run."""
    one = {row["sampler"]: row for row in rows
           if row.get("outcomes") == "koos_pain" and "ess_per_s" in row}
    default = next((row for name, row in one.items() if name.endswith("(default)")), None)
    lines = []
    if default is None:
        return ""
    if NUMPYRO in one:
        lines.append(f"- one outcome, data -> summary, cold: bayesdose's default "
                     f"{default['cold_s']:.1f} s / the hand-written NumPyro model "
                     f"{one[NUMPYRO]['cold_s']:.1f} s = "
                     f"{default['cold_s'] / one[NUMPYRO]['cold_s']:.2f} (goal <= 1.0)")
    lines.append(f"- warm refit against cold fit, bayesdose's default: {default['cold_s']:.1f} s "
                 f"/ {default['warm_s']:.1f} s = {default['cold_s'] / default['warm_s']:.1f}x "
                 "(goal >= 20x)")
    if PLAIN in one:
        lines.append(f"- ESS per second, bayesdose's default ({default['sampler']}) against "
                     f"the hand-written PyMC model at pm.sample defaults: "
                     f"{default['ess_per_s']:.1f} / {one[PLAIN]['ess_per_s']:.1f} = "
                     f"{default['ess_per_s'] / one[PLAIN]['ess_per_s']:.1f}x (goal >= 5x)")
    if NUMPYRO in one:
        ours = default["sampling_s"] / default["min_ess"]
        theirs = one[NUMPYRO]["sampling_s"] / one[NUMPYRO]["min_ess"]
        lines.append(f"- sampling seconds per effective draw, bayesdose's default against the "
                     f"hand-written NumPyro model: {1000 * ours:.2f} ms / {1000 * theirs:.2f} ms "
                     f"= {ours / theirs:.2f}x")
    all_outcomes = [row for row in rows if row.get("outcomes") == "all 12"
                    and row["sampler"].endswith("(default)") and "cold_s" in row]
    if all_outcomes:
        lines.append(f"- all 12 outcomes, data -> summary, cold: {all_outcomes[0]['cold_s']:.1f} s "
                     "(goal <= 30 s)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- all cases
def cases(one_outcome: bool) -> list[tuple[str, str]]:
    """(outcomes, sampler) of every case to run (without the all-outcome ones when
    ``one_outcome``)."""
    from bayesdose.inference.backends import installed_backends, missing_packages, resolve_sampler

    backends = [backend for backend in installed_backends() if backend != resolve_sampler("auto")]
    out = [("koos_pain", "auto"), *[("koos_pain", backend) for backend in backends],
           ("koos_pain", PLAIN)]
    if not missing_packages("numpyro"):
        out.append(("koos_pain", NUMPYRO))
    if not one_outcome:
        out += [("all", "auto"), *[("all", backend) for backend in backends]]
    return out


def run_in_child(outcomes: str, sampler: str, quick: bool) -> dict[str, Any]:
    """Run one case in a fresh Python process; a failure becomes a row saying so."""
    command = [sys.executable, __file__, "--case", outcomes, sampler]
    command += ["--quick"] if quick else []
    print(f"running {outcomes} with {sampler} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"outcomes": outcomes, "sampler": f"{sampler} (failed: {tail[:120]})"}


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    """The results as a Markdown table, headed by the command line, date and versions."""
    names = ["pymc", "nutpie", "numpyro", "jax", "blackjax", "pytensor"]
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    lines = [f"`{command}`, {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, {', '.join(versions)}.", "",
             "| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = []
        for key, _ in COLUMNS:
            value = row.get(key, "")
            cells.append(f"{value:.0f}" if key in ("min_ess", "rss_mib", "worker_rss_mib")
                         and isinstance(value, float) else
                         f"{value:.1f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_readme(table: str, path: Path = README) -> None:
    """Put ``table`` between the markers in ``path``, adding them at its end if absent."""
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{table}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + (
            "## Sampler backends (`benchmarks/run.py`)\n\n" + block + "\n")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 chains x (100 tune + 100 draws), one outcome only")
    parser.add_argument("--one-outcome", action="store_true",
                        help="only the one-outcome cases (full draws)")
    parser.add_argument("--write", action="store_true",
                        help="also write the table into benchmarks/README.md")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    parser.add_argument("--case", nargs=2, metavar=("OUTCOMES", "SAMPLER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        warnings.simplefilter("ignore")
        for name in ("pymc", "pytensor", "arviz", "jax"):
            logging.getLogger(name).setLevel(logging.ERROR)
        print("RESULT " + json.dumps(run_case(*args.case, quick=args.quick)), flush=True)
        return
    rows = [run_in_child(outcomes, sampler, args.quick)
            for outcomes, sampler in cases(args.quick or args.one_outcome)]
    command = ("python benchmarks/run.py" + (" --quick" if args.quick else "")
               + (" --one-outcome" if args.one_outcome else ""))
    table = markdown(rows, command)
    goals = ratios(rows)
    table += ("\nThe goals' ratios, from this run:\n\n" + goals) if goals else ""
    print(table)
    if args.write:
        write_readme(table, args.readme)


if __name__ == "__main__":
    main()
