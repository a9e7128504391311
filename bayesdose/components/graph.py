"""The PyMC graph pieces of the dose-response model: family-pooled parameters, censored
and ordinal likelihood terms, the data containers a compiled model swaps, and the coords.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.likelihoods import LIKELIHOODS
from bayesdose.components.priors import FAMILY_WEIGHT, MIXED_PARAMETERS, with_dims
from bayesdose.components.residuals import (
    ar1_conditional,
    ar1_lag,
    check_ar1_likelihoods,
    check_rho_prior,
    earlier_rows,
    present_links,
    residual_scale,
    series_links,
)
from bayesdose.components.shapes import DoseShape, Parameter
from bayesdose.components.timecourses import TimeShape
from bayesdose.errors import SpecError


def gather(values: Any, index: np.ndarray, vector: bool) -> Any:
    """Pick each observation's outcome parameter: ``values[index]`` (rows for vectors)."""
    return values[index] if not vector else values[index, :]


#: The family distribution of each pooling option: ``"mixture"`` (each outcome follows its
#: family or keeps its own prior, see :func:`pooled_variable`), ``"normal"`` (non-centred
#: Normal around the family mean), None (nothing pooled).
POOLING_FORMS: dict[str, str | None] = {"family": "mixture", "family_normal": "normal",
                                        "none": None}

#: The scale a likelihood's dose effects are on, and so the scale of the dose-shape
#: parameters pooled within a family. The change (normal, Student-t) and the log ratio
#: (lognormal) are both divided by the outcome's scale SD (its declared SD, else the
#: pooled within-arm SD of the change; of the log value for lognormal outcomes); an
#: ordinal outcome's effects are log odds on its latent logistic scale, whose unit is fixed
#: by the logistic residual, not by any SD of the data.
EFFECT_SCALES = {"normal": "standardised (outcome SDs)",
                 "student_t": "standardised (outcome SDs)",
                 "lognormal": "standardised (outcome SDs of the log value)",
                 "ordinal": "latent logit"}


def effect_scale(likelihood: str) -> str:
    """The scale family pooling compares a likelihood's effects on.

    Continuous likelihoods share one (effects in outcome SDs of the modelled response:
    the change, or the log ratio for lognormal outcomes); ordinal effects are log odds on
    the latent logistic scale, which has no SD of the data as its unit.

    Parameters
    ----------
    likelihood : str
        A likelihood name (``"normal"``, ``"student_t"``, ``"lognormal"``, ``"ordinal"``).

    Returns
    -------
    str
        ``"standardised"`` or ``"latent logit"``.

    Examples
    --------
    >>> effect_scale("lognormal"), effect_scale("normal"), effect_scale("ordinal")
    ('standardised', 'standardised', 'latent logit')
    """
    return "latent logit" if likelihood == "ordinal" else "standardised"


def check_family_scales(inputs: ModelInputs) -> None:
    """Refuse to pool a family whose outcomes' effects are on different scales.

    Pooling draws the members' dose-shape parameters from one family distribution, which
    only means something when their effects are in the same units. A continuous outcome's
    effect is in outcome SDs of its response; an ordinal outcome's is in log odds on a
    latent logistic scale whose unit is the logistic residual (SD pi/sqrt(3) logits), a
    within-patient SD that is not the SD of any outcome, so there is no common
    scale to convert to without an assumption the data cannot check.

    Parameters
    ----------
    inputs : ModelInputs
        The data arranged for the model.

    Raises
    ------
    SpecError
        Naming the family, its members with their likelihoods and scales, and the fixes:
        separate families in the outcome metadata, or ``pooling="none"``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> msc = bd.datasets.load_msc_trial()
    >>> check_family_scales(prepare_inputs(msc))  # continuous and log-normal together
    >>> data = msc.select(["mri_t2", "mri_synovitis"])
    >>> one = {o: {"family": "MRI", "likelihood": data.info(o).likelihood}
    ...        for o in data.outcomes}
    >>> same = bd.TrialData.from_frame(data.to_frame(), patient="patient", dose="dose",
    ...                                time="month", outcome="outcome", value="value",
    ...                                outcome_info=one)
    >>> check_family_scales(prepare_inputs(same))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: family 'MRI' cannot be pooled: ... (ordinal: latent logit)...
    """
    for f, family in enumerate(inputs.families):
        members = [o for o, i in zip(inputs.outcomes, inputs.family_idx, strict=True)
                   if i == f]
        kinds = {o: inputs.likelihoods[o].name for o in members}
        if len({effect_scale(k) for k in kinds.values()}) < 2:
            continue
        listed = ", ".join(f"{o} ({kinds[o]}: {EFFECT_SCALES[kinds[o]]})" for o in members)
        raise SpecError(
            f"family {family!r} cannot be pooled: its outcomes' dose effects are on "
            f"different scales ({listed}), so one family distribution would mix log odds "
            "with outcome SDs and let one outcome's effect pass for another's. Give the "
            "outcomes on each scale their own family (OutcomeInfo.family, or family = "
            "\"...\" under [outcomes.<name>] in a model file), or fit without pooling "
            "(pooling=\"none\"; pooling = \"none\" under [model])."
        )


