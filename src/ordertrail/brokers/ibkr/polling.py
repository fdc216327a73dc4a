"""ListPoll: IBKR's order list and trades, poll after poll, turned into reports."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.contracts import ContractBook
from ordertrail.brokers.ibkr.http import IbkrHttp
from ordertrail.brokers.ibkr.memory import PollMemory
from ordertrail.brokers.ibkr.parsing import (
    BROKER,
    parse_execution,
    parse_order_row,
    report_from_trades,
    row_account,
    with_executions,
)
from ordertrail.brokers.ibkr.slices import Pacer
from ordertrail.brokers.ibkr.values import id_text
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerUnavailable

log = logging.getLogger(__name__)
Row = Mapping[str, Any]
COVER_TRIES = 10  # looks at what is recorded before a poll asks for the trades after all
COVER_WAIT_S = 0.01


class ListPoll:
    """Turn the live-orders rows and the trades since a day into reports, one per order.

    While the websocket streams (`str` brings every execution as it happens), the trades are
    asked for only when the order list shows an execution not recorded, an order it showed
    before is gone from it, an order it leaves out was looked up, or what the last answer had
    us report is not recorded yet (its apply failed, say); and anyway on the first poll of
    each connection and every `trades_full_interval_s` (for executions of orders no list
    showed, should the stream have missed them). Executions on their way from the stream get
    a moment to be committed before the list counts as not covered.
    """

    def __init__(self, config: IbkrConfig, http: IbkrHttp, contracts: ContractBook) -> None:
        self.config = config
        self.account_id = config.account_id
        self.http = http
        self.contracts = contracts
        self.memory = PollMemory(BROKER, config.account_id)
        self.streaming = False  # the websocket is subscribed
        self._full_trades_at: float | None = None
        self._looked_up = False

    def connected(self) -> None:
        """A new websocket session: its first poll asks for every trade."""
        self._full_trades_at = None

    def looked_up(self) -> None:
        """An order the list left out was looked up: the next poll asks for every trade."""
        self._looked_up = True

    async def reports(self, rows: Sequence[Row], days: int) -> list[OrderReport]:
        """The account's orders as reports (not yet finished), with executions not recorded."""
        mine = [row for row in rows if ours(row, self.account_id)]
        trades = await self._new_trades(mine, days)
        by_order: dict[str, list[Row]] = defaultdict(list)
        for trade in trades or ():
            if ours(trade, self.account_id):
                by_order[_trade_key(trade)].append(trade)
        reports: list[OrderReport] = []
        pacer = Pacer()
        for report in await self.memory.order_reports(mine, self._parse_row):
            await pacer.pause()
            executions = by_order.pop(report.broker_order_id or "", [])
            executions += by_order.pop(f"ref:{report.client_order_id}", [])
            if executions:
                parsed = (parse_execution(t) for t in executions)
                report = with_executions(report, (e for e in parsed if e is not None))
            reports.append(report)
        for orphan_rows in by_order.values():
            orphan = report_from_trades(orphan_rows, self.account_id, known=self.contracts.options)
            if orphan is not None and (orphan.broker_order_id or orphan.client_order_id):
                reports.append(orphan)
        if trades is not None:
            self.memory.await_recording(reports)
        return reports

    async def _new_trades(self, rows: Sequence[Row], days: int) -> list[Row] | None:
        """The trade rows not recorded yet; None when the trades need not be asked for."""
        due = self._full_trades_at is None or (
            time.monotonic() - self._full_trades_at >= self.config.trades_full_interval_s
        )
        if self.streaming and not due and not self._looked_up:
            for _ in range(COVER_TRIES):
                if self.memory.accounts_for(rows):
                    return None
                await asyncio.sleep(COVER_WAIT_S)
        if due:
            self._full_trades_at = time.monotonic()
        self._looked_up = False
        return self.memory.new_trades(trade_rows(await self.http.trades(days)))

    def _parse_row(self, row: Row) -> OrderReport | None:
        try:
            return parse_order_row(row, self.account_id, known=self.contracts.options)
        except (TypeError, ValueError, ArithmeticError, AttributeError) as error:
            log.warning("IBKR order row left out, unreadable (%s): %.300r", error, row)
            return None


def trade_rows(body: Any) -> list[Row]:
    """Return the rows of a `/iserver/account/trades` answer."""
    if body is None:
        return []
    if not isinstance(body, list):
        raise BrokerUnavailable(f"IBKR trades answer is not a list: {body!r:.200}", broker=BROKER)
    return [row for row in body if isinstance(row, dict)]


def ours(row: Row, account_id: str) -> bool:
    """Tell whether a row belongs to the account (rows that name none do)."""
    account = row_account(row)
    return account is None or account == account_id


def _trade_key(row: Row) -> str:
    """Group trade rows by order id, or by order ref on builds that leave the id out."""
    order_id = id_text(row.get("order_id"))
    return order_id if order_id is not None else f"ref:{row.get('order_ref') or ''}"
