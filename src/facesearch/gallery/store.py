"""The gallery store: the metadata database behind SQLAlchemy, migrated by Alembic.

SQLite is the embedded default. Every write transaction starts with ``BEGIN IMMEDIATE`` so that
concurrent processes queue instead of failing half-way, foreign keys cascade, and
``secure_delete`` zeroes the bytes of deleted rows so an erased template is gone from the file.

PostgreSQL (:meth:`GalleryStore.open_url` with a ``postgresql://`` URL) runs the same models and
migrations. Its transactions queue the same way: each :meth:`GalleryStore.transaction` first takes
one transaction-scoped advisory lock (:data:`GALLERY_LOCK`), so serve workers and CLI processes on
one database, on any host, never interleave read-modify-write of the gallery state, the audit
chain head or an enrollment's duplicate check. PostgreSQL does not zero a deleted row's bytes
(VACUUM only frees them): an erased template is left sealed on disk, unreadable once the data key
in the home folder is destroyed, which is why templates are sealed there as well.

Templates (embeddings, face crops, opt-out templates) are sealed with the gallery's data key (see
:mod:`facesearch.storage.crypto`, :mod:`facesearch.storage.keys`) before they reach the database, and unsealed by
every reader. A store opened without a cipher reads and writes them in plaintext: that is only a
gallery from before sealing, between its migration and :meth:`GalleryStore.seal_existing` (and
the plaintext baseline of the benchmarks); it refuses to touch the faces of a sealed gallery. The
content hash (:mod:`facesearch.gallery.digest`) is always of the plaintext, so sealing leaves it as
it was.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    Engine,
    case,
    create_engine,
    delete,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from facesearch.errors import (
    AmbiguousSubjectError,
    DataKeyMissingError,
    GalleryError,
    GalleryNotInitialisedError,
    SubjectNotFoundError,
)
from facesearch.extras import require
from facesearch.gallery.digest import EMPTY, combine, face_digest
from facesearch.gallery.schema import Base, CalibrationRow, FaceRow, GalleryStateRow, ImageRow, OptOutRow, SubjectRow
from facesearch.gallery.seals import face_crop_context, face_embedding_context
from facesearch.scoring.calibration import Calibration, FmrCurve
from facesearch.storage.crypto import DataCipher
from facesearch.types import SUBJECT_ID_PREFIX, FaceObservation, SubjectSummary

MIGRATIONS = Path(__file__).parent / "migrations"
# Calibration fields stored as columns of the same name (the FMR curve is stored as JSON).
_CALIBRATION_COLUMNS = (
    "created_at",
    "model_id",
    "threshold",
    "target_fmr",
    "fnmr_at_threshold",
    "dataset",
    "dataset_sha256",
    "genuine_pairs",
    "impostor_pairs",
)
# What a sealed opt-out template is (the associated data of GalleryStore.seal): not bound to its row,
# so the template can be sealed before the row exists; moving one between opt-out rows gains nothing.
OPT_OUT_CONTEXT = b"opt_outs.template"
# The key of the advisory lock that serialises a PostgreSQL gallery's transactions (any constant
# bigint; one database holds one gallery). "facesearch" in ASCII, truncated to 8 bytes.
GALLERY_LOCK = int.from_bytes(b"facesear", "big") >> 1


@dataclasses.dataclass(frozen=True)
class SubjectRef:
    subject_id: str
    name: str


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.execute("PRAGMA journal_mode = DELETE")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str) -> Engine:
    require("postgres", "a gallery on PostgreSQL")
    # pool_pre_ping: a serve worker outlives server restarts and idle-connection timeouts
    return create_engine(url, pool_pre_ping=True)


def database_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use: psycopg 3 for a bare ``postgresql://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def serialise(session: Session) -> None:
    """Queue behind every other transaction of this gallery until this one ends (PostgreSQL; on
    SQLite ``BEGIN IMMEDIATE`` already did). Taking it again in the same transaction is free."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GALLERY_LOCK})


