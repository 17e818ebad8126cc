"""Search: 1:N identify and 1:1 verify, bound to an allowed purpose, within quota, flagged when unusual, audited.

The functions take the :class:`~facesearch.engine.Engine` they act for; the engine's public methods
are the entry points and carry the documentation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from facesearch.clustering import collections
from facesearch.errors import (
    InputError,
    NoFaceError,
)
from facesearch.governance import optout, policy, purposes, usage
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.index.base import unit_rows
from facesearch.pipeline.decode import PhotoInput, decode
from facesearch.pipeline.faces import main_face
from facesearch.pipeline.prepare import describe_issues
from facesearch.scoring.scores import compare, rank_subjects
from facesearch.types import (
    Candidate,
    ClusterSearchResult,
    Embedding,
    FaceObservation,
    IdentifyResult,
    Metric,
    ProbeFace,
    Threshold,
    VerifyResult,
)

if TYPE_CHECKING:
    from facesearch.engine import Engine


def identify(
    engine: Engine,
    probe: PhotoInput,
    *,
    purpose: str,
    case: str,
    authorisation: str | None = None,
    top_k: int | None = None,
) -> IdentifyResult:
    """See :meth:`facesearch.engine.Engine.identify`."""
    with engine.ruled():
        stated, k = _identify_allowed(engine, purpose, case, authorisation, top_k)
        image = decode(probe, engine.settings)
        observations = engine.pipeline.analyze(image)
        if not observations:
            raise NoFaceError(f"{image.name}: no face found in the probe photo")
        with engine.writing() as session:
            found = _ranked(engine, session, stated, k, image.sha256, [o.embedding for o in observations], {})
    faces = tuple(
        ProbeFace(
            box=obs.box,
            quality=obs.quality,
            warnings=describe_issues(obs.quality, engine.settings),
            candidates=candidates,
        )
        for obs, candidates in zip(observations, found.candidates, strict=True)
    )
    return IdentifyResult(
        probe_sha256=image.sha256,
        model_id=engine.spec.model_id,
        threshold=found.threshold,
        purpose=stated.purpose,
        case=stated.case,
        gallery_size=found.gallery_size,
        faces=faces,
        audit_seq=found.audit_seq,
        authorisation=stated.authorisation,
    )


def identify_cluster(
    engine: Engine,
    cluster_id: int,
    *,
    purpose: str,
    case: str,
    authorisation: str | None = None,
    top_k: int | None = None,
) -> ClusterSearchResult:
    """See :meth:`facesearch.engine.Engine.identify_cluster`."""
    with engine.ruled():
        stated, k = _identify_allowed(engine, purpose, case, authorisation, top_k)
        with engine.writing() as session:
            members = collections.cluster_members(session, engine.store, cluster_id)
            fused = Embedding(fuse(members.vectors, engine.spec.metric), engine.spec.model_id, engine.spec.metric)
            cluster = {"collection_id": members.collection_id, "cluster_id": cluster_id, "faces": len(members.face_ids)}
            # The members' digest stands for the probe photo: the same cluster searched again is flagged.
            found = _ranked(engine, session, stated, k, members.digest, [fused], {"cluster": cluster})
    return ClusterSearchResult(
        collection_id=members.collection_id,
        cluster_id=cluster_id,
        faces=len(members.face_ids),
        model_id=engine.spec.model_id,
        threshold=found.threshold,
        purpose=stated.purpose,
        case=stated.case,
        gallery_size=found.gallery_size,
        candidates=found.candidates[0],
        audit_seq=found.audit_seq,
        authorisation=stated.authorisation,
    )


def _identify_allowed(
    engine: Engine, purpose: str, case: str, authorisation: str | None, top_k: int | None
) -> tuple[policy.SearchPurpose, int]:
    """The search's bound purpose and how many candidates it asks for, or a refusal."""
    stated = _search_allowed(engine, Permission.IDENTIFY, purpose, case, authorisation)
    k = top_k if top_k is not None else engine.settings.top_k
    if k < 1:
        raise InputError(f"top-k must be at least 1, not {k}")
    return stated, k


@dataclasses.dataclass(frozen=True)
class _Ranked:
    candidates: list[tuple[Candidate, ...]]  # per probe template
    threshold: Threshold
    gallery_size: int
    audit_seq: int


