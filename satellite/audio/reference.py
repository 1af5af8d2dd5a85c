"""What the speaker played, on a timeline: the echo canceller's reference.

Every sink that drives a real speaker records each block it is given into a
`ReferenceTimeline` (see `AudioSink.write`): mixed to mono, resampled to 16 kHz and placed at
`max(end of the previous block, now)` on the timeline's clock. A sound card plays blocks back
to back while it is fed and starts a block at once after a gap, so the timeline follows what
the speaker plays, shifted by the card's constant latency (which the canceller's own delay
estimation absorbs). Ducked media, replies, chimes and the alarm all go through the same sink,
so all of them are in the reference.

`read(start, count)` returns the reference samples `start .. start+count` (16 kHz sample
indexes since the timeline's origin); what was never played, or is older than `history_s`,
reads as silence. The clock is `time.monotonic` for real devices; a simulated room gives its
own (seconds of microphone audio), so simulation and reality use the same code.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
import time

import numpy as np
import numpy.typing as npt
import soxr

from .base import Int16Array

REFERENCE_RATE = 16000
Float32Array = npt.NDArray[np.float32]


class ReferenceTimeline:
    """A ring of the last `history_s` seconds of played audio at 16 kHz, indexed by sample."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, history_s: float = 4.0) -> None:
        """`clock()` gives seconds; index 0 is the clock's value when the timeline was made."""
        self.clock = clock
        self.origin = clock()
        self._size = round(history_s * REFERENCE_RATE)
        self._ring: Float32Array = np.zeros(self._size, dtype=np.float32)
        self._end = 0  # index just after the last recorded sample
        self._lock = threading.Lock()
        self._resampler: soxr.ResampleStream | None = None
        self._resampler_rate = 0
        self.sinks = 0  # sinks recording into it (0: the satellite has no speaker)
        self.last_write_index = -(10**12)
        self.chime: tuple[int, int, tuple[float, ...]] | None = None
        """The last chime played: (start index, end index, its notes in Hz)."""

    def reset_clock(self, clock: Callable[[], float]) -> None:
        """Use another clock from now on (a simulated room's), starting at index 0."""
        with self._lock:
            self.clock = clock
            self.origin = clock()
            self._ring[:] = 0.0
            self._end = 0
            self.last_write_index = -(10**12)
            self.chime = None

    def now_index(self) -> int:
        """The 16 kHz index of the clock's present."""
        return round((self.clock() - self.origin) * REFERENCE_RATE)

    @property
    def end_index(self) -> int:
        """Index just after the last recorded sample."""
        return self._end

    def record(self, samples: Int16Array, rate: int) -> None:
        """Place a block written to the sink ((frames, channels) int16 at `rate`)."""
        now = self.now_index()
        mono = samples.astype(np.float32)
        if mono.ndim == 2:
            mono = mono.mean(axis=1) if mono.shape[1] > 1 else mono[:, 0]
        with self._lock:
            if rate != REFERENCE_RATE:
                if self._resampler is None or rate != self._resampler_rate:
                    self._resampler = soxr.ResampleStream(
                        rate, REFERENCE_RATE, 1, dtype="float32", quality="HQ"
                    )
                    self._resampler_rate = rate
                mono = self._resampler.resample_chunk(mono)
            start = max(self._end, now)
            if start > self._end:  # the speaker was idle: silence in between
                self._fill(self._end, np.zeros(min(start - self._end, self._size), np.float32))
            self._end = start + len(mono)
            if len(mono) > self._size:  # only the last `history_s` can be kept
                start, mono = self._end - self._size, mono[-self._size :]
            self._fill(start, mono)
            self.last_write_index = self._end

    def mark_chime(self, notes: tuple[float, ...], seconds: float) -> None:
        """A chime of these notes starts playing now, after what is queued (residual gate)."""
        start = max(self.now_index(), self._end)
        self.chime = (start, start + round(seconds * REFERENCE_RATE), notes)

    def cut(self) -> None:
        """The sink dropped what it had queued (barge-in): it will not be played."""
        now = self.now_index()
        with self._lock:
            if self._end > now:
                self._fill(now, np.zeros(min(self._end - now, self._size), np.float32))
                self._end = now
                self.last_write_index = now

    def _fill(self, start: int, values: Float32Array) -> None:
        if not len(values):
            return
        pos = start % self._size
        first = min(len(values), self._size - pos)
        self._ring[pos : pos + first] = values[:first]
        self._ring[: len(values) - first] = values[first:]

    def read(self, start: int, count: int) -> Float32Array:
        """Reference samples `start .. start+count` (silence where nothing was played)."""
        out = np.zeros(count, dtype=np.float32)
        with self._lock:
            lo = max(start, self._end - self._size)
            hi = min(start + count, self._end)
            if hi > lo:
                pos = lo % self._size
                n = hi - lo
                first = min(n, self._size - pos)
                out[lo - start : lo - start + first] = self._ring[pos : pos + first]
                out[lo - start + first : hi - start] = self._ring[: n - first]
        return out


_SPEAKER: ReferenceTimeline | None = None


def speaker_reference() -> ReferenceTimeline:
    """The process's speaker timeline (one satellite, one speaker)."""
    global _SPEAKER
    if _SPEAKER is None:
        _SPEAKER = ReferenceTimeline()
    return _SPEAKER
