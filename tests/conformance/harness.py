"""One harness per broker adapter, all with the same controls: the broker the app runs on, the
broker-side moves (fill, cancel, expire), the faults, and the broker's truth to audit against."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from ib_async import Execution

from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.brokers.tws.client import TwsBroker
from ordertrail.brokers.tws.config import TwsConfig
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import Broker, PlaceResult
from tests.conformance.relay import Relay
from tests.fakes.ibkr import FakeIbkrGateway
from tests.fakes.ibkr import rows as ibkr_rows
from tests.fakes.tradier import FakeTradier, Fault
from tests.fakes.tws import ACCOUNT as TWS_ACCOUNT
from tests.fakes.tws import CLIENT_ID as TWS_CLIENT_ID
from tests.fakes.tws import FakeTws
from tests.support.audit import (
    IBKR_WORDS,
    TRADIER_WORDS,
    TWS_WORDS,
    BrokerOrder,
    broker_order,
    canonical,
)
from tests.support.lossy_transport import LossyTransport

D = Decimal


class Harness(ABC):
    """A broker adapter wired to its fake, with the controls every scenario uses."""

    name: str
    account_id: str
    relay: Relay

    @property
    def broker(self) -> Broker:
        """What the app is bootstrapped with (the adapter behind a transparent relay)."""
        return self.relay

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.relay.aclose()

    def fill_before_answer(self, quantity: Decimal, price: str, apply: Any) -> None:
        """Make the next placement fill `quantity` at the broker, and that fill reach the
        app (`apply(reports)`), before the placement's answer comes back."""

        async def hook(result: PlaceResult) -> None:
            self.fill(result.broker_order_id, quantity, price)
            await apply(await self.relay.inner.list_orders(datetime.now(UTC) - timedelta(days=1)))

        self.relay.after_place = hook

    @abstractmethod
    def truth(self) -> list[BrokerOrder]:
        """Every order of the account as the broker knows it."""

    @abstractmethod
    def fill(self, broker_order_id: str, quantity: Decimal, price: str) -> None:
        """One execution at the broker (also on a cancelled order: a fill that raced it)."""

    @abstractmethod
    def hold_cancels(self) -> None:
        """From now on a cancel request stays pending until `confirm_cancel`."""

    @abstractmethod
    def confirm_cancel(self, broker_order_id: str) -> None:
        """The broker finishes a pending cancel (nothing if the order finished first)."""

    @abstractmethod
    def lose_next_place(self) -> None:
        """The next order is placed at the broker, but its answer never arrives."""

    @abstractmethod
    def hide(self, broker_order_id: str) -> None:
        """The order drops out of the broker's order list (it can still be looked up)."""

    @abstractmethod
    def silence(self, on: bool) -> None:
        """The stream stays connected but carries nothing (nothing is replayed later)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Drop the stream connection; the watcher must reconnect and reconcile."""

    @abstractmethod
    def duplicate(self, on: bool) -> None:
        """Deliver every stream message twice."""

    @abstractmethod
    def reorder(self, on: bool) -> None:
        """Deliver stream messages out of order (older after newer); off flushes the rest."""

    @abstractmethod
    def error_burst(self, count: int) -> None:
        """The next `count` broker reads answer 429 or 5xx."""

    @abstractmethod
    def garble(self, broker_order_id: str) -> None:
        """Send malformed messages about the order (bad JSON, wrong types, error bodies)."""


class RelayFaults(Harness):
    """Faults made in the relay, for a broker with no knob of its own for them (the paper
    broker lives in-process; TWS has no HTTP and one socket)."""

    def lose_next_place(self) -> None:
        self.relay.lose_next_answer = True

    def hide(self, broker_order_id: str) -> None:
        self.relay.hidden.add(broker_order_id)

    def silence(self, on: bool) -> None:
        self.relay.silent = on

    def duplicate(self, on: bool) -> None:
        self.relay.duplicating = on

    def reorder(self, on: bool) -> None:
        self.relay.reordering = on

    def error_burst(self, count: int) -> None:
        self.relay.failing_reads = count

    def garble(self, broker_order_id: str) -> None:
        self.relay.garbled += [broker_order_id] * 3


