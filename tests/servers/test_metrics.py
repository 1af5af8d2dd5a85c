"""/metrics and /health of the speech servers: real processes, real HTTP GETs, parsed scrapes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import subprocess
import sys
import time

import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.servers.test_piper import (
    Client,
    Received,
    ServerProcess,
    _words,
    assert_valid_pcm,
    client,
    start_server,
    synthesize,
)
from tests.servers.whisper_client import (
    ENGLISH,
    Client as WhisperClient,
    async_whisper_process,
    load_clip,
    transcribe_pcm,
    transcript_text,
)
from tests.wire.http_client import (
    BAD_REQUESTS,
    METRICS_READY,
    Scrape,
    health,
    http_get,
    raw_request,
    scrape,
)
from wyoming_servers.models import bundled_joe_voice, bundled_tiny_en
from wyoming_servers.whisper.stream import edit_distance

pytestmark = pytest.mark.skipif(
    bundled_joe_voice() is None or bundled_tiny_en() is None, reason="bundled models missing"
)

SPOKEN = "Turn off the kitchen lights and lock the front door."


def metrics_port(server: ServerProcess, timeout: float = 10) -> int:
    """The port the process logged for its metrics endpoint."""
    deadline = time.monotonic() + timeout
    while not (found := METRICS_READY.search(server.log_text())):
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    return int(found.group(1))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerProcess, int]]:
    server = start_server(
        "wyoming_servers",
        "--stt-uri",
        "tcp://127.0.0.1:0",
        "--tts-uri",
        "tcp://127.0.0.1:0",
        "--metrics-uri",
        "http://127.0.0.1:0",
        names=("whisper", "piper"),
    )
    try:
        yield server, metrics_port(server)
    finally:
        server.finish()


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.total(name, **labels) - before.total(name, **labels)


def _audio_s(received: Received) -> float:
    return sum(len(c.audio or b"") / (c.width * c.channels * c.rate) for c in received.chunks)


async def _busy_then_done(port: int) -> float:
    """A second request while the first is spoken: refused with busy, the first completes.

    Returns the seconds of audio received."""
    c = await Client.connect(port)
    try:
        await c.send(Synthesize(text=SPOKEN).event())
        await c.send(Synthesize(text="Done.").event())
        refused = await c.receive("audio-stop")
        assert refused.error is not None and refused.error.code == "busy", refused.events
        rest = await c.receive("audio-stop")
        assert rest.error is None and rest.chunks
        return _audio_s(refused) + _audio_s(rest)
    finally:
        await c.close()


async def _stream(port: int) -> float:
    """Home Assistant's streaming: start, chunks, the repeated full text, stop; audio seconds."""
    async with client(port) as c:
        await c.send(SynthesizeStart().event())
        for word in SPOKEN.split():
            await c.send(SynthesizeChunk(text=f"{word} ").event())
        await c.send(Synthesize(text=SPOKEN).event())
        await c.send(SynthesizeStop().event())
        got = await c.receive("synthesize-stopped")
        assert got.error is None and got.chunks
        return _audio_s(got)


