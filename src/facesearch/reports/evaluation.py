"""Write an evaluation as JSON and as one self-contained HTML page (figures embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from facesearch.evaluation.groups import shown
from facesearch.evaluation.run import EvaluationReport

JSON_NAME = "evaluation.json"
HTML_NAME = "evaluation.html"


def write_report(report: EvaluationReport, folder: Path) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.html`` in ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / JSON_NAME, folder / HTML_NAME
    json_path.write_text(json.dumps(report.to_dict(), indent=1, allow_nan=True), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return '<img alt="figure" src="data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode() + '">'


def _figures(report: EvaluationReport) -> list[tuple[str, str]]:
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


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def render_html(report: EvaluationReport) -> str:
    r, v = report, report.verification
    parts = [
        f"<h1>facesearch evaluation: {html.escape(Path(r.dataset).name)}</h1>",
        f"<p>{r.photos:,} photos of {r.identities:,} identities; dataset sha256 <code>{r.dataset_sha256}</code>; "
        f"model <code>{html.escape(r.model_id)}</code> ({r.metric.value}); {r.created_at:%Y-%m-%d %H:%M} UTC. "
        "Scores: higher means more alike; a pair matches when score &ge; threshold. Intervals: 95%, "
        "bootstrap over identities.</p>",
        f"<p>Failures to acquire: {html.escape(json.dumps(r.failures_to_acquire)) or 'none'}</p>",
        "<h2>1:1 verification</h2>",
        f"<p>{v.genuine_pairs:,} genuine pairs, {v.impostor_pairs:,} impostor pairs"
        f"{' (uniform random sample)' if v.impostor_pairs_sampled else ''}. EER {v.eer:.4f} at threshold "
        f"{v.eer_threshold:.4f}.</p>",
        _table(
            ["FAR", "threshold", "TAR [95% CI]", "measured FAR", "supported"],
            [
                [
                    f"{p.far:g}",
                    f"{p.threshold:.4f}",
                    p.tar.text(),
                    f"{p.measured_far:.2e}",
                    "yes" if p.supported else "no: too few impostor pairs",
                ]
                for p in v.tar_at_far
            ],
        ),
    ]
    if r.pairs_protocol:
        p = r.pairs_protocol
        parts.append(
            f"<p>Pairs protocol ({p.pairs} pairs, {p.folds} folds, threshold fit on the other folds): "
            f"accuracy {p.accuracy:.2%} &plusmn; {p.std:.2%}; pairs without a face: {p.pairs_without_face}.</p>"
        )
    if r.identification:
        i = r.identification
        parts += [
            "<h2>1:N identification</h2>",
            f"<p>Gallery N = {i.gallery_size:,}; {i.mated_searches:,} mated and {i.nonmated_searches:,} non-mated "
            f"searches ({i.held_out_identities:,} identities held out). Rank-1 rate {i.rank1.text()}; CMC "
            + ", ".join(f"rank {k}: {x:.4f}" for k, x in i.cmc.items())
            + ".</p>",
            _table(
                ["FPIR", "threshold", "FNIR [95% CI]", "measured FPIR", "supported"],
                [
                    [
                        f"{p.fpir:g}",
                        f"{p.threshold:.4f}",
                        p.fnir.text(),
                        f"{p.measured_fpir:.4f}",
                        "yes" if p.supported else "no: too few non-mated searches",
                    ]
                    for p in i.fnir_at_fpir
                ],
            ),
        ]
    if r.groups:
        g = r.groups
        parts += [
            "<h2>Per group, at one operating threshold</h2>",
            f"<p>Threshold {g.threshold:.4f} (overall FMR {g.overall_fmr:.2e} for a target of {g.target_fmr:g}; "
            f"overall FNMR {g.overall_fnmr:.4f}). Largest ratio between groups: "
            f"FMR {shown(g.fmr_differential, '.4g')}, FNMR {shown(g.fnmr_differential, '.4g')}. "
            f"Photos without a group label: {g.unlabelled_photos}.</p>",
            _table(
                [
                    "group",
                    "photos",
                    "FTA",
                    "genuine",
                    "impostor",
                    "FMR",
                    "FMR ratio",
                    "FNMR",
                    "FNMR ratio",
                    "threshold for target FMR",
                ],
                [
                    [
                        f.group,
                        str(f.photos),
                        f"{f.failure_to_acquire:.4f}",
                        str(f.genuine_pairs),
                        str(f.impostor_pairs),
                        shown(f.fmr, ".4g"),
                        shown(f.fmr_ratio, ".4g"),
                        shown(f.fnmr, ".4g"),
                        shown(f.fnmr_ratio, ".4g"),
                        shown(f.threshold_for_target_fmr, ".4g"),
                    ]
                    for f in g.groups
                ],
            ),
        ]
    parts += [f"<h3>{html.escape(title)}</h3>{img}" for title, img in _figures(r)]
    style = "body{font-family:sans-serif;max-width:60em;margin:auto}td,th{border:1px solid #ccc;padding:.2em .5em}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>facesearch evaluation</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
