"""docs/guides/bad_input.md shows the messages this version gives for each bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bad_input_cases import CASES, markdown_table, run_case

PAGE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "bad_input.md"
START, END = "% bad_input_cases.py:start", "% bad_input_cases.py:end"


def stable(table: str) -> list[str]:
    """Table rows with the wording of third-party readers (the netCDF library) left out."""
    return [re.sub(r"(not a readable netCDF fit:)[^`]*", r"\1 ...", row)
            for row in table.strip().splitlines()]


def test_the_page_has_a_top_level_heading_and_the_table():
    text = PAGE.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert text.count(START) == 1 and text.count(END) == 1


def test_the_pages_messages_are_the_ones_the_code_gives():
    text = PAGE.read_text(encoding="utf-8")
    shown = text.split(START, 1)[1].split(END, 1)[0]
    assert stable(shown) == stable(markdown_table()), (
        "docs/guides/bad_input.md is out of date: replace its table with the output of "
        "python tests/bad_input_cases.py")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.where}: {c.what}")
def test_every_message_names_what_is_wrong(case):
    shown = run_case(case)
    assert "Traceback" not in shown
    assert len(shown) > 40  # a sentence, not a bare exception name
