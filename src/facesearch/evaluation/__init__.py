"""Measure accuracy on a labelled dataset: 1:1 (DET, TAR at FAR, EER, LFW pairs), 1:N (CMC, FNIR at
FPIR) and error rates per group, with bootstrap intervals; write JSON and HTML reports."""

from facesearch.errors import DatasetError
from facesearch.evaluation.dataset import LabelledDataset, load_dataset, read_groups
from facesearch.evaluation.extract import EmbeddingCache
from facesearch.evaluation.run import EvaluationOptions, EvaluationReport, evaluate

__all__ = [
    "DatasetError",
    "EmbeddingCache",
    "EvaluationOptions",
    "EvaluationReport",
    "LabelledDataset",
    "evaluate",
    "load_dataset",
    "read_groups",
]
