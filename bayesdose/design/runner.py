"""Resumable, reproducible replicate runs for simulation studies.

A simulation study of a trial design repeats one task (simulate a trial, fit the model,
summarise the fit) hundreds or thousands of times. :func:`run_replicates` runs such a
task for replicates ``0, 1, ..., n_reps - 1``, in this process or on a Dask cluster, and
stores each replicate's result in its own Parquet file as soon as it is done:

* **Reproducible.** Replicate ``i`` gets the seed ``replicate_seeds(seed, n)[i]``, which
  depends only on ``seed`` and ``i``: never on the number of workers, the order in which
  replicates finish, or ``n``. The same call gives the same results in-process and on any
  cluster.
* **Resumable.** A replicate whose file exists is not run again, so an interrupted run
  picks up where it stopped, a failed replicate is retried by running the same call
  again, and a study is extended by raising ``n_reps``. The folder's ``run.json`` records
  the run's identity (``seed``, ``key`` and the caller's ``identity``) and a call with
  another identity is refused, so results of different settings never mix.
* **Robust.** Every file is written atomically. A replicate that raises does not stop
  the others: its error is stored beside the results and reported at the end.

:func:`read_replicates` reads the stored results back; :func:`replicate_seeds` gives the
seeds.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> import pandas as pd
>>> from bayesdose.design.runner import run_replicates
>>> def task(index, seed):
...     rng = np.random.default_rng(seed)
...     return pd.DataFrame({"estimate": [rng.normal()]})
>>> results = run_replicates(task, 3, seed=1, out=tempfile.mkdtemp(), workers=1,
...                          progress=False)
>>> results.columns.tolist()
['replicate', 'estimate']
>>> results["replicate"].tolist()
[0, 1, 2]
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesdose.errors import BayesdoseError, DataError, SpecError, describe_rows
from bayesdose.files.output import atomic_path, write_text
from bayesdose.progress import resolve_progress

RUN_FILE = "run.json"


"""The file, in a run's folder, that records the run's identity."""


_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def replicate_seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """The seeds of replicates ``0, ..., n - 1`` of a run with seed ``seed``.

    ``np.random.SeedSequence(seed).spawn(n)``: replicate ``i``'s seed depends only on
    ``seed`` and ``i``, so the first ``m`` seeds are the same for every ``n >= m`` and
    results do not depend on how replicates are spread over workers.

    Parameters
    ----------
    seed : int
        The run's seed, a non-negative integer.
    n : int
        How many seeds, a non-negative integer.

    Returns
    -------
    list of numpy.random.SeedSequence
        One independent seed per replicate; pass one to :func:`numpy.random.default_rng`.

    Raises
    ------
    SpecError
        If ``seed`` or ``n`` is not a non-negative integer.

    Examples
    --------
    >>> import numpy as np
    >>> seeds = replicate_seeds(2024, 3)
    >>> seeds[1].spawn_key
    (1,)
    >>> first = [s.generate_state(2).tolist() for s in replicate_seeds(2024, 2)]
    >>> first == [s.generate_state(2).tolist() for s in seeds[:2]]
    True
    >>> rng = np.random.default_rng(seeds[0])
    """
    seed = _non_negative_int(seed, "seed", "a non-negative integer such as 2024")
    n = _non_negative_int(n, "n", "the number of replicates, 0 or more")
    return np.random.SeedSequence(seed).spawn(n)


def run_replicates(
    task: Callable[..., pd.DataFrame],
    n_reps: int,
    seed: int,
    out: str | Path,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    key: str = "rep",
    task_args: Sequence[Any] = (),
    identity: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``task`` for replicates ``0, ..., n_reps - 1``, storing and resuming results.

    Replicate ``i`` calls ``task(i, seed_i, *task_args)`` with
    ``seed_i = replicate_seeds(seed, n_reps)[i]``. Its result, with a ``replicate``
    column (``= i``) added in front, is written to ``out / f"{key}_{i:06d}.parquet"`` as
    soon as it arrives. Replicates whose file already exists are not run again: their
    stored results are read back. So an interrupted run resumes when called again, and a
    study grows by calling again with a larger ``n_reps`` (the first replicates are
    unchanged because their seeds are).

    Parameters
    ----------
    task : callable
        ``task(index: int, seed: numpy.random.SeedSequence, *task_args)`` returning a
        (small) :class:`pandas.DataFrame`. It must draw all its randomness from ``seed``
        (``rng = np.random.default_rng(seed)``) for results to be reproducible. For runs
        on a cluster it must be picklable: a function defined at the top level of a
        module or script, not a lambda or a nested function. Its index is not kept, and
        its column names must be strings (Parquet); it must not have a ``replicate``
        column (the runner adds it).
    n_reps : int
        Number of replicates, 1 or more.
    seed : int
        The run's seed, a non-negative integer (see :func:`replicate_seeds`).
    out : str or Path
        The run's folder, created if missing. It holds ``run.json``, one
        ``{key}_{index:06d}.parquet`` per finished replicate and one
        ``{key}_{index:06d}.error.json`` per failed one.
    workers : int, optional
        ``1`` runs the replicates one after another in this process, without Dask (for
        debugging, and the reference result). Otherwise the replicates run on a new
        :class:`distributed.LocalCluster` of ``workers`` single-threaded worker
        processes (default: one per CPU), which is closed at the end, also on an error
        or an interrupt. Not allowed together with ``scheduler``.
    scheduler : str, distributed.Client or cluster, optional
        Run on an existing cluster instead: a scheduler address (``"tcp://host:8786"``),
        a cluster object, or a connected :class:`distributed.Client`. The cluster is
        not closed at the end.
    progress : bool, optional
        Show a progress bar on stderr (needs ``tqdm``) counting finished replicates,
        resumed ones included; default: on a terminal only
        (:func:`bayesdose.progress.resolve_progress`).
    key : str
        Name of the result files and of the Dask tasks: letters, digits, ``_`` and
        ``-``, starting with a letter or digit.
    task_args : sequence
        Further arguments of ``task``, the same for every replicate (design settings,
        a model). On a cluster they are sent to every worker once, not with each task.
        They are not part of the run's identity: put the settings that determine the
        results in ``identity``.
    identity : mapping, optional
        JSON-serialisable settings that, with ``seed`` and ``key``, identify the run
        (the design, the model, the version of the study code). A folder holding a run
        of another identity is refused. ``n_reps`` is not part of the identity.

    Returns
    -------
    pandas.DataFrame
        The results of all ``n_reps`` replicates as stored (read back from their
        files), concatenated, sorted by ``replicate``, with a fresh index.

    Raises
    ------
    SpecError
        If an argument is invalid, or ``out`` holds a run of another identity.
    BayesdoseError
        If some replicates failed. The others are stored first; the message says how
        many failed and where their messages are. Running the same call again retries
        only the failed replicates (their error files are removed when they succeed).

    See Also
    --------
    read_replicates : Read the stored results.
    replicate_seeds : The replicates' seeds.

    Notes
    -----
    Results are written by the calling process (workers send them back), so no two
    processes write the same file; do not run two calls on the same folder at once.
    A script that starts a local cluster (``workers`` other than 1) must guard its main
    code with ``if __name__ == "__main__":``, as worker processes import it.

    One replicate can be rerun alone for debugging with
    ``task(i, replicate_seeds(seed, i + 1)[i], *task_args)``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import pandas as pd
    >>> def task(index, seed, n_patients):
    ...     rng = np.random.default_rng(seed)
    ...     y = rng.normal(1.0, 2.0, size=n_patients)
    ...     return pd.DataFrame({"mean": [y.mean()], "sd": [y.std(ddof=1)]})
    >>> out = tempfile.mkdtemp()
    >>> first = run_replicates(task, 4, seed=7, out=out, workers=1, progress=False,
    ...                        task_args=(50,), identity={"n_patients": 50})
    >>> more = run_replicates(task, 6, seed=7, out=out, workers=1, progress=False,
    ...                       task_args=(50,), identity={"n_patients": 50})
    >>> more.head(4).equals(first)
    True
    >>> run_replicates(task, 4, seed=8, out=out, workers=1, progress=False,
    ...                task_args=(50,), identity={"n_patients": 50})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: ...
    """
    if not callable(task):
        raise SpecError(f"task must be a function task(index, seed, *task_args) returning "
                        f"a DataFrame, not {type(task).__name__}.")
    n_reps = _non_negative_int(n_reps, "n_reps", "the number of replicates, 1 or more")
    if n_reps < 1:
        raise SpecError("n_reps must be 1 or more (the number of replicates to run).")
    seed = _non_negative_int(seed, "seed", "a non-negative integer such as 2024")
    key = _check_key(key)
    if workers is not None:
        workers = _non_negative_int(workers, "workers", "1 or more")
        if workers < 1:
            raise SpecError("workers must be 1 or more (1 runs in this process), or None "
                            "for one worker per CPU.")
        if scheduler is not None:
            raise SpecError("give either workers (to start a local cluster, or 1 to run in "
                            "this process) or scheduler (to use an existing cluster), not "
                            "both.")
    if isinstance(task_args, str | bytes) or not isinstance(task_args, Iterable):
        raise SpecError("task_args must be a tuple of the task's further arguments, e.g. "
                        "task_args=(design,) for a single one.")
    task_args = tuple(task_args)
    run_identity = {"key": key, "seed": seed, "identity": _normalise_identity(identity)}
    _check_parquet_engine()

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"out {str(out)!r} is a file, not a folder: choose a folder for "
                        "the run's results.")
    out.mkdir(parents=True, exist_ok=True)
    _claim_folder(out, run_identity)
    _remove_stale_temporaries(out, key)

    seeds = replicate_seeds(seed, n_reps)
    done = [i for i in range(n_reps) if _result_path(out, key, i).exists()]
    for i in done:  # stale: the result was stored but the run stopped before removing it
        _error_path(out, key, i).unlink(missing_ok=True)
    todo = sorted(set(range(n_reps)) - set(done))

    recorder = _Recorder(out, key, seed, n_reps, len(done), progress)
    try:
        if todo and workers == 1 and scheduler is None:
            _run_in_process(task, todo, seeds, task_args, recorder)
        elif todo:
            _run_on_cluster(task, todo, seeds, task_args, workers, scheduler, key, recorder)
    finally:
        recorder.close()

    if recorder.failures:
        failed = sorted(recorder.failures)
        first = recorder.failures[failed[0]]
        raise BayesdoseError(
            f"{len(failed)} of {n_reps} replicates failed "
            f"({describe_rows([f'replicate {i}' for i in failed])}; the first with "
            f"{type(first).__name__}: {str(first).rstrip('.')}). "
            f"The other {n_reps - len(failed)} are stored in {str(out)!r}; the failures' "
            f"messages and tracebacks are in {str(out / f'{key}_NNNNNN.error.json')!r}. "
            "Fix the cause and run the same call again: it reruns only the failed "
            "replicates."
        ) from first
    return _read(out, key, range(n_reps))


