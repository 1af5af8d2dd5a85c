"""`jarvis-servers --mqtt-uri`: availability and request events on a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from tests.mqtt_broker import Broker, Subscriber, broker
from tests.servers.test_piper import ServerProcess, client, start_server, synthesize
from tests.servers.whisper_client import transcribe_pcm
from wyoming_servers.models import bundled_joe_voice, bundled_tiny_en

__all__ = ["broker"]  # the fixture

pytestmark = pytest.mark.skipif(
    bundled_joe_voice() is None or bundled_tiny_en() is None, reason="bundled models missing"
)
BASE = "jarvis/servers_test"


async def start(broker: Broker, *extra: str) -> ServerProcess:
    """jarvis-servers on free ports, publishing to `broker` (started off the loop)."""
    return await asyncio.to_thread(
        start_server,
        "wyoming_servers",
        "--stt-uri",
        "tcp://127.0.0.1:0",
        "--tts-uri",
        "tcp://127.0.0.1:0",
        "--mqtt-uri",
        f"mqtt://127.0.0.1:{broker.port}",
        "--mqtt-id",
        "servers_test",
        *extra,
        names=("whisper", "piper"),
    )


async def test_availability_and_request_events(broker: Broker) -> None:
    servers = await start(
        broker, "--metrics-uri", "http://127.0.0.1:0", "--max-buffered-seconds", "8"
    )
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            assert await sub.wait_for(f"{BASE}/availability") == "online"
            spoken = await synthesize(servers.ports["piper"], "Turn on the kitchen lights.")
            synthesis = await sub.wait_for(f"{BASE}/event/synthesis")
            assert synthesis["server"] == "piper"
            assert 0 < synthesis["first_audio_s"] <= synthesis["latency_s"]
            assert synthesis["audio_s"] == pytest.approx(spoken.seconds, abs=0.01)
            assert spoken.start is not None
            heard = await transcribe_pcm(servers.ports["whisper"], spoken.pcm, spoken.start.rate)
            transcript = await sub.wait_for(f"{BASE}/event/transcript")
            assert transcript["server"] == "whisper"
            assert transcript["chars"] == len(heard) > 0
            assert transcript["audio_s"] == pytest.approx(spoken.seconds, abs=0.01)
            assert transcript["latency_s"] > 0
            assert "text" not in transcript  # the users' words stay on the server
            # Audio in a format the server cannot take: an error event with its code.
            async with client(servers.ports["whisper"]) as c:
                await c.send(AudioStart(rate=16000, width=3, channels=1).event())
                await c.send(AudioChunk(rate=16000, width=3, channels=1, audio=b"\0" * 30).event())
                await c.send(AudioStop().event())
                await c.send(Event(type="ping", data={}))
                error = await sub.wait_for(f"{BASE}/event/error")
            assert error["server"] == "whisper"
            assert error["code"]
            # More audio held than --max-buffered-seconds: refused with busy.
            async with client(servers.ports["whisper"]) as c:
                fmt = {"rate": 16000, "width": 2, "channels": 1}
                await c.send(AudioStart(**fmt).event())
                await c.send(AudioChunk(audio=b"\0" * 16000 * 2 * 9, **fmt).event())
                busy = await sub.wait_for(f"{BASE}/event/busy")
            assert busy == {"server": "whisper"}
            assert error["code"] != "busy"
            code = await asyncio.to_thread(servers.stop)
            assert code == 0, servers.log_text()
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "offline")
    finally:
        await asyncio.to_thread(servers.finish)


async def test_the_piper_server_alone_publishes_too(broker: Broker) -> None:
    server = await asyncio.to_thread(
        start_server,
        "wyoming_servers.piper",
        "--uri",
        "tcp://127.0.0.1:0",
        "--mqtt-uri",
        f"mqtt://127.0.0.1:{broker.port}",
        "--mqtt-id",
        "piper_alone",
        names=("piper",),
    )
    base = "jarvis/piper_alone"
    try:
        async with Subscriber(broker.port, f"{base}/#") as sub:
            assert await sub.wait_for(f"{base}/availability") == "online"
            await synthesize(server.ports["piper"], "Hello.")
            assert (await sub.wait_for(f"{base}/event/synthesis"))["server"] == "piper"
    finally:
        await asyncio.to_thread(server.finish)


def test_a_bad_mqtt_uri_is_refused_clearly() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wyoming_servers.piper",
            "--uri",
            "tcp://127.0.0.1:0",
            "--mqtt-uri",
            "http://broker",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "expected mqtt://host[:port]" in result.stderr
