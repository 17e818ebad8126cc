"""What a person does with their own credentials, and the checks every front end makes with them.

Front ends hold no identity of their own: the CLI reads the user's token from their environment or
their private credentials file, the API from the request's bearer header, the web UI from its
session cookie, and each asks this service who that is. No call here needs a role: each proves who
acts by the credential it is given, and is audited as that user. A credential the gallery issued
that fails (a wrong secret, revoked, expired, used...) is audited too, as the engine's own actor
(the service or the CLI), with the reason, never the secret; one it never issued names no one and is
only counted (see :mod:`facesearch.governance.attempts`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from facesearch.errors import AuthenticationError
from facesearch.governance import attempts, credentials
from facesearch.governance.audit import AuditAction
from facesearch.governance.context import Context
from facesearch.governance.credentials import Credential, IssuedToken, WebSession
from facesearch.governance.users import User

T = TypeVar("T")


class SignInService:
    """Check tokens and web sessions, redeem activation codes, rotate tokens, start and end sessions."""

    def __init__(self, context: Context) -> None:
        self._context = context

    @property
    def _token_life(self) -> timedelta:
        return timedelta(days=self._context.settings.token_days)

    def _checked(
        self,
        failed: AuditAction,
        work: Callable[[Session], T],
        details: dict[str, object] | None = None,
        *,
        writes: bool = True,
    ) -> T:
        """Run ``work`` in a transaction (locked if it ``writes``); if it raises AuthenticationError,
        audit ``failed`` with the reason in a transaction of its own (the work's is rolled back) and
        raise it, or, for a credential the gallery never issued, only count it."""
        context = self._context
        try:
            with context.writing() if writes else context.store.transaction() as session:
                return work(session)
        except AuthenticationError as exc:
            unknown = attempts.unattributed(exc.reason, code=failed is AuditAction.ACTIVATION_FAILED)
            if unknown is not None:
                context.count_attempt(unknown)
            else:
                with context.writing() as session:
                    details = {"code": exc.code, "reason": exc.reason, **(details or {})}
                    context.record(session, failed, details=details)
            exc.audited = True  # accounted for, once: audited or counted
            raise

    def authenticate(self, token: str) -> Credential:
        """The user a token belongs to, which token it is and until when; AuthenticationError, audited
        (``auth.failed``), if it is wrong, revoked, expired or its user disabled; counted if unknown."""
        return self._checked(AuditAction.AUTH_FAILED, lambda s: credentials.authenticate(s, token), writes=False)

    def redeem(self, code: str) -> IssuedToken:
        """Exchange a one-time activation code for a new token of its user, shown only in this answer.
        ActivationError, audited (``activation.failed``), for a code that cannot be spent (counted
        as ``unknown-code`` if the gallery never issued it)."""

        def work(session: Session) -> IssuedToken:
            issued, code_id = credentials.redeem(session, code, self._token_life)
            details = {"code_id": code_id, "token_id": issued.id, "expires_at": issued.expires_at.isoformat()}
            self._context.for_actor(issued.user).record(session, AuditAction.ACTIVATION_REDEEM, details=details)
            return issued

        return self._checked(AuditAction.ACTIVATION_FAILED, work, {"code_id": credentials.code_id_of(code)})

    def rotate(self, token: str) -> IssuedToken:
        """Replace the token its holder presents with a new one, shown only in this answer; the old one
        is revoked and the web sessions begun with it end. AuthenticationError, audited, if it is not valid."""

        def work(session: Session) -> IssuedToken:
            issued, old, ended = credentials.rotate(session, token, self._token_life)
            details = {
                "token_id": old.token_id,
                "new_token_id": issued.id,
                "expires_at": issued.expires_at.isoformat(),
                "sessions_ended": ended,
            }
            self._context.for_actor(issued.user).record(session, AuditAction.TOKEN_ROTATE, details=details)
            return issued

        return self._checked(AuditAction.AUTH_FAILED, work)

    def start_session(self, token: str) -> WebSession:
        """Sign in to the web UI with a token: a new session, whose secret only the browser's cookie
        holds. AuthenticationError, audited, if the token is not valid."""
        credential = self.authenticate(token)
        life = timedelta(hours=self._context.settings.session_hours)
        with self._context.writing() as session:
            started = credentials.start_session(session, credential, life)
            details = {
                "session_id": started.id,
                "token_id": started.token_id,
                "expires_at": started.expires_at.isoformat(),
            }
            self._context.for_actor(started.user).record(session, AuditAction.SESSION_START, details=details)
        return started

    def session_user(self, secret: str) -> User:
        """The user of a live web session; AuthenticationError, audited, for one that is ended,
        expired, or whose token was revoked or user disabled (counted if the session is unknown)."""
        return self._checked(AuditAction.AUTH_FAILED, lambda s: credentials.session_user(s, secret)[0], writes=False)

    def end_session(self, secret: str) -> bool:
        """Sign out: end the web session with this secret (audited as its user); False if none was live."""
        with self._context.writing() as session:
            ended = credentials.end_session(session, secret)
            if ended is not None:
                user, session_id = ended
                details = {"session_id": session_id, "why": "sign-out"}
                self._context.for_actor(user).record(session, AuditAction.SESSION_END, details=details)
        return ended is not None
