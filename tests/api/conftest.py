"""API test fixtures: an app on the paper broker over SQLite and PostgreSQL, and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ordertrail.api.app import create_app
from ordertrail.clock import FakeClock
from tests.api.support import TestClient, World, make_world


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> Iterator[World]:
    built = make_world(database_url, clock)
    yield built
    built.app.applier.close()
    built.app.engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.app, run_watchers=False)) as test_client:
        yield test_client


@pytest.fixture
def sqlite_client(tmp_path: object, clock: FakeClock) -> Iterator[TestClient]:
    """A client on SQLite only, for input checks that never reach storage differences."""
    built = make_world(f"sqlite:///{tmp_path}/checks.db", clock)
    with TestClient(create_app(built.app, run_watchers=False)) as test_client:
        yield test_client
    built.app.applier.close()
    built.app.engine.dispose()
