"""Reports of a fit: one self-contained HTML page and the same content in Markdown.

:func:`build_report` reads everything a reviewer needs from a
:class:`~bayesdose.results.fit.DoseResponseFit`: the diagnostics verdict with its checks and
advice, the data (patients per dose, visits, outcomes, missing values), the dose effects
and contrasts, the dose estimands (ED50, minimum effective dose, monotonicity, onset), the
figures, the model with its formulas and priors, the sampler settings with the seed and
the software versions stored in the fit. :meth:`Report.to_html` renders one HTML page with
the figures embedded as PNG (no script, no external resource; every string that comes
from the user is escaped); :meth:`Report.to_markdown` renders Markdown that links the
figures as PNG files. :func:`write_report` writes both, and the figures, atomically.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import pandas as pd

from bayesdose.components.residuals import ar1_lag
from bayesdose.errors import BayesdoseError
from bayesdose.files.output import check_folder
from bayesdose.model.spec import estimand_interval
from bayesdose.plots.fits import (
    plot_contrast_forest,
    plot_dose_response,
    plot_predictive_check,
    plot_time_course,
    plot_trace,
)
from bayesdose.report.document import (
    FIGURE_DIR,
    Block,
    Figure,
    Report,
    Section,
    Table,
    Text,
    format_number,
    is_number,
    write_report_folder,
)
from bayesdose.results.dose_estimands import ByConstructionWarning
from bayesdose.results.estimands import interval_text
from bayesdose.results.psis import PARETO_K_MAX
from bayesdose.results.storage import read_config

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure as MplFigure

    from bayesdose.results.fit import DoseResponseFit


MODEL_EQUATION = (
    "m_ikt = f_k(dose_i) * g_k(t) + h_k(t) + beta_k * (baseline_ik - mean_k) / s_k + u_ik\n"
    "observed: sign_k * s_k * m_ikt (change from baseline, log ratio or grade)"
)


POOLING_TEXT = {
    "family": "each outcome's effect size (delta) follows its family's Normal (estimated "
              "mean and SD) with prior probability 1/2, else keeps its own prior (a "
              "two-component mixture, so that one null member can stay null); the other "
              "dose-shape parameters share a family-level Normal (non-centred); outcomes "
              "alone in their family are not pooled",
    "family_normal": "outcomes of one family share their dose-shape parameters through a "
                     "family-level Normal with estimated SD (non-centred); outcomes alone "
                     "in their family are not pooled",
    "none": "every outcome has its own parameters",
}


PATIENT_TEXT = {
    "factor": "one patient factor shared by all outcomes (non-negative loading per "
              "outcome) plus each outcome's own patient effect",
    "lkj": "patient effects correlated across outcomes, LKJ prior on the correlation "
           "matrix (non-centred through its Cholesky factor)",
    "none": "independent patient effects per outcome",
    "off": "no patient effects (patient_effects=False): a patient's deviations are left "
           "to the residual",
}


RESIDUAL_TEXT = {
    ("common", "none"): "one residual SD per outcome (sigma); a patient's residuals "
                        "independent given the mean",
    ("per_visit", "none"): "one residual SD per outcome and visit (sigma[outcome, time]); "
                           "a patient's residuals independent given the mean",
    ("common", "ar1"): "one residual SD per outcome (sigma); a patient's residuals "
                       "correlated over time, corr = rho ** (|t_i - t_j| / lag) "
                       "(continuous-time AR(1) within patient and outcome)",
    ("per_visit", "ar1"): "one residual SD per outcome and visit (sigma[outcome, time]); "
                          "a patient's residuals correlated over time, corr = rho ** "
                          "(|t_i - t_j| / lag) (continuous-time AR(1) within patient and "
                          "outcome)",
}


SLOPE_TEXT = ("+ v_ik * t / t_last: each patient's own change by the last visit t_last "
              "beyond u_ik (patient_slope), non-centred Normal(0, patient_slope_sd) per "
              "outcome, independent of u and across outcomes")


ANALYSIS_TEXT = {
    "change": "change from baseline, the centred baseline a covariate (every patient has "
              "a baseline)",
    "clda": "constrained longitudinal analysis: every observed value, baselines included, "
            "is a response; the baseline mean is common to every dose",
}


# ---------------------------------------------------------------------- building
def report_estimands(fit: DoseResponseFit,
                     estimands: dict[str, Any] | None = None) -> dict[str, Any]:
    """The estimands a report shows: given ones, else the fit's model file's, else defaults.

    Defaults: the last visit, the highest against the lowest tested dose (every tested
    dose against ``reference`` when only a reference is given), effects against the
    lowest tested dose, 95% equal-tailed intervals and the tested doses.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    estimands : dict, optional
        An ``[estimands]`` section (keys ``times``, ``contrasts``, ``reference``,
        ``ci_prob``, ``ci_kind``, ``doses``; an older ``hdi_prob`` is read as ``ci_prob``
        with ``ci_kind = "hdi"``); default: the one recorded in the fit, if any.

    Returns
    -------
    dict
        Keys times, contrasts (``[dose, reference]`` pairs), reference (of the effect
        table; None for the lowest tested dose), ci_prob, ci_kind, doses (None for the
        tested doses).

    Examples
    --------
    >>> report_estimands(fit)["contrasts"]     # doctest: +SKIP
    [[50.0, 1.0]]
    """

    if estimands is None:
        spec = read_config(fit.idata).get("spec") or {}
        estimands = spec.get("estimands") or {}
    doses = list(fit.inputs.doses)
    reference = estimands.get("reference")
    pairs = estimands.get("contrasts")
    if not pairs:
        if reference is None:
            pairs = [[max(doses), min(doses)]]
        else:
            pairs = [[d, reference] for d in doses if d != float(reference)]
    ci_prob, ci_kind = estimand_interval(estimands)
    return {
        "times": [float(t) for t in (estimands.get("times") or [fit.inputs.visits[-1]])],
        "contrasts": [[float(d), float(r)] for d, r in pairs],
        "reference": None if reference is None else float(reference),
        "ci_prob": ci_prob,
        "ci_kind": ci_kind,
        "doses": [float(d) for d in estimands["doses"]] if estimands.get("doses") else None,
    }


def _png(figure: MplFigure) -> bytes:

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _figure(name: str, make: Callable[[], MplFigure], alt: str, caption: str) -> Block:
    """A figure, or a note saying why this fit cannot draw it."""
    try:
        png = _png(make())
    except BayesdoseError as exc:
        return Text(f"Figure not drawn ({name}): {exc}", "note")
    return Figure(name=name, png=png, alt=alt, caption=caption)


SHARED_COLUMNS = ("definition", "method", "doses_searched", "note")


def _estimand_blocks(make: Callable[[], pd.DataFrame], caption: str) -> list[Block]:
    """A dose-estimand table, with the columns that are the same in every row (its
    definition, method and note) stated once above it; a note when the fit cannot
    answer."""
    try:
        with warnings.catch_warnings():
            # said once above the table, from its note column
            warnings.simplefilter("ignore", ByConstructionWarning)
            frame = make()
    except BayesdoseError as exc:
        return [Text(f"{caption}: not available for this fit ({exc})", "note")]
    notes = []
    for column in SHARED_COLUMNS:
        if column in frame and frame[column].nunique(dropna=False) == 1:
            notes.append(f"{column.replace('_', ' ')}: {frame[column].iloc[0]}")
            frame = frame.drop(columns=column)
    blocks: list[Block] = [Text("; ".join(notes) + ".", "note")] if notes else []
    return [*blocks, Table(frame.reset_index(drop=True), caption)]


def _interval(est: dict[str, Any]) -> dict[str, Any]:
    """The interval arguments of the read-outs, from the report's estimands."""
    return {"ci_prob": est["ci_prob"], "ci_kind": est["ci_kind"]}


def _model_name(fit: DoseResponseFit) -> str:
    return f"{fit.model.dose_shape.name} x {fit.model.time_shape.name}"


def _intro(fit: DoseResponseFit, spec: dict[str, Any], diagnostics_ok: bool,
           failed: list[str], source: str | None) -> list[Text]:
    data = fit.data
    blocks = []
    if spec.get("description"):
        blocks.append(Text(str(spec["description"])))
    blocks.append(Text(
        f"Model: {fit.model.dose_shape.name} dose shape x {fit.model.time_shape.name} time "
        f"course, fitted to {len(data.patients)} patients at doses "
        f"{', '.join(format_number(d) for d in data.doses)} {data.dose_unit} with visits "
        f"{', '.join(format_number(t) for t in data.visits)} {data.time_unit}; outcomes: "
        f"{', '.join(fit.outcomes)}. Dose effects are against {fit.versus()} unless "
        "stated otherwise."))
    settings = fit.settings
    blocks.append(Text(
        f"Posterior: {settings.get('chains')} chains x {settings.get('draws')} draws "
        f"(sampler {settings.get('sampler')}, seed {settings.get('random_seed')})"
        + (f"; fit file {source}" if source else "") + "."))
    blocks.append(_verdict_text(diagnostics_ok, failed))
    return blocks


