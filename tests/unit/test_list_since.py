"""How far back a sync's list reaches: to the last committed sync, never past the lookback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ordertrail.services.sync import SINCE_SLACK, list_since

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=2)


def test_a_first_sync_reaches_back_the_whole_lookback() -> None:
    assert list_since(NOW, None, LOOKBACK) == NOW - LOOKBACK


def test_a_later_sync_reaches_back_to_the_last_one_less_the_slack() -> None:
    last = NOW - timedelta(seconds=5)
    assert list_since(NOW, last, LOOKBACK) == last - SINCE_SLACK


def test_a_sync_after_long_downtime_reaches_back_no_further_than_the_lookback() -> None:
    assert list_since(NOW, NOW - timedelta(days=9), LOOKBACK) == NOW - LOOKBACK


def test_a_last_sync_in_the_future_counts_as_none() -> None:
    # The clock was set back (or the database came from elsewhere): take the whole lookback.
    assert list_since(NOW, NOW + timedelta(hours=1), LOOKBACK) == NOW - LOOKBACK
