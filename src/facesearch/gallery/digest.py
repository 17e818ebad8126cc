"""The gallery's content hash: the XOR of one SHA-256 per stored face (its id, model and
embedding bytes). Order does not matter, and adding or removing a face updates it in constant
time, so it is kept current in the gallery's state row and recorded by every index file: an index
is used only when both its generation and this hash match the gallery (a database restored from
a backup can reach an index's generation again with other faces; it cannot reach its hash)."""

from __future__ import annotations

import hashlib

EMPTY = "0" * 64


def face_digest(face_id: int, model_id: str, embedding: bytes) -> str:
    return hashlib.sha256(f"{int(face_id)}:{model_id}:".encode() + embedding).hexdigest()


def combine(total: str, digest: str) -> str:
    """Add a face's digest to the hash, or take it out again (XOR is its own inverse)."""
    return f"{int(total, 16) ^ int(digest, 16):064x}"
