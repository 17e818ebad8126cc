"""Clustering faces into putative identities on a k-nearest-neighbour graph, with human
must-link / cannot-link curation, and the measures that say how good a clustering is."""

from facesearch.clustering.accuracy import PRF, bcubed_prf, pairwise_prf
from facesearch.clustering.algorithms import METHODS, Constraints, Method, cluster, consistent_groups, knn_graph

__all__ = [
    "METHODS",
    "PRF",
    "Constraints",
    "Method",
    "bcubed_prf",
    "cluster",
    "consistent_groups",
    "knn_graph",
    "pairwise_prf",
]
