"""Shared plumbing for the Jarvis Wyoming servers.

Public API:

- `add_server_args(parser, default_uri)`: the common CLI flags `--uri tcp://HOST:PORT|unix://PATH`,
  `--zeroconf [NAME]`, `--debug`, `--log-format text|json`, `--max-payload BYTES`.
- `setup_logging(debug, log_format)`: plain or structured (one JSON object a line) logs on stderr.
- `limit_malloc_arenas()`: call first thing in a server's main to keep resident memory down.
- `parse_uri(uri)`: validates a server URI into an `Endpoint` (rejects anything but tcp/unix).
- `SafeEventHandler`: base class for a connection's handler. Subclasses implement
  `handle_event(event) -> bool`. Its reader enforces header/data/payload size limits and turns
  garbage bytes, bad headers, oversized payloads and half-sent events into one logged warning and an
  `error` event, then closes that connection; an exception raised by `handle_event` becomes an
  `error` event and the connection stays open. A vanished client is logged once and cleaned up.
  `write_event` is serialised (safe from background tasks) and `spawn()` runs a background task that
  is cancelled when the client goes away.
- `ServerSpec` + `serve(specs)`: run one or more servers in one event loop (zeroconf advertisement
  of `_wyoming._tcp.local.` included) until SIGTERM/SIGINT, then close listeners, stop handlers and
  withdraw the advertisement. `run_servers(specs)` wraps it in `asyncio.run`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
import contextlib
from dataclasses import dataclass
import json
import logging
from pathlib import Path
import signal
import socket
import sys
import time
from typing import Any
from urllib.parse import urlparse
import uuid

from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.server import AsyncEventHandler

_LOGGER = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
"""Longest JSON header line accepted."""
MAX_DATA_BYTES = 1024 * 1024
"""Largest `data_length` accepted."""
DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024
"""Largest binary payload accepted by default (a 4 MiB audio chunk is ~2 min of 16 kHz audio)."""
BODY_TIMEOUT_S = 10.0
"""Once a header arrived, its data and payload must follow within this time."""
_STOP_GRACE_S = 3.0
WYOMING_SERVICE = "_wyoming._tcp.local."


class ProtocolError(Exception):
    """The byte stream from a client is not a valid Wyoming event; the connection is closed."""

    def __init__(self, text: str, code: str) -> None:
        """Describe the problem with a message and a machine-readable code."""
        super().__init__(text)
        self.code = code


class RequestError(Exception):
    """A well-formed event a handler refuses (wrong order, bad field); the client gets `error`."""

    def __init__(self, text: str, code: str = "bad-request") -> None:
        """Describe the problem with a message and a machine-readable code."""
        super().__init__(text)
        self.code = code


# --- URIs ---------------------------------------------------------------------------------------


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


# --- CLI and logging ------------------------------------------------------------------------------


def add_server_args(parser: argparse.ArgumentParser, default_uri: str | None) -> None:
    """Add the flags every Jarvis Wyoming server takes (`--uri` only if `default_uri` is set)."""
    if default_uri is not None:
        parser.add_argument(
            "--uri",
            default=default_uri,
            help=f"where to listen: tcp://HOST:PORT or unix://PATH (default {default_uri}; "
            "use tcp://0.0.0.0:PORT to serve the LAN)",
        )
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const="",
        default=None,
        metavar="NAME",
        help="advertise the server as _wyoming._tcp.local. (optional service NAME)",
    )
    parser.add_argument(
        "--max-payload",
        type=int,
        default=DEFAULT_MAX_PAYLOAD,
        metavar="BYTES",
        help=f"largest event payload accepted (default {DEFAULT_MAX_PAYLOAD})",
    )
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text, or json (one object a line, for log collectors)",
    )


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any `extra=` fields."""

    _STANDARD = frozenset(
        logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
    )

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 4 * 1024 * 1024) -> None:
    """Keep glibc from holding on to memory the models freed (no-op off glibc).

    Caps the per-thread malloc arenas (inference threads otherwise each keep a heap) and fixes
    the mmap threshold, so large tensors are mapped and given back when freed instead of staying
    in the heap. Together they cut the peak resident memory of both servers by about 80 MB.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_arena_max, m_mmap_threshold = -8, -3
        libc.mallopt(m_arena_max, arenas)
        libc.mallopt(m_mmap_threshold, mmap_threshold)


def setup_logging(debug: bool = False, log_format: str = "text") -> None:
    """Configure the root logger on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)


# --- Reading events safely --------------------------------------------------------------------------


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{key} must be a non-negative integer, got {value!r}", "bad-header")
    if value > limit:
        raise ProtocolError(f"{key} {value} exceeds the limit of {limit} bytes", "too-large")
    return value


