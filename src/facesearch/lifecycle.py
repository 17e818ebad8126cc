"""Creating, opening and deleting a gallery home: schema migrations, keys, the init event, the engine.

Every engine's store holds the gallery's unwrapped data key (see :mod:`facesearch.storage.keys`): ``init``
makes it, ``open`` unwraps it with the master key and refuses, changing nothing, when that fails.
A gallery from before sealing is sealed on its first open with a master key.
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    AuthenticationError,
    DataKeyMismatchError,
    FacesearchError,
    GalleryNotInitialisedError,
    InputError,
    LegalHoldError,
    PermissionDeniedError,
)
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import (
    AuditHeadRow,
    FaceRow,
    ImageRow,
    LegalHoldRow,
    OptOutRow,
    ProbeFaceRow,
    SubjectRow,
)
from facesearch.governance import accounts, attempts, audit, credentials, users
from facesearch.governance.audit import AuditAction
from facesearch.governance.credentials import IssuedToken
from facesearch.governance.policy import Permission, Role
from facesearch.index import milvuskeeper
from facesearch.pipeline.models import EmbedderSpec, Models, RegisteredModel
from facesearch.pipeline.recognizers import registered, spec_for_model, spec_for_settings
from facesearch.pipeline.recognizers.registered import registered_models
from facesearch.storage import keys
from facesearch.storage.home import Home
from facesearch.types import Serialisable

log = logging.getLogger("facesearch")


def init(
    home: str | Path,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    models: Models | None = None,
) -> Engine:
    """Create (or reopen) a gallery in HOME: database schema, index folder, one init audit event.

    actor: who acts, for the audit log (default: the OS user); the creator of a new gallery is
    its first admin. settings: default from HOME/facesearch.toml; a new gallery takes the
    recognizer they name (``recognizer``, with ``embed_mirrored``), an existing one keeps its own.
    models: share already loaded models between engines (optional).

    The Python API trusts its caller: ``actor`` here and in :func:`open_engine` is a claim, as it
    must be for code that holds the master key and can write the gallery's files anyway. People
    act through the CLI, the API and the web UI, which take their own token (``token=``).
    """
    return _create(home, actor, settings, models, admin_token=False)[0]


def bootstrap(
    home: str | Path,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    models: Models | None = None,
) -> tuple[Engine, IssuedToken | None]:
    """:func:`init`, and for a new gallery its first admin's own API token (shown only to whoever
    creates the gallery, who is that admin; its creation is audited as ``token.issue``). None when
    the gallery already existed: its admins get codes from each other (``accounts.invite``)."""
    return _create(home, actor, settings, models, admin_token=True)


def _create(
    home: str | Path,
    actor: str | None,
    settings: Settings | None,
    models: Models | None,
    *,
    admin_token: bool,
) -> tuple[Engine, IssuedToken | None]:
    issued: IssuedToken | None = None
    place = Home(Path(home))
    settings = settings or Settings.load(place.root)
    if settings.database_url and place.database.exists():
        # a new gallery there would replace the data key that the SQLite gallery's templates need
        raise InputError(f"{place.root} holds an SQLite gallery: give a PostgreSQL gallery a home folder of its own")
    place.create()
    with place.locked():
        store = _open_store(place, settings)
        try:
            store.migrate()
            fresh = not store.is_initialised()
            # a new master key is of use only to a new gallery, or one from before sealing
            master = keys.load_master_key(settings, create=fresh or not _sealed(store))
            if fresh:  # a key file left by an init that failed before its transaction is replaced
                store.cipher = keys.write_data_key(place, master)
            else:
                _unlock(place, store, master)
            known = registered_models(place.models_dir)
            spec = spec_for_settings(settings, known) if fresh else _gallery_spec(store, known)
            engine = Engine(place, store, settings, actor, models, spec)
        except FacesearchError:
            store.close()
            raise
        if fresh:
            schema = store.schema_revision() or ""
            with store.transaction() as session:
                store.initialise(session, engine.spec.model_id)
                audit.append(
                    session,
                    actor=engine.actor,
                    action=AuditAction.INIT,
                    gallery_generation=0,
                    details={"model_id": engine.spec.model_id, "schema": schema},
                )
                if users.find_user(session, engine.actor) is None:  # whoever creates a gallery runs it
                    accounts.add_user(session, engine.actor, Role.ADMIN, by=engine.actor)
                    audit.append(
                        session,
                        actor=engine.actor,
                        action=AuditAction.USER_ADD,
                        gallery_generation=store.state(session).generation,
                        details={"user": engine.actor, "role": "admin"},
                    )
                if admin_token:
                    life = timedelta(days=settings.token_days)
                    issued = credentials.issue_token(session, engine.actor, engine.actor, life)
                    audit.append(
                        session,
                        actor=engine.actor,
                        action=AuditAction.TOKEN_ISSUE,
                        gallery_generation=store.state(session).generation,
                        details={
                            "user": issued.user,
                            "token_id": issued.id,
                            "expires_at": issued.expires_at.isoformat(),
                        },
                    )
    engine.retention.purge(trigger="open")
    return engine, issued


def open_engine(
    home: str | Path,
    *,
    actor: str | None = None,
    token: str | None = None,
    settings: Settings | None = None,
    models: Models | None = None,
) -> Engine:
    """Open the gallery in HOME; raises GalleryNotInitialisedError if there is none. Arguments as
    for :func:`init`; with ``token`` the engine acts for the token's user (checked as by
    :meth:`Engine.authenticate`, a failure audited as ``actor`` and raised as AuthenticationError)."""
    place = Home(Path(home))
    settings = settings or Settings.load(place.root)
    if not place.exists(settings.database_url):
        raise GalleryNotInitialisedError(f"no gallery in {place.root} (run 'facesearch init' first)")
    store = _open_store(place, settings)
    try:
        with place.locked():
            store.migrate()
            if not store.is_initialised():
                raise GalleryNotInitialisedError(
                    f"the gallery in {place.root} is not initialised (run 'facesearch init')"
                )
            _unlock(place, store, keys.load_master_key(settings))
        spec = _gallery_spec(store, registered_models(place.models_dir))
        engine = Engine(place, store, settings, actor, models, spec)
        engine.retention.purge(trigger="open")  # expired data never outlives an open
        return engine if token is None else engine.signed_in(token)
    except FacesearchError:
        store.close()
        raise


def register_model(
    home: str | Path,
    file: str | Path,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    models: Models | None = None,
    **options: Any,
) -> RegisteredModel:
    """Register an ArcFace-class ONNX model from a local FILE in HOME, so that a gallery can be
    created with it (setting ``recognizer`` = its name); ``options`` as for
    :func:`facesearch.pipeline.recognizers.registered.register_model` (name, licence, threshold,
    threshold_source required). Where HOME holds a gallery, only its admins may, and the
    registration is audited (``model.register``). A refused file or option changes nothing."""
    place = Home(Path(home))
    settings = settings or Settings.load(place.root)
    if not place.exists(settings.database_url):
        who = (actor or "").strip() or getpass.getuser()
        return registered.register_model(place.models_dir, Path(file), by=who, **options)
    with open_engine(home, actor=actor, settings=settings, models=models) as engine:
        return engine.register_model(Path(file), **options)


def _open_store(place: Home, settings: Settings) -> GalleryStore:
    """The store of the gallery in ``place``: its SQLite file, or the database ``database_url`` names."""
    if settings.database_url:
        return GalleryStore.open_url(settings.database_url)
    return GalleryStore.open_sqlite(place.database)


def _gallery_spec(store: GalleryStore, known: Mapping[str, RegisteredModel]) -> EmbedderSpec:
    """The recipe the gallery's templates were made with, whatever the settings say; a gallery of a
    model this installation lacks is refused (ModelMismatchError), changing nothing."""
    with store.transaction() as session:
        return spec_for_model(store.state(session).model_id, known)


def _sealed(store: GalleryStore) -> bool:
    with store.transaction() as session:
        return store.state(session).key_check is not None


def _unlock(place: Home, store: GalleryStore, master: bytes) -> None:
    """Give ``store`` the gallery's data key, unwrapped with ``master`` (under the home's lock).

    Raises MasterKeyError for another master key, DataKeyMissingError when the key file is gone,
    DataKeyMismatchError when it belongs to another gallery; none of them changes anything. A
    gallery from before sealing gets its data key now (or the one a crashed first attempt left),
    has every template sealed in one transaction, and loses its plaintext index files (rebuilt,
    sealed, on first use).
    """
    with store.transaction() as session:
        state = store.state(session)
        gallery_id, key_check = state.gallery_id, state.key_check
    if key_check is not None:
        cipher = keys.read_data_key(place, master)
        if cipher.gallery_id != gallery_id or cipher.key_check != key_check:
            raise DataKeyMismatchError(
                f"{place.data_key_file} holds the data key of gallery {cipher.gallery_id}, not of this gallery "
                f"({gallery_id}): restore this gallery's own HOME/keys/ folder. Nothing was changed."
            )
        store.cipher = cipher
        return
    cipher = keys.read_data_key(place, master) if place.data_key_file.exists() else keys.write_data_key(place, master)
    faces = store.seal_existing(cipher)
    removed = [path for path in place.index_dir.glob("*") if path.is_file()]
    for path in removed:
        path.unlink()
    log.warning(
        "sealed the %d face(s) of the gallery in %s under its new data key %s; removed %d plaintext index file(s)",
        faces,
        place.root,
        place.data_key_file,
        len(removed),
    )


def gallery_id(home: str | Path, *, settings: Settings | None = None) -> str | None:
    """The id of the gallery in HOME, read without its master key (None: none there, or one from
    before sealing that was never opened since)."""
    place = Home(Path(home))
    settings = settings or Settings.load(place.root)
    if not place.exists(settings.database_url):
        return None
    store = _open_store(place, settings)
    try:
        with place.locked():
            store.migrate()
            if not store.is_initialised():
                return None
            with store.transaction() as session:
                return store.state(session).gallery_id
    finally:
        store.close()


# --- deleting a gallery -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DestructionCertificate(Serialisable):
    """What deleting a gallery destroyed, when and by whom: counts and identifiers, no biometric
    data. The gallery's audit log is destroyed with it, so this is the record to keep."""

    home: str
    gallery_id: str | None  # None: a gallery from before sealing, never opened since
    model_id: str
    created_at: datetime
    deleted_at: datetime
    deleted_by: str
    subjects: int
    images: int
    faces: int
    opt_outs: int
    probe_faces: int  # searched faces kept for review of their case
    audit_events: int
    audit_head_hash: str | None  # the last audit event's hash: which log was destroyed
    content_hash: str  # of the embeddings destroyed (see facesearch.gallery.digest)
    data_key_destroyed: bool
    files_removed: int

    def lines(self) -> list[str]:
        """The certificate as text, one fact per line."""
        return [f"{name}: {value}" for name, value in self.to_dict().items()]


