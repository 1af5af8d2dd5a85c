"""The chimes: the `[sounds]` settings resolved to WAV files (bundled ones by default).

Playing one marks it on the speaker's reference timeline (the residual echo gate).
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import logging
from pathlib import Path
from typing import Literal
import wave

import numpy as np

from satellite.audio.reference import speaker_reference
from satellite.config import SoundSettings
from satellite.echo import chime_notes

_LOGGER = logging.getLogger(__name__)
BUNDLED = Path(__file__).resolve().parent.parent / "sounds"

ChimeName = Literal["wake", "done", "timer", "error"]


@dataclass(frozen=True)
class Chimes:
    """Resolved chime files (None = silent)."""

    wake: Path | None = None
    done: Path | None = None
    timer: Path | None = None
    error: Path | None = None

    def path(self, name: ChimeName) -> Path | None:
        """The file of the chime about to play.

        Marked on the speaker's reference timeline (its notes, its length) so that the
        command stream notches out its residual echo; only when a sink that the microphone
        hears records into that timeline (not with a null or WAV file sink, or no speaker:
        there is no echo to notch, and the notches would only cut the user's words).
        """
        path: Path | None = getattr(self, name)
        timeline = speaker_reference()
        if path is not None and timeline.sinks > 0:
            notes = chime_notes_of(path)
            if notes is not None:
                timeline.mark_chime(*notes)
        return path


@functools.cache
def chime_notes_of(path: Path) -> tuple[tuple[float, ...], float] | None:
    """A chime file's notes (Hz) and length (s); None if it cannot be read."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    if width != 2 or not frames:
        return None
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return chime_notes(samples, rate), len(samples) / rate


def resolve_chimes(settings: SoundSettings) -> Chimes:
    """Map the `[sounds]` settings to files: "" = bundled, "none" = off."""

    def one(value: str, default: str) -> Path | None:
        if value.strip().lower() == "none":
            return None
        path = Path(value) if value else BUNDLED / default
        if not path.is_file():
            if value:
                _LOGGER.warning("Sound file %s not found: that chime is off", path)
            return None
        return path

    return Chimes(
        one(settings.wake, "wake.wav"),
        one(settings.done, "done.wav"),
        one(settings.timer, "timer.wav"),
        one(settings.error, "error.wav"),
    )
