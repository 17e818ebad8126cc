"""Moving a gallery to another model: its templates made again from the photos they came from.

Photos are not kept, so the person who moves a gallery hands them back: a folder, searched for
each enrolled image by the SHA-256 recorded at enrollment (file names and layout do not matter).
Each photo is analysed by the new recognizer, and of the faces it finds the one where the enrolled
face was (:func:`same_face`) is embedded. A subject moves whole or not at all: one whose photo is
missing, no longer decodes, or no longer shows its face to the new detector is *lost*, and the
move is refused, naming every such subject, unless the person accepts losing them; they are then
erased through the erasure path (each with its own ``subject.erase`` event and proof).

Everything is computed before anything is written. Then one transaction erases the lost
subjects, overwrites every moved face's row in place with the new template (face ids stay, so the
audit log's references to faces keep their meaning), records the new model id, takes one new
gallery generation and appends one ``model.move`` event; a failure anywhere before it commits
leaves the gallery exactly as it was. The old templates are destroyed physically as an erasure
destroys them: overwritten in their rows (SQLite's ``secure_delete`` zeroes what it frees), and
the index rebuilt whole from the new templates (a file index's file rewritten and its add log
deleted; a pgvector table remade in the same transaction and VACUUMed after; a Milvus collection
dropped, through the vector outbox, and made again after the commit).

The old model's calibrations stay on record but no longer apply: the threshold in force is the
new model's own (its newest calibration, else its published point). A gallery whose do-not-enroll
list holds templates of the old model is refused (their photos are not kept either, so the new
model could not honour them).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select

from facesearch.errors import (
    ConfigError,
    GalleryError,
    InputError,
    OptOutsNotMovableError,
    PhotosMissingError,
)
from facesearch.gallery import EnrolledFace
from facesearch.gallery.schema import OptOutRow
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.index.keeper import Keeper, keeper_for
from facesearch.index.milvuskeeper import MilvusKeeper
from facesearch.operations.administer import Erased, erase_in
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, FoundFace
from facesearch.pipeline.models import EmbedderSpec
from facesearch.pipeline.prepare import EMBED_BATCH, chip_jpeg
from facesearch.pipeline.recognizers import spec_for_settings
from facesearch.pipeline.recognizers.registered import registered_models
from facesearch.scoring.scores import score_meaning
from facesearch.types import SUBJECT_ID_PREFIX, Box, FaceObservation, MissingFace, ModelMoveResult

if TYPE_CHECKING:
    from facesearch.governance.context import Context

PHOTO_NOT_FOUND = "photo-not-found"
PHOTO_UNUSABLE = "photo-unusable"
FACE_NOT_FOUND = "face-not-found"

Remade = tuple[int, FaceObservation, bytes | None]  # face id, its new observation, its new crop


def photo_files(folder: Path) -> dict[str, Path]:
    """Every file under FOLDER (at any depth; hidden files and folders left out), by the SHA-256 of
    its bytes; InputError if FOLDER is not a folder."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory (give the folder that holds the gallery's photos)")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        with path.open("rb") as file:
            found.setdefault(hashlib.file_digest(file, "sha256").hexdigest(), path)
    return found


def same_face(recorded: Box, found: Sequence[FoundFace]) -> FoundFace | None:
    """The face of ``found`` that is the one enrolled at ``recorded``: each box holds the other's
    centre (two detectors frame one face differently, never so differently), and of several such
    faces the one overlapping it most. None: the new detector does not find that face."""

    def centre_in(box: Box, other: Box) -> bool:
        x, y = (other.left + other.right) / 2, (other.top + other.bottom) / 2
        return box.left <= x <= box.right and box.top <= y <= box.bottom

    def overlap(box: Box) -> float:
        width = min(box.right, recorded.right) - max(box.left, recorded.left)
        height = min(box.bottom, recorded.bottom) - max(box.top, recorded.top)
        inter = max(width, 0) * max(height, 0)
        union = box.width * box.height + recorded.width * recorded.height - inter
        return inter / union if union > 0 else 0.0

    boxes = [(f, f.aligned.detection.box) for f in found]
    matching = [(f, box) for f, box in boxes if centre_in(box, recorded) and centre_in(recorded, box)]
    best = max(matching, key=lambda pair: overlap(pair[1]), default=None)
    return None if best is None else best[0]


def target_spec(context: Context, to: str) -> EmbedderSpec:
    """The recipe of the recognizer named TO (``sface``, ``dlib`` or a model registered in the
    gallery's home; built-ins with the ``embed_mirrored`` setting); InputError for any other name
    or for the model the gallery already has."""
    try:
        spec = spec_for_settings(context.settings.replace(recognizer=to), registered_models(context.home.models_dir))
    except ConfigError as exc:
        raise InputError(f"cannot move to {to!r}: {exc.message}") from None
    if spec.model_id == context.spec.model_id:
        raise InputError(f"the gallery's templates are of model {spec.model_id} already: there is nothing to move")
    return spec


