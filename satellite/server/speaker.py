"""The satellite's speaker: the driver's audio streams, chimes and the timer alarm.

Everything goes to one `AudioOut` (the `Player` thread behind it) in the order it is queued,
so the player's bounds (`[speaker] max_queued_s` and a memory cap) hold for all of it.

A `Stream` is one `audio-start` … `audio-stop` from the driver: a TTS reply or an
announcement. The speaker keeps the current one; a new stream lets the previous one finish.
Each stream has an `on_finished(stream, current)` callback, awaited once it has been heard
(or stopped, or refused); the satellite answers `played` there. A stream that would queue
more than the player's bounds is refused whole (`Stream.refused`; what it queued is cut)
instead of growing memory or delaying the next reply. `interrupt()` is barge-in: it silences
the alarm and stops the stream playing. Without a speaker (`out` None) nothing plays and no
stream is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
import logging
from pathlib import Path
from typing import Any

from wyoming.audio import AudioChunk
from wyoming.error import Error

from satellite.playback import QueueFull

from .alarm import Alarm, alarm_tone
from .audio_out import AudioOut, format_problem
from .chimes import ChimeName, Chimes
from .media import Media

_LOGGER = logging.getLogger(__name__)

OnFinished = Callable[["Stream", bool], Awaitable[None]]
"""Called with the stream and whether it was still the speaker's current one."""


class Stream:
    """One audio stream from the driver (TTS reply or announcement), sent by `owner`."""

    def __init__(
        self,
        out: AudioOut,
        rate: int,
        width: int,
        channels: int,
        *,
        owner: object,
        on_finished: OnFinished,
    ) -> None:
        """Start a stream in the given format."""
        self._out = out
        self.owner = owner
        self.on_finished = on_finished
        self.rate, self.width, self.channels = rate, width, channels
        self.problem = format_problem(rate, width, channels)
        self.refused = False  # more audio than the speaker may queue: dropped whole
        self.seconds = 0.0
        self.stopped = False
        self._ended = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._played(), name="satellite reply")

    @property
    def outcome(self) -> str:
        """How it ended: "played", "stopped" (barge-in) or "refused" (too much audio)."""
        return "stopped" if self.stopped else "refused" if self.refused else "played"

    def add(self, pcm: bytes, rate: int, width: int, channels: int) -> str | None:
        """Queue a chunk; returns a problem description if it cannot be played."""
        if (rate, width, channels) != (self.rate, self.width, self.channels):
            problem = format_problem(rate, width, channels)
            if problem is None and self.problem is None:
                # Format changed mid-stream: play it in its own format.
                self.rate, self.width, self.channels = rate, width, channels
            else:
                self.problem = self.problem or problem
        if self.problem is not None:
            return self.problem
        if self.stopped:
            return None
        if len(pcm) % (self.width * self.channels):
            return "a chunk does not hold a whole number of samples"
        try:
            self._out.play_pcm(pcm, self.rate, self.width, self.channels)
        except QueueFull as err:
            self.problem, self.refused = str(err), True
            self._out.stop()  # what this stream queued goes too
        except (ValueError, RuntimeError) as err:
            _LOGGER.error("Cannot play audio: %s", err)
            self.problem = str(err)
        else:
            self.seconds += len(pcm) / (self.rate * self.width * self.channels)
        return self.problem

    def finish(self) -> None:
        """No more audio will come."""
        self._ended.set()

    def stop(self) -> None:
        """Barge-in: stop now."""
        self.stopped = True
        self._out.stop()
        self._ended.set()

    async def _played(self) -> None:
        await self._ended.wait()
        if not self.stopped:
            await self._out.drain()

    async def wait(self) -> None:
        """Return when the whole stream has been played (or stopped)."""
        await self._task

    def cancel(self) -> None:
        """Drop the waiting task (driver gone, or shutting down)."""
        self._task.cancel()


