"""Run the fake IBKR gateway: `python -m tests.fakes.ibkr --port 5000`."""

from __future__ import annotations

import argparse
import asyncio

from tests.fakes.ibkr.server import FakeIbkrGateway


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake IBKR Client Portal gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--account", default="DU1234567")
    parser.add_argument("--hb", type=float, default=10.0, help="heartbeat interval in seconds")
    args = parser.parse_args()
    gateway = FakeIbkrGateway(
        account_id=args.account, host=args.host, port=args.port, hb_interval_s=args.hb
    )

    async def serve() -> None:
        await gateway.start()
        print(f"fake IBKR gateway at {gateway.base_url} (websocket {gateway.ws_url})", flush=True)
        assert gateway._task is not None
        await gateway._task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
