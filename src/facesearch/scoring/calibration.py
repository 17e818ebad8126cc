"""What a score means: the false-match rate measured at it, and the operating threshold.

A calibration turns impostor scores measured on a labelled dataset (pairs of photos of different
people, embedded by the gallery's own recipe) into

- an **FMR curve**: for any score, the share of impostor pairs that score at least as high, i.e.
  how often a *different* person would score this close;
- the **operating threshold**: the lowest score whose FMR is at most the target.

Until a gallery is calibrated, the recipe's published operating point is used and every answer
says so; the FMR figures then come from the reference measurement shipped with facesearch (LFW,
measured by ``facesearch evaluate``), which describes LFW's population, not the gallery's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import CalibrationError
from facesearch.pipeline.models import EmbedderSpec
from facesearch.scoring import error_rates as metrics
from facesearch.types import Serialisable

CURVE_POINTS = 256


@dataclasses.dataclass(frozen=True)
class FmrCurve:
    """Impostor score quantiles: ``fmr[k]`` of impostor pairs score ``>= scores[k]`` (scores descending)."""

    scores: tuple[float, ...]
    fmr: tuple[float, ...]
    impostor_pairs: int

    @classmethod
    def from_impostor_scores(cls, impostor: npt.ArrayLike, points: int = CURVE_POINTS) -> FmrCurve:
        s = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
        n = len(s)
        if n == 0:
            raise CalibrationError("no impostor pairs: the dataset needs photos of at least two people")
        ranks = np.unique(np.geomspace(1, n, points).round().astype(np.int64))  # k highest impostors
        return cls(tuple(float(s[k - 1]) for k in ranks), tuple(float(k / n) for k in ranks), n)

    def fmr_at(self, score: float) -> float:
        """Expected false-match rate at ``score``: log-interpolated between measured quantiles.

        Above the highest impostor score the measurement only bounds it: ``1 / impostor_pairs``
        is returned as an upper bound (see :meth:`describe`).
        """
        s, f = np.asarray(self.scores), np.asarray(self.fmr)
        if score > s[0]:
            return 1.0 / self.impostor_pairs
        if score <= s[-1]:
            return 1.0
        k = int(np.count_nonzero(s > score))  # s[k - 1] > score >= s[k]
        hi, lo = s[k - 1], s[k]
        if hi == lo:
            return float(f[k])
        w = (score - lo) / (hi - lo)
        return float(np.exp(np.log(f[k]) + w * (np.log(f[k - 1]) - np.log(f[k]))))

    def lowest_supported_fmr(self) -> float:
        """The lowest false-match rate these impostor pairs can vouch for (the rule of three)."""
        return min(1.0, metrics.RULE_OF_THREE / self.impostor_pairs)

    def score_at(self, fmr: float) -> float:
        """The lowest score whose expected false-match rate is at most ``fmr``: the inverse of
        :meth:`fmr_at` (log-interpolated the same way). Below the lowest measured rate it gives
        the highest impostor score measured; callers check :meth:`lowest_supported_fmr` first."""
        s, f = np.asarray(self.scores), np.asarray(self.fmr)
        if fmr <= f[0]:
            return float(s[0])
        if fmr >= f[-1]:
            return float(s[-1])
        k = int(np.count_nonzero(f <= fmr))  # f[k - 1] <= fmr < f[k]
        lo_f, hi_f = np.log(f[k - 1]), np.log(f[k])
        w = (np.log(fmr) - lo_f) / (hi_f - lo_f)
        return float(s[k - 1] + w * (s[k] - s[k - 1]))

    def describe(self, score: float) -> str:
        """The FMR at ``score`` in words, e.g. "a different person scores this high about 1 time in 40,000"."""
        fmr = self.fmr_at(score)
        if score > self.scores[0]:
            return f"no different person measured scored this high (fewer than 1 in {self.impostor_pairs:,})"
        if fmr >= 0.5:
            return f"about {fmr:.0%} of different people score this high"
        return f"a different person scores this high about 1 time in {_round_odds(1 / fmr):,}"

    def to_json(self) -> str:
        return json.dumps({"scores": self.scores, "fmr": self.fmr, "impostor_pairs": self.impostor_pairs})

    @classmethod
    def from_json(cls, text: str) -> FmrCurve:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FmrCurve:
        return cls(tuple(data["scores"]), tuple(data["fmr"]), int(data["impostor_pairs"]))


def _round_odds(odds: float) -> int:
    """Two significant figures: 1 in 41,237 -> 1 in 41,000."""
    if odds < 100:
        return int(round(odds))
    digits = int(np.floor(np.log10(odds))) - 1
    return int(round(odds, -digits))


OVERALL, WORST_GROUP = "overall", "worst-group"
RULES = (OVERALL, WORST_GROUP)


@dataclasses.dataclass(frozen=True)
class GroupScores:
    """One labelled group's within-group comparison scores (both photos of each pair in the group)."""

    group: str
    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class GroupCalibration(Serialisable):
    """One group's figures at a calibration's threshold. A figure its pairs cannot support (fewer
    impostor pairs than the rule of three needs for the target, no genuine pair) is None."""

    group: str
    genuine_pairs: int
    impostor_pairs: int
    own_threshold: float | None  # the threshold this group alone would need for the target FMR
    fmr: float | None  # at the calibration's threshold
    fnmr: float | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupCalibration:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class OneToN(Serialisable):
    """What a calibration means for 1:N searches of a gallery of ``gallery_faces`` faces: identify's
    threshold for ``target_fpir`` there (see :func:`facesearch.scoring.scores.identify_meaning`), the
    FPIR expected at it, and the share of the dataset's genuine pairs below it, a lower bound on the
    FNIR (a search also misses when another subject outranks the mate). Reported, not stored: the
    threshold follows the gallery's size at every search."""

    gallery_faces: int
    target_fpir: float
    threshold: float
    expected_fpir: float
    fnmr: float  # genuine pairs of the dataset scoring below ``threshold``
    measurable: bool  # the dataset's impostor pairs can measure the per-comparison rate the target needs

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OneToN:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Calibration(Serialisable):
    """A gallery's operating threshold, set from measured impostor scores.

    ``rule`` says how: ``overall`` sets the threshold where the whole dataset's impostor pairs
    reach ``target_fmr``; ``worst-group`` raises it until every labelled group with enough pairs
    keeps to the target within the group too, so no group bears more false matches than the target
    (what it costs is ``fnmr_cost``: how many more genuine pairs then fall below it). Groups come
    from labelled calibration data only; nothing infers a group at search time.
    """

    threshold: float
    target_fmr: float
    fnmr_at_threshold: float  # genuine pairs of the dataset scoring below the threshold
    model_id: str
    dataset: str
    dataset_sha256: str
    genuine_pairs: int
    impostor_pairs: int
    created_at: datetime
    curve: FmrCurve = dataclasses.field(repr=False)
    audit_seq: int | None = None  # the audit event that recorded it, once stored
    rule: str = OVERALL
    overall_threshold: float | None = None  # the threshold the overall rule alone gives (worst-group)
    fnmr_cost: float | None = None  # FNMR at the threshold minus FNMR at overall_threshold (worst-group)
    groups: tuple[GroupCalibration, ...] = ()
    one_to_n: OneToN | None = None  # 1:N at the gallery's size when calibrated (reported, not stored)

    def audit_details(self) -> dict[str, Any]:
        """What the audit event of this calibration records (no photo, name or embedding)."""
        names = (
            "model_id",
            "target_fmr",
            "threshold",
            "fnmr_at_threshold",
            "dataset_sha256",
            "genuine_pairs",
            "impostor_pairs",
            "rule",
        )
        details = {name: getattr(self, name) for name in names}
        if self.groups:
            details["overall_threshold"] = self.overall_threshold
            details["fnmr_cost"] = self.fnmr_cost
            details["groups"] = [g.to_dict() for g in self.groups]
        if self.one_to_n is not None:
            details["one_to_n"] = self.one_to_n.to_dict()
        return details

    def groups_json(self) -> str | None:
        """The per-group figures and what the rule cost, as stored beside the threshold (None: no groups)."""
        if not self.groups:
            return None
        data = {
            "overall_threshold": self.overall_threshold,
            "fnmr_cost": self.fnmr_cost,
            "groups": [g.to_dict() for g in self.groups],
        }
        return json.dumps(data, sort_keys=True)

    @staticmethod
    def groups_from_json(text: str | None) -> dict[str, Any]:
        """The keyword fields :meth:`groups_json` stored (none for a calibration without groups)."""
        if not text:
            return {}
        data = json.loads(text)
        return {
            "overall_threshold": data["overall_threshold"],
            "fnmr_cost": data["fnmr_cost"],
            "groups": tuple(GroupCalibration.from_dict(g) for g in data["groups"]),
        }


