"""The Jarvis satellite protocol's control and state, driven over real TCP (README, "Jarvis
satellite protocol"): a client playing the Jarvis integration changes the wake word, its
sensitivity, mute, volume, follow-ups and the stop word of a real `python -m satellite`, and
the satellite's behaviour on a recording changes with them; subscribed peers get the state
pushed when it changes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
import uuid

import numpy as np
from wyoming.event import Event
from wyoming.satellite import RunSatellite

from .satellite_process import SATELLITE_PYTHON, Peer, SatelliteProcess, utterance
from .test_cli import run_cli
from .test_protocol import run_command, speak, tone, wait_consumed

CONTROL = "jarvis-satellite-control"
STATE = "jarvis-satellite-state"


async def control(peer: Peer, **data: Any) -> dict[str, Any]:
    """Send a control event; the state it answers with."""
    await peer.send(Event(type=CONTROL, data=data))
    return dict((await peer.next(STATE)).data)


async def say_and_wait(peer: Peer, sat: SatelliteProcess, pcm: bytes) -> None:
    """Say `pcm` and wait until the listener has processed it all (plus what came before)."""
    before = (await control(peer))["listener"].get("samples_in", 0.0)
    await sat.say(pcm)
    await wait_consumed(peer, int(before) + len(pcm) // 2)


async def test_control_changes_the_wake_word_and_what_the_satellite_answers(
    tmp_path: Path,
) -> None:
    sat = await SatelliteProcess.start(tmp_path, "--sounds-wake", "none", "--sounds-done", "none")
    try:
        async with Peer(sat.port) as peer:
            await peer.send(RunSatellite().event())
            state = await control(peer)
            assert state["wake_word"] == "hey_jarvis"
            assert {"hey_jarvis", "okay_nabu", "alexa"} <= set(state["wake_words_available"])
            assert state["wake_sensitivity"] == "default"
            assert (state["follow_up"], state["stop_word"], state["arbitration"]) == (
                True,
                False,
                False,
            )
            assert state["media"] == {"state": "idle", "ducked": False, "buffered_s": 0.0}
            assert state["last_wake"] is None
            assert state["chain_ms_per_frame"] >= 0.0

            # Another wake word: "hey jarvis" starts nothing any more.
            state = await control(
                peer, wake_word="okay_nabu", wake_sensitivity="high", follow_up=False
            )
            assert (state["wake_word"], state["wake_sensitivity"]) == ("okay_nabu", "high")
            assert state["follow_up"] is False
            await say_and_wait(peer, sat, utterance().pcm)
            state = await control(peer)
            assert (state["pipelines"], state["wake_words"]) == (0, 0)

            # A wake word that is not bundled is refused; nothing changes.
            await peer.send(Event(type=CONTROL, data={"wake_word": "hey_nobody"}))
            error = await peer.next("error")
            assert error.data["code"] == "bad-request"
            assert "hey_nobody" in error.data["text"]
            await peer.send(Event(type=CONTROL, data={"wake_sensitivity": "extreme"}))
            assert (await peer.next("error")).data["code"] == "bad-request"
            assert (await control(peer))["wake_word"] == "okay_nabu"

            # Back to "hey jarvis": the same recording starts a pipeline again.
            state = await control(peer, wake_word="hey_jarvis", wake_sensitivity="default")
            assert state["wake_word"] == "hey_jarvis"
            events = await run_command(peer, sat)
            detection = next(e for e in events if e.type == "detection")
            assert detection.data["name"] == "hey_jarvis"
            state = await control(peer)
            wake = state["last_wake"]
            assert wake["name"] == "hey_jarvis"
            assert wake["score"] >= 0.9
            assert -60.0 < wake["level_dbfs"] < 0.0
            assert wake["at"] > 0

            # Muted from the integration: the recording starts nothing.
            assert (await control(peer, muted=True))["muted"] is True
            await say_and_wait(peer, sat, utterance().pcm)
            assert (await control(peer, muted=False))["pipelines"] == 1

            # Volume: the reply comes out at a quarter of its level.
            assert (await control(peer, volume=0.25))["volume"] == 0.25
            await speak(peer, tone(1.0))
            await peer.next("played")
            tail = sat.speaker_audio()[-11025:].astype(np.float64)
            assert 1800 < np.abs(tail).max() < 2200  # 8000 * 0.25
    finally:
        assert await sat.stop() == 0


async def test_subscribed_peers_get_the_state_pushed_when_it_changes(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path)
    try:
        async with Peer(sat.port) as driver, Peer(sat.port) as watcher:
            await driver.send(RunSatellite().event())
            state = await control(watcher, subscribe=True, stop_word=True)
            assert state["stop_word"] is True
            # A peer that did not subscribe gets nothing but its answers.
            # (At a microphone's pace: pushes are the latest state every 100 ms, so a command
            # fed all at once could pass through "streaming" between two pushes.)
            await sat.say_live(utterance().pcm)
            await driver.collect_until("audio-stop", timeout=30)
            pushed: list[dict[str, Any]] = []
            while not any(p["state"] == "idle" and p["last_wake"] for p in pushed):
                pushed.append(dict((await watcher.next(STATE, timeout=10)).data))
            assert any(p["state"] == "streaming" for p in pushed), pushed
            wake = next(p["last_wake"] for p in pushed if p["last_wake"])
            assert wake["name"] == "hey_jarvis"
            # The driver's own changes are pushed to the watcher too.
            await control(driver, volume=0.5)
            while (await watcher.next(STATE, timeout=5)).data["volume"] != 0.5:
                pass
            # Unsubscribed: the driver's next change is not pushed to it.
            await watcher.send(Event(type=CONTROL, data={"subscribe": False}))
            await control(driver, volume=0.6)
            await watcher.send(Event(type="ping", data={"text": "quiet"}))
            events = await watcher.collect_until("pong")
            assert all(e.data["volume"] != 0.6 for e in events if e.type == STATE)
    finally:
        assert await sat.stop() == 0


async def test_the_command_line_sets_the_wake_word_and_sensitivity(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path)
    try:
        port = ("control", "--port", str(sat.port))
        code, out, err = await run_cli(
            *port, "--wake-word", "alexa", "--wake-sensitivity", "low", "--follow-up", "off"
        )
        assert code == 0, err
        state = json.loads(out)
        assert (state["wake_word"], state["wake_sensitivity"]) == ("alexa", "low")
        assert state["follow_up"] is False
        code, _, err = await run_cli(*port, "--wake-word", "hey_nobody")
        assert code == 1
        assert "hey_nobody" in err
        code, out, _ = await run_cli(*port, "--stop")
        assert code == 0
        assert json.loads(out)["media"]["state"] == "idle"
    finally:
        assert await sat.stop() == 0
    assert "Wake word alexa (threshold 0.950)" in sat.log_text()  # 1 - (1 - 0.9) / 2


async def test_zeroconf_marks_a_jarvis_satellite(tmp_path: Path) -> None:
    name = f"jarvis-test-{uuid.uuid4().hex[:8]}"
    sat = await SatelliteProcess.start(
        tmp_path, "--server-zeroconf", "true", "--server-zeroconf-name", name
    )
    try:
        # Browse from a separate process (this test process may only use loopback).
        browse = (
            "import asyncio, json\n"
            "from zeroconf.asyncio import AsyncZeroconf\n"
            "async def main():\n"
            "    zc = AsyncZeroconf()\n"
            "    info = await zc.async_get_service_info("
            f"'_wyoming._tcp.local.', '{name}._wyoming._tcp.local.', 5000)\n"
            "    print(json.dumps(info.decoded_properties if info else None))\n"
            "    await zc.async_close()\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(
            SATELLITE_PYTHON, "-c", browse, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        properties = json.loads(out.decode())
        assert properties is not None, sat.log_text()
        assert properties["jarvis"] == "satellite"
        assert properties["kind"] == "satellite"
        assert properties["name"] == "Test satellite"
        assert properties["id"] == name
        assert properties["version"]
    finally:
        assert await sat.stop() == 0
