"""Turn a full ``facesearch evaluate`` of LFW into the reference measurement shipped with facesearch.

The reference gives uncalibrated galleries an expected false-match rate for every score (from LFW's
impostor pairs, labelled as such) and gives the model card its figures. Run after evaluating LFW::

    facesearch --home /tmp/lfwhome evaluate ../shared/data/lfw --pairs ../shared/data/lfw/pairs.txt \\
        --groups male=../shared/data/lfw/male_names.txt --groups female=../shared/data/lfw/female_names.txt \\
        --json > bench/out/lfw_eval.json
    python bench/make_reference.py bench/out/lfw_eval.json /tmp/lfwhome/evaluations

It writes ``src/facesearch/scoring/reference/<model id>.json`` (numbers only: no image, name or embedding).
A fused recipe's reference also records the impostor statistics and weights its templates are made with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facesearch.evaluation.history import latest
from facesearch.pipeline.recognizers.fusion import FUSION, FUSION_V1

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facesearch" / "scoring" / "reference"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path, help="JSON printed by 'facesearch evaluate --json'")
    ap.add_argument("evaluations", type=Path, help="HOME/evaluations of the home that ran it")
    args = ap.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    summary = latest(args.evaluations, report["model_id"])
    if summary is None or summary["dataset_sha256"] != report["dataset_sha256"]:
        raise SystemExit("no recorded summary of this evaluation in " + str(args.evaluations))
    PACKAGE.mkdir(exist_ok=True)
    target = PACKAGE / f"{report['model_id']}.json"
    data: dict[str, object] = {"summary": summary, "fmr_curve": report["verification"]["fmr_curve"]}
    if report["model_id"] == FUSION.model_id:
        data["fusion"] = {
            "members": [
                {"model_id": m.spec.model_id, "impostor_mean": m.impostor_mean, "impostor_sd": m.impostor_sd}
                | {"weight": m.weight, "share": share}
                for m, share in zip(FUSION_V1.members, FUSION_V1.shares, strict=True)
            ],
            "source": FUSION_V1.source,
        }
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
