"""Search quotas and anomaly flags, counted from the audit log.

The audit log already records every search with its actor, time and probe hash, so quotas and
flags count its ``search.identify`` and ``search.verify`` events instead of keeping counters of
their own: nothing can drift out of step with what was really run, and a refused search (audited
as ``policy.refused``, not as a search) never uses up quota. Windows are rolling and half-open,
``now - window < ts <= now``, so an event stops counting exactly one window after it happened.

How the engine calls them, for a search by ``actor`` at ``now``, inside the locked transaction that
will append the search's own event (so concurrent searches cannot both slip under a quota):

    try:
        usage.check_quota(session, actor, settings, now)
    except QuotaExceededError as exc:
        # leave this transaction, then audit in one that commits (as Engine._refuse does):
        #   policy.refused, details {"rule": "quota", "reason": exc.message}; re-raise
    flags = usage.anomaly_flags(session, actor, probe_sha256, settings, now)
    seq = ...  # append the search event
    for flag in flags:  # the search still runs; flags are for the auditor
        ...  # append search.flagged, details {"flag": flag.name, "detail": flag.detail, "search_seq": seq}

Both functions only read; they never append, commit or raise anything but QuotaExceededError.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from facesearch.config import Settings
from facesearch.errors import QuotaExceededError
from facesearch.gallery.schema import AuditEventRow
from facesearch.governance.audit import AuditAction, stamp

SEARCH_ACTIONS = (AuditAction.IDENTIFY.value, AuditAction.VERIFY.value)
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
REPEAT_WINDOW = DAY

FlagName = Literal["burst", "repeated-probe", "off-hours"]


@dataclasses.dataclass(frozen=True)
class Flag:
    """Why a search looks unusual: ``name`` is stable (the transparency report counts by it),
    ``detail`` says what was seen, in words, without naming any subject."""

    name: FlagName
    detail: str


def _in_window(now: datetime, window: timedelta) -> list[ColumnElement[bool]]:
    """Search events with ``now - window < ts <= now``."""
    return [
        AuditEventRow.action.in_(SEARCH_ACTIONS),
        AuditEventRow.ts > stamp(now - window),
        AuditEventRow.ts <= stamp(now),
    ]


def _count(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(AuditEventRow).where(*conditions)) or 0


def check_quota(session: Session, actor: str, settings: Settings, now: datetime, searches: int = 1) -> None:
    """Raise QuotaExceededError if ACTOR may not run SEARCHES more searches under a quota.

    Counts the actor's identify and verify events in the last hour and the last 24 hours (through
    the ``(actor, ts)`` index); a quota of 0 is no limit. The searches about to run are not in the log
    yet, so a limit of N allows N searches per window and refuses the N+1-th. A sweep of a collection
    asks for all its searches at once, so it is refused whole, before any of them runs, rather than
    stopped half-way. When both quotas are used up, the message names the one that frees later, and when.
    """
    refusals: list[tuple[datetime, str]] = []
    for limit, window, name, span in (
        (settings.search_quota_per_hour, HOUR, "search_quota_per_hour", "hour"),
        (settings.search_quota_per_day, DAY, "search_quota_per_day", "24 hours"),
    ):
        if limit == 0:
            continue
        conditions = [AuditEventRow.actor == actor, *_in_window(now, window)]
        used = _count(session, conditions)
        if used + searches <= limit:
            continue
        if searches > limit:  # no wait would let them all run: no time to retry at
            raise QuotaExceededError(
                f"search refused: {searches} searches were asked for at once, more than the {limit} allowed in "
                f"{span} (setting {name}); none was run"
            )
        # The window holds `used` searches; SEARCHES more are allowed once `used + searches - limit` have left it.
        leaving = session.scalar(
            select(AuditEventRow.ts)
            .where(*conditions)
            .order_by(AuditEventRow.ts)
            .offset(used + searches - limit - 1)
            .limit(1)
        )
        assert leaving is not None
        frees = datetime.fromisoformat(leaving) + window
        at = f"{frees.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        if searches == 1:
            why = f"{actor} has run {used} searches in the last {span}, the most allowed (setting {name} = {limit})"
            refusals.append((frees, f"search refused: {why}; the next is allowed from {at}"))
        else:
            why = f"{actor} has run {used} of the {limit} searches allowed in {span} (setting {name})"
            refusals.append(
                (
                    frees,
                    f"search refused: {why} and asked for {searches} more at once; none was run; "
                    f"they are allowed from {at}",
                )
            )
    if refusals:
        frees, message = max(refusals)
        raise QuotaExceededError(message, retry_at=frees)


def anomaly_flags(
    session: Session, actor: str, probe_sha256: str | None, settings: Settings, now: datetime
) -> list[Flag]:
    """The flags a search by ACTOR of the photo PROBE_SHA256 at NOW earns, before it is recorded.

    - burst: counting this one, the actor has run at least ``burst_searches`` searches within
      ``burst_window_seconds``;
    - repeated-probe: counting this one, the same probe photo has been searched at least
      ``repeat_probe_searches`` times within 24 hours, by anyone (a verify counts by its first photo);
    - off-hours: NOW falls outside ``search_hours``.

    Each search past a threshold is flagged again, so the log shows how long a burst went on.
    """
    flags: list[Flag] = []
    if settings.burst_searches:
        window = timedelta(seconds=settings.burst_window_seconds)
        runs = 1 + _count(session, [AuditEventRow.actor == actor, *_in_window(now, window)])
        if runs >= settings.burst_searches:
            flags.append(
                Flag(
                    "burst",
                    f"{runs} searches by one user within {settings.burst_window_seconds} seconds "
                    f"(flagged from {settings.burst_searches})",
                )
            )
    if settings.repeat_probe_searches and probe_sha256:
        runs = 1 + _count(session, [AuditEventRow.probe_sha256 == probe_sha256, *_in_window(now, REPEAT_WINDOW)])
        if runs >= settings.repeat_probe_searches:
            flags.append(
                Flag(
                    "repeated-probe",
                    f"the same probe photo searched {runs} times within 24 hours "
                    f"(flagged from {settings.repeat_probe_searches})",
                )
            )
    hours = settings.search_window()
    if hours is not None:
        start, end = hours
        moment = datetime.fromisoformat(stamp(now)).time()  # in UTC, and refuses a naive NOW
        inside = start <= moment < end if start < end else (moment >= start or moment < end)
        if not inside:
            flags.append(Flag("off-hours", f"run at {moment:%H:%M} UTC, outside search hours {settings.search_hours}"))
    return flags
