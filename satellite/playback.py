"""Playback: replies and chimes, resampled to the sink's rate, stoppable for barge-in.

API (used by the Wyoming satellite server)::

    player = Player(sink, volume=1.0, max_queued_s=120.0)   # a worker thread feeds the sink
    player.play_pcm(pcm, rate, width, channels)   # queue any PCM format (1-4 byte LE);
                                           # QueueFull past max_queued_s or MAX_QUEUED_BYTES
    done = player.end_of_stream(callback)  # threading.Event set (and callback called on
                                           # the player thread) once everything queued
                                           # before it has been played -- or dropped by stop()
    player.play_wav(path)                  # queue a WAV file (chimes: WAKE_SOUND, DONE_SOUND)
    player.stop()                          # barge-in: drop queued audio, cut the sink
    player.volume = 0.5                    # 0.0 .. 1.0, applies to what is not yet played
    player.playing                         # audio is queued or being written
    player.queued_s, player.played_s       # seconds queued (not yet played), played so far
    player.close()                         # stop and join the worker thread

Formats are checked when queued (`ValueError` for an unplayable one) so a bad TTS
format is refused at once, and the player keeps serving. The queue is bounded by duration and
by memory (int16 frames): what would pass either bound is refused with `QueueFull`, so a peer
cannot fill memory or queue hours of audio ahead of the next reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
from pathlib import Path
import queue
import threading
import wave

import numpy as np
import numpy.typing as npt
import soxr

from .audio.base import AudioSink, Int16Array
from .audio.files import pcm_to_int16

_LOGGER = logging.getLogger(__name__)
SOUNDS_DIR = Path(__file__).parent / "sounds"
WAKE_SOUND = SOUNDS_DIR / "wake.wav"
DONE_SOUND = SOUNDS_DIR / "done.wav"
TIMER_SOUND = SOUNDS_DIR / "timer.wav"

MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8
WRITE_BLOCK_S = 0.05  # stop() takes effect within one block
MAX_QUEUED_S = 120.0
MAX_QUEUED_BYTES = 32 * 1024 * 1024  # of int16 frames: 2 min of 8-channel 64 kHz audio


class QueueFull(RuntimeError):
    """Queuing this audio would pass the player's duration or memory bound."""


@dataclass
class _Pcm:
    frames: Int16Array  # (n, channels)
    rate: int
    generation: int
    seconds: float


@dataclass
class _Marker:
    event: threading.Event
    callback: Callable[[], None] | None


def check_format(rate: int, width: int, channels: int) -> None:
    """Raise ValueError for a PCM format the player cannot play."""
    if width not in (1, 2, 3, 4):
        raise ValueError(f"unsupported sample width {width} bytes")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"sample rate {rate} Hz outside {MIN_RATE}..{MAX_RATE}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"unsupported channel count {channels}")


