"""Time courses whose onset rate varies with dose (``exponential_by_dose``,
``emax_by_dose``): values, the model graph, estimands, model files, saved fits, and
recovery of a known dose-dependent onset from a simulated trial."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from conftest import fixed_fit

import bayesdose as bd
from bayesdose.components.graph import ModelGraph
from bayesdose.components.shapes import DoseScale, get_dose_shape
from bayesdose.components.timecourses import (
    EmaxTime,
    EmaxTimeByDose,
    Exponential,
    ExponentialByDose,
    TimeScale,
    get_time_shape,
    onset_centre_dose,
    onset_dose_position,
    onset_dose_range,
    time_shape_names,
)
from bayesdose.design.trials import simulate_trial
from bayesdose.errors import EstimandError, SpecError
from bayesdose.results.dose_estimands import target_dose, time_to_half_effect

TIMES = TimeScale((1.0, 3.0, 6.0, 12.0))
PLACEBO = DoseScale((0.0, 10.0, 50.0))
NO_PLACEBO = DoseScale((1.0, 10.0, 50.0))
DOSES = np.array([0.0, 1.0, 5.0, 10.0, 23.0, 50.0, 120.0])  # tested, untested, beyond
BY_DOSE = {"exponential_by_dose": (ExponentialByDose, Exponential, "log_t_half"),
           "emax_by_dose": (EmaxTimeByDose, EmaxTime, "log_et50")}


def draws(name: str, size: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {BY_DOSE[name][2]: rng.normal(np.log(0.2), 0.8, size),
            "log_onset_ratio": rng.normal(0.0, 1.5, size)}


def on_grid(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[:, None, None] for k, v in params.items()}  # (draw, dose, time)


# ---------------------------------------------------------------------- values
def test_registered_by_name_with_a_prior_centred_on_no_dose_dependence():
    assert {"exponential_by_dose", "emax_by_dose"} <= set(time_shape_names())
    for name, (cls, _, base) in BY_DOSE.items():
        shape = get_time_shape(name)
        assert isinstance(shape, cls) and shape.dose_dependent and shape.formula
        params = {p.name: p for p in shape.parameters(TIMES)}
        assert list(params) == [base, "log_onset_ratio"]
        ratio = params["log_onset_ratio"].prior
        assert ratio.distribution == "Normal" and ratio.parameters == {"mu": 0, "sigma": 1}
    assert not get_time_shape("exponential").dose_dependent


def test_standardised_log_dose_is_minus_half_at_the_lowest_active_and_half_at_the_top():
    for scale in (PLACEBO, NO_PLACEBO):
        low, high, off = onset_dose_range(scale)
        assert (low, high, off) == (10.0 if scale is PLACEBO else 1.0, 50.0, 5.0)
        assert onset_dose_position([low, high], scale) == pytest.approx([-0.5, 0.5])
        assert onset_dose_position(onset_centre_dose(scale), scale) == pytest.approx(0.0)
        assert np.all(np.isfinite(onset_dose_position(DOSES, scale)))
        assert np.all(np.diff(onset_dose_position(DOSES, scale)) > 0)
    # one active dose: anchored on placebo, still defined
    assert onset_dose_position([0.0, 50.0], DoseScale((0.0, 50.0))) == pytest.approx(
        [-0.5, 0.5])


@pytest.mark.parametrize("name", sorted(BY_DOSE))
@pytest.mark.parametrize("scale", [PLACEBO, NO_PLACEBO], ids=["placebo", "no_placebo"])
def test_one_at_the_last_visit_and_zero_at_baseline_for_every_dose(name, scale):
    shape, params = get_time_shape(name), on_grid(draws(name))
    time = np.array([0.0, 1.0, 3.0, 12.0])
    g = shape.evaluate_at(time, DOSES[:, None], params, TIMES, scale, np)
    assert g.shape == (6, DOSES.size, time.size)
    assert g[..., 0] == pytest.approx(np.zeros((6, DOSES.size)), abs=1e-12)
    assert g[..., -1] == pytest.approx(np.ones((6, DOSES.size)), rel=1e-12)
    assert np.all((g[..., 1:3] > 0) & (g[..., 1:3] < 1))


@pytest.mark.parametrize("name", sorted(BY_DOSE))
def test_no_dose_dependence_is_exactly_the_dose_independent_course(name):
    cls, base_cls, _ = BY_DOSE[name]
    params = on_grid({**draws(name), "log_onset_ratio": np.zeros(6)})
    time = np.array([0.5, 1.0, 3.0, 6.0, 12.0, 20.0])
    by_dose = cls().evaluate_at(time, DOSES[:, None], params, TIMES, PLACEBO, np)
    common = base_cls().evaluate(time, params, TIMES, np)
    np.testing.assert_array_equal(by_dose, np.broadcast_to(common, by_dose.shape))


@pytest.mark.parametrize("name", sorted(BY_DOSE))
def test_a_positive_log_onset_ratio_makes_the_onset_faster_at_higher_doses(name):
    shape = get_time_shape(name)
    params = {BY_DOSE[name][2]: np.log(2 / 12), "log_onset_ratio": np.log(4.0)}
    g = shape.evaluate_at(1.0, DOSES, params, TIMES, PLACEBO, np)
    assert np.all(np.diff(g) > 0)
    # the half-time (ET50) at the lowest active and top doses: 2 * sqrt(4) and 2 / sqrt(4)
    assert shape.half_time(params, TIMES, np.array([10.0, 50.0]), PLACEBO) == pytest.approx(
        [4.0, 1.0])
    derived = shape.derived({k: np.asarray(v) for k, v in params.items()}, TIMES)
    prefix = "t_half" if name == "exponential_by_dose" else "et50"
    assert [float(derived[f"{prefix}_{k}"]) for k in ("mid", "lowest", "highest")] \
        == pytest.approx([2.0, 4.0, 1.0])
    assert float(derived["onset_rate_ratio"]) == pytest.approx(4.0)


def test_the_half_time_is_where_the_course_reaches_half_its_plateau():
    shape = ExponentialByDose()
    params = {"log_t_half": np.log(2 / 12), "log_onset_ratio": 1.3}
    half = shape.half_time(params, TIMES, DOSES[1:], PLACEBO)
    h_last = -np.expm1(-np.log(2) * 12 / half)  # plateau fraction reached at the last visit
    g = shape.evaluate_at(half, DOSES[1:], params, TIMES, PLACEBO, np)
    assert g * h_last == pytest.approx(np.full(half.size, 0.5))


@pytest.mark.parametrize("name", sorted(BY_DOSE))
def test_numpy_and_pytensor_agree(name):
    shape, params = get_time_shape(name), draws(name, size=4, seed=3)
    dose = np.array([0.0, 10.0, 50.0, 23.0])  # one dose and time per observation
    time = np.array([1.0, 3.0, 6.0, 12.0])
    numpy_values = shape.evaluate_at(time, dose, params, TIMES, PLACEBO, np)
    symbolic = {k: pt.as_tensor_variable(v) for k, v in params.items()}
    tensor_values = shape.evaluate_at(time, dose, symbolic, TIMES, PLACEBO, pt).eval()
    assert tensor_values == pytest.approx(numpy_values, rel=1e-12)


def test_a_dose_dependent_course_refuses_to_evaluate_without_the_dose():
    params = draws("exponential_by_dose")
    with pytest.raises(EstimandError, match="depends on the dose"):
        ExponentialByDose().evaluate(np.array([1.0]), params, TIMES, np)


def test_dose_independent_courses_ignore_the_dose():
    params = {"log_t_half": np.array([-1.0, -2.0])[:, None]}
    time = np.array([1.0, 3.0, 12.0])
    np.testing.assert_array_equal(
        Exponential().evaluate_at(time, np.array([10.0, 50.0, 1.0]), params, TIMES, PLACEBO,
                                  np),
        Exponential().evaluate(time, params, TIMES, np))


# ---------------------------------------------------------------------- model graph
TRUE = {"delta": 1.2, "log_ed50": 0.0, "log_t_half": float(np.log(1.5 / 12)),
        "log_onset_ratio": 1.5}


@pytest.fixture(scope="module")
def koos():
    return bd.datasets.load_msc_trial().select(["koos_pain"])  # doses 1, 10, 50; no placebo


def hand_effect(dose, time, scale: DoseScale) -> np.ndarray:
    """f(d) g(d, t) (standardised) at the TRUE parameters, from the two shapes' formulas."""
    f = get_dose_shape("emax").evaluate(np.asarray(dose, float)[:, None], TRUE, scale, np)
    z = onset_dose_position(np.asarray(dose, float)[:, None], scale)
    t_half = 12 * np.exp(TRUE["log_t_half"] - TRUE["log_onset_ratio"] * z)
    time = np.asarray(time, float)
    return f * np.expm1(-np.log(2) * time / t_half) / np.expm1(-np.log(2) * 12 / t_half)


