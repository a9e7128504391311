"""The result folder of ``bayesdose simulate``: operating characteristics as CSV and a
figure, every replicate's row, and a plain-text summary (each file written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.design.simulation import SimulationResult
from bayesdose.files.output import staged_folder, write_atomic, write_csv, write_text
from bayesdose.plots.backend import close_figure
from bayesdose.results.estimands import interval_text

#: The files :func:`write_simulation` writes (besides the replicates' folders).
SIMULATION_FILES = ("operating_characteristics.csv", "replicates.csv",
                    "operating_characteristics.png", "summary.txt")


def write_simulation(result: SimulationResult, out: Path) -> dict[str, Any]:
    """Write ``operating_characteristics.csv``, ``replicates.csv``,
    ``operating_characteristics.png`` and ``summary.txt`` into ``out``.

    The four files are written into a staging folder and moved into ``out`` together,
    so a failure midway leaves those of an earlier run as they were.

    Returns
    -------
    dict
        ``files`` (names written) and ``summary`` (text).
    """
    files = list(SIMULATION_FILES)
    with staged_folder(out, replaces=files) as stage:
        write_csv(result.table, stage / "operating_characteristics.csv")
        write_csv(result.replicates, stage / "replicates.csv")
        figure = result.plot()
        try:
            write_atomic(stage / "operating_characteristics.png",
                         lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
        finally:
            close_figure(figure)
        summary = format_simulation(result)
        write_text(summary + "\n", stage / "summary.txt")
    return {"files": files, "summary": summary}


def _label(metric: str, dose: float) -> str:
    if pd.isna(dose):
        return "prob_no_go" if metric == "prob_pick" else metric
    return f"{metric} @ dose {dose:g}"


def format_simulation(result: SimulationResult) -> str:
    """Operating characteristics side by side: one column per design, estimate (MCSE)."""
    table = result.table.copy()
    table["what"] = [_label(m, d) for m, d in zip(table["metric"], table["dose"], strict=True)]
    table["cell"] = [f"{e:.3g} ({s:.2g})" for e, s in zip(table["estimate"], table["mcse"],
                                                          strict=True)]
    wide = table.pivot_table(index="what", columns="design", values="cell", aggfunc="first",
                             sort=False)
    design = result.design
    reps = int(result.table["n"].max())
    rule = design.decision
    return "\n".join([
        f"{design.name}: {reps} replicates per design; estimate (Monte Carlo SE).",
        f"Decision: go if P(improvement over dose {rule.reference} > {rule.mcid:g}) >= "
        f"{rule.level:g} at time {rule.time:g}; pick the smallest such dose.",
        "Contrasts are improvements over the reference in outcome units (positive = "
        f"better); coverage is of the {interval_text(rule.ci_prob, rule.ci_kind)}.",
        wide.to_string(),
    ])
