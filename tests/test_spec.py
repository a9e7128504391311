"""ModelSpec: model files are parsed field by field, never executed (no MCMC here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

import bayesdose as bd
from bayesdose.components.priors import model_parameters, prior_from_mapping, prior_to_mapping
from bayesdose.components.shapes import DoseScale, get_dose_shape
from bayesdose.components.timecourses import TimeScale, get_time_shape
from bayesdose.errors import DataError, SpecError
from bayesdose.model.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
MODEL_FILES = sorted(p for p in (ROOT / "models").glob("*.toml") if "design" not in p.name)

# [data] section mapping the column names of conftest.long_frame()
LONG_DATA = """
[data]
source = "trial.csv"
patient = "subject"
dose = "dose_mg"
time = "week"
outcome = "endpoint"
value = "score"
dose_unit = "mg"
time_unit = "weeks"
"""


def write_model(folder: Path, text: str, name: str = "model.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def spec_error(tmp_path: Path, text: str) -> str:
    """Parse ``text`` as a model file and return the SpecError message it must raise."""
    with pytest.raises(SpecError) as info:
        ModelSpec.from_toml(write_model(tmp_path, text))
    return str(info.value)


# ---------------------------------------------------------------- shipped model files
def test_the_repository_ships_model_files():
    assert MODEL_FILES, f"no model files found in {ROOT / 'models'}"


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_shipped_model_file_parses_builds_and_loads(path):
    spec = ModelSpec.from_toml(path)
    assert spec.base_dir == path.parent
    if spec.has_arm_data and not spec.data:  # arm-level summaries only
        arm_model = spec.build_arm_model()
        table = arm_model.prior_table(spec.arm.load_data())
        assert set(spec.priors) <= set(table["parameter"])
        again = ModelSpec.from_dict(spec.to_dict(), base_dir=spec.base_dir)
        assert again.to_dict() == spec.to_dict()
        return
    model = spec.build_model()
    assert model.dose_shape.name == spec.model.get("dose_shape", "emax")
    assert model.time_shape.name == spec.model.get("time_shape", "exponential")
    assert model.likelihood == spec.model.get("likelihood")  # None: from outcome metadata
    data = spec.load_data()
    wanted = spec.model.get("outcomes") or data.outcomes
    assert set(wanted) <= set(data.outcomes)
    # every prior the file sets names a parameter of the model on its own data
    table = model.prior_table(data)
    assert set(spec.priors) <= set(table["parameter"])
    # the file's own outcome metadata wins over the data's
    for name, meta in spec.outcome_info.items():
        for key, value in meta.items():
            assert getattr(data.info(name), key) == value
    # the spec survives its plain-data form (as stored in fit.nc)
    again = ModelSpec.from_dict(spec.to_dict(), base_dir=spec.base_dir)
    assert again.to_dict() == spec.to_dict()


# ---------------------------------------------------------------- unknown fields
@pytest.mark.parametrize(
    ("text", "field", "suggestion"),
    [
        ('[model]\ndose_shap = "emax"\n', "model.dose_shap", "dose_shape"),
        ('[modle]\ndose_shape = "emax"\n', "modle", "model"),
        ('nme = "x"\n', "nme", "name"),
        ("[sampler]\ndraw = 100\n", "sampler.draw", "draws"),
        ("[estimands]\ntime = [12]\n", "estimands.time", "times"),
        ('[data]\nsorce = "trial.csv"\n', "data.sorce", "source"),
        ("[outcomes.pain]\nmcdi = 10\n", "outcomes.pain.mcdi", "mcid"),
    ],
    ids=["model-field", "section", "top-level", "sampler", "estimands", "data", "outcome-meta"],
)
def test_unknown_field_is_named_with_the_close_match(tmp_path, text, field, suggestion):
    message = spec_error(tmp_path, text)
    assert message.startswith(f"{field}: unknown field")
    assert f"Did you mean {suggestion!r}?" in message


def test_unknown_field_without_a_close_match_lists_the_known_ones(tmp_path):
    message = spec_error(tmp_path, "[model]\nzzzz = 1\n")
    assert "model.zzzz: unknown field" in message and "Did you mean" not in message
    assert "dose_shape" in message and "time_shape" in message


def test_outcome_metadata_must_be_a_table(tmp_path):
    message = spec_error(tmp_path, '[outcomes]\npain = "higher_is_better"\n')
    assert "outcomes.pain" in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[model]\ndose_shape = "emx"\n', "'emx'"),
        ('[model]\ntime_shape = "sigmoid"\n', "'sigmoid'"),
        ('[model]\nlikelihood = "cauchy"\n', "'cauchy'"),
    ],
)
def test_unknown_model_choice_is_named(tmp_path, text, needle):
    assert needle in spec_error(tmp_path, text)


def test_missing_and_malformed_model_files(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        ModelSpec.from_toml(tmp_path / "nope.toml")
    assert "not valid TOML" in spec_error(tmp_path, "[model\ndose_shape = 'emax'\n")


def test_a_section_that_is_not_a_table(tmp_path):
    assert "[sampler] must be a table" in spec_error(tmp_path, 'sampler = "fast"\n')


# ---------------------------------------------------------------- priors
@pytest.mark.parametrize(
    ("prior", "needles"),
    [
        ("mu = 0\nsigma = 1", ["priors.delta", "missing 'distribution'"]),
        ('distribution = "Nrmal"\nmu = 0\nsigma = 1', ["priors.delta", "'Nrmal'"]),
        ('distribution = "Normal"\nmu = 0\nsigmaa = 1', ["priors.delta", "sigmaa"]),
        ('distribution = "Normal"\nmu = "0"\nsigma = 1', ["priors.delta.mu", "expected a number"]),
        ('distribution = "Normal"\nmu = true\nsigma = 1', ["priors.delta.mu", "expected a number"]),
        ('distribution = "Normal"\nmu = 0\ncentered = "no"', ["priors.delta.centered"]),
        ("distribution = 3\nmu = 0", ["priors.delta", "missing 'distribution'"]),
    ],
    ids=["no-distribution", "unknown-distribution", "unknown-parameter", "string-number",
         "bool-number", "bad-centered", "distribution-not-a-string"],
)
def test_bad_prior_names_the_field(tmp_path, prior, needles):
    message = spec_error(tmp_path, f"[priors.delta]\n{prior}\n")
    for needle in needles:
        assert needle in message


def test_prior_that_is_not_a_table(tmp_path):
    message = spec_error(tmp_path, "[priors]\ndelta = 1.0\n")
    assert "priors.delta" in message and "distribution" in message


def test_bad_value_inside_a_hyperprior_names_the_nested_field(tmp_path):
    message = spec_error(tmp_path, """
        [priors.patient_effect]
        distribution = "Normal"
        mu = 0
        [priors.patient_effect.sigma]
        distribution = "HalfNormal"
        sigma = "wide"
        """)
    assert "priors.patient_effect.sigma.sigma" in message


def test_non_centred_form_of_a_distribution_without_one(tmp_path):
    message = spec_error(tmp_path, """
        [priors.sigma]
        distribution = "HalfNormal"
        sigma = 1
        centered = false
        """)
    assert message.startswith("priors.sigma:")


def test_prior_for_a_parameter_the_model_lacks_is_refused_at_parse_time(tmp_path):
    message = spec_error(tmp_path, """
        [model]
        dose_shape = "linear"
        [priors.log_ed50]
        distribution = "Normal"
        mu = 0
        sigma = 1
        """)
    assert "log_ed50" in message


def test_prior_for_a_parameter_the_model_lacks_is_refused_by_the_time_data_are_known(
        tmp_path, frame):
    path = write_model(tmp_path, """
        [model]
        dose_shape = "linear"
        [priors.log_ed50]
        distribution = "Normal"
        mu = 0
        sigma = 1
        """)
    data = bd.TrialData.from_frame(frame, patient="subject", dose="dose_mg", time="week",
                                   outcome="endpoint", value="score")
    with pytest.raises(SpecError, match=r"no parameter named 'log_ed50'.*delta"):
        ModelSpec.from_toml(path).build_model().prior_table(data)


def test_nested_hyperprior_and_non_centred_form(tmp_path, frame):
    spec = ModelSpec.from_toml(write_model(tmp_path, """
        [priors.patient_effect]
        distribution = "Normal"
        mu = 0
        centered = false
        [priors.patient_effect.sigma]
        distribution = "HalfNormal"
        sigma = 0.25
        [priors.delta]
        distribution = "StudentT"
        nu = 4
        mu = 0.5
        sigma = 2
        """))
    expected = Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=0.25), centered=False)
    assert spec.priors["patient_effect"].to_dict() == expected.to_dict()
    assert spec.priors["patient_effect"].centered is False
    assert spec.priors["delta"].to_dict() == Prior("StudentT", nu=4, mu=0.5, sigma=2).to_dict()
    assert spec.priors["delta"].centered is True
    # the model uses them, and says they are the user's
    data = bd.TrialData.from_frame(frame, patient="subject", dose="dose_mg", time="week",
                                   outcome="endpoint", value="score")
    table = spec.build_model().prior_table(data).set_index("parameter")
    assert not table.loc["patient_effect", "default"]
    assert table.loc["patient_effect", "reason"] == "set by the user"
    assert "sigma=0.25" in table.loc["patient_effect", "prior"]
    assert table.loc["sigma", "default"]


# ---------------------------------------------------------------- prior round trips
def _default_priors() -> list[Prior]:
    dose, time = DoseScale((1.0, 10.0, 50.0)), TimeScale((1.0, 3.0, 12.0))
    priors = []
    for dose_shape in ("linear", "log_linear", "emax", "free"):
        for time_shape in ("exponential", "free"):
            params = model_parameters(get_dose_shape(dose_shape), get_time_shape(time_shape),
                                      dose, time, "student_t")
            priors += [p.prior for p in params]
    return priors


ROUND_TRIP = [
    Prior("Normal", mu=0, sigma=1),
    Prior("HalfNormal", sigma=2.5),
    Prior("StudentT", nu=5, mu=0, sigma=1.73),
    Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=0.5), centered=False),
    Prior("Normal", mu=Prior("Normal", mu=1, sigma=2), sigma=Prior("Exponential", lam=3)),
    *_default_priors(),
]


@pytest.mark.parametrize("prior", ROUND_TRIP, ids=str)
def test_prior_mapping_round_trip(prior):
    mapping = prior_to_mapping(prior)
    assert "distribution" in mapping
    back = prior_from_mapping(mapping, "priors.x")
    assert back.to_dict() == prior.to_dict()
    assert prior_to_mapping(back) == mapping


def test_mapping_round_trip_from_the_model_file_form():
    table = {"distribution": "Normal", "mu": 0,
             "sigma": {"distribution": "HalfNormal", "sigma": 0.5}, "centered": False}
    prior = prior_from_mapping(table, "priors.patient_effect")
    assert prior_to_mapping(prior) == table
    assert prior_from_mapping(prior, "priors.x") is prior  # a Prior passes through


def test_array_valued_prior_round_trips():
    prior = Prior("Normal", mu=np.array([0.0, 1.0]), sigma=1)
    back = prior_from_mapping(prior_to_mapping(prior), "priors.delta")
    np.testing.assert_array_equal(back.parameters["mu"], [0.0, 1.0])


# ---------------------------------------------------------------- estimands
@pytest.mark.parametrize(
    ("estimands", "field"),
    [
        ("contrasts = [[50, 1, 10]]", "estimands.contrasts"),
        ("contrasts = [50, 1]", "estimands.contrasts"),
        ('contrasts = [["50", 1]]', "estimands.contrasts"),
        ('contrasts = "50 vs 1"', "estimands.contrasts"),
        ("ci_prob = 1.5", "estimands.ci_prob"),
        ("ci_prob = 0", "estimands.ci_prob"),
        ("ci_prob = true", "estimands.ci_prob"),
        ('ci_kind = "quantile"', "estimands.ci_kind"),
        ("ci_kind = 1", "estimands.ci_kind"),
        ('times = ["12"]', "estimands.times"),
        ("times = 12", "estimands.times"),
        ("doses = [[1, 10]]", "estimands.doses"),
    ],
)
def test_bad_estimands(tmp_path, estimands, field):
    message = spec_error(tmp_path, f"[estimands]\n{estimands}\n")
    assert message.startswith(field)


def test_ci_prob_message_shows_the_value(tmp_path):
    assert "1.5" in spec_error(tmp_path, "[estimands]\nci_prob = 1.5\n")


def test_good_estimands_are_kept(tmp_path):
    spec = ModelSpec.from_toml(write_model(tmp_path, """
        [estimands]
        times = [3, 12]
        contrasts = [[50, 1], [10, 1.5]]
        doses = [0, 25]
        ci_prob = 0.8
        ci_kind = "hdi"
        """))
    assert spec.estimands == {"times": [3, 12], "contrasts": [[50, 1], [10, 1.5]],
                              "doses": [0, 25], "ci_prob": 0.8, "ci_kind": "hdi"}


def test_old_hdi_prob_is_read_as_an_hdi_with_a_deprecation_warning(tmp_path):
    path = write_model(tmp_path, """
        [estimands]
        times = [12]
        hdi_prob = 0.8
        """)
    with pytest.warns(DeprecationWarning, match="estimands.hdi_prob"):
        spec = ModelSpec.from_toml(path)
    assert spec.estimands == {"times": [12], "ci_prob": 0.8, "ci_kind": "hdi"}
    assert "hdi_prob" not in spec.to_dict()["estimands"]
    with pytest.warns(DeprecationWarning):
        assert "1.5" in spec_error(tmp_path, "[estimands]\nhdi_prob = 1.5\n")
    both = "[estimands]\nhdi_prob = 0.9\nci_prob = 0.9\n"
    assert "both given" in spec_error(tmp_path, both)


def test_reference_must_be_a_number(tmp_path):
    assert "estimands.reference" in spec_error(tmp_path, '[estimands]\nreference = "low"\n')


# ---------------------------------------------------------------- data sources
def _expect_long(data: bd.TrialData) -> None:
    assert data.patients == [f"p{i}" for i in range(6)]
    assert data.doses == [1.0, 10.0, 50.0]
    assert data.visits == [3.0, 12.0]
    assert data.baseline_time == 0.0


def test_csv_beside_the_model_file_long(tmp_path, frame):
    frame.to_csv(tmp_path / "trial.csv", index=False)
    path = write_model(tmp_path, LONG_DATA + """
        [outcomes.pain]
        direction = "lower_is_better"
        mcid = 2
        """)
    data = ModelSpec.from_toml(path).load_data()
    _expect_long(data)
    assert data.outcomes == ["pain"]
    assert data.dose_unit == "mg" and data.time_unit == "weeks"
    assert data.info("pain").direction == "lower_is_better"
    assert data.info("pain").mcid == 2
    expected = bd.TrialData.from_frame(frame, patient="subject", dose="dose_mg", time="week",
                                       outcome="endpoint", value="score")
    pd.testing.assert_frame_equal(data.changes, expected.changes)


def test_csv_beside_the_model_file_wide(tmp_path, frame):
    wide = frame.pivot_table(index=["subject", "dose_mg", "week"], columns="endpoint",
                             values="score").reset_index()
    wide["function"] = 100 - wide["pain"]
    wide.to_csv(tmp_path / "wide.csv", index=False)
    path = write_model(tmp_path, """
        [data]
        source = "wide.csv"
        patient = "subject"
        dose = "dose_mg"
        time = "week"
        outcomes = ["pain", "function"]
        [outcomes.function]
        direction = "lower_is_better"
        """)
    data = ModelSpec.from_toml(path).load_data()
    _expect_long(data)
    assert sorted(data.outcomes) == ["function", "pain"]
    assert data.info("function").direction == "lower_is_better"
    changes = data.changes.set_index(["outcome", "patient", "time"])["change"]
    # p2: pain 46 -> 53 at week 3, so function 54 -> 47
    assert changes[("pain", "p2", 3.0)] == pytest.approx(7.0)
    assert changes[("function", "p2", 3.0)] == pytest.approx(-7.0)


def test_csv_in_a_subfolder_of_the_model_file(tmp_path, frame):
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "trial.csv", index=False)
    path = write_model(tmp_path, LONG_DATA.replace('"trial.csv"', '"data/trial.csv"'))
    _expect_long(ModelSpec.from_toml(path).load_data())


@pytest.mark.parametrize("source", ["../x.csv", "sub/../../x.csv", "ABSOLUTE"])
def test_data_source_outside_the_model_folder_is_refused(tmp_path, frame, source):
    frame.to_csv(tmp_path / "x.csv", index=False)  # exists, so only the location is at fault
    folder = tmp_path / "models"
    folder.mkdir()
    if source == "ABSOLUTE":
        source = str(tmp_path / "x.csv")
    spec = ModelSpec.from_toml(write_model(folder, LONG_DATA.replace("trial.csv", source)))
    with pytest.raises(SpecError) as info:
        spec.load_data()
    assert "outside the model file's folder" in str(info.value)
    assert "--data" in str(info.value)


def test_symlink_out_of_the_model_folder_is_refused(tmp_path, frame):
    frame.to_csv(tmp_path / "secret.csv", index=False)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "trial.csv").symlink_to(tmp_path / "secret.csv")
    spec = ModelSpec.from_toml(write_model(folder, LONG_DATA))
    with pytest.raises(SpecError, match="--data"):
        spec.load_data()


def test_explicit_path_overrides_the_source_and_may_be_anywhere(tmp_path, frame):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    frame.to_csv(elsewhere / "other.csv", index=False)
    folder = tmp_path / "models"
    folder.mkdir()
    # the file's own source is outside its folder and missing: the override is used instead
    spec = ModelSpec.from_toml(write_model(folder, LONG_DATA.replace("trial.csv", "../no.csv")))
    _expect_long(spec.load_data(path=elsewhere / "other.csv"))


def test_missing_csv_inside_the_folder_is_a_data_error(tmp_path):
    spec = ModelSpec.from_toml(write_model(tmp_path, LONG_DATA))
    with pytest.raises(DataError, match="does not exist"):
        spec.load_data()


def test_no_data_source_and_no_path(tmp_path, frame):
    spec = ModelSpec.from_toml(write_model(tmp_path, '[model]\ndose_shape = "linear"\n'))
    with pytest.raises(SpecError, match=r"no source.*--data"):
        spec.load_data()
    # default column names (patient, dose, time, outcome, value) apply to --data files
    frame.columns = ["patient", "dose", "time", "outcome", "value"]
    frame.to_csv(tmp_path / "given.csv", index=False)
    _expect_long(spec.load_data(path=tmp_path / "given.csv"))


def test_embedded_source_with_unknown_outcome_metadata(tmp_path):
    spec = ModelSpec.from_toml(write_model(tmp_path, """
        [data]
        source = "embedded:msc_trial"
        [outcomes.not_an_outcome]
        mcid = 3
        """))
    with pytest.raises(SpecError, match="not_an_outcome"):
        spec.load_data()


# ---------------------------------------------------------------- nothing is executed
def test_parsing_never_executes_code(tmp_path, frame, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "X"
    payload = f"__import__('os').system('touch {marker}')"
    frame.to_csv(tmp_path / "trial.csv", index=False)
    head = LONG_DATA + "\n[model]\ndose_shape = \"linear\"\n"

    # inert strings: kept verbatim, never evaluated
    spec = ModelSpec.from_toml(write_model(tmp_path, f"""
        name = "{payload}"
        description = "{payload}"
        {head}
        [outcomes.pain]
        label = "{payload}"
        unit = "{payload}"
        """))
    assert spec.name == payload and spec.description == payload
    data = spec.load_data()
    assert data.info("pain").label == payload
    assert spec.to_dict()["name"] == payload

    # code where a name is looked up: refused
    attempts = {
        "prior distribution": f'[priors.delta]\ndistribution = "{payload}"\nsigma = 1\n',
        "prior parameter": f'[priors.delta]\ndistribution = "Normal"\nsigma = "{payload}"\n',
        "dose shape": f'[model]\ndose_shape = "{payload}"\n',
        "time shape": f'[model]\ntime_shape = "{payload}"\n',
        "likelihood": f'[model]\nlikelihood = "{payload}"\n',
        "ci_prob": f'[estimands]\nci_prob = "{payload}"\n',
        "ci_kind": f'[estimands]\nci_kind = "{payload}"\n',
        "field name": f'[model]\n"{payload}" = 1\n',
    }
    for what, text in attempts.items():
        with pytest.raises(SpecError):
            ModelSpec.from_toml(write_model(tmp_path, text, name=f"{what}.toml"))

    # code as a column name: looked up in the CSV header, not run
    spec = ModelSpec.from_toml(write_model(
        tmp_path, LONG_DATA.replace('"subject"', f'"{payload}"'), name="column.toml"))
    with pytest.raises(DataError, match="not found"):
        spec.load_data()

    assert not marker.exists()


def test_outcome_in_the_model_file_missing_from_the_data():
    spec = bd.ModelSpec.from_dict({"data": {"source": "embedded:msc_trial"},
                                   "model": {"outcomes": ["koos_pian"]}})
    with pytest.raises(bd.DataError, match=r"unknown outcome\(s\) 'koos_pian'"):
        bd.fit(spec, draws=10)
