"""ENTRY → partial → fill → trade OPEN → EXIT → fill → trade CLOSED, then replays change nothing."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import option_instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.services.alerts_io import export_alerts, import_alerts
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, order_events, orders, proposals, trades

CALL = option_instrument("TSLA", D(95), "C", contract_id="622542959")


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[tuple[App, PaperBroker]]:
    paper = PaperBroker(
        PaperConfig(account_id="P1", default=Behaviour.PARTIAL, partial_steps=2), clock
    )
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={"paper:P1": paper})
    yield app, paper
    app.applier.close()
    app.engine.dispose()


def _snapshot(app: App) -> dict[str, object]:
    with app.engine.connect() as c:
        return {
            "orders": [
                tuple(r)
                for r in c.execute(
                    select(
                        orders.c.id,
                        orders.c.status,
                        orders.c.filled_quantity,
                        orders.c.avg_fill_price,
                        orders.c.trade_id,
                    ).order_by(orders.c.id)
                )
            ],
            "trades": [
                tuple(r)
                for r in c.execute(
                    select(
                        trades.c.status,
                        trades.c.quantity,
                        trades.c.entry_price,
                        trades.c.exit_price,
                        trades.c.realized_pnl,
                    )
                )
            ],
            "proposals": [tuple(r) for r in c.execute(select(proposals.c.status))],
            "events": c.execute(select(func.count()).select_from(order_events)).scalar(),
            "fills": c.execute(select(func.count()).select_from(fills)).scalar(),
        }


async def test_entry_partial_fill_exit_closes_trade_with_pnl_and_replays_change_nothing(
    app: tuple[App, PaperBroker],
) -> None:
    ot, paper = app
    import_alerts(
        ot.uow(),
        {
            "RealDayTrading": {
                "TSLA": {
                    "open": False,
                    "created_at": "2025-09-27T21:48:54.749824",
                    "option_conid": 622542959,
                    "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
                }
            },
            "Demslayer": {
                "TSLA": {"open": False, "alert_details": {"ticker": "TSLA", "strike": "95"}}
            },
        },
        ot.clock,
    )
    seen: list[OrderReport] = []
    entry = create_proposal(
        ot.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=CALL,
            quantity=D(4),
            order_type="limit",
            limit_price=D("2.40"),
        ),
        ot.clock,
    )
    order = await ot.placer.submit(entry.id)
    assert order.state.status.value == "PLACED" and order.client_order_id
    assert order.client_order_id.startswith(f"ordertrail-{entry.id}-ENTRY-")

    async def step() -> None:
        paper.advance()
        reports = await paper.list_orders(ot.clock.now())
        seen.extend(reports)
        await ot.applier.apply(reports)

    await step()  # 2 of 4 filled
    snap = _snapshot(ot)
    assert snap["orders"][0][1:3] == ("PARTIAL", D(2))
    assert snap["trades"][0][0:2] == ("OPEN", D(2))
    await step()  # 4 of 4 filled
    snap = _snapshot(ot)
    assert snap["orders"][0][1:3] == ("FILLED", D(4))
    trade_id = snap["orders"][0][4]
    # 2 at 2.40 and 2 at 2.39: a limit buy never fills above its limit
    assert snap["trades"][0][0:3] == ("OPEN", D(4), D("2.395"))

    exit_ = create_proposal(
        ot.uow(),
        NewProposal(
            kind=ProposalKind.EXIT,
            broker="paper",
            account_id="P1",
            linked_trade_id=trade_id,
            order_type="limit",
            limit_price=D("3.00"),
        ),
        ot.clock,
    )
    await ot.placer.submit(exit_.id)
    await step()
    await step()
    final = _snapshot(ot)
    status, quantity, entry_price, exit_price, pnl = final["trades"][0]
    assert status == "CLOSED" and exit_price == D("3.005")
    assert pnl == (exit_price - entry_price) * quantity * 100 == D(244)
    assert final["proposals"] == [("FILLED",), ("FILLED",)]

    exported = export_alerts(ot.uow())
    for source in ("RealDayTrading", "Demslayer"):
        update = exported[source]["TSLA"]["last_order_update"]
        assert exported[source]["TSLA"]["open"] is True
        assert update["status"] == "FILLED" and update["filled_qty"] == 4

    replay = seen * 2
    random.Random(7).shuffle(replay)
    result = await ot.applier.apply(replay)
    assert result.applied == 0 and result.events == 0 and result.fills == 0
    assert _snapshot(ot) == final
    assert json.dumps(export_alerts(ot.uow()), sort_keys=True) == json.dumps(
        exported, sort_keys=True
    )


async def test_shuffled_reports_into_a_fresh_database_reach_the_same_order_state(
    app: tuple[App, PaperBroker],
) -> None:
    ot, paper = app
    paper.place_external(CALL, "buy_to_open", D(6))
    seen: list[OrderReport] = []
    for _ in range(3):
        paper.advance()
        seen.extend(await paper.list_orders(ot.clock.now()))
    shuffled = list(seen)
    random.Random(3).shuffle(shuffled)
    await ot.applier.apply(shuffled)
    await ot.applier.apply(seen)
    with ot.engine.connect() as c:
        row = c.execute(
            select(
                orders.c.status,
                orders.c.filled_quantity,
                orders.c.external,
                orders.c.avg_fill_price,
            )
        ).one()
        fill_total = c.execute(select(func.sum(fills.c.quantity))).scalar()
    assert (row.status, row.filled_quantity, row.external) == ("FILLED", D(6), True)
    assert D(str(fill_total)) == D(6)
    assert row.avg_fill_price == seen[-1].avg_fill_price
