"""Sampler backends: every installed backend returns what PyMC's NUTS returns, repeatably."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pymc as pm
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.errors import SpecError
from bayesdose.inference import backends
from bayesdose.inference.backends import (
    AUTO_ORDER,
    BACKENDS,
    check_sampler_settings,
    installed_backends,
    missing_packages,
    resolve_sampler,
    sample_posterior,
)
from bayesdose.results.diagnostics import diagnose

FIT = {"draws": 100, "tune": 100, "chains": 2, "prior_draws": 20, "progressbar": False}


def each_backend(names=BACKENDS) -> list:
    """``names`` as parameters, those not installed skipped with the reason."""
    return [pytest.param(name, marks=pytest.mark.skipif(
        bool(missing_packages(name)),
        reason=f"{name} backend not installed (needs {', '.join(missing_packages(name))})"))
        for name in names]


def layout(idata) -> dict:
    """Per group (but sample_stats, whose statistics differ by sampler): each variable's
    dims and shape, and each coordinate's values."""
    out = {}
    for group in idata.children:
        if group == "sample_stats":
            continue
        data = idata[group]
        out[group] = (
            {name: (value.dims, value.shape) for name, value in data.data_vars.items()},
            {name: np.asarray(value.values).tolist() for name, value in data.coords.items()},
        )
    return out


def toy_model() -> pm.Model:
    """A tiny model with a transformed variable, a deterministic, observation dims and a
    censored observation at its bound (whose log density is a Normal log CDF)."""
    with pm.Model(coords={"obs": [10, 11, 12, 13, 14]}) as model:
        mu = pm.Normal("mu")
        sigma = pm.HalfNormal("sigma")
        pm.Deterministic("double", 2 * mu)
        pm.Censored("y", pm.Normal.dist(mu, sigma), lower=-1.5, upper=None,
                    observed=[0.3, -0.2, 1.1, 0.4, -1.5], dims="obs")
    return model


def toy_sample(backend: str, seed: int = 3, model: pm.Model | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sample_posterior(model or toy_model(), backend, draws=60, tune=60, chains=2,
                                random_seed=seed, target_accept=0.9)


# ---------------------------------------------------------------------- names
def test_unknown_sampler_is_a_spec_error(msc):
    with pytest.raises(SpecError, match=r"sampler 'stan' is not one of pymc, nutpie, "
                                        r"numpyro, blackjax, auto"):
        bd.DoseResponseModel().fit(msc.select(["koos_pain"]), sampler="stan")
    for sampler in [*installed_backends(), "auto"]:
        check_sampler_settings(10, 10, 1, 0.9, sampler)


@pytest.mark.parametrize(("backend", "hint"), [
    ("nutpie", 'pip install "nutpie[pymc]"'),
    ("numpyro", 'pip install "bayesdose[fast]"'),
    ("blackjax", 'pip install "blackjax<1.6"'),
])
def test_uninstalled_backend_names_what_to_install(backend, hint, msc, monkeypatch):
    real = importlib.util.find_spec
    hidden = set(backends.REQUIRES[backend])
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden else real(name, *a))
    with pytest.raises(SpecError) as error:
        bd.DoseResponseModel().fit(msc.select(["koos_pain"]), sampler=backend)
    assert f"sampler {backend!r} needs" in str(error.value)
    assert hint in str(error.value)


def test_auto_resolves_to_the_first_installed_backend(monkeypatch):
    installed = installed_backends()
    assert "pymc" in installed
    assert resolve_sampler("auto") == next(b for b in AUTO_ORDER if b in installed)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("nutpie", "numpyro", "jax")
                        else real(name, *a))
    assert resolve_sampler("auto") == "pymc"
    assert installed_backends() == ["pymc"]


def test_blackjax_incompatibility_is_a_spec_error(monkeypatch):
    if missing_packages("blackjax"):
        pytest.skip("blackjax backend not installed")

    def failing(**kwargs):
        raise TypeError("kernel() got an unexpected keyword argument 'progress_bar'")

    monkeypatch.setattr(backends.pm, "sample", failing)
    with pytest.raises(SpecError, match=r'pip install "blackjax<1.6"'):
        toy_sample("blackjax")


