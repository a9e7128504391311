"""Sphinx configuration of the bayesdose documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The tutorials are executable MyST notebooks, run during every build. With
``BAYESDOSE_DOCS_FAST=1`` in the environment they sample few draws, which checks that every
page runs in a fraction of the time (the numbers then are not meant to be read).
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util.matching import patfilter

import bayesdose

# -- Project -------------------------------------------------------------------------------

project = "bayesdose"
author = "bayesdose developers"
copyright = "bayesdose developers"
version = release = bayesdose.__version__

# -- General -------------------------------------------------------------------------------

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
# Result folders hold generated tables (Markdown among them) that pages read or link to,
# not pages of their own.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute", ".jupyter_cache",
                    "Thumbs.db", ".DS_Store", "**/coverage_results", "**/calibration_results"]
templates_path = ["_templates"]

# A glob toctree that matches nothing (a section whose pages are still to come) is left
# out by ``_drop_empty_glob_toctrees`` below rather than warned about.

# No intersphinx: the build works offline. Links to other projects are written out in full.

# -- MyST and notebooks ----------------------------------------------------------------------

myst_enable_extensions = ["amsmath", "colon_fence", "deflist", "dollarmath", "substitution"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# Every build runs every notebook, so the pages show what the current code does. For quick
# local rebuilds pass ``-D nb_execution_mode=cache``.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 3600  # seconds per notebook: full draws on a small machine
nb_execution_in_temp = False  # each notebook runs in its folder, inside the repository
nb_execution_show_tb = True
nb_merge_streams = True

# -- API reference ---------------------------------------------------------------------------

autosummary_generate = True
# Stub pages are written afresh by every build, so none is left over from an object that
# is no longer listed (an orphan page would be a warning).
shutil.rmtree(Path(__file__).resolve().parent / "generated", ignore_errors=True)
autosummary_imported_members = False


def _bayesdose_methods(cls: type) -> list[str]:
    """Public methods of ``cls`` defined in bayesdose, inherited ones included."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("bayesdose"):
            names.update(name for name, member in vars(klass).items()
                         if not name.startswith("_")
                         and (callable(member)
                              or isinstance(member, (classmethod, staticmethod))))
    return sorted(names)


# A class page lists the methods a user calls on it, including those it inherits from a
# bayesdose base class, and leaves out what Python's own bases bring.
autosummary_context = {
    "bayesdose_methods": {
        name: _bayesdose_methods(obj)
        for name in bayesdose.__all__
        if isinstance(obj := getattr(bayesdose, name), type)
    },
}
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "bysource"}

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_use_plots = False

# -- HTML ------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"bayesdose {release}"
html_static_path = ["_static"]
html_css_files = ["bayesdose.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}

# Notebook kernels inherit this environment: without MPLBACKEND (which a headless test run
# often sets to Agg) they use IPython's inline backend, so figures appear on the pages.
os.environ.pop("MPLBACKEND", None)


# -- Sections whose pages are still to come ---------------------------------------------------

_GLOB_TOCTREE = re.compile(r"^```\{toctree\}\n(?P<body>(?:(?!```).*\n)*?)```[ \t]*$", re.M)


def _drop_empty_glob_toctrees(app: Sphinx, docname: str, source: list[str]) -> None:
    """Leave out a glob toctree that matches no page, instead of warning about it.

    ``suppress_warnings = ["toc.empty_glob"]`` does not silence that warning in every Sphinx
    version, and a section index whose pages are yet to be written is not an error.
    """

    def keep(match: re.Match[str]) -> str:
        lines = match["body"].splitlines()
        if ":glob:" not in (line.strip() for line in lines):
            return match[0]
        patterns = [line.strip() for line in lines if line.strip() and ":" != line.strip()[0]]
        others = app.env.found_docs - {docname}
        for pattern in patterns:
            if patfilter(others, posixpath.normpath(posixpath.join(posixpath.dirname(docname),
                                                                pattern))):
                return match[0]
        return "```{note}\nNo pages here yet.\n```"

    source[0] = _GLOB_TOCTREE.sub(keep, source[0])


# -- The command-line reference, from the command's own parser -------------------------------

CLI_MARKER = "```{bayesdose-cli-reference}\n```"
_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~$&])")


def _text(value: str) -> str:
    """Plain text as MyST Markdown: options as code, every other markup character escaped."""
    parts = _OPTION.split(" ".join(value.split()))
    return "".join(f"`{part}`" if i % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part)
                   for i, part in enumerate(parts))


def _signature(action: argparse.Action) -> str:
    """How an argument is written, for example ``--sampler {pymc,nutpie}``."""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        metavar = action.metavar or (action.dest if not action.option_strings
                                     else action.dest.upper())
    if not action.option_strings:
        return metavar + (" ..." if action.nargs in ("+", "*") else "")
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class(prog=parser.prog, width=88)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups,
                        prefix="")
    return formatter.format_help().strip()


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser.formatter_class(prog=parser.prog)
    lines = ["```{program} " + parser.prog, "```", ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help != argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        lines += [f"**{_text(group.title[:1].upper() + group.title[1:])}**", ""]
        for action in actions:
            text = _text(formatter._expand_help(action)) if action.help else ""
            if action.required and action.option_strings:
                text += " (required)"
            if (action.option_strings and action.nargs != 0
                    and action.default not in (None, argparse.SUPPRESS)):
                text += f" (default: `{action.default}`)"
            lines += ["```{option} " + _signature(action), text.strip(), "```", ""]
    return lines


def cli_reference() -> str:
    """The reference of every subcommand and option of ``bayesdose``, as MyST Markdown."""
    from bayesdose.cli.commands import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    lines = ["```text", _usage(parser), "```", "", _text(parser.description or ""), "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`bayesdose {name}`](#bayesdose-{name}) | {_text(helps.get(name, ''))} |"
              for name in sub.choices]
    lines += ["", *_arguments(parser)]
    for name, command in sub.choices.items():
        lines += [f"## `bayesdose {name}`", "", "```text", _usage(command), "```", "",
                  _text(command.description or helps.get(name, "")), ""]
        lines += _arguments(command)
        if command.epilog:
            lines += [_text(command.epilog), ""]
    return "\n".join(lines)


def _insert_cli_reference(app: Sphinx, docname: str, source: list[str]) -> None:
    if CLI_MARKER in source[0]:
        source[0] = source[0].replace(CLI_MARKER, cli_reference())


def setup(app: Sphinx) -> None:
    """Hooks of this documentation build."""
    app.connect("source-read", _drop_empty_glob_toctrees)
    app.connect("source-read", _insert_cli_reference)
