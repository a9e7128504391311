"""Checks of arm-level fits against their studies (bayesdose.results.arm_checks): the fitted
means are the model's, the predictive check flags about its nominal share of simulated
means and a planted outlier, study fits and the heterogeneity reading give the numbers
of known draws, and leave-one-study-out finds a planted discrepant study."""

from __future__ import annotations

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from conftest import FAST
from scipy import stats
from test_arm_model import arm_data, simulate_arms
from test_combined_model import combined_model, simulate

import bayesdose as bd
from bayesdose.model.combined import CombinedFit
from bayesdose.plots.arms import plot_study_fits
from bayesdose.plots.backend import close_figure
from bayesdose.results.arm_checks import (
    Heterogeneity,
    arm_predictive_check,
    contrast_pairs,
    fitted_means,
    heterogeneity,
    leave_one_study_out,
    study_fits,
)
from bayesdose.results.arm_fit import ArmFit

matplotlib.use("Agg")


# ---------------------------------------------------------------------------- helpers
def at_point(model: pm.Model, seed: int = 0) -> tuple[dict, az.InferenceData]:
    """A random point of ``model`` and a one-draw posterior of every variable there."""
    rng = np.random.default_rng(seed)
    point = {k: v + rng.normal(0.0, 0.4, np.shape(v))
             for k, v in model.initial_point().items()}
    outs = [v for v in model.unobserved_value_vars if not v.name.endswith("__")]
    names = [v.name for v in outs]
    values = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore",
                              mode=FAST)(point)
    draws = {n: np.asarray(v)[None, None] for n, v in zip(names, values, strict=True)}
    dims = {n: list(model.named_vars_to_dims.get(n, ())) for n in names}
    coords = {k: list(v) for k, v in model.coords.items() if v is not None}
    return point, az.from_dict({"posterior": draws}, dims=dims, coords=coords)


def mvn_logpdf(table: pd.DataFrame, mean: np.ndarray, rho: float) -> float:
    """The arms' Normal log-density of the reported means around ``mean``, AR(1) in time."""
    total = 0.0
    for _, rows in table.assign(m=mean).groupby(["study", "arm"]):
        se = rows["se"].to_numpy()
        lags = np.abs(np.subtract.outer(range(len(rows)), range(len(rows))))
        total += stats.multivariate_normal(rows["m"], rho ** lags * np.outer(se, se)
                                           ).logpdf(rows["mean"])
    return float(total)


def agents_frame() -> pd.DataFrame:
    """Three studies with placebo and arms of agents X and Y at weeks 4 and 12."""
    rows = []
    arms = {"A": [("placebo", 0), ("X", 10), ("Y", 5)], "B": [("placebo", 0), ("X", 20)],
            "C": [("placebo", 0), ("Y", 10), ("Y", 20)]}
    rng = np.random.default_rng(4)
    for study, study_arms in arms.items():
        for agent, dose in study_arms:
            rows += [{"study": study, "agent": agent, "dose": dose, "week": t,
                      "cfb": rng.normal(-0.5, 0.3), "se": 0.15, "n": 120} for t in (4, 12)]
    return pd.DataFrame(rows)


def known_fit(studies: int = 6, tau: float | None = 0.1, seed: int = 3,
              draws: int = 400) -> ArmFit:
    """An Emax x Emax arm-level fit whose posterior is drawn around known values."""
    data = arm_data(simulate_arms(seed=seed, studies=studies))
    model = bd.ArmModel(rho=0.2, study_effects="fixed" if tau is None else "random")
    inputs = model.inputs(data)
    rng = np.random.default_rng(seed)
    post = {"delta": rng.normal(-0.4, 0.02, (2, draws)),
            "log_ed50": rng.normal(np.log(8 / inputs.dose_scale.midpoint), 0.05, (2, draws)),
            "log_et50": rng.normal(np.log(3 / 12), 0.05, (2, draws)),
            "course": rng.normal(-0.05, 0.02, (2, draws, studies, 3))}
    dims = {"course": ["study", "time"]}
    if tau is not None:
        post["tau"] = np.abs(rng.normal(tau, 0.2 * tau, (2, draws)))
        post["delta_z"] = rng.normal(0, 1, (2, draws, studies))
        post["delta_study"] = post["delta"][..., None] + post["tau"][..., None] * post[
            "delta_z"]
        dims |= {"delta_z": ["study"], "delta_study": ["study"]}
    coords = {"study": inputs.studies, "time": list(inputs.times)}
    idata = az.from_dict({"posterior": post}, dims=dims, coords=coords)
    return ArmFit(model, inputs, idata, {"random_seed": 5}, data=data)


