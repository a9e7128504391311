"""The replicate runner: reproducible seeds, identical results in-process and on a
cluster, resuming after failures or interrupts and with more replicates, refusing the
folder of another run, and no temporary files left behind."""

from __future__ import annotations

import json
import multiprocessing
import re
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from bayesdose.design.runner import read_replicates, replicate_seeds, run_replicates
from bayesdose.errors import BayesdoseError, DataError, SpecError

# -- tasks: top level, so that worker processes can unpickle them ------------------------


def draw_task(index: int, seed: np.random.SeedSequence, n: int = 3,
              fail_from: int | None = None, calls: str | None = None) -> pd.DataFrame:
    """Draw ``n`` normal numbers; log the call in ``calls``; fail from ``fail_from`` on."""
    if calls is not None:
        (Path(calls) / f"{index}-{uuid.uuid4().hex}").touch()
    if fail_from is not None and index >= fail_from:
        raise ValueError(f"replicate {index} failed on purpose")
    rng = np.random.default_rng(seed)
    time.sleep(0.002)
    return pd.DataFrame({"draw": np.arange(n), "value": rng.normal(size=n),
                         "label": [f"r{index}"] * n})


def interrupted_task(index: int, seed: np.random.SeedSequence, stop_at: int) -> pd.DataFrame:
    """Like ``draw_task`` but pressing Ctrl-C at replicate ``stop_at``."""
    if index == stop_at:
        raise KeyboardInterrupt
    return draw_task(index, seed)


def bad_task(index: int, seed: np.random.SeedSequence) -> object:
    """Return a list instead of a DataFrame for odd replicates."""
    return [index] if index % 2 else draw_task(index, seed)


# -- helpers and fixtures ------------------------------------------------------------------


def reference(n_reps: int, tmp_path: Path, seed: int = 11) -> pd.DataFrame:
    """An uninterrupted in-process run."""
    out = tmp_path / f"reference-{n_reps}-{seed}"
    return run_replicates(draw_task, n_reps, seed, out, workers=1, progress=False)


def assert_only_run_files(out: Path) -> None:
    """``out`` holds run.json, results and error files, and nothing temporary."""
    names = sorted(p.name for p in out.iterdir())
    stray = [n for n in names if not re.fullmatch(r"run\.json|rep_\d{6}\.(parquet|error\.json)", n)]
    assert not stray, stray


def stored(out: Path, suffix: str = ".parquet") -> list[int]:
    return sorted(int(p.name[4:10]) for p in out.glob(f"rep_*{suffix}")
                  if p.name.endswith(suffix) and not p.name.startswith("."))


