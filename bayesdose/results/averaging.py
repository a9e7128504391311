"""Model averaging: the estimands of candidate models fitted to the same trial, averaged
with the comparison's weights (stacking or pseudo-BMA) as the mixture of their posteriors.

:func:`bayesdose.compare` fits and weighs the candidates and returns a :class:`Comparison`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.results.dose_estimands import check_fraction, effective_dose_draws
from bayesdose.results.estimands import (
    as_list,
    check_interval,
    dose_status,
    interval_label,
    tidy_grid,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from bayesdose.results.fit import DoseResponseFit  # pragma: no cover




#: Model weights at or below this are treated as 0 in averages (stacking's optimiser
#: leaves weights of about 1e-15 on models it drops; the mixture changes by less than
#: this, and an average's definition names only the models it uses).
NEGLIGIBLE_WEIGHT = 1e-6

def _weighted_hdi(values: np.ndarray, weights: np.ndarray, prob: float,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Shortest interval [x_i, x_j] holding more than ``prob`` of the weight, per column
    of values (with equal weights: :func:`bayesdose.results.estimands.hdi`)."""
    check_interval(prob, "hdi")
    flat = values.reshape(values.shape[0], -1)
    low = np.full(flat.shape[1], np.nan)
    high = np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        column = flat[:, j]
        keep = ~np.isnan(column)
        order = np.argsort(column[keep], kind="stable")
        x, w = column[keep][order], weights[keep][order]
        if x.size == 0:
            continue
        cum = np.cumsum(w) / w.sum()
        before = cum - w / w.sum()
        end = np.searchsorted(cum, before + prob + 1e-12, side="right")
        valid = end < x.size
        if not valid.any():
            low[j], high[j] = x[0], x[-1]
            continue
        starts = np.flatnonzero(valid)
        with np.errstate(invalid="ignore"):
            widths = x[end[starts]] - x[starts]
        best = starts[int(np.nanargmin(widths))] if np.isfinite(widths).any() else starts[0]
        low[j], high[j] = x[best], x[end[best]]
    shape = values.shape[1:]
    return low.reshape(shape), high.reshape(shape)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray,
                        probs: Sequence[float]) -> list[float]:
    """Weighted quantiles of one column of draws, NaN and ``inf`` counted as the largest.

    The weighted analogue of linear interpolation between order statistics (NumPy's
    default): the i-th smallest draw sits at the cumulative weight up to its midpoint,
    rescaled so that the smallest draw is at 0 and the largest at 1; a quantile between
    two draws is interpolated, and one next to an ``inf`` draw is ``inf``. With equal
    weights these are the quantiles of :func:`numpy.quantile` (and of
    :func:`bayesdose.results.dose_estimands.effective_dose`).
    """
    x = np.where(np.isnan(values), np.inf, np.asarray(values, dtype=float)).reshape(-1)
    order = np.argsort(x, kind="stable")
    x = x[order]
    w = np.asarray(weights, dtype=float).reshape(-1)[order]
    w = w / w.sum()
    if x.size == 1:
        return [float(x[0])] * len(probs)
    position = (np.cumsum(w) - w / 2 - w[0] / 2) / (1 - w[0] / 2 - w[-1] / 2)
    out = []
    for prob in probs:
        j = min(int(np.searchsorted(position, prob - 1e-12, side="left")), x.size - 1)
        if j == 0 or abs(position[j] - prob) <= 1e-12 or not np.isfinite(x[j]):
            out.append(float(x[j]))
        else:
            frac = (prob - position[j - 1]) / (position[j] - position[j - 1])
            out.append(float(x[j - 1] + frac * (x[j] - x[j - 1])))
    return out


def _weighted_tail_interval(values: np.ndarray, weights: np.ndarray, prob: float,
                            kind: str) -> dict[str, float]:
    """Weighted median and credible interval of one column of draws in which ``inf`` is
    "not reached", counted as larger than any value: a bound on, or interpolated
    towards, a draw not reached is ``inf`` (as for a single fit's dose estimands)."""
    tail = (1.0 - prob) / 2.0
    if kind == "eti":
        median, low, high = _weighted_quantiles(values, weights, (0.5, tail, 1.0 - tail))
        return {"median": median, "ci_low": low, "ci_high": high}
    finite = values[np.isfinite(values)]
    median = _weighted_quantiles(values, weights, (0.5,))[0]
    if finite.size == 0:
        return {"median": median, "ci_low": np.inf, "ci_high": np.inf}
    top = float(finite.max())
    stand_in = top + 10.0 * (top - float(finite.min()) + abs(top) + 1.0)
    filled = np.where(np.isfinite(values), values, stand_in)
    low, high = (float(v.item()) for v in _weighted_hdi(filled[:, None], weights, prob))
    return {"median": median, "ci_low": np.inf if low > top else low,
            "ci_high": np.inf if high > top else high}


