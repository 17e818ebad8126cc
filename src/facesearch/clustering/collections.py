"""Collections of unknown faces, grouped into people, curated by people, treated as biometric data.

``cluster`` finds and embeds every face of a folder of photos (in parallel, each photo once: a
rerun embeds only photos new to the collection; copies of one picture, byte-identical or re-saved,
resized or bordered, are analysed once and listed with its faces, see
:mod:`facesearch.clustering.copies`), groups them with
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

import dataclasses
import itertools
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facesearch.clustering import METHODS, Constraints, Method, cluster
from facesearch.clustering.copies import CopyOf, Fingerprint, fingerprint_file, group_copies
from facesearch.clustering.media import Analysed, FoundMediaFace, MediaJob, analyse_file, media_under, on_ray
from facesearch.clustering.rows import (
    CANNOT,
    MUST,
    ClusterSummary,
    CollectionSummary,
    HeldFiles,
    add_link,
    cluster_faces,
    cluster_summaries,
    collection_face,
    collection_faces,
    collection_summaries,
    copies_of,
    held_files,
    member_crop,
    of_cluster,
    of_face,
    require_collection,
    sealed_vectors,
    summarised,
    summary_of,
)
from facesearch.errors import AnalysisLostError, InputError, NoRetentionPolicyError
from facesearch.gallery.schema import ClusterLinkRow, ClusterRow, CollectionCopyRow, CollectionFaceRow, CollectionRow
from facesearch.gallery.seals import collection_crop_context, collection_embedding_context
from facesearch.governance import membership, purposes
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import TEXT_MAX_CHARS, Permission, clean_text
from facesearch.governance.users import find_user
from facesearch.pipeline.faces import map_photos
from facesearch.pipeline.ray_pool import RayRun
from facesearch.pipeline.video import is_video_file
from facesearch.reports.contact_sheet import ContactSheet, SheetCluster, SheetFace, write_sheet
from facesearch.types import SearchRequest, Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context

T = TypeVar("T")
DEFAULT_METHOD = "chinese-whispers"
COPY = "copy"  # a file that is a copy of another of the run's (facesearch.clustering.copies)


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
    # (file, the file it is a copy of): byte-identical or near-copies, analysed once through the latter
    photos_copied: tuple[tuple[str, str], ...]
    faces: int
    clusters: tuple[ClusterSummary, ...]  # of at least min_size faces, largest first
    singletons: int
    threshold: float
    method: str
    retain_until: date
    audit_seq: int


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
        """Group the faces of every photo and video under DIRECTORY (recursively) into the collection
        NAME (default: the folder's name), adding files new to it, and store the clusters. A video
        adds one face per track: a person followed across its frames, cited by file and time. Files
        that are copies of one picture (``near_copy_max_distance_bits``) are analysed once, through
        the largest, and kept as its copies (``ClusterRun.photos_copied``, ``ClusterSummary.copies``)."""
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
                membership.check_entry(session, context.actor, stated.case, "cluster photos for it")
                days = context.store.state(session).retention_days
                if days is None:
                    raise NoRetentionPolicyError(
                        "clustering refused: this gallery has no retention period yet (an admin sets one with "
                        "'facesearch retention set --days N')"
                    )
                found = session.scalars(select(CollectionRow).where(CollectionRow.name == label)).first()
                held = held_files(session, found.id) if found else HeldFiles({}, set(), set())
            cut = (
                threshold
                if threshold is not None
                else context.settings.cluster_threshold or context.spec.cluster_threshold
            )
            paths = media_under(root)
            if not paths:
                raise InputError(f"{root}: no photos or videos found")
            names = [str(path.relative_to(root)) for path in paths]
            outcomes, copies = self._analysed(paths, names, held, workers, on_progress)
            with context.writing() as session:
                membership.enter(session, context, stated.case, "cluster photos for it")
                row = self._collection(session, found, label, stated, days, cut, method)
                rejected: list[tuple[str, str]] = []
                copied: list[tuple[str, str]] = []
                no_face = embedded = 0
                for i, (digest, faces, failure) in enumerate(outcomes):
                    if failure == "known":
                        continue
                    if failure == COPY:
                        copy = copies[i]
                        original, _, trouble = outcomes[copy.representative]
                        if trouble is not None and trouble != "known":  # a copy of a file that could not be used
                            rejected.append((names[i], trouble))
                            continue
                        photo = held.photos.get(original, original)  # the photo whose faces stand for it
                        session.add(
                            CollectionCopyRow(
                                collection_id=row.id,
                                photo_sha256=photo,
                                copy_sha256=digest,
                                filename=names[i],
                                distance_bits=copy.distance_bits,
                            )
                        )
                        copied.append((names[i], names[copy.representative]))
                        continue
                    if failure == AnalysisLostError.code:  # lost with a Ray worker: not analysed, a rerun does it
                        rejected.append((names[i], failure))
                        continue
                    embedded += 1
                    if failure is not None:
                        rejected.append((names[i], failure))
                        continue
                    if not faces:
                        no_face += 1
                    for n, face in enumerate(faces):
                        session.add(self._face_row(row.id, digest, names[i], n, face))
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
                        "photos_copied": len(copied),
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
            photos_copied=tuple(copied),
            faces=faces_total,
            clusters=big,
            singletons=singletons,
            threshold=cut,
            method=method,
            retain_until=row.retain_until,
            audit_seq=seq,
        )

    def _analysed(
        self,
        paths: Sequence[Path],
        names: Sequence[str],
        held: HeldFiles,
        workers: int,
        on_progress: Callable[[int, int], None] | None,
    ) -> tuple[list[Analysed], dict[int, CopyOf]]:
        """Every file fingerprinted, the copies among them found (:mod:`facesearch.clustering.copies`),
        and only the representatives the collection does not hold yet analysed: a copy is ("", [],
        COPY), a file the collection holds ("", [], "known"). Photos and videos share the worker pool,
        a video to a worker at a time (with ``ray_address``: see :meth:`_analyse`); progress counts both
        passes."""
        pipeline = self._context.pipeline
        # with Ray, this machine fingerprints every file (it reads them all anyway) with its own cores
        here = (os.cpu_count() or 1) if self._context.settings.ray_address else workers
        total = 2 * len(paths)
        prints: list[Fingerprint] = []
        for found in map_photos(fingerprint_file, paths, pipeline, here, chunksize=1):
            prints.append(found)
            if on_progress:
                on_progress(len(prints), total)
        kept = frozenset(i for i, p in enumerate(prints) if (names[i], p.sha256) in held.faces)
        copies = group_copies(prints, self._context.settings.near_copy_max_distance_bits, kept)
        results: dict[int, Analysed] = {}
        todo: list[int] = []
        for i, found in enumerate(prints):
            if (names[i], found.sha256) in held.files:
                results[i] = (found.sha256, [], "known")
            elif i in copies:
                results[i] = (found.sha256, [], COPY)
            elif found.sha256 in held.photos:  # a photo the collection holds, under another name
                results[i] = (found.sha256, [], "known")
            elif found.failure is not None:
                results[i] = (found.sha256, [], found.failure)
            else:
                todo.append(i)
        done = total - len(todo)
        if on_progress:
            on_progress(done, total)
        for i, outcome in self._analyse(paths, prints, todo, workers):
            results[i] = outcome
            done += 1
            if on_progress:
                on_progress(done, total)
        return [results[i] for i in range(len(paths))], copies

    def _analyse(
        self, paths: Sequence[Path], prints: Sequence[Fingerprint], todo: Sequence[int], workers: int
    ) -> Iterator[tuple[int, Analysed]]:
        """(index, analysis) of each file of TODO: all in the worker pool; or, with ``ray_address``,
        the photos on the Ray cluster's workers (shipped as bytes) and then the videos here, in this
        machine's processes, from their paths: a video of gigabytes is never shipped."""
        pipeline = self._context.pipeline
        ray = on_ray(self._context.settings.ray_address, pipeline.settings)
        passes: list[tuple[list[int], RayRun[MediaJob, Analysed] | None, int]] = [(list(todo), None, workers)]
        if ray is not None:
            videos = {i for i in todo if is_video_file(paths[i])}
            passes = [([i for i in todo if i not in videos], ray, workers), (sorted(videos), None, os.cpu_count() or 1)]
        for batch, on, count in passes:
            if batch:
                jobs: list[MediaJob] = [(paths[i], prints[i].sha256) for i in batch]
                outcomes = map_photos(analyse_file, jobs, pipeline, count, chunksize=1, ray=on)
                yield from zip(batch, outcomes, strict=True)

    def _face_row(
        self, collection_id: str, digest: str, filename: str, n: int, face: FoundMediaFace
    ) -> CollectionFaceRow:
        store = self._context.store
        return CollectionFaceRow(
            collection_id=collection_id,
            photo_sha256=digest,
            filename=filename,
            face_index=n,
            box_left=face.box[0],
            box_top=face.box[1],
            box_right=face.box[2],
            box_bottom=face.box[3],
            model_id=face.model_id,
            embedding=store.seal(face.vector, context=collection_embedding_context(collection_id, digest, n)),
            crop_jpeg=store.seal(face.crop_jpeg, context=collection_crop_context(collection_id, digest, n)),
            video_time_s=face.time_s,
            video_start_s=face.start_s,
            video_end_s=face.end_s,
        )

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
        faces = collection_faces(session, row.id)
        if not faces:
            session.execute(delete(ClusterRow).where(ClusterRow.collection_id == row.id))
            return []
        position = {f.id: i for i, f in enumerate(faces)}
        vectors = sealed_vectors(store, faces)
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
        return cluster_summaries(faces, session)

    # --- reading -------------------------------------------------------------------------------

    # A collection is read by the members of its case, and by admins' and auditors' oversight; it is
    # corrected by its case's members only (see facesearch.governance.membership).
    READING, CORRECTING = "read its collections", "correct its collections' clusters"

    def collections(self, *, limit: int = 50, offset: int = 0) -> list[CollectionSummary]:
        """The collections the acting user reads, newest first, ``limit`` of them from ``offset``:
        those of the cases they work (operators), or every one (auditors)."""
        if limit < 1 or offset < 0:
            raise InputError("a page of collections needs a limit of at least 1 and an offset of at least 0")
        context = self._context
        with context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            user = find_user(session, context.actor)
            member = None if user is not None and membership.oversees(user) else context.actor
            return collection_summaries(session, member=member, limit=limit, offset=offset)

    def collection(self, collection: str) -> CollectionSummary:
        """One collection, by its name or id, with its counts of faces and clusters."""
        with self._context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            [summary] = summarised(session, [self._readable(session, collection)])
            return summary

    def clusters(self, collection: str, *, min_size: int = 1) -> list[ClusterSummary]:
        """The collection's clusters of at least ``min_size`` faces, largest first."""
        with self._context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            row = self._readable(session, collection)
            return [s for s in cluster_summaries(collection_faces(session, row.id), session) if s.size >= min_size]

    def cluster_summary(self, collection: str, cluster_id: int) -> ClusterSummary:
        """One cluster of the collection: InputError if the collection has no such cluster."""
        with self._context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            row = self._readable(session, collection)
            cluster_faces(session, row.id, cluster_id)  # names the cluster the collection lacks
            return summary_of(session, row.id, cluster_id)

    def face_crop(self, face_id: int) -> bytes | None:
        """The JPEG crop of a face of a collection, or None if there is no such face or crop, for
        the readers of its collection; every view is audited (``collection.face_view``)."""
        context = self._context
        with context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            face = session.get(CollectionFaceRow, face_id)
            row = None if face is None else session.get(CollectionRow, face.collection_id)
            if row is None:
                return None
            membership.require_reader(session, context.actor, row.case_id, self.READING)
            crop = member_crop(session, context.store, face_id)
            if crop is not None:
                details = {"collection_id": row.id, "face": face_id}
                context.record(
                    session, AuditAction.COLLECTION_FACE_VIEW, purpose=row.purpose, case=row.case_id, details=details
                )
            return crop

    def _readable(self, session: Session, collection: str) -> CollectionRow:
        row = require_collection(session, collection)
        membership.require_reader(session, self._context.actor, row.case_id, self.READING)
        return row

    def contact_sheet(self, collection: str, folder: str | Path, *, min_size: int = 1) -> Path:
        """Write FOLDER/index.html: each cluster of at least ``min_size`` faces as a contact sheet
        of its face crops, with cluster and face numbers for curation. Audited: it shows faces."""
        context = self._context
        with context.guarded(Permission.CLUSTER, Permission.READ_REPORTS) as session:
            row = self._readable(session, collection)
            faces = collection_faces(session, row.id)
            summaries = [s for s in cluster_summaries(faces, session) if s.size >= min_size]
            by_id = {f.id: f for f in faces}
            copies = copies_of(session, row.id)

            def shown(face_id: int) -> SheetFace:
                f = by_id[face_id]
                crop = (
                    context.store.unseal(
                        f.crop_jpeg, context=collection_crop_context(row.id, f.photo_sha256, f.face_index)
                    )
                    if f.crop_jpeg is not None
                    else b""
                )
                return SheetFace(face_id, f.filename, crop, f.video_time_s, copies.get(f.photo_sha256, ()))

            sheet = ContactSheet(
                collection=row.name,
                purpose=row.purpose,
                case=row.case_id,
                threshold=row.threshold,
                method=row.method,
                retain_until=row.retain_until,
                clusters=tuple(
                    SheetCluster(s.cluster_id, s.label, tuple(shown(face_id) for face_id in s.face_ids))
                    for s in summaries
                ),
            )
            context.record(
                session,
                AuditAction.COLLECTION_REPORT,
                purpose=row.purpose,
                case=row.case_id,
                details={"collection_id": row.id, "clusters": len(summaries)},
            )
        return write_sheet(sheet, Path(folder))

    # --- curation ----------------------------------------------------------------------------

    def merge(self, cluster_a: int, cluster_b: int) -> ClusterSummary:
        """Clusters A and B show one person: B's faces join A, now and in every later run."""

        def work(session: Session, row: CollectionRow) -> tuple[ClusterSummary, dict[str, object]]:
            a, b = cluster_faces(session, row.id, cluster_a), cluster_faces(session, row.id, cluster_b)
            if cluster_a == cluster_b:
                raise InputError("name two different clusters to merge")
            add_link(session, row.id, a[0].id, b[0].id, MUST, self._context.actor)
            for f in b:
                f.cluster_id = cluster_a
            session.flush()
            session.execute(delete(ClusterRow).where(ClusterRow.id == cluster_b))
            return summary_of(session, row.id, cluster_a), {"cluster": cluster_a, "merged": cluster_b}

        return self._curate(of_cluster(cluster_a), AuditAction.CLUSTER_MERGE, work)

    def split(self, cluster_id: int, face_ids: Sequence[int]) -> ClusterSummary:
        """FACE_IDS of a cluster are another person: they become a cluster of their own, and stay
        apart from the rest in every later run."""

        def work(session: Session, row: CollectionRow) -> tuple[ClusterSummary, dict[str, object]]:
            members = cluster_faces(session, row.id, cluster_id)
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
                    add_link(session, row.id, a.id, b.id, MUST, actor)
            add_link(session, row.id, chosen[0].id, rest[0].id, CANNOT, actor)
            new = ClusterRow(collection_id=row.id, label=None)
            session.add(new)
            session.flush()
            for f in chosen:
                f.cluster_id = new.id
            session.flush()
            return summary_of(session, row.id, new.id), {
                "cluster": cluster_id,
                "new_cluster": new.id,
                "faces": len(chosen),
            }

        return self._curate(of_cluster(cluster_id), AuditAction.CLUSTER_SPLIT, work)

    def cannot_link(self, face_a: int, face_b: int) -> None:
        """Faces A and B are different people: never group them (siblings, look-alikes). If they are
        grouped now, B leaves the cluster on its own until the collection is clustered again."""

        def work(session: Session, row: CollectionRow) -> tuple[None, dict[str, object]]:
            a, b = collection_face(session, row.id, face_a), collection_face(session, row.id, face_b)
            if a.id == b.id:
                raise InputError("name two different faces")
            add_link(session, row.id, a.id, b.id, CANNOT, self._context.actor)
            if a.cluster_id is not None and a.cluster_id == b.cluster_id:
                alone = ClusterRow(collection_id=row.id, label=None)
                session.add(alone)
                session.flush()
                b.cluster_id = alone.id
                session.flush()
            return None, {"face_a": a.id, "face_b": b.id}

        self._curate(of_face(face_a), AuditAction.CLUSTER_CANNOT_LINK, work)

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
            return summary_of(session, row.id, cluster_id), {"cluster": cluster_id}

        return self._curate(of_cluster(cluster_id), AuditAction.CLUSTER_NAME, work)

    def _curate(
        self,
        locate: Callable[[Session], CollectionRow],
        action: AuditAction,
        work: Callable[[Session, CollectionRow], tuple[T, dict[str, object]]],
    ) -> T:
        context = self._context
        with context.guarded(Permission.CLUSTER) as session:
            row = locate(session)
            membership.require_member(session, context.actor, row.case_id, self.CORRECTING)
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
                row = require_collection(session, collection)
                faces = len(collection_faces(session, row.id))
                copies = sum(len(files) for files in copies_of(session, row.id).values())
                session.execute(delete(CollectionRow).where(CollectionRow.id == row.id))
                context.record(
                    session,
                    AuditAction.COLLECTION_DELETE,
                    case=row.case_id,
                    details={"collection_id": row.id, "faces_removed": faces, "copies_removed": copies, "reason": why},
                )
        return faces
