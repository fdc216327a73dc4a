"""When a broker's lists prove that an unanswered placement never arrived."""

from __future__ import annotations

from datetime import datetime, timedelta


def shown_absent(
    sent_at: datetime | None,
    polled_at: datetime | None,
    listing_since: datetime | None,
    doubt: timedelta,
) -> bool:
    """Tell whether the last sync proves a placement sent at `sent_at`, whose answer never
    came, absent from the broker: it listed the account `doubt` or more after the send, and
    `doubt` or more after its lister's unbroken run of syncs began (`listing_since`).

    A sync that listed the order would have given it its broker order id, so a placement still
    unanswered after such a sync is not at the broker. A new run's first lists prove nothing
    alone: a new process or a new broker session may get a warm-up answer, empty or partial
    (IBKR). This one rule decides both whether `resume` sends such an order once more and
    whether a cancel may withdraw it locally.
    """
    if sent_at is None or polled_at is None or listing_since is None:
        return False
    return polled_at >= max(sent_at, listing_since) + doubt
