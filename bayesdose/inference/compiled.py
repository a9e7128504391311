"""Models built and compiled once per design, sampled on any data of that design.

A fit's time is mostly spent outside the sampler: building the PyMC model, compiling its
log density and gradient (to C for PyMC's NUTS, with numba for nutpie, with JAX for
NumPyro and BlackJAX) and compiling the functions that draw the posterior predictive and
the prior and evaluate the pointwise log likelihood. A :class:`CompiledModel` does all of
this once for one *design* (the doses, visits, patients and their covariates, outcomes,
likelihoods, bounds and which observation belongs to whom) and holds the data that change
between trials of that design (the responses, baselines and outcome scales, see
:func:`bayesdose.components.graph.data_values`) in ``pm.Data`` containers. Sampling new data of
the same design swaps the containers' values (``pm.set_data``; for nutpie, the compiled
model's ``with_data``) and reuses every compiled function.

:meth:`bayesdose.DoseResponseModel.fit` keeps the compiled models of its last designs, so
fitting the same model object again on data of the same design (``fit.refit(data)``,
leave-one-out refits, bootstrap or sensitivity loops) is a *warm* refit; a warm refit
gives the same numbers as a cold fit on the same data and seed. The process also shares
compiled models between model objects (:data:`SHARED_MODELS`): a new model with the same
configuration, fitted on data of the same design, is warm too. Across processes, PyTensor
keeps what numba compiled in its compile folder, so a second process compiles the same
model structure faster (nutpie's own wrapper of the compiled functions is compiled
again in every process; benchmarks/cold_start.py measures each step).

What each backend reuses: nutpie reuses the compiled model (only sampling remains); PyMC's
NUTS reuses the model graph and PyTensor's compiled C code (``pm.sample`` still rewrites
the graph and links the compiled modules, about a second); NumPyro and BlackJAX reuse the
model graph, and JAX compiles the sampler again. The predictive and log-likelihood
functions are reused with every backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.censored import CensoredRV
from pymc.model.transform.conditioning import remove_value_transforms
from pymc.pytensorf import compile as compile_pytensor
from pymc.pytensorf import reseed_rngs
from pytensor.graph.replace import vectorize_graph
from pytensor.tensor.random.op import RandomVariable

from bayesdose.components.graph import OBSERVED_PREFIX, data_values
from bayesdose.components.inputs import ModelInputs
from bayesdose.errors import SpecError
from bayesdose.inference.backends import (
    model_variables,
    nutpie_options,
    sample_posterior,
    stored_stats,
)
from bayesdose.inference.nutpie_compile import compile_pymc_model
from bayesdose.inference.trees import drop_group, group, new_tree, set_group
from bayesdose.progress import progress_note, resolve_progress

if TYPE_CHECKING:
    from bayesdose.model.dose_response import DoseResponseModel


#: Likelihoods the weighted form takes (see :class:`CompiledModel`).
WEIGHTED_KINDS = frozenset({"normal", "student_t", "lognormal"})


#: Compiled models a :class:`~bayesdose.DoseResponseModel` keeps (the most recently used).
CACHE_SIZE = 4


#: PyTensor mode of the read-out functions (log likelihood, predictive draws, prior).
#: ``"FAST_COMPILE"`` (Python-linked, lightly rewritten): PyTensor's default links these
#: functions with numba, whose first compile on a machine took about 60 s for the
#: one-outcome model (and 4 s from its on-disk cache afterwards), while the Python-linked
#: functions compile in about 4 s the first time and evaluate 4000 draws in 0.2-0.4 s
#: (against 0.06 s), with the same log likelihood (benchmarks/cold_start.py times the steps).
READOUT_MODE = "FAST_COMPILE"


#: The per-observation and per-outcome arrays of :class:`ModelInputs` that make its design.
DESIGN_ARRAYS = ("outcome_idx", "patient_idx", "time_idx", "dose", "elapsed", "lower",
                 "upper", "family_idx")

#: Design arrays that only a model with patient-level covariates has.
COVARIATE_ARRAYS = ("covariate_std",)


def design_key(model: DoseResponseModel, inputs: ModelInputs, weighted: bool = False) -> str:
    """A hash of everything a compiled model is built from but its swappable data.

    Parameters
    ----------
    model : DoseResponseModel
        The model (its configuration: shapes, priors, likelihoods, hierarchy).
    inputs : ModelInputs
        The data arranged for the model; only its design enters the key.
    weighted : bool
        Whether the model is the weighted-likelihood form (see :class:`CompiledModel`).

    Returns
    -------
    str
        Equal for two inputs exactly when a model compiled on one can sample the other.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.DoseResponseModel()
    >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
    >>> key = design_key(model, model.inputs(data))
    >>> key == design_key(bd.DoseResponseModel(), model.inputs(data))  # the same design
    True
    >>> key == design_key(bd.DoseResponseModel(time_shape="emax"), model.inputs(data))
    False
    """
    digest = hashlib.sha256()
    plain = {
        "model": model.config(), "weighted": bool(weighted),
        "outcomes": list(inputs.outcomes), "patients": [str(p) for p in inputs.patients],
        "doses": [float(d) for d in inputs.doses], "visits": [float(v) for v in inputs.visits],
        "baseline_time": float(inputs.baseline_time),
        "families": list(inputs.families),
        "likelihoods": {k: repr(v) for k, v in inputs.likelihoods.items()},
        "sign": [float(s) for s in inputs.scales.sign],
        "categories": {k: np.asarray(v).tolist() for k, v in inputs.categories.items()},
    }
    if inputs.covariate_names:
        plain["covariates"] = list(inputs.covariate_names)
    if inputs.analysis != "change":
        plain["analysis"] = inputs.analysis
    digest.update(json.dumps(plain, sort_keys=True, default=str).encode())
    arrays = DESIGN_ARRAYS + (COVARIATE_ARRAYS if inputs.covariate_names else ())
    if inputs.analysis != "change":
        arrays = (*arrays, "is_baseline")
    for name in arrays:
        array = np.ascontiguousarray(getattr(inputs, name))
        digest.update(f"{name}{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def compiled_model(model: DoseResponseModel, inputs: ModelInputs,
                   weighted: bool = False) -> CompiledModel:
    """The compiled model of ``model`` for the design of ``inputs``, from ``model``'s
    cache (the :data:`CACHE_SIZE` most recently used designs) or built now.

    Parameters
    ----------
    model : DoseResponseModel
        The model.
    inputs : ModelInputs
        The data arranged for the model.
    weighted : bool
        The weighted-likelihood form (for leaving observations out without a new design).

    Returns
    -------
    CompiledModel

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.DoseResponseModel()
    >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> compiled_model(model, inputs) is compiled_model(model, inputs)
    True
    """
    key = design_key(model, inputs, weighted)
    shared = f"{key}:{_component_types(model)}"
    return model.compiled_models.get(
        key, lambda: SHARED_MODELS.get(shared, lambda: CompiledModel(model, inputs,
                                                                     weighted=weighted)))


def _component_types(model: DoseResponseModel) -> str:
    """The classes of ``model``'s dose shape and time course, which its configuration
    names but does not define (a user's own shape may reuse a built-in name)."""
    return ",".join(f"{type(part).__module__}.{type(part).__qualname__}"
                    for part in (model.dose_shape, model.time_shape))


def clear_compiled_models() -> None:
    """Forget the compiled models this process shares between model objects
    (:data:`SHARED_MODELS`); each model object keeps its own until it is dropped.

    Examples
    --------
    >>> clear_compiled_models()
    >>> len(SHARED_MODELS)
    0
    """
    SHARED_MODELS.clear()


class CompiledCache:
    """The compiled models of one model object, one per design: the :data:`CACHE_SIZE`
    most recently used are kept, the oldest dropped first.

    Parameters
    ----------
    size : int
        How many compiled models to keep.

    Examples
    --------
    >>> cache = CompiledCache(size=2)
    >>> cache.get("a", lambda: "model a"), cache.get("a", lambda: "rebuilt")
    ('model a', 'model a')
    >>> _ = cache.get("b", lambda: "model b"), cache.get("c", lambda: "model c")
    >>> cache.keys()
    ['b', 'c']
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._models: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        """The model kept under ``key``, or ``build()`` kept now (dropping the oldest)."""
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        compiled = build()
        self._models[key] = compiled
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return compiled

    def keys(self) -> list[str]:
        """The design keys kept, oldest first."""
        return list(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        """Forget every model kept."""
        self._models.clear()


#: Compiled models shared by every model object in this process, keyed by design and
#: configuration: a new ``DoseResponseModel`` with the same configuration, fitted on data
#: of the same design, samples the model another object compiled (see
#: :func:`compiled_model`).
SHARED_MODELS = CompiledCache(size=2 * CACHE_SIZE)


class CompiledModel:
    """A model built once for one design, sampled on any data of that design.

    Parameters
    ----------
    model : DoseResponseModel
        The model.
    inputs : ModelInputs
        Data arranged for the model; its design is fixed from now on.
    weighted : bool
        Build the weighted-likelihood form (``build_inputs(..., swappable=True)``): the
        likelihood is one potential, each observation's log density times its weight, so
        observations can be left out (weight 0) without changing the design. It gives the
        posterior only (no predictive draws, no pointwise log likelihood) and takes
        continuous likelihoods only.

    Examples
    --------
    >>> import bayesdose as bd
    >>> model = bd.DoseResponseModel()
    >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
    >>> compiled = CompiledModel(model, inputs)
    >>> settings = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 1,
    ...             "target_accept": 0.95, "sampler": "pymc"}
    >>> idata = compiled.sample(inputs, settings)  # doctest: +SKIP
    """

    def __init__(self, model: DoseResponseModel, inputs: ModelInputs,
                 weighted: bool = False) -> None:
        self.key = design_key(model, inputs, weighted)
        self.weighted = weighted
        self.pymc_model = model.build_inputs(inputs, swappable=weighted)
        self._nutpie: Any = None
        self._functions: dict[str, Any] = {}

    # ------------------------------------------------------------------ data
    def data_values(self, inputs: ModelInputs,
                    weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The values of this model's ``pm.Data`` containers for ``inputs``.

        Parameters
        ----------
        inputs : ModelInputs
            The data arranged for the model.
        weight : numpy.ndarray, optional
            Per-observation weights (weighted form only; default: all 1).

        Returns
        -------
        dict of str to numpy.ndarray
            By container name: ``baseline_std``, ``outcome_sd`` and
            ``observed_<variable>`` per observed variable (see
            :func:`bayesdose.components.graph.data_values`); in the weighted form ``response``,
            ``baseline_std``, ``weight``, ``lower``, ``upper`` and ``outcome_sd``.

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> sorted(CompiledModel(model, inputs).data_values(inputs))
        ['baseline_std', 'observed_change', 'outcome_sd']
        >>> sorted(CompiledModel(model, inputs, weighted=True).data_values(inputs))
        ['baseline_std', 'lower', 'outcome_sd', 'response', 'upper', 'weight']
        """

        values = data_values(inputs, swappable=self.weighted)
        if weight is not None:
            if not self.weighted:
                raise SpecError("weights need the weighted form (weighted=True).")
            values["weight"] = np.asarray(weight, dtype=float)
        return values

    def set_data(self, values: dict[str, np.ndarray]) -> None:
        """Put ``values`` into the PyMC model's data containers.

        Parameters
        ----------
        values : dict of str to numpy.ndarray
            Values by container name (see :meth:`data_values`).

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> compiled = CompiledModel(model, inputs, weighted=True)
        >>> weight = np.ones(len(inputs.response))
        >>> weight[0] = 0.0  # leave the first observation out
        >>> compiled.set_data(compiled.data_values(inputs, weight))
        >>> float(compiled.pymc_model["weight"].get_value().sum()) == len(weight) - 1
        True
        """
        with self.pymc_model:
            pm.set_data(values)

    # ------------------------------------------------------------------ sampling
    def sample(self, inputs: ModelInputs, settings: dict[str, Any], *,
               cores: int | None = None, progressbar: bool | None = False,
               prior_draws: int = 0,
               predictive: bool = False, weight: np.ndarray | None = None
               ) -> xr.DataTree:
        """Sample the posterior on ``inputs`` (which must have this model's design).

        Parameters
        ----------
        inputs : ModelInputs
            The data.
        settings : dict
            ``draws``, ``tune``, ``chains``, ``random_seed``, ``target_accept`` and
            ``sampler`` (a backend name, already resolved).
        cores : int, optional
            Chains in parallel.
        progressbar : bool, optional
            Show the sampler's progress bar (and a note while nutpie compiles the model);
            ``None``: on a terminal only (:func:`bayesdose.progress.resolve_progress`).
        prior_draws : int
            Draws from the prior and prior predictive (0 to skip).
        predictive : bool
            Also draw the posterior predictive.
        weight : numpy.ndarray, optional
            Per-observation weights (weighted form only; 0 leaves an observation out).

        Returns
        -------
        xarray.DataTree
            ``posterior`` and ``sample_stats``; unless weighted, also ``observed_data``
            and ``log_likelihood``, and ``posterior_predictive``, ``prior`` and
            ``prior_predictive`` when asked (the weighted form ignores ``predictive``
            and ``prior_draws``).

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> settings = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 1,
        ...             "target_accept": 0.95, "sampler": "pymc"}
        >>> idata = CompiledModel(model, inputs).sample(inputs, settings)  # doctest: +SKIP
        >>> sorted(idata.children)  # doctest: +SKIP
        ['log_likelihood', 'observed_data', 'posterior', 'sample_stats']
        """
        return self.sample_values(self.data_values(inputs, weight), settings, cores=cores,
                                  progressbar=progressbar, prior_draws=prior_draws,
                                  predictive=predictive)

    def sample_values(self, values: dict[str, np.ndarray], settings: dict[str, Any], *,
                      cores: int | None = None, progressbar: bool | None = False,
                      prior_draws: int = 0, predictive: bool = False) -> xr.DataTree:
        """:meth:`sample` on container values (:meth:`data_values`, or of a simulated
        trial); containers not named keep their values.

        Parameters
        ----------
        values : dict of str to numpy.ndarray
            Values by container name.
        settings : dict
            As in :meth:`sample`.
        cores, progressbar, prior_draws, predictive
            As in :meth:`sample`.

        Returns
        -------
        xarray.DataTree
            As :meth:`sample`.

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> compiled = CompiledModel(model, inputs, weighted=True)
        >>> settings = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 1,
        ...             "target_accept": 0.95, "sampler": "nutpie"}
        >>> moved = {"response": inputs.response + 1.0}
        >>> idata = compiled.sample_values(moved, settings)  # doctest: +SKIP
        """
        self.set_data(values)
        seeds = np.random.SeedSequence(settings["random_seed"]).generate_state(3)
        backend = settings["sampler"]
        common = {"draws": settings["draws"], "tune": settings["tune"],
                  "chains": settings["chains"], "random_seed": int(seeds[0]),
                  "target_accept": settings["target_accept"], "cores": cores,
                  "progressbar": resolve_progress(progressbar)}
        if backend == "nutpie":
            idata = self._sample_nutpie(values, common)
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "The effect of Potentials", UserWarning)
                idata = sample_posterior(self.pymc_model, backend, log_likelihood=False,
                                         **common)
        for name in ("constant_data", "observed_data", "log_likelihood"):
            drop_group(idata, name)
        if self.weighted:
            return idata
        posterior = group(idata, "posterior")
        set_group(idata, "observed_data", self._observed_dataset(values))
        set_group(idata, "log_likelihood", self.log_likelihood(posterior))
        if predictive:
            set_group(idata, "posterior_predictive",
                      self.posterior_predictive(posterior, int(seeds[1])))
        if prior_draws:
            prior, prior_predictive = self.prior(prior_draws, int(seeds[2]))
            set_group(idata, "prior", prior)
            set_group(idata, "prior_predictive", prior_predictive)
        return idata

    def _sample_nutpie(self, values: dict[str, np.ndarray],
                       common: dict[str, Any]) -> xr.DataTree:
        """nutpie on the compiled model with ``values`` swapped in."""
        # nutpie (numba) is slow to import and optional: loaded only when it samples
        import nutpie

        if self._nutpie is None:
            with progress_note("Compiling the model", common["progressbar"]):
                self._nutpie = compile_pymc_model(self.pymc_model)
        used = nutpie_data_names(self._nutpie)
        if values and not set(values) & used:
            raise SpecError(f"nutpie's compiled model names none of the data containers "
                            f"{sorted(values)} (it has {sorted(used)}): the data cannot be "
                            "swapped in; use sampler='pymc'.")
        compiled = self._nutpie.with_data(**{k: v for k, v in values.items() if k in used})
        cores = common["cores"] or min(common["chains"], os.cpu_count() or 1)
        start = time.perf_counter()
        idata = nutpie.sample(compiled, draws=common["draws"], tune=common["tune"],
                              chains=common["chains"], seed=common["random_seed"],
                              target_accept=common["target_accept"], cores=cores,
                              progress_bar=common["progressbar"], save_warmup=False,
                              **nutpie_options(self.pymc_model))
        posterior = model_variables(group(idata, "posterior"), self.pymc_model)
        posterior.attrs.update({"sampling_time": time.perf_counter() - start,
                                "tuning_steps": common["tune"]})
        return new_tree(posterior=posterior,
                        sample_stats=stored_stats(group(idata, "sample_stats")))

    def _posterior_names(self) -> list[str]:
        model = self.pymc_model
        return [rv.name for rv in model.free_RVs] + [rv.name for rv in model.deterministics]

    # ------------------------------------------------------------------ read-outs
    def log_likelihood(self, posterior: xr.Dataset) -> xr.Dataset:
        """Pointwise log likelihood of every observed variable at each posterior draw.

        Parameters
        ----------
        posterior : xarray.Dataset
            Draws of the free variables (dims ``chain``, ``draw``, ...), e.g. a fit's
            posterior, or a refit's on part of the data.

        Returns
        -------
        xarray.Dataset
            One variable per observed variable, dims ``(chain, draw, obs_<variable>)``,
            evaluated on the data now in the containers.

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> compiled = CompiledModel(model, inputs)
        >>> draws, _ = compiled.prior(20, seed=1)  # any draws of the free variables
        >>> compiled.log_likelihood(draws)["change"].shape  # 47 observations
        (1, 20, 47)
        """
        function, names, observed = self._function("log_likelihood")
        return self._dataset(observed, function(*_stacked(posterior, names)),
                             posterior.sizes["chain"], posterior.sizes["draw"])

    def posterior_predictive(self, posterior: xr.Dataset, seed: int) -> xr.Dataset:
        """A replicate of every observed variable at each posterior draw (seeded: the
        same posterior and seed give the same replicates).

        Parameters
        ----------
        posterior : xarray.Dataset
            Draws of the free variables (dims ``chain``, ``draw``, ...).
        seed : int
            Seed of the replicates.

        Returns
        -------
        xarray.Dataset
            One variable per observed variable, dims ``(chain, draw, obs_<variable>)``.

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> compiled = CompiledModel(model, inputs)
        >>> draws, _ = compiled.prior(20, seed=1)
        >>> first = compiled.posterior_predictive(draws, seed=2)
        >>> first["change"].dims
        ('chain', 'draw', 'obs_change')
        >>> bool((compiled.posterior_predictive(draws, seed=2) == first)["change"].all())
        True
        """
        function, names, observed = self._function("predictive")
        _reseed(function, seed)
        return self._dataset(observed, function(*_stacked(posterior, names)),
                             posterior.sizes["chain"], posterior.sizes["draw"])

    def prior(self, draws: int, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
        """``draws`` joint draws of the parameters and the data from the prior.

        Parameters
        ----------
        draws : int
            Number of draws (one chain).
        seed : int
            Seed.

        Returns
        -------
        (xarray.Dataset, xarray.Dataset)
            The prior (free variables and deterministics) and the prior predictive
            (observed variables).

        Examples
        --------
        >>> import bayesdose as bd
        >>> model = bd.DoseResponseModel()
        >>> inputs = model.inputs(bd.datasets.load_msc_trial().select(["koos_pain"]))
        >>> prior, predictive = CompiledModel(model, inputs).prior(20, seed=1)
        >>> prior["effect"].dims, list(predictive.data_vars)
        (('chain', 'draw', 'outcome', 'dose', 'time'), ['change'])
        """
        function, inputs, outputs = self._function("prior")
        _reseed(function, seed)
        if inputs == ["draws"]:  # every draw at once
            arrays = function(np.int64(draws))
        else:  # one draw per call (a variable with no batched draw: see _compile)
            results = [function() for _ in range(draws)]
            arrays = [np.stack(r) for r in zip(*results, strict=True)]
        split = len(self._posterior_names())
        names, observed = outputs[:split], outputs[split:]
        return (self._dataset(names, arrays[:len(names)], 1, draws),
                self._dataset(observed, arrays[len(names):], 1, draws))

    def _function(self, which: str) -> tuple[Any, list[str], list[str]]:
        """The compiled function ``which``, the posterior variables it takes and the
        variables it returns."""
        if which not in self._functions:
            self._functions[which] = _compile(self.pymc_model, which)
        return self._functions[which]

    def _observed_dataset(self, values: dict[str, np.ndarray]) -> xr.Dataset:

        model = self.pymc_model
        data = {}
        for rv in model.observed_RVs:
            dims = model.named_vars_to_dims.get(rv.name, ())
            coords = {d: np.asarray(model.coords[d]) for d in dims}
            data[rv.name] = xr.DataArray(values[OBSERVED_PREFIX + rv.name], dims=dims,
                                         coords=coords)
        return _with_attrs(xr.Dataset(data))

    def _dataset(self, names: list[str], arrays: list[np.ndarray], chains: int,
                 draws: int) -> xr.Dataset:
        """Stacked draws (sample, ...) as a dataset with the model's dims and coords."""
        model = self.pymc_model
        data = {}
        for name, array in zip(names, arrays, strict=True):
            dims = model.named_vars_to_dims.get(name, ())
            array = np.asarray(array).reshape(chains, draws, *np.shape(array)[1:])
            extra = [f"{name}_dim_{i}" for i in range(array.ndim - 2 - len(dims))]
            all_dims = ("chain", "draw", *dims, *extra)
            coords = {d: np.asarray(model.coords[d]) for d in dims}
            data[name] = xr.DataArray(array, dims=all_dims, coords=coords)
        dataset = xr.Dataset(data).assign_coords(chain=np.arange(chains),
                                                 draw=np.arange(draws))
        return _with_attrs(dataset)


def nutpie_data_names(compiled: Any) -> set[str]:
    """The names of the data containers a nutpie-compiled model lets ``with_data`` swap.

    nutpie 0.16.11 keys its ``shared_data`` by generated ids and maps the containers to
    them in ``shared_var_keys``; earlier releases key ``shared_data`` by name.

    Parameters
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        A model compiled by :func:`nutpie.compile_pymc_model`.

    Returns
    -------
    set of str

    Examples
    --------
    >>> import pytensor
    >>> from types import SimpleNamespace
    >>> container = pytensor.shared(0.0, name="response")
    >>> old = SimpleNamespace(shared_data={"response": 0})
    >>> new = SimpleNamespace(shared_data={"3f2a": 0}, shared_var_keys={container: "3f2a"})
    >>> nutpie_data_names(old), nutpie_data_names(new)
    ({'response'}, {'response'})
    """
    keys = getattr(compiled, "shared_var_keys", None)
    if keys is not None:
        return {variable.name for variable in keys}
    return set(compiled.shared_data)


def _with_attrs(dataset: xr.Dataset) -> xr.Dataset:
    """``dataset`` with the attributes PyMC gives the groups it makes."""
    dataset.attrs.update({"arviz_version": az.__version__, "inference_library": "pymc",
                          "inference_library_version": pm.__version__})
    return dataset


def _stacked(posterior: xr.Dataset, names: list[str]) -> list[np.ndarray]:
    """Each variable's draws as (chain x draw, ...) arrays, chain-major."""
    out = []
    for name in names:
        values = posterior[name].values
        out.append(values.reshape(-1, *values.shape[2:]))
    return out


def _reseed(function: Any, seed: int) -> None:
    """Reseed the random generators a compiled function draws from."""

    rngs = [v for v in function.get_shared() if "RandomGenerator" in type(v.type).__name__]
    reseed_rngs(rngs, seed)


def _compile(model: pm.Model, which: str) -> tuple[Any, list[str], list[str]]:
    """Compile one read-out function of ``model``.

    ``"log_likelihood"``: draws of the free variables on their constrained scale, stacked
    along a leading sample axis -> pointwise log densities of the observed variables (one
    vectorised call for all draws). ``"predictive"``: the same draws -> one replicate of
    each observed variable per draw. ``"prior"``: joint draws of the free variables,
    deterministics and observed variables, every draw in one call (input ``draws``) or,
    where a variable has no batched draw, one draw per call (no input).
    """

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if which == "log_likelihood":
            plain = remove_value_transforms(model)
            values = plain.value_vars
            batched = [_batched_input(v) for v in values]
            # the model without transforms is a copy, data containers included: point it
            # back at the model's own containers, which ``set_data`` fills
            replace = dict(zip(values, batched, strict=True))
            replace.update({plain[data.name]: data for data in model.data_vars})
            outputs = vectorize_graph(plain.logp(vars=plain.observed_RVs, sum=False),
                                      replace=replace)
            function = compile_pytensor(batched, outputs, on_unused_input="ignore",
                                        mode=READOUT_MODE)
            return (function, [plain.values_to_rvs[v].name for v in values],
                    [rv.name for rv in plain.observed_RVs])
        if which == "predictive":
            free = model.free_RVs
            batched = [_batched_input(rv) for rv in free]
            replace = dict(zip(free, batched, strict=True))
            outputs = [_batched_draw(rv, replace) for rv in model.observed_RVs]
            function = compile_pytensor(batched, outputs, random_seed=0, mode=READOUT_MODE,
                                        on_unused_input="ignore")
            return (function, [rv.name for rv in free],
                    [rv.name for rv in model.observed_RVs])
        outputs = [*model.free_RVs, *model.deterministics, *model.observed_RVs]
        names = [v.name for v in outputs]
        try:
            draws, batched = _batched_prior(model)
            function = compile_pytensor([draws], batched, random_seed=0, mode=READOUT_MODE)
            # a variable drawn inside another's parameters would be drawn once for all
            if _draws_only_from_batched_variables(function):
                return function, ["draws"], names
        except NotBatched:
            pass
        # one joint draw per call
        function = compile_pytensor([], outputs, random_seed=0, mode=READOUT_MODE)
        return function, [], names


#: The end of the name of each generator the batched prior draws from.
PRIOR_RNG = "_prior_rng"


class NotBatched(SpecError):
    """A variable of the model has no batched draw (:func:`_batched_draw`)."""


def _batched_prior(model: pm.Model) -> tuple[Any, list[Any]]:
    """``draws`` joint draws from the prior in one graph: the free variables (in the
    model's order, each given its parents' draws), deterministics and observed variables,
    each with a leading axis of length ``draws``.

    Like PyMC's forward sampling, the draws follow the variables' distributions (value
    transforms and potentials play no part). Raises :class:`NotBatched` for a variable
    that is not a plain (or censored) random variable, e.g. a mixture.
    """
    draws = pt.scalar("draws", dtype="int64")
    replace: dict[Any, Any] = {}
    for rv in model.free_RVs:
        replace[rv] = _batched_draw(rv, replace, draws)
    observed = [_batched_draw(rv, replace, draws) for rv in model.observed_RVs]
    deterministics = [_with_leading_axis(d, vectorize_graph(d, replace=replace), draws)
                      for d in model.deterministics]
    return draws, [*(replace[rv] for rv in model.free_RVs), *deterministics, *observed]


def _draws_only_from_batched_variables(function: Any) -> bool:
    """Whether every random draw in the compiled ``function`` is one that
    :func:`_batched_draw` made for the prior (its generator named ``*_prior_rng``)."""
    for node in function.maker.fgraph.apply_nodes:
        if isinstance(node.op, RandomVariable):
            rng = node.op.rng_param(node)
            while rng.owner is not None and rng.name is None:  # an inplace update's input
                rng = rng.owner.inputs[0]
            if not (rng.name or "").endswith(PRIOR_RNG):
                return False
    return True


def _with_leading_axis(original: Any, vectorized: Any, draws: Any) -> Any:
    """``vectorized`` with a leading draw axis: broadcast along it when ``original``
    depends on no random variable."""
    if vectorized.ndim == original.ndim + 1:
        return vectorized
    return pt.broadcast_to(vectorized[None], (draws, *vectorized.shape))


def _batched_input(variable: Any) -> Any:
    """A tensor like ``variable`` with a leading sample axis."""

    return pt.tensor(name=variable.name, dtype=variable.dtype,
                     shape=(None, *variable.type.shape))


def _batched_draw(rv: Any, replace: dict[Any, Any], draws: Any = None) -> Any:
    """A draw of the random variable ``rv`` for every row of the batched variables in
    ``replace``: its distribution's parameters are vectorised over the sample axis (a
    censored variable is its base draw clipped to its bounds).

    Without ``draws`` (the predictive: every parent is batched) the draw takes its shape
    from the parameters. With ``draws`` (the prior, whose first variables have no batched
    parent) its size is ``(draws, *batch shape)``: a model variable's parameters have its
    batch dimensions (PyTensor expands them when the variable is made), so the vectorised
    parents line up with it; the draw gets a generator of its own (the model's variable,
    whose shape is read, keeps its generator). Raises :class:`NotBatched` for a variable
    that is not a plain or censored random variable (a mixture, a symbolic variable), or
    for the prior a censored one whose bounds depend on a parameter.
    """
    node = rv.owner
    if isinstance(node.op, CensoredRV):
        base, lower, upper = node.op.dist_params(node)
        bounds = vectorize_graph([lower, upper], replace=replace)
        if draws is not None and any(
                b.ndim != a.ndim for a, b in zip((lower, upper), bounds, strict=True)):
            raise NotBatched(f"no batched prior draw for the bounds of {rv.name}.")
        return pt.clip(_batched_draw(base, replace, draws), *bounds)
    op = node.op
    if not isinstance(op, RandomVariable):
        raise NotBatched(f"no batched draw for {type(op).__name__} ({rv.name}).")
    params = vectorize_graph(list(op.dist_params(node)), replace=replace)
    if draws is None:
        return op.make_node(op.rng_param(node), None, *params).outputs[1]
    size = pt.stack([draws, *(rv.shape[i] for i in range(rv.ndim - op.ndim_supp))])
    rng = pytensor.shared(np.random.default_rng(), name=f"{rv.name}{PRIOR_RNG}")
    return op.make_node(rng, size, *params).outputs[1]
