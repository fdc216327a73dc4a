"""Stream latency: broker messages at 1,000 per second, until the change is on `/api/events`.

The fake IBKR gateway (tests/fakes/ibkr) runs in this process; `ordertrail serve` runs as its
own process against it (SQLite, the IBKR watcher streaming `sor`/`str` and polling as usual);
a probe process listens to `/api/events`. Each fill the gateway makes sends two messages, a
`sor` order delta and a `str` execution, so 500 fills per second are 1,000 messages per
second. A fill's latency runs from just before the gateway is told to fill (the message
leaves it at once) until the probe reads an `order` event showing the new filled quantity:
committed, loaded by the API process and sent. The baseline is the same path for a single
fill with the stream otherwise idle.

The warm-up fills one order until a streamed fill shows (on start the watcher reconciles
before it reads the stream, which with IBKR's paced order list takes about 10 s); every later
fill is keyed by the gateway's own filled quantity, so a warm-up fill that took those 10 s
never counts as a measured one (it used to: the max read ~9.8 s).

    python -m bench.stream_latency [--quick] [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import httpx
from starlette.websockets import WebSocket
from tests.fakes.ibkr import FakeIbkrGateway

from bench.perf_support.figures import Figure, emit, note, percentile

ORDERS = 200  # orders the fills go round (50 with --quick)


class Departures:
    """When the gateway really sent each `sor` frame: the websocket send, timed in place."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        original = WebSocket.send_text

        async def send_text(socket: WebSocket, data: str) -> None:
            await original(socket, data)
            if data.startswith('{"topic": "sor"'):
                self.sent.append((time.monotonic(), data))

        WebSocket.send_text = send_text  # type: ignore[method-assign]

    def index(self) -> dict[tuple[str, Decimal], float]:
        """(broker order id, filled quantity) -> when the frame saying so left the gateway."""
        found: dict[tuple[str, Decimal], float] = {}
        for at, text in self.sent:
            for row in json.loads(text)["args"]:
                filled = row.get("filledQuantity")
                if filled is not None and "orderId" in row:
                    found.setdefault((str(row["orderId"]), Decimal(str(filled))), at)
        return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"stream_latency: timed out waiting for {what}")


class Probe:
    """The `/api/events` listener process and what it has seen, by broker order id."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.perf_support.sse_probe", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("stream_latency: the /api/events probe did not connect")
        self.seen: dict[str, list[tuple[float, Decimal]]] = defaultdict(list)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            at, broker_id, filled = line.split()
            with self.lock:
                self.seen[broker_id].append((float(at), Decimal(filled)))

    def first(self, broker_id: str, filled: Decimal) -> float | None:
        """When the probe first saw the order at `filled` or more."""
        with self.lock:
            for at, seen in self.seen.get(broker_id, ()):
                if seen >= filled:
                    return at
        return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _serve(gateway: FakeIbkrGateway, folder: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "ORDERTRAIL_DATABASE_URL": f"sqlite:///{folder}/stream.db",
        "ORDERTRAIL_IBKR_ACCOUNT_ID": gateway.account_id,
        "ORDERTRAIL_IBKR_BASE_URL": gateway.base_url,
        "ORDERTRAIL_API_TOKEN": "",
    }
    env.pop("ORDERTRAIL_API_TOKEN")
    log = Path(folder) / "serve.log"
    command = ["-m", "ordertrail", "serve"]
    return subprocess.Popen(
        [sys.executable, *command, "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) a process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ready(base: str, orders: int, account: str) -> bool:
    status = httpx.get(f"{base}/internal/order-tracking", timeout=2).json()
    if not status.get("subscribed"):
        return False
    listed = httpx.get(f"{base}/api/orders", params={"limit": 500}, timeout=5).json()
    return len(listed.get("data", [])) >= orders


Sent = list[tuple[str, Decimal, float]]  # broker order id, filled after, when sent


def warm_up(gateway: FakeIbkrGateway, order_id: int, probe: Probe) -> None:
    """Fill until a fill shows on /api/events: the watcher has reconciled and streams."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        gateway.fill(order_id, 1, "1.25")
        filled = gateway.order(order_id).filled
        for _ in range(20):
            if probe.first(str(order_id), filled) is not None:
                return
            time.sleep(0.05)
    raise SystemExit("stream_latency: no streamed fill reached /api/events within 90 s")