def own_prior(prior: Prior, shape: tuple[int, ...], name: str):
    """The unregistered PyMC distribution of a pooled parameter's own prior (its prior
    when not pooled), for the "own" component of the family mixture.

    Parameters
    ----------
    prior : Prior
        The parameter's prior in force; its parameters must be numbers.
    shape : tuple of int
        Shape of the outcome-level parameter.
    name : str
        The parameter's name (for the error message).

    Returns
    -------
    TensorVariable
        ``pm.<distribution>.dist(...)``.

    Raises
    ------
    SpecError
        For a hierarchical prior (a parameter that is itself a prior).

    Examples
    --------
    >>> own_prior(Prior("Normal", mu=0, sigma=1), (2,), "delta").owner.op.name
    'normal'
    """
    if any(isinstance(v, Prior) for v in prior.parameters.values()):
        raise SpecError(f"priors[{name!r}] must have numeric parameters when {name} is "
                        "pooled within families (pooling=\"family\": an outcome that does "
                        "not follow its family takes this prior); use pooling="
                        "\"family_normal\" or \"none\" for a hierarchical prior.")
    return getattr(pm, prior.distribution).dist(**prior.parameters, shape=shape)


def pooled_variable(param: Parameter, priors: dict[str, Prior], inputs: ModelInputs,
                     levels: tuple[str, ...], form: str = "mixture"):
    """An outcome-level dose-shape parameter pooled within families of outcomes.

    ``form="mixture"`` (``pooling="family"``, for the effect size ``delta``, see
    :data:`~bayesdose.components.priors.MIXED_PARAMETERS`): each outcome of a family of
    two or more follows its family, Normal(family mean, family SD), with prior probability
    :data:`~bayesdose.components.priors.FAMILY_WEIGHT` (1/2), or else keeps its own
    prior (the parameter's prior when not pooled), marginalised as a two-component
    mixture (variable ``<name>_member``). An outcome whose effect differs from the rest
    of its family (a null outcome beside a real effect) is then estimated nearly as if
    fitted alone instead of being pulled towards the others, while outcomes that agree
    still pool. ``form="normal"`` (the other pooled parameters, and every one with
    ``pooling="family_normal"``): family mean + family SD x standard Normal offset
    (non-centred, ``<name>_offset``), which pulls every outcome towards its family.
    Outcomes alone in their family take the family mean (which has the parameter's own
    prior).

    Parameters
    ----------
    param : Parameter
        The dose-shape parameter pooled.
    priors : dict of str to Prior
        Priors in force: ``param.name`` (the family mean's, and the own component's)
        and ``<name>_family_sd``.
    inputs : ModelInputs
        The data arranged for the model (outcomes, families).
    levels : tuple of str
        The parameter's trailing dim, if a vector.
    form : {"mixture", "normal"}
        The family distribution.

    Returns
    -------
    TensorVariable
        The deterministic ``param.name`` with dims ``("outcome", *levels)``.

    Examples
    --------
    >>> import pymc as pm
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> from bayesdose.components.priors import family_sd_parameter
    >>> from bayesdose.components.shapes import get_dose_shape
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain",
    ...                                                              "womac_pain"]))
    >>> delta = get_dose_shape("emax").parameters(inputs.dose_scale)[0]
    >>> priors = {"delta": delta.prior, "delta_family_sd": family_sd_parameter(delta).prior}
    >>> with pm.Model(coords={"outcome": inputs.outcomes, "family": inputs.families}) as m:
    ...     _ = pooled_variable(delta, priors, inputs, ())
    >>> type(m["delta_member"].owner.op).__name__
    'MixtureRV'
    """
    mean = with_dims(priors[param.name], ("family", *levels)).create_variable(
        f"{param.name}_family_mean")
    sd = with_dims(priors[f"{param.name}_family_sd"], ("family",)).create_variable(
        f"{param.name}_family_sd")
    dims = ("outcome", *levels)
    shared = (inputs.family_sizes() > 1).astype(float)
    shared = shared[(slice(None),) + (None,) * len(levels)]
    family_mean = mean[inputs.family_idx]
    family_sd = sd[inputs.family_idx][(slice(None),) + (None,) * len(levels)]
    if form == "normal":
        offset = pm.Normal(f"{param.name}_offset", 0.0, 1.0, dims=dims)
        value = family_mean + family_sd * shared * offset
        return pm.Deterministic(param.name, value, dims=dims)
    if form != "mixture":
        raise SpecError(f"family distribution {form!r} is not one of mixture, normal.")
    # outcomes alone in their family do not use <name>_member: SD 1 keeps it a plain
    # prior draw there, away from the funnel a prior-only family SD would make
    sigma = (family_sd * shared + (1.0 - shared)) * pt.ones_like(family_mean)
    shape = (len(inputs.outcomes), *(len(pm.modelcontext(None).coords[d]) for d in levels))
    member = pm.Mixture(
        f"{param.name}_member", w=[FAMILY_WEIGHT, 1.0 - FAMILY_WEIGHT],
        comp_dists=[pm.Normal.dist(mu=family_mean, sigma=sigma),
                    own_prior(priors[param.name], shape, param.name)],
        dims=dims)
    value = pt.switch(pt.gt(shared, 0), member, family_mean)
    return pm.Deterministic(param.name, value, dims=dims)


