"""Alembic environment: runs migrations on the connection `ordertrail.storage.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from ordertrail.storage.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the given connection, or one made from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("ordertrail migrations run online only: use `ordertrail db upgrade`")
run_migrations_online()
