"""Property-based tests of the loaders: every malformed trial table or model file gives a
bayesdose error naming the column, row or field at fault; every well-formed one loads and
round-trips (data -> fit -> netCDF -> fit) with nothing lost, in the user's own names.

The fits here are built from fixed posterior draws (as ``conftest.fixed_fit`` does), so the
properties stay fast; ``test_small_fit_round_trips_through_the_result_folder`` runs a whole
fit end to end, with prior draws in place of sampling (``conftest.prior_draws_for_sampling``).
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fixed_fit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from trial_strategies import Trial, model_dicts, toml_values, trials

import bayesdose as bd
from bayesdose.cli.fit_folder import describe_columns, with_units
from bayesdose.errors import BayesdoseError, DataError, SpecError
from bayesdose.files.toml import toml_text
from bayesdose.model.spec import ModelSpec


def fast(max_examples: int) -> settings:
    """Hypothesis settings: ``max_examples`` examples, no deadline, no example database."""
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

CANONICAL = ["patient", "dose", "time", "outcome", "value"]


def load(trial: Trial, frame: pd.DataFrame | None = None, via_csv: bool = False,
         **extra) -> bd.TrialData:
    """TrialData.from_frame, or from_csv of the table written as CSV."""
    frame = trial.frame if frame is None else frame
    kwargs = {**trial.kwargs, **extra}
    if not via_csv:
        return bd.TrialData.from_frame(frame, **kwargs)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trial.csv"
        frame.to_csv(path, index=False)
        return bd.TrialData.from_csv(path, **kwargs)


def label(i: int, via_csv: bool) -> str:
    """How an error message cites row ``i`` of the frame (CSV: its line number)."""
    return f"line {i + 2}" if via_csv else f"row {i}"


def cites(message: str, row_label: str) -> bool:
    """Whether ``message`` cites ``row_label`` (alone or in a list such as 'rows 2, 5')."""
    word, number = row_label.split(" ")
    return re.search(rf"\b{word}s? (?:[\w.]+, )*{re.escape(number)}\b", message) is not None


# ---------------------------------------------------------------------- well-formed data
@fast(60)
@given(trial=trials())
def test_well_formed_tables_load_and_survive_a_csv_round_trip(trial):
    data = load(trial)
    n_values = len(trial.frame) * (len(trial.outcomes) if trial.wide else 1)
    assert len(data.table) == n_values  # nothing dropped, missing values kept as missing
    assert sorted(data.outcomes) == sorted(trial.outcomes)
    assert len(data.patients) == trial.n_patients
    # the user's names and units are kept
    assert list(data.to_frame().columns) == [
        trial.role_columns.get(role, role) for role in CANONICAL]
    assert data.dose_unit == (trial.kwargs["dose_unit"] or trial.kwargs["dose"])
    assert data.time_unit == (trial.kwargs["time_unit"] or trial.kwargs["time"])
    # every observed value comes back exactly, every missing one stays missing
    source = np.concatenate([trial.frame[c].to_numpy(dtype=float) for c in trial.value_columns])
    values = data.table["value"].to_numpy()
    assert np.array_equal(np.sort(source[~np.isnan(source)]),
                          np.sort(values[~np.isnan(values)]))
    assert np.isnan(source).sum() == np.isnan(values).sum()
    # the same trial read from a CSV file is the same data
    again = load(trial, via_csv=True)
    pd.testing.assert_frame_equal(again.table[CANONICAL], data.table[CANONICAL])
    assert again.columns == data.columns and again.baseline_time == data.baseline_time


# ---------------------------------------------------------------------- malformed data
MUTATIONS = ["drop_column", "rename_column", "text_in_number", "empty_required",
             "infinite_number", "duplicate_row", "two_doses",
             "negative_dose", "no_rows", "bool_doses", "list_in_cell", "bad_argument",
             "unknown_outcome_info"]


def mutate(trial: Trial, kind: str, data: st.DataObject,
           via_csv: bool) -> tuple[pd.DataFrame, dict, list[str], list[str]]:
    """Break ``trial`` one way; return the table, extra arguments, the texts the message
    must contain and the rows it must cite."""
    frame = trial.frame.copy()
    n = len(frame)
    roles = trial.role_columns
    numeric = [roles["dose"], roles["time"], *trial.value_columns]
    row = data.draw(st.integers(0, n - 1), label="row")

    def put(column: str, value) -> None:
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = value

    if kind == "drop_column":
        column = data.draw(st.sampled_from([*roles.values(), *trial.value_columns]))
        return frame.drop(columns=column), {}, [repr(column), "not found"], []
    if kind == "rename_column":
        column = data.draw(st.sampled_from([*roles.values(), *trial.value_columns]))
        return frame.rename(columns={column: column + " (old)"}), {}, [repr(column)], []
    if kind == "text_in_number":
        column = data.draw(st.sampled_from(numeric))
        text = data.draw(st.sampled_from(["ten", "5 mg", "1,5", "n.a.", "--", "<10"]))
        put(column, text)
        return frame, {}, [repr(column), "non-numeric"], [label(row, via_csv)]
    if kind == "empty_required":
        required = [roles["patient"], roles["dose"], roles["time"]]
        column = data.draw(st.sampled_from(required + ([] if trial.wide else
                                                      [roles["outcome"]])))
        put(column, None)
        return frame, {}, [repr(column), "empty"], [label(row, via_csv)]
    if kind == "infinite_number":
        column = data.draw(st.sampled_from(numeric))
        put(column, data.draw(st.sampled_from([math.inf, -math.inf])))
        return frame, {}, [repr(column), "infinite"], [label(row, via_csv)]
    if kind == "duplicate_row":
        frame = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
        return frame, {}, ["duplicate rows"], [label(row, via_csv), label(n, via_csv)]
    patients = frame[roles["patient"]]
    if kind == "two_doses":
        counts = patients.value_counts()
        several = counts[counts > 1].index.tolist()
        assume(several)
        patient = data.draw(st.sampled_from(sorted(several)))
        row = int(np.flatnonzero(patients.to_numpy() == patient)[-1])
        put(roles["dose"], float(frame.at[row, roles["dose"]]) + 1.5)
        return frame, {}, [repr(roles["dose"]), repr(patient), "one dose"], []
    if kind == "negative_dose":
        patient = data.draw(st.sampled_from(sorted(set(patients))))
        rows = np.flatnonzero(patients.to_numpy() == patient)
        frame[roles["dose"]] = frame[roles["dose"]].astype(float)
        frame.loc[rows, roles["dose"]] = -(frame.loc[rows, roles["dose"]] + 1)
        return frame, {}, [repr(roles["dose"]), "negative"], [label(int(rows[0]), via_csv)]
    if kind == "no_rows":
        return frame.iloc[0:0], {}, ["empty"], []
    if kind == "bool_doses":
        frame[roles["dose"]] = frame[roles["dose"]] > frame[roles["dose"]].median()
        return frame, {}, [repr(roles["dose"]), "non-numeric"], []
    if kind == "list_in_cell":
        column = data.draw(st.sampled_from(numeric))
        put(column, [1.0])
        return frame, {}, [repr(column), "non-numeric"], [label(row, via_csv)]
    if kind == "bad_argument":
        argument = data.draw(st.sampled_from(["patient", "dose", "time"]))
        return frame, {argument: [trial.kwargs[argument]]}, [f"{argument}="], []
    assert kind == "unknown_outcome_info"
    return frame, {"outcome_info": {"no such outcome": {"mcid": 1}}}, ["'no such outcome'"], []


@fast(120)
@given(trial=trials(max_patients=4), kind=st.sampled_from(MUTATIONS), via_csv=st.booleans(),
       data=st.data())
def test_malformed_tables_raise_a_data_error_naming_the_fault(trial, kind, via_csv, data):
    frame, extra, needles, rows = mutate(trial, kind, data, via_csv)
    with pytest.raises(DataError) as info:
        load(trial, frame, via_csv=via_csv, **extra)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (kind, needle, message)
    for row_label in rows:
        assert cites(message, row_label), (kind, row_label, message)


# ---------------------------------------------------------------------- fit round trip
def fixed_linear_fit(data: bd.TrialData, seed: int) -> bd.DoseResponseFit:
    """A linear x exponential fit of ``data`` with fixed posterior draws."""
    model = bd.DoseResponseModel(dose_shape="linear", time_shape="exponential")
    inputs = model.inputs(model.select_data(data))
    rng = np.random.default_rng(seed)
    k, t = len(inputs.outcomes), len(inputs.visits)
    draws = {"delta": rng.normal(0.5, 0.2, (2, 7, k)),
             "log_t_half": rng.normal(0.0, 0.3, (2, 7, k)),
             "course": rng.normal(0.0, 0.1, (2, 7, k, t)),
             "beta_baseline": rng.normal(0.0, 0.1, (2, 7, k)),
             "sigma": rng.gamma(4.0, 0.25, (2, 7, k))}
    return fixed_fit(data, model, draws)


@fast(15)
@given(trial=trials(max_patients=5), seed=st.integers(0, 2**16))
def test_fits_round_trip_through_netcdf_with_nothing_lost(trial, seed):
    data = load(trial)
    try:
        fit = fixed_linear_fit(data, seed)
    except DataError as exc:  # e.g. an outcome with no post-baseline value at all
        assert any(o in str(exc) for o in data.outcomes) or "post-baseline" in str(exc)
        assume(False)
    with tempfile.TemporaryDirectory() as folder:
        path = fit.save(Path(folder) / "fit.nc")
        loaded = bd.load_fit(path)
    # the data, in the user's names and units
    pd.testing.assert_frame_equal(loaded.data.table[CANONICAL], fit.data.table[CANONICAL])
    assert loaded.data.columns == fit.data.columns
    assert loaded.data.to_frame().columns.tolist() == fit.data.to_frame().columns.tolist()
    assert loaded.data.dose_unit == data.dose_unit and loaded.data.time_unit == data.time_unit
    assert loaded.data.baseline_time == data.baseline_time
    assert loaded.data.outcome_info == fit.data.outcome_info
    # the model, the settings and every draw
    assert loaded.model.config() == fit.model.config()
    assert loaded.settings == fit.settings
    for name, values in fit.idata.posterior.data_vars.items():
        np.testing.assert_array_equal(loaded.idata.posterior[name].to_numpy(), values.to_numpy())
    # what is read from it
    pd.testing.assert_frame_equal(loaded.effect(), fit.effect())
    # the units and column names reach the tables and the summary line
    effect = with_units(loaded.effect(), loaded, "effect.csv")
    assert set(effect["dose_unit"]) == {data.dose_unit}
    assert set(effect["time_unit"]) == {data.time_unit}
    line = describe_columns(loaded.data)
    for column in trial.role_columns.values():
        assert repr(column) in line
    assert data.dose_unit in line and data.time_unit in line


# ---------------------------------------------------------------------- model files
def write_spec(folder: Path, text: str) -> Path:
    path = folder / "model.toml"
    path.write_text(text, encoding="utf-8")
    return path


@fast(40)
@given(raw=model_dicts())
def test_well_formed_model_files_parse_and_round_trip(raw):
    with tempfile.TemporaryDirectory() as folder:
        spec = ModelSpec.from_toml(write_spec(Path(folder), toml_text(raw)))
    assert spec.data == raw["data"] and spec.sampler == raw["sampler"]
    assert spec.model == raw["model"] and spec.estimands == raw["estimands"]
    assert spec.outcome_info == raw.get("outcomes", {})
    again = ModelSpec.from_dict(spec.to_dict())
    assert again.to_dict() == spec.to_dict()
    model = spec.build_model()
    assert model.dose_shape.name == raw["model"]["dose_shape"]


WRONG_TYPES = [
    ("name", None, 5),
    ("data", "patient", 5),
    ("data", "source", ["trial.csv"]),
    ("data", "outcomes", "pain"),
    ("data", "baseline_time", "zero"),
    ("model", "dose_shape", ["emax"]),
    ("model", "outcomes", []),
    ("model", "lkj_eta", -1.0),
    ("model", "likelihood", 3),
    ("model", "pooling", True),
    ("sampler", "draws", 1.5),
    ("sampler", "chains", "4"),
    ("sampler", "random_seed", -3),
    ("sampler", "target_accept", 1.5),
    ("sampler", "sampler", "stan"),
    ("estimands", "times", [math.nan]),
    ("estimands", "doses", [-1.0]),
    ("estimands", "ci_prob", 2),
    ("estimands", "ci_kind", "median"),
    ("estimands", "reference", math.inf),
    ("estimands", "contrasts", [[1]]),
]


@fast(80)
@given(raw=model_dicts(), kind=st.sampled_from(["unknown_field", "wrong_type", "not_a_table",
                                                "bad_prior", "bad_outcome", "unparseable",
                                                "missing_data"]),
       data=st.data())
def test_malformed_model_files_raise_a_spec_error_naming_the_field(raw, kind, data):
    needles: list[str]
    text = None
    if kind == "unknown_field":
        section = data.draw(st.sampled_from(["data", "model", "sampler", "estimands", None]))
        key = "zz_" + data.draw(st.text("abcdefgh", min_size=1, max_size=5))
        if section is None:
            raw[key] = 1
            needles = [f"{key}: unknown field"]
        else:
            raw[section][key] = 1
            needles = [f"{section}.{key}: unknown field"]
    elif kind == "wrong_type":
        section, key, value = data.draw(st.sampled_from(WRONG_TYPES))
        if key is None:
            raw[section] = value
            needles = [section]
        else:
            raw[section][key] = value
            needles = [f"{section}.{key}"]
    elif kind == "not_a_table":
        section = data.draw(st.sampled_from(["data", "model", "sampler", "estimands",
                                             "priors", "outcomes"]))
        raw[section] = "fast"
        needles = [f"[{section}] must be a table"]
    elif kind == "bad_prior":
        value = data.draw(st.sampled_from([-1.0, 0.0, math.nan, math.inf]))
        raw["priors"] = {"sigma": {"distribution": "HalfNormal", "sigma": value}}
        needles = ["priors.sigma.sigma"]
    elif kind == "bad_outcome":
        key, value = data.draw(st.sampled_from([("mcid", -2.0), ("mcid", math.nan),
                                                ("lower", math.inf), ("direction", "up"),
                                                ("unit", 3), ("likelihood", "poisson")]))
        raw["outcomes"] = {"pain": {key: value}}
        needles = ["outcomes.pain"]
    elif kind == "unparseable":
        text = toml_text(raw) + data.draw(st.sampled_from(
            ["\n[model\n", "\nkey = = 1\n", "\n[data]\n", '\nname = "open\n', "\n= 3\n"]))
        needles = ["not valid TOML"]
    else:
        raw.pop("data")
        with tempfile.TemporaryDirectory() as folder:
            spec = ModelSpec.from_toml(write_spec(Path(folder), toml_text(raw)))
            with pytest.raises(SpecError, match=r"\[data\] has no source.*--data"):
                spec.load_data()
        return
    with tempfile.TemporaryDirectory() as folder:
        path = write_spec(Path(folder), text if text is not None else toml_text(raw))
        with pytest.raises(SpecError) as info:
            ModelSpec.from_toml(path)
    for needle in needles:
        assert needle in str(info.value), (kind, needle, str(info.value))


SECTION_KEYS = ["name", "description", "data", "outcomes", "model", "priors", "sampler",
                "estimands"]
FIELD_KEYS = ["source", "patient", "dose", "outcomes", "baseline_time", "dose_shape",
              "time_shape", "likelihood", "dose_options", "time_options", "pooling",
              "lkj_eta", "draws", "chains", "random_seed", "target_accept", "sampler", "times",
              "contrasts", "reference", "ci_prob", "ci_kind", "hdi_prob", "doses", "delta",
              "sigma", "distribution", "mcid", "direction", "lower"]
any_specs = st.dictionaries(
    st.one_of(st.sampled_from(SECTION_KEYS), st.text(max_size=6)),
    st.one_of(toml_values, st.dictionaries(st.one_of(st.sampled_from(FIELD_KEYS),
                                                     st.text(max_size=6)),
                                           toml_values, max_size=4)),
    max_size=5)


@fast(150)
@given(raw=any_specs)
def test_any_model_file_content_gives_a_spec_or_a_bayesdose_error(raw):
    try:
        spec = ModelSpec.from_dict(raw)
    except BayesdoseError as exc:
        assert str(exc).strip()
        return
    spec.build_model()
    assert ModelSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()


# ---------------------------------------------------------------------- a whole fit
def test_small_fit_round_trips_through_the_result_folder(tmp_path, frame, prior_sampler):
    """A small fit (prior draws in place of sampling) of data with the user's own names
    and units: the result folder's fit.nc gives back every draw, the data and the
    settings; the tables, the summary and the report carry the names and units."""
    from bayesdose.cli.fit_folder import write_results

    frame = frame.rename(columns={"subject": "Subject ID", "dose_mg": "Dose (MSC)",
                                  "week": "Month", "endpoint": "Scale", "score": "Score"})
    frame.to_csv(tmp_path / "trial.csv", index=False)
    (tmp_path / "model.toml").write_text(
        'name = "round trip"\n[data]\nsource = "trial.csv"\npatient = "Subject ID"\n'
        'dose = "Dose (MSC)"\ntime = "Month"\noutcome = "Scale"\nvalue = "Score"\n'
        'dose_unit = "million cells"\ntime_unit = "months"\n'
        '[outcomes.pain]\ndirection = "higher_is_better"\nmcid = 3\n'
        '[model]\ndose_shape = "linear"\n'
        '[sampler]\ndraws = 40\ntune = 40\nchains = 1\nrandom_seed = 3\n'
        '[estimands]\ntimes = [12]\ncontrasts = [[50, 1]]\n', encoding="utf-8")
    spec = ModelSpec.from_toml(tmp_path / "model.toml")
    fit = bd.fit(spec)
    out = tmp_path / "out"
    out.mkdir()
    write_results(fit, out, spec.estimands)
    loaded = bd.load_fit(out / "fit.nc")
    for group in fit.idata.children:
        original, again = fit.idata[group].to_dataset(), loaded.idata[group].to_dataset()
        assert set(original.data_vars) == set(again.data_vars), group
        for name, values in original.data_vars.items():
            np.testing.assert_array_equal(again[name].to_numpy(), values.to_numpy(),
                                          err_msg=f"{group}/{name}")
    pd.testing.assert_frame_equal(loaded.data.table[CANONICAL], fit.data.table[CANONICAL])
    assert loaded.data.to_frame().columns.tolist() == ["Subject ID", "Dose (MSC)", "Month",
                                                       "Scale", "Score"]
    assert loaded.settings == fit.settings and loaded.settings["random_seed"] == 3
    pd.testing.assert_frame_equal(loaded.contrast(dose=50, reference=1, time=12),
                                  fit.contrast(dose=50, reference=1, time=12))
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert set(contrasts["dose_unit"]) == {"million cells"}
    assert set(contrasts["time_unit"]) == {"months"}
    assert set(pd.read_csv(out / "effect.csv")["dose_unit"]) == {"million cells"}
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    for text in ("'Subject ID'", "'Dose (MSC)'", "'Month'", "'Scale'", "'Score'",
                 "million cells", "months"):
        assert text in summary
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "million cells" in page and "months" in page
