"""`ordertrail serve` and `ordertrail demo` as a user runs them: separate processes, real ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.eventually import eventually_sync


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _running(*args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ordertrail", *args, "--port", str(port)],
        env=environment | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert process.poll() is None, process.communicate()[1]
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        eventually_sync(up, timeout=30, interval=0.1, message="the server never answered")
        yield url, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_without_a_token_listens_on_loopback_only_and_says_so(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/serve.db"
    with _running(
        "serve", "--host", "0.0.0.0", "--no-watchers", ORDERTRAIL_DATABASE_URL=database
    ) as (
        url,
        process,
    ):
        assert "Proposals &amp; Orders" in httpx.get(url + "/").text
        assert httpx.get(url + "/api/orders").json()["count"] == 0
    _, stderr = process.communicate()
    assert "listening on 127.0.0.1, not 0.0.0.0" in stderr
    assert "writes are open" in stderr


def test_demo_opens_on_the_board_with_orders_moving_through_their_lifecycles() -> None:
    with _running("demo", "--step", "0.1") as (url, process):
        assert "Proposals &amp; Orders" in httpx.get(url + "/").text

        def statuses() -> set[Any]:
            rows = httpx.get(url + "/api/proposals-and-orders?limit=50").json()["data"]
            return {(r["order"] or {}).get("status") for r in rows}

        eventually_sync(
            lambda: {"FILLED", "REJECTED", "CANCELLED"} <= statuses(),
            timeout=30,
            interval=0.2,
            message="the demo's orders never moved",
        )
        exits = httpx.get(url + "/api/proposals-and-orders?kind=EXIT").json()["data"]
        assert exits, "no trade was exited"
        # A trade the user opens is the user's to exit: the demo exits only its own.
        body = {"kind": "ENTRY", "instrument": {"symbol": "AAPL"}, "quantity": "1"}
        mine = httpx.post(url + "/api/proposals", json=body).json()["id"]
        httpx.post(f"{url}/api/proposals/{mine}/submit").raise_for_status()

        def trade() -> Any:
            return (httpx.get(f"{url}/api/proposals/{mine}").json()["trade"] or {}).get("id")

        eventually_sync(trade, timeout=30, interval=0.2, message="the user's trade never opened")
        time.sleep(2)  # twenty demo steps
        exits = httpx.get(url + "/api/proposals-and-orders?kind=EXIT&limit=200").json()["data"]
        assert trade() not in {row["linkedTradeId"] for row in exits}
    stdout, _ = process.communicate()
    assert "(Proposals & Orders)" in stdout
    database = Path(stdout.split("database ", 1)[1].split(" ", 1)[0])
    assert database.name == "demo.db" and not database.parent.exists()  # the demo cleans up
