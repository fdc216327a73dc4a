"""The demo: the paper broker, sample alerts and proposals moving through every lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import tempfile
from decimal import Decimal
from functools import partial
from pathlib import Path

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.paper import Behaviour, PaperBroker, PaperConfig
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.trade import TradeStatus
from ordertrail.errors import OrdertrailError
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
# One round of sample proposals: instrument, quantity, limit price (None: market).
ROUND: tuple[tuple[Instrument, int, str | None], ...] = (
    (Instrument("AAPL"), 10, None),
    (TSLA_CALL, 6, "2.40"),
    (Instrument("SPY"), 5, "450"),
    (Instrument("GME"), 100, None),
    (Instrument("AMC"), 50, None),
    (Instrument("NVDA"), 9, None),
)
ROUND_TICKS = 40
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
    """Submit the sample proposals, move the paper broker, exit the demo's own trades once
    they open (never one a user opened), and start a fresh round every so often, so the pages
    keep moving."""
    exited: set[int] = set()
    mine: set[int] = set()  # the ENTRY proposals the demo made
    for round_number in itertools.count():
        try:
            await _round(app, paper, step_s, exited, mine, external=bool(round_number % 2))
        except OrdertrailError as error:  # a demo keeps going; say what went wrong
            log.warning("demo round %s: %s", round_number, error)


async def _round(
    app: App,
    paper: PaperBroker,
    step_s: float,
    exited: set[int],
    mine: set[int],
    *,
    external: bool,
) -> None:
    ids = [await app.applier.run(partial(_entry, app, *item)) for item in ROUND]
    mine.update(ids)
    for proposal_id in ids:
        await app.placer.submit(proposal_id)
        await asyncio.sleep(step_s)
        paper.advance()
    paper.place_external(TSLA_CALL, "buy_to_open", Decimal(2))
    if external:
        paper.place_external(Instrument("AMD"), "buy", Decimal(7), Behaviour.WORK)
    for tick in range(ROUND_TICKS):
        await asyncio.sleep(step_s)
        paper.advance()
        if tick == 3:
            await app.placer.cancel(ids[2])
        for trade_id in await app.applier.run(partial(_open_trades, app, mine)) - exited:
            exited.add(trade_id)
            await _exit(app, trade_id)


async def _exit(app: App, trade_id: int) -> None:
    """Exit one of the demo's trades; a user may have exited it first (then nothing)."""
    request = NewProposal(
        kind=ProposalKind.EXIT, broker="paper", account_id=ACCOUNT, linked_trade_id=trade_id
    )
    try:
        proposal = await app.applier.run(partial(create_proposal, app.uow(), request, app.clock))
        await app.placer.submit(proposal.id)
    except OrdertrailError as error:
        log.info("demo: trade %s not exited: %s", trade_id, error)


def _entry(app: App, instrument: Instrument, quantity: int, limit: str | None) -> int:
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


def _open_trades(app: App, mine: set[int]) -> set[int]:
    """The OPEN trades of the demo's ENTRY proposals (`mine`) whose entry has filled."""
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
                    orders.c.side == "ENTRY",
                    orders.c.status == "FILLED",
                    orders.c.proposal_id.in_(sorted(mine)),
                )
            )
        }
    return open_ids & entry_done


def run_demo(host: str = "127.0.0.1", port: int = 8000, step_s: float = 1.5) -> None:
    """Serve the demo until interrupted; the database is a fresh temporary SQLite file."""
    import uvicorn

    from ordertrail.api.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="ordertrail-demo-"))
    app, paper = build_demo_app(f"sqlite:///{folder / 'demo.db'}")
    api = create_app(app, background=lambda: drive(app, paper, step_s))
    shown = f"[{host}]" if ":" in host else host
    print(f"ordertrail demo: open http://{shown}:{port}/ (Proposals & Orders)", flush=True)
    print(
        f"  debug http://{shown}:{port}/debug/orders · API http://{shown}:{port}/docs", flush=True
    )
    print(f"  database {folder / 'demo.db'} · Ctrl-C to stop", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.run(api, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the demo's database is temporary
