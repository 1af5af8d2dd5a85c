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

from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

_LOGGER = logging.getLogger(__name__)

ALARM_GAP_S = 0.6


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

    def handle(self, event: Event) -> bool:
        """Apply a timer event; False if the event is not about timers."""
        now = time.monotonic()
        if TimerStarted.is_type(event.type):
            started = TimerStarted.from_event(event)
            self.timers[started.id] = Timer(
                started.id, started.name, started.total_seconds, True, now
            )
            _LOGGER.info(
                "Timer %s started: %s s%s",
                started.id,
                started.total_seconds,
                f" ({started.name})" if started.name else "",
            )
        elif TimerUpdated.is_type(event.type):
            updated = TimerUpdated.from_event(event)
            timer = self.timers.get(updated.id)
            if timer is None:
                timer = Timer(updated.id, None, updated.total_seconds, updated.is_active, now)
                self.timers[updated.id] = timer
            timer.total_seconds = updated.total_seconds
            timer.is_active = updated.is_active
            timer.updated_at = now
            _LOGGER.info(
                "Timer %s updated: %s s, %s",
                updated.id,
                updated.total_seconds,
                "running" if updated.is_active else "paused",
            )
        elif TimerCancelled.is_type(event.type):
            cancelled = TimerCancelled.from_event(event)
            self.timers.pop(cancelled.id, None)
            _LOGGER.info("Timer %s cancelled", cancelled.id)
        elif TimerFinished.is_type(event.type):
            finished = TimerFinished.from_event(event)
            timer = self.timers.pop(finished.id, None)
            self.finished_ids.append(finished.id)
            _LOGGER.info(
                "Timer %s finished%s",
                finished.id,
                f" ({timer.name})" if timer and timer.name else "",
            )
            self._start_alarm()
        else:
            return False
        return True

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
