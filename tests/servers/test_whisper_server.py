"""The speech-to-text server as a real subprocess with the real tiny.en model, over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import os
from pathlib import Path
import subprocess
import sys

from homeassistant.components import stt
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe, Info

from tests.conftest import ROOT
from wyoming_servers.models import bundled_base

from .whisper_client import (
    ENGLISH,
    FRENCH,
    NOISE,
    Client,
    ServerProcess,
    async_whisper_process,
    convert_clip,
    load_clip,
    normalise,
    transcript_text,
    whisper_process,
)

LAMP = ENGLISH / "wfw_turn_on_the_living_room_lamp.wav"  # 44.1 kHz stereo
WHAT_TIME = ENGLISH / "stp_en_what_time_is_it.wav"
QUILTER = ENGLISH / "leopard_test_en.wav"
QUILTER_TEXT = (
    "mr quilter is the apostle of the middle classes and we are glad to welcome his gospel"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_server() -> Iterator[ServerProcess]:
    with whisper_process(
        "--workers", "2", "--max-queue", "4", "--max-audio-seconds", "20"
    ) as server:
        yield server


@pytest.fixture(scope="session")
def base_server() -> Iterator[ServerProcess]:
    if bundled_base(prepare=False) is None:
        pytest.skip(
            "multilingual base model not prepared (python -m wyoming_servers.models prepare)"
        )
    with whisper_process("--model", "base") as server:
        yield server


@pytest.fixture
async def client(tiny_server: ServerProcess):
    conn = await Client.connect(tiny_server.port)
    yield conn
    await conn.close()


async def test_describe_lists_program_model_and_languages(client: Client) -> None:
    await client.send(Describe().event())
    events = await client.read_until("info")
    info = Info.from_event(events[-1])
    program = info.asr[0]
    assert program.installed and program.supports_transcript_streaming
    assert [model.name for model in program.models] == ["tiny.en"]
    assert program.models[0].languages == ["en"]


async def test_lamp_clip_44k_stereo_streamed_in_real_time(client: Client) -> None:
    """The wyoming-faster-whisper reference clip, sent as a satellite would: 20 ms every 20 ms."""
    events = await client.stream(load_clip(LAMP), language="en", realtime=True)
    types = [event.type for event in events]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript-stop", "transcript"]
    assert events[0].data["language"] == "en"
    chunks = "".join(e.data["text"] for e in events if e.type == "transcript-chunk")
    assert normalise(chunks) == normalise(transcript_text(events))
    assert normalise(transcript_text(events)) == "turn on the living room lamp"
    assert events[-1].data["language"] == "en"


async def test_several_requests_on_one_connection(client: Client) -> None:
    first = await client.stream(load_clip(WHAT_TIME), chunk_ms=100)
    second = await client.stream(load_clip(QUILTER), chunk_ms=100, transcribe=False)
    assert normalise(transcript_text(first)) == "what time is it"
    assert normalise(transcript_text(second)) == QUILTER_TEXT


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(48000, 4, 2), (8000, 2, 1), (22050, 2, 2), (16000, 4, 1)],
)
async def test_input_formats_are_converted(
    client: Client, rate: int, width: int, channels: int
) -> None:
    clip = convert_clip(load_clip(LAMP), rate, width, channels)
    events = await client.stream(clip, chunk_ms=50)
    assert normalise(transcript_text(events)) == "turn on the living room lamp"


async def test_concurrent_clients_all_get_their_transcript(tiny_server: ServerProcess) -> None:
    """Six clients at once (more than the 2 workers): each gets its own, correct transcript."""
    clips = [(LAMP, "turn on the living room lamp"), (WHAT_TIME, "what time is it")] * 3
    clients = [await Client.connect(tiny_server.port) for _ in clips]
    try:
        results = await asyncio.gather(
            *(
                c.stream(load_clip(path), chunk_ms=100)
                for c, (path, _) in zip(clients, clips, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    for events, (_, expected) in zip(results, clips, strict=True):
        assert normalise(transcript_text(events)) == expected


async def test_one_big_chunk_of_silence_then_speech(client: Client) -> None:
    """15 s of room tone in one 0.5 MB chunk, then the command: trimmed and transcribed."""
    tone = load_clip(NOISE / "pymicro_vad_silence.wav").audio * 15
    lamp = convert_clip(load_clip(LAMP), 16000, 2, 1)
    clip = type(lamp)(tone + lamp.audio, 16000, 2, 1)
    events = await client.stream(clip, chunk_ms=30_000)
    assert normalise(transcript_text(events)) == "turn on the living room lamp"


async def test_silence_only_gives_a_transcript(client: Client) -> None:
    events = await client.stream(load_clip(NOISE / "pymicro_vad_silence.wav"))
    assert events[-1].type == "transcript"
    assert len(transcript_text(events)) < 20


# --- bad input: clear error, connection and server keep working ------------------------------------


async def _expect_error(client: Client, code: str) -> str:
    events = await client.read_until("error")
    assert events[-1].type == "error", events
    assert events[-1].data.get("code") == code, events[-1].data
    return str(events[-1].data["text"])


async def test_chunk_before_start_then_recovers(client: Client) -> None:
    await client.send(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0" * 640).event())
    assert "before audio-start" in await _expect_error(client, "order")
    await client.send(AudioStop().event())
    assert "before audio-start" in await _expect_error(client, "order")
    events = await client.stream(load_clip(WHAT_TIME), chunk_ms=100)
    assert normalise(transcript_text(events)) == "what time is it"


@pytest.mark.parametrize(
    ("rate", "width", "channels", "words"),
    [(16000, 3, 1, "width"), (96000, 2, 1, "rate"), (4000, 2, 1, "rate"), (16000, 2, 6, "channel")],
)
async def test_unsupported_format_is_refused(
    client: Client, rate: int, width: int, channels: int, words: str
) -> None:
    await client.send(AudioStart(rate=rate, width=width, channels=channels).event())
    assert words in await _expect_error(client, "unsupported-format")
    # The chunks that follow are refused too, then a good request works.
    await client.send(
        AudioChunk(rate=rate, width=width, channels=channels, audio=b"\0" * 96).event()
    )
    await _expect_error(client, "order")
    events = await client.stream(load_clip(WHAT_TIME), chunk_ms=100)
    assert normalise(transcript_text(events)) == "what time is it"


async def test_chunk_format_change_drops_stream(client: Client) -> None:
    await client.send(AudioStart(rate=16000, width=2, channels=1).event())
    await client.send(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0" * 640).event())
    await client.send(AudioChunk(rate=48000, width=2, channels=2, audio=b"\0" * 640).event())
    assert "differs" in await _expect_error(client, "unsupported-format")
    await client.send(AudioStop().event())
    await _expect_error(client, "order")


@pytest.mark.parametrize(
    ("data", "words"),
    [({"language": "de"}, "'de'"), ({"language": 5, "transcript_names": "Lamp"}, "string")],
)
async def test_language_the_model_lacks(
    client: Client, data: dict[str, object], words: str
) -> None:
    await client.send(Event(type="transcribe", data=data))
    await client.send(AudioStart(rate=16000, width=2, channels=1).event())
    assert words in await _expect_error(client, "unsupported-language")


async def test_vanished_client_and_garbage_do_not_hurt_others(tiny_server: ServerProcess) -> None:
    gone = await Client.connect(tiny_server.port)
    await gone.send(AudioStart(rate=16000, width=2, channels=1).event())
    clip = load_clip(QUILTER)
    await gone.send(AudioChunk(rate=16000, width=2, channels=1, audio=clip.audio[:64000]).event())
    gone.writer.transport.abort()

    garbage = await Client.connect(tiny_server.port)
    garbage.writer.write(b"\x00\xffnot json at all\n")  # skipped, answered with error
    events = await garbage.read_until("error")
    assert events[-1].type == "error"
    garbage.writer.write(b'{"type": "audio-chunk", "payload_length": -1}\n')  # unreadable
    events = await garbage.read_until("error")
    assert await garbage.read(5) is None  # closed by the server
    await garbage.close()

    good = await Client.connect(tiny_server.port)
    try:
        events = await good.stream(load_clip(WHAT_TIME), chunk_ms=100)
    finally:
        await good.close()
    assert normalise(transcript_text(events)) == "what time is it"
    assert tiny_server.proc.poll() is None


async def test_too_long_audio_is_dropped(client: Client) -> None:
    await client.send(AudioStart(rate=16000, width=2, channels=1).event())
    second = b"\0" * 32000
    for _ in range(21):
        await client.send(AudioChunk(rate=16000, width=2, channels=1, audio=second).event())
    assert "longer than 20" in await _expect_error(client, "too-long")
    await client.send(AudioStop().event())  # the stream is gone
    await _expect_error(client, "order")
    events = await client.stream(load_clip(WHAT_TIME), chunk_ms=100)
    assert normalise(transcript_text(events)) == "what time is it"


async def test_transcribe_in_the_middle_of_a_stream(client: Client) -> None:
    await client.send(AudioStart(rate=16000, width=2, channels=1).event())
    await client.send(Transcribe(language="en").event())
    assert "middle" in await _expect_error(client, "order")
    events = await client.stream(load_clip(WHAT_TIME), chunk_ms=100)
    assert normalise(transcript_text(events)) == "what time is it"


async def test_request_names_bias_prompt(client: Client) -> None:
    """HA's `transcript_names` reach the decoder as a prompt; the command still comes out right."""
    await client.send(
        Transcribe(language="en", transcript_names=["Living Room Lamp", "Porch"]).event()
    )
    events = await client.stream(load_clip(LAMP), chunk_ms=100, transcribe=False)
    assert normalise(transcript_text(events)) == "turn on the living room lamp"


