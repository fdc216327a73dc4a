"""The proposals repository."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ordertrail.domain.proposal import Proposal, ProposalKind, ProposalStatus
from ordertrail.storage.bulk import update_rows
from ordertrail.storage.codec import (
    instrument_from_json,
    instrument_to_json,
    legs_from_json,
    legs_to_json,
)
from ordertrail.storage.tables import proposals
from ordertrail.storage.types import Codec


def proposal_from_row(row: Any) -> Proposal:
    """Build the domain proposal from a `proposals` row."""
    return Proposal(
        id=row.id,
        kind=ProposalKind(row.kind),
        status=ProposalStatus(row.status),
        broker=row.broker,
        account_id=row.account_id,
        instrument=instrument_from_json(row.instrument),
        side=row.side,
        quantity=row.quantity,
        order_type=row.order_type,
        limit_price=row.limit_price,
        duration=row.duration,
        linked_trade_id=row.linked_trade_id,
        client_order_id=row.client_order_id,
        legs=legs_from_json(row.legs),
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ProposalRepository:
    """Proposals on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, proposal_id: int) -> Proposal | None:
        row = self._c.execute(select(proposals).where(proposals.c.id == proposal_id)).first()
        return proposal_from_row(row) if row else None

    def get_for_update(self, proposal_id: int) -> Proposal | None:
        query = select(proposals).where(proposals.c.id == proposal_id)
        if self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return proposal_from_row(row) if row else None

    def add(self, proposal: Proposal, at: datetime) -> int:
        values = {
            "kind": proposal.kind.value,
            "status": proposal.status.value,
            "broker": proposal.broker,
            "account_id": proposal.account_id,
            "symbol": proposal.instrument.symbol,
            "instrument": instrument_to_json(proposal.instrument),
            "legs": legs_to_json(proposal.legs),
            "side": proposal.side,
            "quantity": proposal.quantity,
            "order_type": proposal.order_type,
            "limit_price": proposal.limit_price,
            "duration": proposal.duration,
            "linked_trade_id": proposal.linked_trade_id,
            "note": proposal.note,
            "created_at": at,
            "updated_at": at,
        }
        result = self._c.execute(insert(proposals).values(**values).returning(proposals.c.id))
        return int(result.scalar_one())

    def set_status(
        self,
        proposal_id: int,
        status: ProposalStatus,
        at: datetime,
        client_order_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value, "updated_at": at}
        if client_order_id is not None:
            values["client_order_id"] = client_order_id
        self._c.execute(update(proposals).where(proposals.c.id == proposal_id).values(**values))

    def set_statuses(
        self, statuses: Mapping[int, ProposalStatus], at: datetime, codec: Codec
    ) -> None:
        """Set many proposals' statuses in one statement."""
        if statuses:
            stamp = codec.when(at)
            params = [(status.value, stamp, pid) for pid, status in statuses.items()]
            update_rows(self._c, proposals, ("status", "updated_at"), params, codec)