async def read_event_safe(
    reader: asyncio.StreamReader,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    body_timeout: float = BODY_TIMEOUT_S,
) -> Event | None:
    """Read one Wyoming event with limits; None at a clean end of stream.

    Raises ProtocolError for anything that is not a valid event (the stream cannot be trusted after
    that), ConnectionError if the client vanished in the middle of an event.
    """
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise ConnectionError("client closed the connection in the middle of a header") from err
    except asyncio.LimitOverrunError as err:
        raise ProtocolError(
            f"event header longer than {MAX_HEADER_BYTES} bytes", "bad-header"
        ) from err
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"event header is not JSON: {line[:40]!r}", "bad-header") from err
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("event header must be a JSON object with a 'type'", "bad-header")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError("event 'data' must be a JSON object", "bad-header")
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", max_payload)
    payload: bytes | None = None
    try:
        async with asyncio.timeout(body_timeout):
            if data_length:
                raw = await reader.readexactly(data_length)
                try:
                    extra = json.loads(raw)
                except (UnicodeDecodeError, ValueError) as err:
                    raise ProtocolError(
                        "event data is not JSON (wrong data_length?)", "bad-data"
                    ) from err
                if not isinstance(extra, dict):
                    raise ProtocolError("event data must be a JSON object", "bad-data")
                data.update(extra)
            if payload_length:
                payload = await reader.readexactly(payload_length)
    except TimeoutError as err:
        raise ProtocolError(
            f"event body did not arrive within {body_timeout:g} s (wrong payload_length?)",
            "timeout",
        ) from err
    except asyncio.IncompleteReadError as err:
        raise ConnectionError("client closed the connection in the middle of an event") from err
    return Event(type=header["type"], data=data, payload=payload)


# --- Handler -------------------------------------------------------------------------------------


class SafeEventHandler(AsyncEventHandler):
    """A connection's handler that survives bad clients.

    Subclasses implement `handle_event`; raising `RequestError` (or any exception) there sends an
    `error` event and keeps the connection; returning False closes it. Use `spawn()` for work that
    must run while more events arrive (e.g. streaming synthesis); its failures are reported the same
    way and it is cancelled when the client leaves.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        body_timeout: float = BODY_TIMEOUT_S,
    ) -> None:
        """Wrap one client connection."""
        super().__init__(reader, writer)
        self.max_payload = max_payload
        self.body_timeout = body_timeout
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix-client"
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gone = False
        self._closing = False

    @property
    def connected(self) -> bool:
        """False once the client went away or the connection is closing."""
        return not (self._gone or self._closing)

    async def write_event(self, event: Event) -> None:
        """Send an event; writes from several tasks never interleave.

        Raises ConnectionError if the client is gone.
        """
        if self._gone:
            raise ConnectionResetError("client is gone")
        async with self._write_lock:
            try:
                await async_write_event(event, self.writer)
            except (ConnectionError, RuntimeError) as err:
                self._gone = True
                raise ConnectionResetError(str(err)) from err

    async def send_error(self, text: str, code: str) -> None:
        """Send a wyoming `error` event if the client is still there."""
        with contextlib.suppress(ConnectionError):
            await self.write_event(Error(text=text, code=code).event())

    def spawn(
        self, coro: Coroutine[Any, Any, None], name: str = "handler task"
    ) -> asyncio.Task[None]:
        """Run `coro` in the background for this client; errors become `error` events."""
        task = asyncio.create_task(self._guard(coro), name=f"{name} {self.client}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            self._note_gone()
        except Exception as err:  # noqa: BLE001 - report any failure to the client, keep serving
            await self._report(err)

    async def _report(self, err: Exception) -> None:
        code = getattr(err, "code", None) or "internal-error"
        text = str(err) or type(err).__name__
        if isinstance(err, (KeyError, TypeError)) and not isinstance(err, RequestError):
            # wyoming's `from_event` on an event that lacks or mistypes a field
            code, text = "bad-request", f"malformed event: {type(err).__name__} {err}"
        if not isinstance(err, RequestError):
            _LOGGER.debug("Traceback for %s", self.client, exc_info=err)
        _LOGGER.warning(
            "Client %s: %s", self.client, text, extra={"client": self.client, "code": code}
        )
        await self.send_error(text, str(code))

    def _note_gone(self) -> None:
        if not self._gone:
            self._gone = True
            _LOGGER.info("Client %s went away", self.client, extra={"client": self.client})

    async def run(self) -> None:
        """Read events until the client leaves, sends garbage, or `handle_event` returns False."""
        self._is_running = True
        _LOGGER.debug("Client %s connected", self.client)
        try:
            while self._is_running and not self._gone:
                try:
                    event = await read_event_safe(self.reader, self.max_payload, self.body_timeout)
                except ProtocolError as err:
                    _LOGGER.warning(
                        "Client %s sent an invalid event, closing: %s",
                        self.client,
                        err,
                        extra={"client": self.client, "code": err.code},
                    )
                    await self.send_error(str(err), err.code)
                    break
                except ConnectionError:
                    self._note_gone()
                    break
                if event is None:
                    break
                try:
                    if not await self.handle_event(event):
                        break
                except ConnectionError:
                    self._note_gone()
                    break
                except Exception as err:  # noqa: BLE001 - one bad event must not kill the server
                    await self._report(err)
        finally:
            self._closing = True
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.disconnect()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            _LOGGER.debug("Client %s disconnected", self.client)

    async def stop(self) -> None:
        """Ask the read loop to end (server shutdown)."""
        self._is_running = False
        self._closing = True
        self.reader.feed_eof()


HandlerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], SafeEventHandler]


# --- Serving ---------------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    """One server to run: where, which handler for each client, optional zeroconf name."""

    uri: str
    handler_factory: HandlerFactory
    name: str = "wyoming"
    zeroconf: str | None = None
    """None: no advertisement; "" : advertise under a default name; else that name."""
    on_stop: Callable[[], None] | None = None
    """Called after the server stopped (e.g. to shut down an executor)."""


def _unlink(path: str) -> None:
    """Remove a stale unix socket file (a cheap local call)."""
    Path(path).unlink(missing_ok=True)


class _RunningServer:
    def __init__(self, spec: ServerSpec, endpoint: Endpoint) -> None:
        self.spec = spec
        self.endpoint = endpoint
        self.server: asyncio.AbstractServer | None = None
        self.handlers: dict[asyncio.Task[None], SafeEventHandler] = {}

    def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = self.spec.handler_factory(reader, writer)
        task = asyncio.create_task(handler.run(), name=f"{self.spec.name} {handler.client}")
        self.handlers[task] = handler
        task.add_done_callback(lambda done: self.handlers.pop(done, None))

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

    async def stop(self) -> None:
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


def _advertised_ip(host: str) -> str:
    """The IPv4 address to advertise for a server bound to `host`."""
    if host not in ("", "0.0.0.0", "::", "localhost"):
        with contextlib.suppress(OSError):
            return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("224.0.0.251", 5353))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def default_service_name(kind: str) -> str:
    """`jarvis-<kind>-<host>`: unique per machine, readable in HA's discovery list."""
    host = socket.gethostname().split(".")[0] or f"{uuid.getnode():012x}"
    return f"jarvis-{kind}-{host}"


