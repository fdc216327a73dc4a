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
    """A Unit of Work on a SQLAlchemy engine (SQLite or PostgreSQL): on a connection of the
    pool, or on the one a `HeldUnits` keeps."""

    connection: Connection

    def __init__(self, engine: Engine, held: HeldUnits | None = None) -> None:
        self._engine = engine
        self._held = held
        self._tx: RootTransaction | None = None

    def __enter__(self) -> Self:
        held = self._held
        self.connection = held.connection() if held is not None else _writer(self._engine)
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
            if self._held is None:
                self.connection.close()

    def commit(self) -> None:
        assert self._tx is not None
        self._tx.commit()

    def rollback(self) -> None:
        assert self._tx is not None
        self._tx.rollback()


class HeldUnits:
    """Units of Work on one connection kept from transaction to transaction: the applier's
    writer thread on SQLite, whose transactions follow one another on that thread alone.

    Taking a connection from the pool and giving it back costs a stream message's
    transaction about an eighth of its time (measured in one process, old and new taking
    turns). A connection SQLAlchemy invalidated is replaced at the next transaction. Not
    for PostgreSQL: there the pool's pre-ping finds a connection the server dropped before
    a transaction is lost to it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, held=self)

    def connection(self) -> Connection:
        """The connection kept, opened (again) if there is none or it is no longer usable."""
        current = self._connection
        if current is None or current.closed or current.invalidated:
            if current is not None:
                current.close()
            current = self._connection = _writer(self._engine)
        return current

    def close(self) -> None:
        """Give the connection back (on the thread that used it)."""
        current, self._connection = self._connection, None
        if current is not None:
            current.close()


def _writer(engine: Engine) -> Connection:
    """A connection marked as a writer's (SQLite begins its transactions IMMEDIATE)."""
    return engine.connect().execution_options(**{WRITE_OPTION: True})
