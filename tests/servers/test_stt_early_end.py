"""Early end of turn (`--early-end-ms`): the transcript goes out before `audio-stop` once the
words said so far form a finished sentence and the speaker has been quiet a moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import time
import wave

from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from .whisper_client import ENGLISH, Client, ServerProcess, load_clip, normalise, whisper_process

pytestmark = pytest.mark.slow

QUILTER = ENGLISH / "end07_leopard_test_en.wav"  # last word + 0.7 s of room tone
QUILTER_TEXT = (
    "mr quilter is the apostle of the middle classes and we are glad to welcome his gospel"
)
EXTRA_S = 5.0
"""Room tone the client keeps sending after the clip, as a satellite would until told to stop."""


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with whisper_process("--model", "tiny.en", "--early-end-ms", "300") as proc:
        yield proc


def _pcm(path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def _command_then_room_tone() -> tuple[bytes, int]:
    """The command, then `EXTRA_S` more of its own room's tone (its last 0.5 s, repeated); and
    the command's length in bytes. (Another recording's tone, 16 dB louder, made the test
    depend on the decode finishing within the clip's 0.7 s of silence: it failed under load.)"""
    command = _pcm(QUILTER)
    tone = command[-16000:]
    extra = (tone * int(2 * EXTRA_S + 1))[: int(EXTRA_S * 32000)]
    return command + extra, len(command)


async def test_home_assistant_turn_ends_before_the_silence_does(
    hass: HomeAssistant, server: ServerProcess, socket_enabled: None
) -> None:
    """HA's wyoming STT entity returns the transcript while the satellite's audio still flows:
    the speech-to-text stage ends without waiting for the endpointer's silence."""
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
    pcm, command_bytes = _command_then_room_tone()
    sent = 0

    async def audio() -> AsyncIterator[bytes]:  # 20 ms every 20 ms, like the satellite
        nonlocal sent
        started = time.monotonic()
        for offset in range(0, len(pcm), 640):
            sent = offset + 640
            yield pcm[offset : offset + 640]
            await asyncio.sleep(max(0.0, started + sent / 32000 - time.monotonic()))

    metadata = stt.SpeechMetadata(
        language="en",
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )
    result = await entity.async_process_audio_stream(metadata, audio())
    assert result.result == stt.SpeechResultState.SUCCESS
    assert normalise(result.text or "") == QUILTER_TEXT
    assert sent < len(pcm)  # answered while audio was still being sent
    assert sent >= command_bytes - 0.7 * 32000  # not before the last word
    assert "early end of turn" in server.log_text()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_raw_client_keeps_its_connection_after_an_early_transcript(
    server: ServerProcess,
) -> None:
    """The rest of the audio and its audio-stop are taken quietly; the next request works."""
    conn = await Client.connect(server.port)
    try:
        pcm, _command_bytes = _command_then_room_tone()
        fmt = {"rate": 16000, "width": 2, "channels": 1}
        await conn.send(Transcribe(language="en").event())
        await conn.send(AudioStart(**fmt).event())
        started = time.monotonic()
        for offset in range(0, len(pcm), 640):
            await conn.send(AudioChunk(audio=pcm[offset : offset + 640], **fmt).event())
            await asyncio.sleep(max(0.0, started + (offset + 640) / 32000 - time.monotonic()))
        await conn.send(AudioStop().event())
        early: list[Event] = await conn.read_until("transcript")
        assert normalise(str(early[-1].data["text"])) == QUILTER_TEXT
        again = await conn.stream(load_clip(QUILTER), language="en", chunk_ms=100)
        assert [e.type for e in again if e.type == "error"] == []
        assert normalise(str(again[-1].data["text"])) == QUILTER_TEXT
    finally:
        await conn.close()
