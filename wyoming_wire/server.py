"""Run Wyoming listeners until a signal: URIs, connection caps, zeroconf, clean shutdown."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import logging
from pathlib import Path
import signal
from typing import Any
from urllib.parse import urlparse

from .handler import EventObserver, SafeEventHandler, peer_address
from .http import HttpServer, HttpSpec
from .limits import MAX_HEADER_BYTES, Limits
from .logs import LogOnce
from .zeroconf import Advertiser, default_service_name

_LOGGER = logging.getLogger(__name__)
_log_once = LogOnce(_LOGGER)
_STOP_GRACE_S = 3.0
_OUT_OF_RESOURCES = "socket.accept() out of system resource"


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens: `tcp` with host/port, or `unix` with a socket path."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        """The URI form."""
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_uri(uri: str) -> Endpoint:
    """Parse `tcp://HOST:PORT` or `unix://PATH`; raise ValueError with a clear message otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        try:
            port = parsed.port
        except ValueError as err:
            raise ValueError(f"bad port in {uri!r}") from err
        if not parsed.hostname or port is None:
            raise ValueError(f"{uri!r}: a tcp URI needs a host and a port (tcp://127.0.0.1:10200)")
        return Endpoint("tcp", host=parsed.hostname, port=port)
    if parsed.scheme == "unix":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path:
            raise ValueError(f"{uri!r}: a unix URI needs a socket path (unix:///run/piper.sock)")
        return Endpoint("unix", path=path)
    raise ValueError(f"{uri!r}: only tcp://HOST:PORT and unix://PATH are supported")


HandlerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Limits], SafeEventHandler]


@dataclass
class ConnectionStats:
    """What a listener has admitted and refused (read by metrics and health reports)."""

    listening: bool = False
    endpoint: str = ""
    open: int = 0
    accepted: int = 0
    refused: int = 0
    """Closed at once: over the connection caps."""
    evicted: int = 0
    """Silent connections closed to make room for a new one."""


@dataclass
class ServerSpec:
    """One listener: where, a handler per connection, its limits, optional zeroconf name."""

    uri: str
    handler_factory: HandlerFactory
    name: str = "wyoming"
    limits: Limits = field(default_factory=Limits)
    zeroconf: str | None = None
    """None: no advertisement; "": advertise under a default name; else that name."""
    zeroconf_properties: dict[str, str] = field(default_factory=dict)
    on_stop: Callable[[], None] | None = None
    """Called after the listener stopped (e.g. to shut down an executor)."""
    observer_factory: Callable[[], EventObserver] | None = None
    """Makes an observer for each admitted connection (metrics)."""
    stats: ConnectionStats = field(default_factory=ConnectionStats)
    """Kept up to date while the listener runs."""


def _unlink(path: str) -> None:
    """Remove a stale unix socket file (a cheap local call)."""
    Path(path).unlink(missing_ok=True)


