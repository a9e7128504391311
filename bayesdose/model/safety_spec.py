"""The ``[safety]`` section of a model file: adverse-event data, the safety model and what
to read from its fit.

A model file may hold a safety analysis beside its dose-response one, or on its own
(``[safety]`` and ``[sampler]`` only). Example::

    [safety]
    source = "data/adverse_events.csv"   # relative to the model file, or "embedded:msc_trial"
    patient = "patient"
    dose = "dose"
    count = "n_events"                   # events per patient (and type) ...
    exposure = "follow_up_months"        # ... over this follow-up time
    event_type = "event_type"            # optional: one row per patient and event type
    model = "poisson"                    # "binary", "poisson" or "negative_binomial"
    reference = 1                        # rate ratios against this dose
    doses = [1, 10, 25, 50]              # rates at these doses (default: the tested ones)

    [safety.priors.beta]
    distribution = "Normal"
    mu = 0
    sigma = 0.5

``model = "binary"`` (the default when ``event`` names a yes/no column) fits
:class:`~bayesdose.model.safety.SafetyModel`; ``"poisson"`` (the default when ``count``
is given) and ``"negative_binomial"`` fit :class:`~bayesdose.model.safety.SafetyCountModel`.
The fit takes the file's ``[sampler]`` settings, as the dose-response fit does. The field
values are checked by :class:`bayesdose.model.spec.ModelSpec` (each against
:data:`bayesdose.model.spec.SAFETY_FIELDS`); :meth:`SafetySpec.from_table` checks how the
fields go together.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pymc.exceptions import SamplingError
from pymc_extras.prior import Prior

from bayesdose import datasets
from bayesdose.components.priors import prior_to_mapping
from bayesdose.data.safety import SafetyCountData, SafetyData
from bayesdose.errors import BayesdoseError, SpecError
from bayesdose.files.toml import resolve_inside
from bayesdose.model.safety import COUNT_FAMILIES, SafetyCountModel, SafetyModel
from bayesdose.results.safety import PARAMETERS, SafetyCountFit, SafetyFit

#: The models a ``[safety]`` section may ask for.
SAFETY_MODELS = ("binary", *COUNT_FAMILIES)


#: The adverse-event data a ``[safety]`` source may name instead of a file.
EMBEDDED_SAFETY = {"embedded:msc_trial": "the embedded MSC trial's adverse events"}


#: Column defaults of the embedded MSC trial's adverse events (one row per patient).
EMBEDDED_COLUMNS = {"patient": "patient", "dose": "dose", "event": "event",
                    "count": "n_events", "dose_unit": "million cells"}


#: Fields that only the count models use, and the one only the yes/no model uses.
COUNT_ONLY = ("exposure", "event_type", "exposure_unit", "reference")
BINARY_ONLY = ("event", "thresholds")


@dataclass(frozen=True)
class SafetySpec:
    """A checked ``[safety]`` section: where the adverse events are, the model, read-outs.

    Build it with :meth:`from_table` (a model file's :class:`~bayesdose.model.spec.ModelSpec`
    does).

    Attributes
    ----------
    fields : dict
        The section's fields as written (without ``priors``).
    priors : dict of str to Prior
        Prior overrides by parameter name (``[safety.priors.<name>]``).
    base_dir : Path, optional
        Folder that a relative ``source`` is resolved against (the model file's folder).

    Examples
    --------
    >>> spec = SafetySpec.from_table({"source": "embedded:msc_trial"})
    >>> spec.model_name, spec.columns()["event"]
    ('binary', 'event')
    >>> spec.load_data().by_dose()["n_with_event"].tolist()
    [0, 1, 3]
    """

    fields: dict[str, Any]
    priors: dict[str, Prior] = field(default_factory=dict)
    base_dir: Path | None = None

    @classmethod
    def from_table(cls, fields: Mapping[str, Any], priors: Mapping[str, Prior] | None = None,
                   base_dir: str | Path | None = None) -> SafetySpec:
        """Check how a ``[safety]`` section's fields go together and build the spec.

        Each field's own value is checked before (by the model file's reader); this
        checks the source, that the columns fit the model and that every prior names a
        parameter of it.

        Parameters
        ----------
        fields : mapping
            The section's fields, without ``priors``.
        priors : mapping of str to Prior, optional
            The parsed ``[safety.priors.<name>]`` tables.
        base_dir : str or Path, optional
            Folder for a relative ``source``.

        Returns
        -------
        SafetySpec

        Raises
        ------
        SpecError
            Naming the field (``safety.<field>``) and what it should be.

        Examples
        --------
        >>> SafetySpec.from_table({"source": "ae.csv", "count": "n", "exposure": "days",
        ...                        "model": "negative_binomial"}).model_name
        'negative_binomial'
        >>> SafetySpec.from_table({"source": "ae.csv", "count": "n"})
        Traceback (most recent call last):
        ...
        bayesdose.errors.SpecError: safety.exposure is missing: the poisson count model needs \
