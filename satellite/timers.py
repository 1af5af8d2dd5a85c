"""Timers that Home Assistant runs for this satellite.

Home Assistant keeps the time; it tells the satellite `timer-started`, `timer-updated`,
`timer-cancelled` and `timer-finished`. The satellite keeps a board of them (for logs and
status) and calls `on_finished` on `timer-finished` (the speaker rings its alarm:
`satellite.server.alarm`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
import time

from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from wyoming_wire import RequestError

_LOGGER = logging.getLogger(__name__)

MAX_TIMERS = 100  # Home Assistant runs a few; a peer must not grow the board without end


@dataclass
class Timer:
    """One timer as last reported by Home Assistant."""

    id: str
    name: str | None
    total_seconds: int
    is_active: bool
    updated_at: float  # monotonic time of the last report

    def remaining(self, now: float | None = None) -> float:
        """Seconds left (frozen while paused)."""
        if not self.is_active:
            return float(self.total_seconds)
        elapsed = (time.monotonic() if now is None else now) - self.updated_at
        return max(0.0, self.total_seconds - elapsed)


class TimerBoard:
    """Track timers from timer events; `on_finished()` is called when one finishes."""

    def __init__(self, on_finished: Callable[[], None]) -> None:
        """`on_finished` starts the alarm (it must not block)."""
        self._on_finished = on_finished
        self.timers: dict[str, Timer] = {}
        self.finished_ids: list[str] = []

    def handle(self, value: object) -> bool:
        """Apply a checked timer event (`server.events.parse`); False if it is not about timers."""
        now = time.monotonic()
        if isinstance(value, TimerStarted):
            self._room_for(value.id)
            self.timers[value.id] = Timer(value.id, value.name, value.total_seconds, True, now)
            _LOGGER.info(
                "Timer %s started: %s s%s",
                value.id,
                value.total_seconds,
                f" ({value.name})" if value.name else "",
            )
        elif isinstance(value, TimerUpdated):
            timer = self.timers.get(value.id)
            if timer is None:
                self._room_for(value.id)
                timer = Timer(value.id, None, value.total_seconds, value.is_active, now)
                self.timers[value.id] = timer
            timer.total_seconds = value.total_seconds
            timer.is_active = value.is_active
            timer.updated_at = now
            _LOGGER.info(
                "Timer %s updated: %s s, %s",
                value.id,
                value.total_seconds,
                "running" if value.is_active else "paused",
            )
        elif isinstance(value, TimerCancelled):
            self.timers.pop(value.id, None)
            _LOGGER.info("Timer %s cancelled", value.id)
        elif isinstance(value, TimerFinished):
            timer = self.timers.pop(value.id, None)
            self.finished_ids = [*self.finished_ids[-(MAX_TIMERS - 1) :], value.id]
            _LOGGER.info(
                "Timer %s finished%s",
                value.id,
                f" ({timer.name})" if timer and timer.name else "",
            )
            self._on_finished()
        else:
            return False
        return True

    def _room_for(self, timer_id: str) -> None:
        if timer_id not in self.timers and len(self.timers) >= MAX_TIMERS:
            raise RequestError(f"at most {MAX_TIMERS} timers at a time", "too-many-timers")
