"""The media channel (music from the driver), mixed under replies, chimes and the alarm.

`jarvis-media-start` / `-chunk` / `-stop` / `-control` from the driver land here; the PCM goes
to the player's media buffer (`satellite.playback`, capped at `MEDIA_MAX_S`: past it the chunk
is refused with an `error`, code `media-buffer-full`). `duck()` turns the media down to
`[speaker] duck_db` while the satellite listens or speaks; the player ramps the gain.
"""

from __future__ import annotations

import logging
from typing import Any

from wyoming.error import Error

from satellite.playback import QueueFull

from .audio_out import AudioOut, format_problem
from .events import MediaChunk, MediaStart

_LOGGER = logging.getLogger(__name__)


class Media:
    """The driver's media stream on the speaker (nothing happens without a speaker)."""

    def __init__(self, out: AudioOut | None, duck_db: float) -> None:
        """Play on `out`; ducked media is `duck_db` (negative) dB down."""
        self._player = out.player if out is not None else None
        if self._player is not None:
            self._player.duck_db = duck_db
        self.refused_chunks = 0

    @property
    def state(self) -> str:
        """The media state: "idle", "playing" or "paused"."""
        return self._player.media_state if self._player is not None else "idle"

    @property
    def ducked(self) -> bool:
        """Turned down under the voice."""
        return self._player is not None and self._player.ducked

    def status(self) -> dict[str, Any]:
        """State, ducked, seconds buffered."""
        player = self._player
        return {
            "state": self.state,
            "ducked": self.ducked,
            "buffered_s": round(player.media_buffered_s, 2) if player is not None else 0.0,
        }

    def start(self, start: MediaStart) -> Error | None:
        """A new stream (the current one is dropped)."""
        problem = format_problem(start.rate, start.width, start.channels)
        if problem is not None:
            return Error(text=f"Cannot play media: {problem}", code="unsupported-audio-format")
        if self._player is not None:
            self._player.media_start(start.rate, start.width, start.channels)
            _LOGGER.info("Media started (%d Hz, %d ch)", start.rate, start.channels)
        return None

    def add(self, chunk: MediaChunk) -> Error | None:
        """Buffer a chunk; an `error` to send back if it cannot be played or held."""
        if self._player is None:
            return None
        try:
            self._player.media_pcm(chunk.audio, chunk.rate, chunk.width, chunk.channels)
        except QueueFull as err:
            self.refused_chunks += 1
            return Error(text=f"Media refused: {err}", code="media-buffer-full")
        except ValueError as err:
            return Error(text=f"Cannot play media: {err}", code="unsupported-audio-format")
        return None

    def end(self) -> None:
        """End of stream: play out what is buffered."""
        if self._player is not None:
            self._player.media_end()

    def control(self, action: str) -> None:
        """The action: "pause", "resume" or "stop" (stop drops the buffer now)."""
        if self._player is None:
            return
        if action == "pause":
            self._player.media_pause()
        elif action == "resume":
            self._player.media_resume()
        else:
            self.stop()
        _LOGGER.info("Media %s", action)

    def stop(self) -> None:
        """Stop the media now."""
        if self._player is not None:
            self._player.media_stop()

    def duck(self, on: bool) -> None:
        """Turn media down (True) or back up (False); the player ramps the gain."""
        if self._player is not None and self._player.ducked != on:
            self._player.duck(on)
            _LOGGER.debug("Media %s", "ducked" if on else "restored")