def read_replicates(out: str | Path, key: str = "rep") -> pd.DataFrame:
    """Read the results a run stored in ``out``.

    Parameters
    ----------
    out : str or Path
        The run's folder (``out`` of :func:`run_replicates`).
    key : str
        The run's ``key``.

    Returns
    -------
    pandas.DataFrame
        All stored replicates' results, concatenated, sorted by ``replicate``, with a
        fresh index. Failed or not yet run replicates are missing.

    Raises
    ------
    DataError
        If ``out`` is not a folder or holds no results named ``{key}_NNNNNN.parquet``.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> def task(index, seed):
    ...     return pd.DataFrame({"value": [10 * index]})
    >>> out = tempfile.mkdtemp()
    >>> _ = run_replicates(task, 3, seed=1, out=out, workers=1, progress=False)
    >>> read_replicates(out)["value"].tolist()
    [0, 10, 20]
    """
    key = _check_key(key)
    out = Path(out)
    if not out.is_dir():
        raise DataError(f"out {str(out)!r} is not a folder: give the folder a run "
                        "stored its results in.")
    pattern = re.compile(rf"{re.escape(key)}_(\d{{6,}})\.parquet")
    indexes = sorted(int(m.group(1)) for p in out.iterdir()
                     if (m := pattern.fullmatch(p.name)))
    if not indexes:
        raise DataError(f"folder {str(out)!r} holds no replicate results named "
                        f"{key}_NNNNNN.parquet: check out and key (the run's key).")
    return _read(out, key, indexes)


