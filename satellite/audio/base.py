"""Source and sink interfaces shared by every audio backend.

A source delivers mono int16 blocks at its own `sample_rate` (the device's native
rate, 48 kHz by default); a sink accepts int16 blocks shaped (frames, channels) at
its `sample_rate`. Everything after the source (DSP, wake word, VAD) is the same
whichever backend is used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]

if TYPE_CHECKING:
    from .reference import ReferenceTimeline


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
    """Int16 audio going out at `sample_rate` with `channels` channels.

    A sink that drives a speaker (`drives_speaker`) records every block written into
    `reference` (the process's speaker timeline unless set otherwise): the echo canceller's
    reference. Subclasses implement `_write`/`_abort`/`_close`. The timeline counts the open
    sinks recording into it: `close` takes the sink off the count, a write after it puts it back.
    """

    sample_rate: int = 48000
    channels: int = 1
    drives_speaker: bool = False
    _reference: ReferenceTimeline | None = None
    _reference_set = False
    _counted = False  # counted in `_reference.sinks`

    def _count(self, counted: bool) -> None:
        if self._reference is not None and counted != self._counted:
            self._reference.sinks += 1 if counted else -1
        self._counted = counted and self._reference is not None

    @property
    def reference(self) -> ReferenceTimeline | None:
        """Where written blocks are recorded (None: not a speaker the microphone hears)."""
        if not self._reference_set:
            self.reference = None
            if self.drives_speaker:
                from .reference import speaker_reference

                self.reference = speaker_reference()
        return self._reference

    @reference.setter
    def reference(self, timeline: ReferenceTimeline | None) -> None:
        self._count(False)
        self._reference, self._reference_set = timeline, True
        self._count(True)

    @abstractmethod
    def open(self) -> None:
        """Get ready to play."""

    def write(self, samples: Int16Array) -> None:
        """Play (frames, channels) samples; blocks while the sink is full."""
        reference = self.reference
        if reference is not None:
            self._count(True)  # written again after a close
            reference.record(samples, self.sample_rate)
        self._write(samples)

    @abstractmethod
    def _write(self, samples: Int16Array) -> None:
        """Hand the samples to the device."""

    def drain(self) -> None:
        """Block until everything written has been played."""

    def abort(self) -> None:
        """Drop whatever is queued and not yet played (barge-in)."""
        self._abort()
        reference = self.reference
        if reference is not None:
            reference.cut()

    def _abort(self) -> None:
        """Drop what the device has queued."""

    def close(self) -> None:
        """Release the sink and take it off its timeline's count."""
        try:
            self._close()
        finally:
            self._count(False)

    @abstractmethod
    def _close(self) -> None:
        """Release the device."""
