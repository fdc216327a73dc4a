"""kill -9 of a placing and syncing ordertrail process, then a restart: nothing lost, nothing
placed twice, every broker order linked. The fake Tradier server runs in this process, the
ordertrail process against it over loopback, on a file database (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from ordertrail.bootstrap import bootstrap
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders
from tests.fakes.tradier import FakeTradier
from tests.support.audit import TRADIER_WORDS, Audit, audit, broker_order

ROOT = Path(__file__).parents[2]
TOKEN = "crash-test-token"
ACCOUNT = "VA66666666"
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def served() -> Iterator[FakeTradier]:
    with FakeTradier(token=TOKEN, accounts=(ACCOUNT,)) as fake:
        yield fake


@pytest.fixture
def fake(served: FakeTradier) -> FakeTradier:
    served.reset()
    served.set_limits(window_s=1.0, standard=10**6, trading=10**6)
    return served


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/crash.db"
    url = request.getfixturevalue("postgres_url")
    if not url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return str(url)


def propose(database: str, count: int) -> list[int]:
    """Store `count` ENTRY proposals for the account (status NEW)."""
    app = bootstrap(Settings(database_url=database), brokers={})
    try:
        made = [
            create_proposal(
                app.uow(),
                NewProposal(
                    kind=ProposalKind.ENTRY,
                    broker="tradier",
                    account_id=ACCOUNT,
                    instrument=Instrument("AAPL"),
                    quantity=Decimal(1 + n % 5),
                    order_type="limit",
                    limit_price=Decimal("10.00"),
                ),
                app.clock,
            ).id
            for n in range(count)
        ]
    finally:
        app.applier.close()
        app.engine.dispose()
    return made


def driver(fake: FakeTradier, database: str, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.crash.driver", "--db", database]
    command += ["--base-url", fake.base_url, "--token", TOKEN, "--account", ACCOUNT, *extra]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(fake: FakeTradier, database: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run a driver to its end (or its crash point) and collect what it said."""
    process = driver(fake, database, *extra)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def fill_some(fake: FakeTradier, rng: random.Random) -> None:
    """The market fills a few working orders, some in part."""
    working = [o for o in fake.book.orders.values() if not o.finished and o.quantity]
    for order in rng.sample(working, min(3, len(working))):
        left = int(order.quantity - order.exec_quantity)
        if left > 0:
            fake.fill(order.id, rng.randint(1, left), "10.00")


def check(database: str, fake: FakeTradier, proposal_ids: list[int]) -> Audit:
    """Audit the database against the fake, and check every proposal is at the broker exactly
    once and linked to it."""
    engine = create_engine(database)
    try:
        truth = [
            broker_order(o.id, o.status, TRADIER_WORDS, o.exec_quantity, o.quantity, o.tag)
            for o in fake.book.orders.values()
        ]
        found = audit(engine, "tradier", ACCOUNT, truth)
        with engine.connect() as c:
            rows = {r.proposal_id: r for r in c.execute(select(orders))}
    finally:
        engine.dispose()
    at_broker = Counter(o.tag for o in fake.book.orders.values())
    for proposal_id in proposal_ids:
        row = rows[proposal_id]
        placed = at_broker[row.client_order_id]
        assert placed == 1, f"proposal {proposal_id} placed {placed} times: {dict(row._mapping)}"
        assert row.broker_order_id is not None, f"proposal {proposal_id} not linked"
    return found


@pytest.mark.slow
def test_kill9_at_random_points_during_200_placements_and_syncs(
    fake: FakeTradier, database: str
) -> None:
    rng = random.Random(int(os.environ.get("ORDERTRAIL_CRASH_SEED", "20260105")))
    proposal_ids = propose(database, 200)
    kills = resumed = 0
    while True:
        process = driver(fake, database)
        assert process.stdout is not None
        lines = rng.randint(15, 70)
        said = []
        for line in process.stdout:
            said.append(line)
            if line.startswith("started resumed="):
                resumed += int(line.split("=")[1])
            if line.startswith("placed") and rng.random() < 0.2:
                fill_some(fake, rng)
            if len(said) >= lines or line.startswith("done"):
                break
        if said and said[-1].startswith("done"):
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
            break
        # The kill lands a random few milliseconds into whatever the process does next: a
        # commit, a placement on the wire, a sync's apply (the randomness is the point here).
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=rng.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, "".join(said)
        kills += 1
        fill_some(fake, rng)
    fill_some(fake, rng)
    final = finish(fake, database, "--final")
    assert final.returncode == 0, final.stderr
    found = check(database, fake, proposal_ids)
    print(f"kills={kills} resumed={resumed} never_sent={found.unplaced} {found}")
    assert kills >= 2
    assert found.clean and found.unplaced == 0, str(found)
    assert found.orders == len(fake.book.orders) == len(proposal_ids)


@pytest.mark.parametrize("point", ["recorded", "answered"])
def test_killed_between_recording_and_placing_or_before_the_answer_places_exactly_once(
    fake: FakeTradier, database: str, point: str
) -> None:
    [proposal_id] = propose(database, 1)
    crashed = finish(fake, database, "--crash-at", point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(fake.book.orders) == (1 if point == "answered" else 0)
    restarted = finish(fake, database, "--final")  # restart and one sync
    assert restarted.returncode == 0, restarted.stderr
    assert len(fake.book.orders) == 1
    found = check(database, fake, [proposal_id])
    assert found.clean and found.unplaced == 0, str(found)


def test_killed_after_marking_sending_before_the_request_left_places_exactly_once(
    fake: FakeTradier, database: str
) -> None:
    [proposal_id] = propose(database, 1)
    crashed = finish(fake, database, "--crash-at", "sending")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    restarted = finish(fake, database, "--final")
    assert restarted.returncode == 0, restarted.stderr
    assert len(fake.book.orders) == 1
    engine = create_engine(database)
    try:
        with engine.connect() as c:
            row = c.execute(select(orders).where(orders.c.proposal_id == proposal_id)).one()
    finally:
        engine.dispose()
    assert row.broker_order_id == str(next(iter(fake.book.orders)))
