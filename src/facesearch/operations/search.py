"""Search: 1:N identify and 1:1 verify, bound to an allowed purpose, within quota, flagged when unusual, audited.

:class:`SearchService` runs the searches of the acting user. Each takes one
:class:`~facesearch.types.SearchRequest` (purpose, case, authorisation, top-k) and carries it to
the audit event. The request is checked before any work (role, purpose binding, quota), the photo
analysed outside any lock (a photo refused as bad input is audited as ``photo.refused``), and the
ranking and its audit event done in one locked transaction, where the quota is checked again so
concurrent searches cannot slip past it. The engine's public
methods are the entry points and carry the documentation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy.orm import Session

from facesearch.clustering import rows
from facesearch.errors import InputError, NoFaceError
from facesearch.governance import membership, optout, probes, purposes, usage
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.index.base import VectorIndex, unit_rows
from facesearch.operations.ranking import rank_subjects
from facesearch.pipeline.decode import PhotoInput, decode
from facesearch.pipeline.faces import main_face
from facesearch.pipeline.prepare import chip_jpeg, describe_issues
from facesearch.pipeline.tracks import video_faces
from facesearch.pipeline.video import VideoFile, as_video, checked_size, file_sha256, looks_like_video, timecode
from facesearch.scoring.scores import ScoreMeaning, compare, identify_meaning
from facesearch.types import (
    Candidate,
    ClusterSearchResult,
    Embedding,
    FaceObservation,
    IdentifyResult,
    Metric,
    ProbeFace,
    SearchRequest,
    Threshold,
    VerifyResult,
)

if TYPE_CHECKING:
    from facesearch.governance.context import Context
    from facesearch.types import RGBArray


class SearchService:
    """1:N and 1:1 searches for the acting user (operators), each bound to one search request."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def identify(self, probe: PhotoInput | VideoFile, request: SearchRequest) -> IdentifyResult:
        """See :meth:`facesearch.engine.Engine.identify`."""
        with video_of(probe) as video:
            if video is not None:
                return self._identify_video(video, request)
        assert not isinstance(probe, VideoFile)
        context = self._context
        with context.ruled():
            bound = self.allowed(Permission.IDENTIFY, request)
            with context.photo_checked("identify", probe, purpose=bound.purpose, case=bound.case):
                image = decode(probe, context.settings)
                observations = context.pipeline.analyze(image)
                if not observations:
                    raise NoFaceError(f"{image.name}: no face found in the probe photo")
            crops = [chip_jpeg(o) for o in observations]  # kept for the verifiers, sealed, with the case
            with context.writing() as session:
                found = self._ranked(session, bound, image.sha256, [o.embedding for o in observations], {})
                probes.keep(session, context.store, bound.case, found.audit_seq, crops)
        faces = tuple(
            ProbeFace(
                box=obs.box,
                quality=obs.quality,
                warnings=describe_issues(obs.quality, context.settings),
                candidates=candidates,
            )
            for obs, candidates in zip(observations, found.candidates, strict=True)
        )
        return IdentifyResult(probe_sha256=image.sha256, faces=faces, **found.answer(bound, context.spec.model_id))

    def _identify_video(self, video: VideoFile, request: SearchRequest) -> IdentifyResult:
        """Every track of a face in the video searched as one probe face (its best views averaged),
        under the same rules as a photo; the video's SHA-256 stands for the probe in the audit."""
        context = self._context
        with context.ruled():
            bound = self.allowed(Permission.IDENTIFY, request)
            with context.photo_checked("identify", video, purpose=bound.purpose, case=bound.case):
                checked_size(video, context.settings)
                digest = file_sha256(video.path)
                tracks = sorted(video_faces(video, digest, context.pipeline), key=lambda t: t.track)
                if not tracks:
                    raise NoFaceError(f"{video.name}: no usable face found in the probe video")
            crops = [jpeg_of(t.chip) for t in tracks]
            seen = [{"track": t.track, "at": t.time_s, "from": t.start_s, "to": t.end_s} for t in tracks]
            with context.writing() as session:
                found = self._ranked(session, bound, digest, [t.embedding for t in tracks], {"video": seen})
                probes.keep(session, context.store, bound.case, found.audit_seq, crops)
        faces = tuple(
            ProbeFace(
                box=t.box,
                quality=t.quality,
                warnings=(),
                candidates=candidates,
                seen_at=timecode(t.time_s),
                time_s=t.time_s,
                start_s=t.start_s,
                end_s=t.end_s,
            )
            for t, candidates in zip(tracks, found.candidates, strict=True)
        )
        return IdentifyResult(
            probe_sha256=digest, faces=faces, video=True, **found.answer(bound, context.spec.model_id)
        )

    def identify_cluster(self, cluster_id: int, request: SearchRequest) -> ClusterSearchResult:
        """See :meth:`facesearch.engine.Engine.identify_cluster`."""
        context = self._context
        with context.ruled():
            bound = self.allowed(Permission.IDENTIFY, request)
            with context.writing() as session:
                return self.cluster_searched(session, bound, cluster_id)

    def cluster_searched(
        self, session: Session, bound: SearchRequest, cluster_id: int, ranking: Ranking | None = None
    ) -> ClusterSearchResult:
        """Search one cluster, in the caller's locked transaction, for a request :meth:`allowed`
        bound: only the members of the collection's case search it; its faces are fused into one
        template, ranked (against ``ranking``, made once for many clusters, or made here), audited as
        an identify search, and the member face nearest the template kept for the verifiers."""
        context = self._context
        collection = rows.of_cluster(cluster_id)(session)
        membership.require_member(session, context.actor, collection.case_id, "search its collections")
        members = rows.cluster_members(session, context.store, cluster_id, context.spec.model_id)
        vector = fuse(members.vectors, context.spec.metric)
        fused = Embedding(vector, context.spec.model_id, context.spec.metric)
        cluster = {"collection_id": members.collection_id, "cluster_id": cluster_id, "faces": len(members.face_ids)}
        # The members' digest stands for the probe photo: the same cluster searched again is flagged.
        found = self._ranked(session, bound, members.digest, [fused], {"cluster": cluster}, ranking)
        # The verifiers see the member face nearest the fused template as the probe face.
        nearest = members.face_ids[representative(members.vectors, context.spec.metric)]
        crop = rows.member_crop(session, context.store, nearest)
        probes.keep(session, context.store, bound.case, found.audit_seq, [crop] if crop else [])
        return ClusterSearchResult(
            collection_id=members.collection_id,
            cluster_id=cluster_id,
            faces=len(members.face_ids),
            candidates=found.candidates[0],
            **found.answer(bound, context.spec.model_id),
        )

    def verify(self, photo_a: PhotoInput, photo_b: PhotoInput, request: SearchRequest) -> VerifyResult:
        """See :meth:`facesearch.engine.Engine.verify`."""
        context = self._context
        with context.ruled():
            bound = self.allowed(Permission.VERIFY, request)
            face_a, warn_a, sha_a = self._main_face(photo_a, "first", bound)
            face_b, warn_b, sha_b = self._main_face(photo_b, "second", bound)
            score = compare(face_a.embedding, face_b.embedding)
            with context.writing() as session:
                meaning = context.score_meaning(session)
                threshold = meaning.threshold
                same = score >= threshold.score
                fmr, fmr_meaning = meaning.expected_fmr(score)
                seq = self._searched(
                    session,
                    AuditAction.VERIFY,
                    bound,
                    sha_a,
                    {
                        "authorisation": bound.authorisation,
                        "other_sha256": sha_b,
                        "score": round(score, 6),
                        "threshold": threshold.score,
                        "threshold_source": threshold.source,
                        "same_person": same,
                        "model_id": context.spec.model_id,
                    },
                )
        return VerifyResult(
            score=round(score, 6),
            threshold=threshold,
            same_person=same,
            model_id=context.spec.model_id,
            a_sha256=sha_a,
            b_sha256=sha_b,
            warnings=warn_a + warn_b,
            audit_seq=seq,
            expected_fmr=fmr,
            fmr_meaning=fmr_meaning,
        )

    def allowed(self, permission: Permission, request: SearchRequest) -> SearchRequest:
        """The request as bound to the gallery's purposes, with top-k resolved, if the actor may
        search, for a purpose the gallery allows, with the fields it requires, within quota."""
        context = self._context
        with context.guarded(permission) as session:
            bound = purposes.bind(session, request)
            membership.check_entry(session, context.actor, bound.case, "search under it")
            usage.check_quota(session, context.actor, context.settings, datetime.now(UTC))
        top_k = request.top_k if request.top_k is not None else context.settings.top_k
        if permission is Permission.IDENTIFY and top_k < 1:
            raise InputError(f"top-k must be at least 1, not {top_k}")
        return dataclasses.replace(bound, top_k=top_k)

    def ranking(self, session: Session) -> Ranking:
        """What ranks a probe template against the gallery now: the index brought up to date, the
        opt-out screen, and the 1:N threshold with its meaning. Made once per transaction."""
        context = self._context
        index = context.keeper.synced(session, context.store)
        one_to_one = context.score_meaning(session)
        # opt-outs are screened face by face, at the (lower) 1:1 threshold: the safer side for them
        screen = optout.Screen.load(session, context.store, context.spec, one_to_one.threshold.score)
        meaning = identify_meaning(one_to_one, len(index), context.settings.target_fpir)
        return Ranking(index, screen, meaning)

    def _ranked(
        self,
        session: Session,
        request: SearchRequest,
        probe_sha256: str,
        templates: Sequence[Embedding],
        details: dict[str, Any],
        ranking: Ranking | None = None,
    ) -> _Ranked:
        """Rank the gallery's subjects for each probe template (opt-outs withheld) and record the
        identify search with ``details`` added, in the caller's locked transaction."""
        context = self._context
        k = request.top_k or context.settings.top_k
        ranks = ranking or self.ranking(session)
        index, meaning = ranks.index, ranks.meaning
        # a screen of its own per search (the templates loaded once): it counts what this search withheld
        screen = optout.Screen(ranks.screen.templates, context.spec, ranks.screen.threshold)
        threshold = meaning.threshold
        lookup = screen.lookup(session, context.store)
        ranked = [rank_subjects(index, template, k, meaning, lookup) for template in templates]
        seq = self._searched(
            session,
            AuditAction.IDENTIFY,
            request,
            probe_sha256,
            {
                "authorisation": request.authorisation,
                **details,
                "top_k": k,
                "threshold": threshold.score,
                "threshold_source": threshold.source,
                "target_fpir": threshold.target_fpir,
                "expected_fpir": threshold.fpir,
                "model_id": context.spec.model_id,
                "gallery_faces": len(index),
                "suppressed": screen.suppressed,
                "faces": [
                    [{"rank": c.rank, "subject_id": c.subject_id, "score": c.score} for c in found] for found in ranked
                ],
            },
        )
        return _Ranked(ranked, threshold, len(index), seq)

    def _searched(
        self,
        session: Session,
        action: AuditAction,
        request: SearchRequest,
        probe_sha256: str,
        details: dict[str, Any],
    ) -> int:
        """Record a search, in the transaction that ran it: the actor's quota is checked again
        (under the lock, so concurrent searches cannot slip past it), and each anomaly the search
        shows (a burst, a probe searched again and again, a search out of hours) is flagged for the
        auditors in an event of its own. The case is opened for the actor if nobody has named it
        before; otherwise they must be one of its members (checked again here, under the lock).
        Returns the search's audit number."""
        context = self._context
        now = datetime.now(UTC)
        usage.check_quota(session, context.actor, context.settings, now)
        membership.enter(session, context, request.case, "search under it")
        flags = usage.anomaly_flags(session, context.actor, probe_sha256, context.settings, now)
        seq = context.record(
            session, action, purpose=request.purpose, case=request.case, probe_sha256=probe_sha256, details=details
        )
        for flag in flags:
            context.record(
                session,
                AuditAction.FLAGGED,
                case=request.case,
                details={"flag": flag.name, "detail": flag.detail, "search_seq": seq},
            )
        return seq

    def _main_face(
        self, photo: PhotoInput, which: str, request: SearchRequest
    ) -> tuple[FaceObservation, tuple[str, ...], str]:
        context = self._context
        settings = context.settings
        with context.photo_checked("verify", photo, purpose=request.purpose, case=request.case, which=which):
            image = decode(photo, settings)
            observations = context.pipeline.analyze(image)
            if not observations:
                raise NoFaceError(f"{image.name}: no face found in the {which} photo")
        main = main_face(observations, image.width, image.height)
        assert main is not None
        warnings = tuple(f"{which} photo: {w}" for w in describe_issues(main.quality, settings))
        usable = sum(1 for o in observations if o.quality.usable)
        if usable > 1:
            warnings += (f"{which} photo: {usable} usable faces found; compared the most central large one",)
        return main, warnings, image.sha256


