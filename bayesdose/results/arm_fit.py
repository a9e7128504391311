"""A fitted :class:`~bayesdose.model.arms.ArmModel`: posterior draws and read-outs.

Read-outs are computed with NumPy from the posterior draws, in outcome units (the
standardised, direction-aligned draws times ``sign * scale_sd``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.results.diagnostics import Diagnostics, diagnose
from bayesdose.results.estimands import check_interval

if TYPE_CHECKING:
    from bayesdose.model.arms import ArmInputs, ArmModel


class ArmFit:
    """Posterior of an arm-level model, with its data and settings.

    Parameters
    ----------
    model : ArmModel
        The model that was fitted.
    inputs : ArmInputs
        The data as the model used them (standardised; the scale and sign).
    idata : xarray.DataTree
        The draws (group ``posterior``, and ``sample_stats`` from sampling).
    settings : dict
        Sampler settings.

    Examples
    --------
    >>> import arviz as az, numpy as np, pandas as pd, bayesdose as bd
    >>> frame = pd.DataFrame({"s": ["A", "A", "B", "B"], "d": [0, 10, 0, 10],
    ...                       "y": [0.0, 0.5, 0.1, 0.6], "se": [0.1] * 4, "n": [100] * 4})
    >>> data = bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
    >>> model = bd.ArmModel(dose_shape="linear", study_effects="fixed")
    >>> draws = {"delta": np.full((1, 4), 0.5)}
    >>> fit = ArmFit(model, model.inputs(data), az.from_dict({"posterior": draws}), {})
    >>> fit.effect(dose=[5, 10])["mean"].tolist()
    [0.25, 0.5]
    """

    def __init__(self, model: ArmModel, inputs: ArmInputs, idata: xr.DataTree,
                 settings: dict[str, Any]) -> None:
        self.model = model
        self.inputs = inputs
        self.idata = idata
        self.settings = dict(settings)

    def _shared(self) -> list[str]:
        """The parameters shared by all studies (no per-study course or offsets)."""
        names = [p.name for p in self.model.parameters(self.inputs) if p.name != "course"]
        return [n for n in names if n in self.idata["posterior"]]

    def _draws(self, name: str) -> np.ndarray:
        """Draws of ``name`` with chains and draws stacked first."""
        values = self.idata["posterior"][name].to_numpy()
        return values.reshape((-1, *values.shape[2:]))

    def parameter_summary(self, ci_prob: float = 0.9, ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior summaries of the shared parameters (standardised scale).

        Parameters
        ----------
        ci_prob : float
            Probability of the intervals.
        ci_kind : {"eti", "hdi"}
            Equal-tailed or highest-density intervals.

        Returns
        -------
        pandas.DataFrame
            One row per parameter element (``delta``, shape and course parameters,
            ``tau``), with ArviZ's columns; the study courses are left out.

        Examples
        --------
        >>> fit.parameter_summary()["parameter"].tolist()  # doctest: +SKIP
        ['delta', 'log_ed50', 'log_et50', 'tau']
        """
        check_interval(ci_prob, ci_kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = az.summary(self.idata, var_names=self._shared(), ci_prob=ci_prob,
                               ci_kind=ci_kind, round_to="none")
        return table.rename_axis("parameter").reset_index()

    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS, divergences, E-BFMI and tree depth, with a verdict.

        Returns
        -------
        Diagnostics
            See :func:`bayesdose.results.diagnostics.diagnose` (over every sampled
            parameter, the study courses and offsets included).

        Examples
        --------
        >>> fit.diagnostics().ok  # doctest: +SKIP
        True
        """
        names = [n for n in self.idata["posterior"].data_vars if n != "delta_study"]
        return diagnose(self.idata, names)

    def effect(self, dose: Any, time: Any = None, ci_prob: float = 0.9,
               study: str | None = None) -> pd.DataFrame:
        """The pooled effect of ``dose`` against placebo at ``time``, in outcome units.

        The effect of the mean study (``delta``, not a new study's ``delta_s``):
        ``sign * scale_sd * f(dose) * g(time)``; with ``study``, that study's own
        effect (its ``delta_s``).

        Parameters
        ----------
        dose : float or sequence of float
            Doses (dose 0 is placebo).
        time : float or sequence of float, optional
            Times since baseline (default: the last time point; ignored with one time
            point per study).
        ci_prob : float
            Probability of the equal-tailed intervals.
        study : str, optional
            A study whose own effect to give (default: the pooled effect).

        Returns
        -------
        pandas.DataFrame
            Columns dose, time, mean, lower, upper (one row per dose and time).

        Raises
        ------
        EstimandError
            For a study that is not in the fit.

        Examples
        --------
        >>> import arviz as az, numpy as np, pandas as pd, bayesdose as bd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.0, 0.5],
        ...                       "se": [0.1] * 2, "n": [100] * 2})
        >>> data = bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> model = bd.ArmModel(dose_shape="linear", study_effects="fixed")
        >>> draws = az.from_dict({"posterior": {"delta": np.full((1, 4), 0.5)}})
        >>> fit = ArmFit(model, model.inputs(data), draws, {})
        >>> fit.effect(dose=[10])[["dose", "mean"]].to_dict("list")
        {'dose': [10.0], 'mean': [0.5]}
        """
        check_interval(ci_prob, "eti")
        doses = np.atleast_1d(np.asarray(dose, dtype=float))
        if np.any(doses < 0) or not np.all(np.isfinite(doses)):
            raise EstimandError("doses must be finite and >= 0.")
        shape, scale = self.model.dose_shape, self.inputs.dose_scale
        shape.check_doses(doses, scale)
        params = {name: self._param(name) for name in self.idata["posterior"].data_vars
                  if name not in ("course", "delta_z", "delta_study")}
        if study is not None:
            params["delta"] = self._study_delta(study, params["delta"])
        f = shape.evaluate(doses, params, scale, np)  # (draws, dose)
        times, g = self._course(time, params)
        values = self.inputs.sign * self.inputs.scale_sd * f[:, :, None] * g[:, None, :]
        tail = (1 - ci_prob) / 2
        rows = [{"dose": d, "time": t, "mean": float(np.mean(values[:, i, j])),
                 "lower": float(np.quantile(values[:, i, j], tail)),
                 "upper": float(np.quantile(values[:, i, j], 1 - tail))}
                for i, d in enumerate(doses) for j, t in enumerate(times)]
        return pd.DataFrame(rows)

    def _study_delta(self, study: str, pooled: np.ndarray) -> np.ndarray:
        """Draws of one study's effect size, shaped like ``pooled`` (:meth:`_param`)."""
        posterior = self.idata["posterior"]
        names = (list(posterior["delta_study"].coords["study"].to_numpy())
                 if "delta_study" in posterior else list(self.inputs.studies))
        if study not in names:
            raise EstimandError(f"study {study!r} is not in the fit (studies: "
                                f"{', '.join(map(repr, names))}).")
        if "delta_study" not in posterior:  # fixed study effects: every study has delta
            return pooled
        values = posterior["delta_study"].sel(study=study).to_numpy()
        return values.reshape((-1, 1, *values.shape[2:]))

    def _param(self, name: str) -> np.ndarray:
        """Draws shaped (draws, 1, *levels), to broadcast against a vector of doses."""
        values = self._draws(name)
        return values.reshape((values.shape[0], 1, *values.shape[1:]))

    def _course(self, time: Any, params: dict[str, np.ndarray]) -> tuple[np.ndarray, Any]:
        """The times asked for and g at them, shaped (draws, time)."""
        draws = next(iter(params.values())).shape[0]
        if self.inputs.time_scale is None:
            return np.array([np.nan]), np.ones((draws, 1))
        scale = self.inputs.time_scale
        times = (np.array([scale.reference]) if time is None
                 else np.atleast_1d(np.asarray(time, dtype=float)))
        self.model.time_shape.check_times(times, scale)
        return times, self.model.time_shape.evaluate(times, params, scale, np)

    def between_study_sd(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """The between-study SD of the effect size, standardised and in outcome units.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed interval.

        Returns
        -------
        pandas.DataFrame
            Two rows (``tau`` is one SD, shared by every dose with ``"free"``): columns
            scale (``"standardised"``, ``"outcome units"``), mean, lower, upper.

        Raises
        ------
        EstimandError
            For a model with fixed study effects.

        Examples
        --------
        >>> fit.between_study_sd()  # doctest: +SKIP
        """
        check_interval(ci_prob, "eti")
        if "tau" not in self.idata["posterior"]:
            raise EstimandError("the model has fixed study effects (study_effects='fixed'): "
                                "there is no between-study SD; fit study_effects='random'.")
        tau = self._draws("tau")
        tail = (1 - ci_prob) / 2
        rows = []
        for label, factor in (("standardised", 1.0), ("outcome units", self.inputs.scale_sd)):
            values = tau * factor
            rows.append({"scale": label, "mean": float(np.mean(values)),
                         "lower": float(np.quantile(values, tail)),
                         "upper": float(np.quantile(values, 1 - tail))})
        return pd.DataFrame(rows)
