"""The dose-response model: what it is, separate from how it is sampled and read out.

For patient i, outcome k and visit t after baseline, the change from baseline is

    change_ikt = s_k * sign_k * ( f_k(dose_i) * g_k(t) + h_k(t)
                                  + beta_k * (baseline_ik - mean_k) / s_k + u_ik ) + e_ikt

with f the dose shape (:mod:`bayesdose.shapes`, f(0) = 0), g the time course of the dose
effect (:mod:`bayesdose.timecourses`), h the course common to every dose (free per
visit), u a non-centred patient effect and e a Normal or Student-t residual with SD
s_k * sigma_k. ``s_k`` is outcome k's baseline SD and ``sign_k`` is +1 when higher is
better, -1 otherwise, so every parameter lives on a standardised, direction-aligned
scale where the default priors make sense whatever the outcome's units. Outcomes are
modelled side by side with their own parameters (no pooling across outcomes).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayesdose.data import TrialData
from bayesdose.errors import DataError, SpecError
from bayesdose.priors import model_parameters, prior_table, resolve_priors, with_dims
from bayesdose.shapes import DoseScale, DoseShape, get_dose_shape
from bayesdose.timecourses import TimeScale, TimeShape, get_time_shape

LIKELIHOODS = ("normal", "student_t")
SAMPLERS = ("pymc", "nutpie", "numpyro", "blackjax")


@dataclass(frozen=True)
class OutcomeScales:
    """Per-outcome constants that map the standardised scale to the outcome's units.

    Attributes
    ----------
    sd : numpy.ndarray
        Baseline SD per outcome (or the SD of the changes when the baselines do not vary).
    sign : numpy.ndarray
        +1 where higher is better, -1 where lower is better.
    baseline_mean : numpy.ndarray
        Mean baseline per outcome (the baseline covariate is centred on it).
    sd_source : list of str
        ``"baseline"`` or ``"change"``: which SD was used.
    """

    sd: np.ndarray
    sign: np.ndarray
    baseline_mean: np.ndarray
    sd_source: list[str]

    def table(self, outcomes: list[str]) -> pd.DataFrame:
        """The scales as a tidy table (one row per outcome)."""
        return pd.DataFrame({"outcome": outcomes, "sd": self.sd, "sd_source": self.sd_source,
                             "sign": self.sign, "baseline_mean": self.baseline_mean})


@dataclass(frozen=True)
class ModelInputs:
    """Trial data arranged for the model: index arrays, scales and coordinates."""

    outcomes: list[str]
    patients: list[str]
    doses: tuple[float, ...]
    visits: tuple[float, ...]
    baseline_time: float
    outcome_idx: np.ndarray
    patient_idx: np.ndarray
    time_idx: np.ndarray
    dose: np.ndarray
    elapsed: np.ndarray
    baseline_std: np.ndarray
    change: np.ndarray
    scales: OutcomeScales

    @property
    def dose_scale(self) -> DoseScale:
        """Dose constants for the shapes."""
        return DoseScale(self.doses)

    @property
    def time_scale(self) -> TimeScale:
        """Time constants for the time courses (visits counted from baseline)."""
        return TimeScale(tuple(v - self.baseline_time for v in self.visits))


def prepare_inputs(data: TrialData) -> ModelInputs:
    """Arrange validated trial data for the model.

    Parameters
    ----------
    data : TrialData
        The trial (already restricted to the outcomes to model).

    Returns
    -------
    ModelInputs

    Examples
    --------
    >>> import bayesdose as bd
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> inputs.doses
    (1.0, 10.0, 50.0)
    """
    changes = data.changes
    if changes.empty:
        raise DataError("no post-baseline values to model: every patient has only a baseline "
                        "(or only missing values after it).")
    outcomes, patients = data.outcomes, data.patients
    visits = tuple(data.visits)
    scales = _outcome_scales(data, outcomes)
    k = changes["outcome"].map({o: i for i, o in enumerate(outcomes)}).to_numpy()
    baseline_std = (changes["baseline"].to_numpy() - scales.baseline_mean[k]) / scales.sd[k]
    return ModelInputs(
        outcomes=outcomes,
        patients=patients,
        doses=tuple(data.doses),
        visits=visits,
        baseline_time=data.baseline_time,
        outcome_idx=k,
        patient_idx=changes["patient"].map({p: i for i, p in enumerate(patients)}).to_numpy(),
        time_idx=changes["time"].map({t: i for i, t in enumerate(visits)}).to_numpy(),
        dose=changes["dose"].to_numpy(dtype=float),
        elapsed=changes["time"].to_numpy(dtype=float) - data.baseline_time,
        baseline_std=baseline_std,
        change=changes["change"].to_numpy(dtype=float),
        scales=scales,
    )


def _outcome_scales(data: TrialData, outcomes: list[str]) -> OutcomeScales:
    baselines = data.baselines
    changes = data.changes
    sds, sources, means = [], [], []
    for outcome in outcomes:
        base = baselines.loc[baselines["outcome"] == outcome, "baseline"].to_numpy(dtype=float)
        sd, source = (float(np.std(base, ddof=1)) if base.size > 1 else np.nan), "baseline"
        if not (np.isfinite(sd) and sd > 0):
            change = changes.loc[changes["outcome"] == outcome, "change"].to_numpy(dtype=float)
            sd = float(np.std(change, ddof=1)) if change.size > 1 else np.nan
            source = "change"
        if not (np.isfinite(sd) and sd > 0):
            raise DataError(
                f"outcome {outcome!r} does not vary (neither its baselines nor its changes), "
                "so no effect can be estimated on it. Remove it from the outcomes to fit."
            )
        sds.append(sd)
        sources.append(source)
        means.append(float(np.mean(base)))
    signs = [data.info(o).sign for o in outcomes]
    return OutcomeScales(np.array(sds), np.array(signs, dtype=float), np.array(means), sources)


def gather(values: Any, index: np.ndarray, vector: bool) -> Any:
    """Pick each observation's outcome parameter: ``values[index]`` (rows for vectors)."""
    return values[index] if not vector else values[index, :]


