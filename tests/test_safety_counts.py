"""Tests of the adverse-event count model: input checks, closed-form read-outs on
hand-built posteriors, and recovery of a simulated dose trend (Poisson and negative
binomial)."""

from __future__ import annotations

from collections.abc import Callable

import arviz as az
import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

from bayesdose.data.safety import SafetyCountData
from bayesdose.errors import DataError, EstimandError, SpecError
from bayesdose.model.safety import SafetyCountModel
from bayesdose.results.safety import SafetyCountFit

SLOPE, RATE, DISPERSION = 0.4, 2.0, 5.0
DOSES = (1.0, 10.0, 50.0)
FIT = {"draws": 500, "tune": 500, "chains": 2, "sampler": "nutpie"}


def count_frame() -> pd.DataFrame:
    """Three patients at doses 1, 10 and 100, two event types each."""
    return pd.DataFrame({
        "patient": ["p0", "p0", "p1", "p1", "p2", "p2"],
        "dose": [1.0, 1.0, 10.0, 10.0, 100.0, 100.0],
        "type": ["rash", "fever"] * 3,
        "n_events": [0, 1, 2, 0, 3, 1],
        "years": [1.0, 1.0, 0.5, 0.5, 1.5, 1.5],
    })


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return change


# ---------------------------------------------------------------------- input checks
BAD_INPUTS = [
    ("negative count", _set("n_events", 2, -1), ["'n_events'", "row 2", "non-negative"]),
    ("fractional count", _set("n_events", 3, 1.5), ["'n_events'", "row 3", "integers"]),
    ("missing count", _set("n_events", 1, None), ["'n_events'", "row 1", "empty"]),
    ("text count", _set("n_events", 4, "two"), ["'n_events'", "row 4", "non-numeric"]),
    ("zero exposure", _set("years", 4, 0.0), ["'years'", "row 4", "not positive"]),
    ("negative exposure", _set("years", 0, -0.5), ["'years'", "row 0", "not positive"]),
    ("missing exposure", _set("years", 5, np.nan), ["'years'", "row 5", "empty"]),
    ("blank exposure", _set("years", 3, " "), ["'years'", "row 3", "empty"]),
    ("patient with two doses", _set("dose", 1, 10.0),
     ["'dose'", "rows 0, 1", "'p0'", "more than one dose"]),
    ("duplicate patient x type", _set("type", 1, "rash"),
     ["'patient'", "'type'", "rows 0, 1", "'p0'", "'rash'"]),
    ("missing event type", _set("type", 2, None), ["'type'", "row 2", "empty"]),
    ("negative dose", _set("dose", 5, -1.0), ["'dose'", "row 5", "negative"]),
    ("single dose", lambda f: f.assign(dose=5.0), ["'dose'", "single dose"]),
    ("empty table", lambda f: f.iloc[:0], ["empty"]),
]


@pytest.mark.parametrize(("change", "fragments"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_column_and_rows(change, fragments):
    frame = change(count_frame())
    with pytest.raises(DataError) as info:
        SafetyCountData.from_frame(frame, exposure="years", event_type="type")
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_unknown_event_type_column_is_named():
    with pytest.raises(DataError, match=r"'kind'.*not found"):
        SafetyCountData.from_frame(count_frame(), exposure="years", event_type="kind")


def test_unknown_exposure_column_is_named():
    with pytest.raises(DataError, match=r"'exposure'.*not found"):
        SafetyCountData.from_frame(count_frame(), event_type="type")


def test_duplicate_patient_without_event_type():
    with pytest.raises(DataError, match=r"'patient'.*rows 0, 1"):
        SafetyCountData.from_frame(count_frame(), exposure="years")


def test_no_row_is_dropped_and_types_are_kept():
    data = SafetyCountData.from_frame(count_frame(), exposure="years", event_type="type")
    assert len(data.table) == 6
    assert data.event_types == ["fever", "rash"]
    assert data.n_patients == 3
    summary = data.by_dose()
    assert summary["total_events"].sum() == 7
    rash_100 = summary.query("event_type == 'rash' and dose == 100")
    assert rash_100["crude_rate"].item() == pytest.approx(2.0)


def test_csv_errors_cite_lines(tmp_path):
    path = tmp_path / "ae.csv"
    path.write_text("patient,dose,n_events,exposure\na,1,0,1.0\nb,10,2,0\n")
    with pytest.raises(DataError, match=r"'exposure'.*line 3"):
        SafetyCountData.from_csv(path)


def test_csv_reads(tmp_path):
    path = tmp_path / "ae.csv"
    path.write_text("id,mg,n,days\na,0,0,30\nb,10,2,28\n")
    data = SafetyCountData.from_csv(path, patient="id", dose="mg", count="n", exposure="days")
    assert data.doses == [0.0, 10.0]
    assert data.table["count"].tolist() == [0, 2]


# ---------------------------------------------------------------------- model spec
def test_family_is_checked():
    with pytest.raises(SpecError, match="family"):
        SafetyCountModel(family="binomial")


def test_dispersion_prior_only_for_negative_binomial():
    with pytest.raises(SpecError, match="'dispersion'"):
        SafetyCountModel(priors={"dispersion": Prior("Gamma", alpha=2, beta=1)})
    model = SafetyCountModel("negative_binomial",
                             priors={"dispersion": Prior("Gamma", alpha=2, beta=1)})
    table = model.prior_table().set_index("parameter")
    assert not table.loc["dispersion", "default"]
    assert table.loc["alpha", "default"]


def test_pooled_model_is_non_centred():
    data = SafetyCountData.from_frame(count_frame(), exposure="years", event_type="type")
    model = SafetyCountModel("negative_binomial").build(data)
    assert {"mu_alpha", "sigma_alpha", "z_alpha", "mu_beta", "sigma_beta", "z_beta",
            "dispersion"} <= set(model.named_vars)
    assert model.named_vars_to_dims["event_rate"] == ("event_type", "dose")
    assert model.named_vars_to_dims["alpha"] == ("event_type",)


def test_placebo_arm_uses_the_offset():
    frame = pd.DataFrame({"patient": ["a", "b"], "dose": [0.0, 10.0], "n_events": [1, 2],
                          "exposure": [1.0, 1.0]})
    data = SafetyCountData.from_frame(frame)
    assert data.scale.offset == pytest.approx(1.0)
    idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 2)),
                                        "beta": np.ones((1, 2))}})
    ratio = SafetyCountFit(data, idata).rate_ratio()
    assert ratio["reference"].tolist() == [0.0]
    assert ratio["mean"].item() == pytest.approx(11.0)


