"""The 'dlib' recognizer: dlib's HOG (or MMOD CNN) detector, its 5-point landmarks and face chips,
and its 128-d ResNet, run by ONNX Runtime or by dlib (the ``runtime`` setting)."""

from __future__ import annotations

from collections.abc import Sequence

from facesearch.config import Settings
from facesearch.pipeline.align import align_face
from facesearch.pipeline.detect import detect_faces
from facesearch.pipeline.embed import embed_faces
from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.pipeline.onnx_files import execution_providers
from facesearch.types import AlignedFace, Embedding, RGBArray


class DlibRecognizer:
    """Today's recipe, unchanged: the settings' detector, fallback, upsampling, runtime and jitters."""

    def __init__(self, spec: EmbedderSpec, settings: Settings, models: Models) -> None:
        self.spec = spec
        self.settings = settings
        self.models = models

    def find(self, pixels: RGBArray, settings: Settings) -> list[AlignedFace]:
        """Every face, most confident first, with its 5-point landmarks and aligned chip."""
        return [align_face(pixels, d, self.spec, self.models) for d in detect_faces(pixels, settings, self.models)]

    def embed(self, faces: Sequence[AlignedFace]) -> list[Embedding]:
        s = self.settings
        providers = execution_providers(s.onnx_providers) if s.runtime == "onnx" else []
        return embed_faces(faces, self.spec, self.models, s.num_jitters, s.runtime, providers)
