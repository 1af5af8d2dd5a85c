"""A thread-safe int16 ring buffer between an audio callback and a worker thread.

The writer (the PortAudio callback) only copies samples in; when the buffer is full
the oldest samples are overwritten and counted as dropped, so the callback never
blocks. The reader waits with a timeout.
"""

from __future__ import annotations

import threading

import numpy as np

from .base import Int16Array


class RingBuffer:
    """Fixed-capacity FIFO of int16 frames with `channels` columns."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        """Allocate `capacity` frames."""
        self._data = np.zeros((capacity, channels), dtype=np.int16)
        self._capacity = capacity
        self._read = 0
        self._count = 0
        self._cond = threading.Condition()
        self.dropped = 0

    @property
    def capacity(self) -> int:
        """Frames it can hold."""
        return self._capacity

    def __len__(self) -> int:
        """Frames waiting to be read."""
        return self._count

    def write(self, frames: Int16Array) -> None:
        """Append frames (shape (n, channels)); overwrite the oldest if full."""
        n = len(frames)
        with self._cond:
            if n >= self._capacity:
                self.dropped += self._count + n - self._capacity
                frames = frames[n - self._capacity :]
                n = self._capacity
                self._read = 0
                self._count = 0
            overflow = self._count + n - self._capacity
            if overflow > 0:
                self.dropped += overflow
                self._read = (self._read + overflow) % self._capacity
                self._count -= overflow
            start = (self._read + self._count) % self._capacity
            first = min(n, self._capacity - start)
            self._data[start : start + first] = frames[:first]
            self._data[: n - first] = frames[first:]
            self._count += n
            self._cond.notify_all()

    def read(self, max_frames: int, timeout: float | None = None) -> Int16Array:
        """Take up to `max_frames`, waiting up to `timeout` for at least one."""
        with self._cond:
            if self._count == 0 and timeout != 0:
                self._cond.wait(timeout)
            return self._take(min(max_frames, self._count))

    def read_exact(self, frames: int, timeout: float | None = None) -> Int16Array | None:
        """Take exactly `frames` once available, or None on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._count >= frames, timeout):
                return None
            return self._take(frames)

    def read_available(self, out: Int16Array) -> int:
        """Copy up to len(out) frames into `out` (callback side); return how many."""
        with self._cond:
            n = min(len(out), self._count)
            taken = self._take(n)
            out[:n] = taken
            return n

    def wait_space(self, frames: int, timeout: float | None = None) -> bool:
        """Wait until `frames` more fit without overwriting."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._capacity - self._count >= min(frames, self._capacity), timeout
            )

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until everything was read."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)

    def clear(self) -> None:
        """Drop everything queued."""
        with self._cond:
            self._read = 0
            self._count = 0
            self._cond.notify_all()

    def _take(self, n: int) -> Int16Array:
        first = min(n, self._capacity - self._read)
        out = np.concatenate([self._data[self._read : self._read + first], self._data[: n - first]])
        self._read = (self._read + n) % self._capacity
        self._count -= n
        self._cond.notify_all()
        return out
