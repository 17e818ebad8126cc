"""The metadata store (subjects, images, faces, audit log) behind SQLAlchemy and Alembic."""

from facesearch.gallery.store import GalleryStore, ImageRecord, SubjectRef

__all__ = ["GalleryStore", "ImageRecord", "SubjectRef"]
