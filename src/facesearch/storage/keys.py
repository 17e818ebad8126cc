"""The keys that seal a gallery's templates: a master key per installation, a data key per gallery.

- The **master key** (32 random bytes) is given by ``$FACESEARCH_MASTER_KEY`` (base64), else read
  from a key file: ``$FACESEARCH_MASTER_KEY_FILE``, else the ``master_key_file`` setting, else
  ``master.key`` in the user's config folder. ``facesearch init`` of a new gallery (or of one from
  before sealing) creates the key file (mode 0600, in a 0700 folder) when there is none; opening a
  gallery never creates one, so a mistyped path is an error rather than a fresh key.
- The **data key** (32 random bytes) is made when a gallery is created, wrapped (AES-GCM) under the
  master key with associated data naming the gallery's random id, and written to
  ``HOME/keys/gallery.key`` (see :attr:`facesearch.storage.home.Home.data_key_file`), never into the
  database. The database keeps only the gallery id and a key check (see
  :attr:`facesearch.storage.crypto.DataCipher.key_check`), so a key file of another gallery is detected.

A backup of the database alone is therefore unreadable, and deleting a gallery overwrites and
unlinks the key file first (:func:`destroy_data_key`): a copy of the database taken before the
deletion cannot be decrypted afterwards, even with the master key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facesearch.config import Settings
from facesearch.errors import DataKeyMissingError, MasterKeyError, MasterKeyMissingError, TamperedDataError
from facesearch.storage.crypto import KEY_BYTES, NONCE, DataCipher
from facesearch.storage.home import Home

MASTER_KEY_ENV = "FACESEARCH_MASTER_KEY"
MASTER_KEY_FILE_ENV = "FACESEARCH_MASTER_KEY_FILE"
DATA_KEY_FORMAT = "facesearch-data-key-1"


def master_key_file(settings: Settings) -> Path:
    """Where the master key file is looked for (whether or not it exists)."""
    if os.environ.get(MASTER_KEY_FILE_ENV):
        return Path(os.environ[MASTER_KEY_FILE_ENV]).expanduser()
    if settings.master_key_file:
        return Path(settings.master_key_file).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("facesearch", appauthor=False)) / "master.key"


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyMissingError(f"{origin}: not a base64-encoded master key") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyMissingError(f"{origin}: a master key is {KEY_BYTES} bytes, this one is {len(key)}")
    return key


def new_master_key_file(settings: Settings) -> Path | None:
    """The key file ``init`` would create (no master key in the environment and no file yet), or None."""
    if os.environ.get(MASTER_KEY_ENV):
        return None
    path = master_key_file(settings)
    return None if path.exists() else path


def load_master_key(settings: Settings, *, create: bool = False) -> bytes:
    """The master key from the environment or its key file. ``create``: make the key file if it
    does not exist (``init`` only). MasterKeyMissingError if there is none or it is malformed."""
    if os.environ.get(MASTER_KEY_ENV):
        return _decode(os.environ[MASTER_KEY_ENV], f"${MASTER_KEY_ENV}")
    path = master_key_file(settings)
    if create and not path.exists():
        return create_master_key_file(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise MasterKeyMissingError(
            f"no master key: set ${MASTER_KEY_ENV} or ${MASTER_KEY_FILE_ENV}, or create {path} with 'facesearch init'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyMissingError(f"{path}: cannot read the master key ({exc})") from None
    return _decode(text, str(path))


def create_master_key_file(path: Path) -> bytes:
    """Write a new random master key to ``path`` (mode 0600; a folder it creates is 0700). Never
    replaces an existing file: a second ``init`` racing this one keeps the first key."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_master_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_master_key_file(path: Path) -> bytes:
    return _decode(path.read_text(encoding="ascii"), str(path))


def fingerprint(master: bytes) -> str:
    """A short public name of a master key (an HMAC, not the key), recorded in each data key file
    so that a refusal can say which key is needed."""
    return hmac.new(master, b"facesearch master key fingerprint", hashlib.sha256).hexdigest()[:16]


def new_gallery_id() -> str:
    return secrets.token_hex(16)


def _wrap_aad(gallery_id: str) -> bytes:
    return f"{DATA_KEY_FORMAT}\0{gallery_id}".encode()


def write_data_key(home: Home, master: bytes, gallery_id: str | None = None) -> DataCipher:
    """Make a random data key for the gallery in HOME, wrap it under ``master`` and write the key
    file atomically (0600, in a 0700 folder), replacing any left by an ``init`` that failed before
    its first transaction. Returns the cipher over the new key."""
    gallery_id = gallery_id or new_gallery_id()
    key = secrets.token_bytes(KEY_BYTES)
    nonce = secrets.token_bytes(NONCE)
    wrapped = nonce + AESGCM(master).encrypt(nonce, key, _wrap_aad(gallery_id))
    record = {
        "format": DATA_KEY_FORMAT,
        "gallery_id": gallery_id,
        "master_key": fingerprint(master),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wrapped": base64.b64encode(wrapped).decode(),
    }
    folder = home.keys_dir
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(json.dumps(record, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, home.data_key_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return DataCipher(key, gallery_id)


def read_data_key(home: Home, master: bytes) -> DataCipher:
    """Unwrap the gallery's data key with ``master``. DataKeyMissingError if the key file is absent,
    MasterKeyError if ``master`` is not the key it was wrapped under, TamperedDataError if the file
    is not a data key file. Reads only: a refusal changes nothing."""
    path = home.data_key_file
    try:
        record: Any = json.loads(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        raise DataKeyMissingError(
            f"{path} is missing: this gallery's templates are sealed under the data key it held. A "
            "deleted gallery's key is destroyed on purpose; otherwise restore HOME/keys/ from its backup"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TamperedDataError(f"{path}: not a data key file ({exc})") from None
    try:
        if record["format"] != DATA_KEY_FORMAT:
            raise TamperedDataError(f"{path}: unknown data key format {record['format']!r}")
        gallery_id, wanted = str(record["gallery_id"]), str(record.get("master_key", "?"))
        wrapped = base64.b64decode(record["wrapped"], validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise TamperedDataError(f"{path}: not a data key file ({exc!r})") from None
    try:
        key = AESGCM(master).decrypt(wrapped[:NONCE], wrapped[NONCE:], _wrap_aad(gallery_id))
    except (InvalidTag, ValueError):
        raise MasterKeyError(
            f"the master key given (fingerprint {fingerprint(master)}) does not unlock this gallery's data key "
            f"(wrapped under the master key with fingerprint {wanted}); set ${MASTER_KEY_ENV} or "
            f"${MASTER_KEY_FILE_ENV} to that key. Nothing was changed."
        ) from None
    return DataCipher(key, gallery_id)


def destroy_data_key(home: Home) -> bool:
    """Overwrite the data key file with random bytes, fsync, and unlink it; True if there was one.

    This is what makes a deleted gallery unrecoverable from copies of its database or index files.
    (Overwriting in place is best effort on copy-on-write or wear-levelled storage; the file is
    small and never copied into the database, which is what backups usually hold.)"""
    path = home.data_key_file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with open(path, "r+b") as handle:
        handle.write(secrets.token_bytes(max(size, 1)))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    _fsync_dir(path.parent)
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