class PaperHarness(RelayFaults):
    """The in-process paper broker: orders stay working; fills and cancels are driven here."""

    name = "paper"
    account_id = "PAPER-1"

    def __init__(self) -> None:
        self.paper = PaperBroker(PaperConfig(account_id=self.account_id, default=Behaviour.WORK))
        self.relay = Relay(self.paper)
        self.relay.after_cancel = self._auto_confirm
        self._holding = False

    def truth(self) -> list[BrokerOrder]:
        return [
            BrokerOrder(
                broker_order_id=o.id,
                status=canonical(o.status, o.filled, o.quantity),
                filled=o.filled,
                quantity=o.quantity,
                client_order_id=o.client_order_id,
                word=o.status.value.lower(),
            )
            for o in self.paper._orders.values()
        ]

    def fill(self, broker_order_id: str, quantity: Decimal, price: str) -> None:
        order = self.paper._orders[broker_order_id]
        order.filled += quantity
        order.cost += quantity * D(price)
        if order.filled >= order.quantity:
            order.status = OrderStatus.FILLED
        elif not order.status.terminal:
            order.status = OrderStatus.PARTIAL
        self._publish(order)

    def hold_cancels(self) -> None:
        self._holding = True

    def confirm_cancel(self, broker_order_id: str) -> None:
        order = self.paper._orders[broker_order_id]
        if order.cancel_requested and not order.status.terminal:
            order.status = OrderStatus.CANCELLED
            self._publish(order)

    def disconnect(self) -> None:
        self.relay.drop()

    def _auto_confirm(self, broker_order_id: str) -> None:
        if not self._holding:
            self.confirm_cancel(broker_order_id)

    def _publish(self, order: Any) -> None:
        order.updated_at = datetime.now(UTC)
        self.paper._publish(self.paper._report(order, "stream"))


class TradierHarness(Harness):
    """The Tradier adapter on the fake Tradier server (shared by the session, reset per test)."""

    name = "tradier"

    def __init__(self, fake: FakeTradier) -> None:
        fake.reset()
        fake.set_knobs(heartbeat_interval_s=0.2)
        fake.set_limits(window_s=0.5, standard=10**6, trading=10**6)
        self.fake = fake
        self.account_id = fake.account_id
        config = TradierConfig(
            access_token=fake.token,
            account_id=fake.account_id,
            base_url=fake.base_url,
            stream_url=fake.stream_url,
            heartbeat_timeout_s=2.0,
            fill_data_deadline_s=2.0,
            fill_data_interval_s=0.05,
            retry_backoff_s=0.01,
            request_timeout_s=3.0,
        )
        self.relay = Relay(TradierBroker(config))

    async def stop(self) -> None:
        await super().stop()
        self.fake.reset()

    def truth(self) -> list[BrokerOrder]:
        return [
            broker_order(o.id, o.status, TRADIER_WORDS, o.exec_quantity, o.quantity, o.tag)
            for o in list(self.fake.book.orders.values())
            if o.account == self.account_id and o.parent_id is None
        ]

    def fill(self, broker_order_id: str, quantity: Decimal, price: str) -> None:
        self.fake.fill(int(broker_order_id), quantity, price)

    def hold_cancels(self) -> None:
        self.fake.set_knobs(cancel_pending=True)

    def confirm_cancel(self, broker_order_id: str) -> None:
        if not self.fake.order(int(broker_order_id)).finished:
            self.fake.confirm_cancel(int(broker_order_id))

    def lose_next_place(self) -> None:
        self.fake.lose_next_place(Fault.GATEWAY_TIMEOUT)

    def hide(self, broker_order_id: str) -> None:
        # Older than the poll's look-back: out of every list, still readable by id.
        self.fake.order(int(broker_order_id)).created = self.fake.clock() - timedelta(days=10)

    def silence(self, on: bool) -> None:
        self.fake.set_knobs(stream_silent=on)

    def disconnect(self) -> None:
        self.fake.disconnect_streams()

    def duplicate(self, on: bool) -> None:
        self.fake.set_knobs(duplicate_events=on)

    def reorder(self, on: bool) -> None:
        self.fake.set_knobs(reorder_events=on)
        if not on:
            self.fake.release_held_event()

    def error_burst(self, count: int) -> None:
        kinds = (Fault.QUOTA, Fault.BAD_GATEWAY, Fault.GATEWAY_TIMEOUT, Fault.SERVER_ERROR)
        for index, fault in enumerate(kinds):
            times = count // len(kinds) + (index < count % len(kinds))
            if times:
                self.fake.inject(fault, times=times, method="GET")

    def garble(self, broker_order_id: str) -> None:
        # The fake's stream only sends JSON objects, so the garbage is in the fields; the
        # REST read each event triggers gets a web page, then a body cut off mid-answer.
        self.fake.inject(Fault.HTML_200, times=1, method="GET")
        self.fake.inject(Fault.DROP, times=1, method="GET")
        for event in (
            {"event": "order", "id": int(broker_order_id), "status": 7, "exec_quantity": "x"},
            {"event": "order", "id": int(broker_order_id), "status": ["open"], "price": {}},
            {"event": "order", "status": "filled", "exec_quantity": 999},
            {"event": "error", "message": "garbled"},
        ):
            self.garble_with(event)

    def garble_with(self, event: dict[str, Any]) -> None:
        """Send one event of our choosing on the account stream (for our account)."""
        self.fake.hub.publish(_Shown(event | {"account": self.account_id}))


