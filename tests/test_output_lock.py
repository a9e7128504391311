"""One run per output folder: a second run on a folder another run is writing stops with a
message naming that run and how to go on, the first run's results are complete, and a
lock left by a killed run is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_cli import ENV, RESULT_FILES, one_line_error, write_model, write_trial

import bayesdose as bd
from bayesdose.cli.commands import build_parser, main
from bayesdose.errors import SpecError
from bayesdose.files.output import (
    LOCK_MARK,
    LOCK_MAX_AGE,
    check_folder,
    folder_lock,
    lock_path,
    staged_folder,
)

BUSY = "is being written by another bayesdose run"

#: A process that holds the lock of argv[1] (writing a.txt into its staging folder), says
#: "held", and finishes (b.txt, then the move into place) once it reads a line.
HOLDER = textwrap.dedent("""
    import sys
    from bayesdose.files.output import staged_folder
    with staged_folder(sys.argv[1], replaces=["a.txt", "b.txt"]) as stage:
        (stage / "a.txt").write_text("first run, file a")
        print("held", flush=True)
        sys.stdin.readline()
        (stage / "b.txt").write_text("first run, file b")
    print("done", flush=True)
""")


@contextmanager
def held_by_another_process(out: Path) -> Iterator[subprocess.Popen]:
    """Run :data:`HOLDER` on ``out`` until the block ends, then let it finish."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=ENV, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "held", proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            out_text, err = proc.communicate("go\n", timeout=120)
            assert proc.returncode == 0, err
            assert out_text.strip() == "done"


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(out: Path, **record) -> Path:
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"started": "2026-01-01T00:00:00+00:00",
                                "command": "bayesdose fit m.toml", "token": "old", **record}))
    return path


# ---------------------------------------------------------------- the lock itself
def test_the_lock_is_beside_the_folder_and_removed_at_the_end(tmp_path):
    out = tmp_path / "results"
    with folder_lock(out) as lock:
        assert lock == tmp_path / f".results.{LOCK_MARK}"
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["folder"] == str(out)
        with folder_lock(out) as again:  # nested blocks of one process share it
            assert again == lock
        assert lock.exists()
    assert not lock.exists() and not out.exists()


def test_the_lock_is_removed_when_the_block_raises(tmp_path):
    out = tmp_path / "results"
    with pytest.raises(ValueError, match="boom"), folder_lock(out):
        raise ValueError("boom")
    assert not lock_path(out).exists()


def test_a_lock_whose_process_has_ended_is_taken_over(tmp_path):
    out = tmp_path / "results"
    stale = write_lock(out, pid=dead_pid(), host=socket.gethostname())
    with folder_lock(out) as lock:
        assert lock == stale
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_a_lock_of_another_host_is_kept_until_it_is_old(tmp_path):
    out = tmp_path / "results"
    lock = write_lock(out, pid=12345, host="other-machine")
    with pytest.raises(SpecError, match="process 12345 on other-machine"), folder_lock(out):
        pass
    assert json.loads(lock.read_text())["host"] == "other-machine"  # left as it was
    old = time.time() - LOCK_MAX_AGE - 60
    os.utime(lock, (old, old))
    with folder_lock(out):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_a_lock_of_this_process_id_that_this_process_does_not_hold_is_stale(tmp_path):
    """An earlier process with the same id (a container restarted) left it."""
    out = tmp_path / "results"
    write_lock(out, pid=os.getpid(), host=socket.gethostname())
    with folder_lock(out) as lock:
        assert json.loads(lock.read_text())["token"] != "old"


def test_check_folder_does_not_count_the_lock_as_a_result(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / f".results.{LOCK_MARK}").write_text("{}")
    assert check_folder(out, force=False) == out


