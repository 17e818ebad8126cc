"""The 'fusion' recognizer on real photos: one template per face holding both members' templates,
whose cosine is the documented weighted sum of SFace's and dlib's z-normalised cosines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import facesearch
from facesearch.config import Settings
from facesearch.errors import ConfigError
from facesearch.pipeline.align import align_face
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, main_face
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, DLIB_WEIGHTS_SHA256, DlibModels
from facesearch.pipeline.recognizers import FUSION, spec_for_model, spec_for_settings
from facesearch.pipeline.recognizers.fusion import FUSION_V1
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED, SFACE_SHA256
from facesearch.reports.model_card import build_model_card
from facesearch.scoring.scores import compare
from facesearch.types import FaceObservation

from helpers import init_staffed

FUSION_SETTINGS = Settings(recognizer="fusion")


def _main(pipeline: FacePipeline, photo: Path) -> FaceObservation:
    image = decode(photo, pipeline.settings)
    face = main_face(pipeline.analyze(image), image.width, image.height)
    assert face is not None
    return face


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_the_recipe_is_chosen_by_name_and_found_again_by_its_model_id() -> None:
    assert spec_for_settings(FUSION_SETTINGS) == FUSION == spec_for_model(FUSION.model_id)
    assert FUSION.dimension == 256 and FUSION.mirror_average and "sface+dlib" in FUSION.model_id
    with pytest.raises(ConfigError, match="embed_mirrored"):
        spec_for_settings(Settings(recognizer="fusion", embed_mirrored=False))


def test_the_template_cosine_is_the_weighted_sum_of_normalised_member_cosines() -> None:
    rng = np.random.default_rng(1)
    a1, b1, a2, b2 = (_unit(rng.normal(size=128)).astype(np.float32) for _ in range(4))
    c1, c2 = float(a1 @ b1), float(a2 @ b2)
    cosine = float(FUSION_V1.template([a1, a2]) @ FUSION_V1.template([b1, b2]))
    (s, d) = FUSION_V1.members
    z = s.weight * (c1 - s.impostor_mean) / s.impostor_sd + d.weight * (c2 - d.impostor_mean) / d.impostor_sd
    assert FUSION_V1.z_score(cosine) == pytest.approx(z, abs=1e-4)
    assert np.allclose(FUSION_V1.member_templates(FUSION_V1.template([a1, a2])), [a1, a2], atol=1e-6)


@pytest.mark.model
def test_fusion_scores_are_the_members_cosines_combined(photos: dict[str, Path], models: DlibModels) -> None:
    """Each member's cosine computed here on its own (SFace's recipe; dlib's network on dlib's chip
    of YuNet's face), then combined as the module documents: the fused templates score the same."""
    fused = FacePipeline(FUSION_SETTINGS, models)
    plain = FacePipeline(Settings(recognizer="sface"), models)
    astronaut, probe, hopper = (_main(fused, photos[name]) for name in ("astronaut", "probe", "hopper"))
    assert astronaut.embedding.model_id == FUSION.model_id and astronaut.embedding.vector.shape == (256,)
    assert math.isclose(float(np.linalg.norm(astronaut.embedding.vector)), 1.0, abs_tol=1e-5)
    # in impostor standard deviations, summed over the members: far above LFW's impostors for the same person
    assert FUSION_V1.z_score(compare(astronaut.embedding, probe.embedding)) > 10
    assert FUSION_V1.z_score(compare(astronaut.embedding, hopper.embedding)) < 5

    def members(name: str) -> tuple[np.ndarray, np.ndarray]:
        face = _main(plain, photos[name])
        pixels = decode(photos[name], plain.settings).pixels
        chip = align_face(pixels, face.aligned.detection, DLIB_RESNET_V1_MIRRORED, models).chip
        raw = models.descriptors([chip, np.ascontiguousarray(chip[:, ::-1])], "onnx")
        return _unit(face.embedding.vector), _unit(raw.mean(axis=0))

    (a1, a2), (p1, p2) = members("astronaut"), members("probe")
    k = [m.weight / m.impostor_sd for m in FUSION_V1.members]
    expected = (k[0] * float(a1 @ p1) + k[1] * float(a2 @ p2)) / sum(k)
    assert compare(astronaut.embedding, probe.embedding) == pytest.approx(expected, abs=1e-4)


@pytest.mark.model
def test_a_fusion_gallery_identifies_the_enrolled_person_first(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    with init_staffed(tmp_path / "g", actor="t", settings=FUSION_SETTINGS, models=models) as engine:
        assert engine.spec == FUSION
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="s", basis="consent")
    with facesearch.open(tmp_path / "g", actor="t", models=models) as reopened:  # default settings say sface
        assert reopened.spec == FUSION
        found = reopened.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        assert found.model_id == FUSION.model_id
        top = found.faces[0].candidates[0]
        assert top.rank == 1 and top.subject == "Eileen Collins" and top.clears_threshold


def test_the_model_card_names_both_networks_their_licences_and_files() -> None:
    card = build_model_card(FUSION)
    assert card.model_id == FUSION.model_id
    assert SFACE_SHA256 in card.weights_sha256 and DLIB_WEIGHTS_SHA256["resnet"] in card.weights_sha256
    assert "Apache-2.0" in card.embedder["licence"] and "Public domain" in card.embedder["licence"]
    assert any("YuNet" in c for c in card.companions) and any("shape predictor" in c for c in card.companions)
    assert SFACE_MIRRORED.model_id != FUSION.model_id
