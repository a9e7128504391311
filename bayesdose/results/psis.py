"""PSIS-LOO: the one place where leave-one-out terms and their Pareto k are computed.

Pareto-smoothed importance sampling (Vehtari, Gelman and Gabry 2017) approximates every
unit's leave-one-out log predictive density from one fit's posterior draws; its Pareto k
says where the approximation cannot be trusted: above :data:`PARETO_K_MAX` (0.7; Vehtari
et al. 2024) the unit is too influential, and its term needs an exact refit.

A unit is an observation (one outcome of one patient at one visit) or a group of them
(a patient), whose log likelihoods are summed per draw (:func:`unit_log_likelihood`).
Everything here works on log likelihoods as :func:`pointwise_log_likelihood` puts them
together; the diagnostics (:mod:`bayesdose.results.diagnostics`), cross-validation with
exact refits (:mod:`bayesdose.results.crossval`) and model comparison
(:mod:`bayesdose.model.comparison`) all read PSIS-LOO from :func:`psis_loo`.

An observation whose log likelihood is the same in every draw (a value censored at a
scale bound the model puts all its mass beyond) has equal importance weights: PSIS gives
it a NaN or infinite Pareto k, but its leave-one-out density is known exactly (that
constant), so :func:`psis_loo` reports it with k = 0. Any other unit whose k cannot be
estimated (NaN: importance ratios too heavy-tailed to fit) is reported with k = inf, beyond
the threshold, so its term is flagged (and refitted by cross-validation) like any other
unreliable one.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayesdose.components.inputs import by_row
from bayesdose.errors import DataError
from bayesdose.inference.trees import group as tree_group
from bayesdose.inference.trees import has_group, new_tree

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.results.fit import DoseResponseFit


#: Pareto k above which PSIS-LOO cannot approximate leaving a unit out (Vehtari et al.
#: 2024): reported by the diagnostics, warned about by model comparison, and where
#: cross-validation refits the model without the unit.
PARETO_K_MAX = 0.7


#: Fewest posterior draws (chains x draws) with which ArviZ fits the Pareto tail (its tail
#: of min(S / 5, 3 sqrt(S)) draws must hold at least 5).
MIN_DRAWS = 25


#: Spread (max - min over draws) below which an observation's log likelihood is constant.
CONSTANT_LOGLIK = 1e-8


def pointwise_log_likelihood(source: DoseResponseFit | xr.DataTree | xr.Dataset,
                             n_obs: int | None = None) -> xr.DataArray:
    """All of a fit's log-likelihood values as one array, one column per observation.

    The model has one observed variable per likelihood (``change``, ``change_t``,
    ``log_change``, ``grade_<outcome>``), each with its own observation dim whose
    coordinate is the observation's row in ``fit.inputs``. They are put together in row
    order, so two fits to the same data have the same columns.

    Parameters
    ----------
    source : DoseResponseFit, xarray.DataTree or xarray.Dataset
        A fit with a ``log_likelihood`` group (:meth:`DoseResponseModel.fit` stores one),
        a DataTree with one, or that group itself (e.g. the log likelihood of a
        refit's draws).
    n_obs : int, optional
        Number of observations (rows); default, for a fit: ``len(fit.inputs.response)``.

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, obs (obs = row of ``fit.inputs``, 0 to n - 1).

    Raises
    ------
    DataError
        When there is no log likelihood, or it does not cover every row once.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> group = xr.Dataset({"change": (("chain", "draw", "obs_change"), np.zeros((1, 4, 2))),
    ...                     "log_change": (("chain", "draw", "obs_log_change"),
    ...                                    np.ones((1, 4, 1)))},
    ...                    coords={"obs_change": [0, 2], "obs_log_change": [1]})
    >>> pointwise_log_likelihood(group, n_obs=3).isel(chain=0, draw=0).values.tolist()
    [0.0, 1.0, 0.0]
    """
    if isinstance(source, xr.Dataset | xr.DataTree):
        idata = source
        if n_obs is None:
            raise DataError("n_obs is needed to put a log likelihood together by row "
                            "(it is taken from the fit when a fit is given).")
    else:  # a fit
        idata = source.idata
        n_obs = len(source.inputs.response) if n_obs is None else n_obs
    group = (idata if isinstance(idata, xr.Dataset)
             else tree_group(idata, "log_likelihood") if has_group(idata, "log_likelihood")
             else None)
    if group is None or not group.data_vars:
        raise DataError("the fit has no log_likelihood group, so its predictive accuracy "
                        "cannot be estimated; fit the model with DoseResponseModel.fit "
                        "(which stores it) and use that fit.")
    return by_row(group, n_obs, "log_likelihood")


def unit_log_likelihood(loglik: xr.DataArray, unit: np.ndarray,
                        n_units: int | None = None) -> xr.DataArray:
    """Each unit's log likelihood per draw: the sum over the observations it holds.

    Parameters
    ----------
    loglik : xarray.DataArray
        Dims chain, draw, obs (:func:`pointwise_log_likelihood`).
    unit : numpy.ndarray
        The unit (0 to n_units - 1) of each observation.
    n_units : int, optional
        Number of units (default: ``unit.max() + 1``).

    Returns
    -------
    xarray.DataArray
        Dims chain, draw, unit.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> loglik = xr.DataArray(np.array([[[-1.0, -2.0, -4.0]]]), dims=("chain", "draw", "obs"))
    >>> unit_log_likelihood(loglik, np.array([0, 1, 0])).values.tolist()
    [[[-5.0, -2.0]]]
    """
    unit = np.asarray(unit, dtype=int)
    n_units = int(unit.max()) + 1 if n_units is None else n_units
    chains, draws = loglik.sizes["chain"], loglik.sizes["draw"]
    values = loglik.transpose("chain", "draw", ...).to_numpy().reshape(chains * draws, -1)
    summed = np.zeros((values.shape[0], n_units))
    np.add.at(summed.T, unit, values.T)
    coords = {name: loglik[name].to_numpy() for name in ("chain", "draw")
              if name in loglik.coords}
    return xr.DataArray(summed.reshape(chains, draws, n_units),
                        dims=("chain", "draw", "unit"), coords=coords, name="log_likelihood")


def psis_loo(loglik: xr.DataArray, posterior: xr.Dataset) -> az.ELPDData:
    """PSIS-LOO of every unit of ``loglik``: its elpd term (``elpd_i``) and Pareto k.

    The posterior sets the relative efficiency of the draws, as in :func:`arviz.loo`,
    which computes the terms. A unit whose log likelihood is constant over the draws
    (spread below :data:`CONSTANT_LOGLIK`) gets that constant as its term and k = 0
    (see the module docstring), and the totals follow.

    Parameters
    ----------
    loglik : xarray.DataArray
        Dims chain, draw and the units' dims (one or more).
    posterior : xarray.Dataset
        The posterior draws that gave ``loglik``.

    Returns
    -------
    arviz.ELPDData
        :func:`arviz.loo`'s result: ``elpd``, ``se``, ``p``, and pointwise ``elpd_i`` and
        ``pareto_k`` (with the units' dims), as :func:`arviz.compare` takes it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> loglik = xr.DataArray(rng.normal(-1, 0.1, size=(2, 500, 3)),
    ...                       dims=("chain", "draw", "obs"))
    >>> loglik[..., 1] = -2.0                          # the same in every draw
    >>> posterior = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(2, 500)))})
    >>> elpd = psis_loo(loglik, posterior)
    >>> float(elpd.pareto_k.values[1]), float(elpd.elpd_i.values[1])
    (0.0, -2.0)
    >>> bool((elpd.pareto_k.values < PARETO_K_MAX).all())
    True
    """
    name = loglik.name or "log_likelihood"
    unit_dims = [d for d in loglik.dims if d not in ("chain", "draw")]
    draws = loglik.stack(sample=("chain", "draw")).transpose(*unit_dims, "sample")
    draws = draws.to_numpy().reshape(-1, draws.sizes["sample"])
    constant = np.isfinite(draws).all(axis=1) & (np.ptp(draws, axis=1) < CONSTANT_LOGLIK)
    if constant.any():
        # ArviZ refuses a constant column; stand in for it a column with the same log
        # mean likelihood to within 1e-12 (its term and k are replaced below)
        jitter = np.random.default_rng(0).standard_normal(loglik.shape) * 1e-6
        flat_constant = constant.reshape([loglik.sizes[d] for d in unit_dims])
        mask = xr.DataArray(flat_constant, dims=unit_dims)
        loglik = loglik.transpose("chain", "draw", *unit_dims)
        loglik = xr.where(mask, loglik + jitter, loglik).transpose(*loglik.dims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = new_tree(posterior=posterior,
                        log_likelihood=xr.Dataset({name: loglik.rename(name)}))
        try:
            elpd = az.loo(tree, var_name=name, pointwise=True)
        except ValueError as exc:
            if "n_draws_tail" not in str(exc):
                raise
            raise DataError(f"PSIS-LOO needs at least {MIN_DRAWS} posterior draws in all "
                            f"(this fit has {draws.shape[1]}); refit with more draws.") from exc
    if constant.any():
        elpd = with_exact_terms(elpd, constant, draws.mean(axis=1))
    return with_unestimable_k(elpd)


def with_unestimable_k(elpd: az.ELPDData) -> az.ELPDData:
    """PSIS-LOO results in which a unit whose Pareto k or term could not be estimated
    reads as k = infinity, so that it is flagged above :data:`PARETO_K_MAX` like any other
    unreliable term.

    Importance ratios too heavy-tailed for the generalised Pareto fit give a NaN k; with
    arviz-stats 1.3 extreme ones (log ratios spanning hundreds) can also give a NaN term
    with a small k, which would read as reliable.

    Parameters
    ----------
    elpd : arviz.ELPDData
        From :func:`arviz.loo`.

    Returns
    -------
    arviz.ELPDData
        ``elpd`` itself when every k and term is a number, else a copy with those units'
        k set to infinity and ``warning`` set.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(2)
    >>> loglik = xr.DataArray(rng.normal(-1, 0.1, size=(2, 500, 2)),
    ...                       dims=("chain", "draw", "obs"))
    >>> posterior = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(2, 500)))})
    >>> elpd = psis_loo(loglik, posterior)
    >>> elpd.pareto_k[1] = np.nan
    >>> float(with_unestimable_k(elpd).pareto_k[1])
    inf
    """
    unknown = np.isnan(elpd.pareto_k.values) | ~np.isfinite(elpd.elpd_i.values)
    if not unknown.any():
        return elpd
    out = copy.copy(elpd)
    out.pareto_k = elpd.pareto_k.copy(data=np.where(unknown, np.inf, elpd.pareto_k.values))
    out.warning = True
    return out


def with_exact_terms(elpd: az.ELPDData, exact: np.ndarray,
                     values: np.ndarray) -> az.ELPDData:
    """PSIS-LOO results with some units' terms replaced by exact ones (their k set to 0).

    Parameters
    ----------
    elpd : arviz.ELPDData
        From :func:`psis_loo`.
    exact : numpy.ndarray of bool
        Which units (flattened in the order of ``elpd.elpd_i``) have an exact term.
    values : numpy.ndarray
        The exact terms (read where ``exact``; the others are ignored).

    Returns
    -------
    arviz.ELPDData
        A copy with ``elpd_i``, ``pareto_k``, ``elpd`` (their sum), ``se``
        (sqrt(n var(elpd_i))), ``p`` (the lppd less the new ``elpd``) and ``warning``
        (any k above :data:`PARETO_K_MAX`) updated.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(2)
    >>> loglik = xr.DataArray(rng.normal(-1, 0.1, size=(2, 500, 3)),
    ...                       dims=("chain", "draw", "obs"))
    >>> posterior = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(2, 500)))})
    >>> elpd = psis_loo(loglik, posterior)
    >>> swapped = with_exact_terms(elpd, np.array([False, True, False]), np.full(3, -5.0))
    >>> swapped.elpd_i.values.round(1).tolist(), float(swapped.pareto_k.values[1])
    ([-1.0, -5.0, -1.0], 0.0)
    >>> bool(np.isclose(swapped.elpd, swapped.elpd_i.values.sum()))
    True
    """
    exact = np.asarray(exact, dtype=bool)
    shape = elpd.elpd_i.shape
    out = copy.copy(elpd)
    elpd_i = elpd.elpd_i.copy()
    elpd_i.values = np.where(exact, np.ravel(values), np.ravel(elpd_i.values)).reshape(shape)
    pareto_k = elpd.pareto_k.copy()
    pareto_k.values = np.where(exact, 0.0, np.ravel(pareto_k.values)).reshape(shape)
    total = float(elpd_i.values.sum())
    out.p = float(elpd.p) + float(elpd.elpd) - total
    out.elpd = total
    out.se = float(np.sqrt(elpd_i.size * np.var(elpd_i.values)))
    out.elpd_i, out.pareto_k = elpd_i, pareto_k
    out.warning = bool(np.any(pareto_k.values > PARETO_K_MAX))
    return out


def exact_term(loglik: xr.DataArray, rows: np.ndarray) -> float:
    """The exact leave-one-out term of the observations ``rows`` left out together.

    ``log p(y_rows | y_rest)``, given the log likelihood of every observation under draws
    from the posterior of a refit without them: the log of the mean over draws of their
    joint likelihood.

    Parameters
    ----------
    loglik : xarray.DataArray
        Dims chain, draw, obs (:func:`pointwise_log_likelihood` of the refit's draws).
    rows : numpy.ndarray
        The observations left out.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> loglik = xr.DataArray(np.log([[[0.2, 0.5], [0.4, 0.5]]]),
    ...                       dims=("chain", "draw", "obs"))
    >>> round(exact_term(loglik, np.array([0])), 6) == round(float(np.log(0.3)), 6)
    True
    """
    values = loglik.transpose("chain", "draw", ...).to_numpy()
    values = values.reshape(-1, values.shape[-1])
    joint = values[:, np.asarray(rows, dtype=int)].sum(axis=1)
    return float(logsumexp(joint) - np.log(len(joint)))


def pointwise_loo(idata: xr.DataTree) -> pd.DataFrame:
    """PSIS-LOO per observation of every observed variable in ``idata``'s log likelihood.

    Parameters
    ----------
    idata : xarray.DataTree
        With a ``log_likelihood`` group (one variable per likelihood, each with one
        observation dim).

    Returns
    -------
    pandas.DataFrame
        Columns variable, obs (the observation's coordinate), pareto_k, elpd_loo; empty
        when there is no log likelihood or too few draws (fewer than :data:`MIN_DRAWS`).

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> rng = np.random.default_rng(1)
    >>> ll = rng.normal(-1, 0.1, size=(2, 500, 3))
    >>> idata = az.from_dict({"posterior": {"x": rng.normal(size=(2, 500))},
    ...                       "log_likelihood": {"y": ll}})
    >>> pointwise_loo(idata)["pareto_k"].lt(PARETO_K_MAX).all()
    np.True_
    """
    columns = ["variable", "obs", "pareto_k", "elpd_loo"]
    if not has_group(idata, "log_likelihood") or not idata["log_likelihood"].data_vars:
        return pd.DataFrame(columns=columns)
    group = tree_group(idata, "log_likelihood")
    posterior = tree_group(idata, "posterior")
    frames = []
    for name in group.data_vars:
        values = group[name]
        obs_dims = [d for d in values.dims if d not in ("chain", "draw")]
        try:
            elpd = psis_loo(values, posterior)
        except DataError:  # too few draws: no Pareto k to report
            return pd.DataFrame(columns=columns)
        coords = (values[obs_dims[0]].to_numpy() if len(obs_dims) == 1
                  else np.arange(int(np.prod([values.sizes[d] for d in obs_dims]))))
        frames.append(pd.DataFrame({"variable": name, "obs": coords,
                                    "pareto_k": np.ravel(elpd.pareto_k.to_numpy()),
                                    "elpd_loo": np.ravel(elpd.elpd_i.to_numpy())}))
    return pd.concat(frames, ignore_index=True)