# ---------------------------------------------------------------------- a tiny model
def test_jax_erfcx_matches_scipy():
    if missing_packages("numpyro") and missing_packages("blackjax"):
        pytest.skip("no JAX backend installed")
    import jax
    from scipy.special import erfcx

    from bayesdose.inference.backends import jax_erfcx

    jax.config.update("jax_enable_x64", True)  # as PyMC's JAX samplers run
    x = np.concatenate([np.linspace(-6.0, 40.0, 4001), [1e3, 1e8]])
    values = np.asarray(jax_erfcx(x))
    slopes = np.asarray(jax.vmap(jax.grad(jax_erfcx))(x))
    np.testing.assert_allclose(values, erfcx(x), rtol=1e-13)
    np.testing.assert_allclose(slopes, 2 * x * erfcx(x) - 2 / np.sqrt(np.pi), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("backend", each_backend())
def test_backend_returns_pymc_groups_on_a_tiny_model(backend):
    model = toy_model()
    idata = toy_sample(backend, model=model)
    assert sorted(idata.children) == ["log_likelihood", "observed_data", "posterior",
                                      "sample_stats"]
    assert set(idata.posterior.data_vars) == {"mu", "sigma", "double"}
    assert set(idata.posterior.dims) == {"chain", "draw"}
    assert idata.posterior.sizes == {"chain": 2, "draw": 60}
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert idata.log_likelihood["obs"].values.tolist() == [10, 11, 12, 13, 14]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pm.compute_log_likelihood(idata, model=model, extend_inferencedata=False,
                                             progressbar=False)
    np.testing.assert_allclose(idata.log_likelihood["y"], expected["y"], rtol=1e-9)
    table = diagnose(idata).table.set_index("check")
    assert table.loc["divergences", "value"] == 0
    for check in ("e_bfmi", "tree_depth"):
        assert table.loc[check, "worst"] != "not reported by this sampler", check
    again = toy_sample(backend)
    xr.testing.assert_equal(idata.posterior, again.posterior)


# ---------------------------------------------------------------------- the dose model
@pytest.fixture(scope="module")
def koos(msc) -> bd.TrialData:
    return msc.select(["koos_pain"])


@pytest.fixture(scope="module")
def pymc_fit(koos):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.DoseResponseModel().fit(koos, sampler="pymc", **FIT)


def fit_with(data, sampler: str, seed: int = 1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.DoseResponseModel().fit(data, sampler=sampler, random_seed=seed, **FIT)


@pytest.mark.slow
@pytest.mark.parametrize("backend", each_backend())
def test_backend_fit_matches_pymc_and_repeats(backend, koos, pymc_fit):
    fit = pymc_fit if backend == "pymc" else fit_with(koos, backend)
    assert fit.settings["sampler"] == backend
    assert layout(fit.idata) == layout(pymc_fit.idata)
    for name in ("diverging", "energy"):
        assert name in fit.idata.sample_stats
    assert {"reached_max_treedepth", "maxdepth_reached"} & set(fit.idata.sample_stats)
    table = fit.diagnostics().table.set_index("check")
    assert {"r_hat", "ess_bulk", "divergences", "e_bfmi", "tree_depth",
            "pareto_k"} <= set(table.index)
    assert not table["worst"].eq("not reported by this sampler").any()
    assert not fit.effect().empty
    again = fit_with(koos, backend)
    xr.testing.assert_equal(fit.idata.posterior, again.idata.posterior)


@pytest.mark.slow
def test_auto_fit_records_and_repeats_the_backend_it_ran(koos):
    fit = fit_with(koos, "auto", seed=4)
    backend = resolve_sampler("auto")
    assert fit.settings["sampler"] == backend
    same = fit_with(koos, backend, seed=4)
    xr.testing.assert_equal(fit.idata.posterior, same.idata.posterior)