# ---------------------------------------------------------------------------- fitted means
@pytest.mark.parametrize("case", ["one agent", "fixed", "two agents"])
def test_fitted_means_are_the_mean_of_the_models_likelihood(case):
    if case == "two agents":
        data = bd.ArmData.from_frame(agents_frame(), study="study", agent="agent",
                                     dose="dose", time="week", mean="cfb", se="se", n="n")
        model = bd.ArmModel(rho=0.4, time_by_agent=True)
    else:
        data = arm_data(simulate_arms(rho=0.5, studies=4))
        model = bd.ArmModel(rho=0.5, study_effects="random" if case == "one agent"
                            else "fixed")
    built = model.build(data)
    point, idata = at_point(built)
    fit = ArmFit(model, model.inputs(data), idata, {}, data=data)
    means = fitted_means(fit)
    logp = built.compile_logp(vars=[built["y"]], jacobian=False, mode=FAST)(point)
    assert means.shape == (1, len(fit.inputs.table))
    expected = mvn_logpdf(fit.inputs.table, means[0], model.rho)
    assert np.isclose(float(logp) + fit.inputs.log_det_whitening, expected, rtol=1e-9)


def test_fitted_means_of_a_combined_fit_are_those_of_its_arm_likelihood():
    trial, arms, _ = simulate()
    model = combined_model()
    built = model.build(trial, arms)
    point, idata = at_point(built, seed=2)
    fit = CombinedFit(model, model.inputs(trial, arms), idata, {}, trial=trial, arms=arms)
    logp = built.compile_logp(vars=[built["arm_means"]], jacobian=False, mode=FAST)(point)
    expected = mvn_logpdf(fit.inputs.table, fitted_means(fit)[0], 0.6)
    assert np.isclose(float(logp) + fit.inputs.log_det_whitening, expected, rtol=1e-9)
    assert set(fit.study_fits()["study"]) == set(fit.inputs.studies)


# ---------------------------------------------------------------------------- study fits
def test_study_fits_give_observed_fitted_and_pooled_contrasts():
    fit = known_fit()
    table = fit.inputs.table.reset_index(drop=True)
    out = fit.study_fits(ci_prob=0.8)
    assert out.attrs["ci"] == "eti 80%"
    pd.testing.assert_frame_equal(out, study_fits(fit, ci_prob=0.8))
    assert (out["reference_dose"] == 0).all() and (out["dose"] > 0).all()
    # one row per active arm and time
    assert len(out) == int((table["dose"] > 0).sum())
    row = out.iloc[0]
    arm = table[(table["study"] == row["study"]) & (table["arm"] == row["arm"])
                & (table["time"] == row["time"])].iloc[0]
    placebo = table[(table["study"] == row["study"]) & (table["dose"] == 0)
                    & (table["time"] == row["time"])].iloc[0]
    assert np.isclose(row["observed"], arm["mean"] - placebo["mean"])
    assert np.isclose(row["se"], np.hypot(arm["se"], placebo["se"]))
    # the study's own contrast: its effect size, the course cancels
    own = fit.effect(dose=[row["dose"]], time=[row["time"]], study=row["study"])
    pooled = fit.effect(dose=[row["dose"]], time=[row["time"]])
    assert np.isclose(row["fitted_mean"], own["mean"].iloc[0])
    assert np.isclose(row["pooled_mean"], pooled["mean"].iloc[0])
    assert row["fitted_lower"] < row["fitted_mean"] < row["fitted_upper"]


def test_contrast_pairs_use_the_lowest_dose_without_placebo():
    table = pd.DataFrame({"study": ["A"] * 4 + ["B"], "arm": ["X 5", "X 20"] * 2 + ["X 5"],
                          "agent": ["X"] * 5, "dose": [5.0, 20.0] * 2 + [5.0],
                          "time": [4.0, 4.0, 8.0, np.nan, 4.0]})
    pairs = contrast_pairs(table)
    # A at week 4 only (the week-8 arm has no reference mean); B has one arm
    assert pairs[["row", "reference_row", "reference_dose"]].values.tolist() == [[1, 0, 5.0]]