def censored_logp(dist: Any, response: Any, logp: Any, lower: Any, upper: Any) -> Any:
    """Log likelihood of responses censored at ``lower`` and ``upper`` (data that may be
    infinite): log P(Y <= lower) at or below the lower bound, log P(Y >= upper) at or
    above the upper one, the density between. Written out rather than with
    ``pm.Censored`` so that its graph holds no random generator (nutpie compiles it) and
    infinite bounds leave finite values (and gradients) in the branches not taken."""
    low = pt.switch(pt.isinf(lower), 0.0, lower)
    high = pt.switch(pt.isinf(upper), 0.0, upper)
    below = pm.logcdf(dist, low)
    above = pm.logccdf(dist, high)
    return pt.switch(pt.le(response, lower), below,
                     pt.switch(pt.ge(response, upper), above, logp))


#: The dims after ``outcome`` of the parameters that :meth:`ModelGraph.build` creates
#: from their priors directly (the others are per outcome).
LEVEL_DIMS = {"course": ("time",), "beta_covariate": ("covariate",)}


#: Prefix of the ``pm.Data`` container an observed variable observes.
OBSERVED_PREFIX = "observed_"


def data_values(inputs: ModelInputs, swappable: bool = False) -> dict[str, np.ndarray]:
    """The values of the ``pm.Data`` containers of a model built by
    :meth:`DoseResponseModel.build_inputs`, by container name.

    The usual form holds ``baseline_std`` (per observation), ``outcome_sd`` (per outcome),
    in the constrained longitudinal analysis ``outcome_offset`` (per outcome: the level
    the standardised mean is centred on), and each observed variable's values as
    ``observed_<variable>`` (``change``, ``change_t``, ``log_change``,
    ``grade_<outcome>`` as 0-based grade positions). The
    swappable form holds ``response``, ``baseline_std``, ``weight`` (all 1), ``lower``,
    ``upper`` (per observation) and ``outcome_sd``.

    Everything else a model is built from (doses, visits, patients, which observation
    belongs to whom, signs, the patients' covariates in ``covariate_std``; bounds
    outside the swappable form) is its design: data with the same design fill the same
    compiled model (:mod:`bayesdose.inference.compiled`).

    Parameters
    ----------
    inputs : ModelInputs
        The data arranged for the model.
    swappable : bool
        The containers of the swappable (weighted-likelihood) form.

    Returns
    -------
    dict of str to numpy.ndarray

    Examples
    --------
    >>> import bayesdose as bd
    >>> from bayesdose.components.inputs import prepare_inputs
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> sorted(data_values(inputs))
    ['baseline_std', 'observed_change', 'outcome_sd']
    >>> sorted(data_values(inputs, swappable=True))
    ['baseline_std', 'lower', 'outcome_sd', 'response', 'upper', 'weight']
    """
    values = {"baseline_std": np.asarray(inputs.baseline_std, dtype=float),
              "outcome_sd": np.asarray(inputs.scales.sd, dtype=float)}
    if inputs.analysis == "clda":
        values["outcome_offset"] = np.asarray(inputs.offset, dtype=float)
    if swappable:
        per_row = {"response": inputs.response, "weight": np.ones(len(inputs.response)),
                   "lower": inputs.lower, "upper": inputs.upper}
        return {**values, **{k: np.asarray(v, dtype=float) for k, v in per_row.items()}}
    for kind in sorted(inputs.kinds):
        rows = inputs.observations(kind)
        if kind != "ordinal":
            values[OBSERVED_PREFIX + LIKELIHOODS[kind].variable] = np.asarray(
                inputs.response[rows], dtype=float)
            continue
        for i, outcome in enumerate(inputs.outcomes):
            if inputs.likelihoods[outcome].name == "ordinal":
                own = rows[inputs.outcome_idx[rows] == i]
                grades = inputs.categories[outcome]
                values[f"{OBSERVED_PREFIX}grade_{outcome}"] = (
                    inputs.response[own] - grades[0]).astype("int64")
    return values