class DoseResponseModel:
    """A longitudinal dose-response model for one or more outcomes.

    Parameters
    ----------
    dose_shape : str or DoseShape
        Dose-response shape f: ``"linear"``, ``"log_linear"``, ``"emax"``, ``"free"`` or
        any registered name (see :func:`bayesdose.shapes.dose_shape_names`).
    time_shape : str or TimeShape
        Time course g of the dose effect: ``"exponential"``, ``"free"`` or any registered
        name.
    priors : dict of str to Prior, optional
        Overrides of the default priors by parameter name; see :meth:`prior_table` for
        the names, the defaults and their reasons.
    likelihood : {"normal", "student_t"}
        Residual distribution of the change from baseline.
    outcomes : list of str, optional
        Outcomes to model (default: all outcomes in the data).
    dose_options, time_options : dict, optional
        Settings of the shapes (for example ``{"offset": 1.0}`` for ``log_linear``).

    Notes
    -----
    Default priors (standardised scale; see :mod:`bayesdose.priors`): ``delta`` (effect at
    the top dose) Normal(0, 1); ``log_ed50`` StudentT(5, 0, 1.73) around the geometric
    mean tested dose (clinDR); ``log_t_half`` Normal(log 0.2, 1) relative to the last
    visit; ``gamma`` (free visits) Normal(0.5, 0.5); ``course`` Normal(0, 1);
    ``beta_baseline`` Normal(0, 1); ``patient_effect`` non-centred Normal with
    HalfNormal(0.5) SD; ``sigma`` HalfNormal(1); ``nu`` Gamma(2, 0.1).

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
        likelihood: str = "normal",
        outcomes: list[str] | None = None,
        dose_options: dict[str, Any] | None = None,
        time_options: dict[str, Any] | None = None,
    ) -> None:
        self.dose_shape = get_dose_shape(dose_shape, **(dose_options or {}))
        self.time_shape = get_time_shape(time_shape, **(time_options or {}))
        if likelihood not in LIKELIHOODS:
            raise SpecError(f"likelihood {likelihood!r} is not one of {', '.join(LIKELIHOODS)}.")
        self.likelihood = likelihood
        self.priors = dict(priors or {})
        self.outcomes = None if outcomes is None else list(outcomes)

    # ------------------------------------------------------------------ description
    def config(self) -> dict[str, Any]:
        """Everything that defines the model, as plain data (saved with every fit)."""
        from bayesdose.priors import prior_to_mapping

        return {
            "dose_shape": self.dose_shape.name,
            "dose_options": self.dose_shape.options(),
            "time_shape": self.time_shape.name,
            "time_options": self.time_shape.options(),
            "likelihood": self.likelihood,
            "outcomes": self.outcomes,
            "priors": {k: prior_to_mapping(v) for k, v in self.priors.items()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DoseResponseModel:
        """Rebuild a model from :meth:`config` output."""
        from bayesdose.priors import prior_from_mapping

        priors = {k: prior_from_mapping(v, f"priors.{k}")
                  for k, v in (config.get("priors") or {}).items()}
        return cls(dose_shape=config["dose_shape"], time_shape=config["time_shape"],
                   priors=priors, likelihood=config["likelihood"],
                   outcomes=config.get("outcomes"),
                   dose_options=config.get("dose_options"),
                   time_options=config.get("time_options"))

    def select_data(self, data: TrialData) -> TrialData:
        """The part of ``data`` this model uses (its outcomes)."""
        return data if self.outcomes is None else data.select(self.outcomes)

    def parameters(self, data: TrialData):
        """The model's parameters on ``data``, with their default priors and reasons."""
        inputs = prepare_inputs(self.select_data(data))
        return model_parameters(self.dose_shape, self.time_shape, inputs.dose_scale,
                                inputs.time_scale, self.likelihood)

    def prior_table(self, data: TrialData) -> pd.DataFrame:
        """Every parameter, its prior in force, whether it is the default, and why.

        Parameters
        ----------
        data : TrialData
            The trial (priors are stated relative to its tested doses and visits).

        Returns
        -------
        pandas.DataFrame
        """
        params = self.parameters(data)
        return prior_table(params, resolve_priors(params, self.priors))

    def __repr__(self) -> str:
        return (f"DoseResponseModel(dose_shape={self.dose_shape.name!r}, "
                f"time_shape={self.time_shape.name!r}, likelihood={self.likelihood!r}, "
                f"priors={sorted(self.priors)})")

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
        """
        data = self.select_data(data)
        inputs = prepare_inputs(data)
        warn_if_unidentified(self.dose_shape, inputs.dose_scale)
        params = model_parameters(self.dose_shape, self.time_shape, inputs.dose_scale,
                                  inputs.time_scale, self.likelihood)
        priors = resolve_priors(params, self.priors)
        coords = _coords(inputs, self.dose_shape, self.time_shape)
        level_dims = {"dose_level": "dose_level", "visit_level": "visit_level",
                      "time": "time", "patient": "patient", None: None}
        with pm.Model(coords=coords) as model:
            rv = {}
            for param in params:
                dims = ("outcome",) + ((level_dims[param.levels],) if param.levels else ())
                rv[param.name] = with_dims(priors[param.name], dims).create_variable(param.name)
            mean_std = self._mean(rv, inputs)
            scale = inputs.scales.sd[inputs.outcome_idx]
            sign = inputs.scales.sign[inputs.outcome_idx]
            mu = scale * sign * mean_std
            sigma = rv["sigma"][inputs.outcome_idx] * scale
            if self.likelihood == "normal":
                pm.Normal("change", mu=mu, sigma=sigma, observed=inputs.change, dims="obs")
            else:
                pm.StudentT("change", nu=rv["nu"][inputs.outcome_idx], mu=mu, sigma=sigma,
                            observed=inputs.change, dims="obs")
            self._effect_deterministic(rv, inputs)
        return model, inputs

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

    def _mean(self, rv, inputs: ModelInputs):
        k = inputs.outcome_idx
        shape_params = self._shape_params(rv, inputs, k, 0)
        f = self.dose_shape.evaluate(inputs.dose, shape_params, inputs.dose_scale, pt)
        g = self.time_shape.evaluate(inputs.elapsed, shape_params, inputs.time_scale, pt)
        return (f * g + rv["course"][k, inputs.time_idx]
                + rv["beta_baseline"][k] * inputs.baseline_std
                + rv["patient_effect"][k, inputs.patient_idx])

    def _effect_deterministic(self, rv, inputs: ModelInputs) -> None:
        """Dose effect against dose 0 at each tested dose and visit, in outcome units."""
        shape_params = self._shape_params(rv, inputs, None, 2)
        dose = np.asarray(inputs.doses)[:, None]
        elapsed = np.asarray(inputs.time_scale.visits)
        f = self.dose_shape.evaluate(dose, shape_params, inputs.dose_scale, pt)
        g = self.time_shape.evaluate(elapsed, shape_params, inputs.time_scale, pt)
        unit = (inputs.scales.sd * inputs.scales.sign)[:, None, None]
        pm.Deterministic("effect", unit * f * g, dims=("outcome", "dose", "time"))

    # ------------------------------------------------------------------ sampling
    def fit(
        self,
        data: TrialData,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed: int = 1,
        target_accept: float = 0.9,
        sampler: str = "pymc",
        cores: int | None = None,
        progressbar: bool | None = None,
        prior_draws: int = 500,
    ):
        """Sample the posterior and return a :class:`~bayesdose.fit.DoseResponseFit`.

        Parameters
        ----------
        data : TrialData
            The trial.
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed; the same seed, data and model give the same numbers.
        target_accept : float
            NUTS target acceptance rate (raise it when there are divergences).
        sampler : {"pymc", "nutpie", "numpyro", "blackjax"}
            NUTS implementation (the non-default ones must be installed).
        cores : int, optional
            Parallel chains (default: min(chains, CPU count)).
        progressbar : bool, optional
            Show PyMC's progress bar (default: when stderr is a terminal).
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
        """
        from bayesdose.fit import DoseResponseFit, attach_metadata

        _check_sampler_settings(draws, tune, chains, target_accept, sampler)
        data = self.select_data(data)
        model, inputs = self.build(data)
        seeds = np.random.SeedSequence(random_seed).generate_state(3)
        progressbar = sys.stderr.isatty() if progressbar is None else progressbar
        cores = cores or min(chains, os.cpu_count() or 1)
        with model:
            idata = pm.sample(
                draws=draws, tune=tune, chains=chains, cores=cores,
                random_seed=int(seeds[0]), target_accept=target_accept,
                nuts_sampler=sampler, progressbar=progressbar,
                idata_kwargs={"log_likelihood": True}, compute_convergence_checks=False,
            )
            pm.sample_posterior_predictive(idata, extend_inferencedata=True,
                                           random_seed=int(seeds[1]), progressbar=False)
            if prior_draws:
                idata.extend(pm.sample_prior_predictive(draws=prior_draws,
                                                        random_seed=int(seeds[2])))
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": sampler}
        attach_metadata(idata, self, data, inputs, settings)
        return DoseResponseFit(self, data, idata)

    def plot_prior(self, data: TrialData, draws: int = 500, random_seed: int = 1):
        """Figure of the dose-response and time course the priors imply (see
        :func:`bayesdose.plots.plot_prior_predictive`)."""
        from bayesdose.plots import plot_prior_predictive

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
        arviz.InferenceData
            Groups ``prior`` (including ``effect``) and ``prior_predictive``.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> prior = bd.DoseResponseModel().sample_prior_predictive(data, draws=50)
        >>> prior.prior["effect"].dims
        ('chain', 'draw', 'outcome', 'dose', 'time')
        """
        model, _ = self.build(data)
        with model:
            return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)


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


def _coords(inputs: ModelInputs, dose_shape: DoseShape, time_shape: TimeShape) -> dict:
    coords = {
        "outcome": inputs.outcomes,
        "patient": inputs.patients,
        "dose": list(inputs.doses),
        "time": list(inputs.visits),
        "obs": np.arange(len(inputs.change)),
    }
    levels = getattr(dose_shape, "levels", None)
    if callable(levels):
        coords["dose_level"] = list(levels(inputs.dose_scale))
    time_levels = getattr(time_shape, "levels", None)
    if callable(time_levels):
        coords["visit_level"] = [t + inputs.baseline_time
                                 for t in time_levels(inputs.time_scale)]
    return coords


def _check_sampler_settings(draws: int, tune: int, chains: int, target_accept: float,
                            sampler: str) -> None:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise SpecError(f"sampler setting {name} must be an integer >= {low} "
                            f"(got {value!r}).")
    if isinstance(target_accept, bool) or not isinstance(target_accept, (int, float)) \
            or not 0 < target_accept < 1:
        raise SpecError(f"target_accept must be between 0 and 1 (got {target_accept!r}).")
    if sampler not in SAMPLERS:
        raise SpecError(f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)}.")
