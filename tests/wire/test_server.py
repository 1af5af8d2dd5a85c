"""The shared Wyoming wire library over real TCP and unix sockets: bad peers never hurt good ones."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
import json
import logging
from pathlib import Path
import sys
import tempfile

import pytest
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.ping import Ping, Pong

from wyoming_wire import (
    Endpoint,
    Limits,
    RequestError,
    SafeEventHandler,
    ServerSpec,
    parse_uri,
    serve,
)
from wyoming_wire.cli import add_server_args
from wyoming_wire.logs import JsonFormatter


class EchoHandler(SafeEventHandler):
    """ping -> pong; `fail` -> RequestError; `crash` -> RuntimeError; `later` -> pong from a task."""

    async def handle_event(self, event: Event) -> bool:
        if Ping.is_type(event.type):
            await self.write_event(Pong(text=event.data.get("text")).event())
        elif event.type == "fail":
            raise RequestError("events in the wrong order", "wrong-order")
        elif event.type == "crash":
            raise RuntimeError("handler bug")
        elif event.type == "fields":
            Pong.from_event(event)
            _ = event.data["needed"]
        elif event.type == "later":
            self.spawn(self._later(), "later")
        elif event.type == "slow":
            self.spawn(self._slow(), "slow")
        elif event.type == "bye":
            return False
        return True

    async def _slow(self) -> None:
        await asyncio.sleep(1.0)
        await self.write_event(Pong(text="slow").event())

    async def _later(self) -> None:
        await asyncio.sleep(0.05)
        await self.write_event(Pong(text="later").event())


LIMITS = Limits(max_payload_bytes=1024 * 1024, body_timeout_s=0.5, max_bad_events=3)


@contextlib.asynccontextmanager
async def running(
    uri: str = "tcp://127.0.0.1:0", limits: Limits = LIMITS
) -> AsyncIterator[Endpoint]:
    stop = asyncio.Event()
    ready: asyncio.Future[list[Endpoint]] = asyncio.get_running_loop().create_future()
    spec = ServerSpec(uri, EchoHandler, name="echo", limits=limits)
    task = asyncio.create_task(serve([spec], stop=stop, on_ready=ready.set_result))
    try:
        endpoints = await asyncio.wait_for(ready, 5)
        yield endpoints[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def server() -> AsyncIterator[Endpoint]:
    async with running() as endpoint:
        yield endpoint


async def _connect(ep: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(ep.host, ep.port)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _ping(ep: Endpoint, text: str = "hi") -> str | None:
    reader, writer = await _connect(ep)
    try:
        await async_write_event(Ping(text=text).event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Pong.is_type(event.type)
        return Pong.from_event(event).text
    finally:
        await _close(writer)


async def _expect_error_then_close(reader: asyncio.StreamReader) -> Error:
    event = await asyncio.wait_for(async_read_event(reader), 5)
    assert event is not None and Error.is_type(event.type), event
    assert await asyncio.wait_for(reader.read(), 5) == b"", "connection should be closed"
    return Error.from_event(event)


async def test_ping_pong_and_background_task(server: Endpoint) -> None:
    assert await _ping(server) == "hi"
    reader, writer = await _connect(server)
    await async_write_event(Event("later"), writer)
    event = await asyncio.wait_for(async_read_event(reader), 5)
    assert event is not None and Pong.from_event(event).text == "later"
    await _close(writer)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x00\xff\xfegarbage bytes\n", "bad-header"),
        (b'["not", "an", "object"]\n', "bad-header"),
        (b'{"data": {}}\n', "bad-header"),
        (b"\n", "bad-header"),
        (b'{"type": "ping", "data_length": 5}\nnope!', "bad-data"),
        (
            b'{"type": "ping", "data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001 + b"\n",
            "bad-header",
        ),
        (b'{"type": "ping", "data_length": 3000}\n' + b"[" * 1500 + b"]" * 1500, "bad-data"),
        # payload_length too small: the payload's tail is read as the next header
        (b'{"type": "noop", "payload_length": 2}\n' + b"abcdefgh\n", "bad-header"),
    ],
)
async def test_malformed_event_is_answered_and_skipped(
    server: Endpoint, raw: bytes, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A header that is read whole but is no valid event: `error`, skipped, connection goes on."""
    reader, writer = await _connect(server)
    writer.write(raw)
    await writer.drain()
    event = await asyncio.wait_for(async_read_event(reader), 5)
    assert event is not None and Error.is_type(event.type), event
    assert Error.from_event(event).code == code
    await async_write_event(Ping(text="after").event(), writer)
    event = await asyncio.wait_for(async_read_event(reader), 5)
    assert event is not None and Pong.from_event(event).text == "after"
    await _close(writer)
    assert sum("malformed event" in r.message for r in caplog.records) == 1
    assert "never retrieved" not in caplog.text


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"type": "ping", "payload_length": -4}\n', "bad-header"),
        (b'{"type": "ping", "data_length": "x"}\n', "bad-header"),
        (b"x" * 70_000 + b"\n", "bad-header"),
    ],
)
async def test_unreadable_stream_gets_error_and_close(
    server: Endpoint, raw: bytes, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await _connect(server)
    writer.write(raw)
    await writer.drain()
    error = await _expect_error_then_close(reader)
    assert error.code == code
    await _close(writer)
    assert sum("invalid event" in r.message for r in caplog.records) == 1
    assert await _ping(server) == "hi"


async def test_too_many_malformed_events_close_the_connection(server: Endpoint) -> None:
    reader, writer = await _connect(server)
    writer.write(b"junk\n" * (LIMITS.max_bad_events + 1))
    await writer.drain()
    codes = []
    while (event := await asyncio.wait_for(async_read_event(reader), 5)) is not None:
        codes.append(Error.from_event(event).code)
    assert len(codes) == LIMITS.max_bad_events + 1
    await _close(writer)
    assert await _ping(server) == "hi"


async def test_idle_and_half_sent_headers_time_out() -> None:
    """Idle connections and headers sent a byte at a time do not hold a connection forever."""
    limits = Limits(idle_timeout_s=0.4, body_timeout_s=0.3)
    async with running(limits=limits) as endpoint:
        idle_reader, idle_writer = await _connect(endpoint)
        half_reader, half_writer = await _connect(endpoint)
        half_writer.write(b'{"type": "pi')
        await half_writer.drain()
        error = await _expect_error_then_close(half_reader)
        assert error.code == "timeout"
        error = await _expect_error_then_close(idle_reader)
        assert error.code == "idle-timeout"
        for writer in (idle_writer, half_writer):
            await _close(writer)
        # A connection that keeps talking is not idle.
        reader, writer = await _connect(endpoint)
        for i in range(4):
            await async_write_event(Ping(text=str(i)).event(), writer)
            assert await asyncio.wait_for(async_read_event(reader), 5) is not None
            await asyncio.sleep(0.2)
        await _close(writer)


async def test_connection_caps_keep_room_for_other_peers(caplog: pytest.LogCaptureFixture) -> None:
    """Hundreds of idle connections from one address neither exhaust the server nor the log."""
    limits = Limits(max_connections=40, max_connections_per_peer=10)
    async with running(limits=limits) as endpoint:
        hog = [await _connect(endpoint) for _ in range(300)]
        results = await asyncio.gather(
            *(asyncio.wait_for(reader.read(), 1.0) for reader, _writer in hog),
            return_exceptions=True,
        )
        closed = sum(r == b"" or isinstance(r, ConnectionError) for r in results)
        still_open = sum(isinstance(r, TimeoutError) for r in results)
        # 10 from this address stay open; the other 290 were closed at once.
        assert (closed, still_open) == (290, 10)
        refusals = [r for r in caplog.records if "refused" in r.message]
        assert len(refusals) == 1, [r.message for r in refusals]
        # Another address still gets served (127.0.0.2 is a different peer on loopback).
        reader, writer = await asyncio.open_connection(
            endpoint.host, endpoint.port, local_addr=("127.0.0.2", 0)
        )
        await async_write_event(Ping(text="other").event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Pong.from_event(event).text == "other"
        await _close(writer)
        for _reader, writer in hog:
            await _close(writer)
        await asyncio.sleep(0.1)
        assert await _ping(endpoint) == "hi"


async def test_payload_length_too_large_times_out(server: Endpoint) -> None:
    reader, writer = await _connect(server)
    writer.write(b'{"type": "ping", "payload_length": 100}\n' + b"only ten b")
    await writer.drain()
    error = await _expect_error_then_close(reader)
    assert error.code == "timeout"
    assert "payload_length" in error.text
    await _close(writer)
    assert await _ping(server) == "hi"


async def test_100mb_payload_refused_without_reading_it(server: Endpoint) -> None:
    reader, writer = await _connect(server)
    size = 100 * 1024 * 1024
    writer.write(json.dumps({"type": "audio-chunk", "payload_length": size}).encode() + b"\n")
    writer.write(b"\0" * 65536)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    error = await _expect_error_then_close(reader)
    assert error.code == "too-large"
    assert str(size) in error.text
    await _close(writer)
    assert await _ping(server) == "hi"


async def test_client_vanishing_mid_event_is_logged_once(
    server: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wyoming_wire.handler")
    _reader, writer = await _connect(server)
    writer.write(b'{"type": "ping", "payload_length": 1000}\n' + b"x" * 10)
    await writer.drain()
    writer.transport.abort()
    await asyncio.sleep(0.2)
    assert await _ping(server) == "hi"
    assert sum("went away" in r.message for r in caplog.records) == 1


async def test_handler_errors_keep_the_connection(
    server: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await _connect(server)
    for kind, code in (
        ("fail", "wrong-order"),
        ("crash", "internal-error"),
        ("fields", "bad-request"),
    ):
        await async_write_event(Event(kind), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Error.is_type(event.type)
        assert Error.from_event(event).code == code
    await async_write_event(Ping(text="still here").event(), writer)
    event = await asyncio.wait_for(async_read_event(reader), 5)
    assert event is not None and Pong.from_event(event).text == "still here"
    await async_write_event(Event("bye"), writer)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await _close(writer)
    assert sum("handler bug" in r.message for r in caplog.records) == 1


async def test_many_clients_while_one_sends_garbage(server: Endpoint) -> None:
    bad_reader, bad_writer = await _connect(server)
    bad_writer.write(b"\xde\xad\xbe\xef\n")
    results = await asyncio.gather(*(_ping(server, f"c{i}") for i in range(20)))
    assert results == [f"c{i}" for i in range(20)]
    event = await asyncio.wait_for(async_read_event(bad_reader), 5)
    assert event is not None and Error.from_event(event).code == "bad-header"
    await _close(bad_writer)


_UNIX_CLIENT = """
import socket, sys
from wyoming.event import read_event, write_event
from wyoming.ping import Ping
with socket.socket(socket.AF_UNIX) as sock:
    sock.connect(sys.argv[1])
    with sock.makefile("rwb") as f:
        write_event(Ping(text="unix").event(), f)
        print(read_event(f).data["text"])
"""


async def test_unix_socket() -> None:
    # pytest-socket only lets this process reach 127.0.0.1, so the client is a subprocess.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "echo.sock"
        async with running(f"unix://{path}") as endpoint:
            assert endpoint.scheme == "unix"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _UNIX_CLIENT, str(path), stdout=asyncio.subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0 and out.decode().strip() == "unix"
        assert not path.exists(), "socket file removed on shutdown"


async def test_shutdown_closes_open_clients() -> None:
    async with running() as endpoint:
        reader, writer = await _connect(endpoint)
        await async_write_event(Ping().event(), writer)
        assert await asyncio.wait_for(async_read_event(reader), 5) is not None
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await _close(writer)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("tcp://127.0.0.1:10200", Endpoint("tcp", host="127.0.0.1", port=10200)),
        ("tcp://0.0.0.0:1", Endpoint("tcp", host="0.0.0.0", port=1)),
        ("tcp://[::1]:10300", Endpoint("tcp", host="::1", port=10300)),
        ("unix:///run/piper.sock", Endpoint("unix", path="/run/piper.sock")),
        ("unix://relative.sock", Endpoint("unix", path="relative.sock")),
    ],
)
def test_parse_uri(uri: str, expected: Endpoint) -> None:
    assert parse_uri(uri) == expected
    assert parse_uri(str(expected)) == expected


@pytest.mark.parametrize(
    "uri", ["tcp://127.0.0.1", "tcp://:10200", "http://x:1", "tcp://h:99999", "unix://", "stdio://"]
)
def test_parse_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError, match="tcp|unix|port"):
        parse_uri(uri)


def test_common_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_server_args(parser, "tcp://127.0.0.1:10200")
    args = parser.parse_args([])
    assert args.uri == "tcp://127.0.0.1:10200"
    assert args.zeroconf is None and not args.debug and args.log_format == "text"
    args = parser.parse_args(["--zeroconf", "--log-format", "json", "--uri", "unix:///tmp/x"])
    assert args.zeroconf == "" and args.log_format == "json" and args.uri == "unix:///tmp/x"
    assert parser.parse_args(["--zeroconf", "kitchen"]).zeroconf == "kitchen"


def test_json_log_lines() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "client %s", ("a",), None)
    record.client = "1.2.3.4:5"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["msg"] == "client a"
    assert line["client"] == "1.2.3.4:5" and line["logger"] == "x"


async def test_a_peer_cannot_flood_the_log(
    server: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input from one address is logged once a minute, however often it reconnects."""
    for _ in range(30):
        reader, writer = await _connect(server)
        writer.write(b"junk\n" * 3 + b'{"type": "x", "payload_length": -1}\n')
        await writer.drain()
        await asyncio.wait_for(reader.read(), 5)
        await _close(writer)
    warnings = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # one "malformed", one "invalid ... closing"
    assert await _ping(server) == "hi"


async def test_when_full_silent_connections_make_room_for_talking_ones() -> None:
    """Silent connections from many addresses cannot lock out a peer that talks."""
    limits = Limits(max_connections=10, max_connections_per_peer=10)
    async with running(limits=limits) as endpoint:

        async def connect_from(host: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(endpoint.host, endpoint.port, local_addr=(host, 0))

        silent = [await connect_from("127.0.0.3") for _ in range(10)]
        reader, writer = await connect_from("127.0.0.2")  # evicts the oldest silent one
        await async_write_event(Ping(text="in").event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Pong.from_event(event).text == "in"
        silent += [await connect_from("127.0.0.4") for _ in range(10)]
        await asyncio.sleep(0.2)
        # The talking connection is still served; the silent ones took turns being closed.
        await async_write_event(Ping(text="still").event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Pong.from_event(event).text == "still"
        await _close(writer)
        for _reader, other in silent:
            await _close(other)


async def test_the_idle_clock_waits_for_the_peers_own_work() -> None:
    """A peer waiting for a long answer is not idle; once answered, silence closes it."""
    async with running(limits=Limits(idle_timeout_s=0.4)) as endpoint:
        reader, writer = await _connect(endpoint)
        await async_write_event(Event("slow"), writer)  # answered after 1 s
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Pong.from_event(event).text == "slow"
        error = await _expect_error_then_close(reader)
        assert error.code == "idle-timeout"
        await _close(writer)
        # A skipped bad line does not stop the clock either.
        reader, writer = await _connect(endpoint)
        writer.write(b"junk\n")
        event = await asyncio.wait_for(async_read_event(reader), 5)
        assert event is not None and Error.from_event(event).code == "bad-header"
        error = await _expect_error_then_close(reader)
        assert error.code == "idle-timeout"
        await _close(writer)
