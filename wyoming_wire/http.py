"""A tiny HTTP/1.x GET server for `/metrics` and `/health`, run beside the Wyoming listeners.

It answers GET (and HEAD) on a fixed set of paths and nothing else, under limits a LAN peer
cannot stretch: the request line and headers must fit in `max_request_bytes` and arrive within
`request_timeout_s`, at most `max_connections` requests are handled at once, and every
connection is closed after one response. Anything else gets a 4xx status and is closed:

- 400 a request line that is not `METHOD TARGET HTTP/1.x`, or a request with a body;
- 404 an unknown path; 405 any method but GET/HEAD; 408 headers too slow;
- 431 headers over the size limit; 503 too many requests at once.

Routes are plain functions returning an `HttpResponse`; they run on the event loop, so they
must be quick (formatting a metrics registry is).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from .logs import LogOnce

_LOGGER = logging.getLogger(__name__)
_log_once = LogOnce(_LOGGER)

LINGER_S = 1.0
LINGER_BYTES = 128 * 1024
"""After answering, wait at most this long, and discard at most this much, for the client to
close (see `HttpServer._linger`)."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class HttpResponse:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> HttpResponse:
        """A JSON body."""
        body = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
        return cls(status, body, "application/json")

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        """A short plain-text body (errors)."""
        return cls(status, f"{text}\n".encode())


Route = Callable[[], HttpResponse]


@dataclass(frozen=True)
class HttpEndpoint:
    """Where an HTTP server listens."""

    host: str
    port: int

    def __str__(self) -> str:
        """The URI form."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_http_uri(uri: str) -> HttpEndpoint:
    """Parse `http://HOST:PORT` (port 0: any free port); ValueError with a clear message."""
    parsed = urlsplit(uri)
    try:
        port = parsed.port
    except ValueError as err:
        raise ValueError(f"bad port in {uri!r}") from err
    if parsed.scheme != "http" or not parsed.hostname or port is None:
        raise ValueError(f"{uri!r}: expected http://HOST:PORT (e.g. http://127.0.0.1:9300)")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.username:
        raise ValueError(f"{uri!r}: give only http://HOST:PORT (the paths are fixed)")
    return HttpEndpoint(parsed.hostname, port)


@dataclass
class HttpSpec:
    """One HTTP listener: where, its routes (path -> function) and its limits."""

    uri: str
    routes: Mapping[str, Route]
    name: str = "metrics"
    max_request_bytes: int = 8 * 1024
    """Request line plus headers."""
    request_timeout_s: float = 5.0
    """The whole request must arrive within this."""
    write_timeout_s: float = 5.0
    """A client that does not read its response for this long is dropped."""
    max_connections: int = 8
    """Requests handled at once; more are answered 503 and closed."""
    bound: HttpEndpoint | None = field(default=None, init=False)
    """Where it listens once started (the real port when the URI asked for port 0)."""


class _BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class HttpServer:
    """A running `HttpSpec`."""

    def __init__(self, spec: HttpSpec) -> None:
        """Nothing listens until `start()`."""
        self.spec = spec
        self.endpoint = parse_http_uri(spec.uri)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.rejected = 0

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(
            self._on_client,
            host=self.endpoint.host,
            port=self.endpoint.port,
            limit=self.spec.max_request_bytes,
        )
        port = int(self._server.sockets[0].getsockname()[1])
        self.endpoint = HttpEndpoint(self.endpoint.host, port)
        self.spec.bound = self.endpoint

    async def stop(self) -> None:
        """Stop listening and drop requests in flight."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.spec.write_timeout_s):
                    await self._server.wait_closed()

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer), name=f"{self.spec.name} http")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = False
        try:
            if len(self._tasks) > 4 * self.spec.max_connections:
                writer.transport.abort()  # a flood: not even an answer
                return
            if len(self._tasks) > self.spec.max_connections:
                response = HttpResponse.text(503, "too many requests at once")
            else:
                try:
                    async with asyncio.timeout(self.spec.request_timeout_s):
                        method, path = await self._read_request(reader)
                    head = method == "HEAD"
                    response = self._route(method, path)
                except _BadRequest as err:
                    response = HttpResponse.text(err.status, str(err))
                except TimeoutError:
                    response = HttpResponse.text(408, "request not received in time")
            self._count(writer, response.status)
            await self._respond(writer, response, head=head)
            await self._linger(reader, writer)
        except (ConnectionError, OSError, TimeoutError):
            writer.transport.abort()  # the client left or does not read: drop it
        finally:
            writer.close()

    def _count(self, writer: asyncio.StreamWriter, status: int) -> None:
        if status < 400:
            self.requests += 1
            return
        self.rejected += 1
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else "local"
        _log_once(logging.INFO, f"http {host}", "%s: %s answered %d", self.spec.name, host, status)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close our side, then let the client close (briefly).

        Closing with unread request bytes would reset the connection, and the client could
        lose the response before reading it.
        """
        if not writer.can_write_eof():
            return
        writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_S):
                left = LINGER_BYTES
                while left > 0 and (data := await reader.read(left)):
                    left -= len(data)

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as err:
            raise _BadRequest(431, "request headers too large") from err
        except asyncio.IncompleteReadError as err:
            if len(err.partial) >= self.spec.max_request_bytes:
                raise _BadRequest(431, "request headers too large") from err
            raise _BadRequest(400, "incomplete request") from err
        if len(raw) > self.spec.max_request_bytes:
            raise _BadRequest(431, "request headers too large")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as err:
            raise _BadRequest(400, "request is not ASCII") from err
        line, *headers = text.split("\r\n")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "expected 'GET /path HTTP/1.1'")
        method, target, _version = parts
        for header in headers:
            name, sep, value = header.partition(":")
            if not header:
                continue
            if not sep:
                raise _BadRequest(400, "malformed header line")
            name = name.strip().lower()
            if (name == "content-length" and value.strip() != "0") or name == "transfer-encoding":
                raise _BadRequest(400, "a request body is not accepted")
        if not method.isalpha() or not method.isupper():
            raise _BadRequest(400, "malformed method")
        path = target.split("?", 1)[0]
        return method, path

    def _route(self, method: str, path: str) -> HttpResponse:
        route = self.spec.routes.get(path)
        if route is None:
            known = ", ".join(sorted(self.spec.routes))
            return HttpResponse.text(404, f"not found; try {known}")
        if method not in ("GET", "HEAD"):
            return HttpResponse.text(405, "only GET is allowed")
        try:
            return route()
        except Exception:
            _LOGGER.exception("%s: %s failed", self.spec.name, path)
            return HttpResponse.text(500, "internal error")

    async def _respond(
        self, writer: asyncio.StreamWriter, response: HttpResponse, *, head: bool
    ) -> None:
        reason = _REASONS.get(response.status, "Error")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Cache-Control: no-store",
            "Connection: close",
        ]
        if response.status == 405:
            lines.append("Allow: GET, HEAD")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode()
        writer.write(head_bytes if head else head_bytes + response.body)
        async with asyncio.timeout(self.spec.write_timeout_s):
            await writer.drain()