class GalleryStore:
    """Subjects, images and faces, plus the gallery generation; the audit log shares its database."""

    def __init__(self, engine: Engine, cipher: DataCipher | None = None) -> None:
        self.engine = engine
        self.cipher = cipher  # set by facesearch.lifecycle once the data key is unwrapped
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open_sqlite(cls, path: Path, cipher: DataCipher | None = None) -> GalleryStore:
        return cls(_sqlite_engine(path), cipher)

    @classmethod
    def open_url(cls, url: str, cipher: DataCipher | None = None) -> GalleryStore:
        """A store on the database at ``url``: ``sqlite:///PATH`` or ``postgresql://...`` (psycopg 3;
        the server needs no extension for the gallery itself)."""
        parsed = make_url(database_url(url))
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise GalleryError("an SQLite gallery needs a file: sqlite:///PATH")
            return cls.open_sqlite(Path(parsed.database), cipher)
        if backend == "postgresql":
            return cls(_postgres_engine(parsed.render_as_string(hide_password=False)), cipher)
        raise GalleryError(f"unsupported gallery database {parsed.drivername!r}: use sqlite:/// or postgresql://")

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # --- sealing ----------------------------------------------------------------------

    def seal(self, data: bytes, *, context: bytes) -> bytes:
        """``data`` sealed under the gallery's data key, for a column that holds biometric data;
        ``context`` names the column (and row, where known before the insert), e.g.
        :data:`OPT_OUT_CONTEXT`. Plaintext from a store without a cipher (see the module doc)."""
        return self.cipher.seal(data, context=context) if self.cipher else bytes(data)

    def unseal(self, blob: bytes, *, context: bytes) -> bytes:
        """The plaintext of a value :meth:`seal` made with the same ``context``; TamperedDataError
        if it was altered or moved."""
        return self.cipher.unseal(blob, context=context) if self.cipher else bytes(blob)

    def _sealed_state(self, session: Session) -> GalleryStateRow:
        """The state row, once it is clear this store may read and write the gallery's templates."""
        row = self.state(session)
        if row.key_check is not None and self.cipher is None:
            raise DataKeyMissingError("this gallery's templates are sealed and the store has no data key")
        if row.key_check is None and self.cipher is not None:
            raise GalleryError("this gallery's templates are not sealed yet (open it through facesearch.open)")
        return row

    def seal_existing(self, cipher: DataCipher, batch: int = 10_000) -> int:
        """Seal, in one transaction, every template of a gallery from before sealing (embeddings,
        crops, opt-out templates) and record the key check; from then on this store uses
        ``cipher``. Returns the number of faces sealed. A crash leaves the gallery as it was."""
        faces = 0
        with self.transaction() as session:
            row = self.state(session)
            if row.key_check is not None:
                raise GalleryError("this gallery's templates are already sealed")
            last = 0
            while True:
                part = session.execute(
                    select(FaceRow.id, FaceRow.embedding, FaceRow.crop_jpeg)
                    .where(FaceRow.id > last)
                    .order_by(FaceRow.id)
                    .limit(batch)
                ).all()
                if not part:
                    break
                session.execute(
                    update(FaceRow),
                    [
                        {
                            "id": face_id,
                            "embedding": cipher.seal(bytes(vector), context=face_embedding_context(face_id)),
                            "crop_jpeg": None
                            if crop is None
                            else cipher.seal(bytes(crop), context=face_crop_context(face_id)),
                        }
                        for face_id, vector, crop in part
                    ],
                )
                faces += len(part)
                last = int(part[-1][0])
            opt_outs = session.execute(select(OptOutRow.id, OptOutRow.template)).all()
            if opt_outs:
                session.execute(
                    update(OptOutRow),
                    [{"id": i, "template": cipher.seal(bytes(t), context=OPT_OUT_CONTEXT)} for i, t in opt_outs],
                )
            row.gallery_id, row.key_check = cipher.gallery_id, cipher.key_check
            session.flush()
        self.cipher = cipher
        return faces

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``, by default the newest migration (idempotent)."""
        config = _alembic_config()
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":  # two processes opening a new gallery migrate it once
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GALLERY_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    @staticmethod
    def head_revision() -> str:
        """The newest migration this version of facesearch knows."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None
        return head

    def drop_tables(self) -> None:
        """Drop every table of the gallery, Alembic's version table included (deleting a gallery
        whose tables live in a server database; an SQLite gallery's file is simply removed)."""
        with self.engine.begin() as connection:
            if (
                self.dialect == "postgresql"
                and connection.execute(text("SELECT to_regclass('vector_index_meta')")).scalar()
            ):
                # pgvector index tables first: their rows reference faces (see facesearch.index.dbkeeper)
                for name in connection.execute(text("SELECT name FROM vector_index_meta")).scalars().all():
                    connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
                connection.execute(text("DROP TABLE vector_index_meta"))
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def initialise(self, session: Session, model_id: str) -> None:
        """Create the state row; with a cipher, the gallery is sealed from the start under its key."""
        sealed = {"gallery_id": self.cipher.gallery_id, "key_check": self.cipher.key_check} if self.cipher else {}
        session.add(GalleryStateRow(id=1, generation=0, model_id=model_id, created_at=_now(), **sealed))
        session.flush()

    def is_initialised(self) -> bool:
        if not inspect(self.engine).has_table("gallery_state"):
            return False
        with self.transaction() as session:
            return session.get(GalleryStateRow, 1) is not None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            serialise(session)
            yield session

    # --- gallery state ----------------------------------------------------------------

    def state(self, session: Session) -> GalleryStateRow:
        row = session.get(GalleryStateRow, 1)
        if row is None:
            raise GalleryNotInitialisedError("the gallery has not been initialised (run 'facesearch init')")
        return row

    def bump_generation(self, session: Session) -> int:
        row = self.state(session)
        row.generation += 1
        session.flush()
        return row.generation

    # --- calibration --------------------------------------------------------------------

    def add_calibration(self, session: Session, calibration: Calibration, actor: str) -> int:
        values = {name: getattr(calibration, name) for name in _CALIBRATION_COLUMNS}
        row = CalibrationRow(
            **values,
            created_by=actor,
            fmr_curve=calibration.curve.to_json(),
            rule=calibration.rule,
            groups=calibration.groups_json(),
        )
        session.add(row)
        session.flush()
        return row.id

    def latest_calibration(self, session: Session, model_id: str) -> Calibration | None:
        """The calibration in force for this model: the newest one."""
        row = session.scalar(
            select(CalibrationRow)
            .where(CalibrationRow.model_id == model_id)
            .order_by(CalibrationRow.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        values = {name: getattr(row, name) for name in _CALIBRATION_COLUMNS}
        return Calibration(
            **values,
            curve=FmrCurve.from_json(row.fmr_curve),
            rule=row.rule,
            **Calibration.groups_from_json(row.groups),
        )

    # --- subjects and images -------------------------------------------------------------

    def require_subject(self, session: Session, reference: str) -> SubjectRef:
        """The subject REFERENCE names: ``id:<subject id>`` by its id, anything else by its name.

        A bare reference is never taken as an id. One that names no subject but is a subject's id
        is refused with a hint; one that names a subject and is also another subject's id is
        refused as ambiguous, as is an ``id:`` reference that is also another subject's name: so
        ``erase X`` reaches the subject named X or none.
        """
        text = reference.strip()
        named = session.scalar(select(SubjectRow).where(SubjectRow.name == text))
        if text[: len(SUBJECT_ID_PREFIX)].lower() == SUBJECT_ID_PREFIX:
            subject_id = text[len(SUBJECT_ID_PREFIX) :].strip()
            row, other = session.get(SubjectRow, subject_id), named  # a name given before names were checked
            if row is None:
                row, other = named, None
            if row is None:
                raise SubjectNotFoundError(f"no subject with the id {subject_id!r} in this gallery")
        else:
            row, other = named, session.get(SubjectRow, text)
            if row is None:
                hint = f" ({text!r} is a subject's id: write {SUBJECT_ID_PREFIX}{text})" if other is not None else ""
                raise SubjectNotFoundError(f"no subject named {text!r} in this gallery{hint}")
        if other is not None and other.id != row.id:
            raise AmbiguousSubjectError(
                f"{text!r} could mean two subjects, id:{row.id} and id:{other.id} (one is named so, the other "
                "has it as its id): refer to the one you mean by its id"
            )
        return SubjectRef(row.id, row.name)

    def ensure_subject(self, session: Session, name: str) -> SubjectRef:
        row = session.scalar(select(SubjectRow).where(SubjectRow.name == name))
        if row is None:
            row = SubjectRow(id=secrets.token_hex(8), name=name, created_at=_now())
            session.add(row)
            session.flush()
        return SubjectRef(row.id, row.name)

    def image_subjects(self, session: Session, sha256: str) -> list[SubjectRef]:
        """Subjects that already hold an image with this file hash."""
        rows = session.execute(
            select(SubjectRow.id, SubjectRow.name)
            .join(ImageRow, ImageRow.subject_id == SubjectRow.id)
            .where(ImageRow.sha256 == sha256)
        )
        return [SubjectRef(i, n) for i, n in rows]

    def enrolled_images(self, session: Session) -> set[tuple[str, str]]:
        """(subject name, image sha256) of every enrolled image."""
        rows = session.execute(select(SubjectRow.name, ImageRow.sha256).join(ImageRow.subject))
        return {(name, sha) for name, sha in rows}

    def face_of_image(self, session: Session, subject_id: str, sha256: str) -> int | None:
        return session.scalar(
            select(FaceRow.id)
            .join(ImageRow, FaceRow.image_id == ImageRow.id)
            .where(ImageRow.subject_id == subject_id, ImageRow.sha256 == sha256)
        )

    def add_face(
        self,
        session: Session,
        subject: SubjectRef,
        *,
        observation: FaceObservation,
        image: ImageRecord,
        crop_jpeg: bytes | None,
    ) -> int:
        """Store one image and its one enrolled face; returns the face id."""
        image_row = ImageRow(
            subject_id=subject.subject_id,
            sha256=image.sha256,
            filename=image.filename,
            source=image.source,
            lawful_basis=image.lawful_basis,
            enrolled_at=_now(),
            enrolled_by=image.enrolled_by,
            retain_until=image.retain_until,
            width=image.width,
            height=image.height,
        )
        session.add(image_row)
        session.flush()
        self._sealed_state(session)
        vector = observation.embedding.vector.astype("<f4").tobytes()
        box, quality = observation.box, observation.quality
        face_row = FaceRow(
            image_id=image_row.id,
            box_left=box.left,
            box_top=box.top,
            box_right=box.right,
            box_bottom=box.bottom,
            landmarks=json.dumps(observation.aligned.landmarks),
            detector=observation.aligned.detection.detector,
            detector_score=quality.detector_score,
            face_px=quality.face_px,
            sharpness=quality.sharpness,
            model_id=observation.embedding.model_id,
            embedding=b"" if self.cipher else vector,  # sealed below, bound to the row's id
            crop_jpeg=None if self.cipher else crop_jpeg,
        )
        session.add(face_row)
        session.flush()
        if self.cipher:
            face_row.embedding = self.cipher.seal(vector, context=face_embedding_context(face_row.id))
            if crop_jpeg is not None:
                face_row.crop_jpeg = self.cipher.seal(crop_jpeg, context=face_crop_context(face_row.id))
        self._account(session, [(face_row.id, face_row.model_id, vector)])
        return face_row.id

    def _plain(self, face_id: int, embedding: bytes) -> bytes:
        return self.unseal(embedding, context=face_embedding_context(face_id))

    def face_crop(self, session: Session, face_id: int) -> bytes | None:
        """The JPEG crop kept of a face (``keep_crops``), or None."""
        self._sealed_state(session)
        crop = session.scalar(select(FaceRow.crop_jpeg).where(FaceRow.id == face_id))
        return None if crop is None else self.unseal(crop, context=face_crop_context(face_id))

    def face_embedding(self, session: Session, face_id: int) -> np.ndarray:
        """One stored face's embedding (float32)."""
        self._sealed_state(session)
        blob = session.scalar(select(FaceRow.embedding).where(FaceRow.id == face_id))
        if blob is None:
            raise GalleryError(f"no face {face_id} in this gallery")
        return np.frombuffer(self._plain(face_id, blob), dtype="<f4").astype(np.float32)

    def _account(self, session: Session, faces: Sequence[tuple[int, str, bytes]]) -> None:
        """Add faces to the content hash, or take them out: the same XOR."""
        row = self.state(session)
        total = row.content_hash
        for face_id, model_id, embedding in faces:
            total = combine(total, face_digest(face_id, model_id, bytes(embedding)))
        row.content_hash = total
        session.flush()

    def recompute_content_hash(self, session: Session) -> str:
        """The content hash from every stored face (after rows were written by other means)."""
        row = self._sealed_state(session)
        row.content_hash = EMPTY
        query = select(FaceRow.id, FaceRow.model_id, FaceRow.embedding)
        for part in session.execute(query).yield_per(10_000).partitions():
            self._account(session, [(int(r[0]), str(r[1]), self._plain(int(r[0]), r[2])) for r in part])
        return row.content_hash

    def subject_face_ids(self, session: Session, subject_id: str) -> list[int]:
        return list(
            session.scalars(
                select(FaceRow.id)
                .join(ImageRow, FaceRow.image_id == ImageRow.id)
                .where(ImageRow.subject_id == subject_id)
            )
        )

    def delete_subject(self, session: Session, subject_id: str) -> tuple[int, int]:
        """Delete the subject, its images and faces (cascade); returns (images, faces) removed."""
        images, faces = self.delete_images(session, ImageRow.subject_id == subject_id)
        session.execute(delete(SubjectRow).where(SubjectRow.id == subject_id))
        return images, faces

    def delete_images(self, session: Session, where: ColumnElement[bool]) -> tuple[int, int]:
        """Delete the images matching ``where`` and their faces (cascade), taking the faces out of
        the content hash; returns (images, faces) removed."""
        held = session.execute(
            select(FaceRow.id, FaceRow.model_id, FaceRow.embedding)
            .join(ImageRow, FaceRow.image_id == ImageRow.id)
            .where(where)
        ).all()
        self._sealed_state(session)
        self._account(session, [(int(r[0]), str(r[1]), self._plain(int(r[0]), r[2])) for r in held])
        removed = session.execute(delete(ImageRow).where(where).execution_options(synchronize_session=False))
        return int(removed.rowcount or 0), len(held)  # type: ignore[attr-defined]

    def enrolled_faces(self, session: Session) -> list[EnrolledFace]:
        """Every enrolled face with its subject, its image's file hash and its box, by face id."""
        rows = session.execute(
            select(
                FaceRow.id,
                SubjectRow.id,
                SubjectRow.name,
                ImageRow.sha256,
                FaceRow.box_left,
                FaceRow.box_top,
                FaceRow.box_right,
                FaceRow.box_bottom,
                FaceRow.crop_jpeg.is_not(None),
            )
            .join(ImageRow, FaceRow.image_id == ImageRow.id)
            .join(SubjectRow, ImageRow.subject_id == SubjectRow.id)
            .order_by(FaceRow.id)
        )
        return [
            EnrolledFace(int(face), subject, name, sha, (int(left), int(top), int(right), int(bottom)), bool(crop))
            for face, subject, name, sha, left, top, right, bottom, crop in rows
        ]

    def replace_template(
        self, session: Session, face_id: int, observation: FaceObservation, crop_jpeg: bytes | None
    ) -> None:
        """Overwrite an enrolled face's template, box, landmarks, quality and crop in its row with
        those another model made of the same face (a model move): the old template's bytes are
        overwritten in place (and zeroed where SQLite frees them), the content hash follows."""
        row = session.get(FaceRow, face_id)
        if row is None:
            raise GalleryError(f"no face {face_id} in this gallery")
        self._sealed_state(session)
        self._account(session, [(face_id, row.model_id, self._plain(face_id, row.embedding))])  # taken out
        vector = observation.embedding.vector.astype("<f4").tobytes()
        box, quality = observation.box, observation.quality
        row.box_left, row.box_top, row.box_right, row.box_bottom = box.left, box.top, box.right, box.bottom
        row.landmarks = json.dumps(observation.aligned.landmarks)
        row.detector = observation.aligned.detection.detector
        row.detector_score, row.face_px, row.sharpness = quality.detector_score, quality.face_px, quality.sharpness
        row.model_id = observation.embedding.model_id
        row.embedding = self.seal(vector, context=face_embedding_context(face_id))
        row.crop_jpeg = None if crop_jpeg is None else self.seal(crop_jpeg, context=face_crop_context(face_id))
        session.flush()
        self._account(session, [(face_id, row.model_id, vector)])

    def set_model(self, session: Session, model_id: str) -> None:
        """Record that the gallery's templates are now of ``model_id`` (a model move)."""
        self.state(session).model_id = model_id
        session.flush()

    def subjects_of_faces(self, session: Session, face_ids: Sequence[int]) -> dict[int, SubjectRef]:
        rows = session.execute(
            select(FaceRow.id, SubjectRow.id, SubjectRow.name)
            .join(ImageRow, FaceRow.image_id == ImageRow.id)
            .join(SubjectRow, ImageRow.subject_id == SubjectRow.id)
            .where(FaceRow.id.in_([int(i) for i in face_ids]))
        )
        return {face_id: SubjectRef(sid, name) for face_id, sid, name in rows}

    def face_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(FaceRow)) or 0)

    def embeddings(
        self, session: Session, model_id: str, batch: int = 10_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All stored embeddings of one model, in batches of (ids, float32 matrix), unsealed."""
        self._sealed_state(session)
        query = select(FaceRow.id, FaceRow.embedding).where(FaceRow.model_id == model_id).order_by(FaceRow.id)
        result = session.execute(query).yield_per(batch)
        cipher = self.cipher
        for part in result.partitions(batch):
            ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
            if cipher is None:
                plain = b"".join(r[1] for r in part)
            else:
                plain = b"".join(cipher.unseal(r[1], context=face_embedding_context(r[0])) for r in part)
            vectors = np.frombuffer(plain, dtype="<f4").reshape(len(part), -1)
            yield ids, vectors.astype(np.float32)

    def face_vectors(self, session: Session, face_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embeddings of some faces, by face id (float32, unsealed)."""
        self._sealed_state(session)
        query = select(FaceRow.id, FaceRow.embedding).where(FaceRow.id.in_([int(i) for i in face_ids]))
        return {
            int(i): np.frombuffer(self._plain(int(i), e), dtype="<f4").astype(np.float32)
            for i, e in session.execute(query)
        }

    def subject_summaries(
        self, session: Session, *, search: str = "", limit: int | None = None, offset: int = 0
    ) -> list[SubjectSummary]:
        """Subjects by name (then id), with image and face counts, the earliest retain-until and the
        first face whose crop is kept: those whose name holds SEARCH (any case) or whose id starts
        with it; LIMIT of them from OFFSET (all without a limit). The page is chosen before anything
        is counted."""
        page = select(SubjectRow.id).order_by(SubjectRow.name, SubjectRow.id)
        wanted = search.strip()
        if wanted:
            page = page.where(
                func.lower(SubjectRow.name).contains(wanted.lower(), autoescape=True)
                | SubjectRow.id.startswith(wanted.lower().removeprefix("id:"), autoescape=True)
            )
        if limit is not None:
            page = page.limit(limit)
        page = page.offset(offset)
        rows = session.execute(
            select(
                SubjectRow.id,
                SubjectRow.name,
                SubjectRow.created_at,
                func.count(func.distinct(ImageRow.id)),
                func.count(FaceRow.id),
                func.min(ImageRow.retain_until),
                func.min(case((FaceRow.crop_jpeg.is_not(None), FaceRow.id))),
            )
            .outerjoin(ImageRow, ImageRow.subject_id == SubjectRow.id)
            .outerjoin(FaceRow, FaceRow.image_id == ImageRow.id)
            .where(SubjectRow.id.in_(page.scalar_subquery()))
            .group_by(SubjectRow.id, SubjectRow.name, SubjectRow.created_at)
            .order_by(SubjectRow.name, SubjectRow.id)
        )
        return [
            SubjectSummary(sid, name, int(n_img), int(n_face), created, retain, shown)
            for sid, name, created, n_img, n_face, retain, shown in rows
        ]


@dataclasses.dataclass(frozen=True)
class EnrolledFace:
    """One enrolled face, as moving the gallery to another model finds it again: its subject, the
    SHA-256 of the photo it was enrolled from, and its box (left, top, right, bottom) in that
    photo's pixels, which tells it from any other face the photo shows."""

    face_id: int
    subject_id: str
    subject: str
    image_sha256: str
    box: tuple[int, int, int, int]
    has_crop: bool


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """Provenance and size of one enrolled image."""

    sha256: str
    filename: str
    source: str
    lawful_basis: str
    enrolled_by: str
    retain_until: date | None
    width: int
    height: int


def _now() -> datetime:
    return datetime.now(UTC)


def _alembic_config() -> Config:
    """Alembic pointed at facesearch's migrations (no alembic.ini: the package carries them)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
