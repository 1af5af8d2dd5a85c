"""The wire library's HTTP side (/metrics, /health) and connection stats, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import json

from prometheus_client.parser import text_string_to_metric_families
import pytest
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.ping import Ping, Pong

from wyoming_wire import Limits, SafeEventHandler, ServerSpec, serve
from wyoming_wire.http import HttpEndpoint, HttpResponse, HttpSpec, parse_http_uri
from wyoming_wire.metrics import ConnectionCollector, metrics_http, new_registry


class PingHandler(SafeEventHandler):
    async def handle_event(self, event: Event) -> bool:
        if Ping.is_type(event.type):
            await self.write_event(Pong(text=event.data.get("text")).event())
        return True


@dataclass
class Recorder:
    """An event observer that writes down what it sees (or fails, when asked to)."""

    seen: list[str] = field(default_factory=list)
    fail: bool = False

    def received(self, event: Event) -> None:
        self.seen.append(f"in {event.type}")
        if self.fail:
            raise RuntimeError("observer bug")

    def handled(self, event: Event) -> None:
        self.seen.append(f"handled {event.type}")

    def sent(self, event: Event) -> None:
        self.seen.append(f"out {event.type}")
        if self.fail:
            raise RuntimeError("observer bug")

    def closed(self) -> None:
        self.seen.append("closed")


@dataclass
class Running:
    wyoming: tuple[str, int]
    http: HttpEndpoint
    http_spec: HttpSpec
    spec: ServerSpec
    observers: list[Recorder]


@contextlib.asynccontextmanager
async def running(*, fail: bool = False, **http_options: float) -> AsyncIterator[Running]:
    observers: list[Recorder] = []

    def observer() -> Recorder:
        observers.append(Recorder(fail=fail))
        return observers[-1]

    spec = ServerSpec(
        "tcp://127.0.0.1:0",
        PingHandler,
        name="pinger",
        limits=Limits(max_connections=2, max_connections_per_peer=2),
        observer_factory=observer,
    )
    registry = new_registry()
    registry.register(ConnectionCollector([spec]))
    http = metrics_http("http://127.0.0.1:0", registry, lambda: {"status": "ok", "n": 1})
    for key, value in http_options.items():
        setattr(http, key, value)
    stop = asyncio.Event()
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve([spec], stop=stop, on_ready=lambda _eps: ready.set_result(None), http=[http])
    )
    try:
        await asyncio.wait_for(ready, 5)
        assert http.bound is not None
        port = int(spec.stats.endpoint.rsplit(":", 1)[1])
        yield Running(("127.0.0.1", port), http.bound, http, spec, observers)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def request(
    ep: HttpEndpoint, raw: bytes, *, close: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole response: (status, headers, body)."""
    reader, writer = await asyncio.open_connection(ep.host, ep.port)
    try:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if not raw.startswith(b"HEAD "):
        assert int(headers["content-length"]) == len(body)
    return int(status_line.split()[1]), headers, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n".encode()


async def ping(port: tuple[str, int]) -> str | None:
    reader, writer = await asyncio.open_connection(*port)
    try:
        await async_write_event(Ping(text="hi").event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None
        return Pong.from_event(event).text
    finally:
        writer.close()
        await writer.wait_closed()


def test_parse_http_uri() -> None:
    assert parse_http_uri("http://127.0.0.1:9300") == HttpEndpoint("127.0.0.1", 9300)
    assert str(parse_http_uri("http://[::1]:0")) == "http://[::1]:0"
    for bad in (
        "tcp://127.0.0.1:1",
        "http://127.0.0.1",
        "http://h:1/metrics",
        "http://h:x",
        "9300",
    ):
        with pytest.raises(ValueError):
            parse_http_uri(bad)


async def test_metrics_and_health_served_and_connections_counted() -> None:
    async with running() as run:
        assert await ping(run.wyoming) == "hi"
        status, headers, body = await request(run.http, get("/metrics"))
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        samples = {
            (s.name, s.labels.get("server")): s.value for f in families.values() for s in f.samples
        }
        assert samples[("jarvis_connections_accepted_total", "pinger")] == 1
        assert samples[("jarvis_connections_open", "pinger")] == 0
        assert samples[("jarvis_connections_refused_total", "pinger")] == 0
        assert samples[("process_resident_memory_bytes", None)] > 10e6
        assert not any(name.endswith("_created") for name, _ in samples)

        status, headers, body = await request(run.http, get("/health?verbose=1"))
        assert status == 200 and headers["content-type"] == "application/json"
        report = json.loads(body)
        assert report["status"] == "ok" and report["n"] == 1 and report["uptime_s"] >= 0

        status, _, body = await request(run.http, b"HEAD /metrics HTTP/1.0\r\n\r\n")
        assert status == 200 and body == b""
        # The observer saw the connection's events go by, then its end.
        assert run.observers[0].seen == ["in ping", "out pong", "handled ping", "closed"]


async def test_refused_connections_counted() -> None:
    async with running() as run:
        held = [await asyncio.open_connection(*run.wyoming) for _ in range(2)]
        for _, writer in held:  # talking connections cannot be evicted
            await async_write_event(Ping().event(), writer)
        for reader, _ in held:
            await asyncio.wait_for(async_read_event(reader), 5)
        reader, writer = await asyncio.open_connection(*run.wyoming)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # refused: over the cap
        writer.close()
        assert run.spec.stats.open == 2 and run.spec.stats.refused == 1
        _, _, body = await request(run.http, get("/metrics"))
        assert 'jarvis_connections_refused_total{server="pinger"} 1.0' in body.decode()
        for _, w in held:
            w.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"DELETE /health HTTP/1.1\r\n\r\n", 405),
        (get("/secret"), 404),
        (get("/metrics/x"), 404),
        (b"GET /metrics\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"hello\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\n", 400),  # ends before the headers do
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    ],
)
async def test_bad_requests_get_4xx_and_the_server_goes_on(raw: bytes, status: int) -> None:
    async with running() as run:
        got, _, body = await request(run.http, raw)
        assert got == status, body
        assert (await request(run.http, get("/metrics")))[0] == 200
        assert await ping(run.wyoming) == "hi"


async def test_slow_and_too_many_requests() -> None:
    async with running(request_timeout_s=0.3, max_connections=2) as run:
        # A client that never finishes its headers gets 408 after the timeout.
        status, _, _ = await request(run.http, b"GET /metrics HTTP/1.1\r\n", close=False)
        assert status == 408
        # Two stalled clients take every slot: the third is answered 503 at once.
        stalled = [await asyncio.open_connection(run.http.host, run.http.port) for _ in range(2)]
        for _, writer in stalled:
            writer.write(b"GET /met")
        await asyncio.sleep(0.05)
        status, _, _ = await request(run.http, get("/metrics"))
        assert status == 503
        for reader, writer in stalled:
            assert b" 408 " in await asyncio.wait_for(reader.read(), 5)
            writer.close()
        assert (await request(run.http, get("/health")))[0] == 200


async def test_failing_route_is_500_and_failing_observer_harmless() -> None:
    async with running(fail=True) as run:
        assert await ping(run.wyoming) == "hi"  # the observer raised on both events

        def boom() -> HttpResponse:
            raise RuntimeError("route bug")

        run.http_spec.routes = {**run.http_spec.routes, "/health": boom}
        assert (await request(run.http, get("/health")))[0] == 500
        assert (await request(run.http, get("/metrics")))[0] == 200
