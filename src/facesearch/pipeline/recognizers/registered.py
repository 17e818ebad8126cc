"""Bring your own model: an ArcFace-class ONNX embedder registered from a local file.

An institution with a licensed model (112x112 ArcFace-aligned input, typically 512-d output)
registers it under a name. The registration records what facesearch needs to run it and what a
reader of the model card needs to judge it: the file's path and SHA-256, input size, colour
order, normalisation, metric, the operating point the user gives and where it comes from, and a
licence statement the user must give. YuNet finds and aligns the faces, as for SFace.

A file that is not ONNX or does not take (n, 3, 112, 112) is refused at registration; a registered
file whose SHA-256 has changed since is refused at load. A refusal changes nothing stored: a
registration is one JSON file in HOME/models/, written only once every check has passed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from facesearch.config import Settings
from facesearch.errors import FacesearchError, ModelRegistrationError, ModelShapeError
from facesearch.pipeline.models import EmbedderSpec, Models, RegisteredModel
from facesearch.pipeline.onnx_files import CPU, checked_bytes, image_inputs, keep_only_input, read_onnx
from facesearch.pipeline.recognizers.arcface import ArcFaceRecognizer, ChipNetwork
from facesearch.types import Metric

INPUT_SIZE = 112
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
COLOUR_ORDERS = ("rgb", "bgr")


def registered_models(folder: Path) -> dict[str, RegisteredModel]:
    """Every model registered in ``folder`` (HOME/models), by name."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.glob("*.json")):
        model = RegisteredModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
        found[model.name] = model
    return found


def register_model(
    folder: Path,
    file: Path,
    *,
    name: str,
    licence: str,
    threshold: float,
    threshold_source: str,
    by: str,
    colour_order: str = "rgb",
    mean: float = 127.5,
    std: float = 127.5,
    metric: str = "cosine",
    mirror_average: bool = False,
) -> RegisteredModel:
    """Check ``file`` and record it under ``name`` in ``folder``; raises ModelRegistrationError (not
    ONNX, the wrong shape, no licence statement, a name taken, a bad option) having written nothing."""
    _check_options(folder, name, licence, threshold_source, colour_order, std, metric)
    path = file.resolve()
    if not path.is_file():
        raise ModelRegistrationError(f"model file {file} does not exist (or is not a file)")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    dimension = _inspect(data, str(file))
    model = RegisteredModel(
        name=name,
        path=str(path),
        sha256=sha256,
        input_size=INPUT_SIZE,
        dimension=dimension,
        colour_order=colour_order,
        mean=float(mean),
        std=float(std),
        metric=Metric(metric),
        mirror_average=mirror_average,
        threshold=float(threshold),
        threshold_source=threshold_source.strip(),
        licence=licence.strip(),
        registered_at=datetime.now(UTC),
        registered_by=by,
    )
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.json.tmp"
    temporary.write_text(model.to_json(), encoding="utf-8")
    os.replace(temporary, folder / f"{name}.json")
    return model


def _check_options(
    folder: Path, name: str, licence: str, threshold_source: str, colour_order: str, std: float, metric: str
) -> None:
    if not NAME.fullmatch(name):
        raise ModelRegistrationError(
            f"model name {name!r}: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    if name in ("dlib", "sface", "fusion") or (folder / f"{name}.json").exists():
        raise ModelRegistrationError(f"a model named {name!r} is already known: choose another name")
    if not licence.strip():
        raise ModelRegistrationError(
            "a licence statement is required: say under which licence or agreement you may use this model "
            "(the model card shows it)"
        )
    if not threshold_source.strip():
        raise ModelRegistrationError("say where the operating threshold comes from (the model card shows it)")
    if colour_order not in COLOUR_ORDERS:
        raise ModelRegistrationError(f"colour order must be 'rgb' or 'bgr', not {colour_order!r}")
    if metric not in (m.value for m in Metric):
        raise ModelRegistrationError(f"metric must be 'cosine' or 'euclidean', not {metric!r}")
    if not std > 0:
        raise ModelRegistrationError(f"the normalisation's std must be positive, not {std}")


def _inspect(data: bytes, name: str) -> int:
    """The embedding dimension of an ONNX file that takes (n, 3, 112, 112) and gives (n, d)."""
    model = read_onnx(data, name)
    inputs = image_inputs(model)
    if len(inputs) != 1:
        raise ModelShapeError(f"{name} has {len(inputs)} image inputs ({', '.join(inputs)}); one is needed")
    keep_only_input(model, inputs[0])
    dims = [d.dim_value if d.HasField("dim_value") else None for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1:] != [3, INPUT_SIZE, INPUT_SIZE]:
        shown = "x".join("?" if d is None else str(d) for d in dims) or "no shape"
        raise ModelShapeError(
            f"{name} takes input {shown}; an ArcFace-class model takes (n)x3x{INPUT_SIZE}x{INPUT_SIZE} "
            "(an aligned 112x112 colour chip, channels first)"
        )
    try:
        network = ChipNetwork(model, [CPU], "rgb", 0.0, 1.0)
        out = network([np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)])
    except FacesearchError:
        raise
    except Exception as exc:  # onnxruntime's own errors: the graph does not run
        raise ModelShapeError(f"{name} does not run on a 3x{INPUT_SIZE}x{INPUT_SIZE} chip: {exc}") from exc
    if out.shape[0] != 1 or out.shape[1] < 2:
        raise ModelShapeError(f"{name} gives {out.shape[1]} number(s) per face, not an embedding")
    return int(out.shape[1])


def load_registered(model: RegisteredModel, providers: list[str]) -> ChipNetwork:
    """The registered network, refused (ModelChecksumError) unless the file is still the one registered."""
    remedy = (
        "restore the registered file, or register the new one under a new name (it makes a new model id; "
        "templates of the two cannot be compared)"
    )
    data = checked_bytes(Path(model.path), model.sha256, f"registered model {model.name!r}", remedy)
    onnx_model = read_onnx(data, model.path)
    keep_only_input(onnx_model, image_inputs(onnx_model)[0])
    return ChipNetwork(onnx_model, providers, model.colour_order, model.mean, model.std)


def registered_recognizer(spec: EmbedderSpec, settings: Settings, models: Models) -> ArcFaceRecognizer:
    registered = spec.registered
    assert registered is not None
    return ArcFaceRecognizer(spec, settings, models, lambda providers: load_registered(registered, providers))
