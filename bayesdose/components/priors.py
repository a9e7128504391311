"""Priors: every parameter's default, the reason for it, and overrides by name.

All priors are :class:`pymc_extras.prior.Prior` objects on the standardised,
direction-aligned scale (outcome units divided by the outcome's scale SD, positive =
better), so the same defaults suit a 0-100 score and a biomarker in ng/mL. The scale SD
is the outcome's declared SD (``OutcomeInfo.sd``), else the pooled within-arm SD of its
change at the last visit, never the SD of the trial's baselines (see
:mod:`bayesdose.components.inputs`); :func:`prior_table` shows it with every default and
its reason. Any prior is overridden by name,
from Python (``priors={"delta": Prior(...)}``) or from a model file
(``[priors.delta] distribution = "Normal"``, with ``mu``, ``sigma`` ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from pymc_extras.prior import Prior

from bayesdose.components.residuals import ar1_lag
from bayesdose.components.shapes import DoseScale, DoseShape, Parameter
from bayesdose.components.timecourses import TimeScale, TimeShape
from bayesdose.errors import SpecError

COURSE = Parameter(
    "course",
    Prior("Normal", mu=0, sigma=1),
    "Normal(0, 1) per outcome and visit: the change common to every dose (natural history "
    "and the injection itself) within about two scale SDs either way.",
    "change from baseline at the lowest tested dose (placebo when tested) at each visit",
    levels="time",
)


BETA_BASELINE = Parameter(
    "beta_baseline",
    Prior("Normal", mu=0, sigma=1),
    "Normal(0, 1): regression to the mean makes the change depend on the baseline, "
    "usually with a slope between -1 and 0 on the standardised scale; 0 +/- 2 allows it.",
    "slope of the change on the centred, standardised baseline",
)


BASELINE_MEAN = Parameter(
    "baseline_mean",
    Prior("Normal", mu=0, sigma=1),
    "Normal(0, 1) per outcome: the mean at baseline, common to every dose as "
    "randomisation implies, within about two scale SDs of the mean observed baseline.",
    "mean at baseline (constrained longitudinal analysis), against the observed baseline "
    "mean",
)


BETA_COVARIATE = Parameter(
    "beta_covariate",
    Prior("Normal", mu=0, sigma=1),
    "Normal(0, 1) per outcome and covariate column: the effect on the change of one "
    "trial SD of a numeric covariate, or of a category against the reference level, "
    "within about two scale SDs either way. The columns are centred over the trial's "
    "patients, so the course and dose effects stay those of the trial's population.",
    "effect of a patient-level covariate (per SD, or level against the reference)",
    levels="covariate",
)


PATIENT_EFFECT = Parameter(
    "patient_effect",
    Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=0.5), centered=False),
    "Non-centred Normal(0, sd) with sd ~ HalfNormal(0.5): patients differ in their "
    "lasting change by up to about one scale SD; non-centred because a dozen patients "
    "rarely pin sd down, which makes a centred form hard to sample.",
    "each patient's own lasting change, beyond dose and time",
    levels="patient",
)


PATIENT_SLOPE_SD = Parameter(
    "patient_slope_sd",
    Prior("HalfNormal", sigma=0.5),
    "HalfNormal(0.5) per outcome (patient_slopes=True): patients' own changes by the last "
    "visit, beyond their lasting patient effect, differ by up to about one scale SD; most "
    "mass below 0.5, and 0 (no patient slopes) allowed, so the data decide. Each "
    "patient's slope is non-centred, patient_slope = patient_slope_sd x a standard Normal "
    "(patient_slope_offset), and independent of the patient effects (intercepts) and "
    "across outcomes.",
    "SD between patients of their own change by the last visit (a slope in time since "
    "baseline), beyond the patient effect",
)


SIGMA = Parameter(
    "sigma",
    Prior("HalfNormal", sigma=1),
    "HalfNormal(1): visit-to-visit noise up to about two scale SDs; most mass below one.",
    "residual SD of the change (standardised)",
)


SIGMA_PER_VISIT = Parameter(
    "sigma",
    Prior("HalfNormal", sigma=1),
    "HalfNormal(1) per outcome and visit (residual_sd=\"per_visit\"): the default prior "
    "of sigma at every visit, each visit's noise up to about two scale SDs; the visits' "
    "SDs are not pooled, so each is learnt from that visit's values.",
    "residual SD of the change at each visit (standardised)",
    levels="time",
)


def rho_parameter(lag: float) -> Parameter:
    """The serial correlation of a patient's residuals (``serial_correlation="ar1"``).

    Parameters
    ----------
    lag : float
        The time span ``rho`` is the correlation at
        (:func:`bayesdose.components.residuals.ar1_lag`).

    Returns
    -------
    Parameter
        ``rho`` per outcome, Beta(2, 2) by default, its reason and meaning stating the
        lag.

    Examples
    --------
    >>> rho = rho_parameter(2.5)
    >>> rho.name, rho.prior
    ('rho', Prior("Beta", alpha=2, beta=2))
    """
    return Parameter(
        "rho",
        Prior("Beta", alpha=2, beta=2),
        f"Beta(2, 2) per outcome (mean 0.5, 95% between 0.09 and 0.91): the correlation "
        f"of two residuals of one patient and outcome {lag:g} time units apart (the lag: "
        "the median gap between consecutive scheduled visits, baseline included), "
        f"rho ** (dt / {lag:g}) at a gap dt, beyond the patient effect. Weakly "
        "informative; kept off 1, where values close in time would be copies of each "
        "other and the conditional SD vanishes, and off 0, which the default "
        "serial_correlation=\"none\" already is.",
        f"serial correlation of a patient's residuals {lag:g} time units apart "
        "(continuous-time AR(1))",
    )


NU = Parameter(
    "nu",
    Prior("Gamma", alpha=2, beta=0.1),
    "Gamma(2, 0.1) (Juarez and Steel 2010): degrees of freedom from heavy tails (nu < 5) "
    "to nearly Normal (nu > 30), mean 20.",
    "degrees of freedom of the Student-t residual",
)


PATIENT_SD = Parameter(
    "patient_sd",
    Prior("HalfNormal", sigma=0.5),
    "HalfNormal(0.5) per outcome: patients differ in their lasting change by up to about "
    "one scale SD. With several outcomes the patient effects are correlated across "
    "outcomes through an LKJ(eta) prior on their correlation matrix (eta = 2 by default: "
    "mild shrinkage towards independence), non-centred through its Cholesky factor.",
    "SD of each outcome's patient effects (correlated across outcomes)",
)


PATIENT_OWN_SD = Parameter(
    "patient_sd",
    Prior("Gamma", alpha=2, beta=4),
    "Gamma(2, 4) per outcome (mean 0.5): each outcome's own patient-level SD beyond the "
    "shared factor, up to about one scale SD; kept off zero, since when the factor "
    "explains a patient's deviations a HalfNormal lets NUTS into the funnel at SD -> 0.",
    "SD of each outcome's own patient effects, beyond the shared patient factor",
)


PATIENT_LOADING = Parameter(
    "patient_loading",
    Prior("HalfNormal", sigma=0.5),
    "HalfNormal(0.5) per outcome: how strongly an outcome follows the patient factor "
    "shared by all outcomes. Non-negative on the direction-aligned scale (a patient who "
    "does well on one outcome tends to do well on others), which also fixes the factor's "
    "sign; 0 means the outcome does not share it.",
    "loading of each outcome on the patient factor shared across outcomes",
)


CUTPOINTS = Parameter(
    "cutpoints",
    Prior("Normal", mu=0, sigma=2),
    "Normal(0, 2) around evenly spaced points on [-1.5, 1.5], ordered: cutpoints of the "
    "latent logistic scale spread over about +/-4 logits, wide enough for any "
    "distribution of grades.",
    "cutpoints between grades of an ordinal outcome (latent logit scale)",
    levels="grade",
)


#: Prior probability that an outcome of a family of two or more follows its family's
#: distribution rather than keeping its own prior (``pooling="family"``).
FAMILY_WEIGHT = 0.5

#: The pooled parameters that take the mixture family distribution of
#: ``pooling="family"``: ``delta``, every dose shape's effect size (at the top dose, or
#: per dose for ``free``). The other pooled parameters (``log_ed50``, ``log_hill``, ...)
#: set where along the doses the effect builds up rather than its size, and are pooled
#: through a non-centred Normal: an outcome without an effect cannot inform them, and a
#: mixture with their wide own priors only slows the sampler down.
MIXED_PARAMETERS = frozenset({"delta"})


def family_sd_parameter(param: Parameter) -> Parameter:
    """The between-outcome SD of a parameter pooled within families of outcomes.

    With ``pooling="family"`` each outcome's effect size ``delta`` follows
    Normal(family mean, this SD) with prior probability :data:`FAMILY_WEIGHT`, else keeps
    its own prior; the other pooled parameters, and every one with
    ``pooling="family_normal"``, are the family mean plus this SD times a Normal offset
    (see :func:`bayesdose.components.graph.pooled_variable`).

    Parameters
    ----------
    param : Parameter
        The pooled dose-shape parameter; its ``pool_sd`` is the prior mean of the SD.

    Returns
    -------
    Parameter
        ``<name>_family_sd`` with a Gamma(2, 2 / pool_sd) prior and its reason.

    Examples
    --------
    >>> sd = family_sd_parameter(Parameter("delta", Prior("Normal", mu=0, sigma=1),
    ...                                    "why", "what"))
    >>> sd.name, sd.prior
    ('delta_family_sd', Prior("Gamma", alpha=2, beta=4.0))
    """
    if param.name in MIXED_PARAMETERS:
        form = (f"Each outcome follows its family with prior probability {FAMILY_WEIGHT:g}, "
                "else keeps its own prior (a two-component mixture), so an outcome unlike "
                "the rest of its family (a null outcome beside real effects) is not pulled "
                "towards them. ")
    else:
        form = ("Each outcome is its family mean plus this SD times a Normal offset "
                "(non-centred). ")
    return Parameter(
        f"{param.name}_family_sd",
        Prior("Gamma", alpha=2, beta=2 / param.pool_sd),
        f"Gamma(2, {2 / param.pool_sd:g}) (mean {param.pool_sd:g}): outcomes of one family "
        f"differ in {param.name} by about this much; the data decide how much they share "
        f"(the pooling is estimated). {form}Gamma(2, .) rather than HalfNormal keeps the "
        "SD off exactly zero, which with a handful of outcomes removes the funnel that "
        "makes NUTS diverge, while still allowing strong pooling (SDs near 0.05 x its "
        "mean). The outcomes of a family must have their effects on one scale (a family "
        "mixing an ordinal outcome with continuous ones is refused).",
        f"SD of {param.name} between outcomes of a family",
    )


def model_parameters(dose_shape: DoseShape, time_shape: TimeShape, dose_scale: DoseScale,
                     time_scale: TimeScale, likelihood: str | set[str] = "normal",
                     pooled: bool = False, correlated: str | bool = False,
                     covariates: bool = False, analysis: str = "change",
                     baseline_rows: bool = True, residual_sd: str = "common",
                     serial_correlation: str = "none",
                     patient_slopes: bool = False) -> list[Parameter]:
    """All parameters of a model, in a stable order, with their default priors.

    Parameters
    ----------
    dose_shape, time_shape : DoseShape, TimeShape
        The model's shapes.
    dose_scale, time_scale : DoseScale, TimeScale
        Dose and time constants from the data.
    likelihood : str or set of str
        The likelihoods in use (``"normal"``, ``"student_t"``, ``"lognormal"``,
        ``"ordinal"``).
    pooled : bool
        Whether dose-shape parameters are pooled within families of outcomes (adds a
        ``<name>_family_sd`` for each real-valued dose-shape parameter; the parameter's
        own prior is then the prior of its family mean).
    correlated : {"none", "factor", "lkj", "off"} or bool
        How patient effects are related across outcomes: independent (``patient_effect``),
        a shared factor (``patient_loading`` and own ``patient_sd``), or an LKJ correlation
        matrix (``patient_sd``), or none (``"off"``: no patient parameters). ``True`` means
        ``"lkj"``, ``False`` ``"none"``.
    covariates : bool
        Whether the data declare patient-level covariates (adds ``beta_covariate``).
    analysis : {"change", "clda"}
        The change from baseline has the baseline slope ``beta_baseline``; the
        constrained longitudinal analysis has the common ``baseline_mean`` instead (when
        ``baseline_rows``: some baseline is observed) and no baseline slope.
    baseline_rows : bool
        Whether observed baselines are among the responses (constrained analysis).
    residual_sd : {"common", "per_visit"}
        One residual SD ``sigma`` per outcome, or one per outcome and visit.
    serial_correlation : {"none", "ar1"}
        With ``"ar1"``, adds ``rho`` (continuous residuals only; see
        :mod:`bayesdose.components.residuals`).
    patient_slopes : bool
        Adds ``patient_slope_sd``, the SD of the patients' slopes in time, unless there
        are no patient effects (``correlated="off"``).

    Returns
    -------
    list of Parameter

    Examples
    --------
    >>> from bayesdose.components.shapes import get_dose_shape
    >>> from bayesdose.components.timecourses import get_time_shape
    >>> params = model_parameters(get_dose_shape("emax"), get_time_shape("exponential"),
    ...                           DoseScale((1.0, 50.0)), TimeScale((1.0, 12.0)), "normal")
    >>> [p.name for p in params]
    ['delta', 'log_ed50', 'log_t_half', 'course', 'beta_baseline', 'patient_effect', 'sigma']
    """
    kinds = {likelihood} if isinstance(likelihood, str) else set(likelihood)
    shape_params = [*dose_shape.parameters(dose_scale), *time_shape.parameters(time_scale)]
    params = list(shape_params)
    if pooled:
        params += [family_sd_parameter(p) for p in dose_shape.parameters(dose_scale)
                   if p.poolable]
    structure = {True: "lkj", False: "none"}.get(correlated, correlated)
    params.append(COURSE)
    if analysis == "change":
        params.append(BETA_BASELINE)
    elif baseline_rows:
        params.append(BASELINE_MEAN)
    if covariates:
        params.append(BETA_COVARIATE)
    params += {"none": [PATIENT_EFFECT], "lkj": [PATIENT_SD],
               "factor": [PATIENT_LOADING, PATIENT_OWN_SD], "off": []}[structure]
    if patient_slopes and structure != "off":
        params.append(PATIENT_SLOPE_SD)
    if kinds - {"ordinal"}:
        params.append(SIGMA_PER_VISIT if residual_sd == "per_visit" else SIGMA)
    if "student_t" in kinds:
        params.append(NU)
    if serial_correlation == "ar1" and kinds - {"ordinal"}:
        params.append(rho_parameter(ar1_lag(time_scale)))
    if "ordinal" in kinds:
        params.append(CUTPOINTS)
    return params


def resolve_priors(parameters: list[Parameter],
                   overrides: Mapping[str, Prior] | None) -> dict[str, Prior]:
    """Defaults updated by the user's overrides, checking every override's name.

    Parameters
    ----------
    parameters : list of Parameter
        The model's parameters (see :func:`model_parameters`).
    overrides : mapping of str to Prior, optional
        User priors by parameter name.

    Returns
    -------
    dict of str to Prior

    Examples
    --------
    >>> p = [Parameter("delta", Prior("Normal", mu=0, sigma=1), "why", "what")]
    >>> resolve_priors(p, {"delta": Prior("Normal", mu=0, sigma=0.5)})["delta"]
    Prior("Normal", mu=0, sigma=0.5)
    """
    priors = {p.name: p.prior for p in parameters}
    for name, prior in (overrides or {}).items():
        if name not in priors:
            raise SpecError(
                f"priors: no parameter named {name!r} in this model; its parameters are "
                f"{', '.join(priors)}."
            )
        if not isinstance(prior, Prior):
            raise SpecError(f"priors[{name!r}] must be a pymc_extras.prior.Prior "
                            f"(got {type(prior).__name__}).")
        priors[name] = prior
    return priors


def with_dims(prior: Prior, dims: tuple[str, ...]) -> Prior:
    """Copy of ``prior`` with ``dims``; nested hyperpriors get the first dim (per outcome).

    Parameters
    ----------
    prior : Prior
        A prior, possibly hierarchical.
    dims : tuple of str
        Dims of the variable, outcome first.

    Returns
    -------
    Prior

    Examples
    --------
    >>> with_dims(Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=1)),
    ...           ("outcome", "patient"))
    Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=1, dims="outcome"), dims=("outcome", "patient"))
    """  # noqa: E501
    kwargs = {
        key: with_dims(value, dims[:1]) if isinstance(value, Prior) else value
        for key, value in prior.parameters.items()
    }
    return Prior(prior.distribution, dims=dims, centered=prior.centered,
                 transform=prior.transform, **kwargs)


def prior_from_mapping(value: Any, field: str) -> Prior:
    """Build a Prior from a model-file table such as ``{distribution="Normal", sigma=1}``.

    Nested tables are hyperpriors; ``centered = false`` asks for a non-centred form.
    Parsing runs no code: the distribution name is looked up among PyMC's distributions.

    Parameters
    ----------
    value : mapping
        The table from the model file.
    field : str
        Its location (for error messages), for example ``"priors.delta"``.

    Returns
    -------
    Prior

    Examples
    --------
    >>> prior_from_mapping({"distribution": "HalfNormal", "sigma": 2}, "priors.sigma")
    Prior("HalfNormal", sigma=2)
    """
    if isinstance(value, Prior):
        return value
    if not isinstance(value, Mapping):
        raise SpecError(f"{field}: a prior is a table with a 'distribution' and its "
                        f"parameters, e.g. {{distribution = \"Normal\", mu = 0, sigma = 1}}.")
    value = dict(value)
    dist = value.pop("distribution", None)
    if not isinstance(dist, str):
        raise SpecError(f"{field}: missing 'distribution' (a PyMC distribution name such as "
                        "\"Normal\" or \"HalfNormal\").")
    centered = value.pop("centered", True)
    if not isinstance(centered, bool):
        raise SpecError(f"{field}.centered must be true or false.")
    kwargs = {key: prior_from_mapping(val, f"{field}.{key}") if isinstance(val, Mapping)
              else val for key, val in value.items()}
    for key, val in kwargs.items():
        if not _is_value(val):
            raise SpecError(f"{field}.{key}: expected a number or a nested prior table "
                            f"(got {val!r}).")
    try:
        return Prior(dist, centered=centered, **kwargs)
    except Exception as exc:  # pymc_extras raises several types for a bad prior
        raise SpecError(f"{field}: {exc}") from exc


def _is_value(val: Any) -> bool:
    """A number, a nested prior, or a (nested) list of numbers."""
    if isinstance(val, list):
        return bool(val) and all(_is_value(v) and not isinstance(v, Prior) for v in val)
    return isinstance(val, (int, float, Prior)) and not isinstance(val, bool)


def prior_to_mapping(prior: Prior) -> dict[str, Any]:
    """The model-file table form of a prior (inverse of :func:`prior_from_mapping`).

    Parameters
    ----------
    prior : Prior
        A prior, possibly with nested hyperpriors.

    Returns
    -------
    dict
        ``distribution`` and the parameters; hyperpriors as nested tables, and
        ``centered = False`` for a non-centred prior.

    Examples
    --------
    >>> prior_to_mapping(Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=1)))
    {'distribution': 'Normal', 'mu': 0, 'sigma': {'distribution': 'HalfNormal', 'sigma': 1}}
    """
    out: dict[str, Any] = {"distribution": prior.distribution}
    for key, val in prior.parameters.items():
        out[key] = prior_to_mapping(val) if isinstance(val, Prior) else _plain(val)
    if not prior.centered:
        out["centered"] = False
    return out


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def prior_table(parameters: list[Parameter], priors: Mapping[str, Prior],
                scales: pd.DataFrame | None = None) -> pd.DataFrame:
    """A table of every parameter, its prior, whether it is the default, and why; and the
    scale SD of every outcome, which the priors on the standardised scale are in units of.

    Parameters
    ----------
    parameters : list of Parameter
        The model's parameters.
    priors : mapping of str to Prior
        The priors in force.
    scales : pandas.DataFrame, optional
        The outcomes' scales (columns outcome, sd, unit, sd_source; see
        :meth:`bayesdose.components.inputs.OutcomeScales.table`). Each gives one more
        row, ``scale_sd[<outcome>]``: the SD (a fixed constant, not a parameter), its
        units and what it is; ``default`` is False where the SD was declared in the
        outcome's metadata.

    Returns
    -------
    pandas.DataFrame
        Columns parameter, meaning, prior, default, reason.

    Examples
    --------
    >>> p = [Parameter("delta", Prior("Normal", mu=0, sigma=1), "why", "what")]
    >>> prior_table(p, {"delta": p[0].prior})["default"].tolist()
    [True]
    >>> scales = pd.DataFrame({"outcome": ["pain"], "sd": [12.0], "unit": ["points"],
    ...                        "sd_source": ["declared sd"]})
    >>> prior_table(p, {"delta": p[0].prior}, scales).iloc[1][["parameter", "prior"]].tolist()
    ['scale_sd[pain]', 'fixed: 12 points']
    """
    rows = []
    for param in parameters:
        prior = priors[param.name]
        is_default = prior_to_mapping(prior) == prior_to_mapping(param.prior)
        rows.append({"parameter": param.name, "meaning": param.meaning, "prior": str(prior),
                     "default": is_default,
                     "reason": param.reason if is_default else "set by the user"})
    if scales is not None:
        rows += [_scale_row(row) for row in scales.itertuples(index=False)]
    return pd.DataFrame(rows)


def _scale_row(scale: Any) -> dict[str, Any]:
    """The prior-table row of one outcome's scale SD."""
    declared = str(scale.sd_source).startswith("declared sd")
    if str(scale.unit) == "latent logit":
        why = (f"{scale.sd_source}: an ordinal outcome's effects are log odds of a better "
               "grade; its priors are on that scale as they stand.")
    elif declared:
        why = (f"{scale.sd_source}: the outcome's SD as declared in its metadata (sd), so "
               "the priors do not depend on this trial's values.")
    else:
        why = (f"{scale.sd_source}. No sd is declared in the outcome's metadata; declare "
               "one (the outcome's SD in the target population) to state the priors "
               "before seeing the data.")
    return {"parameter": f"scale_sd[{scale.outcome}]",
            "meaning": (f"the scale SD of {scale.outcome}: its priors on the standardised "
                        f"scale are in units of it ({scale.unit})"),
            "prior": f"fixed: {float(scale.sd):.4g} {scale.unit}",
            "default": not declared, "reason": why}
