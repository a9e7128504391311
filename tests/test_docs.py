"""The documentation: docstrings of the public API, and the Sphinx site built with -W.

The site tests, marked ``docs`` (left out of the default suite), build ``docs/`` into a
temporary folder with warnings as errors (the API stub pages are generated into
``docs/generated``): without executing the tutorials, and with every tutorial executed
with few draws (``-m "docs and not slow"``) or with full draws (``-m "docs and slow"``, hours).
They are skipped when Sphinx and its extensions are not installed
(``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import argparse
import doctest
import inspect
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bayesdose as bd
from bayesdose.cli.commands import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# seconds; tutorials executed with few draws take 15-20 minutes on two CPU cores
BUILD_TIMEOUT = {"off": 900, "fast": 3600, "full": 6 * 3600}


# ---------------------------------------------------------------------- public objects
def _own_methods(cls: type) -> dict[str, Any]:
    """Public methods of ``cls`` defined in bayesdose (inherited ones included)."""
    methods: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("bayesdose"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member):
                methods[name] = member
    return methods


def public_objects() -> dict[str, Any]:
    """Every documented public object: the names in ``bayesdose.__all__``, the public
    methods of public classes, and the functions of public modules."""
    objects: dict[str, Any] = {}
    for name in bd.__all__:
        obj = getattr(bd, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)):
            continue  # __version__
        objects[name] = obj
        if inspect.isclass(obj):
            for method, function in _own_methods(obj).items():
                objects[f"{name}.{method}"] = function
        if inspect.ismodule(obj):
            for member in getattr(obj, "__all__", []):
                objects[f"{name}.{member}"] = getattr(obj, member)
    return objects


PUBLIC = public_objects()


def _module_of(obj: Any) -> ModuleType:
    module = obj if inspect.ismodule(obj) else inspect.getmodule(obj)
    assert module is not None, f"no module for {obj!r}"
    return module


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_docstring_has_examples(name: str) -> None:
    """Every public object has a numpydoc docstring with an Examples section."""
    docscrape = pytest.importorskip("numpydoc.docscrape")
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj)
    where = f"bd.{name} ({_module_of(obj).__name__})"
    assert doc, f"{where} has no docstring"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns about unknown or malformed sections
        parsed = docscrape.NumpyDocString(doc)
    examples = "\n".join(parsed["Examples"])
    assert ">>>" in examples, f"{where} has no Examples section with code (>>>)"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_examples_run(name: str) -> None:
    """The Examples of every public object run and print what they show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obj = PUBLIC[name]
    module = _module_of(obj)
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, f"bd.{name}", module=module, globs=vars(module).copy())
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    try:
        for test in tests:
            runner.run(test, out=output.append)
    finally:
        plt.close("all")
    assert runner.failures == 0, "".join(output)


# ---------------------------------------------------------------------- the site
def build_docs(out: Path, execute: str) -> subprocess.CompletedProcess[str]:
    """Build the site into ``out`` with warnings as errors (the documented command).

    ``execute`` is ``"fast"`` (tutorials run with ``BAYESDOSE_DOCS_FAST=1``: few draws),
    ``"full"`` (their own draws) or ``"off"`` (tutorials not run: every other page).
    """
    env = dict(os.environ)
    env.pop("BAYESDOSE_DOCS_FAST", None)
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-d", str(out / "doctrees")]
    if execute == "fast":
        env["BAYESDOSE_DOCS_FAST"] = "1"
    elif execute == "off":
        command += ["-D", "nb_execution_mode=off"]
    command += [str(DOCS), str(out / "html")]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT[execute], check=False)


def _pages(folder: str) -> list[str]:
    """Names of the pages of a docs folder (as their HTML files will be named)."""
    pattern = "[0-9]*" if folder == "tutorials" else "*"
    return sorted(p.stem for p in (DOCS / folder).glob(f"{pattern}.md") if p.stem != "index")


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def check_site(result: subprocess.CompletedProcess[str], html: Path, executed: bool) -> None:
    """What every build must show: no warning, every page, no error output."""
    problems = [line for line in result.stderr.splitlines()
                if "WARNING" in line or "ERROR" in line or "Error" in line]
    log = "\n".join(problems[:40]) + "\n...\n" + result.stderr[-3000:]
    assert result.returncode == 0, f"sphinx -W failed:\n{log}"
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'class="problematic"' not in text and "system-message" not in text, (
            f"{page.relative_to(html)} shows a reStructuredText error")

    for folder in ("tutorials", "guides"):
        for stem in _pages(folder):
            page = html / folder / f"{stem}.html"
            assert page.exists(), f"{folder}/{stem}.md was not built"
            text = page.read_text(encoding="utf-8")
            assert "Traceback" not in text, f"{folder}/{stem}: a cell shows a traceback"
            assert 'class="output traceback' not in text, f"{folder}/{stem}: error output"
            if executed and folder == "tutorials":
                assert "cell_output" in text, f"tutorials/{stem} was not executed"
                source = (DOCS / folder / f"{stem}.md").read_text(encoding="utf-8")
                if re.search(r"\bplot_|\bplt\.", source):
                    assert "<img" in text, f"tutorials/{stem} draws figures but shows none"

    for name, obj in PUBLIC.items():
        if not inspect.ismodule(obj):
            page = html / "generated" / f"bayesdose.{name}.html"
            assert page.exists(), f"the API reference has no page for bd.{name}"

    cli = (html / "cli.html").read_text(encoding="utf-8")
    for command, parser in _commands(build_parser()).items():
        assert f'id="bayesdose-{command}"' in cli, f"no section for bayesdose {command}"
        for action in parser._actions:
            names = action.option_strings or [f"arg-{action.dest}"]
            for option in names:
                anchor = f"cmdoption-bayesdose-{command}-{option.lstrip('-')}"
                assert re.search(f'id="{re.escape(anchor)}"', cli), (
                    f"the CLI page lacks {option} of bayesdose {command}")


def _require_sphinx() -> None:
    for module in ("sphinx", "myst_nb", "pydata_sphinx_theme", "numpydoc", "ipykernel"):
        pytest.importorskip(module)


@pytest.mark.docs
def test_docs_build(tmp_path: Path) -> None:
    """The site builds with -W (tutorials not executed): API reference, CLI, concepts (a
    quicker check of every page but the tutorials' outputs)."""
    _require_sphinx()
    check_site(build_docs(tmp_path, "off"), tmp_path / "html", executed=False)


@pytest.mark.docs
def test_docs_build_fast(tmp_path: Path) -> None:
    """The site builds with -W, every tutorial executed with few draws."""
    _require_sphinx()
    check_site(build_docs(tmp_path, "fast"), tmp_path / "html", executed=True)


@pytest.mark.docs
@pytest.mark.slow
def test_docs_build_full(tmp_path: Path) -> None:
    """The site builds with -W, every tutorial executed with its full draws."""
    _require_sphinx()
    check_site(build_docs(tmp_path, "full"), tmp_path / "html", executed=True)
