"""The report as a document: text, tables, figures and sections, rendered as one
self-contained HTML page (no script, no external resource, user strings escaped) or as
Markdown with the figures as PNG files.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayesdose.files.output import staged_folder, write_atomic, write_text

if TYPE_CHECKING:  # pragma: no cover

    pass


FIGURE_DIR = "figures"

#: What a report writes into its folder (and replaces there, with ``--force``).
REPORT_NAMES = ("report.html", "report.md", FIGURE_DIR)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
margin:0;background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.7rem;margin:.2rem 0 .6rem}h2{font-size:1.3rem;margin-top:2.2rem;
border-bottom:2px solid #d7dbe3;padding-bottom:.2rem}h3{font-size:1.05rem;margin-top:1.4rem}
nav ul{columns:2;padding-left:1.2rem;margin:.4rem 0}nav a{color:#2753a6}
.verdict{font-weight:600;padding:.6rem .9rem;border-radius:4px;border-left:6px solid}
.verdict.pass{background:#e9f6ec;border-color:#2e8b47}
.verdict.fail{background:#fdecec;border-color:#c0392b}
.note{color:#555;font-size:.92rem}
.table-wrap{overflow-x:auto;margin:.6rem 0 1rem}
table{border-collapse:collapse;font-size:.86rem}
caption{text-align:left;font-weight:600;padding:.3rem 0;caption-side:top}
th,td{border:1px solid #d7dbe3;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
tr.fail td{background:#fdecec}tr.fail td:first-child{border-left:4px solid #c0392b}
tr.warn td{background:#fff6e0}tr.warn td:first-child{border-left:4px solid #d68910}
figure{margin:1rem 0 1.6rem}figure img{max-width:100%;height:auto;border:1px solid #e3e6ec}
figcaption{font-size:.9rem;color:#444;margin-top:.3rem}
pre{background:#f3f4f7;padding:.6rem .8rem;overflow-x:auto;font-size:.85rem}
details summary{cursor:pointer;font-weight:600;margin:.4rem 0}
""".strip()


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# ---------------------------------------------------------------------- formatting
def format_value(value: Any) -> str:
    """One table cell as text: numbers to 3 significant digits, missing as a dash.

    Parameters
    ----------
    value : Any
        A cell.

    Returns
    -------
    str

    Examples
    --------
    >>> [format_value(v) for v in (0.98765, 12.345, 0.3, 50.0, 1234.5, 3, True, None, 1e-5)]
    ['0.988', '12.3', '0.3', '50', '1230', '3', 'yes', '–', '1e-05']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "–"
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        rounded = float(f"{number:.3g}")
        if rounded == 0:
            return "0"
        if not 1e-3 <= abs(rounded) < 1e6:
            return f"{number:.3g}"
        if rounded.is_integer():
            return str(int(rounded))
        decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
        return f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def format_number(value: float) -> str:
    return format_value(float(value))


def _md(text: Any) -> str:
    """Markdown-safe text: HTML characters as entities, Markdown syntax escaped.

    An underscore between two letters or digits (``koos_pain``) cannot start or end
    emphasis, so it is left as it is; every other one is escaped.
    """
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"([\\`*\[\]|])", r"\\\1", escaped)
    escaped = re.sub(r"(?<![^\W_])_|_(?![^\W_])", r"\\_", escaped)
    return " ".join(escaped.splitlines())


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------- content
@dataclass
class Text:
    """A paragraph, a sub-heading, a note, a verdict or a preformatted block.

    ``style`` is ``"p"``, ``"h3"``, ``"note"``, ``"pass"``, ``"fail"`` or ``"pre"``.
    """

    text: str
    style: str = "p"


@dataclass
class Table:
    """A table with its caption; ``row_classes`` (``"fail"``, ``"warn"`` or ``""`` per
    row) highlights rows; ``collapsed`` folds a long table in the HTML page."""

    frame: pd.DataFrame
    caption: str = ""
    row_classes: list[str] | None = None
    collapsed: bool = False


@dataclass
class Figure:
    """A figure as PNG bytes, its file name (without folder), alt text and caption."""

    name: str
    png: bytes
    alt: str
    caption: str


Block = Text | Table | Figure


@dataclass
class Section:
    """A titled part of a report: text, tables and figures in order."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """A report of a fit, rendered by :meth:`to_html` and :meth:`to_markdown`.

    Attributes
    ----------
    title : str
        The analysis' name.
    intro : list of Text
        What the analysis is, shown under the title.
    sections : list of Section
        Diagnostics, data, effects, estimands, predictive check, model, sampler,
        software.
    diagnostics_ok : bool
        The diagnostics verdict.

    Examples
    --------
    >>> report = build_report(fit)                  # doctest: +SKIP
    >>> page = report.to_html()                     # doctest: +SKIP
    >>> [f.name for f in report.figures]            # doctest: +SKIP
    ['trace.png', 'dose_response.png', ...]
    """

    title: str
    intro: list[Text]
    sections: list[Section]
    diagnostics_ok: bool

    @property
    def verdict(self) -> str:
        """``"PASSED"`` or ``"FAILED"``."""
        return "PASSED" if self.diagnostics_ok else "FAILED"

    @property
    def figures(self) -> list[Figure]:
        """Every figure of the report, in order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    # ------------------------------------------------------------------ HTML
    def to_html(self) -> str:
        """The report as one self-contained HTML page.

        Figures are embedded as base64 PNG, the style sheet is inline, and the page has
        no script and loads nothing (a content security policy says so to the browser).
        Every string from the data, the model file or the fit is escaped.

        Returns
        -------
        str

        Examples
        --------
        >>> page = build_report(fit).to_html()          # doctest: +SKIP
        >>> page.startswith("<!DOCTYPE html>")          # doctest: +SKIP
        True
        """
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{_esc(self.title)}</title>", f"<style>\n{CSS}\n</style>", "</head>",
               "<body>", "<main>", f"<h1>{_esc(self.title)}</h1>"]
        out += [_html_block(block) for block in self.intro]
        out.append('<nav aria-label="Contents"><ul>')
        out += [f'<li><a href="#{s.key}">{_esc(s.title)}</a></li>' for s in self.sections]
        out.append("</ul></nav>")
        for section in self.sections:
            out.append(f'<section id="{section.key}">')
            out.append(f"<h2>{_esc(section.title)}</h2>")
            out += [_html_block(block) for block in section.blocks]
            out.append("</section>")
        out += ["</main>", "</body>", "</html>"]
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ Markdown
    def to_markdown(self, figure_dir: str = FIGURE_DIR) -> str:
        """The report in Markdown; figures are linked as ``figure_dir/NAME.png``.

        Parameters
        ----------
        figure_dir : str
            Folder of the figure files, relative to the Markdown file
            (:func:`write_report` writes them there).

        Returns
        -------
        str

        Examples
        --------
        >>> text = build_report(fit).to_markdown()      # doctest: +SKIP
        >>> "](figures/dose_response.png)" in text      # doctest: +SKIP
        True
        """
        out = [f"# {_md(self.title)}", ""]
        for block in self.intro:
            out += [_md_block(block, figure_dir), ""]
        out += ["## Contents", ""]
        out += [f"- {_md(s.title)}" for s in self.sections]
        out.append("")
        for section in self.sections:
            out += [f"## {_md(section.title)}", ""]
            for block in section.blocks:
                out += [_md_block(block, figure_dir), ""]
        return "\n".join(out).rstrip() + "\n"


