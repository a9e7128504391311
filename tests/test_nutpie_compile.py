"""nutpie's compiled model with bayesdose's lighter C-callable wrappers samples exactly as
nutpie's own."""

from __future__ import annotations

import numpy as np
import nutpie
import nutpie.compile_pymc as nutpie_pymc
import pymc as pm
import pytest

from bayesdose.inference.nutpie_compile import (
    REPLACED,
    compile_pymc_model,
    lighter_wrappers,
)


@pytest.fixture(scope="module")
def small_model() -> pm.Model:
    """A model with a transformed parameter, a vector and shared data, as bayesdose's."""
    rng = np.random.default_rng(3)
    with pm.Model(coords={"group": ["a", "b", "c"]}) as model:
        response = pm.Data("response", rng.normal(1.0, 2.0, size=12))
        sigma = pm.HalfNormal("sigma", 2.0)
        mu = pm.Normal("mu", 0.0, 3.0, dims="group")
        pm.Deterministic("spread", mu.max() - mu.min())
        pm.Normal("y", mu[np.arange(12) % 3], sigma, observed=response)
    return model


def draws(compiled, **data) -> dict[str, np.ndarray]:
    model = compiled.with_data(**data) if data else compiled
    trace = nutpie.sample(model, draws=60, tune=60, chains=2, seed=11, progress_bar=False)
    return {name: trace.posterior[name].values for name in ("sigma", "mu", "spread")}


def test_the_lighter_wrappers_give_nutpies_draws_on_any_data(small_model):
    ours = compile_pymc_model(small_model)
    theirs = nutpie.compile_pymc_model(small_model)
    for compiled in (ours, theirs):
        assert "response" in {variable.name for variable in compiled.shared_var_keys}
    for name, values in draws(theirs).items():
        np.testing.assert_array_equal(draws(ours)[name], values, err_msg=name)
    other = np.linspace(-4.0, 9.0, 12)
    moved = draws(ours, response=other)
    for name, values in draws(theirs, response=other).items():
        np.testing.assert_array_equal(moved[name], values, err_msg=name)
    assert abs(moved["mu"].mean() - other.mean()) < 2.0  # the new data moved the posterior


def test_nutpies_own_functions_are_back_after_the_block():
    originals = [getattr(nutpie_pymc, name) for name in REPLACED]
    with lighter_wrappers() as replaced:
        assert replaced
        assert [getattr(nutpie_pymc, name) for name in REPLACED] != originals
    assert [getattr(nutpie_pymc, name) for name in REPLACED] == originals


def test_a_nutpie_without_the_replaced_functions_keeps_its_own(monkeypatch):
    monkeypatch.delattr(nutpie_pymc, "_make_c_expand_func")
    with lighter_wrappers() as replaced:
        assert not replaced
        assert not hasattr(nutpie_pymc, "_make_c_expand_func")
