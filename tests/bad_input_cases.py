"""Every class of bad input and the error bayesdose gives for it.

Each case builds its input in an empty working folder and returns the exception raised;
:func:`markdown_table` runs them all and renders the table of
``docs/guides/bad_input.md`` (between the lines ``% bad_input_cases.py:start`` and
``% bad_input_cases.py:end``). Run this file to print the table::

    python tests/bad_input_cases.py
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import bayesdose as bd
from bayesdose.errors import BayesdoseError

LONG = {"patient": "subject", "dose": "dose_mg", "time": "week", "outcome": "endpoint",
        "value": "score"}
MODEL_HEAD = ('[data]\nsource = "trial.csv"\npatient = "subject"\ndose = "dose_mg"\n'
              'time = "week"\noutcome = "endpoint"\nvalue = "score"\n')


def trial() -> pd.DataFrame:
    """A valid long table: 6 patients at doses 1, 10, 50; weeks 0 (baseline), 3, 12."""
    rows = []
    for i, dose in enumerate([1, 1, 10, 10, 50, 50]):
        for week, delta in ((0, 0.0), (3, 5.0 + i), (12, 8.0 + 2 * i)):
            rows.append({"subject": f"p{i}", "dose_mg": dose, "week": week,
                         "endpoint": "pain", "score": 40.0 + 3 * i + delta})
    return pd.DataFrame(rows)


def frame_with(base: pd.DataFrame | None = None, **cells) -> pd.DataFrame:
    """The trial (or ``base``) with cells replaced: ``column=(row, value)``."""
    frame = trial() if base is None else base
    for column, (row, value) in cells.items():
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = value
    return frame


def with_covariates(**patients) -> pd.DataFrame:
    """The trial with a ``sex`` and an ``age`` per patient; ``column=(patient, value)``
    sets a patient's value on all of the patient's rows."""
    frame = trial()
    frame["sex"] = frame["subject"].map(dict(zip([f"p{i}" for i in range(6)], "FMFMFM",
                                                 strict=True)))
    frame["age"] = frame["subject"].map({f"p{i}": 40 + 5 * i for i in range(6)})
    for column, (patient, value) in patients.items():
        frame[column] = frame[column].astype(object)
        frame.loc[frame["subject"] == patient, column] = value
    return frame


def from_frame(frame: pd.DataFrame, **extra) -> None:
    bd.TrialData.from_frame(frame, **{**LONG, **extra})


def from_csv(text: str, **extra) -> None:
    Path("trial.csv").write_text(text, encoding="utf-8")
    bd.TrialData.from_csv("trial.csv", **{**LONG, **extra})


def csv_of(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def model_file(text: str) -> None:
    trial().to_csv("trial.csv", index=False)
    Path("model.toml").write_text(text, encoding="utf-8")
    spec = bd.ModelSpec.from_toml("model.toml")
    spec.load_data()


def to_fit(frame: pd.DataFrame, **model) -> None:
    data = bd.TrialData.from_frame(frame, **LONG)
    bd.DoseResponseModel(**model).prior_table(data)


class CommandError(BayesdoseError):
    """What the command line printed on stderr, with exit status 2."""


def command(*argv: str) -> None:
    """Run the command line; raise its one-line error as a :class:`CommandError`."""
    from bayesdose.cli.commands import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    assert code == 2, (code, err.getvalue())
    raise CommandError(err.getvalue().strip())


def fit_file(content: bytes | None = None, config: str | None = None) -> None:
    """A saved fit: raw bytes, or a netCDF file whose stored configuration is ``config``."""
    import arviz as az

    if content is not None:
        Path("fit.nc").write_bytes(content)
    else:
        idata = az.from_dict({"posterior": {"x": np.zeros((1, 5))}})
        if config is not None:
            constant = xr.Dataset({"y": ("row", np.zeros(1))},
                                  attrs={"bayesdose_config": config})
            idata["constant_data"] = constant
        idata.to_netcdf("fit.nc")
    command("report", "fit.nc", "--out", "report")


def with_folder(name: str, *files: str) -> None:
    Path(name).mkdir()
    for file in files:
        Path(name, file).write_text("earlier")


@dataclass
class Case:
    """One class of bad input: where it is, what it is, an example, how to trigger it."""

    where: str
    what: str
    example: str
    run: Callable[[], None]


COUNT_COLUMNS = {"patient": "subject", "dose": "dose_mg", "count": "n_events",
                 "exposure": "years"}


def counts() -> pd.DataFrame:
    """Adverse-event counts of six patients with their follow-up in years."""
    return pd.DataFrame({"subject": [f"p{i}" for i in range(6)],
                         "dose_mg": [0, 0, 10, 10, 50, 50],
                         "n_events": [0, 1, 2, 0, 3, 1],
                         "years": [1.0, 0.5, 1.0, 1.0, 0.75, 1.0]})


def event_counts(**patients) -> None:
    """Counts with the given (patient, value) cells set, read as SafetyCountData."""
    frame = counts()
    for column, (patient, value) in patients.items():
        frame[column] = frame[column].astype(object)
        frame.loc[frame["subject"] == patient, column] = value
    bd.SafetyCountData.from_frame(frame, **COUNT_COLUMNS)


def with_flag(row: int, flag: str, value: float | None = None) -> pd.DataFrame:
    """The trial with a censoring flag column ``blq``: ``flag`` at ``row``, whose value
    becomes ``value`` (empty by default)."""
    return frame_with(base=trial().assign(blq=""), blq=(row, flag), score=(row, value))


def censored_fit(frame: pd.DataFrame, analysis: str = "auto", **info) -> None:
    data = bd.TrialData.from_frame(frame, **LONG, censored="blq",
                                   outcome_info={"pain": info})
    bd.DoseResponseModel(analysis=analysis).prior_table(data)


SAFETY_HEAD = ('[safety]\nsource = "ae.csv"\npatient = "subject"\ndose = "dose_mg"\n'
               'count = "n_events"\n')


def safety_file(text: str) -> None:
    """A model file with a ``[safety]`` section over :func:`counts`, read and its data loaded."""
    counts().to_csv("ae.csv", index=False)
    Path("model.toml").write_text(text, encoding="utf-8")
    bd.ModelSpec.from_toml("model.toml").safety.load_data()


ARM_COLUMNS = {"study": "trial", "agent": "drug", "dose": "mg", "time": "week",
               "mean": "cfb", "se": "se", "n": "n"}


def arm_summaries() -> pd.DataFrame:
    """Arm-level summaries of two studies (placebo and X at 10 and 50 mg; placebo and
    50 mg) at weeks 4 and 12."""
    rows = [{"trial": study, "drug": "placebo" if dose == 0 else "X", "mg": dose,
             "week": week, "cfb": -0.01 * dose - 0.02 * week, "se": 0.2, "n": 40}
            for study, doses in (("S1", (0, 10, 50)), ("S2", (0, 50)))
            for dose in doses for week in (4, 12)]
    return pd.DataFrame(rows)


def arm_data(frame: pd.DataFrame, **extra) -> None:
    bd.ArmData.from_frame(frame, **{**ARM_COLUMNS, **extra})


def _copy_forward() -> pd.DataFrame:
    frame = trial()
    frame["score"] = frame.groupby("subject")["score"].transform("first")
    return frame


CASES = [
    # ------------------------------------------------------------ trial data
    Case("data", "a required column is missing or renamed", "no column `dose_mg`",
         lambda: from_frame(trial().rename(columns={"dose_mg": "dose"}))),
    Case("data", "the same column named for two roles", "`time=\"dose_mg\"`",
         lambda: from_frame(trial(), time="dose_mg")),
    Case("data", "a non-numeric dose, time or value", "`5 mg` in `dose_mg`",
         lambda: from_frame(frame_with(dose_mg=(4, "5 mg")))),
    Case("data", "a value of the wrong type", "`True` as a dose",
         lambda: from_frame(trial().assign(dose_mg=trial()["dose_mg"] > 5))),
    Case("data", "an empty patient, dose, time or outcome", "empty `week` in a row",
         lambda: from_frame(frame_with(week=(3, None)))),
    Case("data", "an infinite number", "`inf` as a value",
         lambda: from_frame(frame_with(score=(5, np.inf)))),
    Case("data", "a negative dose", "`-1` mg",
         lambda: from_frame(trial().assign(dose_mg=trial()["dose_mg"].where(
             trial()["subject"] != "p1", -1)))),
    Case("data", "a patient with two doses", "p0 at 1 and 10 mg",
         lambda: from_frame(frame_with(dose_mg=(2, 10)))),
    Case("data", "duplicated patient x time x outcome rows", "row 7 twice",
         lambda: from_frame(pd.concat([trial(), trial().iloc[[7]]], ignore_index=True))),
    Case("model", "no baseline row in the change-from-baseline analysis",
         "p5 has no week 0, `analysis=\"change\"`",
         lambda: to_fit(trial().drop(index=15), analysis="change")),
    Case("model", "an unknown analysis of the baseline", "`analysis=\"ancova\"`",
         lambda: to_fit(trial(), analysis="ancova")),
    Case("model", "an ordinal outcome with missing baselines", "p5 has no week 0",
         lambda: to_fit(trial().drop(index=15).assign(score=lambda f: (f["score"] // 10)),
                        likelihood="ordinal")),
    Case("data", "an empty actual time after baseline", "`actual_time=\"day\"`, row 4 empty",
         lambda: from_frame(frame_with(trial().assign(day=trial()["week"] * 7.0),
                                       day=(4, None)), actual_time="day")),
    Case("data", "an actual time at or before the baseline", "row 4 at day -2",
         lambda: from_frame(frame_with(trial().assign(day=trial()["week"] * 1.0),
                                       day=(4, -2.0)), actual_time="day")),
    Case("data", "rows before the baseline time", "`baseline_time=3`",
         lambda: from_frame(trial(), baseline_time=3)),
    Case("data", "a value outside the declared scale", "bounds [0, 50]",
         lambda: from_frame(trial(), outcome_info={"pain": {"lower": 0, "upper": 50}})),
    Case("data", "a single dose", "every patient at 10 mg",
         lambda: from_frame(trial().assign(dose_mg=10))),
    Case("data", "an empty table", "a header and no rows",
         lambda: from_csv("subject,dose_mg,week,endpoint,score\n")),
    Case("data", "metadata for an outcome not in the data", "`outcome_info={\"itch\": ...}`",
         lambda: from_frame(trial(), outcome_info={"itch": {"mcid": 1}})),
    Case("data", "metadata of the wrong type", "`mcid=\"ten\"`",
         lambda: from_frame(trial(), outcome_info={"pain": {"mcid": "ten"}})),
    # ------------------------------------------------------------ patient-level covariates
    Case("covariates", "a covariate column not in the table", "`covariates=[\"sx\"]`",
         lambda: from_frame(with_covariates(), covariates=["sx"])),
    Case("covariates", "a missing covariate value", "no `age` for p1",
         lambda: from_frame(with_covariates(age=("p1", None)), covariates=["age"])),
    Case("covariates", "a covariate that varies within a patient",
         "`sex` F then M for p0",
         lambda: from_frame(frame_with(**{"sex": (1, "M")}, base=with_covariates()),
                            covariates=["sex"])),
    Case("covariates", "a categorical covariate with a single level", "every patient F",
         lambda: from_frame(with_covariates().assign(sex="F"), covariates=["sex"])),
    Case("covariates", "a numeric covariate without spread", "every patient aged 50",
         lambda: from_frame(with_covariates().assign(age=50), covariates=["age"])),
    Case("covariates", "text in a covariate declared numeric", "`age` of `fifty`",
         lambda: from_frame(with_covariates(age=("p2", "fifty")),
                            covariates={"age": "numeric"})),
    Case("covariates", "an unknown kind", "`covariates={\"sex\": \"binary\"}`",
         lambda: from_frame(with_covariates(), covariates={"sex": "binary"})),
    Case("model file", "covariates of the wrong type", "`covariates = {sex = \"binary\"}`",
         lambda: model_file(MODEL_HEAD + 'covariates = {sex = "binary"}\n')),
    # ------------------------------------------------------------ detection limits
    Case("detection limits", "an unknown censoring flag", "`BLQ` in the flag column",
         lambda: from_frame(with_flag(4, "BLQ", 47.0), censored="blq")),
    Case("detection limits", "a flagged value left empty, no limit declared",
         "`<` and no `lloq`", lambda: from_frame(with_flag(4, "<"), censored="blq")),
    Case("detection limits", "a limit that is not a positive number", "`lloq=0`",
         lambda: from_frame(trial(), outcome_info={"pain": {"lloq": 0}})),
    Case("detection limits", "a censoring flag on an ordinal outcome", "`<` on a grade",
         lambda: from_frame(with_flag(4, "<", 1.0), censored="blq",
                            outcome_info={"pain": {"likelihood": "ordinal"}})),
    Case("detection limits", "a censored baseline (change from baseline)",
         "p1's week 0 flagged `<`, `analysis=\"change\"`",
         lambda: censored_fit(with_flag(3, "<"), analysis="change", lloq=40.0)),
    Case("model file", "a censoring flag column of the wrong type", "`censored = 3`",
         lambda: model_file(MODEL_HEAD + "censored = 3\n")),
    # ------------------------------------------------------------ arm-level summaries
    Case("arm summaries", "no standard error, and no SD and n", "empty `se` in row 2",
         lambda: arm_data(frame_with(arm_summaries(), se=(2, None)))),
    Case("arm summaries", "neither an SE column nor SDs", "no `se=` and no `sd=`",
         lambda: arm_data(arm_summaries(), se=None)),
    Case("arm summaries", "an SE, SD or n that is not positive", "`se` of `0`",
         lambda: arm_data(frame_with(arm_summaries(), se=(7, 0.0)))),
    Case("arm summaries", "a number of patients that is not whole", "`n` of `40.5`",
         lambda: arm_data(frame_with(arm_summaries(), n=(4, 40.5)))),
    Case("arm summaries", "an arm with two doses (or two agents) in a study",
         "arm `50` at 50 and 40 mg",
         lambda: arm_data(frame_with(arm_summaries().assign(group=lambda f: f["mg"]),
                                     mg=(5, 40)), arm="group")),
    Case("arm summaries", "duplicated study x arm x time x outcome rows", "row 3 twice",
         lambda: arm_data(pd.concat([arm_summaries(), arm_summaries().iloc[[3]]],
                                    ignore_index=True))),
    Case("arm summaries", "a placebo agent at a positive dose", "`Placebo` at 10 mg",
         lambda: arm_data(frame_with(arm_summaries(), drug=(2, "Placebo")))),
    # ------------------------------------------------------------ CSV files
    Case("CSV file", "a row with too many or too few fields", "line 4 has 6 fields",
         lambda: from_csv(csv_of(trial()).replace("p0,1,12,pain,48.0",
                                                  "p0,1,12,pain,48.0,x"))),
    Case("CSV file", "a repeated column name", "two `week` columns",
         lambda: from_csv(csv_of(trial()).replace("endpoint", "week", 1))),
    Case("CSV file", "not comma-separated", "separated by `;`",
         lambda: from_csv(csv_of(trial()).replace(",", ";"))),
    Case("CSV file", "an unterminated quote", "`\"p9,1,0`",
         lambda: from_csv(csv_of(trial()) + '"p9,1,0,pain,3\n')),
    Case("CSV file", "not UTF-8 text", "a Latin-1 `é`",
         lambda: (Path("trial.csv").write_bytes(csv_of(trial()).encode() + "é\n".encode(
             "latin-1")), bd.TrialData.from_csv("trial.csv", **LONG))),
    Case("CSV file", "no such file", "`trial.csv` missing",
         lambda: bd.TrialData.from_csv("trial.csv", **LONG)),
    # ------------------------------------------------------------ data the model cannot use
    Case("model inputs", "an outcome that does not vary", "every value 50",
         lambda: to_fit(trial().assign(score=50.0))),
    Case("model inputs", "changes that do not vary", "baselines carried forward",
         lambda: to_fit(_copy_forward())),
    Case("model inputs", "values beyond floating point", "values around 1e300",
         lambda: to_fit(trial().assign(score=trial()["score"] * 1e300))),
    Case("model inputs", "a lognormal outcome at or below zero", "a value of 0",
         lambda: to_fit(frame_with(score=(4, 0.0)), likelihood="lognormal")),
    # ------------------------------------------------------------ model files
    Case("model file", "not valid TOML", "`[model` without `]`",
         lambda: model_file("[model\n")),
    Case("model file", "an unknown field (a typo)", "`dose_shap = \"emax\"`",
         lambda: model_file(MODEL_HEAD + '[model]\ndose_shap = "emax"\n')),
    Case("model file", "a field of the wrong type", "`draws = \"1000\"`",
         lambda: model_file(MODEL_HEAD + '[sampler]\ndraws = "1000"\n')),
    Case("model file", "a section that is not a table", "`sampler = \"fast\"`",
         lambda: model_file('sampler = "fast"\n')),
    Case("model file", "a missing section", "no `[data]` and no `--data`",
         lambda: model_file('[model]\ndose_shape = "linear"\n')),
    Case("model file", "a non-finite number", "`times = [nan]`",
         lambda: model_file(MODEL_HEAD + "[estimands]\ntimes = [nan]\n")),
    Case("model file", "an unknown choice", "`dose_shape = \"emax2\"`",
         lambda: model_file(MODEL_HEAD + '[model]\ndose_shape = "emax2"\n')),
    Case("model file", "a prior that is not a distribution (or is code)",
         "`distribution = \"__import__('os')\"`",
         lambda: model_file(MODEL_HEAD + "[priors.delta]\ndistribution = \"__import__('os')\"\n")),
    Case("model file", "a prior scale that is not positive", "`sigma = -1`",
         lambda: model_file(MODEL_HEAD + '[priors.delta]\ndistribution = "Normal"\n'
                                         "sigma = -1\n")),
    Case("model file", "an improper prior", "`distribution = \"Flat\"`",
         lambda: model_file(MODEL_HEAD + '[priors.delta]\ndistribution = "Flat"\n')),
    Case("model file", "a data path outside the model file's folder",
         "`source = \"../../etc/passwd\"`",
         lambda: model_file(MODEL_HEAD.replace("trial.csv", "../../etc/passwd"))),
    Case("model file", "an absolute data path", "`source = \"/etc/passwd\"`",
         lambda: model_file(MODEL_HEAD.replace("trial.csv", "/etc/passwd"))),
    Case("model file", "an unknown embedded data set", "`source = \"embedded:other\"`",
         lambda: model_file(MODEL_HEAD.replace("trial.csv", "embedded:other"))),
    # ------------------------------------------------------------ [safety] in model files
    Case("model file", "an unknown `[safety]` field (a typo)", "`exposre = \"years\"`",
         lambda: safety_file(SAFETY_HEAD + 'exposre = "years"\n')),
    Case("model file", "a count model without follow-up time", "`count` and no `exposure`",
         lambda: safety_file(SAFETY_HEAD)),
    Case("model file", "a `[safety]` field the chosen model does not use",
         "`exposure` with `model = \"binary\"`",
         lambda: safety_file(SAFETY_HEAD + 'exposure = "years"\nmodel = "binary"\n')),
    Case("model file", "a safety prior for a parameter the model lacks",
         "`[safety.priors.betta]`",
         lambda: safety_file(SAFETY_HEAD + 'exposure = "years"\n[safety.priors.betta]\n'
                                           'distribution = "Normal"\nsigma = 1\n')),
    Case("model file", "an adverse-event file outside the model file's folder",
         "`source = \"../ae.csv\"`",
         lambda: safety_file(SAFETY_HEAD.replace("ae.csv", "../ae.csv")
                             + 'exposure = "years"\n')),
    # ------------------------------------------------------------ adverse-event counts
    Case("event counts", "a negative or fractional count", "`n_events` of `-1`",
         lambda: event_counts(n_events=("p1", -1))),
    Case("event counts", "no follow-up time, or none left", "`years` of `0`",
         lambda: event_counts(years=("p2", 0.0))),
    Case("event counts", "the same patient and event type twice", "p0's rows repeated",
         lambda: bd.SafetyCountData.from_frame(
             pd.concat([counts(), counts().iloc[:1]], ignore_index=True), **COUNT_COLUMNS)),
    # ------------------------------------------------------------ saved fits
    Case("saved fit", "not a netCDF file (a CSV, a pickle, ...)", "a pickle named `fit.nc`",
         lambda: fit_file(content=b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")),
    Case("saved fit", "a netCDF file not written by bayesdose", "an ArviZ file",
         lambda: fit_file()),
    Case("saved fit", "a damaged stored configuration", "code instead of JSON",
         lambda: fit_file(config="__import__('os').system('id')")),
    # ------------------------------------------------------------ the command line
    Case("command line", "a non-empty output folder without `--force`", "`--out results`",
         lambda: (trial().to_csv("trial.csv", index=False), with_folder("results", "fit.nc"),
                  Path("model.toml").write_text(MODEL_HEAD),
                  command("fit", "model.toml", "--out", "results"))),
    Case("command line", "an output path that is a file", "`--out notes.txt`",
         lambda: (trial().to_csv("trial.csv", index=False), Path("notes.txt").write_text("x"),
                  Path("model.toml").write_text(MODEL_HEAD),
                  command("fit", "model.toml", "--out", "notes.txt"))),
    Case("command line", "no such model file", "`bayesdose fit nope.toml`",
         lambda: command("fit", "nope.toml", "--out", "results")),
    Case("command line", "`--data` for a model file with only `[safety]`",
         "`bayesdose fit safety.toml --data trial.csv`",
         lambda: (counts().to_csv("ae.csv", index=False),
                  Path("safety.toml").write_text(SAFETY_HEAD + 'exposure = "years"\n'),
                  command("fit", "safety.toml", "--data", "trial.csv", "--out", "results"))),
]


#: Shown instead of the temporary working folder in messages that name it.
FOLDER = "/home/me/trial"


def run_case(case: Case) -> str:
    """Run ``case`` in a fresh, empty working folder; return what the user sees."""
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            case.run()
        except CommandError as exc:
            shown = f"`{exc}` (exit status 2)"
        except BayesdoseError as exc:
            shown = f"`{type(exc).__name__}`: {exc}"
        else:
            raise AssertionError(f"no error for {case.what!r}")
        finally:
            os.chdir(here)
        return shown.replace(str(Path(folder).resolve()), FOLDER)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table() -> str:
    """The table of every case: where, what, example, and the error message shown."""
    lines = ["| input | bad | example | what you see |", "|---|---|---|---|"]
    for case in CASES:
        lines.append(f"| {case.where} | {case.what} | {case.example} | "
                     f"{_cell(run_case(case))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    sys.stdout.write(markdown_table() + "\n")
