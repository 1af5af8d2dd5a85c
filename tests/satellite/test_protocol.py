"""The satellite's Wyoming protocol, driven over real TCP by a client playing Home Assistant.

The satellite runs as a real subprocess (`python -m satellite`); its microphone is raw
48 kHz PCM on stdin carrying real recordings, its speaker a WAV file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import math
from pathlib import Path

import numpy as np
import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStopped
from wyoming.wake import Detection

from .satellite_process import (
    MIC_RATE,
    Peer,
    SatelliteProcess,
    command_only,
    command_position,
    silence,
    speech_span,
    utterance,
)

TTS_RATE = 22050


def tone(seconds: float, rate: int = TTS_RATE, freq: float = 440.0) -> bytes:
    """A sine tone as s16le mono."""
    n = int(seconds * rate)
    samples = (8000 * np.sin(2 * math.pi * freq * np.arange(n) / rate)).astype("<i2")
    return samples.tobytes()


async def speak(peer: Peer, pcm: bytes, rate: int = TTS_RATE, width: int = 2) -> None:
    """Send a reply the way HA streams TTS (2048-byte chunks)."""
    await peer.send(AudioStart(rate=rate, width=width, channels=1, timestamp=0).event())
    for i in range(0, len(pcm), 2048):
        await peer.send(
            AudioChunk(rate=rate, width=width, channels=1, audio=pcm[i : i + 2048]).event()
        )
    await peer.send(AudioStop().event())


@pytest.fixture
async def sat(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A fresh satellite."""
    proc = await SatelliteProcess.start(tmp_path)
    try:
        yield proc
    finally:
        code = await proc.stop()
        assert code == 0, proc.log_text()


def assert_complete_command(pcm: bytes) -> None:
    """The streamed audio holds the whole spoken command, first syllable to last."""
    offset, streamed = command_position(pcm)
    start, end = speech_span(utterance().command_16k)
    assert offset + start >= 0.1, f"command start clipped (offset {offset:.2f} s)"
    assert offset + end <= streamed, f"command end cut: {offset + end:.2f} > {streamed:.2f} s"
    assert streamed <= offset + end + 2.0, "streamed long after the end of speech"


async def run_command(peer: Peer, sat: SatelliteProcess) -> list[Event]:
    """Say 'hey jarvis, turn on the living room lamp'; return what the satellite sent."""
    await sat.say(utterance().pcm)
    return await peer.collect_until("audio-stop", timeout=30)


