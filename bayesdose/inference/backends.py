"""Sampler backends: which NUTS implementation samples a model, chosen by name.

``"pymc"`` is PyMC's own NUTS (C backend, always available). ``"nutpie"`` (Rust sampler,
model compiled with numba) is installed with bayesdose (a dependency, the default through
``"auto"``). ``"numpyro"`` and ``"blackjax"`` (model compiled with JAX) are optional:
``pip install "bayesdose[fast]"`` installs NumPyro; BlackJAX is installed on its own
(``pip install "blackjax<1.6"``: PyMC's BlackJAX sampler fails with BlackJAX 1.6 and
later). ``"auto"`` picks the fastest installed backend, in the order of
:data:`AUTO_ORDER`.

Whatever the backend, :func:`sample_posterior` returns the groups PyMC's NUTS returns:
``posterior`` (free variables and deterministics, on their constrained scale),
``sample_stats``, ``log_likelihood`` (one variable per observed variable, with its
observation dim) and ``observed_data``. What a backend does not deliver is filled in:

* ``"pymc"`` delivers everything; its ``sample_stats`` name the checks' statistics
  ``diverging``, ``energy`` and ``reached_max_treedepth``.
* ``"nutpie"`` gives no log likelihood (computed here with
  :func:`pymc.compute_log_likelihood`), adds the unconstrained values of transformed
  variables to the posterior and warm-up groups (dropped here); its statistics are
  ``diverging``, ``energy`` and ``maxdepth_reached``.
* ``"numpyro"`` and ``"blackjax"`` report ``diverging``, ``energy`` and ``tree_depth``;
  ``reached_max_treedepth`` is added here (tree depth at :data:`MAX_TREE_DEPTH`). JAX has
  no scaled complementary error function, which the Normal log CDF of a censored
  observation at its bound needs; :func:`register_jax_erfcx` provides it.

Every backend is deterministic: the same model, settings and seed give the same draws.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from importlib.metadata import version
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pytensor.scalar.math import Erfcx

from bayesdose.errors import SpecError
from bayesdose.inference.trees import drop_group, group, set_group
from bayesdose.progress import resolve_progress

BACKENDS = ("pymc", "nutpie", "numpyro", "blackjax")


SAMPLERS = (*BACKENDS, "auto")


#: Backends ``"auto"`` tries, fastest first: on the embedded example's one-outcome model
#: (4 chains x (1000 tune + 1000 draws), 2 CPU cores) sampling took 1.2 s with nutpie and
#: 19 s with PyMC's NUTS (benchmarks/README.md). NumPyro and BlackJAX are left out: on all
#: twelve outcomes they diverged on half the draws.
AUTO_ORDER = ("nutpie", "pymc")


FAST_INSTALL = 'pip install "bayesdose[fast]"'


REQUIRES = {"pymc": (), "nutpie": ("nutpie",), "numpyro": ("numpyro", "jax"),
            "blackjax": ("blackjax", "jax")}


INSTALL = {"nutpie": 'pip install "nutpie[pymc]"', "numpyro": FAST_INSTALL,
           "blackjax": 'pip install "blackjax<1.6"'}


#: Tree depth at which NumPyro's and BlackJAX's NUTS stop doubling (their default, as
#: PyMC's and Stan's).
MAX_TREE_DEPTH = 10


def missing_packages(backend: str) -> list[str]:
    """The packages ``backend`` needs that are not installed.

    Parameters
    ----------
    backend : str
        One of :data:`BACKENDS`.

    Returns
    -------
    list of str
        Empty when the backend can run.

    Examples
    --------
    >>> missing_packages("pymc")
    []
    """
    return [name for name in REQUIRES[backend] if importlib.util.find_spec(name) is None]


def installed_backends() -> list[str]:
    """The backends that can run here, in the order of :data:`BACKENDS`.

    Returns
    -------
    list of str
        Always includes ``"pymc"``.

    Examples
    --------
    >>> "pymc" in installed_backends()
    True
    """
    return [backend for backend in BACKENDS if not missing_packages(backend)]


def resolve_sampler(sampler: str) -> str:
    """The backend that runs for ``sampler``: itself, or for ``"auto"`` the first installed
    one of :data:`AUTO_ORDER`.

    Parameters
    ----------
    sampler : str
        One of :data:`SAMPLERS`.

    Returns
    -------
    str
        One of :data:`BACKENDS`, installed.

    Raises
    ------
    SpecError
        When ``sampler`` is not a known name, or names a backend that is not installed
        (the message says what to install).

    Examples
    --------
    >>> resolve_sampler("pymc")
    'pymc'
    >>> resolve_sampler("auto") in installed_backends()
    True
    """
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise SpecError(f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)}; use "
                        "'auto' for the fastest installed one.")
    if sampler == "auto":
        return next(backend for backend in AUTO_ORDER if not missing_packages(backend))
    missing = missing_packages(sampler)
    if missing:
        raise SpecError(
            f"sampler {sampler!r} needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL[sampler]} "
            "(or use sampler='pymc', or 'auto' for the fastest installed backend).")
    return sampler


def sample_posterior(model: pm.Model, backend: str, *, draws: int, tune: int, chains: int,
                     random_seed: int, target_accept: float, cores: int | None = None,
                     progressbar: bool | None = False, log_likelihood: bool = True
                     ) -> xr.DataTree:
    """Sample ``model``'s posterior with NUTS from ``backend``.

    Parameters
    ----------
    model : pymc.Model
        The model.
    backend : str
        One of :data:`BACKENDS` (see :func:`resolve_sampler` for ``"auto"``).
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    random_seed : int
        Seed; the same seed gives the same draws.
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    cores : int, optional
        Chains run in parallel (default: min(chains, CPU count)). The JAX backends run
        chains in parallel when JAX has a device for each (else one after the other for
        NumPyro, vectorised for BlackJAX); when JAX has not started yet and its CPU
        device count is not set, it is given one CPU device per core.
    progressbar : bool, optional
        Show the sampler's progress bar; ``None``: on a terminal only
        (:func:`bayesdose.progress.resolve_progress`).
    log_likelihood : bool
        Add the pointwise log likelihood (``False`` when the caller computes it, as
        :class:`bayesdose.inference.compiled.CompiledModel` does with a function compiled once).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood`` (when asked) and
        ``observed_data``, as PyMC's NUTS returns them.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    ...     y = pm.Normal("y", mu, 1, observed=[0.1, -0.3])
    >>> idata = sample_posterior(model, "pymc", draws=50, tune=50, chains=1,
    ...                          random_seed=1, target_accept=0.9)  # doctest: +SKIP
    >>> sorted(idata.children)  # doctest: +SKIP
    ['log_likelihood', 'observed_data', 'posterior', 'sample_stats']
    """
    if backend not in BACKENDS:
        raise SpecError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}.")
    cores = cores or min(chains, os.cpu_count() or 1)
    common = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
              "target_accept": target_accept, "progressbar": resolve_progress(progressbar),
              "nuts_sampler": backend, "model": model}
    if backend == "pymc":
        idata = pm.sample(cores=cores, compute_convergence_checks=False, **common)
    elif backend == "nutpie":
        idata = _sample_nutpie(model, common, cores)
    else:
        idata = _sample_jax(model, backend, common, cores)
    if log_likelihood:
        _add_log_likelihood(idata, model)
    return idata


def _add_log_likelihood(idata: xr.DataTree, model: pm.Model) -> None:
    """The pointwise log likelihood at every draw, as a ``log_likelihood`` group (computed
    after sampling, the same way for every backend)."""
    with warnings.catch_warnings():
        # PyMC's note that Potentials are left out of the log likelihood, as meant here
        warnings.simplefilter("ignore", UserWarning)
        pm.compute_log_likelihood(idata, model=model, extend_inferencedata=True,
                                  progressbar=False)


#: nutpie's settings for a model of one outcome: a diagonal mass matrix plus a low-rank
#: correction learnt from the draws and their gradients (``adaptation="low_rank"``, which
#: nutpie 0.16 still calls experimental). It follows the correlation between the dose
#: effect, the common course and the patients' arm means that a diagonal mass matrix
#: cannot: see ``benchmarks/null_mixing.py`` (default fits of null and weak trials: 1 of
#: 16 failed their diagnostics, against 9 of 16 with the diagonal one). Models of several
#: outcomes keep nutpie's diagonal adaptation: with a patient factor shared across outcomes
#: the low-rank one mixed worse (the embedded example's three patient-reported outcomes,
#: seeds 1-3: 2 of 3 fits failed with it, none without). Every fit's R-hat, ESS and
#: divergences are checked whatever the adaptation.
NUTPIE_OPTIONS: dict[str, Any] = {"adaptation": "low_rank"}


def nutpie_options(model: pm.Model) -> dict[str, Any]:
    """nutpie's settings for ``model``: :data:`NUTPIE_OPTIONS` for a model of one outcome
    (or with no outcome dimension), none (nutpie's defaults) for several outcomes.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model(coords={"outcome": ["a", "b"]}) as two:
    ...     pass
    >>> nutpie_options(two)
    {}
    """
    outcomes = model.coords.get("outcome")
    return dict(NUTPIE_OPTIONS) if outcomes is None or len(outcomes) <= 1 else {}


def _sample_nutpie(model: pm.Model, common: dict[str, Any], cores: int) -> xr.DataTree:
    """nutpie (with :func:`nutpie_options`), its extra groups and values dropped."""
    idata = pm.sample(cores=cores, nuts=nutpie_options(model), **common)
    set_group(idata, "posterior", model_variables(group(idata, "posterior"), model))
    set_group(idata, "sample_stats", stored_stats(group(idata, "sample_stats")))
    for name in [g for g in idata.children if g.startswith("warmup_") or g == "constant_data"]:
        drop_group(idata, name)
    return idata


def stored_stats(stats: xr.Dataset) -> xr.Dataset:
    """Sampler statistics as they read back from a netCDF file: a statistic of Python
    objects (nutpie's ``divergence_message``, ``None`` where a draw did not diverge) as text,
    ``""`` for ``None`` (or NaN).

    Parameters
    ----------
    stats : xarray.Dataset
        A ``sample_stats`` group.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> stats = xr.Dataset({"divergence_message": ("draw", np.array([None, "x"], object))})
    >>> stored_stats(stats)["divergence_message"].values.tolist()
    ['', 'x']
    """
    out = stats.copy()
    for name, values in stats.data_vars.items():
        if values.dtype == object:
            text = np.vectorize(lambda v: "" if _is_missing(v) else str(v), otypes=[str])
            out[name] = values.copy(data=text(values.to_numpy()))
    return out


def _is_missing(value: Any) -> bool:
    """None or a float NaN (compared without NumPy's invalid-value warning)."""
    return value is None or (isinstance(value, (float, np.floating)) and bool(np.isnan(value)))


def model_variables(posterior: Any, model: pm.Model) -> Any:
    """``posterior`` with the model's free variables and deterministics only (nutpie adds
    the unconstrained values of transformed variables, and their coordinates).

    Parameters
    ----------
    posterior : xarray.Dataset
        A posterior group.
    model : pymc.Model
        The model sampled.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import pymc as pm, xarray as xr
    >>> with pm.Model() as model:
    ...     sigma = pm.HalfNormal("sigma")
    >>> posterior = xr.Dataset({"sigma": ("draw", [1.0]), "sigma_log__": ("draw", [0.0])})
    >>> list(model_variables(posterior, model).data_vars)
    ['sigma']
    """
    keep = [rv.name for rv in model.free_RVs] + [rv.name for rv in model.deterministics]
    posterior = posterior[[name for name in posterior.data_vars if name in keep]]
    return posterior.drop_vars([name for name in posterior.coords
                                if name not in posterior.dims])


def _sample_jax(model: pm.Model, backend: str, common: dict[str, Any],
                cores: int) -> xr.DataTree:
    """NumPyro or BlackJAX, chains in parallel where JAX has a CPU device for each."""
    register_jax_erfcx()
    chains = common["chains"]
    devices = _jax_devices()
    if chains > 1 and min(cores, devices) >= chains:
        method = "parallel"
    else:
        method = "sequential" if backend == "numpyro" else "vectorized"
    try:
        idata = pm.sample(nuts={"chain_method": method}, compute_convergence_checks=False,
                          **common)
    except TypeError as exc:
        if backend == "blackjax" and "progress_bar" in str(exc):

            raise SpecError(
                f"sampler 'blackjax' fails with the installed blackjax "
                f"{version('blackjax')} under PyMC {pm.__version__} (PyMC's BlackJAX "
                'sampler needs blackjax < 1.6): pip install "blackjax<1.6", or use '
                "sampler='numpyro'.") from exc
        raise
    drop_group(idata, "constant_data")  # as PyMC's own NUTS: the containers' values
    stats = group(idata, "sample_stats")
    if "reached_max_treedepth" not in stats and "tree_depth" in stats:
        stats["reached_max_treedepth"] = stats["tree_depth"] >= MAX_TREE_DEPTH
        set_group(idata, "sample_stats", stats)
    return idata


def _jax_devices() -> int:
    """JAX's devices; one CPU device per core when JAX has not started yet and its CPU
    device count was not set."""
    # JAX is the optional [fast] extra, loaded only by the JAX backends
    import jax

    flags = os.environ.get("XLA_FLAGS", "")
    if getattr(jax.config, "jax_num_cpu_devices", None) == -1 and "device_count" not in flags:
        try:
            jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
        except RuntimeError:  # JAX already started: keep its devices
            pass
    return jax.local_device_count()


#: Where :func:`jax_erfcx` switches from exp(x^2) erfc(x) to its asymptotic series, and the
#: series' number of terms (relative error below 1e-18 from there on).
ERFCX_SWITCH, ERFCX_TERMS = 8.0, 20


def jax_erfcx(x: Any) -> Any:
    """The scaled complementary error function exp(x^2) erfc(x), in JAX.

    The log CDF of the Normal uses it (so every censored Normal observation at its bound
    does), and JAX has none. Below :data:`ERFCX_SWITCH` it is computed as written; above,
    by its asymptotic series 1 / (x sqrt(pi)) sum_n (-1)^n (2n - 1)!! / (2 x^2)^n, whose
    terms fall monotonically there. Each branch only sees arguments of its own range, so
    gradients stay finite.

    Parameters
    ----------
    x : array_like
        Argument (float32 or float64).

    Returns
    -------
    jax.Array

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import erfcx
    >>> x = np.array([-3.0, 0.0, 2.0, 7.9, 8.1, 30.0, 1e4])
    >>> bool(np.allclose(jax_erfcx(x), erfcx(x), rtol=1e-12))  # doctest: +SKIP
    True
    """
    # JAX is the optional [fast] extra, loaded only by the JAX backends
    import jax.numpy as jnp
    from jax.scipy.special import erfc

    x = jnp.asarray(x)
    big = x >= ERFCX_SWITCH
    small = jnp.where(big, 0.0, x)
    direct = jnp.exp(small * small) * erfc(small)
    large = jnp.where(big, x, ERFCX_SWITCH)
    t = 1.0 / (2.0 * large * large)
    series = jnp.zeros_like(t)
    coefficients = np.cumprod([1.0, *range(1, 2 * ERFCX_TERMS, 2)])  # (2n - 1)!!
    for n in range(ERFCX_TERMS, -1, -1):
        series = series * t + float((-1) ** n * coefficients[n])
    return jnp.where(big, series / (large * float(np.sqrt(np.pi))), direct)


_JAX_ERFCX_REGISTERED = False


def register_jax_erfcx() -> None:
    """Give PyTensor's JAX backend :func:`jax_erfcx` for its ``erfcx`` Op, unless
    TensorFlow Probability (PyTensor's own source of it) is installed.

    Examples
    --------
    >>> register_jax_erfcx()  # doctest: +SKIP
    """
    global _JAX_ERFCX_REGISTERED
    if _JAX_ERFCX_REGISTERED or importlib.util.find_spec("tensorflow_probability"):
        return
    # PyTensor's JAX dispatch imports JAX, the optional [fast] extra
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(Erfcx)
    def _erfcx(op, **kwargs):
        return jax_erfcx

    _JAX_ERFCX_REGISTERED = True


def check_sampler_settings(draws: int, tune: int, chains: int, target_accept: float,
                           sampler: str = "pymc") -> None:
    """Raise :class:`SpecError` for sampler settings that cannot work.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    target_accept : float
        NUTS target acceptance rate, strictly between 0 and 1.
    sampler : str
        One of :data:`SAMPLERS`; a backend that is not installed is an error that says
        what to install (see :func:`bayesdose.inference.backends.resolve_sampler`).

    Examples
    --------
    >>> check_sampler_settings(1000, 1000, 4, 0.95, "auto")
    >>> check_sampler_settings(1000, 1000, 4, 0.95, "stan")
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: sampler 'stan' is not one of pymc, nutpie, numpyro, \
blackjax, auto; use 'auto' for the fastest installed one.
    """
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SpecError(f"sampler setting {name} must be an integer >= {low} "
                            f"(got {value!r}).")
    if isinstance(target_accept, bool) or not isinstance(target_accept, (int, float)) \
            or not 0 < target_accept < 1:
        raise SpecError(f"target_accept must be between 0 and 1 (got {target_accept!r}).")
    resolve_sampler(sampler)
