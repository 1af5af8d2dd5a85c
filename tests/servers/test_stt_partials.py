"""Partial transcripts while the person speaks (Wyoming 1.7 streaming), end to end.

A raw Wyoming client and Home Assistant's own wyoming STT entity stream recorded commands that end
at the last word + 0.7 s of room tone (the `end07_` clips), in real time, to the real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import re
import time
import wave

from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event

from wyoming_servers.whisper.engine import EngineOptions, WhisperEngine
from wyoming_servers.whisper.stream import edit_distance

from .whisper_client import ENGLISH, ServerProcess, whisper_process

pytestmark = pytest.mark.slow

QUILTER = ENGLISH / "end07_leopard_test_en.wav"
CLIPS = {
    "end07_wfw_turn_on_the_living_room_lamp.wav": "turn on the living room lamp",
    "end07_stp_en_set_a_timer_for_5_minutes.wav": "set a timer for five minutes",
    "end07_stp_en_what_time_is_it.wav": "what time is it",
    "end07_leopard_test_en.wav": (
        "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel"
    ),
}
NUMBERS = {"5": "five", "mr": "mister"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with whisper_process("--model", "tiny.en") as proc:
        yield proc


def _pcm(name: str) -> bytes:
    with wave.open(str(ENGLISH / name), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def _words(text: str) -> list[str]:
    return [NUMBERS.get(w, w) for w in re.sub(r"[^\w\s']", " ", text.lower()).split()]


_errors = edit_distance
"""Word errors of a transcript against its reference."""


async def _stream(
    port: int, pcm: bytes, names: list[str] | None = None, language: str = "en"
) -> tuple[list[Event], list[Event]]:
    """Stream 20 ms every 20 ms; the events received before audio-stop, and after it up to the
    transcript."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    before: list[Event] = []
    after: list[Event] = []
    stopped = asyncio.Event()

    async def receive() -> None:
        while (event := await async_read_event(reader)) is not None:
            (after if stopped.is_set() else before).append(event)
            if event.type in ("transcript", "error"):
                return

    receiver = asyncio.create_task(receive())
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    try:
        request = Transcribe(language=language, transcript_names=names)
        await async_write_event(request.event(), writer)
        await async_write_event(AudioStart(**fmt).event(), writer)
        started = time.monotonic()
        for offset in range(0, len(pcm), 640):
            await async_write_event(
                AudioChunk(audio=pcm[offset : offset + 640], **fmt).event(), writer
            )
            await asyncio.sleep(max(0.0, started + (offset + 640) / 32000 - time.monotonic()))
        stopped.set()
        await async_write_event(AudioStop().event(), writer)
        await asyncio.wait_for(receiver, 120)
    finally:
        receiver.cancel()
        writer.close()
    return before, after


async def test_raw_client_gets_partials_while_speaking(server: ServerProcess) -> None:
    """transcript-start and chunks arrive before audio-stop; after it the rest of the chunks,
    transcript-stop and the full transcript; the chunks spell the transcript's beginning."""
    before, after = await _stream(server.port, _pcm(QUILTER.name))
    assert [e.type for e in before][:2] == ["transcript-start", "transcript-chunk"]
    assert all(e.type == "transcript-chunk" for e in before[1:])
    assert [e.type for e in after][-2:] == ["transcript-stop", "transcript"]
    assert all(e.type == "transcript-chunk" for e in after[:-2])
    final = str(after[-1].data["text"])
    assert _words(final) == _words(CLIPS[QUILTER.name])
    chunks = _words(
        "".join(str(e.data["text"]) for e in before + after if e.type.endswith("chunk"))
    )
    early = _words("".join(str(e.data["text"]) for e in before[1:]))
    assert early and _words(final)[: len(early)] == early  # the partial words were right
    assert chunks == _words(final)


async def test_partials_with_the_homes_names_as_prompt(server: ServerProcess) -> None:
    """A prompt of the home's names longer than an early partial's token budget (what HA's
    names give the demo): the partial decodes once crashed CTranslate2 (segfault) there."""
    names = [
        *("Kitchen", "Office", "Living Room", "Bedroom", "Garage", "Hallway", "Porch"),
        *("Kitchen Light", "Office Light", "Living Room Lamp", "Ceiling Fan", "Front Door"),
        *("Garage Door", "Thermostat", "Porch Light", "Desk Lamp", "Bedroom Lamp"),
    ]
    name = "end07_wfw_turn_on_the_living_room_lamp.wav"
    before, after = await _stream(server.port, _pcm(name), names)
    assert before and before[0].type == "transcript-start"
    assert _words(str(after[-1].data["text"])) == _words(CLIPS[name])
    assert server.proc.poll() is None  # still serving


async def test_final_transcripts_as_accurate_as_a_plain_30s_decode(server: ServerProcess) -> None:
    """On each clip ending 0.7 s after its last word, the streamed transcript has no more word
    errors than faster-whisper's own decode of the whole clip (30 s window, beam 5, int8)."""
    # faster-whisper's own transcribe() with its defaults (beam 5), padded to 30 s
    plain_engine = await asyncio.to_thread(
        WhisperEngine, EngineOptions(model="tiny.en", short_window_s=0)
    )

    for name, ref in CLIPS.items():
        pcm = _pcm(name)
        _before, after = await _stream(server.port, pcm)
        ours = str(after[-1].data["text"])
        audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
        plain = (await asyncio.to_thread(plain_engine.decode, audio, "en")).text
        assert _errors(_words(ref), _words(ours)) <= _errors(_words(ref), _words(plain)), (
            name,
            ours,
            plain,
        )


async def test_home_assistant_stt_entity_with_partials(
    hass: HomeAssistant, server: ServerProcess, socket_enabled: None
) -> None:
    """HA's wyoming STT entity reads past the partial chunks sent while audio flows and returns
    the final transcript; the server reports the partial chunks it sent for that request."""
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain="wyoming", data={"host": "127.0.0.1", "port": server.port}, title="Jarvis STT"
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity_id = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "stt"
    )
    entity = stt.async_get_speech_to_text_entity(hass, entity_id)
    assert entity is not None
    pcm = _pcm(QUILTER.name)

    async def audio() -> AsyncIterator[bytes]:  # as the satellite sends it: 20 ms every 20 ms
        started = time.monotonic()
        for offset in range(0, len(pcm), 640):
            yield pcm[offset : offset + 640]
            await asyncio.sleep(max(0.0, started + (offset + 640) / 32000 - time.monotonic()))

    metadata = stt.SpeechMetadata(
        language="en",
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )
    logged = server.log_text().count("Transcribed ")
    result = await entity.async_process_audio_stream(metadata, audio())
    assert result.result == stt.SpeechResultState.SUCCESS
    assert _words(result.text or "") == _words(CLIPS[QUILTER.name])
    lines = [line for line in server.log_text().splitlines() if "Transcribed " in line]
    assert len(lines) == logged + 1
    sent = re.search(r"(\d+) partial chunks", lines[-1])
    assert sent is not None and int(sent.group(1)) >= 1
    assert await hass.config_entries.async_unload(entry.entry_id)