def calibrate_from_scores(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    target_fmr: float,
    *,
    model_id: str,
    dataset: str,
    dataset_sha256: str,
    created_at: datetime,
    groups: Sequence[GroupScores] = (),
    rule: str = OVERALL,
) -> Calibration:
    """The threshold for ``target_fmr``; refuses when too few impostor pairs support the target.

    With ``rule="worst-group"`` the threshold is raised to the highest of the groups' own
    thresholds, so that each group whose within-group impostor pairs can measure the target keeps
    to it; it needs ``groups`` and at least one group that can. ``groups`` given under the overall
    rule are reported (their FMR and FNMR at the overall threshold) but change nothing.
    """
    if not 0 < target_fmr < 1:
        raise CalibrationError(f"target FMR must be between 0 and 1, not {target_fmr}")
    if rule not in RULES:
        raise CalibrationError(f"{rule!r} is not a calibration rule; use one of {', '.join(RULES)}")
    _require_support(len(impostor), target_fmr, "the dataset")
    overall = metrics.threshold_for_fmr(impostor, target_fmr)
    threshold = overall
    own = {g.group: _own_threshold(g, target_fmr) for g in groups}
    if rule == WORST_GROUP:
        if not groups:
            raise CalibrationError("the worst-group rule needs labelled groups (--groups LABEL=FILE ...)")
        measurable = [t for t in own.values() if t is not None]
        if not measurable:
            _require_support(max(len(g.impostor) for g in groups), target_fmr, "any one group")
        threshold = max([overall, *(t for t in measurable)])
    fnmr = metrics.fnmr_at(genuine, threshold)
    figures = tuple(
        GroupCalibration(
            group=g.group,
            genuine_pairs=len(g.genuine),
            impostor_pairs=len(g.impostor),
            own_threshold=own[g.group],
            fmr=metrics.fmr_at(g.impostor, threshold) if own[g.group] is not None else None,
            fnmr=metrics.fnmr_at(g.genuine, threshold) if len(g.genuine) else None,
        )
        for g in sorted(groups, key=lambda g: g.group)
    )
    return Calibration(
        threshold=threshold,
        target_fmr=target_fmr,
        fnmr_at_threshold=fnmr,
        model_id=model_id,
        dataset=dataset,
        dataset_sha256=dataset_sha256,
        genuine_pairs=len(genuine),
        impostor_pairs=len(impostor),
        created_at=created_at,
        curve=FmrCurve.from_impostor_scores(impostor),
        rule=rule,
        overall_threshold=overall if figures else None,
        fnmr_cost=fnmr - metrics.fnmr_at(genuine, overall) if figures else None,
        groups=figures,
    )