# ---------------------------------------------------------------------- read-outs
def _fixed_fit() -> SafetyCountFit:
    data = SafetyCountData.from_frame(count_frame(), exposure="years", event_type="type")
    beta = np.array([[[0.5, 1.0], [-0.5, 1.0], [0.5, 1.0], [0.5, 1.0]]])
    idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4, 2)), "beta": beta}},
                         dims={"alpha": ["event_type"], "beta": ["event_type"]},
                         coords={"event_type": data.event_types})
    return SafetyCountFit(data, idata)


def test_rate_ratio_closed_form():
    ratio = _fixed_fit().rate_ratio(dose=100).set_index("event_type")
    assert ratio.loc["rash", "mean"] == pytest.approx(100.0)
    assert ratio.loc["rash", "prob_gt_1"] == 1.0
    fever = np.exp(np.array([0.5, -0.5, 0.5, 0.5]) * np.log(100))
    assert ratio.loc["fever", "mean"] == pytest.approx(fever.mean())
    assert ratio.loc["fever", "prob_gt_1"] == 0.75
    assert ratio.attrs["ci"] == "eti 95%"


def test_event_rate_at_reference_is_exp_alpha():
    rates = _fixed_fit().event_rate(dose=10, event_type="rash")
    assert rates["mean"].item() == pytest.approx(1.0)
    assert rates["dose_status"].item() == "tested"
    with pytest.raises(EstimandError, match="unknown event type"):
        _fixed_fit().event_rate(event_type="nausea")


def test_fit_without_draws_is_refused():
    data = SafetyCountData.from_frame(count_frame(), exposure="years", event_type="type")
    with pytest.raises(DataError, match="'beta'"):
        SafetyCountFit(data, az.from_dict({"posterior": {"alpha": np.zeros((1, 4))}}))


# ---------------------------------------------------------------------- recovery
def simulate_counts(family: str, seed: int) -> pd.DataFrame:
    """3 doses x 40 patients, follow-up 0.5 to 1.5 years, rate 2/year at dose 1."""
    rng = np.random.default_rng(seed)
    dose = np.repeat(DOSES, 40)
    years = rng.uniform(0.5, 1.5, dose.size)
    mean = years * RATE * dose ** SLOPE
    if family == "negative_binomial":
        mean = rng.gamma(DISPERSION, mean / DISPERSION)
    counts = rng.poisson(mean)
    return pd.DataFrame({"patient": [f"p{i}" for i in range(dose.size)], "dose": dose,
                         "n_events": counts, "years": years})


@pytest.mark.slow
@pytest.mark.parametrize(("family", "seed"), [("poisson", 11), ("negative_binomial", 12)])
def test_recovers_simulated_truth(family, seed):
    data = SafetyCountData.from_frame(simulate_counts(family, seed), exposure="years",
                                      exposure_unit="year")
    # 4 chains of 1000: with 2 of 500 the Poisson fit's R-hat of beta was 1.006, too near
    # the 1.01 bound for a check whose numbers move with the machine's floating point
    fit = SafetyCountModel(family).fit(data, random_seed=seed,
                                       **{**FIT, "draws": 1000, "chains": 4})
    assert fit.settings["sampler"] == "nutpie"
    assert int(fit.idata["sample_stats"]["diverging"].sum()) == 0
    summary = fit.parameter_summary().set_index("parameter")
    assert summary.loc["beta", "r_hat"] < 1.01
    beta = fit.idata["posterior"]["beta"].to_numpy().ravel()
    low, high = np.quantile(beta, [0.05, 0.95])
    assert low < SLOPE < high
    assert abs(beta.mean() - SLOPE) < 0.1
    ratio = fit.rate_ratio(dose=50, ci_prob=0.9)
    truth = 50.0 ** SLOPE
    assert ratio["reference"].item() == 1.0
    assert ratio["ci_low"].item() < truth < ratio["ci_high"].item()
    assert ratio["mean"].item() == pytest.approx(truth, rel=0.3)
    assert ratio["prob_gt_1"].item() > 0.95
    rate = fit.event_rate(dose=1)
    assert rate["mean"].item() == pytest.approx(RATE, rel=0.3)
    if family == "negative_binomial":
        dispersion = fit.idata["posterior"]["dispersion"].to_numpy().ravel()
        assert np.quantile(dispersion, 0.025) < DISPERSION < np.quantile(dispersion, 0.975)
