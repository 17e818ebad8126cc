"""Collections of unknown faces, grouped into people, curated by people, treated as biometric data.

``cluster`` finds and embeds every face of a folder of photos (in parallel, each photo once: a
rerun embeds only photos new to the collection), groups them with
:func:`facesearch.clustering.cluster` over the k-nearest-neighbour graph, and stores the groups.
People then correct them: ``merge`` two clusters, ``split`` faces off into their own cluster,
``cannot_link`` two faces that must never be grouped (siblings), ``name`` a cluster. Each
decision is kept as must-link or cannot-link pairs of faces that every later run obeys, and a
cluster's name passes to the new cluster holding most of its faces. A collection is bound to an
allowed purpose and a case like a search, is retained until a date within the gallery's period,
is purged and erased physically, and every step is an audit event. Embeddings and crops are
sealed like the gallery's.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import io
import itertools
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facesearch.clustering import METHODS, Constraints, Method, cluster
from facesearch.errors import FacesearchError, InputError, NoRetentionPolicyError
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import ClusterLinkRow, ClusterRow, CollectionFaceRow, CollectionRow
from facesearch.governance import purposes
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import TEXT_MAX_CHARS, Permission, clean_text
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, map_photos
from facesearch.types import SearchRequest, Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context

T = TypeVar("T")
MUST, CANNOT = "must", "cannot"
DEFAULT_METHOD = "chinese-whispers"


def embedding_context(collection_id: str, sha256: str, face_index: int) -> bytes:
    return f"collection_faces.embedding:{collection_id}:{sha256}:{face_index}".encode()


def crop_context(collection_id: str, sha256: str, face_index: int) -> bytes:
    return f"collection_faces.crop_jpeg:{collection_id}:{sha256}:{face_index}".encode()


@dataclasses.dataclass(frozen=True)
class FoundPhotoFace:
    box: tuple[int, int, int, int]
    vector: bytes  # float32, little-endian
    crop_jpeg: bytes
    model_id: str


@dataclasses.dataclass(frozen=True)
class ClusterSummary(Serialisable):
    cluster_id: int
    label: str | None
    size: int
    face_ids: tuple[int, ...]
    photos: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ClusterRun(Serialisable):
    """What a clustering run did and found."""

    collection: str
    collection_id: str
    purpose: str
    case: str
    photos: int
    photos_embedded: int  # analysed by this run; the others were already in the collection
    photos_without_face: int
    photos_rejected: tuple[tuple[str, str], ...]  # (file, reason code)
    faces: int
    clusters: tuple[ClusterSummary, ...]  # of at least min_size faces, largest first
    singletons: int
    threshold: float
    method: str
    retain_until: date
    audit_seq: int


def _photos(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.parts))


def _analyse(path: Path, pipeline: FacePipeline) -> tuple[str, list[FoundPhotoFace], str | None]:
    """(sha256, every usable face found, None) or (sha256 or "", [], reason code). Faces below the
    enrollment quality thresholds (too small, blurred, or a doubtful detection) are left out: they
    group badly and would flood a collection with false faces. Runs in workers."""
    try:
        data = path.read_bytes()
    except OSError:
        return "", [], "unreadable"
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = decode(data, pipeline.settings)
        observations = pipeline.analyze(image)
    except FacesearchError as exc:
        return digest, [], exc.code
    faces = []
    for obs in observations:
        if not obs.quality.usable:
            continue
        buffer = io.BytesIO()
        Image.fromarray(obs.aligned.chip).save(buffer, format="JPEG", quality=85)
        box = obs.box
        vector = obs.embedding.vector.astype("<f4").tobytes()
        faces.append(
            FoundPhotoFace(
                (box.left, box.top, box.right, box.bottom), vector, buffer.getvalue(), obs.embedding.model_id
            )
        )
    return digest, faces, None


class CollectionService:
    """Clustering and curation for the acting user (operators cluster and curate; admins erase)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    # --- clustering --------------------------------------------------------------------------

    def cluster(
        self,
        directory: str | Path,
        *,
        purpose: str,
        case: str,
        authorisation: str | None = None,
        name: str | None = None,
        threshold: float | None = None,
        min_size: int = 2,
        method: str = DEFAULT_METHOD,
        workers: int = 1,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ClusterRun:
        """Group the faces of every photo under DIRECTORY (recursively) into the collection NAME
        (default: the folder's name), adding photos new to it, and store the clusters."""
        context = self._context
        root = Path(directory)
        label = clean_text(name or root.resolve().name, "collection name")
        if min_size < 1:
            raise InputError(f"min-size must be at least 1, not {min_size}")
        if method not in METHODS:
            raise InputError(f"{method!r} is not a clustering method; use one of {', '.join(METHODS)}")
        with context.ruled():
            with context.guarded(Permission.CLUSTER) as session:
                stated = purposes.bind(session, SearchRequest(purpose or "", case or "", authorisation))
                days = context.store.state(session).retention_days
                if days is None:
                    raise NoRetentionPolicyError(
                        "clustering refused: this gallery has no retention period yet (an admin sets one with "
                        "'facesearch retention set --days N')"
                    )
                found = session.scalars(select(CollectionRow).where(CollectionRow.name == label)).first()
                known = (
                    set(
                        session.scalars(
                            select(CollectionFaceRow.photo_sha256).where(CollectionFaceRow.collection_id == found.id)
                        )
                    )
                    if found
                    else set()
                )
            cut = threshold if threshold is not None else context.settings.cluster_threshold
            paths = _photos(root)
            if not paths:
                raise InputError(f"{root}: no photos found")
            outcomes = list(self._analysed(paths, known, workers, on_progress))
            with context.writing() as session:
                row = self._collection(session, found, label, stated, days, cut, method)
                rejected: list[tuple[str, str]] = []
                no_face = embedded = 0
                for path, (digest, faces, failure) in zip(paths, outcomes, strict=True):
                    if failure == "known":
                        continue
                    embedded += 1
                    if failure is not None:
                        rejected.append((str(path.relative_to(root)), failure))
                        continue
                    if not faces:
                        no_face += 1
                    for i, face in enumerate(faces):
                        session.add(
                            CollectionFaceRow(
                                collection_id=row.id,
                                photo_sha256=digest,
                                filename=str(path.relative_to(root)),
                                face_index=i,
                                box_left=face.box[0],
                                box_top=face.box[1],
                                box_right=face.box[2],
                                box_bottom=face.box[3],
                                model_id=face.model_id,
                                embedding=context.store.seal(face.vector, context=embedding_context(row.id, digest, i)),
                                crop_jpeg=context.store.seal(face.crop_jpeg, context=crop_context(row.id, digest, i)),
                            )
                        )
                session.flush()
                summaries = self._regroup(session, row, cut, method)
                big = tuple(s for s in summaries if s.size >= min_size)
                faces_total = sum(s.size for s in summaries)
                singletons = sum(1 for s in summaries if s.size == 1)
                seq = context.record(
                    session,
                    AuditAction.COLLECTION_CLUSTER,
                    purpose=stated.purpose,
                    case=stated.case,
                    details={
                        "collection_id": row.id,
                        "authorisation": stated.authorisation,
                        "photos": len(paths),
                        "photos_embedded": embedded,
                        "faces": faces_total,
                        "clusters": len(summaries),
                        "singletons": singletons,
                        "threshold": cut,
                        "method": method,
                    },
                )
        return ClusterRun(
            collection=row.name,
            collection_id=row.id,
            purpose=row.purpose,
            case=row.case_id,
            photos=len(paths),
            photos_embedded=embedded,
            photos_without_face=no_face,
            photos_rejected=tuple(rejected),
            faces=faces_total,
            clusters=big,
            singletons=singletons,
            threshold=cut,
            method=method,
            retain_until=row.retain_until,
            audit_seq=seq,
        )

    def _analysed(
        self, paths: Sequence[Path], known: set[str], workers: int, on_progress: Callable[[int, int], None] | None
    ) -> list[tuple[str, list[FoundPhotoFace], str | None]]:
        """Every photo analysed, except those whose bytes the collection already holds ("known")."""
        todo: list[int] = []
        results: dict[int, tuple[str, list[FoundPhotoFace], str | None]] = {}
        for i, path in enumerate(paths):
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = ""
            if digest in known:
                results[i] = (digest, [], "known")
            else:
                todo.append(i)
        done = len(paths) - len(todo)
        if on_progress:
            on_progress(done, len(paths))
        pipeline = self._context.pipeline
        for i, outcome in zip(
            todo, map_photos(_analyse, [paths[i] for i in todo], pipeline, workers, chunksize=4), strict=True
        ):
            results[i] = outcome
            done += 1
            if on_progress:
                on_progress(done, len(paths))
        return [results[i] for i in range(len(paths))]

    def _collection(
        self,
        session: Session,
        found: CollectionRow | None,
        name: str,
        stated: SearchRequest,
        days: int,
        threshold: float,
        method: str,
    ) -> CollectionRow:
        if found is not None:
            row = session.get(CollectionRow, found.id)
            assert row is not None
            if (row.purpose, row.case_id) != (stated.purpose, stated.case):
                raise InputError(
                    f"collection {name!r} serves {row.purpose!r} for case {row.case_id!r}; name another collection"
                )
            row.threshold, row.method = threshold, method
            return row
        row = CollectionRow(
            id=secrets.token_hex(8),
            name=name,
            purpose=stated.purpose,
            case_id=stated.case,
            created_at=datetime.now(UTC),
            created_by=self._context.actor,
            retain_until=datetime.now(UTC).date() + timedelta(days=days),
            threshold=threshold,
            method=method,
        )
        session.add(row)
        session.flush()
        return row

    def _regroup(self, session: Session, row: CollectionRow, threshold: float, method: str) -> list[ClusterSummary]:
        """Cluster every face of the collection under its people's decisions; replace its clusters,
        carrying each name to the new cluster that holds most of the named one's faces."""
        store = self._context.store
        faces = _faces(session, row.id)
        if not faces:
            session.execute(delete(ClusterRow).where(ClusterRow.collection_id == row.id))
            return []
        position = {f.id: i for i, f in enumerate(faces)}
        vectors = _vectors(store, faces)
        links = session.scalars(select(ClusterLinkRow).where(ClusterLinkRow.collection_id == row.id)).all()
        constraints = Constraints(
            must_link=tuple((position[link.face_a], position[link.face_b]) for link in links if link.kind == MUST),
            cannot_link=tuple((position[link.face_a], position[link.face_b]) for link in links if link.kind == CANNOT),
        )
        chosen = cast(Method, method)  # checked against METHODS when the run began
        labels = cluster(
            vectors, self._context.spec.metric, threshold=threshold, method=chosen, constraints=constraints
        )
        names: dict[int, str] = {}
        old = session.scalars(
            select(ClusterRow).where(ClusterRow.collection_id == row.id, ClusterRow.label.is_not(None))
        )
        for named in old:
            members = Counter(int(labels[position[f.id]]) for f in faces if f.cluster_id == named.id)
            if members:
                names.setdefault(members.most_common(1)[0][0], named.label or "")
        for f in faces:
            f.cluster_id = None
        session.flush()
        session.execute(delete(ClusterRow).where(ClusterRow.collection_id == row.id))
        new_rows = {}
        for value in sorted(set(int(v) for v in labels)):
            cluster_row = ClusterRow(collection_id=row.id, label=names.get(value))
            session.add(cluster_row)
            new_rows[value] = cluster_row
        session.flush()
        for f, value in zip(faces, labels, strict=True):
            f.cluster_id = new_rows[int(value)].id
        session.flush()
        return _summaries(faces, session)

    # --- reading -------------------------------------------------------------------------------

    def clusters(self, collection: str, *, min_size: int = 1) -> list[ClusterSummary]:
        """The collection's clusters of at least ``min_size`` faces, largest first."""
        with self._context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            row = _require(session, collection)
            return [s for s in _summaries(_faces(session, row.id), session) if s.size >= min_size]

    def contact_sheet(self, collection: str, folder: str | Path, *, min_size: int = 1) -> Path:
        """Write FOLDER/index.html: each cluster of at least ``min_size`` faces as a contact sheet
        of its face crops, with cluster and face numbers for curation. Audited: it shows faces."""
        context = self._context
        with context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            row = _require(session, collection)
            faces = _faces(session, row.id)
            summaries = [s for s in _summaries(faces, session) if s.size >= min_size]
            by_id = {f.id: f for f in faces}
            sections = []
            for summary in summaries:
                tiles = []
                for face_id in summary.face_ids:
                    f = by_id[face_id]
                    crop = (
                        context.store.unseal(f.crop_jpeg, context=crop_context(row.id, f.photo_sha256, f.face_index))
                        if f.crop_jpeg is not None
                        else b""
                    )
                    data = base64.b64encode(crop).decode()
                    tiles.append(
                        f'<figure><img alt="face {face_id}" src="data:image/jpeg;base64,{data}">'
                        f"<figcaption>face {face_id}<br>{html.escape(f.filename)}</figcaption></figure>"
                    )
                title = f"cluster {summary.cluster_id}" + (f": {html.escape(summary.label)}" if summary.label else "")
                sections.append(f"<section><h2>{title} ({summary.size} faces)</h2>{''.join(tiles)}</section>")
            context.record(
                session,
                AuditAction.COLLECTION_REPORT,
                purpose=row.purpose,
                case=row.case_id,
                details={"collection_id": row.id, "clusters": len(summaries)},
            )
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>facesearch collection {html.escape(row.name)}</title><style>"
            "body{font-family:sans-serif;margin:1em}figure{display:inline-block;margin:4px;text-align:center;"
            "font-size:11px;width:120px}img{width:112px;height:112px;object-fit:cover}section{margin-bottom:1.5em}"
            "</style></head><body>"
            f"<h1>Collection {html.escape(row.name)}</h1><p>Purpose: {html.escape(row.purpose)}; case "
            f"{html.escape(row.case_id)}; threshold {row.threshold:.4f} ({html.escape(row.method)}); retained until "
            f"{row.retain_until.isoformat()}. Biometric data: keep this page as you keep the gallery. Clusters are "
            "groups a machine proposed, not identities; correct them with 'facesearch clusters merge / split / "
            "cannot-link / name'.</p>" + "".join(sections) + "</body></html>"
        )
        path = out / "index.html"
        path.write_text(page, encoding="utf-8")
        return path

    # --- curation ----------------------------------------------------------------------------

    def merge(self, cluster_a: int, cluster_b: int) -> ClusterSummary:
        """Clusters A and B show one person: B's faces join A, now and in every later run."""

        def work(session: Session, row: CollectionRow) -> tuple[ClusterSummary, dict[str, object]]:
            a, b = _cluster_faces(session, row.id, cluster_a), _cluster_faces(session, row.id, cluster_b)
            if cluster_a == cluster_b:
                raise InputError("name two different clusters to merge")
            _link(session, row.id, a[0].id, b[0].id, MUST, self._context.actor)
            for f in b:
                f.cluster_id = cluster_a
            session.flush()
            session.execute(delete(ClusterRow).where(ClusterRow.id == cluster_b))
            return _summary_of(session, row.id, cluster_a), {"cluster": cluster_a, "merged": cluster_b}

        return self._curate(_of_cluster(cluster_a), AuditAction.CLUSTER_MERGE, work)

    def split(self, cluster_id: int, face_ids: Sequence[int]) -> ClusterSummary:
        """FACE_IDS of a cluster are another person: they become a cluster of their own, and stay
        apart from the rest in every later run."""

        def work(session: Session, row: CollectionRow) -> tuple[ClusterSummary, dict[str, object]]:
            members = _cluster_faces(session, row.id, cluster_id)
            chosen = [f for f in members if f.id in set(face_ids)]
            rest = [f for f in members if f.id not in set(face_ids)]
            missing = set(face_ids) - {f.id for f in chosen}
            if missing:
                raise InputError(f"face(s) {sorted(missing)} are not in cluster {cluster_id}")
            if not rest:
                raise InputError("a split must leave at least one face in the cluster")
            actor = self._context.actor
            for group in (chosen, rest):
                for a, b in itertools.pairwise(group):
                    _link(session, row.id, a.id, b.id, MUST, actor)
            _link(session, row.id, chosen[0].id, rest[0].id, CANNOT, actor)
            new = ClusterRow(collection_id=row.id, label=None)
            session.add(new)
            session.flush()
            for f in chosen:
                f.cluster_id = new.id
            session.flush()
            return _summary_of(session, row.id, new.id), {
                "cluster": cluster_id,
                "new_cluster": new.id,
                "faces": len(chosen),
            }

        return self._curate(_of_cluster(cluster_id), AuditAction.CLUSTER_SPLIT, work)

    def cannot_link(self, face_a: int, face_b: int) -> None:
        """Faces A and B are different people: never group them (siblings, look-alikes). If they are
        grouped now, B leaves the cluster on its own until the collection is clustered again."""

        def work(session: Session, row: CollectionRow) -> tuple[None, dict[str, object]]:
            a, b = _face(session, row.id, face_a), _face(session, row.id, face_b)
            if a.id == b.id:
                raise InputError("name two different faces")
            _link(session, row.id, a.id, b.id, CANNOT, self._context.actor)
            if a.cluster_id is not None and a.cluster_id == b.cluster_id:
                alone = ClusterRow(collection_id=row.id, label=None)
                session.add(alone)
                session.flush()
                b.cluster_id = alone.id
                session.flush()
            return None, {"face_a": a.id, "face_b": b.id}

        self._curate(_of_face(face_a), AuditAction.CLUSTER_CANNOT_LINK, work)

    def name(self, cluster_id: int, label: str) -> ClusterSummary:
        """Give a cluster a name (a person's working label); it follows the cluster's faces."""
        text = clean_text(label, "cluster name")
        if not text:
            raise InputError("give the cluster a name")

        def work(session: Session, row: CollectionRow) -> tuple[ClusterSummary, dict[str, object]]:
            target = session.get(ClusterRow, cluster_id)
            if target is None or target.collection_id != row.id:
                raise InputError(f"collection {row.name!r} has no cluster {cluster_id}")
            target.label = text
            return _summary_of(session, row.id, cluster_id), {"cluster": cluster_id}

        return self._curate(_of_cluster(cluster_id), AuditAction.CLUSTER_NAME, work)

    def _curate(
        self,
        locate: Callable[[Session], CollectionRow],
        action: AuditAction,
        work: Callable[[Session, CollectionRow], tuple[T, dict[str, object]]],
    ) -> T:
        context = self._context
        with context.guarded(Permission.CLUSTER) as session:
            row = locate(session)
            result, details = work(session, row)
            context.record(
                session, action, purpose=row.purpose, case=row.case_id, details={"collection_id": row.id, **details}
            )
        return result

    # --- erasure ---------------------------------------------------------------------------------

    def delete(self, collection: str, *, reason: str) -> int:
        """Erase a collection physically: its faces, crops, clusters and decisions. Returns the
        number of faces removed."""
        context = self._context
        why = clean_text(reason, "reason", TEXT_MAX_CHARS)
        with context.ruled():
            if not why:
                raise InputError("give the reason for deleting the collection (--reason)")
            with context.guarded(Permission.ERASE) as session:
                row = _require(session, collection)
                faces = len(_faces(session, row.id))
                session.execute(delete(CollectionRow).where(CollectionRow.id == row.id))
                context.record(
                    session,
                    AuditAction.COLLECTION_DELETE,
                    case=row.case_id,
                    details={"collection_id": row.id, "faces_removed": faces, "reason": why},
                )
        return faces


