"""`World`: the real app (bootstrap, apply path, watcher streaming and polling) on one harness."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.order import Order
from ordertrail.domain.proposal import ProposalKind
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, order_events, orders
from ordertrail.watchers.supervisor import AccountWatcher
from tests.conformance.harness import Harness
from tests.support.audit import Audit, audit
from tests.support.eventually import eventually

D = Decimal
POLL_S = 0.2


@dataclass
class Placed:
    """A proposal we submitted and the order it made."""

    proposal_id: int
    order: Order

    @property
    def broker_id(self) -> str:
        assert self.order.state.broker_order_id is not None, "the broker never answered"
        return self.order.state.broker_order_id


class World:
    """One app on one database and one broker harness, its watcher running."""

    def __init__(self, harness: Harness, database_url: str) -> None:
        self.harness = harness
        self.key = f"{harness.name}:{harness.account_id}"
        settings = Settings(
            database_url=database_url,
            poll_interval_active=POLL_S,
            poll_interval_idle=POLL_S,
        )
        self.app: App = bootstrap(settings, brokers={self.key: harness.broker})
        self._task: asyncio.Task[None] | None = None

    @property
    def watcher(self) -> AccountWatcher:
        return self.app.watchers[self.key]

    async def start(self) -> None:
        self._task = asyncio.create_task(self.watcher.run())
        stats = self.app.stats.account(self.harness.name, self.harness.account_id)
        await eventually(lambda: stats.subscribed, timeout=10, message="stream never subscribed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.app.aclose()

    async def place(
        self, quantity: int = 10, price: str = "10.00", instrument: Instrument | None = None
    ) -> Placed:
        """Create an ENTRY proposal (AAPL unless told) and submit it (record, commit, place)."""
        proposal = create_proposal(
            self.app.uow(),
            NewProposal(
                kind=ProposalKind.ENTRY,
                broker=self.harness.name,
                account_id=self.harness.account_id,
                instrument=instrument or Instrument("AAPL"),
                quantity=D(quantity),
                order_type="limit",
                limit_price=D(price),
            ),
            self.app.clock,
        )
        return Placed(proposal.id, await self.app.placer.submit(proposal.id))

    async def linked(self, placed: Placed) -> Placed:
        """Wait until the order knows its broker order id (a sync found it)."""

        def probe() -> Order | None:
            with self.app.uow() as uow:
                order = uow.orders.by_proposal(placed.proposal_id)
            return order if order is not None and order.state.broker_order_id else None

        order = await eventually(probe, timeout=10, message="the order was never linked")
        return Placed(placed.proposal_id, order)

    def row(self, placed: Placed) -> dict[str, Any]:
        with self.app.engine.connect() as c:
            row = c.execute(select(orders).where(orders.c.proposal_id == placed.proposal_id)).one()
        return dict(row._mapping)

    def statuses(self, placed: Placed) -> list[str]:
        """The order's status after each of its events, in order."""
        order_id = self.row(placed)["id"]
        with self.app.engine.connect() as c:
            query = (
                select(order_events.c.status_after)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.seq)
            )
            return [status for (status,) in c.execute(query)]

    def trail(self, placed: Placed) -> list[tuple[object, ...]]:
        """The order's events: kind, status after, filled quantity, source, message."""
        order_id = self.row(placed)["id"]
        columns = order_events.c
        with self.app.engine.connect() as c:
            query = (
                select(columns.kind, columns.status_after, columns.filled_quantity)
                .add_columns(columns.source, columns.message)
                .where(columns.order_id == order_id)
                .order_by(columns.seq)
            )
            return [tuple(row) for row in c.execute(query)]

    def fill_trail(self, placed: Placed) -> list[tuple[object, ...]]:
        """The order's FILL events and fill rows: what a replay must not add to."""
        fill_events = [event for event in self.trail(placed) if event[0] == "FILL"]
        order_id = self.row(placed)["id"]
        with self.app.engine.connect() as c:
            query = select(fills.c.execution_id, fills.c.quantity, fills.c.price)
            rows = [tuple(r) for r in c.execute(query.where(fills.c.order_id == order_id))]
        return [*fill_events, *sorted(rows)]

    def moves(self, placed: Placed) -> list[str]:
        """The statuses the order went through, each once per stay."""
        moves: list[str] = []
        for status in self.statuses(placed):
            if not moves or moves[-1] != status:
                moves.append(status)
        return moves

    def event_count(self) -> int:
        with self.app.engine.connect() as c:
            return len(c.execute(select(order_events.c.id)).all())

    def audit(self) -> Audit:
        return audit(
            self.app.engine, self.harness.name, self.harness.account_id, self.harness.truth()
        )

    async def converged(self, timeout: float = 10.0) -> Audit:
        """Wait until the database equals the broker's truth (watcher streaming and polling)."""

        def probe() -> Audit:
            found = self.audit()
            assert found.clean and not found.unplaced, str(found)
            return found

        return await eventually(probe, timeout=timeout, message="never converged")

    async def reconciled(self) -> Audit:
        """Reconcile once more and audit strictly: the final state equals the broker's truth."""
        await self.watcher.reconcile()
        found = self.audit()
        assert found.clean and not found.unplaced, str(found)
        return found
