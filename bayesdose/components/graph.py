"""The PyMC graph pieces of the dose-response model: family-pooled parameters, censored
and ordinal likelihood terms, the data containers a compiled model swaps, and the coords.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayesdose.components.inputs import ModelInputs
from bayesdose.components.likelihoods import LIKELIHOODS
from bayesdose.components.priors import with_dims
from bayesdose.components.shapes import DoseShape, Parameter
from bayesdose.components.timecourses import TimeShape
from bayesdose.errors import SpecError


def gather(values: Any, index: np.ndarray, vector: bool) -> Any:
    """Pick each observation's outcome parameter: ``values[index]`` (rows for vectors)."""
    return values[index] if not vector else values[index, :]


def pooled_variable(param: Parameter, priors: dict[str, Prior], inputs: ModelInputs,
                     levels: tuple[str, ...]):
    """outcome value = family mean + family SD x standard Normal offset (non-centred).

    Outcomes alone in their family take the family mean (their SD is masked to 0).
    """
    mean = with_dims(priors[param.name], ("family", *levels)).create_variable(
        f"{param.name}_family_mean")
    sd = with_dims(priors[f"{param.name}_family_sd"], ("family",)).create_variable(
        f"{param.name}_family_sd")
    offset = pm.Normal(f"{param.name}_offset", 0.0, 1.0, dims=("outcome", *levels))
    shared = (inputs.family_sizes() > 1).astype(float)
    scale = (sd[inputs.family_idx] * shared)
    if levels:
        scale = scale[:, None]
    value = mean[inputs.family_idx] + scale * offset
    return pm.Deterministic(param.name, value, dims=("outcome", *levels))


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


#: Prefix of the ``pm.Data`` container an observed variable observes.
OBSERVED_PREFIX = "observed_"


def data_values(inputs: ModelInputs, swappable: bool = False) -> dict[str, np.ndarray]:
    """The values of the ``pm.Data`` containers of a model built by
    :meth:`DoseResponseModel.build_inputs`, by container name.

    The usual form holds ``baseline_std`` (per observation), ``outcome_sd`` (per outcome)
    and each observed variable's values as ``observed_<variable>`` (``change``,
    ``change_t``, ``log_change``, ``grade_<outcome>`` as 0-based grade positions). The
    swappable form holds ``response``, ``baseline_std``, ``weight`` (all 1), ``lower``,
    ``upper`` (per observation) and ``outcome_sd``.

    Everything else a model is built from (doses, visits, patients, which observation
    belongs to whom, signs; bounds outside the swappable form) is its design: data with
    the same design fill the same compiled model (:mod:`bayesdose.compiled`).

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
    >>> from bayesdose.inputs import prepare_inputs
    >>> inputs = prepare_inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> sorted(data_values(inputs))
    ['baseline_std', 'observed_change', 'outcome_sd']
    >>> sorted(data_values(inputs, swappable=True))
    ['baseline_std', 'lower', 'outcome_sd', 'response', 'upper', 'weight']
    """
    values = {"baseline_std": np.asarray(inputs.baseline_std, dtype=float),
              "outcome_sd": np.asarray(inputs.scales.sd, dtype=float)}
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
