"""Reports of a fit: one self-contained HTML page and the same content in Markdown.

:mod:`~bayesdose.report.document` holds the document model (text, tables, figures,
sections) and its HTML and Markdown rendering; :mod:`~bayesdose.report.fit_report`
fills it from a fit (:func:`build_report`) and writes it (:func:`write_report`).
``bd.report`` is loaded on first use: it imports matplotlib.
"""

from __future__ import annotations

from bayesdose.report.document import (
    Figure,
    Report,
    Section,
    Table,
    Text,
    format_value,
    write_report_files,
)
from bayesdose.report.fit_report import build_report, report_estimands, write_report

__all__ = ["Figure", "Report", "Section", "Table", "Text", "build_report", "format_value",
           "report_estimands", "write_report", "write_report_files"]
