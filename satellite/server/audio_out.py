"""The asyncio face of the `Player` (`satellite.playback`): queue audio, await until heard.

The `Player` plays from its own thread; the asyncio loop only queues audio and waits for the
player's end-of-stream markers. The player holds at most `max_queued_s` of audio (and a memory
cap): past them `play_pcm` raises `QueueFull`.
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

    # The media channel (see `satellite.playback`).
    duck_db: float

    @property
    def media_state(self) -> str:
        """The media state: "idle", "playing" or "paused"."""

    @property
    def media_buffered_s(self) -> float:
        """Seconds of media buffered."""

    @property
    def ducked(self) -> bool:
        """Media is turned down."""

    def duck(self, on: bool) -> None:
        """Turn media down or back up (ramped)."""

    def media_start(self, rate: int, width: int, channels: int) -> None:
        """A new media stream."""

    def media_pcm(self, pcm: bytes, rate: int, width: int, channels: int) -> None:
        """Buffer media PCM (QueueFull past the cap)."""

    def media_end(self) -> None:
        """Play out what is buffered."""

    def media_pause(self) -> None:
        """Hold the media."""

    def media_resume(self) -> None:
        """Go on."""

    def media_stop(self) -> None:
        """Stop now, drop the buffer."""


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
