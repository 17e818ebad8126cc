"""One error tree, named after the user's problem.

Every error raised by the core derives from :class:`FacesearchError` and carries a stable
``code`` (a short machine-readable name) and a message meant for the person who caused it.
Front ends translate these at their edge (an exit status in the CLI, a 4xx in the API); the
core never speaks HTTP and never exits the process.
"""

from __future__ import annotations


class FacesearchError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- input: the photo itself is unusable -------------------------------------------------


class InputError(FacesearchError):
    """The input given (a file, a value) cannot be used; nothing was stored."""

    code = "bad-input"


class ImageFileNotFoundError(InputError):
    code = "file-not-found"


class EmptyImageError(InputError):
    code = "empty-file"


class NotAnImageError(InputError):
    code = "not-an-image"


class TruncatedImageError(InputError):
    code = "truncated-image"


class ImageTooLargeError(InputError):
    """The file, or the pixel count its header declares, exceeds the configured limit."""

    code = "image-too-large"


class FaceRefusedError(InputError):
    """A photo was decoded but holds no face that can be used for the request."""

    code = "face-refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoFaceError(FaceRefusedError):
    code = "no-face"

    def __init__(self, message: str) -> None:
        super().__init__(message, "no-face")


class MultipleFacesError(FaceRefusedError):
    code = "multiple-faces"

    def __init__(self, message: str) -> None:
        super().__init__(message, "multiple-faces")


class LowQualityFaceError(FaceRefusedError):
    """The only face found is below an enrollment quality threshold (reason names which)."""

    code = "low-quality-face"


class DuplicateImageError(InputError):
    """The same file is already enrolled under a different subject."""

    code = "duplicate-image"


# --- policy: the request lacks what accountability requires -----------------------------


class PolicyError(FacesearchError):
    """The request is refused because a rule of accountable use is not met."""

    code = "policy-refused"


class MissingSourceError(PolicyError):
    code = "missing-source"


class MissingLawfulBasisError(PolicyError):
    code = "missing-lawful-basis"


class MissingPurposeError(PolicyError):
    code = "missing-purpose"


class MissingCaseError(PolicyError):
    code = "missing-case"


class MissingReasonError(PolicyError):
    code = "missing-reason"


class RetentionError(PolicyError):
    code = "bad-retention"


class PermissionDeniedError(PolicyError):
    code = "permission-denied"


class AuthenticationError(PolicyError):
    code = "authentication-failed"


# --- state of the gallery ---------------------------------------------------------------


class GalleryError(FacesearchError):
    code = "gallery-error"


class GalleryNotInitialisedError(GalleryError):
    code = "not-initialised"


class SubjectNotFoundError(GalleryError):
    code = "subject-not-found"


class ModelMismatchError(GalleryError):
    """Embeddings from different models were about to be compared."""

    code = "model-mismatch"


class IndexCorruptError(GalleryError):
    code = "index-corrupt"


class ConfigError(FacesearchError):
    code = "bad-config"