@dataclass
class _Shown:
    """Something the fake's stream hub can announce: an event of our choosing."""

    body: dict[str, Any]
    lag_reads: int = 0

    def event(self, *_: object, **__: object) -> dict[str, Any]:
        return self.body


class IbkrHarness(Harness):
    """The Client Portal adapter on the fake gateway (one per test)."""

    name = "ibkr"
    account_id = "DU1234567"

    def __init__(self) -> None:
        self.gateway = FakeIbkrGateway(account_id=self.account_id, hb_interval_s=0.2)
        self.transport = LossyTransport()
        self._stale_rows: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self.gateway.start()
        self.client = httpx.AsyncClient(transport=self.transport, timeout=5.0)
        config = IbkrConfig(
            account_id=self.account_id,
            base_url=self.gateway.base_url,
            ws_url=self.gateway.ws_url,
            orders_min_interval_s=0.0,
            retry_backoff_s=0.01,
            heartbeat_timeout_s=2.0,
            tic_interval_s=0.5,
            rate_limit_backoff_s=0.3,
            request_timeout_s=5.0,
        )
        self.relay = Relay(IbkrBroker(config, http=self.client))

    async def stop(self) -> None:
        await super().stop()
        await self.client.aclose()
        await self.gateway.stop()

    def truth(self) -> list[BrokerOrder]:
        return [
            replace(
                broker_order(o.order_id, o.status, IBKR_WORDS, o.filled, o.quantity, o.order_ref),
                word=None if o.session != self.gateway.book.session else o.status,
            )
            for o in list(self.gateway.book.orders.values())
            if o.account == self.account_id
        ]

    def fill(self, broker_order_id: str, quantity: Decimal, price: str) -> None:
        self.gateway.fill(int(broker_order_id), quantity, price)

    def hold_cancels(self) -> None:
        self.gateway.set(cancel_delay_s=None)

    def confirm_cancel(self, broker_order_id: str) -> None:
        self.gateway.complete_cancel(int(broker_order_id))

    def lose_next_place(self) -> None:
        self.transport.lose_next("POST", f"/iserver/account/{self.account_id}/orders")

    def hide(self, broker_order_id: str) -> None:
        # A session reset: earlier orders leave lists and lookups; only their trades remain,
        # so their later raw status words are out of reach (the audit leaves those out).
        self.gateway.new_session()

    def silence(self, on: bool) -> None:
        self.gateway.set(sor_silent=on, drop_frames=10**9 if on else 0)

    def disconnect(self) -> None:
        self.gateway.drop_websockets()

    def duplicate(self, on: bool) -> None:
        self.gateway.set(duplicate_frames=on)

    def reorder(self, on: bool) -> None:
        # No reorder knob: keep every order's row as it is now and push it after newer updates.
        if on:
            self._stale_rows = [ibkr_rows.order_row(o) for o in self.gateway.book.session_orders()]
        elif self._stale_rows:
            self.gateway.push_frame({"topic": "sor", "args": self._stale_rows})
            self._stale_rows = []

    def error_burst(self, count: int) -> None:
        third = max(count // 3, 1)
        self.gateway.fail_next(third, 503, "/iserver/account/orders")
        self.gateway.fail_next(third, 500, "/iserver/account/trades")
        self.gateway.fail_next(max(count - 2 * third, 1), 429, "/iserver/account/orders")

    def garble(self, broker_order_id: str) -> None:
        order_id = int(broker_order_id)
        self.gateway.push_frame({"topic": "sor", "args": [{"orderId": order_id, "status": 17}]})
        self.gateway.push_frame({"topic": "sor", "args": "not a list"})
        self.gateway.push_frame({"topic": "str", "args": [{"execution_id": None, "size": "x"}]})
        self.gateway.push_frame({"error": "garbled", "code": 1})
        for connection in list(self.gateway.hub.connections):
            connection.push('{"topic": "sor", "args": [{"orderId": ' + json.dumps(order_id))
            connection.push("\x00\x01 not json at all")


class TwsHarness(RelayFaults):
    """The TWS adapter on `FakeTws`: ib_async's real `IB` with TWS's answers sent in-process.

    TWS drives fills, cancels and reconnects; a lost answer, hidden orders, failing reads,
    silence and reordering sit in the relay (TWS has no such knobs: it has no HTTP and one
    socket, whose messages ib_async folds into its trades in order).
    """

    name = "tws"
    account_id = TWS_ACCOUNT

    def __init__(self) -> None:
        self.tws = FakeTws()
        config = TwsConfig(account_id=self.account_id, client_id=TWS_CLIENT_ID, place_timeout_s=2.0)
        self.relay = Relay(TwsBroker(config, ib=self.tws.ib))

    def truth(self) -> list[BrokerOrder]:
        return [
            broker_order(o.perm_id, o.word, TWS_WORDS, o.filled, o.quantity, o.order.orderRef)
            for o in self.tws.book.values()
        ]

    def fill(self, broker_order_id: str, quantity: Decimal, price: str) -> None:
        self.tws.fill(self._order_id(broker_order_id), quantity, D(price))

    def hold_cancels(self) -> None:
        self.tws.holding_cancels = True

    def confirm_cancel(self, broker_order_id: str) -> None:
        self.tws.confirm_cancel(self._order_id(broker_order_id))

    def disconnect(self) -> None:
        self.tws.drop()

    def duplicate(self, on: bool) -> None:
        self.tws.duplicating = on  # TWS repeats callbacks; ib_async absorbs those
        super().duplicate(on)  # and the reports reach the app twice

    def garble(self, broker_order_id: str) -> None:
        # What TWS can send that is no use: a warning on the order (ib_async marks it
        # ValidationError), a status word nobody maps, a status for an order nobody has,
        # an execution naming no order; then reports that say nothing.
        order_id = self._order_id(broker_order_id)
        tws, wrapper = self.tws, self.tws.wrapper
        if tws.connected:
            tws.error(order_id, 399, "Order message error: garbled")
            known = tws.book[order_id]
            remaining = float(known.quantity - known.filled)
            args = (float(known.filled), remaining, known.avg, known.perm_id, 0, 0.0)
            wrapper.orderStatus(order_id, "NoSuchWord", *args, TWS_CLIENT_ID, "", 0.0)
            wrapper.orderStatus(987_654, "Submitted", 0.0, 1.0, 0.0, 1, 0, 0.0, 0, "", 0.0)
            stray = Execution(execId="0000dead.beef.01.01", shares=1.0, price=1.0, permId=0)
            wrapper.execDetails(-1, known.contract, stray)
        super().garble(broker_order_id)

    def _order_id(self, broker_order_id: str) -> int:
        return self.tws.by_perm(int(broker_order_id)).order_id