@dataclasses.dataclass(frozen=True)
class ClusterMembers:
    collection_id: str
    face_ids: tuple[int, ...]
    vectors: np.ndarray  # (faces, dimension) float32, unsealed
    digest: str  # sha256 over the member faces' photos and positions: stands for the probe in the audit


def cluster_members(session: Session, store: GalleryStore, cluster_id: int) -> ClusterMembers:
    """A cluster's faces and their embeddings, for searching the cluster against the gallery."""
    row = _of_cluster(cluster_id)(session)
    faces = _cluster_faces(session, row.id, cluster_id)
    vectors = _vectors(store, faces)
    digest = hashlib.sha256("".join(f"{f.photo_sha256}:{f.face_index};" for f in faces).encode()).hexdigest()
    return ClusterMembers(row.id, tuple(f.id for f in faces), vectors, digest)


def _vectors(store: GalleryStore, faces: Sequence[CollectionFaceRow]) -> np.ndarray:
    """The faces' embeddings, unsealed, as a (faces, dimension) float32 matrix."""
    return np.stack(
        [
            np.frombuffer(
                store.unseal(f.embedding, context=embedding_context(f.collection_id, f.photo_sha256, f.face_index)),
                dtype="<f4",
            )
            for f in faces
        ]
    ).astype(np.float32)


