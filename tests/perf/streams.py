"""Seeded worlds and report streams with every kind of report the apply path meets."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from sqlalchemy import Engine, select

from ordertrail.domain.alert import Alert
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.proposal import Proposal, ProposalKind, ProposalStatus
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import Direction, Trade, TradeStatus
from ordertrail.storage.codec import instrument_to_json
from ordertrail.storage.tables import alerts, fills, order_events, orders, proposals, trades
from ordertrail.storage.uow import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SYMBOLS = ("SPY", "TSLA", "AAPL", "QQQ")
S = OrderStatus


@dataclass
class Planned:
    """One order of the world and what its reports may say."""

    broker: str
    account: str
    broker_id: str
    client_id: str | None
    instrument: Instrument
    quantity: D
    derives: bool  # Tradier-like (cumulative numbers) or IBKR-like (executions)


def _instrument(rng: random.Random) -> Instrument:
    symbol = rng.choice(SYMBOLS)
    if rng.random() < 0.3:
        return Instrument(symbol)
    strike = D(rng.choice((90, 95, 100)))
    return option_instrument(symbol, strike, rng.choice("CP"), date(2026, 3, 20))


def seed_world(engine: Engine, rng: random.Random, size: int) -> list[Planned]:
    """Write alerts (some ambiguous), open trades and our PENDING orders; plan external ones."""
    now = T0 - timedelta(hours=1)
    planned: list[Planned] = []
    uow = SqlUnitOfWork(engine)
    with uow:
        for source in ("RealDayTrading", "Demslayer"):
            for symbol in SYMBOLS:
                alert = Alert(id=None, source=source, key=symbol, symbol=symbol)
                uow.alerts.upsert(alert, None, now)
        twin = Alert(None, "Demslayer", "SPY-2", "SPY", strike=D(95), document={"x": 1})
        uow.alerts.upsert(twin, None, now)  # SPY is ambiguous for Demslayer without a strike
        for index in range(size):
            broker = rng.choice(("tradier", "ibkr"))
            account = rng.choice(("A1", "A2"))
            instrument = _instrument(rng)
            quantity = D(rng.choice((1, 2, 4, 10)))
            ours = rng.random() < 0.75
            client_id = f"ordertrail-{index}-X-1" if ours else None
            if not ours and rng.random() < 0.3:
                client_id = f"manual-{index}"  # an external order with a tag of its own
            plan = Planned(
                broker, account, str(5000 + index), client_id, instrument, quantity,
                derives=broker == "tradier",
            )  # fmt: skip
            planned.append(plan)
            if ours:
                _record(uow, plan, index, rng, now)
        uow.commit()
    return planned


def _record(uow: Any, plan: Planned, index: int, rng: random.Random, now: datetime) -> None:
    kind = ProposalKind.EXIT if rng.random() < 0.3 else ProposalKind.ENTRY
    trade_id = None
    if kind is ProposalKind.EXIT:
        trade = Trade(
            None, TradeStatus.OPEN, plan.broker, plan.account, plan.instrument, Direction.LONG,
            plan.quantity, D("1.25"), opened_at=now,
        )  # fmt: skip
        trade_id = uow.trades.add(trade, now)
    proposal = Proposal(
        id=0, kind=kind, status=ProposalStatus.SUBMITTED, broker=plan.broker,
        account_id=plan.account, instrument=plan.instrument, side="buy", quantity=plan.quantity,
        linked_trade_id=trade_id,
    )  # fmt: skip
    proposal_id = uow.proposals.add(proposal, now)
    uow.orders.add(
        {
            "broker": plan.broker,
            "account_id": plan.account,
            "client_order_id": plan.client_id,
            "proposal_id": proposal_id,
            "trade_id": trade_id,
            "side": kind.value,
            "placement": "sent",
            "external": False,
            "status": "PENDING",
            "symbol": plan.instrument.symbol,
            "option_symbol": plan.instrument.option_symbol,
            "instrument": instrument_to_json(plan.instrument),
            "broker_side": "buy",
            "order_type": "limit",
            "quantity": plan.quantity,
            "filled_quantity": D(0),
            "remaining_quantity": plan.quantity,
            "limit_price": D("1.30"),
            "flags": [],
            "event_seq": 1,
            "created_at": now,
            "updated_at": now,
        }
    )


def stream(planned: list[Planned], rng: random.Random) -> list[OrderReport]:
    """Every planned order's reports, interleaved, with repeats, stale and sparse ones."""
    per_order = [_reports(plan, rng) for plan in planned]
    out: list[OrderReport] = []
    while any(per_order):
        lane = rng.choice([r for r in per_order if r])
        out.append(lane.pop(0))
        if rng.random() < 0.15 and out:
            out.append(rng.choice(out))  # a repeat, possibly an old (stale) one
    return out


def _reports(plan: Planned, rng: random.Random) -> list[OrderReport]:
    reports: list[OrderReport] = []
    filled = D(0)
    executions: list[Execution] = []
    moment = T0 + timedelta(seconds=rng.randrange(600))
    first_id: str | None = plan.broker_id
    if plan.client_id and rng.random() < 0.2:
        first_id = None  # seen first without a broker id (placement answer lost, tag known)
    path = [S.PLACED] + [S.PARTIAL] * rng.randrange(3) + [rng.choice((S.FILLED, S.CANCELLED))]
    for step, status in enumerate(path):
        moment += timedelta(seconds=rng.randrange(1, 20))
        if status in (S.PARTIAL, S.FILLED) or (status is S.CANCELLED and rng.random() < 0.4):
            target = plan.quantity if status is S.FILLED else min(filled + 1, plan.quantity)
            if target > filled:
                executions.append(
                    Execution(f"{plan.broker_id}.{len(executions)}", target - filled, D("1.2"))
                )
                filled = target
        said = status
        if status is S.CANCELLED and filled == plan.quantity:
            said = S.FILLED
        fields: dict[str, Any] = {
            "broker": plan.broker,
            "account_id": plan.account,
            "broker_order_id": first_id if step == 0 else plan.broker_id,
            "client_order_id": plan.client_id,
            "status": said if rng.random() > 0.05 else None,
            "broker_status": said.value.lower(),
            "quantity": plan.quantity,
            "limit_price": D("1.30"),
            "instrument": plan.instrument if rng.random() > 0.1 else None,
            "side": "buy",
            "order_type": "limit",
            "broker_ts": moment,
            "source": rng.choice(("poll", "stream", "stream", "place")),
            "raw": {"id": plan.broker_id, "status": said.value, "qty": plan.quantity},
        }
        if plan.derives:
            fields |= {
                "filled_quantity": filled,
                "avg_fill_price": D("1.2") + D(step) / 100 if filled else None,
                "remaining_quantity": plan.quantity - filled,
                "derives_fills": True,
            }
        else:
            fields |= {
                "filled_quantity": filled if rng.random() < 0.5 else None,
                "avg_fill_price": D("1.2") if filled else None,
                "executions": tuple(executions) if rng.random() < 0.7 else (),
                "derives_fills": False,
                "flags": frozenset({"inactive"}) if rng.random() < 0.05 else frozenset(),
            }
        reports.append(OrderReport(**fields))
    return reports


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the apply path writes, decoded, in id order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(select(table).order_by(table.c.id))
            ]
            for table in (orders, order_events, fills, trades, proposals, alerts)
        }
