"""API: `/api/proposals-and-orders` (50 rows) with 1,000,000 orders, and `serve`'s memory.

A history of proposals, each with its order (and one trade for every three), is bulk-loaded;
`ordertrail serve --no-watchers` runs against it as its own process, and one client asks for
the default page (50 rows, newest first) over and over. The baseline is `/healthz` on the same
server (the HTTP floor). The soak keeps asking for pages (the first, and pages further back)
while the resident memory of `serve` is sampled. A second server over a tenth of the orders
runs beside it, and the two are asked in turn: the "10x" figure compares their tails.

    python -m bench.api_board [--quick] [--soak SECONDS] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.perf_support import bulk
from bench.perf_support.databases import PG_DATABASE, fresh_database, postgres_available
from bench.perf_support.figures import Figure, emit, note, percentile

PAGE = "/api/proposals-and-orders"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"ORDERTRAIL_DATABASE_URL": url}
    env.pop("ORDERTRAIL_API_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ordertrail", "serve", "--no-watchers", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _timed(client: httpx.Client, path: str, times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        response = client.get(path)
        took.append(time.perf_counter() - started)
        response.raise_for_status()
    return took


@contextmanager
def served(kind: str, orders: int, database: str) -> Iterator[tuple[httpx.Client, int]]:
    """Load `orders` proposals and orders into a fresh database and run `serve` on it; yield
    a client of that server and its pid."""
    with fresh_database(kind, database) as (url, engine):
        started = time.perf_counter()
        bulk.load(engine, orders)
        note(
            f"{kind}: loaded {orders} proposals and orders in {time.perf_counter() - started:.0f} s"
        )
        engine.dispose()
        port = _free_port()
        log = Path(f"/tmp/ordertrail-bench-serve-{port}.log")
        serve = _serve(url, port, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit(f"api_board: serve did not start (see {log})")
                    time.sleep(0.2)
                first = client.get(PAGE).json()
                assert len(first["data"]) == 50, "the page is not 50 rows"
                _timed(client, PAGE, 50)  # warm up
                yield client, serve.pid
        finally:
            serve.terminate()
            serve.wait(15)
        log.unlink(missing_ok=True)


def measure(kind: str, orders: int, requests: int, soak: float) -> dict[str, float]:
    """Time the page over `orders` on a server of its own; then, with a second server over a
    tenth of them beside it, on both, request for request in turn (a hiccup of the machine
    falls on both alike: how the tail grows with the data); then soak the big one and sample
    its memory when `soak` > 0."""
    with served(kind, orders, PG_DATABASE) as (big, pid):
        floor = _timed(big, "/healthz", requests)
        page = _timed(big, PAGE, requests)
        deep = _timed(big, f"{PAGE}?before={orders // 2}", requests // 4)
        side_by_side: tuple[list[float], list[float]] = ([], [])
        with served(kind, orders // 10, f"{PG_DATABASE}_small") as (small, _):
            _timed(big, PAGE, 50)  # warm again after the load
            for _ in range(requests):
                side_by_side[0].extend(_timed(small, PAGE, 1))
                side_by_side[1].extend(_timed(big, PAGE, 1))
        figures = {
            "p50": percentile(page, 0.5),
            "p99": percentile(page, 0.99),
            "small_p99": percentile(side_by_side[0], 0.99),
            "big_p99": percentile(side_by_side[1], 0.99),
            "floor_p99": percentile(floor, 0.99),
            "deep_p99": percentile(deep, 0.99),
            "rss_start": rss_mb(pid),
        }
        if soak > 0:
            figures |= _soak(big, pid, orders, soak)
    return figures


def _soak(client: httpx.Client, pid: int, orders: int, seconds: float) -> dict[str, float]:
    """Ask for pages for `seconds`; sample resident memory every few seconds."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    next_sample = started
    asked = 0
    while (now := time.monotonic()) - started < seconds:
        before = orders - (asked * 97) % orders if asked % 2 else None
        client.get(PAGE if before is None else f"{PAGE}?before={before}").raise_for_status()
        asked += 1
        if now >= next_sample:
            samples.append((now - started, rss_mb(pid)))
            next_sample = now + max(seconds / 60, 1.0)
    samples.append((time.monotonic() - started, rss_mb(pid)))
    settled = [rss for at, rss in samples if at >= min(60.0, seconds / 10)]
    note(
        f"soak: {asked} pages in {seconds:.0f} s; RSS (MB) "
        + " ".join(f"{rss:.0f}" for _, rss in samples[:: max(len(samples) // 12, 1)])
    )
    return {
        "rss_max": max(rss for _, rss in samples),
        "rss_first": settled[0],
        "rss_last": settled[-1],
        "asked": float(asked),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--soak", type=float, default=None, help="seconds (default 600)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    orders = 10_000 if args.quick else 1_000_000
    requests = 100 if args.quick else 2000
    soak = args.soak if args.soak is not None else (2.0 if args.quick else 600.0)
    for kind in ("sqlite", "postgresql"):
        if args.only and kind != args.only:
            continue
        if kind == "postgresql" and not postgres_available():
            note("postgresql: no server (run through `make bench`, which starts it); skipped")
            continue
        big = measure(kind, orders, requests, soak if kind == "sqlite" else 0.0)
        ms = 1000.0
        note(
            f"{kind}: page p50 {big['p50'] * ms:.2f} ms, p99 {big['p99'] * ms:.2f} ms; "
            f"page {orders // 2} back p99 {big['deep_p99'] * ms:.2f} ms; /healthz p99 "
            f"{big['floor_p99'] * ms:.2f} ms; RSS after start {big['rss_start']:.0f} MB; "
            f"asked in turn with a server "
            f"over {orders // 10} orders: p99 {big['big_p99'] * ms:.2f} ms there, "
            f"{big['small_p99'] * ms:.2f} ms at a tenth"
        )
        p99 = big["p99"] * ms
        emit(
            Figure(
                f"api_board_{kind}_p99",
                p99,
                "ms",
                big["floor_p99"] * ms,
                big["p99"] / big["floor_p99"],
                "<=20",
                p99 <= 20,
            )
        )
        growth = big["big_p99"] / big["small_p99"]
        emit(
            Figure(
                f"api_board_{kind}_10x_p99",
                big["big_p99"] * ms,
                "ms",
                big["small_p99"] * ms,
                growth,
                "ratio<=1.25",
                growth <= 1.25,
            )
        )
        if "rss_max" in big:
            drift = big["rss_last"] - big["rss_first"]
            emit(
                Figure(
                    "serve_rss_max",
                    big["rss_max"],
                    "MB",
                    big["rss_start"],
                    big["rss_max"] / big["rss_start"],
                    "<=200",
                    big["rss_max"] <= 200,
                )
            )
            emit(
                Figure(
                    "serve_rss_soak_growth",
                    drift,
                    "MB",
                    big["rss_first"],
                    big["rss_last"] / big["rss_first"],
                    "<=5%",
                    drift <= 0.05 * big["rss_first"],
                )
            )


if __name__ == "__main__":
    main()
