"""Browser fixtures: the app served on a free loopback port with sample data, and Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ordertrail.api.app import create_app
from ordertrail.brokers.paper import Behaviour
from ordertrail.clock import SystemClock
from ordertrail.domain.instrument import Instrument, option_instrument
from tests.api.live import LiveServer
from tests.api.support import ALERTS, World, make_world

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TWINS = {"alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"}}
CALL = option_instrument("TSLA", Decimal(95), "C")
CALL_IN = {"symbol": "TSLA", "strike": "95", "right": "C"}


@dataclass
class Site:
    """The served app, its paper broker, and what the sample data created, by name."""

    url: str
    world: World
    http: httpx.Client
    proposals: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    hand_placed: str = ""

    def get(self, path: str) -> Any:
        answer = self.http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any = None) -> Any:
        answer = self.http.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def entry(self, name: str, instrument: dict[str, Any], quantity: str, **extra: Any) -> None:
        body = {"kind": "ENTRY", "instrument": instrument, "quantity": quantity} | extra
        self.proposals[name] = self.post("/api/proposals", body)["id"]

    def submit(self, name: str) -> None:
        row = self.post(f"/api/proposals/{self.proposals[name]}/submit")
        self.orders[name] = row["order"]

    def fill(self, name: str, quantity: int, price: str) -> None:
        """Report the order named `name` FILLED at the paper broker (the test endpoint)."""
        order_id = self.orders[name]["brokerOrderId"]
        self.post(
            "/internal/order-tracking/test",
            {
                "broker": "paper",
                "accountId": "P1",
                "orderId": order_id,
                "status": "FILLED",
                "filledQuantity": quantity,
                "avgFillPrice": price,
            },
        )

    def step(self) -> None:
        self.world.paper.advance()
        self.post("/internal/order-tracking/reconcile")


def _populate(site: Site) -> None:
    site.post("/api/alerts/import", ALERTS)
    site.post("/api/alerts/import?source=ProfAndKian", {"TSLA": TWINS, "TSLA-0117": TWINS})
    site.entry("aapl", {"symbol": "AAPL"}, "10")
    site.entry("tsla", CALL_IN, "6", order_type="limit", limit_price="2.40")
    site.entry("spy", {"symbol": "SPY"}, "5", order_type="limit", limit_price="450")
    site.entry("gme", {"symbol": "GME"}, "100")
    site.entry("nvda", {"symbol": "NVDA"}, "9")
    site.entry("msft", {"symbol": "MSFT"}, "1", note="not submitted yet")
    for name in ("aapl", "tsla", "spy", "gme", "nvda"):
        site.submit(name)
    paper = site.world.paper
    site.hand_placed = paper.place_external(Instrument("AMD"), "buy", Decimal(7), Behaviour.WORK)
    paper.place_external(CALL, "buy_to_open", Decimal(2), Behaviour.FILL)
    site.step()
    trade = site.get(f"/api/proposals/{site.proposals['aapl']}")["trade"]
    exit_body = {"kind": "EXIT", "linked_trade_id": trade["id"], "order_type": "limit"}
    site.proposals["exit"] = site.post("/api/proposals", exit_body | {"limit_price": "104.5"})["id"]
    site.submit("exit")
    site.step()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run scripts/ensure-chromium.sh (as root)")
    folder = tmp_path_factory.mktemp("browser")
    world = make_world(f"sqlite:///{folder}/pages.db", SystemClock())  # type: ignore[arg-type]
    api = create_app(world.app, run_watchers=False, keepalive=5.0)
    with LiveServer(api) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        built = Site(server.url, world, http)
        _populate(built)
        yield built
    world.app.applier.close()
    world.app.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run scripts/ensure-chromium.sh (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def shoot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/ for review."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
