"""The bayesdose command: help, exit codes, one-line errors and the files a fit writes."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesdose as bd
from bayesdose.cli.commands import main
from bayesdose.design.trials import simulate_trial
from bayesdose.results.storage import read_config

ENV = {**os.environ, "MPLBACKEND": "Agg"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHECKS = {"r_hat", "ess_bulk", "ess_tail", "divergences", "e_bfmi", "tree_depth",
          "pareto_k", "prior_conflict"}
CONTRAST_COLUMNS = ["outcome", "dose", "reference", "time", "mean", "sd", "median", "ci_low",
                    "ci_high", "direction", "mcid", "mcid_scale", "prob_gt_0", "prob_gt_mcid",
                    "dose_status", "reference_status", "dose_unit", "time_unit"]
RESULT_FILES = {"fit.nc", "effect.csv", "contrasts.csv", "diagnostics.csv",
                "parameter_diagnostics.csv", "pareto_k.csv", "predictive_check.csv",
                "parameters.csv", "priors.csv", "missing.csv", "scales.csv", "ed50.csv",
                "minimum_effective_dose.csv", "prob_increasing.csv",
                "time_to_half_effect.csv", "report.html", "report.md", "figures",
                "summary.txt"}
FIGURES = {"trace.png", "dose_response.png", "time_course.png", "predictive_check.png"}

# the columns of the CSVs written below, as a model file's [data] section maps them
MODEL = """
name = "e2e"
[data]
source = "trial.csv"
patient = "subject"
dose = "dose_mg"
time = "month"
outcome = "endpoint"
value = "score"
dose_unit = "mg"
time_unit = "months"

[outcomes.score]
direction = "higher_is_better"
mcid = 5

[model]
dose_shape = "linear"
time_shape = "exponential"

[priors.delta]
distribution = "Normal"
mu = 0
sigma = 0.8

[sampler]
draws = 1000
tune = 1000
chains = 4
random_seed = 11

