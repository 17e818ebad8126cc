"""The same network as an ONNX graph, from the weights :mod:`dlib_format` reads.

dlib's conventions, reproduced: input pixels (RGB, 0-255) minus the stored channel means, divided
by 256; convolution and pooling padding 0 when the stride is not 1, else kernel/2 (as stored);
an affine layer is y = x * gamma + beta per channel (folded here into the convolution below it);
a residual add of tensors of different shapes zero-pads each at the end of every axis (extra
channels, bottom and right) to the larger shape; the fully connected layer's weights are stored
(inputs x outputs), without bias. Input "chips" is uint8 (N, 150, 150, 3) as dlib's face chips
are; output "embeddings" is float32 (N, 128), dlib's descriptors to within 3e-7.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import DlibFormatError
from facesearch.pipeline.convert.dlib_format import Node, read_resnet_v1

Shape = tuple[int, ...]
OPSET = 17


class _Graph:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.tags: dict[int, tuple[str, Shape]] = {}
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array: npt.NDArray[Any], prefix: str) -> str:
        name = self._name(prefix)
        self.weights.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def emit(self, node: Node, x: tuple[str, Shape]) -> tuple[str, Shape]:
        """The graph of ``node`` and everything beneath it, given the input tensor ``x``."""
        if node.kind == "input":
            return x
        assert node.sub is not None
        if node.kind == "tag":
            self.tags[node.ref] = out = self.emit(node.sub, x)
            return out
        if node.kind == "skip":
            self.emit(node.sub, x)
            return self.tags[node.ref]
        if node.kind == "affine" and node.sub.kind == "con" and node.layer["mode"] == 0 and not node.layer["disabled"]:
            return self._con(node.sub, x, affine=node.layer)
        if node.kind == "con":
            return self._con(node, x)
        y, (c, h, w) = self.emit(node.sub, x)
        d = node.layer
        if node.kind == "relu":
            return self.op("Relu", [y]), (c, h, w)
        if node.kind in ("max_pool", "avg_pool"):
            if d["nr"] == 0 and d["nc"] == 0:
                return self.op("GlobalAveragePool", [y]), (c, 1, 1)
            if d["padding_y"] or d["padding_x"]:
                raise DlibFormatError("padded pooling is not used by this network and not converted")
            kh, kw, sy, sx = d["nr"], d["nc"], d["stride_y"], d["stride_x"]
            op = "MaxPool" if node.kind == "max_pool" else "AveragePool"
            pooled = self.op(op, [y], kernel_shape=[kh, kw], strides=[sy, sx], pads=[0, 0, 0, 0])
            return pooled, (c, 1 + (h - kh) // sy, 1 + (w - kw) // sx)
        if node.kind == "add_prev":
            z, z_shape = self.tags[node.ref]
            full = tuple(max(a, b) for a, b in zip((c, h, w), z_shape, strict=True))
            return self.op("Add", [self._pad(y, (c, h, w), full), self._pad(z, z_shape, full)]), full
        if node.kind == "fc":
            if d["bias_mode"] == 0 and d["use_bias"]:
                raise DlibFormatError("a fully connected layer with bias is not part of this network")
            n_in, n_out = d["num_inputs"], d["num_outputs"]
            if n_in != c * h * w:
                raise DlibFormatError(f"the fully connected layer takes {n_in} inputs, the network gives {c * h * w}")
            weights = d["params"].reshape(-1)[: n_in * n_out].reshape(n_in, n_out)
            return self.op("MatMul", [self.op("Flatten", [y], axis=1), self.const(weights, "fc")]), (n_out,)
        raise DlibFormatError(f"cannot convert a {node.kind} layer")

    def _pad(self, x: str, shape: Shape, full: Shape) -> str:
        if shape == full:
            return x
        pads = np.array([0, 0, 0, 0, 0, *(f - s for f, s in zip(full, shape, strict=True))], dtype=np.int64)
        return self.op("Pad", [x, self.const(pads, "pads")], mode="constant")

    def _con(self, node: Node, x: tuple[str, Shape], affine: dict[str, Any] | None = None) -> tuple[str, Shape]:
        assert node.sub is not None
        y, (c, h, w) = self.emit(node.sub, x)
        d = node.layer
        n, kh, kw = d["num_filters"], d["nr"], d["nc"]
        if tuple(d["filters"]) != (n, c, kh, kw):
            raise DlibFormatError(f"filter shape {d['filters']} does not fit {(n, c, kh, kw)}")
        params = d["params"].reshape(-1)
        weights = params[: n * c * kh * kw].reshape(n, c, kh, kw).astype(np.float64)
        bias = params[n * c * kh * kw : n * c * kh * kw + n].astype(np.float64)
        if not d["use_bias"] or len(bias) != n:
            bias = np.zeros(n)
        if affine is not None:  # y = conv(x) * gamma + beta, folded into the convolution
            gamma, beta = (affine["params"].reshape(-1)[i * n : (i + 1) * n].astype(np.float64) for i in (0, 1))
            weights, bias = weights * gamma[:, None, None, None], bias * gamma + beta
        sy, sx, py, px = d["stride_y"], d["stride_x"], d["padding_y"], d["padding_x"]
        out = self.op(
            "Conv",
            [y, self.const(weights.astype(np.float32), "conv_w"), self.const(bias.astype(np.float32), "conv_b")],
            kernel_shape=[kh, kw],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        return out, (n, 1 + (h + 2 * py - kh) // sy, 1 + (w + 2 * px - kw) // sx)


def convert_resnet_v1(path: str | Path) -> bytes:
    """The serialized ONNX model of dlib's face recognition ResNet file at ``path``."""
    import onnx
    from onnx import TensorProto

    loss, net = read_resnet_v1(path)
    source = net
    while source.kind != "input":
        assert source.sub is not None
        source = source.sub
    size = (source.layer["nr"], source.layer["nc"])
    g = _Graph()
    x = g.op("Transpose", [g.op("Cast", ["chips"], to=TensorProto.FLOAT)], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    mean = np.array(source.layer["mean_rgb"], dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.op("Div", [g.op("Sub", [x, g.const(mean, "mean")]), g.const(np.array(256.0, np.float32), "scale")])
    out, shape = g.emit(net, (x, (3, *size)))
    if shape != (128,):
        raise DlibFormatError(f"the network gives shape {shape}, not 128 values")
    g.nodes.append(g.helper.make_node("Identity", [out], ["embeddings"], name="embeddings"))
    graph = g.helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [g.helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", *size, 3])],
        [g.helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", 128])],
        initializer=g.weights,
    )
    model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", OPSET)], producer_name="facesearch")
    model.ir_version = 8
    model.doc_string = f"converted by facesearch from {Path(path).name} (metric loss margin {loss['margin']})"
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