def _verdict_text(ok: bool, failed: list[str]) -> Text:
    if ok:
        return Text("Diagnostics PASSED: every sampling check met its threshold.", "pass")
    return Text(f"Diagnostics FAILED ({', '.join(failed)}): the estimates below may not be "
                "reliable; see the advice in the diagnostics section.", "fail")


def _diagnostics_section(fit: DoseResponseFit, diagnostics: Any, failed: list[str]) -> Section:
    table = diagnostics.table.copy()
    counts = table["verdict"] if "verdict" in table else pd.Series(True, index=table.index)
    classes = ["" if passed else ("fail" if verdict else "warn")
               for passed, verdict in zip(table["passed"], counts, strict=True)]
    table["passed"] = ["ok" if p else ("FAIL" if v else "warn")
                       for p, v in zip(table["passed"], counts, strict=True)]
    if "verdict" in table:
        table["verdict"] = ["yes" if v else "no (reported only)" for v in counts]
        table = table.rename(columns={"verdict": "in verdict"})
    blocks: list[Block] = [
        _verdict_text(diagnostics.ok, failed),
        Text("Thresholds: R-hat <= 1.01, bulk and tail ESS >= 400, no divergent transitions, "
             "E-BFMI >= 0.3 in every chain, no transition at the maximum tree depth. Failed "
             "checks are highlighted with advice on what to try."),
        Table(table, "Checks", classes),
    ]
    params = diagnostics.parameters
    if len(params):
        worst = params.sort_values("r_hat", ascending=False, na_position="first").head(10)
        blocks.append(Table(worst.reset_index(drop=True),
                            "The parameters with the highest R-hat (at most 10)"))
    if len(diagnostics.divergences):
        blocks.append(Table(diagnostics.divergences.reset_index(drop=True),
                            "Where divergent transitions concentrate (shift of the "
                            "parameter's mean in divergent draws, in posterior SDs)"))
    observations = getattr(diagnostics, "observations", None)
    if observations is not None and len(observations) and "pareto_k" in observations:
        high = observations[observations["pareto_k"] > PARETO_K_MAX]
        if len(high):
            keep = [c for c in ("outcome", "patient", "time", "pareto_k", "elpd_loo")
                    if c in high]
            shown = high.sort_values("pareto_k", ascending=False)[keep].head(20)
            blocks.append(Table(shown.reset_index(drop=True),
                                f"Observations with PSIS-LOO Pareto k above "
                                f"{PARETO_K_MAX:g} (at most 20)"))

    blocks.append(_figure("trace.png", lambda: plot_trace(fit),
                          "Rank plots of the model's parameters: posterior density and "
                          "fractional-rank ECDF difference per chain",
                          "Posterior density per chain (left) and, per chain, the difference "
                          "between the ECDF of its draws' fractional ranks and the uniform "
                          "one (right, ArviZ): when the chains agree, the densities overlap "
                          "and every curve stays within its band."))
    return Section("diagnostics", "Diagnostics", blocks)


