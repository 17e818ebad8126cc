"""Reading dlib's serialized face recognition network (``dlib_face_recognition_resnet_model_v1.dat``).

dlib writes a network from its loss layer down: each layer wrapper writes the layers beneath it,
then its own parameters, so the file reads from the input layer upwards. The byte format:

- integers: a control byte (low 4 bits: how many bytes follow; bit 0x80: negative), then the
  magnitude, little-endian;
- floats outside tensors: a mantissa and an exponent, each such an integer (value = m * 2**e;
  exponents 32000/32001/32002 mean +inf, -inf, NaN);
- tensors: version 2, four integers (samples, channels, rows, columns), then raw little-endian
  float32; shape-only tensors (an alias's shape): version 1 and the four integers;
- strings: an integer length, then the bytes; bools: the character '1' or '0'.

Tags and skips carry no name, so the reader follows the network's declared structure
(:func:`resnet_v1_structure`) and checks every layer's name, kernel, stride and filter count
against it; any other file is refused with :class:`DlibFormatError`, never half-read.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import DlibFormatError


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def text(self) -> str:
        return self.take(self.integer()).decode("latin-1")

    def flag(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def tensor(self) -> npt.NDArray[np.float32]:
        self.version(2, what="tensor")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def shape(self) -> tuple[int, ...]:
        self.version(1, what="tensor shape")
        return tuple(self.integer() for _ in range(4))

    def version(self, *allowed: int, what: str = "") -> int:
        at = self.pos
        found = self.integer()
        if found not in allowed:
            raise DlibFormatError(f"unexpected {what or 'layer'} version {found} at byte {at}")
        return found


def read_layer(r: Reader) -> dict[str, Any]:
    """One layer's own parameters, named by its leading version string."""
    name = r.text()
    if name in ("con_4", "con_5"):
        d: dict[str, Any] = {"type": "con", "params": r.tensor(), "num_filters": r.integer()}
        d["nr"], d["nc"], d["stride_y"], d["stride_x"], d["padding_y"], d["padding_x"] = (r.integer() for _ in range(6))
        d["filters"], _biases = r.shape(), r.shape()
        _multipliers = [r.real() for _ in range(4)]
        d["use_bias"] = r.flag() if name == "con_5" else True
    elif name in ("affine_", "affine_2"):
        d = {"type": "affine", "params": r.tensor(), "gamma": r.shape(), "beta": r.shape(), "mode": r.integer()}
        d["disabled"] = r.flag() if name == "affine_2" else False
    elif name == "relu_":
        d = {"type": "relu"}
    elif name in ("max_pool_2", "avg_pool_2"):
        d = {"type": name[:8]}
        d["nr"], d["nc"], d["stride_y"], d["stride_x"], d["padding_y"], d["padding_x"] = (r.integer() for _ in range(6))
    elif name == "add_prev_":
        d = {"type": "add_prev"}
    elif name in ("fc_2", "fc_3"):
        d = {"type": "fc", "num_outputs": r.integer(), "num_inputs": r.integer(), "params": r.tensor()}
        _weights, _biases, d["bias_mode"] = r.shape(), r.shape(), r.integer()
        _multipliers = [r.real() for _ in range(4)]
        d["use_bias"] = r.flag() if name == "fc_3" else True
    elif name == "input_rgb_image_sized":
        d = {"type": "input", "mean_rgb": [r.real() for _ in range(3)], "nr": r.integer(), "nc": r.integer()}
    elif name in ("loss_metric_", "loss_metric_2"):
        d = {"type": "loss_metric", "margin": r.real(), "distance_threshold": r.real()}
    else:
        raise DlibFormatError(f"layer type {name!r} at byte {r.pos} is not part of this network")
    d["name"] = name
    return d


# --- the network's declared structure (dlib's dnn_face_recognition_ex.cpp) ----------------------


