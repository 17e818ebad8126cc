"""Search quotas and anomaly flags, counted from audit events placed at chosen times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import facesearch
from facesearch.config import CONFIG_FILE, Settings
from facesearch.errors import ConfigError, QuotaExceededError
from facesearch.governance import audit, usage
from facesearch.governance.audit import AuditAction

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROBE = "ab" * 32
OFF = {"burst_searches": 0, "repeat_probe_searches": 0}  # settings with no flags, for quota tests


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    with facesearch.init(tmp_path / "home", actor="founder") as engine, engine.store.transaction() as s:
        yield s


def searched(
    session: Session,
    actor: str,
    at: datetime,
    *,
    probe: str | None = None,
    action: AuditAction = AuditAction.IDENTIFY,
    times: int = 1,
) -> None:
    for _ in range(times):
        audit.append(session, actor=actor, action=action, gallery_generation=0, probe_sha256=probe, ts=at)


def quota(**limits: int) -> Settings:
    return Settings(**OFF, **limits)


def test_the_hourly_quota_refuses_exactly_the_search_past_the_limit(session: Session) -> None:
    settings = quota(search_quota_per_hour=3, search_quota_per_day=0)
    searched(session, "olga", NOW - timedelta(minutes=50))
    searched(session, "olga", NOW - timedelta(minutes=10), action=AuditAction.VERIFY)  # verify counts too
    usage.check_quota(session, "olga", settings, NOW)  # two used: the third is allowed
    searched(session, "olga", NOW - timedelta(minutes=5))
    with pytest.raises(QuotaExceededError, match=r"3 searches in the last hour.*search_quota_per_hour = 3") as exc:
        usage.check_quota(session, "olga", settings, NOW)
    assert "allowed from 2026-03-10 12:10:00 UTC" in exc.value.message  # when the oldest leaves the hour
    usage.check_quota(session, "olga", settings, NOW + timedelta(minutes=10))  # exactly then


def test_searches_older_than_the_window_and_other_events_do_not_count(session: Session) -> None:
    settings = quota(search_quota_per_hour=2, search_quota_per_day=0)
    searched(session, "olga", NOW - timedelta(hours=1), times=5)  # exactly an hour ago: out
    searched(session, "olga", NOW - timedelta(minutes=1))
    audit.append(session, actor="olga", action=AuditAction.REFUSED, gallery_generation=0, ts=NOW)
    usage.check_quota(session, "olga", settings, NOW)


def test_the_daily_quota_counts_24_hours(session: Session) -> None:
    settings = quota(search_quota_per_hour=0, search_quota_per_day=4)
    for hours_ago in (23, 20, 6, 2):
        searched(session, "olga", NOW - timedelta(hours=hours_ago))
    with pytest.raises(QuotaExceededError, match="4 searches in the last 24 hours") as exc:
        usage.check_quota(session, "olga", settings, NOW)
    assert "allowed from 2026-03-10 13:00:00 UTC" in exc.value.message
    usage.check_quota(session, "olga", quota(search_quota_per_hour=0, search_quota_per_day=5), NOW)


def test_when_both_quotas_are_used_up_the_later_release_is_named(session: Session) -> None:
    settings = quota(search_quota_per_hour=2, search_quota_per_day=3)
    searched(session, "olga", NOW - timedelta(hours=5))
    searched(session, "olga", NOW - timedelta(minutes=30), times=2)
    with pytest.raises(QuotaExceededError, match="last 24 hours.*2026-03-11 07:00:00"):
        usage.check_quota(session, "olga", settings, NOW)


def test_quotas_are_per_actor(session: Session) -> None:
    settings = quota(search_quota_per_hour=2, search_quota_per_day=2)
    searched(session, "olga", NOW - timedelta(minutes=1), times=2)
    with pytest.raises(QuotaExceededError, match="olga"):
        usage.check_quota(session, "olga", settings, NOW)
    usage.check_quota(session, "pavel", settings, NOW)


def test_zero_means_no_limit(session: Session) -> None:
    searched(session, "olga", NOW - timedelta(minutes=1), times=30)
    usage.check_quota(session, "olga", quota(search_quota_per_hour=0, search_quota_per_day=0), NOW)


def test_defaults_allow_ordinary_use(session: Session) -> None:
    searched(session, "olga", NOW - timedelta(minutes=1), probe=PROBE)
    usage.check_quota(session, "olga", Settings(), NOW)
    assert usage.anomaly_flags(session, "olga", "cd" * 32, Settings(), NOW) == []


def test_a_burst_is_flagged_from_the_configured_count(session: Session) -> None:
    settings = Settings(burst_searches=4, burst_window_seconds=60, repeat_probe_searches=0)
    searched(session, "olga", NOW - timedelta(seconds=60))  # at the window's edge: out
    searched(session, "olga", NOW - timedelta(seconds=59), times=2)
    searched(session, "pavel", NOW - timedelta(seconds=1), times=5)  # someone else's searches
    assert usage.anomaly_flags(session, "olga", None, settings, NOW) == []  # this would be the third
    searched(session, "olga", NOW - timedelta(seconds=30))
    [flag] = usage.anomaly_flags(session, "olga", None, settings, NOW)
    assert flag.name == "burst" and "4 searches" in flag.detail and "60 seconds" in flag.detail


def test_the_same_probe_searched_repeatedly_is_flagged_across_actors(session: Session) -> None:
    settings = Settings(repeat_probe_searches=3, burst_searches=0)
    searched(session, "olga", NOW - timedelta(hours=24), probe=PROBE)  # a day ago: out
    searched(session, "olga", NOW - timedelta(hours=3), probe=PROBE)
    searched(session, "pavel", NOW - timedelta(hours=1), probe="cd" * 32)
    assert usage.anomaly_flags(session, "ines", PROBE, settings, NOW) == []
    searched(session, "pavel", NOW - timedelta(hours=2), probe=PROBE, action=AuditAction.VERIFY)
    [flag] = usage.anomaly_flags(session, "ines", PROBE, settings, NOW)
    assert flag.name == "repeated-probe" and "3 times within 24 hours" in flag.detail
    assert PROBE not in flag.detail
    assert usage.anomaly_flags(session, "ines", PROBE, settings.replace(repeat_probe_searches=0), NOW) == []


@pytest.mark.parametrize(
    "hours, at, flagged",
    [
        ("08:00-18:00", "12:00", False),
        ("08:00-18:00", "08:00", False),  # the start is inside
        ("08:00-18:00", "18:00", True),  # the end is not
        ("08:00-18:00", "07:59", True),
        ("22:00-06:00", "23:30", False),  # a window that wraps midnight
        ("22:00-06:00", "00:00", False),
        ("22:00-06:00", "05:59", False),
        ("22:00-06:00", "06:00", True),
        ("22:00-06:00", "12:00", True),
        ("", "03:00", False),  # any time
    ],
)
def test_searches_outside_the_configured_hours_are_flagged(
    session: Session, hours: str, at: str, flagged: bool
) -> None:
    settings = Settings(search_hours=hours, **OFF)
    hour, minute = map(int, at.split(":"))
    flags = usage.anomaly_flags(session, "olga", PROBE, settings, NOW.replace(hour=hour, minute=minute))
    assert [f.name for f in flags] == (["off-hours"] if flagged else [])


def test_search_hours_are_read_in_utc(session: Session) -> None:
    settings = Settings(search_hours="08:00-18:00", **OFF)
    two_pm_five_hours_west = datetime(2026, 3, 10, 14, 0, tzinfo=timezone(timedelta(hours=-5)))  # 19:00 UTC
    [flag] = usage.anomaly_flags(session, "olga", None, settings, two_pm_five_hours_west)
    assert "19:00 UTC" in flag.detail


def test_a_naive_time_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        usage.check_quota(session, "olga", Settings(), datetime(2026, 3, 10, 12, 0))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("search_quota_per_hour = -1", "search_quota_per_hour"),
        ("search_quota_per_day = -5", "search_quota_per_day"),
        ("burst_searches = 1", "burst_searches"),
        ("repeat_probe_searches = -1", "repeat_probe_searches"),
        ("burst_window_seconds = 0", "burst_window_seconds"),
        ("search_hours = '8-18'", "search_hours"),
        ("search_hours = '24:00-06:00'", "search_hours"),
        ("search_hours = '08:60-18:00'", "search_hours"),
        ("search_hours = '09:00-09:00'", "empty window"),
        ("search_hours = 9", "search_hours"),
    ],
)
def test_bad_usage_settings_are_named(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError, match=problem):
        Settings.load(tmp_path)


def test_usage_settings_load_from_the_home_folder(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text("search_quota_per_hour = 0\nsearch_hours = ' 22:00-06:00 '\n")
    settings = Settings.load(tmp_path)
    assert settings.search_quota_per_hour == 0 and settings.search_quota_per_day == 1000
    assert settings.search_window() is not None
