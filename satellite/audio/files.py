"""Headless sources and sinks: WAV files, raw PCM pipes (stdin/stdout), null.

- `WavFileSource(path, realtime=False, channel=None, tail_silence_s=0.0)`: any
  8/16/24/32-bit PCM WAV at its own rate; `channel=None` mixes to mono, an index
  picks one channel; `realtime=True` paces delivery like a microphone;
  `tail_silence_s` appends silence (a room keeps sounding after a recording ends).
- `RawPcmSource(stream, rate, channels=1, channel=None)`: s16le on a binary stream
  such as `sys.stdin.buffer` (reads block until data arrives or the pipe closes).
- `WavFileSink(path, rate, channels)`, `RawPcmSink(stream, rate, channels)`,
  `NullSink(rate, channels, realtime=False)`.
"""

from __future__ import annotations

from pathlib import Path
import threading
import time
from typing import BinaryIO
import wave

import numpy as np

from .base import AudioSink, AudioSource, Int16Array


def pcm_to_int16(data: bytes, width: int, channels: int) -> Int16Array:
    """Little-endian PCM of 1-4 bytes per sample -> int16 array (frames, channels)."""
    if width == 2:
        samples = np.frombuffer(data, dtype="<i2")
    elif width == 1:
        samples = ((np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(
            np.int16
        )
    elif width == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        samples = (raw[:, 2].astype(np.int8).astype(np.int16) << 8) | raw[:, 1].astype(np.int16)
    elif width == 4:
        samples = (np.frombuffer(data, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"Unsupported sample width {width} bytes")
    usable = len(samples) - len(samples) % channels
    out: Int16Array = samples[:usable].astype(np.int16, copy=False).reshape(-1, channels)
    return out


def to_mono(frames: Int16Array, channel: int | None) -> Int16Array:
    """Pick one channel, or average them all."""
    if frames.shape[1] == 1:
        return frames[:, 0]
    if channel is not None:
        if not 0 <= channel < frames.shape[1]:
            raise ValueError(f"channel {channel} not in 0..{frames.shape[1] - 1}")
        return frames[:, channel]
    mixed: Int16Array = frames.mean(axis=1).astype(np.int16)
    return mixed


class WavFileSource(AudioSource):
    """A WAV recording as a microphone."""

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool = False,
        channel: int | None = None,
        tail_silence_s: float = 0.0,
        block_s: float = 0.01,
    ) -> None:
        """Read the header now so `sample_rate` is known (bad files raise here)."""
        self.path = Path(path)
        try:
            with wave.open(str(self.path), "rb") as wav:
                self.sample_rate = wav.getframerate()
                self._channels = wav.getnchannels()
                self._width = wav.getsampwidth()
                self.total_frames = wav.getnframes()
        except (OSError, wave.Error, EOFError) as err:
            raise ValueError(f"Cannot read WAV file {self.path}: {err}") from err
        if channel is not None and not 0 <= channel < self._channels:
            raise ValueError(f"{self.path} has {self._channels} channel(s), no channel {channel}")
        self.realtime = realtime
        self.channel = channel
        self._block = max(1, round(self.sample_rate * block_s))
        self._tail_s = tail_silence_s
        self._tail_left = 0
        self._wav: wave.Wave_read | None = None
        self._ended = False
        self._delivered = 0
        self._t0 = 0.0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the file for reading from the start (again, after a close)."""
        with self._lock:
            if self._wav is not None:
                self._wav.close()
            self._wav = wave.open(str(self.path), "rb")  # noqa: SIM115 - closed in close()
            self._tail_left = round(self._tail_s * self.sample_rate)
            self._ended = False
            self._delivered = 0
            self._t0 = time.monotonic()

    def read(self, timeout: float) -> Int16Array | None:
        """Next block; sleeps first in real-time mode."""
        with self._lock:
            if self._wav is None or self._ended:
                return None
            if self.realtime:
                due = self._t0 + self._delivered / self.sample_rate - time.monotonic()
                if due > timeout:
                    time.sleep(max(0.0, timeout))
                    return None
                if due > 0:
                    time.sleep(due)
            data = self._wav.readframes(self._block)
            if data:
                block = to_mono(pcm_to_int16(data, self._width, self._channels), self.channel)
            elif self._tail_left > 0:
                n = min(self._block, self._tail_left)
                self._tail_left -= n
                block = np.zeros(n, dtype=np.int16)
            else:
                self._ended = True
                return None
            self._delivered += len(block)
            return block

    @property
    def ended(self) -> bool:
        """The file (and its silent tail) was delivered."""
        return self._ended

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._wav is not None:
                self._wav.close()
                self._wav = None


class RawPcmSource(AudioSource):
    """Raw s16le PCM from a binary stream (e.g. `arecord ... | jarvis-satellite`)."""

    def __init__(
        self,
        stream: BinaryIO,
        rate: int = 48000,
        channels: int = 1,
        channel: int | None = None,
        *,
        block_s: float = 0.01,
    ) -> None:
        """Wrap the stream; it is read from the processing thread."""
        self.stream = stream
        self.sample_rate = rate
        self._channels = channels
        self.channel = channel
        self._block_bytes = max(1, round(rate * block_s)) * 2 * channels
        self._ended = False
        self._rest = b""

    def open(self) -> None:
        """Nothing to open."""

    def read(self, timeout: float) -> Int16Array | None:
        """Blocking read of about one block (the timeout cannot apply to a pipe)."""
        if self._ended:
            return None
        data = self.stream.read(self._block_bytes)
        if not data:
            self._ended = True
            return None
        data = self._rest + data
        frame_bytes = 2 * self._channels
        usable = len(data) - len(data) % frame_bytes
        self._rest = data[usable:]
        return to_mono(pcm_to_int16(data[:usable], 2, self._channels), self.channel)

    @property
    def ended(self) -> bool:
        """The stream was closed."""
        return self._ended

    def close(self) -> None:
        """The caller owns the stream."""


class WavFileSink(AudioSink):
    """Writes what is played into a 16-bit WAV file."""

    def __init__(self, path: str | Path, rate: int = 48000, channels: int = 1) -> None:
        """The file is created on open()."""
        self.path = Path(path)
        self.sample_rate = rate
        self.channels = channels
        self._wav: wave.Wave_write | None = None
        self.frames_written = 0

    def open(self) -> None:
        """Create the file."""
        wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        wav.setnchannels(self.channels)
        wav.setsampwidth(2)
        wav.setframerate(self.sample_rate)
        self._wav = wav

    def _write(self, samples: Int16Array) -> None:
        """Append frames."""
        if self._wav is None:
            self.open()
        assert self._wav is not None
        self._wav.writeframes(samples.astype("<i2").tobytes())
        self.frames_written += len(samples)

    def _close(self) -> None:
        """Finish the header."""
        if self._wav is not None:
            self._wav.close()
            self._wav = None


class RawPcmSink(AudioSink):
    """Raw s16le PCM to a binary stream (e.g. `sys.stdout.buffer | aplay`)."""

    drives_speaker = True  # the microphone hears it: recorded as the echo reference

    def __init__(self, stream: BinaryIO, rate: int = 48000, channels: int = 1) -> None:
        """Wrap the stream (the caller owns it)."""
        self.stream = stream
        self.sample_rate = rate
        self.channels = channels

    def open(self) -> None:
        """Nothing to open."""

    def _write(self, samples: Int16Array) -> None:
        """Write and flush."""
        self.stream.write(samples.astype("<i2").tobytes())
        self.stream.flush()

    def _close(self) -> None:
        """The caller owns the stream."""


class NullSink(AudioSink):
    """Discards audio; with realtime=True it takes as long as playing would."""

    def __init__(self, rate: int = 48000, channels: int = 1, *, realtime: bool = False) -> None:
        """Count what would have been played."""
        self.sample_rate = rate
        self.channels = channels
        self.realtime = realtime
        self.frames_written = 0
        self._aborted = threading.Event()

    def open(self) -> None:
        """Nothing to open."""

    def _write(self, samples: Int16Array) -> None:
        """Count (and wait the playing time in real-time mode)."""
        self._aborted.clear()
        self.frames_written += len(samples)
        if self.realtime:
            self._aborted.wait(len(samples) / self.sample_rate)

    def _abort(self) -> None:
        """Cut a real-time write short."""
        self._aborted.set()

    def _close(self) -> None:
        """Nothing to release."""
