"""The satellite against bad and hostile input, over real TCP to the real process.

Bad fields in well-formed events, a reply flood, a takeover during a long reply, idle
connections, and what the log may say about the user's words.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
from typing import Any, Self

import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.satellite import RunSatellite
from wyoming.timer import TimerStarted
from wyoming.tts import Synthesize

from .satellite_process import Peer, SatelliteProcess
from .test_protocol import run_command, speak, tone, wait_for_log

CONTROL = "jarvis-satellite-control"
STATE = "jarvis-satellite-state"
TTS_RATE = 22050


class PeerFrom(Peer):
    """A `Peer` that connects from a chosen local address (another loopback address)."""

    def __init__(self, port: int, local_host: str = "127.0.0.1") -> None:
        """Not connected yet."""
        super().__init__(port)
        self.port = port
        self.local_host = local_host

    async def __aenter__(self) -> Self:
        """Connect from `local_host`."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, local_addr=(self.local_host, 0)
        )
        self.client._reader, self.client._writer = reader, writer
        return self


async def state(port: int, local_host: str = "127.0.0.1") -> dict[str, Any]:
    """The satellite's status, asked on a fresh local control connection."""
    async with PeerFrom(port, local_host) as peer:
        await peer.send(Event(type=CONTROL, data={}))
        return dict((await peer.next(STATE)).data)


