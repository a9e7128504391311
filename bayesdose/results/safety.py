"""A fitted safety model: event probability per dose, dose contrasts, the probability
that the risk exceeds a threshold, and diagnostics.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.data.safety import SafetyCountData, SafetyData
from bayesdose.errors import DataError, EstimandError
from bayesdose.inference.trees import has_group
from bayesdose.results.diagnostics import Diagnostics, diagnose
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    dose_status,
    interval_label,
    summarise,
)

if TYPE_CHECKING:  # pragma: no cover
    pass


#: The safety model's parameters: the log-odds of an event at the reference dose and the
#: change in log-odds per e-fold of dose.
PARAMETERS = ("alpha", "beta")


# ---------------------------------------------------------------------- fit
def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), without overflow.

    Examples
    --------
    >>> expit(np.array([0.0, 1000.0, -1000.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


class SafetyPosterior:
    """What every safety fit shares: its data, draws, their summary and diagnostics.

    Parameters
    ----------
    data : SafetyData or SafetyCountData
        The data that were fitted (their doses set the log-dose scale).
    idata : xarray.DataTree
        Its ``posterior`` must hold the draws of :attr:`PARAMETERS`.
    model : SafetyModel or SafetyCountModel, optional
        The model that was fitted.
    settings : dict, optional
        Sampler settings and seed.
    """

    #: Parameters every fit of the model has.
    PARAMETERS: tuple[str, ...] = PARAMETERS
    #: What :meth:`parameter_summary` lists, where present.
    SUMMARISED: tuple[str, ...] = (*PARAMETERS, "event_prob")
    #: The model's kind, in messages.
    KIND = "safety-model"

    def __init__(self, data: Any, idata: xr.DataTree, model: Any = None,
                 settings: dict[str, Any] | None = None) -> None:
        posterior = idata["posterior"] if has_group(idata, "posterior") else None
        missing = [n for n in self.PARAMETERS if posterior is None or n not in posterior]
        if missing:
            raise DataError(f"the sampling results have no posterior draws of "
                            f"{', '.join(map(repr, missing))}; it is not a {self.KIND} fit.")
        self.data = data
        self.idata = idata
        self.model = model
        self.settings = dict(settings or {})

    def _doses(self, dose: Any) -> list[float]:
        doses = as_list(dose, self.data.doses, "dose")
        self.data.scale.check(doses)
        return doses

    def parameter_summary(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """ArviZ summary of the parameters and derived quantities in :attr:`SUMMARISED`.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (and element, e.g. per tested dose for
            ``event_prob``), with ArviZ's columns (mean, sd, the interval's bounds, MCSE,
            ESS, R-hat).

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict({"posterior": draws}))  # fixed draws, no sampling
        >>> fit.parameter_summary()["parameter"].tolist()
        ['alpha', 'beta']
        """
        check_interval(ci_prob, ci_kind)
        names = [n for n in self.SUMMARISED if n in self.idata["posterior"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = az.summary(self.idata, var_names=names, ci_prob=ci_prob, ci_kind=ci_kind,
                               round_to="none")
        return table.rename_axis("parameter").reset_index()

    def diagnostics(self) -> Diagnostics:
        """R-hat, bulk/tail ESS, divergences, E-BFMI and tree depth, with a verdict.

        Returns
        -------
        Diagnostics
            See :func:`bayesdose.results.diagnostics.diagnose`.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> fit = bd.SafetyModel().fit(data, draws=500, tune=500, chains=2)  # doctest: +SKIP
        >>> fit.diagnostics().ok  # doctest: +SKIP
        True
        """
        return diagnose(self.idata)


class SafetyFit(SafetyPosterior):
    """A fitted :class:`SafetyModel`: posterior draws and what to read from them.

    Every read-out is computed with NumPy from the draws of ``alpha`` and ``beta``, so it
    is available at any dose, tested or not.

    Parameters
    ----------
    data : SafetyData
        The data that were fitted (their doses set the log-dose scale).
    idata : xarray.DataTree
        Its ``posterior`` must hold ``alpha`` and ``beta`` (dims chain, draw). A fit from
        :meth:`SafetyModel.fit` also has ``event_prob`` (dim dose), ``log_likelihood``,
        ``observed_data`` and ``sample_stats``.
    model : SafetyModel, optional
        The model that was fitted.
    settings : dict, optional
        Sampler settings and seed.

    Examples
    --------
    >>> import arviz as az, bayesdose as bd
    >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
    >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
    ...                                      "beta": np.ones((1, 4))}})
    >>> fit = SafetyFit(data, idata)
    >>> fit.event_probability(dose=data.scale.reference)["mean"].round(3).tolist()
    [0.5]
    """

    data: SafetyData

    def _draws(self, name: str) -> np.ndarray:
        return self.idata["posterior"][name].transpose("chain", "draw").to_numpy()

    def event_probability_draws(self, dose: Any = None) -> xr.DataArray:
        """Posterior draws of the event probability at each dose.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).

        Returns
        -------
        xarray.DataArray
            Dims chain, draw, dose.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict({"posterior": draws}))  # fixed draws, no sampling
        >>> probs = fit.event_probability_draws(dose=[1, 50])
        >>> probs.dims, probs.shape
        (('chain', 'draw', 'dose'), (2, 4, 2))
        """
        doses = self._doses(dose)
        x = self.data.scale.transform(doses)
        logit = self._draws("alpha")[..., None] + self._draws("beta")[..., None] * x
        post = self.idata["posterior"]
        return xr.DataArray(expit(logit), dims=("chain", "draw", "dose"),
                            coords={"chain": post["chain"], "draw": post["draw"],
                                    "dose": doses}, name="event_prob")

    def event_probability(self, dose: Any = None, ci_prob: float = 0.95,
                          ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior probability of at least one adverse event at each dose.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses). Untested doses are
            allowed; ``dose_status`` says whether each is tested, interpolated or
            extrapolated.
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns dose, mean, sd, median, ci_low, ci_high, n_patients and n_events
            (patients observed at that dose and how many of them had an event; NaN for
            untested doses) and dose_status; ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict({"posterior": draws}))  # fixed draws, no sampling
        >>> fit.event_probability(dose=[10, 25])[["dose", "n_patients", "dose_status"]]
           dose  n_patients   dose_status
        0  10.0         4.0        tested
        1  25.0         NaN  interpolated
        """
        check_interval(ci_prob, ci_kind)
        draws = self.event_probability_draws(dose)
        stats = summarise(draws.to_numpy(), ci_prob, ci_kind)
        table = pd.DataFrame({"dose": draws["dose"].to_numpy(), **stats})
        observed = self.data.by_dose().set_index("dose")
        tested = observed.index.to_numpy()
        n_patients, n_events = [], []
        for value in table["dose"]:
            match = np.isclose(value, tested)
            n_patients.append(float(observed["n_patients"].to_numpy()[match][0])
                              if match.any() else np.nan)
            n_events.append(float(observed["n_with_event"].to_numpy()[match][0])
                            if match.any() else np.nan)
        table["n_patients"] = n_patients
        table["n_events"] = n_events
        table["dose_status"] = dose_status(table["dose"].tolist(), self.data.doses)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def prob_exceeds(self, threshold: float | Sequence[float], dose: Any = None) -> pd.DataFrame:
        """Posterior probability that the event probability at a dose exceeds a threshold.

        Parameters
        ----------
        threshold : float or sequence of float
            Event probabilities in (0, 1), for example 0.33 for a tolerability limit.
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).

        Returns
        -------
        pandas.DataFrame
            Columns dose, threshold, prob; one row per dose and threshold.

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict({"posterior": draws}))  # fixed draws, no sampling
        >>> fit.prob_exceeds([0.2, 0.5], dose=50)
           dose  threshold   prob
        0  50.0        0.2  0.875
        1  50.0        0.5  0.500
        """
        thresholds = as_list(threshold, [], "threshold")
        outside = [t for t in thresholds if not 0 < t < 1]
        if outside:
            raise EstimandError(f"threshold(s) {outside} are not event probabilities strictly "
                                "between 0 and 1.")
        draws = self.event_probability_draws(dose)
        flat = draws.to_numpy().reshape(-1, draws.sizes["dose"])
        rows = [{"dose": d, "threshold": t, "prob": float((flat[:, i] > t).mean())}
                for i, d in enumerate(draws["dose"].to_numpy()) for t in thresholds]
        return pd.DataFrame(rows, columns=["dose", "threshold", "prob"])

    def odds_ratio_per_doubling(self, ci_prob: float = 0.95,
                                ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior of the odds ratio of an event for doubling the dose, exp(beta log 2).

        With a placebo offset the ratio is exact for doubling ``dose + offset`` and close
        to it for doses well above the offset.

        Parameters
        ----------
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row: mean, sd, median, ci_low, ci_high, prob_gt_1 (posterior probability that
            the risk rises with dose, i.e. beta > 0).

        Examples
        --------
        >>> import arviz as az, bayesdose as bd
        >>> data = SafetyData.from_frame(bd.datasets.load_msc_adverse_events())
        >>> draws = {"alpha": np.array([[-1.5, -1.0, -0.5, 0.0], [-1.2, -0.9, -0.6, -0.3]]),
        ...          "beta": np.array([[0.0, 0.5, 0.5, 1.0], [0.2, 0.4, 0.6, 0.8]])}
        >>> fit = SafetyFit(data, az.from_dict({"posterior": draws}))  # fixed draws, no sampling
        >>> fit.odds_ratio_per_doubling()["prob_gt_1"].tolist()
        [0.875]
        """
        beta = self._draws("beta")
        ratio = np.exp(beta * np.log(2.0))
        stats = summarise(ratio[..., None], ci_prob, ci_kind)
        row = {k: float(v[0]) for k, v in stats.items()}
        row["prob_gt_1"] = float((beta > 0).mean())
        table = pd.DataFrame([row])
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        return (f"SafetyFit({self.data.n_patients} patients, doses {self.data.doses}, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws)")


class SafetyCountFit(SafetyPosterior):
    """A fitted :class:`SafetyCountModel`: event rates and rate ratios by dose.

    Every read-out is computed with NumPy from the draws of ``alpha`` and ``beta``, so it
    is available at any dose, tested or not.

    Parameters
    ----------
    data : SafetyCountData
        The data that were fitted (their doses set the log-dose scale).
    idata : xarray.DataTree
        Its ``posterior`` must hold ``alpha`` and ``beta`` (dims chain, draw and, with
        several event types, event_type).
    model : SafetyCountModel, optional
        The model that was fitted.
    settings : dict, optional
        Sampler settings and seed.

    Examples
    --------
    >>> import arviz as az, pandas as pd, bayesdose as bd
    >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
    ...                    "exposure": [2.0, 1.0]})
    >>> data = bd.SafetyCountData.from_frame(df)
    >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
    ...                                      "beta": np.full((1, 4), 0.5)}})
    >>> fit = SafetyCountFit(data, idata)
    >>> fit.rate_ratio()[["event_type", "dose", "reference", "mean", "prob_gt_1"]]
      event_type  dose  reference  mean  prob_gt_1
    0        any   4.0        1.0   2.0        1.0
    """

    data: SafetyCountData

    #: Parameters every count-model fit has.
    PARAMETERS = ("alpha", "beta")
    #: What :meth:`parameter_summary` lists, where present.
    SUMMARISED = ("alpha", "beta", "mu_alpha", "mu_beta", "sigma_alpha", "sigma_beta",
                  "dispersion", "event_rate")
    KIND = "count-model"

    def _draws(self, name: str) -> np.ndarray:
        """Draws ``(chain, draw, event_type)``; a scalar parameter is shared by all types."""
        values = self.idata["posterior"][name]
        if "event_type" in values.dims:
            return values.transpose("chain", "draw", "event_type").to_numpy()
        array = values.transpose("chain", "draw").to_numpy()[..., None]
        return np.broadcast_to(array, (*array.shape[:2], len(self.data.event_types)))

    def _types(self, event_type: str | Sequence[str] | None) -> list[str]:
        known = self.data.event_types
        if event_type is None:
            return known
        wanted = [event_type] if isinstance(event_type, str) else list(event_type)
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise EstimandError(f"unknown event type(s) {unknown}; the data have "
                                f"{', '.join(map(repr, known))}.")
        return wanted

    def log_rate_draws(self, dose: Any = None,
                       event_type: str | Sequence[str] | None = None) -> np.ndarray:
        """Draws of the log event rate per unit exposure, ``(chain, draw, type, dose)``.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).
        event_type : str or sequence of str, optional
            Event types (default: all).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import arviz as az, pandas as pd, bayesdose as bd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = bd.SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
        ...                                      "beta": np.ones((1, 4))}})
        >>> SafetyCountFit(data, idata).log_rate_draws(dose=[1, 4]).shape
        (1, 4, 1, 2)
        """
        x = self.data.scale.transform(self._doses(dose))
        index = [self.data.event_types.index(t) for t in self._types(event_type)]
        alpha = self._draws("alpha")[..., index]
        beta = self._draws("beta")[..., index]
        return alpha[..., None] + beta[..., None] * x

    def event_rate(self, dose: Any = None, event_type: str | Sequence[str] | None = None,
                   ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior event rate per unit exposure at each dose and event type.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses).
        event_type : str or sequence of str, optional
            Event types (default: all).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns event_type, dose, mean, sd, median, ci_low, ci_high (events per unit
            exposure), crude_rate (observed events / exposure; NaN at untested doses) and
            dose_status; ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> import arviz as az, pandas as pd, bayesdose as bd
        >>> df = pd.DataFrame({"patient": ["a", "b"], "dose": [1, 4], "n_events": [1, 3],
        ...                    "exposure": [2.0, 1.0]})
        >>> data = bd.SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 4)),
        ...                                      "beta": np.ones((1, 4))}})
        >>> SafetyCountFit(data, idata).event_rate()[["dose", "mean", "crude_rate"]]
           dose  mean  crude_rate
        0   1.0   0.5         0.5
        1   4.0   2.0         3.0
        """
        check_interval(ci_prob, ci_kind)
        doses, types = self._doses(dose), self._types(event_type)
        stats = summarise(np.exp(self.log_rate_draws(doses, types)), ci_prob, ci_kind)
        table = _tidy(stats, types, doses)
        crude = self.data.by_dose().set_index(["event_type", "dose"])["crude_rate"]
        table["crude_rate"] = [_lookup(crude, t, d) for t, d in
                               zip(table["event_type"], table["dose"], strict=True)]
        table["dose_status"] = dose_status(table["dose"].tolist(), self.data.doses)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def rate_ratio(self, dose: Any = None, reference: float | None = None,
                   event_type: str | Sequence[str] | None = None, ci_prob: float = 0.95,
                   ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior rate ratio of each dose against a reference dose, per event type.

        The ratio ``exp(beta_k * (x(dose) - x(reference)))`` does not depend on the
        exposure unit.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the data's unit (default: the tested doses other than the reference).
        reference : float, optional
            Reference dose (default: the lowest tested dose).
        event_type : str or sequence of str, optional
            Event types (default: all).
        ci_prob : float
            Probability of the credible interval (default 0.95).
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns event_type, dose, reference, mean, sd, median, ci_low, ci_high and
            prob_gt_1 (posterior probability that the rate at the dose exceeds the rate at
            the reference); ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> import arviz as az, pandas as pd, bayesdose as bd
        >>> df = pd.DataFrame({"patient": ["a", "b", "c"], "dose": [1, 2, 4],
        ...                    "n_events": [1, 3, 2], "exposure": [2.0, 1.0, 1.0]})
        >>> data = bd.SafetyCountData.from_frame(df)
        >>> idata = az.from_dict({"posterior": {"alpha": np.zeros((1, 2)),
        ...                                      "beta": np.array([[1.0, -1.0]])}})
        >>> SafetyCountFit(data, idata).rate_ratio(reference=2)[["dose", "prob_gt_1"]]
           dose  prob_gt_1
        0   1.0        0.5
        1   4.0        0.5
        """
        check_interval(ci_prob, ci_kind)
        ref = self.data.doses[0] if reference is None else float(reference)
        self.data.scale.check([ref])
        default = [d for d in self.data.doses if not np.isclose(d, ref)]
        doses, types = self._doses(dose if dose is not None else default), self._types(event_type)
        log_ratio = (self.log_rate_draws(doses, types)
                     - self.log_rate_draws([ref], types))
        stats = summarise(np.exp(log_ratio), ci_prob, ci_kind)
        stats["prob_gt_1"] = (log_ratio > 0).reshape((-1, *log_ratio.shape[2:])).mean(axis=0)
        table = _tidy(stats, types, doses)
        table.insert(2, "reference", ref)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        family = self.settings.get("family", self.model.family if self.model else "?")
        return (f"SafetyCountFit({family}, {self.data.n_patients} patients, "
                f"{len(self.data.event_types)} event type(s), doses {self.data.doses}, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws)")


def _tidy(stats: Mapping[str, np.ndarray], types: Sequence[str],
          doses: Sequence[float]) -> pd.DataFrame:
    """Flatten ``(type, dose)`` arrays of statistics into a tidy DataFrame."""
    index = pd.MultiIndex.from_product([list(types), [float(d) for d in doses]],
                                       names=["event_type", "dose"])
    frame = pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in stats.items()}, index=index)
    return frame.reset_index()


def _lookup(crude: pd.Series, event_type: str, dose: float) -> float:
    """The crude rate of a tested dose and type, NaN otherwise."""
    rows = crude.loc[event_type] if event_type in crude.index.get_level_values(0) else None
    if rows is None:
        return np.nan
    match = np.isclose(rows.index.to_numpy(dtype=float), dose)
    return float(rows.to_numpy()[match][0]) if match.any() else np.nan