async def test_describe_announces_a_satellite(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(Describe().event())
        info = Info.from_event(await peer.next("info"))
    assert info.satellite is not None
    assert info.satellite.installed
    assert info.satellite.name == "Test satellite"
    assert info.satellite.area == "Kitchen"
    assert info.satellite.has_vad
    assert info.satellite.active_wake_words == ["hey_jarvis"]
    assert info.wake[0].models[0].name == "hey_jarvis"
    assert info.wake[0].models[0].phrase == "hey jarvis"
    assert info.mic[0].mic_format.rate == 16000
    assert info.mic[0].mic_format.width == 2
    assert info.mic[0].mic_format.channels == 1


async def test_local_wake_streams_the_whole_command_then_plays_the_reply(
    sat: SatelliteProcess,
) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await peer.send(Ping(text="x").event())
        assert (await peer.next("pong")).data.get("text") == "x"
        events = await run_command(peer, sat)
        types = [e.type for e in events]
        first = types.index("detection")
        assert types[first : first + 3] == ["detection", "run-pipeline", "audio-start"]
        assert Detection.from_event(events[first]).name == "hey_jarvis"
        run = RunPipeline.from_event(events[first + 1])
        assert (run.start_stage, run.end_stage) == (PipelineStage.ASR, PipelineStage.TTS)
        assert run.wake_word_name == "hey_jarvis"
        chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
        assert {(c.rate, c.width, c.channels) for c in chunks} == {(16000, 2, 1)}
        assert_complete_command(b"".join(c.audio for c in chunks))

        # The recording was fed through stdin; the satellite notices its end and keeps serving.
        sat.proc.stdin.close()
        await wait_for_log(sat, "The audio source ended; still serving playback")
        await peer.send(Transcript(text="turn on the living room lamp").event())
        await peer.send(Synthesize(text="Turned on the lamp.").event())
        await speak(peer, tone(1.0))
        await peer.next("played", timeout=15)
        await peer.send(Event(type="jarvis-satellite-control", data={}))
        state = (await peer.next("jarvis-satellite-state")).data
        assert state["wake_words"] == 1
        assert state["replies_played"] == 1
        assert isinstance(state["wake_to_audio_ms"], float)
    # Wake chime + end-of-command chime (0.24 s each) and the 1 s reply.
    assert sat.played_seconds() >= 1.0 + 2 * 0.24 - 0.02
    assert "Reply played (1.0 s)" in sat.log_text()


async def wait_for_log(sat: SatelliteProcess, text: str, timeout: float = 20.0) -> None:
    """Wait until the satellite has logged `text`."""
    async with asyncio.timeout(timeout):
        while text not in sat.log_text():
            await asyncio.sleep(0.05)


async def wait_consumed(peer: Peer, samples: int, timeout: float = 20.0) -> None:
    """Wait until the listener has processed `samples` microphone samples."""
    async with asyncio.timeout(timeout):
        while True:
            await peer.send(Event(type="jarvis-satellite-control", data={}))
            state = (await peer.next("jarvis-satellite-state")).data
            # Audio is processed in whole 10 ms frames: a partial last frame waits.
            if state["listener"]["samples_in"] >= samples - MIC_RATE // 100:
                return
            await asyncio.sleep(0.05)


async def assert_nothing_streamed(peer: Peer, sat: SatelliteProcess, log_line: str) -> None:
    """After `log_line` shows up, the only thing the satellite sends is the pong."""
    await wait_for_log(sat, log_line)
    await peer.send(Ping(text="barrier").event())
    event = await peer.client.read_event()
    assert event is not None
    assert event.type == "pong", f"satellite sent {event.type} while it must stay quiet"


async def test_a_pipeline_error_is_heard_as_the_error_chime(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await run_command(peer, sat)
        before = -1.0
        while before != (before := sat.played_seconds()):  # the wake/done chimes are over
            await asyncio.sleep(0.4)
        # What HA sends when our STT server is down.
        await peer.send(Error(text="Speech-to-text failed", code="stt-stream-failed").event())
        await wait_for_log(sat, "Server error stt-stream-failed")
        async with asyncio.timeout(10):
            while sat.played_seconds() < before + 0.3 - 0.02:  # error.wav is 0.3 s
                await asyncio.sleep(0.05)


async def test_pause_stops_the_pipeline_until_run(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await peer.send(PauseSatellite().event())
        await sat.say(utterance().pcm)
        await assert_nothing_streamed(peer, sat, "wake word ignored")

        await peer.send(RunSatellite().event())
        events = await run_command(peer, sat)
        assert "detection" in [e.type for e in events]


async def test_mute_sends_no_audio_and_unmute_restores(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await peer.send(Event(type="jarvis-satellite-control", data={"muted": True}))
        state = await peer.next("jarvis-satellite-state")
        assert state.data["muted"] is True
        await sat.say(utterance().pcm)
        # Muted: the wake word is not even listened for; wait until the recording was heard.
        await wait_consumed(peer, len(utterance().pcm) // 2)
        await assert_nothing_streamed(peer, sat, "Microphone muted")
        assert "Wake word hey_jarvis" not in sat.log_text()

        await peer.send(Event(type="jarvis-satellite-control", data={"muted": False}))
        assert (await peer.next("jarvis-satellite-state")).data["muted"] is False
        events = await run_command(peer, sat)
        assert "detection" in [e.type for e in events]


async def test_follow_up_question_reopens_the_mic(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path, "--listen-no-speech-timeout-s", "1.0")
    try:
        async with Peer(sat.port) as peer:
            await peer.send(RunSatellite().event())
            await run_command(peer, sat)
            await peer.send(Transcript(text="turn on the lamp").event())
            await peer.send(Synthesize(text="Which lamp do you mean?").event())
            await speak(peer, tone(0.5))
            await peer.next("played")
            # The satellite asks HA for a new run without a wake word …
            run = RunPipeline.from_event(await peer.next("run-pipeline"))
            assert run.start_stage == PipelineStage.ASR
            assert run.wake_word_name is None
            # … and streams the mic: nobody answers, so it ends on the no-speech timeout.
            await sat.say(silence(2.0))
            events = await peer.collect_until("audio-stop")
            assert "detection" not in [e.type for e in events]
            assert any(e.type == "audio-chunk" for e in events)
            await wait_for_log(sat, "Command ended: no speech")

            # A statement does not reopen the mic.
            await speak(peer, tone(0.3))
            await peer.next("played")
            await peer.send(Ping(text="after").event())
            assert (await peer.client.read_event()).type == "pong"
    finally:
        assert await sat.stop() == 0


async def test_wake_word_during_a_reply_stops_it(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path, "--speaker-file", "null")
    try:
        async with Peer(sat.port) as peer:
            await peer.send(RunSatellite().event())
            loop = asyncio.get_running_loop()
            started = loop.time()
            await speak(peer, tone(20.0))
            await wait_for_log(sat, "State paused -> idle")
            await sat.say(utterance().pcm)
            events = await peer.collect_until("played", timeout=15)
            assert loop.time() - started < 15, "the 20 s reply was not interrupted"
            assert "detection" in [e.type for e in events]
            await wait_for_log(sat, "Barge-in: reply stopped")
    finally:
        assert await sat.stop() == 0


async def test_unplayable_reply_is_refused_and_the_satellite_keeps_listening(
    sat: SatelliteProcess,
) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await speak(peer, tone(0.5), rate=22050, width=5)
        error = Error.from_event(await peer.next("error"))
        assert error.code == "unsupported-audio-format"
        assert "sample width 5" in error.text
        await peer.next("played")
        assert sat.played_seconds() == 0.0

        events = await run_command(peer, sat)
        assert "detection" in [e.type for e in events]
        await speak(peer, tone(0.5))
        await peer.next("played")
    assert sat.played_seconds() >= 0.5


async def test_timers_ring_when_finished(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path, "--behaviour-timer-alarm-s", "1.0")
    try:
        async with Peer(sat.port) as peer:
            await peer.send(RunSatellite().event())
            await peer.send(TimerStarted(id="t1", total_seconds=300, name="pasta").event())
            await peer.send(TimerUpdated(id="t1", is_active=False, total_seconds=250).event())
            await peer.send(TimerCancelled(id="t1").event())
            await peer.send(TimerStarted(id="t2", total_seconds=5).event())
            await peer.send(Event(type="jarvis-satellite-control", data={}))
            state = (await peer.next("jarvis-satellite-state")).data
            assert set(state["timers"]) == {"t2"}
            assert sat.played_seconds() == 0.0

            await peer.send(TimerFinished(id="t2").event())
            await wait_for_log(sat, "Timer t2 finished")
            async with asyncio.timeout(10):
                while sat.played_seconds() < 0.3:
                    await asyncio.sleep(0.1)
    finally:
        assert await sat.stop() == 0
    log = sat.log_text()
    assert "Timer t1 started: 300 s (pasta)" in log
    assert "Timer t1 updated: 250 s, paused" in log
    assert "Timer t1 cancelled" in log


async def test_ha_disconnecting_mid_stream_leaves_it_listening(sat: SatelliteProcess) -> None:
    pcm = utterance().pcm
    half = (len(pcm) // 2) & ~1  # inside the command
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        await sat.say(pcm[:half])
        await peer.next("audio-chunk")
    # Connection gone mid-command; the rest of the recording is heard with nobody there.
    await sat.say(pcm[half:])
    await wait_for_log(sat, "disconnected; waiting for Home Assistant")

    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        events = await run_command(peer, sat)
        chunks = [AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk"]
        assert_complete_command(b"".join(chunks))


async def test_new_connection_replaces_the_driving_one(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as old, Peer(sat.port) as info_only, Peer(sat.port) as new:
        await old.send(RunSatellite().event())
        await old.send(Ping().event())
        await old.next("pong")
        # A describe-only connection (HA refreshing info) does not take over.
        await info_only.send(Describe().event())
        await info_only.next("info")
        await old.send(Ping().event())
        await old.next("pong")

        await new.send(RunSatellite().event())
        assert await old.client.read_event() is None  # closed by the satellite
        events = await run_command(new, sat)
        assert "detection" in [e.type for e in events]


async def test_malformed_events_are_answered_and_skipped(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        bad_lines = [
            b"this is not json\n",
            b"[1, 2, 3]\n",
            b'{"type": 5}\n',
            b'{"type": "transcript", "data_length": 5}\nnope!',
            b'{"type": "audio-start", "data": {"rate": "fast"}}\n',
            b'{"type": "audio-chunk", "data": {"width": 2}, "payload_length": 4}\nabcd',
            b'{"type": "timer-started", "data": {}}\n',
            b'{"type": "ping", "data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001 + b"\n",
        ]
        for line in bad_lines:
            await peer.send_raw(line)
            error = Error.from_event(await peer.next("error"))
            assert error.code in ("bad-header", "bad-data", "bad-request"), error
        await peer.send(Ping(text="still here").event())
        assert (await peer.next("pong")).data["text"] == "still here"
        events = await run_command(peer, sat)
        assert "detection" in [e.type for e in events]

    # A stream that cannot be resynced (header far too long) is closed; others go on.
    async with Peer(sat.port) as peer:
        await peer.send_raw(b"{" + b" " * 70_000)
        error = await peer.next("error")
        assert "longer than" in error.data["text"]
        assert await peer.client.read_event() is None
    async with Peer(sat.port) as peer:
        await peer.send(Describe().event())
        assert Info.from_event(await peer.next("info")).satellite is not None


async def test_remote_wake_streams_everything_and_restarts_after_errors(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path, wake_local=False)
    try:
        async with Peer(sat.port) as peer:
            await peer.send(Describe().event())
            info = Info.from_event(await peer.next("info"))
            assert info.wake == []  # HA's wake word engine does the detection
            await peer.send(RunSatellite().event())
            run = RunPipeline.from_event(await peer.next("run-pipeline"))
            assert (run.start_stage, run.end_stage) == (PipelineStage.WAKE, PipelineStage.TTS)
            assert run.restart_on_end
            await sat.say(utterance().pcm)
            seconds = 0.0
            while seconds < 4.0:
                seconds += AudioChunk.from_event(await peer.next("audio-chunk")).seconds
            await peer.send(Detection(name="hey_jarvis").event())
            await peer.send(VoiceStopped().event())
            await peer.send(Error(text="no STT", code="stt-provider-missing").event())
            run = RunPipeline.from_event(await peer.next("run-pipeline", timeout=10))
            assert run.start_stage == PipelineStage.WAKE
    finally:
        assert await sat.stop() == 0


async def test_without_barge_in_wake_words_during_a_reply_are_ignored(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(
        tmp_path, "--speaker-file", "null", "--behaviour-barge-in", "false"
    )
    try:
        async with Peer(sat.port) as peer:
            await peer.send(RunSatellite().event())
            await speak(peer, tone(3.0))
            await wait_for_log(sat, "State paused -> idle")
            await sat.say(utterance().pcm)
            await wait_for_log(sat, "Replying: wake word ignored")
            events = await peer.collect_until("played", timeout=15)
            assert "detection" not in [e.type for e in events]
            assert "Barge-in" not in sat.log_text()
    finally:
        assert await sat.stop() == 0


async def test_server_can_trigger_listening_without_a_wake_word(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as peer:
        await peer.send(Describe().event())
        assert Info.from_event(await peer.next("info")).satellite.supports_trigger
        await peer.send(RunSatellite().event())
        await peer.send(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.HANDLE).event()
        )
        run = RunPipeline.from_event(await peer.next("run-pipeline"))
        assert (run.start_stage, run.end_stage) == (PipelineStage.ASR, PipelineStage.HANDLE)
        await peer.next("audio-start")
        await sat.say(command_only())
        events = await peer.collect_until("audio-stop")
        assert "detection" not in [e.type for e in events]
        chunks = [AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk"]
        offset, streamed = command_position(b"".join(chunks))
        start, end = speech_span(utterance().command_16k)
        assert offset + start >= 0.0
        assert offset + end <= streamed
