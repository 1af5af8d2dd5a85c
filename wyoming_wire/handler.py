"""One Wyoming connection: a guarded read loop, serialised writes, background tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
from dataclasses import replace
import logging
import socket
from typing import Any, Protocol

from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.server import AsyncEventHandler

from .limits import Limits
from .logs import LogOnce
from .reader import BadEvent, StreamBroken, read_event

_LOGGER = logging.getLogger(__name__)
bad_input_log = LogOnce(_LOGGER)
"""Bad input is logged once a minute per peer address: a peer cannot flood the log."""
# A peer whose host vanished is noticed after about KEEPIDLE + KEEPINTVL * KEEPCNT seconds.
_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))


class RequestError(Exception):
    """A well-formed event a handler refuses (wrong order, bad field); the peer gets `error`."""

    def __init__(self, text: str, code: str = "bad-request") -> None:
        """Describe the problem with a message and a machine-readable code."""
        super().__init__(text)
        self.code = code


def peer_address(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """(host, "host:port") of a connection's peer; ("local", "local") for unix sockets."""
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), f"{peer[0]}:{peer[1]}"
    return "local", "local"


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE:
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


READ_LOOP_ERROR_CODES = frozenset({"bad-header", "bad-data", "timeout", "idle-timeout"})
"""Codes of the `error` events the read loop sends itself (malformed or late events, an idle
connection): they answer no request of the handler's."""


class EventObserver(Protocol):
    """Sees one connection's events go by (metrics); it must be quick and never block.

    `received(e)`, then anything the handler sends while handling `e`, then `handled(e)`;
    events sent outside that span come from the connection's background work or its read
    loop (`READ_LOOP_ERROR_CODES`).
    """

    def received(self, event: Event) -> None:
        """A valid event arrived (before the handler sees it)."""

    def handled(self, event: Event) -> None:
        """The handler is done with `event` (it may have raised: its `error` was sent)."""

    def sent(self, event: Event) -> None:
        """An event was written to the peer."""

    def closed(self) -> None:
        """The connection ended."""


