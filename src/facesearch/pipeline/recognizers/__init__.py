"""Recognizers: what finds, aligns and embeds faces, and what their scores mean.

A recognizer is a detector, an aligner and an embedder that together turn a photo into templates
of one model id, with the metric (scores are always *higher means more alike*), the published
operating point and the reference measurement (``scoring/reference/<model id>.json``) that say
what a score means. Its :class:`~facesearch.pipeline.models.EmbedderSpec` names all of these and
is enough to rebuild it in another process.

Built in:

- ``sface``: YuNet + SFace from OpenCV Zoo, 128-d, cosine (the default for new galleries: LFW
  10-fold 99.4%, against 99.2% for dlib, measured by ``bench/models.py``);
- ``dlib``: dlib's HOG/CNN detector + ResNet, 128-d, cosine of mirror-averaged embeddings;
- ``fusion``: YuNet, then both SFace and dlib's ResNet on each face, their cosines z-normalised and
  summed (:mod:`.fusion`), 256-d, cosine;
- a model registered from a local ONNX file (:mod:`.registered`), under the name it was given.

A new gallery takes the recognizer the settings name; an existing gallery keeps the one its
templates were made with, whatever the settings say (its recorded model id decides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from facesearch.config import Settings
from facesearch.errors import ConfigError, ModelMismatchError
from facesearch.pipeline.models import (
    DLIB_RESNET_V1,
    DLIB_RESNET_V1_MIRRORED,
    EmbedderSpec,
    Models,
    RegisteredModel,
    dlib_spec,
)
from facesearch.pipeline.recognizers.fusion import FUSION
from facesearch.pipeline.recognizers.sface import SFACE, SFACE_MIRRORED, sface_spec
from facesearch.types import AlignedFace, Embedding, RGBArray

BUILT_IN = ("sface", "dlib", "fusion")
BUILT_IN_SPECS = (SFACE_MIRRORED, SFACE, DLIB_RESNET_V1_MIRRORED, DLIB_RESNET_V1, FUSION)


class Recognizer(Protocol):
    """Finds and aligns faces in a photo, and embeds aligned faces as ``spec`` says."""

    spec: EmbedderSpec

    def find(self, pixels: RGBArray, settings: Settings) -> list[AlignedFace]:
        """Every face in the RGB pixels, most confident first, aligned for the embedder."""
        ...

    def embed(self, faces: Sequence[AlignedFace]) -> list[Embedding]:
        """One embedding per face, in one call to the network."""
        ...


def spec_for_settings(settings: Settings, registered: Mapping[str, RegisteredModel] | None = None) -> EmbedderSpec:
    """The recipe the settings choose for a new gallery or an evaluation: ``recognizer`` (a built-in
    or a registered model's name) and, for the built-ins, ``embed_mirrored``."""
    name = settings.recognizer
    if name == "sface":
        return sface_spec(settings.embed_mirrored)
    if name == "dlib":
        return dlib_spec(settings.embed_mirrored)
    if name == "fusion":
        if not settings.embed_mirrored:
            raise ConfigError(
                "the 'fusion' recognizer has one recipe, measured with the mirror image: it needs embed_mirrored = true"
            )
        return FUSION
    if registered and name in registered:
        return registered[name].spec()
    known = [*BUILT_IN, *sorted(registered or {})]
    raise ConfigError(
        f"setting 'recognizer' {name!r} is neither built in nor a registered model; known: {', '.join(known)} "
        "('facesearch models register' registers an ONNX model)"
    )


def spec_for_model(model_id: str, registered: Mapping[str, RegisteredModel] | None = None) -> EmbedderSpec:
    """The recipe whose templates carry ``model_id`` (an existing gallery's); ModelMismatchError when
    it is neither built in nor registered in this home."""
    for spec in BUILT_IN_SPECS:
        if spec.model_id == model_id:
            return spec
    for model in (registered or {}).values():
        if model.model_id == model_id:
            return model.spec()
    raise ModelMismatchError(
        f"templates of model {model_id!r} were made by a recognizer this installation does not have (built in: "
        f"{', '.join(s.model_id for s in BUILT_IN_SPECS)}; registered: "
        f"{', '.join(m.model_id for m in (registered or {}).values()) or 'none'}), and cannot be compared with "
        "another model's"
    )


def recognizer_for(spec: EmbedderSpec, settings: Settings, models: Models) -> Recognizer:
    """The working recognizer of a recipe; its networks load into ``models`` on first use."""
    if spec.recognizer == "dlib":
        from facesearch.pipeline.recognizers.dlib import DlibRecognizer

        return DlibRecognizer(spec, settings, models)
    if spec.recognizer == "sface":
        from facesearch.pipeline.recognizers.sface import sface_recognizer

        return sface_recognizer(spec, settings, models)
    if spec.recognizer == "fusion":
        from facesearch.pipeline.recognizers.fusion import FusionRecognizer

        return FusionRecognizer(spec, settings, models)
    from facesearch.pipeline.recognizers.registered import registered_recognizer

    return registered_recognizer(spec, settings, models)


__all__ = [
    "BUILT_IN",
    "DLIB_RESNET_V1",
    "FUSION",
    "SFACE",
    "Recognizer",
    "RegisteredModel",
    "recognizer_for",
    "spec_for_model",
    "spec_for_settings",
]
