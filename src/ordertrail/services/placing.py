"""Placing and cancelling: record first, then call the broker; the broker's reports decide."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from ordertrail.clock import Clock
from ordertrail.domain.absence import shown_absent
from ordertrail.domain.events import EventKind, OrderEvent, normalise
from ordertrail.domain.ids import make_client_order_id
from ordertrail.domain.order import Order, OrderState, Placement
from ordertrail.domain.proposal import Proposal, ProposalKind, ProposalStatus
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import TradeStatus
from ordertrail.errors import BrokerError, BrokerRejected, InvalidRequest, NotFound
from ordertrail.ports import Broker, PlaceRequest
from ordertrail.services.applier import Applier
from ordertrail.services.changes import Changed
from ordertrail.storage.codec import instrument_to_json
from ordertrail.storage.history import event_row
from ordertrail.storage.orders import state_values
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DOUBT_S = 60.0  # how long after a send without answer a broker not listing it is believed
# Sent, outcome unknown: the order may be working at the broker under its client order id.
UNANSWERED = frozenset({Placement.SENDING, Placement.RESENT})

BrokerLookup = Callable[[str, str], Broker]


@dataclass(frozen=True)
class Placer:
    """Everything placing needs: storage, the broker registry, the applier, the clock."""

    uow_factory: Callable[[], UnitOfWork]
    brokers: BrokerLookup
    applier: Applier
    clock: Clock
    prefix: str = "ordertrail"
    doubt_s: float = DOUBT_S

    @property
    def _doubt(self) -> timedelta:
        return timedelta(seconds=self.doubt_s)

    async def submit(self, proposal_id: int) -> Order:
        """Record the order (PENDING) and commit, then place it; safe to call twice."""
        proposal = await self.applier.run(partial(self._proposal, proposal_id))
        self.brokers(proposal.broker, proposal.account_id)  # an unknown account: refuse first
        order, proposal, fresh = await self.applier.run(lambda: self._record(proposal_id))
        if not fresh:
            return order  # already submitted: never place twice
        return await self._send(order, proposal)

    async def cancel(self, proposal_id: int) -> Order | None:
        """Withdraw a proposal, or ask the broker to cancel its order (its report decides)."""
        order = await self.applier.run(lambda: self._prepare_cancel(proposal_id))
        if order is None or order.state.broker_order_id is None:
            return order
        await self.brokers(order.state.broker, order.state.account_id).cancel(
            order.state.broker_order_id
        )
        return order

    async def resume(
        self,
        broker: str,
        account_id: str,
        grace_s: float = 10.0,
        doubt_s: float | None = None,
    ) -> int:
        """Place orders a dead process recorded but never sent; call it right after a sync.

        An order marked `sending` that the last sync shows absent (`shown_absent`: listed
        `doubt_s`, by default the placer's, after the send and after its lister's run of syncs
        began) never arrived (the process died before the request left): it is sent once more,
        and never a third time.
        """
        doubt = timedelta(seconds=self.doubt_s if doubt_s is None else doubt_s)

        def stuck() -> tuple[list[Order], dict[str, Any]]:
            with self.uow_factory() as uow:
                synced = uow.sync_state.get(broker, account_id) or {}
                return uow.orders.awaiting_placement(broker, account_id), synced

        now = self.clock.now()
        placed = 0
        waiting, synced = await self.applier.run(stuck)
        for order in waiting:
            if order.proposal_id is None or order.created_at is None or order.updated_at is None:
                continue
            if order.placement is Placement.RECORDED:
                if order.created_at > now - timedelta(seconds=grace_s):
                    continue
                log.info("resuming placement of order %s (recorded, never sent)", order.id)
                mark = Placement.SENDING
            elif order.placement is Placement.SENDING:
                if not _absent(order, synced, doubt):
                    continue
                log.warning(
                    "order %s was being sent when its process died and the broker does not show "
                    "%s: sending it once more",
                    order.id,
                    order.client_order_id,
                )
                mark = Placement.RESENT
            else:
                continue
            proposal = await self.applier.run(partial(self._proposal, order.proposal_id))
            if proposal.kind is ProposalKind.EXIT:
                refusal = await self.applier.run(partial(self._exit_refusal, proposal, order))
                if refusal is not None:  # its trade closed, or other exits took its room
                    log.warning("order %s withdrawn, not resumed: %s", order.id, refusal)
                    await self.applier.run(partial(self._withdraw, order, refusal))
                    continue
            await self._send(order, proposal, mark)
            placed += 1
        return placed

    def _exit_refusal(self, proposal: Proposal, order: Order) -> str | None:
        """Why an EXIT waiting to be sent must not be sent now (None: it may be)."""
        with self.uow_factory() as uow:
            try:
                _check_exit(uow, proposal, besides=order.id)
            except InvalidRequest as refusal:
                return str(refusal)
        return None

    def _withdraw(self, order: Order, reason: str) -> None:
        """Withdraw an order nobody sent (or whose send never arrived), saying why."""
        assert order.placement is not None
        if self._mark(order.id, Placement.WITHDRAWN, only_from=order.placement):
            self.applier.apply_now([_withdrawn(order, f"withdrawn before it was sent: {reason}")])

    def _proposal(self, proposal_id: int) -> Proposal:
        with self.uow_factory() as uow:
            proposal = uow.proposals.get(proposal_id)
        if proposal is None:
            raise NotFound(f"proposal {proposal_id} does not exist")
        return proposal

    def _record(self, proposal_id: int) -> tuple[Order, Proposal, bool]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            proposal = uow.proposals.get_for_update(proposal_id)
            if proposal is None:
                raise NotFound(f"proposal {proposal_id} does not exist")
            existing = uow.orders.by_proposal(proposal_id)
            if existing is not None:
                return existing, proposal, False
            if proposal.status is not ProposalStatus.NEW:
                raise InvalidRequest(f"proposal {proposal_id} is {proposal.status.value}")
            if proposal.kind is ProposalKind.EXIT:
                _check_exit(uow, proposal)
            client_id = make_client_order_id(self.prefix, proposal_id, proposal.kind, now)
            state = OrderState(
                broker=proposal.broker,
                account_id=proposal.account_id,
                quantity=proposal.quantity,
                limit_price=proposal.limit_price,
                remaining_quantity=proposal.quantity,
            )
            order_id = uow.orders.add(
                state_values(state)
                | {
                    "client_order_id": client_id,
                    "proposal_id": proposal_id,
                    "trade_id": proposal.linked_trade_id,
                    "side": proposal.kind.value,
                    "placement": Placement.RECORDED.value,
                    "external": False,
                    "symbol": proposal.instrument.symbol,
                    "option_symbol": proposal.instrument.option_symbol,
                    "instrument": instrument_to_json(proposal.instrument),
                    "broker_side": proposal.side,
                    "order_type": proposal.order_type,
                    "event_seq": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            recorded = OrderEvent(
                kind=EventKind.RECORDED,
                status_before=None,
                status_after=OrderStatus.PENDING,
                filled_quantity=state.filled_quantity,
                source="submit",
                message=f"Recorded with client order id {client_id}; placing at {proposal.broker}",
            )
            uow.history.append_events([event_row(order_id, 1, recorded, now)])
            uow.proposals.set_status(proposal_id, ProposalStatus.SUBMITTED, now, client_id)
            order = uow.orders.get(order_id)
            uow.commit()
        assert order is not None
        self.applier.tell(Changed(frozenset({order_id}), proposal_ids=frozenset({proposal_id})))
        return order, proposal, True

    async def _send(
        self, order: Order, proposal: Proposal, mark: Placement = Placement.SENDING
    ) -> Order:
        state = order.state
        broker = self.brokers(state.broker, state.account_id)
        assert order.client_order_id is not None
        request = PlaceRequest(
            client_order_id=order.client_order_id,
            instrument=proposal.instrument,
            side=proposal.side,
            quantity=proposal.quantity,
            order_type=proposal.order_type,
            limit_price=proposal.limit_price,
            duration=proposal.duration,
            legs=proposal.legs,
        )
        expected = order.placement or Placement.RECORDED
        if not await self.applier.run(lambda: self._mark(order.id, mark, only_from=expected)):
            log.info("order %s was withdrawn or settled before it was sent: not sent", order.id)
            return await self.applier.run(lambda: self._get(order.id))

        async def ready() -> None:
            # The request leaves now (an adapter may have waited for a quota since the mark):
            # stamp the send again, unless a resume or a cancel took the order meanwhile.
            if not await self.applier.run(lambda: self._mark(order.id, mark, only_from=mark)):
                raise _Superseded

        request = replace(request, ready=ready)
        report: OrderReport
        try:
            result = await broker.place(request)
        except _Superseded:
            log.info("order %s was resent or withdrawn while it waited to be sent", order.id)
            return await self.applier.run(lambda: self._get(order.id))
        except BrokerError as failure:
            if not (isinstance(failure, BrokerRejected) or failure.nothing_placed):
                log.warning(
                    "placing order %s: outcome unknown (%s); it stays PENDING until a sync "
                    "finds %s",
                    order.id,
                    failure,
                    order.client_order_id,
                )
                return order
            # Refused, or provably never placed: over, with the reason (never retried silently,
            # a late placement could trade on a stale intent).
            report = OrderReport(
                broker=state.broker,
                account_id=state.account_id,
                broker_order_id=None,
                client_order_id=order.client_order_id,
                status=OrderStatus.REJECTED,
                reason=str(failure),
                source="place",
                raw={"error": str(failure)},
            )
        else:
            report = result.report or OrderReport(
                broker=state.broker,
                account_id=state.account_id,
                broker_order_id=result.broker_order_id,
                client_order_id=order.client_order_id,
                source="place",
                raw={"order_id": result.broker_order_id},
            )
            if report.client_order_id is None:
                report = replace(report, client_order_id=order.client_order_id)
        await self.applier.run(lambda: self._mark(order.id, Placement.SENT))
        await self.applier.apply([report])
        return await self.applier.run(lambda: self._get(order.id))

    def _mark(
        self, order_id: int, placement: Placement, only_from: Placement | None = None
    ) -> bool:
        with self.uow_factory() as uow:
            marked = uow.orders.set_placement(
                order_id, placement, self.clock.now(), only_from=only_from
            )
            uow.commit()
        return marked

    def _shown_absent(self, uow: UnitOfWork, order: Order) -> bool:
        """Tell whether the last sync shows an unanswered order absent from the broker (the
        rule `resume` sends such an order once more by): then it may be withdrawn."""
        synced = uow.sync_state.get(order.state.broker, order.state.account_id) or {}
        return _absent(order, synced, self._doubt)

    def _get(self, order_id: int) -> Order:
        with self.uow_factory() as uow:
            order = uow.orders.get(order_id)
        assert order is not None
        return order

    def _prepare_cancel(self, proposal_id: int) -> Order | None:
        now = self.clock.now()
        with self.uow_factory() as uow:
            proposal = uow.proposals.get_for_update(proposal_id)
            if proposal is None:
                raise NotFound(f"proposal {proposal_id} does not exist")
            order = uow.orders.by_proposal(proposal_id)
            if order is None:
                if proposal.status is not ProposalStatus.NEW:
                    raise InvalidRequest(f"proposal {proposal_id} is {proposal.status.value}")
                uow.proposals.set_status(proposal_id, ProposalStatus.CANCELLED, now)
                uow.commit()
                self.applier.tell(Changed(proposal_ids=frozenset({proposal_id})))
                return None
            if order.state.status.terminal:
                raise InvalidRequest(
                    f"order {order.id} is already {order.state.status.value}; nothing to cancel"
                )
            sent = order.placement not in (None, Placement.RECORDED)
            if (
                order.state.broker_order_id is None
                and sent
                and not (order.placement in UNANSWERED and self._shown_absent(uow, order))
            ):
                raise InvalidRequest(
                    f"order {order.id} was sent and the broker has not answered yet; cancel "
                    f"once a sync has found it (or, should it never arrive, once a sync "
                    f"{self.doubt_s:.0f} s after the send has not: it is then withdrawn)"
                )
            if order.state.broker_order_id is None:
                # Only as read: a placer (in this process or another) may have begun
                # sending it since; then the broker may hold it, and it is not withdrawn.
                if not uow.orders.set_placement(
                    order.id, Placement.WITHDRAWN, now, only_from=order.placement
                ):
                    raise InvalidRequest(
                        f"order {order.id} is being sent right now; cancel once a sync has found it"
                    )
            else:
                asked = _event(
                    order,
                    EventKind.CANCEL_REQUESTED,
                    "Cancel requested; the broker's report decides",
                    "cancel",
                )
                uow.history.append_events([event_row(order.id, order.event_seq + 1, asked, now)])
                uow.orders.save_state(replace(order, event_seq=order.event_seq + 1), at=now)
            uow.commit()
        if order.state.broker_order_id is not None:  # its CANCEL_REQUESTED, on every page
            self.applier.tell(Changed(frozenset({order.id}), proposal_ids=frozenset({proposal_id})))
        if order.state.broker_order_id is None:
            self.applier.apply_now([_withdrawn(order)])
            return self._get(order.id)
        return order


class _Superseded(Exception):
    """An order waiting to be sent was resent or withdrawn meanwhile: this send is off."""


def _check_exit(uow: UnitOfWork, proposal: Proposal, besides: int | None = None) -> None:
    """An EXIT is placed only while its trade is open, and only for what is left of it once
    the trade's other working EXIT orders are done (two exits of the whole position, both
    filled, would leave the account short)."""
    trade_id = proposal.linked_trade_id
    # Locked: another process's EXIT of the same trade waits, then counts this one.
    trade = uow.trades.get_for_update(trade_id) if trade_id is not None else None
    if trade is None or trade_id is None:
        raise InvalidRequest(f"proposal {proposal.id} exits no trade that exists")
    if trade.status is not TradeStatus.OPEN:
        raise InvalidRequest(
            f"trade {trade_id} is {trade.status.value}; proposal {proposal.id} has nothing to exit"
        )
    outstanding = uow.orders.exits_outstanding(trade_id, besides)
    room = trade.open_quantity - outstanding
    if proposal.quantity > room:
        raise InvalidRequest(
            f"trade {trade_id} has {normalise(trade.open_quantity)} open, of which "
            f"{normalise(outstanding)} working EXIT orders may still take out; proposal "
            f"{proposal.id} asks for {normalise(proposal.quantity)}"
        )


def _event(order: Order, kind: EventKind, message: str, source: str) -> OrderEvent:
    return OrderEvent(
        kind=kind,
        status_before=order.state.status,
        status_after=order.state.status,
        filled_quantity=order.state.filled_quantity,
        message=message,
        source=source,
    )


def _withdrawn(order: Order, reason: str = "withdrawn before it reached the broker") -> OrderReport:
    """The report for an order cancelled before any broker saw it (nothing to ask a broker)."""
    return OrderReport(
        broker=order.state.broker,
        account_id=order.state.account_id,
        broker_order_id=None,
        client_order_id=order.client_order_id,
        status=OrderStatus.CANCELLED,
        reason=reason,
        source="cancel",
    )


def _absent(order: Order, synced: dict[str, Any], doubt: timedelta) -> bool:
    """`shown_absent` for an order last marked sent at its `updated_at`, by the account's
    sync state row (`synced`, empty before its first sync)."""
    return shown_absent(
        order.updated_at, synced.get("last_polled_at"), synced.get("listing_since"), doubt
    )
