"""The timer alarm: rings when a timer finishes, until stopped or `alarm_s` has passed.

The wake word, a new reply, `jarvis-satellite control --stop-alarm` and shutdown stop it.
`ring` plays the alarm sound once (the `[sounds] timer` chime, else `alarm_tone()`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import math
import time

_LOGGER = logging.getLogger(__name__)

ALARM_GAP_S = 0.6


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


class Alarm:
    """Rings `ring()` over and over, with a short gap, for at most `alarm_s`."""

    def __init__(self, ring: Callable[[], Awaitable[None]], alarm_s: float = 30.0) -> None:
        """`ring` plays the alarm sound once and returns when it has played."""
        self._ring = ring
        self._alarm_s = alarm_s
        self._task: asyncio.Task[None] | None = None

    @property
    def ringing(self) -> bool:
        """True while the alarm is sounding."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start ringing (no-op while ringing, or when the alarm is off: `alarm_s` 0)."""
        if self.ringing or self._alarm_s <= 0:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="satellite timer alarm"
        )

    async def _run(self) -> None:
        deadline = time.monotonic() + self._alarm_s
        while time.monotonic() < deadline:
            try:
                await self._ring()
            except Exception:
                _LOGGER.exception("Cannot play the timer alarm")
                return
            await asyncio.sleep(ALARM_GAP_S)

    async def stop(self) -> None:
        """Silence the alarm if it is ringing."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
