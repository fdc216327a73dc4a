"""The demo: the paper broker, sample alerts and proposals moving through every lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from decimal import Decimal
from pathlib import Path

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.trade import TradeStatus
from ordertrail.services.alerts_io import import_alerts
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings

log = logging.getLogger(__name__)
ACCOUNT = "PAPER-DEMO"
TSLA_CALL = option_instrument("TSLA", Decimal(95), "C", contract_id="622542959")
SAMPLE_ALERTS = {
    "RealDayTrading": {
        "TSLA": {
            "open": False,
            "created_at": "2025-09-27T21:48:54.749824",
            "option_conid": 622542959,
            "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
        },
        "AAPL": {
            "open": False,
            "created_at": "2025-09-27T22:01:10.000000",
            "alert_details": {"ticker": "AAPL"},
        },
    },
    "Demslayer": {
        "TSLA": {
            "open": False,
            "created_at": "2025-09-28T14:02:11.000000",
            "option_conid": 622542959,
            "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
        },
    },
}
# symbol -> what the paper broker does with it
BEHAVIOURS = {
    "AAPL": Behaviour.FILL,
    "TSLA": Behaviour.PARTIAL,
    "SPY": Behaviour.WORK,
    "GME": Behaviour.REJECT,
    "AMC": Behaviour.EXPIRE,
    "NVDA": Behaviour.PARTIAL,
}


def build_demo_app(database_url: str) -> tuple[App, PaperBroker]:
    """Bootstrap on `database_url` with a paper account and the sample alerts."""
    settings = Settings(
        database_url=database_url,
        paper_account_id=None,
        tradier_account_id=None,
        ibkr_account_id=None,
        tws_account_id=None,
        enable_test_endpoint=True,
        poll_interval_active=1.0,
    )
    paper = PaperBroker(PaperConfig(account_id=ACCOUNT, by_symbol=dict(BEHAVIOURS)))
    app = bootstrap(settings, brokers={f"paper:{ACCOUNT}": paper})
    import_alerts(app.uow(), SAMPLE_ALERTS, app.clock)
    return app, paper


async def drive(app: App, paper: PaperBroker, step_s: float = 1.5) -> None:
    """Submit the sample proposals, move the paper broker, and exit trades once they open."""

    def entry(instrument: Instrument, quantity: int, limit: str | None = None) -> int:
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id=ACCOUNT,
            instrument=instrument,
            quantity=Decimal(quantity),
            order_type="limit" if limit else "market",
            limit_price=Decimal(limit) if limit else None,
        )
        return create_proposal(app.uow(), request, app.clock).id

    stock = Instrument
    ids = [
        entry(stock("AAPL"), 10),
        entry(TSLA_CALL, 6, "2.40"),
        entry(stock("SPY"), 5, "450"),
        entry(stock("GME"), 100),
        entry(stock("AMC"), 50),
        entry(stock("NVDA"), 9),
    ]
    exited: set[int] = set()
    for proposal_id in ids:
        await app.placer.submit(proposal_id)
        await asyncio.sleep(step_s)
        paper.advance()
    paper.place_external(TSLA_CALL, "buy_to_open", Decimal(2))
    for tick in range(60):
        await asyncio.sleep(step_s)
        paper.advance()
        if tick == 3:
            await app.placer.cancel(ids[2])
        for trade_id in _open_trades(app) - exited:
            exited.add(trade_id)
            request = NewProposal(
                kind=ProposalKind.EXIT, broker="paper", account_id=ACCOUNT, linked_trade_id=trade_id
            )
            await app.placer.submit(create_proposal(app.uow(), request, app.clock).id)


def _open_trades(app: App) -> set[int]:
    from sqlalchemy import select

    from ordertrail.storage.tables import orders, trades

    with app.engine.connect() as c:
        open_ids = {
            r.id
            for r in c.execute(select(trades.c.id).where(trades.c.status == TradeStatus.OPEN.value))
        }
        entry_done = {
            r.trade_id
            for r in c.execute(
                select(orders.c.trade_id).where(
                    orders.c.side == "ENTRY", orders.c.status == "FILLED"
                )
            )
        }
    return open_ids & entry_done


def run_demo(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the demo until interrupted; the database is a fresh temporary SQLite file."""
    import uvicorn

    from ordertrail.api.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="ordertrail-demo-"))
    app, paper = build_demo_app(f"sqlite:///{folder / 'demo.db'}")
    api = create_app(app, background=lambda: drive(app, paper))

    print(f"ordertrail demo on http://{host}:{port}/  (database {folder / 'demo.db'})")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(api, host=host, port=port, log_level="warning")
