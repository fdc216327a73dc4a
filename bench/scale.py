"""Scale-out on PostgreSQL: worker processes share broker accounts through advisory locks.

    python bench/scale.py --accounts 30 --workers 3 --kill 1 [--database URL]
    python bench/scale.py --accounts 1000 --simulate [--workers 1,2,4,8]

The takeover run starts a fake Tradier server with N accounts, stores the accounts in the
database, starts worker processes (`ordertrail worker`), checks every account is watched by
exactly one worker (PostgreSQL's own lock table), kills workers with SIGKILL while orders fill,
and measures how long until every account is watched again and every fill is in.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.fakes.tradier import FakeTradier  # noqa: E402

from ordertrail.broker_factory import AccountSpec  # noqa: E402
from ordertrail.clock import SystemClock  # noqa: E402
from ordertrail.services.accounts import add_account  # noqa: E402
from ordertrail.storage import migrate  # noqa: E402
from ordertrail.storage.engine import make_engine  # noqa: E402
from ordertrail.storage.tables import fills, orders, sync_state  # noqa: E402
from ordertrail.watchers.leases import lock_id  # noqa: E402

TOKEN = "scale-bench-token"
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/ordertrail_scale"


@dataclass
class TakeoverResult:
    """What the takeover run saw."""

    accounts: int
    workers: int
    watched_once: bool
    takeover_s: float
    lost: int
    doubled: int

    def line(self) -> str:
        return (
            f"scale: accounts={self.accounts} workers={self.workers} "
            f"watched_once={str(self.watched_once).lower()} takeover_s={self.takeover_s:.2f} "
            f"lost={self.lost} doubled={self.doubled}"
        )


def fresh_database(url: str) -> Engine:
    """Empty the database's public schema and migrate it."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(engine)
    return engine