def test_the_mean_uses_each_dose_and_the_lowest_dose_with_its_own_course(koos):
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential_by_dose")
    inputs = model.inputs(koos)
    graph = ModelGraph(model.dose_shape, model.time_shape, {}, False, "none", 2.0)
    n = len(inputs.dose)
    params = {k: np.full(n, v) for k, v in TRUE.items()}
    got = graph._dose_effect(inputs, params).eval()
    scale, elapsed = inputs.dose_scale, np.asarray(inputs.elapsed, float)
    own = np.diag(hand_effect(inputs.dose, elapsed, scale))
    lowest = hand_effect([scale.lowest], elapsed, scale)[0]
    assert got == pytest.approx(own - lowest, rel=1e-10)
    # not the factorised (f(d) - f(d_low)) g(d, t): the lowest dose has its own course
    f = np.diag(hand_effect(inputs.dose, np.full(n, 12.0), scale))
    factorised = (f - hand_effect([scale.lowest], [12.0], scale)[0, 0]) * own / f
    early = (elapsed < 3) & (np.asarray(inputs.dose) > scale.lowest)
    assert np.all(np.abs(got[early] - factorised[early]) > 1e-3)


def test_the_effect_deterministic_uses_each_dose_s_rate(koos):
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential_by_dose")
    inputs = model.inputs(koos)
    pymc_model = model.build_inputs(inputs)
    [out] = pymc_model.replace_rvs_by_values([pymc_model["effect"]])
    effect = out.eval({pymc_model.rvs_to_values[pymc_model[k]]: np.array([v])
                       for k, v in TRUE.items()})
    expected = 12.0 * hand_effect(inputs.doses, inputs.time_scale.visits, inputs.dose_scale)
    assert effect[0] == pytest.approx(expected, rel=1e-10)


