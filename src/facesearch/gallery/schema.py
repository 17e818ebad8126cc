"""The gallery's tables (SQLAlchemy 2 declarative models). Migrations live in ``migrations/``.

Rows reference each other with ON DELETE CASCADE so that erasing a subject removes its images
and faces in one statement; SQLite's ``secure_delete`` (set on every connection) overwrites the
freed bytes, so erasure leaves no template behind in the file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from facesearch.gallery.digest import EMPTY

# SQLite only gives AUTOINCREMENT (ids never reused after deletion) to an INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC, read back with its zone on every backend. PostgreSQL keeps the zone; SQLite
    keeps none, so without this a time read from a SQLite gallery came back naive (an export's
    ``nominated_at`` without ``+00:00`` beside an ``exported_at`` with it). Aware times are stored
    in UTC; a naive one is taken to be UTC already, as everything the core writes is."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class GalleryStateRow(Base):
    """One row: the gallery's generation, bumped by every change to faces, and its content hash
    (see :mod:`facesearch.gallery.digest`)."""

    __tablename__ = "gallery_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=EMPTY)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no policy yet
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The gallery's random id and an HMAC of it under the data key (see facesearch.storage.keys); both None
    # in a gallery from before templates were sealed, until it is first opened with a master key.
    gallery_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    key_check: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SubjectRow(Base):
    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # opaque, random
    name: Mapped[str] = mapped_column(String(256), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    images: Mapped[list[ImageRow]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )


class ImageRow(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("subject_id", "sha256", name="uq_images_subject_sha256"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    lawful_basis: Mapped[str] = mapped_column(String(32), nullable=False)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    enrolled_by: Mapped[str] = mapped_column(String(256), nullable=False)
    retain_until: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)

    subject: Mapped[SubjectRow] = relationship(back_populates="images")
    faces: Mapped[list[FaceRow]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class FaceRow(Base):
    __tablename__ = "faces"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True)
    box_left: Mapped[int] = mapped_column(Integer, nullable=False)
    box_top: Mapped[int] = mapped_column(Integer, nullable=False)
    box_right: Mapped[int] = mapped_column(Integer, nullable=False)
    box_bottom: Mapped[int] = mapped_column(Integer, nullable=False)
    landmarks: Mapped[str] = mapped_column(Text, nullable=False)  # JSON [[x, y], ...]
    detector: Mapped[str] = mapped_column(String(16), nullable=False)
    detector_score: Mapped[float] = mapped_column(Float, nullable=False)
    face_px: Mapped[int] = mapped_column(Integer, nullable=False)
    sharpness: Mapped[float] = mapped_column(Float, nullable=False)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # float32 little-endian, sealed (see GalleryStore.seal); the crop is a sealed JPEG
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    crop_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    image: Mapped[ImageRow] = relationship(back_populates="faces")


class CalibrationRow(Base):
    """An operating threshold set from measured impostor scores; the newest one for the gallery's
    model is in force."""

    __tablename__ = "calibrations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    target_fmr: Mapped[float] = mapped_column(Float, nullable=False)
    fnmr_at_threshold: Mapped[float] = mapped_column(Float, nullable=False)
    dataset: Mapped[str] = mapped_column(Text, nullable=False)
    dataset_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    genuine_pairs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    impostor_pairs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fmr_curve: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: scores, fmr, impostor_pairs
    rule: Mapped[str] = mapped_column(String(32), nullable=False, server_default="overall")
    groups: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: per-group figures, the rule's cost


class UserRow(Base):
    """A person who may act on the gallery, with one role of :data:`facesearch.governance.policy.ROLE_MATRIX`."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)


