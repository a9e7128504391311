"""Model files written and read back: ``ModelSpec.to_toml`` and the TOML writer of
:mod:`bayesdose.files.toml`, the one home of model and design files."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from bayesdose.errors import SpecError
from bayesdose.files.toml import read_toml, toml_text, write_toml
from bayesdose.model.spec import ModelSpec

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS.glob("*.toml")
                                        if "design" not in p.name))
def test_every_shipped_model_file_round_trips(name, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    spec = ModelSpec.from_toml(folder / name)
    written = spec.to_toml(folder / f"copy_{name}")
    again = ModelSpec.from_toml(written)
    assert again.to_dict() == spec.to_dict()
    assert again.build_model().config() == spec.build_model().config()


def test_a_relative_data_source_is_not_written_into_another_folder(tmp_path):
    spec = ModelSpec.from_dict({"data": {"source": "trial.csv"}}, base_dir=tmp_path / "a")
    with pytest.raises(SpecError, match=r"data\.source 'trial\.csv' is relative"):
        spec.to_toml(tmp_path / "b" / "model.toml")
    assert not (tmp_path / "b" / "model.toml").exists()


def test_toml_text_keeps_every_value_kind(tmp_path):
    content = {"name": "a \"quoted\" name\twith a tab", "count": 3, "flag": False,
               "model": {"ratio": 0.1, "big": 1e300, "low": -math.inf, "list": [1, 2.5, "x"],
                         "nested": {"deep": {"deeper": [True]}}, "skipped": None}}
    path = write_toml(content, tmp_path / "all.toml")
    back = read_toml(path, "model file")
    expected = {**content, "model": {k: v for k, v in content["model"].items() if v is not None}}
    assert back == expected


def test_toml_text_refuses_a_value_with_no_toml_form():
    with pytest.raises(TypeError, match="no TOML form for object"):
        toml_text({"model": {"shape": object()}})
