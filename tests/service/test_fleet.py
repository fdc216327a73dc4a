"""The fleet of watchers outlives a database that fails for a while."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from ordertrail.bootstrap import bootstrap
from ordertrail.settings import Settings
from tests.service.test_sync_memo import FakeBroker


class Watched(FakeBroker):
    account_id = "F1"


async def test_a_database_failing_while_a_lease_is_taken_does_not_end_watching(
    tmp_path: Path,
) -> None:
    broker = Watched()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/f.db",
        poll_interval_active=0.05,
        poll_interval_idle=0.05,
    )
    app = bootstrap(settings, brokers={"paper:F1": broker})
    with app.engine.begin() as c:  # the owner cannot be recorded for a while
        c.exec_driver_sql("ALTER TABLE sync_state RENAME TO sync_state_away")
    task = asyncio.create_task(app.run_watchers())
    try:
        await asyncio.sleep(0.5)
        assert not broker.asked_since and not task.done()
        with app.engine.begin() as c:  # the fault is over
            c.exec_driver_sql("ALTER TABLE sync_state_away RENAME TO sync_state")
        await asyncio.sleep(1.5)
        assert not task.done(), f"watching ended: {task.exception()!r}"
        assert len(broker.asked_since) >= 3  # the account is polled again
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await app.aclose()
