"""Result folders: a fit's netCDF file, its tables as CSV, its figures as PNG and its
report (HTML and Markdown).

Every file is written atomically. An existing, non-empty folder is refused unless the
caller asks to overwrite it, so earlier results are never lost by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import pandas as pd

from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.fit import DoseResponseFit
from bayesdose.io import write_csv, write_text


def prepare_folder(out: str | Path, force: bool) -> Path:
    """Create ``out``, refusing a non-empty existing folder unless ``force``.

    Examples
    --------
    >>> import tempfile
    >>> prepare_folder(tempfile.mkdtemp(), force=False).is_dir()
    True
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {str(out)!r} is a file, not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SpecError(f"output folder {str(out)!r} is not empty; choose a new folder or "
                        "pass --force to overwrite the results in it.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def contrast_table(fit: DoseResponseFit, estimands: dict[str, Any]) -> pd.DataFrame:
    """The contrasts a spec asks for (default: every tested dose against the lowest)."""
    times = estimands.get("times") or None
    hdi_prob = estimands.get("hdi_prob", 0.95)
    pairs = estimands.get("contrasts")
    if not pairs:
        reference = estimands.get("reference", min(fit.inputs.doses))
        pairs = [[d, reference] for d in fit.inputs.doses if d != reference]
    tables = [fit.contrast(dose=d, reference=r, time=times, hdi_prob=hdi_prob) for d, r in pairs]
    return pd.concat(tables, ignore_index=True)


def effect_table(fit: DoseResponseFit, estimands: dict[str, Any]) -> pd.DataFrame:
    """Dose effects at the spec's doses (default: tested) and times (default: visits)."""
    return fit.effect(dose=estimands.get("doses") or None, time=estimands.get("times") or None,
                      hdi_prob=estimands.get("hdi_prob", 0.95))


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
    from bayesdose.report import build_report, write_report_files

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
        "parameters.csv": fit.parameter_summary(estimands.get("hdi_prob", 0.95)),
        "priors.csv": fit.prior_table(),
        "missing.csv": fit.data.missing(),
        "scales.csv": fit.inputs.scales.table(fit.outcomes),
    }
    estimand_tables, notes = dose_estimand_tables(fit, estimands)
    tables.update(estimand_tables)
    for name, table in tables.items():
        write_csv(table, out / name)
    report_files = write_report_files(build_report(fit, estimands, diagnostics=diagnostics), out)
    summary = format_summary(fit, contrasts, diagnostics, notes)
    write_text(summary + "\n", out / "summary.txt")
    files = ["fit.nc", *tables, *report_files, "summary.txt"]
    return {"files": files, "contrasts": contrasts, "effects": effects,
            "diagnostics": diagnostics, "summary": summary}


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
    prob = estimands.get("hdi_prob", 0.95)
    with_mcid = [o for o in fit.outcomes if fit.data.info(o).mcid is not None]
    makers = {
        "ed50.csv": lambda: fit.effective_dose(p=0.5, time=times, hdi_prob=prob),
        "minimum_effective_dose.csv": lambda: fit.minimum_effective_dose(
            time=times, outcome=with_mcid or None, hdi_prob=prob),
        "prob_increasing.csv": lambda: fit.prob_increasing(time=times, hdi_prob=prob),
        "time_to_half_effect.csv": lambda: fit.time_to_half_effect(hdi_prob=prob),
    }
    tables, notes = {}, []
    for name, make in makers.items():
        try:
            tables[name] = make()
        except BayesdoseError as exc:
            notes.append(f"{name} not written: {exc}")
    return tables, notes


def format_summary(fit: DoseResponseFit, contrasts: pd.DataFrame, diagnostics,
                   notes: list[str] | None = None) -> str:
    """A plain-text summary: data, model, contrasts with probabilities, diagnostics."""
    shown = contrasts[["outcome", "dose", "reference", "time", "mean", "hdi_low", "hdi_high",
                       "prob_gt_0", "prob_gt_mcid", "mcid"]].copy()
    lines = [
        repr(fit.data),
        repr(fit.model),
        f"Effects are against {fit.versus()}.",
        "Contrasts (dose minus reference, outcome units; prob_gt_0 = P(dose better), "
        "prob_gt_mcid = P(better by more than the MCID)):",
        shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        "",
        repr(diagnostics),
        *(notes or []),
    ]
    missing = int(fit.data.missing()["n_missing"].sum())
    if missing:
        lines.insert(1, f"{missing} post-baseline values are missing; the likelihood leaves "
                        "them out (see missing.csv).")
    return "\n".join(lines)