class _Listener:
    """One running listener and the connections it admitted."""

    def __init__(self, spec: ServerSpec, endpoint: Endpoint) -> None:
        self.spec = spec
        self.endpoint = endpoint
        self.server: asyncio.AbstractServer | None = None
        self.handlers: dict[asyncio.Task[None], SafeEventHandler] = {}
        self.per_host: Counter[str] = Counter()

    def _admit(self, host: str) -> str | None:
        """Why a new connection from `host` is refused, or None to accept it.

        When the listener is full, the oldest connection that has not sent a single event
        makes room: connections that did talk (Home Assistant driving a satellite) cannot be
        pushed out by a flood of silent ones from other addresses.
        """
        limits = self.spec.limits
        if self.per_host[host] >= limits.max_connections_per_peer:
            return f"{limits.max_connections_per_peer} connections already open from {host}"
        open_now = [h for h in self.handlers.values() if h.connected]
        if len(open_now) >= limits.max_connections:
            silent = next((h for h in open_now if h.events == 0), None)
            if silent is None:
                return f"{limits.max_connections} connections already open"
            _log_once(
                logging.WARNING, f"{self.spec.name} evict", "%s: full, closing silent %s",
                self.spec.name, silent.client,
            )  # fmt: skip
            silent.close()
            self.spec.stats.evicted += 1
        return None

    def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, client = peer_address(writer)
        stats = self.spec.stats
        if (why := self._admit(host)) is not None:
            stats.refused += 1
            _log_once(
                logging.WARNING, f"{self.spec.name} {host}", "%s: refused %s: %s",
                self.spec.name, client, why,
            )  # fmt: skip
            writer.transport.abort()
            return
        handler = self.spec.handler_factory(reader, writer, self.spec.limits)
        if self.spec.observer_factory is not None:
            handler.observer = self.spec.observer_factory()
        task = asyncio.create_task(handler.run(), name=f"{self.spec.name} {client}")
        self.handlers[task] = handler
        self.per_host[host] += 1
        stats.accepted += 1
        stats.open += 1

        def done(finished: asyncio.Task[None]) -> None:
            self.handlers.pop(finished, None)
            stats.open -= 1
            self.per_host[host] -= 1
            if self.per_host[host] <= 0:
                del self.per_host[host]

        task.add_done_callback(done)

    async def start(self) -> None:
        ep = self.endpoint
        if ep.scheme == "unix":
            _unlink(ep.path)
            self.server = await asyncio.start_unix_server(
                self.on_client, path=ep.path, limit=MAX_HEADER_BYTES
            )
        else:
            self.server = await asyncio.start_server(
                self.on_client, host=ep.host, port=ep.port, limit=MAX_HEADER_BYTES
            )
            sock = self.server.sockets[0].getsockname()
            self.endpoint = Endpoint("tcp", host=ep.host, port=int(sock[1]))
        self.spec.stats.listening = True
        self.spec.stats.endpoint = str(self.endpoint)

    async def stop(self) -> None:
        self.spec.stats.listening = False
        if self.server is not None:
            self.server.close()
        await asyncio.gather(*(h.stop() for h in self.handlers.values()), return_exceptions=True)
        tasks = list(self.handlers)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_GRACE_S):
                    await self.server.wait_closed()
        if self.endpoint.scheme == "unix":
            _unlink(self.endpoint.path)
        if self.spec.on_stop is not None:
            self.spec.on_stop()


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Out of file descriptors, asyncio logs a traceback per accept retry: log it once a minute."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith(_OUT_OF_RESOURCES):
            _log_once(
                logging.ERROR, "accept", "Cannot accept connections: %s (%s)",
                _OUT_OF_RESOURCES, context.get("exception"),
            )  # fmt: skip
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def _advertise(advertiser: Advertiser, listener: _Listener) -> None:
    spec = listener.spec
    if listener.endpoint.scheme != "tcp":
        _LOGGER.warning("Zeroconf needs a tcp:// URI; not advertising %s", listener.endpoint)
        return
    name = spec.zeroconf or default_service_name(spec.name)
    try:
        await advertiser.add(
            name, listener.endpoint.host, listener.endpoint.port, spec.zeroconf_properties
        )
    except Exception as err:  # noqa: BLE001 - serving matters more than discovery
        _LOGGER.warning("Zeroconf advertisement of %s failed (%s): add it by hand", name, err)


async def serve(
    specs: Sequence[ServerSpec],
    stop: asyncio.Event | None = None,
    on_ready: Callable[[list[Endpoint]], None] | None = None,
    http: Sequence[HttpSpec] = (),
) -> None:
    """Run the listeners until SIGTERM/SIGINT (or `stop` is set), then shut everything down.

    `on_ready` gets the bound endpoints (with the real port when the URI asked for port 0).
    `http`: HTTP listeners (metrics and health) started after the Wyoming ones, each logged
    as `NAME ready on http://HOST:PORT`, and stopped first.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    _quiet_accept_errors(loop)
    listeners = [_Listener(spec, parse_uri(spec.uri)) for spec in specs]
    http_servers = [HttpServer(spec) for spec in http]
    advertiser: Advertiser | None = None
    try:
        for listener in listeners:
            await listener.start()
            _LOGGER.info(
                "%s ready on %s",
                listener.spec.name,
                listener.endpoint,
                extra={"server": listener.spec.name, "uri": str(listener.endpoint)},
            )
            if listener.spec.zeroconf is not None:
                advertiser = advertiser or Advertiser()
                await _advertise(advertiser, listener)
        for server in http_servers:
            await server.start()
            _LOGGER.info(
                "%s ready on %s",
                server.spec.name,
                server.endpoint,
                extra={"server": server.spec.name, "uri": str(server.endpoint)},
            )
        if on_ready is not None:
            on_ready([listener.endpoint for listener in listeners])
        await stop.wait()
        _LOGGER.info("Stopping")
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        for server in http_servers:
            await server.stop()
        if advertiser is not None:
            await advertiser.close()
        for listener in listeners:
            await listener.stop()
        _LOGGER.info("Stopped")
