"""The optional parts of facesearch, and the extra that installs each.

``pip install facesearch`` installs the library and the CLI. A front end or a report that needs more
asks for its extra with :func:`require` before importing it, so a missing library is one clear
error naming what to install, never a ``ModuleNotFoundError`` from deep inside an import.
``tests/test_packaging.py`` checks that these module names and pyproject.toml's extras agree, and
that every third-party import of ``src/`` is declared.
"""

from __future__ import annotations

import importlib.util

from facesearch.errors import MissingExtraError

# extra -> the top-level modules it provides that facesearch imports (python-multipart is the
# module starlette parses uploads with; facesearch never imports it itself).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "starlette", "pydantic", "uvicorn", "python_multipart"),
    "postgres": ("psycopg",),
    "milvus": ("pymilvus",),
    "eval": ("matplotlib",),
    "ray": ("ray",),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (found without importing them)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError, saying that ``what`` needs ``extra`` and how to install it, unless
    every module of that extra is installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"{what} needs the {extra!r} extra, which is not installed (missing: {', '.join(absent)}): "
            f"pip install 'facesearch[{extra}]'"
        )
