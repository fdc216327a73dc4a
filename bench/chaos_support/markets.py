"""One market per broker for the chaos run: the fake broker (the truth), the faults between it
and the adapter, and the moves the market makes (fills, cancels by hand, expiries)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from decimal import Decimal
from typing import Any

from starlette.responses import Response
from tests.fakes.ibkr import FakeIbkrGateway
from tests.fakes.tradier import FakeTradier
from tests.support.audit import IBKR_WORDS, TRADIER_WORDS, BrokerOrder, broker_order, canonical

from bench.chaos_support.paper import ChaosPaper
from bench.chaos_support.proxy import ChaosProxy, Rates
from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.clock import SystemClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import Broker

ZERO = Decimal(0)


class Market(ABC):
    """A broker account the chaos run trades on."""

    name: str
    account_id: str

    def instrument(self) -> Instrument:
        return Instrument("AAPL")

    @abstractmethod
    def start(self) -> Broker:
        """Start the fake (and the faults in front of it); return the broker the app uses."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def calm(self) -> None:
        """Stop injecting faults."""

    @abstractmethod
    def cut_streams(self) -> int:
        """Drop every stream connection."""

    @abstractmethod
    def faults(self) -> Counter[str]: ...

    @abstractmethod
    def find(self, client_order_id: str) -> str | None:
        """The broker order id carrying our client order id, if the broker has one."""

    @abstractmethod
    def unfilled(self, broker_order_id: str) -> Decimal:
        """What is left to fill (0 once filled; cancelled orders can still take a late fill)."""

    @abstractmethod
    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None: ...

    @abstractmethod
    def cancel_by_hand(self, broker_order_id: str) -> None:
        """The order is cancelled at the broker (its app, the exchange), not by ordertrail."""

    @abstractmethod
    def expire(self, broker_order_id: str) -> None: ...

    @abstractmethod
    def truth(self) -> list[BrokerOrder]: ...


class TradierMarket(Market):
    """The Tradier adapter, through the chaos proxy, on the fake Tradier server."""

    name = "tradier"
    account_id = "VA10000000"
    token = "chaos-tradier-token"

    def __init__(self, rates: Rates, seed: int) -> None:
        self.fake = FakeTradier(token=self.token, accounts=(self.account_id,))
        self.fake.set_limits(window_s=60.0, standard=10**9, trading=10**9)
        self.fake.set_knobs(heartbeat_interval_s=5.0)
        self.proxy = ChaosProxy(
            f"http://127.0.0.1:{self.fake.port}",
            rates=rates,
            seed=seed,
            rate_limited=_tradier_quota,
        )

    def start(self) -> Broker:
        self.fake.start_in_thread()
        self.proxy.start()
        config = TradierConfig(
            access_token=self.token,
            account_id=self.account_id,
            base_url=f"{self.proxy.http_url}/v1",
            stream_url=f"{self.proxy.ws_url}/v1/accounts/events",
            heartbeat_timeout_s=20.0,
            retry_backoff_s=0.05,
            request_timeout_s=15.0,
            fill_data_deadline_s=2.0,
        )
        return TradierBroker(config)

    def stop(self) -> None:
        self.proxy.stop()
        self.fake.stop()

    def calm(self) -> None:
        self.proxy.calm()

    def cut_streams(self) -> int:
        return self.proxy.cut_streams()

    def faults(self) -> Counter[str]:
        return self.proxy.faults

    def find(self, client_order_id: str) -> str | None:
        found = self.fake.orders_with_tag(client_order_id)
        return str(found[0].id) if found else None

    def unfilled(self, broker_order_id: str) -> Decimal:
        order = self.fake.order(int(broker_order_id))
        if order.status in ("filled", "rejected", "error") or order.quantity is None:
            return ZERO
        return order.quantity - order.exec_quantity

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        self.fake.fill(int(broker_order_id), quantity, price)

    def cancel_by_hand(self, broker_order_id: str) -> None:
        if not self.fake.order(int(broker_order_id)).finished:
            self.fake.cancel(int(broker_order_id))

    def expire(self, broker_order_id: str) -> None:
        if not self.fake.order(int(broker_order_id)).finished:
            self.fake.expire(int(broker_order_id))

    def truth(self) -> list[BrokerOrder]:
        return [
            broker_order(o.id, o.status, TRADIER_WORDS, o.exec_quantity, o.quantity, o.tag)
            for o in list(self.fake.book.orders.values())
        ]