def data_containers(inputs: ModelInputs, swappable: bool) -> dict[str, Any]:
    """A ``pm.Data`` container for each of :func:`data_values`, by its name."""
    return {name: pm.Data(name, value)
            for name, value in data_values(inputs, swappable).items()}


def course_mask(inputs: ModelInputs) -> np.ndarray:
    """1 everywhere, but 0 at the first visit of ordinal outcomes, whose cutpoints
    absorb the level there (the common course is identified relative to it)."""
    mask = np.ones((len(inputs.outcomes), len(inputs.visits)))
    for i, outcome in enumerate(inputs.outcomes):
        if inputs.likelihoods[outcome].name == "ordinal":
            first = inputs.time_idx[inputs.outcome_idx == i].min()
            mask[i, first] = 0.0
    return mask


def observe_ordinal(priors: dict[str, Prior], inputs: ModelInputs, mean_std,
                     rows: np.ndarray, data: dict[str, Any]) -> None:
    """Ordered logistic grades, one variable per ordinal outcome (own cutpoints)."""
    prior = priors["cutpoints"]
    if prior.distribution != "Normal" or any(isinstance(v, Prior)
                                              for v in prior.parameters.values()):
        raise SpecError("priors['cutpoints'] must be a Normal with numeric mu and sigma "
                        "(it is given an ordered transform).")
    mu, sigma = prior.parameters.get("mu", 0.0), prior.parameters.get("sigma", 1.0)
    for i, outcome in enumerate(inputs.outcomes):
        if inputs.likelihoods[outcome].name != "ordinal":
            continue
        own = rows[inputs.outcome_idx[rows] == i]
        n_cut = inputs.categories[outcome].size - 1
        cutpoints = pm.Normal(
            f"cutpoints_{outcome}", mu=mu + np.linspace(-1.5, 1.5, n_cut), sigma=sigma,
            shape=n_cut, transform=pm.distributions.transforms.ordered)
        eta = inputs.scales.sign[i] * mean_std[own]
        pm.OrderedLogistic(f"grade_{outcome}", eta=eta, cutpoints=cutpoints,
                           observed=data[f"{OBSERVED_PREFIX}grade_{outcome}"],
                           dims=f"obs_grade_{outcome}")


def model_coords(inputs: ModelInputs, dose_shape: DoseShape, time_shape: TimeShape) -> dict:
    coords = {
        "outcome": inputs.outcomes,
        "patient": inputs.patients,
        "dose": list(inputs.doses),
        "time": list(inputs.visits),
        "family": inputs.families,
    }
    if inputs.covariate_names:
        coords["covariate"] = inputs.covariate_names
    for kind in inputs.kinds:
        rows = inputs.observations(kind)
        if kind == "ordinal":
            for i, outcome in enumerate(inputs.outcomes):
                if inputs.likelihoods[outcome].name == "ordinal":
                    own = rows[inputs.outcome_idx[rows] == i]
                    coords[f"obs_grade_{outcome}"] = own
        else:
            coords[f"obs_{LIKELIHOODS[kind].variable}"] = rows
    levels = getattr(dose_shape, "levels", None)
    if callable(levels):
        coords["dose_level"] = list(levels(inputs.dose_scale))
    time_levels = getattr(time_shape, "levels", None)
    if callable(time_levels):
        coords["visit_level"] = [t + inputs.baseline_time
                                 for t in time_levels(inputs.time_scale)]
    return coords


