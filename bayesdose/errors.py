"""Error types raised by bayesdose.

Every error a user can trigger with bad input is a subclass of :class:`BayesdoseError`,
so scripts can catch them all at once, and each message names the column, row or field
at fault and says how to fix it.
"""

from __future__ import annotations


class BayesdoseError(Exception):
    """Base class of all errors raised by bayesdose on bad input or bad settings."""


class DataError(BayesdoseError, ValueError):
    """The trial data are malformed: a missing column, a bad value, an inconsistent row."""


class SpecError(BayesdoseError, ValueError):
    """A model specification (Python arguments or a TOML model file) is invalid."""


class EstimandError(BayesdoseError, ValueError):
    """An estimand was asked for at a dose, time or outcome the fit cannot answer."""


def describe_rows(labels: list, limit: int = 8) -> str:
    """Format row labels for an error message, truncated after ``limit``.

    Labels such as ``"row 3"`` or ``"line 7"`` that share their word are merged
    (``"rows 3, 7"``).

    Parameters
    ----------
    labels : list
        Row labels (``"row 3"``, ``"line 7"``, or plain numbers).
    limit : int
        How many to print before summarising the rest.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_rows(["row 2", "row 5", "row 9"])
    'rows 2, 5, 9'
    >>> describe_rows(["line 4"])
    'line 4'
    """
    words = {str(label).split(" ", 1)[0] for label in labels}
    prefix = ""
    if len(words) == 1 and all(" " in str(label) for label in labels):
        word = words.pop()
        prefix = f"{word}s " if len(labels) > 1 else f"{word} "
        labels = [str(label).split(" ", 1)[1] for label in labels]
    shown = ", ".join(str(label) for label in labels[:limit])
    if len(labels) > limit:
        shown += f", ... ({len(labels)} in all)"
    return prefix + shown
