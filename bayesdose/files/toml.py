"""TOML files, the one home of model and design files: read and checked (the reader, the rule
that data paths stay inside the file's folder, the check of unknown keys) and written.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesdose.errors import SpecError
from bayesdose.files.output import write_text


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file (nothing in it is executed), with a clear error naming ``what``
    it is when the file is missing or malformed.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is (``"model file"``), for the messages.

    Returns
    -------
    dict
    """
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(f"the {what} must be a path (got {type(path).__name__}).")
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what} {str(path)!r} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{what} {str(path)!r} is not valid TOML: it is not UTF-8 text "
                        f"({exc}).") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{what} {str(path)!r} is not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise SpecError(f"{what} {str(path)!r} is not valid TOML: it nests arrays or "
                        "tables too deeply.") from exc


def resolve_inside(base_dir: Path | None, source: str, field: str, what: str,
                   hint: str = "Pass other files on the command line with --data.") -> Path:
    """Resolve a path written in a file relative to the file's folder, refusing escapes.

    The path is resolved (symbolic links followed) and must lie in ``base_dir`` or below
    it: an absolute path, ``..`` steps or a link that leads out of the folder are refused.

    Parameters
    ----------
    base_dir : Path or None
        The file's folder (the working folder when None).
    source : str
        The path as written in the file.
    field : str
        The field holding it (``"data.source"``), for the message.
    what : str
        What the file is (``"model file"``), for the message.
    hint : str
        How to use a file elsewhere, ending the message.

    Returns
    -------
    Path
        The resolved path.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()).resolve()
    >>> resolve_inside(folder, "data/trial.csv", "data.source", "model file").parent.name
    'data'
    """
    if not isinstance(source, str) or not source.strip() or "\x00" in source:
        raise SpecError(f"{field} must be a file name, relative to the {what} (got "
                        f"{source!r}).")
    base = (base_dir or Path.cwd()).resolve()
    try:
        target = (base / source).resolve()
    except (OSError, RuntimeError) as exc:
        raise SpecError(f"{field} {source!r} cannot be resolved: {exc}.") from exc
    if base != target and base not in target.parents:
        raise SpecError(
            f"{field} {source!r} points outside the {what}'s folder ({base}); a {what} may "
            "only name files beside it or below it (an absolute path, '..' or a link out of "
            f"the folder is refused). {hint}"
        )
    return target


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse unknown fields of a file's table, suggesting the closest known one."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{where}{key}: unknown field.{hint} Known fields: "
                            f"{', '.join(sorted(allowed))}.")


def section_table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"[{key}] must be a table (a [{key}] section).")
    return dict(value)


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        value = dict(_present(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_text(content: Mapping[str, Any]) -> str:
    """A mapping as TOML text: top-level tables as ``[sections]``, deeper ones inline.

    Keys whose value is ``None`` are left out (TOML has no null; a missing key means the
    default wherever bayesdose reads a file). :func:`read_toml` reads the text back.

    Parameters
    ----------
    content : mapping
        Strings, numbers (NaN and infinities included), booleans, lists and mappings.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        For a value with no TOML form.

    Examples
    --------
    >>> print(toml_text({"name": "koos", "model": {"dose_shape": "emax",
    ...                                            "options": {"hill": 1.0}}}))
    "name" = "koos"
    <BLANKLINE>
    ["model"]
    "dose_shape" = "emax"
    "options" = {"hill" = 1.0}
    <BLANKLINE>
    """
    head, sections = [], []
    for key, value in _present(content).items():
        if isinstance(value, Mapping):
            lines = [f"[{_toml_string(key)}]"]
            lines += [f"{_toml_string(str(k))} = {_toml_value(v)}"
                      for k, v in _present(value).items()]
            sections.append("\n".join(lines))
        else:
            head.append(f"{_toml_string(key)} = {_toml_value(value)}")
    return "\n".join(head) + "\n\n" + "\n\n".join(sections) + "\n"


def _present(content: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in content.items() if value is not None}


def write_toml(content: Mapping[str, Any], path: str | Path) -> Path:
    """Write a mapping as a TOML file, atomically (see :func:`toml_text`).

    Parameters
    ----------
    content : mapping
        The file's tables and values.
    path : str or Path
        The file to write.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = write_toml({"model": {"dose_shape": "linear"}},
    ...                   pathlib.Path(tempfile.mkdtemp()) / "model.toml")
    >>> read_toml(path, "model file")
    {'model': {'dose_shape': 'linear'}}
    """
    return write_text(toml_text(content), path)