@pytest.fixture(scope="module")
def known_fit(koos):
    """A fit whose draws are the TRUE parameters, and one with no dose dependence."""
    model = bd.DoseResponseModel(dose_shape="emax", time_shape="exponential_by_dose")
    values = {k: np.full((1, 4, 1), v) for k, v in TRUE.items()}
    values["course"] = np.zeros((1, 4, 1, 4))
    return fixed_fit(koos, model, values)


def test_effects_and_contrasts_at_an_early_visit_use_the_dose_specific_rate(known_fit):
    scale = known_fit.inputs.dose_scale
    table = known_fit.effect(dose=[10, 50], time=[1, 12], reference=0)
    expected = 12.0 * hand_effect([10, 50], [1, 12], scale)
    assert table["mean"].to_numpy() == pytest.approx(expected.reshape(-1), rel=1e-10)
    contrast = known_fit.contrast(dose=50, reference=1, time=1)["mean"].iloc[0]
    both = hand_effect([50, 1], [1], scale)[:, 0]
    assert contrast == pytest.approx(12.0 * (both[0] - both[1]), rel=1e-10)


def test_time_to_half_effect_is_each_dose_s_half_time(known_fit):
    table = time_to_half_effect(known_fit.posterior_view, dose=[10, 50])
    z = onset_dose_position([10.0, 50.0], known_fit.inputs.dose_scale)
    expected = 12 * np.exp(TRUE["log_t_half"] - TRUE["log_onset_ratio"] * z)
    assert table["median"].to_numpy() == pytest.approx(expected, rel=1e-10)
    assert table["median"].iloc[1] < table["median"].iloc[0]
    assert (table["method"] == "closed form: t_half(d) or ET50(d)").all()


def test_target_dose_at_an_early_visit_solves_the_dose_specific_effect(known_fit):
    table = target_dose(known_fit.posterior_view, effect=4.0, time=3, reference=1)
    row = table.iloc[0]
    assert "no closed form" in row["method"]
    dose = float(row["median"])
    assert 1 < dose < 50
    reached = known_fit.effect(dose=dose, time=3, reference=1)["mean"].iloc[0]
    assert reached == pytest.approx(4.0, abs=0.05)


def test_effective_dose_reads_the_effect_at_ed_on_that_dose_s_course(known_fit):
    row = known_fit.effective_dose(p=0.5, time=1).iloc[0]
    ed = float(row["median"])
    scale = known_fit.inputs.dose_scale
    maximal = get_dose_shape("emax").derived(TRUE, scale)["emax"]
    g = ExponentialByDose().evaluate_at(1.0, ed, TRUE, known_fit.inputs.time_scale, scale, np)
    assert row["effect_at_ed"] == pytest.approx(12.0 * 0.5 * maximal * g, rel=1e-8)


