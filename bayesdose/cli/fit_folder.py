"""Result folders: a fit's netCDF file, its tables as CSV, its figures as PNG and its
report (HTML and Markdown).

Every file is written atomically. An existing, non-empty folder is refused unless the
caller asks to overwrite it, so earlier results are never lost by accident.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.errors import BayesdoseError
from bayesdose.files.output import write_csv, write_text
from bayesdose.model.spec import estimand_interval
from bayesdose.report.document import write_report_files
from bayesdose.report.fit_report import build_report
from bayesdose.results.dose_estimands import ByConstructionWarning
from bayesdose.results.estimands import CI_KINDS
from bayesdose.results.fit import DoseResponseFit

#: Every name :func:`write_results` may write into a result folder (a run with ``--force``
#: replaces them all, so no file of an earlier run is left beside the new ones).
RESULT_NAMES = (
    "fit.nc", "effect.csv", "contrasts.csv", "diagnostics.csv", "parameter_diagnostics.csv",
    "pareto_k.csv", "predictive_check.csv", "parameters.csv", "priors.csv", "missing.csv",
    "scales.csv", "ed50.csv", "minimum_effective_dose.csv", "prob_increasing.csv",
    "time_to_half_effect.csv", "report.html", "report.md", "figures", "summary.txt",
)


def interval_arguments(estimands: dict[str, Any]) -> dict[str, Any]:
    """The ``ci_prob`` and ``ci_kind`` of a spec's ``[estimands]`` (default 0.95, eti).

    Examples
    --------
    >>> interval_arguments({"ci_prob": 0.9})
    {'ci_prob': 0.9, 'ci_kind': 'eti'}
    """
    ci_prob, ci_kind = estimand_interval(estimands)
    return {"ci_prob": ci_prob, "ci_kind": ci_kind}


def contrast_table(fit: DoseResponseFit, estimands: dict[str, Any]) -> pd.DataFrame:
    """The contrasts a spec asks for (default: every tested dose against ``reference``,
    the lowest tested dose unless the spec names another)."""
    times = estimands.get("times") or None
    pairs = estimands.get("contrasts")
    if not pairs:
        reference = fit.posterior_view.reference_dose(estimands.get("reference"))
        pairs = [[d, reference] for d in fit.inputs.doses if d != reference]
    tables = [fit.contrast(dose=d, reference=r, time=times, **interval_arguments(estimands))
              for d, r in pairs]
    return pd.concat(tables, ignore_index=True)


def effect_table(fit: DoseResponseFit, estimands: dict[str, Any]) -> pd.DataFrame:
    """Dose effects at the spec's doses (default: tested) and times (default: visits),
    against the spec's ``reference`` (default: the lowest tested dose)."""
    return fit.effect(dose=estimands.get("doses") or None, time=estimands.get("times") or None,
                      reference=estimands.get("reference"), **interval_arguments(estimands))


def write_results(fit: DoseResponseFit, out: Path, estimands: dict[str, Any]) -> dict[str, Any]:
    """Write the fit, its tables and its figure into ``out``.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    out : Path
        An existing folder (see :func:`prepare_folder`).
    estimands : dict
        The ``[estimands]`` section of the spec.

    Returns
    -------
    dict
        ``files`` (names written), ``contrasts``, ``effects`` and ``diagnostics``.
    """

    diagnostics = fit.diagnostics()
    effects = effect_table(fit, estimands)
    contrasts = contrast_table(fit, estimands)
    fit.save(out / "fit.nc")
    tables = {
        "effect.csv": effects,
        "contrasts.csv": contrasts,
        "diagnostics.csv": diagnostics.table,
        "parameter_diagnostics.csv": diagnostics.parameters,
        "pareto_k.csv": diagnostics.observations,
        "predictive_check.csv": fit.predictive_check(),
        "parameters.csv": fit.parameter_summary(**interval_arguments(estimands)),
        "priors.csv": fit.prior_table(),
        "missing.csv": fit.data.missing(),
        "scales.csv": fit.inputs.scales.table(fit.outcomes),
    }
    estimand_tables, notes = dose_estimand_tables(fit, estimands)
    tables.update(estimand_tables)
    for name, table in tables.items():
        write_csv(with_units(table, fit, name), out / name)
    report_files = write_report_files(build_report(fit, estimands, diagnostics=diagnostics), out)
    summary = format_summary(fit, contrasts, diagnostics, notes)
    write_text(summary + "\n", out / "summary.txt")
    files = ["fit.nc", *tables, *report_files, "summary.txt"]
    return {"files": files, "contrasts": contrasts, "effects": effects,
            "diagnostics": diagnostics, "summary": summary}


#: Tables whose values (not only a column) are doses, or times, in the user's units.
DOSE_VALUED = ("ed50.csv", "minimum_effective_dose.csv")


TIME_VALUED = ("time_to_half_effect.csv",)


