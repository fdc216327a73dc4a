"""The tables. Migrations under `ordertrail/migrations` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ordertrail.storage.types import JsonText, Money, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")
MAX_ID = 2**63 - 1  # the largest id either database holds

trades = Table(
    "trades",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("broker", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("instrument", JsonText, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("entry_price", Money),
    Column("exit_quantity", Money, nullable=False),
    Column("exit_price", Money),
    Column("realized_pnl", Money),
    Column("opened_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    # Legacy columns kept from the first schema; `ordertrail backfill` turns them into orders.
    Column("broker_order_id_open", String(64)),
    Column("broker_order_id_close", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_trades_status", "status"),
)

proposals = Table(
    "proposals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("broker", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("instrument", JsonText, nullable=False),
    Column("legs", JsonText, nullable=False),
    Column("side", String(32), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("limit_price", Money),
    Column("duration", String(8), nullable=False),
    Column("linked_trade_id", Id, ForeignKey("trades.id")),
    Column("client_order_id", String(255), unique=True),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_proposals_created_at", "created_at"),
    Index("ix_proposals_symbol_id", "symbol", "id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("broker", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("broker_order_id", String(64)),
    Column("client_order_id", String(255)),
    Column("proposal_id", Id, ForeignKey("proposals.id"), unique=True),
    Column("trade_id", Id, ForeignKey("trades.id")),
    Column("side", String(8)),  # ENTRY / EXIT, null for external orders
    # Our orders only: recorded (broker not yet called), sending (outcome unknown), sent, withdrawn.
    Column("placement", String(12)),
    Column("external", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("broker_status", String(64)),
    Column("symbol", String(64)),
    Column("option_symbol", String(64)),
    Column("instrument", JsonText),
    Column("broker_side", String(32)),
    Column("order_type", String(32)),
    Column("quantity", Money),
    Column("filled_quantity", Money, nullable=False),
    Column("remaining_quantity", Money),
    Column("avg_fill_price", Money),
    Column("limit_price", Money),
    Column("reason", Text),
    Column("flags", JsonText, nullable=False),
    Column("alert_match", JsonText),  # {"matched": [...], "ambiguous": [...]} once matched
    Column("event_seq", Integer, nullable=False),
    Column("last_broker_ts", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Totals of the order's fills (quantity, and quantity x price), kept by the apply path so
    # that a new execution is weighed without reading every fill the order had before.
    Column("fills_quantity", Money, nullable=False, server_default="0"),
    Column("fills_value", Money, nullable=False, server_default="0"),
    UniqueConstraint("broker", "account_id", "broker_order_id"),
    Index("ix_orders_client_order_id", "client_order_id"),
    Index("ix_orders_status", "status"),
    Index("ix_orders_trade_id", "trade_id"),
    Index("ix_orders_broker_account_id_status", "broker", "account_id", "status"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("status_before", String(16)),
    Column("status_after", String(16), nullable=False),
    Column("broker_status", String(64)),
    Column("filled_quantity", Money, nullable=False),
    Column("avg_fill_price", Money),
    Column("message", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("payload", JsonText),
    Column("broker_ts", UtcDateTime),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("order_id", "seq"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("broker", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("execution_id", String(255), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("price", Money, nullable=False),
    Column("synthetic", Boolean, nullable=False),
    Column("executed_at", UtcDateTime),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("broker", "account_id", "execution_id"),
    Index("ix_fills_order_id", "order_id"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("strike", Money),
    Column("right", String(1)),
    Column("expiry", String(10)),
    Column("contract_id", String(64)),
    Column("document", JsonText, nullable=False),  # the alerter's entry, for an exact round trip
    Column("last_order_update", JsonText),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("source", "key"),
    Index("ix_alerts_symbol", "symbol"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("broker", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("label", String(128)),
    Column("settings", JsonText, nullable=False),  # base URLs, stream switches: no secrets
    Column("credentials", Text),  # the broker token; never logged, never in API output
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("broker", "account_id"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("broker", String(32), primary_key=True),
    Column("account_id", String(64), primary_key=True),
    Column("cursor", Text),
    Column("last_polled_at", UtcDateTime),
    # When the run of syncs that made the last one began (see `absent_at_broker`).
    Column("listing_since", UtcDateTime),
    Column("last_reconciled_at", UtcDateTime),
    Column("stream_state", String(16)),
    Column("last_error", Text),
    Column("owner", String(128)),  # the worker watching the account (host:pid)
    Column("owner_since", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)
