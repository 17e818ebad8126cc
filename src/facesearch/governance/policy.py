"""Rules of accountable use, checked at every entry point into the core before any work is done.

Each check either returns the cleaned value or raises a PolicyError naming what is missing, so a
refused request leaves the gallery and the audit chain exactly as they were.
"""

from __future__ import annotations

import dataclasses
import enum
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from facesearch.errors import (
    InputError,
    InvalidTextError,
    MissingCaseError,
    MissingLawfulBasisError,
    MissingPurposeError,
    MissingReasonError,
    MissingSourceError,
    NoRetentionPolicyError,
    PermissionDeniedError,
    RetentionError,
)
from facesearch.terms import SUBJECT_ID_PREFIX, LawfulBasis

if TYPE_CHECKING:
    from facesearch.types import SearchRequest

BASES = ", ".join(b.value for b in LawfulBasis)


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where an enrolled photo came from and why holding it is lawful."""

    source: str
    basis: LawfulBasis
    retain_until: date


# --- text a person typed: one line of printable text, of sane length ---------------------------

NAME_MAX_CHARS = 200  # subject, user, purpose, case, collection and cluster names; references
TEXT_MAX_CHARS = 2_000  # sources, reasons, notes
# Explicit bidirectional embeddings, overrides and isolates: they make text display in another
# order than it is stored ("Trojan Source"), so one name can pass for another.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})  # controls, lone surrogates, line breaks


def clean_text(value: str | None, field: str, max_chars: int = NAME_MAX_CHARS) -> str:
    """VALUE as it is stored and shown: NFC-normalised (the same name typed on two systems is one
    name) and trimmed; "" when empty, for the caller to refuse if it is required. Raises
    InvalidTextError naming FIELD when the text holds a control character (a newline, an escape
    sequence, a bidirectional override) or is longer than MAX_CHARS characters."""
    text = unicodedata.normalize("NFC", value or "").strip()
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) in _CONTROL_CATEGORIES or char in _BIDI_CONTROLS:
            raise InvalidTextError(
                f"the {field} holds a control character (U+{ord(char):04X}, character {position}): "
                f"a {field} is one line of printable text"
            )
    if len(text) > max_chars:
        raise InvalidTextError(f"the {field} is {len(text)} characters long, over the limit of {max_chars}")
    return text


def require_provenance(
    source: str | None,
    basis: str | LawfulBasis | None,
    retain_until: date | str | None,
    retention_days: int | None,
) -> Provenance:
    """Every enrolled photo must carry a source and a lawful basis, and the gallery must have a
    retention period: a photo is kept until the date given, which may not be past nor beyond the
    period, or else for the whole period from today."""
    source = clean_text(source, "source", TEXT_MAX_CHARS)
    if not source:
        raise MissingSourceError("enrollment refused: every photo must record where it came from (--source)")
    if not (basis or "").strip():  # a LawfulBasis is a str too
        raise MissingLawfulBasisError(
            f"enrollment refused: every photo must record its lawful basis (--basis, one of {BASES})"
        )
    try:
        lawful = LawfulBasis(str(basis).strip().lower())
    except ValueError:
        raise MissingLawfulBasisError(
            f"enrollment refused: {basis!r} is not a lawful basis; use one of {BASES}"
        ) from None
    if retention_days is None:
        raise NoRetentionPolicyError(
            "enrollment refused: this gallery has no retention period yet (an admin sets one with "
            "'facesearch retention set --days N')"
        )
    today = datetime.now(UTC).date()
    latest = today + timedelta(days=retention_days)
    until = _retention(retain_until) or latest
    if until > latest:
        raise RetentionError(
            f"retain-until {until.isoformat()} is beyond this gallery's retention period of {retention_days} days "
            f"(at most {latest.isoformat()})"
        )
    return Provenance(source, lawful, until)


def _retention(value: date | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise RetentionError(f"retain-until {value!r} is not a date (use YYYY-MM-DD)") from None
    if value < datetime.now(UTC).date():
        raise RetentionError(f"retain-until {value.isoformat()} is in the past")
    return value


def require_search_purpose(request: SearchRequest) -> SearchRequest:
    """A search must state its purpose and the case it serves; the request with both, and its
    authorisation reference (None when empty), cleaned by :func:`clean_text`."""
    purpose = clean_text(request.purpose, "purpose")
    case = clean_text(request.case, "case")
    authorisation = clean_text(request.authorisation, "authorisation reference") or None
    if not purpose:
        raise MissingPurposeError("search refused: a search must state its purpose (--purpose)")
    if not case:
        raise MissingCaseError("search refused: a search must name the case it serves (--case)")
    return dataclasses.replace(request, purpose=purpose, case=case, authorisation=authorisation)


def require_reason(reason: str | None, action: str) -> str:
    why = clean_text(reason, "reason", TEXT_MAX_CHARS)
    if not why:
        raise MissingReasonError(f"{action} refused: give the reason (--reason)")
    return why


def require_subject_name(name: str | None) -> str:
    text = clean_text(name, "subject name")
    if not text:
        raise InputError("enrollment refused: name the subject the photos show (--subject)")
    if text[: len(SUBJECT_ID_PREFIX)].lower() == SUBJECT_ID_PREFIX:
        raise InvalidTextError(
            f"the subject name {text!r} begins with {SUBJECT_ID_PREFIX!r}, which marks a subject's id; name the person"
        )
    return text


# --- who may do what: the one role matrix ------------------------------------------------------


class Role(enum.StrEnum):
    ADMIN = "admin"  # manages users, tokens, galleries, retention, erasure and purge
    ENROLLER = "enroller"  # enrolls and records opt-outs
    OPERATOR = "operator"  # identifies, verifies, clusters and nominates candidates
    VERIFIER = "verifier"  # confirms or rejects nominations
    AUDITOR = "auditor"  # reads the audit log and reports; changes nothing


class Permission(enum.StrEnum):
    MANAGE_USERS = "manage users"
    MANAGE_TOKENS = "manage tokens"
    MANAGE_GALLERY = "manage the gallery"
    SET_RETENTION = "set retention"
    ERASE = "erase subjects"
    PURGE = "purge expired data"
    HOLD = "place or release legal holds"
    ENROLL = "enroll"
    RECORD_OPT_OUT = "record opt-outs"
    IDENTIFY = "identify"
    VERIFY = "verify"
    CLUSTER = "cluster"
    NOMINATE = "nominate candidates"
    EXPORT = "export confirmed identifications"
    CONFIRM = "confirm or reject nominations"
    READ_AUDIT = "read the audit log"
    READ_REPORTS = "read reports"


ROLE_MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.MANAGE_USERS,
            Permission.MANAGE_TOKENS,
            Permission.MANAGE_GALLERY,
            Permission.SET_RETENTION,
            Permission.ERASE,
            Permission.PURGE,
            Permission.HOLD,
        }
    ),
    Role.ENROLLER: frozenset({Permission.ENROLL, Permission.RECORD_OPT_OUT}),
    Role.OPERATOR: frozenset(
        {Permission.IDENTIFY, Permission.VERIFY, Permission.CLUSTER, Permission.NOMINATE, Permission.EXPORT}
    ),
    Role.VERIFIER: frozenset({Permission.CONFIRM}),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT, Permission.READ_REPORTS}),
}


# Who sees an enrolled face's kept crop (review screens: a search's candidates, the verifier's
# queue, the admin's list of subjects); every view is audited ("face.view").
FACE_VIEWERS = (Permission.IDENTIFY, Permission.CONFIRM, Permission.MANAGE_GALLERY)


# How an admin adds a user, named in every refusal for want of a role (the API's and web UI's
# equivalents are POST /api/users and the admin's users page).
ADD_USER_COMMAND = "facesearch users add"


def require_role(value: str | None) -> Role:
    try:
        return Role((value or "").strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InputError(f"{value!r} is not a role; use one of {roles}") from None


def require_permission(actor: str, role: Role | None, disabled: bool, *permissions: Permission) -> None:
    """Raise PermissionDeniedError unless ``actor`` is an enabled user whose role grants any of
    ``permissions`` (the refusal names the first)."""
    if role is None:
        raise PermissionDeniedError(
            f"refused: {actor!r} is not a user of this gallery; an admin adds one with: "
            f"{ADD_USER_COMMAND} {actor} --role ROLE, then 'facesearch users invite {actor}' gives them an "
            "activation code"
        )
    if disabled:
        raise PermissionDeniedError(f"refused: user {actor!r} is disabled")
    if ROLE_MATRIX[role].isdisjoint(permissions):
        permission = permissions[0]
        roles = [r.value for r, granted in ROLE_MATRIX.items() if permission in granted]
        raise PermissionDeniedError(
            f"refused: the {role.value} role may not {permission.value} (roles that may: {', '.join(roles)}); "
            f"an admin adds a user with that role: {ADD_USER_COMMAND} NAME --role {roles[0]}, then "
            "'facesearch users invite NAME' gives them an activation code"
        )
