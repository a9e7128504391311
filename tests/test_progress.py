"""Progress output: shown on a terminal, silent in logs and CI, with one switch (argument >
``BAYESDOSE_PROGRESS`` > automatic) that every progress bar and the command line follow."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_cli import ENV, write_model, write_trial

from bayesdose.cli.commands import build_parser
from bayesdose.design.runner import run_replicates
from bayesdose.errors import SpecError
from bayesdose.progress import PROGRESS_ENV, progress_default, progress_note, resolve_progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return True


@pytest.fixture(autouse=True)
def no_setting(monkeypatch):
    """Each test starts without the switch set (whatever the environment running them)."""
    monkeypatch.delenv(PROGRESS_ENV, raising=False)


@pytest.mark.parametrize(
    ("argument", "environ", "stream", "shown"),
    [
        (True, {PROGRESS_ENV: "0"}, io.StringIO(), True),  # an argument beats the variable
        (False, {PROGRESS_ENV: "1"}, Terminal(), False),
        (None, {PROGRESS_ENV: "1"}, io.StringIO(), True),  # the variable beats automatic
        (None, {PROGRESS_ENV: "0"}, Terminal(), False),
        (None, {PROGRESS_ENV: " TRUE "}, io.StringIO(), True),
        (None, {PROGRESS_ENV: "off", "CI": ""}, Terminal(), False),
        (None, {PROGRESS_ENV: "1", "CI": "true"}, io.StringIO(), True),
        (None, {}, Terminal(), True),  # automatic: a terminal outside CI
        (None, {}, io.StringIO(), False),  # a log file or a pipe
        (None, {"CI": "true"}, Terminal(), False),  # a CI job, even with a terminal
        (None, {"CI": "1"}, Terminal(), False),
        (None, {"CI": "false"}, Terminal(), True),
        (None, {PROGRESS_ENV: ""}, Terminal(), True),  # empty: as if unset
    ],
)
def test_resolve_progress_order(argument, environ, stream, shown):
    assert resolve_progress(argument, stream=stream, environ=environ) is shown


def test_a_closed_or_plain_stream_is_not_a_terminal():
    closed = Terminal()
    closed.close()
    assert resolve_progress(None, stream=closed, environ={}) is False
    assert resolve_progress(None, stream=object(), environ={}) is False


def test_a_wrong_setting_is_refused_naming_the_variable():
    with pytest.raises(SpecError, match=rf"{PROGRESS_ENV}='maybe'.*use 1 .* 0 "):
        resolve_progress(None, environ={PROGRESS_ENV: "maybe"})
    assert resolve_progress(False, environ={PROGRESS_ENV: "maybe"}) is False


def test_the_default_is_set_for_a_block_and_restored(monkeypatch):
    with progress_default(True):
        assert os.environ[PROGRESS_ENV] == "1" and resolve_progress() is True
        assert resolve_progress(False) is False
    assert PROGRESS_ENV not in os.environ
    monkeypatch.setenv(PROGRESS_ENV, "1")
    with progress_default(False):
        assert resolve_progress(stream=Terminal()) is False
    assert os.environ[PROGRESS_ENV] == "1"
    with progress_default(None):
        assert os.environ[PROGRESS_ENV] == "1"


def test_progress_note():
    shown, hidden = io.StringIO(), io.StringIO()
    with progress_note("Compiling the model", True, stream=shown):
        pass
    with progress_note("Compiling the model", None, stream=hidden):  # not a terminal
        pass
    assert shown.getvalue().startswith("Compiling the model ... done (")
    assert shown.getvalue().endswith(" s)\n")
    assert hidden.getvalue() == ""
    failed = io.StringIO()
    with pytest.raises(ValueError), progress_note("Compiling", True, stream=failed):
        raise ValueError("no")
    assert failed.getvalue() == "Compiling ... failed\n"


def _task(index, seed):
    return pd.DataFrame({"estimate": [np.random.default_rng(seed).normal()]})


@pytest.mark.parametrize(("progress", "setting", "shown"),
                         [(None, None, False), (True, None, True), (None, "1", True),
                          (False, "1", False)])
def test_replicate_progress_bar_follows_the_switch(tmp_path, capfd, monkeypatch, progress,
                                                   setting, shown):
    pytest.importorskip("tqdm")
    if setting is not None:
        monkeypatch.setenv(PROGRESS_ENV, setting)
    run_replicates(_task, 3, seed=1, out=tmp_path, workers=1, progress=progress)
    err = capfd.readouterr().err
    assert ("3/3" in err) is shown, err  # tqdm's count of finished replicates


def test_every_command_has_the_progress_switch():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        options = {o for a in command._actions for o in a.option_strings}
        assert {"--progress", "--no-progress"} <= options, name
    fit = ["fit", "model.toml", "--out", "o"]
    assert parser.parse_args(fit).progress is None  # automatic
    assert parser.parse_args([*fit, "--progress"]).progress is True
    assert parser.parse_args([*fit, "--no-progress"]).progress is False


@pytest.mark.slow
def test_a_command_under_pytest_prints_no_progress(tmp_path):
    """``bayesdose fit`` with stderr a pipe (not a terminal): no bar, no note; the same
    command with ``--progress`` shows them."""
    write_trial(tmp_path)
    write_model(tmp_path)
    env = {k: v for k, v in ENV.items() if k != PROGRESS_ENV}
    small = ["--draws", "30", "--tune", "30", "--chains", "1"]
    procs = {flag: subprocess.Popen(
        [sys.executable, "-m", "bayesdose", "fit", "model.toml", "--out", f"out{i}", *small,
         *([flag] if flag else [])], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for i, flag in enumerate(["", "--progress"])}
    done = {flag: (*proc.communicate(timeout=600), proc.returncode)
            for flag, proc in procs.items()}
    _, err, code = done[""]
    assert code in (0, 1), err
    assert "Compiling the model" not in err and "Sampling" not in err
    assert "\r" not in err and "it/s" not in err and "draws/s" not in err.lower()
    assert "Compiling the model ... done" in done["--progress"][1]
