"""Placing: nothing is recorded for an account no broker is configured for."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import bootstrap
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.errors import NotFound
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders


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
