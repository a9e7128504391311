"""Shared fixtures: small trials and fits with fixed (not sampled) posteriors; how many
worker processes run the tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.inference.compiled import CompiledModel
from bayesdose.results.fit import DoseResponseFit
from bayesdose.results.storage import attach_metadata

#: PyTensor mode of functions that evaluate a model at a point in the tests: compiled fast,
#: since the value is what is checked, not the backend (sampling compiles with numba).
FAST = "FAST_COMPILE"

#: Worker processes for the whole suite or a marker selection (``-n auto`` in pyproject.toml).
WORKERS = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers for the whole suite (``pytest``, ``pytest -m slow``), one
    process (no workers) where test files are named, output is shown (``-s``) or the
    machine has one core. ``-n N`` on the command line overrides this."""
    named = any(".py" in arg for arg in config.args)
    shown = config.getoption("capture") == "no"
    cores = os.cpu_count() or 1
    return 0 if named or shown or cores < 2 else min(WORKERS, cores)


def long_frame() -> pd.DataFrame:
    """A valid long table: 6 patients, doses 1/10/50, baseline 0 and visits 3, 12."""
    rows = []
    for i, dose in enumerate([1, 1, 10, 10, 50, 50]):
        for t, delta in ((0, 0.0), (3, 5.0 + i), (12, 8.0 + 2 * i)):
            rows.append({"subject": f"p{i}", "dose_mg": dose, "week": t,
                         "endpoint": "pain", "score": 40.0 + 3 * i + delta})
    return pd.DataFrame(rows)


def _prior_as_posterior(self: CompiledModel, values: dict[str, np.ndarray],
                        common: dict[str, Any]) -> xr.DataTree:
    """Stands in for ``CompiledModel._sample_nutpie``: ``chains x draws`` independent draws
    from the model's prior (the read-out functions' compiled mode, no numba), with the
    sampler statistics the diagnostics read (no divergences, no tree depth hit, energy of
    independent draws)."""
    chains, draws = common["chains"], common["draws"]
    prior, _ = self.prior(chains * draws, common["random_seed"])
    posterior = xr.Dataset(
        {name: (variable.dims, variable.to_numpy().reshape(chains, draws,
                                                           *variable.shape[2:]))
         for name, variable in prior.data_vars.items()},
        coords={**{name: coord for name, coord in prior.coords.items()
                   if name not in ("chain", "draw")},
                "chain": np.arange(chains), "draw": np.arange(draws)},
        attrs={**prior.attrs, "sampling_time": 0.0, "tuning_steps": common["tune"]})
    energy = np.random.default_rng(common["random_seed"]).normal(size=(chains, draws))
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool)),
                        "maxdepth_reached": (("chain", "draw"),
                                             np.zeros((chains, draws), bool)),
                        "energy": (("chain", "draw"), energy)},
                       coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


@contextlib.contextmanager
def prior_draws_for_sampling() -> Iterator[None]:
    """Within the block, bayesdose's nutpie fits return independent prior draws instead of
    sampling: for tests of what is done with a fit (read-outs, files, reports, the command
    line) rather than of the sampler. The log likelihood, predictive and prior groups are
    still computed from the model, on those draws."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CompiledModel, "_sample_nutpie", _prior_as_posterior)
        yield


@pytest.fixture
def prior_sampler() -> Iterator[None]:
    """:func:`prior_draws_for_sampling` for one test."""
    with prior_draws_for_sampling():
        yield


@pytest.fixture
def frame() -> pd.DataFrame:
    return long_frame()


@pytest.fixture(scope="session")
def msc() -> bd.TrialData:
    return bd.datasets.load_msc_trial()


def fixed_fit(data: bd.TrialData, model: bd.DoseResponseModel,
              draws: dict[str, np.ndarray]) -> DoseResponseFit:
    """A fit whose posterior is given draws, with dims (chain, draw, outcome, ...)."""
    data = model.select_data(data)
    inputs = model.inputs(data)
    coords = {"chain": np.arange(next(iter(draws.values())).shape[0]),
              "draw": np.arange(next(iter(draws.values())).shape[1]),
              "outcome": inputs.outcomes, "time": list(inputs.visits)}
    variables = {}
    for name, values in draws.items():
        dims = ["chain", "draw", "outcome"]
        if name == "course":
            dims.append("time")
        elif values.ndim == 4:
            level = "dose_level" if name == "delta" else "visit_level"
            dims.append(level)
            coords[level] = np.arange(values.shape[3])
        variables[name] = (dims, values)
    idata = xr.DataTree.from_dict({"posterior": xr.Dataset(variables, coords=coords)})
    settings = {"draws": coords["draw"].size, "tune": 0, "chains": coords["chain"].size,
                "random_seed": 0, "target_accept": 0.9, "sampler": "fixed"}
    attach_metadata(idata, model, data, inputs, settings)
    return DoseResponseFit(model, data, idata)
