"""The result folder of an arm-level or combined model file (``[arm_data]``): the fit's
netCDF file, its tables as CSV, the per-study fits figure and a report (Markdown and
HTML) that says which estimand is which.

Every read-out is given for each population of studies (column ``study``): ``pooled``,
the mean of the between-study distribution; ``new``, a new study drawn from it; and each
study's own effect (see :mod:`bayesdose.results.arm_estimands`). The folder is written
inside a staging folder (:func:`bayesdose.files.output.staged_folder`), so it appears
whole or not at all.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.cli.fit_folder import RESULT_NAMES
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.output import check_folder, staged_folder, write_csv, write_text
from bayesdose.model.arm_spec import ArmSpec
from bayesdose.model.arms import ArmInputs, ArmModel
from bayesdose.model.combined import CombinedFit, CombinedModel
from bayesdose.model.spec import ModelSpec
from bayesdose.plots.backend import close_figure
from bayesdose.report.document import (
    FIGURE_DIR,
    Block,
    Figure,
    Report,
    Section,
    Table,
    Text,
    write_report_folder,
)
from bayesdose.report.document import write_report_files as write_report
from bayesdose.results.arm_estimands import population
from bayesdose.results.arm_fit import ArmFit
from bayesdose.results.arm_storage import save_arm_fit
from bayesdose.results.estimands import summarise

#: Every name :func:`write_arm_results` may write into a result folder (a run with
#: ``--force`` replaces them all, so no file of an earlier run is left beside the new
#: ones).
ARM_RESULT_NAMES = (
    "fit.nc", "studies.csv", "priors.csv", "parameters.csv", "diagnostics.csv",
    "parameter_diagnostics.csv", "effects.csv", "contrasts.csv", "ed50.csv",
    "minimum_effective_dose.csv", "time_course.csv", "between_study_sd.csv",
    "heterogeneity.csv", "predictive_check.csv", "study_fits.csv",
    "leave_one_study_out.csv", "figures", "report.md", "report.html", "summary.txt",
)

#: What each population of the ``study`` column is, for the report.
POPULATIONS = {
    "pooled": "the mean of the between-study distribution of the effect size (delta): the "
              "average study's effect",
    "new": "a new study drawn from the between-study distribution (delta + tau * z): the "
           "effect to expect in a study not yet run, wider than pooled by the between-study "
           "spread",
    "<study label>": "that study's own effect size (delta_s), shrunk towards the pooled "
                     "mean by the model",
}


# ---------------------------------------------------------------------- the command
def run_arm_analysis(spec: ModelSpec, data_path: Path | None, out: Path,
                     force: bool, overrides: dict[str, Any],
                     leave_one_study_out: bool = False) -> dict[str, Any]:
    """Fit a model file with ``[arm_data]`` and write its result folder.

    Everything that can be checked before sampling is (the data, the model, the
    estimands), so bad input stops the run before it samples or writes.

    Parameters
    ----------
    spec : ModelSpec
        The model file (:attr:`ModelSpec.arm` set).
    data_path : Path, optional
        The patient-level trial of a combined model (``--data``), instead of ``[data]``.
    out : Path
        The output folder.
    force : bool
        Write into a non-empty folder, replacing an earlier run's results.
    overrides : dict
        Sampler settings from the command line.
    leave_one_study_out : bool
        Refit without each study in turn (also asked for by
        ``arm_model.leave_one_study_out = true``).

    Returns
    -------
    dict
        ``files``, ``diagnostics``, ``summary`` (see :func:`write_arm_results`).

    Examples
    --------
    >>> spec = ModelSpec.from_toml("models/alogliptin_time_course.toml")  # doctest: +SKIP
    >>> run_arm_analysis(spec, None, Path("results"), False, {"draws": 200})  # doctest: +SKIP
    """
    arm = _arm(spec)
    if data_path is not None and not spec.data:
        raise SpecError("--data gives the patient-level trial of a combined model, but this "
                        "model file has [arm_data] and no [data]; name the arm-level CSV in "
                        "[arm_data] source.")
    arms = arm.load_data()
    trial = spec.load_data(data_path) if spec.data else None
    model = spec.build_arm_model()
    check_estimands(model, arms, trial, spec.estimands)
    folder = check_folder(out, force)
    fit = arm.fit(model, arms, trial, **{**spec.sampler, **overrides})
    loso = leave_one_study_out or arm.leave_one_study_out
    # a rerun with --force also removes the files of a patient-level run
    with staged_folder(folder, replaces=(*RESULT_NAMES, *ARM_RESULT_NAMES)) as stage:
        return write_arm_results(fit, stage, spec, leave_one_study_out=loso)


def _arm(spec: ModelSpec) -> ArmSpec:
    if spec.arm is None:
        raise SpecError("this model file has no [arm_data] section.")
    return spec.arm


def check_estimands(model: ArmModel | CombinedModel, arms: Any, trial: Any,
                    estimands: dict[str, Any]) -> None:
    """Check the ``[estimands]`` doses and times against the data, before sampling.

    Parameters
    ----------
    model : ArmModel or CombinedModel
    arms : ArmData
    trial : TrialData or None
    estimands : dict
        The ``[estimands]`` section.

    Raises
    ------
    SpecError
        Naming ``estimands.doses``, ``estimands.times`` or ``estimands.contrasts``.

    Examples
    --------
    >>> check_estimands(model, arms, None, {"doses": [7]})  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: estimands.doses: the free per-dose model has no curve ...
    """
    if isinstance(model, CombinedModel):
        inputs, shapes = model.inputs(trial, arms).arms, model.arm_model
    else:
        inputs, shapes = model.inputs(arms), model
    doses = list(estimands.get("doses") or [])
    pairs = estimands.get("contrasts") or []
    for position in range(max(len(inputs.agents), 1)):
        scale = inputs.agent_scale(position)
        for key, values in (("doses", doses),
                            ("contrasts", sorted({d for pair in pairs for d in pair}))):
            try:
                shapes.dose_shape.check_doses(np.asarray(values, dtype=float), scale)
            except BayesdoseError as exc:
                raise SpecError(f"estimands.{key}: {exc}") from exc
    times = estimands.get("times")
    if times and inputs.time_scale is None:
        raise SpecError("estimands.times: the arm-level data have one time point per study "
                        "(no time column); remove estimands.times.")
    if times:
        try:
            shapes.time_shape.check_times(np.asarray(times, dtype=float), inputs.time_scale)
        except BayesdoseError as exc:
            raise SpecError(f"estimands.times: {exc}") from exc


# ---------------------------------------------------------------------- read-outs
def readout_studies(fit: ArmFit) -> list[str]:
    """The populations every read-out is given for: ``"pooled"``, ``"new"``, then each
    study's label (a combined fit's patient-level trial first).

    Examples
    --------
    >>> readout_studies(fit)  # doctest: +SKIP
    ['pooled', 'new', '1', '2', ...]
    """
    posterior = fit.idata["posterior"]
    if "delta_study" in posterior and "study" in posterior["delta_study"].coords:
        labels = [str(s) for s in posterior["delta_study"].coords["study"].to_numpy()]
    else:
        labels = [str(s) for s in fit.inputs.studies]
    return ["pooled", "new", *labels]


def _agents(inputs: ArmInputs) -> list[str | None]:
    return list(inputs.agents) if inputs.several_agents else [None]


def _tested(inputs: ArmInputs, agent: str | None) -> list[float]:
    position = inputs.agents.index(agent) if agent is not None else 0
    return [float(d) for d in inputs.agent_scale(position).tested if d > 0]


def _own_arm(inputs: ArmInputs, study: str, agent: str | None) -> bool:
    """Whether ``study`` is a population with data of ``agent`` (always for pooled/new)."""
    if study in ("pooled", "new") or agent is None:
        return True
    table = inputs.table
    own = table[(table["study"] == study) & (table["agent"] == agent)]
    return len(own) > 0 or study not in set(table["study"])


def analysis_mcid(fit: ArmFit, estimands: dict[str, Any]) -> float | None:
    """The MCID of the read-outs: ``estimands.mcid``, else the outcome's ``mcid``.

    Examples
    --------
    >>> analysis_mcid(fit, {"mcid": 0.3})  # doctest: +SKIP
    0.3
    """
    if estimands.get("mcid") is not None:
        return float(estimands["mcid"])
    outcome = str(fit.inputs.table["outcome"].iloc[0])
    if fit.data is not None and outcome in fit.data.outcome_info:
        mcid = fit.data.info(outcome).mcid
        return None if mcid is None else float(mcid)
    return None


def _each(fit: ArmFit, make: Callable[[str, str | None], pd.DataFrame]) -> pd.DataFrame:
    """``make(study, agent)`` for every population and agent, stacked."""
    frames = [make(study, agent) for agent in _agents(fit.inputs)
              for study in readout_studies(fit) if _own_arm(fit.inputs, study, agent)]
    return pd.concat(frames, ignore_index=True)


def effect_table(fit: ArmFit, estimands: dict[str, Any]) -> pd.DataFrame:
    """Effects against placebo at the ``[estimands]`` doses (default: each agent's tested
    doses) and times (default: the last time point), for every population, with the
    probability of beating placebo by more than the MCID when there is one.

    Examples
    --------
    >>> effect_table(fit, {"doses": [25], "times": [26]})["study"].tolist()  # doctest: +SKIP
    ['pooled', 'new', '1', ...]
    """
    ci_prob = float(estimands.get("ci_prob", 0.95))
    times = estimands.get("times") or None
    mcid = analysis_mcid(fit, estimands)

    def make(study: str, agent: str | None) -> pd.DataFrame:
        doses = estimands.get("doses") or _tested(fit.inputs, agent)
        table = fit.effect(dose=doses, time=times, ci_prob=ci_prob, study=study, agent=agent)
        if mcid is not None:
            prob = fit.prob_beyond_mcid(dose=doses, mcid=mcid, time=times, study=study,
                                        agent=agent)
            table["mcid"] = mcid
            table["prob_beyond_mcid"] = prob["prob"].to_numpy()
        return table

    return _each(fit, make)


def contrast_table(fit: ArmFit, estimands: dict[str, Any]) -> pd.DataFrame | None:
    """The ``[estimands]`` contrasts (``[dose, reference]`` pairs) for every population,
    or None when none are asked for."""
    pairs = estimands.get("contrasts")
    if not pairs:
        return None
    ci_prob = float(estimands.get("ci_prob", 0.95))
    times = estimands.get("times") or None
    return _each(fit, lambda study, agent: pd.concat(
        [fit.contrast(dose=dose, reference=reference, time=times, ci_prob=ci_prob,
                      study=study, agent=agent) for dose, reference in pairs],
        ignore_index=True))


def dose_estimand_tables(fit: ArmFit, estimands: dict[str, Any]
                         ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """ED50 and (with an MCID) the minimum effective dose for every population; an
    estimand the fit cannot give is left out with a note saying why."""
    ci_prob = float(estimands.get("ci_prob", 0.95))
    times = estimands.get("times") or None
    mcid = analysis_mcid(fit, estimands)
    makers: dict[str, Callable[[str, str | None], pd.DataFrame]] = {
        "ed50.csv": lambda study, agent: fit.effective_dose(
            p=0.5, time=times, ci_prob=ci_prob, study=study, agent=agent)}
    if mcid is not None:
        makers["minimum_effective_dose.csv"] = lambda study, agent: fit.minimum_effective_dose(
            mcid=mcid, time=times, ci_prob=ci_prob, study=study, agent=agent)
    tables, notes = {}, []
    for name, make in makers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                tables[name] = _each(fit, make)
        except BayesdoseError as exc:
            notes.append(f"{name} not written: {exc}")
    if mcid is None:
        notes.append("minimum_effective_dose.csv not written: no MCID (give estimands.mcid or "
                     "the outcome's mcid in [arm_data.outcomes.<name>]).")
    return tables, notes


def time_course_table(fit: ArmFit, ci_prob: float = 0.95) -> pd.DataFrame | None:
    """The time course's derived quantities (for ``"emax"``: ET50, the time to half the
    plateau effect, and the plateau over the last time point's effect), per agent, with
    each quantity's unit; None
    with one time point per study or a course without derived quantities."""
    scale = fit.inputs.time_scale
    if scale is None:
        return None
    rows = []
    for agent in _agents(fit.inputs):
        pop = population(fit, "pooled", agent)
        for name, draws in fit.model.time_shape.derived(pop.time_params, scale).items():
            stats = summarise(np.asarray(draws, dtype=float)[None], ci_prob, "eti")
            unit = ("x the effect at the last time point" if name == "plateau"
                    else fit.data.time_unit if fit.data is not None else "time unit")
            rows.append({"agent": pop.agent, "quantity": name, "unit": unit,
                         **{k: float(np.asarray(v)) for k, v in stats.items()}})
    return pd.DataFrame(rows) if rows else None


def _check(fit: ArmFit, name: str, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """``fit.<name>(...)``, or None and the reason it is not available."""
    method = getattr(fit, name, None)
    if method is None:
        return None, f"{name} is not available for this fit."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return method(*args, **kwargs), None
    except BayesdoseError as exc:
        return None, f"{name}: {exc}"


# ---------------------------------------------------------------------- the report alone
def write_arm_report(fit: ArmFit, out: str | Path, spec: ModelSpec, force: bool = False
                     ) -> dict[str, Any]:
    """Write the report of a saved arm-level or combined fit (``bayesdose report``):
    ``report.html``, ``report.md`` and ``figures/*.png``, as :func:`write_arm_results`
    writes them but for leave-one-study-out (it refits; see ``bayesdose fit
    --leave-one-study-out``).

    The report is written into a staging folder and moved into place once complete; a
    non-empty folder is refused unless ``force`` (then the report's files in it are
    replaced and the rest is left alone).

    Parameters
    ----------
    fit : ArmFit or CombinedFit
        The fit (:func:`bayesdose.load_arm_fit`).
    out : str or Path
        The folder (created if needed).
    spec : ModelSpec
        The model file the fit was made from (its name, description and
        ``[estimands]``), as recorded in the fit file.
    force : bool
        Write into a non-empty folder.

    Returns
    -------
    dict
        ``folder``, ``files`` (names relative to the folder), ``figures`` (paths) and
        ``diagnostics_ok``.

    Raises
    ------
    SpecError
        When ``out`` is a file, or a non-empty folder without ``force``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> fit = bd.load_arm_fit("results/fit.nc")                   # doctest: +SKIP
    >>> write_arm_report(fit, "report", spec)["files"][:2]        # doctest: +SKIP
    ['report.html', 'report.md']
    """
    folder = check_folder(out, force)
    estimands = spec.estimands
    ci_prob = float(estimands.get("ci_prob", 0.95))
    diagnostics = fit.diagnostics()
    effects = effect_table(fit, estimands)
    _, notes = dose_estimand_tables(fit, estimands)
    checks = _checks(fit, ci_prob, False, notes)
    report = build_arm_report(fit, spec, diagnostics, effects, checks, notes, ci_prob)
    files = write_report_folder(report, folder)
    return {"folder": folder, "files": files,
            "figures": [folder / name for name in files if name.startswith(f"{FIGURE_DIR}/")],
            "diagnostics_ok": report.diagnostics_ok}


# ---------------------------------------------------------------------- the folder
def write_arm_results(fit: ArmFit, out: Path, spec: ModelSpec,
                      leave_one_study_out: bool = False) -> dict[str, Any]:
    """Write an arm-level or combined fit, its tables, figure and report into ``out``.

    Parameters
    ----------
    fit : ArmFit or CombinedFit
        The fit of ``spec``.
    out : Path
        An existing (staging) folder.
    spec : ModelSpec
        The model file (its ``[estimands]``; recorded in the fit file).
    leave_one_study_out : bool
        Also refit without each study in turn (``leave_one_study_out.csv``).

    Returns
    -------
    dict
        ``files`` (names written), ``diagnostics``, ``effects`` and ``summary``.

    Examples
    --------
    >>> write_arm_results(fit, Path("results"), spec)["files"][:2]  # doctest: +SKIP
    ['fit.nc', 'studies.csv']
    """
    estimands = spec.estimands
    ci_prob = float(estimands.get("ci_prob", 0.95))
    diagnostics = fit.diagnostics()
    save_arm_fit(fit, out / "fit.nc", spec=spec.to_dict())
    effects = effect_table(fit, estimands)
    tables: dict[str, pd.DataFrame | None] = {
        "studies.csv": fit.data.summary() if fit.data is not None else None,
        "priors.csv": prior_table(fit),
        "parameters.csv": fit.parameter_summary(ci_prob=ci_prob),
        "diagnostics.csv": diagnostics.table,
        "parameter_diagnostics.csv": diagnostics.parameters,
        "effects.csv": effects,
        "contrasts.csv": contrast_table(fit, estimands),
        "time_course.csv": time_course_table(fit, ci_prob),
    }
    estimand_tables, notes = dose_estimand_tables(fit, estimands)
    tables.update(estimand_tables)
    checks = _checks(fit, ci_prob, leave_one_study_out, notes)
    tables.update({name: value for name, value in checks.items() if name.endswith(".csv")})
    written = []
    for name, table in tables.items():
        if table is not None:
            write_csv(with_arm_units(table, fit, name), out / name)
            written.append(name)
    report = build_arm_report(fit, spec, diagnostics, effects, checks, notes, ci_prob)
    report_files = write_report(report, out)
    summary = format_arm_summary(fit, effects, diagnostics, checks, notes)
    write_text(summary + "\n", out / "summary.txt")
    return {"files": ["fit.nc", *written, *report_files, "summary.txt"],
            "diagnostics": diagnostics, "effects": effects, "summary": summary}


def _checks(fit: ArmFit, ci_prob: float, leave_one_study_out: bool,
            notes: list[str]) -> dict[str, Any]:
    """The model checks of the fit (:mod:`bayesdose.results.arm_checks`): the
    between-study SD and the heterogeneity with its reading (per agent), the per-arm
    predictive check, the per-study fits (table and figure) and, when asked for,
    leave-one-study-out (per agent: one refit per study and agent); what cannot be
    computed gets a note."""
    out: dict[str, Any] = {}
    if "tau" in fit.idata["posterior"]:
        out["between_study_sd.csv"] = fit.between_study_sd(ci_prob=ci_prob)
    tables, readings = [], []
    for agent in _agents(fit.inputs):
        found, note = _check(fit, "heterogeneity", ci_prob=ci_prob, agent=agent)
        if found is None:
            notes.append(str(note))
            continue
        tables.append(_with_agent(found.table, agent))
        readings.append(found.reading if agent is None else f"{agent}: {found.reading}")
    if tables:
        out["heterogeneity.csv"] = pd.concat(tables, ignore_index=True)
        out["heterogeneity_reading"] = " ".join(readings)
    for name, method in (("predictive_check.csv", "predictive_check"),
                         ("study_fits.csv", "study_fits")):
        table, note = _check(fit, method, ci_prob=ci_prob)
        if table is not None:
            out[name] = table
        else:
            notes.append(str(note))
    out["study_fits_figure"] = _study_fits_figure(fit, ci_prob, notes)
    if leave_one_study_out:
        tables = []
        for agent in _agents(fit.inputs):
            table, note = _check(fit, "leave_one_study_out", ci_prob=ci_prob, agent=agent)
            if table is None:
                notes.append(str(note))
            else:
                tables.append(_with_agent(table, agent))
        if tables:
            out["leave_one_study_out.csv"] = pd.concat(tables, ignore_index=True)
    return out


def _with_agent(table: pd.DataFrame, agent: str | None) -> pd.DataFrame:
    """``table`` with a leading ``agent`` column when the fit has several agents."""
    if agent is None or "agent" in table:
        return table
    return table.assign(agent=agent)[["agent", *table.columns]]


def _study_fits_figure(fit: ArmFit, ci_prob: float, notes: list[str]) -> Figure | None:
    """The per-study fits figure as PNG, or None (with a note) when it cannot be drawn."""
    try:
        from bayesdose.plots import arms as arm_plots  # matplotlib loads only to draw
    except ImportError:
        notes.append("figures/study_fits.png not drawn: the per-study figure is not "
                     "available in this version.")
        return None
    try:
        figure = arm_plots.plot_study_fits(fit, ci_prob=ci_prob)
    except BayesdoseError as exc:
        notes.append(f"figures/study_fits.png not drawn: {exc}")
        return None
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        close_figure(figure)
    return Figure(name="study_fits.png", png=buffer.getvalue(),
                  alt="Observed arm means with the model's fitted means, one panel per study",
                  caption=f"Per-study fits: each study's observed arm means (points, "
                          f"+- 1.96 SE) and the model's fitted means (lines, with their "
                          f"{ci_prob:.0%} credible band).")


def prior_table(fit: ArmFit) -> pd.DataFrame:
    """The priors in force with their reasons (a combined fit: the patient-level model's
    and the arm part's ``tau`` and ``arm_course``).

    Examples
    --------
    >>> prior_table(fit)["parameter"].tolist()[:2]  # doctest: +SKIP
    ['delta', 'log_et50']
    """
    if not isinstance(fit, CombinedFit):
        return fit.model.prior_table(fit.data)
    combined = fit.combined_model
    patient = combined.patient_model.prior_table(fit.trial_data)
    arm = fit.model.prior_table(fit.data)
    arm = arm[arm["parameter"].isin(["tau", "course"])].replace({"parameter": {
        "course": "arm_course"}})
    return pd.concat([patient, arm], ignore_index=True)


#: Tables whose values (not only a column) are doses, or times, in the user's units.
DOSE_VALUED = ("ed50.csv", "minimum_effective_dose.csv")
TIME_VALUED: tuple[str, ...] = ()


def with_arm_units(table: pd.DataFrame, fit: ArmFit, name: str = "") -> pd.DataFrame:
    """A copy of a table with ``dose_unit`` (where it has doses) and ``time_unit`` (where
    it has times) added, so that a table read on its own says its units.

    Parameters
    ----------
    table : pandas.DataFrame
    fit : ArmFit
        The fit, whose data name the units.
    name : str
        The table's file name (for dose- or time-valued tables).

    Returns
    -------
    pandas.DataFrame
    """
    out = table.copy()
    data = fit.data
    if data is None:
        return out
    if ({"dose", "reference"} & set(out.columns) or name in DOSE_VALUED) \
            and "dose_unit" not in out:
        out["dose_unit"] = data.dose_unit
    if ("time" in out.columns or name in TIME_VALUED) and "time_unit" not in out \
            and data.time_unit is not None:
        out["time_unit"] = data.time_unit
    return out


# ---------------------------------------------------------------------- words
def _model_line(fit: ArmFit) -> str:
    model = fit.model
    kind = "Combined (patient-level trial and arm-level studies)" if isinstance(
        fit, CombinedFit) else "Arm-level"
    effects = ("random study effects (the effect size varies between studies)"
               if model.study_effects == "random" else
               "fixed (common) study effects: one effect size for every study")
    return (f"{kind} model: dose shape {model.dose_shape.name!r}, time course "
            f"{model.time_shape.name!r}, {effects}, working correlation rho = "
            f"{model.rho:g}, scale SD {fit.inputs.scale_sd:.3g} outcome units "
            f"({fit.inputs.scale_source}).")


def population_notes(fit: ArmFit) -> list[str]:
    """Which estimand is which: one line per population of the ``study`` column."""
    if fit.model.study_effects == "fixed":
        lines = ["study = 'pooled': the effect size common to every study (fixed study "
                 "effects: one delta for all).",
                 "study = 'new' and each study's label: with fixed study effects every study "
                 "has that effect size, so their rows are the same numbers as 'pooled'."]
    else:
        lines = [f"study = {name!r}: {what}." for name, what in POPULATIONS.items()]
    if isinstance(fit, CombinedFit):
        lines.append(f"The patient-level trial is the study "
                     f"{fit.combined_model.trial_study!r}.")
    return lines


def _headline(fit: ArmFit, effects: pd.DataFrame) -> pd.DataFrame:
    """The pooled effects, and the new-study ones with random study effects."""
    keep = [c for c in ("study", "agent", "dose", "time", "mean", "ci_low", "ci_high",
                        "prob_beyond_mcid") if c in effects]
    shown = ["pooled", "new"] if fit.model.study_effects == "random" else ["pooled"]
    return effects[effects["study"].isin(shown)][keep].reset_index(drop=True)


def build_arm_report(fit: ArmFit, spec: ModelSpec, diagnostics: Any, effects: pd.DataFrame,
                     checks: dict[str, Any], notes: list[str], ci_prob: float) -> Report:
    """The report of an arm-level or combined fit: verdict, data, model, which estimand
    is which, effects, time course, heterogeneity, checks.

    Examples
    --------
    >>> build_arm_report(fit, spec, fit.diagnostics(), effects, {}, [], 0.95)  # doctest: +SKIP
    """
    ok = bool(diagnostics.ok)
    intro = [Text(spec.description or "Arm-level dose-response analysis."),
             Text(f"Diagnostics {'PASSED' if ok else 'FAILED'}.", "pass" if ok else "fail")]
    data = fit.data
    sections = [
        Section("data", "Data", [Text(repr(data))] if data is not None else []),
        Section("model", "Model", [Text(_model_line(fit))]),
        Section("estimands", "Which estimand is which",
                [Text(line) for line in population_notes(fit)]),
        Section("effects", "Effects against placebo", [
            Text(f"Outcome units; ci_low, ci_high: {ci_prob:.0%} equal-tailed interval; "
                 "every population is in effects.csv.", "note"),
            Table(_headline(fit, effects), "Pooled effects" if fit.model.study_effects == "fixed"
                  else "Pooled and new-study effects")]),
    ]
    course = time_course_table(fit, ci_prob)
    if course is not None:
        sections.append(Section("time_course", "Time course", [
            Text(f"Times in {data.time_unit if data is not None else 'the data’s unit'}.",
                 "note"), Table(course, "Derived quantities of the time course (pooled)")]))
    blocks: list[Block] = []
    if "between_study_sd.csv" in checks:
        blocks.append(Table(checks["between_study_sd.csv"], "Between-study SD (tau)"))
    if "heterogeneity_reading" in checks:
        blocks.append(Text(checks["heterogeneity_reading"]))
    if not blocks:
        blocks.append(Text("Fixed study effects: no between-study SD."))
    sections.append(Section("heterogeneity", "Heterogeneity between studies", blocks))
    check_blocks: list[Block] = [Text("Per-arm predictive check: predictive_check.csv; "
                                      "per-study fits: study_fits.csv.", "note")]
    if "predictive_check.csv" in checks:
        check_blocks.append(Text(predictive_check_reading(checks["predictive_check.csv"],
                                                          ci_prob)))
    if checks.get("study_fits_figure") is not None:
        check_blocks.append(checks["study_fits_figure"])
    if "leave_one_study_out.csv" in checks:
        check_blocks.append(Table(checks["leave_one_study_out.csv"],
                                  "Leave one study out", collapsed=True))
    sections.append(Section("checks", "Model checks", check_blocks))
    sections.append(Section("diagnostics", "Diagnostics", [Text(str(diagnostics), "pre")]))
    if notes:
        sections.append(Section("notes", "Notes", [Text(note, "note") for note in notes]))
    return Report(title=spec.name, intro=intro, sections=sections, diagnostics_ok=ok)


def format_arm_summary(fit: ArmFit, effects: pd.DataFrame, diagnostics: Any,
                       checks: dict[str, Any], notes: list[str]) -> str:
    """A plain-text summary: data, model, which estimand is which, the pooled and
    new-study effects, the between-study SD, the diagnostics."""
    lines = [repr(fit.data), _model_line(fit), *population_notes(fit),
             "Effects against placebo (outcome units; every population in effects.csv):",
             _headline(fit, effects).to_string(index=False, float_format=lambda v: f"{v:.3g}")]
    if "between_study_sd.csv" in checks:
        lines += ["Between-study SD (tau):",
                  checks["between_study_sd.csv"].to_string(index=False,
                                                           float_format=lambda v: f"{v:.3g}")]
    if "heterogeneity_reading" in checks:
        lines.append(checks["heterogeneity_reading"])
    return "\n".join([*lines, "", str(diagnostics), *notes])


def predictive_check_reading(check: pd.DataFrame, ci_prob: float) -> str:
    """The leave-one-out predictive check in words: the share of arm means outside their
    predictive intervals against the nominal share, and the means the model does not
    reproduce.

    Examples
    --------
    >>> check = pd.DataFrame({"study": ["A", "A", "B"], "arm": ["x", "y", "x"],
    ...                       "time": [4.0, 4.0, 4.0], "outside": [False, False, True],
    ...                       "p": [0.5, 0.3, 0.004]})
    >>> print(predictive_check_reading(check, 0.9))  # doctest: +NORMALIZE_WHITESPACE
    1 of 3 arm means (33%) fall outside their 90% leave-one-out predictive intervals (about
    10% expected of a model that fits). Means with p < 0.01: B x at 4.
    """
    kind = "leave-one-out" if check.attrs.get("kind", "loo") == "loo" else "posterior"
    outside = int(check["outside"].sum())
    text = (f"{outside} of {len(check)} arm means ({outside / len(check):.0%}) fall outside "
            f"their {ci_prob:.0%} {kind} predictive intervals (about {1 - ci_prob:.0%} "
            "expected of a model that fits).")
    if kind == "posterior":
        text = text.replace("about", "fewer than")
    flagged = check[check["p"] < 0.01]
    if len(flagged):
        names = ", ".join(f"{r.study} {r.arm} at {r.time:g}" for r in flagged.itertuples())
        text += f" Means with p < 0.01: {names}."
    if "pareto_k" in check and (check["pareto_k"] > 0.7).any():
        text += (f" {int((check['pareto_k'] > 0.7).sum())} means have Pareto k > 0.7: "
                 "their leave-one-out predictions are unreliable.")
    return text
