"""Recognising a full disk in whatever error it surfaces as: an OSError from a file the gallery
writes (index, add log, keys), SQLite's "database or disk is full", PostgreSQL's disk-full state,
each perhaps wrapped by SQLAlchemy. The core turns it into one named error (StorageFullError)."""

from __future__ import annotations

import errno
import sqlite3

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # SQLITE_FULL: the unix VFS reports a write failing with ENOSPC as this
_POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full


def storage_full_reason(exc: BaseException) -> str | None:
    """What says the storage is full, in a few words, if ``exc`` or an error it wraps (SQLAlchemy's
    ``orig``, ``__cause__``, ``__context__``) does; else None. Never the statement or its values."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return f"{current.strerror}: {current.filename}" if current.filename else str(current.strerror)
        if isinstance(current, sqlite3.Error) and getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
            return f"SQLite: {current}"
        if getattr(current, "sqlstate", None) == _POSTGRES_DISK_FULL or getattr(current, "pgcode", None) == (
            _POSTGRES_DISK_FULL
        ):
            return "PostgreSQL: disk full"
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return None