@dataclass(frozen=True)
class ModelGraph:
    """The PyMC graph of a dose-response model: what :meth:`build` needs besides the data.

    Parameters
    ----------
    dose_shape, time_shape : DoseShape, TimeShape
        The dose shape f and the time course g of the dose effect.
    priors : dict of str to Prior
        Every parameter's prior, resolved (defaults and overrides).
    pooled : bool
        Pool the dose-shape parameters within outcome families (refused, by
        :func:`check_family_scales`, for a family whose outcomes' effects are on
        different scales).
    patient_structure : {"factor", "lkj", "none", "off"}
        How patient effects are related across outcomes (``"off"``: no patient effects).
    lkj_eta : float
        Shape of the LKJ prior (``patient_structure="lkj"``).
    family_form : {"mixture", "normal"}
        The family distribution of the pooled effect size ``delta`` (see
        :func:`pooled_variable`); other pooled parameters take ``"normal"``
        (:data:`MIXED_PARAMETERS`).
    residual_sd : {"common", "per_visit"}
        One residual SD per outcome, or one per outcome and visit (``sigma`` with dims
        ``outcome, time``); see :mod:`bayesdose.components.residuals`.
    serial_correlation : {"none", "ar1"}
        Independent residuals, or a continuous-time AR(1) within each patient and outcome
        (``rho`` per outcome, at the lag :func:`~bayesdose.components.residuals.ar1_lag`),
        written as each observation's Normal given the previous observed value of its
        series (:func:`~bayesdose.components.residuals.ar1_conditional`).
    patient_slopes : bool
        Add a slope in time per patient and outcome, ``patient_slope[k, i] * t / t_last``
        (``t`` the time since baseline, 0 on baseline rows; ``t_last`` the last visit), so
        ``patient_slope`` is the patient's own change by the last visit beyond the patient
        effect; non-centred Normal(0, ``patient_slope_sd``), independent of the patient
        effects and across outcomes.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.DoseResponseModel()
    >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> [rv.name for rv in model.build_inputs(inputs).observed_RVs]
    ['change']
    """

    dose_shape: DoseShape
    time_shape: TimeShape
    priors: dict[str, Prior]
    pooled: bool
    patient_structure: str
    lkj_eta: float
    family_form: str = "mixture"
    residual_sd: str = "common"
    serial_correlation: str = "none"
    patient_slopes: bool = False

    def build(self, inputs: ModelInputs, swappable: bool = False,
              shape_variables: Callable[[dict[str, Prior], ModelInputs], dict] | None = None
              ) -> pm.Model:
        """Build the PyMC model on prepared inputs (see
        :meth:`bayesdose.model.dose_response.DoseResponseModel.build_inputs`).

        ``shape_variables``, when given, is called inside the new model, before any other
        variable, with the priors and inputs, and returns the dose-shape and time-course
        variables (by name, each with the leading ``outcome`` axis) used in place of those
        created from their priors, so another model can share them
        (:class:`bayesdose.model.combined.CombinedModel`)."""
        priors = self.priors
        if self.serial_correlation == "ar1":
            check_ar1_likelihoods(inputs)
            check_rho_prior(priors["rho"])
        with pm.Model(coords=model_coords(inputs, self.dose_shape, self.time_shape)) as model:
            rv = (shape_variables or self._shape_variables)(priors, inputs)
            for name in ("course", "beta_baseline", "baseline_mean", "beta_covariate",
                         "sigma", "nu", "rho"):
                if name in priors:
                    dims = ("outcome", *self._level_dims(name))
                    rv[name] = with_dims(priors[name], dims).create_variable(name)
            rv["patient_effect"] = self._patient_effects(priors, inputs)
            if self.patient_slopes:
                rv["patient_slope"] = self._patient_slopes(priors, inputs)
            data = data_containers(inputs, swappable)
            mean_std = self._mean(rv, inputs, data["baseline_std"])
            if swappable:
                self._observe_swappable(rv, inputs, mean_std, data)
            else:
                self._observe(rv, priors, inputs, mean_std, data)
                self._effect_deterministic(rv, inputs, data["outcome_sd"])
        return model


    def _level_dims(self, name: str) -> tuple[str, ...]:
        """The dims after ``outcome`` of a parameter created from its prior directly
        (``sigma`` has the visit dim with ``residual_sd="per_visit"``)."""
        if name == "sigma" and self.residual_sd == "per_visit":
            return ("time",)
        return LEVEL_DIMS.get(name, ())

    def _shape_variables(self, priors: dict[str, Prior], inputs: ModelInputs) -> dict:
        """The shape parameters, pooled within families where asked and possible."""
        pooled = self.pooled
        if pooled:
            check_family_scales(inputs)
        dose_params = {p.name for p in self.dose_shape.parameters(inputs.dose_scale)}
        rv = {}
        for param in [*self.dose_shape.parameters(inputs.dose_scale),
                      *self.time_shape.parameters(inputs.time_scale)]:
            levels = (param.levels,) if param.levels else ()
            if pooled and param.poolable and param.name in dose_params:
                form = self.family_form if param.name in MIXED_PARAMETERS else "normal"
                rv[param.name] = pooled_variable(param, priors, inputs, levels, form)
            else:
                prior = with_dims(priors[param.name], ("outcome", *levels))
                rv[param.name] = prior.create_variable(param.name)
        return rv

    def _patient_effects(self, priors: dict[str, Prior], inputs: ModelInputs):
        """Patient effects (outcome, patient): independent, through a shared patient factor
        (loadings plus each outcome's own effect), or correlated through LKJ."""
        structure = self.patient_structure
        if structure == "off":  # no patient effects: zeros, so read-outs stay uniform
            shape = (len(inputs.outcomes), len(inputs.patients))
            return pm.Deterministic("patient_effect", pt.zeros(shape),
                                    dims=("outcome", "patient"))
        if structure == "none":
            return with_dims(priors["patient_effect"],
                             ("outcome", "patient")).create_variable("patient_effect")
        if structure == "factor":
            loading = with_dims(priors["patient_loading"], ("outcome",)).create_variable(
                "patient_loading")
            own_sd = with_dims(priors["patient_sd"], ("outcome",)).create_variable(
                "patient_sd")
            factor = pm.Normal("patient_factor", 0.0, 1.0, dims="patient")
            own = pm.Normal("patient_z", 0.0, 1.0, dims=("outcome", "patient"))
            return pm.Deterministic(
                "patient_effect", loading[:, None] * factor[None, :] + own_sd[:, None] * own,
                dims=("outcome", "patient"))
        prior = priors["patient_sd"]
        if any(isinstance(v, Prior) for v in prior.parameters.values()):
            raise SpecError("priors['patient_sd'] must have numeric parameters (it is the SD "
                            "distribution of the LKJ prior).")
        sd_dist = getattr(pm, prior.distribution).dist(**prior.parameters,
                                                       shape=len(inputs.outcomes))
        chol, _, _ = pm.LKJCholeskyCov("patient_chol", n=len(inputs.outcomes),
                                       eta=self.lkj_eta, sd_dist=sd_dist, compute_corr=True)
        z = pm.Normal("patient_z", 0.0, 1.0, dims=("outcome", "patient"))
        return pm.Deterministic("patient_effect", pt.dot(chol, z), dims=("outcome", "patient"))

    def _patient_slopes(self, priors: dict[str, Prior], inputs: ModelInputs):
        """Patient slopes (outcome, patient): each patient's own change by the last visit,
        ``patient_slope_sd[k]`` times a standard Normal (non-centred), independent of the
        patient effects."""
        if self.patient_structure == "off":
            raise SpecError("patient_slopes=True needs patient effects; this model has "
                            "none (patient_effects=False).")
        sd = with_dims(priors["patient_slope_sd"], ("outcome",)).create_variable(
            "patient_slope_sd")
        offset = pm.Normal("patient_slope_offset", 0.0, 1.0, dims=("outcome", "patient"))
        return pm.Deterministic("patient_slope", sd[:, None] * offset,
                                dims=("outcome", "patient"))

    def _shape_params(self, rv, inputs: ModelInputs, index, extra_axes: int) -> dict[str, Any]:
        """Shape parameters picked per observation (index) or per outcome (extra axes)."""
        shape_params = [*self.dose_shape.parameters(inputs.dose_scale),
                        *self.time_shape.parameters(inputs.time_scale)]
        out = {}
        for param in shape_params:
            value = rv[param.name]
            if index is not None:
                out[param.name] = gather(value, index, param.levels is not None)
            else:
                expand = (slice(None),) + (None,) * extra_axes
                out[param.name] = value[expand + ((slice(None),) if param.levels else ())]
        return out

    def _dose_effect(self, inputs: ModelInputs, shape_params: dict[str, Any]):
        """Per observation, the dose effect against the lowest tested dose (dose 0 with
        placebo), f(d) g(d, t) - f(d_low) g(d_low, t): the course is the change at the
        lowest tested dose. For a dose-independent course, (f(d) - f(d_low)) g(t)."""
        scale, tscale = inputs.dose_scale, inputs.time_scale
        f = self.dose_shape.evaluate(inputs.dose, shape_params, scale, pt)
        g = self.time_shape.evaluate_at(inputs.elapsed, inputs.dose, shape_params, tscale,
                                        scale, pt)
        if scale.lowest > 0:  # the course is the change at the lowest tested dose
            lowest = np.full(len(inputs.dose), scale.lowest)
            f_low = self.dose_shape.evaluate(lowest, shape_params, scale, pt)
            if self.time_shape.dose_dependent:
                g_low = self.time_shape.evaluate_at(inputs.elapsed, lowest, shape_params,
                                                    tscale, scale, pt)
                return f * g - f_low * g_low
            f = f - f_low
        return f * g

    def _mean(self, rv, inputs: ModelInputs, baseline_std: Any = None):
        """The standardised, direction-aligned mean of every observation."""
        baseline_std = inputs.baseline_std if baseline_std is None else baseline_std
        k = inputs.outcome_idx
        shape_params = self._shape_params(rv, inputs, k, 0)
        effect = self._dose_effect(inputs, shape_params)
        course = rv["course"] * course_mask(inputs)
        change = effect + course[k, inputs.time_idx]
        if inputs.analysis == "clda":  # a baseline row's mean is the common baseline mean
            mean = (1.0 - np.asarray(inputs.is_baseline, dtype=float)) * change
            if "baseline_mean" in rv:
                mean = mean + rv["baseline_mean"][k]
        else:
            mean = change + rv["beta_baseline"][k] * baseline_std
        mean = mean + rv["patient_effect"][k, inputs.patient_idx]
        if "patient_slope" in rv:  # 0 at baseline, patient_slope by the last visit
            since = np.where(inputs.is_baseline, 0.0, np.asarray(inputs.elapsed, dtype=float))
            fraction = since / inputs.time_scale.reference
            mean = mean + rv["patient_slope"][k, inputs.patient_idx] * fraction
        if "beta_covariate" in rv:
            covariates = np.asarray(inputs.covariate_std, dtype=float)
            mean = mean + (rv["beta_covariate"][k, :] * covariates).sum(axis=1)
        return mean

    def _observe(self, rv, priors: dict[str, Prior], inputs: ModelInputs, mean_std,
                 data: dict[str, Any]) -> None:
        """One observed variable per likelihood in use (``change``, ``change_t``,
        ``log_change``, ``grade_<outcome>``), each with its own observation dim, observing
        its ``pm.Data`` container (see :func:`data_values`). With
        ``serial_correlation="ar1"`` each observation's distribution is its conditional
        one given the previous observed value of its series (so predictive draws are
        one-step-ahead and pointwise log likelihoods conditional terms)."""
        sd, sign = data["outcome_sd"], inputs.scales.sign
        for kind in sorted(inputs.kinds):
            rows = inputs.observations(kind)
            if kind == "ordinal":
                observe_ordinal(priors, inputs, mean_std, rows, data)
                continue
            k = inputs.outcome_idx[rows]
            mu = (sd * sign)[k] * mean_std[rows]
            if "outcome_offset" in data:  # levels, not changes (constrained analysis)
                mu = data["outcome_offset"][k] + mu
            sigma = residual_scale(rv["sigma"], sd, inputs, rows,
                                   self.residual_sd == "per_visit")
            name = LIKELIHOODS[kind].variable
            if self.serial_correlation == "ar1":
                mu, sigma = self._serial(rv, inputs, rows, mu, sigma,
                                         data[OBSERVED_PREFIX + name])
            if kind == "student_t":
                dist = pm.StudentT.dist(nu=rv["nu"][k], mu=mu, sigma=sigma)
            else:
                dist = pm.Normal.dist(mu=mu, sigma=sigma)
            lower, upper = inputs.lower[rows], inputs.upper[rows]
            if np.isfinite(lower).any() or np.isfinite(upper).any():
                dist = pm.Censored.dist(dist, lower=lower, upper=upper)
            model = pm.modelcontext(None)
            model.register_rv(dist, name, observed=data[OBSERVED_PREFIX + name],
                              dims=(f"obs_{name}",))

    def _serial(self, rv, inputs: ModelInputs, rows: np.ndarray, mu, sigma, observed):
        """The AR(1) conditional location and scale of the observations ``rows`` (those
        of one likelihood, ``observed`` their values) given the previous observation of
        each one's patient x outcome series among the rows present."""
        links = series_links(inputs.patient_idx, inputs.outcome_idx,
                             inputs.elapsed).within(rows)
        rho = rv["rho"][inputs.outcome_idx[rows]]
        return ar1_conditional(mu, sigma, observed, rho, links.previous, links.has_previous,
                               links.gap, ar1_lag(inputs.time_scale))

    def _observe_swappable(self, rv, inputs: ModelInputs, mean_std, data: dict) -> None:
        """The likelihood as one weighted potential over swappable data. With
        ``serial_correlation="ar1"`` an observation's term conditions on the previous
        observation of its series among those with a positive weight (chosen from the
        weights in the graph, so observations left out at weight 0 are skipped exactly)."""
        kinds = inputs.kinds
        if kinds - {"normal", "student_t", "lognormal"}:
            raise SpecError("swappable models take continuous likelihoods only (normal, "
                            f"student_t, lognormal); this one uses {sorted(kinds)}.")
        sd, sign = data["outcome_sd"], inputs.scales.sign
        k = inputs.outcome_idx
        mu = (sd * sign)[k] * mean_std
        if "outcome_offset" in data:  # levels, not changes (constrained analysis)
            mu = data["outcome_offset"][k] + mu
        sigma = residual_scale(rv["sigma"], sd, inputs, np.arange(k.size),
                               self.residual_sd == "per_visit")
        if self.serial_correlation == "ar1":
            candidates, valid = earlier_rows(inputs.patient_idx, k, inputs.elapsed)
            previous, has_previous, gap = present_links(candidates, valid, data["weight"],
                                                        inputs.elapsed)
            mu, sigma = ar1_conditional(mu, sigma, data["response"], rv["rho"][k], previous,
                                        has_previous, gap, ar1_lag(inputs.time_scale))
        total = 0.0
        for kind in sorted(kinds):
            rows = inputs.observations(kind)
            if kind == "student_t":
                dist = pm.StudentT.dist(nu=rv["nu"][k[rows]], mu=mu[rows], sigma=sigma[rows])
            else:
                dist = pm.Normal.dist(mu=mu[rows], sigma=sigma[rows])
            response = data["response"][rows]
            logp = pm.logp(dist, response)
            if np.isfinite(inputs.lower[rows]).any() or np.isfinite(inputs.upper[rows]).any():
                logp = censored_logp(dist, response, logp, data["lower"][rows],
                                      data["upper"][rows])
            total = total + (data["weight"][rows] * logp).sum()
        pm.Potential("loglik", total)

    def _effect_deterministic(self, rv, inputs: ModelInputs, outcome_sd: Any) -> None:
        """Dose effect against dose 0 at each tested dose and visit, in outcome units."""
        shape_params = self._shape_params(rv, inputs, None, 2)
        dose = np.asarray(inputs.doses)[:, None]
        elapsed = np.asarray(inputs.time_scale.visits)
        f = self.dose_shape.evaluate(dose, shape_params, inputs.dose_scale, pt)
        g = self.time_shape.evaluate_at(elapsed, dose, shape_params, inputs.time_scale,
                                        inputs.dose_scale, pt)
        unit = (outcome_sd * inputs.scales.sign)[:, None, None]
        pm.Deterministic("effect", unit * f * g, dims=("outcome", "dose", "time"))
