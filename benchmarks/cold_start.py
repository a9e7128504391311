"""Where a cold fit's seconds go: one outcome, the default model, step by step.

Usage: python benchmarks/cold_start.py [--draws N] [--write]

Runs the same script in three fresh Python processes, one after the other, on an empty
PyTensor compile folder made for the run (so the first process is a first fit on a new
machine, the second finds what the first compiled on disk, and the third the same again):

* import: ``import bayesdose`` (PyMC, PyTensor, ArviZ, xarray, ...);
* data + inputs: the embedded example's koos_pain arranged for the model;
* build: the PyMC model (``CompiledModel``);
* nutpie rewrite + link: nutpie's PyTensor graph of the log density and its gradient,
  rewritten and linked with numba (PyTensor caches the numba code on disk);
* nutpie wrapper: nutpie's C-callable wrapper of those functions, compiled by numba in
  every process;
* sampling: 4 chains x (1000 tune + 1000 draws), the sampler's own time;
* log likelihood, posterior predictive, prior (500 draws): compiling and evaluating each
  read-out function (``bayesdose.inference.compiled.READOUT_MODE``);
* effect table: ``fit.effect()``;
* total: from the import to the effect table (``model.fit(data)``, the package's defaults
  but for the draws);
* fit, same process, new model object: ``bd.DoseResponseModel().fit(data)`` again, which
  finds the compiled model the first fit left in the process.

``--write`` puts the table into benchmarks/README.md between ``<!-- cold_start.py:start -->``
and ``<!-- cold_start.py:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- cold_start.py:start -->", "<!-- cold_start.py:end -->"
STEPS = ["import", "data + inputs", "build", "nutpie rewrite + link", "nutpie wrapper",
         "sampling", "log likelihood", "posterior predictive", "prior (500 draws)",
         "effect table", "total", "fit, same process, new model object"]


def one_process(draws: int) -> dict[str, float]:
    """Time each step of a cold fit in this process."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    import bayesdose as bd
    seconds["import"] = time.perf_counter() - start

    import numba
    import nutpie.compile_pymc as nutpie_pymc

    from bayesdose.inference.compiled import CompiledModel
    from bayesdose.inference.trees import group

    def timed(name, function):
        def wrapper(*args, **kwargs):
            begun = time.perf_counter()
            result = function(*args, **kwargs)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - begun
            return result
        return wrapper

    nutpie_pymc._make_functions = timed("nutpie rewrite + link", nutpie_pymc._make_functions)
    plain_cfunc = numba.cfunc
    numba.cfunc = lambda *a, **k: timed("nutpie wrapper", plain_cfunc(*a, **k))

    for method, name in [("__init__", "build"), ("log_likelihood", "log likelihood"),
                         ("posterior_predictive", "posterior predictive"),
                         ("prior", "prior (500 draws)")]:
        setattr(CompiledModel, method, timed(name, getattr(CompiledModel, method)))

    begun = time.perf_counter()
    data = bd.datasets.load_msc_trial().select(["koos_pain"])
    model = bd.DoseResponseModel()
    model.inputs(data)
    seconds["data + inputs"] = time.perf_counter() - begun
    fit = model.fit(data, draws=draws, tune=draws, progressbar=False, random_seed=1)
    seconds["sampling"] = group(fit.idata, "posterior").attrs["sampling_time"]
    begun = time.perf_counter()
    fit.effect()
    seconds["effect table"] = time.perf_counter() - begun
    seconds["total"] = time.perf_counter() - start
    numba.cfunc = plain_cfunc
    begun = time.perf_counter()
    bd.DoseResponseModel().fit(data, draws=draws, tune=draws, progressbar=False,
                               random_seed=2).effect()
    seconds["fit, same process, new model object"] = time.perf_counter() - begun
    return seconds


def markdown(runs: list[dict[str, float]], draws: int) -> str:
    """The runs as a table, one column per process."""
    from importlib.metadata import version
    stack = ", ".join(f"{p} {version(p)}" for p in ("pymc", "pytensor", "nutpie", "numba"))
    header = (f"`python benchmarks/cold_start.py`, {datetime.date.today()}, "
              f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, {stack}; "
              f"4 chains x ({draws} + {draws}); an empty PyTensor compile folder before "
              "the first process.\n")
    lines = [header, "| step | " + " | ".join(
        ["first process (s)", "second process (s)", "third process (s)"][:len(runs)]) + " |",
        "|---|" + "---|" * len(runs)]
    for step in STEPS:
        lines.append(f"| {step} | " + " | ".join(f"{run[step]:.1f}" for run in runs) + " |")
    return "\n".join(lines)


def write_readme(table: str) -> None:
    """Put ``table`` between the markers in benchmarks/README.md (atomically)."""
    text = README.read_text()
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n## Cold start, step by step (`benchmarks/cold_start.py`)\n\n" \
            + block + "\n"
    temporary = README.with_suffix(".md.tmp")
    temporary.write_text(text)
    os.replace(temporary, README)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(one_process(arguments.draws)))
        return
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={folder}"}
        for _ in range(3):
            result = subprocess.run(
                [sys.executable, __file__, "--child", "--draws", str(arguments.draws)],
                env=environment, capture_output=True, text=True, check=True)
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    table = markdown(runs, arguments.draws)
    print(table)
    if arguments.write:
        write_readme(table)


if __name__ == "__main__":
    main()
