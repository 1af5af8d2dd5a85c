"""The chimes: the `[sounds]` settings resolved to WAV files (bundled ones by default)."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Literal

from satellite.config import SoundSettings

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
        """The file of one chime."""
        path: Path | None = getattr(self, name)
        return path


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
