"""when the account's current unbroken run of syncs began

An unanswered placement counts as absent from the broker only on a sync made a doubt period
after both its send and the start of the lister's run: a new process's or a new session's
first lists may be a broker's warm-up answer (IBKR's first calls can be empty or partial).
Resuming a placement and withdrawing one on cancel read this one column, so they cannot
disagree. Existing rows have none: their next sync starts a run.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordertrail.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.add_column(
            sa.Column("listing_since", ordertrail.storage.types.UtcDateTime(timezone=True))
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("listing_since")
