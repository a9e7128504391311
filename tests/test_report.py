"""Reports of a fit: one self-contained HTML page and Markdown with its figure files.

One small real fit (one outcome, 2 chains x 50 draws) is saved and reported through the
command line once per module; its labels, units, patient id and model name carry markup
that must appear only escaped.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import arviz as az
import numpy as np
import pytest
from conftest import fixed_fit, prior_draws_for_sampling

import bayesdose as bd
from bayesdose.cli.commands import main
from bayesdose.report.document import format_value
from bayesdose.report.fit_report import build_report, report_estimands
from bayesdose.results.storage import read_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script> & \"double\" 'single' | *x*"
PATIENT = "P07<img src=x onerror=alert(2)>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "nav", "ul", "li",
                "a", "section", "h1", "h2", "h3", "p", "pre", "div", "table", "caption",
                "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "details",
                "summary"}
SECTIONS = ["Diagnostics", "Data", "Dose effects", "Dose estimands", "Predictive checks",
            "Model and priors", "Sampler settings", "Software versions"]


class PageChecker(HTMLParser):
    """Checks that non-void elements nest and close, and collects tags and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> PageChecker:
    checker = PageChecker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed: {checker.stack}"
    return checker


# ---------------------------------------------------------------- the fit and its report
@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory) -> Path:
    """A tiny fit (prior draws in place of sampling) whose outcome label, unit, dose unit,
    one patient id and model name carry markup, saved to netCDF with its model file
    recorded."""
    msc = bd.datasets.load_msc_trial().select(["koos_pain"])
    table = msc.table.drop(columns="source_row")
    table["patient"] = table["patient"].replace({"P07": PATIENT})  # P07 misses a visit
    info = {**msc.info("koos_pain").to_dict(), "label": HOSTILE, "unit": "pts <b>&</b>"}
    info.pop("name")
    data = bd.TrialData.from_frame(table, patient="patient", dose="dose", time="time",
                                   outcome="outcome", value="value",
                                   dose_unit="cells <i>x</i>", time_unit="months",
                                   baseline_time=0, outcome_info={"koos_pain": info})
    spec = bd.ModelSpec.from_dict({
        "name": f"Report {HOSTILE}",
        "description": f"# not a heading {HOSTILE}",
        "data": {"source": "embedded:msc_trial"},
        "model": {"outcomes": ["koos_pain"], "dose_shape": "emax",
                  "time_shape": "exponential"},
        "estimands": {"times": [6, 12], "contrasts": [[50, 1], [10, 1]], "ci_prob": 0.9},
    })
    with prior_draws_for_sampling():
        fit = bd.fit(spec, data=data, draws=50, tune=50, chains=2, random_seed=3,
                     prior_draws=50, progressbar=False)
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fit.save(path)
    return path


@pytest.fixture(scope="module")
def written(saved_fit, tmp_path_factory) -> dict:
    """``bayesdose report`` into a non-empty folder with --force (the report is built
    once per module; the refusal without --force is checked on the same folder)."""
    out = tmp_path_factory.mktemp("report")
    (out / "notes.txt").write_text("kept")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["report", str(saved_fit), "--out", str(out), "--force"])
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
            "out": out, "html": (out / "report.html").read_text(encoding="utf-8"),
            "md": (out / "report.md").read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def fit(saved_fit) -> bd.DoseResponseFit:
    return bd.load_fit(saved_fit)


# ---------------------------------------------------------------- command line
def test_cli_writes_both_files_and_prints_the_verdict(written, fit):
    assert written["code"] == 0, written["stderr"]
    out = written["out"]
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "figures",
                                               "notes.txt"}
    assert (out / "notes.txt").read_text() == "kept"  # --force replaces only the report
    assert not [p for p in out.rglob("*.tmp")]
    assert f"to {out}" in written["stdout"]
    verdict = "PASSED" if fit.diagnostics().ok else "FAILED"
    assert f"Diagnostics {verdict}" in written["stdout"]
    assert f"Diagnostics {verdict}" in written["html"]


