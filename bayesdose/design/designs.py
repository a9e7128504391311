"""Designs of the next trial: what is simulated, how it is analysed, what is decided.

A design file (TOML, parsed, never executed) holds one true scenario, one analysis model,
one decision rule and one or more candidate designs, which are simulated side by side::

    name = "msc_phase2"
    [outcome]
    name = "koos_pain"
    direction = "higher_is_better"
    sd = 15                 # the outcome's SD (outcome units): the scale of changes
    baseline_mean = 45
    baseline_sd = 15        # optional: spread of the simulated baselines (default: sd)
    [scenario]              # the truth, in outcome, dose and time units
    dose_shape = "emax"     # "emax", "sigmoid_emax", "linear" or "none"
    emax = 20               # maximal improvement (positive = better)
    ed50 = 10
    t_half = 2              # exponential onset: time to half the effect
    sigma = 6               # visit-to-visit SD
    patient_sd = 7          # SD of patients' lasting changes
    [analysis]
    dose_shape = "emax"
    time_shape = "exponential"
    [sampler]
    draws = 1000
    tune = 1000
    chains = 2
    [decision]
    time = 12
    reference = "lowest"    # or a dose
    mcid = 10
    level = 0.8             # go if P(improvement over reference > MCID) >= level
    ci_prob = 0.9           # interval whose coverage is reported (0.9 by default)
    ci_kind = "eti"         # equal-tailed ("eti", the default) or "hdi"
    [designs.current]
    doses = [1, 10, 50]
    n_per_arm = 4
    visits = [1, 3, 6, 12]
    dropout = 0.05          # probability of leaving before each visit

``[outcome] sd`` is the outcome's SD: the scenario's effects, SDs and the simulated changes
are in outcome units, and every simulated trial declares it as its outcome's SD, the scale
its analysis standardises by. The simulated baselines are drawn from a normal distribution
with mean ``baseline_mean`` and SD ``baseline_sd`` (default: ``sd``); a ``baseline_sd``
other than ``sd`` (a trial enrolling a narrow or wide range of baselines) changes only the
spread of the baselines, not the scale of the changes or of the analysis.

``[scenario] posterior = "fit.nc"`` (with ``outcome = "..."``) draws each replicate's truth
from a saved fit's posterior instead (assurance).

The decision rule: *go* when some tested dose beats the reference by more than the MCID
with posterior probability at least ``level``; the dose picked is the smallest such dose
(the minimum effective dose among the tested doses). A choice is correct when it equals
the smallest tested dose whose true improvement exceeds the MCID, or is no-go when none
does. The intervals whose coverage is reported (of each contrast and of the ED50) follow
``ci_prob`` and ``ci_kind``, the rule of the fits' read-outs
(:func:`bayesdose.results.estimands.credible_interval`); an older ``hdi_prob`` is read as
``ci_prob`` with ``ci_kind = "hdi"`` (with a :class:`DeprecationWarning`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bayesdose.errors import SpecError
from bayesdose.files.toml import check_keys as _check_keys
from bayesdose.files.toml import read_toml, resolve_inside
from bayesdose.model.dose_response import DoseResponseModel, load_fit

TRUE_SHAPES = ("emax", "sigmoid_emax", "linear", "none")


SECTIONS = {
    "name": None, "description": None,
    "outcome": {"name", "direction", "sd", "baseline_mean", "baseline_sd"},
    "scenario": {"dose_shape", "emax", "ed50", "hill", "slope", "t_half", "course",
                 "sigma", "patient_sd", "beta_baseline", "posterior", "outcome"},
    "analysis": {"dose_shape", "time_shape", "likelihood"},
    "sampler": {"draws", "tune", "chains", "target_accept"},
    "decision": {"time", "reference", "mcid", "level", "ci_prob", "ci_kind", "hdi_prob"},
    "designs": None,
}


DESIGN_FIELDS = {"doses", "n_per_arm", "visits", "dropout"}


def _read_scenario(table: dict[str, Any], base_dir: Path | None,
                   ) -> tuple[Scenario, PosteriorScenario | None]:
    """A fixed scenario, or posterior draws from a saved fit (``posterior = "fit.nc"``)."""
    if "posterior" not in table:
        if "outcome" in table:
            raise SpecError("scenario.outcome only goes with scenario.posterior.")
        return Scenario.from_mapping(table), None
    others = sorted(set(table) - {"posterior", "outcome"})
    if others:
        raise SpecError(f"scenario: with posterior = ..., the truth comes from the fit; "
                        f"remove {', '.join(others)}.")

    source = table["posterior"]
    if not isinstance(source, str):
        raise SpecError("scenario.posterior must be the path of a saved fit (fit.nc).")
    path = resolve_inside(base_dir, source, "scenario.posterior", "design file",
                          hint="Put the fit beside the design file or below it.")
    if not path.is_file():
        raise SpecError(f"scenario.posterior: no file {str(path)!r}.")
    outcome = table.get("outcome")
    posterior = PosteriorScenario.from_fit(load_fit(path), outcome,
                                           source=f"{source} ({outcome or 'first outcome'})")
    return posterior.median(), posterior


def _decision_interval(table: Mapping[str, Any]) -> tuple[float, str]:
    """``ci_prob`` and ``ci_kind`` of ``[decision]``, an older ``hdi_prob`` read as
    ``ci_prob`` with ``ci_kind = "hdi"`` (with a DeprecationWarning)."""
    if "hdi_prob" in table:
        both = [key for key in ("ci_prob", "ci_kind") if key in table]
        if both:
            raise SpecError(f"decision.hdi_prob and decision.{both[0]} are both given; "
                            "hdi_prob is the older name of ci_prob (with ci_kind = \"hdi\"): "
                            "keep ci_prob and ci_kind only.")
        warnings.warn("decision.hdi_prob is deprecated: write ci_prob (and ci_kind = "
                      "\"hdi\" for highest-density intervals; the default, \"eti\", is "
                      "equal-tailed). It is read as ci_prob with ci_kind = \"hdi\".",
                      DeprecationWarning, stacklevel=4)
        return _probability(table["hdi_prob"], "decision.hdi_prob"), "hdi"
    kind = table.get("ci_kind", "eti")
    if kind not in ("eti", "hdi"):
        raise SpecError(f"decision.ci_kind must be \"eti\" (equal-tailed interval) or "
                        f"\"hdi\" (highest-density interval), got {kind!r}.")
    return _probability(table.get("ci_prob", 0.9), "decision.ci_prob"), kind


def _probability(value: Any, where: str) -> float:
    """An interval probability, strictly between 0 and 1."""
    prob = _number(value, where, 0.0, 1.0, strict_low=True)
    if prob >= 1:
        raise SpecError(f"{where} must be < 1 (got {prob:g}).")
    return prob


def _number(value: Any, where: str, low: float | None = None, high: float | None = None,
            strict_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise SpecError(f"{where} must be a number (got {value!r}).")
    if low is not None and (value < low or (strict_low and value == low)):
        raise SpecError(f"{where} must be {'>' if strict_low else '>='} {low:g} "
                        f"(got {value!r}).")
    if high is not None and value > high:
        raise SpecError(f"{where} must be <= {high:g} (got {value!r}).")
    return float(value)


@dataclass(frozen=True)
class Arms:
    """One candidate design: doses, patients per dose, visits and dropout."""

    name: str
    doses: tuple[float, ...]
    n_per_arm: int
    visits: tuple[float, ...]
    dropout: float = 0.0

    @classmethod
    def from_mapping(cls, name: str, table: Mapping[str, Any]) -> Arms:
        """Read ``[designs.<name>]``."""
        where = f"designs.{name}."
        _check_keys(table, DESIGN_FIELDS, where)
        for key in ("doses", "n_per_arm", "visits"):
            if key not in table:
                raise SpecError(f"{where}{key} is missing.")
        doses = table["doses"]
        if not isinstance(doses, list) or len(doses) < 2:
            raise SpecError(f"{where}doses must list at least two doses (got {doses!r}).")
        doses = tuple(sorted(_number(d, f"{where}doses", low=0) for d in doses))
        if len(set(doses)) != len(doses):
            raise SpecError(f"{where}doses lists a dose twice ({list(doses)}).")
        n = table["n_per_arm"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise SpecError(f"{where}n_per_arm must be an integer >= 2 (got {n!r}).")
        visits = table["visits"]
        if not isinstance(visits, list) or not visits:
            raise SpecError(f"{where}visits must list the post-baseline visit times.")
        visits = tuple(sorted(_number(v, f"{where}visits", low=0, strict_low=True)
                              for v in visits))
        dropout = _number(table.get("dropout", 0.0), f"{where}dropout", 0.0, 0.9)
        return cls(name, doses, n, visits, dropout)


@dataclass(frozen=True)
class Scenario:
    """The true dose-response in outcome, dose and time units."""

    dose_shape: str = "emax"
    emax: float = 0.0
    ed50: float | None = None
    hill: float = 1.0
    slope: float = 0.0
    t_half: float = 2.0
    course: float = 0.0
    sigma: float = 6.0
    patient_sd: float = 7.0
    beta_baseline: float = -0.2

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Scenario:
        """Read ``[scenario]``."""
        _check_keys(table, SECTIONS["scenario"], "scenario.")
        shape = table.get("dose_shape", "emax")
        if shape not in TRUE_SHAPES:
            raise SpecError(f"scenario.dose_shape must be one of {', '.join(TRUE_SHAPES)} "
                            f"(got {shape!r}).")
        values: dict[str, Any] = {"dose_shape": shape}
        for key in ("emax", "slope", "course", "beta_baseline"):
            if key in table:
                values[key] = _number(table[key], f"scenario.{key}")
        for key in ("hill", "t_half", "sigma", "patient_sd"):
            if key in table:
                values[key] = _number(table[key], f"scenario.{key}", 0.0, strict_low=True)
        if "ed50" in table:
            values["ed50"] = _number(table["ed50"], "scenario.ed50", 0.0, strict_low=True)
        if shape in ("emax", "sigmoid_emax") and "ed50" not in values:
            raise SpecError(f"scenario.ed50 is needed for dose_shape = {shape!r}.")
        return cls(**values)

    def improvement(self, dose: np.ndarray, time: np.ndarray | float) -> np.ndarray:
        """True improvement over dose 0 (outcome units, positive = better)."""
        dose = np.asarray(dose, dtype=float)
        if self.dose_shape == "none":
            f = np.zeros_like(dose)
        elif self.dose_shape == "linear":
            f = self.slope * dose
        else:
            hill = self.hill if self.dose_shape == "sigmoid_emax" else 1.0
            f = self.emax * dose**hill / (self.ed50**hill + dose**hill)
        g = 1.0 - np.exp(-np.log(2.0) * np.asarray(time, dtype=float) / self.t_half)
        return f * g


SCENARIO_FIELDS = ("emax", "ed50", "hill", "slope", "t_half", "course", "sigma", "patient_sd",
                   "beta_baseline")


@dataclass(frozen=True)
class PosteriorScenario:
    """True scenarios drawn from a fitted posterior, one draw per replicate (assurance).

    Attributes
    ----------
    dose_shape : str
        ``"emax"``, ``"sigmoid_emax"`` or ``"linear"`` (the fit's dose shape).
    draws : dict of str to tuple of float
        Per posterior draw, each :class:`Scenario` field in outcome, dose and time units.
    source : str
        Where the draws came from (file and outcome).
    """

    dose_shape: str
    draws: dict[str, tuple[float, ...]]
    source: str

    @classmethod
    def from_fit(cls, fit: Any, outcome: str | None = None, source: str = "") -> PosteriorScenario:
        """Scenarios from a one-outcome (or chosen-outcome) fit with an Emax, sigmoid Emax
        or linear dose shape, an exponential onset and a normal or Student-t likelihood."""
        outcome = outcome or fit.outcomes[0]
        if outcome not in fit.outcomes:
            raise SpecError(f"scenario.outcome {outcome!r} is not in the fit (fitted: "
                            f"{', '.join(fit.outcomes)}).")
        shape, course = fit.model.dose_shape.name, fit.model.time_shape.name
        if shape not in ("emax", "sigmoid_emax", "linear") or course != "exponential":
            raise SpecError("scenario.posterior: the fit must have an emax, sigmoid_emax or "
                            "linear dose shape and an exponential time course (this one: "
                            f"{shape} x {course}).")
        k = fit.outcomes.index(outcome)
        post = fit.idata["posterior"].to_dataset().isel(outcome=k)
        sd = float(fit.inputs.scales.sd[k])
        top = fit.inputs.dose_scale.reference

        def values(name: str) -> np.ndarray:
            return post[name].to_numpy().reshape(-1)

        delta = values("delta")
        names = ("delta", "log_ed50", "log_hill", "log_t_half")
        params = {n: values(n) for n in names if n in post}
        # delta is the effect at the last visit; the scenario's curves are at the plateau
        plateau = fit.model.time_shape.derived(params, fit.inputs.time_scale)["plateau"]
        out: dict[str, np.ndarray] = {}
        if shape == "linear":
            out["slope"] = delta * plateau * sd / (top - fit.inputs.dose_scale.lowest)
        else:
            emax = fit.model.dose_shape.derived(params, fit.inputs.dose_scale)["emax"]
            ed50 = fit.inputs.dose_scale.midpoint * np.exp(values("log_ed50"))
            hill = np.exp(values("log_hill")) if shape == "sigmoid_emax" else np.ones_like(ed50)
            out.update(emax=emax * plateau * sd, ed50=ed50, hill=hill)
        out["t_half"] = fit.inputs.time_scale.reference * np.exp(values("log_t_half"))
        out["course"] = post["course"].to_numpy()[..., -1].reshape(-1) * sd
        out["sigma"] = values("sigma") * sd
        patient = post["patient_effect"].to_numpy().reshape(delta.size, -1)
        out["patient_sd"] = patient.std(axis=1, ddof=1) * sd
        out["beta_baseline"] = values("beta_baseline")
        return cls(shape, {key: tuple(map(float, v)) for key, v in out.items()},
                   source or f"a fit of {outcome}")

    def __len__(self) -> int:
        return len(next(iter(self.draws.values())))

    def scenario(self, index: int) -> Scenario:
        """The true scenario of posterior draw ``index``."""
        return Scenario(dose_shape=self.dose_shape,
                        **{key: values[index] for key, values in self.draws.items()})

    def median(self) -> Scenario:
        """The scenario at the draws' medians (a summary, for display)."""
        return Scenario(dose_shape=self.dose_shape,
                        **{key: float(np.median(v)) for key, v in self.draws.items()})


@dataclass(frozen=True)
class Decision:
    """Go if some dose beats the reference by the MCID with probability >= level.

    ``ci_prob`` and ``ci_kind`` set the intervals of the estimates whose coverage is
    reported (equal-tailed by default, as in the fits' read-outs).
    """

    time: float
    mcid: float
    reference: float | str = "lowest"
    level: float = 0.8
    ci_prob: float = 0.9
    ci_kind: str = "eti"

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Decision:
        """Read ``[decision]``."""
        _check_keys(table, SECTIONS["decision"], "decision.")
        for key in ("time", "mcid"):
            if key not in table:
                raise SpecError(f"decision.{key} is missing.")
        reference = table.get("reference", "lowest")
        if reference != "lowest":
            reference = _number(reference, "decision.reference", low=0)
        prob, kind = _decision_interval(table)
        return cls(time=_number(table["time"], "decision.time", 0.0, strict_low=True),
                   mcid=_number(table["mcid"], "decision.mcid", 0.0, strict_low=True),
                   reference=reference,
                   level=_number(table.get("level", 0.8), "decision.level", 0.0, 1.0),
                   ci_prob=prob, ci_kind=kind)

    def as_record(self) -> dict[str, Any]:
        """The rule as plain data, for a run's identity. Highest-density intervals are
        recorded as ``hdi_prob`` (the form of earlier versions, which computed those), so
        runs they saved resume.

        Examples
        --------
        >>> Decision(time=12, mcid=10, ci_kind="hdi").as_record()["hdi_prob"]
        0.9
        """
        out = asdict(self)
        if self.ci_kind == "hdi":
            out["hdi_prob"] = out.pop("ci_prob")
            del out["ci_kind"]
        return out

    def reference_dose(self, arms: Arms) -> float:
        """The reference dose of a design."""
        if self.reference == "lowest":
            return arms.doses[0]
        if self.reference not in arms.doses:
            raise SpecError(f"decision.reference = {self.reference:g} is not a dose of "
                            f"design {arms.name!r} (doses {list(arms.doses)}).")
        return float(self.reference)


@dataclass(frozen=True)
class Design:
    """A design study: outcome, true scenario, analysis, decision rule and candidates.

    Read one from a design file with :meth:`from_toml` (see the module's documentation
    for its tables) or from the same tables as a dict with :meth:`from_dict`.

    Attributes
    ----------
    name, description : str
        The study's name and a line describing it.
    outcome, direction : str
        The simulated outcome's name and ``"higher_is_better"`` or ``"lower_is_better"``.
    sd : float
        The outcome's SD (outcome units; ``[outcome] sd``): the scale of the simulated
        changes, declared as the SD of every simulated trial's outcome.
    baseline_mean : float
        Mean of the simulated baselines (outcome units).
    scenario : Scenario
        The true dose-response (``[scenario]``).
    decision : Decision
        The decision rule (``[decision]``).
    arms : tuple of Arms
        The candidate designs (``[designs.<name>]``), in file order.
    analysis, sampler : dict
        The ``[analysis]`` model and ``[sampler]`` settings as given.
    posterior : PosteriorScenario or None
        Truths drawn from a saved fit's posterior, when ``[scenario] posterior`` is set.
    baseline_sd : float or None
        SD of the simulated baselines (outcome units; ``[outcome] baseline_sd``); None:
        ``sd`` (see :attr:`baseline_spread`).

    Examples
    --------
    >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
    ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
    ...        "decision": {"time": 12, "mcid": 10},
    ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
    ...                              "visits": [3, 12]}}}
    >>> design = Design.from_dict(raw)
    >>> [arms.name for arms in design.arms], design.scenario.ed50
    (['small'], 10.0)
    """

    name: str
    outcome: str
    direction: str
    sd: float
    baseline_mean: float
    scenario: Scenario
    decision: Decision
    arms: tuple[Arms, ...]
    analysis: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    posterior: PosteriorScenario | None = None
    baseline_sd: float | None = None

    @property
    def baseline_spread(self) -> float:
        """The SD of the simulated baselines: ``baseline_sd``, or ``sd`` when not given.

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15, "baseline_sd": 5},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.sd, design.baseline_spread
        (15.0, 5.0)
        """
        return self.sd if self.baseline_sd is None else self.baseline_sd

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_toml(cls, path: str | Path) -> Design:
        """Read a design file (TOML).

        Parameters
        ----------
        path : str or Path
            The design file. A saved fit named by ``[scenario] posterior`` is looked up
            relative to its folder.

        Returns
        -------
        Design

        Raises
        ------
        SpecError
            For a missing or malformed file, naming the field and the fix.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "design.toml"
        >>> _ = path.write_text('''
        ... [outcome]
        ... name = "koos_pain"
        ... sd = 15
        ... [scenario]
        ... dose_shape = "emax"
        ... emax = 20
        ... ed50 = 10
        ... [decision]
        ... time = 12
        ... mcid = 10
        ... [designs.small]
        ... doses = [1, 10, 50]
        ... n_per_arm = 4
        ... visits = [3, 12]
        ... ''')
        >>> Design.from_toml(path).arm("small").doses
        (1.0, 10.0, 50.0)
        """
        path = Path(path)
        return cls.from_dict(read_toml(path, "design file"), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: Path | None = None) -> Design:
        """Build a design from the tables of a design file.

        ``[scenario] posterior = "fit.nc"`` (a saved fit, relative to ``base_dir``, the
        design file's folder, and inside it) draws each replicate's truth from that fit's
        posterior: the operating characteristics are then averaged over the posterior
        (assurance); ``outcome`` picks the fit's outcome.

        Parameters
        ----------
        raw : mapping
            The tables: ``outcome``, ``scenario``, ``analysis``, ``sampler``,
            ``decision`` and ``designs`` (one table per candidate design).
        base_dir : Path, optional
            Folder that a ``[scenario] posterior`` file is relative to.

        Returns
        -------
        Design

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.decision.reference, design.decision.level
        ('lowest', 0.8)
        """
        _check_keys(raw, set(SECTIONS), "")
        for key in ("outcome", "decision", "designs"):
            if key not in raw:
                raise SpecError(f"[{key}] is missing from the design.")
        outcome = dict(raw["outcome"])
        _check_keys(outcome, SECTIONS["outcome"], "outcome.")
        direction = outcome.get("direction", "higher_is_better")
        if direction not in ("higher_is_better", "lower_is_better"):
            raise SpecError("outcome.direction must be 'higher_is_better' or "
                            f"'lower_is_better' (got {direction!r}).")
        designs = raw["designs"]
        if not isinstance(designs, Mapping) or not designs:
            raise SpecError("[designs.<name>] tables are missing: give at least one design "
                            "with doses, n_per_arm and visits.")
        analysis = dict(raw.get("analysis", {}))
        _check_keys(analysis, SECTIONS["analysis"], "analysis.")
        sampler = dict(raw.get("sampler", {}))
        _check_keys(sampler, SECTIONS["sampler"], "sampler.")
        for key in ("draws", "tune", "chains"):
            if key in sampler and (isinstance(sampler[key], bool)
                                   or not isinstance(sampler[key], int) or sampler[key] < 1):
                raise SpecError(f"sampler.{key} must be a positive integer "
                                f"(got {sampler[key]!r}).")
        scenario, posterior = _read_scenario(dict(raw.get("scenario", {})), base_dir)
        design = cls(
            name=str(raw.get("name", "design")),
            description=str(raw.get("description", "")),
            outcome=str(outcome.get("name", "outcome")),
            direction=direction,
            sd=_number(outcome.get("sd", 15.0), "outcome.sd", 0.0, strict_low=True),
            baseline_mean=_number(outcome.get("baseline_mean", 50.0), "outcome.baseline_mean"),
            baseline_sd=(None if "baseline_sd" not in outcome else _number(
                outcome["baseline_sd"], "outcome.baseline_sd", 0.0, strict_low=True)),
            scenario=scenario,
            posterior=posterior,
            decision=Decision.from_mapping(raw["decision"]),
            arms=tuple(Arms.from_mapping(str(n), t) for n, t in designs.items()),
            analysis=analysis,
            sampler=sampler,
        )
        for arms in design.arms:
            design.decision.reference_dose(arms)
            if design.decision.time not in arms.visits:
                raise SpecError(f"decision.time = {design.decision.time:g} is not a visit of "
                                f"design {arms.name!r} (visits {list(arms.visits)}).")
        design.analysis_model()  # unknown shapes fail here, before any simulation
        return design

    def to_dict(self) -> dict[str, Any]:
        """The design as plain data (JSON-safe), e.g. to identify a simulation run.

        Posterior draws are represented by their hash, not listed. ``baseline_sd`` is
        recorded only when given (designs without it keep the record, and so the run
        identity, of earlier versions).

        Returns
        -------
        dict

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.to_dict()["arms"][0]["n_per_arm"]
        4
        """
        out = asdict(self)
        out["arms"] = [asdict(a) for a in self.arms]
        out["decision"] = self.decision.as_record()
        if self.baseline_sd is None:
            del out["baseline_sd"]
        if self.posterior is not None:
            draws = json.dumps(self.posterior.draws, sort_keys=True)
            out["posterior"] = {"source": self.posterior.source, "n_draws": len(self.posterior),
                                "sha256": hashlib.sha256(draws.encode()).hexdigest()}
        return json.loads(json.dumps(out))

    @cached_property
    def identity(self) -> str:
        """A short hash of the design's content."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def scenario_for(self, rng: np.random.Generator) -> Scenario:
        """The truth of one replicate: the fixed scenario, or a random posterior draw.

        Parameters
        ----------
        rng : numpy.random.Generator
            The replicate's random numbers (used only with a posterior scenario).

        Returns
        -------
        Scenario

        Examples
        --------
        >>> import numpy as np
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.scenario_for(np.random.default_rng(1)) == design.scenario
        True
        """
        if self.posterior is None:
            return self.scenario
        return self.posterior.scenario(int(rng.integers(len(self.posterior))))

    # ------------------------------------------------------------------ pieces
    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 otherwise."""
        return 1.0 if self.direction == "higher_is_better" else -1.0

    def analysis_model(self):
        """The analysis model (a :class:`~bayesdose.model.dose_response.DoseResponseModel`).

        Returns
        -------
        DoseResponseModel
            The ``[analysis]`` dose shape (default ``"emax"``), time course (default
            ``"exponential"``) and likelihood.

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.analysis_model().dose_shape.name
        'emax'
        """

        try:
            return DoseResponseModel(
                dose_shape=self.analysis.get("dose_shape", "emax"),
                time_shape=self.analysis.get("time_shape", "exponential"),
                likelihood=self.analysis.get("likelihood"))
        except SpecError as exc:
            raise SpecError(f"analysis: {exc}") from exc

    def sampler_settings(self) -> dict[str, Any]:
        """Draws, tune, chains and target_accept of each replicate's fit.

        Returns
        -------
        dict
            The ``[sampler]`` table over the defaults (1000 draws and tuning steps, 2
            chains, target acceptance 0.95).

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.sampler_settings()
        {'draws': 1000, 'tune': 1000, 'chains': 2, 'target_accept': 0.95}
        """
        return {"draws": 1000, "tune": 1000, "chains": 2, "target_accept": 0.95,
                **self.sampler}

    def arm(self, name: str) -> Arms:
        """The candidate design called ``name``.

        Parameters
        ----------
        name : str
            The name of a ``[designs.<name>]`` table.

        Returns
        -------
        Arms

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.arm("small").visits
        (3.0, 12.0)
        """
        for arms in self.arms:
            if arms.name == name:
                return arms
        raise SpecError(f"no design named {name!r} (designs: "
                        f"{', '.join(a.name for a in self.arms)}).")

    def true_improvements(self, arms: Arms,
                          scenario: Scenario | None = None) -> dict[float, float]:
        """True improvement of each tested dose over the reference at the decision time.

        Parameters
        ----------
        arms : Arms
            A candidate design.
        scenario : Scenario, optional
            The truth (default: the design's scenario).

        Returns
        -------
        dict of float to float
            Improvement in outcome units (positive = better) by dose.

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> {d: round(v, 2) for d, v in design.true_improvements(design.arm("small")).items()}
        {10.0: 8.05, 50.0: 14.62}
        """
        scenario = scenario or self.scenario
        reference = self.decision.reference_dose(arms)
        time = self.decision.time
        base = float(scenario.improvement(np.array(reference), time))
        return {d: float(scenario.improvement(np.array(d), time)) - base
                for d in arms.doses if d != reference}

    def true_choice(self, arms: Arms, scenario: Scenario | None = None) -> float:
        """The dose a perfect decision picks.

        Parameters
        ----------
        arms : Arms
            A candidate design.
        scenario : Scenario, optional
            The truth (default: the design's scenario).

        Returns
        -------
        float
            The smallest dose beating the reference by more than the MCID (NaN when none
            does).

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.true_choice(design.arm("small"))
        50.0
        """
        better = [d for d, v in self.true_improvements(arms, scenario).items()
                  if v > self.decision.mcid]
        return float(min(better)) if better else float("nan")

    def true_ed50(self, scenario: Scenario | None = None) -> float:
        """The scenario's ED50 (NaN for shapes without one).

        Parameters
        ----------
        scenario : Scenario, optional
            The truth (default: the design's scenario).

        Returns
        -------
        float

        Examples
        --------
        >>> raw = {"outcome": {"name": "koos_pain", "sd": 15},
        ...        "scenario": {"dose_shape": "emax", "emax": 20, "ed50": 10, "t_half": 2},
        ...        "decision": {"time": 12, "mcid": 10},
        ...        "designs": {"small": {"doses": [1, 10, 50], "n_per_arm": 4,
        ...                              "visits": [3, 12]}}}
        >>> design = Design.from_dict(raw)
        >>> design.true_ed50()
        10.0
        """
        scenario = scenario or self.scenario
        if scenario.dose_shape in ("emax", "sigmoid_emax"):
            return float(scenario.ed50)
        return float("nan")
