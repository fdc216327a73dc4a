"""indexes for the apply path and the board: working orders per account, proposals by symbol

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every poll reads one account's working orders (and whether it has any).
    op.create_index(
        "ix_orders_broker_account_id_status", "orders", ["broker", "account_id", "status"]
    )
    # The board filtered by symbol, newest first, without reading every proposal.
    op.create_index("ix_proposals_symbol_id", "proposals", ["symbol", "id"])


def downgrade() -> None:
    op.drop_index("ix_proposals_symbol_id", table_name="proposals")
    op.drop_index("ix_orders_broker_account_id_status", table_name="orders")
