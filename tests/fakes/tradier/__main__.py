"""Run the fake Tradier server by hand: `python -m tests.fakes.tradier --port 8765`."""

from __future__ import annotations

import argparse
import threading

from tests.fakes.tradier.fake import FakeTradier


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Tradier API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="fake-tradier-token")
    parser.add_argument("--account", action="append", dest="accounts")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="heartbeat interval (s)")
    args = parser.parse_args()
    fake = FakeTradier(token=args.token, accounts=args.accounts or ["VA00000001"], port=args.port)
    fake.set_knobs(heartbeat_interval_s=args.heartbeat)
    fake.start_in_thread()
    print(f"REST    {fake.base_url}")
    print(f"stream  {fake.stream_url}")
    print(f"control {fake.control_url}")
    print(f"token   {fake.token}  accounts {', '.join(fake.accounts)}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