def _cell_class(value: Any) -> str:
    return ' class="num"' if is_number(value) else ""


def _html_table(table: Table) -> str:
    frame = table.frame
    rows = []
    classes = table.row_classes or [""] * len(frame)
    for values, css in zip(frame.itertuples(index=False, name=None), classes, strict=True):
        cells = "".join(f"<td{_cell_class(v)}>{_esc(format_value(v))}</td>" for v in values)
        attr = f' class="{css}"' if css else ""
        rows.append(f"<tr{attr}>{cells}</tr>")
    head = "".join(f'<th scope="col">{_esc(c)}</th>' for c in frame.columns)
    caption = f"<caption>{_esc(table.caption)}</caption>" if table.caption else ""
    body = "\n".join(rows)
    markup = (f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
              f"<tbody>\n{body}\n</tbody></table></div>")
    if table.collapsed:
        label = _esc(table.caption or "table")
        return f"<details><summary>{label} ({len(frame)} rows)</summary>{markup}</details>"
    return markup


def _html_block(block: Block) -> str:
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(block.alt)}">'
                f"<figcaption>{_esc(block.caption)}</figcaption></figure>")
    text = _esc(block.text)
    if block.style == "h3":
        return f"<h3>{text}</h3>"
    if block.style == "pre":
        return f"<pre>{text}</pre>"
    if block.style in ("pass", "fail"):
        return f'<p class="verdict {block.style}">{text}</p>'
    if block.style == "note":
        return f'<p class="note">{text}</p>'
    return f"<p>{text}</p>"


