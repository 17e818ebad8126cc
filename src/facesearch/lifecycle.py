"""Creating and opening a gallery home: schema migrations, the init event, the engine."""

from __future__ import annotations

from pathlib import Path

from facesearch import accounts, audit
from facesearch.audit import AuditAction
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import FacesearchError, GalleryNotInitialisedError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.home import Home
from facesearch.models import DlibModels
from facesearch.policy import Role


def init(
    home: str | Path,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    models: DlibModels | None = None,
) -> Engine:
    """Create (or reopen) a gallery in HOME: database schema, index folder, one init audit event.

    actor: who acts, for the audit log (default: the OS user). settings: default from
    HOME/facesearch.toml. models: share already loaded models between engines (optional).
    """
    place = Home(Path(home))
    place.create()
    with place.locked():
        store = GalleryStore.open_sqlite(place.database)
        store.migrate()
        engine = Engine(place, store, settings or Settings.load(place.root), actor, models)
        if not store.is_initialised():
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
                if accounts.find_user(session, engine.actor) is None:  # whoever creates a gallery runs it
                    accounts.add_user(session, engine.actor, Role.ADMIN, by=engine.actor)
                    engine.record(session, AuditAction.USER_ADD, details={"user": engine.actor, "role": "admin"})
        else:
            _require_gallery_model(engine)
    engine.retention.purge(trigger="open")
    return engine


def open_engine(
    home: str | Path,
    *,
    actor: str | None = None,
    settings: Settings | None = None,
    models: DlibModels | None = None,
) -> Engine:
    """Open the gallery in HOME; raises GalleryNotInitialisedError if there is none. Arguments as
    for :func:`init`."""
    place = Home(Path(home))
    if not place.exists():
        raise GalleryNotInitialisedError(f"no gallery in {place.root} (run 'facesearch init' first)")
    store = GalleryStore.open_sqlite(place.database)
    try:
        with place.locked():
            store.migrate()
        if not store.is_initialised():
            raise GalleryNotInitialisedError(f"the gallery in {place.root} is not initialised (run 'facesearch init')")
        engine = Engine(place, store, settings or Settings.load(place.root), actor, models)
        _require_gallery_model(engine)
        engine.retention.purge(trigger="open")  # expired data never outlives an open
        return engine
    except FacesearchError:
        store.close()
        raise


def _require_gallery_model(engine: Engine) -> None:
    """Refuse an engine whose embeddings differ from those the gallery already holds."""
    with engine.store.transaction() as session:
        gallery_model = engine.store.state(session).model_id
    if gallery_model != engine.spec.model_id:
        engine.close()
        raise ModelMismatchError(
            f"the gallery in {engine.home.root} holds embeddings of {gallery_model!r}; this engine makes "
            f"{engine.spec.model_id!r}, and the two cannot be compared"
        )