# -- running ----------------------------------------------------------------------------


class _Recorder:
    """Stores each replicate's outcome as it arrives and counts progress."""

    def __init__(self, out: Path, key: str, seed: int, total: int, resumed: int,
                 progress: bool | None) -> None:
        self.out, self.key, self.seed = out, key, seed
        self.failures: dict[int, BaseException] = {}
        self.bar = _progress_bar(total, resumed, key, progress)

    def result(self, index: int, result: object) -> None:
        """Store a task's result, or record why it cannot be stored."""
        try:
            frame = _with_replicate(index, result)
            with atomic_path(_result_path(self.out, self.key, index)) as tmp:
                frame.to_parquet(tmp, index=False)
        except Exception as exc:
            self.failure(index, exc)
            return
        _error_path(self.out, self.key, index).unlink(missing_ok=True)
        self._advance()

    def failure(self, index: int, exc: BaseException) -> None:
        """Record a replicate's failure in its error file."""
        self.failures[index] = exc
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}")
        record = {
            "replicate": index,
            "key": self.key,
            "seed": self.seed,
            "type": name,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        }
        write_text(json.dumps(record, indent=2) + "\n", _error_path(self.out, self.key, index))
        self._advance()

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.failures:
                self.bar.set_postfix(failed=len(self.failures), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_in_process(task: Callable[..., pd.DataFrame], todo: list[int],
                    seeds: list[np.random.SeedSequence], task_args: tuple,
                    recorder: _Recorder) -> None:
    for i in todo:
        try:
            result = task(i, seeds[i], *task_args)
        except Exception as exc:
            recorder.failure(i, exc)
        else:
            recorder.result(i, result)


def _run_on_cluster(task: Callable[..., pd.DataFrame], todo: list[int],
                    seeds: list[np.random.SeedSequence], task_args: tuple,
                    workers: int | None, scheduler: Any, key: str,
                    recorder: _Recorder) -> None:
    try:  # Dask is the optional [distributed] extra, loaded only for a cluster run
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BayesdoseError(
            "running replicates on a cluster needs Dask distributed: install it with "
            "pip install 'bayesdose[distributed]', or pass workers=1 to run in this "
            "process.") from exc

    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is not None:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))

        args = client.scatter(list(task_args), broadcast=True, hash=False) if task_args else []
        token = uuid.uuid4().hex[:12]
        futures = {}
        for i in todo:
            future = client.submit(task, i, seeds[i], *args, key=f"{key}-{i}-{token}",
                                   pure=False)
            futures[future.key] = (i, future)
        try:
            for future in as_completed([f for _, f in futures.values()]):
                i, _ = futures.pop(future.key)
                try:
                    result = future.result()
                except Exception as exc:
                    recorder.failure(i, exc)
                else:
                    recorder.result(i, result)
                future.release()
        finally:
            if futures:  # interrupted: stop what is still queued or running
                client.cancel([f for _, f in futures.values()])