# ---------------------------------------------------------------------------- predictive
def point_fit(studies: int, seed: int, outlier_se: float = 0.0) -> tuple[ArmFit, int]:
    """A fit whose posterior is one point (the truth), with means drawn around it with
    their SEs and AR(1) correlation; one mean moved by ``outlier_se`` SEs."""
    fit = known_fit(studies=studies, seed=seed)
    idata = az.from_dict({"posterior": {
        name: np.repeat(np.repeat(values.to_numpy()[:1, :1], 2, axis=0), 300, axis=1)
        for name, values in fit.idata["posterior"].data_vars.items()}},
        dims={"course": ["study", "time"], "delta_z": ["study"], "delta_study": ["study"]},
        coords={"study": fit.inputs.studies, "time": list(fit.inputs.times)})
    truth = ArmFit(fit.model, fit.inputs, idata, {"random_seed": 1})
    mean = fitted_means(truth)[0]
    rng = np.random.default_rng(seed)
    table = fit.inputs.table.assign(m=mean).reset_index(drop=True)
    frame = simulate_arms(seed=seed, studies=studies)
    for _, rows in table.groupby(["study", "arm"]):
        lags = np.abs(np.subtract.outer(range(len(rows)), range(len(rows))))
        cov = 0.2 ** lags * np.outer(rows["se"], rows["se"])
        index = [int(r.split()[1]) for r in rows["source_row"]]
        frame.loc[index, "cfb"] = rng.multivariate_normal(rows["m"], cov)
    planted = int(table["source_row"].iloc[5].split()[1])
    frame.loc[planted, "cfb"] += outlier_se * frame.loc[planted, "se"]
    data = arm_data(frame)
    return ArmFit(fit.model, fit.model.inputs(data), idata, {"random_seed": 1}, data=data), 5


def test_the_predictive_check_flags_its_nominal_share_and_a_planted_outlier():
    fit, planted = point_fit(studies=20, seed=8, outlier_se=6.0)
    check = fit.predictive_check(ci_prob=0.9, kind="posterior")
    assert len(check) > 200 and check.attrs["kind"] == "posterior"
    # posterior = the truth, so the check is exact: about 10% of the other means outside
    others = check.drop(index=planted)
    assert 0.05 <= others["outside"].mean() <= 0.16
    assert 0.4 <= others["p"].median() <= 0.6
    assert check.loc[planted, "outside"] and check.loc[planted, "p"] < 0.001
    # the replicates have the arms' SEs: the interval is about +- 1.645 SE
    width = (check["upper"] - check["lower"]) / (2 * check["se"])
    assert np.allclose(width.median(), 1.645, rtol=0.1)
    pd.testing.assert_frame_equal(check, arm_predictive_check(fit, 0.9, "posterior"))
    loo = fit.predictive_check()  # leave-one-out by default
    assert loo.attrs["kind"] == "loo"
    assert 0.05 <= loo.drop(index=planted)["outside"].mean() <= 0.16
    assert loo.loc[planted, "p"] < 0.001 and "pareto_k" in loo


def test_the_predictive_check_refuses_a_bad_interval_or_kind():
    with pytest.raises(bd.EstimandError, match="ci_prob"):
        arm_predictive_check(known_fit(), ci_prob=1.5)
    with pytest.raises(bd.EstimandError, match="kind"):
        arm_predictive_check(known_fit(), kind="prior")


@pytest.mark.slow
def test_on_a_fit_the_loo_check_is_near_nominal_and_flags_a_planted_outlier_arm():
    frame = simulate_arms(seed=21, studies=8, rho=0.3)
    top = frame.loc[frame["study"] == "S5", "dose"].max()
    planted_rows = (frame["study"] == "S5") & (frame["dose"] == top)
    frame.loc[planted_rows, "cfb"] += 6 * frame.loc[planted_rows, "se"]
    data = arm_data(frame)
    fit = bd.ArmModel(rho=0.3).fit(data, draws=300, tune=300, chains=2, random_seed=3)
    for kind, low, high in (("posterior", 0.0, 0.1), ("loo", 0.02, 0.2)):
        check = fit.predictive_check(ci_prob=0.9, kind=kind)
        planted = (check["study"] == "S5") & (check["dose"] == top)
        assert planted.sum() == 3
        assert check.loc[planted, "outside"].all() and check.loc[planted, "p"].min() < 0.01
        # posterior predictive: conservative (the means informed the fit); LOO: near 10%
        assert low <= check.loc[~planted, "outside"].mean() <= high


# ---------------------------------------------------------------------------- heterogeneity
def test_heterogeneity_gives_the_numbers_of_known_draws():
    fit = known_fit(studies=8, tau=0.2)
    result = fit.heterogeneity(ci_prob=0.9)
    assert isinstance(result, Heterogeneity)
    table = result.table.set_index(["quantity", "unit"])["median"]
    tau = fit.idata["posterior"]["tau"].to_numpy().ravel()
    assert np.isclose(table.iloc[0], np.median(tau))
    assert np.isclose(table.iloc[1], np.median(tau) * fit.inputs.scale_sd)
    # at the highest dose and last week the effect's SD between studies is tau * SD
    assert np.isclose(table.iloc[2], table.iloc[1])
    pooled = result.table.iloc[3]
    assert np.isclose(pooled["mean"], fit.effect(dose=[50], time=[12])["mean"].iloc[0])
    assert np.isclose(table.iloc[4], 0.2 / 0.4, rtol=0.1)          # tau / |delta|
    new, prob = result.table.iloc[5], result.table.iloc[6]
    assert new["lower"] < pooled["lower"] and new["upper"] > pooled["upper"]
    assert prob["mean"] > 0.3  # 0.2 vs 0.5 * 0.4
    assert result.table.attrs["studies"] == 8 and result.table.attrs["dose"] == 50
    text = str(result)
    assert "dose 50 vs placebo at week 12" in text
    assert f"{pooled['mean']:.2f}" in text and "cannot tell" not in text


