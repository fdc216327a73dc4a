"""drop the index on orders.updated_at: no query reads by it, and every order update paid for it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every applied report moves updated_at, so the index was rewritten on every order update
    # (the most frequent write), while no page, endpoint or sync orders or filters by it.
    op.drop_index("ix_orders_updated_at", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_updated_at", "orders", ["updated_at"])
