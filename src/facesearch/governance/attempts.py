"""Refused attempts that name no one: counted per UTC day and reason, never audited.

What is audited and what is only counted:

- A refusal of someone the gallery knows is an audit event naming them: a lacking permission or a
  rule (``policy.refused``), a photo refused as bad input (``photo.refused``), and a credential the
  gallery issued that failed (``auth.failed``, ``activation.failed``: a wrong secret for a real
  token, a revoked, expired or used one), whose holder is one of very few people.
- A refusal of a request that names no one is only counted here, by :class:`Unattributed` reason:
  no credential at all, or a token, activation code or web session the gallery never issued, or
  a form posted from another site. Anyone on the network can make these, as fast as they like; an
  event for each would let an anonymous flood grow the audit chain without bound and drown what it
  is for. The counts are published by reason in the transparency report.

The counts are kept in memory (:class:`Tally`) and written to the ``refused_attempts`` table at
most once every ``flush_interval_s`` by the request that finds them due, when the engine closes,
and before a transparency report is read, so a flood costs a counter increment per request, not a
database write.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.gallery.schema import RefusedAttemptRow

FLUSH_INTERVAL_S = 60.0


class Unattributed(enum.StrEnum):
    """Why a request naming no one was refused. Stable names: the transparency report counts by them.
    The set is closed, so nothing a client sends can add a row to the counts."""

    NO_CREDENTIAL = "no-credential"  # an API request without a bearer token, an empty sign-in form
    UNKNOWN_TOKEN = "unknown-token"  # a token the gallery never issued (or one not shaped like a token)
    UNKNOWN_CODE = "unknown-code"  # an activation code the gallery never issued
    UNKNOWN_SESSION = "unknown-session"  # a web session cookie the gallery never issued
    CROSS_SITE = "cross-site-request"  # a web form posted from another site


# A failed credential's reason (see facesearch.governance.credentials) that names nothing the gallery
# issued; the others name a real token, code or session, and are audited.
UNKNOWN_CREDENTIAL = {
    "unknown": Unattributed.UNKNOWN_TOKEN,
    "unknown-session": Unattributed.UNKNOWN_SESSION,
}


def unattributed(reason: str, *, code: bool = False) -> Unattributed | None:
    """The count a failed credential's ``reason`` goes to, or None if it is audited instead.
    ``code``: the credential was an activation code."""
    found = UNKNOWN_CREDENTIAL.get(reason)
    if found is Unattributed.UNKNOWN_TOKEN and code:
        return Unattributed.UNKNOWN_CODE
    return found


class Tally:
    """Counts kept in memory until written (thread-safe). ``clock`` gives the monotonic time."""

    def __init__(self, flush_interval_s: float = FLUSH_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._pending: Counter[tuple[date, str]] = Counter()
        self._lock = threading.Lock()
        self._last_flush = clock()

    def count(self, reason: Unattributed, day: date | None = None) -> bool:
        """Count one refused attempt; True if the counts are due to be written."""
        with self._lock:
            self._pending[(day or datetime.now(UTC).date(), Unattributed(reason).value)] += 1
            return self._clock() - self._last_flush >= self.flush_interval_s

    @property
    def pending(self) -> int:
        """Attempts counted and not yet written."""
        with self._lock:
            return sum(self._pending.values())

    def take(self) -> Counter[tuple[date, str]]:
        """The pending counts, handed over (they are no longer pending)."""
        with self._lock:
            taken, self._pending = self._pending, Counter()
            self._last_flush = self._clock()
        return taken

    def restore(self, taken: Mapping[tuple[date, str], int]) -> None:
        """Put back counts that could not be written."""
        with self._lock:
            self._pending.update(taken)


def add(session: Session, counts: Mapping[tuple[date, str], int]) -> None:
    """Add COUNTS, by (day, reason), to the stored ones. Call under the gallery's lock (writers of
    one day's row in several processes must not interleave)."""
    for (day, reason), n in sorted(counts.items()):
        if n <= 0:
            continue
        row = session.get(RefusedAttemptRow, (day, reason), with_for_update=True)
        if row is None:
            session.add(RefusedAttemptRow(day=day, reason=reason, count=n))
        else:
            row.count += n
    session.flush()


def counted(session: Session, start: date, end: date) -> dict[str, int]:
    """Refused attempts naming no one, by reason, over the days START through END (both included)."""
    query = (
        select(RefusedAttemptRow.reason, func.sum(RefusedAttemptRow.count))
        .where(RefusedAttemptRow.day >= start, RefusedAttemptRow.day <= end)
        .group_by(RefusedAttemptRow.reason)
    )
    return {reason: int(total) for reason, total in sorted(session.execute(query).all())}
