"""Timers that Home Assistant runs for this satellite, and the alarm when one finishes.

Home Assistant keeps the time; it tells the satellite `timer-started`, `timer-updated`,
`timer-cancelled` and `timer-finished`. The satellite keeps a board of them (for logs and
status) and rings an alarm on `timer-finished` until it is stopped (wake word, a new
command) or `alarm_s` has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import logging
import math
import time

from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from wyoming_wire import RequestError

_LOGGER = logging.getLogger(__name__)

ALARM_GAP_S = 0.6
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


def alarm_tone(rate: int = 22050) -> bytes:
    """Three short 880 Hz beeps, 16-bit mono PCM: the alarm when no timer sound is set."""
    beep = int(0.12 * rate)
    gap = int(0.08 * rate)
    out = bytearray()
    for _ in range(3):
        for i in range(beep):
            fade = min(1.0, i / (0.005 * rate), (beep - i) / (0.005 * rate))
            value = int(12000 * fade * math.sin(2 * math.pi * 880 * i / rate))
            out += value.to_bytes(2, "little", signed=True)
        out += bytes(2 * gap)
    return bytes(out)


class TimerBoard:
    """Track timers from timer events and ring when one finishes."""

    def __init__(self, ring: Callable[[], Awaitable[None]], alarm_s: float = 30.0) -> None:
        """`ring` plays the alarm sound once and returns when it has played."""
        self._ring = ring
        self._alarm_s = alarm_s
        self.timers: dict[str, Timer] = {}
        self._alarm_task: asyncio.Task[None] | None = None
        self.finished_ids: list[str] = []

    @property
    def ringing(self) -> bool:
        """True while an alarm is sounding."""
        return self._alarm_task is not None and not self._alarm_task.done()

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
            self._start_alarm()
        else:
            return False
        return True

    def _room_for(self, timer_id: str) -> None:
        if timer_id not in self.timers and len(self.timers) >= MAX_TIMERS:
            raise RequestError(f"at most {MAX_TIMERS} timers at a time", "too-many-timers")

    def _start_alarm(self) -> None:
        if self.ringing or self._alarm_s <= 0:
            return
        self._alarm_task = asyncio.get_running_loop().create_task(
            self._alarm(), name="satellite timer alarm"
        )

    async def _alarm(self) -> None:
        deadline = time.monotonic() + self._alarm_s
        while time.monotonic() < deadline:
            try:
                await self._ring()
            except Exception:
                _LOGGER.exception("Cannot play the timer alarm")
                return
            await asyncio.sleep(ALARM_GAP_S)

    async def stop_alarm(self) -> None:
        """Silence a ringing alarm."""
        task, self._alarm_task = self._alarm_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
