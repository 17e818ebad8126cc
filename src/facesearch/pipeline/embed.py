"""Stage 4: turn aligned face chips into embeddings that record the model that made them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.pipeline.onnx_files import CPU
from facesearch.types import AlignedFace, Embedding, RGBArray

Network = Callable[[Sequence[RGBArray]], npt.NDArray[np.float32]]  # chips -> (n, dimension) vectors


def embed_chips(faces: Sequence[AlignedFace], spec: EmbedderSpec, network: Network) -> list[Embedding]:
    """One embedding per aligned face, computed by ``network`` in a single batch call.

    With ``spec.mirror_average`` each face is embedded with its mirror image and the two vectors are
    averaged (test-time augmentation: on LFW it lifts accuracy and makes the published threshold fit).
    """
    if not faces:
        return []
    chips = [face.chip for face in faces]
    if spec.mirror_average:
        chips += [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
    raw = network(chips)
    vectors = (raw[: len(faces)] + raw[len(faces) :]) / 2 if spec.mirror_average else raw
    out = []
    for vec in vectors:
        array = np.ascontiguousarray(vec, dtype=np.float32)
        if array.shape != (spec.dimension,):  # pragma: no cover - a wrong model file
            raise ValueError(f"model {spec.model_id} gave a vector of shape {array.shape}")
        out.append(Embedding(vector=array, model_id=spec.model_id, metric=spec.metric))
    return out


def embed_faces(
    faces: Sequence[AlignedFace],
    spec: EmbedderSpec,
    models: Models,
    num_jitters: int = 0,
    runtime: str = "onnx",
    providers: Sequence[str] = (CPU,),
) -> list[Embedding]:
    """dlib's ResNet embeddings of aligned faces (run by ONNX Runtime or by dlib: the same vectors,
    see :class:`facesearch.pipeline.models.OnnxResNet`), mirror-averaged as ``spec`` says."""
    return embed_chips(faces, spec, lambda chips: models.descriptors(chips, runtime, num_jitters, providers))
