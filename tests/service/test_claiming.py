"""A broker order adopted as external before our lost placement answer was found is claimed by
our order: one row, the adopted row's events and fills kept, the trade opened, nothing doubled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerError
from ordertrail.ports import PlaceRequest, PlaceResult
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills, order_events, orders, trades


class AnswerLost(PaperBroker):
    """Takes the order, then the answer never arrives (a gateway timeout)."""

    async def place(self, request: PlaceRequest) -> PlaceResult:
        await super().place(request)
        raise BrokerError("read timeout", broker=self.name)


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> Iterator[tuple[App, AnswerLost]]:
    paper = AnswerLost(
        PaperConfig(account_id="P1", default=Behaviour.PARTIAL, partial_steps=2), clock
    )
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={"paper:P1": paper})
    yield app, paper
    app.applier.close()
    app.engine.dispose()


async def _place_and_lose_the_answer(app: App, paper: AnswerLost) -> tuple[int, OrderReport]:
    proposal = create_proposal(
        app.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("SPY"),
            quantity=D(10),
        ),
        app.clock,
    )
    await app.placer.submit(proposal.id)
    [at_broker] = await paper.list_orders(datetime(2000, 1, 1, tzinfo=UTC))
    with app.engine.connect() as c:
        [(order_id, status, broker_id)] = c.execute(
            select(orders.c.id, orders.c.status, orders.c.broker_order_id)
        ).all()
    assert (status, broker_id) == ("PENDING", None)  # the answer was lost
    return order_id, at_broker


def _sparse(report: OrderReport) -> OrderReport:
    """The same order as a report that names it by its broker id only."""
    return replace(report, client_order_id=None, source="stream", raw={"id": "sparse"})


def _rows(app: App) -> dict[str, list[tuple[object, ...]]]:
    with app.engine.connect() as c:
        return {
            "orders": [
                tuple(r)
                for r in c.execute(
                    select(
                        orders.c.id,
                        orders.c.broker_order_id,
                        orders.c.external,
                        orders.c.proposal_id.is_not(None),
                        orders.c.status,
                        orders.c.filled_quantity,
                        orders.c.event_seq,
                        orders.c.trade_id.is_not(None),
                    )
                )
            ],
            "events": [
                tuple(r)
                for r in c.execute(
                    select(
                        order_events.c.order_id, order_events.c.seq, order_events.c.kind
                    ).order_by(order_events.c.order_id, order_events.c.seq)
                )
            ],
            "fills": [
                tuple(r)
                for r in c.execute(select(fills.c.order_id, fills.c.quantity).order_by(fills.c.id))
            ],
            "trades": [tuple(r) for r in c.execute(select(trades.c.status, trades.c.quantity))],
        }


def _assert_fill_totals_are_the_fills_sums(app: App) -> None:
    """Each order's fill totals are the sums of the fills it holds (moved ones too)."""
    with app.engine.connect() as c:
        kept = {
            order_id: (quantity, value)
            for order_id, quantity, value in c.execute(
                select(orders.c.id, orders.c.fills_quantity, orders.c.fills_value)
            )
        }
        summed = {order_id: (D(0), D(0)) for order_id in kept}
        for order_id, quantity, price in c.execute(
            select(fills.c.order_id, fills.c.quantity, fills.c.price)
        ):
            q, v = summed[order_id]
            summed[order_id] = (q + quantity, v + quantity * price)
    assert kept == summed


async def test_our_order_claims_the_adopted_row_with_its_fills_and_events(
    world: tuple[App, AnswerLost],
) -> None:
    app, paper = world
    order_id, at_broker = await _place_and_lose_the_answer(app, paper)
    paper.advance()  # half filled, seen only without its client order id
    [half] = await paper.list_orders(datetime(2000, 1, 1, tzinfo=UTC))
    await app.applier.apply([_sparse(half)])
    adopted = _rows(app)
    assert len(adopted["orders"]) == 2 and adopted["fills"][0][1] == D(5)
    adopted_id = next(r[0] for r in adopted["orders"] if r[2])

    result = await app.applier.apply([half])  # now a report with our client order id

    assert result.applied == 1
    after = _rows(app)
    [row] = after["orders"]
    assert row[:6] == (order_id, at_broker.broker_order_id, False, True, "PARTIAL", D(5))
    assert row[7], "the entry's fill opened the trade"
    assert after["fills"] == [(order_id, D(5))]  # the adopted row's fill, not a second one
    kinds = [kind for oid, _, kind in after["events"] if oid == order_id]
    seqs = [seq for oid, seq, _ in after["events"] if oid == order_id]
    assert seqs == list(range(1, row[6] + 1)), "events numbered one after another"
    assert "ADOPTED" in kinds and kinds[-1] == "ACKNOWLEDGED"
    assert all(oid == order_id for oid, _, _ in after["events"])
    assert after["trades"] == [("OPEN", D(5))]
    assert adopted_id not in {r[0] for r in after["orders"]}
    _assert_fill_totals_are_the_fills_sums(app)

    paper.advance()  # the rest fills; both kinds of report keep landing on our one order
    [full] = await paper.list_orders(datetime(2000, 1, 1, tzinfo=UTC))
    await app.applier.apply([_sparse(full), full, half, _sparse(half)])
    await app.applier.apply([full, _sparse(full)])
    final = _rows(app)
    [row] = final["orders"]
    assert row[4:6] == ("FILLED", D(10))
    assert sorted(q for _, q in final["fills"]) == [D(5), D(5)]
    assert final["trades"] == [("OPEN", D(10))]
    _assert_fill_totals_are_the_fills_sums(app)


async def test_adopted_and_claimed_in_the_same_batch(world: tuple[App, AnswerLost]) -> None:
    app, paper = world
    order_id, at_broker = await _place_and_lose_the_answer(app, paper)
    paper.advance()
    [half] = await paper.list_orders(datetime(2000, 1, 1, tzinfo=UTC))

    result = await app.applier.apply([_sparse(half), half, _sparse(half)])

    assert result.orders_created == 1  # adopted first, then claimed before anything was written
    after = _rows(app)
    [row] = after["orders"]
    assert row[:6] == (order_id, at_broker.broker_order_id, False, True, "PARTIAL", D(5))
    assert after["fills"] == [(order_id, D(5))]
    seqs = [seq for oid, seq, _ in after["events"] if oid == order_id]
    assert seqs == list(range(1, row[6] + 1))
    assert after["trades"] == [("OPEN", D(5))]
    _assert_fill_totals_are_the_fills_sums(app)


async def test_a_client_id_naming_another_of_our_orders_does_not_fail_the_batch(
    world: tuple[App, AnswerLost],
) -> None:
    app, paper = world
    first_id, first = await _place_and_lose_the_answer(app, paper)
    await app.applier.apply([first])  # found: linked to its broker order
    second = create_proposal(
        app.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("SPY"),
            quantity=D(10),
        ),
        app.clock,
    )
    await app.placer.submit(second.id)
    with app.engine.connect() as c:
        second_cid = c.execute(
            select(orders.c.client_order_id).where(orders.c.proposal_id == second.id)
        ).scalar_one()
    # A confused report: the first order's broker id under the second order's client id.
    confused = replace(first, client_order_id=second_cid, status=first.status)

    result = await app.applier.apply([confused, first])

    assert result.reports == 2
    with app.engine.connect() as c:
        linked = (
            c.execute(select(orders.c.id).where(orders.c.broker_order_id == first.broker_order_id))
            .scalars()
            .all()
        )
    assert linked == [first_id]
