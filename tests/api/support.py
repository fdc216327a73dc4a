"""API test helpers: a paper-broker world, and short ways to create, submit and fill."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.clock import FakeClock
from ordertrail.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ACCOUNT = "P1"
CALL = {"symbol": "TSLA", "strike": "95", "right": "C"}
ALERTS = {
    "RealDayTrading": {
        "TSLA": {
            "open": False,
            "created_at": "2025-09-27T21:48:54.749824",
            "option_conid": 622542959,
            "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
        },
    },
    "Demslayer": {
        "TSLA": {
            "open": False,
            "created_at": "2025-09-28T14:02:11",
            "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
        },
    },
}
BEHAVIOURS = {"AAPL": Behaviour.FILL, "GME": Behaviour.REJECT, "NVDA": Behaviour.PARTIAL}


def fresh_postgres(url: str) -> None:
    """Empty the PostgreSQL test database (as the `database_url` fixture does)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@dataclass
class World:
    """An app on one paper account, the broker itself, and the clock both read."""

    app: App
    paper: PaperBroker
    clock: FakeClock


def make_world(database_url: str, clock: FakeClock, **settings: Any) -> World:
    """Bootstrap on `database_url` with a paper account whose orders work until told."""
    config = PaperConfig(account_id=ACCOUNT, default=Behaviour.WORK, by_symbol=dict(BEHAVIOURS))
    paper = PaperBroker(config, clock)
    values: dict[str, Any] = {"api_token": None, "enable_test_endpoint": True} | settings
    app = bootstrap(
        Settings(database_url=database_url, **values), clock=clock, brokers={"paper:P1": paper}
    )
    return World(app, paper, clock)


def entry(client: TestClient, symbol: str = "AAPL", quantity: str = "10", **extra: Any) -> int:
    """Create an ENTRY proposal and return its id."""
    instrument = CALL if symbol == "TSLA" else {"symbol": symbol}
    body = {"kind": "ENTRY", "instrument": instrument, "quantity": quantity} | extra
    answer = client.post("/api/proposals", json=body)
    assert answer.status_code == 201, answer.text
    proposal_id: int = answer.json()["id"]
    return proposal_id


def submit(client: TestClient, proposal_id: int) -> dict[str, Any]:
    """Submit a proposal and return its board row."""
    answer = client.post(f"/api/proposals/{proposal_id}/submit")
    assert answer.status_code == 200, answer.text
    row: dict[str, Any] = answer.json()
    return row


def step(client: TestClient, world: World) -> None:
    """Move the paper broker one step and reconcile, as the watcher would."""
    world.paper.advance()
    assert client.post("/internal/order-tracking/reconcile").status_code == 200


def send_test_message(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a simulated broker message and return the answer."""
    answer = client.post("/internal/order-tracking/test", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result