each row's follow-up time (> 0); add exposure = "column", naming the column that holds it.
        """
        spec = cls(fields=dict(fields), priors=dict(priors or {}),
                   base_dir=None if base_dir is None else Path(base_dir))
        spec._check_source()
        spec._check_columns()
        spec._check_priors()
        return spec

    # ------------------------------------------------------------------ what it asks for
    @property
    def embedded(self) -> bool:
        """Whether the source is embedded data rather than a file."""
        return str(self.fields.get("source", "")).startswith("embedded:")

    @property
    def model_name(self) -> str:
        """``"binary"``, ``"poisson"`` or ``"negative_binomial"`` (given, or the default).

        The default is ``"binary"`` when an ``event`` column is named (or the embedded
        data are used), else ``"poisson"``.
        """
        if "model" in self.fields:
            return str(self.fields["model"])
        if "event" in self.fields or ("count" not in self.fields and self.embedded):
            return "binary"
        return "poisson"

    @property
    def counts(self) -> bool:
        """Whether the model is a count model (Poisson or negative binomial)."""
        return self.model_name in COUNT_FAMILIES

    def columns(self) -> dict[str, str | None]:
        """The column roles and units: patient, dose, event, count, exposure, event_type,
        dose_unit and exposure_unit (None where not used).

        Returns
        -------
        dict

        Examples
        --------
        >>> SafetySpec.from_table({"source": "ae.csv", "event": "ae"}).columns()["patient"]
        'patient'
        """
        defaults = {"patient": "patient", "dose": "dose",
                    **(EMBEDDED_COLUMNS if self.embedded else {})}
        return {role: self.fields.get(role, defaults.get(role))
                for role in ("patient", "dose", "event", "count", "exposure", "event_type",
                             "dose_unit", "exposure_unit")}

    def interval(self, estimands: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The credible interval of the result tables: ``ci_prob`` and ``ci_kind``.

        ``[safety]``'s own, else those of ``estimands`` (the file's ``[estimands]``),
        else 0.95 and ``"eti"``.

        Parameters
        ----------
        estimands : mapping, optional
            The model file's ``[estimands]`` section.

        Returns
        -------
        dict

        Examples
        --------
        >>> SafetySpec.from_table({"source": "embedded:msc_trial"}).interval({"ci_prob": 0.9})
        {'ci_prob': 0.9, 'ci_kind': 'eti'}
        """
        base = dict(estimands or {})
        return {"ci_prob": float(self.fields.get("ci_prob", base.get("ci_prob", 0.95))),
                "ci_kind": str(self.fields.get("ci_kind", base.get("ci_kind", "eti")))}

    def to_dict(self) -> dict[str, Any]:
        """The section as plain data (fields as written, priors as tables).

        Returns
        -------
        dict

        Examples
        --------
        >>> SafetySpec.from_table({"source": "embedded:msc_trial"}).to_dict()
        {'source': 'embedded:msc_trial'}
        """
        out = dict(self.fields)
        if self.priors:
            out["priors"] = {k: prior_to_mapping(v) for k, v in self.priors.items()}
        return out

    # ------------------------------------------------------------------ checks
    def _check_source(self) -> None:
        source = self.fields.get("source")
        if source is None:
            raise SpecError("safety.source is missing: add source = \"adverse_events.csv\" "
                            "(a CSV file relative to the model file) or source = "
                            "\"embedded:msc_trial\" (the embedded example's adverse events).")
        if self.embedded and source not in EMBEDDED_SAFETY:
            raise SpecError(f"safety.source {source!r}: no such embedded data set; the "
                            f"embedded ones are {', '.join(sorted(EMBEDDED_SAFETY))}.")
        if self.embedded and self.counts:
            raise SpecError(f"safety.model = {self.model_name!r} needs follow-up times, which "
                            f"{EMBEDDED_SAFETY[source]} ({source!r}) lack (one yes/no and a "
                            "count per patient): use model = \"binary\", or a CSV file with "
                            "an exposure column.")

    def _check_columns(self) -> None:
        if not ({"model", "event", "count"} & set(self.fields)) and not self.embedded:
            raise SpecError("[safety] names no event column: add event = \"column\" (1 when "
                            "the patient had an adverse event, else 0) for model = \"binary\", "
                            "or count = \"column\" and exposure = \"column\" (events and "
                            "follow-up time) for a count model.")
        name = self.model_name
        wrong = BINARY_ONLY if self.counts else COUNT_ONLY
        given = [key for key in wrong if key in self.fields]
        if given:
            key = given[0]
            other = ("model = \"binary\"" if self.counts
                     else "model = \"poisson\" or \"negative_binomial\"")
            default = ("" if "model" in self.fields else
                       f" (the default when safety.{'count' if self.counts else 'event'} is "
                       "given and safety.model is not)")
            raise SpecError(f"safety.{key} is not used by model = {name!r}{default}; it "
                            f"belongs to {other}. Remove it, or set that model.")
        if self.counts:
            for key, what in (("count", "each row's number of events (0, 1, 2, ...)"),
                              ("exposure", "each row's follow-up time (> 0)")):
                if key not in self.fields:
                    raise SpecError(f"safety.{key} is missing: the {name} count model needs "
                                    f"{what}; add {key} = \"column\", naming the column "
                                    "that holds it.")
        elif not self.embedded and "event" not in self.fields and "count" not in self.fields:
            raise SpecError("safety.event is missing: model = \"binary\" needs a yes/no "
                            "column (1 when the patient had an adverse event, else 0); add "
                            "event = \"column\" (or count = \"column\" to count events).")
        roles = {role: col for role, col in self.columns().items()
                 if col is not None and not role.endswith("_unit")}
        seen: dict[str, str] = {}
        for role, column in roles.items():
            if column in seen:
                raise SpecError(f"safety.{role} and safety.{seen[column]} both name column "
                                f"{column!r}; each role needs its own column.")
            seen[column] = role

    def parameters(self) -> tuple[str, ...]:
        """Names of the model's parameters that take a prior.

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> SafetySpec.from_table({"source": "embedded:msc_trial"}).parameters()
        ('alpha', 'beta')
        """
        if not self.counts:
            return PARAMETERS
        return SafetyCountModel(self.model_name).parameters

    def _check_priors(self) -> None:
        names = self.parameters()
        for key in self.priors:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise SpecError(f"safety.priors.{key}: no parameter named {key!r} in the "
                                f"safety model (model = {self.model_name!r}).{hint} Its "
                                f"parameters are {', '.join(names)}.")
        self.build_model()

    # ------------------------------------------------------------------ data, model, fit
    def build_model(self) -> SafetyModel | SafetyCountModel:
        """The model the section describes, with its priors.

        Returns
        -------
        SafetyModel or SafetyCountModel

        Examples
        --------
        >>> SafetySpec.from_table({"source": "a.csv", "count": "n", "exposure": "t"}).build_model()
        SafetyCountModel(family='poisson')
        """
        try:
            if self.counts:
                return SafetyCountModel(self.model_name, priors=self.priors)
            return SafetyModel(priors=self.priors)
        except SpecError as exc:
            raise SpecError(f"safety.priors: {exc}") from exc

    def load_data(self) -> SafetyData | SafetyCountData:
        """Read and check the adverse-event data the section names.

        A file path is resolved relative to the model file and must stay inside its
        folder, as for ``[data]``.

        Returns
        -------
        SafetyData or SafetyCountData

        Raises
        ------
        SpecError
            When the path leaves the model file's folder.
        DataError
            When the data are malformed (naming the column and the CSV lines).

        Examples
        --------
        >>> SafetySpec.from_table({"source": "embedded:msc_trial"}).load_data().doses
        [1.0, 10.0, 50.0]
        """
        cols = self.columns()
        if self.embedded:
            frame, path = datasets.load_msc_adverse_events(), None
        else:
            frame, path = None, resolve_inside(
                self.base_dir, str(self.fields["source"]), "safety.source", "model file",
                hint="Copy the file beside the model file or into a folder below it.")
        if self.counts:
            kwargs = {"patient": cols["patient"], "dose": cols["dose"], "count": cols["count"],
                      "exposure": cols["exposure"], "event_type": cols["event_type"],
                      "dose_unit": cols["dose_unit"], "exposure_unit": cols["exposure_unit"]}
            return SafetyCountData.from_csv(path, **kwargs)
        kwargs = {"patient": cols["patient"], "dose": cols["dose"], "event": cols["event"],
                  "n_events": cols["count"], "dose_unit": cols["dose_unit"]}
        if frame is not None:
            return SafetyData.from_frame(frame, **kwargs)
        return SafetyData.from_csv(path, **kwargs)

    def check_data(self, data: SafetyData | SafetyCountData) -> None:
        """Check the doses the section asks about against the data, before sampling.

        Parameters
        ----------
        data : SafetyData or SafetyCountData
            The data of :meth:`load_data`.

        Raises
        ------
        SpecError
            When ``doses`` or ``reference`` name a dose the model cannot evaluate (dose 0
            without a placebo arm).

        Examples
        --------
        >>> spec = SafetySpec.from_table({"source": "embedded:msc_trial", "doses": [0]})
        >>> spec.check_data(spec.load_data())
        Traceback (most recent call last):
        ...
        bayesdose.errors.SpecError: safety.doses: dose 0 is outside this model: no placebo \
arm was tested, so the model is linear in log dose with no offset and log(0) is undefined. \
Ask for a small positive dose instead, or fit data with a placebo arm.
        """
        for key in ("doses", "reference"):
            if key not in self.fields:
                continue
            value = self.fields[key]
            try:
                data.scale.check(value if isinstance(value, list) else [value])
            except BayesdoseError as exc:
                raise SpecError(f"safety.{key}: {exc}") from exc

    def fit(self, data: SafetyData | SafetyCountData, **sampler: Any) -> SafetyFit | SafetyCountFit:
        """Sample the safety model's posterior with the given sampler settings.

        Parameters
        ----------
        data : SafetyData or SafetyCountData
            The data of :meth:`load_data`.
        **sampler
            The model file's ``[sampler]`` settings with the command line's overrides
            (draws, tune, chains, random_seed, target_accept, sampler, cores).

        Returns
        -------
        SafetyFit or SafetyCountFit

        Raises
        ------
        SpecError
            When the model cannot be evaluated where sampling starts.

        Examples
        --------
        >>> spec = SafetySpec.from_table({"source": "embedded:msc_trial"})
        >>> fit = spec.fit(spec.load_data(), draws=200, tune=200, chains=2)  # doctest: +SKIP
        """
        try:
            return self.build_model().fit(data, **sampler)
        except SamplingError as exc:
            raise SpecError(f"the safety model cannot be evaluated where sampling starts "
                            f"({exc}). Check the priors in [safety.priors].") from exc

    def tables(self, fit: SafetyFit | SafetyCountFit,
               estimands: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
        """The read-outs the section asks for, by file name.

        The yes/no model gives ``event_probability.csv`` (by dose),
        ``odds_ratio_per_doubling.csv`` and, with ``thresholds``, ``prob_exceeds.csv``;
        a count model gives ``event_rate.csv`` (by event type and dose, per unit
        exposure) and ``rate_ratio.csv`` (each dose against ``reference``, default the
        lowest tested dose, by event type). Doses are ``doses``, default the tested ones.

        Parameters
        ----------
        fit : SafetyFit or SafetyCountFit
            The fit of :meth:`fit`.
        estimands : mapping, optional
            The model file's ``[estimands]`` (for the default interval).

        Returns
        -------
        dict of str to pandas.DataFrame

        Examples
        --------
        >>> import arviz as az, numpy as np
        >>> spec = SafetySpec.from_table({"source": "embedded:msc_trial", "thresholds": [0.3]})
        >>> draws = {"alpha": np.zeros((1, 4)), "beta": np.ones((1, 4))}
        >>> fit = SafetyFit(spec.load_data(), az.from_dict({"posterior": draws}))
        >>> sorted(spec.tables(fit))
        ['event_probability.csv', 'odds_ratio_per_doubling.csv', 'prob_exceeds.csv']
        """
        interval = self.interval(estimands)
        doses = self.fields.get("doses")
        if isinstance(fit, SafetyCountFit):
            reference = self.fields.get("reference", fit.data.doses[0])
            versus = None if doses is None else [d for d in doses if d != reference]
            return {"event_rate.csv": fit.event_rate(dose=doses, **interval),
                    "rate_ratio.csv": fit.rate_ratio(dose=versus or None, reference=reference,
                                                     **interval)}
        tables = {"event_probability.csv": fit.event_probability(dose=doses, **interval),
                  "odds_ratio_per_doubling.csv": fit.odds_ratio_per_doubling(**interval)}
        if "thresholds" in self.fields:
            tables["prob_exceeds.csv"] = fit.prob_exceeds(self.fields["thresholds"], dose=doses)
        return tables