class Speaker:
    """Streams from the driver, chimes and the timer alarm, on one `AudioOut` (or none)."""

    def __init__(
        self, out: AudioOut | None, chimes: Chimes, alarm_s: float, duck_db: float = -20.0
    ) -> None:
        """`out` None = no speaker; `alarm_s` = how long a finished timer rings (0 = never)."""
        self._out = out
        self.media = Media(out, duck_db)
        self.chimes = chimes
        self.chiming = 0  # chimes queued or playing
        self.alarm = Alarm(self._ring_once, alarm_s)
        self._stream: Stream | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.replies_played = 0
        self.replies_refused = 0

    @property
    def present(self) -> bool:
        """There is a speaker to play on."""
        return self._out is not None

    @property
    def streaming(self) -> bool:
        """A stream from the driver is current (playing, or waiting for more audio)."""
        return self._stream is not None

    @property
    def replying(self) -> bool:
        """A stream from the driver is current and not stopped."""
        return self._stream is not None and not self._stream.stopped

    @property
    def volume(self) -> float:
        """Current speaker volume (0.0-1.0)."""
        return self._out.player.volume if self._out is not None else 0.0

    def set_volume(self, volume: float) -> None:
        """Speaker volume (0.0-1.0)."""
        if self._out is not None:
            self._out.player.volume = volume

    def status(self) -> dict[str, Any]:
        """What is queued and what was played, in seconds."""
        return self._out.status() if self._out is not None else {}

    # --- streams from the driver ----------------------------------------------------------

    async def begin(
        self, rate: int, width: int, channels: int, *, owner: object, on_finished: OnFinished
    ) -> Error | None:
        """Start a stream (the previous one finishes, the alarm stops); an `error` to send back."""
        if self._stream is not None:
            self._stream.finish()
        await self.alarm.stop()
        if self._out is None:
            self._stream = None
            return None
        stream = Stream(self._out, rate, width, channels, owner=owner, on_finished=on_finished)
        self._stream = stream
        error = self._refusal(stream) if stream.problem is not None else None
        self._spawn(self._finished(stream), "satellite reply done")
        return error

    def add(self, chunk: AudioChunk) -> Error | None:
        """Queue a chunk of the current stream; an `error` to send back if it turned unplayable."""
        stream = self._stream
        if stream is None:
            return None
        had_problem = stream.problem is not None
        problem = stream.add(chunk.audio, chunk.rate, chunk.width, chunk.channels)
        if problem is not None and not had_problem:
            return self._refusal(stream)
        return None

    def end(self) -> None:
        """No more audio in the current stream: it finishes once heard."""
        if self._stream is not None:
            self._stream.finish()

    def _refusal(self, stream: Stream) -> Error:
        if stream.refused:
            # Dropped whole (nothing of it plays); the error chime tells the user.
            text, code = f"Reply refused: {stream.problem}", "too-much-audio"
            self.replies_refused += 1
            self.chime("error")
        else:
            text, code = f"Cannot play audio: {stream.problem}", "unsupported-audio-format"
        _LOGGER.error(text)
        return Error(text=text, code=code)

    async def _finished(self, stream: Stream) -> None:
        await stream.wait()
        current = stream is self._stream
        if current:
            self._stream = None
            if not stream.refused:
                self.replies_played += 1
            _LOGGER.info("Reply %s (%.1f s)", stream.outcome, stream.seconds)
        await stream.on_finished(stream, current)

    def drop(self) -> None:
        """Cut the current stream and everything queued; its `on_finished` is not called."""
        stream, self._stream = self._stream, None
        if stream is not None:
            if not stream.stopped:
                _LOGGER.info("Reply dropped (%.1f s)", stream.seconds)
            stream.stop()
            stream.cancel()

    async def interrupt(self) -> None:
        """Barge-in: silence the alarm and stop the stream playing."""
        await self.alarm.stop()
        if self._stream is not None and not self._stream.stopped:
            _LOGGER.info("Barge-in: reply stopped")
            self._stream.stop()

    # --- chimes and the alarm -------------------------------------------------------------

    def chime(self, name: ChimeName) -> None:
        """Play a chime (after what is queued); no-op when it is off or there is no speaker."""
        if self._out is None:
            return
        path = self.chimes.path(name)
        if path is not None:
            self._spawn(self._chime(self._out, path), "satellite chime")

    async def _chime(self, out: AudioOut, path: Path) -> None:
        self.chiming += 1
        try:
            await out.play_wav(path)
        finally:
            self.chiming -= 1

    async def _ring_once(self) -> None:
        if self._out is None:
            await asyncio.sleep(1.0)
            return
        if self.chimes.timer is not None:
            await self._out.play_wav(self.chimes.timer)
        else:
            try:
                self._out.play_pcm(alarm_tone(), 22050, 2, 1)
            except QueueFull:
                _LOGGER.warning("Speaker queue full: alarm not played")
            await self._out.drain()

    # --- life cycle -----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Silence everything and release the player (joins its thread)."""
        await self.alarm.stop()
        self.media.stop()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._out is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._out.close)