class IbkrMarket(Market):
    """The Client Portal adapter, through the chaos proxy, on the fake gateway."""

    name = "ibkr"
    account_id = "DU1000000"
    # The session calls pass untouched: one failing before a placement is sent leaves that
    # placement in doubt though nothing was sent (the placer's credential/pre-flight gap the
    # conformance suite pins), which is not what this run measures.
    spared = ("/tickle", "/iserver/auth", "/iserver/accounts")

    def __init__(self, rates: Rates, seed: int) -> None:
        # The real gateway lists at most ~1000 rows; the run keeps every order listed.
        self.gateway = FakeIbkrGateway(account_id=self.account_id, hb_interval_s=2.0, max_rows=None)
        self.rates, self.seed = rates, seed

    def instrument(self) -> Instrument:
        return Instrument("AAPL", contract_id="265598")

    def start(self) -> Broker:
        self.gateway.start_in_thread()
        self.proxy = ChaosProxy(
            f"http://127.0.0.1:{self.gateway.port}",
            rates=self.rates,
            seed=self.seed,
            rate_limited=_ibkr_too_many,
            spared=self.spared,
        ).start()
        config = IbkrConfig(
            account_id=self.account_id,
            base_url=f"{self.proxy.http_url}/v1/api",
            ws_url=f"{self.proxy.ws_url}/v1/api/ws",
            orders_min_interval_s=0.0,
            retry_backoff_s=0.05,
            heartbeat_timeout_s=10.0,
            tic_interval_s=5.0,
            rate_limit_backoff_s=0.5,
            request_timeout_s=15.0,
        )
        return IbkrBroker(config)

    def stop(self) -> None:
        self.proxy.stop()
        self.gateway.stop_thread()

    def calm(self) -> None:
        self.proxy.calm()

    def cut_streams(self) -> int:
        return self.proxy.cut_streams()

    def faults(self) -> Counter[str]:
        return self.proxy.faults

    def find(self, client_order_id: str) -> str | None:
        for order in list(self.gateway.book.orders.values()):
            if order.order_ref == client_order_id:
                return str(order.order_id)
        return None

    def unfilled(self, broker_order_id: str) -> Decimal:
        order = self.gateway.order(int(broker_order_id))
        return ZERO if order.status == "Filled" else order.quantity - order.filled

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        self.gateway.fill(int(broker_order_id), quantity, price)

    def cancel_by_hand(self, broker_order_id: str) -> None:
        self.gateway.cancel(int(broker_order_id))

    def expire(self, broker_order_id: str) -> None:
        if self.gateway.order(int(broker_order_id)).working:
            self.gateway.expire(int(broker_order_id))

    def truth(self) -> list[BrokerOrder]:
        return [
            broker_order(o.order_id, o.status, IBKR_WORDS, o.filled, o.quantity, o.order_ref)
            for o in list(self.gateway.book.orders.values())
        ]


class PaperMarket(Market):
    """The paper broker, with the same faults injected around it in-process."""

    name = "paper"
    account_id = "PAPER-CHAOS"

    def __init__(self, rates: Rates, seed: int) -> None:
        config = PaperConfig(account_id=self.account_id, default=Behaviour.WORK)
        self.paper = PaperBroker(config, SystemClock())
        self.relay = ChaosPaper(self.paper, rates, seed)
        self._orders: dict[str, Any] = self.paper._orders

    def start(self) -> Broker:
        return self.relay

    def stop(self) -> None:
        return None

    def calm(self) -> None:
        self.relay.calm()

    def cut_streams(self) -> int:
        return self.relay.cut_streams()

    def faults(self) -> Counter[str]:
        return self.relay.faults

    def find(self, client_order_id: str) -> str | None:
        for order in list(self._orders.values()):
            if order.client_order_id == client_order_id:
                return str(order.id)
        return None

    def unfilled(self, broker_order_id: str) -> Decimal:
        order = self._orders[broker_order_id]
        if order.status in (OrderStatus.FILLED, OrderStatus.REJECTED):
            return ZERO
        return Decimal(order.quantity - order.filled)

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        order = self._orders[broker_order_id]
        order.filled += quantity
        order.cost += quantity * price
        if order.filled >= order.quantity:
            order.status = OrderStatus.FILLED
        elif not order.status.terminal:
            order.status = OrderStatus.PARTIAL
        self._publish(order)

    def cancel_by_hand(self, broker_order_id: str) -> None:
        self._finish(broker_order_id, OrderStatus.CANCELLED)

    def expire(self, broker_order_id: str) -> None:
        self._finish(broker_order_id, OrderStatus.EXPIRED)

    def confirm_cancels(self) -> None:
        """The paper broker acts on cancel requests when it steps."""
        self.paper.advance()

    def truth(self) -> list[BrokerOrder]:
        return [
            BrokerOrder(
                broker_order_id=o.id,
                status=canonical(o.status, o.filled, o.quantity),
                filled=o.filled,
                quantity=o.quantity,
                client_order_id=o.client_order_id,
            )
            for o in list(self._orders.values())
        ]

    def _finish(self, broker_order_id: str, status: OrderStatus) -> None:
        order = self._orders[broker_order_id]
        if not order.status.terminal:
            order.status = status
            self._publish(order)

    def _publish(self, order: Any) -> None:
        order.updated_at = SystemClock().now()
        self.paper._publish(self.paper._report(order, "stream"))


def make_market(broker: str, rates: Rates, seed: int) -> Market:
    markets: dict[str, type[Market]] = {
        "tradier": TradierMarket,
        "ibkr": IbkrMarket,
        "paper": PaperMarket,
    }
    return markets[broker](rates, seed)  # type: ignore[call-arg]


def _tradier_quota() -> Response:
    expires = int(SystemClock().now().timestamp() * 1000) + 100
    return Response(f"Quota Violation: Expires {expires}", 400, media_type="text/plain")


def _ibkr_too_many() -> Response:
    body = '{"error":"Too Many Requests","statusCode":429}'
    return Response(body, 429, headers={"Retry-After": "0.2"}, media_type="application/json")
