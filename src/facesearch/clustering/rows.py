"""A collection's rows: finding a collection, its clusters and faces, their summaries, the
people's must-link and cannot-link decisions, and a cluster's members unsealed for a search."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.errors import AmbiguousCollectionError, InputError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import (
    CaseMemberRow,
    ClusterLinkRow,
    ClusterRow,
    CollectionCopyRow,
    CollectionFaceRow,
    CollectionRow,
)
from facesearch.gallery.seals import collection_crop_context, collection_embedding_context
from facesearch.pipeline.video import timecode
from facesearch.types import Serialisable

MUST, CANNOT = "must", "cannot"  # the kinds of a people's decision about two faces


@dataclasses.dataclass(frozen=True)
class ClusterSummary(Serialisable):
    """A cluster: its faces and the photos and videos they come from, and the name people gave it.
    ``seen`` cites each face (in ``face_ids``' order): its file, and for a video the time of its frame;
    ``copies`` names, for each face in the same order, the other files that are copies of its photo
    (byte-identical, or re-saved, resized or bordered: analysed once, through the face's file)."""

    cluster_id: int
    label: str | None
    size: int
    face_ids: tuple[int, ...]
    photos: tuple[str, ...]
    seen: tuple[str, ...] = ()
    copies: tuple[tuple[str, ...], ...] = ()

    def copies_of(self, face_id: int) -> tuple[str, ...]:
        """The files that are copies of the photo face FACE_ID comes from (none if it is not in the cluster)."""
        return dict(zip(self.face_ids, self.copies, strict=False)).get(face_id, ())

    def copied(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each file of the cluster that has copies, with them, in the order of its faces."""
        found = dict(zip(self.seen or self.photos, self.copies, strict=False))
        return tuple((where, also) for where, also in found.items() if also)


@dataclasses.dataclass(frozen=True)
class CollectionSummary(Serialisable):
    """A collection: what it serves (purpose, case), who made it, until when it is kept, and how
    many faces and clusters it holds."""

    collection_id: str
    name: str
    purpose: str
    case: str
    created_at: datetime
    created_by: str
    retain_until: date
    faces: int
    clusters: int


def collection_summaries(
    session: Session, *, member: str | None, limit: int, offset: int = 0
) -> list[CollectionSummary]:
    """Collections newest first, LIMIT of them from OFFSET: those of the cases MEMBER works, or
    every collection when MEMBER is None (admins' and auditors' oversight)."""
    query = select(CollectionRow).order_by(CollectionRow.created_at.desc(), CollectionRow.id)
    if member is not None:
        query = query.where(
            CollectionRow.case_id.in_(select(CaseMemberRow.case_id).where(CaseMemberRow.user_name == member))
        )
    return summarised(session, list(session.scalars(query.limit(limit).offset(offset))))


def summarised(session: Session, found: Sequence[CollectionRow]) -> list[CollectionSummary]:
    """The collections FOUND with their counts of faces and clusters."""
    counts: dict[str, tuple[int, int]] = {}
    if found:
        rows = session.execute(
            select(
                CollectionFaceRow.collection_id,
                func.count(CollectionFaceRow.id),
                func.count(func.distinct(CollectionFaceRow.cluster_id)),
            )
            .where(CollectionFaceRow.collection_id.in_([r.id for r in found]))
            .group_by(CollectionFaceRow.collection_id)
        )
        counts = {cid: (int(faces), int(clusters)) for cid, faces, clusters in rows}
    return [
        CollectionSummary(
            r.id, r.name, r.purpose, r.case_id, r.created_at, r.created_by, r.retain_until, *counts.get(r.id, (0, 0))
        )
        for r in found
    ]


@dataclasses.dataclass(frozen=True)
class ClusterMembers:
    collection_id: str
    face_ids: tuple[int, ...]
    vectors: np.ndarray  # (faces, dimension) float32, unsealed
    digest: str  # sha256 over the member faces' photos and positions: stands for the probe in the audit


def cluster_members(session: Session, store: GalleryStore, cluster_id: int, model_id: str) -> ClusterMembers:
    """A cluster's faces and their embeddings, for searching the cluster against a gallery of
    ``model_id``'s templates; ModelMismatchError if they were made by another model (a collection
    clustered before the gallery moved to another model)."""
    row = of_cluster(cluster_id)(session)
    faces = cluster_faces(session, row.id, cluster_id)
    others = sorted({f.model_id for f in faces} - {model_id})
    if others:
        raise ModelMismatchError(
            f"cluster {cluster_id}'s faces are templates of model {', '.join(others)}, the gallery's are of "
            f"{model_id} (it moved to that model since): cluster the collection's photos again to search it"
        )
    vectors = sealed_vectors(store, faces)
    digest = hashlib.sha256("".join(f"{f.photo_sha256}:{f.face_index};" for f in faces).encode()).hexdigest()
    return ClusterMembers(row.id, tuple(f.id for f in faces), vectors, digest)


def member_crop(session: Session, store: GalleryStore, face_id: int) -> bytes | None:
    """The JPEG crop of one face of a collection, unsealed (a cluster search shows it as the probe face)."""
    face = session.get(CollectionFaceRow, face_id)
    if face is None or face.crop_jpeg is None:
        return None
    return store.unseal(
        face.crop_jpeg, context=collection_crop_context(face.collection_id, face.photo_sha256, face.face_index)
    )


def sealed_vectors(store: GalleryStore, faces: Sequence[CollectionFaceRow]) -> np.ndarray:
    """The faces' embeddings, unsealed, as a (faces, dimension) float32 matrix."""
    return np.stack(
        [
            np.frombuffer(
                store.unseal(
                    f.embedding, context=collection_embedding_context(f.collection_id, f.photo_sha256, f.face_index)
                ),
                dtype="<f4",
            )
            for f in faces
        ]
    ).astype(np.float32)


def require_collection(session: Session, collection: str) -> CollectionRow:
    """The collection COLLECTION names, by its name or its id. A reference that is one collection's
    name and another's id is refused as ambiguous rather than resolved either way: a purge or a
    search must reach the collection meant, or none."""
    key = collection.strip()
    rows = session.scalars(select(CollectionRow).where((CollectionRow.name == key) | (CollectionRow.id == key))).all()
    if not rows:
        raise InputError(f"there is no collection {key!r}")
    if len(rows) > 1:
        ids = " and ".join(sorted(r.id for r in rows))
        raise AmbiguousCollectionError(
            f"{key!r} could mean two collections, {ids} (one is named so, the other has it as its id): "
            "refer to the one you mean by the id that is not the other's name"
        )
    return rows[0]


def of_cluster(cluster_id: int) -> Callable[[Session], CollectionRow]:
    """The collection a cluster belongs to (cluster and face numbers are unique across collections)."""
    return _owner(ClusterRow, cluster_id, "cluster")


def of_face(face_id: int) -> Callable[[Session], CollectionRow]:
    return _owner(CollectionFaceRow, face_id, "face")


def _owner(
    model: type[ClusterRow] | type[CollectionFaceRow], key: int, what: str
) -> Callable[[Session], CollectionRow]:
    def locate(session: Session) -> CollectionRow:
        owner = session.scalar(select(model.collection_id).where(model.id == key))
        row = session.get(CollectionRow, owner) if owner else None
        if row is None:
            raise InputError(f"there is no {what} {key}")
        return row

    return locate


def collection_faces(session: Session, collection_id: str) -> list[CollectionFaceRow]:
    return list(
        session.scalars(
            select(CollectionFaceRow)
            .where(CollectionFaceRow.collection_id == collection_id)
            .order_by(CollectionFaceRow.id)
        )
    )


def collection_face(session: Session, collection_id: str, face_id: int) -> CollectionFaceRow:
    face = session.get(CollectionFaceRow, face_id)
    if face is None or face.collection_id != collection_id:
        raise InputError(f"the collection has no face {face_id}")
    return face


def cluster_faces(session: Session, collection_id: str, cluster_id: int) -> list[CollectionFaceRow]:
    faces = list(
        session.scalars(
            select(CollectionFaceRow)
            .where(CollectionFaceRow.collection_id == collection_id, CollectionFaceRow.cluster_id == cluster_id)
            .order_by(CollectionFaceRow.id)
        )
    )
    if not faces:
        raise InputError(f"the collection has no cluster {cluster_id}")
    return faces


def add_link(session: Session, collection_id: str, a: int, b: int, kind: str, actor: str) -> None:
    session.add(
        ClusterLinkRow(
            collection_id=collection_id, face_a=a, face_b=b, kind=kind, created_at=datetime.now(UTC), created_by=actor
        )
    )


def cluster_summaries(faces: Sequence[CollectionFaceRow], session: Session | None = None) -> list[ClusterSummary]:
    groups: dict[int, list[CollectionFaceRow]] = {}
    for f in faces:
        if f.cluster_id is not None:
            groups.setdefault(f.cluster_id, []).append(f)
    labels: dict[int, str | None] = {}
    copies: dict[str, tuple[str, ...]] = {}
    if session is not None and groups:
        found = session.execute(select(ClusterRow.id, ClusterRow.label).where(ClusterRow.id.in_(groups)))
        labels = {int(cid): label for cid, label in found}
        copies = copies_of(session, faces[0].collection_id)
    out = [
        ClusterSummary(
            cluster_id=cid,
            label=labels.get(cid),
            size=len(members),
            face_ids=tuple(m.id for m in members),
            photos=tuple(sorted({m.filename for m in members})),
            seen=tuple(citation(m) for m in members),
            copies=tuple(copies.get(m.photo_sha256, ()) for m in members),
        )
        for cid, members in groups.items()
    ]
    return sorted(out, key=lambda s: (-s.size, s.cluster_id))


@dataclasses.dataclass(frozen=True)
class HeldFiles:
    """What a collection already holds of a folder: each photo's sha256 mapped to that of the photo
    whose faces stand for it (itself, or the representative of a copy), every (file, sha256), and
    the (file, sha256) of the photos whose faces are stored."""

    photos: dict[str, str]
    files: set[tuple[str, str]]
    faces: set[tuple[str, str]]


def held_files(session: Session, collection_id: str) -> HeldFiles:
    faces = session.execute(
        select(CollectionFaceRow.filename, CollectionFaceRow.photo_sha256).where(
            CollectionFaceRow.collection_id == collection_id
        )
    ).all()
    copies = session.execute(
        select(CollectionCopyRow.filename, CollectionCopyRow.copy_sha256, CollectionCopyRow.photo_sha256).where(
            CollectionCopyRow.collection_id == collection_id
        )
    ).all()
    photos = {sha: sha for _, sha in faces} | {sha: photo for _, sha, photo in copies}
    analysed = {(name, sha) for name, sha in faces}
    return HeldFiles(photos, analysed | {(name, sha) for name, sha, _ in copies}, analysed)


def copies_of(session: Session, collection_id: str) -> dict[str, tuple[str, ...]]:
    """The files of the collection that are copies of another of its photos, by that photo's sha256."""
    found: dict[str, list[str]] = {}
    rows = session.execute(
        select(CollectionCopyRow.photo_sha256, CollectionCopyRow.filename)
        .where(CollectionCopyRow.collection_id == collection_id)
        .order_by(CollectionCopyRow.filename)
    )
    for photo, filename in rows:
        found.setdefault(photo, []).append(filename)
    return {photo: tuple(names) for photo, names in found.items()}


def citation(face: CollectionFaceRow) -> str:
    """Where a face of a collection is seen: its file, and for a video the time of the frame (``00:12:31.4``)."""
    if face.video_time_s is None:
        return face.filename
    return f"{face.filename} at {timecode(face.video_time_s)}"


def summary_of(session: Session, collection_id: str, cluster_id: int) -> ClusterSummary:
    [summary] = [
        s for s in cluster_summaries(collection_faces(session, collection_id), session) if s.cluster_id == cluster_id
    ]
    return summary