async def test_home_assistant_names_end_to_end(
    hass: HomeAssistant,
    hass_access_token: str,
    aiohttp_client,
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server started with --ha-url and $HA_TOKEN fetches names from a real HA over HTTP."""
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "api", {})
    ar.async_get(hass).async_create("Living Room")
    hass.states.async_set("light.lamp", "off", {"friendly_name": "Living Room Lamp"})
    ha = await aiohttp_client(hass.http.app)
    url = str(ha.make_url("")).rstrip("/")
    monkeypatch.setenv("HA_TOKEN", hass_access_token)  # the server process inherits it
    async with async_whisper_process("--ha-url", url) as server:
        async with asyncio.timeout(20):
            while "names connected" not in server.log_text():
                await asyncio.sleep(0.05)
        assert "1 areas, 1 entity names" in server.log_text()
        assert "--ha-token-file" not in server.log_text()  # no command-line token warning
        conn = await Client.connect(server.port)
        try:
            events = await conn.stream(load_clip(LAMP), language="en", chunk_ms=100)
        finally:
            await conn.close()
    assert normalise(transcript_text(events)) == "turn on the living room lamp"
    # SIGTERM: clean exit
    assert server.proc.returncode == 0
    assert "Stopped" in server.final_log


async def test_home_assistant_wyoming_stt_uses_the_server(
    hass: HomeAssistant, tiny_server: ServerProcess, socket_enabled: None
) -> None:
    """HA's own `wyoming` integration, set up like its config flow does, transcribes through us."""
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain="wyoming", data={"host": "127.0.0.1", "port": tiny_server.port}, title="Jarvis STT"
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
    assert entity is not None and "en" in entity.supported_languages
    pcm = convert_clip(load_clip(LAMP), 16000, 2, 1).audio

    async def audio() -> AsyncIterator[bytes]:
        for offset in range(0, len(pcm), 640):
            yield pcm[offset : offset + 640]

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
    assert normalise(result.text or "") == "turn on the living room lamp"
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("model", "words"),
    [("/nonexistent/whisper", "folder /nonexistent/whisper not found"), ("small", "--download")],
)
def test_missing_model_fails_clearly(model: str, words: str, tmp_path: Path) -> None:
    """Never a download at run time: a named model must already be in the (here empty) cache."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wyoming_servers.whisper",
            "--model",
            model,
            "--uri",
            "tcp://127.0.0.1:0",
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert words in result.stderr


# --- multilingual model ------------------------------------------------------------------------------


async def test_french_autodetected_with_multilingual_base(base_server: ServerProcess) -> None:
    conn = await Client.connect(base_server.port)
    try:
        await conn.send(Describe().event())
        info = Info.from_event((await conn.read_until("info"))[-1])
        assert {"en", "fr"} <= set(info.asr[0].models[0].languages)
        french = await conn.stream(load_clip(FRENCH / "stp_fr_allume_la_lumiere.wav"), chunk_ms=100)
        forced = await conn.stream(
            load_clip(FRENCH / "stp_fr_minuteur_10_minutes.wav"), language="fr", chunk_ms=100
        )
        # (base autodetects the short "what time is it" clip as German even in a plain decode)
        english = await conn.stream(load_clip(LAMP), chunk_ms=100)
    finally:
        await conn.close()
    assert french[-1].data["language"] == "fr"
    assert normalise(transcript_text(french)) == "allume la lumière"
    assert forced[-1].data["language"] == "fr"
    assert normalise(transcript_text(forced)) == "minuteur 10 minutes"
    assert english[-1].data["language"] == "en"
    assert normalise(transcript_text(english)) == "turn on the living room lamp"