@dataclasses.dataclass
class Node:
    """A layer ('con', 'affine', ...), a tag or skip (``ref``), or the input; ``layer`` is filled
    from the file."""

    kind: str
    sub: Node | None = None
    expect: dict[str, int] = dataclasses.field(default_factory=dict)
    ref: int = 0  # tag/skip id; for add_prev, the tag it adds
    layer: dict[str, Any] = dataclasses.field(default_factory=dict)


def _con(n: int, k: int, stride: int, sub: Node) -> Node:
    return Node("con", sub, {"num_filters": n, "nr": k, "nc": k, "stride_y": stride, "stride_x": stride})


def _block(n: int, stride: int, sub: Node) -> Node:
    return Node("affine", _con(n, 3, 1, Node("relu", Node("affine", _con(n, 3, stride, sub)))))


def _ares(n: int, sub: Node) -> Node:
    return Node("relu", Node("add_prev", _block(n, 1, Node("tag", sub, ref=1)), ref=1))


def _ares_down(n: int, sub: Node) -> Node:
    down = Node("tag", _block(n, 2, Node("tag", sub, ref=1)), ref=2)
    pool = Node("avg_pool", Node("skip", down, ref=1), {"nr": 2, "nc": 2, "stride_y": 2, "stride_x": 2})
    return Node("relu", Node("add_prev", pool, ref=2))


def resnet_v1_structure() -> Node:
    """dlib's ``anet_type``: a 29-layer ResNet over 150x150 chips giving 128-d vectors."""
    x = Node("input")
    pool = {"nr": 3, "nc": 3, "stride_y": 2, "stride_x": 2}
    x = Node("max_pool", Node("relu", Node("affine", _con(32, 7, 2, x))), pool)
    for n, down, repeats in ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2)):
        if down:
            x = _ares_down(n, x)
        for _ in range(repeats):
            x = _ares(n, x)
    x = _ares_down(256, x)
    x = Node("avg_pool", x, {"nr": 0, "nc": 0})  # avg_pool_everything
    return Node("fc", x, {"num_outputs": 128, "bias_mode": 1})  # fc_no_bias<128>


def _read_node(r: Reader, node: Node) -> None:
    if node.kind in ("tag", "skip"):
        r.version(1, what=node.kind)
        assert node.sub is not None
        _read_node(r, node.sub)
        return
    assert node.sub is not None
    on_input = node.sub.kind == "input"
    version = r.version(2, 3, what="input wrapper") if on_input else r.version(1, 2, what="layer wrapper")
    if on_input:
        node.sub.layer = read_layer(r)
        if node.sub.layer["type"] != "input":
            raise DlibFormatError(f"expected the input layer, found {node.sub.layer['name']}")
    else:
        _read_node(r, node.sub)
    node.layer = read_layer(r)
    if node.layer["type"] != node.kind:
        raise DlibFormatError(f"expected a {node.kind} layer, found {node.layer['name']} at byte {r.pos}")
    for key, value in node.expect.items():
        if node.layer.get(key) != value:
            raise DlibFormatError(f"{node.layer['name']}: expected {key} = {value}, found {node.layer.get(key)}")
    for _ in range(3):
        r.flag()  # training state flags
    r.tensor(), r.tensor()  # gradient and cached output (empty)
    if on_input:
        r.tensor()
        if version == 3 and r.integer() != 1:
            raise DlibFormatError("the input layer expands samples; this network does not")
    elif version == 2:
        r.tensor()  # parameter gradient (empty)


def read_resnet_v1(path: str | Path) -> tuple[dict[str, Any], Node]:
    """(loss layer, network) of a dlib face recognition ResNet file; DlibFormatError otherwise."""
    r = Reader(Path(path).read_bytes())
    r.version(1, what="loss wrapper")
    loss = read_layer(r)
    if loss["type"] != "loss_metric":
        raise DlibFormatError(f"expected a metric loss layer, found {loss['name']}")
    net = resnet_v1_structure()
    _read_node(r, net)
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} bytes left after the network")
    return loss, net
