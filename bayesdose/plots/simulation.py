"""Figure of simulated designs: decision probabilities and contrast accuracy side by side.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_operating_characteristics(table: pd.DataFrame):
    """Decision probabilities and contrast accuracy of each design, side by side.

    Left: P(go), P(correct choice) and P(picking each dose) with +/- 2 Monte Carlo SE;
    right: coverage of the contrast intervals per dose.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_operating_characteristics(result.table)   # doctest: +SKIP
    """

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    designs = list(dict.fromkeys(table["design"]))
    width = 0.8 / max(len(designs), 1)
    decision = table[table["metric"].isin(["prob_go", "prob_correct", "prob_pick"])]
    rows = sorted(decision.itertuples(), key=_label_order)
    labels = list(dict.fromkeys(_label(r) for r in rows))
    doses = sorted(table.loc[table["metric"] == "coverage", "dose"].dropna().unique())
    positions = {dose: k for k, dose in enumerate(doses)}
    for i, name in enumerate(designs):
        part = decision[decision["design"] == name]
        values = {_label(r): (r.estimate, r.mcse) for r in part.itertuples()}
        x = np.arange(len(labels)) + i * width
        est = [values.get(lab, (np.nan, 0))[0] for lab in labels]
        err = [2 * values.get(lab, (np.nan, 0))[1] for lab in labels]
        left.bar(x, est, width, yerr=err, label=name, capsize=2)
        cover = table[(table["design"] == name) & (table["metric"] == "coverage")]
        cover = cover.sort_values("dose")
        right.errorbar(cover["dose"].map(positions), cover["estimate"],
                       yerr=2 * cover["mcse"], fmt="o-", capsize=3, label=name)
    left.set_xticks(np.arange(len(labels)) + width * (len(designs) - 1) / 2, labels,
                    rotation=30, ha="right")
    left.set_ylim(0, 1)
    left.set_ylabel("probability")
    left.set_title("Decisions")
    left.legend(title="design")
    right.set_xticks(range(len(doses)), [f"{dose:g}" for dose in doses])
    right.set_ylim(0, 1.05)
    right.set_xlabel("dose")
    right.set_ylabel("coverage of the contrast interval")
    right.set_title("Interval coverage")
    return fig


def _label_order(row: Any) -> tuple[int, float]:
    """go, correct, then pick each dose by increasing dose, then pick none."""
    if row.metric == "prob_pick":
        return (3, 0.0) if np.isnan(row.dose) else (2, float(row.dose))
    return ({"prob_go": 0, "prob_correct": 1}[row.metric], 0.0)


def _label(row: Any) -> str:
    if row.metric == "prob_pick":
        return "pick none" if np.isnan(row.dose) else f"pick {row.dose:g}"
    return {"prob_go": "go", "prob_correct": "correct"}[row.metric]
