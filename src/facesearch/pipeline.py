"""The analysis pipeline: decoded image -> detect -> align -> quality -> embed."""

from __future__ import annotations

from facesearch.align import align_face
from facesearch.config import Settings
from facesearch.detect import detect_faces
from facesearch.embed import embed_faces
from facesearch.models import DLIB_RESNET_V1, DlibModels, EmbedderSpec
from facesearch.quality import assess
from facesearch.types import DecodedImage, FaceObservation


def main_face(observations: list[FaceObservation]) -> FaceObservation | None:
    """The face a 1:1 comparison uses: the largest usable face, else the largest face found."""
    if not observations:
        return None
    return max(observations, key=lambda o: (o.quality.usable, o.box.width * o.box.height))


class FacePipeline:
    """Runs every stage on one image; models load on first use."""

    def __init__(
        self,
        settings: Settings,
        models: DlibModels | None = None,
        spec: EmbedderSpec = DLIB_RESNET_V1,
    ) -> None:
        self.settings = settings
        self.models = models or DlibModels()
        self.spec = spec

    def analyze(self, image: DecodedImage) -> list[FaceObservation]:
        """Every face found in the image, most confident detection first."""
        detections = detect_faces(image.pixels, self.settings, self.models)
        aligned = [align_face(image.pixels, d, self.spec, self.models) for d in detections]
        embeddings = embed_faces(aligned, self.spec, self.models, self.settings.num_jitters)
        return [
            FaceObservation(aligned=a, quality=assess(a, self.settings), embedding=e)
            for a, e in zip(aligned, embeddings, strict=True)
        ]