def _own_threshold(group: GroupScores, target_fmr: float) -> float | None:
    """The threshold at which this group's own impostor pairs reach the target (None: too few pairs)."""
    if not metrics.supported(len(group.impostor), target_fmr):
        return None
    return metrics.threshold_for_fmr(group.impostor, target_fmr)


def _require_support(impostor_pairs: int, target_fmr: float, what: str) -> None:
    if not metrics.supported(impostor_pairs, target_fmr):
        need = int(np.ceil(metrics.RULE_OF_THREE / target_fmr))
        raise CalibrationError(
            f"{impostor_pairs:,} impostor pairs cannot measure an FMR of {target_fmr:g} in {what}: at least "
            f"{need:,} are needed (rule of three); use a larger dataset or a higher target"
        )


@functools.cache
def reference(model_id: str) -> dict[str, Any] | None:
    """facesearch's own LFW measurement of this recipe, shipped with the package (``summary`` and
    ``fmr_curve``), or None. Read once per process: identify and verify consult it on every call."""
    try:
        text = resources.files("facesearch.scoring").joinpath(f"reference/{model_id}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    return data if isinstance(data, dict) else None


@functools.cache
def reference_curve(spec: EmbedderSpec) -> FmrCurve | None:
    """The FMR curve shipped with facesearch for this recipe (measured on LFW), if there is one."""
    data = reference(spec.model_id)
    return None if data is None else FmrCurve.from_dict(data["fmr_curve"])