def delete_gallery(
    home: str | Path,
    *,
    actor: str | None = None,
    token: str | None = None,
    confirm: bool = False,
    settings: Settings | None = None,
) -> DestructionCertificate:
    """Destroy the gallery in HOME for good (admins only, ``confirm=True``): first its data key
    file (overwritten, then unlinked), so that no copy of its database or index files can be
    decrypted afterwards, even with the master key; then the database (a PostgreSQL gallery's
    tables: the database itself is left, empty), index files and the home. With index_backend
    'milvus', its collections are dropped before all that, through the vector outbox (see
    :func:`facesearch.index.milvuskeeper.drop_for_deletion`): if Milvus cannot be reached, nothing
    is deleted.

    Refused while any subject is under a legal hold. Needs no master key: a gallery whose master key
    is lost can still be deleted. A refusal is audited (the log still exists then) and changes
    nothing else. With ``token``, the admin is the token's user (a token that is not valid is
    refused and audited as ``actor``).
    """
    if not confirm:
        raise InputError("deleting a gallery destroys it and everything in it for good: confirm it explicitly")
    place = Home(Path(home))
    settings = settings or Settings.load(place.root)
    if not place.exists(settings.database_url):
        raise GalleryNotInitialisedError(f"no gallery in {place.root}")
    who = (actor or "").strip() or getpass.getuser()
    store = _open_store(place, settings)
    try:
        with place.locked():
            store.migrate()
            if not store.is_initialised():
                raise GalleryNotInitialisedError(f"the gallery in {place.root} is not initialised")
            if token is not None:
                who = _token_user(store, token, who)
            certificate = _certify(place, store, who)
            if settings.index_backend == "milvus":  # its plaintext vectors go first, or nothing does
                milvuskeeper.drop_for_deletion(
                    store,
                    uri=settings.milvus_uri,
                    database=settings.milvus_database,
                    collection=settings.milvus_collection,
                )
            destroyed = keys.destroy_data_key(place)
            if store.dialect != "sqlite":
                store.drop_tables()
            store.close()
            files = sum(1 for path in place.root.rglob("*") if path.is_file())
            place.database.unlink(missing_ok=store.dialect != "sqlite")
            shutil.rmtree(place.index_dir, ignore_errors=True)
            shutil.rmtree(place.root)
    finally:
        store.close()
    return dataclasses.replace(certificate, data_key_destroyed=destroyed, files_removed=files)


