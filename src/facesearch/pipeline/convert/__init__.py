"""The project's own converter of dlib's face recognition network to ONNX (see onnx_graph)."""

from facesearch.pipeline.convert.onnx_graph import convert_resnet_v1

__all__ = ["convert_resnet_v1"]
