"""Proposals: create (validated), read, submit (places the order) and cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from ordertrail.api.bodies import ProposalCreate
from ordertrail.api.deps import AppDep, ConnectionDep, IdPath
from ordertrail.api.schemas import ProposalAndOrderPublic
from ordertrail.bootstrap import App
from ordertrail.domain.proposal import ProposalKind
from ordertrail.errors import InvalidRequest, NotFound
from ordertrail.services.changes import Changed
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.services.views import proposal_row

router = APIRouter(prefix="/api/proposals", tags=["proposals"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProposalAndOrderPublic)
async def create(body: ProposalCreate, app: AppDep) -> dict[str, Any]:
    """Create a proposal (status NEW); submit it to place its order."""
    request = await app.applier.run(lambda: _request(app, body))
    proposal = await app.applier.run(lambda: create_proposal(app.uow(), request, app.clock))
    return await _announce(app, proposal.id)


@router.get("/{proposal_id}", response_model=ProposalAndOrderPublic)
def read(proposal_id: IdPath, connection: ConnectionDep) -> dict[str, Any]:
    """Show one proposal as the board does."""
    row = proposal_row(connection, proposal_id)
    if row is None:
        raise NotFound(f"proposal {proposal_id} does not exist")
    return row


@router.post("/{proposal_id}/submit", response_model=ProposalAndOrderPublic)
async def submit(proposal_id: IdPath, app: AppDep) -> dict[str, Any]:
    """Record the order, then place it at the broker; submitting twice never places twice."""
    await app.placer.submit(proposal_id)
    return await _announce(app, proposal_id)


@router.post("/{proposal_id}/cancel", response_model=ProposalAndOrderPublic)
async def cancel(proposal_id: IdPath, app: AppDep) -> dict[str, Any]:
    """Withdraw an unsent proposal, or ask the broker to cancel its order (its report decides)."""
    await app.placer.cancel(proposal_id)
    return await _announce(app, proposal_id)


async def _announce(app: App, proposal_id: int) -> dict[str, Any]:
    """The proposal's board row; every process's live pages are told it changed (on the
    writer thread, as the Placer and the apply path tell: NOTIFY must not hold up the loop)."""

    def read_and_tell() -> dict[str, Any]:
        row = _row(app, proposal_id)
        app.applier.tell(Changed(proposal_ids=frozenset({proposal_id})))
        return row

    return await app.applier.run(read_and_tell)


def _row(app: App, proposal_id: int) -> dict[str, Any]:
    with app.engine.connect() as connection:
        row = proposal_row(connection, proposal_id)
    if row is None:
        raise NotFound(f"proposal {proposal_id} does not exist")
    return row


def _request(app: App, body: ProposalCreate) -> NewProposal:
    broker, account_id = _account(app, body)
    return NewProposal(
        kind=body.kind,
        broker=broker,
        account_id=account_id,
        instrument=body.instrument.to_domain() if body.instrument else None,
        side=body.side,
        quantity=body.quantity,
        order_type=body.order_type,
        limit_price=body.limit_price,
        duration=body.duration,
        linked_trade_id=body.linked_trade_id,
        legs=body.domain_legs(),
        note=body.note,
    )


def _account(app: App, body: ProposalCreate) -> tuple[str, str]:
    """Pick the account: as given, else the EXIT's trade's, else the only one configured."""
    app.refresh_brokers()
    broker, account_id = body.broker, body.account_id
    if body.kind is ProposalKind.EXIT and body.linked_trade_id and not (broker and account_id):
        with app.uow() as uow:
            trade = uow.trades.get(body.linked_trade_id)
        if trade is None:
            raise NotFound(f"trade {body.linked_trade_id} does not exist")
        broker, account_id = broker or trade.broker, account_id or trade.account_id
    known = sorted(app.brokers)
    if not (broker and account_id):
        matching = [
            k
            for k in known
            if (broker is None or k.startswith(f"{broker}:"))
            and (account_id is None or k.endswith(f":{account_id}"))
        ]
        if len(matching) != 1:
            raise InvalidRequest(
                f"name broker and account_id of a configured account "
                f"(configured: {', '.join(known) or 'none'})"
            )
        broker, account_id = matching[0].split(":", 1)
    if f"{broker}:{account_id}" not in app.brokers:
        raise InvalidRequest(
            f"no broker account {broker}:{account_id} is configured "
            f"(configured: {', '.join(known) or 'none'})"
        )
    return broker, account_id
