"""One room answers: the Arbiter picks one satellite when several hear the same wake word.

Satellites with arbitration on do not start a pipeline on a wake word; they send a claim
(`jarvis-wake-claim`: id, name, score, level_dbfs) and wait for the decision. The first claim
opens a window of `WINDOW_S`; when it closes, the best claim in it runs and every other one is
dropped. A claim that arrives after the
window closed but within `LATE_S` of its opening is the same utterance heard late: dropped too.
A claim after that opens a new window. One Arbiter per Home Assistant (`hass.data`).

The best claim: the loudest speech at the mic (the room nearest the speaker), levels in steps of
`LEVEL_STEP_DB` counting as equal; then the higher wake score; then the louder. The level comes
first because the wake score is the first one over the threshold and says little about which
room heard best (0.970 at 0 dB, 0.991 at -6 dB, 0.988 at -12 dB on the same recording).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import math
import time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

_LOGGER = logging.getLogger(__name__)

WINDOW_S = 0.050
LATE_S = 0.200
LEVEL_STEP_DB = 3.0
DATA_ARBITER: HassKey[Arbiter] = HassKey("jarvis_arbiter")


@dataclass
class Claim:
    """One satellite's claim to answer."""

    score: float
    level_dbfs: float
    source: str
    decided: asyncio.Future[bool] = field(repr=False)

    @property
    def evidence(self) -> tuple[int, float, float]:
        """What ranks claims: the level (in steps of `LEVEL_STEP_DB`), the score, the level."""
        return math.floor(self.level_dbfs / LEVEL_STEP_DB), self.score, self.level_dbfs


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


class Arbiter:
    """Decides, across all of one HA's Jarvis satellites, which one answers a wake word."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """No window open; `clock` gives seconds (monotonic)."""
        self._clock = clock
        self._opened_at: float | None = None
        self._claims: list[Claim] = []
        self.decisions: list[tuple[str, bool]] = []  # (source, run), for diagnostics and tests

    async def async_claim(self, source: str, claim: dict[str, Any]) -> bool:
        """Whether the satellite `source` should run its pipeline for this claim."""
        now = self._clock()
        entry = Claim(
            score=_number(claim.get("score"), 0.0),
            level_dbfs=_number(claim.get("level_dbfs"), -120.0),
            source=source,
            decided=asyncio.get_running_loop().create_future(),
        )
        opened = self._opened_at
        if opened is not None and now - opened <= WINDOW_S and self._claims:
            self._claims.append(entry)  # joins the open window
        elif opened is not None and now - opened <= LATE_S:
            self._record(entry, run=False)  # the same utterance, heard late
            _LOGGER.debug("Wake claim of %s dropped: %.0f ms late", source, (now - opened) * 1e3)
            return False
        else:
            self._opened_at = now
            self._claims = [entry]
            asyncio.get_running_loop().call_later(WINDOW_S, self._close_window)
        return await entry.decided

    def _close_window(self) -> None:
        claims, self._claims = self._claims, []
        if not claims:
            return
        best = max(claims, key=lambda claim: claim.evidence)
        for claim in claims:
            self._record(claim, run=claim is best)
        _LOGGER.debug(
            "Wake word heard by %d satellite(s): %s answers (score %.3f, %.1f dBFS)",
            len(claims), best.source, best.score, best.level_dbfs,
        )  # fmt: skip

    def _record(self, claim: Claim, *, run: bool) -> None:
        self.decisions.append((claim.source, run))
        del self.decisions[:-50]
        if not claim.decided.done():
            claim.decided.set_result(run)


def async_get_arbiter(hass: HomeAssistant) -> Arbiter:
    """The Arbiter of this Home Assistant."""
    if (arbiter := hass.data.get(DATA_ARBITER)) is None:
        arbiter = hass.data[DATA_ARBITER] = Arbiter()
    return arbiter
