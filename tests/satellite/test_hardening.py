"""The satellite against bad and hostile input, over real TCP to the real process.

Bad fields in well-formed events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import pytest
from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping
from wyoming.satellite import RunSatellite
from wyoming.timer import TimerStarted

from .satellite_process import Peer, SatelliteProcess
from .test_protocol import run_command

CONTROL = "jarvis-satellite-control"
STATE = "jarvis-satellite-state"


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


@pytest.fixture
async def sat(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A fresh satellite."""
    proc = await SatelliteProcess.start(tmp_path)
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
