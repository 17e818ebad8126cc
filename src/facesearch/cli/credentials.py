"""Where a CLI user's token comes from, and where ``activate`` and ``tokens rotate`` keep it.

In order: the ``FACESEARCH_TOKEN`` environment variable (the token itself, for scripts and
containers), else the user's credentials file: ``--credentials FILE`` or ``FACESEARCH_CREDENTIALS``,
else ``credentials.toml`` in the user's config folder (platformdirs' user_config_dir, e.g.
``~/.config/facesearch/``). The file holds one token per gallery, filed under the gallery's id, so
one person can use several galleries. It must belong to the user and be readable by no one else
(mode 0600, written so); otherwise it is refused and nothing is read from it. There is no
``--token`` flag: a secret on the command line is visible to every user of the machine (``ps``).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesearch.errors import CredentialsFileError

if TYPE_CHECKING:
    from facesearch.governance.credentials import IssuedToken

TOKEN_ENV = "FACESEARCH_TOKEN"
CREDENTIALS_ENV = "FACESEARCH_CREDENTIALS"
HEADER = (
    "# facesearch credentials: one person's API tokens, one per gallery (by the gallery's id).\n"
    "# Anyone who reads this file can act as you: keep it private (mode 0600).\n"
)


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("facesearch", appauthor=False)) / "credentials.toml"


def env_token() -> str | None:
    return os.environ.get(TOKEN_ENV, "").strip() or None


def _check_private(path: Path) -> None:
    """Refuse a credentials file that is not the user's own, or that anyone else may read or write."""
    if os.name != "posix":
        return
    info = path.stat()
    if info.st_uid != os.getuid():
        raise CredentialsFileError(f"{path} belongs to another user: refused (your credentials file must be yours)")
    if info.st_mode & 0o077:
        raise CredentialsFileError(
            f"{path} may be read or changed by others (mode {info.st_mode & 0o777:o}): refused; "
            f"make it private with 'chmod 600 {path}', and replace its tokens if others could read them"
        )


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The galleries' entries in the credentials file at PATH ({} when there is no file)."""
    if not path.exists():
        return {}
    _check_private(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CredentialsFileError(f"{path} is not a valid credentials file: {exc}") from None
    galleries = data.get("galleries", {})
    return {str(k): v for k, v in galleries.items() if isinstance(v, dict)} if isinstance(galleries, dict) else {}


def token_for(path: Path, gallery_id: str) -> str | None:
    """The token filed for the gallery in the credentials file at PATH, if any."""
    entry = read(path).get(gallery_id, {})
    token = entry.get("token")
    return token.strip() if isinstance(token, str) and token.strip() else None


def save(path: Path, gallery_id: str, issued: IssuedToken, home: Path) -> str | None:
    """File ``issued`` under the gallery in the credentials file at PATH (created 0600, its folder
    0700), replacing the gallery's earlier entry; returns the user that entry was for, if any."""
    galleries = read(path)
    before = galleries.get(gallery_id, {}).get("user")
    galleries[gallery_id] = {
        "user": issued.user,
        "token_id": issued.id,
        "token": issued.token,
        "expires_at": issued.expires_at.isoformat(),
        "home": str(home),
    }
    lines = [HEADER]
    for gid, entry in sorted(galleries.items()):
        lines.append(f"\n[galleries.{json.dumps(gid, ensure_ascii=False)}]\n")
        lines.extend(f"{key} = {json.dumps(str(value), ensure_ascii=False)}\n" for key, value in entry.items())
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return str(before) if before else None
