"""`command/announce`: a text spoken by the real Piper server and played by the real satellite.

A real Mosquitto (`tests.mqtt_broker`), the real `jarvis-piper` process and the real satellite
process (`satellite_process`, its speaker a WAV file sink); a second MQTT client sends the
commands and reads the acknowledgements and events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.mqtt_broker import Broker, Subscriber, broker
from tests.wire.http_client import free_port

from .satellite_process import SatelliteProcess
from .test_mqtt import BASE, start_satellite

__all__ = ["broker"]  # the fixture

TEXT = "Dinner is ready. Please come to the kitchen."


@contextlib.contextmanager
def running_piper() -> Iterator[int]:
    """The real Piper server on a free port (needs the servers' extra and its bundled voice)."""
    pytest.importorskip("piper")
    from tests.servers.test_piper import start_server
    from wyoming_servers.models import bundled_joe_voice

    if bundled_joe_voice() is None:
        pytest.skip("bundled voice missing")
    server = start_server("wyoming_servers.piper", "--uri", "tcp://127.0.0.1:0", names=("piper",))
    try:
        yield server.ports["piper"]
    finally:
        server.finish()


@pytest.fixture
def piper_port() -> Iterator[int]:
    """The real Piper server's port, for one test."""
    with running_piper() as port:
        yield port


async def announce(sub: Subscriber, body: Any, command_id: str) -> dict[str, Any]:
    """Publish an announcement and wait for its acknowledgement."""
    await sub.publish(f"{BASE}/command/announce", body)
    ack: dict[str, Any] = await sub.wait_for(
        f"{BASE}/ack", lambda a: a["id"] == command_id, timeout=60
    )
    return ack


async def wait_played(sat: SatelliteProcess, seconds: float, timeout: float = 30) -> float:
    """Wait until the speaker sink holds `seconds` of audio; what it holds."""
    async with asyncio.timeout(timeout):
        while sat.played_seconds() < seconds:
            await asyncio.sleep(0.1)
    return sat.played_seconds()


@pytest.mark.servers_extra
async def test_announce_is_spoken_on_the_speaker(
    tmp_path: Path, broker: Broker, piper_port: int
) -> None:
    from tests.servers.test_piper import synthesize

    direct = await synthesize(piper_port, TEXT)  # what Piper says for it, asked directly
    tts = f"tcp://127.0.0.1:{piper_port}"
    sat = await start_satellite(tmp_path, broker, "--mqtt-announce-tts-uri", tts)
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            ack = await announce(sub, {"text": TEXT, "id": "a1"}, "a1")
            assert (ack["ok"], ack["error"]) == (True, None)
            # Piper's durations vary a little from run to run.
            assert ack["seconds"] == pytest.approx(direct.seconds, rel=0.25)
            played = await sub.wait_for(f"{BASE}/event/announce_played", timeout=60)
            assert played == {"outcome": "played", "seconds": ack["seconds"]}
            heard = await wait_played(sat, ack["seconds"] - 0.05)
            assert heard == pytest.approx(ack["seconds"], abs=0.1)
            audio = sat.speaker_audio().astype(np.float32) / 32768
            assert 0.02 < float(np.sqrt(np.mean(audio**2))) < 0.5  # speech, not silence
            # HA's notify entity publishes the bare message: plain text works too.
            await sub.publish(f"{BASE}/command/announce", "Hello.")
            plain = await sub.wait_for(f"{BASE}/ack", lambda a: a["id"] is None, timeout=60)
            assert plain["ok"] and 0.3 < plain["seconds"] < 3
            await wait_played(sat, heard + plain["seconds"] - 0.05)
    finally:
        assert await sat.stop() == 0, sat.log_text()


@pytest.mark.servers_extra
async def test_an_announcement_sent_while_offline_is_spoken_once(
    tmp_path: Path, broker: Broker, piper_port: int
) -> None:
    tts = f"tcp://127.0.0.1:{piper_port}"
    (tmp_path / "a").mkdir()
    first = await start_satellite(tmp_path / "a", broker, "--mqtt-announce-tts-uri", tts)
    async with Subscriber(broker.port, f"{BASE}/#") as sub:
        await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
        first.proc.kill()
        await first.proc.wait()
        await sub.wait_for(f"{BASE}/availability", lambda p: p == "offline")
        await sub.publish(f"{BASE}/command/announce", {"text": "Welcome home.", "id": "down"})
        (tmp_path / "b").mkdir()
        second = await start_satellite(tmp_path / "b", broker, "--mqtt-announce-tts-uri", tts)
        try:
            ack = await sub.wait_for(f"{BASE}/ack", lambda a: a["id"] == "down", timeout=60)
            assert ack["ok"], ack
            await sub.wait_for(f"{BASE}/event/announce_played", timeout=60)
            heard = await wait_played(second, ack["seconds"] - 0.05)
            await asyncio.sleep(1.0)
            assert [a["id"] for a in sub.on(f"{BASE}/ack")] == ["down"]
            assert len(sub.on(f"{BASE}/event/announce_played")) == 1
            assert second.played_seconds() == heard
        finally:
            assert await second.stop() == 0, second.log_text()
    await first.stop()


@pytest.mark.servers_extra
async def test_an_error_of_the_tts_server_is_in_the_ack(
    tmp_path: Path, broker: Broker, piper_port: int
) -> None:
    tts = f"tcp://127.0.0.1:{piper_port}"
    extra = ("--mqtt-announce-tts-uri", tts, "--mqtt-announce-voice", "no_such_voice")
    sat = await start_satellite(tmp_path, broker, *extra)
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            ack = await announce(sub, {"text": "Hello", "id": "v1"}, "v1")
            assert ack["ok"] is False
            assert ack["error"].startswith("the TTS server refused: voice 'no_such_voice'")
    finally:
        assert await sat.stop() == 0, sat.log_text()
    assert sat.played_seconds() == 0


async def test_announce_without_a_tts_server_is_refused(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker)
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            ack = await announce(sub, {"text": "Hello", "id": "n1"}, "n1")
            assert ack["ok"] is False
            assert "announce_tts_uri" in ack["error"]
    finally:
        assert await sat.stop() == 0, sat.log_text()
    assert sat.played_seconds() == 0


async def test_bad_announcements_are_refused_and_the_satellite_goes_on(
    tmp_path: Path, broker: Broker
) -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"  # no TTS server listens there
    sat = await start_satellite(
        tmp_path,
        broker,
        "--mqtt-announce-tts-uri",
        nobody,
        "--mqtt-announce-max-chars",
        "20",
    )
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            long = await announce(sub, {"text": "x" * 21, "id": "b1"}, "b1")
            assert (long["ok"], long["error"]) == (
                False,
                "the text has 21 characters, more than 20",
            )
            empty = await announce(sub, {"text": "  ", "id": "b2"}, "b2")
            assert "empty" in empty["error"]
            not_text = await announce(sub, {"text": 5, "id": "b3"}, "b3")
            assert "expected the text" in not_text["error"]
            down = await announce(sub, {"text": "Hello", "id": "b4"}, "b4")
            assert down["ok"] is False
            assert f"cannot reach the TTS server at {nobody}" in down["error"]
            volume = {"value": 0.5, "id": "b5"}
            await sub.publish(f"{BASE}/command/volume", volume)
            assert (await sub.wait_for(f"{BASE}/ack", lambda a: a["id"] == "b5"))["ok"]
    finally:
        assert await sat.stop() == 0, sat.log_text()
    assert sat.played_seconds() == 0


def test_a_bad_tts_uri_is_refused_in_the_settings() -> None:
    from satellite.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="mqtt.announce_tts_uri: expected tcp://HOST:PORT"):
        load_config(None, {"mqtt": {"announce_tts_uri": "http://piper:10200"}})
    config = load_config(None, {"mqtt": {"announce_tts_uri": "tcp://127.0.0.1:10200"}})
    assert config.mqtt.announce_max_chars == 400
