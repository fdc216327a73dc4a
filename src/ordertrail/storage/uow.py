"""The Unit of Work: one transaction around one change; rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import Connection, Engine, RootTransaction

from ordertrail.storage.alerts import AlertRepository
from ordertrail.storage.engine import WRITE_OPTION
from ordertrail.storage.history import HistoryRepository
from ordertrail.storage.orders import OrderRepository
from ordertrail.storage.proposals import ProposalRepository
from ordertrail.storage.sync_state import SyncStateRepository
from ordertrail.storage.trades import TradeRepository


class UnitOfWork(Protocol):
    """Repositories sharing one transaction (and its connection, for reads of their own)."""

    connection: Connection
    orders: OrderRepository
    history: HistoryRepository
    trades: TradeRepository
    proposals: ProposalRepository
    alerts: AlertRepository
    sync_state: SyncStateRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class SqlUnitOfWork:
    """A Unit of Work on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    connection: Connection

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tx: RootTransaction | None = None

    def __enter__(self) -> Self:
        self.connection = self._engine.connect().execution_options(**{WRITE_OPTION: True})
        self._tx = self.connection.begin()
        c = self.connection
        self.orders = OrderRepository(c)
        self.history = HistoryRepository(c)
        self.trades = TradeRepository(c)
        self.proposals = ProposalRepository(c)
        self.alerts = AlertRepository(c)
        self.sync_state = SyncStateRepository(c)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            self.connection.close()

    def commit(self) -> None:
        assert self._tx is not None
        self._tx.commit()

    def rollback(self) -> None:
        assert self._tx is not None
        self._tx.rollback()
