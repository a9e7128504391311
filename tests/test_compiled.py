"""Compile once, refit many: warm refits give the numbers of cold fits."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pymc as pm
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.inference.backends import installed_backends
from bayesdose.inference.compiled import CompiledModel, compiled_model, design_key
from bayesdose.results.crossval import exact_elpd

SMALL = {"draws": 100, "tune": 150, "chains": 2, "random_seed": 11, "progressbar": False,
         "prior_draws": 50}
GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data",
          "posterior_predictive", "prior", "prior_predictive")


@pytest.fixture(scope="module")
def koos(msc):
    return msc.select(["koos_pain"])


def shifted(data: bd.TrialData, outcome: str, by: float) -> bd.TrialData:
    """The same design with every post-baseline value of ``outcome`` moved by ``by``."""
    table = data.table.copy()
    rows = (table["outcome"] == outcome) & (table["time"] > data.baseline_time)
    table.loc[rows, "value"] = table.loc[rows, "value"] + by
    return replace(data, table=table)


def without_patient(data: bd.TrialData, patient: str) -> bd.TrialData:
    table = data.table[data.table["patient"] != patient].reset_index(drop=True)
    return replace(data, table=table)


#: Sampler statistics that time the run (they differ between any two runs).
TIMINGS = ("process_time_diff", "perf_counter_start", "perf_counter_diff")


def assert_same_fit(a: bd.DoseResponseFit, b: bd.DoseResponseFit) -> None:
    for group in GROUPS:
        left, right = (fit.idata[group].to_dataset().drop_attrs()
                       .drop_vars(TIMINGS, errors="ignore") for fit in (a, b))
        xr.testing.assert_identical(left, right)


@pytest.mark.parametrize("sampler", [  # PyMC's own NUTS (not the default sampler): slow
    pytest.param(s, marks=[pytest.mark.slow] if s == "pymc" else [])
    for s in ("nutpie", "pymc") if s in installed_backends()])
def test_warm_refit_equals_cold_fit(koos, sampler):
    model = bd.DoseResponseModel()
    cold = model.fit(koos, sampler=sampler, **SMALL)
    compiled = compiled_model(model, model.inputs(koos))
    warm = cold.refit()
    assert compiled_model(model, model.inputs(koos)) is compiled  # nothing rebuilt
    assert_same_fit(cold, warm)
    # a fresh model object (nothing compiled yet) gives the same numbers again
    assert_same_fit(cold, bd.DoseResponseModel().fit(koos, sampler=sampler, **SMALL))
    other = cold.refit(random_seed=12)
    assert not np.array_equal(other.idata.posterior["delta"], cold.idata.posterior["delta"])


def test_refit_on_new_values_of_the_same_design_reuses_the_compiled_model(koos):
    model = bd.DoseResponseModel()
    first = model.fit(koos, **SMALL)
    compiled = compiled_model(model, model.inputs(koos))
    moved = shifted(koos, "koos_pain", 6.0)  # stays within the 0-100 scale
    assert design_key(model, model.inputs(moved)) == compiled.key
    warm = first.refit(moved)
    assert compiled_model(model, model.inputs(moved)) is compiled
    assert_same_fit(warm, bd.DoseResponseModel().fit(moved, **SMALL))
    # the swapped data are the ones fitted and stored
    np.testing.assert_allclose(warm.idata.observed_data["change"],
                               first.idata.observed_data["change"] + 6.0)
    assert warm.idata.posterior["course"].mean() > first.idata.posterior["course"].mean()


def test_another_design_gets_its_own_compiled_model(koos):
    model = bd.DoseResponseModel()
    inputs = model.inputs(koos)
    other = model.inputs(without_patient(koos, "P01"))
    assert design_key(model, other) != design_key(model, inputs)
    assert design_key(bd.DoseResponseModel(dose_shape="linear"), inputs) != \
        design_key(model, inputs)
    assert design_key(model, inputs, weighted=True) != design_key(model, inputs)
    first = compiled_model(model, inputs)
    second = compiled_model(model, other)
    assert second is not first and second.key == design_key(model, other)
    assert compiled_model(model, inputs) is first  # both kept


@pytest.fixture(scope="module")
def mixed(msc):
    """Normal (censored at the scale bounds), ordinal and lognormal outcomes, and a
    posterior made of prior draws (no sampling needed to check the read-outs)."""
    model = bd.DoseResponseModel()
    inputs = model.inputs(msc.select(["koos_pain", "mri_synovitis", "sf_il6"]))
    compiled = CompiledModel(model, inputs)
    compiled.set_data(compiled.data_values(inputs))
    with compiled.pymc_model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draws = pm.sample_prior_predictive(draws=60, random_seed=3)
    posterior = draws["prior"].to_dataset().isel(chain=0).drop_vars("chain")
    posterior = posterior.expand_dims(chain=[0, 1]).isel(draw=slice(0, 30))
    # prior draws of cutpoints ignore their ordering constraint; a posterior keeps it
    cutpoints = posterior["cutpoints_mri_synovitis"]
    posterior["cutpoints_mri_synovitis"] = cutpoints.copy(data=np.sort(cutpoints.values))
    return compiled, posterior


def test_log_likelihood_matches_pymc(mixed):
    compiled, posterior = mixed
    ours = compiled.log_likelihood(posterior)
    idata = xr.DataTree.from_dict({"posterior": posterior})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = pm.compute_log_likelihood(idata, model=compiled.pymc_model,
                                              extend_inferencedata=False, progressbar=False)
    assert set(ours.data_vars) == set(reference.data_vars) == {"change", "log_change",
                                                                "grade_mri_synovitis"}
    for name in reference.data_vars:
        assert ours[name].dims == reference[name].dims
        np.testing.assert_allclose(ours[name].values, reference[name].values, rtol=1e-10,
                                   atol=1e-10)


def test_posterior_predictive_is_seeded_and_follows_the_model(mixed):
    compiled, posterior = mixed
    a = compiled.posterior_predictive(posterior, seed=5)
    b = compiled.posterior_predictive(posterior, seed=5)
    c = compiled.posterior_predictive(posterior, seed=6)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["change"], c["change"])
    # ordinal replicates are grade positions, censored replicates stay within the bounds
    grades = a["grade_mri_synovitis"].values
    assert grades.min() >= 0 and grades.max() <= 3
    inputs = compiled.pymc_model
    lower = np.asarray(inputs["change"].owner.op.dist_params(inputs["change"].owner)[1].data)
    assert (a["change"].values >= lower - 1e-9).all()
    # many replicates at one draw: their mean is the draw's predictive mean (PyMC's own
    # draws as the reference)
    one = posterior.isel(chain=[0], draw=[0])
    many = one.isel(draw=np.zeros(4000, dtype=int)).assign_coords(draw=np.arange(4000))
    ours = compiled.posterior_predictive(many, seed=1)["log_change"].mean(("chain", "draw"))
    with compiled.pymc_model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pm.sample_posterior_predictive(
            xr.DataTree.from_dict({"posterior": many}), random_seed=2, progressbar=False
        )["posterior_predictive"]["log_change"].mean(("chain", "draw"))
    sd = float(np.exp(posterior["sigma"].isel(chain=0, draw=0)).max()) + 1.0
    assert float(np.abs(ours - theirs).max()) < 5 * sd / np.sqrt(4000)


@pytest.mark.slow
def test_weighted_leave_out_matches_rebuilt_model(koos):
    """Exact LOO with the observation at weight 0 in one compiled model agrees with a
    model rebuilt without it (Monte Carlo error only)."""
    model = bd.DoseResponseModel()
    settings = {"draws": 400, "tune": 400, "chains": 2, "random_seed": 4,
                "progressbar": False, "prior_draws": 0}
    fit = model.fit(koos, **settings)
    row = np.array([5])
    weighted = exact_elpd(fit, row)
    assert compiled_model(model, fit.inputs, weighted=True).weighted
    rebuilt = fit.model.sample_inputs(fit.inputs.without(row), {
        **{k: fit.settings[k] for k in ("draws", "tune", "chains", "random_seed",
                                        "target_accept", "sampler")}},
        prior_draws=0, predictive=False)
    full = compiled_model(model, fit.inputs)
    full.set_data(full.data_values(fit.inputs))
    joint = full.log_likelihood(rebuilt.posterior)["change"].values.reshape(-1, 47)[:, 5]
    reference = float(np.log(np.mean(np.exp(joint))))
    assert abs(weighted - reference) < 0.15


# ---------------------------------------------------------------------- prior draws
def _one_at_a_time(compiled: CompiledModel, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Joint prior draws made one per call, as PyMC's forward sampling makes them."""
    model = compiled.pymc_model
    outputs = [*model.free_RVs, *model.deterministics, *model.observed_RVs]
    function = pm.compile([], outputs, random_seed=seed, mode="FAST_COMPILE")
    results = [function() for _ in range(draws)]
    return {v.name: np.stack(r) for v, r in zip(outputs, zip(*results, strict=True),
                                                   strict=True)}


