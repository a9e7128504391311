"""Model files: a declarative TOML description of data, model, priors, sampler, estimands.

A model file is parsed with :mod:`tomllib` and checked field by field; nothing in it is
executed. The same :class:`ModelSpec` can be built from a Python dict. Example::

    [data]
    source = "trial.csv"          # relative to this file, or "embedded:msc_trial"
    patient = "subject"
    dose = "dose_million"
    time = "month"
    outcome = "outcome"
    value = "value"

    [outcomes.koos_pain]
    direction = "higher_is_better"
    mcid = 10

    [model]
    outcomes = ["koos_pain"]
    dose_shape = "emax"
    time_shape = "exponential"

    [priors.delta]
    distribution = "Normal"
    mu = 0
    sigma = 1

    [sampler]
    draws = 1000
    chains = 4
    random_seed = 1

    [estimands]
    times = [12]
    contrasts = [[50, 1], [10, 1]]
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymc_extras.prior import Prior

from bayesdose.data import TrialData
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.model import DoseResponseModel
from bayesdose.priors import prior_from_mapping, prior_to_mapping

EMBEDDED = {"embedded:msc_trial"}
SECTIONS = {
    "name": None, "description": None,
    "data": {"source", "patient", "dose", "time", "outcome", "value", "outcomes",
             "dose_unit", "time_unit", "baseline_time"},
    "outcomes": None,
    "model": {"outcomes", "dose_shape", "time_shape", "likelihood", "dose_options",
              "time_options", "pooling", "patient_correlation", "lkj_eta"},
    "priors": None,
    "sampler": {"draws", "tune", "chains", "random_seed", "target_accept", "sampler",
                "cores"},
    "estimands": {"times", "contrasts", "reference", "hdi_prob", "doses"},
}
OUTCOME_FIELDS = {"direction", "mcid", "lower", "upper", "family", "unit", "label",
                  "likelihood"}
DEFAULT_COLUMNS = {"patient": "patient", "dose": "dose", "time": "time",
                   "outcome": "outcome", "value": "value"}


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file (nothing in it is executed), with a clear error naming ``what``
    it is when the file is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what} {str(path)!r} does not exist.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {str(path)!r} is not valid TOML: {exc}") from exc


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse unknown fields of a file's table, suggesting the closest known one."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{where}{key}: unknown field.{hint} Known fields: "
                            f"{', '.join(sorted(allowed))}.")


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"[{key}] must be a table (a [{key}] section).")
    return dict(value)


@dataclass
class ModelSpec:
    """A complete analysis: where the data are, the model, priors, sampler and estimands.

    Build it with :meth:`from_toml` or :meth:`from_dict`; run it with :func:`fit`.

    Attributes
    ----------
    name : str
        Name of the analysis.
    data : dict
        Data source and column names.
    outcome_info : dict
        Per outcome metadata (direction, mcid, bounds, ...), added to or overriding the
        data's own.
    model : dict
        Arguments of :class:`~bayesdose.model.DoseResponseModel` (without priors).
    priors : dict of str to Prior
        Prior overrides by parameter name.
    sampler : dict
        Arguments of :meth:`DoseResponseModel.fit`.
    estimands : dict
        Times, contrasts and interval probability for the result tables.
    base_dir : Path, optional
        Folder that relative data paths are resolved against (the model file's folder).

    Examples
    --------
    >>> spec = ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
    ...                             "model": {"outcomes": ["koos_pain"]}})
    >>> spec.build_model().dose_shape.name
    'emax'
    """

    name: str = "analysis"
    description: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    outcome_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    priors: dict[str, Prior] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    estimands: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None

    @classmethod
    def from_toml(cls, path: str | Path) -> ModelSpec:
        """Read and check a TOML model file (no code in it is run).

        Parameters
        ----------
        path : str or Path
            The model file.

        Returns
        -------
        ModelSpec

        Examples
        --------
        >>> spec = ModelSpec.from_toml("models/msc_koos_emax.toml")   # doctest: +SKIP
        """
        path = Path(path)
        return cls.from_dict(read_toml(path, "model file"), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: str | Path | None = None) -> ModelSpec:
        """Build and check a spec from a dict with the model file's structure.

        Parameters
        ----------
        raw : mapping
            Sections ``data``, ``outcomes``, ``model``, ``priors``, ``sampler``,
            ``estimands`` (and ``name``, ``description``).
        base_dir : str or Path, optional
            Folder for relative data paths.

        Returns
        -------
        ModelSpec
        """
        check_keys(raw, set(SECTIONS), "")
        for section, allowed in SECTIONS.items():
            if allowed is not None and section in raw:
                check_keys(_table(raw, section), allowed, f"{section}.")
        outcomes = _table(raw, "outcomes")
        for name, meta in outcomes.items():
            if not isinstance(meta, Mapping):
                raise SpecError(f"outcomes.{name} must be a table of metadata fields.")
            check_keys(meta, OUTCOME_FIELDS, f"outcomes.{name}.")
        priors = {name: prior_from_mapping(value, f"priors.{name}")
                  for name, value in _table(raw, "priors").items()}
        spec = cls(
            name=str(raw.get("name", "analysis")),
            description=str(raw.get("description", "")),
            data=_table(raw, "data"),
            outcome_info={k: dict(v) for k, v in outcomes.items()},
            model=_table(raw, "model"),
            priors=priors,
            sampler=_table(raw, "sampler"),
            estimands=_table(raw, "estimands"),
            base_dir=None if base_dir is None else Path(base_dir),
        )
        spec._check_prior_names(spec.build_model())
        spec._check_sampler()
        spec._check_estimands()
        spec._check_outcome_info()
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (the model file's structure), for saving with a fit."""
        return {
            "name": self.name,
            "description": self.description,
            "data": dict(self.data),
            "outcomes": {k: dict(v) for k, v in self.outcome_info.items()},
            "model": dict(self.model),
            "priors": {k: prior_to_mapping(v) for k, v in self.priors.items()},
            "sampler": dict(self.sampler),
            "estimands": dict(self.estimands),
        }

    def build_model(self) -> DoseResponseModel:
        """The :class:`~bayesdose.model.DoseResponseModel` this spec describes."""
        try:
            return DoseResponseModel(priors=self.priors, **self.model)
        except TypeError as exc:  # pragma: no cover - keys are checked before
            raise SpecError(f"[model]: {exc}") from exc

    def _check_prior_names(self, model: DoseResponseModel) -> None:
        """Every prior names a parameter of the model (names do not depend on the data)."""
        from bayesdose.likelihoods import LIKELIHOODS
        from bayesdose.priors import model_parameters
        from bayesdose.shapes import DoseScale
        from bayesdose.timecourses import TimeScale

        names: list[str] = []
        for correlated in ("none", "lkj", "factor"):
            params = model_parameters(model.dose_shape, model.time_shape,
                                      DoseScale((1.0, 2.0, 4.0)), TimeScale((1.0, 2.0, 4.0)),
                                      set(LIKELIHOODS), pooled=True, correlated=correlated)
            names += [p.name for p in params if p.name not in names]
        for name in self.priors:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise SpecError(
                    f"priors.{name}: no parameter named {name!r} in this model "
                    f"(dose_shape={model.dose_shape.name!r}, "
                    f"time_shape={model.time_shape.name!r}).{hint} Its parameters are "
                    f"{', '.join(names)}.")

    def _check_sampler(self) -> None:
        for key, value in self.sampler.items():
            if key == "sampler":
                ok, want = isinstance(value, str), "a string"
            elif key == "target_accept":
                ok, want = _is_number(value) and 0 < value < 1, "a number between 0 and 1"
            else:
                low = 0 if key in ("tune", "random_seed") else 1
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
                want = f"an integer >= {low}"
            if not ok:
                raise SpecError(f"sampler.{key} must be {want} (got {value!r}).")

    def _check_outcome_info(self) -> None:
        from bayesdose.data import outcome_info_from_mapping

        for name, meta in self.outcome_info.items():
            for key in ("mcid", "lower", "upper"):
                if meta.get(key) is not None and not _is_number(meta[key]):
                    raise SpecError(f"outcomes.{name}.{key} must be a number "
                                    f"(got {meta[key]!r}).")
            try:
                outcome_info_from_mapping(name, meta)
            except BayesdoseError as exc:
                raise SpecError(f"outcomes.{name}: {exc}") from exc

    def _check_estimands(self) -> None:
        contrasts = self.estimands.get("contrasts", [])
        if not isinstance(contrasts, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(_is_number(x) for x in c)
            for c in contrasts
        ):
            raise SpecError("estimands.contrasts must be a list of [dose, reference] pairs, "
                            "e.g. [[50, 1], [10, 1]].")
        for key in ("times", "doses"):
            values = self.estimands.get(key, [])
            if not isinstance(values, list) or not all(_is_number(x) for x in values):
                raise SpecError(f"estimands.{key} must be a list of numbers.")
        reference = self.estimands.get("reference")
        if reference is not None and not _is_number(reference):
            raise SpecError(f"estimands.reference must be a dose (a number), got {reference!r}.")
        prob = self.estimands.get("hdi_prob", 0.95)
        if not (_is_number(prob) and 0 < prob < 1):
            raise SpecError(f"estimands.hdi_prob must be between 0 and 1 (got {prob!r}).")

    # ------------------------------------------------------------------ data
    def load_data(self, path: str | Path | None = None) -> TrialData:
        """Load the trial data the spec names, or ``path`` instead (from the command line).

        A data path inside a model file is resolved relative to the file and must stay
        inside the file's folder; a path given here (by the user) may be anywhere.

        Parameters
        ----------
        path : str or Path, optional
            A CSV file that overrides the spec's data source.

        Returns
        -------
        TrialData
        """
        from bayesdose import datasets

        source = self.data.get("source")
        if path is None and source in EMBEDDED:
            data = datasets.load_msc_trial()
            if self.outcome_info:
                data = _with_outcome_info(data, self.outcome_info)
            return data
        if path is None:
            if not source:
                raise SpecError("[data] has no source: add source = \"file.csv\" (relative to "
                                "the model file) or pass the data on the command line "
                                "(--data FILE).")
            path = self._resolve_inside(str(source))
        columns = {role: self.data.get(role, default)
                   for role, default in DEFAULT_COLUMNS.items()}
        wide = self.data.get("outcomes")
        long_cols = {"outcome": None, "value": None} if wide else {
            "outcome": columns["outcome"], "value": columns["value"]}
        return TrialData.from_csv(
            path, patient=columns["patient"], dose=columns["dose"], time=columns["time"],
            outcomes=wide, dose_unit=self.data.get("dose_unit"),
            time_unit=self.data.get("time_unit"), baseline_time=self.data.get("baseline_time"),
            outcome_info=self.outcome_info or None, **long_cols,
        )

    def _resolve_inside(self, source: str) -> Path:
        base = (self.base_dir or Path.cwd()).resolve()
        target = (base / source).resolve()
        if base != target and base not in target.parents:
            raise SpecError(
                f"data.source {source!r} points outside the model file's folder ({base}); "
                "a model file may only name files beside it or below it. Pass other files on "
                "the command line with --data."
            )
        return target


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _with_outcome_info(data: TrialData, overrides: dict[str, dict[str, Any]]) -> TrialData:
    merged: dict[str, Any] = {}
    for name in data.outcomes:
        current = data.info(name).to_dict()
        current.pop("name")
        current.update(overrides.get(name, {}))
        merged[name] = current
    unknown = [n for n in overrides if n not in data.outcomes]
    if unknown:
        raise SpecError(f"[outcomes] names outcome(s) {unknown} not in the data "
                        f"({', '.join(data.outcomes)}).")
    return TrialData.from_frame(
        data.table.drop(columns="source_row"), patient="patient", dose="dose", time="time",
        outcome="outcome", value="value", dose_unit=data.dose_unit, time_unit=data.time_unit,
        baseline_time=data.baseline_time, outcome_info=merged,
    )


def fit(spec: ModelSpec, data: TrialData | None = None, **sampler: Any):
    """Run a model file end to end: load the data, build the model, sample.

    Parameters
    ----------
    spec : ModelSpec
        The analysis.
    data : TrialData, optional
        Data to use instead of the spec's source.
    **sampler
        Overrides of the spec's sampler settings (e.g. ``draws=200``).

    Returns
    -------
    DoseResponseFit

    Examples
    --------
    >>> import bayesdose as bd
    >>> spec = bd.ModelSpec.from_toml("models/msc_koos_emax.toml")   # doctest: +SKIP
    >>> fit = bd.fit(spec, draws=500)                                # doctest: +SKIP
    """
    from bayesdose.fit import record_spec

    data = spec.load_data() if data is None else data
    result = spec.build_model().fit(data, **{**spec.sampler, **sampler})
    record_spec(result.idata, spec.to_dict())
    return result