def _ranked(
    engine: Engine,
    session: Session,
    stated: policy.SearchPurpose,
    k: int,
    probe_sha256: str,
    templates: Sequence[Embedding],
    details: dict[str, Any],
) -> _Ranked:
    """Rank the gallery's subjects for each probe template (opt-outs withheld) and record the
    identify search with ``details`` added, in the caller's locked transaction."""
    index = engine.keeper.synced(session, engine.store)
    meaning = engine.score_meaning(session)
    threshold = meaning.threshold
    screen = optout.Screen.load(session, engine.store, engine.spec, threshold.score)
    lookup = screen.lookup(session, engine.store)
    ranked = [rank_subjects(index, template, k, meaning, lookup) for template in templates]
    seq = _searched(
        engine,
        session,
        AuditAction.IDENTIFY,
        stated,
        probe_sha256,
        {
            "authorisation": stated.authorisation,
            **details,
            "top_k": k,
            "threshold": threshold.score,
            "threshold_source": threshold.source,
            "model_id": engine.spec.model_id,
            "gallery_faces": len(index),
            "suppressed": screen.suppressed,
            "faces": [
                [{"rank": c.rank, "subject_id": c.subject_id, "score": c.score} for c in found] for found in ranked
            ],
        },
    )
    return _Ranked(ranked, threshold, len(index), seq)


def fuse(vectors: npt.NDArray[np.float32], metric: Metric) -> npt.NDArray[np.float32]:
    """One template for several faces of a person: the mean of their unit vectors (cosine), or of
    the vectors themselves (Euclidean). Averaging views of a face is what the mirror recipe does too."""
    rows = np.asarray(vectors, dtype=np.float32)
    if metric is Metric.COSINE:
        rows = unit_rows(rows)
    fused: npt.NDArray[np.float32] = rows.mean(axis=0).astype(np.float32)
    return fused


def verify(
    engine: Engine,
    photo_a: PhotoInput,
    photo_b: PhotoInput,
    *,
    purpose: str,
    case: str,
    authorisation: str | None = None,
) -> VerifyResult:
    """See :meth:`facesearch.engine.Engine.verify`."""
    with engine.ruled():
        stated = _search_allowed(engine, Permission.VERIFY, purpose, case, authorisation)
        face_a, warn_a, sha_a = _main_face(engine, photo_a, "first")
        face_b, warn_b, sha_b = _main_face(engine, photo_b, "second")
        score = compare(face_a.embedding, face_b.embedding)
        with engine.writing() as session:
            meaning = engine.score_meaning(session)
            threshold = meaning.threshold
            same = score >= threshold.score
            fmr, fmr_meaning = meaning.expected_fmr(score)
            seq = _searched(
                engine,
                session,
                AuditAction.VERIFY,
                stated,
                sha_a,
                {
                    "authorisation": stated.authorisation,
                    "other_sha256": sha_b,
                    "score": round(score, 6),
                    "threshold": threshold.score,
                    "threshold_source": threshold.source,
                    "same_person": same,
                    "model_id": engine.spec.model_id,
                },
            )
    return VerifyResult(
        score=round(score, 6),
        threshold=threshold,
        same_person=same,
        model_id=engine.spec.model_id,
        a_sha256=sha_a,
        b_sha256=sha_b,
        warnings=warn_a + warn_b,
        audit_seq=seq,
        expected_fmr=fmr,
        fmr_meaning=fmr_meaning,
    )


def _search_allowed(
    engine: Engine, permission: Permission, purpose: str | None, case: str | None, authorisation: str | None
) -> policy.SearchPurpose:
    """The actor may search, for a purpose the gallery allows, with the fields it requires."""
    with engine.guarded(permission) as session:
        stated = purposes.bind(session, purpose, case, authorisation)
        usage.check_quota(session, engine.actor, engine.settings, datetime.now(UTC))
        return stated


def _searched(
    engine: Engine,
    session: Session,
    action: AuditAction,
    stated: policy.SearchPurpose,
    probe_sha256: str,
    details: dict[str, Any],
) -> int:
    """Record a search, in the transaction that ran it: the actor's quota is checked again
    (under the lock, so concurrent searches cannot slip past it), and each anomaly the search
    shows (a burst, a probe searched again and again, a search out of hours) is flagged for the
    auditors in an event of its own. Returns the search's audit number."""
    now = datetime.now(UTC)
    usage.check_quota(session, engine.actor, engine.settings, now)
    flags = usage.anomaly_flags(session, engine.actor, probe_sha256, engine.settings, now)
    seq = engine.record(
        session, action, purpose=stated.purpose, case=stated.case, probe_sha256=probe_sha256, details=details
    )
    for flag in flags:
        engine.record(
            session,
            AuditAction.FLAGGED,
            case=stated.case,
            details={"flag": flag.name, "detail": flag.detail, "search_seq": seq},
        )
    return seq


def _main_face(engine: Engine, photo: PhotoInput, which: str) -> tuple[FaceObservation, tuple[str, ...], str]:
    image = decode(photo, engine.settings)
    observations = engine.pipeline.analyze(image)
    if not observations:
        raise NoFaceError(f"{image.name}: no face found in the {which} photo")
    main = main_face(observations, image.width, image.height)
    assert main is not None
    warnings = tuple(f"{which} photo: {w}" for w in describe_issues(main.quality, engine.settings))
    usable = sum(1 for o in observations if o.quality.usable)
    if usable > 1:
        warnings += (f"{which} photo: {usable} usable faces found; compared the most central large one",)
    return main, warnings, image.sha256