@pytest.mark.parametrize(("options", "outcomes"), [
    ({}, ["koos_pain"]),
    ({"pooling": "none"}, ["koos_pain", "mri_synovitis"]),  # ordinal beside continuous
    ({"residual_sd": "per_visit", "patient_slopes": True}, ["sf_il6"]),  # lognormal
], ids=["default", "ordinal", "per-visit-slopes"])
def test_prior_draws_made_at_once_follow_the_one_at_a_time_distribution(msc, options,
                                                                        outcomes):
    """Every element of every variable (parameters, deterministics, the data): the draws
    made in one batched call and 1500 made one per call pass a two-sample
    Kolmogorov-Smirnov test (Bonferroni over the elements, family level 0.001); the same
    seed gives the same draws."""
    from scipy.stats import ks_2samp

    model = bd.DoseResponseModel(**options)
    compiled = CompiledModel(model, model.inputs(msc.select(outcomes)))
    assert compiled._function("prior")[1] == ["draws"]  # the batched form
    prior, predictive = compiled.prior(1500, seed=3)
    again, _ = compiled.prior(1500, seed=3)
    xr.testing.assert_identical(prior, again)
    reference = _one_at_a_time(compiled, 1500, seed=4)
    pvalues = []
    for name, values in reference.items():
        ours = (prior[name] if name in prior else predictive[name]).to_numpy()[0]
        assert ours.shape == values.shape, name
        ours, values = ours.reshape(1500, -1), values.reshape(1500, -1)
        for j in range(values.shape[1]):
            if np.ptp(values[:, j]) == 0:  # a constant (a course fixed at 0)
                assert np.all(ours[:, j] == values[0, j]), (name, j)
                continue
            pvalues.append((ks_2samp(ours[:, j], values[:, j]).pvalue, f"{name}[{j}]"))
    worst = min(pvalues)
    assert worst[0] > 0.001 / len(pvalues), worst


