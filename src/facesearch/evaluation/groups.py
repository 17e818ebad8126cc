"""Error rates per group at one operating threshold (demographic differentials, as NIST's FRVT
part 3 reports them): within-group impostor pairs for FMR, within-group genuine pairs for FNMR.

The labels come from a file the user supplies; they only split the comparisons.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from facesearch.evaluation.protocols import Comparisons, Floats, Ints, Matrix, genuine_pairs, impostor_pairs
from facesearch.scoring import error_rates as metrics
from facesearch.types import Metric, Serialisable

INSUFFICIENT = "insufficient data"


def shown(value: float | None, fmt: str) -> str:
    """A per-group figure for people to read: formatted, or "insufficient data" where there is none."""
    return INSUFFICIENT if value is None else format(value, fmt)


@dataclasses.dataclass(frozen=True)
class GroupFigures(Serialisable):
    """One group's figures; a figure its comparisons cannot support is None, with ``notes`` saying why."""

    group: str
    photos: int
    identities: int
    failure_to_acquire: float  # share of the group's photos where no face was embedded
    genuine_pairs: int
    impostor_pairs: int
    fmr: float | None
    fnmr: float | None
    fmr_ratio: float | None  # this group's FMR / the overall FMR
    fnmr_ratio: float | None
    threshold_for_target_fmr: float | None  # the threshold this group alone would need
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class GroupReport(Serialisable):
    target_fmr: float
    threshold: float  # the one operating threshold: overall FMR = target on this dataset
    overall_fmr: float
    overall_fnmr: float
    groups: tuple[GroupFigures, ...]
    fmr_differential: float | None  # largest FMR / smallest FMR among groups with both figures
    fnmr_differential: float | None
    unlabelled_photos: int  # photos in no group (including those given conflicting labels)
    conflicting_labels: int


def _ratio(value: float | None, overall: float) -> float | None:
    return None if value is None or overall <= 0 else value / overall


def _differential(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return None
    return float("inf") if min(known) == 0 else max(known) / min(known)


def group_report(
    vectors: Matrix,
    identity_of: Ints,
    metric: Metric,
    labels: list[str | None],
    genuine: Comparisons,
    impostor: Comparisons,
    target_fmr: float,
    max_impostor_pairs: int,
    seed: int = 0,
    conflicting_labels: int = 0,
) -> GroupReport:
    """Per-group FMR and FNMR at the threshold where the whole dataset's FMR is ``target_fmr``.

    FMR needs ``3 / target_fmr`` within-group impostor pairs and FNMR enough genuine pairs to
    expect three errors at the overall rate (the rule of three); below that the figure is None.
    """
    threshold = metrics.threshold_for_fmr(impostor.scores, target_fmr)
    overall_fmr = metrics.fmr_at(impostor.scores, threshold)
    overall_fnmr = metrics.fnmr_at(genuine.scores, threshold)
    has_face = np.asarray(~np.isnan(vectors).any(axis=1), dtype=bool)
    figures = []
    for group in sorted({g for g in labels if g is not None}):
        members = np.asarray([i for i, g in enumerate(labels) if g == group], dtype=np.int64)
        gen = genuine_pairs(vectors, identity_of, metric, among=members)
        imp, _ = impostor_pairs(vectors, identity_of, metric, among=members, limit=max_impostor_pairs, seed=seed)
        notes = []
        fmr = fnmr = own_threshold = None
        if metrics.supported(len(imp), target_fmr):
            fmr = metrics.fmr_at(imp.scores, threshold)
            own_threshold = metrics.threshold_for_fmr(imp.scores, target_fmr)
        else:
            notes.append(
                f"FMR: {INSUFFICIENT} ({len(imp)} impostor pairs; {metrics.RULE_OF_THREE / target_fmr:.0f} needed)"
            )
        if len(gen) and metrics.supported(len(gen), max(overall_fnmr, 1 / max(len(genuine), 1))):
            fnmr = metrics.fnmr_at(gen.scores, threshold)
        else:
            notes.append(f"FNMR: {INSUFFICIENT} ({len(gen)} genuine pairs)")
        figures.append(
            GroupFigures(
                group=group,
                photos=len(members),
                identities=len(np.unique(identity_of[members])),
                failure_to_acquire=float(np.mean(~has_face[members])),
                genuine_pairs=len(gen),
                impostor_pairs=len(imp),
                fmr=fmr,
                fnmr=fnmr,
                fmr_ratio=_ratio(fmr, overall_fmr),
                fnmr_ratio=_ratio(fnmr, overall_fnmr),
                threshold_for_target_fmr=own_threshold,
                notes=tuple(notes),
            )
        )
    return GroupReport(
        target_fmr=target_fmr,
        threshold=threshold,
        overall_fmr=overall_fmr,
        overall_fnmr=overall_fnmr,
        groups=tuple(figures),
        fmr_differential=_differential([f.fmr for f in figures]),
        fnmr_differential=_differential([f.fnmr for f in figures]),
        unlabelled_photos=sum(1 for g in labels if g is None),
        conflicting_labels=conflicting_labels,
    )


def group_histograms(
    labels: list[str | None], genuine: Comparisons, impostor: Comparisons, bins: Floats
) -> dict[str, dict[str, list[int]]]:
    """Genuine and impostor score histograms per group (pairs with both photos in the group)."""
    out = {}
    label_array = np.asarray([g if g is not None else "" for g in labels], dtype=object)
    for group in sorted({g for g in labels if g is not None}):
        in_group = np.asarray(label_array == group, dtype=bool)
        hist = {}
        for kind, comps in (("genuine", genuine), ("impostor", impostor)):
            keep = in_group[comps.a] & in_group[comps.b]
            hist[kind] = np.histogram(comps.scores[keep], bins=bins)[0].tolist()
        out[group] = hist
    return out