class MoveService:
    """Moves the gallery to another model for the acting user (admins); after :meth:`move`,
    ``pipeline`` and ``keeper`` are the new model's, for the engine to adopt."""

    def __init__(self, context: Context, spec: EmbedderSpec) -> None:
        self._context = context
        self.pipeline = FacePipeline(context.settings, context.pipeline.models, spec)
        settings = context.settings
        self.keeper: Keeper = keeper_for(
            context.home.index_dir, spec, settings.index_backend, context.store, **settings.index_options()
        )

    def move(self, photos_dir: Path, *, accept_losses: bool) -> ModelMoveResult:
        """See :meth:`facesearch.engine.Engine.move_model`."""
        context, spec = self._context, self.pipeline.spec
        with context.store.transaction() as session:
            from_model = context.store.state(session).model_id
            faces = context.store.enrolled_faces(session)
            opt_outs = session.scalar(
                select(func.count()).select_from(OptOutRow).where(OptOutRow.model_id != spec.model_id)
            )
        if opt_outs:
            raise OptOutsNotMovableError(
                f"the do-not-enroll list holds {opt_outs} template(s) of model {from_model}, and their photos are "
                f"not kept: model {spec.model_id} could not honour them. Nothing was changed"
            )
        files = photo_files(photos_dir)
        remade, missing = self._remake(faces, files)
        lost = tuple(sorted({m.subject for m in missing}))
        if lost and not accept_losses:
            raise PhotosMissingError(
                f"{len(lost)} subject(s) cannot move: {len(missing)} of their faces' photos are not in {photos_dir} "
                f"or no longer show the face ({', '.join(f'{m.subject} ({m.reason})' for m in missing)}). "
                "Nothing was changed: add the photos, or accept erasing these subjects (--accept-losses)",
                lost,
                len(missing),
            )
        if lost:
            context.authorize(Permission.ERASE)
        return self._switch(from_model, faces, remade, missing, lost)

    def _remake(self, faces: Sequence[EnrolledFace], files: dict[str, Path]) -> tuple[list[Remade], list[MissingFace]]:
        """Every face's new template where its photo and face are found; the others, with why not."""
        remade: list[Remade] = []
        missing: list[MissingFace] = []
        located: list[tuple[EnrolledFace, FoundFace]] = []
        for face in faces:
            reason, found = self._locate(face, files)
            if found is None:
                missing.append(MissingFace(face.subject, face.face_id, face.image_sha256, reason))
                continue
            located.append((face, found))
        for part in _batches(located, EMBED_BATCH):
            observed = self.pipeline.observe([found for _, found in part])
            for (face, _), observation in zip(part, observed, strict=True):
                crop = chip_jpeg(observation) if face.has_crop else None
                remade.append((face.face_id, _without_pixels(observation), crop))
        return remade, missing

    def _locate(self, face: EnrolledFace, files: dict[str, Path]) -> tuple[str, FoundFace | None]:
        path = files.get(face.image_sha256)
        if path is None:
            return PHOTO_NOT_FOUND, None
        try:
            image = decode(path, self.pipeline.settings)
        except InputError:
            return PHOTO_UNUSABLE, None
        return FACE_NOT_FOUND, same_face(Box(*face.box), self.pipeline.find(image))

    def _switch(
        self,
        from_model: str,
        faces: Sequence[EnrolledFace],
        remade: Sequence[Remade],
        missing: Sequence[MissingFace],
        lost: tuple[str, ...],
    ) -> ModelMoveResult:
        """Erase the lost subjects, write the new templates and model id, audit: one transaction;
        then the new index, built whole."""
        context, store, spec = self._context, self._context.store, self.pipeline.spec
        why = f"gallery moved to model {spec.model_id}: the subject's photos were missing, and its loss accepted"
        with context.locked():
            with store.transaction() as session:
                index = context.keeper.synced(session, store)  # refuses a gallery moved since it was opened
                if [f.face_id for f in store.enrolled_faces(session)] != [f.face_id for f in faces]:
                    raise GalleryError("the gallery's faces changed while the photos were analysed: run the move again")
                gone = {f.subject: f.subject_id for f in faces if f.subject in lost}
                erased: list[Erased] = [
                    erase_in(context, session, index, SUBJECT_ID_PREFIX + gone[name], why) for name in lost
                ]
                for face_id, observation, crop in remade:
                    store.replace_template(session, face_id, observation, crop)
                store.set_model(session, spec.model_id)
                generation = store.bump_generation(session)
                threshold = score_meaning(spec, store.latest_calibration(session, spec.model_id)).threshold
                seq = context.record_at(
                    session,
                    AuditAction.MODEL_MOVE,
                    generation,
                    details={
                        "from_model": from_model,
                        "to_model": spec.model_id,
                        "subjects_moved": len({f.subject for f in faces} - set(lost)),
                        "faces_reembedded": len(remade),
                        "subjects_lost": len(lost),
                        "faces_lost": sum(e.proof.faces_removed for e in erased),
                        "erasures": [e.proof.audit_seq for e in erased],
                        "threshold": threshold.score,
                        "threshold_source": threshold.source,
                    },
                )
                if isinstance(context.keeper, MilvusKeeper):  # the old model's collection goes, durably
                    context.keeper.stage_drop(session)
                if self.keeper.in_database:  # a pgvector table is remade in this transaction
                    self.keeper.rebuild(session, store)
            if not self.keeper.in_database:  # a file index: rewritten whole, its add log deleted
                with store.transaction() as session:
                    self.keeper.rebuild(session, store)
        self.keeper.settle()
        return ModelMoveResult(
            from_model=from_model,
            to_model=spec.model_id,
            generation=generation,
            subjects_moved=len({f.subject for f in faces} - set(lost)),
            faces_reembedded=len(remade),
            subjects_lost=lost,
            missing=tuple(missing),
            erasures=tuple(e.proof for e in erased),
            threshold=threshold,
            audit_seq=seq,
        )


def _without_pixels(observation: FaceObservation) -> FaceObservation:
    """The observation without its chip's pixels: a gallery's worth of new templates waits in memory
    for the one transaction, and the pixels are not stored (the crop is made before this)."""
    aligned = dataclasses.replace(observation.aligned, chip=np.zeros((0, 0, 3), dtype=np.uint8))
    return dataclasses.replace(observation, aligned=aligned)


Located = tuple[EnrolledFace, FoundFace]


def _batches(items: Sequence[Located], size: int) -> Iterator[list[Located]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
