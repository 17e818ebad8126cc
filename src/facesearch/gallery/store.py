"""The gallery store: the metadata database behind SQLAlchemy, migrated by Alembic.

SQLite is the embedded default. Every write transaction starts with ``BEGIN IMMEDIATE`` so that
concurrent processes queue instead of failing half-way, foreign keys cascade, and
``secure_delete`` zeroes the bytes of deleted rows so an erased template is gone from the file.
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
from sqlalchemy import ColumnElement, Engine, create_engine, delete, event, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from facesearch.calibration import Calibration, FmrCurve
from facesearch.errors import GalleryNotInitialisedError, SubjectNotFoundError
from facesearch.gallery.digest import EMPTY, combine, face_digest
from facesearch.gallery.schema import CalibrationRow, FaceRow, GalleryStateRow, ImageRow, SubjectRow
from facesearch.types import FaceObservation, SubjectSummary

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


class GalleryStore:
    """Subjects, images and faces, plus the gallery generation; the audit log shares its database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open_sqlite(cls, path: Path) -> GalleryStore:
        return cls(_sqlite_engine(path))

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``, by default the newest migration (idempotent)."""
        config = _alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    @staticmethod
    def head_revision() -> str:
        """The newest migration this version of facesearch knows."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None
        return head

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def initialise(self, session: Session, model_id: str) -> None:
        session.add(GalleryStateRow(id=1, generation=0, model_id=model_id, created_at=_now()))
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
        row = CalibrationRow(**values, created_by=actor, fmr_curve=calibration.curve.to_json())
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
        if values["created_at"].tzinfo is None:  # SQLite keeps no zone; everything is stored in UTC
            values["created_at"] = values["created_at"].replace(tzinfo=UTC)
        return Calibration(**values, curve=FmrCurve.from_json(row.fmr_curve))

    # --- subjects and images -------------------------------------------------------------

    def find_subject(self, session: Session, name_or_id: str) -> SubjectRef | None:
        row = session.get(SubjectRow, name_or_id) or session.scalar(
            select(SubjectRow).where(SubjectRow.name == name_or_id)
        )
        return SubjectRef(row.id, row.name) if row else None

    def require_subject(self, session: Session, name_or_id: str) -> SubjectRef:
        ref = self.find_subject(session, name_or_id)
        if ref is None:
            raise SubjectNotFoundError(f"no subject named or numbered {name_or_id!r} in this gallery")
        return ref

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
            embedding=observation.embedding.vector.astype("<f4").tobytes(),
            crop_jpeg=crop_jpeg,
        )
        session.add(face_row)
        session.flush()
        self._account(session, [(face_row.id, face_row.model_id, face_row.embedding)])
        return face_row.id

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
        row = self.state(session)
        row.content_hash = EMPTY
        query = select(FaceRow.id, FaceRow.model_id, FaceRow.embedding)
        for part in session.execute(query).yield_per(10_000).partitions():
            self._account(session, [(int(r[0]), str(r[1]), bytes(r[2])) for r in part])
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
        self._account(session, [(int(r[0]), str(r[1]), bytes(r[2])) for r in held])
        removed = session.execute(delete(ImageRow).where(where).execution_options(synchronize_session=False))
        return int(removed.rowcount or 0), len(held)  # type: ignore[attr-defined]

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
        """All stored embeddings of one model, in batches of (ids, float32 matrix)."""
        query = select(FaceRow.id, FaceRow.embedding).where(FaceRow.model_id == model_id).order_by(FaceRow.id)
        result = session.execute(query).yield_per(batch)
        for part in result.partitions(batch):
            ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
            vectors = np.frombuffer(b"".join(r[1] for r in part), dtype="<f4").reshape(len(part), -1)
            yield ids, vectors.astype(np.float32)

    def face_vectors(self, session: Session, face_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embeddings of some faces, by face id (float32)."""
        query = select(FaceRow.id, FaceRow.embedding).where(FaceRow.id.in_([int(i) for i in face_ids]))
        return {int(i): np.frombuffer(bytes(e), dtype="<f4").astype(np.float32) for i, e in session.execute(query)}

    def seal(self, data: bytes, *, context: bytes) -> bytes:
        """Biometric bytes as stored at rest (see the encryption layer); ``context`` names what they are."""
        return data

    def unseal(self, blob: bytes, *, context: bytes) -> bytes:
        return blob

    def subject_summaries(self, session: Session) -> list[SubjectSummary]:
        rows = session.execute(
            select(
                SubjectRow.id,
                SubjectRow.name,
                SubjectRow.created_at,
                func.count(func.distinct(ImageRow.id)),
                func.count(FaceRow.id),
                func.min(ImageRow.retain_until),
            )
            .outerjoin(ImageRow, ImageRow.subject_id == SubjectRow.id)
            .outerjoin(FaceRow, FaceRow.image_id == ImageRow.id)
            .group_by(SubjectRow.id, SubjectRow.name, SubjectRow.created_at)
            .order_by(SubjectRow.name)
        )
        return [
            SubjectSummary(sid, name, int(n_img), int(n_face), created, retain)
            for sid, name, created, n_img, n_face, retain in rows
        ]


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
