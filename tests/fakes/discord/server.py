"""The fake Discord server, assembled from its layers (see the package docstring)."""

from __future__ import annotations

import socket
from typing import Self

from aiohttp import web

from tests.fakes.discord.rest import _Rest


class FakeDiscord(_Rest):
    """REST API + gateway of Discord in one loopback aiohttp server.  See module docs."""

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving REST + gateway."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_rest)
        app.router.add_get("/", self._handle_gateway)
        app.router.add_get("/resume", self._handle_gateway)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def __aenter__(self) -> Self:
        await self.start()
        return self
