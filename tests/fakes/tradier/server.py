"""Serve an ASGI app with uvicorn on 127.0.0.1, as a task of the running loop or in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_S = 10.0


class Server:
    """A uvicorn server bound at construction, so its port is known before it starts."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="error",
            lifespan="off",
            ws="websockets-sansio",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._uvicorn = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Serve as a task of the running loop; return once it accepts connections."""
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[self._socket]))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._uvicorn.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the fake server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the fake server did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._uvicorn.force_exit = True
        if self._task is not None:
            await self._task

    def start_in_thread(self) -> None:
        """Serve from a daemon thread with its own loop; return once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        async def run() -> None:
            try:
                await self.start()
            except BaseException as error:
                failure.append(error)
                raise
            finally:
                ready.set()
            if self._task is not None:
                await self._task

        self._thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S) or failure:
            raise RuntimeError(f"the fake server did not start: {failure}")

    def stop_thread(self) -> None:
        self._uvicorn.should_exit = True
        self._uvicorn.force_exit = True
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)
