"""A Bayesian model of arm-level summaries across studies (model-based meta-analysis).

For study s, arm a (dose d_a) and time t, on the standardised, direction-aligned scale
(outcome units / s0, times the outcome's sign so that positive = better),

    y_sat = mu_st + f(d_a; delta_s, theta) * g(t; phi) + e_sat

where ``mu_st`` is the study's common change at time t (a free level per study and time
point, ``course``: it carries the study's placebo response and every difference between
study populations, so the dose effect is informed by contrasts within studies only),
``f`` a dose shape of :mod:`bayesdose.components.shapes` and ``g`` a time course of
:mod:`bayesdose.components.timecourses` (the same registries, parameter names and default
priors as :class:`~bayesdose.DoseResponseModel`; with one time point per study, g = 1).
With ``study_effects="random"`` the effect size varies between studies,
``delta_s = delta + tau * z_s``, z_s ~ Normal(0, 1) (non-centred), tau ~ HalfNormal(0.5);
with ``"fixed"`` every study has ``delta``. All other shape and course parameters are
shared by all studies.

With several agents (placebo, dose 0, shared by all of them), each agent has its own
dose-shape parameters (dim ``agent``: ``delta``, ``log_ed50``, ...), on its own
:class:`~bayesdose.components.shapes.DoseScale` of its own tested doses (and dose 0 when
the data have placebo arms): ``delta[a]`` is the effect of agent a's highest tested dose
against placebo. The time course is shared by every agent, or is each agent's own with
``time_by_agent=True``. Random study effects are per study and agent,
``delta_sa = delta_a + tau * z_sa``, with one ``tau``.

An arm's errors e_sa over its time points t_1 < ... < t_k are jointly Normal with the
reported standard errors and a fixed working correlation ``rho`` between consecutive
time points, AR(1) in the order of the arm's time points (MBNMAtime's ``covar="AR1"``):
``cov(e_i, e_j) = rho ** |i - j| * se_i * se_j``. With ``rho = 0`` they are independent.

The scale s0 is a typical patient-level SD recovered from the arms: the median of
``se * sqrt(n)`` over the rows with ``n`` (or the ``scale_sd`` given), stated in
:meth:`ArmModel.prior_table`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayesdose.components.priors import prior_table, resolve_priors, with_dims
from bayesdose.components.shapes import DoseScale, DoseShape, Parameter, get_dose_shape
from bayesdose.components.timecourses import TimeScale, TimeShape, get_time_shape
from bayesdose.data.arms import PLACEBO, ArmData
from bayesdose.data.trial import covariate_label
from bayesdose.errors import DataError, SpecError
from bayesdose.model.safety import sample_safety
from bayesdose.results.arm_fit import ArmFit

STUDY_EFFECTS = ("random", "fixed")

ARM_COURSE = Parameter(
    "course",
    Prior("Normal", mu=0, sigma=1),
    "Normal(0, 1) per study and time point: the change common to every arm of the study "
    "(placebo response, population differences) within about two scale SDs either way.",
    "change common to every arm of a study at each time point (its placebo course)",
    levels="time",
)

TAU = Parameter(
    "tau",
    Prior("HalfNormal", sigma=0.5),
    "HalfNormal(0.5) on the standardised scale: between-study SDs of the effect size up "
    "to about one scale SD (95%), most mass below half of one; small SDs are not ruled "
    "out, as few studies cannot tell them from 0.",
    "between-study SD of the effect size delta (random study effects)",
)


@dataclass(frozen=True)
class ArmInputs:
    """Arm-level data arranged for :class:`ArmModel` (one outcome; one or several agents).

    Attributes
    ----------
    table : pandas.DataFrame
        The outcome's rows of :attr:`ArmData.table`, sorted by study, arm and time.
    y : numpy.ndarray
        Standardised, direction-aligned means (``sign * mean / scale_sd``).
    se : numpy.ndarray
        Standardised SEs.
    study, arm_index, time_index : numpy.ndarray
        Integer codes of each row's study, arm (across studies) and time point.
    studies : list of str
    times : tuple of float
        Distinct time points (empty with one time point per study).
    dose_scale : DoseScale
        The doses of the one agent (with placebo); with several agents, every tested
        dose (each agent's shape uses its own scale, :meth:`agent_scale`).
    time_scale : TimeScale or None
        None with one time point per study.
    scale_sd : float
        s0 in outcome units.
    scale_source : str
        How s0 was obtained.
    sign : int
        +1 when higher is better, -1 otherwise.
    whitening : numpy.ndarray
        Block-diagonal matrix W with W Sigma W' = I (Sigma the standardised covariance of
        the rows), so ``W y ~ Normal(W m, 1)``.
    log_det_whitening : float
        ``log |det W|`` in outcome units (the constant that makes the whitened
        log-density the multivariate Normal density of the means as reported).
    agents : tuple of str
        The active agents (placebo excluded), in order of first appearance.
    agent_index : numpy.ndarray or None
        Each row's position in ``agents`` (-1 for placebo).
    agent_scales : tuple of DoseScale
        With several agents, each agent's dose scale: its tested doses, and 0 when the
        data have placebo arms (empty with one agent, whose scale is ``dose_scale``).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
    ...                       "se": [0.1, 0.1], "n": [100, 100]})
    >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
    >>> ArmModel().inputs(data).scale_sd
    1.0
    """

    table: pd.DataFrame
    y: np.ndarray
    se: np.ndarray
    study: np.ndarray
    arm_index: np.ndarray
    time_index: np.ndarray
    studies: list[str]
    times: tuple[float, ...]
    dose_scale: DoseScale
    time_scale: TimeScale | None
    scale_sd: float
    scale_source: str
    sign: int
    whitening: np.ndarray
    log_det_whitening: float
    agents: tuple[str, ...] = ()
    agent_index: np.ndarray | None = None
    agent_scales: tuple[DoseScale, ...] = ()

    @property
    def several_agents(self) -> bool:
        """Whether the data have more than one active agent."""
        return len(self.agents) > 1

    def agent_scale(self, position: int) -> DoseScale:
        """The dose scale of the agent at ``position`` in :attr:`agents`.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A"] * 3, "d": [0, 10, 5], "g": ["p", "X", "Y"],
        ...                       "y": [0.1, 0.5, 0.4], "se": [0.1] * 3, "n": [100] * 3})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", agent="g", mean="y",
        ...                           se="se", n="n")
        >>> inputs = ArmModel().inputs(data)
        >>> inputs.agents, inputs.agent_scale(1).tested
        (('X', 'Y'), (0.0, 5.0))
        """
        return self.agent_scales[position] if self.several_agents else self.dose_scale

    def level_slices(self, shape: DoseShape) -> list[slice]:
        """Per agent, its positions on the dim ``agent_dose`` of a dose shape with one
        parameter per tested dose (``"free"``); empty for other shapes.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A"] * 4, "d": [0, 10, 20, 5],
        ...                       "g": ["p", "X", "X", "Y"], "y": [0.1, 0.5, 0.6, 0.4],
        ...                       "se": [0.1] * 4, "n": [100] * 4})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", agent="g", mean="y",
        ...                           se="se", n="n")
        >>> model = ArmModel(dose_shape="free")
        >>> model.inputs(data).level_slices(model.dose_shape)
        [slice(0, 2, None), slice(2, 3, None)]
        """
        levels = getattr(shape, "levels", None)
        if levels is None:
            return []
        out, start = [], 0
        for position in range(max(len(self.agents), 1)):
            count = len(levels(self.agent_scale(position)))
            out.append(slice(start, start + count))
            start += count
        return out


class ArmModel:
    """A dose-response model of arm-level mean changes from several studies.

    Parameters
    ----------
    dose_shape : str or DoseShape
        Dose shape f (as in :class:`~bayesdose.DoseResponseModel`): ``"emax"``,
        ``"linear"``, ``"free"`` (a free effect per tested dose), ...
    time_shape : str or TimeShape
        Time course g of the dose effect (``"emax"``, ``"exponential"``, ...), used
        when the data have several time points; ignored (g = 1) with one.
    study_effects : {"random", "fixed"}
        ``"random"`` (default): the effect size varies between studies,
        ``delta_s ~ Normal(delta, tau)`` (non-centred; for ``"free"``, independently per
        dose with one ``tau``); ``"fixed"``: one ``delta`` for every study.
    rho : float
        Working correlation of an arm's means at consecutive time points, in [0, 1):
        ``cov(y_i, y_j) = rho ** |i - j| * se_i * se_j`` over the arm's time points in
        order (AR(1), MBNMAtime's ``covar="AR1"``). Fixed, not estimated.
    priors : dict of str to Prior, optional
        Overrides of the default priors by name (see :meth:`prior_table`).
    outcome : str, optional
        The outcome to model when the data hold several.
    scale_sd : float, optional
        The outcome's SD (outcome units) that the priors are in units of. Default: the
        median of ``se * sqrt(n)`` over the rows with ``n``.
    dose_options, time_options : dict, optional
        Settings of the shapes.
    time_by_agent : bool
        With several agents, give each agent its own time-course parameters (dim
        ``agent``) instead of one course shared by all (default False). Ignored with
        one agent.

    Notes
    -----
    The common course is free per study and time point (no shape is imposed on the
    placebo response, and single-arm studies inform only their own course). The fit's
    read-outs are for a population chosen with ``study=``: ``"pooled"`` (the mean of the
    between-study distribution, the default), ``"new"`` (a new study drawn from it) or
    one study's own.

    With several agents each has its own dose-shape parameters (dim ``agent``) on its own
    dose scale, and its own random study effects (one ``tau`` for all); dose 0 is placebo
    for every agent.

    Examples
    --------
    >>> model = ArmModel(dose_shape="emax", time_shape="emax", rho=0.3)
    >>> model.study_effects, model.rho
    ('random', 0.3)
    """

    def __init__(
        self,
        dose_shape: str | DoseShape = "emax",
        time_shape: str | TimeShape = "emax",
        study_effects: str = "random",
        rho: float = 0.0,
        priors: dict[str, Prior] | None = None,
        outcome: str | None = None,
        scale_sd: float | None = None,
        dose_options: dict[str, Any] | None = None,
        time_options: dict[str, Any] | None = None,
        time_by_agent: bool = False,
    ) -> None:
        self.dose_shape = get_dose_shape(dose_shape, **(dose_options or {}))
        self.time_shape = get_time_shape(time_shape, **(time_options or {}))
        if self.time_shape.dose_dependent:
            raise SpecError(f"time_shape {self.time_shape.name!r} depends on the dose; the "
                            "arm-level model takes a dose-independent course (e.g. 'emax').")
        names = [p.name for p in self.dose_shape.parameters(DoseScale((0.0, 1.0, 2.0)))]
        if "delta" not in names:
            raise SpecError(f"dose_shape {self.dose_shape.name!r} has no effect size delta "
                            "(parameters: " + ", ".join(names) + "); the arm-level model "
                            "draws study effect sizes around delta. Use a shape such as "
                            "'emax', 'linear' or 'free'.")
        if not isinstance(time_by_agent, (bool, np.bool_)):
            raise SpecError(f"time_by_agent must be True or False (got {time_by_agent!r}).")
        if study_effects not in STUDY_EFFECTS:
            raise SpecError(f"study_effects {study_effects!r} is not one of "
                            f"{', '.join(STUDY_EFFECTS)}.")
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 <= rho < 1:
            raise SpecError(f"rho must be a number in [0, 1) (got {rho!r}).")
        if scale_sd is not None and not (np.isfinite(scale_sd) and scale_sd > 0):
            raise SpecError(f"scale_sd must be a positive number (got {scale_sd!r}).")
        self.study_effects = study_effects
        self.rho = float(rho)
        self.priors = dict(priors or {})
        self.outcome = outcome
        self.scale_sd = None if scale_sd is None else float(scale_sd)
        self.time_by_agent = bool(time_by_agent)

    # ------------------------------------------------------------------ data
    def inputs(self, data: ArmData) -> ArmInputs:
        """``data`` arranged for this model: one outcome, standardised, with whitening.

        Parameters
        ----------
        data : ArmData
            Mean changes from baseline (``change=True``) of one or several agents and
            placebo.

        Returns
        -------
        ArmInputs

        Raises
        ------
        DataError
            Absolute levels (``change=False``), several outcomes without ``outcome=``,
            no active agent, several agents without placebo arms for a shape that does
            not extrapolate to dose 0 (``"free"``), or no ``n`` to set the scale without
            ``scale_sd``.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
        ...                       "se": [0.2, 0.2], "n": [25, 25]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> inputs = ArmModel().inputs(data)   # rows sorted by study, arm label and time
        >>> inputs.table["arm"].tolist(), inputs.y.tolist()
        (['active 10', 'placebo'], [0.5, 0.1])
        """
        if not isinstance(data, ArmData):
            raise DataError(f"ArmModel fits an ArmData (got {type(data).__name__}).")
        if not data.change:
            raise DataError("ArmModel models changes from baseline; these data are absolute "
                            "levels (change=False). Give the changes with change=True.")
        outcome = self._outcome(data)
        table = data.table[data.table["outcome"] == outcome]
        agents = tuple(str(a) for a in pd.unique(table["agent"]) if a != PLACEBO)
        self._check_agents(agents, table, data)
        table = table.sort_values(["study", "arm", "time"], kind="stable").reset_index(drop=True)
        scale_sd, source = self._scale(table, data)
        sign = data.info(outcome).sign
        has_time = not table["time"].isna().all()
        times = tuple(sorted(set(table["time"]))) if has_time else ()
        if has_time and min(times) <= 0:
            raise DataError(f"column {data.columns['time']!r}: times must be after baseline "
                            "(> 0) for a change from baseline.")
        study_codes, studies = pd.factorize(table["study"])
        arm_codes, _ = pd.factorize(table["study"] + "\x00" + table["arm"])
        time_index = (np.searchsorted(times, table["time"].to_numpy()) if has_time
                      else np.zeros(len(table), dtype=int))
        se = table["se"].to_numpy(float)
        whitening, log_det = _whitening(arm_codes, se / scale_sd, self.rho)
        agent_index = np.array([agents.index(a) if a in agents else -1
                                for a in table["agent"]], dtype=int)
        return ArmInputs(
            table=table, y=sign * table["mean"].to_numpy(float) / scale_sd,
            se=se / scale_sd, study=study_codes, arm_index=arm_codes, time_index=time_index,
            studies=list(studies), times=times,
            dose_scale=DoseScale(tuple(sorted(set(table["dose"])))),
            time_scale=TimeScale(times) if has_time else None, scale_sd=scale_sd,
            scale_source=source, sign=sign, whitening=whitening,
            log_det_whitening=log_det - len(table) * np.log(scale_sd), agents=agents,
            agent_index=agent_index, agent_scales=_agent_scales(table, agents))

    def _check_agents(self, agents: tuple[str, ...], table: pd.DataFrame,
                      data: ArmData) -> None:
        if not agents:
            raise DataError("the data have only placebo arms (dose 0); the arm-level model "
                            "needs arms of an agent at a positive dose.")
        placebo = bool((table["agent"] == PLACEBO).any())
        if len(agents) > 1 and not placebo and not self.dose_shape.extrapolates_to_zero:
            raise DataError(
                f"column {data.columns['agent']!r}: agents {', '.join(map(repr, agents))} "
                f"and no placebo arm; the dose shape {self.dose_shape.name!r} measures each "
                "agent's effects against its lowest tested dose, so the agents have no "
                "common reference. Add the placebo arms, or fit a shape that extrapolates to "
                "dose 0 (e.g. 'emax').")

    def _outcome(self, data: ArmData) -> str:
        if self.outcome is not None:
            if self.outcome not in data.outcomes:
                raise DataError(f"outcome {self.outcome!r} is not in the data (outcomes: "
                                f"{', '.join(map(repr, data.outcomes))}).")
            return self.outcome
        if len(data.outcomes) > 1:
            raise DataError(f"the data hold outcomes {', '.join(map(repr, data.outcomes))}; "
                            "choose one with ArmModel(outcome=...).")
        return data.outcomes[0]

    def _scale(self, table: pd.DataFrame, data: ArmData) -> tuple[float, str]:
        if self.scale_sd is not None:
            return self.scale_sd, "given as scale_sd"
        known = table["n"].notna().to_numpy()
        if not known.any():
            raise DataError("column n: no row gives the number of patients, so no "
                            "patient-level SD can be recovered as se * sqrt(n) to set the "
                            "scale of the priors. Give n= or ArmModel(scale_sd=...).")
        sds = table.loc[known, "se"].to_numpy(float) * np.sqrt(table.loc[known, "n"])
        return (float(np.median(sds)),
                f"median of se * sqrt(n) over {int(known.sum())} rows (a typical "
                "patient-level SD)")

    # ------------------------------------------------------------------ model
    def parameters(self, inputs: ArmInputs) -> list[Parameter]:
        """The model's parameters with their default priors and reasons.

        Parameters
        ----------
        inputs : ArmInputs

        Returns
        -------
        list of Parameter

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
        ...                       "se": [0.2, 0.2], "n": [25, 25]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> model = ArmModel(study_effects="fixed")
        >>> [p.name for p in model.parameters(model.inputs(data))]
        ['delta', 'log_ed50', 'course']
        """
        params = list(self.dose_shape.parameters(inputs.agent_scale(0)))
        if inputs.time_scale is not None:
            params += self.time_shape.parameters(inputs.time_scale)
        params.append(ARM_COURSE)
        if self.study_effects == "random":
            params.append(TAU)
        return params

    def prior_table(self, data: ArmData) -> pd.DataFrame:
        """Every parameter, its prior, whether it is the default, and why; and the scale.

        Parameters
        ----------
        data : ArmData

        Returns
        -------
        pandas.DataFrame
            Columns parameter, meaning, prior, default, reason; the last row is the
            scale SD the priors are in units of, and how it was obtained.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
        ...                       "se": [0.2, 0.2], "n": [25, 25]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> ArmModel().prior_table(data)["parameter"].tolist()[-2:]
        ['tau', 'scale_sd[y]']

        With several agents, each agent's parameters have a row of their own (a prior
        given by name applies to every agent):

        >>> frame = pd.DataFrame({"s": ["A"] * 3, "d": [0, 10, 5], "g": ["p", "X", "Y"],
        ...                       "y": [0.1, 0.5, 0.4], "se": [0.1] * 3, "n": [100] * 3})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", agent="g", mean="y",
        ...                           se="se", n="n")
        >>> ArmModel(time_by_agent=True).prior_table(data)["parameter"].tolist()
        ['delta[X]', 'delta[Y]', 'log_ed50[X]', 'log_ed50[Y]', 'course', 'tau', 'scale_sd[y]']
        """
        inputs = self.inputs(data)
        params = self.parameters(inputs)
        priors = resolve_priors(params, self.priors)
        rows, resolved = [], {}
        for param in params:
            if self._by_agent(param, inputs):
                for position, agent in enumerate(inputs.agents):
                    doses = ", ".join(f"{d:g}" for d in inputs.agent_scale(position).tested)
                    name = f"{param.name}[{agent}]"
                    rows.append(replace(param, name=name, meaning=f"{param.meaning} "
                                        f"(agent {agent}; doses {doses})"))
                    resolved[name] = priors[param.name]
            else:
                rows.append(param)
                resolved[param.name] = priors[param.name]
        outcome = str(inputs.table["outcome"].iloc[0])
        scales = pd.DataFrame({"outcome": [outcome], "sd": [inputs.scale_sd],
                               "unit": ["outcome units"], "sd_source": [inputs.scale_source]})
        return prior_table(rows, resolved, scales)

    def _by_agent(self, param: Parameter, inputs: ArmInputs) -> bool:
        """Whether ``param`` has one value (or set of values) per agent."""
        if not inputs.several_agents:
            return False
        if param.name in self._dose_names(inputs):
            return True
        return self.time_by_agent and param.name in self._time_names(inputs)

    def _dose_names(self, inputs: ArmInputs) -> list[str]:
        return [p.name for p in self.dose_shape.parameters(inputs.agent_scale(0))]

    def _time_names(self, inputs: ArmInputs) -> list[str]:
        if inputs.time_scale is None:
            return []
        return [p.name for p in self.time_shape.parameters(inputs.time_scale)]

    def dims(self, param: Parameter, inputs: ArmInputs) -> tuple[str, ...]:
        """The dims of a parameter's variable in the PyMC model.

        Parameters
        ----------
        param : Parameter
            One of :meth:`parameters`.
        inputs : ArmInputs

        Returns
        -------
        tuple of str
            ``("study", "time")`` for ``course``; ``("agent",)`` (or ``("agent_dose",)``
            for a shape with one parameter per tested dose) for a dose-shape parameter
            with several agents, and for a time-course parameter with
            ``time_by_agent=True``; the parameter's own levels otherwise.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A"] * 3, "d": [0, 10, 5], "g": ["p", "X", "Y"],
        ...                       "y": [0.1, 0.5, 0.4], "se": [0.1] * 3, "n": [100] * 3})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", agent="g", mean="y",
        ...                           se="se", n="n")
        >>> model = ArmModel(dose_shape="free")
        >>> inputs = model.inputs(data)
        >>> [model.dims(p, inputs) for p in model.parameters(inputs)]
        [('agent_dose',), ('study', 'time'), ()]
        """
        if param.name == "course":
            return ("study", "time")
        own = (param.levels,) if param.levels else ()
        if not self._by_agent(param, inputs):
            return own
        if param.name in self._dose_names(inputs):
            return ("agent_dose",) if param.levels else ("agent",)
        return ("agent", *own)

    def _coords(self, inputs: ArmInputs) -> dict[str, list[Any]]:
        coords: dict[str, list[Any]] = {"study": inputs.studies,
                                        "time": list(inputs.times) or ["all"]}
        levels = getattr(self.dose_shape, "levels", None)
        if inputs.several_agents:
            coords["agent"] = list(inputs.agents)
            if levels is not None:
                coords["agent_dose"] = [
                    f"{agent} {covariate_label(dose)}"
                    for position, agent in enumerate(inputs.agents)
                    for dose in levels(inputs.agent_scale(position))]
        elif levels is not None:
            coords["dose_level"] = list(levels(inputs.dose_scale))
        time_levels = getattr(self.time_shape, "levels", None)
        if inputs.time_scale is not None and time_levels is not None:
            for param in self.time_shape.parameters(inputs.time_scale):
                if param.levels:
                    coords[param.levels] = list(time_levels(inputs.time_scale))
        return coords

    def build(self, data: ArmData) -> pm.Model:
        """The PyMC model of ``data``.

        Parameters
        ----------
        data : ArmData

        Returns
        -------
        pymc.Model
            With the observed whitened means ``y`` (``W y ~ Normal(W m, 1)``).

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
        ...                       "se": [0.2, 0.2], "n": [25, 25]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> sorted(ArmModel().build(data).named_vars)[:3]
        ['course', 'delta', 'delta_study']
        """
        return self._build(self.inputs(data))

    def _build(self, inputs: ArmInputs) -> pm.Model:
        params = self.parameters(inputs)
        priors = resolve_priors(params, self.priors)
        with pm.Model(coords=self._coords(inputs)) as model:
            values, delta_dims = {}, ()
            for param in params:
                dims = self.dims(param, inputs)
                prior = with_dims(priors[param.name], dims) if dims else priors[param.name]
                values[param.name] = prior.create_variable(param.name)
                if param.name == "delta":
                    delta_dims = dims
            delta = values["delta"]
            if self.study_effects == "random":
                dims = ("study", *delta_dims)
                z = pm.Normal("delta_z", 0.0, 1.0, dims=dims)
                delta = pm.Deterministic("delta_study", delta + values["tau"] * z, dims=dims)
            if inputs.several_agents:
                self._add_agents_likelihood(inputs, values, delta)
            else:
                delta_rows = delta[inputs.study] if self.study_effects == "random" else delta
                self.add_likelihood(inputs, values, delta_rows)
        return model

    def _add_agents_likelihood(self, inputs: ArmInputs, values: dict[str, Any],
                               delta: Any) -> Any:
        """The whitened likelihood with several agents: each agent's rows take its own
        dose-shape parameters (and time course with ``time_by_agent``); placebo rows have
        no dose effect (f(0) = 0 for every agent)."""
        dose = inputs.table["dose"].to_numpy(float)
        time = inputs.table["time"].to_numpy(float)
        slices = inputs.level_slices(self.dose_shape)
        effect = pt.zeros(len(dose))
        for position in range(len(inputs.agents)):
            rows = np.flatnonzero(inputs.agent_index == position)
            if rows.size == 0:
                continue
            part = slices[position] if slices else position
            if self.study_effects == "random":
                delta_rows = (delta[inputs.study[rows]][:, part] if slices
                              else delta[inputs.study[rows], part])
            else:
                delta_rows = delta[part]
            shape_values = {name: values[name][part] for name in self._dose_names(inputs)}
            shape_values["delta"] = delta_rows
            own = self.dose_shape.evaluate(dose[rows], shape_values,
                                           inputs.agent_scale(position), pt)
            if inputs.time_scale is not None:
                course_values = {name: (values[name][position] if self.time_by_agent
                                        else values[name])
                                 for name in self._time_names(inputs)}
                own = own * self.time_shape.evaluate(time[rows], course_values,
                                                     inputs.time_scale, pt)
            effect = pt.set_subtensor(effect[rows], own)
        mean = values["course"][inputs.study, inputs.time_index] + effect
        w = inputs.whitening
        return pm.Normal("y", mu=pt.dot(w, mean), sigma=1.0, observed=w @ inputs.y)

    def add_likelihood(self, inputs: ArmInputs, values: dict[str, Any], delta_rows: Any,
                       name: str = "y") -> Any:
        """Add the arms' whitened likelihood to the PyMC model in context.

        The mean of row r is ``course[study_r, time_r] + f(dose_r) * g(time_r)``
        (g = 1 with one time point per study), observed as ``W y ~ Normal(W mean, 1)``.

        Parameters
        ----------
        inputs : ArmInputs
            The data arranged for the model (:meth:`inputs`).
        values : dict of str to TensorVariable
            The shape and course parameters by name; ``course`` has one row per study
            and one column per time point of ``inputs``.
        delta_rows : TensorVariable
            The effect size, one per row of ``inputs`` (or one for all). The shape
            parameters are on the scales ``inputs.dose_scale`` and ``inputs.time_scale``.
        name : str
            Name of the observed variable.

        Returns
        -------
        TensorVariable
            The observed variable.

        Examples
        --------
        >>> import pandas as pd, pymc as pm
        >>> frame = pd.DataFrame({"s": ["A", "A"], "d": [0, 10], "y": [0.1, 0.5],
        ...                       "se": [0.2, 0.2], "n": [25, 25]})
        >>> data = ArmData.from_frame(frame, study="s", dose="d", mean="y", se="se", n="n")
        >>> model = ArmModel(dose_shape="linear", study_effects="fixed")
        >>> inputs = model.inputs(data)
        >>> with pm.Model():
        ...     course = pm.Normal("course", 0.0, 1.0, shape=(1, 1))
        ...     y = model.add_likelihood(inputs, {"course": course}, pm.Normal("delta"))
        >>> y.name
        'y'
        """
        dose = inputs.table["dose"].to_numpy(float)
        effect = self.dose_shape.evaluate(dose, {**values, "delta": delta_rows},
                                          inputs.dose_scale, pt)
        if inputs.time_scale is not None:
            time = inputs.table["time"].to_numpy(float)
            effect = effect * self.time_shape.evaluate(time, values, inputs.time_scale, pt)
        mean = values["course"][inputs.study, inputs.time_index] + effect
        w = inputs.whitening
        return pm.Normal(name, mu=pt.dot(w, mean), sigma=1.0, observed=w @ inputs.y)

    def fit(self, data: ArmData, draws: int = 1000, tune: int = 1000, chains: int = 4,
            random_seed: int = 1, target_accept: float = 0.9,
            progressbar: bool | None = None, cores: int | None = None,
            sampler: str = "auto") -> ArmFit:
        """Sample the posterior with NUTS and return an :class:`ArmFit`.

        Parameters
        ----------
        data : ArmData
        draws, tune, chains : int
            Posterior draws and tuning steps per chain, and the number of chains.
        random_seed : int
            Seed.
        target_accept : float
            NUTS target acceptance rate.
        progressbar : bool, optional
            The sampler's progress bar (default: on a terminal only).
        cores : int, optional
            Parallel chains.
        sampler : {"auto", "pymc", "nutpie", "numpyro", "blackjax"}
            As in :meth:`bayesdose.DoseResponseModel.fit`.

        Returns
        -------
        ArmFit

        Examples
        --------
        >>> fit = ArmModel().fit(data, draws=500, tune=500, chains=2)  # doctest: +SKIP
        >>> fit.effect(dose=[25, 50], time=[12])  # doctest: +SKIP
        """
        inputs = self.inputs(data)
        settings = {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                    "target_accept": target_accept, "sampler": sampler}
        idata, settings = sample_safety(self._build(inputs), settings, cores, progressbar)
        return ArmFit(self, inputs, idata, settings, data=data)


def _agent_scales(table: pd.DataFrame, agents: tuple[str, ...]) -> tuple[DoseScale, ...]:
    """With several agents, each agent's tested doses (and 0 when the data have placebo
    arms); empty with one agent."""
    if len(agents) < 2:
        return ()
    zero = (0.0,) if bool((table["agent"] == PLACEBO).any()) else ()
    return tuple(DoseScale(tuple(sorted({*zero, *(float(d) for d in
                                                  table.loc[table["agent"] == a, "dose"])})))
                 for a in agents)


def _whitening(arm: np.ndarray, se: np.ndarray, rho: float) -> tuple[np.ndarray, float]:
    """Block-diagonal W = L^-1 per arm (Sigma_a = L L') and log |det W|.

    ``arm`` must be sorted so that an arm's rows are contiguous, in time order.
    """
    n = len(se)
    whitening = np.zeros((n, n))
    log_det = 0.0
    for code in np.unique(arm):
        rows = np.flatnonzero(arm == code)
        lags = np.abs(np.subtract.outer(np.arange(len(rows)), np.arange(len(rows))))
        cov = rho ** lags * np.outer(se[rows], se[rows])
        chol = np.linalg.cholesky(cov)
        whitening[np.ix_(rows, rows)] = np.linalg.inv(chol)
        log_det -= float(np.sum(np.log(np.diag(chol))))
    return whitening, log_det
