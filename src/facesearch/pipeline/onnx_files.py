"""ONNX model files: checked against their SHA-256, prepared once for ONNX Runtime, run on the
execution providers the settings name.

Nothing here downloads anything: a file is used only when it is where it was installed or
registered and is byte for byte the file that was checked (its SHA-256).

Two repairs some published files need before ONNX Runtime can run them well:

- graph inputs that are really weights (every input but the image) are removed, so that the
  weights are constants (OpenCV Zoo's block-quantised SFace file declares them as inputs);
- weights stored as int8 blocks with a DequantizeLinear node are dequantised once, at load, into
  float32 constants: ONNX Runtime would otherwise dequantise them on every run (SFace: 30 ms a
  face instead of 19; the float weights differ from the int8 ones by at most 4e-6).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError, ModelChecksumError, ModelFileMissingError, NotAnOnnxModelError

if TYPE_CHECKING:  # onnx is imported on first use: importing facesearch loads no model library
    import onnx

THREADS_ENV = "FACESEARCH_MODEL_THREADS"  # threads each network may use (worker processes set 1)
CPU = "CPUExecutionProvider"
# execution providers 'auto' prefers, in order, when the installed onnxruntime build has them
GPU_PROVIDERS = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, sha256: str, what: str, remedy: str) -> None:
    """Refuse ``path`` unless it exists and its SHA-256 is ``sha256``. ``what`` names the file and
    ``remedy`` says what to do, in the error's message."""
    try:
        actual = file_sha256(path)
    except FileNotFoundError as exc:
        raise ModelFileMissingError(f"{what} is missing: {path} does not exist; {remedy}") from exc
    _require(path, actual, sha256, what, remedy)


def checked_bytes(path: Path, sha256: str, what: str, remedy: str) -> bytes:
    """The bytes of ``path``, refused as :func:`check_file` refuses (read once, checked in memory)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileMissingError(f"{what} is missing: {path} does not exist; {remedy}") from exc
    _require(path, hashlib.sha256(data).hexdigest(), sha256, what, remedy)
    return data


def _require(path: Path, actual: str, expected: str, what: str, remedy: str) -> None:
    if actual != expected:
        raise ModelChecksumError(
            f"{what} at {path} has SHA-256 {actual[:16]}..., not {expected[:16]}..., the file that was checked; "
            f"it was changed or replaced and is not used: {remedy}"
        )


def read_onnx(data: bytes, name: str) -> onnx.ModelProto:
    """Parse an ONNX model; anything else is refused with NotAnOnnxModelError."""
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and onnx's own: not a model
        raise NotAnOnnxModelError(f"{name} is not an ONNX model ({exc.__class__.__name__})") from exc
    if not model.graph.node or not model.graph.input or not model.graph.output:
        raise NotAnOnnxModelError(f"{name} is not an ONNX model: it holds no graph")
    return model


def image_inputs(model: onnx.ModelProto) -> list[str]:
    """The graph inputs that are not weights (not also initializers)."""
    weights = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in weights]


def keep_only_input(model: onnx.ModelProto, name: str) -> None:
    """Remove every graph input but ``name``: weights declared as inputs become constants."""
    for graph_input in [i for i in model.graph.input if i.name != name]:
        model.graph.input.remove(graph_input)


def fold_dequantization(model: onnx.ModelProto) -> None:
    """Replace each DequantizeLinear of constant weights, and a Reshape of its result, by a float32
    constant computed here, once (per-tensor, per-axis and blocked quantisation)."""
    from onnx import helper, numpy_helper

    stored = {t.name: t for t in model.graph.initializer}
    computed: dict[str, npt.NDArray[Any]] = {}

    def value(name: str) -> npt.NDArray[Any] | None:
        if name in computed:
            return computed[name]
        return numpy_helper.to_array(stored[name]) if name in stored else None

    kept = []
    for node in model.graph.node:
        args = [value(n) for n in node.input]
        known = [a for a in args if a is not None]
        if node.op_type == "DequantizeLinear" and len(known) == len(args):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            computed[node.output[0]] = _dequantize(known, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        elif node.op_type == "Reshape" and len(known) == len(args) == 2:
            computed[node.output[0]] = known[0].reshape(known[1].astype(np.int64))
        else:
            kept.append(node)
    used = {n for node in kept for n in node.input} | {o.name for o in model.graph.output}
    initializers = [t for t in model.graph.initializer if t.name in used]
    initializers += [numpy_helper.from_array(a, name) for name, a in computed.items() if name in used]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)


def _dequantize(args: list[npt.NDArray[Any]], axis: int, block: int) -> npt.NDArray[np.float32]:
    """ONNX DequantizeLinear: (x - zero_point) * scale, with scale per tensor, per axis or per block."""
    x = args[0].astype(np.float32)
    scale = args[1].astype(np.float32)
    zero = args[2].astype(np.float32) if len(args) > 2 else np.zeros_like(scale)
    if scale.size > 1:
        axis %= x.ndim
        if block:
            take = np.arange(x.shape[axis])
            scale = np.repeat(scale, block, axis=axis).take(take, axis=axis)
            zero = np.repeat(zero, block, axis=axis).take(take, axis=axis)
        else:
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
    else:
        scale, zero = scale.reshape(()), zero.reshape(())
    out: npt.NDArray[np.float32] = ((x - zero) * scale).astype(np.float32)
    return out


def free_dims(model: onnx.ModelProto, dims: dict[str, dict[int, str]]) -> None:
    """Make the named axes of graph inputs and outputs variable, e.g. ``{"data": {0: "n"}}``."""
    for value in list(model.graph.input) + list(model.graph.output):
        for axis, label in dims.get(value.name, {}).items():
            value.type.tensor_type.shape.dim[axis].dim_param = label


def execution_providers(setting: str) -> list[str]:
    """The ONNX Runtime execution providers a setting names, in order of preference.

    'cpu': the CPU only. 'auto': the GPU providers the installed onnxruntime build has (CUDA with
    onnxruntime-gpu), then the CPU. Otherwise a comma-separated list of provider names, each of which
    the installed build must have (ConfigError naming the ones it has otherwise).
    """
    import onnxruntime

    available = list(onnxruntime.get_available_providers())
    text = setting.strip()
    if text == "cpu":
        return [CPU]
    if text == "auto":
        return [p for p in GPU_PROVIDERS if p in available] + [CPU]
    asked = [p.strip() for p in text.split(",") if p.strip()]
    missing = [p for p in asked if p not in available]
    if missing or not asked:
        raise ConfigError(
            f"setting 'onnx_providers' {setting!r}: {', '.join(missing) or 'no provider named'} not available in the "
            f"installed onnxruntime, which has {', '.join(available)} (CUDA needs the onnxruntime-gpu package)"
        )
    return asked


def open_session(model: onnx.ModelProto | bytes, providers: list[str]) -> Any:
    """An ONNX Runtime session on ``providers``; threads as FACESEARCH_MODEL_THREADS says (0: one per
    core). Sessions are safe to share between threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get(THREADS_ENV, "0"))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return onnxruntime.InferenceSession(data, options, providers=providers)