def with_units(table: pd.DataFrame, fit: DoseResponseFit, name: str = "") -> pd.DataFrame:
    """A copy of a result table with columns ``dose_unit`` and ``time_unit`` added.

    ``dose_unit`` is added to a table with a dose (or reference) column or dose-valued
    results, ``time_unit`` to one with a time column or time-valued results, so a table
    read on its own says its units.

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    fit : DoseResponseFit
        The fit, whose data name the units.
    name : str
        The table's file name (for dose- or time-valued tables without such a column).

    Returns
    -------
    pandas.DataFrame
    """
    out = table.copy()
    if ("dose" in out.columns or "reference" in out.columns or name in DOSE_VALUED) \
            and "dose_unit" not in out.columns:
        out["dose_unit"] = fit.data.dose_unit
    if ("time" in out.columns or name in TIME_VALUED) and "time_unit" not in out.columns:
        out["time_unit"] = fit.data.time_unit
    return out


def describe_columns(data: Any) -> str:
    """One line naming the data's columns and units, as the user gave them.

    Examples
    --------
    >>> import bayesdose as bd
    >>> describe_columns(bd.datasets.load_msc_trial())
    "Data columns: patient 'patient', dose 'dose' (million cells), time 'month' (months), \
outcome 'outcome', value 'value'."
    """
    columns = data.columns
    parts = [f"patient {columns['patient']!r}",
             f"dose {columns['dose']!r} ({data.dose_unit})",
             f"time {columns['time']!r} ({data.time_unit})"]
    if columns.get("outcomes"):
        parts.append("outcome columns " + ", ".join(map(repr, columns["outcomes"])))
    else:
        parts += [f"outcome {columns.get('outcome')!r}", f"value {columns.get('value')!r}"]
    return "Data columns: " + ", ".join(parts) + "."


def dose_estimand_tables(fit: DoseResponseFit,
                         estimands: dict[str, Any]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """ED50, minimum effective dose, monotonicity and onset tables at the spec's times.

    An estimand the fit cannot answer (ED50 of a non-monotone shape, a minimum effective
    dose without any MCID) is left out with a note saying why.

    Returns
    -------
    (dict of file name to DataFrame, list of str)
        The tables and the notes.
    """
    times = estimands.get("times") or [fit.inputs.visits[-1]]
    interval = interval_arguments(estimands)
    with_mcid = [o for o in fit.outcomes if fit.data.info(o).mcid is not None]
    makers = {
        "ed50.csv": lambda: fit.effective_dose(p=0.5, time=times, **interval),
        "minimum_effective_dose.csv": lambda: fit.minimum_effective_dose(
            time=times, outcome=with_mcid or None, **interval),
        "prob_increasing.csv": lambda: fit.prob_increasing(time=times, **interval),
        "time_to_half_effect.csv": lambda: fit.time_to_half_effect(**interval),
    }
    tables, notes = {}, []
    for name, make in makers.items():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ByConstructionWarning)
                tables[name] = make()
        except BayesdoseError as exc:
            notes.append(f"{name} not written: {exc}")
            continue
        notes += [f"{name}: {w.message}" for w in caught
                  if issubclass(w.category, ByConstructionWarning)]
        for w in caught:
            if not issubclass(w.category, ByConstructionWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return tables, notes


def format_summary(fit: DoseResponseFit, contrasts: pd.DataFrame, diagnostics,
                   notes: list[str] | None = None) -> str:
    """A plain-text summary: data, model, contrasts with probabilities, diagnostics."""
    kind, _, prob = contrasts.attrs.get("ci", "").partition(" ")
    interval = (f"{prob} {CI_KINDS.get(kind, '')} interval" if prob else "credible interval")
    untested = (contrasts.loc[contrasts["reference_status"] != "tested", "reference"].unique()
                if "reference_status" in contrasts else [])
    shown = contrasts[["outcome", "dose", "reference", "time", "mean", "ci_low", "ci_high",
                       "prob_gt_0", "prob_gt_mcid", "mcid"]].copy()
    lines = [
        repr(fit.data),
        describe_columns(fit.data),
        repr(fit.model),
        f"Effects are against {fit.versus()} unless a reference is given.",
        f"Contrasts (dose minus reference, outcome units; doses in {fit.data.dose_unit}, "
        f"times in {fit.data.time_unit}; ci_low, ci_high: {interval}; prob_gt_0 = "
        "P(dose better), prob_gt_mcid = P(better by more than the MCID)):",
        shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        *([f"Reference dose(s) {', '.join(f'{r:g}' for r in untested)} were not tested: "
           "those contrasts rest on the dose shape alone."] if len(untested) else []),
        "",
        repr(diagnostics),
        *(notes or []),
    ]
    missing = int(fit.data.missing()["n_missing"].sum())
    if missing:
        lines.insert(1, f"{missing} post-baseline values are missing; the likelihood leaves "
                        "them out (see missing.csv).")
    return "\n".join(lines)
