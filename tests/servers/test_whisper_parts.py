"""The speech-to-text server's parts in-process: conversion, VAD, scheduling, speculative decoding,
and Home Assistant name biasing against a real Home Assistant over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import socket
import threading

from aiohttp import ClientSession
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.setup import async_setup_component
import numpy as np
import pytest

from wyoming_servers.whisper.audio import AudioConverter, AudioFormatError, check_format
from wyoming_servers.whisper.engine import (
    EngineOptions,
    LanguageError,
    WhisperEngine,
    _cut_loop,
    normalise_language,
)
from wyoming_servers.whisper.ha_names import MAX_PROMPT_TOKENS, HomeAssistantNames, build_prompt
from wyoming_servers.whisper.scheduler import FINAL, SPECULATIVE, BusyError, DecodeScheduler
from wyoming_servers.whisper.stream import StreamingTranscriber, StreamSettings
from wyoming_servers.whisper.vad import SpeechTracker

from .whisper_client import ENGLISH, NOISE, convert_clip, load_clip, normalise

LAMP = ENGLISH / "wfw_turn_on_the_living_room_lamp.wav"
WHAT_TIME = ENGLISH / "stp_en_what_time_is_it.wav"


def _to_16k(path, converter_chunk_ms: int = 20) -> np.ndarray:
    clip = load_clip(path)
    conv = AudioConverter(clip.rate, clip.width, clip.channels)
    step = (
        clip.rate * clip.width * clip.channels * converter_chunk_ms // 1000 + 1
    )  # odd: partial frames
    parts = [conv.convert(clip.audio[i : i + step]) for i in range(0, len(clip.audio), step)]
    parts.append(conv.flush())
    return np.concatenate(parts)


# --- audio conversion and VAD ---------------------------------------------------------------------


def test_streaming_conversion_keeps_duration_and_signal() -> None:
    clip = load_clip(LAMP)  # 44.1 kHz stereo
    pcm = _to_16k(LAMP)
    assert abs(len(pcm) - clip.seconds * 16000) <= 2
    ref = convert_clip(clip, 16000, 2, 1)
    ref_pcm = np.frombuffer(ref.audio, dtype=np.int16).astype(np.float64)
    diff = pcm[: len(ref_pcm)].astype(np.float64) - ref_pcm[: len(pcm)]
    assert np.sqrt(np.mean(diff**2)) < 0.02 * np.sqrt(np.mean(ref_pcm**2))


def test_32_bit_stereo_48k_converts() -> None:
    clip = convert_clip(load_clip(LAMP), 48000, 4, 2)
    conv = AudioConverter(48000, 4, 2)
    pcm = np.concatenate([conv.convert(clip.audio), conv.flush()])
    assert abs(len(pcm) - clip.seconds * 16000) <= 2
    assert np.abs(pcm).max() > 3000


@pytest.mark.parametrize(
    ("rate", "width", "channels"), [(7999, 2, 1), (48001, 2, 1), (16000, 1, 1), (16000, 2, 3)]
)
def test_unsupported_formats(rate: int, width: int, channels: int) -> None:
    with pytest.raises(AudioFormatError):
        check_format(rate, width, channels)


def test_vad_tracks_speech_span() -> None:
    tracker = SpeechTracker()
    tracker.feed(_to_16k(LAMP).tobytes())
    assert tracker.span is not None
    assert 0.5 < tracker.span.start / 16000 < 1.0
    assert 1.5 < tracker.span.end / 16000 < 2.0
    assert tracker.silence_samples / 16000 > 1.0
    silent = SpeechTracker()
    silent.feed(_to_16k(NOISE / "pymicro_vad_silence.wav").tobytes())
    assert silent.span is None


# --- scheduler ----------------------------------------------------------------------------------------


async def test_scheduler_runs_final_before_speculative_and_bounds_queue() -> None:
    scheduler = DecodeScheduler(workers=1, max_queue=2)
    gate = threading.Event()
    order: list[str] = []
    try:
        blocker = asyncio.create_task(scheduler.run(FINAL, gate.wait))
        await asyncio.sleep(0.05)
        spec = asyncio.create_task(scheduler.run(SPECULATIVE, lambda: order.append("speculative")))
        final = asyncio.create_task(scheduler.run(FINAL, lambda: order.append("final")))
        await asyncio.sleep(0.05)
        assert scheduler.waiting == 2
        assert not scheduler.has_room(SPECULATIVE)
        # Full: a client owed a transcript takes the waiting speculative decode's place...
        owed = asyncio.create_task(scheduler.run(FINAL, lambda: order.append("owed")))
        await asyncio.sleep(0.05)
        with pytest.raises(BusyError):
            await spec
        assert scheduler.waiting == 2
        # ...and with only final decodes waiting, the next one is refused.
        with pytest.raises(BusyError):
            await scheduler.run(FINAL, lambda: None)
        gate.set()
        await asyncio.gather(blocker, final, owed)
        assert order == ["final", "owed"]
        # A cancelled waiter gives its place back.
        gate.clear()
        blocker = asyncio.create_task(scheduler.run(FINAL, gate.wait))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(scheduler.run(FINAL, lambda: order.append("never")))
        await asyncio.sleep(0.01)
        waiter.cancel()
        gate.set()
        await blocker
        assert await scheduler.run(FINAL, lambda: 42) == 42
        assert "never" not in order
    finally:
        gate.set()
        scheduler.close(wait=True)


async def test_scheduler_cancelled_waiter_leaves_the_queue_and_idle_trims() -> None:
    scheduler = DecodeScheduler(workers=1, max_queue=1)
    gate = threading.Event()
    try:
        blocker = asyncio.create_task(scheduler.run(FINAL, gate.wait))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(scheduler.run(FINAL, lambda: None))
        await asyncio.sleep(0.01)
        assert not scheduler.has_room(FINAL)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert scheduler._waiters == []  # gone at once, not when the worker frees up
        assert scheduler.has_room(FINAL)
        gate.set()
        await blocker
        async with asyncio.timeout(5):  # idle now: the heap is trimmed on a helper thread
            while scheduler.trims == 0:
                await asyncio.sleep(0.02)
    finally:
        gate.set()
        scheduler.close(wait=True)


# --- speculative decoding with the real model ----------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(EngineOptions())


@pytest.fixture
async def scheduler() -> AsyncIterator[DecodeScheduler]:
    sched = DecodeScheduler(workers=1)
    yield sched
    sched.close(wait=True)


def _feed(stream: StreamingTranscriber, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm), 320):
        stream.add(pcm[i : i + 320])


async def _settle(stream: StreamingTranscriber) -> None:
    attempt = stream._attempt
    assert attempt is not None and attempt.task is not None
    await asyncio.wait([attempt.task], timeout=30)


@pytest.mark.slow
async def test_speculative_decode_in_trailing_silence_is_reused(
    engine: WhisperEngine, scheduler: DecodeScheduler
) -> None:
    stream = StreamingTranscriber(engine, scheduler, "en")
    _feed(stream, _to_16k(LAMP))
    assert stream.speculative_decodes >= 1  # started before the end of the audio
    await _settle(stream)
    decoded = await stream.finish()
    assert stream.reused
    assert normalise(decoded.text) == "turn on the living room lamp"


@pytest.mark.slow
async def test_speech_resuming_after_a_pause_is_decoded_again(
    engine: WhisperEngine, scheduler: DecodeScheduler
) -> None:
    stream = StreamingTranscriber(engine, scheduler, "en")
    _feed(stream, _to_16k(LAMP))
    await _settle(stream)
    first = stream._attempt
    _feed(stream, _to_16k(WHAT_TIME))
    decoded = await stream.finish()
    assert stream._attempt is not first  # the first speculative result was not used
    text = normalise(decoded.text)
    assert text.startswith("turn on the living room") and text.endswith("what time is it")


@pytest.mark.slow
async def test_without_speculation_decodes_at_stop(
    engine: WhisperEngine, scheduler: DecodeScheduler
) -> None:
    stream = StreamingTranscriber(engine, scheduler, "en", settings=StreamSettings(speculate=False))
    _feed(stream, _to_16k(LAMP))
    assert stream.speculative_decodes == 0
    assert normalise((await stream.finish()).text) == "turn on the living room lamp"
    assert not stream.reused


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("turn on the lamp, turn on the lamp, turn on", "turn on the lamp"),
        ("Turn on the lamp. Turn on the", "Turn on the lamp."),
        (  # tiny.en's answer to two commands said in one go: begun again, first word misheard
            "We'll set a timer for 5. What time is it? I'll set a timer for 5. What time is it",
            "We'll set a timer for 5. What time is it?",
        ),
        ("Turn on the kitchen light and turn on the bedroom light", None),
        ("Set a timer for five minutes and set a timer for ten minutes", None),
        ("Turn on the living room lamp. Set a timer for five minutes.", None),
    ],
)
def test_repetition_loops_are_cut(text: str, kept: str | None) -> None:
    """A decode that loops is cut where the repetition starts; two commands are not a loop."""
    assert _cut_loop(text) == ((kept, True) if kept else (text, False))


def test_language_selection(engine: WhisperEngine) -> None:
    assert normalise_language("en-US") == "en"
    assert normalise_language("fr_FR") == "fr"
    assert engine.pick_language(None) == "en"
    assert engine.pick_language("en-GB") == "en"
    with pytest.raises(LanguageError):
        engine.pick_language("fr")


@pytest.mark.slow
async def test_prompt_with_names_keeps_transcript(
    engine: WhisperEngine, scheduler: DecodeScheduler
) -> None:
    prompt = build_prompt(["Living Room", "Kitchen", "Living Room Lamp", "living room"])
    assert prompt == "Living Room, Kitchen, Living Room Lamp."
    stream = StreamingTranscriber(engine, scheduler, "en", prompt=prompt)
    _feed(stream, _to_16k(LAMP))
    assert normalise((await stream.finish()).text) == "turn on the living room lamp"


def test_prompt_capped_by_model_tokens_and_name_length(engine: WhisperEngine) -> None:
    names = ["Living Room Lamp", "x" * 81, "Porch  Light", "living room lamp", 5]
    names += [f"Garden Shed Spotlight {i}" for i in range(100)]
    prompt = build_prompt(names, count_tokens=engine.count_tokens)
    assert prompt.startswith("Living Room Lamp, Porch Light, Garden Shed Spotlight 0,")
    assert "x" * 20 not in prompt
    # Cut by tokens, close to Whisper's limit, before the 60-name limit.
    assert MAX_PROMPT_TOKENS - 10 < engine.count_tokens(f" {prompt}") <= MAX_PROMPT_TOKENS
    assert len(prompt.split(", ")) < 60
    # Without the tokenizer a token per byte is assumed: shorter, never longer.
    assert len(build_prompt(names)) <= len(prompt)
    assert build_prompt(["a" * 10_000_000]) == ""


# --- Home Assistant names over real HTTP ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_names_from_real_home_assistant_with_reconnect(
    hass: HomeAssistant, hass_access_token: str, aiohttp_client, socket_enabled: None
) -> None:
    """HA is down at first (backoff), comes up (names fetched), then gets a new entity (refresh)."""
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "api", {})
    ar.async_get(hass).async_create("Wintergarden")
    hass.states.async_set("light.reading", "off", {"friendly_name": "Reading Lamp"})
    hass.states.async_set("sensor.temp", "20", {"friendly_name": "Outside Temperature"})
    port = _free_port()
    names = HomeAssistantNames(f"http://127.0.0.1:{port}", hass_access_token, refresh_s=0.2)
    names.start()
    try:
        await _wait_for(lambda: names.failures >= 1)
        assert names.state == "disconnected" and names.prompt == ""
        await aiohttp_client(hass.http.app, server_kwargs={"port": port})
        await _wait_for(lambda: names.state == "connected")
        assert names.areas == ["Wintergarden"]
        assert names.entities == ["Reading Lamp"]  # sensors are not voice targets
        assert names.prompt == "Wintergarden, Reading Lamp."
        hass.states.async_set("cover.blind", "open", {"friendly_name": "Atrium Blind"})
        await _wait_for(lambda: "Atrium Blind" in names.entities)
    finally:
        await names.stop()


async def test_names_with_a_bad_token_report_disconnected(
    hass: HomeAssistant, aiohttp_client, socket_enabled: None
) -> None:
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "api", {})
    client = await aiohttp_client(hass.http.app)
    url = str(client.make_url("")).rstrip("/")
    names = HomeAssistantNames(url, "not-a-token", refresh_s=60)
    names.start()
    try:
        assert not await names.wait_ready(10)
        assert names.state == "disconnected"
        async with ClientSession() as session, session.get(f"{url}/api/states") as resp:
            assert resp.status == 401
    finally:
        await names.stop()
