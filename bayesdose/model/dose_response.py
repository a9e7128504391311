"""The dose-response model: what it is, separate from how it is sampled and read out.

For patient i, outcome k and visit t after baseline, on the standardised,
direction-aligned scale (outcome units / s_k, times sign_k so that positive = better),

    m_ikt = f_k(dose_i) * g_k(t) + h_k(t) + beta_k * (baseline_ik - mean_k) / s_k
            + sum_c gamma_kc * x_ic + u_ik

with f the dose shape (:mod:`bayesdose.components.shapes`, f(0) = 0), g the time course of the dose
effect (:mod:`bayesdose.components.timecourses`), h the course common to every dose (free per
visit), x_ic the patient-level covariates declared with the data (``TrialData.from_frame(...,
covariates=[...])``; centred over the trial's patients, numeric ones per SD, categorical ones
as levels against a reference, see :class:`~bayesdose.components.inputs.CovariateCoding`)
with effects gamma (``beta_covariate``; none without covariates) and u a patient effect
(with ``patient_slopes=True`` also + v_ik * t / t_last, a patient's own slope in time).
When several outcomes are modelled, a patient's effects are related across outcomes
(``patient_correlation``): by default through one patient factor shared by all outcomes,
with a non-negative loading per outcome, plus each outcome's own effect; optionally
through a full correlation matrix with an LKJ prior, or not at all. Each outcome's
likelihood (:mod:`bayesdose.components.likelihoods`) observes sign_k * s_k * m_ikt: the
change from baseline (Normal or Student-t, censored at scale bounds), the change in log
value (lognormal) or the grade (ordered logistic, with s_k = 1).

Outcomes of one family (``OutcomeInfo.family``) share their real-valued dose-shape
parameters (``pooling="family"``, the default): each outcome's effect size ``delta``
follows its family's distribution, Normal(family mean, family SD) with the SD estimated,
with prior probability 1/2, or else keeps its own prior (a two-component mixture), so
related outcomes borrow strength as much as the data say they should, while one outcome
whose effect differs from the others (a null outcome beside real effects) keeps nearly
the estimate it would have alone; its ``log_ed50``, ... are its family's mean plus a
Normal deviation (non-centred). A family is pooled only when its outcomes'
effects are on one scale (continuous and log-normal outcomes in outcome SDs; ordinal
outcomes in latent log odds); a family that mixes them is refused. Time-course
parameters stay per outcome.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
from pymc_extras.prior import Prior

from bayesdose.components.graph import POOLING_FORMS, ModelGraph, check_family_scales
from bayesdose.components.inputs import ANALYSES, ModelInputs, prepare_inputs
from bayesdose.components.likelihoods import LIKELIHOODS
from bayesdose.components.priors import (
    model_parameters,
    prior_from_mapping,
    prior_table,
    prior_to_mapping,
    resolve_priors,
)
from bayesdose.components.residuals import check_ar1_likelihoods, check_residual_options
from bayesdose.components.shapes import DoseScale, DoseShape, Parameter, get_dose_shape
from bayesdose.components.timecourses import TimeShape, get_time_shape
from bayesdose.data.trial import TrialData
from bayesdose.errors import BayesdoseError, DataError, SpecError
from bayesdose.files.output import first_line
from bayesdose.inference.backends import check_sampler_settings, resolve_sampler
from bayesdose.inference.compiled import READOUT_MODE, CompiledCache, compiled_model
from bayesdose.progress import resolve_progress
from bayesdose.results.arm_storage import refuse_arm_fit
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.storage import (
    attach_metadata,
    data_from_idata,
    read_fit_file,
    upgrade_parameterisation,
)

POOLING = ("family", "family_normal", "none")


PATIENT_STRUCTURES = ("factor", "lkj", "none")


class DoseResponseModel:
    """A longitudinal dose-response model for one or more outcomes.

    Parameters
    ----------
    dose_shape : str or DoseShape
        Dose-response shape f: ``"linear"``, ``"log_linear"``, ``"emax"``,
        ``"sigmoid_emax"``, ``"exponential"``, ``"quadratic"``, ``"free"``, ``"monotone"``
        or any registered name (see :func:`bayesdose.components.shapes.dose_shape_names`).
    time_shape : str or TimeShape
        Time course g of the dose effect: ``"exponential"``, ``"bateman"``, ``"emax"``,
        ``"piecewise_linear"``, ``"free"`` or any registered name.
    priors : dict of str to Prior, optional
        Overrides of the default priors by parameter name; see :meth:`prior_table` for
        the names, the defaults and their reasons.
    likelihood : str or dict, optional
        ``"normal"``, ``"student_t"``, ``"lognormal"`` or ``"ordinal"`` for every outcome,
        or a mapping per outcome. Default: each outcome's declared ``likelihood``
        (``OutcomeInfo``), else ``"normal"``.
    outcomes : list of str, optional
        Outcomes to model (default: all outcomes in the data).
    pooling : {"family", "family_normal", "none"}
        ``"family"``: outcomes of the same family share their real-valued dose-shape
        parameters: the effect size ``delta`` follows a family-level Normal with
        estimated SD with prior probability 1/2, else keeps its own prior (a
        two-component mixture), so one outcome that differs from the rest (a null
        outcome beside real effects) keeps nearly its own estimate; ``log_ed50``, ...
        are drawn from a family-level Normal (non-centred); outcomes alone in
        their family are not pooled; time courses stay per outcome.
        A family whose outcomes' effects are on different scales (an ordinal outcome's
        log odds beside a continuous or log-normal outcome's outcome SDs) is refused
        with a :class:`~bayesdose.errors.SpecError`: give them separate families.
        ``"family_normal"``: ``delta`` too drawn from the family-level Normal
        (non-centred offsets; the form of bayesdose 0.1), which pulls a null
        outcome towards its family's effects (for sensitivity checks; see the pooling
        guide).
        ``"none"``: every outcome has its own parameters.
    patient_correlation : {"factor", "lkj", "none"}
        With several outcomes, how a patient's effects are related across outcomes.
        ``"factor"`` (default): one patient factor shared by all outcomes with a
        non-negative loading per outcome (direction-aligned), plus each outcome's own
        effect; K loadings instead of K(K-1)/2 correlations, which a dozen patients can
        inform. ``"lkj"``: a full correlation matrix with an LKJ(``lkj_eta``) prior,
        non-centred through its Cholesky factor (on the embedded example's 12 outcomes it
        did not mix: R-hat 1.03; the factor form mixed but had 0-5 divergences there).
        ``"none"``: independent. ``True``/``False`` mean ``"lkj"``/``"none"``.
    patient_effects : bool
        ``True`` (default): a lasting effect per patient and outcome (``u`` in the model).
        ``False``: none; the patients' deviations are left to the residual. For trials
        with one post-baseline value per patient (a parallel-group trial), where a
        patient effect cannot be told apart from the residual, and for a model without
        them to compare against.
    lkj_eta : float
        Shape of the LKJ prior (1 = uniform over correlation matrices; larger values
        shrink towards independence).
    analysis : {"auto", "change", "clda"}
        How the baseline enters. ``"change"``: the response is each post-baseline
        value's change from the patient's baseline, with the centred baseline as a
        covariate (``beta_baseline``), an ANCOVA at every visit; it needs every patient's
        baseline. ``"clda"``: the constrained longitudinal analysis (Liang and Zeger
        2000): every observed value, baselines included, is a response (its level), the
        mean at baseline (``baseline_mean``) is common to every dose, as randomisation
        implies, and the patient effects carry the correlation between a patient's
        baseline and later values; patients with a missing baseline, or data without
        baselines (one measurement per patient after dosing: give a ``baseline_time``
        before the first visit), contribute what they have. ``"auto"`` (default): the
        change analysis when every patient has a baseline of every modelled outcome (it
        is the more efficient and the standard one then), the cLDA otherwise. Ordinal
        outcomes need the change analysis. Dose effects, contrasts and the common course
        mean the same in both (differences in mean change from baseline).
    residual_sd : {"common", "per_visit"}
        ``"common"`` (default): one residual SD ``sigma`` per outcome. ``"per_visit"``:
        one per outcome and visit (``sigma`` with dims ``outcome, time``, each with the
        default prior of ``sigma``), for outcomes whose visit-to-visit noise changes over
        the trial. Continuous likelihoods only (ordinal outcomes have no ``sigma``).
    serial_correlation : {"none", "ar1"}
        ``"none"`` (default): given the mean and the patient effect, a patient's residuals
        are independent. ``"ar1"``: within each patient and outcome they follow a
        continuous-time AR(1), ``corr(e_i, e_j) = rho ** (|t_i - t_j| / lag)``, with
        ``rho`` per outcome (Beta(2, 2)) and ``lag`` the median gap between consecutive
        scheduled visits, baseline included (stated in :meth:`prior_table`); with the
        patient effects (the intended combination) residuals of visits close in time are
        more alike than those far apart. The likelihood is exact (each observation given
        the previous observed value of its series, so missing visits and unequal gaps are
        handled); pointwise log likelihoods are then conditional terms, so leave-one-
        patient-out (:func:`bayesdose.loo`'s default) stays valid but leave-one-
        observation-out does not, and predictive draws are one-step-ahead (each given the
        patient's previous observed value). Normal, Student-t (t innovations) and
        lognormal outcomes (on the log scale); refused for ordinal ones. See
        :mod:`bayesdose.components.residuals`.
    patient_slopes : bool
        ``False`` (default): a patient's deviation from the mean is the same at every
        visit (the patient effect ``u``). ``True``: add a slope in time per patient and
        outcome, ``v_ik * t / t_last`` on the standardised scale (``t`` the time since
        baseline, 0 at baseline; ``t_last`` the last visit), so ``v_ik``
        (``patient_slope``) is the patient's own change by the last visit beyond ``u``:
        patients who keep improving or worsening at their own rates. Non-centred
        Normal(0, ``patient_slope_sd``) with ``patient_slope_sd`` ~ HalfNormal(0.5) per
        outcome, independent of the patient effects and across outcomes (no
        intercept-slope correlation). Needs patient effects (refused with
        ``patient_effects=False``) and at least two measurement times per outcome (with
        one, a slope is a second intercept). Every likelihood; for ordinal outcomes the
        slope is on the latent logit scale, as the patient effect is. Choose by
        leave-one-patient-out (:func:`bayesdose.compare`).
    dose_options, time_options : dict, optional
        Settings of the shapes (for example ``{"offset": 1.0}`` for ``log_linear`` or
        ``{"knots": [3, 12]}`` for ``piecewise_linear``).

    Notes
    -----
    Default priors (standardised scale; see :mod:`bayesdose.components.priors` and
    ``docs/concepts.md``): ``delta`` (effect at the top dose) Normal(0, 1); ``log_ed50``
    StudentT(5, 0, 1.73) around the geometric mean tested dose (clinDR); ``log_t_half``
    Normal(log 0.2, 1) relative to the last visit; ``course`` Normal(0, 1);
    ``beta_baseline`` Normal(0, 1); ``sigma`` HalfNormal(1). Patient effects: with one
    outcome (or ``patient_correlation="none"``) a non-centred Normal(0, sd) per outcome
    with sd ~ HalfNormal(0.5); in the factor form, loadings ``patient_loading``
    HalfNormal(0.5) and each outcome's own SD ``patient_sd`` Gamma(2, 4) (mean 0.5); in
    the LKJ form, SDs ``patient_sd`` HalfNormal(0.5) and LKJ(``lkj_eta``) correlations.
    Between-outcome SDs of pooled parameters (``<name>_family_sd``) Gamma(2, 4) (mean
    0.5), Gamma(2, 2) (mean 1) for ``log_ed50``; the parameter's own prior is then that of
    its family mean (and, for ``delta``, of the "own" component of each outcome's
    mixture).
    :meth:`prior_table` lists the priors of a model on given data.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential")
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> model.prior_table(data)["parameter"].tolist()[:3]
    ['delta', 'log_ed50', 'log_t_half']
    """

    def __init__(
        self,
        dose_shape: str | DoseShape = "emax",
        time_shape: str | TimeShape = "exponential",
        priors: dict[str, Prior] | None = None,
        likelihood: str | dict[str, str] | None = None,
        outcomes: list[str] | None = None,
        pooling: str = "family",
        patient_correlation: str | bool = "factor",
        lkj_eta: float = 2.0,
        dose_options: dict[str, Any] | None = None,
        time_options: dict[str, Any] | None = None,
        patient_effects: bool = True,
        analysis: str = "auto",
        residual_sd: str = "common",
        serial_correlation: str = "none",
        patient_slopes: bool = False,
    ) -> None:
        self.dose_shape = get_dose_shape(dose_shape, **(dose_options or {}))
        self.time_shape = get_time_shape(time_shape, **(time_options or {}))
        names = [likelihood] if isinstance(likelihood, str) else list(
            (likelihood or {}).values())
        for name in names:
            if name not in LIKELIHOODS:
                raise SpecError(f"likelihood {name!r} is not one of {', '.join(LIKELIHOODS)}.")
        if pooling not in POOLING:
            raise SpecError(f"pooling {pooling!r} is not one of {', '.join(POOLING)}.")
        if (isinstance(lkj_eta, bool) or not isinstance(lkj_eta, (int, float))
                or not np.isfinite(lkj_eta) or lkj_eta <= 0):
            raise SpecError(f"lkj_eta must be a positive number (got {lkj_eta!r}).")
        self.likelihood = likelihood
        self.priors = dict(priors or {})
        self.outcomes = None if outcomes is None else list(outcomes)
        self.pooling = pooling
        structure = {True: "lkj", False: "none"}.get(patient_correlation, patient_correlation)
        if structure not in PATIENT_STRUCTURES:
            raise SpecError(f"patient_correlation {patient_correlation!r} is not one of "
                            f"{', '.join(PATIENT_STRUCTURES)}.")
        self.patient_correlation = structure
        if not isinstance(patient_effects, (bool, np.bool_)):
            raise SpecError(f"patient_effects must be true or false (got {patient_effects!r}).")
        self.patient_effects = bool(patient_effects)
        if analysis not in ANALYSES:
            raise SpecError(f"analysis {analysis!r} is not one of {', '.join(ANALYSES)} "
                            "(\"auto\" chooses by the data).")
        self.analysis = analysis
        check_residual_options(residual_sd, serial_correlation)
        self.residual_sd = residual_sd
        self.serial_correlation = serial_correlation
        self.patient_slopes = check_patient_slopes(patient_slopes, self.patient_effects)
        self.lkj_eta = float(lkj_eta)
        #: Compiled models of this model, one per design (refits of a design are warm).
        self.compiled_models = CompiledCache()

    # ------------------------------------------------------------------ description
    def config(self) -> dict[str, Any]:
        """Everything that defines the model, as plain data (saved with every fit).

        Returns
        -------
        dict
            Keys ``dose_shape``, ``dose_options``, ``time_shape``, ``time_options``,
            ``likelihood``, ``outcomes``, ``pooling``, ``patient_correlation``,
            ``lkj_eta`` and ``priors`` (each override as a mapping such as
            ``{"distribution": "Normal", "mu": 0, "sigma": 0.5}``), and
            ``patient_effects`` when they are switched off, ``analysis`` when it is not
            ``"auto"``, ``residual_sd`` and ``serial_correlation`` when they are not
            ``"common"`` and ``"none"``, ``patient_slopes`` when it is on;
            JSON-serialisable.

        See Also
        --------
        from_config : the model back from this mapping.

        Examples
        --------
        >>> import bayesdose as bd
        >>> config = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential").config()
        >>> config["dose_shape"], config["time_shape"], config["patient_correlation"]
        ('emax', 'exponential', 'factor')
        """

        config = {
            "dose_shape": self.dose_shape.name,
            "dose_options": self.dose_shape.options(),
            "time_shape": self.time_shape.name,
            "time_options": self.time_shape.options(),
            "likelihood": self.likelihood,
            "outcomes": self.outcomes,
            "pooling": self.pooling,
            "patient_correlation": self.patient_correlation,
            "lkj_eta": self.lkj_eta,
            "priors": {k: prior_to_mapping(v) for k, v in self.priors.items()},
        }
        if not self.patient_effects:
            config["patient_effects"] = False
        if self.analysis != "auto":
            config["analysis"] = self.analysis
        if self.residual_sd != "common":
            config["residual_sd"] = self.residual_sd
        if self.serial_correlation != "none":
            config["serial_correlation"] = self.serial_correlation
        if self.patient_slopes:
            config["patient_slopes"] = True
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DoseResponseModel:
        """Rebuild a model from :meth:`config` output.

        Parameters
        ----------
        config : dict
            A mapping as returned by :meth:`config` (and stored in every fit):
            ``dose_shape`` and ``time_shape`` are required; ``likelihood``, ``outcomes``,
            ``pooling``, ``patient_correlation``, ``lkj_eta``, ``dose_options`` and
            ``time_options`` take the constructor's defaults when absent; ``priors`` maps
            parameter names to prior tables (``{"distribution": "Normal", "sigma": 1}``).

        Returns
        -------
        DoseResponseModel

        Examples
        --------
        >>> import bayesdose as bd
        >>> from pymc_extras.prior import Prior
        >>> model = bd.DoseResponseModel(priors={"delta": Prior("Normal", mu=0, sigma=0.5)})
        >>> again = bd.DoseResponseModel.from_config(model.config())
        >>> again.priors["delta"]
        Prior("Normal", mu=0, sigma=0.5)
        >>> again.config() == model.config()
        True
        """

        priors = {k: prior_from_mapping(v, f"priors.{k}")
                  for k, v in (config.get("priors") or {}).items()}
        keys = ("likelihood", "outcomes", "pooling", "patient_correlation", "lkj_eta",
                "dose_options", "time_options", "patient_effects", "analysis",
                "residual_sd", "serial_correlation", "patient_slopes")
        return cls(dose_shape=config["dose_shape"], time_shape=config["time_shape"],
                   priors=priors, **{k: config[k] for k in keys if k in config})

    def select_data(self, data: TrialData) -> TrialData:
        """The part of ``data`` this model uses (its outcomes).

        Parameters
        ----------
        data : TrialData
            The trial.

        Returns
        -------
        TrialData
            ``data`` restricted to the model's ``outcomes``, or ``data`` itself when the
            model takes all outcomes.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial()
        >>> model = bd.DoseResponseModel(outcomes=["koos_pain", "womac_pain"])
        >>> model.select_data(data).outcomes
        ['koos_pain', 'womac_pain']
        >>> bd.DoseResponseModel().select_data(data) is data
        True
        """
        return data if self.outcomes is None else data.select(self.outcomes)

    def inputs(self, data: TrialData) -> ModelInputs:
        """``data`` arranged for this model (its outcomes and likelihoods).

        Parameters
        ----------
        data : TrialData
            The trial (outcomes the model does not take are left out, see
            :meth:`select_data`).

        Returns
        -------
        ModelInputs
            One entry per modelled observation (its outcome, patient, visit, dose,
            response and standardised baseline, bounds), with the doses, visits, outcome
            scales, likelihoods and families (see :func:`prepare_inputs`). With actual
            times in the data, ``elapsed`` holds them (time since baseline), except for
            time courses with one value per visit (``free``), which take the nominal
            visits.

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> inputs.outcomes, inputs.doses, inputs.visits
        (['koos_pain'], (1.0, 10.0, 50.0), (1.0, 3.0, 6.0, 12.0))
        """
        inputs = prepare_inputs(self.select_data(data), self.likelihood, self.analysis)
        if callable(getattr(self.time_shape, "levels", None)):
            # a course with one value per visit is evaluated at the nominal visits
            return replace(inputs, elapsed=inputs.nominal_elapsed)
        return inputs

    def pooled(self, inputs: ModelInputs) -> bool:
        """Whether any family has two or more outcomes to pool.

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model (see :meth:`inputs`).

        Returns
        -------
        bool
            True when ``pooling`` is ``"family"`` or ``"family_normal"`` and at least one
            family has two or more of the modelled outcomes.

        Raises
        ------
        SpecError
            When pooling would put outcomes whose effects are on different scales (an
            ordinal outcome beside a continuous or log-normal one) in one family
            distribution (see :func:`bayesdose.components.graph.check_family_scales`).

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial()
        >>> model = bd.DoseResponseModel()
        >>> model.pooled(model.inputs(data.select(["koos_pain", "womac_pain"])))  # both PROM
        True
        >>> model.pooled(model.inputs(data.select(["koos_pain", "mri_t2"])))  # PROM and MRI
        False
        """
        pooled = self.pooling != "none" and bool((inputs.family_sizes() > 1).any())
        if pooled:
            check_family_scales(inputs)
        return pooled

    def correlated(self, inputs: ModelInputs) -> str:
        """How patient effects are related across outcomes on ``inputs`` ("none" for one
        outcome).

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model (see :meth:`inputs`).

        Returns
        -------
        str
            ``patient_correlation`` (``"factor"``, ``"lkj"`` or ``"none"``) with two or
            more outcomes, ``"none"`` with one, ``"off"`` without patient effects.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial()
        >>> model = bd.DoseResponseModel()
        >>> model.correlated(model.inputs(data.select(["koos_pain", "womac_pain"])))
        'factor'
        >>> model.correlated(model.inputs(data.select(["koos_pain"])))
        'none'
        """
        if not self.patient_effects:
            return "off"
        return self.patient_correlation if len(inputs.outcomes) > 1 else "none"

    def default_target_accept(self, inputs: ModelInputs) -> float:
        """NUTS target acceptance used unless one is given: 0.95, or 0.98 when outcomes
        are pooled within families or share patient effects.

        On all twelve outcomes of the embedded example, 0.95 left a few divergent
        transitions for some seeds (5 of 4000 with seed 2019, in the two-outcome MRI
        family, whose family SDs are learnt from two outcomes); 0.98 gave none for seeds
        1, 2 and 2019, with a smaller step size but more effective draws (minimum bulk
        ESS 953-1301 against 571-667), see benchmarks/README.md.

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model (see :meth:`inputs`).

        Returns
        -------
        float

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial()
        >>> model = bd.DoseResponseModel()
        >>> model.default_target_accept(model.inputs(data.select(["koos_pain"])))
        0.95
        >>> model.default_target_accept(model.inputs(data.select(["koos_pain", "mri_t2"])))
        0.98
        """
        across = self.pooled(inputs) or self.correlated(inputs) not in ("none", "off")
        return 0.98 if across else 0.95

    def _parameters(self, inputs: ModelInputs) -> list[Parameter]:
        if self.serial_correlation == "ar1":
            check_ar1_likelihoods(inputs)
        if self.patient_slopes:
            check_slope_times(inputs)
        return model_parameters(self.dose_shape, self.time_shape, inputs.dose_scale,
                                inputs.time_scale, inputs.kinds, self.pooled(inputs),
                                self.correlated(inputs), bool(inputs.covariate_names),
                                inputs.analysis, inputs.has_baseline_rows,
                                residual_sd=self.residual_sd,
                                serial_correlation=self.serial_correlation,
                                patient_slopes=self.patient_slopes)

    def parameters(self, data: TrialData) -> list[Parameter]:
        """The model's parameters on ``data``, with their default priors and reasons.

        Which parameters there are depends on the data: the shapes' parameters, a
        between-outcome SD per pooled dose-shape parameter when outcomes are pooled, the
        patient-effect parameters of the structure in force (:meth:`correlated`) and
        the parameters of the likelihoods in use (``sigma``, ``nu``, ``cutpoints``).

        Parameters
        ----------
        data : TrialData
            The trial (its outcomes, doses and visits).

        Returns
        -------
        list of Parameter
            The defaults, not the overrides in ``priors`` (see :meth:`prior_table` for
            the priors in force).

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> [p.name for p in bd.DoseResponseModel().parameters(data)]
        ['delta', 'log_ed50', 'log_t_half', 'course', 'beta_baseline', 'patient_effect', 'sigma']
        """
        return self._parameters(self.inputs(data))

    def prior_table(self, data: TrialData) -> pd.DataFrame:
        """Every parameter, its prior in force, whether it is the default, and why.

        Parameters
        ----------
        data : TrialData
            The trial (priors are stated relative to its tested doses and visits).

        Returns
        -------
        pandas.DataFrame
            One row per parameter (as :meth:`parameters`): parameter, meaning, prior (in
            force), default (whether it is the default), reason (of the default); then
            one row per outcome, ``scale_sd[<outcome>]``: the scale SD the standardised
            priors are in units of, with its units and what it is (the declared SD, or
            the pooled within-arm SD of the change at the last visit).

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> table = bd.DoseResponseModel().prior_table(data)
        >>> table["parameter"].tolist()  # doctest: +NORMALIZE_WHITESPACE
        ['delta', 'log_ed50', 'log_t_half', 'delta_family_sd', 'log_ed50_family_sd',
         'course', 'beta_baseline', 'patient_loading', 'patient_sd', 'sigma',
         'scale_sd[koos_pain]', 'scale_sd[womac_pain]']
        >>> table.set_index("parameter").loc["patient_sd", "prior"]
        'Prior("Gamma", alpha=2, beta=4)'
        >>> table.set_index("parameter").loc["scale_sd[koos_pain]", "prior"]
        'fixed: 12 points'
        """
        inputs = self.inputs(data)
        params = self._parameters(inputs)
        return prior_table(params, resolve_priors(params, self.priors),
                           inputs.scales.table(inputs.outcomes))

    def __repr__(self) -> str:
        return (f"DoseResponseModel(dose_shape={self.dose_shape.name!r}, "
                f"time_shape={self.time_shape.name!r}, likelihood={self.likelihood!r}, "
                f"pooling={self.pooling!r}, priors={sorted(self.priors)})")

    # ------------------------------------------------------------------ PyMC model
    def build(self, data: TrialData) -> tuple[pm.Model, ModelInputs]:
        """Build the PyMC model for ``data``.

        Parameters
        ----------
        data : TrialData
            The trial.

        Returns
        -------
        (pymc.Model, ModelInputs)
            The model (one observed variable per likelihood in use: ``change``,
            ``change_t``, ``log_change``, ``grade_<outcome>``) and the inputs it was
            built from (:meth:`inputs`).

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> pymc_model, inputs = bd.DoseResponseModel().build(data)
        >>> [rv.name for rv in pymc_model.observed_RVs]
        ['change']
        >>> pymc_model["effect"].ndim  # outcome x dose x time, in outcome units
        3
        """
        inputs = self.inputs(data)
        return self.build_inputs(inputs), inputs

    def build_inputs(self, inputs: ModelInputs, swappable: bool = False) -> pm.Model:
        """Build the PyMC model for prepared inputs (see :meth:`inputs`).

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model, possibly with observations left out
            (:meth:`ModelInputs.without`).
        swappable : bool
            Hold the per-observation data (``response``, ``baseline_std``, ``weight``,
            ``lower``, ``upper``) in ``pm.Data`` containers and add the likelihood as
            one potential ``loglik`` = sum of weight x log density, so new data of the
            same design (observations missing at weight 0) can be swapped in without
            rebuilding or recompiling (used by design simulations; continuous
            likelihoods only; no posterior predictive or pointwise log likelihood).

        Returns
        -------
        pymc.Model

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> swappable = model.build_inputs(inputs, swappable=True)
        >>> [p.name for p in swappable.potentials], swappable.observed_RVs
        (['loglik'], [])
        >>> sorted(d.name for d in swappable.data_vars)
        ['baseline_std', 'lower', 'outcome_sd', 'response', 'upper', 'weight']
        """
        warn_if_unidentified(self.dose_shape, inputs.dose_scale)
        return self.graph(inputs).build(inputs, swappable)

    def graph(self, inputs: ModelInputs) -> ModelGraph:
        """What the PyMC graph of this model on ``inputs`` is built from: the shapes,
        the resolved priors and the hierarchy in force on these data.

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model (see :meth:`inputs`).

        Returns
        -------
        ModelGraph
            Its :meth:`~bayesdose.components.graph.ModelGraph.build` makes the model
            (what :meth:`build_inputs` does; other models that share parameters with
            this one build on it too).

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> graph = model.graph(inputs)
        >>> graph.patient_structure, sorted(graph.priors)[:2]
        ('none', ['beta_baseline', 'course'])
        """
        priors = resolve_priors(self._parameters(inputs), self.priors)
        return ModelGraph(self.dose_shape, self.time_shape, priors, self.pooled(inputs),
                          self.correlated(inputs), self.lkj_eta, POOLING_FORMS[self.pooling],
                          residual_sd=self.residual_sd,
                          serial_correlation=self.serial_correlation,
                          patient_slopes=self.patient_slopes)

    # ------------------------------------------------------------------ sampling
    def fit(
        self,
        data: TrialData,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int = 1,
        target_accept: float | None = None,
        sampler: str = "auto",
        cores: int | None = None,
        progressbar: bool | None = None,
        prior_draws: int = 500,
    ):
        """Sample the posterior and return a :class:`~bayesdose.results.fit.DoseResponseFit`.

        Parameters
        ----------
        data : TrialData
            The trial.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed; the same seed, data and model give the same numbers.
        target_accept : float, optional
            NUTS target acceptance rate. Default: 0.95 for a model of one outcome and
            0.98 for a hierarchy across outcomes (see :meth:`default_target_accept`),
            above PyMC's 0.8 because hierarchical models of a dozen patients have tight
            curvature (family and patient SDs); raise it further when there are
            divergences.
        sampler : {"auto", "pymc", "nutpie", "numpyro", "blackjax"}
            NUTS implementation (:mod:`bayesdose.inference.backends`). The default ``"auto"`` takes
            nutpie (installed with bayesdose; about ten times the effective draws per
            second of PyMC's NUTS on these models, see benchmarks/README.md), else PyMC's
            own NUTS. NumPyro and BlackJAX (``pip install "bayesdose[fast]"``) are
            offered but diverge on the multi-outcome model. Every backend returns the
            same groups and variables, and the fit records the backend that ran
            (``fit.settings["sampler"]``).

            The model is built and compiled once per design and kept by this model
            object (:mod:`bayesdose.inference.compiled`): fitting it again on data of the same
            design (:meth:`DoseResponseFit.refit`) skips building and compiling.
        cores : int, optional
            Parallel chains (default: min(chains, CPU count)).
        progressbar : bool, optional
            Show the sampler's progress bar (default: when stderr is a terminal and
            ``CI`` is unset, or as ``BAYESDOSE_PROGRESS`` says; see
            :func:`bayesdose.progress.resolve_progress`).
        prior_draws : int
            Draws from the prior and prior predictive, stored in the fit (0 to skip).

        Returns
        -------
        DoseResponseFit

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> fit = bd.DoseResponseModel().fit(data, draws=100, tune=100, chains=2,
        ...                                  progressbar=False)  # doctest: +SKIP
        >>> fast = bd.DoseResponseModel().fit(data, sampler="auto")  # doctest: +SKIP
        >>> fast.settings["sampler"]  # doctest: +SKIP
        'nutpie'
        """

        data = self.select_data(data)
        inputs = self.inputs(data)
        if target_accept is None:
            target_accept = self.default_target_accept(inputs)
        check_sampler_settings(draws, tune, chains, target_accept, sampler)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": resolve_sampler(sampler)}
        idata = self.sample_inputs(inputs, settings, cores=cores, progressbar=progressbar,
                                   prior_draws=prior_draws)
        attach_metadata(idata, self, data, inputs, settings)
        return DoseResponseFit(self, data, idata)

    def sample_inputs(self, inputs: ModelInputs, settings: dict[str, Any],
                      cores: int | None = None, progressbar: bool | None = None,
                      prior_draws: int = 500, predictive: bool = True):
        """Build the model on prepared inputs and sample it (the work of :meth:`fit`).

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model.
        settings : dict
            ``draws``, ``tune``, ``chains``, ``random_seed``, ``target_accept``,
            ``sampler`` (as recorded in a fit; ``"auto"`` is resolved here).
        cores, progressbar, prior_draws
            As in :meth:`fit`.
        predictive : bool
            Also draw the posterior predictive.

        Returns
        -------
        xarray.DataTree
            Groups ``posterior``, ``sample_stats``, ``log_likelihood`` and
            ``observed_data``, with ``posterior_predictive`` when ``predictive`` and
            ``prior`` and ``prior_predictive`` when ``prior_draws`` > 0, whatever the
            sampler; without the stored data and configuration (see :meth:`fit`).

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> settings = {"draws": 100, "tune": 100, "chains": 2, "random_seed": 1,
        ...             "target_accept": 0.95, "sampler": "auto"}
        >>> idata = model.sample_inputs(inputs, settings, prior_draws=0)  # doctest: +SKIP
        >>> idata["log_likelihood"]["change"].dims  # doctest: +SKIP
        ('chain', 'draw', 'obs_change')
        """

        settings = {**settings, "sampler": resolve_sampler(settings["sampler"])}
        progressbar = resolve_progress(progressbar)
        cores = cores or min(settings["chains"], os.cpu_count() or 1)
        compiled = compiled_model(self, inputs)
        return compiled.sample(inputs, settings, cores=cores, progressbar=progressbar,
                               prior_draws=prior_draws, predictive=predictive)

    def plot_prior(self, data: TrialData, draws: int = 500, random_seed: int = 1):
        """Figure of the dose-response and time course the priors imply (see
        :func:`bayesdose.plots.plot_prior_predictive`).

        Parameters
        ----------
        data : TrialData
            The trial design (doses, visits); its values are not used.
        draws : int
            Prior draws.
        random_seed : int
            Seed.

        Returns
        -------
        matplotlib.figure.Figure
            Left, the dose effect at the last visit against dose; right, the effect of
            the top dose over time; both on the standardised, direction-aligned scale.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> fig = bd.DoseResponseModel().plot_prior(data, draws=100)
        >>> [ax.get_title() for ax in fig.axes]
        ['dose effect at 12 months after baseline', 'effect of the top dose (50) over time']
        """
        # matplotlib loads only when a figure is drawn
        from bayesdose.plots.fits import plot_prior_predictive

        return plot_prior_predictive(self, data, draws=draws, random_seed=random_seed)

    def sample_prior_predictive(self, data: TrialData, draws: int = 500,
                                random_seed: int = 1):
        """Draw from the prior and prior predictive on ``data``'s design.

        Parameters
        ----------
        data : TrialData
            The trial (its doses, visits and patients; its values are not used).
        draws : int
            Number of prior draws.
        random_seed : int
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``prior`` (including ``effect``) and ``prior_predictive``.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> prior = bd.DoseResponseModel().sample_prior_predictive(data, draws=50)
        >>> prior["prior"]["effect"].dims
        ('chain', 'draw', 'outcome', 'dose', 'time')
        """
        model, _ = self.build(data)
        with model:
            return pm.sample_prior_predictive(draws=draws, random_seed=random_seed,
                                              compile_kwargs={"mode": READOUT_MODE})


def check_patient_slopes(patient_slopes: Any, patient_effects: bool) -> bool:
    """Check the ``patient_slopes`` option against the rest of the model.

    Parameters
    ----------
    patient_slopes : bool
        Whether to add a slope in time per patient and outcome.
    patient_effects : bool
        Whether the model has patient effects (the slopes' intercepts).

    Returns
    -------
    bool
        ``patient_slopes`` as a plain bool.

    Raises
    ------
    SpecError
        When ``patient_slopes`` is not true or false, or is on without patient effects.

    Examples
    --------
    >>> check_patient_slopes(True, patient_effects=True)
    True
    >>> check_patient_slopes(True, patient_effects=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: patient_slopes=True needs patient effects, ...
    """
    if not isinstance(patient_slopes, (bool, np.bool_)):
        raise SpecError(f"patient_slopes must be true or false (got {patient_slopes!r}).")
    if patient_slopes and not patient_effects:
        raise SpecError("patient_slopes=True needs patient effects, but patient_effects="
                        "False: a patient's slope in time is a deviation around the "
                        "patient's own lasting effect. Keep patient_effects=True (the "
                        "default; patient_effects = true under [model]) or leave "
                        "patient_slopes off.")
    return bool(patient_slopes)


def check_slope_times(inputs: ModelInputs) -> None:
    """Refuse patient slopes for an outcome measured at one time only (since baseline,
    baseline rows counting as time 0), where a slope would be a second patient effect.

    Parameters
    ----------
    inputs : ModelInputs
        The data arranged for the model.

    Raises
    ------
    SpecError
        Naming the outcomes and the fixes.

    Examples
    --------
    >>> import bayesdose as bd
    >>> check_slope_times(bd.DoseResponseModel().inputs(
    ...     bd.datasets.load_msc_trial().select(["koos_pain"])))  # visits 1, 3, 6, 12
    """
    times = np.where(inputs.is_baseline, -1, inputs.time_idx)
    single = [outcome for k, outcome in enumerate(inputs.outcomes)
              if np.unique(times[inputs.outcome_idx == k]).size < 2]
    if single:
        raise SpecError(
            f"patient_slopes=True needs each outcome measured at two or more times, but "
            f"{', '.join(map(repr, single))} (values at one visit only): a patient's "
            "slope there cannot be told apart from the patient effect. Leave patient_slopes "
            "off (patient_slopes = false under [model]), or fit those outcomes in a model "
            "of their own (outcomes=[...]).")


class IdentifiabilityWarning(UserWarning):
    """The data cannot identify every parameter of the chosen shape; priors carry some."""


def warn_if_unidentified(dose_shape: DoseShape, dose_scale: DoseScale) -> None:
    """Warn when a dose shape has more scalar parameters than the doses can identify.

    With D tested doses the data identify D - 1 contrasts between doses (the level at
    dose 0 is confounded with the common course unless placebo was tested, and then it
    is fixed at 0), so a shape with more than D - 1 scalar parameters leans on its priors.
    """
    scalars = [p.name for p in dose_shape.parameters(dose_scale) if p.levels is None]
    identified = len(dose_scale.tested) - 1
    if len(scalars) > identified:
        warnings.warn(
            f"dose shape {dose_shape.name!r} has {len(scalars)} parameters "
            f"({', '.join(scalars)}) but {len(dose_scale.tested)} tested doses identify only "
            f"{identified} contrasts: the data cannot pin all of them down, and their priors "
            "decide the rest. Report contrasts at tested doses rather than ED50-type "
            "quantities, or use a shape with fewer parameters (e.g. 'emax').",
            IdentifiabilityWarning, stacklevel=3,
        )




def load_fit(path: str | Path) -> DoseResponseFit:
    """Read a fit written by :meth:`DoseResponseFit.save` (netCDF; nothing is unpickled).

    Any file that is not a readable bayesdose fit (missing, damaged, foreign, or written
    with a configuration this version cannot read) is reported as a :class:`DataError`
    naming the file.

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file.

    Returns
    -------
    DoseResponseFit

    Raises
    ------
    DataError
        When the file is missing, unreadable, or not a fit written by bayesdose, or
        holds an arm-level or combined fit (read those with
        :func:`bayesdose.load_arm_fit`).

    Examples
    --------
    >>> import bayesdose as bd
    >>> fit = bd.load_fit("fit.nc")    # doctest: +SKIP
    """
    idata, config = read_fit_file(path)
    refuse_arm_fit(config, path)
    try:
        model = DoseResponseModel.from_config(config["model"])
        data = data_from_idata(idata, config)
        fit = DoseResponseFit(model, data, idata)
        upgrade_parameterisation(fit.idata, config, model, fit.inputs)
        return fit
    except BayesdoseError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise DataError(
            f"{str(path)!r} is not a fit written by bayesdose: its stored configuration or "
            f"data cannot be read ({type(exc).__name__}: {first_line(exc)}). Refit the model "
            "and save it with this version of bayesdose."
        ) from exc
