"""Arm-level and combined fits in files: saved and loaded (netCDF, never pickled), read
from model files ([arm_data], [arm_model]) and run by ``bayesdose fit``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesdose as bd
from bayesdose.cli.arms_folder import readout_studies
from bayesdose.cli.commands import main
from bayesdose.errors import DataError, SpecError
from bayesdose.model.combined import CombinedFit
from bayesdose.results.arm_fit import ArmFit
from bayesdose.results.arm_storage import arm_model_config, read_arm_fit_file
from bayesdose.results.storage import CONFIG_ATTR

MODELS = Path(__file__).resolve().parents[1] / "models"
SEED = 2  # the simulated studies of the recovery test


# ---------------------------------------------------------------------- data and draws
def arm_frame(seed: int = 0) -> pd.DataFrame:
    """Three studies, placebo and two doses at weeks 4 and 12 (study C without 40 mg)."""
    rng = np.random.default_rng(seed)
    rows = []
    for study, shift in (("A", 0.0), ("B", -0.1), ("C", 0.05)):
        for dose in (0, 10, 40):
            if study == "C" and dose == 40:
                continue
            for week in (4, 12):
                effect = -0.8 * dose / (10 + dose) * week / (3 + week) * (15 / 12)
                rows.append({"trial": study, "mg": dose, "week": week,
                             "cfb": shift - 0.1 + effect + rng.normal(0, 0.03),
                             "sd": 0.6, "n": 80})
    return pd.DataFrame(rows)


def arm_data(frame: pd.DataFrame | None = None) -> bd.ArmData:
    return bd.ArmData.from_frame(arm_frame() if frame is None else frame, study="trial",
                                 dose="mg", time="week", mean="cfb", sd="sd", n="n",
                                 dose_unit="mg", time_unit="weeks",
                                 outcome_info={"cfb": {"direction": "lower_is_better",
                                                       "mcid": 0.3}})


def fixed_arm_fit(model: bd.ArmModel, data: bd.ArmData, chains: int = 2,
                  draws: int = 50) -> ArmFit:
    """An arm-level fit whose posterior is made-up draws of every parameter, with
    sampler statistics."""
    rng = np.random.default_rng(1)
    inputs = model.inputs(data)
    shape = (chains, draws)
    posterior: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    coords: dict[str, list] = {"study": list(inputs.studies), "time": list(inputs.times)}
    levels = getattr(model.dose_shape, "levels", None)
    for param in model.parameters(inputs):
        if param.name == "course":
            posterior["course"] = rng.normal(0, 0.2, (*shape, len(inputs.studies),
                                                      len(inputs.times)))
            dims["course"] = ["study", "time"]
        elif param.levels == "dose_level":
            coords["dose_level"] = list(levels(inputs.dose_scale))
            posterior[param.name] = rng.normal(1.0, 0.1, (*shape, len(coords["dose_level"])))
            dims[param.name] = ["dose_level"]
        elif param.name == "tau":
            posterior["tau"] = np.abs(rng.normal(0, 0.2, shape))
        else:
            posterior[param.name] = rng.normal(0.5 if param.name == "delta" else -1.0, 0.2,
                                               shape)
    if model.study_effects == "random":
        posterior["delta_z"] = rng.normal(0, 1, (*shape, len(inputs.studies)))
        posterior["delta_study"] = (posterior["delta"][..., None]
                                    + posterior["tau"][..., None] * posterior["delta_z"])
        dims.update(delta_z=["study"], delta_study=["study"])
    stats = {"diverging": np.zeros(shape, dtype=bool), "tree_depth": np.full(shape, 3),
             "energy": rng.normal(0, 1, shape), "reached_max_treedepth": np.zeros(shape, bool)}
    idata = az.from_dict({"posterior": posterior, "sample_stats": stats}, dims=dims,
                         coords=coords)
    settings = {"draws": draws, "tune": draws, "chains": chains, "random_seed": 7,
                "target_accept": 0.9, "sampler": "pymc"}
    return ArmFit(model, inputs, idata, settings, data=data)


def same_readouts(a: ArmFit, b: ArmFit, doses: list[float]) -> None:
    for study in readout_studies(a):
        pd.testing.assert_frame_equal(a.effect(dose=doses, time=[4, 12], study=study),
                                      b.effect(dose=doses, time=[4, 12], study=study))
    pd.testing.assert_frame_equal(a.parameter_summary(), b.parameter_summary())


# ---------------------------------------------------------------------- save and load
@pytest.mark.parametrize("dose_shape, effects", [("emax", "random"), ("free", "fixed")])
def test_an_arm_fit_saved_and_loaded_gives_the_same_readouts(tmp_path, dose_shape, effects):
    from pymc_extras.prior import Prior

    model = bd.ArmModel(dose_shape, "emax", study_effects=effects, rho=0.4,
                        priors={"log_et50": Prior("Normal", mu=-1, sigma=0.5)})
    fit = fixed_arm_fit(model, arm_data())
    path = fit.save(tmp_path / "arms.nc")
    loaded = bd.load_arm_fit(path)
    assert type(loaded) is ArmFit
    same_readouts(fit, loaded, [10, 40])
    pd.testing.assert_frame_equal(fit.diagnostics().table, loaded.diagnostics().table)
    pd.testing.assert_frame_equal(fit.data.table, loaded.data.table)
    assert loaded.data.columns == fit.data.columns
    assert loaded.data.info("cfb") == fit.data.info("cfb")
    assert arm_model_config(loaded.model) == arm_model_config(model)
    assert loaded.model.priors["log_et50"] == Prior("Normal", mu=-1, sigma=0.5)
    assert loaded.settings == fit.settings
    if effects == "random":
        pd.testing.assert_frame_equal(fit.between_study_sd(), loaded.between_study_sd())
    # and again: a loaded fit saves to the same content
    again = bd.load_arm_fit(loaded.save(tmp_path / "again.nc"))
    same_readouts(fit, again, [10, 40])


def test_the_file_holds_arrays_and_json_only(tmp_path):
    fit = fixed_arm_fit(bd.ArmModel("emax", "emax"), arm_data())
    path = fit.save(tmp_path / "arms.nc")
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        assert {"posterior", "sample_stats", "constant_data"} <= set(tree.children)
        config = json.loads(tree["constant_data"].attrs[CONFIG_ATTR])
        assert tree["constant_data"]["arm_study"].dims == ("arm_row",)
    assert config["fit_kind"] == "arm"
    assert config["model"]["dose_shape"] == "emax" and config["model"]["rho"] == 0.0
    assert config["data"]["change"] is True
    assert b"pickle" not in path.read_bytes() and b"cbayesdose" not in path.read_bytes()


def test_saving_is_atomic_and_leaves_no_partial_file(tmp_path, monkeypatch):
    fit = fixed_arm_fit(bd.ArmModel("emax", "emax"), arm_data())
    path = fit.save(tmp_path / "arms.nc")
    before = path.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        fit.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arms.nc"]


def test_a_combined_fit_saved_and_loaded_gives_the_same_readouts(tmp_path):
    trial = bd.datasets.load_msc_trial().select(["koos_pain"])
    frame = pd.DataFrame({"s": ["A"] * 4 + ["B"] * 4, "d": [0, 0, 20, 20] * 2,
                          "t": [6, 12] * 4, "y": [1.0, 2.0, 5.0, 9.0, 0.5, 1.5, 4.0, 7.0],
                          "se": [2.0] * 8})
    arms = bd.ArmData.from_frame(frame, study="s", dose="d", time="t", mean="y", se="se")
    model = bd.CombinedModel(bd.DoseResponseModel(), bd.ArmModel("emax", "exponential"),
                             trial_study="msc")
    rng = np.random.default_rng(3)
    shape = (2, 30)
    draws = {"delta": rng.normal(0.5, 0.1, shape), "log_ed50": rng.normal(0, 0.3, shape),
             "log_t_half": rng.normal(-1, 0.2, shape), "tau": np.abs(rng.normal(0, 0.3, shape)),
             "delta_study": rng.normal(0.5, 0.2, (*shape, 3))}
    idata = az.from_dict({"posterior": draws}, dims={"delta_study": ["study"]},
                         coords={"study": ["msc", "A", "B"]})
    fit = CombinedFit(model, model.inputs(trial, arms), idata, {"random_seed": 3},
                      trial=trial, arms=arms)
    loaded = bd.load_arm_fit(fit.save(tmp_path / "combined.nc"))
    assert type(loaded) is CombinedFit
    assert loaded.combined_model.trial_study == "msc"
    assert loaded.combined_model.patient_model.config() == model.patient_model.config()
    for study in ("pooled", "new", "msc", "A"):
        pd.testing.assert_frame_equal(fit.effect(dose=[10, 50], time=[6, 12], study=study),
                                      loaded.effect(dose=[10, 50], time=[6, 12], study=study))
    pd.testing.assert_frame_equal(fit.trial_effect(dose=[50]), loaded.trial_effect(dose=[50]))
    pd.testing.assert_frame_equal(fit.trial_data.table, loaded.trial_data.table)
    pd.testing.assert_frame_equal(fit.data.table, loaded.data.table)


def test_each_loader_refuses_the_other_kind_of_fit_by_name(tmp_path):
    path = fixed_arm_fit(bd.ArmModel("emax", "emax"), arm_data()).save(tmp_path / "arms.nc")
    with pytest.raises(DataError, match=r"arm-level fit .*read it with bayesdose.load_arm_fit"):
        bd.load_fit(path)
    patient = tmp_path / "patient.nc"
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset(), "constant_data": xr.Dataset(
        attrs={CONFIG_ATTR: json.dumps({"model": {}, "data": {}, "sampler": {}})})})
    tree.to_netcdf(patient, engine="h5netcdf")
    with pytest.raises(DataError, match=r"patient-level fit .*read it with bayesdose.load_fit"):
        read_arm_fit_file(patient)
    with pytest.raises(DataError, match="does not exist"):
        bd.load_arm_fit(tmp_path / "missing.nc")


@pytest.mark.parametrize("damage", ["unknown shape", "no columns"])
def test_a_damaged_configuration_is_a_data_error_naming_the_file(tmp_path, damage):
    path = fixed_arm_fit(bd.ArmModel("emax", "emax"), arm_data()).save(tmp_path / "arms.nc")
    with xr.open_datatree(path, engine="h5netcdf") as stored:
        tree = stored.load().copy()
    config = json.loads(tree["constant_data"].attrs[CONFIG_ATTR])
    if damage == "unknown shape":
        config["model"]["dose_shape"] = "banana"
    else:
        del config["data"]["columns"]
    tree["constant_data"].attrs[CONFIG_ATTR] = json.dumps(config)
    broken = tmp_path / "broken.nc"
    tree.to_netcdf(broken, engine="h5netcdf")
    with pytest.raises(DataError, match=r"broken\.nc.*not an arm-level fit"):
        bd.load_arm_fit(broken)


# ---------------------------------------------------------------------- model files
ARM_TABLES = {
    "arm_data": {"source": "arms.csv", "study": "trial", "dose": "mg", "time": "week",
                 "mean": "cfb", "sd": "sd", "n": "n", "dose_unit": "mg",
                 "time_unit": "weeks",
                 "outcomes": {"cfb": {"direction": "lower_is_better", "mcid": 0.3}}},
    "arm_model": {"study_effects": "random", "rho": 0.3},
    "model": {"dose_shape": "emax", "time_shape": "emax"},
}


def arm_spec(**changes) -> dict:
    raw = json.loads(json.dumps(ARM_TABLES))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None:
            raw[section].pop(name)
        elif name:
            raw.setdefault(section, {})[name] = value
        else:
            raw[section] = value
    return raw


def test_arm_sections_make_an_arm_model_and_round_trip(tmp_path):
    frame = arm_frame()
    frame.to_csv(tmp_path / "arms.csv", index=False)
    spec = bd.ModelSpec.from_dict(arm_spec(priors={"tau": {"distribution": "HalfNormal",
                                                           "sigma": 0.2}}), base_dir=tmp_path)
    model = spec.build_arm_model()
    assert type(model) is bd.ArmModel
    assert (model.dose_shape.name, model.time_shape.name) == ("emax", "emax")
    assert (model.study_effects, model.rho) == ("random", 0.3)
    assert model.priors["tau"].parameters == {"sigma": 0.2}
    data = spec.arm.load_data()
    assert data.studies == ["A", "B", "C"] and data.info("cfb").mcid == 0.3
    assert bd.ModelSpec.from_dict(spec.to_dict(), base_dir=tmp_path).to_dict() == spec.to_dict()
    again = bd.ModelSpec.from_toml(spec.to_toml(tmp_path / "arms.toml"))
    assert again.to_dict() == spec.to_dict()


def test_arm_data_with_data_makes_a_combined_model(tmp_path):
    raw = arm_spec(data={"source": "embedded:msc_trial"},
                   model={"dose_shape": "emax", "time_shape": "exponential",
                          "outcomes": ["koos_pain"]},
                   arm_model__trial_study="msc",
                   priors={"arm_course": {"distribution": "Normal", "mu": 0, "sigma": 2},
                           "delta": {"distribution": "Normal", "mu": 0, "sigma": 0.5}})
    spec = bd.ModelSpec.from_dict(raw, base_dir=tmp_path)
    model = spec.build_arm_model()
    assert type(model) is bd.CombinedModel and model.trial_study == "msc"
    assert set(model.arm_model.priors) == {"course"}
    assert model.arm_model.priors["course"].parameters["sigma"] == 2
    assert set(model.patient_model.priors) == {"delta"}
    fixed = arm_spec(data={"source": "embedded:msc_trial"},
                     model={"dose_shape": "emax", "time_shape": "exponential"},
                     arm_model={"study_effects": "fixed"})
    with pytest.raises(SpecError, match=r"combined model.*study_effects='random'"):
        bd.ModelSpec.from_dict(fixed)


@pytest.mark.parametrize("changes, message", [
    ({"arm_data__studdy": "x"}, r"arm_data\.studdy: unknown field\. Did you mean 'study'\?"),
    ({"arm_model__rho": 1.5}, r"arm_model\.rho must be a number in \[0, 1\)"),
    ({"arm_model__study_effects": "mixed"}, r"arm_model\.study_effects must be \"random\""),
    ({"arm_model__pooling": "x"}, r"arm_model\.pooling: unknown field"),
    ({"arm_data__study": None}, r"arm_data\.study is missing: add study = "),
    ({"arm_data__n": None}, r"arm_data\.sd needs arm_data\.n"),
    ({"arm_data__change": "yes"}, r"arm_data\.change must be true"),
    ({"arm_data__agent": "mg"}, r"arm_data\.dose and arm_data\.agent both name column 'mg'"),
    ({"arm_data__outcomes": {"cfb": {"mcd": 1}}},
     r"arm_data\.outcomes\.cfb\.mcd: unknown field\. Did you mean 'mcid'\?"),
    ({"arm_data__outcomes": {"cfb": {"direction": "up"}}}, r"arm_data\.outcomes\.cfb: "),
    ({"model__likelihood": "normal"},
     r"model\.likelihood is a setting of the patient-level model.*remove model\.likelihood"),
    ({"outcomes": {"cfb": {"mcid": 1}}}, r"\[arm_data\.outcomes\.cfb\]"),
    ({"arm_model__trial_study": "t"}, r"arm_model\.trial_study .* no \[data\]"),
    ({"priors": {"log_ed5": {"distribution": "Normal", "sigma": 1}}},
     r"priors\.log_ed5: no parameter.*Did you mean 'log_ed50'\?.*tau"),
    ({"estimands": {"mcid": -1}}, r"estimands\.mcid must be a positive number"),
    ({"estimands": {"reference": 10}}, r"estimands\.reference: arm-level effects are against "
                                       r"placebo"),
    ({"estimands": {"ci_kind": "hdi"}}, r"estimands\.ci_kind: arm-level read-outs"),
    ({"safety": {"source": "embedded:msc_trial"}}, r"\[safety\] and \[arm_data\]"),
    ({"model__dose_shape": "emaks"}, r"\[model\]"),
])
def test_bad_arm_fields_are_named_with_the_fix(changes, message):
    with pytest.raises(SpecError, match=message):
        bd.ModelSpec.from_dict(arm_spec(**changes))


def test_arm_model_without_arm_data_and_mcid_without_arm_data_are_refused():
    with pytest.raises(SpecError, match=r"\[arm_model\] is given without \[arm_data\]"):
        bd.ModelSpec.from_dict({"arm_model": {"rho": 0.2}})
    with pytest.raises(SpecError, match=r"estimands\.mcid is read by arm-level analyses"):
        bd.ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
                                "estimands": {"mcid": 5}})


def test_an_arm_data_path_must_stay_beside_the_model_file(tmp_path):
    spec = bd.ModelSpec.from_dict(arm_spec(arm_data__source="../arms.csv"),
                                  base_dir=tmp_path / "models")
    with pytest.raises(SpecError, match=r"arm_data\.source"):
        spec.arm.load_data()


def test_the_alogliptin_model_file_is_mbnmatimes_emax_model_with_common_effects():
    spec = bd.ModelSpec.from_toml(MODELS / "alogliptin_time_course.toml")
    model = spec.build_arm_model()
    assert (model.dose_shape.name, model.time_shape.name) == ("free", "emax")
    assert (model.study_effects, model.rho) == ("fixed", 0.0)
    names = [p.name for p in model.parameters(model.inputs(spec.arm.load_data()))]
    assert names == ["delta", "log_et50", "course"]  # no Hill parameter in time
    data = spec.arm.load_data()
    assert len(data.studies) == 14 and len(data.table) == 233
    assert data.doses["alogliptin"] == [6.25, 12.5, 25.0, 50.0, 100.0]
    assert data.info("hba1c").direction == "lower_is_better"
    shipped = MODELS / "data" / "MBNMAtime_alog_pcfb.csv"
    assert shipped.read_bytes().startswith(b"studyID,clinicaltrialGov_ID,agent,dose,")


# ---------------------------------------------------------------------- the command
CLI_MODEL = """
name = "tiny_arms"
description = "Three studies, Emax in dose and time."

