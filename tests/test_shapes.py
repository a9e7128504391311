"""Dose shapes and time courses: closed-form values, NumPy and PyTensor agree, registry."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from pymc_extras.prior import Prior

from bayesdose.components.shapes import (
    DoseScale,
    DoseShape,
    Emax,
    ExponentialDose,
    FreeMeans,
    Linear,
    LogLinear,
    Parameter,
    Quadratic,
    SigmoidEmax,
    dose_shape_names,
    get_dose_shape,
    register_dose_shape,
)
from bayesdose.components.timecourses import (
    EmaxTime,
    Exponential,
    FreeVisits,
    TimeScale,
    get_time_shape,
)
from bayesdose.errors import EstimandError, SpecError

SCALE = DoseScale((1.0, 10.0, 50.0))
TIMES = TimeScale((1.0, 3.0, 6.0, 12.0))
DOSES = np.array([0.0, 1.0, 5.0, 10.0, 50.0, 100.0])


def test_every_shape_is_zero_at_dose_zero_and_delta_is_top_against_lowest():
    params = {"delta": 1.7, "log_ed50": 0.3, "log_hill": 0.4, "log_kappa": -0.5,
              "curvature": -0.8}
    placebo = DoseScale((0.0, 10.0, 50.0))
    for shape in (Linear(), LogLinear(), Emax(), SigmoidEmax(), ExponentialDose(),
                  Quadratic()):
        for scale in (SCALE, placebo):
            values = shape.evaluate(np.array([0.0, scale.lowest, 50.0]), params, scale, np)
            assert values[0] == pytest.approx(0.0, abs=1e-12), shape.name
            assert values[2] - values[1] == pytest.approx(1.7, rel=1e-12), shape.name


def test_linear_closed_form():
    # the effect of 50 against 1 is delta: the slope is delta / (50 - 1)
    assert Linear().evaluate(DOSES, {"delta": 2.0}, SCALE, np) == pytest.approx(2 * DOSES / 49)
    placebo = DoseScale((0.0, 50.0))
    assert Linear().evaluate(DOSES, {"delta": 2.0}, placebo, np) == pytest.approx(
        2 * DOSES / 50)


def test_log_linear_closed_form_and_default_offset():
    shape = LogLinear()
    assert shape.off(SCALE) == pytest.approx(5.0)  # 0.1 x the top dose
    expected = 1.5 * np.log(1 + DOSES / 5) / (np.log(1 + 50 / 5) - np.log(1 + 1 / 5))
    assert shape.evaluate(DOSES, {"delta": 1.5}, SCALE, np) == pytest.approx(expected)
    with pytest.raises(SpecError, match="offset must be > 0"):
        LogLinear(offset=0)


def test_emax_closed_form_and_derived():
    ed50, emax = 10.0, 2.0
    delta = emax * (50 / (ed50 + 50) - 1 / (ed50 + 1))  # effect of the top dose vs 1
    log_ed50 = np.log(ed50 / SCALE.midpoint)
    values = Emax().evaluate(DOSES, {"delta": delta, "log_ed50": log_ed50}, SCALE, np)
    assert values == pytest.approx(emax * DOSES / (ed50 + DOSES))
    derived = Emax().derived({"delta": np.array([delta]), "log_ed50": np.array([log_ed50])},
                             SCALE)
    assert derived["ed50"] == pytest.approx([ed50])
    assert derived["emax"] == pytest.approx([emax])
    assert SCALE.midpoint == pytest.approx(500 ** (1 / 3))
    # with placebo, delta is the effect at the top dose against dose 0 (clinDR's form)
    placebo = DoseScale((0.0, 10.0, 50.0))
    delta0 = emax * 50 / (ed50 + 50)
    log_ed50 = np.log(ed50 / placebo.midpoint)
    values = Emax().evaluate(DOSES, {"delta": delta0, "log_ed50": log_ed50}, placebo, np)
    assert values == pytest.approx(emax * DOSES / (ed50 + DOSES))


def test_sigmoid_and_exponential_dose_closed_forms():
    ed50, hill, emax = 10.0, 2.0, 1.5
    h = DOSES**hill / (ed50**hill + DOSES**hill)
    delta = emax * (h[4] - 1 / (ed50**hill + 1))  # h(50) - h(1)
    params = {"delta": delta, "log_ed50": np.log(ed50 / SCALE.midpoint),
              "log_hill": np.log(hill)}
    assert SigmoidEmax().evaluate(DOSES, params, SCALE, np) == pytest.approx(emax * h)
    assert SigmoidEmax().derived(params, SCALE)["emax"] == pytest.approx(emax)
    kappa = 25.0
    u = np.expm1(DOSES / kappa)
    params = {"delta": 0.9, "log_kappa": np.log(kappa / 50)}
    expected = 0.9 * u / (np.expm1(50 / kappa) - np.expm1(1 / kappa))
    assert ExponentialDose().evaluate(DOSES, params, SCALE, np) == pytest.approx(expected)


def test_quadratic_slope_keeps_delta_the_effect_against_the_lowest_dose():
    x = DOSES / 50
    low = 1 / 50
    slope = (1.0 - 2.0 * low * (low - 1)) / (1 - low)  # curvature -2
    expected = slope * x - 2.0 * x * (x - 1)
    values = Quadratic().evaluate(DOSES, {"delta": 1.0, "curvature": -2.0}, SCALE, np)
    assert values == pytest.approx(expected)


def test_free_means_against_lowest_dose_and_untested_doses():
    shape = FreeMeans()
    assert shape.levels(SCALE) == (10.0, 50.0)
    values = shape.evaluate(np.array([1.0, 10.0, 50.0]), {"delta": np.array([0.4, 0.9])},
                            SCALE, np)
    assert values == pytest.approx([0.0, 0.4, 0.9])
    with pytest.raises(EstimandError, match=r"dose\(s\) 5 were not tested"):
        shape.check_doses(np.array([5.0]), SCALE)
    placebo = DoseScale((0.0, 1.0, 10.0))
    assert shape.levels(placebo) == (1.0, 10.0)


def test_exponential_onset_closed_form():
    t_half = 2.0
    params = {"log_t_half": np.log(t_half / 12)}
    t = np.array([0.0, 2.0, 4.0, 12.0, 24.0])
    # scaled to 1 at the last visit (12); the plateau is 1 / (1 - 0.5^(12 / t_half))
    plateau = 1 / (1 - 0.5 ** (12 / t_half))
    expected = (1 - 0.5 ** (t / t_half)) * plateau
    assert Exponential().evaluate(t, params, TIMES, np) == pytest.approx(expected)
    derived = Exponential().derived(params, TIMES)
    assert derived["t_half"] == pytest.approx(t_half)
    assert derived["plateau"] == pytest.approx(plateau)


def test_emax_onset_is_one_at_the_last_visit():
    et50 = 3.0
    params = {"log_et50": np.log(et50 / 12)}
    t = np.array([0.0, 3.0, 12.0])
    expected = t / (et50 + t) * (et50 + 12) / 12
    assert EmaxTime().evaluate(t, params, TIMES, np) == pytest.approx(expected)
    assert EmaxTime().derived(params, TIMES)["plateau"] == pytest.approx((et50 + 12) / 12)


def test_free_visits_last_visit_is_one():
    shape = FreeVisits()
    assert shape.levels(TIMES) == (1.0, 3.0, 6.0)
    values = shape.evaluate(np.array([1.0, 6.0, 12.0]), {"gamma": np.array([0.2, 0.5, 1.1])},
                            TIMES, np)
    assert values == pytest.approx([0.2, 1.1, 1.0])
    with pytest.raises(EstimandError, match=r"time\(s\) 2 are not visits"):
        shape.check_times(np.array([2.0]), TIMES)
    single = TimeScale((12.0,))
    assert shape.parameters(single) == []
    assert shape.evaluate(np.array([12.0]), {}, single, np) == pytest.approx([1.0])


@pytest.mark.parametrize("name", ["linear", "log_linear", "emax", "free"])
def test_dose_shapes_agree_between_numpy_and_pytensor(name):
    shape = get_dose_shape(name)
    rng = np.random.default_rng(3)
    params = {}
    for param in shape.parameters(SCALE):
        size = (5, len(FreeMeans.levels(SCALE))) if param.levels else (5,)
        params[param.name] = rng.normal(size=size)
    dose = np.array([1.0, 10.0, 50.0, 10.0, 1.0])  # one dose per observation
    numpy_values = shape.evaluate(dose, params, SCALE, np)
    symbolic = {k: pt.as_tensor_variable(v) for k, v in params.items()}
    tensor_values = shape.evaluate(dose, symbolic, SCALE, pt).eval()
    assert tensor_values == pytest.approx(numpy_values)


@pytest.mark.parametrize("name", ["exponential", "free"])
def test_time_shapes_agree_between_numpy_and_pytensor(name):
    shape = get_time_shape(name)
    rng = np.random.default_rng(4)
    params = {}
    for param in shape.parameters(TIMES):
        size = (4, len(FreeVisits.levels(TIMES))) if param.levels else (4,)
        params[param.name] = rng.normal(size=size)
    time = np.array([1.0, 3.0, 6.0, 12.0])
    numpy_values = shape.evaluate(time, params, TIMES, np)
    symbolic = {k: pt.as_tensor_variable(v) for k, v in params.items()}
    assert shape.evaluate(time, symbolic, TIMES, pt).eval() == pytest.approx(numpy_values)


def test_user_shape_is_registered_and_usable_by_name():
    class Threshold(DoseShape):
        name = "threshold_test"
        formula = "f(d) = delta * (d >= d_ref / 2)"

        def parameters(self, scale):
            return [Parameter("delta", Prior("Normal", mu=0, sigma=1), "why", "what")]

        def evaluate(self, dose, params, scale, xp):
            return params["delta"] * (dose >= scale.reference / 2)

    register_dose_shape(Threshold)
    assert "threshold_test" in dose_shape_names()
    shape = get_dose_shape("threshold_test")
    assert shape.evaluate(np.array([1.0, 30.0]), {"delta": 2.0}, SCALE, np) == pytest.approx(
        [0.0, 2.0])


def test_unknown_shapes_and_bad_options():
    with pytest.raises(SpecError, match=r"unknown dose shape 'emx'.*emax"):
        get_dose_shape("emx")
    with pytest.raises(SpecError, match="unknown time shape 'expo'"):
        get_time_shape("expo")
    with pytest.raises(SpecError, match="bad options"):
        get_dose_shape("emax", offset=3)
