"""Wake arbitration between real satellite processes (README, "Jarvis satellite protocol").

Two `python -m satellite` processes hear the same "hey jarvis, turn on the living room lamp",
one 12 dB quieter (a room further away). A small arbiter written here over raw Wyoming
connections plays the Jarvis integration's part with the 50 ms rule: the first claim opens a
50 ms window, then the claim with the loudest speech (then the highest score) runs and every
other claim loses. The first wake score over the threshold says little about which room heard
best (0.970 at 0 dB, 0.991 at -6 dB, 0.988 at -12 dB on this recording), so level comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from wyoming.event import Event
from wyoming.satellite import RunSatellite

from .satellite_process import Peer, SatelliteProcess, to_pcm, utterance
from .test_protocol import assert_complete_command

CONTROL = "jarvis-satellite-control"
WINDOW_S = 0.05
LATE_S = 0.2


class Arbiter:
    """Drives several satellites; decides their wake claims with the 50 ms rule."""

    def __init__(self, peers: dict[str, Peer]) -> None:
        self.peers = peers
        self.events: dict[str, list[Event]] = {name: [] for name in peers}
        self.claims: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self.decisions: dict[str, bool] = {}
        self.answer = True
        self._tasks = [asyncio.create_task(self._read(name)) for name in peers]
        self._tasks.append(asyncio.create_task(self._decide()))

    async def _read(self, name: str) -> None:
        while (event := await self.peers[name].client.read_event()) is not None:
            self.events[name].append(event)
            if event.type == "jarvis-wake-claim":
                await self.claims.put((name, event))

    async def _decide(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.claims.get()
            opened = loop.time()
            window = [first]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(opened + WINDOW_S):
                    while True:
                        window.append(await self.claims.get())
            if not self.answer:
                continue
            best = max(window, key=lambda c: (c[1].data["level_dbfs"], c[1].data["score"]))
            for name, claim in window:
                await self._send(name, claim, run=(name, claim) == best)
            # Claims of the same utterance heard late lose too.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(opened + LATE_S):
                    while True:
                        name, claim = await self.claims.get()
                        await self._send(name, claim, run=False)

    async def _send(self, name: str, claim: Event, *, run: bool) -> None:
        self.decisions[name] = run
        decision = {"id": claim.data["id"], "run": run}
        await self.peers[name].send(Event(type="jarvis-wake-decision", data=decision))

    async def wait_for(self, name: str, event_type: str, timeout: float = 30.0) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events[name]:
                    if event.type == event_type:
                        return event
                await asyncio.sleep(0.02)

    async def state(self, name: str, **data: Any) -> dict[str, Any]:
        """Send a control event; the state that answers it."""
        seen = sum(e.type == "jarvis-satellite-state" for e in self.events[name])
        await self.peers[name].send(Event(type=CONTROL, data=data))
        async with asyncio.timeout(10):
            while True:
                states = [e for e in self.events[name] if e.type == "jarvis-satellite-state"]
                if len(states) > seen:
                    return dict(states[seen].data)
                await asyncio.sleep(0.02)

    async def heard(self, name: str, samples: int) -> dict[str, Any]:
        """Wait until satellite `name` has processed `samples` microphone samples."""
        async with asyncio.timeout(20):
            while True:
                state = await self.state(name)
                if state["listener"].get("samples_in", 0) >= samples - 480:
                    return state
                await asyncio.sleep(0.05)

    def audio(self, name: str) -> bytes:
        return b"".join(e.payload or b"" for e in self.events[name] if e.type == "audio-chunk")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task


async def say_live(sat: SatelliteProcess, pcm: bytes) -> None:
    """Say `pcm` at a real microphone's pace (a decision must come within 500 ms)."""
    await sat.say_live(pcm)


def quieter(pcm: bytes, db: float) -> bytes:
    """The same recording `db` dB down (a satellite further away)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return to_pcm(samples * 10 ** (db / 20))


@contextlib.asynccontextmanager
async def satellites(tmp_path: Path, count: int) -> AsyncIterator[list[SatelliteProcess]]:
    procs: list[SatelliteProcess] = []
    try:
        for i in range(count):
            (tmp_path / str(i)).mkdir()
            procs.append(await SatelliteProcess.start(tmp_path / str(i)))
        yield procs
    finally:
        for proc in procs:
            assert await proc.stop() == 0, proc.log_text()


@contextlib.asynccontextmanager
async def arbiter_for(procs: dict[str, SatelliteProcess]) -> AsyncIterator[Arbiter]:
    async with contextlib.AsyncExitStack() as stack:
        peers = {name: await stack.enter_async_context(Peer(p.port)) for name, p in procs.items()}
        for peer in peers.values():
            await peer.send(RunSatellite().event())
        arbiter = Arbiter(peers)
        try:
            for name in peers:
                assert (await arbiter.state(name, arbitration=True))["arbitration"] is True
            yield arbiter
        finally:
            await arbiter.close()


@pytest.mark.parametrize("count", [2, 3])
async def test_only_the_loudest_satellite_answers(tmp_path: Path, count: int) -> None:
    pcm = utterance().pcm
    levels = [0.0, -12.0, -6.0][:count]
    async with satellites(tmp_path, count) as procs:
        names = [f"sat{i}" for i in range(count)]
        async with arbiter_for(dict(zip(names, procs, strict=True))) as arbiter:
            await asyncio.gather(
                *(say_live(p, quieter(pcm, db)) for p, db in zip(procs, levels, strict=True))
            )
            # The loudest runs the pipeline, its command whole (kept while it waited).
            await arbiter.wait_for("sat0", "audio-stop")
            types = [e.type for e in arbiter.events["sat0"]]
            first = types.index("detection")
            assert types[first : first + 3] == ["detection", "run-pipeline", "audio-start"]
            assert types.index("jarvis-wake-claim") < first
            assert_complete_command(arbiter.audio("sat0"))
            claims = {
                name: next(e.data for e in arbiter.events[name] if e.type == "jarvis-wake-claim")
                for name in names
            }
            assert claims["sat0"]["level_dbfs"] > claims["sat1"]["level_dbfs"] + 9
            assert arbiter.decisions == {name: name == "sat0" for name in names}
            # The others heard it all and stayed silent: no events, no chime, back to listening.
            for name, proc in zip(names[1:], procs[1:], strict=True):
                state = await arbiter.heard(name, len(pcm) // 2)
                assert state["claims"] == {"claims": 1, "won": 0, "lost": 1, "timed_out": 0}
                assert state["state"] == "idle"
                sent = {e.type for e in arbiter.events[name]}
                assert not sent & {"detection", "run-pipeline", "audio-start", "audio-chunk"}
                assert proc.played_seconds() == 0.0
            assert (await arbiter.state("sat0"))["claims"]["won"] == 1


async def test_without_a_decision_the_satellite_answers_after_the_timeout(
    tmp_path: Path,
) -> None:
    async with satellites(tmp_path, 1) as [proc], arbiter_for({"sat": proc}) as arbiter:
        arbiter.answer = False  # the driver never decides
        await proc.say(utterance().pcm)
        await arbiter.wait_for("sat", "audio-stop")
        types = [e.type for e in arbiter.events["sat"]]
        assert types.index("jarvis-wake-claim") < types.index("run-pipeline")
        assert_complete_command(arbiter.audio("sat"))
        state = await arbiter.state("sat")
        assert state["claims"] == {"claims": 1, "won": 1, "lost": 0, "timed_out": 1}
        assert "No wake decision within 500 ms" in proc.log_text()
