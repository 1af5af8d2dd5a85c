"""One room answers: satellites hearing the same wake word, at different levels, on one HA.

Real satellite processes (2 or 3) are fed the same "hey jarvis, turn on the living room lamp"
recording at the same time, each at its own level (as rooms farther from the speaker hear
it); Jarvis's Arbiter in HA picks one. What ran is read from each satellite's own state
(claims won/lost, pipelines started).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from homeassistant.core import HomeAssistant
import numpy as np
import pytest

from custom_components.jarvis.arbiter import async_get_arbiter
from custom_components.jarvis.const import CONF_ARBITRATION
from tests.satellite.satellite_process import MIC_RATE, utterance

from .satellite_helpers import (
    SatelliteProcess,
    add_satellite,
    satellite_status,
    start_satellite,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

LEVELS_DB = (0.0, -9.0, -15.0)  # gain of each room's copy of the recording


@pytest.fixture
async def satellites(tmp_path: Path) -> AsyncIterator[list[SatelliteProcess]]:
    """Three running satellites."""
    procs = list(
        await asyncio.gather(*(start_satellite(tmp_path, name=f"room{i}") for i in range(3)))
    )
    yield procs
    await asyncio.gather(*(p.stop() for p in procs))


def at_level(pcm: bytes, gain_db: float) -> bytes:
    """The recording `gain_db` louder (negative: quieter)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * 10 ** (gain_db / 20)
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


async def say_everywhere(sats: list[SatelliteProcess]) -> None:
    """The same utterance reaches every satellite at once, each at its level, in real time.

    In real time, as a microphone gives it: fed all at once, each process would run through the
    recording as fast as its share of the CPU allows, and on a busy machine their wake words
    would come hundreds of milliseconds apart, which rooms hearing one voice never do.
    """
    pcms = [at_level(utterance().pcm, db) for db in LEVELS_DB[: len(sats)]]
    step = MIC_RATE * 2 // 50  # 20 ms of 16-bit mono
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, offset in enumerate(range(0, len(pcms[0]), step)):
        await asyncio.gather(
            *(s.say(p[offset : offset + step]) for s, p in zip(sats, pcms, strict=True))
        )
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))


async def pipelines(sat: SatelliteProcess) -> int:
    """Pipelines the satellite started."""
    return int((await satellite_status(sat.port))["pipelines"])


@pytest.mark.parametrize("count", [2, 3])
async def test_only_the_loudest_satellite_answers(
    hass: HomeAssistant, satellites: list[SatelliteProcess], count: int
) -> None:
    sats = satellites[:count]
    entries = [await add_satellite(hass, s.port) for s in sats]
    for sat in sats:
        assert (await satellite_status(sat.port))["arbitration"] is True
    await say_everywhere(sats)

    async def claims_settled() -> bool:
        states = [await satellite_status(s.port) for s in sats]
        return all(st["claims"]["won"] + st["claims"]["lost"] == 1 for st in states)

    for _ in range(300):
        if await claims_settled():
            break
        await asyncio.sleep(0.1)
    states = [await satellite_status(s.port) for s in sats]
    claims = [st["claims"] for st in states]
    heard = [st["last_wake"] for st in states]
    claims_seen = (claims, heard, async_get_arbiter(hass).decisions)
    assert [c["won"] for c in claims] == [1] + [0] * (count - 1), claims_seen
    assert [c["lost"] for c in claims] == [0] + [1] * (count - 1), claims_seen
    assert all(c["timed_out"] == 0 for c in claims), claims_seen
    await wait_for(lambda: "State idle -> streaming" in sats[0].log_text(), 30, sats[0])
    assert [await pipelines(s) for s in sats] == [1] + [0] * (count - 1)
    decisions = async_get_arbiter(hass).decisions[-count:]
    assert sorted(run for _, run in decisions) == [False] * (count - 1) + [True]
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_with_arbitration_off_every_satellite_answers(
    hass: HomeAssistant, satellites: list[SatelliteProcess]
) -> None:
    sats = satellites[:2]
    entries = [await add_satellite(hass, s.port) for s in sats]
    for entry in entries:
        hass.config_entries.async_update_entry(entry, options={CONF_ARBITRATION: False})
    await hass.async_block_till_done()  # reloaded without arbitration
    for sat in sats:
        await wait_for(lambda s=sat: "Server is ready" in s.log_text())
        assert (await satellite_status(sat.port))["arbitration"] is False
    await say_everywhere(sats)
    for sat in sats:
        await wait_for(lambda s=sat: "State idle -> streaming" in s.log_text(), 30, sat)
        assert (await satellite_status(sat.port))["claims"]["claims"] == 0
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)
