"""Every page is rendered from a Jinja template with the product's one stylesheet: no module writes
HTML in Python strings, values from users and datasets are escaped, pages written to disk are
self-contained."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pytest

import facesearch
from facesearch.evaluation.groups import GroupFigures, GroupReport
from facesearch.evaluation.run import EvaluationReport, Figure, Identification, TarAtFar, Verification
from facesearch.reports import evaluation, rendering
from facesearch.reports.contact_sheet import ContactSheet, SheetCluster, SheetFace, write_sheet
from facesearch.scoring.calibration import FmrCurve
from facesearch.types import Metric

SRC = Path(facesearch.__file__).resolve().parent
ODD = "<script>alert(1)</script> & 'q'"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;q&#39;"
# An opening or closing tag of the elements a page is built from, e.g. "<table>", "</td>", "<p class=x>".
MARKUP = re.compile(
    r"</?(html|head|body|style|table|thead|tbody|tr|td|th|h[1-6]|p|div|section|figure|figcaption|img|ul|li|br)"
    r"(\s[^<>]*)?/?>",
    re.IGNORECASE,
)


def _markup(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, tag) of each string literal in TREE that holds markup; docstrings may show a tag to
    explain one, and are left out. The literal parts of an f-string are string constants too."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    strings = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return [(n.lineno, m.group()) for n in strings if id(n) not in docstrings and (m := MARKUP.search(n.value))]


def test_no_module_writes_html_in_python_strings() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}: {tag}"
        for path in sorted(SRC.rglob("*.py"))
        for line, tag in _markup(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    ]
    assert offenders == [], "render HTML from a template in reports/templates or service/web/templates"


def test_the_scan_finds_markup_in_an_f_string_and_not_in_a_docstring() -> None:
    tree = ast.parse('def f(x):\n    """A <p> docstring."""\n    return f"<td class=n>{x}</td>"\n')
    assert _markup(tree) == [(3, "<td class=n>"), (3, "</td>")]


def test_there_is_one_stylesheet_and_it_can_be_inlined() -> None:
    assert [p.relative_to(SRC) for p in SRC.rglob("*.css")] == [rendering.STYLESHEET.relative_to(SRC)]
    assert "</" not in rendering.STYLESHEET.read_text(encoding="utf-8")  # it would close the style element


def test_a_name_the_template_does_not_know_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        rendering.render("transparency.html")


def _sheet() -> ContactSheet:
    face = SheetFace(7, f"{ODD}.jpg", b"\xff\xd8 not really a jpeg")
    return ContactSheet(ODD, ODD, ODD, 0.95, "dbscan", date(2030, 1, 2), (SheetCluster(3, ODD, (face,)),))


def test_the_contact_sheet_escapes_names_and_inlines_crops_and_stylesheet(tmp_path: Path) -> None:
    page = write_sheet(_sheet(), tmp_path / "sheet").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert f"<h1>Collection {ESCAPED}</h1>" in page and f"cluster 3: {ESCAPED} (1 faces)" in page
    assert f"face 7<br>{ESCAPED}.jpg" in page and "threshold 0.9500 (dbscan); retained until 2030-01-02" in page
    assert page.count("<img") == 1 and 'src="data:image/jpeg;base64,' in page
    assert rendering.STYLESHEET.read_text(encoding="utf-8") in page


def _evaluation() -> EvaluationReport:
    bins = tuple(i / 10 for i in range(11))
    verification = Verification(
        genuine_pairs=1234,
        impostor_pairs=56789,
        impostor_pairs_sampled=True,
        tar_at_far=(TarAtFar(0.1, 0.31, Figure(0.95, 0.9, 0.97), 0.099, True),),
        eer=0.0123,
        eer_threshold=0.456,
        det=((0.9, 0.001, 0.2), (0.5, 0.1, 0.01)),
        histogram_bins=bins,
        genuine_histogram=tuple(range(10)),
        impostor_histogram=tuple(range(10, 0, -1)),
        fmr_curve=FmrCurve((0.9, 0.5), (0.001, 0.1), 1000),
    )
    identification = Identification(100, 40, 20, 20, Figure(0.9), {1: 0.9, 5: 0.95}, (0.9, 0.95), ())
    group = GroupFigures(ODD, 10, 3, 0.1, 5, 6, None, 0.02, None, 1.5, 0.7, ())
    groups = GroupReport(1e-4, 0.61, 2e-4, 0.03, (group,), None, None, 3, 0)
    return EvaluationReport(
        dataset="/data/lfw <img src=x onerror=alert(1)>",
        dataset_sha256="ab" * 32,
        identities=5,
        photos=11,
        failures_to_acquire={"no-face": 1},
        photos_embedded=11,
        model_id=ODD,
        metric=Metric.COSINE,
        settings={},
        created_at=datetime(2024, 3, 5, 12, 0, tzinfo=UTC),
        options={},
        verification=verification,
        pairs_protocol=None,
        identification=identification,
        groups=groups,
        group_histograms={ODD: {"genuine": [1] * 10, "impostor": [2] * 10}},
    )


def test_the_evaluation_report_escapes_dataset_values_and_is_self_contained() -> None:
    page = evaluation.render_html(_evaluation())
    assert "<script>" not in page and "<img src=x" not in page
    assert "<h1>facesearch evaluation: lfw &lt;img src=x onerror=alert(1)&gt;</h1>" in page
    assert page.count(ESCAPED) == 3  # the model id, the group's label in its table and its figure's title
    assert "1,234 genuine pairs, 56,789 impostor pairs (uniform random sample). EER 0.0123" in page
    assert "CMC rank 1: 0.9000, rank 5: 0.9500." in page and "FMR insufficient data" in page
    assert page.count('<img alt="figure" src="data:image/png;base64,') == 4  # DET, CMC, scores of all and of the group
    assert "http" not in page and rendering.STYLESHEET.read_text(encoding="utf-8") in page
