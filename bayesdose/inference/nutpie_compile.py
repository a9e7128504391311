"""nutpie's compilation of a PyMC model, with lighter C-callable wrappers.

:func:`nutpie.compile_pymc_model` (numba backend) compiles the model's log density and
gradient with PyTensor's numba linker (which PyTensor caches on disk) and then wraps them
in two C-callable functions (``numba.cfunc``) that the Rust sampler calls; numba compiles
these wrappers in every process. nutpie 0.16's wrappers copy the gradient into the
sampler's buffer with a slice assignment (``out[...] = grad``), whose numba implementation
formats its error message with string operations that take numba longer to compile than
the rest of the wrapper: on the one-outcome model, about a third of the wrappers' compile
time (benchmarks/cold_start.py). :func:`compile_pymc_model` compiles the same wrappers
with the copy written as a loop; the sampler gets the same values, so the draws are the
same (tests/test_nutpie_compile.py).

When the installed nutpie does not have the functions these wrappers replace (another
release), nutpie's own are used.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

#: nutpie.compile_pymc's functions that :func:`lighter_wrappers` replaces.
REPLACED = ("_make_c_logp_func", "_make_c_expand_func")

_LOCK = threading.Lock()


def compile_pymc_model(pymc_model: Any, **options: Any) -> Any:
    """:func:`nutpie.compile_pymc_model` (numba backend) with the lighter wrappers.

    Parameters
    ----------
    pymc_model : pymc.Model
        The model.
    **options
        Passed to :func:`nutpie.compile_pymc_model`.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        What nutpie returns; ``with_data`` and sampling work as with nutpie's own.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    ...     y = pm.Normal("y", mu, 1, observed=[0.1, -0.3])
    >>> compiled = compile_pymc_model(model)  # doctest: +SKIP
    """
    # nutpie and numba are slow to import: loaded when a model is compiled for nutpie
    import nutpie

    with lighter_wrappers():
        return nutpie.compile_pymc_model(pymc_model, **options)


@contextlib.contextmanager
def lighter_wrappers() -> Iterator[bool]:
    """Within the block, nutpie compiles its C-callable wrappers from
    :func:`make_logp_wrapper` and :func:`make_expand_wrapper`.

    Yields
    ------
    bool
        Whether the wrappers were replaced (False when this nutpie lacks the functions
        they replace: its own are used).
    """
    # nutpie and numba are slow to import: loaded when a model is compiled for nutpie
    import nutpie.compile_pymc as nutpie_pymc

    if not all(hasattr(nutpie_pymc, name) for name in (*REPLACED, "make_extraction_fn")):
        yield False
        return
    with _LOCK:
        originals = {name: getattr(nutpie_pymc, name) for name in REPLACED}
        nutpie_pymc._make_c_logp_func = make_logp_wrapper
        nutpie_pymc._make_c_expand_func = make_expand_wrapper
        try:
            yield True
        finally:
            for name, function in originals.items():
                setattr(nutpie_pymc, name, function)


def make_logp_wrapper(n_dim: int, logp_fn: Any, user_data: np.ndarray,
                      shared_keys: list[str], shared_data: dict[str, np.ndarray]
                      ) -> tuple[Any, Any]:
    """The Python function of nutpie's C-callable log density and its C signature.

    Same arguments, results and return codes as ``nutpie.compile_pymc._make_c_logp_func``
    (0: finite; 1: the density raised; 3: a gradient entry not finite; 4: the density not
    finite; -1: wrong dimension), with the gradient copied element by element.

    Parameters
    ----------
    n_dim : int
        Number of unconstrained parameters.
    logp_fn : numba dispatcher
        PyTensor's numba function of the log density and its gradient.
    user_data : numpy.ndarray
        nutpie's record of the shared data's addresses and shapes.
    shared_keys : list of str
        nutpie's keys of the shared variables ``logp_fn`` takes, in order.
    shared_data : dict of str to numpy.ndarray
        The shared variables' values by key.

    Returns
    -------
    (function, numba signature)
    """
    # nutpie and numba are slow to import: loaded when a model is compiled for nutpie
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_keys, user_data.dtype)
    signature = numba.types.int64(
        numba.types.uint64, numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
        numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):  # pragma: no cover - numba compiles it
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, ())
            logp_value, gradient = extract(x, user_data_)
            logp[()] = logp_value
            finite = True
            for i in range(n_dim):
                out[i] = gradient[i]
                finite = finite and np.isfinite(gradient[i])
            if not finite:
                return 3
            if not np.isfinite(logp_value):
                return 4
        except Exception:  # the sampler reads the return code
            return 1
        return 0

    return logp_numba, signature


def make_expand_wrapper(n_dim: int, n_expanded: int, expand_fn: Any, user_data: np.ndarray,
                        shared_var_keys: list[str], shared_data: dict[str, np.ndarray]
                        ) -> tuple[Any, Any]:
    """The Python function of nutpie's C-callable expansion of a draw (the unconstrained
    parameters to every stored variable) and its C signature.

    Same arguments, results and return codes as ``nutpie.compile_pymc._make_c_expand_func``
    (0: done; -2: the expansion raised; -1: wrong dimensions), with the values copied
    element by element.

    Parameters
    ----------
    n_dim : int
        Number of unconstrained parameters.
    n_expanded : int
        Number of stored values per draw.
    expand_fn : numba dispatcher
        PyTensor's numba function of the expansion.
    user_data : numpy.ndarray
        nutpie's record of the shared data's addresses and shapes.
    shared_var_keys : list of str
        nutpie's keys of the shared variables ``expand_fn`` takes, in order.
    shared_data : dict of str to numpy.ndarray
        The shared variables' values by key.

    Returns
    -------
    (function, numba signature)
    """
    # nutpie and numba are slow to import: loaded when a model is compiled for nutpie
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_var_keys, user_data.dtype)
    signature = numba.types.int64(
        numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double), numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):  # pragma: no cover - numba
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out[i] = values[i]
        except Exception:  # the sampler reads the return code
            return -2
        return 0

    return expand_numba, signature
