"""The analysis pipeline: decoded image -> detect -> align -> quality -> embed."""

from __future__ import annotations

from facesearch.align import align_face
from facesearch.config import Settings
from facesearch.detect import detect_faces
from facesearch.embed import embed_faces
from facesearch.models import DlibModels, EmbedderSpec, embedder_spec
from facesearch.quality import assess
from facesearch.types import DecodedImage, FaceObservation


def main_face(observations: list[FaceObservation], width: int, height: int) -> FaceObservation | None:
    """The face a 1:1 comparison uses: of the faces at least half as large as the largest, the one
    nearest the centre of the photo (the photographer's subject, not a bystander cut by the edge)."""
    if not observations:
        return None

    def area(o: FaceObservation) -> int:
        return o.box.width * o.box.height

    largest = max(area(o) for o in observations)
    prominent = [o for o in observations if area(o) * 2 >= largest]

    def off_centre(o: FaceObservation) -> float:
        box = o.box
        return float(((box.left + box.right) / 2 - width / 2) ** 2 + ((box.top + box.bottom) / 2 - height / 2) ** 2)

    return min(prominent, key=lambda o: (off_centre(o), -area(o)))


class FacePipeline:
    """Runs every stage on one image; models load on first use."""

    def __init__(
        self,
        settings: Settings,
        models: DlibModels | None = None,
        spec: EmbedderSpec | None = None,
    ) -> None:
        self.settings = settings
        self.models = models or DlibModels()
        self.spec = spec or embedder_spec(settings.embed_mirrored)

    def analyze(self, image: DecodedImage) -> list[FaceObservation]:
        """Every face found in the image, most confident detection first."""
        detections = detect_faces(image.pixels, self.settings, self.models)
        aligned = [align_face(image.pixels, d, self.spec, self.models) for d in detections]
        embeddings = embed_faces(aligned, self.spec, self.models, self.settings.num_jitters)
        return [
            FaceObservation(aligned=a, quality=assess(a, self.settings), embedding=e)
            for a, e in zip(aligned, embeddings, strict=True)
        ]