async def test_transcription_and_synthesis_move_the_metrics(
    servers: tuple[ServerProcess, int],
) -> None:
    server, port = servers
    before = scrape(port)
    spoken = await synthesize(server.ports["piper"], SPOKEN, sample_rate=16000)
    assert_valid_pcm(spoken, 16000)
    heard = await transcribe_pcm(server.ports["whisper"], spoken.pcm, 16000)
    # Piper's voice differs a little per render, and tiny.en slips on a word now and then
    # ("Turn off the catch and lights"): the sentence, give or take two words.
    assert edit_distance(_words(heard), _words(SPOKEN)) <= 2, heard
    more_audio_s = await _busy_then_done(server.ports["piper"])
    more_audio_s += await _stream(server.ports["piper"])
    after = scrape(port)

    # Requests by server and result.
    assert moved(before, after, "jarvis_requests_total", server="whisper", result="ok") == 1
    assert moved(before, after, "jarvis_requests_total", server="piper", result="ok") == 3
    assert moved(before, after, "jarvis_requests_total", server="piper", result="busy") == 1
    assert moved(before, after, "jarvis_requests_total", result="error") == 0
    assert moved(before, after, "jarvis_busy_rejections_total", server="piper") == 1
    assert moved(before, after, "jarvis_errors_total", server="piper", code="busy") == 1
    # Latency per stage: one observation per request, plausible values.
    stage = "jarvis_stage_seconds_count"
    assert moved(before, after, stage, server="whisper", stage="audio_stop_to_transcript") == 1
    assert moved(before, after, stage, server="piper", stage="request_to_first_audio") == 3
    assert moved(before, after, stage, server="piper", stage="request_to_audio_stop") == 3
    first = moved(before, after, "jarvis_stage_seconds_sum", stage="request_to_first_audio")
    total = moved(before, after, "jarvis_stage_seconds_sum", stage="request_to_audio_stop")
    assert 0 < first < total < 60
    stt_s = moved(before, after, "jarvis_stage_seconds_sum", stage="audio_stop_to_transcript")
    assert 0 <= stt_s < 30
    # Real-time factor of every synthesized chunk and of the decode.
    assert moved(before, after, "jarvis_real_time_factor_count", server="piper") >= 3
    rtf = moved(before, after, "jarvis_real_time_factor_sum", server="piper") / moved(
        before, after, "jarvis_real_time_factor_count", server="piper"
    )
    assert 0 < rtf < 2
    assert moved(before, after, "jarvis_real_time_factor_count", server="whisper") >= 1
    assert moved(before, after, "jarvis_real_time_factor_sum", server="whisper") > 0
    # Audio: what was synthesized, then transcribed.
    assert moved(before, after, "jarvis_audio_seconds_total", server="whisper") == pytest.approx(
        spoken.seconds, rel=0.01
    )
    assert moved(before, after, "jarvis_audio_seconds_total", server="piper") == pytest.approx(
        spoken.seconds + more_audio_s, rel=0.02
    )
    # Connections (from the wire library), queues, memory.
    assert moved(before, after, "jarvis_connections_accepted_total", server="whisper") == 1
    assert moved(before, after, "jarvis_connections_accepted_total", server="piper") == 3
    assert after.value("jarvis_connections_refused_total", server="piper") == 0
    assert after.value("jarvis_queue_limit", server="whisper") == 16
    assert after.value("jarvis_workers", server="piper") == 1
    assert after.value("jarvis_queue_depth", server="whisper") == 0
    assert after.value("process_resident_memory_bytes") > 100e6