def _require(session: Session, collection: str) -> CollectionRow:
    key = collection.strip()
    row = session.scalars(select(CollectionRow).where((CollectionRow.name == key) | (CollectionRow.id == key))).first()
    if row is None:
        raise InputError(f"there is no collection {key!r}")
    return row


def _of_cluster(cluster_id: int) -> Callable[[Session], CollectionRow]:
    """The collection a cluster belongs to (cluster and face numbers are unique across collections)."""
    return _owner(ClusterRow, cluster_id, "cluster")


def _of_face(face_id: int) -> Callable[[Session], CollectionRow]:
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


def _faces(session: Session, collection_id: str) -> list[CollectionFaceRow]:
    return list(
        session.scalars(
            select(CollectionFaceRow)
            .where(CollectionFaceRow.collection_id == collection_id)
            .order_by(CollectionFaceRow.id)
        )
    )


def _face(session: Session, collection_id: str, face_id: int) -> CollectionFaceRow:
    face = session.get(CollectionFaceRow, face_id)
    if face is None or face.collection_id != collection_id:
        raise InputError(f"the collection has no face {face_id}")
    return face


def _cluster_faces(session: Session, collection_id: str, cluster_id: int) -> list[CollectionFaceRow]:
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


def _link(session: Session, collection_id: str, a: int, b: int, kind: str, actor: str) -> None:
    session.add(
        ClusterLinkRow(
            collection_id=collection_id, face_a=a, face_b=b, kind=kind, created_at=datetime.now(UTC), created_by=actor
        )
    )


def _summaries(faces: Sequence[CollectionFaceRow], session: Session | None = None) -> list[ClusterSummary]:
    groups: dict[int, list[CollectionFaceRow]] = {}
    for f in faces:
        if f.cluster_id is not None:
            groups.setdefault(f.cluster_id, []).append(f)
    labels: dict[int, str | None] = {}
    if session is not None and groups:
        found = session.execute(select(ClusterRow.id, ClusterRow.label).where(ClusterRow.id.in_(groups)))
        labels = {int(cid): label for cid, label in found}
    out = [
        ClusterSummary(
            cluster_id=cid,
            label=labels.get(cid),
            size=len(members),
            face_ids=tuple(m.id for m in members),
            photos=tuple(sorted({m.filename for m in members})),
        )
        for cid, members in groups.items()
    ]
    return sorted(out, key=lambda s: (-s.size, s.cluster_id))


def _summary_of(session: Session, collection_id: str, cluster_id: int) -> ClusterSummary:
    [summary] = [s for s in _summaries(_faces(session, collection_id), session) if s.cluster_id == cluster_id]
    return summary
