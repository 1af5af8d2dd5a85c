"""What the speaker played, on a timeline: the echo canceller's reference.

Every sink that drives a real speaker records each block it is given into a
`ReferenceTimeline` (see `AudioSink.write`): mixed to mono, resampled to 16 kHz and placed at
`max(end of the previous block, now)` on the timeline's clock. A sound card plays blocks back
to back while it is fed and starts a block at once after a gap, so the timeline follows what
the speaker plays, shifted by the card's constant latency (which the canceller's own delay
estimation absorbs). Blocks played back to back form one stream, placed by its count of
frames at the sink's rate: the resampler holds back ~16 ms and releases it in bursts, and
those samples still land where they were written (else a card buffer shorter than that, or
a barge-in `cut`, shifted the reference). A gap or a cut ends the stream and resets the
resampler. Ducked media, replies, chimes and the alarm all go through the same sink,
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
        # The stream of blocks played back to back: where it starts on the timeline, the
        # frames written (at the sink's rate) and the 16 kHz samples placed so far.
        self._resampler: soxr.ResampleStream | None = None
        self._resampler_rate = 0
        self._stream_rate = 0  # 0: no stream (the next block starts one)
        self._stream_start = 0
        self._stream_in = 0
        self._stream_out = 0
        self.sinks = 0  # sinks recording into it (0: the satellite has no speaker)
        self.last_write_index = -(10**12)
        self.chime: tuple[int, int, tuple[float, ...]] | None = None
        """The last chime played: (start index, end index, its notes in Hz)."""

    def reset_clock(self, clock: Callable[[], float]) -> None:
        """Use another clock from now on (a simulated room's), starting at index 0."""
        with self._lock:
            self.clock = clock
            self.origin = clock()
            self._stop_stream(None)
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
        """Place a block written to the sink ((frames, channels) int16 at `rate`).

        It plays right after the previous block, or now if the card ran dry (a new stream).
        Its samples land where they were written at the sink's rate: the resampler holds some
        back and releases them later, so each output is placed by the stream's output count.
        """
        mono = samples.astype(np.float32)
        if mono.ndim == 2:
            mono = mono.mean(axis=1) if mono.shape[1] > 1 else mono[:, 0]
        with self._lock:
            if rate != self._stream_rate:
                self._stop_stream(None)
                if rate not in (REFERENCE_RATE, self._resampler_rate):
                    self._resampler = soxr.ResampleStream(
                        rate, REFERENCE_RATE, 1, dtype="float32", quality="HQ"
                    )
                    self._resampler_rate = rate
            now = self.now_index()  # read last: the card queues the block right after this
            if not self._stream_rate or now > self._end:
                self._stop_stream(None)
                start = max(self._end, now)
                self._zero_to(start)
                self._stream_rate, self._stream_start = rate, start
                self._stream_in = self._stream_out = 0
            resampler = self._resampler if rate != REFERENCE_RATE else None
            out = mono if resampler is None else resampler.resample_chunk(mono)
            self._stream_in += len(mono)
            written = self._stream_start + round(self._stream_in * REFERENCE_RATE / rate)
            self._place(out, max(written, self._stream_start + self._stream_out + len(out)))
            self.last_write_index = self._end

    def _place(self, out: Float32Array, end: int) -> None:
        """Put the stream's next samples at their place; the timeline now ends at `end`."""
        self._zero_to(end)
        start = self._stream_start + self._stream_out
        self._stream_out += len(out)
        if len(out) > self._size:  # only the last `history_s` can be kept
            start, out = start + len(out) - self._size, out[-self._size :]
        self._fill(start, out)

    def _zero_to(self, end: int) -> None:
        """Extend the timeline to `end` with silence (what the resampler holds comes later)."""
        if end > self._end:
            self._fill(
                max(self._end, end - self._size),
                np.zeros(min(end - self._end, self._size), np.float32),
            )
            self._end = end

    def _stop_stream(self, limit: int | None) -> None:
        """End the stream: what the resampler holds is placed (before `limit`), then reset."""
        if (
            self._stream_rate
            and self._resampler is not None
            and self._stream_rate != REFERENCE_RATE
        ):
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            start = self._stream_start + self._stream_out
            if limit is not None:
                tail = tail[: max(0, limit - start)]
            self._fill(start, tail[: max(0, self._end - start)])
            self._resampler.clear()
        self._stream_rate = 0

    def mark_chime(self, notes: tuple[float, ...], seconds: float) -> None:
        """A chime of these notes starts playing now, after what is queued (residual gate)."""
        start = max(self.now_index(), self._end)
        self.chime = (start, start + round(seconds * REFERENCE_RATE), notes)

    def cut(self) -> None:
        """The sink dropped what it had queued (barge-in): it will not be played."""
        now = self.now_index()
        with self._lock:
            self._stop_stream(now)
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


class MicCursor:
    """Where a microphone's successive chunks of `size` samples fall on a speaker timeline.

    Anchored to the timeline's clock at the first chunk, and again when the two drift apart by
    more than `resync_s` (the listener fell behind, samples were dropped).
    """

    def __init__(self, timeline: ReferenceTimeline, size: int, resync_s: float = 0.15) -> None:
        """No anchor until the first chunk."""
        self.timeline = timeline
        self.size = size
        self._resync = resync_s * REFERENCE_RATE
        self._anchor: int | None = None
        self.count = 0  # chunks placed so far
        self.resyncs = 0

    def next_index(self) -> int:
        """The timeline index of the next chunk (the one the microphone just delivered)."""
        size, now = self.size, self.timeline.now_index()
        expected = (self._anchor or 0) + self.count * size
        if self._anchor is None or abs(now - size - expected) > self._resync:
            if self._anchor is not None:
                self.resyncs += 1
            self._anchor = now - size - self.count * size
            expected = now - size
        self.count += 1
        return expected
