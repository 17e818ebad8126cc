"""One error tree, named after the user's problem.

Every error raised by the core derives from :class:`FacesearchError` and carries a stable
``code`` (a short machine-readable name) and a message meant for the person who caused it.
Front ends translate these at their edge (an exit status in the CLI, a 4xx in the API); the
core never speaks HTTP and never exits the process.
"""

from __future__ import annotations

from datetime import datetime


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


class NotAVideoError(InputError):
    """A file taken for a video (by its name or its first bytes) that no demuxer can open."""

    code = "not-a-video"


class TruncatedVideoError(InputError):
    """A video whose data stops, or turns to garbage, before the end its container declares."""

    code = "truncated-video"


class NoVideoStreamError(InputError):
    """A container (an .mp4 of sound only) that holds no picture to look for faces in."""

    code = "no-video-stream"


class UnsupportedCodecError(InputError):
    """A video whose pictures are in a codec the bundled FFmpeg cannot decode."""

    code = "unsupported-codec"


class VideoTooLargeError(InputError):
    """A video over a limit: its file size, its length, or far more decoding work than its size
    explains (a decompression bomb: thousands of frames in a few kilobytes)."""

    code = "video-too-large"


class InvalidTextError(InputError):
    """A name, purpose, case, reference or reason holds a control character or is too long."""

    code = "invalid-text"


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


class ModelRegistrationError(InputError):
    """A model cannot be registered as asked: no licence statement, a name taken, a bad option, a
    file that is not there; nothing is written."""

    code = "bad-model-registration"


class NotAnOnnxModelError(ModelRegistrationError):
    """The file given as a model is not an ONNX model."""

    code = "not-onnx"


class ModelShapeError(ModelRegistrationError):
    """An ONNX model whose input or output does not have the shape its recipe needs."""

    code = "wrong-model-shape"


class PhotosMissingError(InputError):
    """Moving a gallery to another model: some subjects' enrolled photos (found by their recorded
    SHA-256) are not in the photos folder given, or no longer show the enrolled face to the new
    recognizer, and losing those subjects was not accepted; nothing was changed. ``subjects`` names
    them (sorted), ``faces`` counts the faces that could not be made again."""

    code = "photos-missing"

    def __init__(self, message: str, subjects: tuple[str, ...], faces: int) -> None:
        super().__init__(message)
        self.subjects = subjects
        self.faces = faces


class DatasetError(InputError):
    """The evaluation dataset, pairs file or groups file cannot be used as given."""

    code = "bad-dataset"


class CalibrationError(InputError):
    """The dataset cannot support a calibration at the requested false-match rate."""

    code = "calibration-unsupported"


# --- policy: the request lacks what accountability requires -----------------------------


class PolicyError(FacesearchError):
    """The request is refused because a rule of accountable use is not met.

    ``rule`` names the rule for the audit log and the transparency report; ``audited`` is set once
    the refusal has been written to the audit log, so it is recorded exactly once.
    """

    code = "policy-refused"
    rule = "policy"
    audited = False


class MissingSourceError(PolicyError):
    code = "missing-source"
    rule = "provenance"


class MissingLawfulBasisError(PolicyError):
    code = "missing-lawful-basis"
    rule = "provenance"


class MissingPurposeError(PolicyError):
    code = "missing-purpose"
    rule = "purpose"


class MissingCaseError(PolicyError):
    code = "missing-case"
    rule = "purpose"


class MissingReasonError(PolicyError):
    code = "missing-reason"
    rule = "reason"


class RetentionError(PolicyError):
    code = "bad-retention"
    rule = "retention"


class PermissionDeniedError(PolicyError):
    code = "permission-denied"
    rule = "role"


class AuthenticationError(PolicyError):
    """No valid credential. ``reason`` says why for the audit log (``unknown``, ``wrong-secret``,
    ``revoked``, ``expired``, ``disabled-user``, ``used`` ...); the message tells the user only what
    they can act on."""

    code = "authentication-failed"
    rule = "authentication"

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class CredentialExpiredError(AuthenticationError):
    """A token or web session past its expiry: rotate before it, or ask an admin for a new code."""

    code = "credential-expired"


class ActivationError(AuthenticationError):
    """An activation code that is unknown, already used, expired or for a disabled user."""

    code = "activation-failed"


class PurposeNotAllowedError(PolicyError):
    """The search names a purpose this gallery does not allow, or lacks a field it requires."""

    code = "purpose-not-allowed"
    rule = "purpose"


class MissingAuthorisationError(PolicyError):
    code = "missing-authorisation"
    rule = "purpose"


class NoRetentionPolicyError(PolicyError):
    """The gallery has no retention period yet, so it takes no enrollment."""

    code = "no-retention-policy"
    rule = "retention"


class LegalHoldError(PolicyError):
    """The subject is under a legal hold: its data may not be destroyed."""

    code = "legal-hold"
    rule = "legal-hold"


class OptedOutError(PolicyError):
    """The face matches a person on the do-not-enroll list."""

    code = "opted-out"
    rule = "opt-out"


