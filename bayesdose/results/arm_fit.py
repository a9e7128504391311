"""A fitted :class:`~bayesdose.model.arms.ArmModel`: posterior draws and read-outs.

Read-outs are computed with NumPy from the posterior draws, in outcome units (the
standardised, direction-aligned draws times ``sign * scale_sd``), for the population
chosen with ``study=`` (``"pooled"``, ``"new"`` or a study's label; see
:mod:`bayesdose.results.arm_estimands`) and, with several agents, the agent chosen with
``agent=``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.errors import EstimandError
from bayesdose.results import arm_checks, arm_estimands, arm_storage
from bayesdose.results.diagnostics import Diagnostics, diagnose
from bayesdose.results.estimands import check_interval

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from bayesdose.data.arms import ArmData
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
    data : ArmData, optional
        The data that were fitted (needed by read-outs that refit, such as
        leave-one-study-out).

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
                 settings: dict[str, Any], data: ArmData | None = None) -> None:
        self.model = model
        self.inputs = inputs
        self.idata = idata
        self.settings = dict(settings)
        self.data = data

    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file, atomically; :func:`bayesdose.load_arm_fit`
        reads it back.

        The draws, the arm-level data (and a combined fit's patient-level trial), the
        model's configuration and the sampler settings are stored as arrays and JSON
        (see :mod:`bayesdose.results.arm_storage`); nothing is pickled.

        Parameters
        ----------
        path : str or Path
            Target file (``.nc``).

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> path = fit.save("arms.nc")  # doctest: +SKIP
        >>> bd.load_arm_fit(path).effect(dose=[25])  # doctest: +SKIP
        """
        return arm_storage.save_arm_fit(self, path)

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

    # ------------------------------------------------------------------ estimands
    # Thin delegates to bayesdose.results.arm_estimands, where the populations
    # (study="pooled", "new" or a study's label) are defined.
    def effect(self, dose: Any, time: Any = None, ci_prob: float = 0.9,
               study: str = "pooled", agent: str | None = None) -> pd.DataFrame:
        """The effect of ``dose`` against placebo at ``time`` for a population, in
        outcome units.

        ``sign * scale_sd * f(dose; delta_pop) * g(time)`` with the effect size of the
        population ``study``: ``"pooled"`` the mean of the between-study distribution
        (``delta``), ``"new"`` a new study (``delta + tau * z``, z ~ Normal(0, 1) per
        posterior draw, seeded by the fit's ``random_seed``; with fixed study effects the
        same as ``"pooled"``), or a study's label (its own ``delta_s``). See
        :mod:`bayesdose.results.arm_estimands`.

        Parameters
        ----------
        dose : float or sequence of float
            Doses (dose 0 is placebo; only tested doses for ``"free"``).
        time : float or sequence of float, optional
            Times since baseline (default: the last time point; NaN with one time point
            per study).
        ci_prob : float
            Probability of the equal-tailed intervals.
        study : str
            ``"pooled"`` (default), ``"new"`` or a study's label.
        agent : str, optional
            The agent (required when the fit has several).

        Returns
        -------
        pandas.DataFrame
            Columns study, agent, dose, time, mean, sd, median, ci_low, ci_high,
            dose_status, population (one row per dose and time).

        Raises
        ------
        EstimandError
            A study that is not in the fit, an agent missing or not in the fit, or a dose
            the shape cannot evaluate.

        Examples
        --------
        >>> import arviz as az, numpy as np, pandas as pd, bayesdose as bd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.0, 0.5],
        ...                       "se": [0.1] * 2, "n": [100] * 2})
        >>> data = bd.ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> model = bd.ArmModel(dose_shape="linear", study_effects="fixed")
        >>> draws = az.from_dict({"posterior": {"delta": np.full((1, 4), 0.5)}})
        >>> fit = ArmFit(model, model.inputs(data), draws, {})
        >>> fit.effect(dose=[10])[["study", "dose", "mean"]].to_dict("list")
        {'study': ['pooled'], 'dose': [10.0], 'mean': [0.5]}
        >>> fit.effect(dose=[10], study="new")["population"].iloc[0]
        'a new study: with fixed study effects every study has delta, so the same as pooled'
        """
        return arm_estimands.effect(self, dose, time, ci_prob, study, agent)

    def contrast(self, dose: Any, reference: float = 0.0, time: Any = None,
                 ci_prob: float = 0.9, study: str = "pooled",
                 agent: str | None = None) -> pd.DataFrame:
        """The contrast of ``dose`` against ``reference`` for a population, with the
        probability that it is an improvement.

        See :func:`bayesdose.results.arm_estimands.contrast`.

        Parameters
        ----------
        dose : float or sequence of float
            Doses compared with ``reference``.
        reference : float
            The reference dose (default 0: placebo).
        time : float or sequence of float, optional
            Times since baseline (default: the last time point).
        ci_prob : float
            Probability of the equal-tailed intervals.
        study : str
            ``"pooled"`` (default), ``"new"`` or a study's label.
        agent : str, optional
            The agent (required when the fit has several).

        Returns
        -------
        pandas.DataFrame
            Columns study, agent, dose, reference, time, mean, sd, median, ci_low,
            ci_high (outcome units, dose minus reference), direction, prob_gt_0,
            dose_status, reference_status, population.

        Examples
        --------
        >>> fit.contrast(dose=50, reference=10, time=12, study="new")  # doctest: +SKIP
        """
        return arm_estimands.contrast(self, dose, reference, time, ci_prob, study, agent)

    def prob_beyond_mcid(self, dose: Any, mcid: float, reference: float = 0.0,
                         time: Any = None, study: str = "pooled",
                         agent: str | None = None) -> pd.DataFrame:
        """The posterior probability that ``dose`` is better than ``reference`` by more
        than the MCID (in the outcome's better direction), for a population.

        See :func:`bayesdose.results.arm_estimands.prob_beyond_mcid`.

        Parameters
        ----------
        dose : float or sequence of float
        mcid : float
            Minimal clinically important difference (>= 0, outcome units).
        reference : float
            The reference dose (default 0: placebo).
        time : float or sequence of float, optional
            Times since baseline (default: the last time point).
        study : str
            ``"pooled"`` (default), ``"new"`` or a study's label.
        agent : str, optional
            The agent (required when the fit has several).

        Returns
        -------
        pandas.DataFrame
            Columns study, agent, dose, reference, time, mcid, direction, mean, prob,
            population.

        Examples
        --------
        >>> fit.prob_beyond_mcid(dose=50, mcid=0.5, study="new")  # doctest: +SKIP
        """
        return arm_estimands.prob_beyond_mcid(self, dose, mcid, reference, time, study,
                                              agent)

    def effective_dose(self, p: float = 0.5, time: Any = None, ci_prob: float = 0.9,
                       study: str = "pooled", agent: str | None = None) -> pd.DataFrame:
        """EDp: the dose giving a fraction ``p`` of the maximal dose effect, for a
        population.

        As :meth:`bayesdose.DoseResponseFit.effective_dose`: for Emax-type shapes the dose
        giving p x Emax (the asymptote), for other shapes p x the effect at the agent's
        highest tested dose; not reached in the draws whose effect at the highest tested
        dose is not an improvement. See
        :func:`bayesdose.results.arm_estimands.effective_dose`.

        Parameters
        ----------
        p : float
            Fraction of the maximal effect, in (0, 1).
        time : float or sequence of float, optional
            Times at which ``effect_at_ed`` is read (default: the last time point).
        ci_prob : float
            Probability of the equal-tailed interval.
        study : str
            ``"pooled"`` (default), ``"new"`` or a study's label.
        agent : str, optional
            The agent (required when the fit has several).

        Returns
        -------
        pandas.DataFrame
            One row per time (columns as
            :func:`~bayesdose.results.arm_estimands.effective_dose`).

        Examples
        --------
        >>> fit.effective_dose(p=0.5)  # doctest: +SKIP
        """
        return arm_estimands.effective_dose(self, p, time, ci_prob, study, agent)

    def minimum_effective_dose(self, mcid: float, prob: float = 0.8, time: Any = None,
                               reference: float = 0.0, doses: Any = None,
                               ci_prob: float = 0.9, study: str = "pooled",
                               agent: str | None = None) -> pd.DataFrame:
        """The smallest searched dose better than the reference by more than the MCID
        with posterior probability at least ``prob``, for a population.

        ``med`` is NaN (``found`` False, and ``note`` says so) when no searched dose
        qualifies. See :func:`bayesdose.results.arm_estimands.minimum_effective_dose`.

        Parameters
        ----------
        mcid : float
            Minimal clinically important difference (>= 0, outcome units).
        prob : float
            Posterior probability required, in (0, 1).
        time : float or sequence of float, optional
            Times since baseline (default: the last time point).
        reference : float
            The reference dose (default 0: placebo).
        doses : sequence of float, optional
            Doses searched (default: a grid over the agent's tested range plus its tested
            doses; the tested doses only for ``"free"``).
        ci_prob : float
            Probability of the interval of the per-draw MED.
        study : str
            ``"pooled"`` (default), ``"new"`` or a study's label.
        agent : str, optional
            The agent (required when the fit has several).

        Returns
        -------
        pandas.DataFrame
            One row per time (columns as
            :func:`~bayesdose.results.arm_estimands.minimum_effective_dose`).

        Examples
        --------
        >>> fit.minimum_effective_dose(mcid=0.5, prob=0.8, study="new")  # doctest: +SKIP
        """
        return arm_estimands.minimum_effective_dose(self, mcid, prob, time, reference, doses,
                                                    ci_prob, study, agent)

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

    def predictive_check(self, ci_prob: float = 0.9, kind: str = "loo") -> pd.DataFrame:
        """A predictive check of every arm mean: posterior predictive (``kind=
        "posterior"``, conservative) or leave-one-out (``kind="loo"``, calibrated).

        See :func:`bayesdose.results.arm_checks.arm_predictive_check`.

        Examples
        --------
        >>> check = fit.predictive_check(ci_prob=0.9, kind="loo")  # doctest: +SKIP
        >>> check[check["outside"]]  # doctest: +SKIP
        """
        return arm_checks.arm_predictive_check(self, ci_prob, kind)

    def study_fits(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """Each study's observed contrasts against its reference arm beside its fitted
        and the pooled contrasts.

        See :func:`bayesdose.results.arm_checks.study_fits`.

        Examples
        --------
        >>> fit.study_fits()  # doctest: +SKIP
        """
        return arm_checks.study_fits(self, ci_prob)

    def heterogeneity(self, dose: Any = None, time: Any = None, ci_prob: float = 0.9,
                      agent: str | None = None) -> arm_checks.Heterogeneity:
        """How much the effect varies between studies, with a plain-language reading.

        See :func:`bayesdose.results.arm_checks.heterogeneity`.

        Examples
        --------
        >>> print(fit.heterogeneity(dose=25, time=12))  # doctest: +SKIP
        """
        return arm_checks.heterogeneity(self, dose, time, ci_prob, agent)

    def leave_one_study_out(self, dose: Any = None, time: Any = None,
                            draws: int | None = None, tune: int | None = None,
                            chains: int | None = None, agent: str | None = None,
                            ci_prob: float = 0.9) -> pd.DataFrame:
        """Refit without each arm-level study in turn: its influence on the pooled effect
        and how surprising it is to the other studies.

        See :func:`bayesdose.results.arm_checks.leave_one_study_out`.

        Examples
        --------
        >>> fit.leave_one_study_out(draws=500, tune=500)  # doctest: +SKIP
        """
        return arm_checks.leave_one_study_out(self, dose, time, draws, tune, chains, agent,
                                              ci_prob)

    def plot_study_fits(self, ci_prob: float = 0.9, studies: Any = None) -> Figure:
        """Each study's observed arm means with its fitted means, one panel per study.

        See :func:`bayesdose.plots.arms.plot_study_fits`.

        Examples
        --------
        >>> fig = fit.plot_study_fits()  # doctest: +SKIP
        """
        # figures load matplotlib, which the rest of the package does not need
        from bayesdose.plots.arms import plot_study_fits

        return plot_study_fits(self, ci_prob, studies)
