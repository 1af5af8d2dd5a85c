"""One utterance decoded while it arrives.

Audio (16 kHz mono int16) is kept and followed by a VAD. Once the speaker has been silent for
`trigger_s`, the speech so far (trimmed of silence, with a little margin) is decoded speculatively
on a worker. If no further speech arrives before `audio-stop`, that decode is the answer, often
already finished; if speech resumed, the stale result is dropped and the new window decoded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging

import numpy as np
from numpy.typing import NDArray

from .audio import TARGET_RATE, to_float32
from .engine import Decoded, WhisperEngine
from .scheduler import FINAL, SPECULATIVE, DecodeScheduler
from .vad import SpeechTracker

_LOGGER = logging.getLogger(__name__)

VAD_WARMUP_S = 0.8
"""pymicro-vad needs this much audio before its first verdict: speech that early keeps the start."""


@dataclass(frozen=True)
class StreamSettings:
    """Timing of the speculative decode and the silence trimming."""

    trigger_s: float = 0.15
    """Silence after speech that starts a speculative decode."""
    lead_s: float = 1.5
    """Audio kept before the first speech frame (generous: cutting into a word costs accuracy)."""
    tail_s: float = 0.15
    """Audio kept after the last speech frame (never more than `trigger_s`)."""
    speculate: bool = True


@dataclass
class _Attempt:
    window: tuple[int, int]
    task: asyncio.Task[Decoded] | None = None
    started: bool = False

    def mark_started(self) -> None:
        self.started = True


class StreamingTranscriber:
    """Feed audio with `add`, then `await finish()` for the transcript."""

    def __init__(
        self,
        engine: WhisperEngine,
        scheduler: DecodeScheduler,
        language: str | None,
        prompt: str | None = None,
        settings: StreamSettings | None = None,
    ) -> None:
        """Start an utterance; `language` None auto-detects."""
        self.engine = engine
        self.scheduler = scheduler
        self.language = language
        self.prompt = prompt
        self.settings = settings or StreamSettings()
        self._pcm = bytearray()
        self._tracker = SpeechTracker()
        self._attempt: _Attempt | None = None
        self.speculative_decodes = 0
        self.reused = False

    @property
    def seconds(self) -> float:
        """Audio received so far."""
        return len(self._pcm) / 2 / TARGET_RATE

    def add(self, samples: NDArray[np.int16]) -> None:
        """Append audio; may start a speculative decode (never blocks)."""
        if not samples.size:
            return
        pcm = samples.tobytes()
        self._pcm += pcm
        self._tracker.feed(pcm)
        if self.settings.speculate and self._tracker.span is not None:
            trigger = int(self.settings.trigger_s * TARGET_RATE)
            if self._tracker.silence_samples >= trigger:
                self._maybe_speculate()

    def _window(self) -> tuple[int, int]:
        """Sample range to decode: speech plus margins, or everything if no speech was detected."""
        total = len(self._pcm) // 2
        span = self._tracker.span
        if span is None:
            return (0, total)
        start = span.start - int(self.settings.lead_s * TARGET_RATE)
        if span.start <= int(VAD_WARMUP_S * TARGET_RATE) or start < 0:
            start = 0
        tail = min(self.settings.tail_s, self.settings.trigger_s)
        end = min(total, span.end + int(tail * TARGET_RATE))
        return (start, end)

    def _maybe_speculate(self) -> None:
        window = self._window()
        attempt = self._attempt
        if attempt is not None and attempt.task is not None:
            if attempt.window == window:
                return  # already decoding this window
            if not attempt.task.done():
                if attempt.started:
                    return  # a stale decode is running: its thread cannot be stopped
                attempt.task.cancel()  # stale and still queued: replace it
        if not self.scheduler.has_room(SPECULATIVE):
            return
        self.speculative_decodes += 1
        self._attempt = self._start(window, SPECULATIVE)

    def _start(self, window: tuple[int, int], priority: int) -> _Attempt:
        audio = to_float32(
            np.frombuffer(bytes(self._pcm[window[0] * 2 : window[1] * 2]), dtype=np.int16)
        )
        engine, language, prompt = self.engine, self.language, self.prompt
        attempt = _Attempt(window)
        attempt.task = asyncio.create_task(
            self.scheduler.run(
                priority, lambda: engine.decode(audio, language, prompt), attempt.mark_started
            ),
            name="whisper decode",
        )
        attempt.task.add_done_callback(_consume)
        return attempt

    async def finish(self) -> Decoded:
        """The transcript of everything received; reuses the speculative decode when still valid."""
        window = self._window()
        attempt = self._attempt
        if attempt is not None and attempt.window == window and attempt.started:
            self.reused = True
            assert attempt.task is not None
            return await self._wait(attempt.task)
        self.cancel()  # stale, or still queued at low priority: queue it again as final
        self._attempt = self._start(window, FINAL)
        self.reused = False
        assert self._attempt.task is not None
        return await self._wait(self._attempt.task)

    async def _wait(self, task: asyncio.Task[Decoded]) -> Decoded:
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the caller left: drop the decode (queued: it leaves the queue)
            raise

    def cancel(self) -> None:
        """Drop a queued or running decode that is no longer wanted."""
        task = self._attempt.task if self._attempt is not None else None
        if task is not None and not task.done():
            task.cancel()


def _consume(task: asyncio.Task[Decoded]) -> None:
    """Retrieve a dropped decode's outcome so asyncio does not log it as unhandled."""
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            _LOGGER.debug("Decode failed: %s", exc)
