"""Frozen values passed between the pipeline's stages and returned by the engine.

Nothing here holds a library-specific type (no ``dlib.rectangle``, no ``PIL.Image``): arrays are
plain numpy, everything else is plain Python, so results can be logged, compared and serialised.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from facesearch.errors import InputError, ModelMismatchError
from facesearch.terms import SUBJECT_ID_PREFIX as SUBJECT_ID_PREFIX  # re-exported: the words live in terms.py
from facesearch.terms import LawfulBasis as LawfulBasis

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    RGBArray = npt.NDArray[np.uint8]
    Vector = npt.NDArray[np.float32]


def __getattr__(name: str) -> Any:
    """The array aliases, made on first use: importing the types (for a CLI's help) loads no numpy."""
    if name in ("RGBArray", "Vector"):
        import numpy as np
        import numpy.typing as npt

        alias = npt.NDArray[np.uint8] if name == "RGBArray" else npt.NDArray[np.float32]
        globals()[name] = alias
        return alias
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Metric(enum.StrEnum):
    """How two embeddings are compared. Scores are always *higher means more alike*."""

    EUCLIDEAN = "euclidean"  # score = 1 - Euclidean distance
    COSINE = "cosine"  # score = cosine similarity


def _plain(value: Any) -> Any:
    """Convert a result value into JSON-ready plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    np = sys.modules.get("numpy")  # a numpy scalar exists only once numpy is loaded
    if np is not None and isinstance(value, np.floating):
        return float(value)
    if np is not None and isinstance(value, np.integer):
        return int(value)
    return value


class Serialisable:
    """Mixin: ``to_dict()`` gives JSON-ready data (arrays and other ``repr=False`` fields left out)."""

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        assert isinstance(data, dict)
        return data


# --- pipeline values ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """An image decoded to RGB pixels with EXIF orientation applied. ``width`` and ``height`` are
    the photo's own (oriented) size; a photo larger than ``decode_max_side`` is reduced, and
    ``scale`` is then the pixels' size over the photo's (below 1)."""

    pixels: RGBArray = dataclasses.field(repr=False, compare=False)
    sha256: str
    width: int
    height: int
    format: str
    name: str
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Box(Serialisable):
    """A face's bounding box in pixels of the (orientation-corrected) photo."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Box:
        """This box with every coordinate multiplied by ``factor``."""
        return Box(*(round(v * factor) for v in (self.left, self.top, self.right, self.bottom)))


@dataclasses.dataclass(frozen=True)
class Detection(Serialisable):
    """A face found by a detector. ``score`` is the detector's confidence (higher is surer)."""

    box: Box
    score: float
    detector: str


@dataclasses.dataclass(frozen=True)
class AlignedFace:
    """A face chip cropped and rotated so that its landmarks sit where the embedder expects."""

    detection: Detection
    landmarks: tuple[tuple[int, int], ...]
    chip: RGBArray = dataclasses.field(repr=False, compare=False)
    # a fused recipe's chips, one per member network in its order (``chip`` is the first); else empty
    member_chips: tuple[RGBArray, ...] = dataclasses.field(default=(), repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Quality(Serialisable):
    """Measured quality of one face.

    face_px: the shorter side of the face box in image pixels (larger is better).
    sharpness: variance of the Laplacian of the aligned chip's grey levels (larger is sharper).
    detector_score: the detector's confidence (larger is surer).
    issues: reason codes for every threshold this face falls below (empty when usable).
    """

    face_px: int
    sharpness: float
    detector_score: float
    issues: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return not self.issues


@dataclasses.dataclass(frozen=True)
class Embedding:
    """A face template: the vector plus the model that made it and how it is compared."""

    vector: Vector = dataclasses.field(repr=False, compare=False)
    model_id: str
    metric: Metric

    def require_same_model(self, other: Embedding) -> None:
        if self.model_id != other.model_id:
            raise ModelMismatchError(
                f"cannot compare an embedding of model {self.model_id!r} with one of {other.model_id!r}"
            )


@dataclasses.dataclass(frozen=True)
class FaceObservation:
    """Everything the pipeline learned about one face in one image."""

    aligned: AlignedFace
    quality: Quality
    embedding: Embedding

    @property
    def box(self) -> Box:
        return self.aligned.detection.box


# --- engine results ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Threshold(Serialisable):
    """The operating threshold on the score and what it means."""

    score: float
    meaning: str
    source: str  # "published" until a calibration replaces it, then "calibrated"; a 1:N threshold set
    # for its FPIR says so: "reference FPIR" (from the shipped LFW curve) or "calibrated FPIR"
    fmr: float | None = None  # the false-match rate per comparison at this threshold, where measured
    scope: str = "1:1"  # "1:1" (verify: one comparison) or "1:N" (identify: a search of the whole gallery)
    target_fpir: float | None = None  # 1:N: the false-positive identification rate it was set for
    fpir: float | None = None  # 1:N: the expected share of searches for someone not enrolled clearing it
    gallery_faces: int | None = None  # 1:N: the gallery size it was set for


@dataclasses.dataclass(frozen=True)
class Candidate(Serialisable):
    """A subject the probe face *may* show. Not an identification: a person must confirm it."""

    rank: int
    subject: str
    subject_id: str
    score: float
    clears_threshold: bool
    face_id: int
    expected_fmr: float | None = None  # how often a different person scores this high (None: unmeasured)
    fmr_meaning: str = ""  # the same in words


@dataclasses.dataclass(frozen=True)
class ProbeFace(Serialisable):
    """One face of a probe photo, or one track of a face in a probe video, with the candidates found
    for it, best first. For a video: ``seen_at`` is the time of the frame the box and quality are of
    (``00:12:31.4``), ``time_s`` the same in seconds, and ``start_s``/``end_s`` the span of the track,
    whose best views were averaged into the template searched."""

    box: Box
    quality: Quality
    warnings: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    seen_at: str | None = None
    time_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None


CANDIDATE_NOTICE = (
    "candidates, not identifications: a score above the threshold means the faces are alike, "
    "not that they are the same person; two separate confirmations are required before any action"
)


@dataclasses.dataclass(frozen=True)
class SearchRequest(Serialisable):
    """Why a search is run, carried as one value from the front end to the audit event.

    ``purpose``: one of the purposes the gallery allows; ``case``: the case or file it serves;
    ``authorisation``: the reference (a warrant, an approval number) that some purposes require;
    ``top_k``: how many candidates to list per face (None: the gallery's ``top_k`` setting; 1:1
    comparisons ignore it). A search lacking any required field is refused before any work.
    """

    purpose: str
    case: str
    authorisation: str | None = None
    top_k: int | None = None

    @classmethod
    def of(
        cls,
        request: SearchRequest | None,
        purpose: str | None,
        case: str | None,
        authorisation: str | None,
        top_k: int | None = None,
    ) -> SearchRequest:
        """The request given whole, or one made of the loose fields (not both)."""
        if request is None:
            return cls(purpose or "", case or "", authorisation, top_k)
        if any(v is not None for v in (purpose, case, authorisation, top_k)):
            raise InputError("give the search's purpose, case, authorisation and top-k once: as a request or as fields")
        return request


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchAnswer(Serialisable):
    """What every 1:N answer states beside its candidates: the model, the threshold and its meaning,
    the purpose, case and authorisation it was bound to, the gallery's size, and its audit number."""

    model_id: str
    threshold: Threshold
    purpose: str
    case: str
    gallery_size: int
    audit_seq: int
    authorisation: str | None = None
    notice: str = CANDIDATE_NOTICE


@dataclasses.dataclass(frozen=True, kw_only=True)
class IdentifyResult(SearchAnswer):
    """The answer to a 1:N search: candidates per probe face (per track of a face, for a video),
    never a bare identity. ``probe_sha256`` is the photo's or the video's."""

    probe_sha256: str
    faces: tuple[ProbeFace, ...]
    video: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterSearchResult(SearchAnswer):
    """A cluster of a collection searched against the gallery as one fused template: candidates,
    never an identity."""

    collection_id: str
    cluster_id: int
    faces: int  # fused into the one template searched
    candidates: tuple[Candidate, ...]


@dataclasses.dataclass(frozen=True)
class VerifyResult(Serialisable):
    """The answer to a 1:1 comparison. ``score``: higher means more alike."""

    score: float
    threshold: Threshold
    same_person: bool
    model_id: str
    a_sha256: str
    b_sha256: str
    warnings: tuple[str, ...]
    audit_seq: int
    expected_fmr: float | None = None  # how often a different person scores this high (None: unmeasured)
    fmr_meaning: str = ""


class EnrollStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already-enrolled"


@dataclasses.dataclass(frozen=True)
class EnrolledImage(Serialisable):
    name: str
    sha256: str
    status: EnrollStatus
    face_id: int | None


@dataclasses.dataclass(frozen=True)
class EnrollResult(Serialisable):
    subject: str
    subject_id: str
    images: tuple[EnrolledImage, ...]

    @property
    def enrolled(self) -> int:
        return sum(1 for i in self.images if i.status is EnrollStatus.ENROLLED)


@dataclasses.dataclass(frozen=True)
class Rejection(Serialisable):
    """An image that was not enrolled, with the reason code and message."""

    name: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class EnrollProgress:
    done: int
    total: int
    current: str


@dataclasses.dataclass(frozen=True)
class EnrollDirectoryResult(Serialisable):
    subjects: int
    enrolled: int
    already_enrolled: int
    rejected: tuple[Rejection, ...]

    def rejected_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rejected:
            counts[r.reason] = counts.get(r.reason, 0) + 1
        return dict(sorted(counts.items()))


@dataclasses.dataclass(frozen=True)
class SubjectSummary(Serialisable):
    subject_id: str
    name: str
    images: int
    faces: int
    created_at: datetime
    retain_until: date | None  # the earliest retain-until of its images, if any
    face_shown: int | None = None  # the first of its faces whose crop is kept (setting keep_crops), if any


@dataclasses.dataclass(frozen=True)
class ErasureResult(Serialisable):
    """Proof of an erasure: what was removed, and the audit event that records it."""

    subject_id: str
    images_removed: int
    faces_removed: int
    index_entries_removed: int
    audit_seq: int


@dataclasses.dataclass(frozen=True)
class MissingFace(Serialisable):
    """An enrolled face a model move could not make again, and why: ``photo-not-found`` (no file
    in the photos folder has the image's recorded SHA-256), ``photo-unusable`` (the file no longer
    decodes under the current limits) or ``face-not-found`` (the new recognizer finds no face where
    the enrolled one was)."""

    subject: str
    face_id: int
    image_sha256: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ModelMoveResult(Serialisable):
    """What moving a gallery to another model did: one new gallery generation holding every moved
    subject's faces made again by ``to_model``, the old model's templates destroyed, and the
    subjects lost (only when accepted) erased, each with its own erasure proof.

    ``threshold`` is the operating threshold in force afterwards: the new model's own (its
    published point, or its newest calibration); the old model's calibrations no longer apply."""

    from_model: str
    to_model: str
    generation: int
    subjects_moved: int
    faces_reembedded: int
    subjects_lost: tuple[str, ...]
    missing: tuple[MissingFace, ...]
    erasures: tuple[ErasureResult, ...]
    threshold: Threshold
    audit_seq: int


@dataclasses.dataclass(frozen=True)
class AuditEvent(Serialisable):
    seq: int
    ts: datetime
    actor: str
    action: str
    purpose: str | None
    case: str | None
    probe_sha256: str | None
    gallery_generation: int
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclasses.dataclass(frozen=True)
class ChainReport(Serialisable):
    """Result of recomputing the audit hash chain."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class HeldImage(Serialisable):
    """One enrolled image of a subject, with its provenance (no pixels, no template)."""

    sha256: str
    filename: str
    source: str
    lawful_basis: str
    enrolled_at: datetime
    enrolled_by: str
    retain_until: date | None
    width: int
    height: int
    faces: int
    model_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Appearance(Serialisable):
    """A search in which the subject was among the candidates."""

    audit_seq: int
    ts: datetime
    actor: str
    purpose: str | None
    case: str | None
    probe_face: int  # which face of the probe photo (0-based)
    rank: int
    score: float


@dataclasses.dataclass(frozen=True)
class SubjectReport(Serialisable):
    """Everything held about one subject and every search that returned them (GDPR art. 15)."""

    subject_id: str
    name: str
    created_at: datetime
    images: tuple[HeldImage, ...]
    appearances: tuple[Appearance, ...]
    nominations: tuple[HeldNomination, ...] = ()
    legal_holds: tuple[HeldLegalHold, ...] = ()
    audit_seq: int = -1  # the event that records this report was made


@dataclasses.dataclass(frozen=True)
class HeldNomination(Serialisable):
    """A nomination of the subject as a candidate, and where its review stands."""

    nomination_id: int
    case: str
    purpose: str
    search_seq: int
    nominated_by: str
    nominated_at: datetime
    status: str


@dataclasses.dataclass(frozen=True)
class HeldLegalHold(Serialisable):
    """A legal hold on the subject's data, active or released."""

    reference: str
    placed_at: datetime
    placed_by: str
    released_at: datetime | None
