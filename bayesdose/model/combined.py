"""One model of a patient-level trial and other studies' arm-level summaries.

The patient-level trial (:class:`~bayesdose.DoseResponseModel`, one outcome) is study 0;
the arm-level studies (:class:`~bayesdose.ArmModel`) are studies 1..S. Both parts are on
the same standardised, direction-aligned scale: the outcome units divided by the
patient-level trial's scale SD (``ModelInputs.scales.sd``, also used for the arms, whose
own ``se * sqrt(n)`` estimate is not used). They share

* the dose-shape parameters other than the effect size (e.g. ``log_ed50``) and the
  time-course parameters, all defined on the patient-level trial's dose and time scales
  (its tested doses and visits: ``delta`` is the effect of its top dose against its
  lowest at its last visit), with the patient-level model's priors;
* a between-study distribution of the effect size, ``delta_s = delta + tau * z_s``,
  z_s ~ Normal(0, 1) (non-centred), tau ~ HalfNormal(0.5) (the arm model's prior of
  ``tau``); the patient-level trial's own effect size is ``delta_s`` of study 0.

Each arm-level study keeps its own common course (``arm_course``, per study and time
point, as in :class:`~bayesdose.ArmModel`), and the patient-level trial keeps its own
course, patient effects, residual SD and baseline slope (as in
:class:`~bayesdose.DoseResponseModel`). Doses are in the same units in both parts, and
times are times since baseline in both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from pymc_extras.prior import Prior

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.priors import resolve_priors, with_dims
from bayesdose.data.arms import RESERVED_STUDIES, ArmData
from bayesdose.data.trial import TrialData
from bayesdose.errors import DataError, SpecError
from bayesdose.model.arms import ArmInputs, ArmModel
from bayesdose.model.dose_response import DoseResponseModel
from bayesdose.model.safety import sample_safety
from bayesdose.results.arm_fit import ArmFit

#: Likelihoods of the patient-level outcome whose standardised scale is that of the arm
#: means (outcome units over an SD; not log ratios or latent logits).
COMBINED_LIKELIHOODS = ("normal", "student_t")


@dataclass(frozen=True)
class CombinedInputs:
    """Both parts' data arranged for :class:`CombinedModel`.

    Attributes
    ----------
    trial : ModelInputs
        The patient-level trial (one outcome), as :class:`~bayesdose.DoseResponseModel`
        arranges it.
    arms : ArmInputs
        The arm-level studies standardised by the patient-level trial's scale SD, with
        the patient-level trial's dose and time scales (those the shared parameters are
        defined on).
    studies : list of str
        The patient-level trial's label first, then the arm-level studies.

    Examples
    --------
    >>> inputs = CombinedModel(bd.DoseResponseModel(), bd.ArmModel()).inputs(
    ...     trial, arms)  # doctest: +SKIP
    >>> inputs.studies  # doctest: +SKIP
    ['trial', 'S0', 'S1']
    """

    trial: ModelInputs
    arms: ArmInputs
    studies: list[str]


class CombinedModel:
    """A patient-level trial and arm-level studies in one model, sharing the dose shape
    and time course, with a between-study distribution of the effect size.

    Parameters
    ----------
    patient_model : DoseResponseModel
        The model of the patient-level trial (one outcome, likelihood ``"normal"`` or
        ``"student_t"``); its priors are those of the shared parameters.
    arm_model : ArmModel
        The model of the arm-level studies: the same dose and time shapes, random study
        effects, ``scale_sd`` unset (the trial's scale SD is used); its priors of
        ``course`` and ``tau`` are used, and it may override no other.
    trial_study : str
        The patient-level trial's label among the studies (not ``"pooled"`` or
        ``"new"``, which name the populations of the read-outs).

    Raises
    ------
    SpecError
        Different shapes in the two models, shapes with one parameter per dose or
        visit (``"free"``, ``"piecewise_linear"``: not shareable across other doses and
        times), fixed study effects, ``scale_sd`` set, overrides of shared parameters'
        priors in ``arm_model``, or a reserved ``trial_study``.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.CombinedModel(bd.DoseResponseModel("emax", "exponential"),
    ...                          bd.ArmModel("emax", "exponential", rho=0.5))
    >>> model.trial_study
    'trial'
    """

    def __init__(self, patient_model: DoseResponseModel, arm_model: ArmModel,
                 trial_study: str = "trial") -> None:
        if not isinstance(patient_model, DoseResponseModel):
            raise SpecError("patient_model must be a DoseResponseModel (got "
                            f"{type(patient_model).__name__}).")
        if not isinstance(arm_model, ArmModel):
            raise SpecError(f"arm_model must be an ArmModel (got {type(arm_model).__name__}).")
        for part in ("dose_shape", "time_shape"):
            mine, theirs = getattr(patient_model, part), getattr(arm_model, part)
            if (mine.name, mine.options()) != (theirs.name, theirs.options()):
                raise SpecError(f"{part} differs: {mine.name!r} {mine.options()} in the "
                                f"patient-level model, {theirs.name!r} {theirs.options()} in "
                                f"the arm model. Give both models the same {part}.")
        if arm_model.study_effects != "random":
            raise SpecError("arm_model has study_effects='fixed'; the combined model has a "
                            "between-study distribution of the effect size. Use "
                            "ArmModel(study_effects='random').")
        if arm_model.scale_sd is not None:
            raise SpecError("arm_model has scale_sd set; the combined model puts the arms on "
                            "the patient-level trial's scale SD. Leave ArmModel(scale_sd=) "
                            "unset.")
        shared = sorted(set(arm_model.priors) - {"course", "tau"})
        if shared:
            raise SpecError(f"arm_model overrides the priors of {', '.join(shared)}, which "
                            "the combined model shares and takes from patient_model: give "
                            "them in DoseResponseModel(priors=...).")
        if not isinstance(trial_study, str) or not trial_study:
            raise SpecError(f"trial_study must be a non-empty string (got {trial_study!r}).")
        if trial_study in RESERVED_STUDIES:
            raise SpecError(f"trial_study={trial_study!r} is reserved: "
                            f"{' and '.join(map(repr, RESERVED_STUDIES))} name the "
                            "populations of the fit's read-outs (study='pooled', "
                            "study='new'). Give the trial another label.")
        self.patient_model = patient_model
        self.arm_model = arm_model
        self.trial_study = trial_study

    # ------------------------------------------------------------------ data
    def inputs(self, trial: TrialData, arms: ArmData) -> CombinedInputs:
        """Both parts' data on the patient-level trial's scale SD, dose and time scales.

        Parameters
        ----------
        trial : TrialData
            The patient-level trial (the model's one outcome).
        arms : ArmData
            Mean changes from baseline with times since baseline (same outcome,
            direction, dose units and time units as the trial).

        Returns
        -------
        CombinedInputs

        Raises
        ------
        DataError
            Several outcomes in the patient-level model, arm data without times, a
            different direction in the two parts, or an arm-level study named like the
            patient-level trial.
        SpecError
            A patient-level likelihood other than ``"normal"`` or ``"student_t"``, or a
            shape with one parameter per dose or visit.

        Examples
        --------
        >>> import bayesdose as bd, pandas as pd
        >>> trial = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> frame = pd.DataFrame({"s": ["A"] * 4, "d": [0, 0, 20, 20], "t": [6, 12] * 2,
        ...                       "y": [1.0, 2.0, 5.0, 9.0], "se": [2.0] * 4})
        >>> arms = bd.ArmData.from_frame(frame, study="s", dose="d", time="t", mean="y",
        ...                              se="se")
        >>> model = bd.CombinedModel(bd.DoseResponseModel(), bd.ArmModel("emax",
        ...                                                              "exponential"))
        >>> inputs = model.inputs(trial, arms)
        >>> inputs.studies, inputs.arms.dose_scale == inputs.trial.dose_scale
        (['trial', 'A'], True)
        """
        patient = self.patient_model
        trial_inputs = patient.inputs(trial)
        self._check_trial(trial_inputs)
        sd = float(np.asarray(trial_inputs.scales.sd)[0])
        arm_model = copy.copy(self.arm_model)
        arm_model.scale_sd = sd
        arm_inputs = arm_model.inputs(arms)
        if arm_inputs.several_agents:
            raise DataError(f"column {arms.columns['agent']!r}: the arm-level data have agents "
                            f"{', '.join(map(repr, arm_inputs.agents))}; the combined model "
                            "shares one dose shape with the patient-level trial, so it takes "
                            "the trial's agent only. Filter the arm-level table to it.")
        if arm_inputs.time_scale is None:
            raise DataError("column time: the arm-level data have no times; the combined "
                            "model shares the time course with the patient-level trial, so "
                            "every arm mean needs its time since baseline (time=...).")
        sign = int(np.asarray(trial_inputs.scales.sign)[0])
        if arm_inputs.sign != sign:
            raise DataError(f"the outcome's direction differs: {trial_inputs.outcomes[0]!r} is "
                            f"{_direction(sign)} in the trial, the arm-level outcome "
                            f"{_direction(arm_inputs.sign)}. Declare the same direction "
                            "(outcome_info=...) in both.")
        if self.trial_study in arm_inputs.studies:
            raise DataError(f"column study: an arm-level study is named {self.trial_study!r}"
                            ", the patient-level trial's label. Rename it or give "
                            "CombinedModel(trial_study=...).")
        source = (f"the patient-level trial's scale SD ({trial_inputs.scales.sd_source[0]})")
        shared = replace(arm_inputs, dose_scale=trial_inputs.dose_scale,
                         time_scale=trial_inputs.time_scale, scale_source=source)
        return CombinedInputs(trial_inputs, shared, [self.trial_study, *arm_inputs.studies])

    def _check_trial(self, inputs: ModelInputs) -> None:
        if len(inputs.outcomes) != 1:
            raise DataError(f"the patient-level model takes {len(inputs.outcomes)} outcomes "
                            f"({', '.join(inputs.outcomes)}); the combined model has one. "
                            "Choose it with DoseResponseModel(outcomes=[...]).")
        likelihood = inputs.likelihoods[inputs.outcomes[0]].name
        if likelihood not in COMBINED_LIKELIHOODS:
            raise SpecError(f"outcome {inputs.outcomes[0]!r} has likelihood {likelihood!r}; "
                            "the combined model needs the arm means' scale, so "
                            f"{' or '.join(COMBINED_LIKELIHOODS)}.")
        for param in self._shape_parameters(inputs):
            if param.levels is not None:
                raise SpecError(f"parameter {param.name!r} has one value per {param.levels}; "
                                "the combined model shares the shapes across studies at other "
                                "doses and times. Use shapes such as 'emax' and "
                                "'exponential'.")

    def _shape_parameters(self, inputs: ModelInputs) -> list:
        patient = self.patient_model
        return [*patient.dose_shape.parameters(inputs.dose_scale),
                *patient.time_shape.parameters(inputs.time_scale)]

    # ------------------------------------------------------------------ model
    def build(self, trial: TrialData, arms: ArmData) -> pm.Model:
        """The PyMC model of both parts.

        Parameters
        ----------
        trial : TrialData
        arms : ArmData

        Returns
        -------
        pymc.Model
            The patient-level model's variables (its ``effect`` is the trial's own),
            the shared ``delta`` (pooled mean), ``tau``, ``delta_z``, ``delta_study``
            (dim ``study``, the trial first), ``arm_course`` and the observed whitened
            arm means ``arm_means``.

        Examples
        --------
        >>> import bayesdose as bd, pandas as pd
        >>> trial = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> frame = pd.DataFrame({"s": ["A"] * 4, "d": [0, 0, 20, 20], "t": [6, 12] * 2,
        ...                       "y": [1.0, 2.0, 5.0, 9.0], "se": [2.0] * 4})
        >>> arms = bd.ArmData.from_frame(frame, study="s", dose="d", time="t", mean="y",
        ...                              se="se")
        >>> model = bd.CombinedModel(bd.DoseResponseModel(), bd.ArmModel("emax",
        ...                                                              "exponential"))
        >>> [rv.name for rv in model.build(trial, arms).observed_RVs]
        ['change', 'arm_means']
        """
        return self._build(self.inputs(trial, arms))

    def _build(self, inputs: CombinedInputs) -> pm.Model:
        trial = inputs.trial
        arm_priors = resolve_priors(self.arm_model.parameters(inputs.arms),
                                    self.arm_model.priors)
        graph = self.patient_model.graph(trial)
        shared: dict[str, Any] = {}

        def shape_variables(priors: dict[str, Prior], _: ModelInputs) -> dict[str, Any]:
            shared.update(self._shared_variables(priors, arm_priors["tau"], inputs))
            rv = {name: value[None] for name, value in shared.items()
                  if name not in ("delta", "delta_study")}
            rv["delta"] = shared["delta_study"][:1]  # study 0: the patient-level trial
            return rv

        model = graph.build(trial, shape_variables=shape_variables)
        with model:
            arms = inputs.arms
            model.add_coords({"arm_study": arms.studies, "arm_time": list(arms.times)})
            course = with_dims(arm_priors["course"], ("arm_study", "arm_time")
                               ).create_variable("arm_course")
            delta_rows = shared["delta_study"][1 + arms.study]
            self.arm_model.add_likelihood(arms, {**shared, "course": course}, delta_rows,
                                          name="arm_means")
        return model

    def _shared_variables(self, priors: dict[str, Prior], tau_prior: Prior,
                          inputs: CombinedInputs) -> dict[str, Any]:
        """The shared scalars and the study effect sizes, in the model in context."""
        pm.modelcontext(None).add_coord("study", inputs.studies)
        values = {p.name: priors[p.name].create_variable(p.name)
                  for p in self._shape_parameters(inputs.trial)}
        tau = tau_prior.create_variable("tau")
        z = pm.Normal("delta_z", 0.0, 1.0, dims="study")
        values["delta_study"] = pm.Deterministic("delta_study", values["delta"] + tau * z,
                                                 dims="study")
        return values

    # ------------------------------------------------------------------ sampling
    def fit(self, trial: TrialData, arms: ArmData, draws: int = 1000, tune: int = 1000,
            chains: int = 4, random_seed: int = 1, target_accept: float | None = None,
            progressbar: bool | None = None, cores: int | None = None,
            sampler: str = "auto") -> CombinedFit:
        """Sample the posterior with NUTS and return a :class:`CombinedFit`.

        Parameters
        ----------
        trial : TrialData
        arms : ArmData
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed.
        target_accept : float, optional
            NUTS target acceptance rate (default: the patient-level model's default,
            :meth:`DoseResponseModel.default_target_accept`).
        progressbar : bool, optional
            The sampler's progress bar (default: on a terminal only).
        cores : int, optional
            Parallel chains.
        sampler : {"auto", "pymc", "nutpie", "numpyro", "blackjax"}
            As in :meth:`bayesdose.DoseResponseModel.fit`.

        Returns
        -------
        CombinedFit

        Examples
        --------
        >>> fit = model.fit(trial, arms, draws=400, tune=400, chains=2)  # doctest: +SKIP
        >>> fit.effect(dose=[50], time=[12])  # doctest: +SKIP
        """
        inputs = self.inputs(trial, arms)
        if target_accept is None:
            target_accept = self.patient_model.default_target_accept(inputs.trial)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": sampler}
        idata, settings = sample_safety(self._build(inputs), settings, cores, progressbar)
        return CombinedFit(self, inputs, idata, settings, trial=trial, arms=arms)


def _direction(sign: int) -> str:
    return "higher is better" if sign > 0 else "lower is better"


class CombinedFit(ArmFit):
    """Posterior of a :class:`CombinedModel`: the arm-level read-outs of
    :class:`~bayesdose.results.arm_fit.ArmFit` (:meth:`effect`, :meth:`contrast`,
    :meth:`prob_beyond_mcid`, :meth:`effective_dose`, :meth:`minimum_effective_dose`,
    each for the population ``study=``: ``"pooled"``, the mean over studies, by default;
    ``"new"``, a new study; or a study's label, the patient-level trial's included), on
    the patient-level trial's scale SD, dose and time scales, and the patient-level
    trial's own effect (:meth:`trial_effect`).

    Parameters
    ----------
    model : CombinedModel
        The model that was fitted (``self.model`` is its arm model, whose shapes the
        read-outs use; ``self.combined_model`` the combined model).
    inputs : CombinedInputs
        Both parts' data as the model used them.
    idata : xarray.DataTree
        The draws.
    settings : dict
        Sampler settings.
    trial : TrialData, optional
        The patient-level trial that was fitted.
    arms : ArmData, optional
        The arm-level studies that were fitted (also ``self.data``).

    Examples
    --------
    >>> fit = model.fit(trial, arms, draws=400, tune=400, chains=2)  # doctest: +SKIP
    >>> fit.between_study_sd()  # doctest: +SKIP
    """

    def __init__(self, model: CombinedModel, inputs: CombinedInputs, idata: xr.DataTree,
                 settings: dict[str, Any], trial: TrialData | None = None,
                 arms: ArmData | None = None) -> None:
        super().__init__(model.arm_model, inputs.arms, idata, settings, data=arms)
        self.trial_data = trial
        self.combined_model = model
        self.combined_inputs = inputs

    def trial_effect(self, dose: Any, time: Any = None, ci_prob: float = 0.9
                     ) -> pd.DataFrame:
        """The patient-level trial's own effect of ``dose`` against dose 0 at ``time``.

        ``sign * scale_sd * f(dose; delta_0) * g(time)`` in outcome units, with the
        trial's effect size ``delta_0`` (shrunk towards the pooled ``delta``): the same as
        ``effect(dose, time, ci_prob, study=<the trial's label>)``.

        Parameters
        ----------
        dose : float or sequence of float
        time : float or sequence of float, optional
            Times since baseline (default: the trial's last visit).
        ci_prob : float
            Probability of the equal-tailed intervals.

        Returns
        -------
        pandas.DataFrame
            Columns as :meth:`effect`; ``study`` is the trial's label.

        Examples
        --------
        >>> fit.trial_effect(dose=[50], time=[12])  # doctest: +SKIP
        """
        return self.effect(dose, time, ci_prob, study=self.combined_model.trial_study)
