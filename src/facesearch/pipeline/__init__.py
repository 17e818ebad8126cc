"""From a photo to faces: decode -> detect -> align -> quality -> embed, one module per stage, the
model registry (weights from installed packages only) and the converter of dlib's network to ONNX."""
