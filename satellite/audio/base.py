"""Source and sink interfaces shared by every audio backend.

A source delivers mono int16 blocks at its own `sample_rate` (the device's native
rate, 48 kHz by default); a sink accepts int16 blocks shaped (frames, channels) at
its `sample_rate`. Everything after the source (DSP, wake word, VAD) is the same
whichever backend is used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]


class AudioSource(ABC):
    """Mono int16 audio coming in at `sample_rate`."""

    sample_rate: int = 48000

    @abstractmethod
    def open(self) -> None:
        """Start delivering audio."""

    @abstractmethod
    def read(self, timeout: float) -> Int16Array | None:
        """Return the next block of mono samples, or None on timeout / end of audio."""

    @property
    @abstractmethod
    def ended(self) -> bool:
        """True once the source has no more audio (file consumed, stdin closed)."""

    @property
    def dropped_samples(self) -> int:
        """Samples lost because the reader fell behind (ring buffer overflow)."""
        return 0

    @abstractmethod
    def close(self) -> None:
        """Stop and release the source."""


class AudioSink(ABC):
    """Int16 audio going out at `sample_rate` with `channels` channels."""

    sample_rate: int = 48000
    channels: int = 1

    @abstractmethod
    def open(self) -> None:
        """Get ready to play."""

    @abstractmethod
    def write(self, samples: Int16Array) -> None:
        """Play (frames, channels) samples; blocks while the sink is full."""

    def drain(self) -> None:
        """Block until everything written has been played."""

    def abort(self) -> None:
        """Drop whatever is queued and not yet played (barge-in)."""

    @abstractmethod
    def close(self) -> None:
        """Release the sink."""