class OptOutsNotMovableError(PolicyError):
    """A gallery cannot move to another model while its do-not-enroll list holds templates of the
    old one: their photos are not kept, so the new model could not honour them."""

    code = "opt-outs-not-movable"
    rule = "opt-out"


class ConfirmationError(PolicyError):
    """A nomination step breaks the two-person rule (own nomination, second decision, ...)."""

    code = "confirmation-refused"
    rule = "confirmation"


class NotConfirmedError(PolicyError):
    """Only identifications confirmed by two verifiers may be exported or acted on."""

    code = "not-confirmed"
    rule = "confirmation"


class CaseMembershipError(PolicyError):
    """The actor does not work this case: searching under it, reading or exporting its nominations,
    nominating from its searches or adding to its members is for its members (and, for reading, for
    admins and auditors). ``case`` names it for the audit log."""

    code = "not-a-case-member"
    rule = "case"

    def __init__(self, message: str, case: str | None = None) -> None:
        super().__init__(message)
        self.case = case


class CollectionCaseError(PolicyError):
    """A collection serves one case and its sweep was asked for under another: the candidates of a
    collection's sweep land in the collection's own case, or nowhere. ``case`` names the collection's."""

    code = "collection-of-another-case"
    rule = "case"

    def __init__(self, message: str, case: str | None = None) -> None:
        super().__init__(message)
        self.case = case


class QuotaExceededError(PolicyError):
    """The actor has used up their search quota for the hour or the day; ``retry_at`` is when the
    next search is allowed (None if unknown)."""

    code = "quota-exceeded"
    rule = "quota"

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


# --- state of the gallery ---------------------------------------------------------------


class GalleryError(FacesearchError):
    code = "gallery-error"


class AmbiguousSubjectError(InputError):
    """A reference to a subject could mean two subjects (one's name, the other's id)."""

    code = "ambiguous-subject"


class AmbiguousCollectionError(InputError):
    """A reference to a collection could mean two collections (one's name, the other's id)."""

    code = "ambiguous-collection"


class GalleryNotInitialisedError(GalleryError):
    code = "not-initialised"


class StorageFullError(GalleryError):
    """The disk (or the database server's disk) the gallery writes to is full. What the step was
    writing was rolled back, or is repaired from the gallery on the next run; nothing is doubled."""

    code = "storage-full"


class SubjectNotFoundError(GalleryError):
    code = "subject-not-found"


class ModelMismatchError(GalleryError):
    """Embeddings from different models were about to be compared."""

    code = "model-mismatch"


class IndexCorruptError(GalleryError):
    code = "index-corrupt"


class NominationNotFoundError(GalleryError):
    code = "nomination-not-found"


class CaseNotFoundError(GalleryError):
    code = "case-not-found"


class MasterKeyMissingError(GalleryError):
    """No master key was given (environment or key file), or the one given is malformed."""

    code = "no-master-key"


class MasterKeyError(GalleryError):
    """The master key given does not unwrap this gallery's data key: it is another key."""

    code = "wrong-master-key"


class DataKeyMissingError(GalleryError):
    """The gallery's templates are sealed but its data key file is gone (a deleted gallery's
    database restored from a backup, or a restore that left out HOME/keys/)."""

    code = "no-data-key"


class DataKeyMismatchError(GalleryError):
    """The data key file belongs to another gallery (or another incarnation of this one)."""

    code = "data-key-mismatch"


class TamperedDataError(GalleryError):
    """A sealed value fails its integrity check: altered, moved, or sealed under another key."""

    code = "tampered-data"


class AnalysisLostError(FacesearchError):
    """A photo's analysis was lost with the worker running it (a Ray worker killed, or its machine
    gone): nothing of the photo was stored, and a rerun analyses it again. A rejection's reason, not
    raised."""

    code = "analysis-lost"


class ConfigError(FacesearchError):
    code = "bad-config"


class MissingExtraError(ConfigError):
    """A part of facesearch was used whose optional dependencies are not installed; the message
    names the extra that installs them (``pip install 'facesearch[server]'``)."""

    code = "missing-extra"


class RayClusterError(ConfigError):
    """The Ray cluster photo analysis was sent to (``--ray``, setting ``ray_address``) cannot be used:
    unreachable, offering no CPU, or its workers cannot start facesearch's pipeline."""

    code = "ray-cluster"


class CredentialsFileError(ConfigError):
    """A user's credentials file cannot be used: others may read it, it is not theirs, or it is not
    valid TOML. Nothing is read from it then."""

    code = "credentials-file"


# --- models: the weights a stage loads ---------------------------------------------------


class ModelFileError(ConfigError):
    """A model's weights file cannot be used: missing, altered, or not in the format expected."""

    code = "bad-model-file"


class ModelFileMissingError(ModelFileError):
    """A model file is not where it was installed or registered."""

    code = "model-file-missing"


class ModelChecksumError(ModelFileError):
    """A model file is not the file that was measured (built in) or registered: its SHA-256 differs."""

    code = "model-checksum-changed"


class DlibFormatError(ModelFileError):
    """A file read as dlib's serialised network is not one (or not the network expected)."""

    code = "bad-dlib-file"