# -- files ------------------------------------------------------------------------------


def _result_path(out: Path, key: str, index: int) -> Path:
    return out / f"{key}_{index:06d}.parquet"


def _error_path(out: Path, key: str, index: int) -> Path:
    return out / f"{key}_{index:06d}.error.json"


def _claim_folder(out: Path, identity: dict[str, Any]) -> None:
    """Write ``run.json``, or check that the one in ``out`` is of the same run."""
    run_file = out / RUN_FILE
    if not run_file.exists():
        pattern = re.compile(rf"{re.escape(identity['key'])}_\d{{6,}}\.(parquet|error\.json)")
        if any(pattern.fullmatch(p.name) for p in out.iterdir()):
            raise SpecError(
                f"folder {str(out)!r} holds replicate results but no {RUN_FILE}, so it "
                "cannot be told whether they are of this run: use a new folder for out, "
                "or delete the folder to start afresh.")
        text = json.dumps(identity, indent=2, sort_keys=True) + "\n"
        write_text(text, run_file)
        return
    try:
        stored = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{str(run_file)!r} cannot be read ({exc}): use a new folder for "
                        "out, or delete the folder to start afresh.") from exc
    if not isinstance(stored, dict):
        stored = {}
    differ = [f"{name}={stored.get(name)!r} there but {name}={value!r} here"
              for name, value in identity.items() if stored.get(name) != value]
    if differ:
        raise SpecError(
            f"folder {str(out)!r} holds the results of a different run ("
            + "; ".join(differ) + "), and results of different settings must not be "
            "mixed: use a new folder for out, or delete the folder to start afresh.")


