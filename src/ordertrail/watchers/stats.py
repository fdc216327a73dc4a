"""Watcher statistics, as the status endpoint shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ordertrail.services.apply import ApplyResult


@dataclass
class AccountStats:
    """One account's watcher: is it running, subscribed, when did it last poll, what did it do."""

    broker: str
    account_id: str
    running: bool = False
    subscribed: bool = False
    last_polled_at: datetime | None = None
    last_reconciled_at: datetime | None = None
    orders_processed: int = 0
    alerts_updated: int = 0
    fills: int = 0
    last_update: datetime | None = None
    reconnects: int = 0
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Describe the account for `/internal/order-tracking`."""
        return {
            "broker": self.broker,
            "account_id": self.account_id,
            "running": self.running,
            "subscribed": self.subscribed,
            "last_polled_at": _iso(self.last_polled_at),
            "last_reconciled_at": _iso(self.last_reconciled_at),
            "stats": {
                "orders_processed": self.orders_processed,
                "alerts_updated": self.alerts_updated,
                "fills": self.fills,
                "last_update": _iso(self.last_update),
            },
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }


@dataclass
class TrackingStats:
    """All accounts together: the seed's `/internal/order-tracking` answer."""

    accounts: dict[str, AccountStats] = field(default_factory=dict)

    def account(self, broker: str, account_id: str) -> AccountStats:
        key = f"{broker}:{account_id}"
        if key not in self.accounts:
            self.accounts[key] = AccountStats(broker, account_id)
        return self.accounts[key]

    def count(self, result: ApplyResult, at: datetime) -> None:
        """Add a committed batch to the accounts it touched (an Applier listener)."""
        for (broker, account_id), counts in result.accounts.items():
            stats = self.account(broker, account_id)
            stats.orders_processed += counts.reports
            stats.alerts_updated += counts.alerts_updated
            stats.fills += counts.fills
            if counts.applied:
                stats.last_update = at

    def as_json(self) -> dict[str, Any]:
        accounts = list(self.accounts.values())
        polled = [a.last_polled_at for a in accounts if a.last_polled_at]
        updates = [a.last_update for a in accounts if a.last_update]
        return {
            "running": bool(accounts) and all(a.running for a in accounts),
            "subscribed": bool(accounts) and all(a.subscribed for a in accounts),
            "last_polled_at": _iso(max(polled)) if polled else None,
            "stats": {
                "orders_processed": sum(a.orders_processed for a in accounts),
                "alerts_updated": sum(a.alerts_updated for a in accounts),
                "last_update": _iso(max(updates)) if updates else None,
            },
            "accounts": [a.as_json() for a in accounts],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