@contextlib.contextmanager
def video_of(probe: PhotoInput | VideoFile) -> Iterator[VideoFile | None]:
    """The probe as a video file, if it is a video: a VideoFile, a path to one, or a video's bytes
    (written to a temporary file for the decoder to stream, removed after)."""
    video = as_video(probe)
    if (
        video is not None
        or not isinstance(probe, bytes)
        or not looks_like_video(getattr(probe, "name", ""), probe[:12])
    ):
        yield video
        return
    with tempfile.TemporaryDirectory(prefix="facesearch-probe-") as folder:
        path = Path(folder) / "probe"
        path.write_bytes(probe)
        name = getattr(probe, "name", "") or f"<{len(probe)} bytes>"
        yield VideoFile(path, name, complete=getattr(probe, "complete", True))


def jpeg_of(chip: RGBArray) -> bytes:
    """A face chip as the JPEG crop the verifiers see."""
    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class Ranking:
    """What ranks probe templates against the gallery within one transaction (see SearchService.ranking)."""

    index: VectorIndex
    screen: optout.Screen
    meaning: ScoreMeaning


@dataclasses.dataclass(frozen=True)
class _Ranked:
    candidates: list[tuple[Candidate, ...]]  # per probe template
    threshold: Threshold
    gallery_size: int
    audit_seq: int

    def answer(self, request: SearchRequest, model_id: str) -> dict[str, Any]:
        """The fields every 1:N answer states (see :class:`~facesearch.types.SearchAnswer`)."""
        return {
            "model_id": model_id,
            "threshold": self.threshold,
            "purpose": request.purpose,
            "case": request.case,
            "gallery_size": self.gallery_size,
            "audit_seq": self.audit_seq,
            "authorisation": request.authorisation,
        }


def representative(vectors: npt.NDArray[np.float32], metric: Metric) -> int:
    """The index of the face nearest the template :func:`fuse` makes of them all."""
    faces = np.asarray(vectors, dtype=np.float32)
    if metric is Metric.COSINE:
        faces = unit_rows(faces)
    return int(np.argmin(np.linalg.norm(faces - faces.mean(axis=0), axis=1)))


def fuse(vectors: npt.NDArray[np.float32], metric: Metric) -> npt.NDArray[np.float32]:
    """One template for several faces of a person: the mean of their unit vectors (cosine), or of
    the vectors themselves (Euclidean). Averaging views of a face is what the mirror recipe does too."""
    rows = np.asarray(vectors, dtype=np.float32)
    if metric is Metric.COSINE:
        rows = unit_rows(rows)
    fused: npt.NDArray[np.float32] = rows.mean(axis=0).astype(np.float32)
    return fused
