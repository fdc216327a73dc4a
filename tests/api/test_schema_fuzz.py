"""schemathesis over the OpenAPI schema: whatever it sends, no operation answers with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from ordertrail.api.app import create_app
from ordertrail.clock import FakeClock
from tests.api.support import ALERTS, TestClient, entry, fresh_postgres, make_world, step, submit

EXAMPLES = 15


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_schema(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str | None,
) -> Iterator[Any]:
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("fuzz")
        url = f"sqlite:///{folder}/fuzz.db"
    else:
        if not postgres_url:
            pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
        url = postgres_url
        fresh_postgres(url)
    world = make_world(url, FakeClock())
    api = create_app(world.app, run_watchers=False)
    with TestClient(api) as client:  # a little of everything, so small ids name real rows
        client.post("/api/alerts/import", json=ALERTS)
        submit(client, entry(client, "AAPL", "10"))
        submit(client, entry(client, "TSLA", "2"))
        entry(client, "SPY", "1")
        step(client, world)
        yield schemathesis.openapi.from_asgi("/openapi.json", api).exclude(path="/api/events")
    world.app.applier.close()
    world.app.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_with_a_server_error(api_schema: Any, mode: GenerationMode) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            call()
        except Unsatisfiable:  # nothing to break: an operation without inputs has no negatives
            assert mode is GenerationMode.NEGATIVE
