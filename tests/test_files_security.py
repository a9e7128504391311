"""Files and security: outputs are written all or nothing, an earlier result folder survives
a failed or killed run, saved fits and model files are parsed (never unpickled or
executed), and paths in model files cannot leave the model file's folder."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import prior_draws_for_sampling
from test_cli import cli_command, one_line_error, write_model, write_trial
from test_properties import fixed_linear_fit

import bayesdose as bd
from bayesdose.cli.commands import main
from bayesdose.errors import BayesdoseError, DataError, SpecError
from bayesdose.files.output import STAGING_MARK, staged_folder, write_csv, write_text
from bayesdose.model.spec import ModelSpec
from bayesdose.results.storage import CONFIG_ATTR, read_config

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--draws", "30", "--tune", "30", "--chains", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> SHA-256 of its bytes)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def staging_left(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.iterdir() if STAGING_MARK in p.name]


# ---------------------------------------------------------------- a small real fit
@pytest.fixture(scope="module")
def trial_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trial")
    write_trial(folder)
    write_model(folder)
    return folder


@pytest.fixture(scope="module")
def small_fit(trial_folder) -> bd.DoseResponseFit:
    """A fit of the CLI tests' model file (1 chain x 30 draws) whose draws are prior draws,
    not sampled: what is tested here is what is written and recorded."""
    spec = ModelSpec.from_toml(trial_folder / "model.toml")
    with prior_draws_for_sampling():
        return bd.fit(spec, draws=30, tune=30, chains=1, progressbar=False)


@pytest.fixture(scope="module")
def results_template(tmp_path_factory, trial_folder, small_fit) -> Path:
    """A result folder written by ``bayesdose fit`` (the fit itself reused, not resampled),
    marked so that a later run's files can be told apart, plus a file of the user's."""
    out = tmp_path_factory.mktemp("template") / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bd, "fit", lambda spec, data=None, **kw: small_fit)
        code = main(["fit", str(trial_folder / "model.toml"), "--out", str(out), *SMALL])
    assert code in (0, 1)
    for path in out.rglob("*.csv"):
        path.write_text(path.read_text() + "earlier,run\n")
    (out / "summary.txt").write_text("earlier summary\n")
    (out / "notes.txt").write_text("the user's own notes\n")
    return out


@pytest.fixture
def earlier_results(tmp_path, results_template, small_fit, monkeypatch) -> Path:
    """A copy of the template result folder; ``bd.fit`` returns the small fit."""
    monkeypatch.setattr(bd, "fit", lambda spec, data=None, **kw: small_fit)
    out = tmp_path / "results"
    shutil.copytree(results_template, out)
    return out


# ---------------------------------------------------------------- interrupted runs
@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()],
                         ids=["error", "interrupt"])
def test_a_forced_fit_that_fails_midway_leaves_the_earlier_results_intact(
        earlier_results, trial_folder, monkeypatch, capsys, failure):
    before = snapshot(earlier_results)
    written = []

    def failing_write_csv(frame, target):
        if len(written) == 4:  # fit.nc and four tables are written by now
            raise failure
        written.append(Path(target).name)
        return write_csv(frame, target)

    monkeypatch.setattr("bayesdose.cli.fit_folder.write_csv", failing_write_csv)
    argv = ["fit", str(trial_folder / "model.toml"), "--out", str(earlier_results), "--force",
            *SMALL]
    if isinstance(failure, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            main(argv)
    else:
        assert main(argv) == 3  # an unexpected error, reported as such
    assert len(written) == 4
    assert snapshot(earlier_results) == before  # every earlier file as it was, none added
    assert not staging_left(earlier_results.parent, earlier_results)
    assert not list(earlier_results.parent.rglob("*.tmp"))


def test_a_forced_fit_replaces_the_results_and_keeps_the_users_files(
        earlier_results, trial_folder):
    before = snapshot(earlier_results)
    assert main(["fit", str(trial_folder / "model.toml"), "--out", str(earlier_results),
                 "--force", *SMALL]) in (0, 1)
    after = snapshot(earlier_results)
    assert set(after) == set(before)  # the same set of files, none left half-written
    marked = {name for name in after if name.endswith(".csv")} | {"summary.txt"}
    assert all(after[name] != before[name] for name in marked)  # all replaced
    assert (earlier_results / "notes.txt").read_text() == "the user's own notes\n"
    assert "earlier" not in (earlier_results / "summary.txt").read_text()
    assert not staging_left(earlier_results.parent, earlier_results)


def test_a_non_empty_folder_is_not_touched_without_force(earlier_results, trial_folder,
                                                         capsys):
    before = snapshot(earlier_results)
    for argv in (["fit", str(trial_folder / "model.toml")], ["demo"]):
        assert main([*argv, "--out", str(earlier_results), *SMALL]) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "not empty" in line and "--force" in line
    assert snapshot(earlier_results) == before


def test_a_forced_report_that_fails_midway_keeps_the_earlier_report(
        earlier_results, monkeypatch, capsys):
    before = snapshot(earlier_results)

    def failing_write_text(text, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bayesdose.report.document.write_text", failing_write_text)
    code = main(["report", str(earlier_results / "fit.nc"), "--out", str(earlier_results),
                 "--force"])
    assert code == 3
    assert snapshot(earlier_results) == before
    assert not staging_left(earlier_results.parent, earlier_results)


def test_staged_folder_replaces_named_results_and_removes_stale_ones(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old a")
    (out / "stale.csv").write_text("old stale")
    (out / "figures").mkdir()
    (out / "figures" / "old.png").write_text("old figure")
    (out / "mine.txt").write_text("mine")
    with staged_folder(out, replaces=["a.csv", "stale.csv", "figures"]) as stage:
        (stage / "a.csv").write_text("new a")
        (stage / "figures").mkdir()
        (stage / "figures" / "new.png").write_text("new figure")
    assert snapshot(out) == snapshot_of({"a.csv": "new a", "figures/new.png": "new figure",
                                         "mine.txt": "mine"})
    with pytest.raises(ValueError, match="boom"), staged_folder(out) as stage:
        (stage / "a.csv").write_text("half")
        raise ValueError("boom")
    assert (out / "a.csv").read_text() == "new a"
    assert not staging_left(tmp_path, out)


def snapshot_of(files: dict[str, str]) -> dict[str, str]:
    return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}


def test_a_new_folder_is_not_created_when_the_run_fails(tmp_path, trial_folder, monkeypatch):
    def no_fit(spec, data=None, **kw):
        raise SpecError("sampler could not start")

    monkeypatch.setattr(bd, "fit", no_fit)
    out = tmp_path / "new" / "results"
    assert main(["fit", str(trial_folder / "model.toml"), "--out", str(out)]) == 2
    assert not out.exists()


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    write_text("old\n", target)

    class Exploding(pd.DataFrame):
        def to_csv(self, path, **kwargs):
            Path(path).write_text("half a ta")
            raise OSError("killed")

    with pytest.raises(OSError, match="killed"):
        write_csv(Exploding({"a": [1]}), target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.slow
def test_a_killed_fit_leaves_the_earlier_results_intact(tmp_path, trial_folder):
    """``bayesdose fit --force`` killed (SIGKILL) while writing its results: the folder
    keeps the earlier run's files, and the next run clears the killed run's staging."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.nc").write_bytes(b"earlier fit")
    (out / "effect.csv").write_text("earlier,effect\n")
    before = snapshot(out)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([*cli_command(), "fit", str(trial_folder / "model.toml"), "--out",
                             str(out), "--force", *SMALL], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        found = [p for p in staging_left(tmp_path) if (p / "new" / "fit.nc").exists()]
        if found:
            staged = found[0]
            time.sleep(0.2)  # let it write a little more, then kill it mid-way
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert staged is not None, "the run finished before it could be killed"
    assert snapshot(out) == before
    with staged_folder(out, replaces=[]) as stage:  # the next run clears the dead staging
        (stage / "later.txt").write_text("later")
    assert not staging_left(tmp_path, out)
    assert (out / "fit.nc").read_bytes() == b"earlier fit"


# ---------------------------------------------------------------- nothing is executed
FORBIDDEN_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "yaml",
                     "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def test_the_package_never_unpickles_evaluates_or_executes():
    found = []
    for path in sorted((ROOT / "bayesdose").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names = [node.func.id] if node.func.id in FORBIDDEN_CALLS else []
            else:
                continue
            bad = [n for n in names if n in FORBIDDEN_MODULES | FORBIDDEN_CALLS]
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in bad]
    assert not found, found


@pytest.fixture
def saved(tmp_path, frame) -> Path:
    data = bd.TrialData.from_frame(frame, patient="subject", dose="dose_mg", time="week",
                                   outcome="endpoint", value="score")
    return fixed_linear_fit(data, seed=1).save(tmp_path / "fit.nc")


def test_loading_a_fit_never_unpickles(saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    fit = bd.load_fit(saved)
    assert fit.outcomes == ["pain"]


def rewrite_config(path: Path, target: Path, change) -> Path:
    with xr.open_datatree(path, engine="h5netcdf") as stored:
        idata = stored.load().copy()
    attrs = idata["constant_data"].attrs
    attrs[CONFIG_ATTR] = change(attrs[CONFIG_ATTR])
    idata.to_netcdf(target, engine="h5netcdf")
    return target


PAYLOAD = "__import__('os').system('touch {marker}')"


@pytest.mark.parametrize("where", ["config", "dose_shape", "prior", "outcome_info"])
def test_payloads_in_a_saved_fit_are_refused(saved, tmp_path, capsys, where):
    marker = tmp_path / "EXECUTED"
    code = PAYLOAD.format(marker=marker)
    pickled = pickle.dumps(os.system, protocol=0).decode("latin-1")

    def change(text: str) -> str:
        config = json.loads(text)
        if where == "config":
            return pickled + code
        if where == "dose_shape":
            config["model"]["dose_shape"] = code
        elif where == "prior":
            config["model"]["priors"] = {"delta": {"distribution": code, "sigma": 1}}
        else:
            config["data"]["outcome_info"]["pain"]["direction"] = pickled
        return json.dumps(config)

    bad = rewrite_config(saved, tmp_path / "bad.nc", change)
    out = tmp_path / "report"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(bad) in line or where != "config"
    assert not marker.exists() and not out.exists()
    with pytest.raises(BayesdoseError):
        from bayesdose.model.dose_response import load_fit

        load_fit(bad)


def test_a_pickle_file_is_not_a_fit(tmp_path):
    path = tmp_path / "fit.nc"
    path.write_bytes(pickle.dumps({"posterior": [1, 2, 3]}))
    with pytest.raises(DataError, match="not a readable netCDF fit"):
        bd.load_fit(path)


def test_model_file_payloads_stay_text(tmp_path, frame):
    marker = tmp_path / "EXECUTED"
    pickled = pickle.dumps(os.system, protocol=0).decode("latin-1")
    frame.to_csv(tmp_path / "trial.csv", index=False)
    text = (f'name = {json.dumps(pickled)}\ndescription = "{PAYLOAD.format(marker=marker)}"\n'
            '[data]\nsource = "trial.csv"\npatient = "subject"\ndose = "dose_mg"\n'
            'time = "week"\noutcome = "endpoint"\nvalue = "score"\n'
            f'dose_unit = {json.dumps(pickled)}\n')
    path = tmp_path / "model.toml"
    path.write_text(text, encoding="utf-8")
    spec = ModelSpec.from_toml(path)
    assert spec.name == pickled  # kept as text
    assert spec.load_data().dose_unit == pickled
    assert not marker.exists()


# ---------------------------------------------------------------- paths in model files
LONG_DATA = ('[data]\nsource = "{source}"\npatient = "subject"\ndose = "dose_mg"\n'
             'time = "week"\noutcome = "endpoint"\nvalue = "score"\n')


def model_in(folder: Path, source: str) -> ModelSpec:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.toml"
    path.write_text(LONG_DATA.format(source=source), encoding="utf-8")
    return ModelSpec.from_toml(path)


@pytest.mark.parametrize("source", ["../../etc/passwd", "/etc/passwd", "../trial.csv",
                                    "data/../../trial.csv", "ABSOLUTE", "~/trial.csv"])
def test_a_model_file_cannot_name_a_file_outside_its_folder(tmp_path, frame, source):
    frame.to_csv(tmp_path / "trial.csv", index=False)
    if source == "ABSOLUTE":
        source = str(tmp_path / "trial.csv")
    spec = model_in(tmp_path / "models", source)
    with pytest.raises((SpecError, DataError)) as info:
        spec.load_data()
    message = str(info.value)
    if source.startswith("~"):  # not expanded: a file named '~' below the folder
        assert "does not exist" in message
        return
    assert isinstance(info.value, SpecError)
    assert "data.source" in message and repr(source) in message
    assert "outside the model file's folder" in message and "--data" in message


def test_links_out_of_the_folder_count_as_outside(tmp_path, frame):
    outside = tmp_path / "outside"
    outside.mkdir()
    frame.to_csv(outside / "trial.csv", index=False)
    models = tmp_path / "models"
    models.mkdir()
    (models / "data").symlink_to(outside, target_is_directory=True)
    spec = model_in(models, "data/trial.csv")
    with pytest.raises(SpecError, match=r"data\.source 'data/trial\.csv' points outside"):
        spec.load_data()


def test_files_below_the_model_folder_and_links_within_it_are_allowed(tmp_path, frame):
    models = tmp_path / "models"
    (models / "data" / "2024").mkdir(parents=True)
    frame.to_csv(models / "data" / "2024" / "trial.csv", index=False)
    assert model_in(models, "data/2024/trial.csv").load_data().patients
    (models / "data" / "latest.csv").symlink_to(models / "data" / "2024" / "trial.csv")
    assert model_in(models, "data/latest.csv").load_data().patients
    assert model_in(models, "./data/../data/latest.csv").load_data().patients


def test_the_command_line_may_name_data_anywhere(tmp_path, frame, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    frame.to_csv(elsewhere / "trial.csv", index=False)
    models = tmp_path / "models"
    model_in(models, "../../etc/passwd")
    seen = {}

    def fake_fit(spec, data=None, **kw):
        seen["patients"] = data.patients
        raise SpecError("stop here")

    monkeypatch.setattr(bd, "fit", fake_fit)
    assert main(["fit", str(models / "model.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "data.source" in one_line_error(capsys.readouterr().err)
    assert main(["fit", str(models / "model.toml"), "--data", str(elsewhere / "trial.csv"),
                 "--out", str(tmp_path / "o")]) == 2
    assert seen["patients"] == [f"p{i}" for i in range(6)]


def test_model_files_shipped_with_data_below_them_still_load():
    shipped = [p for p in sorted((ROOT / "models").glob("*.toml")) if "design" not in p.name]
    below = []
    for path in shipped:
        spec = ModelSpec.from_toml(path)
        if spec.has_arm_data:  # arm-level summaries: studies and their arms
            below.append(path.name)
            assert spec.arm.load_data().studies
        source = spec.data.get("source", "")
        if spec.data and not source.startswith("embedded:"):
            below.append(path.name)
            assert spec.load_data().patients
    if (ROOT / "models" / "data").is_dir():
        assert below, "models/data/ holds data but no model file names it"


# ---------------------------------------------------------------- what a fit records
def test_a_saved_fit_records_versions_the_spec_and_the_seed(small_fit, tmp_path):
    loaded = bd.load_fit(small_fit.save(tmp_path / "fit.nc"))
    config = read_config(loaded.idata)
    versions = config["versions"]
    for package in ("bayesdose", "pymc", "pytensor", "arviz", "numpy"):
        assert versions.get(package), f"{package} version not recorded"
    assert config["spec"]["name"] == "e2e" and config["spec"]["sampler"]["random_seed"] == 11
    assert loaded.settings["random_seed"] == 11
    assert config["spec"] == ModelSpec.from_dict(config["spec"]).to_dict()


def test_a_saved_fit_records_the_python_version(small_fit):
    import platform

    assert read_config(small_fit.idata)["versions"].get("python") == platform.python_version()



# ---------------------------------------------------------------- reproducibility
REFIT = """
import sys
import bayesdose as bd
spec = bd.ModelSpec.from_toml(sys.argv[1])
bd.fit(spec, draws=30, tune=30, chains=1, progressbar=False).save(sys.argv[2])
"""
TIMING = {"sampling_time", "process_time_diff", "perf_counter_diff", "perf_counter_start"}


#: Deterministics recomputed from the draws, and the predictive draws made from them:
#: equal up to rounding (relative 1e-12).
ROUNDED = {(group, name) for group in ("posterior", "prior")
           for name in ("effect", "patient_effect")} | {
    (group, "change") for group in ("posterior_predictive", "prior_predictive")}


@pytest.mark.slow
def test_the_same_data_spec_and_seed_give_identical_numbers_in_another_process(
        trial_folder, tmp_path):
    """A real MCMC fit of the module's model file, run again in a fresh Python process
    (another hash seed too), gives the same draws, bit for bit, in every group. Only the
    deterministic read-outs computed from the draws (``effect``, ``patient_effect``) and
    the predictive draws made from them may differ by rounding (relative 1e-12), where the
    other process compiled their function differently."""
    small_fit = bd.fit(ModelSpec.from_toml(trial_folder / "model.toml"), draws=30, tune=30,
                       chains=1, progressbar=False)
    target = tmp_path / "again.nc"
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", REFIT, str(trial_folder / "model.toml"),
                             str(target)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    again = bd.load_fit(target)
    groups = set(small_fit.idata.children)
    assert groups == set(again.idata.children)
    compared = 0
    for group in sorted(groups):
        mine, theirs = small_fit.idata[group].to_dataset(), again.idata[group].to_dataset()
        for name, values in mine.data_vars.items():
            if group == "sample_stats" and name in TIMING:
                continue
            same = (values.dtype == theirs[name].dtype
                    or values.dtype.kind == theirs[name].dtype.kind == "U")  # text width
            assert same, f"{group}/{name}"
            if (group, name) in ROUNDED and values.dtype.kind == "f":
                np.testing.assert_allclose(theirs[name].to_numpy(), values.to_numpy(),
                                           rtol=1e-12, atol=1e-12,
                                           err_msg=f"{group}/{name} differs")
            else:
                np.testing.assert_array_equal(theirs[name].to_numpy(), values.to_numpy(),
                                              err_msg=f"{group}/{name} differs")
            compared += 1
    assert compared > 10
    pd.testing.assert_frame_equal(again.contrast(dose=50, reference=1, time=12),
                                  small_fit.contrast(dose=50, reference=1, time=12),
                                  check_exact=False, rtol=1e-12, atol=1e-12)
    assert read_config(again.idata)["sampler"] == read_config(small_fit.idata)["sampler"]


def test_simulate_does_not_write_into_a_folder_of_other_results(earlier_results, capsys):
    before = snapshot(earlier_results)
    design = ROOT / "models" / "msc_phase2_design.toml"
    assert main(["simulate", str(design), "--reps", "2", "--workers", "1", "--no-progress",
                 "--out", str(earlier_results)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "not this design file's simulation" in line and "--force" in line
    assert snapshot(earlier_results) == before
