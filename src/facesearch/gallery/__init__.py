"""The metadata store (subjects, images, faces, audit log) behind SQLAlchemy and Alembic."""

from facesearch.gallery.store import EnrolledFace, GalleryStore, ImageRecord, SubjectRef

__all__ = ["EnrolledFace", "GalleryStore", "ImageRecord", "SubjectRef"]