def _data_section(fit: DoseResponseFit) -> Section:
    data = fit.data
    changes = data.changes
    overview = pd.DataFrame({
        "item": ["patients", "doses", "visits", "baseline time", "outcomes",
                 "post-baseline values observed"],
        "value": [len(data.patients),
                  f"{', '.join(format_number(d) for d in data.doses)} {data.dose_unit}",
                  f"{', '.join(format_number(t) for t in data.visits)} {data.time_unit}",
                  f"{format_number(data.baseline_time)} {data.time_unit}",
                  len(data.outcomes), len(changes)],
    })
    per_dose = data.patient_doses().value_counts().sort_index()
    patients = pd.DataFrame({f"dose ({data.dose_unit})": per_dose.index.to_numpy(dtype=float),
                             "patients": per_dose.to_numpy(dtype=int)})
    scales = fit.inputs.scales
    rows = []
    for i, name in enumerate(fit.outcomes):
        info = data.info(name)
        rows.append({"outcome": name, "label": info.label, "unit": info.unit,
                     "direction": info.direction.replace("_", " "), "mcid": info.mcid,
                     "lower": info.lower, "upper": info.upper, "family": info.family,
                     "likelihood": fit.inputs.likelihoods[name].name,
                     "scale sd": float(scales.sd[i]), "sd from": scales.sd_source[i]})
    outcomes = pd.DataFrame(rows)
    missing = data.missing()
    total = int(missing["n_missing"].sum())
    missing_text = (f"{total} post-baseline value{'s are' if total > 1 else ' is'} missing; "
                    "the likelihood leaves "
                    f"{'them' if total > 1 else 'it'} out (nothing is imputed)." if total else
                    "No post-baseline value is missing.")
    return Section("data", "Data", [
        Table(overview, "Trial"),
        Table(patients, "Patients per dose"),
        Table(outcomes, "Outcomes (scale sd: the SD that standardises the outcome)"),
        Text(missing_text),
        Table(missing, "Missing post-baseline values per outcome and dose "
                       "(missing: patient@time)"),
        Table(data.summary(), "Observed change from baseline per outcome, dose and time",
              collapsed=True),
    ])


def _effects_section(fit: DoseResponseFit, est: dict[str, Any]) -> Section:

    band = interval_text(est["ci_prob"], est["ci_kind"])
    versus = fit.versus(est["reference"])
    effects = fit.effect(dose=est["doses"], time=est["times"], reference=est["reference"],
                         **_interval(est))
    effects = effects.drop(columns=["versus"], errors="ignore")
    contrasts = pd.concat([fit.contrast(dose=d, reference=r, time=est["times"],
                                        **_interval(est))
                           for d, r in est["contrasts"]], ignore_index=True)
    times = ", ".join(format_number(t) for t in est["times"])
    blocks: list[Block] = [
        Text(f"Dose effects against {versus} at time {times} {fit.data.time_unit}, in "
             f"outcome units (lognormal outcomes: log ratio to baseline; ordinal: latent "
             f"logit scale): posterior mean, SD, median and {band} (ci_low, ci_high)."),
        Table(effects, f"Dose effect against {versus}"),
        Text("Contrasts are dose minus reference. prob_gt_0 is the posterior probability "
             "that the dose is better than the reference (direction-aware: for a "
             "lower-is-better outcome a negative contrast is an improvement); prob_gt_mcid "
             "that it is better by more than the outcome's MCID. A reference_status other "
             "than 'tested' marks a reference dose outside the trial's doses, whose effect "
             "rests on the dose shape alone."),
        Table(contrasts, "Contrasts between doses"),
        _figure("dose_response.png",
                lambda: plot_dose_response(fit, time=est["times"], **_interval(est)),
                "Expected change from baseline against dose, one panel per outcome, with "
                "credible bands and observed arm means",
                f"Dose-response at time {times} {fit.data.time_unit}: posterior mean with "
                f"{band}; points are observed arm means +/- 1 SE."),
        _figure("time_course.png",
                lambda: plot_time_course(fit, dose=est["doses"], **_interval(est)),
                "Expected change from baseline over time per dose, one panel per outcome",
                f"Time course of the expected change from baseline per dose: posterior mean "
                f"with {band}; points are observed means +/- 1 SE at each visit."),
    ]
    references = list(dict.fromkeys(r for _, r in est["contrasts"]))
    panels = [(r, t) for r in references for t in est["times"]]
    for i, (reference, time) in enumerate(panels, start=1):
        doses = [d for d, r in est["contrasts"] if r == reference]
        name = "contrast_forest.png" if len(panels) == 1 else f"contrast_forest_{i}.png"
        blocks.append(_figure(
            name,
            lambda d=doses, r=reference, t=time: plot_contrast_forest(
                fit, d, r, time=t, **_interval(est)),
            f"Forest plot of the contrasts against dose {format_number(reference)} at time "
            f"{format_number(time)}, one row per outcome",
            f"Contrasts of dose(s) {', '.join(format_number(d) for d in doses)} against "
            f"{format_number(reference)} {fit.data.dose_unit} at {format_number(time)} "
            f"{fit.data.time_unit} "
            f"on the standardised scale (outcome SDs, positive = better): posterior mean "
            f"and {band} per outcome; dashed marks: MCID; right: probability of beating "
            "the reference by more than the MCID (by anything when there is none)."))
    return Section("effects", "Dose effects", blocks)


