"""The Arbiter's rules on claims, with HA's clock replaced so the order of events is exact.

(The same Arbiter deciding between real satellites is in test_satellite_arbitration.py.)
"""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant
import pytest

from custom_components.jarvis.arbiter import Arbiter, async_get_arbiter


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The Arbiter's clock (the window itself closes on the event loop's own timer)."""
    return Clock()


def claim(score: float, level: float) -> dict[str, object]:
    """A claim as a satellite sends it."""
    return {"id": "x", "name": "hey_jarvis", "score": score, "level_dbfs": level}


async def test_the_loudest_claim_of_a_window_runs_late_ones_lose(clock: Clock) -> None:
    arbiter = Arbiter(clock)
    # Two rooms within the window: the louder wins though its score is lower.
    near = asyncio.create_task(arbiter.async_claim("near", claim(0.970, -36.7)))
    await asyncio.sleep(0)
    clock.now += 0.010
    far = asyncio.create_task(arbiter.async_claim("far", claim(0.988, -45.7)))
    assert await near is True
    assert await far is False
    # The same words heard late by a third room (within 200 ms of the window's opening): lost.
    clock.now += 0.090
    assert await arbiter.async_claim("late", claim(0.999, -20.0)) is False
    # A new wake word later opens a new window.
    clock.now += 0.300
    assert await arbiter.async_claim("next", claim(0.9, -50.0)) is True
    assert arbiter.decisions == [
        ("near", True),
        ("far", False),
        ("late", False),
        ("next", True),
    ]


async def test_levels_within_3_db_are_decided_by_the_score(clock: Clock) -> None:
    arbiter = Arbiter(clock)
    a = asyncio.create_task(arbiter.async_claim("a", claim(0.95, -40.5)))
    await asyncio.sleep(0)
    b = asyncio.create_task(arbiter.async_claim("b", claim(0.99, -41.0)))
    assert (await a, await b) == (False, True)


async def test_a_malformed_claim_counts_as_the_weakest(clock: Clock) -> None:
    arbiter = Arbiter(clock)
    bad = asyncio.create_task(arbiter.async_claim("bad", {"score": "high", "level_dbfs": None}))
    await asyncio.sleep(0)
    good = asyncio.create_task(arbiter.async_claim("good", claim(0.5, -60.0)))
    assert (await bad, await good) == (False, True)


async def test_one_arbiter_per_home_assistant(hass: HomeAssistant) -> None:
    assert async_get_arbiter(hass) is async_get_arbiter(hass)
