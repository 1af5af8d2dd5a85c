"""Asyncio side of playback: replies, announcements and chimes go to the `Player` in order.

The `Player` plays from its own thread; the asyncio loop only queues audio. `Reply`
collects one `audio-start` … `audio-stop` stream and resolves when it has been heard,
which is when the satellite answers `played`. The player holds at most `max_queued_s` of
audio (and a memory cap): a stream that would queue more is refused whole (`Reply.refused`;
what it queued is cut) instead of growing memory or delaying the next reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from pathlib import Path
import threading
from typing import Any, Protocol

from satellite.playback import QueueFull, check_format

_LOGGER = logging.getLogger(__name__)


class PlayerLike(Protocol):
    """What the satellite needs from `satellite.playback.Player`."""

    volume: float

    @property
    def queued_s(self) -> float:
        """Seconds of audio queued and not yet played."""

    @property
    def played_s(self) -> float:
        """Seconds of audio played since start."""

    def play_pcm(self, pcm: bytes, rate: int, width: int, channels: int) -> None:
        """Queue PCM audio (ValueError for an unplayable format, QueueFull past the bound)."""

    def play_wav(self, path: str | Path) -> None:
        """Queue a WAV file."""

    def end_of_stream(self, callback: Callable[[], None] | None = None) -> threading.Event:
        """Event set once everything queued so far has been played (or stopped)."""

    def stop(self) -> None:
        """Drop what is queued, cut the sink (barge-in)."""

    def close(self) -> None:
        """Stop and join the player thread."""


def format_problem(rate: int, width: int, channels: int) -> str | None:
    """Why an audio format cannot be played, or None if it can."""
    try:
        check_format(rate, width, channels)
    except ValueError as err:
        return str(err)
    return None


class AudioOut:
    """Asyncio face of the player: queue audio, await until it has been heard."""

    def __init__(self, player: PlayerLike) -> None:
        """Wrap a started player."""
        self.player = player

    def play_pcm(self, pcm: bytes, rate: int, width: int, channels: int) -> None:
        """Queue PCM (ValueError for an unplayable format, QueueFull past the bound)."""
        self.player.play_pcm(pcm, rate, width, channels)

    def status(self) -> dict[str, Any]:
        """What is queued and what was played, in seconds."""
        return {
            "queued_s": round(self.player.queued_s, 2),
            "played_s": round(self.player.played_s, 2),
        }

    async def drain(self) -> None:
        """Return once everything queued so far has been played (or stopped)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(_resolve, done)

        self.player.end_of_stream(finished)
        await done

    async def play_wav(self, path: Path) -> None:
        """Play a WAV file and wait until it has been heard."""
        try:
            self.player.play_wav(path)
        except (ValueError, QueueFull) as err:
            _LOGGER.warning("Cannot play %s: %s", path, err)
            return
        await self.drain()

    def stop(self) -> None:
        """Stop what is playing and drop what is queued."""
        self.player.stop()

    def close(self) -> None:
        """Release the player (joins its thread)."""
        self.player.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Reply:
    """One audio stream from the server (TTS reply or announcement), for the driver `peer`."""

    def __init__(self, out: AudioOut, rate: int, width: int, channels: int, peer: object) -> None:
        """Start a stream in the given format."""
        self._out = out
        self.peer = peer
        self.rate, self.width, self.channels = rate, width, channels
        self.problem = format_problem(rate, width, channels)
        self.refused = False  # more audio than the speaker may queue: dropped whole
        self.seconds = 0.0
        self.stopped = False
        self._ended = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._played(), name="satellite reply")

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
