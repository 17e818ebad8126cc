"""Vector indexes behind one interface. The exact index is the reference."""

from facesearch.index.base import Hits, IndexInfo, VectorIndex
from facesearch.index.exact import ExactIndex

__all__ = ["ExactIndex", "Hits", "IndexInfo", "VectorIndex"]