[arm_data]
source = "arms.csv"
study = "trial"
dose = "mg"
time = "week"
mean = "cfb"
sd = "sd"
n = "n"
dose_unit = "mg"
time_unit = "weeks"

[arm_data.outcomes.cfb]
direction = "lower_is_better"
mcid = 0.3

[arm_model]
study_effects = "random"
rho = 0.2

[model]
dose_shape = "emax"
time_shape = "emax"

[sampler]
draws = 60
tune = 60
chains = 1
random_seed = 3

[estimands]
doses = [10, 40]
times = [4, 12]
contrasts = [[40, 10]]
ci_prob = 0.9
"""


def fake_fit(self, data, draws=1000, tune=1000, chains=4, random_seed=1, **_):
    """ArmModel.fit without sampling: made-up draws of every parameter."""
    fit = fixed_arm_fit(self, data, chains=chains, draws=draws)
    fit.settings.update(tune=tune, random_seed=random_seed)
    return fit


def run_cli(argv: list[str]) -> int:
    """``bayesdose`` with the arm-level sampler replaced by :func:`fake_fit`."""
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setattr(bd.ArmModel, "fit", fake_fit)
        return main(argv)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    arm_frame().to_csv(folder / "arms.csv", index=False)
    (folder / "model.toml").write_text(CLI_MODEL)
    code = run_cli(["fit", str(folder / "model.toml"), "--out", str(folder / "out")])
    return folder, code


def test_fit_writes_the_arm_folder(cli_run):
    folder, code = cli_run
    out = folder / "out"
    assert code in (0, 1)  # made-up draws need not pass the diagnostics' thresholds
    names = {p.name for p in out.iterdir()}
    assert {"fit.nc", "priors.csv", "parameters.csv", "diagnostics.csv", "effects.csv",
            "contrasts.csv", "between_study_sd.csv", "heterogeneity.csv", "time_course.csv",
            "predictive_check.csv", "study_fits.csv", "studies.csv", "minimum_effective_dose.csv",
            "figures", "report.md", "report.html", "summary.txt"} <= names
    assert "leave_one_study_out.csv" not in names  # only on request: it refits
    assert not any(name.startswith(".") for name in names)
    assert (out / "figures" / "study_fits.png").read_bytes().startswith(b"\x89PNG")
    effects = pd.read_csv(out / "effects.csv", dtype={"study": str})
    assert effects["study"].unique().tolist() == ["pooled", "new", "A", "B", "C"]
    assert set(effects["dose"]) == {10.0, 40.0} and set(effects["time"]) == {4.0, 12.0}
    assert {"prob_beyond_mcid", "dose_unit", "time_unit"} <= set(effects.columns)
    assert (effects["dose_unit"] == "mg").all() and (effects["time_unit"] == "weeks").all()
    pooled = effects[effects["study"] == "pooled"]
    new = effects[effects["study"] == "new"]
    assert ((new["ci_high"].to_numpy() - new["ci_low"].to_numpy())
            >= (pooled["ci_high"].to_numpy() - pooled["ci_low"].to_numpy())).all()
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert (contrasts[["dose", "reference"]].drop_duplicates().to_numpy() == [[40, 10]]).all()
    report = (out / "report.md").read_text()
    assert "Which estimand is which" in report and "study = 'new'" in report
    assert "](figures/study_fits.png)" in report
    assert len(pd.read_csv(out / "predictive_check.csv")) == len(arm_frame())


def test_report_of_a_saved_arm_fit_is_the_folders_report(cli_run, tmp_path, capsys):
    """``bayesdose report fit.nc`` on an arm-level fit writes the report ``bayesdose fit``
    wrote (same sections, estimands from the model file recorded in the fit), refuses a
    non-empty folder without --force and then keeps the user's other files."""
    folder, _ = cli_run
    out = tmp_path / "report"
    assert main(["report", str(folder / "out" / "fit.nc"), "--out", str(out)]) == 0
    assert "Wrote report.html, report.md and 1 figure" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html", "report.md"]
    again = (out / "report.md").read_text()
    assert again == (folder / "out" / "report.md").read_text()
    (out / "notes.txt").write_text("kept")
    assert main(["report", str(folder / "out" / "fit.nc"), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["report", str(folder / "out" / "fit.nc"), "--out", str(out),
                 "--force"]) == 0
    assert (out / "notes.txt").read_text() == "kept"
    assert (out / "report.md").read_text() == again


def test_leave_one_study_out_on_request_refits_without_each_study(tmp_path):
    arm_frame().to_csv(tmp_path / "arms.csv", index=False)
    (tmp_path / "model.toml").write_text(CLI_MODEL)
    code = run_cli(["fit", str(tmp_path / "model.toml"), "--out", str(tmp_path / "flag"),
                    "--leave-one-study-out"])
    assert code in (0, 1)
    table = pd.read_csv(tmp_path / "flag" / "leave_one_study_out.csv", dtype={"study": str})
    assert table["study"].tolist() == ["A", "B", "C"]
    (tmp_path / "model.toml").write_text(CLI_MODEL.replace(
        "rho = 0.2", "rho = 0.2\nleave_one_study_out = true"))
    run_cli(["fit", str(tmp_path / "model.toml"), "--out", str(tmp_path / "field")])
    assert (tmp_path / "field" / "leave_one_study_out.csv").is_file()


def test_the_saved_fit_gives_the_written_effects(cli_run):
    folder, _ = cli_run
    fit = bd.load_arm_fit(folder / "out" / "fit.nc")
    effects = pd.read_csv(folder / "out" / "effects.csv", dtype={"study": str})
    for study in ("pooled", "new", "B"):
        again = fit.effect(dose=[10, 40], time=[4, 12], ci_prob=0.9, study=study)
        written = effects[effects["study"] == study]
        np.testing.assert_allclose(again["mean"], written["mean"], rtol=1e-12)
        np.testing.assert_allclose(again["ci_low"], written["ci_low"], rtol=1e-12)
    stored = json.loads(fit.idata["constant_data"].attrs[CONFIG_ATTR])
    assert stored["spec"]["name"] == "tiny_arms"
    assert stored["spec"]["arm_model"] == {"study_effects": "random", "rho": 0.2}


def test_a_rerun_without_force_is_refused_and_leaves_the_folder(cli_run, capsys):
    folder, _ = cli_run
    before = sorted(p.name for p in (folder / "out").iterdir())
    code = run_cli(["fit", str(folder / "model.toml"), "--out", str(folder / "out")])
    assert code == 2
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in (folder / "out").iterdir()) == before