def ensure_database(url: str) -> None:
    """Create the benchmark database if the server lacks it."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if found is None:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def holders(engine: Engine, keys: list[str]) -> dict[str, list[int]]:
    """Which backend pids hold each account's advisory lock (granted locks only)."""
    wanted = {lock_id(k): k for k in keys}
    query = text(
        "SELECT (classid::bigint << 32) | objid::bigint AS id, pid FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    )
    found: dict[str, list[int]] = {k: [] for k in keys}
    with engine.connect() as connection:
        for row in connection.execute(query):
            signed = row.id - (1 << 64) if row.id >= (1 << 63) else row.id
            if signed in wanted:
                found[wanted[signed]].append(row.pid)
    return found


def owners(engine: Engine) -> dict[str, str]:
    """Which worker (host:pid) each account's sync state names as its watcher."""
    query = select(sync_state.c.account_id, sync_state.c.owner).where(
        sync_state.c.owner.is_not(None)
    )
    with engine.connect() as connection:
        return {r.account_id: r.owner for r in connection.execute(query)}


def start_worker(url: str, poll: float, log: Path) -> subprocess.Popen[bytes]:
    """Start one `ordertrail worker` process against the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    env |= {
        "ORDERTRAIL_DATABASE_URL": url,
        "ORDERTRAIL_POLL_INTERVAL_ACTIVE": str(poll),
        "ORDERTRAIL_POLL_INTERVAL_IDLE": str(poll),
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrail", "worker"], env=env, stdout=handle, stderr=handle
    )


def wait_until(check: object, timeout: float, what: str) -> float:
    """Poll `check()` until true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit(f"scale: timed out after {timeout:.0f}s waiting for {what}")


def run_takeover(
    accounts: int, workers: int, kill: int, url: str, poll: float = 1.0, logs: Path | None = None
) -> TakeoverResult:
    """Run the takeover scenario and report what it saw."""
    logs = logs or Path("/tmp")
    ensure_database(url)
    engine = fresh_database(url)
    names = [f"VA{n:08d}" for n in range(accounts)]
    keys = [f"tradier:{name}" for name in names]
    procs: list[subprocess.Popen[bytes]] = []
    with FakeTradier(token=TOKEN, accounts=names) as fake:
        # One token for every account: lift the per-token quota, which is not under test here.
        fake.set_limits(3600.0, standard=10**9, trading=10**9)
        settings = {"base_url": fake.base_url, "stream_enabled": False}
        for name in names:
            add_account(engine, AccountSpec("tradier", name, TOKEN, settings), SystemClock())
        truth: dict[str, tuple[int, Decimal]] = {}
        for name in names:
            order_id = fake.create_order("AAPL", "buy", 10, "limit", price="100", account=name)
            fake.fill(order_id, 2, "100")
            truth[name] = (order_id, Decimal(2))
        try:
            procs = [start_worker(url, poll, logs / f"worker-{i}.log") for i in range(workers)]

            def all_watched_once() -> bool:
                held = holders(engine, keys)
                return all(len(pids) == 1 for pids in held.values())

            def balanced() -> bool:
                spread = Counter(owners(engine).values())
                shares = sorted(spread.values())
                return (
                    all_watched_once()
                    and sum(shares) == accounts
                    and len(shares) == workers
                    and shares[-1] - shares[0] <= 1
                )

            wait_until(balanced, 60, "every account watched, shared evenly")
            watched_once = all_watched_once()
            spread = Counter(owners(engine).values())
            print(f"scale: watchers per worker {sorted(spread.values())}", file=sys.stderr)
            victims = [p for p in procs if any(o.endswith(f":{p.pid}") for o in spread)][:kill]
            dead = {f":{p.pid}" for p in victims}
            for proc in victims:
                proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            for name in names:
                order_id, _ = truth[name]
                fake.fill(order_id, 8, "101")
                truth[name] = (order_id, Decimal(10))
            for proc in victims:
                proc.wait()

            def taken_over() -> bool:
                now = owners(engine)
                alive = not any(o.endswith(d) for o in now.values() for d in dead)
                return alive and all_watched_once()

            wait_until(taken_over, 60, "takeover")
            takeover_s = time.monotonic() - killed_at
            wait_until(lambda: _converged(engine, truth), 60, "fills after takeover")
            lost, doubled = _fill_errors(engine, truth)
            watched_once = watched_once and all_watched_once()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    engine.dispose()
    return TakeoverResult(accounts, workers, watched_once, takeover_s, lost, doubled)


def _converged(engine: Engine, truth: dict[str, tuple[int, Decimal]]) -> bool:
    with engine.connect() as connection:
        rows = connection.execute(select(orders.c.broker_order_id, orders.c.filled_quantity))
        seen = {r.broker_order_id: r.filled_quantity for r in rows}
    return all(seen.get(str(oid)) == qty for oid, qty in truth.values())


def _fill_errors(engine: Engine, truth: dict[str, tuple[int, Decimal]]) -> tuple[int, int]:
    """Count orders whose recorded fills add up to less (lost) or more (doubled) than the truth."""
    query = (
        select(orders.c.broker_order_id, func.coalesce(func.sum(fills.c.quantity), 0))
        .select_from(orders.outerjoin(fills, fills.c.order_id == orders.c.id))
        .group_by(orders.c.broker_order_id)
    )
    with engine.connect() as connection:
        sums = {r[0]: Decimal(str(r[1])) for r in connection.execute(query)}
    lost = sum(1 for oid, qty in truth.values() if sums.get(str(oid), Decimal(0)) < qty)
    doubled = sum(1 for oid, qty in truth.values() if sums.get(str(oid), Decimal(0)) > qty)
    return lost, doubled


def main(argv: list[str] | None = None) -> int:
    """Run the takeover or the simulation and print one summary line per result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--workers", default="3")
    parser.add_argument("--kill", type=int, default=1)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument(
        "--database", default=os.environ.get("ORDERTRAIL_SCALE_DATABASE_URL", DEFAULT_DB)
    )
    parser.add_argument("--simulate", action="store_true")
    args = parser.parse_args(argv)
    if args.simulate:
        from bench.scale_simulation import simulate

        for line in simulate(args.accounts, [int(w) for w in args.workers.split(",")], args.poll):
            print(line)
        return 0
    result = run_takeover(args.accounts, int(args.workers), args.kill, args.database, args.poll)
    print(result.line())
    ok = result.watched_once and result.lost == 0 and result.doubled == 0
    return 0 if ok and result.takeover_s <= 2 * args.poll + 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
