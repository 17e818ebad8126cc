"""The model registry: which weights each stage uses, where they come from, loaded lazily.

Weights come only from installed registry packages (``face_recognition_models``); nothing is
downloaded. Loading happens on first use, never at import time, and is shared by all stages of
one engine.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.types import Metric, RGBArray

THREADS_ENV = "FACESEARCH_MODEL_THREADS"  # threads each network may use (worker processes set 1)


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


def embedder_spec(mirror_average: bool) -> EmbedderSpec:
    """The embedding recipe the settings ask for; each recipe has its own model id."""
    return DLIB_RESNET_V1_MIRRORED if mirror_average else DLIB_RESNET_V1


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


class OnnxResNet:
    """dlib's face ResNet converted by :mod:`facesearch.pipeline.convert` (half a second, in memory, from the
    installed weights file) and run by ONNX Runtime: the same vectors as dlib to within 4e-7,
    about three times faster on a CPU."""

    def __init__(self, weights: str) -> None:
        import onnxruntime

        from facesearch.pipeline.convert import convert_resnet_v1

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get(THREADS_ENV, "0"))  # 0: one per core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            convert_resnet_v1(weights), options, providers=["CPUExecutionProvider"]
        )

    def descriptors(self, chips: Sequence[RGBArray]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self._session.run(["embeddings"], {"chips": np.stack(chips)})[0]
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


class DlibModels:
    """Lazily loaded dlib models, one instance of each per engine; safe to share across threads
    (each dlib model serialises its own calls; ONNX Runtime sessions are thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        with self._lock:
            if name not in self._loaded:
                import dlib

                if name == "hog":
                    self._loaded[name] = _Serialised(dlib.get_frontal_face_detector())
                elif name == "cnn":
                    self._loaded[name] = _Serialised(dlib.cnn_face_detection_model_v1(weights_path("cnn")))
                elif name == "landmarks5":
                    self._loaded[name] = _Serialised(dlib.shape_predictor(weights_path("landmarks5")))
                elif name == "resnet":
                    self._loaded[name] = _Serialised(dlib.face_recognition_model_v1(weights_path("resnet")))
                elif name == "resnet-onnx":
                    self._loaded[name] = OnnxResNet(weights_path("resnet"))
                else:  # pragma: no cover - programming error
                    raise KeyError(name)
            return self._loaded[name]

    def hog_detector(self) -> Any:
        return self._get("hog")

    def cnn_detector(self) -> Any:
        return self._get("cnn")

    def landmarks5(self) -> Any:
        return self._get("landmarks5")

    def resnet(self) -> Any:
        return self._get("resnet")

    def descriptors(self, chips: Sequence[RGBArray], runtime: str, num_jitters: int = 0) -> npt.NDArray[np.float32]:
        """The face ResNet's 128-d vectors of aligned chips, run by ``runtime`` ('onnx' or 'dlib').
        Jittering (random crops averaged) is dlib's own, so it always runs on dlib."""
        if runtime == "onnx" and num_jitters == 0:
            onnx_net: OnnxResNet = self._get("resnet-onnx")
            return onnx_net.descriptors(chips)
        return np.asarray(self.resnet().compute_face_descriptor(list(chips), num_jitters), dtype=np.float32)
