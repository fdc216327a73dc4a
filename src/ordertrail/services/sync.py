"""Syncing one account: poll the broker's list, look up what vanished, apply everything once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ordertrail.clock import Clock
from ordertrail.domain.order import Order
from ordertrail.ports import Broker
from ordertrail.services.applier import Applier
from ordertrail.services.apply import ApplyResult
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    """What one sync saw and changed (the reconcile endpoint's answer)."""

    orders_examined: int
    fill_events_processed: int
    timestamp: datetime
    applied: ApplyResult
    missing: tuple[int, ...] = ()
    working: int = 0  # orders of the account working before this sync


async def sync_account(
    broker: Broker,
    applier: Applier,
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock,
    lookback: timedelta = timedelta(days=2),
) -> SyncResult:
    """Poll one account and apply what it shows; an order absent from the list is looked up,
    never assumed cancelled."""
    now = clock.now()
    reports = list(await broker.list_orders(since=now - lookback))
    listed = {r.broker_order_id for r in reports if r.broker_order_id}

    def working() -> list[Order]:
        with uow_factory() as uow:
            return uow.orders.working(broker.name, broker.account_id)

    missing: list[int] = []
    open_orders = await applier.run(working)
    for order in open_orders:
        broker_id = order.state.broker_order_id
        if broker_id is None or broker_id in listed:
            continue
        found = await broker.get_order(broker_id)
        if found is None:
            missing.append(order.id)
        else:
            reports.append(found)
    result = await applier.apply(reports)

    def record() -> None:
        with uow_factory() as uow:
            if missing:
                uow.orders.flag(missing, "missing", now)
            uow.sync_state.record(broker.name, broker.account_id, now, last_polled_at=now)
            uow.commit()

    await applier.run(record)
    if missing:
        log.warning(
            "%s/%s: orders %s not at the broker any more; status kept",
            broker.name,
            broker.account_id,
            missing,
        )
    return SyncResult(
        orders_examined=len(reports),
        fill_events_processed=result.fills,
        timestamp=now,
        applied=result,
        missing=tuple(missing),
        working=len(open_orders),
    )
