"""Hypothesis strategies for trial tables and model files, and a small TOML writer.

Shared by the property tests and the loader fuzzer: well-formed long or wide trial tables
with the user's own column names and units, and well-formed model-file dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from bayesdose.data.trial import MISSING_TOKENS

# ---------------------------------------------------------------------- names
_LETTERS = st.characters(categories=("L", "N"), max_codepoint=0x2FFF)


def _label(min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    """Text usable as a column name, patient id or unit: no surrounding blanks, not a
    missing-value token, no quotes or line breaks."""
    inner = st.text(st.one_of(_LETTERS, st.sampled_from(" _-.()/%µ")), min_size=0,
                    max_size=max_size - 1)
    return st.builds(lambda head, rest: (head + rest).strip(), _LETTERS, inner).filter(
        lambda s: min_size <= len(s) and s not in MISSING_TOKENS and s.strip() == s
        and not s.lower().startswith(("nan", "inf")))


column_names = st.lists(_label(), min_size=8, max_size=8, unique_by=str.casefold)
units = st.one_of(st.none(), _label(max_size=14))
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@dataclass
class Trial:
    """A generated trial: the table, the constructor's keyword arguments, its shape."""

    frame: pd.DataFrame
    kwargs: dict[str, Any]
    wide: bool
    n_patients: int
    outcomes: list[str]

    @property
    def role_columns(self) -> dict[str, str]:
        """Role -> the user's column name (long form: outcome and value too)."""
        roles = {r: self.kwargs[r] for r in ("patient", "dose", "time")}
        if not self.wide:
            roles.update(outcome=self.kwargs["outcome"], value=self.kwargs["value"])
        return roles

    @property
    def value_columns(self) -> list[str]:
        """Columns holding outcome values."""
        return list(self.kwargs["outcomes"]) if self.wide else [self.kwargs["value"]]


@st.composite
def trials(draw: st.DrawFn, max_patients: int = 6, allow_missing: bool = True) -> Trial:
    """A well-formed trial table, long or wide, with the user's names and units."""
    names = draw(column_names)
    wide = draw(st.booleans())
    n_outcomes = draw(st.integers(1, 2))
    outcomes = names[5:5 + n_outcomes] if wide else draw(
        st.lists(_label(), min_size=n_outcomes, max_size=n_outcomes, unique=True))
    doses = draw(st.lists(st.floats(0, 500, allow_nan=False).map(lambda d: round(d, 3)),
                          min_size=2, max_size=3, unique=True))
    n_patients = draw(st.integers(len(doses), max_patients))
    patient_dose = doses + draw(st.lists(st.sampled_from(doses), min_size=n_patients - len(doses),
                                         max_size=n_patients - len(doses)))
    patients = draw(st.lists(_label(max_size=6), min_size=n_patients, max_size=n_patients,
                             unique=True))
    baseline = draw(st.floats(-5, 5, allow_nan=False).map(lambda t: round(t, 2)))
    steps = draw(st.lists(st.floats(0.1, 12, allow_nan=False).map(lambda t: round(t, 2)),
                          min_size=1, max_size=3, unique=True))
    times = [baseline, *sorted({round(baseline + s, 2) for s in steps} - {baseline})]
    rows = []
    for patient, dose in zip(patients, patient_dose, strict=True):
        for time in times:
            post = time != baseline
            if post and allow_missing and draw(st.integers(0, 9)) == 0:
                continue  # a visit with no row at all
            values = {o: draw(finite) for o in outcomes}
            if post and allow_missing:
                values = {o: (math.nan if draw(st.integers(0, 9)) == 0 else v)
                          for o, v in values.items()}
            rows.append((patient, dose, time, values))
    patient_col, dose_col, time_col, outcome_col, value_col = names[:5]
    kwargs: dict[str, Any] = {"patient": patient_col, "dose": dose_col, "time": time_col,
                              "dose_unit": draw(units), "time_unit": draw(units)}
    if wide:
        frame = pd.DataFrame([{patient_col: p, dose_col: d, time_col: t, **v}
                              for p, d, t, v in rows])
        kwargs["outcomes"] = list(outcomes)
    else:
        frame = pd.DataFrame([{patient_col: p, dose_col: d, time_col: t, outcome_col: o,
                               value_col: v[o]} for p, d, t, v in rows for o in outcomes])
        kwargs.update(outcome=outcome_col, value=value_col)
    order = draw(st.permutations(range(len(frame))))
    frame = frame.iloc[list(order)].reset_index(drop=True)
    return Trial(frame, kwargs, wide, n_patients, list(outcomes))


