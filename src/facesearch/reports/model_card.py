"""The model card: what the models are, where their weights come from, under what licence, what
they were trained on, and what this tool has measured of them (with dataset and date)."""

from __future__ import annotations

import dataclasses
import hashlib
from importlib import metadata
from typing import Any

from facesearch.pipeline.models import EmbedderSpec, weights_path
from facesearch.scoring.calibration import Calibration, reference
from facesearch.types import Serialisable

EMBEDDER = {
    "name": "dlib ResNet face recognition model v1 (dlib_face_recognition_resnet_model_v1.dat)",
    "author": "Davis E. King (dlib)",
    "architecture": (
        "ResNet with 29 convolutional layers: ResNet-34 with some layers removed and half the filters per layer; "
        "input a 150x150 RGB face chip aligned on 5 landmarks; output a 128-d embedding."
    ),
    "training": (
        "Trained from scratch by its author on about 3 million face images of 7,485 people: the FaceScrub and "
        "VGG Face datasets plus a large number of images its author scraped from the web. Nothing indicates that "
        "the people pictured consented to this use; the training set's demographic make-up is not published. "
        "Identities were kept apart from LFW. Loss: a pairwise hinge (metric) loss that separates identities "
        "by Euclidean distance 0.6."
    ),
    "licence": (
        "Public domain: the author released the model files into the public domain "
        "(github.com/davisking/dlib-models). facesearch installs them from the face_recognition_models package "
        "(MIT licence); nothing is downloaded at run time."
    ),
    "published_accuracy": "99.38% mean accuracy on LFW's 10-fold pairs protocol (author's figure, his own crops).",
}

COMPANIONS = (
    "Face detector: dlib's HOG + linear SVM frontal face detector (part of dlib, Boost licence); fallback: dlib's "
    "MMOD CNN face detector (mmod_human_face_detector.dat, public domain, trained on public images its author "
    "annotated).",
    "Landmarks: dlib's 5-point shape predictor (shape_predictor_5_face_landmarks.dat, public domain, trained on "
    "public images its author annotated).",
)

LIMITS = (
    "Scores are similarities of appearance, not proof of identity; every result is a list of candidates for a "
    "person to check.",
    "Error rates differ between populations and photo conditions; the figures below hold for the dataset they were "
    "measured on. Calibrate on photos like your own ('facesearch calibrate') and publish per-group rates "
    "('facesearch evaluate --groups').",
    "facesearch never infers sex, age, race, ethnicity or any other trait; group labels used in evaluation come "
    "from files the evaluator supplies.",
)


@dataclasses.dataclass(frozen=True)
class ModelCard(Serialisable):
    model_id: str
    recipe: str
    embedder: dict[str, str]
    companions: tuple[str, ...]
    weights_package: str
    weights_sha256: str
    limits: tuple[str, ...]
    reference_measurement: dict[str, Any] | None  # shipped with facesearch (LFW)
    latest_evaluation: dict[str, Any] | None  # the newest 'facesearch evaluate' run recorded in this home
    calibration: dict[str, Any] | None  # the gallery's operating threshold, if calibrated


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def reference_measurement(spec: EmbedderSpec) -> dict[str, Any] | None:
    """The summary of facesearch's own LFW evaluation of this recipe, shipped with the package."""
    data = reference(spec.model_id)
    summary = None if data is None else data.get("summary")
    return summary if isinstance(summary, dict) else None


def build_model_card(
    spec: EmbedderSpec, *, latest_evaluation: dict[str, Any] | None = None, calibration: Calibration | None = None
) -> ModelCard:
    recipe = (
        f"embedding = {'mean of the face and its mirror image' if spec.mirror_average else 'the face chip'}; "
        f"score = {spec.metric.value} ({'cosine similarity' if spec.metric.value == 'cosine' else '1 - distance'}), "
        f"higher = more alike; published operating point: score {spec.published_threshold}."
    )
    return ModelCard(
        model_id=spec.model_id,
        recipe=recipe,
        embedder=EMBEDDER,
        companions=COMPANIONS,
        weights_package=f"face_recognition_models {metadata.version('face_recognition_models')}",
        weights_sha256=_sha256(weights_path("resnet")),
        limits=LIMITS,
        reference_measurement=reference_measurement(spec),
        latest_evaluation=latest_evaluation,
        calibration=calibration.to_dict() if calibration else None,
    )
