"""YuNet face detection and alignment to the ArcFace 112x112 template.

YuNet (libfacedetection, MIT; the OpenCV Zoo file ``face_detection_yunet_2023mar_int8bq.onnx``)
finds faces and five landmarks each (the eyes, the nose tip, the mouth corners) in one pass. It
was trained on faces of roughly 10 to 300 pixels, so a photo is looked at scaled down until its
longer side is at most 640 pixels (large faces), and, when asked (``upsample`` above 0, as for
searches), also at up to 2048 pixels (small faces in a large photo); the two sets are merged.

Its raw outputs are decoded here, as OpenCV's ``FaceDetectorYN`` decodes them (the same boxes to
3e-5 pixels on LFW), so the network runs under ONNX Runtime on the configured execution providers.
A face is aligned by the least-squares similarity transform (rotation, scale, shift) of its five
landmarks onto the ArcFace template, the input SFace and ArcFace-class models expect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.pipeline.onnx_files import fold_dequantization, free_dims, open_session, read_onnx
from facesearch.types import AlignedFace, Box, Detection, RGBArray

DETECTOR = "yunet"
MIN_SCORE = 0.6  # YuNet's score (0 to 1, higher is surer) below which a detection is dropped
NMS_IOU = 0.3  # overlapping detections of one face: the weaker is dropped above this overlap
LARGE_FACES_SIDE = 640  # longer side of the photo as looked at for large faces
SMALL_FACES_SIDE = 2048  # longer side at most, as looked at for small faces (upsample > 0)
STRIDES = (8, 16, 32)

# Where the five landmarks sit in a 112x112 ArcFace chip (the person's right eye first, on the
# image's left), as in insightface and OpenCV's FaceRecognizerSF.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
ARCFACE_SIZE = 112

Rows = npt.NDArray[np.float64]  # (n, 15): x, y, w, h, five landmarks (x, y), score


class YuNet:
    """The detector, loaded from checked bytes of its ONNX file (see :mod:`onnx_files`)."""

    def __init__(self, data: bytes, providers: list[str]) -> None:
        model = read_onnx(data, "the YuNet face detector")
        fold_dequantization(model)
        outputs = {o.name: {1: "cells"} for o in model.graph.output}
        free_dims(model, {"input": {2: "height", 3: "width"}, **outputs})
        self.session = open_session(model, providers)
        self._names = [o.name for o in self.session.get_outputs()]

    def detect(self, pixels: RGBArray, upsample: bool) -> list[tuple[Detection, tuple[tuple[float, float], ...]]]:
        """Every face, most confident first: its box (in ``pixels``' coordinates) and five landmarks."""
        height, width = pixels.shape[:2]
        sides = [LARGE_FACES_SIDE]
        if upsample and max(height, width) > LARGE_FACES_SIDE:
            sides.append(SMALL_FACES_SIDE)
        rows = np.concatenate([self._at_side(pixels, side) for side in sides])
        rows = rows[_suppress(rows, NMS_IOU)]
        found = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            box = Box(
                left=max(0, round(x)),
                top=max(0, round(y)),
                right=min(width, round(x + w)),
                bottom=min(height, round(y + h)),
            )
            if box.width > 0 and box.height > 0:
                points = tuple((float(row[4 + 2 * k]), float(row[5 + 2 * k])) for k in range(5))
                found.append((Detection(box, round(float(row[14]), 4), DETECTOR), points))
        return found

    def _at_side(self, pixels: RGBArray, side: int) -> Rows:
        """Faces found with the photo scaled down so that its longer side is at most ``side``."""
        height, width = pixels.shape[:2]
        scale = min(1.0, side / max(height, width))
        scanned = pixels
        if scale < 1.0:
            import cv2

            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            scanned = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rows = self._raw(scanned)
        rows[:, :14] /= scale
        return rows

    def _raw(self, pixels: RGBArray) -> Rows:
        height, width = pixels.shape[:2]
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        blob = np.zeros((1, 3, padded_h, padded_w), np.float32)
        blob[0, :, :height, :width] = pixels[:, :, ::-1].transpose(2, 0, 1)  # YuNet takes BGR, 0-255
        out: dict[str, Any] = dict(zip(self._names, self.session.run(None, {"input": blob}), strict=True))
        rows = [_decode(out, stride, padded_w // stride) for stride in STRIDES]
        return np.concatenate(rows)


def _decode(out: dict[str, Any], stride: int, columns: int) -> Rows:
    """Detections of one stride's grid, as OpenCV's FaceDetectorYN decodes them."""
    cls, obj = out[f"cls_{stride}"][0, :, 0], out[f"obj_{stride}"][0, :, 0]
    score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
    cells = np.flatnonzero(score >= MIN_SCORE)
    row, col = (cells // columns)[:, None], (cells % columns)[:, None]
    box, marks = out[f"bbox_{stride}"][0, cells].astype(np.float64), out[f"kps_{stride}"][0, cells]
    centre_x, centre_y = (col[:, 0] + box[:, 0]) * stride, (row[:, 0] + box[:, 1]) * stride
    w, h = np.exp(box[:, 2]) * stride, np.exp(box[:, 3]) * stride
    points = np.empty((len(cells), 10))
    points[:, 0::2] = (marks[:, 0::2] + col) * stride
    points[:, 1::2] = (marks[:, 1::2] + row) * stride
    return np.column_stack([centre_x - w / 2, centre_y - h / 2, w, h, points, score[cells]])


def _suppress(rows: Rows, iou: float) -> npt.NDArray[np.int64]:
    """Non-maximum suppression: indices of the rows kept, highest score first."""
    order = np.argsort(-rows[:, 14], kind="stable")
    x1, y1 = rows[:, 0], rows[:, 1]
    x2, y2 = x1 + rows[:, 2], y1 + rows[:, 3]
    area = rows[:, 2] * rows[:, 3]
    keep = []
    while len(order):
        first, rest = order[0], order[1:]
        keep.append(first)
        overlap_w = np.clip(np.minimum(x2[first], x2[rest]) - np.maximum(x1[first], x1[rest]), 0, None)
        overlap_h = np.clip(np.minimum(y2[first], y2[rest]) - np.maximum(y1[first], y1[rest]), 0, None)
        inter = overlap_w * overlap_h
        order = rest[inter / (area[first] + area[rest] - inter) <= iou]
    return np.asarray(keep, dtype=np.int64)


def similarity_transform(source: Rows, target: Rows) -> Rows:
    """The 2x3 matrix of the rotation, uniform scale and shift that best maps ``source`` points onto
    ``target`` points in the least-squares sense (Umeyama, 1991)."""
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mean_s, target - mean_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(source))
    flip = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        flip[1, 1] = -1
    rotation = u @ flip @ vt
    scale = float((sigma * np.diag(flip)).sum() / s.var(axis=0).sum())
    shift = mean_t - scale * rotation @ mean_s
    matrix: Rows = np.hstack([scale * rotation, shift[:, None]])
    return matrix


def align_arcface(pixels: RGBArray, detection: Detection, landmarks: tuple[tuple[float, float], ...]) -> AlignedFace:
    """The 112x112 chip with the five landmarks moved onto the ArcFace template (bilinear). A face
    more than twice the chip's size is first shrunk by area averaging to twice its size, so that
    bilinear sampling does not alias."""
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    matrix = similarity_transform(points, ARCFACE_TEMPLATE)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # chip pixels per photo pixel
    if scale < 0.5:
        corners = np.array([[0, 0, 1], [ARCFACE_SIZE, 0, 1], [0, ARCFACE_SIZE, 1], [ARCFACE_SIZE, ARCFACE_SIZE, 1]])
        source = corners @ cv2.invertAffineTransform(matrix).T  # the chip's corners in the photo
        height, width = pixels.shape[:2]
        left, top = (max(0, int(np.floor(v)) - 2) for v in source.min(axis=0))
        right, bottom = (
            min(width, int(np.ceil(source[:, 0].max())) + 2),
            min(height, int(np.ceil(source[:, 1].max())) + 2),
        )
        if right - left > 1 and bottom - top > 1:
            size = (max(1, round((right - left) * 2 * scale)), max(1, round((bottom - top) * 2 * scale)))
            pixels = np.asarray(cv2.resize(pixels[top:bottom, left:right], size, interpolation=cv2.INTER_AREA))
            factor = np.array([size[0] / (right - left), size[1] / (bottom - top)])
            matrix = similarity_transform((points - [left, top]) * factor, ARCFACE_TEMPLATE)
    chip = cv2.warpAffine(pixels, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR)
    marks = tuple((round(x), round(y)) for x, y in landmarks)
    return AlignedFace(detection=detection, landmarks=marks, chip=np.ascontiguousarray(chip, dtype=np.uint8))