def call_counts(calls: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for p in calls.iterdir():
        index = int(p.name.split("-")[0])
        counts[index] = counts.get(index, 0) + 1
    return counts


def mtimes(out: Path, indexes: range) -> list[int]:
    return [(out / f"rep_{i:06d}.parquet").stat().st_mtime_ns for i in indexes]


@pytest.fixture(scope="module")
def cluster():
    """One two-worker local cluster shared by the module's tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


def where(mode: str, request: pytest.FixtureRequest) -> dict:
    if mode == "in-process":
        return {"workers": 1}
    return {"scheduler": request.getfixturevalue("cluster").scheduler_address}


# -- seeds -----------------------------------------------------------------------------------


def test_replicate_seeds_depend_only_on_seed_and_index():
    five, eight = replicate_seeds(11, 5), replicate_seeds(11, 8)
    assert [s.spawn_key for s in eight] == [(i,) for i in range(8)]
    for a, b in zip(five, eight[:5], strict=True):
        assert a.entropy == b.entropy == 11
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))
    other = replicate_seeds(12, 5)
    assert not np.array_equal(five[0].generate_state(4), other[0].generate_state(4))
    with pytest.raises(SpecError, match="seed must be a non-negative integer"):
        replicate_seeds(-1, 3)


# -- identical results -----------------------------------------------------------------------


def test_in_process_and_local_cluster_give_identical_results(tmp_path):
    expected = reference(12, tmp_path)
    assert expected["replicate"].tolist() == np.repeat(np.arange(12), 3).tolist()
    assert list(expected.columns) == ["replicate", "draw", "value", "label"]
    # workers=2 starts (and closes) a local cluster of its own
    before = set(multiprocessing.active_children())
    on_cluster = run_replicates(draw_task, 12, 11, tmp_path / "cluster", workers=2,
                                progress=False)
    assert set(multiprocessing.active_children()) <= before
    assert_frame_equal(on_cluster, expected)
    assert_frame_equal(read_replicates(tmp_path / "cluster"), expected)
    assert_only_run_files(tmp_path / "cluster")


def test_existing_cluster_gives_identical_results_and_task_args_are_passed(tmp_path, cluster):
    distributed = pytest.importorskip("distributed")
    expected = run_replicates(draw_task, 6, 3, tmp_path / "a", workers=1, task_args=(5,),
                              progress=False)
    with distributed.Client(cluster.scheduler_address) as client:
        got = run_replicates(draw_task, 6, 3, tmp_path / "b", scheduler=client,
                             task_args=(5,), progress=False)
        assert client.status == "running"  # a client the caller gave is left open
    assert_frame_equal(got, expected)
    assert (expected.groupby("replicate").size() == 5).all()


# -- failures, interrupts and resuming -------------------------------------------------------


@pytest.mark.parametrize("mode", ["in-process", "cluster"])
def test_failed_replicates_are_stored_reported_and_retried_on_resume(tmp_path, request, mode):
    out, calls = tmp_path / "run", tmp_path / "calls"
    calls.mkdir()
    with pytest.raises(BayesdoseError, match=r"4 of 10 replicates failed") as excinfo:
        run_replicates(draw_task, 10, 11, out, task_args=(3, 6, str(calls)),
                       progress=False, **where(mode, request))
    message = str(excinfo.value)
    assert "replicates 6, 7, 8, 9" in message and "rep_NNNNNN.error.json" in message
    assert "ValueError: replicate 6 failed on purpose" in message
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert stored(out) == [0, 1, 2, 3, 4, 5]
    assert stored(out, ".error.json") == [6, 7, 8, 9]
    record = json.loads((out / "rep_000007.error.json").read_text())
    assert record["replicate"] == 7 and record["type"] == "ValueError"
    assert record["message"] == "replicate 7 failed on purpose"
    assert "failed on purpose" in record["traceback"]
    assert_only_run_files(out)

    first = mtimes(out, range(6))
    resumed = run_replicates(draw_task, 10, 11, out, task_args=(3, None, str(calls)),
                             progress=False, **where(mode, request))
    assert call_counts(calls) == {i: 1 if i < 6 else 2 for i in range(10)}
    assert mtimes(out, range(6)) == first
    assert stored(out, ".error.json") == []
    assert_frame_equal(resumed, reference(10, tmp_path))
    assert_only_run_files(out)


def test_interrupted_run_keeps_finished_replicates_and_resumes(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_replicates(interrupted_task, 6, 11, out, workers=1, task_args=(4,),
                       progress=False)
    assert stored(out) == [0, 1, 2, 3]
    assert_only_run_files(out)
    resumed = run_replicates(interrupted_task, 6, 11, out, workers=1, task_args=(-1,),
                             progress=False)
    assert_frame_equal(resumed, reference(6, tmp_path))


def test_resumed_run_with_more_replicates_keeps_the_first(tmp_path, cluster):
    out = tmp_path / "run"
    five = run_replicates(draw_task, 5, 11, out, scheduler=cluster.scheduler_address,
                          progress=False, identity={"design": "A"})
    first = mtimes(out, range(5))
    eight = run_replicates(draw_task, 8, 11, out, scheduler=cluster.scheduler_address,
                           progress=False, identity={"design": "A"})
    assert mtimes(out, range(5)) == first
    assert_frame_equal(eight[eight["replicate"] < 5], five)
    assert_frame_equal(eight, reference(8, tmp_path))
    # fewer replicates: the first ones, nothing rerun
    three = run_replicates(draw_task, 3, 11, out, workers=1, progress=False,
                           identity={"design": "A"})
    assert_frame_equal(three, reference(8, tmp_path).query("replicate < 3"))
    assert_only_run_files(out)


def test_task_results_that_cannot_be_stored_are_failures(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(BayesdoseError, match=r"2 of 4 replicates failed \(replicates 1, 3;"):
        run_replicates(bad_task, 4, 11, out, workers=1, progress=False)
    record = json.loads((out / "rep_000001.error.json").read_text())
    assert "returned list, not a pandas DataFrame" in record["message"]
    assert stored(out) == [0, 2]


# -- identity of a run's folder --------------------------------------------------------------


@pytest.mark.parametrize(("change", "named"), [
    ({"seed": 12}, "seed=11 there but seed=12 here"),
    ({"identity": {"design": "B"}}, "identity={'design': 'A'} there but"),
    ({"key": "sim"}, "key='rep' there but key='sim' here"),
])
def test_folder_of_a_different_run_is_refused(tmp_path, change, named):
    out = tmp_path / "run"
    settings = {"seed": 11, "identity": {"design": "A"}, "key": "rep"}
    run_replicates(draw_task, 2, out=out, workers=1, progress=False, **settings)
    with pytest.raises(SpecError, match="holds the results of a different run") as excinfo:
        run_replicates(draw_task, 2, out=out, workers=1, progress=False,
                       **{**settings, **change})
    assert named in str(excinfo.value)
    assert "use a new folder for out, or delete the folder" in str(excinfo.value)
    assert stored(out) == [0, 1]


def test_results_without_run_file_are_refused(tmp_path):
    out = tmp_path / "run"
    run_replicates(draw_task, 2, 11, out, workers=1, progress=False)
    (out / "run.json").unlink()
    with pytest.raises(SpecError, match=r"holds replicate results but no run\.json"):
        run_replicates(draw_task, 2, 11, out, workers=1, progress=False)


# -- files -----------------------------------------------------------------------------------


def test_no_temporary_files_remain_and_stale_ones_are_removed(tmp_path, capsys):
    out = tmp_path / "run"
    run_replicates(draw_task, 3, 11, out, workers=1)
    assert capsys.readouterr().err == ""  # no bar when stderr is not a terminal
    assert_only_run_files(out)
    (out / ".rep_000003.parquet.x1y2.tmp").write_bytes(b"half a file")
    (out / ".run.json.abc.tmp").write_text("{")
    (out / "notes.txt").write_text("mine")
    run_replicates(draw_task, 4, 11, out, workers=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt", "rep_000000.parquet", "rep_000001.parquet", "rep_000002.parquet",
        "rep_000003.parquet", "run.json"]
    assert json.loads((out / "run.json").read_text()) == {"identity": {}, "key": "rep",
                                                          "seed": 11}


class Terminal:
    """A stand-in for stderr that says it is a terminal and keeps what is written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_resumed_replicates(tmp_path, monkeypatch):
    pytest.importorskip("tqdm")
    out = tmp_path / "run"
    run_replicates(draw_task, 3, 11, out, workers=1, progress=False)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    for name in ("CI", "BAYESDOSE_PROGRESS"):  # automatic: a terminal outside CI shows it
        monkeypatch.delenv(name, raising=False)
    run_replicates(draw_task, 5, 11, out, workers=1)
    assert "3/5" in terminal.text and "5/5" in terminal.text  # starts at the resumed 3
    terminal.text = ""
    run_replicates(draw_task, 5, 11, out, workers=1, progress=False)
    assert terminal.text == ""


def test_read_replicates_reads_what_is_stored(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(BayesdoseError):
        run_replicates(draw_task, 4, 11, out, workers=1, task_args=(3, 2), progress=False)
    assert_frame_equal(read_replicates(out), reference(2, tmp_path))
    with pytest.raises(DataError, match="holds no replicate results named sim_NNNNNN"):
        read_replicates(out, key="sim")
    with pytest.raises(DataError, match="is not a folder"):
        read_replicates(tmp_path / "missing")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_reps": 0}, "n_reps must be 1 or more"),
    ({"seed": -3}, "seed must be a non-negative integer"),
    ({"seed": 1.5}, "seed must be a non-negative integer"),
    ({"key": "a/b"}, "key must be a name of letters"),
    ({"workers": 0}, "workers must be 1 or more"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "give either workers"),
    ({"task_args": 3}, "task_args must be a tuple"),
    ({"identity": {"dose": np.float64(1.0).astype(np.float32)}}, "JSON-serialisable"),
    ({"identity": ["A"]}, "identity must be a dict"),
])
def test_invalid_arguments_are_refused(tmp_path, kwargs, message):
    settings = {"task": draw_task, "n_reps": 2, "seed": 1, "out": tmp_path / "run",
                "workers": 1, "progress": False, **kwargs}
    with pytest.raises(SpecError, match=message):
        run_replicates(**settings)
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpecError, match="is a file, not a folder"):
        run_replicates(draw_task, 2, 1, tmp_path / "file", workers=1, progress=False)