def _estimands_section(fit: DoseResponseFit, est: dict[str, Any]) -> Section:
    band = interval_text(est["ci_prob"], est["ci_kind"])
    times, interval = est["times"], _interval(est)
    blocks: list[Block] = [
        Text(f"Each estimand is solved per posterior draw and summarised by its {band} "
             "(ci_low, ci_high); a draw that does not reach it counts as beyond the range "
             "(∞), and prob_not_reached is the share of draws that never reach it."),
        Text("Effective dose (ED50)", "h3"),
        *_estimand_blocks(lambda: fit.effective_dose(p=0.5, time=times, **interval),
                          "ED50: the dose giving half the maximal dose effect"),
        Text("Minimum effective dose", "h3"),
    ]
    with_mcid = [o for o in fit.outcomes if fit.data.info(o).mcid is not None]
    without = [o for o in fit.outcomes if o not in with_mcid]
    if without:
        blocks.append(Text(f"No MCID declared for {', '.join(without)}: no minimum effective "
                           "dose for them.", "note"))
    if with_mcid:
        blocks += _estimand_blocks(
            lambda: fit.minimum_effective_dose(time=times, outcome=with_mcid,
                                               **interval),
            "Minimum effective dose: the smallest dose whose improvement over the reference "
            "exceeds the MCID with posterior probability at least level")
    blocks += [
        Text("Monotonicity", "h3"),
        *_estimand_blocks(lambda: fit.prob_increasing(time=times, **interval),
                          "Probability that the response improves with every dose step "
                          "(prob_increasing) and that the highest dose beats the lowest "
                          "(prob_highest_better); mean to ci_high: highest minus lowest"),
        Text("Onset", "h3"),
        *_estimand_blocks(lambda: fit.time_to_half_effect(**interval),
                          f"Time after baseline ({fit.data.time_unit}) to half the dose "
                          "effect"),
    ]
    return Section("estimands", "Dose estimands", blocks)


def _predictive_section(fit: DoseResponseFit) -> Section:

    blocks: list[Block] = [
        Text("Continuous outcomes: empirical CDF of the observed responses (black) over "
             "those of data sets replicated from the model (thin lines); ordinal outcomes: "
             "observed share of each grade against the replicated shares."),
        _figure("predictive_check.png",
                lambda: plot_predictive_check(fit, group="posterior"),
                "Posterior predictive check per outcome: observed data against data "
                "replicated from the posterior",
                "Posterior predictive check: the observed responses should look like the "
                "replicated ones."),
    ]
    if "prior_predictive" in fit.idata.children:
        blocks.append(_figure("prior_predictive_check.png",
                              lambda: plot_predictive_check(fit, group="prior"),
                              "Prior predictive check per outcome: observed data against "
                              "data replicated from the prior",
                              "Prior predictive check: the priors should allow the observed "
                              "responses without putting most of their mass far from them."))
    return Section("predictive", "Predictive checks", blocks)


def _residual_component(model: Any, inputs: Any) -> dict[str, str]:
    """The model-components row of the residual structure (residual_sd and
    serial_correlation, with the AR(1) lag)."""
    sd = getattr(model, "residual_sd", "common")
    serial = getattr(model, "serial_correlation", "none")
    choice = f"residual_sd={sd}, serial_correlation={serial}"
    meaning = RESIDUAL_TEXT.get((sd, serial), "")
    if serial == "ar1":
        lag = ar1_lag(inputs.time_scale)
        meaning += (f", lag {lag:g} (the median gap between scheduled visits); pointwise "
                    "log likelihoods are conditional on the previous value, so LOO is valid "
                    "by patient, not by observation")
    return {"component": "residual", "choice": choice, "formula / meaning": meaning}


