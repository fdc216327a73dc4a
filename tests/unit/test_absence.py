"""The one rule by which a sync shows an unanswered placement absent from the broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordertrail.domain.absence import shown_absent

SENT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
DOUBT = timedelta(seconds=60)


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("polled", "listing_since", "absent"),
    [
        (at(60), at(-600), True),  # a long run, a doubt period after the send
        (at(59), at(-600), False),  # not yet a doubt period after the send
        (at(61), at(61), False),  # a run's first sync: maybe a warm-up answer
        (at(120), at(61), False),  # not yet a doubt period into the run
        (at(121), at(61), True),
        (None, at(-600), False),  # never synced
        (at(600), None, False),  # synced before runs were recorded
    ],
)
def test_a_sync_shows_a_placement_absent_a_doubt_period_after_its_send_and_its_runs_start(
    polled: datetime | None, listing_since: datetime | None, absent: bool
) -> None:
    assert shown_absent(SENT, polled, listing_since, DOUBT) is absent


def test_an_order_never_sent_is_never_shown_absent() -> None:
    assert not shown_absent(None, at(600), at(-600), DOUBT)
