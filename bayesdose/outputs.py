"""Result folders: a fit's netCDF file, its tables as CSV and its figure as PNG.

Every file is written atomically. An existing, non-empty folder is refused unless the
caller asks to overwrite it, so earlier results are never lost by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from bayesdose.errors import SpecError
from bayesdose.fit import DoseResponseFit
from bayesdose.io import write_atomic, write_csv, write_text


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
    diagnostics = fit.diagnostics()
    effects = effect_table(fit, estimands)
    contrasts = contrast_table(fit, estimands)
    fit.save(out / "fit.nc")
    tables = {
        "effect.csv": effects,
        "contrasts.csv": contrasts,
        "diagnostics.csv": diagnostics.table,
        "parameter_diagnostics.csv": diagnostics.parameters,
        "parameters.csv": fit.parameter_summary(estimands.get("hdi_prob", 0.95)),
        "priors.csv": fit.prior_table(),
        "missing.csv": fit.data.missing(),
        "scales.csv": fit.inputs.scales.table(fit.outcomes),
    }
    for name, table in tables.items():
        write_csv(table, out / name)
    figure = fit.plot_dose_response(time=estimands.get("times") or None)
    write_atomic(out / "dose_response.png",
                 lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    summary = format_summary(fit, contrasts, diagnostics)
    write_text(summary + "\n", out / "summary.txt")
    files = ["fit.nc", *tables, "dose_response.png", "summary.txt"]
    return {"files": files, "contrasts": contrasts, "effects": effects,
            "diagnostics": diagnostics, "summary": summary}


def format_summary(fit: DoseResponseFit, contrasts: pd.DataFrame, diagnostics) -> str:
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
    ]
    missing = int(fit.data.missing()["n_missing"].sum())
    if missing:
        lines.insert(1, f"{missing} post-baseline values are missing; the likelihood leaves "
                        "them out (see missing.csv).")
    return "\n".join(lines)