def test_heterogeneity_says_when_the_data_cannot_tell_tau_from_zero():
    few = heterogeneity(known_fit(studies=3, tau=0.1), dose=25, time=8)
    assert "With 3 studies the data cannot tell" in few.reading
    assert few.table.attrs["dose"] == 25 and few.table.attrs["time"] == 8
    fit = known_fit(studies=8, tau=0.1)
    tau = fit.idata["posterior"]["tau"]
    fit.idata["posterior"]["tau"] = tau.copy(data=np.abs(np.random.default_rng(1).normal(
        0, 0.1, tau.shape)))
    assert "reaches near 0" in heterogeneity(fit).reading


def test_heterogeneity_of_fixed_study_effects_says_there_is_no_between_study_sd():
    result = known_fit(tau=None).heterogeneity()
    assert "no between-study SD" in result.reading
    assert result.table["quantity"].str.startswith("pooled").all()
    with pytest.raises(bd.EstimandError, match="dose"):
        heterogeneity(known_fit(tau=None), dose=-1)


# ---------------------------------------------------------------------------- figure
@pytest.mark.parametrize("times", [True, False])
def test_plot_study_fits_draws_one_panel_per_study(times):
    if times:
        fit = known_fit(studies=4)
    else:
        frame = simulate_arms(studies=3).query("week == 12")
        data = bd.ArmData.from_frame(frame, study="study", dose="dose", mean="cfb", se="se",
                                     n="n")
        model = bd.ArmModel(study_effects="fixed")
        post = {"delta": np.full((1, 5), -0.4), "log_ed50": np.zeros((1, 5)),
                "course": np.full((1, 5, 3, 1), -0.1)}
        fit = ArmFit(model, model.inputs(data), az.from_dict({"posterior": post}), {},
                     data=data)
    fig = fit.plot_study_fits()
    try:
        assert len(fig.axes) == len(fit.inputs.studies)
        first = fig.axes[0]
        arms = fit.inputs.table.query(f"study == '{fit.inputs.studies[0]}'")["arm"].nunique()
        assert len(first.get_legend().get_texts()) == arms
        assert (len(first.lines) >= arms) and first.get_title() == fit.inputs.studies[0]
    finally:
        close_figure(fig)
    with pytest.raises(bd.EstimandError, match="not in the fit"):
        plot_study_fits(fit, studies=["nowhere"])


# ---------------------------------------------------------------------------- leave one out
@pytest.mark.slow
def test_leave_one_study_out_finds_a_planted_discrepant_study():
    frame = simulate_arms(seed=5, studies=5)
    discrepant = frame["study"] == "S2"
    placebo = frame[discrepant & (frame["dose"] == 0)].set_index("week")["cfb"]
    # S2's dose effects three times the others'
    frame.loc[discrepant, "cfb"] = (placebo.loc[frame.loc[discrepant, "week"]].to_numpy()
                                    + 3 * (frame.loc[discrepant, "cfb"].to_numpy()
                                           - placebo.loc[frame.loc[discrepant,
                                                                   "week"]].to_numpy()))
    fit = bd.ArmModel().fit(arm_data(frame), draws=300, tune=300, chains=2, random_seed=2)
    out = fit.leave_one_study_out()
    assert out["study"].tolist() == fit.inputs.studies
    worst = out.loc[out["shift_sd"].abs().idxmax()]
    assert worst["study"] == "S2"
    assert abs(worst["shift_sd"]) > 1
    assert worst["p"] < 0.01 and out.set_index("study")["p"].drop("S2").min() > 0.01
    assert out.attrs["dose"] == 50 and out.attrs["time"] == 12
    # the other studies' prediction of S2's contrast misses it; the refits share settings
    assert not worst["predicted_lower"] <= worst["observed"] <= worst["predicted_upper"]
    assert (out["tau_upper"] > out["tau_mean"]).all()


def test_leave_one_study_out_needs_the_data_and_two_studies():
    fit = known_fit(studies=3)
    no_data = ArmFit(fit.model, fit.inputs, fit.idata, fit.settings)
    with pytest.raises(bd.EstimandError, match="no data"):
        leave_one_study_out(no_data)
    one = arm_data(simulate_arms(studies=1))
    single = ArmFit(fit.model, fit.model.inputs(one), fit.idata, {}, data=one)
    with pytest.raises(bd.EstimandError, match="at least two"):
        leave_one_study_out(single)
