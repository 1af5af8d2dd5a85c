"""Playback: replies and chimes, resampled to the sink's rate, stoppable for barge-in; media under them.

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

    # The media channel (music): mixed under everything above, its own capped buffer.
    player.media_start(rate, width, channels)  # a new stream (drops the current one)
    player.media_pcm(pcm, rate, width, channels)  # QueueFull past MEDIA_MAX_S buffered
    player.media_end()                     # play out what is buffered, then idle
    player.media_pause() / media_resume() / media_stop()   # stop drops the buffer now
    player.duck(True)                      # any thread; media gain ramps to duck_db in 40 ms
    player.duck(False)                     # back to 0 dB over ~0.5 s
    player.media_state                     # "idle" | "playing" | "paused"
    player.media_buffered_s, player.ducked, player.media_gain_db

Formats are checked when queued (`ValueError` for an unplayable one) so a bad TTS
format is refused at once, and the player keeps serving. The queue is bounded by duration and
by memory (int16 frames): what would pass either bound is refused with `QueueFull`, so a peer
cannot fill memory or queue hours of audio ahead of the next reply.

While media plays, the worker writes in 20 ms blocks, each the queued reply/chime (if any) plus
the media times its gain, paced on the monotonic clock at most `MIX_LEAD_S` (120 ms) ahead (a
file sink does not block like a sound card), and end-of-stream markers complete when the clock
reaches their audio instead of draining the sink (which would make the music stutter). The gain
is applied as a block is taken, so a duck is heard after what is already written: at most
`MIX_LEAD_S` plus the sound card's own latency (the simulated room's card: 100 ms + a block).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import logging
from pathlib import Path
import queue
import threading
import time
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
MEDIA_BLOCK_S = 0.02  # the block while media plays: a new media gain is heard within one
MAX_QUEUED_S = 120.0
MAX_QUEUED_BYTES = 32 * 1024 * 1024  # of int16 frames: 2 min of 8-channel 64 kHz audio
MEDIA_MAX_S = 5.0  # media buffered ahead of the speaker (the driver leads by at most 2 s)
MIX_LEAD_S = 0.12  # while media plays, written at most this far ahead of the clock
DUCK_DOWN_DB_PER_S = 500.0  # -10 dB within 20 ms, -20 dB within 40 ms
DUCK_UP_DB_PER_S = 40.0  # and back over 0.5 s
MEDIA_IDLE, MEDIA_PLAYING, MEDIA_PAUSED = "idle", "playing", "paused"


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
        self.duck_db = -20.0
        self._media_lock = threading.Lock()
        self._media: deque[npt.NDArray[np.float32]] = deque()
        self._media_frames = 0
        self._media_state = MEDIA_IDLE
        self._media_ended = False
        self._media_resampler: soxr.ResampleStream | None = None
        self._media_key: tuple[int, int] | None = None
        self._ducked = False
        self._gain_db = 0.0
        self._clock: tuple[float, int] | None = None  # (monotonic start, frames written since)
        self._due: list[tuple[int, _Marker]] = []  # markers done once the clock reaches them
        self.sink.open()
        # Resolved now, not at the first write: the speaker's timeline counts its sinks, and
        # the first chime is marked on it only if it knows a speaker plays (`Chimes.path`).
        self.reference = sink.reference
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

    # -- media channel (any thread) --------------------------------------------
    @property
    def media_state(self) -> str:
        """The media state: "idle", "playing" or "paused"."""
        return self._media_state

    @property
    def media_buffered_s(self) -> float:
        """Seconds of media buffered and not yet played."""
        return self._media_frames / self.sink.sample_rate

    @property
    def ducked(self) -> bool:
        """Media is (or is being) turned down under the voice."""
        return self._ducked

    @property
    def media_gain_db(self) -> float:
        """The media's gain now (0 dB, or down to `duck_db` while ducked)."""
        return self._gain_db

    def duck(self, on: bool) -> None:
        """Turn media down to `duck_db` within ~100 ms, or back up over ~0.5 s."""
        self._ducked = on

    def media_start(self, rate: int, width: int, channels: int) -> None:
        """A new media stream: what is buffered of the previous one is dropped."""
        check_format(rate, width, channels)
        with self._media_lock:
            self._media.clear()
            self._media_frames = 0
            self._media_ended = False
            self._media_resampler, self._media_key = None, (rate, channels)
            if rate != self.sink.sample_rate:
                self._media_resampler = soxr.ResampleStream(
                    rate, self.sink.sample_rate, self.sink.channels, dtype="float32"
                )
            self._media_state = MEDIA_PLAYING

    def media_pcm(self, pcm: bytes, rate: int, width: int, channels: int) -> None:
        """Buffer media PCM (QueueFull past `MEDIA_MAX_S`; a new format restarts the stream)."""
        check_format(rate, width, channels)
        if len(pcm) % (width * channels):
            raise ValueError("PCM data does not hold a whole number of frames")
        if self._media_state == MEDIA_IDLE or self._media_key != (rate, channels):
            paused = self._media_state == MEDIA_PAUSED
            self.media_start(rate, width, channels)
            if paused:
                self.media_pause()
        count = len(pcm) // (width * channels)
        if self.media_buffered_s + count / rate > MEDIA_MAX_S:
            raise QueueFull(f"more than {MEDIA_MAX_S:g} s of media would be buffered")
        floats = remix(pcm_to_int16(pcm, width, channels), self.sink.channels)
        with self._media_lock:
            if self._media_resampler is not None:
                floats = self._media_resampler.resample_chunk(floats)
            if len(floats):
                self._media.append(np.ascontiguousarray(floats, dtype=np.float32))
                self._media_frames += len(floats)

    def media_end(self) -> None:
        """No more media: play out what is buffered, then idle."""
        with self._media_lock:
            self._media_ended = True
            if not self._media_frames and self._media_state == MEDIA_PLAYING:
                self._media_state = MEDIA_IDLE

    def media_pause(self) -> None:
        """Hold the media where it is (its buffer is kept)."""
        if self._media_state == MEDIA_PLAYING:
            self._media_state = MEDIA_PAUSED

    def media_resume(self) -> None:
        """Go on playing paused media."""
        if self._media_state == MEDIA_PAUSED:
            self._media_state = MEDIA_PLAYING

    def media_stop(self) -> None:
        """Stop the media now and drop its buffer."""
        with self._media_lock:
            self._media.clear()
            self._media_frames = 0
            self._media_ended = True
            self._media_state = MEDIA_IDLE

    def _media_active(self) -> bool:
        return self._media_state == MEDIA_PLAYING

    def _take_media(self, count: int) -> npt.NDArray[np.float32]:
        """Up to `count` frames of media at its current gain (fewer when the buffer runs short)."""
        parts: list[npt.NDArray[np.float32]] = []
        with self._media_lock:
            need = count
            while need and self._media:
                head = self._media[0]
                if len(head) <= need:
                    parts.append(self._media.popleft())
                    need -= len(head)
                else:
                    parts.append(head[:need])
                    self._media[0] = head[need:]
                    need = 0
            taken = count - need
            self._media_frames -= taken
            if not self._media_frames and self._media_ended:
                self._media_state = MEDIA_IDLE
        if not parts:
            return np.zeros((0, self.sink.channels), np.float32)
        media = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return media * self._gain_ramp(len(media))[:, None]

    def _gain_ramp(self, count: int) -> npt.NDArray[np.float32]:
        """Per-frame linear gain moving toward the duck target at the ramp's speed (dB)."""
        target = min(0.0, self.duck_db) if self._ducked else 0.0
        rate = DUCK_DOWN_DB_PER_S if target < self._gain_db else DUCK_UP_DB_PER_S
        step = rate / self.sink.sample_rate * np.arange(1, count + 1, dtype=np.float32)
        if target < self._gain_db:
            db = np.maximum(target, self._gain_db - step)
        else:
            db = np.minimum(target, self._gain_db + step)
        self._gain_db = float(db[-1]) if count else self._gain_db
        gain: npt.NDArray[np.float32] = np.power(10.0, db / 20.0).astype(np.float32)
        return gain

    def close(self) -> None:
        """Stop playing and join the worker thread."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.media_stop()
        self._queue.put(None)
        self._thread.join()
        self.sink.close()

    # -- worker thread ---------------------------------------------------------
    def _next(self) -> _Pcm | _Marker | None | bool:
        """The next queued item; False when none while media plays (a media block is due)."""
        while True:
            if self._media_active():
                try:
                    return self._queue.get_nowait()
                except queue.Empty:
                    return False
            self._settle_clock()
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue

    def _run(self) -> None:
        resampler: soxr.ResampleStream | None = None
        stream_key: tuple[int, int] | None = None
        generation = self._generation
        while (item := self._next()) is not None:
            if item is False:
                self._media_block()
                continue
            assert not isinstance(item, bool)
            if isinstance(item, _Marker):
                try:
                    if resampler is not None and generation == self._generation:
                        tail = np.zeros((0, self.sink.channels), np.float32)
                        self._write(resampler.resample_chunk(tail, last=True), generation)
                    if self._clock is not None:
                        # Media plays on: done when the clock reaches this point.
                        self._due.append((self._clock[1], item))
                        item = None
                    elif generation == self._generation:
                        self.sink.drain()
                except Exception:
                    _LOGGER.exception("Playback failed")
                resampler, stream_key = None, None
                self._busy.clear()
                if item is not None:
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
        while self._due:  # closing
            self._complete(self._due.pop(0)[1])

    def _block_frames(self) -> int:
        seconds = MEDIA_BLOCK_S if self._media_active() else WRITE_BLOCK_S
        return max(1, round(self.sink.sample_rate * seconds))

    def _write(self, floats: npt.NDArray[np.float32], generation: int) -> None:
        start = 0
        while start < len(floats):
            if generation != self._generation:
                return
            block = floats[start : start + self._block_frames()]
            start += len(block)
            if self._media_active():
                media = self._take_media(len(block))
                block = block.copy()
                block[: len(media)] += media
            self._out(block)
            with self._lock:
                self._current_s = max(0.0, self._current_s - len(block) / self.sink.sample_rate)

    def _media_block(self) -> None:
        """Nothing else to play: one block of media alone (or a short wait for more)."""
        media = self._take_media(self._block_frames())
        if len(media):
            self._out(media)
        else:
            time.sleep(0.01)  # the driver is late: wait for its next chunk
            self._tick()

    def _out(self, block: npt.NDArray[np.float32]) -> None:
        """Write one block at the volume; paced on the clock while media plays."""
        if self._media_active() or self._clock is not None:
            self._pace(len(block))
        samples = np.clip(np.rint(block * self._volume), -32768, 32767).astype(np.int16)
        self.sink.write(samples)
        self.frames_played += len(samples)
        if self._clock is not None:
            self._clock = (self._clock[0], self._clock[1] + len(samples))
        self._tick()

    def _pace(self, count: int) -> None:
        now = time.monotonic()
        if self._clock is None:
            self._clock = (now, 0)
        start, written = self._clock
        rate = self.sink.sample_rate
        ahead = (written + count) / rate - (now - start)  # once this block is written
        if ahead < -0.5:  # fell behind (a stall): restart the clock here rather than rush
            self._clock = (now - written / rate, written)
        elif ahead > MIX_LEAD_S:
            time.sleep(ahead - MIX_LEAD_S)

    def _tick(self) -> None:
        """Complete the markers the clock has reached."""
        if self._clock is None or not self._due:
            return
        start, _ = self._clock
        heard = round((time.monotonic() - start) * self.sink.sample_rate)
        while self._due and self._due[0][0] <= heard:
            self._complete(self._due.pop(0)[1])

    def _settle_clock(self) -> None:
        """Media stopped: finish the markers waiting on the clock, then stop pacing."""
        if self._clock is None:
            return
        if self._due:
            self._tick()
            if self._due:
                try:
                    self.sink.drain()
                except Exception:
                    _LOGGER.exception("Playback failed")
                while self._due:
                    self._complete(self._due.pop(0)[1])
        self._clock = None

    @staticmethod
    def _complete(marker: _Marker) -> None:
        marker.event.set()
        if marker.callback is not None:
            marker.callback()