def test_prior_draws_of_a_model_with_a_mixture_are_made_one_at_a_time(msc):
    """Family pooling of two outcomes draws delta from a mixture, which has no batched
    draw: the draws are made one per call, with the same layout."""
    model = bd.DoseResponseModel()
    compiled = CompiledModel(model, model.inputs(msc.select(["koos_pain", "womac_pain"])))
    prior, predictive = compiled.prior(7, seed=1)
    assert compiled._function("prior")[1] == []
    assert prior["delta"].shape == (1, 7, 2) and predictive["change"].sizes["draw"] == 7


def test_batched_prior_draws_line_a_scalar_parent_up_with_a_vector_child():
    """mu ~ Normal(0, 1), x ~ Normal(mu, 0.1) of length 3, y = x + 1, z observed: each
    draw of x sits about its own draw of mu (the parent's draws broadcast along the
    child's axis, not across draws)."""
    from bayesdose.inference.compiled import _batched_prior

    with pm.Model() as model:
        mu = pm.Normal("mu")
        x = pm.Normal("x", mu, 0.1, shape=3)
        pm.Deterministic("y", x + 1.0)
        pm.Deterministic("two", pm.math.constant(2.0))
        pm.Normal("z", x.sum(), 1.0, observed=np.zeros(2))
    draws, outputs = _batched_prior(model)
    mu_, x_, y_, two, z_ = pm.compile([draws], outputs, random_seed=1)(5)
    assert mu_.shape == (5,) and x_.shape == (5, 3) and z_.shape == (5, 2)
    assert np.abs(x_ - mu_[:, None]).max() < 0.6  # 6 SDs of x about its own mu
    np.testing.assert_allclose(y_, x_ + 1.0)
    np.testing.assert_array_equal(two, np.full(5, 2.0))


def test_a_draw_inside_another_variables_parameters_keeps_prior_draws_one_at_a_time():
    """A random variable that is not a model variable, inside another's parameters, would
    be drawn once for every batched draw: such a model's prior is drawn one per call, so
    that each draw gets its own."""
    from bayesdose.inference.compiled import _compile

    with pm.Model() as model:
        pm.Normal("x", pm.Normal.dist(0.0, 1.0), 0.01)
    function, inputs, names = _compile(model, "prior")
    assert inputs == [] and names == ["x"]
    draws = np.array([function()[0] for _ in range(50)])
    assert np.std(draws) > 0.3  # the inner draw varies from call to call
    with pm.Model() as plain:
        pm.Normal("x", 0.0, 1.0)
    assert _compile(plain, "prior")[1] == ["draws"]
