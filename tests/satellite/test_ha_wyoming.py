"""Home Assistant's own `wyoming` integration drives a running satellite.

HA side: the real `wyoming`, `assist_satellite`, `assist_pipeline` and `conversation`
integrations, plus a speech-to-text and a text-to-speech entity registered by the test
(they record what they receive and answer with known audio: test fixtures on HA's side,
the satellite is untouched). Satellite side: `python -m satellite` on loopback, its
microphone fed with the recorded "hey jarvis, turn on the living room lamp" at 48 kHz.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
import io
from ipaddress import ip_address
import math
from pathlib import Path
from typing import Any, Literal
import wave

from homeassistant.components import conversation, stt, wake_word
from homeassistant.components.assist_pipeline import (
    DOMAIN as PIPELINE_DOMAIN,
    async_get_pipelines,
    async_update_pipeline,
)
from homeassistant.components.assist_pipeline.const import WAKE_WORD_COOLDOWN
from homeassistant.components.assist_satellite.entity import AssistSatelliteState
from homeassistant.components.tts import TextToSpeechEntity, TtsAudioType
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntry, ConfigFlow
from homeassistant.const import MATCH_ALL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, intent
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.setup import async_setup_component
import numpy as np
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from wyoming_wire.zeroconf import mac_name

from .satellite_process import (
    SatelliteProcess,
    command_only,
    command_position,
    speech_span,
    utterance,
)

TTS_SECONDS = 1.2
TTS_RATE = 22050
SPOKEN_REPLY_TEXT = "turn on the living room lamp"
PLATFORMS = [Platform.STT, Platform.TTS, Platform.CONVERSATION, Platform.WAKE_WORD]


class RecordingStt(stt.SpeechToTextEntity):
    """Speech-to-text that keeps the audio it gets and returns a known transcript."""

    _attr_name = "Recording STT"
    _attr_unique_id = "recording_stt"

    def __init__(self) -> None:
        self.streams: list[bytes] = []
        self.stream_done = asyncio.Event()

    @property
    def supported_languages(self) -> list[str]:
        return ["en"]

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        return [stt.AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        return [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        audio = b"".join([chunk async for chunk in stream])
        self.streams.append(audio)
        self.stream_done.set()
        return stt.SpeechResult(SPOKEN_REPLY_TEXT, stt.SpeechResultState.SUCCESS)


def reply_wav(seconds: float = TTS_SECONDS, rate: int = TTS_RATE) -> bytes:
    """A 440 Hz tone as a 16-bit mono WAV file."""
    n = int(seconds * rate)
    samples = (9000 * np.sin(2 * math.pi * 440 * np.arange(n) / rate)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return buf.getvalue()


class ToneTts(TextToSpeechEntity):
    """Text-to-speech that records the text and answers with a known tone."""

    _attr_name = "Tone TTS"
    _attr_unique_id = "tone_tts"

    def __init__(self) -> None:
        self.messages: list[str] = []

    @property
    def supported_languages(self) -> list[str]:
        return ["en"]

    @property
    def default_language(self) -> str:
        return "en"

    def get_tts_audio(self, message: str, language: str, options: dict[str, Any]) -> TtsAudioType:
        self.messages.append(message)
        return "wav", reply_wav()


class AskingAgent(conversation.ConversationEntity):
    """A conversation agent that asks back once, then answers."""

    _attr_name = "Asking agent"
    _attr_unique_id = "asking_agent"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    @property
    def supported_languages(self) -> Literal["*"]:
        return MATCH_ALL

    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        self.calls.append((user_input.text, chat_log.conversation_id))
        reply = "Which lamp do you mean?" if len(self.calls) == 1 else "The lamp is on."
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=self.entity_id, content=reply)
        )
        return conversation.async_get_result_from_chat_log(user_input, chat_log)


class MicroWakeWordEntity(wake_word.WakeWordDetectionEntity):
    """HA-side wake word detection with the real microWakeWord "hey jarvis" model."""

    _attr_name = "Micro wake word"
    _attr_unique_id = "micro_wake_word"

    def __init__(self) -> None:
        self.streams = 0

    async def get_supported_wake_words(self) -> list[wake_word.WakeWord]:
        return [wake_word.WakeWord(id="hey_jarvis", name="Hey Jarvis", phrase="hey jarvis")]

    async def _async_process_audio_stream(
        self, stream: AsyncIterable[tuple[bytes, int]], wake_word_id: str | None
    ) -> wake_word.DetectionResult | None:
        self.streams += 1
        model = await self.hass.async_add_executor_job(MicroWakeWord.from_builtin, Model.HEY_JARVIS)
        features = MicroWakeWordFeatures()
        try:
            async for chunk, timestamp in stream:
                for frame in features.process_streaming(chunk):
                    if model.process_streaming(frame):
                        return wake_word.DetectionResult("hey_jarvis", "hey jarvis", timestamp)
        finally:
            model.close()
        return None


class FixtureFlow(ConfigFlow):
    """Config flow of the test integration (never shown)."""

    VERSION = 1


@pytest.fixture
async def speech(
    hass: HomeAssistant, tmp_path: Path, agent: AskingAgent, wake_entity: MicroWakeWordEntity
) -> AsyncIterator[tuple[RecordingStt, ToneTts]]:
    """Register the STT/TTS/agent entities under a test integration and a default pipeline."""
    # TTS caches its audio under the config dir: keep it out of the shared testing config.
    hass.config.config_dir = str(tmp_path / "ha")
    (tmp_path / "ha").mkdir()
    stt_entity, tts_entity = RecordingStt(), ToneTts()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, [Platform.STT, Platform.TTS])

    def platform(entity: Any) -> MockPlatform:
        async def add(
            hass: HomeAssistant, entry: ConfigEntry, add_entities: AddConfigEntryEntitiesCallback
        ) -> None:
            add_entities([entity])

        return MockPlatform(async_setup_entry=add)

    mock_integration(
        hass,
        MockModule(
            "speech_fixture", async_setup_entry=setup_entry, async_unload_entry=unload_entry
        ),
    )
    mock_platform(hass, "speech_fixture.config_flow")
    mock_platform(hass, "speech_fixture.stt", platform(stt_entity))
    mock_platform(hass, "speech_fixture.tts", platform(tts_entity))
    mock_platform(hass, "speech_fixture.conversation", platform(agent))
    mock_platform(hass, "speech_fixture.wake_word", platform(wake_entity))
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(domain="speech_fixture")
    entry.add_to_hass(hass)
    with mock_config_flow("speech_fixture", FixtureFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        assert await async_setup_component(hass, PIPELINE_DOMAIN, {})
        await hass.async_block_till_done()
        pipeline = async_get_pipelines(hass)[0]
        assert pipeline.stt_engine == "stt.recording_stt"
        assert pipeline.tts_engine == "tts.tone_tts"
        yield stt_entity, tts_entity


@pytest.fixture
def wake_entity() -> MicroWakeWordEntity:
    """HA-side wake word engine (used by the remote wake word test)."""
    return MicroWakeWordEntity()


@pytest.fixture
def agent() -> AskingAgent:
    """The asking agent (the pipeline uses HA's own agent unless a test switches)."""
    return AskingAgent()


@pytest.fixture
async def satellite(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A running satellite."""
    proc = await SatelliteProcess.start(tmp_path)
    try:
        yield proc
    finally:
        assert await proc.stop() == 0, proc.log_text()


async def add_wyoming_entry(hass: HomeAssistant, port: int) -> MockConfigEntry:
    """Configure HA's wyoming integration for the satellite, like the config flow would."""
    entry = MockConfigEntry(
        domain="wyoming", data={"host": "127.0.0.1", "port": port}, title="Test satellite"
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def satellite_entity(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Entity id of the assist satellite HA created for the entry."""
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return next(e.entity_id for e in entities if e.domain == "assist_satellite")


async def wait_for(
    predicate: Any, timeout: float = 30.0, log: SatelliteProcess | None = None
) -> None:
    """Poll until predicate() is true (on failure, show the satellite's log)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        detail = log.log_text()[-6000:] if log is not None else ""
        raise AssertionError(f"timed out waiting\n{detail}") from None


async def wait_log(sat: SatelliteProcess, text: str, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until the satellite has logged `text` `count` times."""
    await wait_for(lambda: sat.log_text().count(text) >= count, timeout, sat)


def assert_whole_command(stream: bytes, lead_s: float) -> None:
    """The command reached speech-to-text complete, at least `lead_s` after the stream began."""
    offset, streamed = command_position(stream)
    start, end = speech_span(utterance().command_16k)
    assert offset + start >= lead_s
    assert offset + end <= streamed


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Remove the satellite from HA again (what a test leaves behind)."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_ha_runs_a_pipeline_on_the_satellite(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
) -> None:
    stt_entity, tts_entity = speech
    entry = await add_wyoming_entry(hass, satellite.port)
    entity_id = satellite_entity(hass, entry)
    # HA connected and told the satellite to run.
    await wait_log(satellite, "Server is ready (run-satellite)")
    assert hass.states.get(entity_id).state == AssistSatelliteState.IDLE

    await satellite.say(utterance().pcm)
    async with asyncio.timeout(30):
        await stt_entity.stream_done.wait()
    await wait_log(satellite, "Reply played")

    # The command reached HA's speech-to-text complete, first syllable to last.
    assert len(stt_entity.streams) == 1
    assert_whole_command(stt_entity.streams[0], lead_s=0.1)
    # HA's reply came out of the satellite's speaker, then HA was told it was played.
    assert len(tts_entity.messages) == 1, tts_entity.messages
    assert satellite.played_seconds() >= TTS_SECONDS - 0.05
    await wait_for(lambda: hass.states.get(entity_id).state == AssistSatelliteState.IDLE)
    log = satellite.log_text()
    assert "Wake word hey_jarvis" in log
    assert f"Transcript: {SPOKEN_REPLY_TEXT}" in log

    await unload(hass, entry)


async def started_streams(satellite: SatelliteProcess) -> int:
    """How many commands the satellite started streaming."""
    return satellite.log_text().count("State idle -> streaming")


async def test_ha_mute_switch_pauses_the_satellite(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
) -> None:
    stt_entity, _ = speech
    entry = await add_wyoming_entry(hass, satellite.port)
    await wait_log(satellite, "Server is ready (run-satellite)")
    mute = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "switch"
    )
    await hass.services.async_call("switch", "turn_on", {"entity_id": mute}, blocking=True)
    await wait_log(satellite, "Paused by the server")

    await satellite.say(utterance().pcm)
    await wait_log(satellite, "wake word ignored")
    assert stt_entity.streams == []  # nothing left the satellite

    await hass.services.async_call("switch", "turn_off", {"entity_id": mute}, blocking=True)
    await wait_log(satellite, "Server is ready (run-satellite)", 2)
    await satellite.say(utterance().pcm)
    await wait_for(stt_entity.stream_done.is_set, 30, satellite)
    assert len(stt_entity.streams) == 1

    await unload(hass, entry)


async def test_ha_going_away_mid_command_leaves_the_satellite_listening(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
) -> None:
    stt_entity, _ = speech
    entry = await add_wyoming_entry(hass, satellite.port)
    await wait_log(satellite, "Server is ready (run-satellite)")
    pcm = utterance().pcm
    half = (len(pcm) // 2) & ~1
    await satellite.say(pcm[:half])
    await wait_log(satellite, "State idle -> streaming")
    # HA goes away in the middle of the command (integration unloaded).
    await unload(hass, entry)
    await satellite.say(pcm[half:])
    await wait_log(satellite, "disconnected; waiting for Home Assistant")

    # HA comes back: the satellite serves it again, and the next command is complete.
    stt_entity.stream_done.clear()
    stt_entity.streams.clear()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_log(satellite, "Server is ready (run-satellite)", 2)
    # HA refuses a second wake-up with the same phrase within WAKE_WORD_COOLDOWN.
    await asyncio.sleep(WAKE_WORD_COOLDOWN)
    await satellite.say(utterance().pcm)
    await wait_for(stt_entity.stream_done.is_set, 30, satellite)
    assert_whole_command(stt_entity.streams[-1], lead_s=0.1)

    await unload(hass, entry)


async def test_ha_timer_rings_on_the_satellite(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
) -> None:
    entry = await add_wyoming_entry(hass, satellite.port)
    await wait_log(satellite, "Server is ready (run-satellite)")
    device_id = entry.runtime_data.device.device_id
    await intent.async_handle(
        hass,
        "test",
        intent.INTENT_START_TIMER,
        {"seconds": {"value": 1}, "name": {"value": "tea"}},
        device_id=device_id,
    )
    await wait_log(satellite, "started: 1 s (tea)")
    await wait_log(satellite, "finished (tea)")
    await wait_for(lambda: satellite.played_seconds() > 0.3)

    await unload(hass, entry)


async def test_ha_announcement_is_played_then_acknowledged(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
    tmp_path: Path,
) -> None:
    entry = await add_wyoming_entry(hass, satellite.port)
    entity_id = satellite_entity(hass, entry)
    await wait_log(satellite, "Server is ready (run-satellite)")
    media = tmp_path / "announce.wav"
    media.write_bytes(reply_wav(2.0, 16000))
    started = asyncio.get_running_loop().time()
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"media_id": media.as_uri(), "preannounce": False},
        target={"entity_id": entity_id},
        blocking=True,
    )
    # HA waits for `played` (or the audio length + 0.5 s when it never comes).
    assert asyncio.get_running_loop().time() - started < 2.5
    assert "Reply played (2.0 s)" in satellite.log_text()
    assert satellite.played_seconds() >= 1.95

    await unload(hass, entry)


async def test_ha_zeroconf_discovery_creates_the_satellite_entry(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    satellite: SatelliteProcess,
) -> None:
    # What HA's zeroconf integration hands to the wyoming flow for our announcement
    # (see test_cli.py for the announcement itself, made from a separate process).
    discovery = ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=satellite.port,
        hostname="kitchen.local.",
        type="_wyoming._tcp.local.",
        name=f"{mac_name()}._wyoming._tcp.local.",
        properties={},
    )
    result = await hass.config_entries.flow.async_init(
        "wyoming", context={"source": SOURCE_ZEROCONF}, data=discovery
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {"name": "Test satellite"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Test satellite"
    entry = result["result"]
    await hass.async_block_till_done()
    await wait_log(satellite, "Server is ready (run-satellite)")
    device = dr.async_get(hass).async_get(entry.runtime_data.device.device_id)
    assert device is not None
    assert device.name == "Test satellite"
    assert device.suggested_area == "Kitchen"

    await unload(hass, entry)


async def test_ha_reply_asking_back_reopens_the_mic_in_the_same_conversation(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    agent: AskingAgent,
    satellite: SatelliteProcess,
) -> None:
    stt_entity, tts_entity = speech
    pipeline = async_get_pipelines(hass)[0]
    await async_update_pipeline(hass, pipeline, conversation_engine="conversation.asking_agent")
    entry = await add_wyoming_entry(hass, satellite.port)
    await wait_log(satellite, "Server is ready (run-satellite)")

    await satellite.say(utterance().pcm)
    await wait_log(satellite, "The reply asks a question: listening again")
    # The user answers without a wake word.
    await satellite.say(command_only())
    await wait_log(satellite, "Reply played", 2)

    assert len(stt_entity.streams) == 2
    assert [text for text, _ in agent.calls] == [SPOKEN_REPLY_TEXT] * 2
    assert agent.calls[0][1] == agent.calls[1][1]  # same conversation
    assert tts_entity.messages == ["Which lamp do you mean?", "The lamp is on."]
    assert satellite.log_text().count("Wake word hey_jarvis") == 1
    # The answer reached speech-to-text complete.
    assert_whole_command(stt_entity.streams[1], lead_s=0.0)

    await unload(hass, entry)


async def test_ha_detects_the_wake_word_of_a_remote_wake_satellite(
    hass: HomeAssistant,
    speech: tuple[RecordingStt, ToneTts],
    wake_entity: MicroWakeWordEntity,
    tmp_path: Path,
) -> None:
    stt_entity, _ = speech
    pipeline = async_get_pipelines(hass)[0]
    await async_update_pipeline(
        hass, pipeline, wake_word_entity="wake_word.micro_wake_word", wake_word_id="hey_jarvis"
    )
    satellite = await SatelliteProcess.start(tmp_path, wake_local=False)
    try:
        entry = await add_wyoming_entry(hass, satellite.port)
        await wait_log(satellite, "Server is ready (run-satellite)")
        await wait_for(lambda: wake_entity.streams == 1, 10, satellite)
        await satellite.say(utterance().pcm)
        await wait_log(satellite, "Server detected wake word hey_jarvis")
        await wait_for(stt_entity.stream_done.is_set, 30, satellite)
        await wait_log(satellite, "Reply played")
        # The command after HA's detection reached its speech-to-text complete ...
        assert_whole_command(stt_entity.streams[0], lead_s=0.0)
        # ... and HA listens for the wake word again (restart_on_end).
        await wait_for(lambda: wake_entity.streams == 2, 10, satellite)
        assert "Wake word hey_jarvis" not in satellite.log_text()  # not detected locally

        await unload(hass, entry)
    finally:
        assert await satellite.stop() == 0