def _slope_component(model: Any) -> list[dict[str, str]]:
    """The model-components row of the patient slopes, when the model has them."""
    if not getattr(model, "patient_slopes", False):
        return []
    return [{"component": "patient slopes v", "choice": "patient_slopes=True",
             "formula / meaning": SLOPE_TEXT}]


def _model_section(fit: DoseResponseFit, est: dict[str, Any]) -> Section:
    model = fit.model
    inputs = fit.inputs
    pooled = model.pooled(inputs)
    structure = model.correlated(inputs)
    analysis = inputs.analysis
    components = [
        {"component": "baseline", "choice": analysis
         + ("" if model.analysis == analysis else f" ({model.analysis})"),
         "formula / meaning": ANALYSIS_TEXT.get(analysis, "")},
        {"component": "dose shape f", "choice": model.dose_shape.name,
         "formula / meaning": model.dose_shape.formula},
        {"component": "time course g", "choice": model.time_shape.name,
         "formula / meaning": model.time_shape.formula},
        {"component": "common course h", "choice": "free per visit",
         "formula / meaning": "change at dose 0 at each visit, common to every dose"},
        {"component": "pooling", "choice": model.pooling,
         "formula / meaning": POOLING_TEXT.get(model.pooling, "")
         + ("" if pooled else " (no family has two outcomes here: nothing pooled)")},
        {"component": "patient effects u",
         "choice": structure if structure in (model.patient_correlation, "off")
         else f"{structure} (set: {model.patient_correlation}; one outcome)",
         "formula / meaning": PATIENT_TEXT.get(structure, "")},
        *_slope_component(model),
        _residual_component(model, inputs),
    ]
    for name in fit.outcomes:
        likelihood = inputs.likelihoods[name]
        doc = (type(likelihood).__doc__ or "").strip().splitlines()
        components.append({"component": f"likelihood of {name}", "choice": likelihood.name,
                           "formula / meaning": doc[0] if doc else ""})
    options = {**{f"dose_options.{k}": v for k, v in model.dose_shape.options().items()},
               **{f"time_options.{k}": v for k, v in model.time_shape.options().items()}}
    if structure == "lkj":
        options["lkj_eta"] = model.lkj_eta
    blocks: list[Block] = [
        Text("On the standardised, direction-aligned scale (outcome units / s_k, times "
             "sign_k so that positive = better), for patient i, outcome k and time t after "
             "baseline:"),
        Text(MODEL_EQUATION, "pre"),
        Table(pd.DataFrame(components), "Model components"),
    ]
    if options:
        blocks.append(Table(pd.DataFrame({"option": list(options),
                                          "value": [str(v) for v in options.values()]}),
                            "Shape options"))
    priors = fit.prior_table()
    blocks.append(Text("Priors are stated on the standardised scale; 'default' says whether "
                       "the package default is in force, and 'reason' why."))
    blocks.append(Table(priors, "Priors"))
    blocks.append(Table(fit.parameter_summary(**_interval(est)),
                        "Posterior summary of the parameters "
                        f"({interval_text(est['ci_prob'], est['ci_kind'])})",
                        collapsed=True))
    return Section("model", "Model and priors", blocks)


def _sampler_section(fit: DoseResponseFit, config: dict[str, Any]) -> Section:
    settings = dict(config.get("sampler") or {})
    frame = pd.DataFrame({"setting": list(settings),
                          "value": [str(v) if not is_number(v) else v
                                    for v in settings.values()]})
    posterior = fit.idata["posterior"]
    total = int(posterior.sizes.get("chain", 0) * posterior.sizes.get("draw", 0))
    return Section("sampler", "Sampler settings", [
        Table(frame, "Sampler settings (random_seed reproduces the draws)"),
        Text(f"{total} posterior draws in all."),
    ])


