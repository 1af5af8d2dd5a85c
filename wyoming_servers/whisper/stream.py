"""One utterance decoded while it arrives.

Audio (16 kHz mono int16) is kept and followed by a VAD. Once the speaker has been silent for
`trigger_s`, the speech so far (trimmed of silence, with a little margin) is decoded speculatively
on a worker. If no further speech arrives before `audio-stop`, that decode is the answer, often
already finished; if speech resumed, the stale result is dropped and the new window decoded.

The audio all open streams hold together is capped by an `AudioBudget`; a stream gives its share
back (and frees its buffer) once its final decode has its copy, or when it is dropped.
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


class AudioBudget:
    """Samples of 16 kHz audio that all open streams may buffer together."""

    def __init__(self, seconds: float) -> None:
        """Allow `seconds` of audio in all."""
        self.limit = int(seconds * TARGET_RATE)
        self.used = 0

    def take(self, samples: int) -> bool:
        """Reserve `samples`; False (nothing reserved) if that would pass the limit."""
        if self.used + samples > self.limit:
            return False
        self.used += samples
        return True

    def give(self, samples: int) -> None:
        """Return samples reserved with `take`."""
        self.used = max(0, self.used - samples)


@dataclass
class _Attempt:
    window: tuple[int, int]
    audio: NDArray[np.float32] | None = None
    """The window's samples until the decode ends (a cancelled task's traceback outlives it)."""
    task: asyncio.Task[Decoded] | None = None
    started: bool = False

    def mark_started(self) -> None:
        self.started = True

    def drop_audio(self, _task: object = None) -> None:
        self.audio = None


class StreamingTranscriber:
    """Feed audio with `add`, then `await finish()` for the transcript."""

    def __init__(
        self,
        engine: WhisperEngine,
        scheduler: DecodeScheduler,
        language: str | None,
        prompt: str | None = None,
        settings: StreamSettings | None = None,
        *,
        budget: AudioBudget | None = None,
    ) -> None:
        """Start an utterance; `language` None auto-detects."""
        self.engine = engine
        self.scheduler = scheduler
        self.language = language
        self.prompt = prompt
        self.settings = settings or StreamSettings()
        self._budget = budget
        self._pcm = bytearray()
        self._samples = 0
        self._tracker = SpeechTracker()
        self._attempt: _Attempt | None = None
        self._released = False
        self.speculative_decodes = 0
        self.reused = False

    @property
    def seconds(self) -> float:
        """Audio received so far."""
        return self._samples / TARGET_RATE

    def add(self, samples: NDArray[np.int16]) -> bool:
        """Append audio; may start a speculative decode (never blocks).

        False, and nothing added, if the budget of buffered audio is spent or the stream was
        released.
        """
        if not samples.size:
            return True
        if self._released or (self._budget is not None and not self._budget.take(samples.size)):
            return False
        pcm = samples.tobytes()
        self._pcm += pcm
        self._samples += samples.size
        self._tracker.feed(pcm)
        if self.settings.speculate and self._tracker.span is not None:
            trigger = int(self.settings.trigger_s * TARGET_RATE)
            if self._tracker.silence_samples >= trigger:
                self._maybe_speculate()
        return True

    def _window(self) -> tuple[int, int]:
        """Sample range to decode: speech plus margins, or everything if no speech was detected."""
        total = self._samples
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
        # One float copy of the window (the int16 view is gone before the buffer grows again).
        count = window[1] - window[0]
        audio = to_float32(np.frombuffer(self._pcm, np.int16, count=count, offset=window[0] * 2))
        attempt = _Attempt(window, audio)
        engine, language, prompt = self.engine, self.language, self.prompt

        def decode() -> Decoded:
            samples = attempt.audio
            if samples is None:
                raise RuntimeError("decode dropped before a worker took it")
            return engine.decode(samples, language, prompt)

        attempt.task = asyncio.create_task(
            self.scheduler.run(priority, decode, attempt.mark_started), name="whisper decode"
        )
        attempt.task.add_done_callback(attempt.drop_audio)
        attempt.task.add_done_callback(_consume)
        return attempt

    async def finish(self) -> Decoded:
        """The transcript of everything received; reuses the speculative decode when still valid."""
        window = self._window()
        attempt = self._attempt
        if attempt is not None and attempt.window == window and attempt.started:
            self.reused = True
            assert attempt.task is not None
            self.release()
            return await self._wait(attempt.task)
        self._cancel_attempt()  # stale, or still queued at low priority: queue it again as final
        self._attempt = self._start(window, FINAL)
        self.reused = False
        self.release()  # the final decode has its own copy
        assert self._attempt.task is not None
        return await self._wait(self._attempt.task)

    async def _wait(self, task: asyncio.Task[Decoded]) -> Decoded:
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the caller left: drop the decode (queued: it leaves the queue)
            raise

    def release(self) -> None:
        """Free the buffered audio and give its share of the budget back (idempotent)."""
        if self._released:
            return
        self._released = True
        self._pcm = bytearray()
        if self._budget is not None:
            self._budget.give(self._samples)
        self.scheduler.trim_when_idle()  # e.g. a client that streamed 2 min and left

    def cancel(self) -> None:
        """Drop the stream: its queued or running decode and its audio."""
        self._cancel_attempt()
        self.release()

    def _cancel_attempt(self) -> None:
        task = self._attempt.task if self._attempt is not None else None
        if task is not None and not task.done():
            task.cancel()


def _consume(task: asyncio.Task[Decoded]) -> None:
    """Retrieve a dropped decode's outcome so asyncio does not log it as unhandled."""
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            _LOGGER.debug("Decode failed: %s", exc)
