"""The results of a fit: ArviZ's DataTree plus the read-outs statisticians ask for.

A :class:`DoseResponseFit` holds an :class:`xarray.DataTree` (ArviZ 1) with named dims
(outcome, dose, time, patient) and everything needed to rebuild the fit from a netCDF
file: the model's configuration, the trial data, the sampler settings and the package
versions are stored inside it (never pickled).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesdose.data.trial import TrialData
from bayesdose.files.output import write_atomic
from bayesdose.inference.trees import group, has_group
from bayesdose.results import dose_estimands, readouts
from bayesdose.results.crossval import KFOLD_K, MAX_REFITS, loo
from bayesdose.results.diagnostics import Diagnostics, diagnose
from bayesdose.results.estimands import check_interval
from bayesdose.results.posterior import PosteriorView
from bayesdose.results.predictive import predictive_check
from bayesdose.results.psis import PARETO_K_MAX
from bayesdose.results.signal import FREE_SHAPE, check_options, free_refit, signal_test
from bayesdose.results.storage import read_config

if TYPE_CHECKING:  # pragma: no cover
    from bayesdose.model.dose_response import DoseResponseModel


class DoseResponseFit:
    """A fitted dose-response model: posterior draws and what to read from them.

    Parameters
    ----------
    model : DoseResponseModel
        The model that was fitted.
    data : TrialData
        The data it was fitted to (its outcomes only).
    idata : xarray.DataTree
        Posterior, sample statistics, posterior predictive, log likelihood, observed
        data, prior and the stored configuration, one group each: ArviZ takes it as it
        is (``az.summary(fit.idata)``, ``az.loo(fit.idata)``, ``az.plot_trace(fit.idata)``).

    Notes
    -----
    Fits come from :meth:`DoseResponseModel.fit` (or :func:`bayesdose.fit`) and
    :func:`load_fit`. A fit can also be made from any draws of the model's variables
    (dims chain, draw, outcome, ...), for example its prior draws: the estimands read
    the ``posterior`` group (the shape parameters; :meth:`expected_change` also
    ``course``). :attr:`settings` (and so :meth:`refit` and the fit's ``repr``) and
    :func:`load_fit` need the configuration that :meth:`DoseResponseModel.fit` stores,
    :meth:`diagnostics` its sampler statistics and :meth:`loo` its log likelihood.

    The read-outs are functions of the fit's :attr:`posterior_view` (the draws, the
    model's shapes, its inputs and the outcomes' metadata: see
    :mod:`bayesdose.results.readouts` and :mod:`bayesdose.results.dose_estimands`); the
    methods here call them.

    Examples
    --------
    >>> import xarray as xr, bayesdose as bd
    >>> fit = bd.load_fit("fit.nc")                     # doctest: +SKIP
    >>> fit.contrast(dose=50, reference=1, time=12)     # doctest: +SKIP

    Without sampling, the prior's draws in place of a posterior:

    >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
    >>> model = bd.DoseResponseModel()
    >>> prior = model.sample_prior_predictive(data, draws=100)
    >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    >>> fit = bd.DoseResponseFit(model, data, draws)
    >>> fit.outcomes
    ['koos_pain', 'womac_pain']
    """

    def __init__(self, model: DoseResponseModel, data: TrialData,
                 idata: xr.DataTree) -> None:
        self.model = model
        self.data = data
        self.idata = idata
        self.inputs = model.inputs(data)

    # ------------------------------------------------------------------ basics
    @property
    def outcomes(self) -> list[str]:
        """The fitted outcomes."""
        return list(self.inputs.outcomes)

    @property
    def posterior_view(self) -> PosteriorView:
        """What the read-outs need: the posterior draws, the model's dose shape and time
        course, the model's inputs, the outcomes' metadata, and the prior draws (the
        ``prior`` group of :attr:`idata`; None when the fit has none), against which the
        read-outs measure how much the data narrowed each estimand.

        Made afresh from :attr:`idata`, :attr:`model`, :attr:`inputs` and :attr:`data` on
        every access, so it follows changes to them.

        Returns
        -------
        PosteriorView
        """
        prior = group(self.idata, "prior") if has_group(self.idata, "prior") else None
        return PosteriorView(
            posterior=group(self.idata, "posterior"), dose_shape=self.model.dose_shape,
            time_shape=self.model.time_shape, inputs=self.inputs,
            outcome_info={name: self.data.info(name) for name in self.inputs.outcomes},
            prior=prior)

    @property
    def settings(self) -> dict[str, Any]:
        """Sampler settings and seed of this fit."""
        return read_config(self.idata)["sampler"]

    def refit(self, data: TrialData | None = None, **settings: Any) -> DoseResponseFit:
        """Fit this fit's model again, on new data or with other sampler settings.

        The model object keeps what it built and compiled for each design
        (:mod:`bayesdose.inference.compiled`), so data of the same design (the same patients, doses,
        visits and observed cells, with other values: a corrected data set, a bootstrap
        replicate, a simulated trial) are refitted warm, without building or compiling;
        with the same data, settings and seed a warm refit gives the numbers of the cold
        fit. Data of another design are fitted cold.

        Parameters
        ----------
        data : TrialData, optional
            The new data (default: this fit's data).
        **settings
            Sampler settings to change (``draws``, ``tune``, ``chains``, ``random_seed``,
            ``target_accept``, ``sampler``, ``cores``, ``progressbar``, ``prior_draws``);
            the others are this fit's.

        Returns
        -------
        DoseResponseFit

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> fit = bd.DoseResponseModel().fit(data, random_seed=1)    # doctest: +SKIP
        >>> again = fit.refit(random_seed=2)                         # doctest: +SKIP
        >>> same = fit.refit(random_seed=1)                          # doctest: +SKIP
        >>> bool((same.idata.posterior == fit.idata.posterior).all())  # doctest: +SKIP
        True
        """
        recorded = {key: self.settings[key] for key in
                    ("draws", "tune", "chains", "random_seed", "target_accept", "sampler")
                    if key in self.settings}
        if has_group(self.idata, "prior"):
            recorded["prior_draws"] = self.idata["prior"].sizes["draw"]
        else:
            recorded["prior_draws"] = 0
        return self.model.fit(self.data if data is None else data, **{**recorded, **settings})

    def diagnostics(self) -> Diagnostics:
        """R-hat, bulk/tail ESS, divergences, E-BFMI, tree depth (the verdict) and
        PSIS-LOO Pareto k per observation (reported, named by outcome, patient, time).

        The verdict (``ok``) needs the sampler statistics a fit from
        :meth:`DoseResponseModel.fit` stores, Pareto k its log likelihood (without one,
        there is no Pareto k row).

        Returns
        -------
        Diagnostics
            ``.table`` (one row per check with threshold, pass/fail and advice),
            ``.parameters`` (per parameter), ``.observations`` (Pareto k per
            observation) and ``.ok``.

        Examples
        --------
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> fit = bd.DoseResponseModel().fit(data)  # doctest: +SKIP
        >>> diagnostics = fit.diagnostics()  # doctest: +SKIP
        >>> diagnostics.table["check"].tolist()  # doctest: +SKIP
        ['r_hat', 'ess_bulk', 'ess_tail', 'divergences', 'e_bfmi', 'tree_depth', 'pareto_k']
        >>> diagnostics.ok  # doctest: +SKIP
        True
        """
        return diagnose(self.idata, observation_labels=self._observation_labels())

    def predictive_check(self, group: str = "posterior", ci_prob: float = 0.9,
                         ci_kind: str = "eti") -> pd.DataFrame:
        """Observed arm means against their posterior (or prior) predictive distribution.

        See :func:`bayesdose.results.predictive.predictive_check`.

        Parameters
        ----------
        group : {"posterior", "prior"}
            Posterior predictive (does the fitted model reproduce the data?) or prior
            predictive (are the priors compatible with data like these?).
        ci_prob : float
            Probability of the predictive interval of each arm mean.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per outcome, dose and visit (columns as
            :func:`~bayesdose.results.predictive.predictive_check`, among them ``extreme``).

        Examples
        --------
        >>> fit.predictive_check().query("extreme")     # doctest: +SKIP
        """
        return predictive_check(self.idata, self.inputs, group=group, ci_prob=ci_prob,
                                ci_kind=ci_kind)

    def loo(self, unit: str = "patient", refit: bool = True,
            k_threshold: float = PARETO_K_MAX, max_refits: int | None = MAX_REFITS,
            k_folds: int = KFOLD_K, seed: int = 0):
        """Leave-one-out elpd by patient or by observation, with refits where PSIS-LOO is
        unreliable (see :func:`bayesdose.results.crossval.loo`).

        Parameters
        ----------
        unit : {"patient", "observation"}
            What is left out: all of one patient's observations (the default), or one
            observation.
        refit : bool
            Refit where a unit's Pareto k exceeds ``k_threshold``: each such patient left
            out exactly when there are at most ``max_refits``, else K-fold by patient
            (``k_folds`` refits); ``False`` reports PSIS-LOO alone.
        k_threshold : float
            Pareto k above which a unit is refitted.
        max_refits : int or None
            Most units refitted one at a time (default 5; ``None``: no limit). Leaving out
            observations, the ones with the largest k are refitted and any others stay
            unreliable.
        k_folds : int
            Folds of the K-fold fallback (fewer when there are fewer patients).
        seed : int
            Seed of the K-fold folds (stratified by dose).

        Returns
        -------
        CrossValidation

        Examples
        --------
        >>> fit.loo(max_refits=3)                      # doctest: +SKIP
        """

        return loo(self, unit=unit, refit=refit, k_threshold=k_threshold,
                   max_refits=max_refits, k_folds=k_folds, seed=seed)

    def signal_test(self, time: Any = None, outcome: Any = None, shapes: Any = None,
                    alpha: float = 0.05, family: bool = True, multiplicity: str = "none",
                    refit_settings: dict[str, Any] | None = None) -> pd.DataFrame:
        """Bayesian MCP-Mod test for a dose-response signal (see
        :func:`bayesdose.results.signal.signal_test`).

        MCP-Mod contrasts per-dose estimates. On a fit of the ``"free"`` dose shape the
        test runs on this fit. On a fit of any other shape (a parametric curve ties the
        effects at the doses to its parameters; ``"monotone"`` forces them to rise) it
        refits the same model with ``dose_shape="free"``
        (:func:`~bayesdose.results.signal.free_refit`: same time course, data, priors
        of the other parameters, sampler settings and seed, so the same numbers every
        time), tests the refit and says so in the column and
        ``attrs["tested_on"]``. Fit the free shape yourself to test without refitting.

        Each outcome is tested, and each family of two or more of the chosen outcomes;
        ``multiplicity`` says whether the level is shared across them.

        Parameters
        ----------
        time : float or sequence, optional
            Visit(s) at which to test (default: the last visit).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        shapes : list of str or mapping, optional
            Candidate shapes (default: ``"linear"``, ``"emax"``, ``"exponential"``,
            ``"sigmoid_emax"``).
        alpha : float
            One-sided level, in (0, 0.5): of each row, or of all rows together with
            ``multiplicity="bonferroni"``.
        family : bool
            Also test each family of two or more of the chosen outcomes.
        multiplicity : {"none", "bonferroni"}
            Adjustment across the rows (outcomes, families, times) tested.
        refit_settings : dict, optional
            Sampler settings of the free refit that differ from this fit's (for example
            ``{"progressbar": False}``); unused on a free fit.

        Returns
        -------
        pandas.DataFrame
            One row per outcome and family: level, name, members, time, reference,
            n_patients, ``prob_<shape>`` per shape, max_prob, prob_not_flat, best_shape,
            critical_value, gamma, alpha, multiplicity, tests, outcomes_tested,
            alpha_test, signal, tested_on (``"free per-dose fit"``, or e.g. ``"free
            per-dose refit of the emax fit"``).

        Examples
        --------
        >>> fit.signal_test(time=12)                   # doctest: +SKIP
        >>> fit.signal_test(multiplicity="bonferroni")  # doctest: +SKIP
        """

        options = {"time": time, "outcome": outcome, "shapes": shapes, "alpha": alpha,
                   "family": family, "multiplicity": multiplicity}
        if self.model.dose_shape.name == FREE_SHAPE:
            return signal_test(self.posterior_view, **options)
        check_options(alpha, multiplicity)  # before the refit
        free = free_refit(self, **(refit_settings or {}))
        table = signal_test(free.posterior_view, **options)
        tested_on = f"free per-dose refit of the {self.model.dose_shape.name} fit"
        table["tested_on"] = tested_on
        table.attrs["tested_on"] = tested_on
        return table

    def _observation_labels(self) -> pd.DataFrame:
        """Outcome, patient and time of every observation (``obs`` = its row)."""
        inputs = self.inputs
        return pd.DataFrame({
            "obs": np.arange(len(inputs.outcome_idx)),
            "outcome": np.asarray(inputs.outcomes)[inputs.outcome_idx],
            "patient": np.asarray(inputs.patients)[inputs.patient_idx],
            "time": np.asarray(inputs.visits, dtype=float)[inputs.time_idx],
        })

    def prior_table(self) -> pd.DataFrame:
        """Every parameter's prior in this fit, whether it is the default, and why.

        Returns
        -------
        pandas.DataFrame
            Columns parameter, meaning, prior, default, reason (as
            :meth:`DoseResponseModel.prior_table` on the fit's data): one row per
            parameter, then one per outcome, ``scale_sd[<outcome>]``, with the scale SD
            the standardised priors are in units of, its units and what it is.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> fit.prior_table()["parameter"].tolist()  # doctest: +NORMALIZE_WHITESPACE
        ['delta', 'log_ed50', 'log_t_half', 'delta_family_sd', 'log_ed50_family_sd',
         'course', 'beta_baseline', 'patient_loading', 'patient_sd', 'sigma',
         'scale_sd[koos_pain]', 'scale_sd[womac_pain]']
        """
        return self.model.prior_table(self.data)

    def parameter_summary(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior summary (ArviZ) of the model's parameters.

        Patient-level terms (``patient_effect``, ``patient_z``, ``patient_factor``,
        ``patient_slope``),
        non-centred offsets (``<name>_offset``), the mixture draws of family-pooled
        parameters (``<name>_member``, equal to ``<name>`` for outcomes that share a
        family) and the LKJ Cholesky factor and
        correlation matrix are left out; the patient SDs (``patient_sd``,
        ``patient_chol_stds``, ``patient_effect_sigma``, ``patient_slope_sd``) and
        loadings are kept, as are
        the family means and SDs of pooled parameters and the model's ``effect`` at the
        tested doses and visits (outcome units: f(d) g(t), against dose 0, which without
        a placebo arm is extrapolated by the dose shape; :meth:`effect` reads effects
        against the lowest tested dose).

        Parameters
        ----------
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default, ArviZ's ``eti<prob>_lb`` and ``_ub`` columns) or
            highest-density interval (``hdi<prob>_lb``, ``_ub``).

        Returns
        -------
        pandas.DataFrame
            One row per parameter element (``parameter``, e.g. ``delta[koos_pain]``)
            with the columns of :func:`arviz.summary`: mean, sd, the interval's bounds,
            mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> summary = fit.parameter_summary()
        >>> summary.columns.tolist()[:5]
        ['parameter', 'mean', 'sd', 'eti95_lb', 'eti95_ub']
        >>> names = sorted({name.split("[")[0] for name in summary["parameter"]})
        >>> names  # doctest: +NORMALIZE_WHITESPACE
        ['beta_baseline', 'course', 'delta', 'delta_family_mean', 'delta_family_sd',
         'effect', 'log_ed50', 'log_ed50_family_mean', 'log_ed50_family_sd', 'log_t_half',
         'patient_loading', 'patient_sd', 'sigma']
        """
        check_interval(ci_prob, ci_kind)
        skip = ("patient_effect", "patient_z", "patient_factor", "patient_chol",
                "patient_chol_corr", "patient_slope")
        names = [v for v in self.idata["posterior"].data_vars
                 if v not in skip and not v.endswith(("_offset", "_member"))
                 and not (v.startswith("patient_effect") and not v.endswith("_sigma"))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = az.summary(self.idata, var_names=names, ci_prob=ci_prob, ci_kind=ci_kind,
                               round_to="none")
        return table.rename_axis("parameter").reset_index()

    def derived(self) -> xr.Dataset:
        """Derived parameters, per draw and outcome (for example ED50, t_half).

        What there is depends on the shapes: ``ed50`` and ``emax`` (``emax``, and
        ``hill`` for ``sigmoid_emax``), ``t_half`` (``exponential``; ``bateman`` also
        ``t_wane`` and ``t_peak``), ``et50`` (the ``emax`` time course), ``plateau``
        (``exponential`` and ``emax`` courses: the plateau effect over the effect at the
        last visit); nothing for shapes without such quantities. Doses and times are in
        the user's units; ``emax``
        (the asymptote of the dose shape) is on the standardised, direction-aligned
        scale (outcome SDs, positive = better).

        Returns
        -------
        xarray.Dataset
            One variable per derived quantity, dims chain, draw, outcome.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> derived = fit.derived()
        >>> sorted(derived.data_vars), derived["ed50"].dims
        (['ed50', 'emax', 'plateau', 't_half'], ('chain', 'draw', 'outcome'))
        """
        return readouts.derived(self.posterior_view)

    # ------------------------------------------------------------------ estimands
    def effect_draws(self, dose: Any = None, time: Any = None, outcome: Any = None,
                     scale: str = "outcome", reference: float | None = None) -> xr.DataArray:
        """Posterior draws of the dose effect against a reference dose on a dose x time
        grid.

        Parameters
        ----------
        dose, time : float or sequence, optional
            Doses and times in the user's units (default: tested doses, visits).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        scale : {"outcome", "standardised"}
            Outcome units (sign as the outcome, e.g. negative = less pain on WOMAC) or
            the standardised, direction-aligned scale (positive = better).
        reference : float, optional
            Reference dose (default: the lowest tested dose, placebo when tested);
            ``reference=0`` without a placebo arm asks for the effect against dose 0
            extrapolated by the dose shape.

        Returns
        -------
        xarray.DataArray
            Dims chain, draw, outcome, dose, time; ``attrs`` reference,
            reference_status and versus.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> draws = fit.effect_draws(dose=[10, 50], time=12)
        >>> draws.dims, draws.shape
        (('chain', 'draw', 'outcome', 'dose', 'time'), (1, 100, 2, 2, 1))
        """
        return readouts.effect_draws(self.posterior_view, dose, time, outcome, scale,
                                     reference)

    def versus(self, reference: float | None = None) -> str:
        """What effects are measured against, in words.

        Parameters
        ----------
        reference : float, optional
            The reference dose (default: the lowest tested dose, the default of
            :meth:`effect` and :meth:`contrast`).

        Returns
        -------
        str
            ``"dose 0 (tested)"`` with a placebo arm; without one, by default the lowest
            tested dose (``"dose 1 (lowest tested; no placebo arm)"``); a reference that
            was not tested is said to be interpolated or extrapolated by the dose shape.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> fit.versus()
        'dose 1 (lowest tested; no placebo arm)'
        >>> fit.versus(reference=0)
        'dose 0 (not tested: extrapolated by the dose shape)'
        """
        return self.posterior_view.versus(reference)

    def effect(self, dose: Any = None, time: Any = None, outcome: Any = None,
               ci_prob: float = 0.95, ci_kind: str = "eti", scale: str = "outcome",
               reference: float | None = None) -> pd.DataFrame:
        """Posterior dose effect against a reference dose at each dose and time, as a
        tidy table.

        The effect of dose d at time t against the reference r is (f(d) - f(r)) g(t): the
        expected change from baseline at dose d minus that at dose r, for the same
        patient and baseline. The reference is the lowest tested dose unless another is
        asked for: placebo when a placebo arm was tested. Without one, dose 0 lies below
        the tested doses and its effect rests on the dose shape alone; ask for it with
        ``reference=0`` (columns ``reference_status`` and ``versus`` then say it is
        extrapolated).

        Parameters
        ----------
        dose, time : float or sequence, optional
            Doses and times in the user's units (default: tested doses, visits). Doses
            between or beyond the tested ones are flagged in ``dose_status``.
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Outcome units or the standardised, direction-aligned scale.
        reference : float, optional
            Reference dose (default: the lowest tested dose).

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, time, mean, sd, median, ci_low, ci_high, dose_status,
            reference, reference_status, versus; ``attrs["ci"]`` names the interval
            (e.g. ``"eti 95%"``).

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> model = bd.DoseResponseModel()
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> fit = bd.DoseResponseFit(model, data, xr.DataTree.from_dict(
        ...     {"posterior": prior["prior"].to_dataset()}))
        >>> table = fit.effect(dose=[1, 50], time=12)
        >>> table[["dose", "reference", "reference_status"]]
           dose  reference reference_status
        0   1.0        1.0           tested
        1  50.0        1.0           tested
        >>> fit.effect(dose=50, time=12, reference=0)["reference_status"].tolist()
        ['extrapolated']
        >>> table.attrs["ci"]
        'eti 95%'
        """
        return readouts.effect(self.posterior_view, dose, time, outcome, ci_prob=ci_prob,
                               ci_kind=ci_kind, scale=scale, reference=reference)

    def contrast(self, dose: Any, reference: float | None = None, time: Any = None,
                 mcid: float | dict[str, float] | None = None, outcome: Any = None,
                 ci_prob: float = 0.95, ci_kind: str = "eti",
                 scale: str = "outcome") -> pd.DataFrame:
        """Posterior contrast between doses, with the probability of a (clinically
        important) improvement.

        Parameters
        ----------
        dose : float or sequence
            Dose(s) to compare.
        reference : float, optional
            Reference dose (default: the lowest tested dose).
        time : float or sequence, optional
            Times (default: every visit).
        mcid : float or dict, optional
            Minimal clinically important difference (positive, outcome units): one number
            for all outcomes or one per outcome (default: each outcome's declared MCID).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Outcome units (the MCID as given), or the standardised, direction-aligned
            scale (positive = better; the MCID divided by the outcome's scale SD).

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, reference, time, mean, sd, median, ci_low, ci_high
            (contrast in outcome units: dose minus reference), direction, mcid,
            mcid_scale, prob_gt_0 (posterior probability that ``dose`` is better than
            ``reference``, direction-aware: for a lower-is-better outcome, a negative
            contrast is an improvement), prob_gt_mcid (probability that it is better by
            more than the MCID), dose_status and reference_status (``"extrapolated"``
            for a dose outside the tested ones, such as dose 0 without a placebo arm);
            ``attrs["ci"]`` names the interval.

        Examples
        --------
        >>> fit.contrast(dose=50, reference=1, time=12, mcid=10)    # doctest: +SKIP
        """
        return readouts.contrast(self.posterior_view, dose, reference, time, mcid, outcome,
                                 ci_prob=ci_prob, ci_kind=ci_kind, scale=scale)

    def observed_means(self) -> pd.DataFrame:
        """Observed mean of each outcome's modelled response per dose and visit.

        The response is what the likelihood models: the change from baseline (normal,
        Student-t), the log ratio to baseline (lognormal) or the grade (ordinal); in the
        constrained longitudinal analysis the level minus the outcome's centre (see
        :func:`bayesdose.results.readouts.observed_means`).

        Returns
        -------
        pandas.DataFrame
            Columns outcome, likelihood, dose, time, n, mean, sd (sorted by dose and
            time; observed values in outcome units, whatever the posterior).

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> means = fit.observed_means()
        >>> means[means["time"] == 12].round(2)
               outcome likelihood  dose  time  n   mean     sd
        6    koos_pain     normal   1.0  12.0  4   8.52   6.17
        7   womac_pain     normal   1.0  12.0  4  -4.95   4.25
        14   koos_pain     normal  10.0  12.0  4  21.92   5.66
        15  womac_pain     normal  10.0  12.0  4  -9.28   9.33
        22   koos_pain     normal  50.0  12.0  4  10.55  10.87
        23  womac_pain     normal  50.0  12.0  4 -17.62   3.67
        """
        return readouts.observed_means(self.posterior_view)

    def families(self) -> dict[str, list[str]]:
        """The fitted outcomes of each family (an outcome without family is its own).

        Returns
        -------
        dict of str to list of str
            Family name to its outcomes, in the order of :attr:`outcomes`.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> fit.families()
        {'PROM': ['koos_pain', 'womac_pain']}
        """
        return self.posterior_view.families()

    def family_effect(self, dose: Any = None, time: Any = None, family: str | None = None,
                      ci_prob: float = 0.95, ci_kind: str = "eti",
                      reference: float | None = None) -> pd.DataFrame:
        """Average standardised dose effect of the outcomes of each family.

        Per posterior draw, the mean over the family's outcomes of their direction-aligned,
        standardised effects (outcome SDs, positive = better), so outcomes on different
        scales can be averaged.

        Parameters
        ----------
        dose, time : float or sequence, optional
            Doses and times in the user's units (default: tested doses, visits).
        family : str, optional
            One family (default: every family, including outcomes alone in theirs).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        reference : float, optional
            Reference dose (default: the lowest tested dose).

        Returns
        -------
        pandas.DataFrame
            Columns family, n_outcomes, dose, time, mean, sd, median, ci_low, ci_high,
            reference, reference_status.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> fit.family_effect(dose=[10, 50], time=12)[["family", "n_outcomes", "dose", "time"]]
          family  n_outcomes  dose  time
        0   PROM           2  10.0  12.0
        1   PROM           2  50.0  12.0
        """
        return readouts.family_effect(self.posterior_view, dose, time, family,
                                      ci_prob=ci_prob, ci_kind=ci_kind, reference=reference)

    def prob_improves(self, dose: Any, reference: float | None = None, time: Any = None,
                      family: str | None = None, mcid: dict[str, float] | None = None,
                      ) -> pd.DataFrame:
        """Posterior probability that a dose improves at least k outcomes of a family by
        their MCIDs, for every k.

        Parameters
        ----------
        dose : float or sequence
            Dose(s) compared with ``reference``.
        reference : float, optional
            Reference dose (default: the lowest tested dose).
        time : float or sequence, optional
            Times (default: every visit).
        family : str, optional
            One family (default: every family).
        mcid : dict, optional
            MCIDs per outcome replacing the declared ones.

        Returns
        -------
        pandas.DataFrame
            Columns family, dose, reference, time, k, n_outcomes, prob (P(at least k of the
            family's outcomes improve by more than their MCID)), reference_status.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> table = fit.prob_improves(dose=50, time=12)  # both outcomes: MCID 10 points
        >>> table[["family", "dose", "reference", "time", "k", "n_outcomes"]]
          family  dose  reference  time  k  n_outcomes
        0   PROM  50.0        1.0  12.0  1           2
        1   PROM  50.0        1.0  12.0  2           2
        >>> bool(table["prob"].is_monotonic_decreasing)
        True
        """
        return readouts.prob_improves(self.posterior_view, dose, reference, time, family,
                                      mcid)

    # ------------------------------------------------------------------ dose estimands
    # Thin delegates to bayesdose.results.dose_estimands, where the definitions are documented.
    def effective_dose(self, p: float = 0.5, time: Any = None, outcome: Any = None,
                       ci_prob: float = 0.95, ci_kind: str = "eti",
                       scale: str = "outcome", min_effect: Any = None) -> pd.DataFrame:
        """EDp: the dose giving a fraction ``p`` of the maximal dose effect.

        See :func:`bayesdose.results.dose_estimands.effective_dose`.

        Parameters
        ----------
        p : float
            Fraction of the maximal effect, in (0, 1) (0.5 for ED50, 0.9 for ED90).
        time : float or sequence, optional
            Times at which the effect reached at EDp is read (default: the last visit).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Units of ``effect_at_ed`` and ``min_effect``.
        min_effect : float or dict, optional
            Smallest effect at the highest tested dose (>= 0) for EDp to count as reached
            (default 0: any improvement).

        Returns
        -------
        pandas.DataFrame
            One row per outcome and time (columns as
            :func:`~bayesdose.results.dose_estimands.effective_dose`).

        Examples
        --------
        >>> fit.effective_dose(p=0.9)    # doctest: +SKIP
        """
        return dose_estimands.effective_dose(self.posterior_view, p=p, time=time,
                                             outcome=outcome, ci_prob=ci_prob,
                                             ci_kind=ci_kind, scale=scale,
                                             min_effect=min_effect)

    def minimum_effective_dose(self, mcid: float | dict[str, float] | None = None,
                               level: float = 0.8, time: Any = None,
                               reference: float | None = None, outcome: Any = None,
                               doses: Any = None, ci_prob: float = 0.95,
                               ci_kind: str = "eti", scale: str = "outcome",
                               curve: bool = False) -> pd.DataFrame:
        """Smallest dose better than the reference by the MCID with probability >= level.

        See :func:`bayesdose.results.dose_estimands.minimum_effective_dose`.

        Parameters
        ----------
        mcid : float or dict, optional
            Minimal clinically important difference (positive, outcome units): one number
            for all outcomes or one per outcome (default: each outcome's declared MCID).
        level : float
            Posterior probability required, in (0, 1).
        time : float or sequence, optional
            Times (default: the last visit).
        reference : float, optional
            Reference dose (default: the lowest tested dose).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        doses : sequence of float, optional
            Doses searched (default: a grid over the tested range plus the tested doses,
            or the tested doses only for ``free`` and ``monotone``).
        ci_prob : float
            Probability of the credible interval of the per-draw MED.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Units of the contrast means in the curve.
        curve : bool
            Return the probability curve (one row per outcome, time and searched dose)
            instead of the summary.

        Returns
        -------
        pandas.DataFrame
            One row per outcome and time (columns as
            :func:`~bayesdose.results.dose_estimands.minimum_effective_dose`).

        Examples
        --------
        >>> fit.minimum_effective_dose(level=0.8, time=12)    # doctest: +SKIP
        """
        return dose_estimands.minimum_effective_dose(
            self.posterior_view, mcid=mcid, level=level, time=time, reference=reference,
            outcome=outcome, doses=doses, ci_prob=ci_prob, ci_kind=ci_kind, scale=scale,
            curve=curve)

    def target_dose(self, effect: float | dict[str, float], time: Any = None,
                    outcome: Any = None, reference: float | None = None,
                    ci_prob: float = 0.95, ci_kind: str = "eti",
                    scale: str = "outcome") -> pd.DataFrame:
        """The dose achieving a stated effect (positive = improvement), per draw.

        See :func:`bayesdose.results.dose_estimands.target_dose`.

        Parameters
        ----------
        effect : float or dict
            Target effect, non-zero, positive = improvement, in outcome units (baseline
            SDs with ``scale="standardised"``): one number or one per outcome.
        time : float or sequence, optional
            Times (default: the last visit).
        outcome : str or list of str, optional
            Outcomes (default: all fitted; with a dict ``effect``, its outcomes).
        reference : float, optional
            Reference dose (default: as in
            :func:`~bayesdose.results.dose_estimands.target_dose`).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Units of ``effect``.

        Returns
        -------
        pandas.DataFrame
            One row per outcome and time (columns as
            :func:`~bayesdose.results.dose_estimands.target_dose`).

        Examples
        --------
        >>> fit.target_dose(effect=10, time=12)    # doctest: +SKIP
        """
        return dose_estimands.target_dose(self.posterior_view, effect=effect, time=time,
                                          outcome=outcome, reference=reference,
                                          ci_prob=ci_prob, ci_kind=ci_kind, scale=scale)

    def time_to_half_effect(self, dose: Any = None, outcome: Any = None,
                            ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Time after baseline at which the dose effect reaches half its maximal value.

        See :func:`bayesdose.results.dose_estimands.time_to_half_effect`.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses (default: the highest tested dose).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            One row per outcome and dose (columns as
            :func:`~bayesdose.results.dose_estimands.time_to_half_effect`).

        Examples
        --------
        >>> fit.time_to_half_effect()    # doctest: +SKIP
        """
        return dose_estimands.time_to_half_effect(self.posterior_view, dose=dose,
                                                  outcome=outcome, ci_prob=ci_prob,
                                                  ci_kind=ci_kind)

    def prob_increasing(self, time: Any = None, outcome: Any = None, doses: Any = None,
                        ci_prob: float = 0.95, ci_kind: str = "eti",
                        scale: str = "outcome", min_step: Any = None) -> pd.DataFrame:
        """Posterior probability that the response improves monotonically with dose.

        See :func:`bayesdose.results.dose_estimands.prob_increasing`.

        Parameters
        ----------
        time : float or sequence, optional
            Times (default: the last visit).
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        doses : sequence of float, optional
            At least two doses (default: the tested doses).
        ci_prob : float
            Probability of the credible interval of the contrast.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        scale : {"outcome", "standardised"}
            Units of the contrast and of ``min_step`` (the probabilities do not depend on
            it).
        min_step : float or dict, optional
            Smallest improvement per dose step counted by ``prob_steps_gt_min``.

        Returns
        -------
        pandas.DataFrame
            One row per outcome and time (columns as
            :func:`~bayesdose.results.dose_estimands.prob_increasing`).

        Examples
        --------
        >>> fit.prob_increasing()    # doctest: +SKIP
        """
        return dose_estimands.prob_increasing(self.posterior_view, time=time, outcome=outcome,
                                              doses=doses, ci_prob=ci_prob, ci_kind=ci_kind,
                                              scale=scale, min_step=min_step)
    # ------------------------------------------------------------------ end of dose estimands

    def expected_change(self, dose: Any = None, time: Any = None, outcome: Any = None,
                        ci_prob: float = 0.95, ci_kind: str = "eti",
                        covariates: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Posterior mean change from baseline at each dose and visit (outcome units).

        The common course plus the dose effect, for a patient at the mean baseline: the
        quantity observed arm means estimate, used in the dose-response figure. The dose
        effect here is f(d) g(t) itself (the model's mean at dose d, whatever the
        reference of :meth:`effect`). For ordinal outcomes the latent mean: the common
        course is 0 at their first graded visit, where the cutpoints hold the level (see
        :meth:`grade_probabilities` for the grades).

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the user's units (default: the tested doses).
        time : float or sequence, optional
            Visits (default: all); the common course is estimated at the visits only, so
            other times are an error.
        outcome : str or list of str, optional
            Outcomes (default: all fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.
        covariates : mapping, optional
            A patient profile, one value per covariate of the model (``{"sex": "F",
            "age": 60}``): the change of such a patient rather than of the trial's
            covariate mix. Dose effects and contrasts do not depend on it (covariates
            are additive).

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, time, mean, sd, median, ci_low, ci_high.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> change = fit.expected_change(dose=50, time=[3, 12])
        >>> change[["outcome", "dose", "time"]]
              outcome  dose  time
        0   koos_pain  50.0   3.0
        1   koos_pain  50.0  12.0
        2  womac_pain  50.0   3.0
        3  womac_pain  50.0  12.0
        """
        return readouts.expected_change(self.posterior_view, dose, time, outcome,
                                        ci_prob=ci_prob, ci_kind=ci_kind,
                                        covariates=covariates)

    def grade_probabilities(self, dose: Any = None, time: Any = None, outcome: Any = None,
                            ci_prob: float = 0.9, ci_kind: str = "eti") -> pd.DataFrame:
        """Predicted grade probabilities of ordinal outcomes by dose and visit.

        Per posterior draw, P(grade = g) at dose d and visit t from the outcome's
        cutpoints and latent mean (dose effect, common course and baseline term, patient
        effect 0), averaged over the baseline grades of the trial's patients; and the
        expected grade. See :func:`bayesdose.results.readouts.grade_probabilities`.

        Parameters
        ----------
        dose : float or sequence, optional
            Doses in the user's units (default: the tested doses).
        time : float or sequence, optional
            Visits at which the outcome was graded (default: all of them).
        outcome : str or list of str, optional
            Ordinal outcomes (default: every ordinal outcome fitted).
        ci_prob : float
            Probability of the credible interval.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns outcome, dose, time, quantity (``"probability"`` of ``grade``, or
            ``"expected_grade"``), grade, mean, sd, median, ci_low, ci_high.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["mri_synovitis"])
        >>> model = bd.DoseResponseModel()
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = prior["prior"].to_dataset()
        >>> draws["cutpoints_mri_synovitis"].values.sort(axis=-1)  # ordered, as a posterior's
        >>> fit = bd.DoseResponseFit(model, data, xr.DataTree.from_dict({"posterior": draws}))
        >>> table = fit.grade_probabilities(dose=[1, 50], time=12)
        >>> table.groupby(["dose", "quantity"]).size().tolist()
        [1, 4, 1, 4]
        """
        return readouts.grade_probabilities(self.posterior_view, dose, time, outcome,
                                            ci_prob=ci_prob, ci_kind=ci_kind)

    # ------------------------------------------------------------------ output
    def plot_dose_response(self, outcome: Any = None, time: Any = None, ci_prob: float = 0.9,
                           ci_kind: str = "eti"):
        """Figure of the dose-response curve per outcome with credible bands per time.

        See :func:`bayesdose.plots.plot_dose_response`.

        Parameters
        ----------
        outcome : str or list of str, optional
            Outcomes, one panel each (default: all fitted).
        time : float or sequence, optional
            Visits to draw (default: the last visit).
        ci_prob : float
            Probability of the bands.
        ci_kind : {"eti", "hdi"}
            Equal-tailed (default) or highest-density bands.

        Returns
        -------
        matplotlib.figure.Figure
            The expected change from baseline (:meth:`expected_change`) against dose,
            with the observed arm means.

        Examples
        --------
        >>> import xarray as xr, bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain", "womac_pain"])
        >>> model = bd.DoseResponseModel()
        >>> fit = model.fit(data)  # doctest: +SKIP
        >>> prior = model.sample_prior_predictive(data, draws=100)  # no MCMC: prior draws
        >>> draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        >>> fit = bd.DoseResponseFit(model, data, draws)
        >>> fig = fit.plot_dose_response(time=[3, 12])
        >>> [ax.get_title() for ax in fig.axes]
        ['KOOS pain', 'WOMAC pain (0-100)']
        """
        # matplotlib loads only when a figure is drawn
        from bayesdose.plots.fits import plot_dose_response

        return plot_dose_response(self, outcome=outcome, time=time, ci_prob=ci_prob,
                                  ci_kind=ci_kind)

    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file, atomically; :func:`load_fit` reads it back.

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
        >>> import bayesdose as bd
        >>> data = bd.datasets.load_msc_trial().select(["koos_pain"])
        >>> fit = bd.DoseResponseModel().fit(data)  # doctest: +SKIP
        >>> path = fit.save("koos_pain.nc")  # doctest: +SKIP
        >>> bd.load_fit(path).outcomes  # doctest: +SKIP
        ['koos_pain']
        """
        return write_atomic(path, lambda tmp: self.idata.to_netcdf(tmp, engine="h5netcdf"))

    def __repr__(self) -> str:
        settings = self.settings
        return (f"DoseResponseFit({self.model!r}, outcomes={self.outcomes}, "
                f"chains={settings['chains']}, draws={settings['draws']}, "
                f"seed={settings['random_seed']})")
