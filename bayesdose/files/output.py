"""Atomic file output: every result is written to a temporary file and renamed into place,
so a run killed midway leaves either the old file or the new one, never half of one.

A whole set of results (a fit's folder) is written into a staging folder beside its
destination and moved into place only once every file is complete
(:func:`staged_folder`): a run that fails or is killed before then leaves the earlier
results as they were.

Only one run writes a folder at a time (:func:`folder_lock`): a second run on the same
folder stops with a message naming the run that holds it, and a lock left by a run that
was killed is taken over once its process is gone.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bayesdose.errors import SpecError

STAGING_MARK = "bayesdose-staging"

#: The suffix of an output folder's lock file, ``.<folder>.bayesdose-lock`` beside it.
LOCK_MARK = "bayesdose-lock"

#: Seconds after which a lock that its run has not refreshed is taken as left behind (by
#: a run killed on another machine, or whose process id was reused); a running holder
#: refreshes it every :data:`LOCK_REFRESH` seconds.
LOCK_MAX_AGE = 3600.0

#: Seconds between two refreshes of a held lock.
LOCK_REFRESH = 60.0


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Parameters
    ----------
    target : str or Path
        The final file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # the mode a plain open() would give, not 0600
        _flush_to_disk(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _flush_to_disk(path: Path) -> None:
    """Make the file's bytes durable before it is renamed into place (best effort)."""
    try:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_csv(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write a DataFrame as CSV atomically (no index, ``\\n`` line endings)."""
    return write_atomic(target, lambda p: frame.to_csv(p, index=False, lineterminator="\n"))


def write_text(text: str, target: str | Path) -> Path:
    """Write text (UTF-8) atomically."""
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


@contextmanager
def staged_folder(out: str | Path, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder; on success move what was written there into ``out``.

    The staging folder is a hidden folder beside ``out`` (on the same file system, so the
    moves are renames). When the ``with`` block ends normally, each file or folder in it
    replaces the entry of the same name in ``out`` (created if needed), and the entries
    named in ``replaces`` that the new set lacks are removed from ``out``: what remains of
    an earlier run is then only what the new run does not write. When the block raises,
    the staging folder is removed and ``out`` is left exactly as it was. Staging folders
    left by a killed process are removed the next time one is made beside ``out``. The
    folder is locked (:func:`folder_lock`) for the whole block.

    Parameters
    ----------
    out : str or Path
        The destination folder.
    replaces : iterable of str
        Names in ``out`` that belong to the set of results being replaced.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> with staged_folder(out) as stage:
    ...     _ = (stage / "a.txt").write_text("new")
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    """
    with folder_lock(out), _staged(Path(out).absolute(), replaces) as stage:
        yield stage


@contextmanager
def _staged(out: Path, replaces: Iterable[str]) -> Iterator[Path]:
    """:func:`staged_folder` without the lock."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    prefix = f".{out.name}.{STAGING_MARK}-{os.getpid()}-"
    try:
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    except OSError:  # a read-only parent: stage inside the destination instead
        out.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    new, old = root / "new", root / "old"
    new.mkdir()
    old.mkdir()
    try:
        yield new
        out.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in new.iterdir())
        for name in names:
            source, target = new / name, out / name
            if source.is_dir() and not source.is_symlink() and target.exists():
                _move(target, old / name)
            elif target.is_dir() and not target.is_symlink():
                _move(target, old / name)
            _move(source, target)
        for name in set(replaces) - set(names):
            target = out / name
            if target.exists() or target.is_symlink():
                _move(target, old / name)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` onto ``target`` (a copy where they are on different devices)."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(source), str(target))


def _remove_stale_staging(out: Path) -> None:
    """Remove staging folders of ``out`` whose process has ended (a killed run's)."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.{STAGING_MARK}-(\d+)-.*")
    for folder in (out.parent, out):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = pattern.fullmatch(path.name)
            if match and path.is_dir() and not _process_alive(int(match.group(1))):
                shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_folder(out: str | Path, force: bool) -> Path:
    """Check that results may be written to ``out``, without creating anything.

    ``out`` must not be a file, and an existing non-empty folder is refused unless
    ``force``.

    Parameters
    ----------
    out : str or Path
        The output folder.
    force : bool
        Allow a non-empty folder (its results are replaced).

    Returns
    -------
    Path

    Raises
    ------
    SpecError
        When ``out`` is a file, or a non-empty folder without ``force``.

    Examples
    --------
    >>> import tempfile
    >>> check_folder(tempfile.mkdtemp(), force=False).is_dir()
    True
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {str(out)!r} is a file, not a folder.")
    if out.is_dir() and not force and any(not is_bookkeeping(p.name) for p in out.iterdir()):
        raise SpecError(f"output folder {str(out)!r} is not empty; choose a new folder or "
                        "pass --force to overwrite the results in it.")
    return out


def prepare_folder(out: str | Path, force: bool) -> Path:
    """Create ``out``, refusing a non-empty existing folder unless ``force``.

    Examples
    --------
    >>> import tempfile
    >>> prepare_folder(tempfile.mkdtemp(), force=False).is_dir()
    True
    """
    out = check_folder(out, force)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------- one run per folder
def is_bookkeeping(name: str) -> bool:
    """Whether ``name`` is one of the entries results are written through (a staging
    folder or a lock file), not a result.

    Examples
    --------
    >>> is_bookkeeping(".results.bayesdose-lock"), is_bookkeeping("fit.nc")
    (True, False)
    """
    return f".{STAGING_MARK}-" in name or name.endswith((f".{LOCK_MARK}",
                                                         f".{LOCK_MARK}.break"))


def lock_path(out: str | Path) -> Path:
    """The lock file of output folder ``out``: ``.<name>.bayesdose-lock`` beside it, or
    inside it where only the folder itself is writable.

    Examples
    --------
    >>> lock_path("/data/results").name
    '.results.bayesdose-lock'
    """
    out = Path(out).resolve()
    name = f".{out.name}.{LOCK_MARK}"
    if (out.is_dir() and out.parent.is_dir() and not os.access(out.parent, os.W_OK)
            and os.access(out, os.W_OK)):
        return out / name
    return out.parent / name


class _Held:
    """A lock this process holds: its token, how many blocks hold it, its refresher."""

    def __init__(self, path: Path, token: str) -> None:
        self.path, self.token, self.count, self.pid = path, token, 1, os.getpid()
        self.stop = threading.Event()
        self.refresher = threading.Thread(target=self._refresh, daemon=True,
                                          name=f"bayesdose lock {path.name}")
        self.refresher.start()

    def _refresh(self) -> None:
        while not self.stop.wait(LOCK_REFRESH):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self.stop.set()
        self.refresher.join(timeout=5)
        current = _read_lock(self.path)
        if current is not None and current["info"].get("token") == self.token:
            with suppress(OSError):
                self.path.unlink()


_HELD: dict[str, _Held] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def folder_lock(out: str | Path | None) -> Iterator[Path | None]:
    """Hold the lock of output folder ``out`` for the block, so that no other run writes
    it meanwhile; refuse when another run holds it.

    The lock is a small file beside the folder (:func:`lock_path`), created atomically
    (``O_EXCL``), naming the process id, host, start time and command of its run, and
    removed when the block ends, however it ends. A lock whose process has ended on this
    host, or that has not been refreshed for :data:`LOCK_MAX_AGE` seconds (a running
    holder refreshes it every :data:`LOCK_REFRESH` seconds), was left by a run killed
    before it could remove it, and is taken over. Blocks nested in one process share
    the lock. Where no lock file can be made (a read-only location) the block runs
    without one.

    Parameters
    ----------
    out : str, Path or None
        The output folder (need not exist yet; its parent is created). ``None`` locks
        nothing.

    Yields
    ------
    Path or None
        The lock file (``None`` when nothing was locked).

    Raises
    ------
    SpecError
        When another run holds the lock; the message names it and how to go on.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> with folder_lock(out) as lock:
    ...     lock.exists()
    True
    >>> lock.exists()
    False
    """
    if out is None:
        yield None
        return
    path = lock_path(out)
    key = str(path)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
    if held is None:
        token = _acquire(path, Path(out))
        if token is None:  # no lock can be made here: run without one
            yield None
            return
        with _HELD_GUARD:
            held = _HELD[key] = _Held(path, token)
    try:
        yield path
    finally:
        with _HELD_GUARD:
            held.count -= 1
            done = held.count == 0
            if done:
                del _HELD[key]
        if done and held.pid == os.getpid():  # a forked child leaves it to its parent
            held.release()


def _acquire(path: Path, out: Path, attempts: int = 20) -> str | None:
    """Create the lock file (its token), or raise naming its holder; ``None`` when no lock
    file can be made in that place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    token = uuid.uuid4().hex
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": _command_line(), "folder": str(Path(out).absolute()),
              "token": token}
    current = None
    for _ in range(attempts):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            current = _read_lock(path)
            if current is None:  # removed meanwhile: try again
                continue
            if not _is_stale(current):
                raise SpecError(_busy_message(out, path, current["info"])) from None
            _break_stale(path, current)
            continue
        except OSError:
            return None
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(record, stream)
            stream.flush()
            os.fsync(stream.fileno())
        return token
    raise SpecError(_busy_message(out, path, current["info"] if current else {}))


def _command_line(limit: int = 200) -> str:
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = f"python -m {script.parent.name}" if script.name == "__main__.py" else script.name
    text = " ".join([name, *sys.argv[1:]])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_lock(path: Path) -> dict[str, Any] | None:
    """The lock file's record (``info``; empty while it is being written), its bytes, file
    identity and age; ``None`` when there is no lock file."""
    try:
        stat = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raw, stat = b"", None
    try:
        info = json.loads(raw)
    except ValueError:
        info = {}
    info = info if isinstance(info, dict) else {}
    age = time.time() - stat.st_mtime if stat is not None else 0.0
    identity = (stat.st_ino, stat.st_mtime_ns) if stat is not None else None
    return {"info": info, "raw": raw, "identity": identity, "age": age}


def _is_stale(current: dict[str, Any]) -> bool:
    """Left by a run that ended without removing it: its process is gone (same host), or
    it was not refreshed for :data:`LOCK_MAX_AGE` seconds."""
    if current["age"] > LOCK_MAX_AGE:
        return True
    info = current["info"]
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if pid == os.getpid():  # this process holds no such lock: an earlier one of this id
        return not any(held.token == info.get("token") for held in _HELD.values())
    return not _process_alive(pid)


def _break_stale(path: Path, seen: dict[str, Any]) -> None:
    """Remove the stale lock ``seen`` unless it changed meanwhile, one process at a time
    (so that a lock just made by another is never removed in its place)."""
    breaker = path.with_name(path.name + ".break")
    try:
        os.close(os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        with suppress(OSError):
            if time.time() - breaker.stat().st_mtime > 60:  # its breaker was killed
                breaker.unlink()
        time.sleep(0.05)
        return
    except OSError:
        return
    try:
        now = _read_lock(path)
        if (now is not None and now["raw"] == seen["raw"]
                and now["identity"] == seen["identity"]):
            path.unlink()
    finally:
        with suppress(OSError):
            breaker.unlink()


def _busy_message(out: Path, path: Path, info: dict[str, Any]) -> str:
    pid, host = info.get("pid", "unknown"), info.get("host", "an unknown host")
    started = info.get("started", "at an unknown time")
    command = f": {info['command']}" if info.get("command") else ""
    hours = LOCK_MAX_AGE / 3600
    return (f"output folder {str(out)!r} is being written by another bayesdose run (process "
            f"{pid} on {host}, started {started}{command}). Wait for it to finish, or write "
            f"to another folder. If that run is no longer going on, delete the lock file "
            f"{str(path)!r} and run again (a lock is also taken over once its process has "
            f"ended on this host, or after {hours:g} hour{'s' * (hours != 1)} without a "
            "sign of life).")