[estimands]
times = [12]
contrasts = [[50, 1], [10, 1]]
ci_prob = 0.9
"""


def cli_command() -> list[str]:
    """The installed console script of this interpreter, else ``python -m bayesdose.cli``."""
    beside = Path(sys.executable).with_name("bayesdose")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("bayesdose")
    return [found] if found else [sys.executable, "-m", "bayesdose.cli"]


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_trial(folder: Path, name: str = "trial.csv", seed: int = 5) -> Path:
    sim = simulate_trial(dose_shape="linear", shape_params={"delta": 1.0, "log_t_half": -1.6},
                         n_per_arm=4, seed=seed)
    frame = sim.data.to_frame().rename(columns={
        "patient": "subject", "dose": "dose_mg", "time": "month", "outcome": "endpoint",
        "value": "score"})
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def write_model(folder: Path, text: str = MODEL, name: str = "model.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("bayesdose: error: ")
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- help
HELP = {"top": [], "fit": ["fit"], "demo": ["demo"]}


#: The --help runs made as processes: the console script and ``python -m bayesdose.cli``
#: (the entry points); the other commands' help is read in this process.
HELP_PROCESSES = ("top",)


def _help_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*args, "--help"])
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory):
    """Every --help; the processes run at once (each imports PyMC, which takes seconds)."""
    cwd = tmp_path_factory.mktemp("help")
    commands = {key: [*cli_command(), *HELP[key], "--help"] for key in HELP_PROCESSES}
    commands["module"] = [sys.executable, "-m", "bayesdose.cli", "fit", "--help"]
    procs = {key: subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
             for key, cmd in commands.items()}
    results = {key: _help_in_process(args) for key, args in HELP.items()
               if key not in HELP_PROCESSES}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[key] = (proc.returncode, out, err)
    assert not list(cwd.iterdir()), "--help wrote files"
    return results


@pytest.mark.parametrize(
    ("key", "needles"),
    [
        ("top", ["usage: bayesdose", "fit", "demo", "Exit codes: 0 success, 1 diagnostics "
                 "failed, 2 bad input"]),
        ("fit", ["usage: bayesdose fit", "model", "--data", "--out", "--force", "--draws",
                 "--tune", "--chains", "--seed", "--sampler"]),
        ("demo", ["usage: bayesdose demo", "--out", "--force", "--draws"]),
        ("module", ["usage: bayesdose fit", "--data", "--out"]),
    ],
)
def test_help(help_runs, key, needles):
    code, out, err = help_runs[key]
    assert code == 0, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in out


# ---------------------------------------------------------------- bad input: exit 2
def test_missing_model_file_exits_2_with_one_line(tmp_path):
    result = run_cli(["fit", "no_such_model.toml", "--out", "out"], cwd=tmp_path)
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert "no_such_model.toml" in line and "does not exist" in line
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_malformed_csv_exits_2_naming_column_and_line(tmp_path, capsys):
    model = write_model(tmp_path)
    bad = write_trial(tmp_path, "bad.csv")
    lines = bad.read_text().splitlines()
    fields = lines[3].split(",")  # CSV line 4
    fields[1] = "ten"
    lines[3] = ",".join(fields)
    bad.write_text("\n".join(lines) + "\n")
    code = main(["fit", str(model), "--data", str(bad), "--out", str(tmp_path / "out")])
    assert code == 2
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert "'dose_mg'" in line and "'ten'" in line and "line 4" in line
    assert not (tmp_path / "out" / "fit.nc").exists()


def test_non_empty_output_folder_is_kept_without_force(tmp_path, capsys):
    model = write_model(tmp_path)
    write_trial(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "fit.nc").write_bytes(b"earlier results")
    code = main(["fit", str(model), "--out", str(out)])
    assert code == 2
    line = one_line_error(capsys.readouterr().err)
    assert "not empty" in line and "--force" in line
    assert sorted(p.name for p in out.iterdir()) == ["fit.nc"]
    assert (out / "fit.nc").read_bytes() == b"earlier results"


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        (MODEL.replace("dose_shape =", "dose_shap ="), "model.dose_shap"),
        (MODEL.replace('source = "trial.csv"', 'source = "../trial.csv"'), "--data"),
        (MODEL.replace("ci_prob = 0.9", "ci_prob = 1.5"), "estimands.ci_prob"),
        ("[model\n", "not valid TOML"),
    ],
    ids=["unknown-field", "source-outside", "bad-estimand", "bad-toml"],
)
def test_bad_model_file_exits_2(tmp_path, capsys, toml, needle):
    write_trial(tmp_path)
    model = write_model(tmp_path, toml)
    assert main(["fit", str(model), "--out", str(tmp_path / "out")]) == 2
    assert needle in one_line_error(capsys.readouterr().err)


def test_output_path_that_is_a_file_exits_2(tmp_path, capsys):
    model = write_model(tmp_path)
    write_trial(tmp_path)
    (tmp_path / "out").write_text("a file")
    assert main(["fit", str(model), "--out", str(tmp_path / "out")]) == 2
    assert "is a file" in one_line_error(capsys.readouterr().err)
    assert (tmp_path / "out").read_text() == "a file"


@pytest.mark.parametrize(
    "toml",
    [MODEL.replace("random_seed = 11", 'random_seed = 11\ntarget_accept = "high"'),
     MODEL.replace("mcid = 5", 'mcid = "5"')],
    ids=["target_accept", "mcid"],
)
def test_wrongly_typed_settings_exit_2(tmp_path, capsys, toml):
    write_trial(tmp_path)
    model = write_model(tmp_path, toml)
    assert main(["fit", str(model), "--out", str(tmp_path / "out"), "--draws", "10",
                 "--tune", "10", "--chains", "1"]) == 2
    one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------- fits
def test_fit_exits_1_when_diagnostics_fail(tmp_path, capsys, prior_sampler):
    """10 prior draws per chain in place of sampling: the ESS check fails."""
    model = write_model(tmp_path)
    write_trial(tmp_path)
    out = tmp_path / "out"
    code = main(["fit", str(model), "--out", str(out), "--draws", "10", "--tune", "10",
                 "--chains", "2"])
    assert code == 1
    captured = capsys.readouterr()
    assert "Diagnostics FAILED" in captured.out
    diagnostics = pd.read_csv(out / "diagnostics.csv", keep_default_na=False)
    assert set(diagnostics["check"]) == CHECKS
    ess = diagnostics.set_index("check").loc["ess_bulk"]
    assert str(ess["passed"]) == "False"
    assert float(ess["value"]) < float(ess["threshold"]) == 400
    assert ess["advice"].strip() and ess["worst"].strip()
    # every failed check carries advice; passed ones none
    for row in diagnostics.itertuples():
        assert bool(row.advice.strip()) == (str(row.passed) == "False")
    assert RESULT_FILES <= {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_fit_end_to_end_as_a_subprocess(tmp_path):
    write_trial(tmp_path)
    write_model(tmp_path)
    out = tmp_path / "results"
    result = run_cli(["fit", "model.toml", "--out", str(out), "--draws", "150", "--tune", "150",
                      "--chains", "2"], cwd=tmp_path, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert f"to {out}" in result.stdout
    files = {p.name for p in out.iterdir()}
    assert files == RESULT_FILES  # and no temporary files left behind

    # exit code agrees with the diagnostics table
    diagnostics = pd.read_csv(out / "diagnostics.csv", keep_default_na=False)
    assert set(diagnostics["check"]) == CHECKS and len(diagnostics) == len(CHECKS)
    failed = diagnostics["passed"].astype(str) == "False"
    in_verdict = diagnostics["verdict"].astype(str) == "True"
    assert result.returncode == (1 if (failed & in_verdict).any() else 0)
    assert all(diagnostics.loc[failed, "advice"].str.strip() != "")

    # fit.nc reloads, with the model file's settings and the command line's overrides
    fit = bd.load_fit(out / "fit.nc")
    assert fit.outcomes == ["score"]
    assert fit.model.dose_shape.name == "linear"
    assert fit.model.priors["delta"].to_dict() == {"dist": "Normal",
                                                   "kwargs": {"mu": 0, "sigma": 0.8}}
    effect = fit.idata.posterior["effect"]
    assert effect.dims == ("chain", "draw", "outcome", "dose", "time")
    assert effect.sizes["chain"] == 2 and effect.sizes["draw"] == 150
    assert fit.settings["draws"] == 150 and fit.settings["random_seed"] == 11
    assert read_config(fit.idata)["spec"]["name"] == "e2e"
    assert fit.data.doses == [1.0, 10.0, 50.0] and len(fit.data.patients) == 12

    # contrasts.csv: the estimands asked for, equal to the loaded fit's own contrasts
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert list(contrasts.columns) == CONTRAST_COLUMNS
    assert contrasts[["dose", "reference", "time"]].values.tolist() == [[50, 1, 12], [10, 1, 12]]
    assert (contrasts["mcid"] == 5).all()
    for row in contrasts.itertuples():
        again = fit.contrast(dose=row.dose, reference=row.reference, time=[12], ci_prob=0.9)
        assert row.mean == pytest.approx(again["mean"].iloc[0], rel=1e-9)
        assert row.ci_low == pytest.approx(again["ci_low"].iloc[0], rel=1e-9)
        assert row.prob_gt_mcid == pytest.approx(again["prob_gt_mcid"].iloc[0])
    assert not contrasts[["mean", "sd", "ci_low", "ci_high"]].isna().any().any()
    assert (contrasts["ci_low"] < contrasts["mean"]).all()
    assert (contrasts["mean"] < contrasts["ci_high"]).all()
    # effect.csv: against the lowest tested dose (no placebo arm), equal-tailed intervals
    effects = pd.read_csv(out / "effect.csv")
    assert set(effects["reference"]) == {1.0} and set(effects["reference_status"]) == {"tested"}
    draws = fit.effect_draws(dose=50, time=12).sel(dose=50, time=12).values.reshape(-1)
    row = effects[(effects["dose"] == 50) & (effects["time"] == 12)].iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        tuple(np.quantile(draws, [0.05, 0.95])), rel=1e-9)
    assert "dose 1 (lowest tested; no placebo arm)" in (out / "summary.txt").read_text()

    figures = {p.name for p in (out / "figures").iterdir()}
    assert FIGURES <= figures and any(name.startswith("contrast_forest") for name in figures)
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG_MAGIC
    assert (out / "figures" / "dose_response.png").stat().st_size > 5000
    page = (out / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(figures)
    ed50 = pd.read_csv(out / "ed50.csv")
    assert set(ed50["outcome"]) == {"score"} and (ed50["median"] > 0).all()

    priors = pd.read_csv(out / "priors.csv").set_index("parameter")
    assert {"delta", "log_t_half", "course", "sigma"} <= set(priors.index)
    assert "log_ed50" not in priors.index  # linear dose shape
    assert not priors.loc["delta", "default"]
    assert priors.loc["delta", "reason"] == "set by the user"

    effects = pd.read_csv(out / "effect.csv")
    assert set(effects["time"]) == {12}
    assert "Diagnostics" in (out / "summary.txt").read_text()


def test_atomic_outputs_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from bayesdose.files.output import write_text

    target = write_text("x", tmp_path / "out.txt")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_compare_refuses_one_model_and_repeated_names(tmp_path, capsys):
    model = write_model(tmp_path)
    write_trial(tmp_path)
    assert main(["compare", str(model), "--out", str(tmp_path / "one")]) == 2
    assert "at least two model files" in capsys.readouterr().err
    assert main(["compare", str(model), str(model), "--out", str(tmp_path / "two")]) == 2
    assert "share the name" in capsys.readouterr().err
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()


@pytest.mark.slow
def test_compare_two_model_files(tmp_path, capsys):
    write_trial(tmp_path)
    linear = write_model(tmp_path, MODEL, "linear.toml")
    emax = write_model(tmp_path, MODEL.replace('name = "e2e"', 'name = "emax"').replace(
        'dose_shape = "linear"', 'dose_shape = "emax"').replace(
        '[priors.delta]\ndistribution = "Normal"\nmu = 0\nsigma = 0.8\n', ''), "emax.toml")
    out = tmp_path / "cmp"
    code = main(["compare", str(linear), str(emax), "--out", str(out), "--draws", "300",
                 "--tune", "300", "--chains", "2"])
    assert code in (0, 1)
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["model"]) == {"e2e", "emax"}
    assert table["weight"].sum() == pytest.approx(1.0)
    averaged = pd.read_csv(out / "averaged_contrasts.csv")
    assert averaged[["dose", "reference", "time"]].values.tolist() == [[50, 1, 12], [10, 1, 12]]
    assert (averaged["min_model_mean"] <= averaged["mean"] + 1e-9).all()
    assert (averaged["mean"] <= averaged["max_model_mean"] + 1e-9).all()
    signal = pd.read_csv(out / "signal.csv")
    # tested once, on a free per-dose refit of the first candidate (neither is free)
    assert set(signal["model"]) == {"e2e"}
    assert set(signal["tested_on"]) == {"free per-dose refit of the linear fit"}
    for name in ("e2e", "emax"):
        assert bd.load_fit(out / name / "fit.nc").settings["draws"] == 300
    assert (out / "candidates.png").read_bytes()[:8] == PNG_MAGIC
    assert "Candidates ranked" in capsys.readouterr().out
