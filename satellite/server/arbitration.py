"""Wake arbitration: when several satellites hear the same wake word, the driver picks one.

While an arbitrating peer is set (control `arbitration: true`), a wake word does not start a
pipeline at once: the satellite sends that peer `jarvis-wake-claim` `{id, name, score,
level_dbfs, timestamp}` and keeps the command audio that follows (`keep()`: nothing is lost).
The peer answers `jarvis-wake-decision` `{id, run}`. `on_decided(claim, run)` then runs the
pipeline with the kept audio first, or drops it silently. No answer within
`DECISION_TIMEOUT_S`, or the peer gone: run (fail open), logged once a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import logging
import time
from typing import Any
import uuid

from wyoming.event import Event

from satellite.listening import WakeDetected
from wyoming_wire.logs import LogOnce

from .events import CLAIM_TYPE, WakeDecision
from .session import Peer

_LOGGER = logging.getLogger(__name__)
_log_once = LogOnce(_LOGGER)

DECISION_TIMEOUT_S = 0.5


@dataclass
class Claim:
    """One wake word waiting for the driver's decision, and the command audio heard since."""

    id: str
    name: str
    score: float
    level_dbfs: float
    audio: list[bytes] = field(default_factory=list)
    ended: bool = False  # the listener ended the command meanwhile
    settled: bool = False  # decided (its audio may still be flushing)

    def event(self) -> Event:
        """The `jarvis-wake-claim` event."""
        return Event(
            type=CLAIM_TYPE,
            data={
                "id": self.id,
                "name": self.name,
                "score": round(self.score, 4),
                "level_dbfs": round(self.level_dbfs, 1),
                "timestamp": int(time.time() * 1000),
            },
        )


Decided = Callable[[Claim, bool], Awaitable[None]]


class Arbitration:
    """The arbitrating peer and the claim waiting for it (at most one)."""

    def __init__(self, on_decided: Decided) -> None:
        """`on_decided(claim, run)` is awaited once per claim."""
        self.peer: Peer | None = None
        self.claim: Claim | None = None
        self._on_decided = on_decided
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counts = {"claims": 0, "won": 0, "lost": 0, "timed_out": 0}

    @property
    def enabled(self) -> bool:
        """An arbitrating peer is connected."""
        return self.peer is not None

    @property
    def pending(self) -> bool:
        """A claim waits for its decision."""
        return self.claim is not None and not self.claim.settled

    async def open(self, wake: WakeDetected) -> None:
        """Claim this wake word; the command audio is kept until the decision."""
        claim = Claim(uuid.uuid4().hex, wake.name, float(wake.score), float(wake.level_dbfs))
        self.claim = claim
        self.counts["claims"] += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(DECISION_TIMEOUT_S, self._timed_out, claim)
        _LOGGER.info(
            "Wake claim %s (score %.3f, %.1f dBFS)", claim.id[:8], claim.score, claim.level_dbfs
        )
        peer = self.peer
        if peer is None or not await peer.send(claim.event()):
            await self._settle(claim, run=True)

    def keep(self, pcm: bytes) -> bool:
        """Keep command audio while a claim waits (or flushes); False when there is none."""
        if self.claim is None:
            return False
        self.claim.audio.append(pcm)
        return True

    def command_ended(self) -> bool:
        """The listener ended the command; True if a claim takes note (nothing else to do)."""
        if self.claim is None:
            return False
        self.claim.ended = True
        return True

    async def decided(self, decision: WakeDecision) -> None:
        """The driver's decision (one for another or a past claim is ignored)."""
        claim = self.claim
        if claim is None or claim.id != decision.id or claim.settled:
            _LOGGER.debug("Decision for claim %s ignored (not waiting)", decision.id[:8])
            return
        await self._settle(claim, run=decision.run)

    def drop(self) -> Claim | None:
        """Forget the waiting claim (muted, paused, driver gone); returned so its command ends."""
        claim = self.claim
        if claim is None or claim.settled:
            return None
        claim.settled = True
        self.claim = None
        self._cancel_timer()
        return claim

    def peer_lost(self, peer: Peer) -> None:
        """The arbitrating connection closed: a waiting claim runs now."""
        if peer is not self.peer:
            return
        self.peer = None
        if self.pending and self.claim is not None:
            self._spawn(self.claim)

    def _timed_out(self, claim: Claim) -> None:
        self._timer = None
        if claim is self.claim and not claim.settled:
            self.counts["timed_out"] += 1
            _log_once(
                logging.WARNING, "arbitration timeout",
                "No wake decision within %.0f ms: this satellite answers", DECISION_TIMEOUT_S * 1000,
            )  # fmt: skip
            self._spawn(claim)

    def _spawn(self, claim: Claim) -> None:
        task = asyncio.get_running_loop().create_task(
            self._settle(claim, run=True), name="satellite wake decision"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, claim: Claim, *, run: bool) -> None:
        if claim.settled:
            return
        claim.settled = True
        self._cancel_timer()
        self.counts["won" if run else "lost"] += 1
        _LOGGER.info("Wake claim %s: %s", claim.id[:8], "run" if run else "another room answers")
        try:
            await self._on_decided(claim, run)
        finally:
            if self.claim is claim:
                self.claim = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Shutting down."""
        self._cancel_timer()
        for task in list(self._tasks):
            task.cancel()