def test_derived_half_times_by_dose(known_fit):
    derived = known_fit.derived()
    assert {"t_half_mid", "t_half_lowest", "t_half_highest", "onset_rate_ratio"} \
        <= set(derived.data_vars)
    assert float(derived["onset_rate_ratio"].mean()) == pytest.approx(np.exp(1.5))


def test_a_saved_fit_round_trips(known_fit, tmp_path):
    path = known_fit.save(tmp_path / "by_dose.nc")
    loaded = bd.load_fit(path)
    assert loaded.model.time_shape.name == "exponential_by_dose"
    assert loaded.model.time_shape.dose_dependent
    np.testing.assert_allclose(loaded.effect(time=1)["mean"], known_fit.effect(time=1)["mean"],
                               rtol=1e-12)


def test_model_files_name_the_course_and_its_prior():
    spec = bd.ModelSpec.from_dict({
        "model": {"dose_shape": "emax", "time_shape": "exponential_by_dose"},
        "priors": {"log_onset_ratio": {"distribution": "Normal", "mu": 0, "sigma": 0.5}}})
    model = spec.build_model()
    assert model.time_shape.name == "exponential_by_dose"
    assert model.priors["log_onset_ratio"].parameters["sigma"] == 0.5
    with pytest.raises(SpecError, match="log_onset_ratio"):
        bd.ModelSpec.from_dict({
            "model": {"dose_shape": "emax", "time_shape": "exponential"},
            "priors": {"log_onset_ratio": {"distribution": "Normal", "mu": 0, "sigma": 1}}})
    with pytest.raises(SpecError, match="exponential_by_dose"):
        get_time_shape("exponential_by_dos")


def test_simulated_truth_uses_the_dose_specific_course():
    sim = simulate_trial(doses=(0.0, 10.0, 50.0), n_per_arm=2, visits=(1.0, 3.0, 12.0),
                         dose_shape="emax", time_shape="exponential_by_dose",
                         shape_params=TRUE, seed=1)
    truth = sim.true_effect.pivot(index="dose", columns="time", values="effect")
    expected = 10.0 * hand_effect([0.0, 10.0, 50.0], [1.0, 3.0, 12.0], PLACEBO)
    assert truth.to_numpy() == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------- recovery
ONSET_TRUTH = {"delta": 2.0, "log_t_half": float(np.log(1.4 / 12)), "log_onset_ratio": 2.0}


@pytest.mark.slow
def test_a_dose_dependent_onset_is_recovered_from_a_simulated_trial():
    """Placebo and two doses, 15 patients each, five visits; the onset is e^2 = 7.4 times
    faster at the top dose (half-times 3.8 months at 25, 0.5 month at 50). Over data
    seeds 11-14 the 90% interval of log_onset_ratio covered the truth and excluded 0 each
    time, and that of the early contrast covered it in three of four."""
    sim = simulate_trial(doses=(0.0, 25.0, 50.0), n_per_arm=15,
                         visits=(0.5, 1.0, 2.0, 4.0, 12.0), dose_shape="linear",
                         time_shape="exponential_by_dose", shape_params=ONSET_TRUTH,
                         course=[0.2, 0.1, 0.1, 0.0, -0.1], sigma=0.35, patient_sd=0.4,
                         seed=12)
    fit = bd.DoseResponseModel("linear", "exponential_by_dose").fit(
        sim.data, draws=400, tune=500, chains=2, random_seed=12, progressbar=False,
        prior_draws=0)
    ratio = fit.idata["posterior"]["log_onset_ratio"].to_numpy().reshape(-1)
    low, high = np.quantile(ratio, [0.05, 0.95])
    assert low <= ONSET_TRUTH["log_onset_ratio"] <= high and low > 0, (low, high)
    early = fit.contrast(dose=50, reference=0, time=1, ci_prob=0.9).iloc[0]
    true_early = sim.true_contrast("score", 50.0, 0.0, 1.0)
    assert early["ci_low"] <= true_early <= early["ci_high"], (early, true_early)
    by_dose = fit.effect(dose=[25, 50], time=1, reference=0, ci_prob=0.9)
    truth = sim.true_effect.set_index(["dose", "time"])["effect"]
    for _, row in by_dose.iterrows():
        assert row["ci_low"] <= truth[(row["dose"], 1.0)] <= row["ci_high"], row
    divergences = int(fit.diagnostics().table.set_index("check").loc["divergences", "value"])
    assert divergences <= 2
