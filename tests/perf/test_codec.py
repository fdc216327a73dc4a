"""Values written by hand for bulk statements are exactly what the column types would write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from ordertrail.storage import driver
from ordertrail.storage.engine import make_engine
from ordertrail.storage.types import Codec, JsonText, Money, UtcDateTime, dump_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.text(max_size=8)
    | st.integers(0, 9).flatmap(
        lambda p: st.decimals(allow_nan=False, allow_infinity=False, places=p)
    )
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC))
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])
)


def _as_read(value: Any) -> Any:
    """What a stored document says when read with exact decimals: datetimes become text."""
    if isinstance(value, dict):
        return {k: _as_read(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_read(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


@given(documents)
def test_json_text_keeps_every_value_exactly(value: Any) -> None:
    stored = JsonText().process_bind_param(value, sqlite.dialect())
    if value is None:
        assert stored is None
    else:
        assert json.loads(stored, parse_float=Decimal) == _as_read(value)


def test_broker_numbers_are_stored_digit_for_digit() -> None:
    wire = '{"price":12.50,"qty":4.00000000,"avg":0.1000000000000000055}'
    assert dump_json(json.loads(wire, parse_float=Decimal)) == wire
    assert sorted(json.loads(dump_json({"flags": {"b", "a"}}) or "")["flags"]) == ["a", "b"]


@given(aware)
def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them(value: datetime) -> None:
    dialect = sqlite.dialect()
    typed = UtcDateTime().process_bind_param(value, dialect)
    expected = UtcDateTime().impl.dialect_impl(dialect).bind_processor(dialect)(typed)
    assert Codec("sqlite").when(value) == expected


@given(aware)
def test_postgresql_datetimes_are_the_same_instant_in_utc(value: datetime) -> None:
    assert Codec("postgresql").when(value) == UtcDateTime().process_bind_param(
        value, postgresql.dialect()
    )


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_is_written_as_the_money_type_writes_it(value: Decimal) -> None:
    assert Codec("sqlite").money(value) == Money().process_bind_param(value, sqlite.dialect())
    assert Codec("postgresql").money(value) == value


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Codec("sqlite").when(datetime(2026, 1, 1))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_codec_remembering_times_converts_each_as_a_fresh_one_would(dialect: str) -> None:
    codec = Codec(dialect)
    start = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    eastern = timezone(timedelta(hours=-5))
    times = [start + timedelta(seconds=n) for n in range(5000)]  # past the remembered 4,096
    times += [t.astimezone(eastern) for t in times[::7]] + times[::3]
    for value in times:
        assert codec.when(value) == Codec(dialect).when(value)


def test_a_list_parameter_matches_every_value_it_names_exactly(database_url: str) -> None:
    """`in_list` with `list_param`: names with quotes, backslashes and non-ASCII letters match
    themselves and nothing else, on both databases."""
    names = ['BRK "B"', "a\\b", "Ñandú", "é", "SPY", "O'Neil", "😀"]
    engine = make_engine(database_url)
    codec = Codec(engine.dialect.name)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE listed (name TEXT)")
            insert = f"INSERT INTO listed (name) VALUES ({codec.mark})"
            driver.run_many(connection, insert, [(n,) for n in [*names, "e", "Nandu"]])
            sql = f"SELECT name FROM listed WHERE name {codec.in_list('text')} ORDER BY name"
            found = driver.rows(connection, sql, (codec.list_param(sorted(names)),))
            ids = driver.rows(
                connection,
                f"SELECT 1 WHERE 2 {codec.in_list('bigint')}",
                (codec.list_param([1, 2, 3]),),
            )
    finally:
        engine.dispose()
    assert sorted(row[0] for row in found) == sorted(names)
    assert ids == [(1,)]


def test_a_value_json_cannot_hold_is_refused_with_its_type_named() -> None:
    with pytest.raises(TypeError, match="object"):
        dump_json({"fine": [1, "two", Decimal("3.0")], "not": object()})