def read_wav(path: str | Path) -> tuple[bytes, int, int, int]:
    """PCM bytes, rate, width, channels of a WAV file (ValueError if unreadable)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return (
                wav.readframes(wav.getnframes()),
                wav.getframerate(),
                wav.getsampwidth(),
                wav.getnchannels(),
            )
    except (OSError, wave.Error, EOFError) as err:
        raise ValueError(f"Cannot read WAV file {path}: {err}") from err


def remix(frames: Int16Array, channels: int) -> npt.NDArray[np.float32]:
    """(n, c) int16 -> (n, channels) float32: mono is copied, extra channels averaged."""
    floats = frames.astype(np.float32)
    if floats.shape[1] == channels:
        return floats
    mono = floats.mean(axis=1, keepdims=True)
    return np.repeat(mono, channels, axis=1)


class Player:
    """Plays queued PCM on a sink from its own thread."""

    def __init__(
        self,
        sink: AudioSink,
        volume: float = 1.0,
        max_queued_s: float = MAX_QUEUED_S,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        """Open the sink and start the worker thread."""
        self.sink = sink
        self.max_queued_s = max_queued_s
        self.max_queued_bytes = max_queued_bytes
        # Queued and not yet taken by the worker, plus what is left of the item it writes.
        self._pending_s = 0.0
        self._pending_bytes = 0
        self._current_s = 0.0
        self._current_bytes = 0
        self._volume = 1.0
        self.volume = volume
        self._queue: queue.Queue[_Pcm | _Marker | None] = queue.Queue()
        self._generation = 0
        self._busy = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self.frames_played = 0
        self.sink.open()
        self._thread = threading.Thread(target=self._run, name="satellite-player", daemon=True)
        self._thread.start()

    @property
    def volume(self) -> float:
        """Output gain 0.0 .. 1.0."""
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        self._volume = min(1.0, max(0.0, float(value)))

    @property
    def queued_s(self) -> float:
        """Seconds of audio queued and not yet played (the part of a chunk being played too)."""
        with self._lock:
            return self._pending_s + self._current_s

    @property
    def played_s(self) -> float:
        """Seconds of audio written to the sink since start."""
        return self.frames_played / self.sink.sample_rate

    @property
    def playing(self) -> bool:
        """Audio is queued or being written."""
        return self._busy.is_set() or not self._queue.empty()

    def play_pcm(self, pcm: bytes, rate: int, width: int, channels: int) -> None:
        """Queue PCM audio in any supported format."""
        check_format(rate, width, channels)
        if len(pcm) % (width * channels):
            raise ValueError("PCM data does not hold a whole number of frames")
        if self._closed:
            raise RuntimeError("player closed")
        count = len(pcm) // (width * channels)
        if not count:
            return
        seconds, size = count / rate, count * channels * 2
        with self._lock:  # reserve before converting: a refused chunk costs no memory
            queued_s = self._pending_s + self._current_s
            if queued_s + seconds > self.max_queued_s:
                raise QueueFull(
                    f"{queued_s + seconds:.0f} s of audio would be queued for the speaker "
                    f"(at most {self.max_queued_s:g} s)"
                )
            if self._pending_bytes + self._current_bytes + size > self.max_queued_bytes:
                raise QueueFull(
                    f"more than {self.max_queued_bytes / 2**20:.1f} MiB of audio would be queued"
                )
            self._pending_s += seconds
            self._pending_bytes += size
        frames = pcm_to_int16(pcm, width, channels)
        self._queue.put(_Pcm(frames, rate, self._generation, seconds))

    def play_wav(self, path: str | Path) -> None:
        """Queue a WAV file."""
        pcm, rate, width, channels = read_wav(path)
        self.play_pcm(pcm, rate, width, channels)

    def end_of_stream(self, callback: Callable[[], None] | None = None) -> threading.Event:
        """Event set once everything queued so far has been played (or stopped)."""
        marker = _Marker(threading.Event(), callback)
        if self._closed:
            self._complete(marker)
        else:
            self._queue.put(marker)
        return marker.event

    def stop(self) -> None:
        """Barge-in: drop everything queued and cut what the sink holds."""
        with self._lock:
            self._generation += 1
        self.sink.abort()

    def close(self) -> None:
        """Stop playing and join the worker thread."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._queue.put(None)
        self._thread.join()
        self.sink.close()

    # -- worker thread ---------------------------------------------------------
    def _run(self) -> None:
        resampler: soxr.ResampleStream | None = None
        stream_key: tuple[int, int] | None = None
        generation = self._generation
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Marker):
                try:
                    if resampler is not None and generation == self._generation:
                        tail = np.zeros((0, self.sink.channels), np.float32)
                        self._write(resampler.resample_chunk(tail, last=True), generation)
                    if generation == self._generation:
                        self.sink.drain()
                except Exception:
                    _LOGGER.exception("Playback failed")
                resampler, stream_key = None, None
                self._busy.clear()
                self._complete(item)
                continue
            with self._lock:
                self._pending_s -= item.seconds
                self._pending_bytes -= item.frames.nbytes
                if item.generation != self._generation:
                    continue  # dropped by stop()
                self._current_s, self._current_bytes = item.seconds, item.frames.nbytes
            self._busy.set()
            if item.generation != generation or (item.rate, item.frames.shape[1]) != stream_key:
                generation = item.generation
                stream_key = (item.rate, item.frames.shape[1])
                resampler = None
                if item.rate != self.sink.sample_rate:
                    resampler = soxr.ResampleStream(
                        item.rate, self.sink.sample_rate, self.sink.channels, dtype="float32"
                    )
            try:
                floats = remix(item.frames, self.sink.channels)
                if resampler is not None:
                    floats = resampler.resample_chunk(floats)
                self._write(floats, generation)
            except Exception:  # a failing device must not kill the player
                _LOGGER.exception("Playback failed")
                resampler, stream_key = None, None
            with self._lock:
                self._current_s, self._current_bytes = 0.0, 0
            if self._queue.empty():
                self._busy.clear()

    def _write(self, floats: npt.NDArray[np.float32], generation: int) -> None:
        step = max(1, round(self.sink.sample_rate * WRITE_BLOCK_S))
        for start in range(0, len(floats), step):
            if generation != self._generation:
                return
            block = floats[start : start + step] * self._volume
            samples = np.clip(np.rint(block), -32768, 32767).astype(np.int16)
            self.sink.write(samples)
            self.frames_played += len(samples)
            with self._lock:
                self._current_s = max(0.0, self._current_s - len(samples) / self.sink.sample_rate)

    @staticmethod
    def _complete(marker: _Marker) -> None:
        marker.event.set()
        if marker.callback is not None:
            marker.callback()
