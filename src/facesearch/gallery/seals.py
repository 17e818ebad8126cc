"""What each sealed value of the gallery is bound to: the associated data of its AES-GCM seal.

A sealed value checks out only under the context it was sealed with, so a template or crop copied
to another row, or another collection's row, fails its integrity check instead of being read as
someone else's (see :mod:`facesearch.storage.crypto`). The byte strings are part of the stored
format: changing one makes every value sealed under it unreadable.
"""

from __future__ import annotations


def face_embedding_context(face_id: int) -> bytes:
    """An enrolled face's template, bound to its ``faces`` row."""
    return b"faces.embedding:%d" % face_id


def face_crop_context(face_id: int) -> bytes:
    """An enrolled face's kept crop, bound to its ``faces`` row."""
    return b"faces.crop_jpeg:%d" % face_id


def collection_embedding_context(collection_id: str, sha256: str, face_index: int) -> bytes:
    """A collection face's template, bound to its collection, photo and place in the photo."""
    return f"collection_faces.embedding:{collection_id}:{sha256}:{face_index}".encode()


def collection_crop_context(collection_id: str, sha256: str, face_index: int) -> bytes:
    """A collection face's crop, bound to its collection, photo and place in the photo."""
    return f"collection_faces.crop_jpeg:{collection_id}:{sha256}:{face_index}".encode()


def probe_crop_context(case_id: str, search_seq: int, face_index: int) -> bytes:
    """A searched face's crop, bound to its case, its search and its place in the probe."""
    return f"probe_faces.crop_jpeg:{case_id}:{search_seq}:{face_index}".encode()