# ---------------------------------------------------------------------- model files
DOSE_SHAPES = ["linear", "log_linear", "emax", "sigmoid_emax", "exponential", "quadratic",
               "free", "monotone"]
TIME_SHAPES = ["exponential", "bateman", "emax", "piecewise_linear", "free"]


@st.composite
def model_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed model file as a dict (the structure ModelSpec.from_dict reads)."""
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["name"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        spec["description"] = draw(st.text(max_size=40))
    data = {"source": draw(st.sampled_from(["trial.csv", "data/trial.csv",
                                            "embedded:msc_trial"]))}
    for role in ("patient", "dose", "time", "outcome", "value"):
        if draw(st.booleans()):
            data[role] = draw(_label())
    for unit in ("dose_unit", "time_unit"):
        if draw(st.booleans()):
            data[unit] = draw(_label())
    spec["data"] = data
    outcome = draw(_label())
    if draw(st.booleans()):
        meta: dict[str, Any] = {"direction": draw(st.sampled_from(["higher_is_better",
                                                                   "lower_is_better"]))}
        if draw(st.booleans()):
            meta["mcid"] = draw(st.floats(0.01, 100))
        if draw(st.booleans()):
            meta["lower"], meta["upper"] = 0, 100
        if draw(st.booleans()):
            meta["unit"] = draw(_label())
        spec["outcomes"] = {outcome: meta}
    model: dict[str, Any] = {"dose_shape": draw(st.sampled_from(DOSE_SHAPES)),
                             "time_shape": draw(st.sampled_from(TIME_SHAPES))}
    if draw(st.booleans()):
        model["outcomes"] = [outcome]
    if draw(st.booleans()):
        model["pooling"] = draw(st.sampled_from(["family", "none"]))
    if draw(st.booleans()):
        model["patient_correlation"] = draw(st.sampled_from(["factor", "lkj", "none"]))
    spec["model"] = model
    if draw(st.booleans()):
        spec["priors"] = {"sigma": {"distribution": "HalfNormal",
                                    "sigma": draw(st.floats(0.1, 5))}}
    sampler: dict[str, Any] = {}
    for key, low in (("draws", 1), ("tune", 0), ("chains", 1), ("random_seed", 0)):
        if draw(st.booleans()):
            sampler[key] = draw(st.integers(low, 2000))
    if draw(st.booleans()):
        sampler["target_accept"] = draw(st.floats(0.5, 0.99))
    spec["sampler"] = sampler
    estimands: dict[str, Any] = {}
    if draw(st.booleans()):
        estimands["times"] = draw(st.lists(st.floats(0, 24), max_size=3))
    if draw(st.booleans()):
        estimands["contrasts"] = draw(st.lists(st.lists(st.floats(0, 100), min_size=2,
                                                        max_size=2), max_size=2))
    if draw(st.booleans()):
        estimands["ci_prob"] = draw(st.floats(0.5, 0.99))
    if draw(st.booleans()):
        estimands["ci_kind"] = draw(st.sampled_from(["eti", "hdi"]))
    spec["estimands"] = estimands
    return spec


#: Any TOML value: what a hostile or careless model file may hold in any field.
toml_values = st.recursive(
    st.one_of(st.text(max_size=12), st.integers(-2**63, 2**63 - 1), st.booleans(),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