def _versions_section(config: dict[str, Any]) -> Section:
    versions = config.get("versions") or {}
    frame = pd.DataFrame({"package": list(versions),
                          "version": [str(v) for v in versions.values()]})
    return Section("software", "Software versions", [
        Table(frame, "Versions recorded when the fit was made"),
    ])


def build_report(fit: DoseResponseFit, estimands: dict[str, Any] | None = None,
                 source: str | None = None, diagnostics: Any = None) -> Report:
    """Collect a fit's report: diagnostics, data, effects, estimands, figures, model.

    Parameters
    ----------
    fit : DoseResponseFit
        The fit (for example from :func:`bayesdose.load_fit`).
    estimands : dict, optional
        An ``[estimands]`` section: ``times``, ``contrasts`` (``[dose, reference]``
        pairs), ``reference``, ``ci_prob``, ``ci_kind``, ``doses``. Default: the one
        recorded with the fit's model file, else the last visit and the highest against
        the lowest tested dose (see :func:`report_estimands`).
    source : str, optional
        Where the fit was read from, named in the report.
    diagnostics : Diagnostics, optional
        ``fit.diagnostics()`` when the caller already has it (computed otherwise).

    Returns
    -------
    Report
        Render it with :meth:`Report.to_html` or :meth:`Report.to_markdown`.

    Examples
    --------
    >>> import bayesdose as bd
    >>> fit = bd.load_fit("results/fit.nc")                           # doctest: +SKIP
    >>> report = build_report(fit, {"times": [12], "contrasts": [[50, 1]]})  # doctest: +SKIP
    >>> report.verdict                                                # doctest: +SKIP
    'PASSED'
    """

    config = read_config(fit.idata)
    spec = config.get("spec") or {}
    est = report_estimands(fit, estimands)
    diagnostics = diagnostics if diagnostics is not None else fit.diagnostics()
    table = diagnostics.table
    counts = table["verdict"] if "verdict" in table else pd.Series(True, index=table.index)
    failed = [str(c) for c, p, v in zip(table["check"], table["passed"], counts, strict=True)
              if v and not p]
    title = str(spec.get("name") or f"Dose-response analysis ({_model_name(fit)})")
    sections = [
        _diagnostics_section(fit, diagnostics, failed),
        _data_section(fit),
        _effects_section(fit, est),
        _estimands_section(fit, est),
        _predictive_section(fit),
        _model_section(fit, est),
        _sampler_section(fit, config),
        _versions_section(config),
    ]
    return Report(title=title, intro=_intro(fit, spec, diagnostics.ok, failed, source),
                  sections=sections, diagnostics_ok=diagnostics.ok)


def write_report(fit: DoseResponseFit, out: str | Path, force: bool = False,
                 estimands: dict[str, Any] | None = None,
                 source: str | None = None) -> dict[str, Any]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into a folder.

    The report is written into a staging folder and moved into place once complete, so
    a failure midway leaves an earlier report as it was. A non-empty folder is refused
    unless ``force`` (then the report's files in it, ``figures/`` included, are replaced
    and the rest is left alone).

    Parameters
    ----------
    fit : DoseResponseFit
        The fit.
    out : str or Path
        The folder (created if needed).
    force : bool
        Write into a non-empty folder.
    estimands : dict, optional
        See :func:`build_report`.
    source : str, optional
        Where the fit was read from, named in the report.

    Returns
    -------
    dict
        ``folder``, ``html``, ``markdown`` (paths), ``figures`` (paths), ``files``
        (names relative to the folder), ``diagnostics_ok`` and ``verdict``.

    Raises
    ------
    SpecError
        When ``out`` is a file, or a non-empty folder without ``force``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> fit = bd.load_fit("results/fit.nc")                # doctest: +SKIP
    >>> write_report(fit, "report")["files"][:2]           # doctest: +SKIP
    ['report.html', 'report.md']
    """

    folder = check_folder(out, force)
    report = build_report(fit, estimands, source=source)
    files = write_report_folder(report, folder)
    return {"folder": folder, "html": folder / "report.html",
            "markdown": folder / "report.md",
            "figures": [folder / f for f in files if f.startswith(f"{FIGURE_DIR}/")],
            "files": files, "diagnostics_ok": report.diagnostics_ok,
            "verdict": report.verdict}
