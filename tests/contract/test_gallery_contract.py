"""The contract every gallery store passes, on SQLite and on PostgreSQL (see STORES)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from facesearch.gallery import GalleryStore, ImageRecord
from facesearch.gallery.digest import EMPTY, combine, face_digest
from facesearch.gallery.schema import Base
from facesearch.governance import audit, users
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Role
from facesearch.reports import subject_access as reports
from facesearch.types import AlignedFace, Box, Detection, Embedding, FaceObservation, Metric, Quality

MODEL = "dlib_face_recognition_resnet_model_v1"


def _observation(seed: int) -> FaceObservation:
    vector = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
    aligned = AlignedFace(Detection(Box(1, 2, 81, 82), 1.5, "hog"), ((1, 1),) * 5, np.zeros((150, 150, 3), np.uint8))
    return FaceObservation(aligned, Quality(80, 50.0, 1.5), Embedding(vector, MODEL, Metric.EUCLIDEAN))


def _image(sha: str) -> ImageRecord:
    return ImageRecord(sha, "photo.jpg", "test source", "consent", "tester", None, 100, 100)


def test_migrations_match_the_models(store: GalleryStore) -> None:
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []
    assert store.schema_revision() == GalleryStore.head_revision()
    store.migrate()  # idempotent
    assert store.schema_revision() == GalleryStore.head_revision()


def test_upgrading_an_older_gallery_keeps_its_faces_and_audit_chain(empty_store: GalleryStore) -> None:
    store = empty_store
    store.migrate("0001")  # a gallery made by the first release, written as that release wrote it
    embedding = _observation(1).embedding.vector.astype("<f4").tobytes()
    with store.engine.begin() as conn:
        now = "2026-11-20 10:00:00.000000"
        conn.exec_driver_sql(f"INSERT INTO gallery_state VALUES (1, 1, '{MODEL}', '{now}')")
        conn.exec_driver_sql(f"INSERT INTO subjects VALUES ('s1', 'Ada', '{now}')")
        conn.exec_driver_sql(
            "INSERT INTO images (id, subject_id, sha256, filename, source, lawful_basis, enrolled_at, enrolled_by,"
            f" width, height) VALUES (1, 's1', '{'a' * 64}', 'a.jpg', 'src', 'consent', '{now}', 't', 100, 100)"
        )
        conn.execute(
            sa.text(
                "INSERT INTO faces (id, image_id, box_left, box_top, box_right, box_bottom, landmarks, detector,"
                " detector_score, face_px, sharpness, model_id, embedding) VALUES"
                f" (7, 1, 1, 2, 81, 82, '[]', 'hog', 1.5, 80, 50.0, '{MODEL}', :embedding)"
            ),
            {"embedding": embedding},
        )
    with store.transaction() as session:
        audit.append(session, actor="t", action=AuditAction.INIT, gallery_generation=0)
    store.migrate()
    assert store.schema_revision() == GalleryStore.head_revision()
    with store.transaction() as session:
        [(ids, vectors)] = list(store.embeddings(session, MODEL))
        assert ids.tolist() == [7]
        assert np.array_equal(vectors[0], _observation(1).embedding.vector)
        assert store.latest_calibration(session, MODEL) is None
        assert audit.verify(session).ok
        migrated = store.state(session).content_hash  # 0003 computed it from the stored faces
        assert migrated == combine(EMPTY, face_digest(7, MODEL, embedding)) == store.recompute_content_hash(session)
        founder = users.find_user(session, "t")  # 0004: who ran init administers the gallery
        assert founder is not None and founder.role is Role.ADMIN


def test_upgrading_opens_the_cases_earlier_searches_named(empty_store: GalleryStore) -> None:
    """0008: a case for every case searched or nominated under, owned by whoever worked it first, its
    members all who worked it, dated by the gallery's retention period from its latest work."""
    store = empty_store
    store.migrate("0007")
    with store.transaction() as session:
        store.initialise(session, MODEL)
        store.state(session).retention_days = 30
        for name, role in (("ana", "operator"), ("ben", "operator"), ("vic", "verifier"), ("eve", "operator")):
            session.execute(
                sa.text("INSERT INTO users VALUES (:name, :role, :disabled, :at, 'admin')"),
                {"name": name, "role": role, "disabled": False, "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        for day, actor, action, case in (
            (10, "ana", AuditAction.IDENTIFY, "C-1"),
            (11, "ana", AuditAction.NOMINATE, "C-1"),
            (12, "ben", AuditAction.IDENTIFY, "C-1"),
            (40, "vic", AuditAction.CONFIRM, "C-1"),  # work in the case, by no member
            (20, "ben", AuditAction.VERIFY, "C-2"),
            (21, "eve", AuditAction.REFUSED, "C-3"),  # a refusal opens nothing
        ):
            at = datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(days=day - 1)
            audit.append(session, actor=actor, action=action, gallery_generation=0, case=case, ts=at)
    store.migrate()
    with store.engine.connect() as conn:
        cases = conn.execute(sa.text("SELECT id, owner, retain_until FROM cases ORDER BY id")).all()
        members = conn.execute(sa.text("SELECT case_id, user_name FROM case_members ORDER BY case_id, user_name")).all()
        kept = conn.execute(sa.text("SELECT count(*) FROM probe_faces")).scalar()
    assert [(c, o, str(u)) for c, o, u in cases] == [("C-1", "ana", "2026-03-11"), ("C-2", "ben", "2026-02-19")]
    assert [tuple(m) for m in members] == [("C-1", "ana"), ("C-1", "ben"), ("C-2", "ben")]
    assert kept == 0  # no probe face was kept before: none is made up


def test_content_hash_follows_adds_and_erasures(store: GalleryStore) -> None:
    with store.transaction() as session:
        store.initialise(session, MODEL)
        empty = store.state(session).content_hash
        ada, bob = store.ensure_subject(session, "Ada"), store.ensure_subject(session, "Bob")
        store.add_face(session, ada, observation=_observation(1), image=_image("a" * 64), crop_jpeg=None)
        with_ada = store.state(session).content_hash
        store.add_face(session, bob, observation=_observation(2), image=_image("b" * 64), crop_jpeg=None)
        both = store.state(session).content_hash
        assert len({empty, with_ada, both}) == 3
        assert store.recompute_content_hash(session) == both
        store.delete_subject(session, bob.subject_id)
        assert store.state(session).content_hash == with_ada  # erasing Bob takes exactly his faces out


def test_faces_round_trip_and_cascade_on_subject_delete(store: GalleryStore) -> None:
    observations = [_observation(i) for i in range(3)]
    with store.transaction() as session:
        store.initialise(session, MODEL)
        ada = store.ensure_subject(session, "Ada")
        bob = store.ensure_subject(session, "Bob")
        assert store.ensure_subject(session, "Ada") == ada
        ids = [
            store.add_face(session, ada, observation=observations[0], image=_image("a" * 64), crop_jpeg=None),
            store.add_face(session, ada, observation=observations[1], image=_image("b" * 64), crop_jpeg=b"jpeg"),
            store.add_face(session, bob, observation=observations[2], image=_image("c" * 64), crop_jpeg=None),
        ]
    with store.transaction() as session:
        [(got_ids, vectors)] = list(store.embeddings(session, MODEL))
        assert list(got_ids) == ids
        assert np.array_equal(vectors, np.stack([o.embedding.vector for o in observations]))
        assert store.face_of_image(session, ada.subject_id, "b" * 64) == ids[1]
        assert store.image_subjects(session, "c" * 64) == [bob]
        assert store.delete_subject(session, ada.subject_id) == (2, 2)
    with store.transaction() as session:
        assert store.face_count(session) == 1
        assert "Ada" not in {s.name for s in store.subject_summaries(session)}
        assert store.subjects_of_faces(session, ids) == {ids[2]: bob}
        new_id = store.add_face(session, bob, observation=observations[0], image=_image("d" * 64), crop_jpeg=None)
    assert new_id > max(ids), "face ids are never reused after an erasure"


def test_generation_counts_changes(store: GalleryStore) -> None:
    with store.transaction() as session:
        store.initialise(session, MODEL)
        assert store.state(session).generation == 0
        assert store.bump_generation(session) == 1
    with store.transaction() as session:
        assert store.state(session).generation == 1


def test_failed_transaction_leaves_nothing(store: GalleryStore) -> None:
    with store.transaction() as session:
        store.initialise(session, MODEL)
    with pytest.raises(RuntimeError), store.transaction() as session:
        store.ensure_subject(session, "Ada")
        audit.append(session, actor="t", action=AuditAction.ENROLL, gallery_generation=1)
        raise RuntimeError("crash half-way")
    with store.transaction() as session:
        assert "Ada" not in {s.name for s in store.subject_summaries(session)}
        assert audit.events(session) == []
        assert audit.verify(session).ok


def test_audit_chain_links_and_detects_edits(store: GalleryStore) -> None:
    with store.transaction() as session:
        for n in range(5):
            audit.append(
                session,
                actor=f"user{n}",
                action=AuditAction.IDENTIFY,
                gallery_generation=n,
                purpose="p",
                case="c",
                details={"n": n},
            )
    with store.transaction() as session:
        events = audit.events(session)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
        assert audit.verify(session).ok
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit_events SET actor = 'someone else' WHERE seq = 2")
    with store.transaction() as session:
        report = audit.verify(session)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_concurrent_writers_neither_lose_events_nor_fork_the_chain(store: GalleryStore) -> None:
    """Writers on their own connections (as serve workers and CLI processes are), all starting at
    once on a gallery whose audit chain has no head yet: every event and every generation bump lands,
    in one unbroken chain."""
    with store.transaction() as session:
        store.initialise(session, MODEL)
    writers, rounds = 4, 15
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        start.wait()
        for r in range(rounds):
            with store.transaction() as session:
                generation = store.bump_generation(session)
                audit.append(
                    session, actor=f"w{n}", action=AuditAction.ENROLL, gallery_generation=generation, details={"r": r}
                )

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    with store.transaction() as session:
        report = audit.verify(session)
        assert (report.ok, report.events) == (True, writers * rounds)
        assert store.state(session).generation == writers * rounds
        assert sorted(e.gallery_generation for e in audit.events(session)) == list(range(1, writers * rounds + 1))


def test_subject_report_lists_each_image_with_its_models(store: GalleryStore) -> None:
    with store.transaction() as session:
        store.initialise(session, MODEL)
        ada = store.ensure_subject(session, "Ada")
        store.add_face(session, ada, observation=_observation(1), image=_image("a" * 64), crop_jpeg=None)
        store.add_face(session, ada, observation=_observation(2), image=_image("b" * 64), crop_jpeg=None)
        report = reports.subject_report(session, store, "Ada")
    assert sorted(i.sha256 for i in report.images) == ["a" * 64, "b" * 64]
    assert all(i.faces == 1 and i.model_ids == (MODEL,) for i in report.images)


def test_subjects_are_read_a_page_at_a_time(store: GalleryStore) -> None:
    with store.transaction() as session:
        store.initialise(session, MODEL)
        for name in ("Bob", "ada", "Cy 100%", "Ada Lovelace", "Dee"):
            store.ensure_subject(session, name)
        bob = store.ensure_subject(session, "Bob")
        store.add_face(session, bob, observation=_observation(1), image=_image("e" * 64), crop_jpeg=None)
    with store.transaction() as session:
        every = [s.name for s in store.subject_summaries(session)]
        assert [s.name for s in store.subject_summaries(session, limit=2)] == every[:2]
        assert [s.name for s in store.subject_summaries(session, limit=2, offset=2)] == every[2:4]
        assert {s.name for s in store.subject_summaries(session, search="ADA")} == {"ada", "Ada Lovelace"}
        assert [s.name for s in store.subject_summaries(session, search="100%")] == ["Cy 100%"]
        assert store.subject_summaries(session, search="_") == []  # a wildcard is a character like any other
        [found] = store.subject_summaries(session, search=f"id:{bob.subject_id[:6]}")
        assert (found.name, found.images, found.faces) == ("Bob", 1, 1)  # counted on the page as in the whole list
