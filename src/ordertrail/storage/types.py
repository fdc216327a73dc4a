"""Column types that keep Decimals exact and datetimes aware on both SQLite and PostgreSQL.

`Codec` does the same conversions by hand for the apply path's bulk statements, which send
driver-native values and read raw rows without per-column type processing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from sqlalchemy import Boolean, DateTime, Dialect, Numeric, String, Table, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

PG_MONEY_SCALE = 12  # decimal places PostgreSQL keeps of a Money value (it rounds the rest)
_PG_MONEY_STEP = Decimal(1).scaleb(-PG_MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC is a float)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, PG_MONEY_SCALE))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return read_money(value)


_ONE = Decimal(1)


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without exponent notation (`5.000` → `5`, `1E+2` → `100`)."""
    return value.quantize(_ONE) if value == value.to_integral() else value.normalize()


def read_money(value: Any) -> Decimal | None:
    """Read a stored money value (NUMERIC or text) as a tidy Decimal."""
    if value is None:
        return None
    known = _TIDIED.get(value)
    if known is not None:
        return known
    result = value if isinstance(value, Decimal) else Decimal(str(value))
    if not result:  # zero: its sign is not part of the key's equality, so it is not kept
        return tidy(result)
    if len(_TIDIED) >= 4096:
        _TIDIED.clear()
    tidied = _TIDIED[value] = tidy(result)
    return tidied


# Stored amounts repeat (quantities, prices): each distinct one is tidied once. A text is
# tidied by what it says; a decimal by its value, which is all `tidy` looks at (but for zero).
_TIDIED: dict[Any, Decimal] = {}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return read_datetime(value)


