"""State pushes: peers that subscribed get `jarvis-satellite-state` whenever the summary changes.

A peer subscribes with the control event (`subscribe: true`). The state is checked every
`PUSH_EVERY_S` while anyone listens; when its summary (state, mute, volume, wake settings,
follow-ups, stop word, arbitration, media state and ducking, last wake word, alarm) changed, the
full status goes to every subscriber: at most one push per period, always the latest state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from typing import Any

from wyoming.event import Event

from .events import STATE_TYPE
from .session import Peer

_LOGGER = logging.getLogger(__name__)

PUSH_EVERY_S = 0.1
SUMMARY_KEYS = (
    "state",
    "connected",
    "muted",
    "volume",
    "wake_word",
    "wake_sensitivity",
    "follow_up",
    "stop_word",
    "arbitration",
    "last_wake",
    "alarm",
)


def summary(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a change of is pushed (timers and counters are not)."""
    media = status.get("media") or {}
    keys = tuple(repr(status.get(key)) for key in SUMMARY_KEYS)
    return (*keys, media.get("state"), media.get("ducked"))


class StatePush:
    """The subscribed peers and the task that pushes to them."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        """`status()` is the full state sent."""
        self._status = status
        self.peers: set[Peer] = set()
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[Any, ...] | None = None
        self.pushes = 0

    def subscribe(self, peer: Peer, on: bool) -> None:
        """Start (or stop) pushing to `peer`."""
        if not on:
            self.peers.discard(peer)
            return
        self.peers.add(peer)
        if self._task is None or self._task.done():
            self._last = summary(self._status())
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="satellite state push"
            )

    def forget(self, peer: Peer) -> None:
        """The peer disconnected."""
        self.peers.discard(peer)

    async def _run(self) -> None:
        while self.peers:
            await asyncio.sleep(PUSH_EVERY_S)
            status = self._status()
            now = summary(status)
            if now == self._last:
                continue
            self._last = now
            event = Event(type=STATE_TYPE, data=status)
            for peer in list(self.peers):
                if not await peer.send(event):
                    self.peers.discard(peer)
            self.pushes += 1

    async def close(self) -> None:
        """Stop pushing."""
        self.peers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
