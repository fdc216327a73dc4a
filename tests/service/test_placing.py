"""Placing: nothing is recorded for an account no broker is configured for; an order
withdrawn while it waited to be sent is never sent; one recorded and never sent is resumed."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import bootstrap
from ordertrail.brokers.paper import PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.errors import NotFound
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders
from tests.support.eventually import eventually


async def test_submitting_to_an_unknown_account_records_nothing(database_url: str) -> None:
    app = bootstrap(Settings(database_url=database_url), brokers={})
    try:
        proposal = create_proposal(
            app.uow(),
            NewProposal(
                kind=ProposalKind.ENTRY,
                broker="tradier",
                account_id="NOPE",
                instrument=Instrument("SPY"),
                quantity=D(1),
            ),
            app.clock,
        )
        with pytest.raises(NotFound, match="tradier:NOPE"):
            await app.placer.submit(proposal.id)
        with app.engine.connect() as c:
            assert c.execute(select(func.count()).select_from(orders)).scalar() == 0
    finally:
        await app.aclose()


async def test_an_order_withdrawn_between_its_recording_and_its_send_is_never_sent(
    database_url: str,
) -> None:
    # `resume` reads the orders waiting to be sent, then sends them one by one; a cancel
    # can withdraw one in between. The send must see that, not place a withdrawn order.
    paper = PaperBroker(PaperConfig(account_id="P1"))
    app = bootstrap(Settings(database_url=database_url), brokers={"paper:P1": paper})
    try:
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("SPY"),
            quantity=D(1),
        )
        proposal_id = create_proposal(app.uow(), request, app.clock).id
        order, proposal, _ = await app.applier.run(lambda: app.placer._record(proposal_id))
        await app.placer.cancel(proposal_id)  # recorded, never sent: withdrawn
        after = await app.placer._send(order, proposal)  # the send read it before the cancel
        assert (after.placement, after.state.status.value) == ("withdrawn", "CANCELLED")
        assert await paper.list_orders(app.clock.now()) == []
    finally:
        await app.aclose()


async def test_a_watcher_started_again_resumes_at_its_first_sync(database_url: str) -> None:
    # The fleet stops a watcher and runs it again (its lease handed back and regained). An
    # order a dead process recorded but never sent is resumed at a watcher's first sync: a
    # watcher started again must not wait out its previous run's resume interval (30 s).
    clock = FakeClock()
    paper = PaperBroker(PaperConfig(account_id="P1"), clock)
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={"paper:P1": paper})
    watcher = app.watchers["paper:P1"]

    async def watch_once() -> None:
        polled = clock.now()
        task = asyncio.create_task(watcher.run())  # what the fleet does on taking the lease
        try:
            await eventually(lambda: watcher.stats.last_polled_at == polled)
        finally:
            task.cancel()  # what it does on giving it up
            with contextlib.suppress(asyncio.CancelledError):
                await task

    try:
        await watch_once()
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("SPY"),
            quantity=D(1),
        )
        proposal_id = create_proposal(app.uow(), request, app.clock).id
        await app.applier.run(lambda: app.placer._record(proposal_id))  # its process died
        clock.advance(11)  # past the grace a live placer has to send it
        await watch_once()
        with app.engine.connect() as c:
            placement = c.execute(select(orders.c.placement)).scalar_one()
        assert placement == "sent"
    finally:
        await app.aclose()