class TokenRow(Base):
    """An API token: only its salted Argon2 hash is stored; ``id`` is the public part. It is valid
    until ``expires_at`` unless revoked first."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), nullable=False, index=True)
    secret_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ActivationCodeRow(Base):
    """A one-time code an admin gives a user, who exchanges it for a token only they see. Only its
    salted Argon2 hash is stored; ``id`` is the public part. Spent when ``used_at`` is set (by
    redemption, or by a later code for the same user, or by disabling the user)."""

    __tablename__ = "activation_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the token it became, if redeemed


class WebSessionRow(Base):
    """A web UI sign-in: the browser's cookie holds a random secret, the gallery only its SHA-256.
    It ends at ``expires_at``, at sign-out, or when its token is revoked or its user disabled."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # names the session in the audit log
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), nullable=False, index=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("tokens.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SearchPurposeRow(Base):
    """A purpose searches of this gallery may serve; a search naming any other is refused."""

    __tablename__ = "search_purposes"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    require_authorisation: Mapped[bool] = mapped_column(Boolean, nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    added_by: Mapped[str] = mapped_column(String(256), nullable=False)


class LegalHoldRow(Base):
    """A legal hold on a subject: while unreleased, neither purge nor erasure destroys its data."""

    __tablename__ = "legal_holds"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    reference: Mapped[str] = mapped_column(Text, nullable=False)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    placed_by: Mapped[str] = mapped_column(String(256), nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(256), nullable=True)


class NominationRow(Base):
    """A candidate an operator put forward from a search; actionable only once two verifiers,
    neither of them the operator, have confirmed it."""

    __tablename__ = "nominations"
    __table_args__ = (
        UniqueConstraint("search_seq", "face_index", "subject_id", name="uq_nominations_candidate"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    search_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the identify audit event
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    case_id: Mapped[str] = mapped_column(String(256), nullable=False, index=True)
    face_index: Mapped[int] = mapped_column(Integer, nullable=False)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    nominated_by: Mapped[str] = mapped_column(String(256), nullable=False)
    nominated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending, confirmed, rejected
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NominationDecisionRow(Base):
    """One verifier's decision on one nomination; each verifier decides at most once."""

    __tablename__ = "nomination_decisions"
    __table_args__ = (
        UniqueConstraint("nomination_id", "verifier", name="uq_decisions_one_per_verifier"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nominations.id", ondelete="CASCADE"), nullable=False)
    verifier: Mapped[str] = mapped_column(String(256), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)  # confirm, reject
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class CaseRow(Base):
    """A case searches and nominations serve, as they name it. Whoever first searches under it (or
    nominates from a search naming it) opens it and owns it; only its members work it. It keeps the
    probe faces of its searches until ``retain_until``: the gallery's retention period from its
    latest search, nomination, decision or export (see :mod:`facesearch.governance.membership`)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)  # the reference searches give
    owner: Mapped[str] = mapped_column(String(256), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    retain_until: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)  # None: no period yet


class CaseMemberRow(Base):
    """A user who works a case: its owner, and each operator the owner or an admin added."""

    __tablename__ = "case_members"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    added_by: Mapped[str] = mapped_column(String(256), nullable=False)


class ProbeFaceRow(Base):
    """The crop of one face of an identify search's probe, sealed, kept for the verifiers who review
    its nominations; it lives as long as its case (``cases.retain_until``) and is purged with it."""

    __tablename__ = "probe_faces"
    __table_args__ = (
        UniqueConstraint("search_seq", "face_index", name="uq_probe_faces_search_face"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    search_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the identify audit event
    face_index: Mapped[int] = mapped_column(Integer, nullable=False)
    crop_jpeg: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # sealed, see seals.probe_crop_context
    kept_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class OptOutRow(Base):
    """A person who asked never to be enrolled: only their template and the request's reference,
    no name. Enrolling a face that matches it is refused; searches never return it."""

    __tablename__ = "opt_outs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    request_ref: Mapped[str] = mapped_column(Text, nullable=False)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    template: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # sealed, context OPT_OUT_CONTEXT
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(256), nullable=False)


class AuditEventRow(Base):
    """Append-only, hash-chained. Never holds images or embeddings."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_ts", "actor", "ts"),  # per-actor quotas and bursts
        Index("ix_audit_events_probe_ts", "probe_sha256", "ts"),  # the same probe searched again
        Index("ix_audit_events_ts", "ts"),  # a period's events (transparency report)
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40), nullable=False)  # ISO 8601 UTC, as hashed
    actor: Mapped[str] = mapped_column(String(256), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    probe_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gallery_generation: Mapped[int] = mapped_column(BigInteger, nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON, as hashed
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditHeadRow(Base):
    """One row: the last event's seq and hash, updated in the same transaction as each append.

    It serialises appends (writers contend on this row) and lets ``verify`` notice a truncated tail.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class RefusedAttemptRow(Base):
    """How many requests naming no one were refused on one UTC day for one reason (a request with
    no credential, a token or code the gallery never issued...). Counted, never audited: see
    :mod:`facesearch.governance.attempts`."""

    __tablename__ = "refused_attempts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CollectionRow(Base):
    """A collection of unknown faces (a seized drive, a box of scans) grouped into clusters. It is
    biometric data like the gallery: bound to a purpose and case, retained until a date, erasable."""

    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # opaque, random
    name: Mapped[str] = mapped_column(String(256), nullable=False, unique=True)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    case_id: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)
    retain_until: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)


class ClusterRow(Base):
    """One group of a collection's faces, remade by each clustering run; ``label`` is a person's name
    for it, carried over to the run's group that holds most of its faces."""

    __tablename__ = "clusters"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str | None] = mapped_column(Text, nullable=True)


class CollectionFaceRow(Base):
    """One face found in a collection's photo, or one track of a face in its video (``face_index``
    is then the track's number); its embedding and crop are sealed like the gallery's."""

    __tablename__ = "collection_faces"
    __table_args__ = (
        UniqueConstraint("collection_id", "photo_sha256", "face_index", name="uq_collection_faces_photo_face"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    photo_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    face_index: Mapped[int] = mapped_column(Integer, nullable=False)
    box_left: Mapped[int] = mapped_column(Integer, nullable=False)
    box_top: Mapped[int] = mapped_column(Integer, nullable=False)
    box_right: Mapped[int] = mapped_column(Integer, nullable=False)
    box_bottom: Mapped[int] = mapped_column(Integer, nullable=False)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    crop_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # A face of a video stands for a track: the time of the frame it shows, and the first and last
    # sampled frames the track was seen in, in seconds from the video's start (NULL for a photo).
    video_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class CollectionCopyRow(Base):
    """A file of a collection that is a copy of another of its photos (the representative, whose
    faces alone are stored): byte-identical (``distance_bits`` -1) or a near-copy whose perceptual
    hash differs in ``distance_bits`` bits. Kept so that every face lists the files it is seen in,
    and erased with the collection."""

    __tablename__ = "collection_copies"
    __table_args__ = (
        UniqueConstraint("collection_id", "filename", "copy_sha256", name="uq_collection_copies_file"),
        Index("ix_collection_copies_photo", "collection_id", "photo_sha256"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), nullable=False)
    photo_sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # the representative's
    copy_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    distance_bits: Mapped[int] = mapped_column(Integer, nullable=False)


class ClusterLinkRow(Base):
    """A person's decision about two faces: ``must`` be grouped together (merge, split) or ``cannot``
    (cannot-link). Every clustering run of the collection obeys these."""

    __tablename__ = "cluster_links"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    face_a: Mapped[int] = mapped_column(ForeignKey("collection_faces.id", ondelete="CASCADE"), nullable=False)
    face_b: Mapped[int] = mapped_column(ForeignKey("collection_faces.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)


class CollectionSweepRow(Base):
    """Every cluster of a collection searched against the gallery in one step, for a case: what the
    sweep was bound to and the 1:N threshold its searches used (as JSON, with its meaning). It goes
    with its collection and its case; each cluster's search stays in the audit log."""

    __tablename__ = "collection_sweeps"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    authorisation: Mapped[str | None] = mapped_column(Text, nullable=True)
    swept_by: Mapped[str] = mapped_column(String(256), nullable=False)
    swept_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    gallery_faces: Mapped[int] = mapped_column(Integer, nullable=False)
    threshold: Mapped[str] = mapped_column(Text, nullable=False)  # the Threshold, as JSON
    audit_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the collection.sweep event


class CollectionSweepClusterRow(Base):
    """One cluster a sweep searched, as it stood then (clusters are remade by each clustering run),
    and the identify search that searched it: its candidates are nominated from that search."""

    __tablename__ = "collection_sweep_clusters"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(
        ForeignKey("collection_sweeps.id", ondelete="CASCADE"), nullable=False, index=True
    )
    cluster_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    faces: Mapped[int] = mapped_column(Integer, nullable=False)
    search_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the identify audit event


class CollectionSweepCandidateRow(Base):
    """A candidate a sweep found for one cluster: erased with its subject."""

    __tablename__ = "collection_sweep_candidates"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    swept_cluster_id: Mapped[int] = mapped_column(
        ForeignKey("collection_sweep_clusters.id", ondelete="CASCADE"), nullable=False, index=True
    )
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    clears_threshold: Mapped[bool] = mapped_column(Boolean, nullable=False)
    face_id: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the subject's best enrolled face
    expected_fmr: Mapped[float | None] = mapped_column(Float, nullable=True)
    fmr_meaning: Mapped[str] = mapped_column(Text, nullable=False)
