"""The ``safety/`` folder of a result folder: the adverse-event analysis of a model file's
``[safety]`` section, as CSV tables and a plain-text summary.

Every file is written atomically, and the folder is written inside the run's staging
folder (see :func:`bayesdose.files.output.staged_folder`), so it appears with the rest of
the results or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.files.output import write_csv, write_text
from bayesdose.model.safety_spec import SafetySpec
from bayesdose.results.estimands import CI_KINDS
from bayesdose.results.safety import SafetyCountFit, SafetyFit

#: The folder of a result folder that holds the safety results.
SAFETY_FOLDER = "safety"


#: What each table of the folder holds, in the order of the summary.
SAFETY_TABLES = {
    "observed.csv": "patients, events (and exposure) per dose (and event type), as observed",
    "event_probability.csv": "posterior probability of at least one event, by dose",
    "odds_ratio_per_doubling.csv": "odds ratio of an event for doubling the dose",
    "prob_exceeds.csv": "posterior probability that the event probability exceeds each "
                        "threshold, by dose",
    "event_rate.csv": "posterior event rate per unit exposure, by event type and dose",
    "rate_ratio.csv": "posterior rate ratio of each dose against the reference dose, by "
                      "event type",
    "parameters.csv": "posterior summary of the model's parameters",
    "priors.csv": "the priors in force, with their reasons",
    "diagnostics.csv": "sampler diagnostics with thresholds and a verdict",
    "parameter_diagnostics.csv": "R-hat, ESS and MCSE per parameter",
}


def write_safety_results(fit: SafetyFit | SafetyCountFit, out: Path, safety: SafetySpec,
                         estimands: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a safety fit's tables and summary into ``out`` (created if needed).

    Parameters
    ----------
    fit : SafetyFit or SafetyCountFit
        The fit of ``safety``.
    out : Path
        The folder to write (inside a staging folder).
    safety : SafetySpec
        The model file's ``[safety]`` section (doses, reference, thresholds, interval).
    estimands : mapping, optional
        The model file's ``[estimands]`` (for the default interval).

    Returns
    -------
    dict
        ``files`` (names written, relative to ``out``), ``diagnostics`` and ``summary``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import bayesdose as bd
    >>> safety = SafetySpec.from_table({"source": "embedded:msc_trial"})
    >>> data = safety.load_data()
    >>> fit = safety.fit(data, draws=200, tune=200, chains=2)  # doctest: +SKIP
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "safety"
    >>> write_safety_results(fit, out, safety)["files"][:2]  # doctest: +SKIP
    ['observed.csv', 'event_probability.csv']
    """
    out.mkdir(parents=True, exist_ok=True)
    diagnostics = fit.diagnostics()
    interval = safety.interval(estimands)
    tables = {"observed.csv": fit.data.by_dose(), **safety.tables(fit, estimands),
              "parameters.csv": fit.parameter_summary(**interval),
              "priors.csv": fit.model.prior_table(),
              "diagnostics.csv": diagnostics.table,
              "parameter_diagnostics.csv": diagnostics.parameters}
    for name, table in tables.items():
        write_csv(with_safety_units(table, fit), out / name)
    summary = format_safety_summary(fit, safety, tables, diagnostics, interval)
    write_text(summary + "\n", out / "summary.txt")
    return {"files": [*tables, "summary.txt"], "diagnostics": diagnostics, "summary": summary}


def with_safety_units(table: pd.DataFrame, fit: SafetyFit | SafetyCountFit) -> pd.DataFrame:
    """A copy of a table with ``dose_unit`` (where it has doses) and, for event rates,
    ``exposure_unit`` added, so that a table read on its own says its units.

    Examples
    --------
    >>> import arviz as az, numpy as np, bayesdose as bd
    >>> data = bd.SafetyData.from_frame(bd.datasets.load_msc_adverse_events(),
    ...                                 dose_unit="million cells")
    >>> fit = SafetyFit(data, az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
    ...                                                   "beta": np.ones((1, 4))}}))
    >>> with_safety_units(data.by_dose(), fit)["dose_unit"].unique().tolist()
    ['million cells']
    """
    out = table.copy()
    if ("dose" in out.columns or "reference" in out.columns) and "dose_unit" not in out:
        out["dose_unit"] = fit.data.dose_unit
    per_exposure = {"crude_rate", "total_exposure"} & set(out.columns)
    if isinstance(fit, SafetyCountFit) and per_exposure and "exposure_unit" not in out:
        out["exposure_unit"] = fit.data.exposure_unit
    return out


def _number(value: float) -> str:
    return f"{value:.3g}"


def format_safety_summary(fit: SafetyFit | SafetyCountFit, safety: SafetySpec,
                          tables: Mapping[str, pd.DataFrame], diagnostics: Any,
                          interval: Mapping[str, Any]) -> str:
    """A plain-text summary: data, model, the main read-out and the diagnostics.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> safety = SafetySpec.from_table({"source": "embedded:msc_trial"})
    >>> fit = SafetyFit(safety.load_data(), az.from_dict({"posterior": {
    ...     "alpha": np.zeros((1, 4)), "beta": np.ones((1, 4))}}))
    >>> text = format_safety_summary(fit, safety, safety.tables(fit), "Diagnostics ...",
    ...                              safety.interval())
    >>> print(text.splitlines()[0])
    Safety analysis: binary model (yes/no adverse event per patient), 12 patients, doses
    1, 10, 50 million cells.
    """
    ci = f"{interval['ci_prob']:.0%} {CI_KINDS.get(interval['ci_kind'], '')} interval"
    doses = ", ".join(f"{d:g}" for d in fit.data.doses)
    if isinstance(fit, SafetyCountFit):
        kind = (f"{safety.model_name} model (event counts over follow-up), "
                f"{len(fit.data.event_types)} event type(s)")
        ratio = tables["rate_ratio.csv"]
        shown = [
            f"Event rates per unit of exposure ({fit.data.exposure_unit}; mean, ci_low, "
            f"ci_high: {ci}):",
            tables["event_rate.csv"][["event_type", "dose", "mean", "ci_low", "ci_high",
                                      "crude_rate"]].to_string(index=False,
                                                               float_format=_number),
            f"Rate ratios against dose {ratio['reference'].iloc[0]:g} (prob_gt_1 = P(rate "
            "higher than at the reference)):",
            ratio[["event_type", "dose", "mean", "ci_low", "ci_high", "prob_gt_1"]].to_string(
                index=False, float_format=_number),
        ]
    else:
        kind = "binary model (yes/no adverse event per patient)"
        shown = [
            f"Probability of at least one adverse event (mean, ci_low, ci_high: {ci}):",
            tables["event_probability.csv"][["dose", "mean", "ci_low", "ci_high",
                                             "n_patients", "n_events"]].to_string(
                index=False, float_format=_number),
        ]
    head = (f"Safety analysis: {kind}, {fit.data.n_patients} patients, doses {doses} "
            f"{fit.data.dose_unit}.")
    return "\n".join([head, *shown, "", str(diagnostics)])