def _token_user(store: GalleryStore, token: str, actor: str) -> str:
    """The user of ``token``; AuthenticationError, audited as ``actor``, if it is not valid."""
    try:
        with store.transaction() as session:
            return credentials.authenticate(session, token).user.name
    except AuthenticationError as exc:
        with store.transaction() as session:
            unknown = attempts.unattributed(exc.reason)
            if unknown is not None:  # a token the gallery never issued names no one: counted only
                attempts.add(session, {(datetime.now(UTC).date(), unknown.value): 1})
            else:
                audit.append(
                    session,
                    actor=actor,
                    action=AuditAction.AUTH_FAILED,
                    gallery_generation=store.state(session).generation,
                    details={"code": exc.code, "reason": exc.reason},
                )
        exc.audited = True
        raise


def _certify(place: Home, store: GalleryStore, actor: str) -> DestructionCertificate:
    """Check that ``actor`` may delete the gallery and nothing is held, and count what it holds."""
    with store.transaction() as session:
        state = store.state(session)
        try:
            users.authorize(session, actor, Permission.MANAGE_GALLERY)
            refusal: FacesearchError | None = None
        except PermissionDeniedError as exc:
            refusal = exc
        held = session.scalar(
            select(func.count(func.distinct(LegalHoldRow.subject_id))).where(LegalHoldRow.released_at.is_(None))
        )
        if refusal is None and held:
            refusal = LegalHoldError(f"{held} subject(s) are under a legal hold: release the holds before deleting")
        if refusal is not None:
            audit.append(
                session,
                actor=actor,
                action=AuditAction.REFUSED,
                gallery_generation=state.generation,
                details={"permission": Permission.MANAGE_GALLERY.value, "reason": refusal.message},
            )
        else:

            def count(table: type[SubjectRow | ImageRow | FaceRow | OptOutRow | ProbeFaceRow]) -> int:
                return int(session.scalar(select(func.count()).select_from(table)) or 0)

            head = session.get(AuditHeadRow, 1)
            certificate = DestructionCertificate(
                home=str(place.root),
                gallery_id=state.gallery_id,
                model_id=state.model_id,
                created_at=state.created_at,
                deleted_at=datetime.now(UTC),
                deleted_by=actor,
                subjects=count(SubjectRow),
                images=count(ImageRow),
                faces=count(FaceRow),
                opt_outs=count(OptOutRow),
                probe_faces=count(ProbeFaceRow),
                audit_events=int(head.seq) if head else 0,
                audit_head_hash=head.hash if head else None,
                content_hash=state.content_hash,
                data_key_destroyed=False,
                files_removed=0,
            )
    if refusal is not None:
        raise refusal
    return certificate