def _weighted_geometric(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Weighted geometric mean and SD over the positive, reached (finite) draws, their
    weights renormalised (with equal weights: ``exp`` of the mean and of the SD, ddof 1,
    of the log values)."""
    keep = np.isfinite(values) & (values > 0)
    if not keep.any():
        return {"geo_mean": np.nan, "geo_sd": np.nan}
    logs = MixtureDraws(values=np.log(values[keep]),
                        weights=weights[keep] / weights[keep].sum(),
                        model=np.zeros(int(keep.sum())), model_weights=pd.Series(dtype=float))
    geo_sd = float(np.exp(logs.sd())) if keep.sum() > 1 else np.nan
    return {"geo_mean": float(np.exp(logs.mean())), "geo_sd": geo_sd}


@dataclass(frozen=True)
class MixtureDraws:
    """Draws of an estimand from the weighted mixture of several models' posteriors.

    Every draw of model m carries weight ``w_m / S_m`` (``w_m`` the model's weight,
    ``S_m`` its number of draws), so the draws together represent the mixture
    sum_m w_m p_m(estimand | data) exactly; summaries are weighted moments, weighted
    probabilities, weighted quantiles and a weighted equal-tailed or highest-density
    interval, not a resample.

    Attributes
    ----------
    values : numpy.ndarray
        Draws of the models with positive weight, stacked on the first axis.
    weights : numpy.ndarray
        Weight of each draw (sums to 1).
    model : numpy.ndarray
        Name of the model each draw comes from.
    model_weights : pandas.Series
        The models' weights (including those with weight 0).
    model_means : dict of str to numpy.ndarray
        Each model's own posterior mean of the estimand (every model, whatever its weight).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> mix = MixtureDraws(np.array([0.0, 0.0, 4.0]), np.array([0.25, 0.25, 0.5]),
    ...                    np.array(["a", "a", "b"]), pd.Series({"a": 0.5, "b": 0.5}),
    ...                    {"a": np.array(0.0), "b": np.array(4.0)})
    >>> float(mix.mean())
    2.0
    """

    values: np.ndarray
    weights: np.ndarray
    model: np.ndarray
    model_weights: pd.Series
    model_means: dict[str, np.ndarray] = field(default_factory=dict)

    def _axis(self, array: np.ndarray) -> np.ndarray:
        return array.reshape((-1,) + (1,) * (self.values.ndim - 1))

    def mean(self) -> np.ndarray:
        """Mixture mean: sum_m w_m E_m[estimand]."""
        return np.sum(self._axis(self.weights) * self.values, axis=0)

    def sd(self) -> np.ndarray:
        """Mixture SD: weighted variance around the mixture mean, with the
        reliability-weights correction 1 / (1 - sum w_i^2) (= ddof 1 for one model)."""
        mean = self.mean()
        var = np.sum(self._axis(self.weights) * (self.values - mean) ** 2, axis=0)
        return np.sqrt(var / (1.0 - np.sum(self.weights**2)))

    def prob(self, event: np.ndarray) -> np.ndarray:
        """Mixture probability of an event given per draw (a boolean array like values)."""
        event = np.asarray(event, dtype=float)
        return np.sum(self._axis(self.weights) * event, axis=0)

    def hdi(self, prob: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Shortest interval holding more than ``prob`` of the mixture's weight (for one
        model, the interval of :func:`bayesdose.results.estimands.hdi`)."""
        return _weighted_hdi(self.values, self.weights, prob)

    def quantile(self, q: float) -> np.ndarray:
        """Weighted quantile: the smallest draw whose cumulative weight reaches ``q``."""
        if not 0 <= q <= 1:
            raise EstimandError(f"q must be between 0 and 1 (got {q!r}).")
        order = np.argsort(self.values, axis=0, kind="stable")
        ordered = np.take_along_axis(self.values, order, axis=0)
        cum = np.cumsum(self.weights[order], axis=0)
        index = np.argmax(cum >= q - 1e-12, axis=0)
        return np.take_along_axis(ordered, index[None, ...], axis=0)[0]

    def weighted_quantiles(self, probs: Sequence[float]) -> list[np.ndarray]:
        """Weighted quantiles of every column of the draws, interpolated between draws as
        :func:`numpy.quantile` does (with equal weights, its quantiles), NaN and ``inf``
        counted as the largest values."""
        flat = self.values.reshape(self.values.shape[0], -1)
        columns = [_weighted_quantiles(flat[:, j], self.weights, probs)
                   for j in range(flat.shape[1])]
        shape = self.values.shape[1:]
        return [np.array([c[i] for c in columns], dtype=float).reshape(shape)
                for i in range(len(probs))]

    def median(self) -> np.ndarray:
        """Weighted median (:meth:`weighted_quantiles` at 0.5)."""
        return self.weighted_quantiles((0.5,))[0]

    def interval(self, prob: float = 0.95, kind: str = "eti",
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Credible interval of the mixture: equal-tailed (weighted quantiles at
        ``(1 - prob) / 2`` and ``(1 + prob) / 2``) or highest-density (:meth:`hdi`); for
        one model, the interval of :func:`bayesdose.results.estimands.credible_interval`."""
        check_interval(prob, kind)
        if kind == "hdi":
            return self.hdi(prob)
        tail = (1.0 - prob) / 2.0
        low, high = self.weighted_quantiles((tail, 1.0 - tail))
        return low, high

    def summary(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> dict[str, np.ndarray]:
        """Mean, SD, median and credible interval (keys mean, sd, median, ci_low,
        ci_high)."""
        low, high = self.interval(ci_prob, ci_kind)
        return {"mean": self.mean(), "sd": self.sd(), "median": self.median(),
                "ci_low": low, "ci_high": high}

    def sample(self, size: int | None = None, seed: int = 0) -> np.ndarray:
        """Equally weighted draws from the mixture (resampled with a fixed seed).

        Parameters
        ----------
        size : int, optional
            Number of draws (default: as many as there are stacked draws).
        seed : int
            Seed; the same seed gives the same draws.
        """
        size = self.values.shape[0] if size is None else int(size)
        rng = np.random.default_rng(seed)
        index = rng.choice(self.values.shape[0], size=size, p=self.weights)
        return self.values[index]


def _per_draw(result: Any, name: str) -> np.ndarray:
    """A function's per-draw values with the draws on the first axis."""
    if isinstance(result, xr.DataArray) and {"chain", "draw"} <= set(result.dims):
        rest = [d for d in result.dims if d not in ("chain", "draw")]
        array = result.transpose("chain", "draw", *rest).to_numpy()
        return array.reshape((-1, *array.shape[2:]))
    array = np.asarray(result, dtype=float)
    if array.ndim == 0:
        raise EstimandError(f"fn returned one number for model {name!r}; it must return "
                            "per-draw values (draws on the first axis).")
    return array


@dataclass
class Comparison:
    """Candidate fits compared by leave-one-patient-out cross-validation, with weights
    for model averaging (see :func:`bayesdose.compare`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, best first: model, rank, dose_shape, time_shape, elpd_loo, se
        (its standard error, over the units left out), p_loo (effective number of
        parameters), elpd_diff (elpd_loo of the best model minus this one's, >= 0), dse
        (standard error of that difference), weight (by ``method``), weight_stacking,
        weight_pseudo_bma (pseudo-BMA+), unit ("patient" or "observation"), n_units,
        n_obs, loo_kind ("psis", "psis+exact" or "kfold"), n_refits, n_refitted,
        max_pareto_k, n_pareto_k_high (units with Pareto k > 0.7 before refits),
        n_unreliable and warning (True when units are left with unreliable PSIS-LOO
        terms: that model's elpd_loo is unreliable).
    weights : pandas.Series
        The models' weights (index: model name), summing to 1.
    fits : dict of str to DoseResponseFit
        The fits, by model name.
    ic, method : str
        The information criterion and the weighting method.
    loo : dict of str to arviz.ELPDData
        Each model's elpd, with pointwise values (one per unit left out).

    Examples
    --------
    >>> comparison = compare({"emax": fit_emax, "linear": fit_linear})   # doctest: +SKIP
    >>> comparison.average_contrast(dose=50, time=12)                   # doctest: +SKIP
    >>> comparison.average_effective_dose(p=0.5)                        # doctest: +SKIP
    """

    table: pd.DataFrame
    weights: pd.Series
    fits: dict[str, DoseResponseFit]
    ic: str = "loo"
    method: str = "stacking"
    loo: dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        columns = [c for c in ("model", "elpd_loo", "se", "p_loo", "elpd_diff", "dse",
                               "weight_stacking", "weight_pseudo_bma", "unit", "loo_kind",
                               "max_pareto_k") if c in self.table.columns]
        return (f"Comparison ({self.ic}, weights by {self.method}):\n"
                + self.table[columns].to_string(index=False, float_format="{:.3g}".format))

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, escape=True)

    @property
    def first_fit(self) -> DoseResponseFit:
        """The first candidate's fit (all candidates share the data and design)."""
        return next(iter(self.fits.values()))

    def _weights(self, weights: Mapping[str, float] | pd.Series | None) -> pd.Series:
        """The comparison's weights, or ``weights`` checked and normalised."""
        if weights is None:
            return self.weights.reindex(list(self.fits)).fillna(0.0)
        if not isinstance(weights, (Mapping, pd.Series)):
            raise EstimandError("weights must map model names to weights, e.g. "
                                f"{{{next(iter(self.fits))!r}: 0.5, ...}}.")
        given = dict(weights.items())
        unknown = [k for k in given if k not in self.fits]
        if unknown:
            raise EstimandError(f"weights name model(s) {unknown} not in this comparison "
                                f"(models: {list(self.fits)}).")
        values = pd.Series({name: given.get(name, 0.0) for name in self.fits}, dtype=float)
        if not np.all(np.isfinite(values)) or (values < 0).any() or values.sum() <= 0:
            raise EstimandError("weights must be finite, non-negative and not all zero "
                                f"(got {given}); they are normalised to sum to 1.")
        return values / values.sum()

    def average_draws(self, fn: Callable[[DoseResponseFit], Any],
                      weights: Mapping[str, float] | pd.Series | None = None,
                      ) -> MixtureDraws:
        """Model-average any estimand that has a value per posterior draw.

        ``fn(fit)`` is called on every candidate fit and must return that fit's draws of
        the estimand: a NumPy array with the draws on the first axis, or an
        :class:`xarray.DataArray` with dims ``chain`` and ``draw`` (they are stacked,
        chain first). Every model must give the same trailing shape. The result holds
        the weighted mixture of the models' draws (each draw of model m weighs
        w_m / S_m); see :class:`MixtureDraws` for its summaries.

        Parameters
        ----------
        fn : callable
            ``fn(fit) -> per-draw values``.
        weights : mapping of str to float, optional
            Weights replacing the comparison's (names not given get 0; normalised to
            sum to 1).

        Returns
        -------
        MixtureDraws

        Examples
        --------
        Model-averaged ED50 of the Emax-type candidates (weights renormalised over them):

        >>> mix = comparison.average_draws(
        ...     lambda fit: fit.derived()["ed50"].sel(outcome="score"),
        ...     weights={"emax x exponential": 0.6, "sigmoid_emax x exponential": 0.4},
        ... )                                                   # doctest: +SKIP
        >>> mix.mean(), mix.hdi(0.95), mix.prob(mix.values < 20)   # doctest: +SKIP
        """
        if not callable(fn):
            raise EstimandError("fn must be a function of a fit returning per-draw values.")
        w = self._weights(weights)
        arrays, means = {}, {}
        for name, fit in self.fits.items():
            try:
                arrays[name] = _per_draw(fn(fit), name)
            except EstimandError as exc:
                raise EstimandError(f"model {name!r}: {exc}") from exc
            means[name] = arrays[name].mean(axis=0)
        shapes = {name: a.shape[1:] for name, a in arrays.items()}
        if len(set(shapes.values())) > 1:
            raise EstimandError(f"fn returned values of different shapes per draw {shapes}; "
                                "every model must give the same estimand.")
        used = [name for name in self.fits if w[name] > NEGLIGIBLE_WEIGHT]
        values = np.concatenate([arrays[name] for name in used], axis=0)
        draw_weights = np.concatenate([np.full(arrays[name].shape[0],
                                               w[name] / arrays[name].shape[0])
                                       for name in used])
        labels = np.concatenate([np.full(arrays[name].shape[0], name, dtype=object)
                                 for name in used])
        return MixtureDraws(values=values, weights=draw_weights / draw_weights.sum(),
                            model=labels, model_weights=w, model_means=means)

    def _model_columns(self, table: pd.DataFrame, mix: MixtureDraws) -> pd.DataFrame:
        means = {name: np.ravel(value) for name, value in mix.model_means.items()}
        stacked = np.vstack(list(means.values()))
        table["min_model_mean"] = stacked.min(axis=0)
        table["max_model_mean"] = stacked.max(axis=0)
        for name, value in means.items():
            table[f"mean[{name}]"] = value
        return table

    def average_effect(self, dose: Any = None, time: Any = None, outcome: Any = None,
                       ci_prob: float = 0.95, ci_kind: str = "eti", scale: str = "outcome",
                       weights: Mapping[str, float] | pd.Series | None = None,
                       reference: float | None = None) -> pd.DataFrame:
        """Model-averaged dose effect against a reference dose, as a tidy table.

        The posterior of the averaged effect is the mixture of the candidates' posteriors
        with the comparison's weights; its mean, SD, probabilities and interval are
        computed exactly from the weighted draws (see :class:`MixtureDraws`), not by
        resampling. Every candidate measures the effect against the same reference (by
        default the lowest tested dose), so their effects are one quantity.

        Parameters
        ----------
        dose, time, outcome, ci_prob, ci_kind, scale, reference
            As in :meth:`DoseResponseFit.effect`. Every candidate must be able to
            evaluate the doses (the free and monotone shapes only at tested doses, so not
            at ``reference=0`` without a placebo arm).
        weights : mapping of str to float, optional
            Weights replacing the comparison's.

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, time, mean, sd, median, ci_low, ci_high, dose_status,
            reference, reference_status, versus, min_model_mean and max_model_mean (the
            smallest and largest of the models' own posterior means: the spread across
            models) and ``mean[<model>]`` per model; ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> comparison.average_effect(dose=[10, 50], time=12)      # doctest: +SKIP
        """
        check_interval(ci_prob, ci_kind)
        grids: list[xr.DataArray] = []

        def draws(fit: DoseResponseFit) -> xr.DataArray:
            grids.append(fit.effect_draws(dose, time, outcome, scale, reference))
            return grids[-1]

        mix = self.average_draws(draws, weights)
        grid = grids[0]
        table = tidy_grid(mix.summary(ci_prob, ci_kind), grid["outcome"].values,
                          grid["dose"].values, grid["time"].values)
        status = dict(zip(grid["dose"].values,
                          dose_status(grid["dose"].values, self.first_fit.inputs.doses),
                          strict=True))
        table["dose_status"] = table["dose"].map(status)
        for key in ("reference", "reference_status", "versus"):
            table[key] = grid.attrs[key]
        table = self._model_columns(table, mix)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def average_contrast(self, dose: Any, reference: float | None = None, time: Any = None,
                         mcid: float | dict[str, float] | None = None, outcome: Any = None,
                         ci_prob: float = 0.95, ci_kind: str = "eti", scale: str = "outcome",
                         weights: Mapping[str, float] | pd.Series | None = None,
                         ) -> pd.DataFrame:
        """Model-averaged contrast between doses, with the probability of improvement.

        The contrast's posterior is the weighted mixture of the candidates' posteriors
        (exact weighted moments, probabilities, quantiles and interval; see
        :class:`MixtureDraws`).

        Parameters
        ----------
        dose, reference, time, mcid, outcome, ci_prob, ci_kind, scale
            As in :meth:`DoseResponseFit.contrast` (reference: default the lowest
            tested dose).
        weights : mapping of str to float, optional
            Weights replacing the comparison's (e.g. ``{"emax x exponential": 0.25,
            "linear x exponential": 0.75}``).

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`DoseResponseFit.contrast` (outcome, dose, reference,
            time, mean, sd, median, ci_low, ci_high, direction, mcid, prob_gt_0,
            prob_gt_mcid, dose_status, reference_status) plus min_model_mean,
            max_model_mean and ``mean[<model>]`` per model; ``attrs["ci"]`` names the
            interval.

        Examples
        --------
        >>> comparison.average_contrast(dose=50, reference=1, time=12, mcid=10)  # doctest: +SKIP
        """
        check_interval(ci_prob, ci_kind)
        first = self.first_fit
        reference = first.posterior_view.reference_dose(reference)
        doses = as_list(dose, [], "dose")
        grids: list[xr.DataArray] = []

        def draws(fit: DoseResponseFit) -> xr.DataArray:
            grids.append(fit.effect_draws(doses, time, outcome, scale, reference))
            return grids[-1]

        mix = self.average_draws(draws, weights)
        names = list(grids[0]["outcome"].values)
        sign = np.array([first.data.info(n).sign for n in names], dtype=float)
        thresholds = first.posterior_view.mcids(names, mcid)
        if scale == "standardised":
            sign = np.ones_like(sign)
            index = first.posterior_view.outcome_index(names)
            thresholds = thresholds / first.inputs.scales.sd[index]
        aligned = mix.values * sign[None, :, None, None]
        stats_ = mix.summary(ci_prob, ci_kind)
        stats_["prob_gt_0"] = mix.prob(aligned > 0)
        prob_mcid = mix.prob(aligned > thresholds[None, :, None, None])
        stats_["prob_gt_mcid"] = np.where(np.isnan(thresholds)[:, None, None], np.nan,
                                          prob_mcid)
        table = tidy_grid(stats_, names, doses, grids[0]["time"].values)
        table.insert(2, "reference", reference)
        after = table.columns.get_loc("ci_high") + 1
        table.insert(after, "direction", table["outcome"].map(
            {n: first.data.info(n).direction for n in names}))
        table.insert(after + 1, "mcid", table["outcome"].map(
            dict(zip(names, thresholds, strict=True))))
        table["dose_status"] = dose_status(table["dose"].tolist(), first.inputs.doses)
        table["reference_status"] = grids[0].attrs["reference_status"]
        table = self._model_columns(table, mix)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def average_effective_dose(self, p: float = 0.5, outcome: Any = None,
                               ci_prob: float = 0.95, ci_kind: str = "eti",
                               weights: Mapping[str, float] | pd.Series | None = None,
                               min_effect: Any = None, scale: str = "outcome",
                               ) -> pd.DataFrame:
        """Model-averaged EDp, with the same summaries as :meth:`DoseResponseFit.effective_dose`.

        Each candidate's EDp per draw
        (:func:`bayesdose.results.dose_estimands.effective_dose_draws`,
        ``inf`` where a draw never reaches it) enters the weighted mixture of the models'
        posteriors (each draw of model m weighs w_m / S_m, see :meth:`average_draws`), and
        the mixture is summarised as a single fit's EDp is:

        - ``prob_not_reached``: the mixture probability that EDp is not reached (the
          weighted share of such draws); ``prob_below_range``, ``prob_in_range`` and
          ``prob_beyond_range`` (above the highest tested dose or not reached) likewise;
        - ``median``, ``ci_low``, ``ci_high``: weighted median and credible interval
          (probability ``ci_prob``; equal-tailed: weighted quantiles, interpolated between
          draws as NumPy's are; ``ci_kind="hdi"``: the shortest interval holding
          ``ci_prob`` of the weight) over *all* draws, a draw not reached counted as
          beyond every dose (``inf``), so with one model they are that model's;
        - ``geo_mean``, ``geo_sd``: weighted geometric mean and SD over the draws that
          reach EDp, their weights renormalised to sum to 1 (conditional on EDp being
          reached).

        The spread across models is given by each model's own median EDp
        (``median[<model>]``, over its draws, every model whatever its weight) and the
        smallest and largest of them.

        EDp means "p of Emax" for Emax-type shapes and "p of the effect at the highest
        tested dose" for shapes without an asymptote (see
        :func:`~bayesdose.results.dose_estimands.effective_dose`): averaging both kinds mixes two
        quantities. Column ``definition`` says when the weighted models differ; pass
        ``weights`` over one kind of shape to average one quantity.

        Parameters
        ----------
        p : float
            Fraction of the maximal effect, in (0, 1) (0.5 for ED50).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval, in (0, 1).
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        weights : mapping of str to float, optional
            Weights replacing the comparison's (names not given get 0; normalised to
            sum to 1).
        min_effect : float or dict, optional
            Smallest effect at the highest tested dose for EDp to count as reached (as
            in :meth:`DoseResponseFit.effective_dose`; default 0).
        scale : {"outcome", "standardised"}
            Units of ``min_effect``.

        Returns
        -------
        pandas.DataFrame
            One row per outcome: outcome, p, definition, median, ci_low, ci_high,
            geo_mean, geo_sd, prob_below_range, prob_in_range, prob_beyond_range,
            prob_not_reached, min_model_median, max_model_median and ``median[<model>]``
            per model (``inf`` when a model's median draw is not reached);
            ``attrs["ci"]`` names the interval.

        Raises
        ------
        EstimandError
            For ``p`` or ``ci_prob`` outside (0, 1), an unknown ``ci_kind``, an outcome
            not fitted, bad ``weights``, or a candidate whose EDp is undefined
            (``quadratic``).

        Examples
        --------
        >>> comparison.average_effective_dose(p=0.5, outcome="koos_pain")   # doctest: +SKIP
        """
        p = check_fraction(p, "p")
        ci_prob = check_interval(ci_prob, ci_kind)
        per_model: dict[str, xr.DataArray] = {}
        for name, fit in self.fits.items():
            try:
                per_model[name] = effective_dose_draws(fit.posterior_view, p=p, outcome=outcome,
                                                       min_effect=min_effect, scale=scale)
            except EstimandError as exc:
                raise EstimandError(f"model {name!r}: {exc} To average EDp, compare the "
                                    "candidates without this model.") from exc
        by_fit = {id(fit): per_model[name] for name, fit in self.fits.items()}
        mix = self.average_draws(lambda fit: by_fit[id(fit)], weights)
        names = [str(n) for n in next(iter(per_model.values()))["outcome"].values]
        values = np.where(np.isnan(mix.values), np.inf, mix.values)  # (draws, outcome)
        dose_scale = self.first_fit.inputs.dose_scale
        low, high = min(dose_scale.tested), dose_scale.reference
        tol = 1e-9 * max(abs(high), 1.0)
        probs = {"prob_below_range": mix.prob(values < low - tol),
                 "prob_in_range": mix.prob((values >= low - tol) & (values <= high + tol)),
                 "prob_beyond_range": mix.prob(values > high + tol),
                 "prob_not_reached": mix.prob(np.isinf(values))}
        used = [name for name in self.fits if mix.model_weights[name] > NEGLIGIBLE_WEIGHT]
        definitions = {per_model[name].attrs["definition"] for name in used}
        definition = (definitions.pop() if len(definitions) == 1 else "differs by model: "
                      + "; ".join(f"{name}: {per_model[name].attrs['definition']}"
                                  for name in used))
        medians = {name: [_weighted_quantiles(
                              draws.sel(outcome=n).to_numpy(),
                              np.ones(draws.sel(outcome=n).size), (0.5,))[0]
                          for n in names]
                   for name, draws in per_model.items()}
        rows = []
        for k, name in enumerate(names):
            column = values[:, k]
            row: dict[str, Any] = {"outcome": name, "p": p, "definition": definition}
            row.update(_weighted_tail_interval(column, mix.weights, ci_prob, ci_kind))
            row.update(_weighted_geometric(column, mix.weights))
            row.update({key: float(value[k]) for key, value in probs.items()})
            own = [medians[m][k] for m in self.fits]
            row.update(min_model_median=float(min(own)), max_model_median=float(max(own)))
            row.update({f"median[{m}]": medians[m][k] for m in self.fits})
            rows.append(row)
        table = pd.DataFrame(rows)
        table.attrs["ci"] = interval_label(ci_prob, ci_kind)
        return table

    def plot(self, outcome: Any = None, time: float | None = None,
             ci_prob: float = 0.9, ci_kind: str = "eti") -> Figure:
        """The candidates' curves with the model-averaged one; see :func:`plot_candidates`.

        Parameters
        ----------
        outcome : str or list of str, optional
            Outcomes, one panel each (default: all).
        time : float, optional
            Visit (default: the last visit).
        ci_prob : float
            Probability of the model average's band.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density band.

        Returns
        -------
        matplotlib.figure.Figure
            Per outcome, each candidate's posterior-mean effect against the lowest tested
            dose (dashed at weight 0) and the model average with its band.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> comparison = bd.compare(["emax", "linear"], data)             # doctest: +SKIP
        >>> fig = comparison.plot(outcome="koos_pain", time=12)           # doctest: +SKIP
        >>> [ax.get_title() for ax in fig.axes]                           # doctest: +SKIP
        ['KOOS pain']
        """
        # matplotlib loads only when a figure is drawn
        from bayesdose.plots.comparison import plot_candidates

        return plot_candidates(self, outcome=outcome, time=time, ci_prob=ci_prob,
                               ci_kind=ci_kind)
