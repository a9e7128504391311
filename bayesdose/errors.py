"""Error types raised by bayesdose.

Every error a user can trigger with bad input is a subclass of :class:`BayesdoseError`,
so scripts can catch them all at once, and each message names the column, row or field
at fault and says how to fix it.
"""

from __future__ import annotations


class BayesdoseError(Exception):
    """Base class of all errors raised by bayesdose on bad input or bad settings.

    Examples
    --------
    >>> import bayesdose as bd
    >>> try:
    ...     bd.ModelSpec.from_dict({"sampler": {"chains": 0}})
    ... except bd.BayesdoseError as exc:
    ...     print(type(exc).__name__, exc)
    SpecError sampler.chains must be an integer >= 1 (got 0).
    """


class DataError(BayesdoseError, ValueError):
    """The trial data are malformed: a missing column, a bad value, an inconsistent row.

    Examples
    --------
    >>> import pandas as pd, bayesdose as bd
    >>> frame = pd.DataFrame({"id": [1, 1], "mg": ["5 mg", "5 mg"], "wk": [0, 4],
    ...                       "pain": [50, 40]})
    >>> bd.TrialData.from_frame(frame, patient="id", dose="mg", time="wk", outcomes=["pain"])
    Traceback (most recent call last):
    ...
    bayesdose.errors.DataError: column 'mg' has non-numeric values ('5 mg') at rows 0, 1. ...
    """


class SpecError(BayesdoseError, ValueError):
    """A model specification (Python arguments or a TOML model file) is invalid.

    Examples
    --------
    >>> import bayesdose as bd
    >>> bd.ModelSpec.from_dict({"model": {"dose_shap": "emax"}})
    Traceback (most recent call last):
    ...
    bayesdose.errors.SpecError: model.dose_shap: unknown field. Did you mean 'dose_shape'? ...
    """


class EstimandError(BayesdoseError, ValueError):
    """An estimand was asked for at a dose, time or outcome the fit cannot answer, or with
    settings that cannot work (an interval probability, a level or an MCID out of range).

    Examples
    --------
    >>> from bayesdose.results.signal import critical_value
    >>> critical_value([[-1.0, 1.0]], [5, 5], alpha=0.5)
    Traceback (most recent call last):
    ...
    bayesdose.errors.EstimandError: alpha must be a one-sided level between 0 and 0.5 (got 0.5).
    >>> issubclass(EstimandError, BayesdoseError) and issubclass(EstimandError, ValueError)
    True
    """


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
