"""Write an evaluation as JSON and as one self-contained HTML page (figures embedded as PNG)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from facesearch.evaluation.groups import shown
from facesearch.evaluation.run import EvaluationReport
from facesearch.extras import require
from facesearch.reports import rendering

JSON_NAME = "evaluation.json"
HTML_NAME = "evaluation.html"


def write_report(report: EvaluationReport, folder: Path) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.html`` in ``folder`` (created if needed); its figures need
    the ``eval`` extra (matplotlib), checked before anything is written."""
    require("eval", "the evaluation report's figures")
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / JSON_NAME, folder / HTML_NAME
    json_path.write_text(json.dumps(report.to_dict(), indent=1, allow_nan=True), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def _png(fig: Any) -> str:
    """The figure as a ``data:`` URI of a PNG, so the page needs no other file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figures(report: EvaluationReport) -> list[tuple[str, str]]:
    """(title, PNG data URI) of each plot: DET, CMC when 1:N was measured, score distributions."""
    require("eval", "the evaluation report's figures")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out = []
    v = report.verification
    fig, ax = plt.subplots(figsize=(5.5, 4))
    det = [(fmr, fnmr) for _, fmr, fnmr in v.det if fmr > 0 and fnmr > 0]
    if det:
        ax.loglog(*zip(*det, strict=True), marker=".", markersize=2)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title("DET curve, 1:1")
    ax.grid(True, which="both", alpha=0.3)
    out.append(("DET", _png(fig)))
    plt.close(fig)

    if report.identification:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        curve = report.identification.cmc_curve
        ax.semilogx(range(1, len(curve) + 1), curve, marker=".")
        ax.set_xlabel("rank")
        ax.set_ylabel("identification rate")
        ax.set_title(f"CMC, 1:N (N = {report.identification.gallery_size})")
        ax.grid(True, which="both", alpha=0.3)
        out.append(("CMC", _png(fig)))
        plt.close(fig)

    bins = v.histogram_bins
    panels = [("all photos", {"genuine": list(v.genuine_histogram), "impostor": list(v.impostor_histogram)})]
    panels += list(report.group_histograms.items())
    for name, hist in panels:
        fig, ax = plt.subplots(figsize=(5.5, 3))
        for kind in ("genuine", "impostor"):
            counts = hist[kind]
            total = max(sum(counts), 1)
            ax.stairs([c / total for c in counts], bins, label=f"{kind} ({sum(counts):,} pairs)", fill=False)
        threshold = report.groups.threshold if report.groups else None
        if threshold is not None:
            ax.axvline(threshold, color="k", linestyle="--", label="operating threshold")
        ax.set_xlabel("score (higher = more alike)")
        ax.set_ylabel("share of pairs")
        ax.set_title(f"score distributions: {name}")
        ax.legend(fontsize=8)
        out.append((f"scores: {name}", _png(fig)))
        plt.close(fig)
    return out


def render_html(report: EvaluationReport) -> str:
    """The evaluation as one self-contained HTML page (template ``evaluation.html``)."""
    return rendering.render(
        "evaluation.html", report=report, dataset_name=Path(report.dataset).name, figures=_figures(report), shown=shown
    )
