"""Licences: the package is MIT (LICENSE, named in pyproject.toml and shipped in the
wheel), and every data file in models/data is listed, with its licence, in
models/data/LICENSE, beside the full GPL-3 text (COPYING)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "models" / "data"


def test_the_package_licence_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c)" in text and "bayesdose developers" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


def test_every_data_file_is_listed_in_the_data_licence_note():
    note = (DATA / "LICENSE").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+(\S+\.csv)\s", note, flags=re.MULTILINE))
    files = {p.name for p in DATA.glob("*.csv")}
    assert files, "no data files found"
    assert files <= listed, f"not in models/data/LICENSE: {sorted(files - listed)}"
    assert listed <= files, f"listed but missing: {sorted(listed - files)}"
    assert "GPL-3" in note and "COPYING" in note


def test_the_gpl_text_is_beside_the_data():
    text = (DATA / "COPYING").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text
