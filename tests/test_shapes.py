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
    FreeMeans,
    Linear,
    LogLinear,
    Parameter,
    dose_shape_names,
    get_dose_shape,
    register_dose_shape,
)
from bayesdose.components.timecourses import Exponential, FreeVisits, TimeScale, get_time_shape
from bayesdose.errors import EstimandError, SpecError

SCALE = DoseScale((1.0, 10.0, 50.0))
TIMES = TimeScale((1.0, 3.0, 6.0, 12.0))
DOSES = np.array([0.0, 1.0, 5.0, 10.0, 50.0, 100.0])


def test_every_shape_is_zero_at_dose_zero_and_delta_at_top():
    params = {"delta": 1.7, "log_ed50": 0.3}
    for shape in (Linear(), LogLinear(), Emax()):
        values = shape.evaluate(np.array([0.0, 50.0]), params, SCALE, np)
        assert values == pytest.approx([0.0, 1.7])


def test_linear_closed_form():
    assert Linear().evaluate(DOSES, {"delta": 2.0}, SCALE, np) == pytest.approx(2 * DOSES / 50)


def test_log_linear_closed_form_and_default_offset():
    shape = LogLinear()
    assert shape.off(SCALE) == pytest.approx(5.0)  # 0.1 x the top dose
    expected = 1.5 * np.log(1 + DOSES / 5) / np.log(1 + 50 / 5)
    assert shape.evaluate(DOSES, {"delta": 1.5}, SCALE, np) == pytest.approx(expected)
    with pytest.raises(SpecError, match="offset must be > 0"):
        LogLinear(offset=0)


def test_emax_closed_form_and_derived():
    ed50, emax = 10.0, 2.0
    delta = emax * 50 / (ed50 + 50)  # effect at the top dose
    log_ed50 = np.log(ed50 / SCALE.midpoint)
    values = Emax().evaluate(DOSES, {"delta": delta, "log_ed50": log_ed50}, SCALE, np)
    assert values == pytest.approx(emax * DOSES / (ed50 + DOSES))
    derived = Emax().derived({"delta": np.array([delta]), "log_ed50": np.array([log_ed50])},
                             SCALE)
    assert derived["ed50"] == pytest.approx([ed50])
    assert derived["emax"] == pytest.approx([emax])
    assert SCALE.midpoint == pytest.approx(500 ** (1 / 3))


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
    t = np.array([0.0, 2.0, 4.0, 12.0])
    expected = 1 - 0.5 ** (t / t_half)
    assert Exponential().evaluate(t, params, TIMES, np) == pytest.approx(expected)
    assert Exponential().derived(params, TIMES)["t_half"] == pytest.approx(t_half)


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