class SafeEventHandler(AsyncEventHandler):
    """A connection's handler that survives bad and hostile peers.

    Subclasses implement `handle_event`; raising `RequestError` (or any exception) there sends an
    `error` event and keeps the connection; returning False closes it. `spawn()` runs work that
    must go on while more events arrive; it is cancelled when the peer leaves, so a departed
    peer's work is dropped. `disconnect()` is called once the connection has ended.

    Idle clock: a connection that sends no event for `limits.idle_timeout_s` gets `error`
    (`idle-timeout`) and is closed, except while `busy()` (by default: while spawned work runs,
    so a peer waiting for a long answer is not cut off). `set_idle_timeout` changes the limit
    of one connection; `touch_idle` restarts the clock after a change of `busy()`.

    `observer` (set by the listener, see `ServerSpec.observer_factory`) is told of every event
    received and sent; a failing observer is logged and never disturbs the connection.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits | None = None,
    ) -> None:
        """Wrap one accepted connection."""
        super().__init__(reader, writer)
        self.limits = limits or Limits()
        self.host, self.client = peer_address(writer)
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gone = False
        self._closing = False
        self._bad_events = 0
        self.events = 0
        """Valid events received: a connection that sent none yet may be evicted when full."""
        self._idle_timer: asyncio.TimerHandle | None = None
        self.observer: EventObserver | None = None
        _keepalive(writer)

    @property
    def connected(self) -> bool:
        """False once the peer went away or the connection is closing."""
        return not (self._gone or self._closing)

    async def write_event(self, event: Event) -> None:
        """Send an event; writes from several tasks never interleave.

        Raises ConnectionError if the peer is gone or does not read within the write timeout
        (then the connection is closed, so nothing queues up behind a stalled peer).
        """
        if self._gone:
            raise ConnectionResetError("peer is gone")
        async with self._write_lock:
            try:
                async with asyncio.timeout(self.limits.write_timeout_s):
                    await async_write_event(event, self.writer)
            except (ConnectionError, RuntimeError, OSError, TimeoutError) as err:
                self._gone = True
                self.writer.transport.abort()
                raise ConnectionResetError(str(err) or "write timed out") from err
        if self.observer is not None:
            self._observe(self.observer.sent, event)

    def _observe(self, call: Callable[..., None], *args: Event) -> None:
        """Tell the observer, which must never break the connection (logged once a minute)."""
        try:
            call(*args)
        except Exception as err:  # noqa: BLE001 - metrics must not cost a client its answer
            bad_input_log(logging.ERROR, "observer", "Event observer failed: %r", err, exc_info=err)

    async def send_error(self, text: str, code: str) -> None:
        """Send an `error` event if the peer is still there."""
        with contextlib.suppress(ConnectionError):
            await self.write_event(Error(text=text, code=code).event())

    def spawn(
        self, coro: Coroutine[Any, Any, None], name: str = "handler task"
    ) -> asyncio.Task[None]:
        """Run `coro` in the background for this peer; errors become `error` events."""
        task = asyncio.create_task(self._guard(coro), name=f"{name} {self.client}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        self.touch_idle()
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.touch_idle()

    def busy(self) -> bool:
        """Whether the connection is waiting on its own work (the idle clock is paused)."""
        return bool(self._tasks)

    def set_idle_timeout(self, seconds: float | None) -> None:
        """This connection's idle limit from now on (None: never idle out)."""
        if seconds != self.limits.idle_timeout_s:
            self.limits = replace(self.limits, idle_timeout_s=seconds)
            self.touch_idle()

    def touch_idle(self) -> None:
        """Restart the idle clock (or stop it while busy or without a limit)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        idle = self.limits.idle_timeout_s
        if idle is None or not self.connected or self.busy():
            return
        self._idle_timer = asyncio.get_running_loop().call_later(idle, self._idle_expired)

    def _stop_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self.connected and not self.busy():
            self.spawn(self._close_idle(), "idle close")

    async def _close_idle(self) -> None:
        _LOGGER.debug("Client %s idle, closing", self.client)
        idle = self.limits.idle_timeout_s or 0.0
        await self.send_error(f"no event for {idle:g} s, closing", "idle-timeout")
        self.close()

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            self._note_gone()
        except Exception as err:  # noqa: BLE001 - report any failure to the peer, keep serving
            await self.report(err)

    async def report(self, err: Exception) -> None:
        """Log a failed event and answer it with `error`."""
        code = getattr(err, "code", None) or "internal-error"
        text = str(err) or type(err).__name__
        if isinstance(err, (KeyError, TypeError, ValueError)) and not isinstance(err, RequestError):
            # wyoming's `from_event` on an event that lacks or mistypes a field
            code, text = "bad-request", f"malformed event: {type(err).__name__} {err}"
        trace = None if isinstance(err, (RequestError, KeyError, TypeError, ValueError)) else err
        bad_input_log(
            logging.WARNING, f"{code} {self.host}", "Client %s: %s", self.client, text,
            exc_info=trace,
        )  # fmt: skip
        await self.send_error(text, str(code))

    def _note_gone(self) -> None:
        if not self._gone:
            self._gone = True
            _LOGGER.info("Client %s went away", self.client, extra={"client": self.client})

    async def _read(self) -> Event | None:
        """The next event; None when the connection must end."""
        while True:
            try:
                return await read_event(self.reader, self.limits, self._stop_idle)
            except BadEvent as err:
                self._bad_events += 1
                if self._bad_events > self.limits.max_bad_events:
                    limit = self.limits.max_bad_events
                    await self._broken(
                        StreamBroken(f"more than {limit} malformed events", err.code)
                    )
                    return None
                bad_input_log(
                    logging.WARNING, f"malformed {self.host}",
                    "Client %s sent a malformed event, skipped: %s", self.client, err,
                )  # fmt: skip
                await self.send_error(str(err), err.code)
                self.touch_idle()
            except StreamBroken as err:
                await self._broken(err)
                return None
            except (ConnectionError, OSError):
                self._note_gone()
                return None

    async def _broken(self, err: StreamBroken) -> None:
        bad_input_log(
            logging.WARNING, f"broken {self.host}",
            "Client %s sent an invalid event, closing: %s", self.client, err,
        )  # fmt: skip
        await self.send_error(str(err), err.code)

    async def run(self) -> None:
        """Read events until the peer leaves, breaks the stream, or `handle_event` says stop."""
        self._is_running = True
        _LOGGER.debug("Client %s connected", self.client)
        self.touch_idle()
        try:
            while self._is_running and not self._gone:
                event = await self._read()
                if event is None:
                    break
                self.events += 1
                if self.observer is not None:
                    self._observe(self.observer.received, event)
                try:
                    keep = await self.handle_event(event)
                except ConnectionError:
                    self._note_gone()
                    keep = False
                except Exception as err:  # noqa: BLE001 - one bad event must not kill the server
                    await self.report(err)
                    keep = True
                if self.observer is not None:
                    self._observe(self.observer.handled, event)
                if not keep:
                    break
                self.touch_idle()
        finally:
            self._closing = True
            self._stop_idle()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.disconnect()
            if self.observer is not None:
                self._observe(self.observer.closed)
            self.writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.limits.write_timeout_s):
                    await self.writer.wait_closed()
            _LOGGER.debug("Client %s disconnected", self.client)

    async def stop(self) -> None:
        """Ask the read loop to end (server shutdown)."""
        self._is_running = False
        self._closing = True
        self.reader.feed_eof()

    def close(self) -> None:
        """Close the connection now (the read loop ends)."""
        self._closing = True
        self._is_running = False
        self.writer.close()  # the transport's connection_lost ends the read loop
