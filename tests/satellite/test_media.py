"""Media on the satellite's speaker (README, "Jarvis satellite protocol"): PCM from the driver
plays into the real satellite's WAV sink under replies and announcements, is turned down
(ducked) while a command is heard and answered, and comes back smoothly afterwards.

The music is a 300 Hz tone and the reply a 1 kHz one, so the music's level can be read from
the sink in 100 ms windows whatever else plays. Chimes are off for the same reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np
from wyoming.event import Event
from wyoming.satellite import RunSatellite

from .satellite_process import Peer, SatelliteProcess, utterance
from .test_ha_protocol import control
from .test_protocol import speak, tone

RATE = 22050  # the test satellite's speaker rate, and the media's
MEDIA_HZ = 300.0
WINDOW = RATE // 10


def music(seconds: float, start: int = 0) -> bytes:
    """The 300 Hz "music", continuous across chunks."""
    n = np.arange(start, start + round(seconds * RATE))
    return (8000 * np.sin(2 * math.pi * MEDIA_HZ * n / RATE)).astype("<i2").tobytes()


async def stream_media(peer: Peer, seconds: float, lead_s: float = 1.0) -> None:
    """Send `seconds` of music the way the driver does: paced, at most `lead_s` ahead."""
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    await peer.send(Event(type="jarvis-media-start", data=fmt))
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    chunk = RATE // 10
    while sent < seconds * RATE:
        ahead = sent / RATE - (loop.time() - started)
        if ahead > lead_s:
            await asyncio.sleep(ahead - lead_s)
        await peer.send(Event(type="jarvis-media-chunk", data=fmt, payload=music(0.1, sent)))
        sent += chunk
    await peer.send(Event(type="jarvis-media-stop", data={}))


def media_levels(audio: np.ndarray) -> np.ndarray:
    """The music's level (dB) in each 100 ms window of the sink."""
    window = np.hanning(WINDOW)
    k = round(MEDIA_HZ * WINDOW / RATE)
    levels = []
    for start in range(0, len(audio) - WINDOW, WINDOW):
        spectrum = np.abs(np.fft.rfft(audio[start : start + WINDOW] * window))
        levels.append(20 * math.log10(spectrum[k - 1 : k + 2].max() + 1e-9))
    return np.array(levels)


@contextlib.asynccontextmanager
async def quiet_satellite(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    sat = await SatelliteProcess.start(tmp_path, "--sounds-wake", "none", "--sounds-done", "none")
    try:
        yield sat
    finally:
        assert await sat.stop() == 0, sat.log_text()


async def wait_state(peer: Peer, check: Any, timeout: float = 15.0) -> dict[str, Any]:
    """Poll the state until `check(state)`."""
    async with asyncio.timeout(timeout):
        while not check(state := await control(peer)):
            await asyncio.sleep(0.05)
    return state


async def test_media_is_ducked_for_a_command_and_its_reply_then_comes_back(
    tmp_path: Path,
) -> None:
    async with quiet_satellite(tmp_path) as sat, Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        media = asyncio.create_task(stream_media(peer, 9.0))
        state = await wait_state(peer, lambda s: s["media"]["state"] == "playing")
        assert state["media"]["ducked"] is False
        await asyncio.sleep(2.5)
        await sat.say(utterance().pcm)
        await peer.collect_until("audio-stop", timeout=30)
        # Waiting for the reply: still ducked.
        assert (await control(peer))["media"]["ducked"] is True
        await speak(peer, tone(1.0, freq=1000.0))
        await peer.next("played")
        await wait_state(peer, lambda s: not s["media"]["ducked"])
        await media
        await wait_state(peer, lambda s: s["media"]["state"] == "idle")

    levels = media_levels(sat.speaker_audio().astype(np.float64))
    print("music level per 100 ms (dB re. full):", np.round(levels - np.median(levels[5:20]), 1))
    full = float(np.median(levels[5:20]))
    ducked = np.nonzero(levels < full - 15)[0]
    assert len(ducked) >= 5, f"never ducked: {np.round(levels - full, 1)}"
    assert float(levels.min()) > full - 23  # about -20 dB, not silenced
    assert ducked[0] >= 20  # not before the wake word was said
    # Back to full level at the end, through intermediate levels (a ramp, not a jump).
    after = levels[ducked[-1] + 1 :]
    assert abs(float(np.median(after[-10:])) - full) < 1.5
    assert ((after > full - 15) & (after < full - 2)).sum() >= 2


async def test_announcement_over_media_and_pause_resume_stop(tmp_path: Path) -> None:
    async with quiet_satellite(tmp_path) as sat, Peer(sat.port) as peer:
        await peer.send(RunSatellite().event())
        media = asyncio.create_task(stream_media(peer, 30.0))
        await wait_state(peer, lambda s: s["media"]["state"] == "playing")

        # An announcement (no pipeline runs): played over ducked media, then `played`.
        announce = asyncio.create_task(speak(peer, tone(1.5, freq=1000.0)))
        await wait_state(peer, lambda s: s["media"]["ducked"])
        await announce
        await peer.next("played")
        await wait_state(peer, lambda s: not s["media"]["ducked"])

        await peer.send(Event(type="jarvis-media-control", data={"action": "pause"}))
        await wait_state(peer, lambda s: s["media"]["state"] == "paused")
        await peer.send(Event(type="jarvis-media-control", data={"action": "resume"}))
        await wait_state(peer, lambda s: s["media"]["state"] == "playing")

        # Stop (the integration's "stop whatever plays"): the music ends at once.
        state = await control(peer, stop=True)
        assert state["media"]["state"] == "idle"
        assert state["media"]["buffered_s"] == 0.0
        media.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await media

        # More than the media buffer holds is refused with an error; the satellite goes on.
        fmt = {"rate": RATE, "width": 2, "channels": 1}
        await peer.send(Event(type="jarvis-media-start", data=fmt))
        await peer.send(Event(type="jarvis-media-control", data={"action": "pause"}))
        await peer.send(Event(type="jarvis-media-chunk", data=fmt, payload=music(6.0)))
        error = await peer.next("error")
        assert error.data["code"] == "media-buffer-full"
        await peer.send(Event(type="jarvis-media-control", data={"action": "bogus"}))
        assert (await peer.next("error")).data["code"] == "bad-request"
        await peer.send(Event(type="jarvis-media-chunk", data=fmt, payload=music(1.0)))
        state = await wait_state(peer, lambda s: s["media"]["buffered_s"] > 0.9)
        assert state["media"]["state"] == "paused"
