"""Atomic file output: every result is written to a temporary file and renamed into place,
so a run killed midway leaves either the old file or the new one, never half of one.

A whole set of results (a fit's folder) is written into a staging folder beside its
destination and moved into place only once every file is complete
(:func:`staged_folder`): a run that fails or is killed before then leaves the earlier
results as they were.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bayesdose.errors import SpecError

STAGING_MARK = "bayesdose-staging"


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
    left by a killed process are removed the next time one is made beside ``out``.

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
    out = Path(out).absolute()
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
    if out.is_dir() and any(out.iterdir()) and not force:
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