def test_cli_refuses_a_non_empty_folder_without_force(written, saved_fit, capsys):
    out = written["out"]
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["report", str(saved_fit), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bayesdose: error: ") and "\n" not in err
    assert "not empty" in err and "--force" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("kind", ["missing", "text", "netcdf"])
def test_cli_rejects_what_is_not_a_fit(tmp_path, capsys, kind):
    path = tmp_path / "fit.nc"
    needle = {"missing": "does not exist", "text": "not a readable netCDF fit",
              "netcdf": "not written by bayesdose"}[kind]
    if kind == "text":
        path.write_text("patient,dose\nP01,1\n")
    elif kind == "netcdf":
        az.from_dict({"posterior": {"x": np.zeros((1, 5))}}).to_netcdf(path)
    out = tmp_path / "out"
    assert main(["report", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("bayesdose: error: ") and "\n" not in err
    assert needle in err and "Traceback" not in captured.err
    assert not out.exists()


def test_report_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: bayesdose report" in out and "--out" in out and "--force" in out
    assert "0 the report was written (also when the fit failed its diagnostics" in out


# ---------------------------------------------------------------- HTML
def test_html_is_balanced_self_contained_and_embeds_every_figure(written):
    page = written["html"]
    checker = parse(page)
    tags = {tag for tag, _ in checker.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS  # no script, iframe, link, object
    for tag, attrs in checker.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "a":
            assert attrs["href"].startswith("#")
    assert "http://" not in page and "https://" not in page and "url(" not in page
    images = [attrs for tag, attrs in checker.tags if tag == "img"]
    figures = sorted((written["out"] / "figures").iterdir())
    assert len(images) == len(figures) >= 6
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert attrs["alt"]
        assert base64.b64decode(attrs["src"].split(",", 1)[1])[:8] == PNG_MAGIC
    assert page.count("<figcaption>") == len(images)
    # the same figures as the files, byte for byte
    embedded = {base64.b64decode(a["src"].split(",", 1)[1]) for a in images}
    assert embedded == {p.read_bytes() for p in figures}
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page


def test_html_holds_verdict_checks_priors_estimands_and_versions(written, fit):
    page = written["html"]
    text = " ".join(parse(page).text)
    diagnostics = fit.diagnostics()
    for check in diagnostics.table["check"]:
        assert f"<td>{check}</td>" in page
    failed = diagnostics.table[~diagnostics.table["passed"]]
    assert page.count('<tr class="fail">') + page.count('<tr class="warn">') == len(failed)
    for advice in failed["advice"]:
        assert html.escape(advice) in page
    priors = fit.prior_table()
    assert "Priors" in text
    for row in priors.itertuples():
        assert f"<td>{row.parameter}</td>" in page
        assert html.escape(str(row.prior)) in page
    for package, version in read_config(fit.idata)["versions"].items():
        assert f"<td>{package}</td><td>{html.escape(version)}</td>" in page
    contrast = fit.contrast(dose=50, reference=1, time=12, ci_prob=0.9).iloc[0]
    assert f'<td class="num">{format_value(contrast["mean"])}</td>' in page
    assert f'<td class="num">{format_value(contrast["ci_low"])}</td>' in page
    assert "90% equal-tailed interval" in text
    assert f'<td class="num">{format_value(contrast["prob_gt_mcid"])}</td>' in page
    for caption in ("ED50", "Minimum effective dose", "Probability that the response",
                    "Time after baseline"):
        assert f"<caption>{caption}" in page
    assert "random_seed" in text and "f(d) = Emax * d/(ED50 + d)" in text


def test_user_strings_appear_only_escaped_in_html(written):
    page = written["html"]
    assert "<script" not in page.lower()
    assert "<img src=x" not in page and "<b>&" not in page and "<i>x</i>" not in page
    assert html.escape(HOSTILE) in page  # label, model name, description
    assert f"<title>Report {html.escape(HOSTILE)}</title>" in page
    assert html.escape(PATIENT) in page  # the missing-visit table names the patient
    assert html.escape("cells <i>x</i>") in page and html.escape("pts <b>&</b>") in page
    text = " ".join(parse(page).text)
    assert HOSTILE in text and PATIENT in text  # shown to the reader as typed


# ---------------------------------------------------------------- Markdown
def test_markdown_links_every_figure_file(written):
    text, out = written["md"], written["out"]
    links = re.findall(r"!\[[^\]]+\]\((figures/[^)]+)\)", text)
    files = sorted(p.relative_to(out).as_posix() for p in (out / "figures").iterdir())
    assert sorted(links) == files and len(files) >= 6
    for link in links:
        assert (out / link).read_bytes()[:8] == PNG_MAGIC
    for title in SECTIONS:
        assert f"\n## {title}\n" in text
    assert "Diagnostics FAILED" in text or "Diagnostics PASSED" in text


def test_user_strings_are_inert_in_markdown(written):
    text = written["md"]
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in text
    assert "\n\\# not a heading" in text  # the description stays a paragraph
    tables: list[list[str]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    assert len(tables) >= 15
    for rows in tables:  # escaped pipes in cells keep every row's columns
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, rows[:3]


# ---------------------------------------------------------------- without sampling
def test_report_of_a_fit_without_predictive_draws_says_what_is_missing(msc):
    data = msc.select(["koos_pain"])
    model = bd.DoseResponseModel("emax", "exponential")
    rng = np.random.default_rng(0)
    draws = {"delta": rng.normal(1.0, 0.1, (2, 40, 1)),
             "log_ed50": rng.normal(0.0, 0.1, (2, 40, 1)),
             "log_t_half": rng.normal(-1.6, 0.1, (2, 40, 1)),
             "course": rng.normal(0.0, 0.1, (2, 40, 1, 4))}
    fit = fixed_fit(data, model, draws)
    assert report_estimands(fit) == {"times": [12.0], "contrasts": [[50.0, 1.0]],
                                     "reference": None, "ci_prob": 0.95, "ci_kind": "eti",
                                     "doses": None}
    # an [estimands] recorded by an older version: hdi_prob meant highest-density intervals
    old = report_estimands(fit, {"hdi_prob": 0.9})
    assert (old["ci_prob"], old["ci_kind"]) == (0.9, "hdi")
    report = build_report(fit)
    page = report.to_html()
    # effects against the lowest tested dose (no placebo arm), equal-tailed intervals
    assert "Dose effects against dose 1 (lowest tested; no placebo arm)" in page
    assert "95% equal-tailed interval" in page and "HDI" not in page
    extrapolated = build_report(fit, {"reference": 0}).to_html()
    assert "Dose effects against dose 0 (not tested: extrapolated by the dose shape)" \
        in extrapolated
    parse(page)
    assert page.count('<img src="data:image/png;base64,') == len(report.figures) >= 4
    assert "no posterior_predictive group" in page
    assert report.title.startswith("Dose-response analysis")
    markdown = report.to_markdown()
    assert len(re.findall(r"\]\(figures/", markdown)) == len(report.figures)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.98765, "0.988"), (12.345, "12.3"), (0.3, "0.3"), (50.0, "50"), (1234.5, "1230"),
     (-0.000123, "-0.000123"), (2.5e7, "2.5e+07"), (7, "7"), (np.float64("nan"), "–"),
     (float("inf"), "∞"), (None, "–"), (np.True_, "yes"), ("a<b", "a<b")],
)
def test_numbers_are_shown_to_three_significant_digits(value, text):
    assert format_value(value) == text