def peak_rss_mb(sat: SatelliteProcess) -> float:
    """Peak resident memory of the satellite process (VmHWM), MB."""
    for line in Path(f"/proc/{sat.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.fixture
async def sat(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A fresh satellite."""
    proc = await SatelliteProcess.start(tmp_path)
    try:
        yield proc
    finally:
        code = await proc.stop()
        assert code == 0, proc.log_text()


@pytest.fixture
async def paced(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A satellite whose speaker takes as long as playing would (a real device's pace)."""
    proc = await SatelliteProcess.start(tmp_path, "--speaker-file", "null")
    try:
        yield proc
    finally:
        code = await proc.stop()
        assert code == 0, proc.log_text()


def raw(kind: str, data: dict[str, Any], payload: bytes | None = None) -> Event:
    """An event exactly as given (no dataclass in between to tidy it)."""
    return Event(type=kind, data=data, payload=payload)


LONG = "x" * 5000
BAD_EVENTS = [
    raw("timer-started", {"id": "t1", "total_seconds": "x"}),
    raw("timer-started", {"id": "t1", "total_seconds": -5}),
    raw("timer-started", {"id": "t1", "total_seconds": 10**12}),
    raw("timer-started", {"id": "t1", "total_seconds": True}),
    raw("timer-started", {"id": "t1", "total_seconds": 1.5}),
    raw("timer-started", {"id": LONG, "total_seconds": 60}),
    raw("timer-started", {"id": "", "total_seconds": 60}),
    raw("timer-started", {"id": "t1", "total_seconds": 60, "name": LONG}),
    raw("timer-started", {"id": "t1", "total_seconds": 60, "start_hours": "two"}),
    raw("timer-started", {"id": ["t1"], "total_seconds": 60}),
    raw("timer-updated", {"id": "t1", "is_active": "yes", "total_seconds": 60}),
    raw("timer-updated", {"id": "t1", "is_active": True, "total_seconds": None}),
    raw("timer-cancelled", {"id": 7}),
    raw("timer-finished", {"id": LONG}),
    raw("audio-start", {"rate": 0, "width": 2, "channels": 1}),
    raw("audio-start", {"rate": 22050, "width": "2", "channels": 1}),
    raw("audio-start", {"rate": 22050, "width": 2, "channels": 1000}),
    raw("audio-start", {"rate": 22050, "width": 2}),
    raw("audio-chunk", {"rate": "x", "width": 2, "channels": 1}, b"\0\0"),
    raw("audio-chunk", {"rate": 22050, "width": 2, "channels": 1}, b"\0\0\0"),
    raw("audio-chunk", {"rate": 22050, "width": 2, "channels": 1, "timestamp": "now"}, b"\0\0"),
    raw("audio-stop", {"timestamp": "later"}),
    raw("run-pipeline", {"start_stage": "fly", "end_stage": "tts"}),
    raw("run-pipeline", {"start_stage": "tts", "end_stage": "asr"}),
    raw("run-pipeline", {"start_stage": "asr", "end_stage": "tts", "wake_word_names": "x"}),
    raw("run-pipeline", {"start_stage": "asr", "end_stage": "tts", "restart_on_end": "no"}),
    raw("synthesize", {"text": "x" * 20_000}),
    raw("synthesize", {"text": 5}),
    raw("transcript", {"text": ["turn", "on"]}),
    raw("detection", {"name": LONG}),
    raw("error", {"text": "failed", "code": 123}),
    raw(CONTROL, {"volume": "loud"}),
    raw(CONTROL, {"volume": 2.0}),
    raw(CONTROL, {"muted": "yes"}),
    raw(CONTROL, {"mute": True}),
    raw("ping", {"text": LONG}),
]


async def test_bad_fields_are_refused_and_change_nothing(sat: SatelliteProcess) -> None:
    async with Peer(sat.port) as driver, Peer(sat.port) as other:
        await driver.send(RunSatellite().event())
        await driver.send(Ping(text="ready").event())
        await driver.next("pong")
        before = await state(sat.port)
        for peer in (driver, other):  # the driver, and a peer that must not take over
            for event in BAD_EVENTS:
                await peer.send(event)
                error = Error.from_event(await peer.next("error", timeout=5))
                assert error.code == "bad-request", (event.type, event.data, error)
                assert event.type in error.text, error.text
        after = await state(sat.port)
        assert after["timers"] == {} and after["muted"] is False and after["volume"] == 1.0
        assert after["state"] == before["state"] == "idle"
        assert after["alarm"] is False
        assert after["bad_events"] == before["bad_events"] + 2 * len(BAD_EVENTS)
        # The driver kept driving: it still answers, and the wake word goes to it.
        await driver.send(Ping(text="still driving").event())
        assert (await driver.next("pong")).data["text"] == "still driving"
        assert "replaces" not in sat.log_text()
        events = await run_command(driver, sat)
        assert "detection" in [e.type for e in events]
        # A good timer is still taken, and shows in the status.
        await driver.send(TimerStarted(id="t1", total_seconds=60, name="tea").event())
        await driver.send(Ping(text="barrier").event())
        await driver.next("pong")
        assert set((await state(sat.port))["timers"]) == {"t1"}


async def speak_fast(peer: Peer, seconds: float, chunk_bytes: int) -> None:
    """A reply of `seconds` sent as fast as TCP allows, in `chunk_bytes` chunks, no stop."""
    pcm = tone(1.0)
    block = (pcm * (chunk_bytes // len(pcm) + 1))[:chunk_bytes]
    await peer.send(AudioStart(rate=TTS_RATE, width=2, channels=1).event())
    sent = 0.0
    while sent < seconds:
        await peer.send(AudioChunk(rate=TTS_RATE, width=2, channels=1, audio=block).event())
        sent += len(block) / (2 * TTS_RATE)


async def takes_over_and_is_heard(sat: SatelliteProcess, timeout: float) -> None:
    """A new driver's 1 s reply is played (not queued behind anything) within `timeout`."""
    async with Peer(sat.port) as new:
        await new.send(RunSatellite().event())
        started = asyncio.get_running_loop().time()
        await speak(new, tone(1.0))
        await new.next("played", timeout=timeout)
        took = asyncio.get_running_loop().time() - started
    assert took < timeout
    await wait_for_log(sat, "Reply played (1.0 s)")
    status = await state(sat.port)
    assert status["speaker"]["queued_s"] < 0.5


async def test_a_reply_flood_is_refused_and_memory_stays_bounded(paced: SatelliteProcess) -> None:
    sat = paced
    await state(sat.port)  # listening and idle
    baseline = peak_rss_mb(sat)
    async with Peer(sat.port) as flood:
        await flood.send(RunSatellite().event())
        # 30 chunks of 4 MiB: 47 minutes of audio, 126 MB of PCM.
        with contextlib.suppress(ConnectionError):
            await speak_fast(flood, 30 * 4 * 1024 * 1024 / (2 * TTS_RATE), 4 * 1024 * 1024)
        error = Error.from_event(await flood.next("error", timeout=20))
        assert error.code == "too-much-audio", error
        await flood.send(AudioStop().event())
        await flood.next("played", timeout=5)
        status = await state(sat.port)
        assert status["speaker"]["queued_s"] <= 120.0
        grown = peak_rss_mb(sat) - baseline
        assert grown < 90, f"the flood grew the satellite by {grown:.0f} MB"
        # Home Assistant comes back on a new connection: its reply is heard at once.
        await takes_over_and_is_heard(sat, timeout=6)


async def test_a_new_driver_drops_the_old_drivers_queued_reply(paced: SatelliteProcess) -> None:
    sat = paced
    async with Peer(sat.port) as old:
        await old.send(RunSatellite().event())
        await speak_fast(old, 90.0, 64 * 1024)  # within the bound, but 90 s long
        await old.send(AudioStop().event())
        await old.send(Ping(text="barrier").event())
        await old.next("pong")
        assert (await state(sat.port))["speaker"]["queued_s"] > 60
        await takes_over_and_is_heard(sat, timeout=6)
        assert await old.client.read_event() is None  # replaced, closed
    # A driver that leaves mid-reply takes its audio with it.
    async with Peer(sat.port) as leaving:
        await leaving.send(RunSatellite().event())
        await speak_fast(leaving, 90.0, 64 * 1024)
        await leaving.send(Ping(text="barrier").event())
        await leaving.next("pong")
    async with asyncio.timeout(3):
        while (await state(sat.port))["speaker"]["queued_s"] > 0.5:
            await asyncio.sleep(0.1)


async def test_idle_connections_do_not_lock_out_home_assistant(sat: SatelliteProcess) -> None:
    idle: list[asyncio.StreamWriter] = []
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", sat.port)
            except OSError:
                continue
            idle.append(writer)
        # Home Assistant (same address here) reconnects with a backoff until it is let in.
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(25):
            while True:
                try:
                    async with Peer(sat.port) as ha:
                        await ha.send(RunSatellite().event())
                        await ha.send(Ping(text="ha").event())
                        await ha.next("pong", timeout=2)
                        events = await run_command(ha, sat)
                        assert "detection" in [e.type for e in events]
                        break
                except (ConnectionError, TimeoutError):
                    await asyncio.sleep(1.0)
        assert loop.time() - started < 25
    finally:
        for writer in idle:
            writer.close()
    refusals = [line for line in sat.log_text().splitlines() if "refused" in line]
    assert len(refusals) == 1, refusals


async def test_transcripts_and_replies_stay_out_of_the_info_log(tmp_path: Path) -> None:
    for log_text in (False, True):
        work = tmp_path / str(log_text)
        work.mkdir()
        flags = ["--log-level", "INFO", "--behaviour-log-text", str(log_text).lower()]
        sat = await SatelliteProcess.start(work, *flags)
        try:
            async with Peer(sat.port) as peer:
                await peer.send(RunSatellite().event())
                await peer.send(Transcript(text="open the garage door").event())
                await peer.send(Synthesize(text="Opening the garage door.").event())
                await peer.send(Describe().event())
                assert Info.from_event(await peer.next("info")).satellite is not None
        finally:
            assert await sat.stop() == 0
        log = sat.log_text()
        assert "Server is ready" in log  # INFO lines are there
        assert ("open the garage door" in log) is log_text, log
        assert ("Opening the garage door." in log) is log_text, log
