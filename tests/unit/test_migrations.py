"""The migrations create exactly the tables the code declares, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ordertrail.storage import migrate
from ordertrail.storage.engine import make_engine
from ordertrail.storage.tables import metadata


def test_upgrading_an_empty_database_matches_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) is None
    assert migrate.upgrade(engine) == migrate.head_revision(engine)
    assert migrate.upgrade(engine) == migrate.head_revision(engine)  # a second run is a no-op
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []
