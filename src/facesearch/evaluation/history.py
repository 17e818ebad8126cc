"""Headline figures of past evaluations, kept as small JSON files so the model card can cite them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facesearch.evaluation.run import EvaluationReport


def summarise(report: EvaluationReport) -> dict[str, Any]:
    """The figures a model card cites, with the dataset and date they were measured on."""
    v, i, p, g = report.verification, report.identification, report.pairs_protocol, report.groups
    summary: dict[str, Any] = {
        "model_id": report.model_id,
        "dataset": Path(report.dataset).name,
        "dataset_sha256": report.dataset_sha256,
        "measured_at": report.created_at.isoformat(),
        "photos": report.photos,
        "identities": report.identities,
        "failures_to_acquire": sum(report.failures_to_acquire.values()),
        "eer": v.eer,
        "tar_at_far": {f"{t.far:g}": t.tar.value for t in v.tar_at_far if t.supported},
    }
    if p:
        summary["pairs_accuracy"] = {"mean": p.accuracy, "std": p.std, "pairs": p.pairs}
    if i:
        summary["identification"] = {
            "gallery_size": i.gallery_size,
            "rank1": i.rank1.to_dict(),
            "fnir_at_fpir": {f"{x.fpir:g}": x.fnir.to_dict() for x in i.fnir_at_fpir if x.supported},
        }
    if g:
        summary["groups"] = {
            "target_fmr": g.target_fmr,
            "threshold": g.threshold,
            "fmr": {f.group: f.fmr for f in g.groups},
            "fnmr": {f.group: f.fnmr for f in g.groups},
            "fmr_differential": g.fmr_differential,
            "fnmr_differential": g.fnmr_differential,
        }
    return summary


def record(folder: Path, report: EvaluationReport) -> Path:
    """Keep the report's summary in ``folder`` (one file per evaluation)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.created_at:%Y%m%dT%H%M%S}-{report.dataset_sha256[:12]}.json"
    path.write_text(json.dumps(summarise(report), indent=1), encoding="utf-8")
    return path


def latest(folder: Path, model_id: str) -> dict[str, Any] | None:
    """The newest recorded summary for this model, if any."""
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("model_id") == model_id:
            found.append(data)
    return max(found, key=lambda d: str(d.get("measured_at", "")), default=None)
