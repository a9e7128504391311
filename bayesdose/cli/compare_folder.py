"""The result folder of ``bayesdose compare``: candidate fits, their comparison, the
model-averaged contrasts, the signal test and the candidates' figure.

Every file is written atomically; a non-empty folder is refused unless asked to overwrite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.output import prepare_folder, write_atomic, write_csv, write_text
from bayesdose.model.comparison import Comparison, compare
from bayesdose.model.spec import estimand_interval
from bayesdose.model.spec import fit as fit_spec
from bayesdose.plots.backend import close_figure
from bayesdose.plots.comparison import plot_candidates
from bayesdose.results.signal import FREE_SHAPE


def candidate_names(specs: list[Any]) -> list[str]:
    """Each model file's ``name``; two files with one name are an error."""
    names = [spec.name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpecError(f"model files share the name(s) {repeated}; give each candidate its "
                        "own name = \"...\" so its results can be told apart.")
    return names


def run_comparison(specs: list[Any], data_path: Path | None, out: Path, force: bool,
                   overrides: dict[str, Any], method: str = "stacking",
                   unit: str = "patient") -> dict[str, Any]:
    """Fit every candidate model file on the same data and write the comparison.

    Parameters
    ----------
    specs : list of ModelSpec
        The candidates (at least two).
    data_path : Path, optional
        CSV data for every candidate (default: each file's own source, which must then
        be the same data).
    out : Path
        Output folder.
    force : bool
        Overwrite the results in a non-empty folder.
    overrides : dict
        Sampler settings overriding the files' (the same for every candidate).
    method : str
        Weights used for the averages: ``"stacking"``, ``"BB-pseudo-BMA"`` or
        ``"pseudo-BMA"`` (``comparison.csv`` has the stacking and pseudo-BMA+ weights
        whatever the method).
    unit : str
        What cross-validation leaves out: ``"patient"`` (the default; refits where
        PSIS-LOO is unreliable, see :func:`bayesdose.compare`) or ``"observation"``.

    Returns
    -------
    dict
        ``comparison`` (:class:`Comparison`), ``files``, ``summary`` (text), ``folder``
        and ``ok`` (every candidate passed its diagnostics).
    """

    if len(specs) < 2:
        raise SpecError("compare needs at least two model files.")
    names = candidate_names(specs)
    data = [spec.load_data(data_path) for spec in specs]
    for spec, frame in zip(specs, data, strict=True):
        spec.build_model().prior_table(frame)  # every check that needs the data, first
    folder = prepare_folder(out, force)
    fits = {}
    for name, spec, frame in zip(names, specs, data, strict=True):
        fits[name] = fit_spec(spec, data=frame, **overrides)
        fits[name].save(folder / name / "fit.nc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare(fits, method=method, unit=unit)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    checks = {name: fit.diagnostics() for name, fit in fits.items()}
    estimands = specs[0].estimands
    tables = {"comparison.csv": comparison.table,
              "averaged_contrasts.csv": averaged_contrasts(comparison, estimands),
              "signal.csv": signal_table(fits, estimands),
              "diagnostics.csv": diagnostics_table(checks)}
    for file, table in tables.items():
        write_csv(table, folder / file)
    figure = plot_candidates(comparison, time=_last_time(estimands))
    write_atomic(folder / "candidates.png",
                 lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    close_figure(figure)
    summary = format_comparison(comparison, tables, notes)
    write_text(summary + "\n", folder / "summary.txt")
    files = [*(f"{n}/fit.nc" for n in names), *tables, "candidates.png", "summary.txt"]
    ok = all(check.ok for check in checks.values())
    return {"comparison": comparison, "files": files, "summary": summary, "folder": folder,
            "ok": ok}


def _last_time(estimands: dict[str, Any]) -> float | None:
    times = estimands.get("times")
    return float(times[-1]) if times else None


def averaged_contrasts(comparison: Comparison, estimands: dict[str, Any]) -> pd.DataFrame:
    """The first model file's contrasts, averaged over the candidates by their weights."""
    first = next(iter(comparison.fits.values()))
    pairs = estimands.get("contrasts") or [[max(first.inputs.doses), min(first.inputs.doses)]]
    times = estimands.get("times") or None
    ci_prob, ci_kind = estimand_interval(estimands)
    return pd.concat([comparison.average_contrast(dose=d, reference=r, time=times,
                                                  ci_prob=ci_prob, ci_kind=ci_kind)
                      for d, r in pairs], ignore_index=True)


def signal_table(fits: dict[str, Any], estimands: dict[str, Any]) -> pd.DataFrame:
    """The MCP-Mod signal test, once: on the per-dose estimates of the ``free`` candidate
    when there is one, else of a free refit of the first candidate (same data, time
    course, priors and seed; :meth:`~bayesdose.results.fit.DoseResponseFit.signal_test`).
    The test asks whether the response changes with dose at all, which does not depend on
    the candidate shapes being compared; column ``tested_on`` says what it ran on."""
    free = [name for name, fit in fits.items() if fit.model.dose_shape.name == FREE_SHAPE]
    name = free[0] if free else next(iter(fits))
    try:
        table = fits[name].signal_test(time=_last_time(estimands),
                                       refit_settings={"progressbar": False})
    except BayesdoseError as exc:
        table = pd.DataFrame({"note": [str(exc)]})
    table.insert(0, "model", name)
    return table


def diagnostics_table(checks: dict[str, Any]) -> pd.DataFrame:
    """Each candidate's diagnostics checks (``fit.diagnostics()`` by model name), one
    block of rows per model."""
    tables = []
    for name, check in checks.items():
        table = check.table.copy()
        table.insert(0, "model", name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def format_comparison(comparison: Comparison, tables: dict[str, pd.DataFrame],
                      notes: Sequence[str] = ()) -> str:
    """A plain-text summary: the ranking with weights, each candidate's verdict, and the
    comparison's warnings (``notes``)."""
    table = comparison.table
    columns = ["model", "elpd_loo", "se", "elpd_diff", "dse", "weight_stacking",
               "weight_pseudo_bma", "loo_kind", "n_refitted", "max_pareto_k"]
    shown = table[[c for c in columns if c in table.columns]]
    unit = str(table["unit"].iloc[0]) if "unit" in table.columns else "patient"
    left_out = ("leave-one-patient-out" if unit == "patient"
                else "leave-one-observation-out")
    diagnostics = tables["diagnostics.csv"]
    verdicts = []
    for name, rows in diagnostics.groupby("model", sort=False):
        counted = rows[rows["verdict"].astype(bool)]
        ok = bool(counted["passed"].astype(bool).all())
        verdicts.append(f"  {name}: diagnostics {'PASSED' if ok else 'FAILED'}")
    warned = [f"  {message}" for message in notes]
    return "\n".join([
        f"Candidates ranked by {left_out} expected log predictive density (higher is "
        f"better; standard errors over {unit}s; weights for averaging by "
        f"{comparison.method}):",
        shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        "",
        *verdicts,
        *(["", "Warnings:", *warned] if warned else []),
    ])