def test_bad_estimands_stop_the_run_before_sampling(tmp_path, capsys):
    arm_frame().to_csv(tmp_path / "arms.csv", index=False)
    text = CLI_MODEL.replace('dose_shape = "emax"', 'dose_shape = "free"')
    (tmp_path / "model.toml").write_text(text.replace("doses = [10, 40]", "doses = [20]"))
    code = run_cli(["fit", str(tmp_path / "model.toml"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "estimands.doses" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_leave_one_study_out_is_only_for_arm_level_files(tmp_path, capsys):
    model = MODELS / "msc_koos_linear.toml"
    code = main(["fit", str(model), "--out", str(tmp_path / "out"), "--leave-one-study-out"])
    assert code == 2
    assert "--leave-one-study-out is for model files with arm-level data" in \
        capsys.readouterr().err


def test_data_on_the_command_line_needs_a_data_section(tmp_path, capsys):
    arm_frame().to_csv(tmp_path / "arms.csv", index=False)
    (tmp_path / "model.toml").write_text(CLI_MODEL)
    code = run_cli(["fit", str(tmp_path / "model.toml"), "--out", str(tmp_path / "out"),
                    "--data", str(tmp_path / "arms.csv")])
    assert code == 2
    assert "[arm_data] and no [data]" in capsys.readouterr().err


@pytest.mark.slow
def test_the_folder_recovers_known_per_dose_effects(tmp_path):
    """Arm means simulated from known per-dose effects and an Emax time course (common
    study effects): the pooled 90% intervals of effects.csv cover the truth."""
    truth = {10.0: -0.4, 40.0: -0.7}  # at week 12, the last time point
    et50 = 3.0
    rng = np.random.default_rng(SEED)
    rows = []
    for s in range(6):
        course = rng.normal(-0.1, 0.1)
        for dose in (0.0, 10.0, 40.0):
            for week in (2, 4, 8, 12):
                g = week / (et50 + week) * (et50 + 12) / 12
                mean = course * week / 12 + truth.get(dose, 0.0) * g
                rows.append({"trial": f"S{s}", "mg": dose, "week": week,
                             "cfb": mean + rng.normal(0, 0.04), "sd": 0.4, "n": 100})
    pd.DataFrame(rows).to_csv(tmp_path / "arms.csv", index=False)
    text = (CLI_MODEL.replace('dose_shape = "emax"', 'dose_shape = "free"')
            .replace('study_effects = "random"', 'study_effects = "fixed"')
            .replace("rho = 0.2", "rho = 0.0")
            .replace("draws = 60\ntune = 60\nchains = 1", "draws = 1000\ntune = 1000\nchains = 2")
            .replace("times = [4, 12]", "times = [12]"))
    (tmp_path / "model.toml").write_text(text)
    code = main(["fit", str(tmp_path / "model.toml"), "--out", str(tmp_path / "out")])
    assert code == 0
    effects = pd.read_csv(tmp_path / "out" / "effects.csv", dtype={"study": str})
    pooled = effects[effects["study"] == "pooled"].set_index("dose")
    for dose, value in truth.items():
        assert pooled.loc[dose, "ci_low"] <= value <= pooled.loc[dose, "ci_high"]
    course = pd.read_csv(tmp_path / "out" / "time_course.csv").set_index("quantity")
    assert course.loc["et50", "ci_low"] <= et50 <= course.loc["et50", "ci_high"]

