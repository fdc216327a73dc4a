"""What an order's fills do to its trade, through the real apply path: exits in several pieces,
entries filling after an exit, prices known after quantities, multi-leg credit spreads, and the
same reports applied together or one by one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import select

from ordertrail.api.app import create_app
from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument, SecType
from ordertrail.domain.proposal import ProposalKind, ProposalLeg
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import InvalidRequest
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders, trades
from tests.api.support import TestClient

SPY = Instrument("SPY")
Placed = tuple[int, str, str]  # proposal id, client order id, broker order id


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    """Our orders at a paper broker that never fills by itself: the tests report the fills."""
    paper = PaperBroker(PaperConfig(account_id="P1", default=Behaviour.WORK), clock)
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={"paper:P1": paper})
    yield app
    app.applier.close()
    app.engine.dispose()


async def _place(app: App, kind: ProposalKind, **asked: Any) -> Placed:
    request = NewProposal(kind=kind, broker="paper", account_id="P1", **asked)
    proposal = create_proposal(app.uow(), request, app.clock)
    order = await app.placer.submit(proposal.id)
    assert order.client_order_id and order.state.broker_order_id
    return proposal.id, order.client_order_id, order.state.broker_order_id


def _report(
    placed: Placed,
    status: OrderStatus,
    filled: D,
    average: D | None,
    quantity: D,
    side: str,
    instrument: Instrument = SPY,
) -> OrderReport:
    """What a broker adapter reports of one of our orders (cumulative numbers)."""
    _, client_id, broker_id = placed
    return OrderReport(
        broker="paper",
        account_id="P1",
        broker_order_id=broker_id,
        client_order_id=client_id,
        status=status,
        filled_quantity=filled,
        avg_fill_price=average,
        quantity=quantity,
        remaining_quantity=quantity - filled,
        instrument=instrument,
        side=side,
    )


def _trade(app: App) -> dict[str, Any]:
    with app.engine.connect() as c:
        (row,) = c.execute(select(trades))
    return dict(row._mapping)


def _trade_id(app: App, placed: Placed) -> int:
    with app.engine.connect() as c:
        trade_id = c.execute(
            select(orders.c.trade_id).where(orders.c.client_order_id == placed[1])
        ).scalar_one()
    assert trade_id is not None
    return int(trade_id)


async def _buying_ten(app: App) -> Placed:
    """An ENTRY for 10 SPY at 100, placed."""
    return await _place(
        app,
        ProposalKind.ENTRY,
        instrument=SPY,
        quantity=D(10),
        order_type="limit",
        limit_price=D(100),
    )


async def _ten_bought(app: App) -> int:
    entry = await _buying_ten(app)
    await app.applier.apply([_report(entry, OrderStatus.FILLED, D(10), D(100), D(10), "buy")])
    return _trade_id(app, entry)


async def _exit(app: App, trade_id: int, quantity: int, price: int) -> Placed:
    return await _place(
        app,
        ProposalKind.EXIT,
        linked_trade_id=trade_id,
        quantity=D(quantity),
        order_type="limit",
        limit_price=D(price),
    )


async def test_an_exit_of_half_the_position_leaves_the_trade_open_and_the_rest_exitable(
    app: App,
) -> None:
    trade_id = await _ten_bought(app)
    half = await _exit(app, trade_id, 5, 110)
    await app.applier.apply([_report(half, OrderStatus.FILLED, D(5), D(110), D(5), "sell")])
    trade = _trade(app)
    assert (trade["status"], trade["exit_quantity"], trade["realized_pnl"]) == ("OPEN", 5, 50)
    rest = await _exit(app, trade_id, 5, 120)  # refused while the trade showed CLOSED
    await app.applier.apply([_report(rest, OrderStatus.FILLED, D(5), D(120), D(5), "sell")])
    trade = _trade(app)
    assert (trade["status"], trade["exit_quantity"]) == ("CLOSED", 10)
    assert (trade["exit_price"], trade["realized_pnl"]) == (115, 150)


async def test_exit_orders_add_up_whether_applied_together_or_apart(app: App) -> None:
    trade_id = await _ten_bought(app)
    first = await _exit(app, trade_id, 10, 110)
    # 6 of the first sold @ 110, the rest of it cancelled; then a second sells 4 @ 90, its
    # reports in one batch with a repeat of the first's cancel: 60 - 40.
    await app.applier.apply([_report(first, OrderStatus.PARTIAL, D(6), D(110), D(10), "sell")])
    cancelled = _report(first, OrderStatus.CANCELLED, D(6), D(110), D(10), "sell")
    await app.applier.apply([cancelled])
    second = await _exit(app, trade_id, 4, 90)
    await app.applier.apply(
        [
            _report(second, OrderStatus.PARTIAL, D(1), D(90), D(4), "sell"),
            cancelled,
            _report(second, OrderStatus.FILLED, D(4), D(90), D(4), "sell"),
        ]
    )
    trade = _trade(app)
    assert (trade["status"], trade["exit_quantity"], trade["realized_pnl"]) == ("CLOSED", 10, 20)
    assert trade["exit_price"] == 102


async def test_an_exit_is_placed_only_for_what_is_open_and_not_already_being_exited(
    app: App,
) -> None:
    trade_id = await _ten_bought(app)
    working = await _exit(app, trade_id, 6, 110)
    with pytest.raises(InvalidRequest, match="10 open, of which 6 working EXIT orders"):
        await _exit(app, trade_id, 5, 110)  # 6 + 5 would sell 11 of 10
    rest = await _exit(app, trade_id, 4, 111)
    # A proposal made while the trade was open is not placed once it has closed.
    late = create_proposal(
        app.uow(),
        NewProposal(
            kind=ProposalKind.EXIT,
            broker="paper",
            account_id="P1",
            linked_trade_id=trade_id,
            quantity=D(1),
        ),
        app.clock,
    )
    await app.applier.apply([_report(working, OrderStatus.FILLED, D(6), D(110), D(6), "sell")])
    with pytest.raises(InvalidRequest, match="working EXIT orders"):
        await app.placer.submit(late.id)
    await app.applier.apply([_report(rest, OrderStatus.FILLED, D(4), D(111), D(4), "sell")])
    with pytest.raises(InvalidRequest, match="trade 1 is CLOSED; proposal 5 has nothing to exit"):
        await app.placer.submit(late.id)


async def test_an_exit_names_no_other_contract_than_its_trades(app: App) -> None:
    trade_id = await _ten_bought(app)
    with pytest.raises(InvalidRequest, match="trade 1 holds SPY; an EXIT of it cannot trade NVDA"):
        await _place(
            app, ProposalKind.EXIT, linked_trade_id=trade_id, instrument=Instrument("NVDA")
        )


async def test_an_entry_filling_after_its_trade_closed_opens_it_again(app: App) -> None:
    entry = await _buying_ten(app)
    await app.applier.apply([_report(entry, OrderStatus.PARTIAL, D(4), D(100), D(10), "buy")])
    trade_id = _trade_id(app, entry)
    out = await _place(app, ProposalKind.EXIT, linked_trade_id=trade_id)  # the 4 open
    await app.applier.apply([_report(out, OrderStatus.FILLED, D(4), D(110), D(4), "sell")])
    assert (_trade(app)["status"], _trade(app)["closed_at"] is not None) == ("CLOSED", True)
    with pytest.raises(InvalidRequest, match="only an OPEN trade"):
        await _place(app, ProposalKind.EXIT, linked_trade_id=trade_id)
    await app.applier.apply([_report(entry, OrderStatus.FILLED, D(10), D(100), D(10), "buy")])
    trade = _trade(app)
    assert (trade["status"], trade["quantity"], trade["exit_quantity"]) == ("OPEN", 10, 4)
    assert trade["closed_at"] is None
    await _place(app, ProposalKind.EXIT, linked_trade_id=trade_id)  # the 6 left can go


async def test_prices_known_after_the_quantities_reach_the_trade(app: App) -> None:
    entry = await _buying_ten(app)
    bought = _report(entry, OrderStatus.FILLED, D(10), D(100), D(10), "buy")
    # Execution-id brokers (IBKR, TWS) may say filled before they say at what price.
    await app.applier.apply([replace(bought, derives_fills=False, avg_fill_price=None)])
    await app.applier.apply([replace(bought, derives_fills=False)])
    assert _trade(app)["entry_price"] == 100
    out = await _place(app, ProposalKind.EXIT, linked_trade_id=_trade_id(app, entry))
    sold = _report(out, OrderStatus.FILLED, D(10), D(110), D(10), "sell")
    await app.applier.apply([replace(sold, derives_fills=False, avg_fill_price=None)])
    assert (_trade(app)["status"], _trade(app)["realized_pnl"]) == ("CLOSED", None)
    await app.applier.apply([replace(sold, derives_fills=False)])
    trade = _trade(app)
    assert (trade["exit_price"], trade["realized_pnl"]) == (110, 100)


async def test_a_credit_spread_trade_is_priced_per_contract(app: App) -> None:
    sell_put, buy_put = "SPY270115P00500000", "SPY270115P00495000"
    at_broker = Instrument("SPY", sec_type=SecType.MULTILEG, multiplier=D(100))  # Tradier's
    entry = await _place(
        app,
        ProposalKind.ENTRY,
        instrument=SPY,  # as the API builds it: the underlying, and the legs
        quantity=D(1),
        order_type="credit",
        limit_price=D("2.40"),
        legs=(
            ProposalLeg(sell_put, "sell_to_open", D(1)),
            ProposalLeg(buy_put, "buy_to_open", D(1)),
        ),
    )
    credit = _report(entry, OrderStatus.FILLED, D(1), D("-2.40"), D(1), "buy", at_broker)
    await app.applier.apply([credit])
    legs = (
        ProposalLeg(sell_put, "buy_to_close", D(1)),
        ProposalLeg(buy_put, "sell_to_close", D(1)),
    )
    out = await _place(
        app,
        ProposalKind.EXIT,
        linked_trade_id=_trade_id(app, entry),
        order_type="debit",
        limit_price=D(1),
        legs=legs,
    )
    await app.applier.apply([_report(out, OrderStatus.FILLED, D(1), D(1), D(1), "buy", at_broker)])
    trade = _trade(app)
    assert (trade["status"], trade["realized_pnl"]) == ("CLOSED", 140)  # (2.40 - 1.00) x 100


async def test_an_exit_left_unsent_by_a_crash_is_withdrawn_if_its_trade_closed_meanwhile(
    app: App,
) -> None:
    trade_id = await _ten_bought(app)
    first = await _exit(app, trade_id, 10, 110)
    await app.applier.apply([_report(first, OrderStatus.CANCELLED, D(0), None, D(10), "sell")])
    request = NewProposal(
        kind=ProposalKind.EXIT, broker="paper", account_id="P1", linked_trade_id=trade_id
    )
    proposal = create_proposal(app.uow(), request, app.clock)
    # Recorded, then the process died before sending it.
    order, _, _ = await app.applier.run(lambda: app.placer._record(proposal.id))
    # The first exit's late full fill (a cancel racing the fill) closes the trade.
    await app.applier.apply([_report(first, OrderStatus.FILLED, D(10), D(110), D(10), "sell")])
    assert _trade(app)["status"] == "CLOSED"
    assert await app.placer.resume("paper", "P1", grace_s=0) == 0
    with app.engine.connect() as c:
        row = c.execute(select(orders).where(orders.c.id == order.id)).one()
    assert (row.status, row.placement) == ("CANCELLED", "withdrawn")
    assert "trade 1 is CLOSED" in row.reason
    at_broker = await app.brokers["paper:P1"].list_orders(app.clock.now())
    assert order.client_order_id not in {r.client_order_id for r in at_broker}
    assert {r.client_order_id for r in at_broker} >= {first[1]}  # the listing shows ours


async def test_the_trades_page_says_which_trades_its_p_and_l_total_leaves_out(app: App) -> None:
    trade_id = await _ten_bought(app)
    out = await _place(app, ProposalKind.EXIT, linked_trade_id=trade_id)
    sold = _report(out, OrderStatus.FILLED, D(10), D(110), D(10), "sell")
    await app.applier.apply([replace(sold, derives_fills=False, avg_fill_price=None)])
    with TestClient(create_app(app, run_watchers=False)) as client:
        unpriced = client.get("/trades").text
        await app.applier.apply([replace(sold, derives_fills=False)])
        priced = client.get("/trades").text
    assert "not counting 1 with a price not known yet" in unpriced
    assert "not counting" not in priced and "realised P&amp;L on this page" in priced