async def test_errors_are_counted_by_code_and_result(servers: tuple[ServerProcess, int]) -> None:
    server, port = servers
    before = scrape(port)
    async with client(server.ports["whisper"]) as c:
        # Outside a request: counted by code only.
        await c.send(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0\0").event())
        assert (await c.read()).data["code"] == "order"
        # A request refused at its start: an error result.
        await c.send(Transcribe().event())
        await c.send(AudioStart(rate=16000, width=3, channels=1).event())
        assert (await c.read()).data["code"] == "unsupported-format"
        await c.send(AudioStop().event())  # nothing open: another `order`
        assert (await c.read()).data["code"] == "order"
    async with client(server.ports["piper"]) as c:
        await c.send(Synthesize(text="x" * 20_001).event())
        assert (await c.read()).data["code"] == "too-large"
    after = scrape(port)
    assert moved(before, after, "jarvis_errors_total", server="whisper", code="order") == 2
    assert moved(before, after, "jarvis_requests_total", server="whisper", result="error") == 1
    assert moved(before, after, "jarvis_requests_total", server="piper", result="error") == 1
    assert moved(before, after, "jarvis_requests_total", result="ok") == 0


async def test_a_client_that_leaves_mid_reply_is_cancelled(
    servers: tuple[ServerProcess, int],
) -> None:
    server, port = servers
    before = scrape(port)
    c = await Client.connect(server.ports["piper"])
    await c.send(Synthesize(text=SPOKEN * 3).event())
    assert (await c.read()).type == "audio-start"
    await c.close()
    deadline = time.monotonic() + 10
    while moved(before, scrape(port), "jarvis_requests_total", result="cancelled") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert moved(before, scrape(port), "jarvis_requests_total", server="piper", result="ok") == 0


def test_health_reports_what_is_loaded(servers: tuple[ServerProcess, int]) -> None:
    server, port = servers
    status, report = health(port)
    assert status == 200 and report["status"] == "ok", report
    whisper, piper = report["servers"]["whisper"], report["servers"]["piper"]
    assert whisper["status"] == piper["status"] == "ok"
    assert whisper["loaded"] == {"model": "tiny.en"}
    assert piper["loaded"]["voices_loaded"] == ["en_US-joe-medium"]
    assert whisper["connections"]["uri"] == f"tcp://127.0.0.1:{server.ports['whisper']}"
    assert whisper["connections"]["listening"] and piper["connections"]["open"] == 0
    assert whisper["queue"] == {"waiting": 0, "running": 0, "workers": 1, "limit": 16}


@pytest.mark.parametrize(("raw", "status"), BAD_REQUESTS)
async def test_bad_http_requests_get_4xx_and_the_process_keeps_serving(
    servers: tuple[ServerProcess, int], raw: bytes, status: int
) -> None:
    server, port = servers
    assert raw_request(port, raw) == status
    assert http_get(port, "/metrics", method="HEAD")[0] == 200
    assert scrape(port).value("jarvis_workers", server="whisper") == 1
    async with client(server.ports["piper"]) as c:
        await c.send(Describe().event())
        assert Info.from_event(await c.read()).tts


def test_metrics_are_off_unless_asked_and_the_uri_is_checked() -> None:
    from wyoming_servers.__main__ import build_parser

    assert build_parser().parse_args([]).metrics_uri is None
    for module in ("wyoming_servers", "wyoming_servers.piper", "wyoming_servers.whisper"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--metrics-uri", "tcp://127.0.0.1:9300"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2 and "expected http://HOST:PORT" in result.stderr


def test_piper_alone_serves_its_metrics() -> None:
    server = start_server(
        "wyoming_servers.piper",
        "--uri",
        "tcp://127.0.0.1:0",
        "--metrics-uri",
        "http://127.0.0.1:0",
        names=("piper",),
    )
    try:
        port = metrics_port(server)
        status, report = health(port)
        assert status == 200 and list(report["servers"]) == ["piper"]
        assert scrape(port).label_values("jarvis_requests_total", "server") == {"piper"}
    finally:
        server.finish()


async def test_whisper_alone_serves_its_metrics() -> None:
    clip = load_clip(ENGLISH / "wfw_turn_on_the_living_room_lamp.wav")
    async with async_whisper_process("--metrics-uri", "http://127.0.0.1:0") as server:
        found = METRICS_READY.search(server.log_text())
        for _ in range(200):
            if found:
                break
            await asyncio.sleep(0.05)
            found = METRICS_READY.search(server.log_text())
        assert found, server.log_text()
        port = int(found.group(1))
        status, report = health(port)
        assert status == 200 and list(report["servers"]) == ["whisper"]
        before = scrape(port)
        c = await WhisperClient.connect(server.port)
        try:
            assert "lamp" in transcript_text(await c.stream(clip)).lower()
        finally:
            await c.close()
        after = scrape(port)
    assert moved(before, after, "jarvis_requests_total", server="whisper", result="ok") == 1
    assert moved(before, after, "jarvis_stage_seconds_count", server="whisper") == 1
    decodes = moved(before, after, "jarvis_real_time_factor_count", server="whisper")
    assert decodes >= 1
    assert 0 < moved(before, after, "jarvis_real_time_factor_sum", server="whisper") / decodes < 5
    assert moved(before, after, "jarvis_audio_seconds_total") == pytest.approx(clip.seconds)
