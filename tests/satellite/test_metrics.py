"""The satellite's /metrics and /health: a real process, real HTTP GETs, parsed scrapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from wyoming.event import Event
from wyoming.satellite import RunSatellite
from wyoming.tts import Synthesize

from tests.wire.http_client import BAD_REQUESTS, free_port, health, raw_request, scrape

from .satellite_process import Peer, SatelliteProcess, utterance
from .test_protocol import speak, tone


@pytest.fixture
async def sat(tmp_path: Path) -> AsyncIterator[tuple[SatelliteProcess, int]]:
    port = free_port()
    proc = await SatelliteProcess.start(tmp_path, "--server-metrics-port", str(port))
    try:
        yield proc, port
    finally:
        code = await proc.stop()
        assert code == 0, proc.log_text()


async def test_a_command_moves_the_metrics_and_health_follows_the_driver(
    sat: tuple[SatelliteProcess, int],
) -> None:
    proc, port = sat
    assert f"metrics ready on http://127.0.0.1:{port}" in proc.log_text()
    status, report = health(port)
    assert status == 503 and report["status"] == "degraded"
    assert report["problems"] == ["no Home Assistant connection drives it"]
    assert report["listening"] and report["loaded"]["wake_word"] == "hey_jarvis"
    before = scrape(port)
    assert before.value("jarvis_satellite_state", state="paused") == 1
    assert before.value("jarvis_satellite_driver_connected") == 0
    assert before.value("jarvis_satellite_wake_detections_total", wake_word="hey_jarvis") == 0

    async with Peer(proc.port) as peer:
        await peer.send(RunSatellite().event())
        await peer.send(Event(type="ping", data={"text": "x"}))
        await peer.next("pong")
        status, report = health(port)
        assert status == 200 and report["status"] == "ok", report
        assert report["state"] == "idle" and report["driver_connected"]
        assert report["connections"]["open"] == 1

        await proc.say(utterance().pcm)
        events = await peer.collect_until("audio-stop", timeout=30)
        assert "detection" in [e.type for e in events]
        await peer.send(Synthesize(text="Turned on the lamp.").event())
        await speak(peer, tone(0.5))
        await peer.next("played", timeout=15)
        after = scrape(port)

    sent = sum(e.type == "audio-chunk" for e in events)
    assert after.value("jarvis_satellite_wake_detections_total", wake_word="hey_jarvis") == 1
    assert after.value("jarvis_satellite_wake_score_count", wake_word="hey_jarvis") == 1
    score = after.value("jarvis_satellite_wake_score_sum", wake_word="hey_jarvis")
    assert 0.9 < score <= 1.0
    assert after.value("jarvis_satellite_wake_score_bucket", wake_word="hey_jarvis", le="0.9") == 0
    assert after.value("jarvis_satellite_wake_to_audio_seconds_count") == 1
    assert 0 < after.value("jarvis_satellite_wake_to_audio_seconds_sum") < 0.5
    assert after.value("jarvis_satellite_pipelines_total") == 1
    assert after.value("jarvis_satellite_audio_chunks_sent_total") == sent
    assert after.value("jarvis_satellite_replies_played_total") == 1
    assert after.value("jarvis_satellite_state", state="idle") == 1
    assert after.value("jarvis_satellite_state", state="streaming") == 0
    assert after.value("jarvis_satellite_driver_connected") == 1
    assert after.value("jarvis_satellite_listening") == 1
    assert after.value("jarvis_connections_open", server="satellite") == 1
    assert after.value("jarvis_connections_accepted_total", server="satellite") == 1
    # The capture chain: frames of 10 ms processed, and what each cost.
    frames = after.value("jarvis_satellite_capture_frames_total")
    audio_s = len(utterance().pcm) / 2 / 48000
    # The scrape may come a few frames before the chain has caught up with the last audio.
    assert 0.9 * audio_s * 100 <= frames <= audio_s * 100 + 1
    cpu = after.value("jarvis_satellite_capture_cpu_seconds_total")
    assert 0 < cpu / frames < 0.005  # under 5 ms of CPU per 10 ms frame
    per_frame = after.value("jarvis_satellite_capture_cpu_seconds_per_frame")
    assert per_frame == pytest.approx(cpu / frames, rel=0.05)
    stages = after.label_values("jarvis_satellite_capture_stage_seconds_total", "stage")
    assert {"wake", "vad", "resample"} <= stages
    assert after.value("jarvis_satellite_capture_stage_seconds_total", stage="wake") > 0
    assert after.value("process_resident_memory_bytes") > 20e6

    # The driver left: paused again, and the health says so.
    for _ in range(100):
        if scrape(port).value("jarvis_satellite_driver_connected") == 0:
            break
        await asyncio.sleep(0.05)
    final = scrape(port)
    assert final.value("jarvis_satellite_state", state="paused") == 1
    assert final.value("jarvis_connections_open", server="satellite") == 0
    assert health(port)[0] == 503


@pytest.mark.parametrize(("raw", "status"), BAD_REQUESTS)
async def test_bad_http_requests_get_4xx_and_the_satellite_keeps_serving(
    sat: tuple[SatelliteProcess, int], raw: bytes, status: int
) -> None:
    proc, port = sat
    assert raw_request(port, raw) == status
    assert scrape(port).value("jarvis_satellite_listening") == 1
    async with Peer(proc.port) as peer:
        await peer.send(Event(type="ping", data={"text": "still"}))
        assert (await peer.next("pong")).data["text"] == "still"


async def test_metrics_are_off_unless_configured(tmp_path: Path) -> None:
    from satellite.config import ServerSettings

    assert ServerSettings().metrics_port == 0
    assert ServerSettings().metrics_host == "127.0.0.1"
    proc = await SatelliteProcess.start(tmp_path)
    try:
        assert "metrics ready" not in proc.log_text()
    finally:
        assert await proc.stop() == 0