# ---------------------------------------------------------------- the command line
def test_a_second_run_refuses_while_the_first_writes_and_nothing_is_lost(tmp_path):
    """While a run writes the folder, a ``bayesdose`` command on it stops with a message
    naming that run; the first run then completes, and the user's file is kept."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own notes")
    with staged_folder(out, replaces=["a.txt", "b.txt"]) as stage:  # the first run
        (stage / "a.txt").write_text("first run, file a")
        second = subprocess.run(
            [sys.executable, "-m", "bayesdose", "report", "fit.nc", "--out", str(out),
             "--force"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        (stage / "b.txt").write_text("first run, file b")
    assert second.returncode == 2 and second.stdout == ""
    line = one_line_error(second.stderr)
    for needle in (BUSY, repr(str(out)), f"process {os.getpid()}", socket.gethostname(),
                   "started 20", "Wait for it to finish", "delete the lock file",
                   str(lock_path(out))):
        assert needle in line
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt", "notes.txt"]
    assert (out / "a.txt").read_text() == "first run, file a"
    assert (out / "b.txt").read_text() == "first run, file b"
    assert (out / "notes.txt").read_text() == "the user's own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no lock, no staging


def _arguments(command) -> list[str]:
    """Positional arguments of a subcommand (files that need not exist), and ``--force``
    where it has one."""
    values = []
    for action in command._actions:
        if not action.option_strings and action.dest != "help":
            values += ["a.toml", "b.toml"] if action.nargs == "+" else ["input.toml"]
        if "--force" in action.option_strings:
            values.append("--force")
    return values


def _commands_with_out() -> dict[str, list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: _arguments(command) for name, command in sub.choices.items()
            if any("--out" in a.option_strings for a in command._actions)}


def test_every_command_refuses_a_folder_another_run_writes(tmp_path, capsys):
    commands = _commands_with_out()
    assert {"fit", "compare", "simulate", "calibrate", "report", "demo"} <= set(commands)
    out = tmp_path / "results"
    with held_by_another_process(out):
        for command, arguments in sorted(commands.items()):
            code = main([command, *arguments, "--out", str(out)])
            assert code == 2, command
            assert BUSY in one_line_error(capsys.readouterr().err), command
        with pytest.raises(SpecError, match=BUSY), folder_lock(out):
            pass
        with pytest.raises(SpecError, match=BUSY), staged_folder(out) as stage:
            (stage / "a.txt").write_text("second run")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "first run, file a"
    assert not lock_path(out).exists()


def test_a_command_takes_over_a_lock_left_by_a_killed_run(tmp_path, capsys):
    out = tmp_path / "results"
    stale = write_lock(out, pid=dead_pid(), host=socket.gethostname())
    code = main(["report", str(tmp_path / "no_such_fit.nc"), "--out", str(out)])
    assert code == 2  # got past the lock, to the missing fit
    line = one_line_error(capsys.readouterr().err)
    assert "no_such_fit.nc" in line and BUSY not in line
    assert not stale.exists()


@pytest.mark.slow
def test_two_fits_into_one_folder_at_once(tmp_path):
    """Two real ``bayesdose fit`` runs started together on one folder: one writes every
    result, the other stops at once naming it."""
    write_trial(tmp_path)
    write_model(tmp_path)
    out = tmp_path / "results"
    command = [sys.executable, "-m", "bayesdose", "fit", "model.toml", "--out", str(out),
               "--draws", "30", "--tune", "30", "--chains", "1"]
    procs = [subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(proc.pid, *proc.communicate(timeout=600), proc.returncode) for proc in procs]
    codes = sorted(code for *_, code in results)
    assert codes[0] in (0, 1) and codes[1] == 2, results
    (winner_pid, *_), = [r for r in results if r[3] != 2]
    (_, _, err, _), = [r for r in results if r[3] == 2]
    line = one_line_error(err)
    assert BUSY in line and f"process {winner_pid}" in line
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert bd.load_fit(out / "fit.nc").settings["draws"] == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.toml", "results",
                                                          "trial.csv"]
