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


@dataclasses.dataclass(frozen=True)
class Calibration(Serialisable):
    """A gallery's operating threshold, set from measured impostor scores."""

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
        )
        return {name: getattr(self, name) for name in names}


def calibrate_from_scores(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    target_fmr: float,
    *,
    model_id: str,
    dataset: str,
    dataset_sha256: str,
    created_at: datetime,
) -> Calibration:
    """The threshold for ``target_fmr``; refuses when too few impostor pairs support the target."""
    if not 0 < target_fmr < 1:
        raise CalibrationError(f"target FMR must be between 0 and 1, not {target_fmr}")
    if not metrics.supported(len(impostor), target_fmr):
        need = int(np.ceil(metrics.RULE_OF_THREE / target_fmr))
        raise CalibrationError(
            f"{len(impostor):,} impostor pairs cannot measure an FMR of {target_fmr:g}: at least {need:,} are "
            "needed (rule of three); use a larger dataset or a higher target"
        )
    threshold = metrics.threshold_for_fmr(impostor, target_fmr)
    return Calibration(
        threshold=threshold,
        target_fmr=target_fmr,
        fnmr_at_threshold=metrics.fnmr_at(genuine, threshold),
        model_id=model_id,
        dataset=dataset,
        dataset_sha256=dataset_sha256,
        genuine_pairs=len(genuine),
        impostor_pairs=len(impostor),
        created_at=created_at,
        curve=FmrCurve.from_impostor_scores(impostor),
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
