"""The home folder: where one gallery keeps its database, index files, settings and lock."""

from __future__ import annotations

import dataclasses
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOME_ENV = "FACESEARCH_HOME"


def default_home() -> Path:
    """``$FACESEARCH_HOME`` if set, else the user's data folder (``~/.local/share/facesearch``)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    import platformdirs

    return Path(platformdirs.user_data_dir("facesearch", appauthor=False))


@dataclasses.dataclass(frozen=True)
class Home:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "gallery.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def evaluations_dir(self) -> Path:
        """Summaries of ``facesearch evaluate`` runs, cited by the model card."""
        return self.root / "evaluations"

    @property
    def models_dir(self) -> Path:
        """Face models registered from local ONNX files, one JSON record each (see
        :mod:`facesearch.pipeline.recognizers.registered`)."""
        return self.root / "models"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def data_key_file(self) -> Path:
        """The gallery's data key, wrapped by the master key (see :mod:`facesearch.storage.keys`). Kept out
        of the database so that a backup of the database alone cannot be decrypted, and so that
        deleting the gallery can destroy it."""
        return self.keys_dir / "gallery.key"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def exists(self, database_url: str = "") -> bool:
        """A gallery may be here: its SQLite file, or (its tables elsewhere) the home folder."""
        return self.root.is_dir() if database_url else self.database.exists()

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_dir.mkdir(exist_ok=True)
        os.chmod(self.root, 0o700)  # biometric data: owner only

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes: the database and index files change together under it."""
        with open(self.lock_file, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