class _Advertiser:
    """Zeroconf (mDNS) advertisement of TCP servers as `_wyoming._tcp.local.`."""

    def __init__(self) -> None:
        from zeroconf.asyncio import AsyncZeroconf

        self._zc = AsyncZeroconf()
        self._infos: list[Any] = []

    async def add(self, name: str, endpoint: Endpoint) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        ip = _advertised_ip(endpoint.host)
        if ip.startswith("127."):
            _LOGGER.warning(
                "Advertising %s on loopback %s: other machines cannot reach it "
                "(listen on tcp://0.0.0.0:PORT to serve the LAN)",
                name,
                ip,
            )
        info = AsyncServiceInfo(
            WYOMING_SERVICE,
            f"{name}.{WYOMING_SERVICE}",
            addresses=[socket.inet_aton(ip)],
            port=endpoint.port,
            server=f"{socket.gethostname().split('.')[0]}.local.",
        )
        await self._zc.async_register_service(info, allow_name_change=True)
        self._infos.append(info)
        _LOGGER.info("Advertising %s on %s:%s via zeroconf", name, ip, endpoint.port)

    async def close(self) -> None:
        for info in self._infos:
            with contextlib.suppress(Exception):
                await self._zc.async_unregister_service(info)
        await self._zc.async_close()


async def serve(
    specs: Sequence[ServerSpec],
    stop: asyncio.Event | None = None,
    on_ready: Callable[[list[Endpoint]], None] | None = None,
) -> None:
    """Run the servers until SIGTERM/SIGINT (or `stop` is set), then shut everything down.

    `on_ready` gets the bound endpoints (with the real port when the URI asked for port 0).
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    running = [_RunningServer(spec, parse_uri(spec.uri)) for spec in specs]
    advertiser: _Advertiser | None = None
    started = time.monotonic()
    try:
        for server in running:
            await server.start()
            _LOGGER.info(
                "%s ready on %s",
                server.spec.name,
                server.endpoint,
                extra={"server": server.spec.name, "uri": str(server.endpoint)},
            )
            if server.spec.zeroconf is not None:
                if server.endpoint.scheme != "tcp":
                    _LOGGER.warning(
                        "Zeroconf needs a tcp:// URI; not advertising %s", server.endpoint
                    )
                    continue
                try:
                    if advertiser is None:
                        advertiser = _Advertiser()
                    name = server.spec.zeroconf or default_service_name(server.spec.name)
                    await advertiser.add(name, server.endpoint)
                except Exception as err:  # noqa: BLE001 - serving matters more than discovery
                    _LOGGER.warning("Zeroconf advertisement failed: %s", err)
        _LOGGER.debug("All servers up in %.3f s", time.monotonic() - started)
        if on_ready is not None:
            on_ready([server.endpoint for server in running])
        await stop.wait()
        _LOGGER.info("Stopping")
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        if advertiser is not None:
            await advertiser.close()
        for server in running:
            await server.stop()
        _LOGGER.info("Stopped")


def run_servers(specs: Sequence[ServerSpec]) -> int:
    """Blocking entry point for console scripts; returns the process exit code."""
    try:
        asyncio.run(serve(specs))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        _LOGGER.error("Cannot serve: %s", err)
        return 1
    return 0