def _md_table(table: Table) -> str:
    frame = table.frame
    lines = [f"**{_md(table.caption)}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_md(c) for c in frame.columns) + " |")
    lines.append("|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c])
                                and not pd.api.types.is_bool_dtype(frame[c]) else "---"
                                for c in frame.columns) + "|")
    classes = table.row_classes or [""] * len(frame)
    for values, css in zip(frame.itertuples(index=False, name=None), classes, strict=True):
        cells = [_md(format_value(v)) for v in values]
        if css:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _md_block(block: Block, figure_dir: str) -> str:
    if isinstance(block, Table):
        return _md_table(block)
    if isinstance(block, Figure):
        alt = _md(block.alt)
        return f"![{alt}]({figure_dir}/{block.name})\n\n*{_md(block.caption)}*"
    if block.style == "h3":
        return f"### {_md(block.text)}"
    if block.style == "pre":
        return "\n".join("    " + line for line in block.text.splitlines())
    if block.style in ("pass", "fail"):
        return f"> **{_md(block.text)}**"
    if block.style == "note":
        return f"*{_md(block.text)}*"
    text = _md(block.text)
    # a paragraph must not start a heading, quote, list or rule
    text = re.sub(r"^(\s*)([#+=-])", r"\1\\\2", text)
    return re.sub(r"^(\s*\d+)([.)])", r"\1\\\2", text)


def write_report_files(report: Report, folder: Path) -> list[str]:
    """Write a built report's ``report.html``, ``report.md`` and ``figures/*.png`` into
    an existing folder, each file atomically.

    Parameters
    ----------
    report : Report
        From :func:`build_report`.
    folder : Path
        The folder (already prepared).

    Returns
    -------
    list of str
        The names written, relative to the folder.

    Examples
    --------
    >>> write_report_files(build_report(fit), Path("results"))[:2]   # doctest: +SKIP
    ['report.html', 'report.md']
    """
    figures = []
    for figure in report.figures:
        target = folder / FIGURE_DIR / figure.name
        write_atomic(target, lambda tmp, png=figure.png: tmp.write_bytes(png))
        figures.append(f"{FIGURE_DIR}/{figure.name}")
    write_text(report.to_markdown(FIGURE_DIR), folder / "report.md")
    write_text(report.to_html(), folder / "report.html")
    return ["report.html", "report.md", *figures]


def write_report_folder(report: Report, folder: Path) -> list[str]:
    """:func:`write_report_files` into a staging folder moved into ``folder`` once
    complete: an earlier report there is replaced only by a whole new one, and the
    folder's other files are left alone.

    Parameters
    ----------
    report : Report
        The built report.
    folder : Path
        The folder (already checked, e.g. by :func:`bayesdose.files.output.check_folder`).

    Returns
    -------
    list of str
        The names written, relative to the folder.

    Examples
    --------
    >>> write_report_folder(build_report(fit), Path("report"))[:2]   # doctest: +SKIP
    ['report.html', 'report.md']
    """
    with staged_folder(folder, replaces=REPORT_NAMES) as stage:
        return write_report_files(report, stage)
