"""Listen to `/api/events` and print when each order change arrives (monotonic clock).

    python -m bench.perf_support.sse_probe URL

Prints `ready` once connected, then `<monotonic seconds> <broker order id> <filled quantity>`
for every `order` event, flushed at once. Runs in its own process so the timing of what it
reads is not held up by the process that drives the broker.
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main() -> None:
    url = sys.argv[1]
    with httpx.stream("GET", url, timeout=httpx.Timeout(5.0, read=None)) as response:
        response.raise_for_status()
        lines = response.iter_lines()
        next(lines)  # the hub's first comment: this client is subscribed
        print("ready", flush=True)
        kind = ""
        for line in lines:
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "order":
                seen = time.monotonic()
                order = json.loads(line[6:])
                print(
                    f"{seen:.6f} {order.get('broker_order_id')} {order.get('filled_quantity')}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