def utc(value: datetime) -> datetime:
    """The same instant in UTC; refuse naive datetimes."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: ordertrail stores aware UTC times only")
    return value.astimezone(UTC)


def read_datetime(value: Any) -> datetime | None:
    """Read a stored datetime (aware, naive UTC, or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """JSON kept as text, so raw broker payloads come back byte-for-byte as they were stored."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return dump_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


# Decimals are written as the numbers they are, digit for digit (a broker's `12.50` stays
# `12.50`, never a float's approximation); datetimes as RFC 3339 text; sets as arrays. Any
# other object is refused with msgspec's TypeError ("Encoding objects of type X is unsupported").
_ENCODE = msgspec.json.Encoder(decimal_format="number").encode


def dump_json(value: Any) -> str | None:
    """Encode a value as `JsonText` stores it (compact JSON)."""
    if value is None:
        return None
    return _ENCODE(value).decode()


def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text for an aware datetime, in UTC."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = utc(value)
    text = value.isoformat(" ")[:-6]  # without "+00:00"
    return text if len(text) > 19 else text + ".000000"  # microseconds always written


def _pg_datetime(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _sqlite_money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _pg_money(value: Decimal | None) -> Decimal | None:
    return value


_UNSEEN = object()


class Codec:
    """Driver-native values and SQL fragments for one dialect: what the types do, by hand."""

    def __init__(self, dialect_name: str) -> None:
        self.postgresql = dialect_name == "postgresql"
        self.mark = "%s" if self.postgresql else "?"
        self.money: Callable[[Decimal | None], Any] = (
            _pg_money if self.postgresql else _sqlite_money
        )
        self._when: Callable[[datetime | None], Any] = (
            _pg_datetime if self.postgresql else _sqlite_datetime
        )
        self._seen: dict[datetime | None, Any] = {}

    def stored(self, value: Decimal) -> Decimal:
        """The amount a Money column gives back for `value`: the same on SQLite; on
        PostgreSQL rounded to its scale, half away from zero, as NUMERIC rounds."""
        if self.postgresql and value.as_tuple().exponent < -PG_MONEY_SCALE:  # type: ignore[operator]
            return value.quantize(_PG_MONEY_STEP, ROUND_HALF_UP)
        return value

    def when(self, value: datetime | None) -> Any:
        """A datetime, driver-native. Each distinct one is converted once (a report's time is
        written on its events, its fills and its order; a batch's own time on every row);
        equal instants in other zones convert alike, so they may share an entry."""
        native = self._seen.get(value, _UNSEEN)
        if native is _UNSEEN:
            if len(self._seen) >= 4096:
                self._seen.clear()
            native = self._seen[value] = self._when(value)
        return native

    def marks(self, count: int) -> str:
        """`?, ?, ?` or `%s, %s, %s`."""
        return ", ".join([self.mark] * count)

    def in_list(self, sql_type: str) -> str:
        """A condition tail matching a column against one list parameter (`x IN ...`).

        The list travels as one JSON text: psycopg adapts a 10,000-item array parameter far
        more slowly than one string, and SQLite has no arrays.
        """
        if self.postgresql:
            return f"IN (SELECT json_array_elements_text(%s::json)::{sql_type})"
        return "IN (SELECT value FROM json_each(?))"

    def any_of(self, sql_type: str) -> str:
        """Like `in_list`, for a condition that is one side of an OR: PostgreSQL uses an index
        for `= ANY(array)` there (a bitmap OR of index scans), but not for `IN (subquery)`,
        which it checks row by row over the whole table."""
        if self.postgresql:
            return f"= ANY(ARRAY(SELECT json_array_elements_text(%s::json)::{sql_type}))"
        return self.in_list(sql_type)

    def list_param(self, values: Sequence[Any]) -> Any:
        """The parameter `in_list` expects."""
        return json.dumps(list(values))

    # Statements built from the names in `tables.py` (checked here); values are always
    # parameters, never text in the statement. Each is built once per shape and kept.

    def select(
        self,
        table: Table,
        columns: Sequence[str],
        condition: str = "",
        as_text: Collection[str] = (),
    ) -> str:
        """`SELECT columns FROM table [WHERE condition]` (the condition may end in ORDER BY);
        `as_text` columns come back as text on PostgreSQL too (cheaper to read than NUMERIC)."""
        return _select(self.postgresql, table, tuple(columns), condition, frozenset(as_text))

    def insert(self, table: Table, columns: Sequence[str]) -> str:
        """`INSERT INTO table (columns) VALUES (...)`."""
        return _insert(self.postgresql, table, tuple(columns))

    def update(self, table: Table, columns: Sequence[str]) -> str:
        """`UPDATE table SET column = ..., ... WHERE id = ...` (the id is the last parameter)."""
        return _update(self.postgresql, table, tuple(columns))


@functools.lru_cache(maxsize=512)
def _select(
    postgresql: bool,
    table: Table,
    columns: tuple[str, ...],
    condition: str,
    as_text: frozenset[str],
) -> str:
    names = _names(table, columns)
    if postgresql and as_text:
        names = ", ".join(
            f"{_quoted(table, c)}::text" if c in as_text else _quoted(table, c) for c in columns
        )
    where = f" WHERE {condition}" if condition else ""
    return f"SELECT {names} FROM {table.name}{where}"  # noqa: S608


@functools.lru_cache(maxsize=512)
def _insert(postgresql: bool, table: Table, columns: tuple[str, ...]) -> str:
    marks = ", ".join(["%s" if postgresql else "?"] * len(columns))
    return f"INSERT INTO {table.name} ({_names(table, columns)}) VALUES ({marks})"  # noqa: S608


@functools.lru_cache(maxsize=512)
def _update(postgresql: bool, table: Table, columns: tuple[str, ...]) -> str:
    mark = "%s" if postgresql else "?"
    sets = ", ".join(f"{_quoted(table, name)} = {mark}" for name in columns)
    return f"UPDATE {table.name} SET {sets} WHERE id = {mark}"  # noqa: S608


RawDecoder = Callable[[Sequence[Any]], dict[str, Any]]


@functools.cache
def row_decoder(table: Table, columns: tuple[str, ...] | None = None) -> RawDecoder:
    """Decode a raw row of `columns` of `table` (every column, in table order, by default;
    as a driver gives it) into a dict of the values the column types would give."""
    names = columns or tuple(column.name for column in table.columns)
    readers = tuple(_reader(table.c[name].type) for name in names)

    def decode(row: Sequence[Any]) -> dict[str, Any]:
        return {
            name: value if read is None or value is None else read(value)
            for name, read, value in zip(names, readers, row, strict=True)
        }

    return decode


def _reader(kind: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    if isinstance(kind, Money):
        return read_money
    if isinstance(kind, UtcDateTime):
        return read_datetime
    if isinstance(kind, JsonText):
        return json.loads
    if isinstance(kind, Boolean):
        return bool
    return None


def column_names(table: Table, columns: Sequence[str]) -> str:
    """The quoted list of `columns`, each checked to be a column of `table`."""
    return _names(table, columns)


def _names(table: Table, columns: Sequence[str]) -> str:
    """The quoted column list (`right`, `open`... are keywords), after checking every name is
    a column of `table`."""
    return ", ".join(_quoted(table, name) for name in columns)


def _quoted(table: Table, name: str) -> str:
    table.c[name]  # raises KeyError for a name the table does not have
    return f'"{name}"'
