"""TCP side: accept Wyoming connections and feed their events to the `Satellite`.

Any number of clients may connect (Home Assistant also opens short `describe`
connections to refresh its info); the one that sends a driving event (`run-satellite`,
audio, …) drives the satellite and a newer one replaces it. Bad input is answered with an
`error` event and skipped; only a stream that cannot be resynced is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket

from wyoming.error import Error
from wyoming.event import Event

from .satellite import Satellite
from .wire import MAX_HEADER_BYTES, BadEvent, StreamBroken, read_event, write_event

_LOGGER = logging.getLogger(__name__)
_ids = itertools.count(1)
WRITE_TIMEOUT_S = 5.0
# A peer whose host vanished is noticed after about KEEPIDLE + KEEPINTVL * KEEPCNT seconds.
_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE:
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class Connection:
    """One client connection; writes are serialised."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wrap an accepted stream."""
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "client"
        self.name = f"connection {next(_ids)} ({where})"
        self._lock = asyncio.Lock()
        self.closed = False
        _keepalive(writer)

    async def send(self, event: Event) -> bool:
        """Write an event; False if the connection is gone."""
        if self.closed:
            return False
        try:
            async with self._lock:
                await asyncio.wait_for(write_event(event, self.writer), WRITE_TIMEOUT_S)
        except (ConnectionError, OSError, RuntimeError, TimeoutError) as err:
            # A peer that stopped reading (host gone without closing) is dropped too, so
            # the microphone stream never queues up behind it.
            _LOGGER.info("%s: write failed (%s), closing", self.name, err or "timeout")
            self.close()
            return False
        return True

    def close(self) -> None:
        """Close the connection (the read loop ends)."""
        if not self.closed:
            self.closed = True
            self.writer.close()


class SatelliteServer:
    """Wyoming TCP server in front of one `Satellite`."""

    def __init__(self, satellite: Satellite, host: str, port: int) -> None:
        """Serve `satellite` on host:port (port 0 = any free port)."""
        self.satellite = satellite
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], Connection] = {}

    @property
    def port(self) -> int:
        """The port actually listened on."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        """Start accepting connections."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self._port, limit=MAX_HEADER_BYTES
        )
        _LOGGER.info("Wyoming satellite server on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting and close every connection."""
        if self._server is not None:
            self._server.close()
        for task, conn in list(self._connections.items()):
            conn.close()
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = conn
        _LOGGER.debug("%s connected", conn.name)
        try:
            await self._serve(conn)
        finally:
            self._connections.pop(task, None)
            conn.close()
            self.satellite.connection_lost(conn)

    async def _serve(self, conn: Connection) -> None:
        while not conn.closed:
            try:
                item = await read_event(conn.reader)
            except StreamBroken as err:
                await self._reject(conn, f"unreadable stream, closing: {err}")
                return
            except (ConnectionError, OSError):
                return
            if item is None:
                return
            if isinstance(item, BadEvent):
                await self._reject(conn, f"malformed event skipped: {item.reason}")
                continue
            try:
                await self.satellite.handle_event(conn, item)
            except (KeyError, ValueError, TypeError, AttributeError) as err:
                await self._reject(conn, f"bad {item.type} event skipped: {err!r}")
            except Exception as err:
                _LOGGER.exception("%s: failed to handle %s", conn.name, item.type)
                await self._reject(conn, f"{item.type} event failed: {err!r}")

    async def _reject(self, conn: Connection, text: str) -> None:
        self.satellite.stats["bad_events"] += 1
        _LOGGER.warning("%s: %s", conn.name, text)
        await conn.send(Error(text=text, code="bad-event").event())
