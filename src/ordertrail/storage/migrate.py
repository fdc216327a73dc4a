"""Run Alembic migrations from code: `ordertrail db upgrade` and the upgrade on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """Point Alembic at the packaged migrations and the given engine."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database to `revision`; return the revision it is at afterwards."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time when several processes start together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """Say which migration the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """Say which migration is the newest this code knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
