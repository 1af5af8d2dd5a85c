"""The wake word and its sensitivity, changed at run time (control `wake_word`, `wake_sensitivity`).

The choice is among the models bundled with the wake engine (plus the configured one when it
is a file). A new model loads in an executor thread, then the listener swaps it in on its next
frame. Sensitivity maps to the threshold around the model's own cut-off `c` (or `[wake]
threshold` for the configured word): "default" = c, "low" (fewer false wakes) = 1 - (1-c)/2,
"high" (fewer misses) = 1 - 2(1-c), at least 0.05.
"""

from __future__ import annotations

import asyncio
import logging

from satellite.config import SatelliteConfig
from satellite.wakeword import builtin_wake_words, load_wake_word
from wyoming_wire import RequestError

from .microphone import Microphone

_LOGGER = logging.getLogger(__name__)


def sensitivity_threshold(base: float, sensitivity: str) -> float:
    """The detection threshold for a sensitivity, from the model's default one."""
    miss = 1.0 - base
    if sensitivity == "low":
        return 1.0 - miss / 2
    if sensitivity == "high":
        return max(0.05, 1.0 - 2 * miss)
    return base


class WakeControl:
    """Which wake word is listened for, and how sensitive the detection is."""

    def __init__(self, config: SatelliteConfig, mic: Microphone) -> None:
        """The configured word at default sensitivity."""
        self._config = config
        self._mic = mic
        self.word = config.wake.word
        self.sensitivity = "default"
        self._base: float | None = None
        self.available: list[str] = []
        if config.wake.local:
            try:
                self.available = builtin_wake_words(config.wake.engine)
            except (ImportError, ValueError) as err:
                _LOGGER.warning("Cannot list the bundled wake words: %s", err)
            if self.word not in self.available:
                self.available.append(self.word)
        self._lock = asyncio.Lock()

    def started(self) -> None:
        """The listener runs: its threshold is the default sensitivity's."""
        listener = self._mic.listener
        if listener is not None:
            self._base = listener.wake_threshold

    def check(self, word: str | None) -> None:
        """Raise RequestError for a wake word that cannot be chosen."""
        if word is None:
            return
        if not self._config.wake.local:
            raise RequestError(
                "wake_word: Home Assistant listens for the wake word (remote wake mode)",
                "bad-request",
            )
        if word not in self.available:
            raise RequestError(
                f"wake_word: unknown {word!r:.40} (available: {', '.join(self.available)})",
                "bad-request",
            )

    async def set_word(self, word: str) -> None:
        """Listen for `word` from now on (loads the model off the loop)."""
        async with self._lock:
            listener = self._mic.listener
            if word == self.word or listener is None:
                self.word = word
                return
            wake = self._config.wake
            threshold = wake.threshold if word == wake.word else None
            detector = await asyncio.get_running_loop().run_in_executor(
                None, load_wake_word, word, wake.engine, threshold
            )
            self._base = detector.threshold
            detector.threshold = sensitivity_threshold(detector.threshold, self.sensitivity)
            listener.set_wake_word(detector)
            self.word = word
            _LOGGER.info("Wake word %s (threshold %.3f)", word, detector.threshold)

    def set_sensitivity(self, sensitivity: str) -> None:
        """Detection threshold for "low", "default" or "high"."""
        self.sensitivity = sensitivity
        listener = self._mic.listener
        if listener is not None and self._base is not None:
            listener.wake_threshold = sensitivity_threshold(self._base, sensitivity)
            _LOGGER.info(
                "Wake sensitivity %s (threshold %.3f)", sensitivity, listener.wake_threshold
            )
