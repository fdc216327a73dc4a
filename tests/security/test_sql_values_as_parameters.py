"""Hostile text through every write and read path never reaches a SQL statement's text: it all
travels as bound parameters (SQLite and PostgreSQL), and comes back exactly as it went in."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from ordertrail.api.app import create_app
from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.alerts_io import export_alerts, import_alerts
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.services.queries import find_order, list_orders, order_fills, order_timeline
from ordertrail.services.sync import sync_account
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders

MARK = "QX7"
D = Decimal


def hostile(tag: str) -> str:
    """Text a statement built by formatting would choke on, or obey."""
    return f"{MARK}-{tag}'\"); DELETE FROM fills; -- \\ %s ? :x"


@pytest.fixture
def app(database_url: str) -> Iterator[tuple[App, PaperBroker, list[str]]]:
    paper = PaperBroker(PaperConfig(account_id="P1", default=Behaviour.PARTIAL, partial_steps=2))
    built = bootstrap(Settings(database_url=database_url), brokers={"paper:P1": paper})
    statements: list[str] = []

    def capture(*args: Any) -> None:
        statements.append(args[2])

    event.listen(built.engine, "before_cursor_execute", capture)
    yield built, paper, statements
    built.applier.close()
    built.engine.dispose()


def reports(n: int) -> list[OrderReport]:
    """An external order with hostile text in every text field, then its fill."""
    base = OrderReport(
        broker="paper",
        account_id="P1",
        broker_order_id=hostile(f"id{n}")[:60],
        client_order_id=hostile(f"client{n}"),
        status=OrderStatus.PLACED,
        broker_status=hostile(f"status{n}")[:60],
        quantity=D(2),
        instrument=Instrument(hostile(f"sym{n}")[:60], option_symbol=hostile(f"occ{n}")[:60]),
        side=hostile(f"side{n}")[:30],
        order_type=hostile(f"type{n}")[:30],
        reason=hostile(f"reason{n}"),
        derives_fills=False,
        raw={"payload": hostile(f"raw{n}")},
    )
    fill = Execution(hostile(f"exec{n}"), D(2), D("1.5"))
    return [base, OrderReport(**{**base.__dict__, "executions": (fill,), "status": None})]


async def test_hostile_text_never_reaches_a_statement_and_round_trips(
    app: tuple[App, PaperBroker, list[str]],
) -> None:
    ot, paper, statements = app
    import_alerts(
        ot.uow(),
        {
            hostile("source")[:60]: {
                "AAPL": {"open": False, "alert_details": {"ticker": "AAPL", "strike": ""}}
            }
        },
        ot.clock,
    )
    proposal = create_proposal(
        ot.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("AAPL"),
            quantity=D(2),
            note=hostile("note"),
        ),
        ot.clock,
    )
    await ot.placer.submit(proposal.id)
    paper.advance()
    await sync_account(paper, ot.applier, ot.uow, ot.clock)
    for n in range(2):
        await ot.applier.apply(reports(n))
        await ot.applier.apply(reports(n))  # the same again: loaded, compared, unchanged
    await ot.placer.cancel(proposal.id)
    transport = httpx.ASGITransport(app=create_app(ot, run_watchers=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for path in ("/api/orders", "/api/proposals-and-orders", "/api/alerts", "/debug/orders"):
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/api/orders", params={"symbol": "x OR 1=1"})).status_code < 500
    with ot.engine.connect() as c:
        listed = list_orders(c)
        found = find_order(c, hostile("client0"))
        order_timeline(c, found["id"])
        order_fills(c, found["id"])
        with pytest.raises(Exception, match="QX7"):
            find_order(c, hostile("nothing"))
        stored = c.execute(select(orders.c.reason).where(orders.c.id == found["id"])).scalar()
    exported = export_alerts(ot.uow())

    assert len(statements) > 50
    leaked = [s for s in statements if MARK in s]
    assert leaked == [], leaked[:3]
    assert stored == hostile("reason0")
    assert found["client_order_id"] == hostile("client0") and len(listed) == 3
    assert hostile("source")[:60] in exported
