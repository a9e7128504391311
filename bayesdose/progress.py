"""Progress on a terminal, silence in logs: one switch for every progress bar and note.

Sampling, leave-one-out refits, design simulations and calibrations show progress bars,
and compiling a model for a new design shows a one-line note. Whether they appear is
decided in one place, :func:`resolve_progress`, in this order:

1. an explicit argument (``progressbar=True`` / ``False`` of a fit, ``progress=`` of
   :func:`bayesdose.simulate` and :func:`bayesdose.calibrate`);
2. the environment variable ``BAYESDOSE_PROGRESS``: ``1`` always, ``0`` never;
3. otherwise (``None``, the default everywhere): shown when standard error is a terminal
   and the environment variable ``CI`` is not set, so that log files, pipelines and
   continuous-integration jobs stay free of progress bars.

The command line's ``--progress`` / ``--no-progress`` set the same switch for the whole
command (:func:`progress_default`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from bayesdose.errors import SpecError

#: The environment variable that turns progress output on (``1``) or off (``0``).
PROGRESS_ENV = "BAYESDOSE_PROGRESS"

#: Set (to anything but ``0``/``false``/``no``) by continuous-integration services.
CI_ENV = "CI"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def resolve_progress(progressbar: bool | None = None, *, stream: TextIO | None = None,
                     environ: Mapping[str, str] | None = None) -> bool:
    """Whether to show progress: the argument, else ``BAYESDOSE_PROGRESS``, else automatic.

    Parameters
    ----------
    progressbar : bool, optional
        An explicit choice, returned as it is. ``None`` (the default) defers to the
        environment.
    stream : file-like, optional
        Where the progress would be written (default: ``sys.stderr``); the automatic
        choice shows progress only when it is a terminal.
    environ : mapping, optional
        The environment to read (default: ``os.environ``).

    Returns
    -------
    bool

    Raises
    ------
    SpecError
        When ``BAYESDOSE_PROGRESS`` holds something other than ``1``/``0`` (or
        ``true``/``false``, ``yes``/``no``, ``on``/``off``).

    Examples
    --------
    >>> resolve_progress(False)
    False
    >>> resolve_progress(None, environ={"BAYESDOSE_PROGRESS": "1"})
    True
    >>> import io
    >>> resolve_progress(None, stream=io.StringIO(), environ={})  # not a terminal
    False
    """
    if progressbar is not None:
        return bool(progressbar)
    environ = os.environ if environ is None else environ
    setting = environ.get(PROGRESS_ENV, "").strip().lower()
    if setting in _TRUE:
        return True
    if setting in _FALSE:
        return False
    if setting:
        raise SpecError(
            f"environment variable {PROGRESS_ENV}={environ[PROGRESS_ENV]!r} is not a "
            "setting: use 1 to always show progress, 0 to never show it, or unset it to "
            "show progress on a terminal only.")
    return _is_terminal(sys.stderr if stream is None else stream) and not _in_ci(environ)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _in_ci(environ: Mapping[str, str]) -> bool:
    value = environ.get(CI_ENV, "").strip().lower()
    return bool(value) and value not in _FALSE


@contextmanager
def progress_default(progressbar: bool | None) -> Iterator[None]:
    """Within the block, make ``progressbar`` the choice of every call that leaves it at
    ``None`` (by setting ``BAYESDOSE_PROGRESS``, so processes started in the block follow
    it too); ``None`` leaves the setting as it is. The earlier value is restored after.

    Parameters
    ----------
    progressbar : bool or None
        ``True`` shows progress, ``False`` hides it, ``None`` changes nothing.

    Examples
    --------
    >>> with progress_default(False):
    ...     resolve_progress()
    False
    """
    if progressbar is None:
        yield
        return
    before = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "1" if progressbar else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = before


@contextmanager
def progress_note(message: str, progressbar: bool | None = None,
                  stream: TextIO | None = None) -> Iterator[None]:
    """Write ``message`` and, once the block is done, its duration, as one line on standard
    error, when progress is shown (:func:`resolve_progress`); nothing otherwise.

    Parameters
    ----------
    message : str
        What the block does, e.g. ``"Compiling the model"``.
    progressbar : bool, optional
        As in :func:`resolve_progress`.
    stream : file-like, optional
        Where to write (default: ``sys.stderr``).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with progress_note("Compiling the model", True, stream=out):
    ...     pass
    >>> out.getvalue().startswith("Compiling the model ... done")
    True
    """
    stream = sys.stderr if stream is None else stream
    if not resolve_progress(progressbar, stream=stream):
        yield
        return
    print(f"{message} ...", end="", file=stream, flush=True)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", file=stream, flush=True)
        raise
    print(f" done ({time.perf_counter() - start:.1f} s)", file=stream, flush=True)
