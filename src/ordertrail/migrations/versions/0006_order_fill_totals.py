"""orders keep the totals of their fills (quantity, and quantity x price)

The apply path weighed a report's executions against every fill the order had recorded, read
again for every report: an order's hundredth execution cost a hundred rows. The totals, kept
on the order row as fills are recorded, make it one. Existing orders get them from their fills.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import ordertrail.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    money = ordertrail.storage.types.Money(length=40)
    for name in ("fills_quantity", "fills_value"):
        op.add_column(
            "orders", sa.Column(name, money, nullable=False, server_default=sa.text("'0'"))
        )
    _backfill()


def _backfill() -> None:
    """Sum each order's fills in Python (SQLite keeps amounts as text: SUM would round)."""
    connection = op.get_bind()
    totals: defaultdict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    rows = connection.execute(sa.text("SELECT order_id, quantity, price FROM fills"))
    for order_id, quantity, price in rows:
        amount, paid = Decimal(str(quantity)), Decimal(str(price))
        totals[order_id][0] += amount
        totals[order_id][1] += amount * paid
    if not totals:
        return
    update = sa.text("UPDATE orders SET fills_quantity = :q, fills_value = :v WHERE id = :id")
    numeric = connection.dialect.name == "postgresql"
    connection.execute(
        update,
        [
            {
                "id": order_id,
                "q": q if numeric else format(q, "f"),
                "v": v if numeric else format(v, "f"),
            }
            for order_id, (q, v) in totals.items()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("fills_value")
        batch.drop_column("fills_quantity")
