"""``evaluate``: measure a recipe's accuracy on a labelled dataset, 1:1, 1:N and per group."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.config import Settings
from facesearch.evaluation.dataset import (
    LabelledDataset,
    dataset_digest,
    file_digests,
    load_dataset,
    read_groups,
    read_lfw_pairs,
)
from facesearch.evaluation.extract import EmbeddingCache, Progress, extract
from facesearch.evaluation.groups import GroupReport, group_histograms, group_report
from facesearch.evaluation.protocols import (
    MAX_IMPOSTOR_PAIRS,
    Comparisons,
    Searches,
    genuine_pairs,
    identification_searches,
    impostor_pairs,
    pair_scores,
)
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import EmbedderSpec
from facesearch.scoring import error_rates as metrics
from facesearch.scoring.calibration import FmrCurve
from facesearch.scoring.scores import fpir_threshold
from facesearch.types import Metric, Serialisable


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    target_fmr: float = 1e-4  # the operating point the per-group figures are read at
    fars: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
    fpirs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.1)
    ranks: tuple[int, ...] = (1, 5, 10, 50)
    holdout: float = 0.2  # share of identities left out of the 1:N gallery as non-mated searches
    target_fpir: float = 0.01  # the FPIR identify's threshold is set for (setting target_fpir)
    gallery_sizes: tuple[int, ...] = ()  # also report identify's threshold and FNIR at these gallery sizes
    bootstrap: int = 100  # replicates for the 95% intervals (0: none)
    max_impostor_pairs: int = MAX_IMPOSTOR_PAIRS
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Figure(Serialisable):
    """A headline figure with its 95% bootstrap interval over identities (None when not computed)."""

    value: float
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, interval: metrics.Interval | None, value: float) -> Figure:
        if interval is None:
            return cls(value)
        return cls(value, interval.low, interval.high)

    def text(self) -> str:
        """``0.9570 [0.9397, 0.9751]``, or the value alone without an interval."""
        if self.low is None or self.high is None:
            return f"{self.value:.4f}"
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclasses.dataclass(frozen=True)
class TarAtFar(Serialisable):
    far: float
    threshold: float
    tar: Figure
    measured_far: float
    supported: bool  # enough impostor pairs (rule of three); if False the figures are only indicative


@dataclasses.dataclass(frozen=True)
class Verification(Serialisable):
    genuine_pairs: int
    impostor_pairs: int
    impostor_pairs_sampled: bool
    tar_at_far: tuple[TarAtFar, ...]
    eer: float
    eer_threshold: float
    det: tuple[tuple[float, float, float], ...]  # (threshold, FMR, FNMR), strict to lenient
    histogram_bins: tuple[float, ...]
    genuine_histogram: tuple[int, ...]
    impostor_histogram: tuple[int, ...]
    fmr_curve: FmrCurve  # impostor score quantiles: what any score means on this dataset


@dataclasses.dataclass(frozen=True)
class PairsProtocol(Serialisable):
    """LFW's View 2: accuracy with each fold's threshold chosen on the other folds."""

    pairs: int
    folds: int
    pairs_without_face: int
    accuracy: float
    std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class FnirAtFpir(Serialisable):
    fpir: float
    threshold: float
    fnir: Figure
    measured_fpir: float
    supported: bool


@dataclasses.dataclass(frozen=True)
class AtGallerySize(Serialisable):
    """Identify's threshold for a target FPIR at a gallery of ``gallery_faces`` faces, derived from
    this evaluation's impostor pairs as a gallery derives it (``facesearch.scoring.scores``), with
    the FPIR that predicts and the FNIR of this dataset's mated searches there. At the evaluation's
    own gallery size the FPIR is also measured on its non-mated searches, which tests the prediction."""

    gallery_faces: int
    target_fpir: float
    threshold: float
    predicted_fpir: float
    measurable: bool  # the impostor pairs can measure the per-comparison rate the target needs
    fnir: Figure  # mated searches whose mate is not the top candidate above the threshold
    measured_fpir: float | None  # only at the evaluation's own gallery size


@dataclasses.dataclass(frozen=True)
class Identification(Serialisable):
    gallery_size: int
    mated_searches: int
    nonmated_searches: int
    held_out_identities: int
    rank1: Figure
    cmc: dict[int, float]
    cmc_curve: tuple[float, ...]  # rank 1..len
    fnir_at_fpir: tuple[FnirAtFpir, ...]
    at_gallery_sizes: tuple[AtGallerySize, ...] = ()


@dataclasses.dataclass(frozen=True)
class EvaluationReport(Serialisable):
    dataset: str
    dataset_sha256: str
    identities: int
    photos: int
    failures_to_acquire: dict[str, int]  # reason -> photos
    photos_embedded: int  # this run; the others came from the embedding cache
    model_id: str
    metric: Metric
    settings: dict[str, Any]
    created_at: datetime
    options: dict[str, Any]
    verification: Verification
    pairs_protocol: PairsProtocol | None
    identification: Identification | None
    groups: GroupReport | None
    group_histograms: dict[str, dict[str, list[int]]]


def _verification(
    genuine: Comparisons, impostor: Comparisons, sampled: bool, opts: EvaluationOptions, n_identities: int
) -> Verification:
    order = np.argsort(-impostor.scores, kind="stable")
    imp_sorted = impostor.scores[order]
    ia, ib = impostor.identity_a[order], impostor.identity_b[order]
    w, w_b = np.empty(len(order)), np.empty(len(order))  # reused by every replicate

    def tars(m: np.ndarray) -> list[float]:
        np.take(m, ia, out=w)
        np.take(m, ib, out=w_b)
        np.multiply(w, w_b, out=w)  # an impostor pair weighs the product of its identities' multiplicities
        points = metrics.operating_points(
            genuine.scores, imp_sorted, opts.fars, m[genuine.identity_a], w, descending=True
        )
        return [p.tar for p in points]

    intervals: list[metrics.Interval | None] = [None] * len(opts.fars)
    if opts.bootstrap:
        intervals = list(metrics.bootstrap_many(tars, n_identities, opts.bootstrap, opts.seed))
    observed = metrics.operating_points(genuine.scores, imp_sorted, opts.fars, descending=True)
    points = [
        TarAtFar(far, p.threshold, Figure.of(interval, p.tar), p.fmr, p.supported)
        for far, p, interval in zip(opts.fars, observed, intervals, strict=True)
    ]
    eer, eer_t = metrics.equal_error_rate(genuine.scores, impostor.scores)
    det = metrics.det_curve(genuine.scores, impostor.scores)
    lo = float(min(genuine.scores.min(initial=1.0), impostor.scores.min(initial=1.0)))
    hi = float(max(genuine.scores.max(initial=0.0), impostor.scores.max(initial=0.0)))
    bins = np.linspace(np.floor(lo * 20) / 20, np.ceil(hi * 20) / 20, 61)
    return Verification(
        genuine_pairs=len(genuine),
        impostor_pairs=len(impostor),
        impostor_pairs_sampled=sampled,
        tar_at_far=tuple(points),
        eer=eer,
        eer_threshold=eer_t,
        det=tuple((p.threshold, p.fmr, p.fnmr) for p in det),
        histogram_bins=tuple(float(b) for b in bins),
        genuine_histogram=tuple(np.histogram(genuine.scores, bins)[0].tolist()),
        impostor_histogram=tuple(np.histogram(impostor.scores, bins)[0].tolist()),
        fmr_curve=FmrCurve.from_impostor_scores(impostor.scores),
    )


def _identification(
    searches: Searches, opts: EvaluationOptions, n_identities: int, fmr_curve: FmrCurve
) -> Identification:
    s = searches
    sizes = sorted({s.gallery_size, *opts.gallery_sizes})
    thresholds = [fpir_threshold(fmr_curve, n, opts.target_fpir) for n in sizes]

    def figures(m: np.ndarray) -> list[float]:  # rank-1, then FNIR at each FPIR, from one replicate
        mated, nonmated = m[s.mated_identity], m[s.nonmated_identity]
        fnirs = [
            metrics.identification_point(s.ranks, s.mate_scores, s.nonmated_top, fpir, mated, nonmated).fnir
            for fpir in opts.fpirs
        ]
        at_sizes = [metrics.fnir_at(s.ranks, s.mate_scores, t.score, mated) for t in thresholds]
        return [metrics.cmc(s.ranks, [1], mated)[1], *fnirs, *at_sizes]

    intervals: list[metrics.Interval | None] = [None] * (1 + len(opts.fpirs) + len(sizes))
    if opts.bootstrap:
        intervals = list(metrics.bootstrap_many(figures, n_identities, opts.bootstrap, opts.seed))
    observed = figures(np.ones(n_identities))
    points = []
    for k, fpir in enumerate(opts.fpirs, start=1):
        point = metrics.identification_point(s.ranks, s.mate_scores, s.nonmated_top, fpir)
        points.append(
            FnirAtFpir(fpir, point.threshold, Figure.of(intervals[k], point.fnir), point.fpir, point.supported)
        )
    at_sizes = tuple(
        AtGallerySize(
            gallery_faces=t.gallery_faces,
            target_fpir=t.target_fpir,
            threshold=t.score,
            predicted_fpir=t.fpir,
            measurable=t.measurable,
            fnir=Figure.of(intervals[1 + len(opts.fpirs) + k], observed[1 + len(opts.fpirs) + k]),
            measured_fpir=(
                metrics.fpir_at(s.nonmated_top, t.score)
                if t.gallery_faces == s.gallery_size and len(s.nonmated_top)
                else None
            ),
        )
        for k, t in enumerate(thresholds)
    )
    depth = min(100, s.gallery_size)
    curve = metrics.cmc(s.ranks, range(1, depth + 1))
    return Identification(
        gallery_size=s.gallery_size,
        mated_searches=len(s.mate_scores),
        nonmated_searches=len(s.nonmated_top),
        held_out_identities=s.held_out_identities,
        rank1=Figure.of(intervals[0], observed[0]),
        cmc=metrics.cmc(s.ranks, [r for r in opts.ranks if r <= s.gallery_size]),
        cmc_curve=tuple(curve.values()),
        fnir_at_fpir=tuple(points),
        at_gallery_sizes=at_sizes,
    )


def _pairs_protocol(dataset: LabelledDataset, pairs_file: Path, vectors: np.ndarray, metric: Metric) -> PairsProtocol:
    pairs = read_lfw_pairs(pairs_file, dataset)
    scores = pair_scores(vectors, pairs.a, pairs.b, metric)
    missing = np.isnan(scores)
    scores[missing] = -np.inf  # no face: predicted "different"
    result = metrics.kfold_accuracy(scores, pairs.same, pairs.fold)
    return PairsProtocol(
        pairs=len(scores),
        folds=len(np.unique(pairs.fold)),
        pairs_without_face=int(missing.sum()),
        accuracy=result.mean,
        std=result.std,
        fold_accuracies=result.fold_accuracies,
        fold_thresholds=result.fold_thresholds,
    )


def evaluate(
    dataset_dir: Path,
    settings: Settings,
    *,
    pairs_file: Path | None = None,
    group_files: Sequence[str] = (),
    cache: EmbeddingCache | None = None,
    workers: int = 1,
    options: EvaluationOptions | None = None,
    progress: Progress | None = None,
    spec: EmbedderSpec | None = None,
) -> EvaluationReport:
    """Embed every photo of ``dataset_dir`` (DATASET/<identity>/<photo>) and measure 1:1, 1:N and
    per-group error rates. ``progress(done, total)`` is called as photos are embedded. ``spec``:
    the recipe measured (default: the built-in recognizer the settings name)."""
    opts = options or EvaluationOptions()
    pipeline = FacePipeline(settings, spec=spec)
    spec = pipeline.spec
    dataset = load_dataset(dataset_dir)
    groups, conflicting = read_groups(group_files) if group_files else ({}, frozenset())
    digests = file_digests(dataset.paths)
    extraction = extract(dataset.paths, digests, settings, cache, workers, progress, pipeline)
    vectors, ids, metric = extraction.vectors, dataset.identity_of, spec.metric
    n_ids = len(dataset.identities)

    genuine = genuine_pairs(vectors, ids, metric)
    impostor, sampled = impostor_pairs(vectors, ids, metric, limit=opts.max_impostor_pairs, seed=opts.seed)
    verification = _verification(genuine, impostor, sampled, opts, n_ids)
    searches = identification_searches(vectors, ids, metric, opts.holdout, opts.seed)
    identification = (
        _identification(searches, opts, n_ids, verification.fmr_curve)
        if len(searches.mate_scores) and searches.gallery_size
        else None
    )
    labels = [groups.get(p.name) for p in dataset.paths]
    report_groups = (
        group_report(
            vectors,
            ids,
            metric,
            labels,
            genuine,
            impostor,
            opts.target_fmr,
            opts.max_impostor_pairs,
            opts.seed,
            conflicting_labels=sum(1 for p in dataset.paths if p.name in conflicting),
        )
        if groups
        else None
    )
    bins = np.asarray(verification.histogram_bins)
    return EvaluationReport(
        dataset=str(Path(dataset_dir)),
        dataset_sha256=dataset_digest(dataset, digests),
        identities=n_ids,
        photos=len(dataset),
        failures_to_acquire=dict(sorted(Counter(extraction.failures.values()).items())),
        photos_embedded=extraction.embedded,
        model_id=spec.model_id,
        metric=metric,
        settings={k: getattr(settings, k) for k in ("detector", "fallback_detector", "upsample", "num_jitters")},
        created_at=datetime.now(UTC),
        options=dataclasses.asdict(opts),
        verification=verification,
        pairs_protocol=_pairs_protocol(dataset, pairs_file, vectors, metric) if pairs_file else None,
        identification=identification,
        groups=report_groups,
        group_histograms=group_histograms(labels, genuine, impostor, bins) if groups else {},
    )