def drive(gateway: FakeIbkrGateway, ids: list[int], rate: float, seconds: float) -> Sent:
    """Fill one share at a time, round robin, at `rate` messages per second (two per fill).

    Each fill is keyed by the quantity the gateway's order really has after it, so fills made
    before (the warm-up's) never stand in for this one."""
    fills = int(rate / 2 * seconds)
    interval = 2.0 / rate
    filled = {order_id: gateway.order(order_id).filled for order_id in ids}
    sent = []
    start = time.monotonic()
    for n in range(fills):
        due = start + n * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        order_id = ids[n % len(ids)]
        filled[order_id] += 1
        at = time.monotonic()
        gateway.fill(order_id, 1, "1.25")
        sent.append((str(order_id), filled[order_id], at))
    achieved = fills / (time.monotonic() - start)
    note(f"sent {fills} fills ({2 * fills} messages) at {2 * achieved:.0f} messages/s")
    return sent


def latencies(
    probe: Probe, sent: Sent, grace: float, left: dict[tuple[str, Decimal], float]
) -> tuple[list[float], int]:
    """Each fill's latency (seconds) from the moment its frame left the gateway; the number
    never seen within `grace` of the last."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if all(probe.first(b, f) is not None for b, f, _ in sent[-50:]):
            break
        time.sleep(0.05)
    found, missing = [], 0
    for broker_id, filled, asked in sent:
        seen = probe.first(broker_id, filled)
        if seen is None:
            missing += 1
        else:
            found.append(seen - left.get((broker_id, filled), asked))
    return found, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 20.0)
    count = 50 if args.quick else ORDERS
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    departures = Departures()
    gateway = FakeIbkrGateway(account_id="DU0000001", hb_interval_s=1.0).start_in_thread()
    with tempfile.TemporaryDirectory(prefix="ordertrail-stream-") as folder:
        ids = gateway.create_orders(count, symbol="SPY", quantity=10_000_000, price="1.25")
        serve = _serve(gateway, folder, port)
        probe: Probe | None = None
        try:
            _wait(lambda: _ready(base, count, gateway.account_id), 60, "serve to stream")
            probe = Probe(f"{base}/api/events")
            warm_up(gateway, ids[-1], probe)
            idle = drive(gateway, ids, 10.0, 1.0 if args.quick else 4.0)  # 5 fills/s: idle
            quiet, _ = latencies(probe, idle, 5.0, departures.index())
            cpu_before = cpu_seconds(serve.pid)
            sent = drive(gateway, ids, args.rate, seconds)
            time.sleep(0.5)
            cpu_after = cpu_seconds(serve.pid)
            left = departures.index()
            found, missing = latencies(probe, sent, 10.0, left)
            lag = [left[(b, f)] - at for b, f, at in sent if (b, f) in left]
        finally:
            if probe is not None:
                probe.stop()
            serve.terminate()
            serve.wait(15)
            gateway.stop_thread()
    if not found:
        raise SystemExit("stream_latency: no change ever reached /api/events")
    baseline = percentile(quiet, 0.5) * 1000
    p50, p99 = percentile(found, 0.5) * 1000, percentile(found, 0.99) * 1000
    note(
        f"the gateway sent each frame {percentile(lag, 0.5) * 1000:.2f} ms (p50) / "
        f"{percentile(lag, 0.99) * 1000:.2f} ms (p99) after it was told to fill"
    )
    note(
        f"{len(found)} fills seen on /api/events, {missing} not within 10 s; p50 {p50:.2f} ms, "
        f"p90 {percentile(found, 0.9) * 1000:.2f} ms, p99 {p99:.2f} ms, max "
        f"{max(found) * 1000:.1f} ms; idle single fill p50 {baseline:.2f} ms"
    )
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        note(
            f"serve used {used:.1f} s of CPU for the {len(sent)} fills: "
            f"{used / len(sent) * 1e6:.0f} us a fill ({used / (seconds + 0.5):.0%} of one core)"
        )
    ok = missing == 0
    name = "stream_latency"
    emit(Figure(f"{name}_p50", p50, "ms", baseline, p50 / baseline, "<=2", ok and p50 <= 2))
    emit(Figure(f"{name}_p99", p99, "ms", baseline, p99 / baseline, "<=10", ok and p99 <= 10))


if __name__ == "__main__":
    main()
