"""Bring your own model: an ArcFace-class ONNX file (built here by the test) registered, used by a
gallery and shown by its model card; a bad or changed file is refused and nothing stored changes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    ModelChecksumError,
    ModelRegistrationError,
    ModelShapeError,
    NotAnOnnxModelError,
    PermissionDeniedError,
)
from facesearch.lifecycle import register_model
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.recognizers import RegisteredModel
from facesearch.reports.model_card import build_model_card
from facesearch.types import Metric

from helpers import init_staffed, snapshot

pytestmark = pytest.mark.model

LICENCE = "Licensed to the Test Institute under agreement T-1 (evaluation and casework)"


def arcface_like(path: Path, side: int = 112, dimension: int = 512, seed: int = 0) -> Path:
    """A small ONNX embedder of ArcFace's shape: (n, 3, side, side) -> (n, dimension), the mean of
    each 7x7 block of the chip projected by fixed random weights."""
    weights = np.random.default_rng(seed).standard_normal((3 * 16 * 16, dimension)).astype(np.float32)
    block = [side // 16] * 2
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=block, strides=block),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "projection"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["n", 3, side, side])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dimension])],
        [numpy_helper.from_array(weights, "projection")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def _register(home: Path, file: Path, actor: str = "tester", **changes: object) -> RegisteredModel:
    options: dict[str, object] = {
        "name": "arcface-like",
        "licence": LICENCE,
        "threshold": 0.5,
        "threshold_source": "the supplier's data sheet, FMR 1e-4",
        "colour_order": "bgr",
        "mean": 127.5,
        "std": 128.0,
    }
    return register_model(home, file, actor=actor, **(options | changes))


def test_a_registered_model_embeds_for_a_gallery_and_its_card_shows_the_registration(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    file = arcface_like(tmp_path / "arcface_like.onnx")
    home = tmp_path / "home"
    model = _register(home, file, actor="ada")
    assert model.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    assert (model.input_size, model.dimension, model.metric, model.registered_by) == (112, 512, Metric.COSINE, "ada")
    recorded = json.loads((home / "models" / "arcface-like.json").read_text())
    assert recorded["licence"] == LICENCE and recorded["colour_order"] == "bgr" and recorded["std"] == 128.0

    with init_staffed(home, actor="ada", settings=facesearch.Settings(recognizer="arcface-like"), models=models) as e:
        assert e.spec.model_id == model.model_id == f"onnx-arcface-like-{model.sha256[:12]}+cosine"
        e.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        same = e.acting_as("operator").verify(photos["astronaut"], photos["astronaut"], purpose="check", case="C")
        assert same.model_id == model.model_id and same.score == pytest.approx(1.0, abs=1e-5)
        assert same.threshold.score == 0.5 and "given at registration by ada" in same.threshold.meaning
        with e.store.transaction() as session:
            assert e.store.face_embedding(session, 1).shape == (512,)
        card = build_model_card(e.spec).to_dict()
    registration = card["registration"]
    for field in ("sha256", "input_size", "colour_order", "mean", "std", "metric", "licence", "threshold_source"):
        assert registration[field] == model.to_dict()[field]
    assert LICENCE in card["embedder"]["licence"] and card["weights_sha256"] == model.sha256
    assert "(pixel - 127.5) / 128" in card["embedder"]["architecture"]


def test_registering_in_a_gallery_home_is_for_admins_and_audited(engine: Engine, tmp_path: Path) -> None:
    file = arcface_like(tmp_path / "m.onnx")
    before = snapshot(engine)
    with pytest.raises(PermissionDeniedError):
        _register(engine.home.root, file, actor="operator")
    assert not engine.home.models_dir.exists()
    assert [e.action for e in engine.acting_as("auditor").audit_events()][-1] == "policy.refused"
    model = _register(engine.home.root, file, actor="tester")
    event = engine.acting_as("auditor").audit_events()[-1]
    assert event.action == "model.register" and event.actor == "tester"
    assert event.details["model_id"] == model.model_id and event.details["licence"] == LICENCE
    assert engine.subjects() == before[3]


@pytest.mark.parametrize(
    "problem, error",
    [
        ("not-onnx", NotAnOnnxModelError),
        ("input-224", ModelShapeError),
        ("no-licence", ModelRegistrationError),
        ("missing", ModelRegistrationError),
        ("name-taken", ModelRegistrationError),
    ],
)
def test_a_bad_file_or_registration_is_refused_and_nothing_changes(
    engine: Engine, tmp_path: Path, problem: str, error: type[Exception]
) -> None:
    file = arcface_like(tmp_path / "m.onnx")
    changes: dict[str, object] = {}
    if problem == "not-onnx":
        file.write_text("name,licence\nsome model,MIT\n")
    elif problem == "input-224":
        arcface_like(file, side=224)
    elif problem == "no-licence":
        changes["licence"] = "  "
    elif problem == "missing":
        file = tmp_path / "absent.onnx"
    elif problem == "name-taken":
        changes["name"] = "sface"
    before = snapshot(engine)
    with pytest.raises(error) as refused:
        _register(engine.home.root, file, **changes)
    assert refused.value.message  # a sentence for the user, through every front end
    assert snapshot(engine) == before
    assert not engine.home.models_dir.exists() or not any(engine.home.models_dir.iterdir())


def test_a_registered_file_changed_since_is_refused_and_nothing_stored_changes(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels
) -> None:
    file = arcface_like(tmp_path / "m.onnx")
    home = tmp_path / "home"
    _register(home, file)
    settings = facesearch.Settings(recognizer="arcface-like")
    with init_staffed(home, actor="tester", settings=settings, models=models) as engine:
        engine.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
    arcface_like(file, seed=1)  # other weights in the same place
    with facesearch.open(home, actor="tester", models=DlibModels()) as engine:  # models not yet loaded
        before = snapshot(engine)
        with pytest.raises(ModelChecksumError, match="register the new one under a new name"):
            engine.acting_as("enroller").enroll(photos["hopper"], subject="Grace Hopper", source="s", basis="consent")
        with pytest.raises(ModelChecksumError):
            engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        assert snapshot(engine) == before


def test_the_cli_registers_a_model_and_its_gallery_card_shows_it(tmp_path: Path) -> None:
    home, file = tmp_path / "home", arcface_like(tmp_path / "vendor.onnx")
    env = os.environ | {
        "FACESEARCH_HOME": str(home),
        "FACESEARCH_CREDENTIALS": str(tmp_path / "credentials.toml"),  # init files ada's own token here
        "COLUMNS": "200",
    }
    env.pop("FACESEARCH_TOKEN", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "facesearch", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    register = ("models", "register", "vendor", str(file), "--threshold", "0.4", "--threshold-source", "vendor sheet")
    refused = cli(*register, "--licence", " ")
    assert refused.returncode == 3 and "licence statement is required" in refused.stderr
    done = cli(*register, "--licence", LICENCE, "--json")
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert cli("--actor", "ada", "--recognizer", "vendor", "init").returncode == 0
    card = json.loads(cli("model-card", "--json").stdout)
    assert card["model_id"] == f"onnx-vendor-{model['sha256'][:12]}+cosine"
    assert card["registration"]["licence"] == LICENCE and card["registration"]["sha256"] == model["sha256"]
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["vendor"]