def _normalise_identity(identity: Mapping[str, Any] | None) -> dict[str, Any]:
    if identity is None:
        return {}
    if not isinstance(identity, Mapping):
        raise SpecError(f"identity must be a dict of the run's settings, not "
                        f"{type(identity).__name__}, e.g. identity={{'design': 'A'}}.")
    try:
        return json.loads(json.dumps(dict(identity), sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise SpecError(
            f"identity must be JSON-serialisable ({exc}): use str, int, float, bool, None, "
            "lists and dicts with str keys; convert numpy numbers with float() or int().",
        ) from exc


def _remove_stale_temporaries(out: Path, key: str) -> None:
    """Remove temporary files that a run killed while writing left behind."""
    pattern = re.compile(
        rf"\.({re.escape(RUN_FILE)}|{re.escape(key)}_\d{{6,}}\.(parquet|error\.json))\..*\.tmp")
    for path in out.iterdir():
        if pattern.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _with_replicate(index: int, result: object) -> pd.DataFrame:
    if not isinstance(result, pd.DataFrame):
        raise BayesdoseError(f"the task returned {type(result).__name__}, not a pandas "
                             "DataFrame: return the replicate's summary as a DataFrame.")
    if "replicate" in result.columns:
        raise BayesdoseError("the task returned a DataFrame with a 'replicate' column, "
                             "which the runner adds itself: rename the task's column.")
    frame = result.reset_index(drop=True)
    frame.insert(0, "replicate", np.full(len(frame), index, dtype=np.int64))
    return frame


def _read(out: Path, key: str, indexes: Iterable[int]) -> pd.DataFrame:
    frames = [pd.read_parquet(_result_path(out, key, i)) for i in indexes]
    if not frames:
        return pd.DataFrame({"replicate": pd.Series([], dtype=np.int64)})
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values("replicate", kind="stable").reset_index(drop=True)


# -- checks and helpers -----------------------------------------------------------------


def _non_negative_int(value: object, name: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise SpecError(f"{name} must be {hint}, not {value!r}.")
    return int(value)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise SpecError(f"key must be a name of letters, digits, '_' and '-' starting with a "
                        f"letter or digit, such as 'rep', not {key!r}.")
    return key


def _check_parquet_engine() -> None:
    if find_spec("pyarrow") is None and find_spec("fastparquet") is None:
        raise BayesdoseError("run_replicates stores results as Parquet files and needs "
                             "pyarrow: install it with pip install pyarrow.")


def _progress_bar(total: int, resumed: int, key: str, progress: bool | None) -> Any:
    if not resolve_progress(progress):
        return None
    try:  # tqdm is optional, loaded only to show a progress bar
        from tqdm import tqdm
    except ImportError:  # the bar is optional
        return None
    return tqdm(total=total, initial=resumed, desc=key, unit="rep", file=sys.stderr,
                disable=False, dynamic_ncols=True)
