"""A simulated room: what the satellite's speaker plays comes back into its microphone.

Used by the echo tests and `bench/echo.py` (no sound card needed)::

    room = Room(rate=48000, duration_s=20, echo=EchoPath(delay_s=0.03, rt60_s=0.3))
    room.add_voice(clip, at_s=5.0, rate=16000, level_dbfs=-30)   # the user, at the mic
    sink, source = RoomSink(room), RoomSource(room)             # the satellite's audio
    listener = Listener(source, settings, on_event, reference=room.reference)

The microphone hears: the user's voice, plus the speaker output through the echo path
(latency, speaker nonlinearity, level, and a room impulse response: exponentially decaying
noise with the given RT60 after a direct path), plus a little noise. Time is the
microphone's: `room.clock()` is the seconds of audio it has delivered, and the speaker plays
what was written to the sink from `max(end of the last block, now)`, exactly as the
reference timeline (`room.reference`, on the same clock) records it, so the simulation is
sample-exact and repeatable. `realtime=True` paces the microphone like a sound card (for
tests where the satellite must react: barge-in, the stop word); otherwise it runs as fast as
the listener reads, and `RoomSink(room, buffer_s=None)` takes everything written at once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
from pathlib import Path
import sys
import threading
import time
from typing import BinaryIO
import wave

import numpy as np
import numpy.typing as npt
import soxr

from .base import AudioSink, AudioSource, Int16Array
from .reference import ReferenceTimeline

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EchoPath:
    """From the speaker's samples to the microphone's."""

    delay_s: float = 0.03  # sound card latency + flight time
    rt60_s: float = 0.3  # reverberation time of the room
    gain_db: float = -6.0  # speaker -> mic level (unit-energy response)
    drive: float = 0.5  # speaker nonlinearity: tanh soft clipping; 0 = linear
    direct_ratio: float = 0.5  # share of the energy in the direct path
    seed: int = 1

    def impulse_response(self, rate: int) -> Float64Array:
        """Delay, direct path and an exponentially decaying diffuse tail, unit energy."""
        rng = np.random.default_rng(self.seed)
        tail_n = max(1, round(self.rt60_s * rate))
        t = np.arange(tail_n) / rate
        tail = rng.standard_normal(tail_n) * np.exp(-6.9 * t / max(self.rt60_s, 1e-3))
        tail[: round(0.002 * rate)] = 0.0  # first reflections come a little later
        tail *= np.sqrt((1 - self.direct_ratio) / max(1e-12, float(np.sum(tail**2))))
        rir = np.zeros(round(self.delay_s * rate) + tail_n)
        start = round(self.delay_s * rate)
        rir[start : start + tail_n] = tail
        rir[start] += np.sqrt(self.direct_ratio)
        gained: Float64Array = rir * 10 ** (self.gain_db / 20)
        return gained


def to_rate(samples: npt.NDArray[np.generic], rate: int, target: int) -> Float64Array:
    """Mono samples at `rate` as float64 at `target`."""
    floats = np.asarray(samples, dtype=np.float64)
    if floats.ndim == 2:
        floats = floats.mean(axis=1)
    if rate != target:
        floats = soxr.resample(floats, rate, target)
    return floats


def rms_dbfs(samples: npt.NDArray[np.generic]) -> float:
    """RMS level in dB relative to int16 full scale."""
    floats = np.asarray(samples, dtype=np.float64)
    return float(10 * np.log10(np.mean(floats**2) / 32768**2 + 1e-20))


class Room:
    """The acoustic state shared by the room's source and sink."""

    def __init__(
        self,
        *,
        rate: int = 48000,
        duration_s: float = 10.0,
        echo: EchoPath | None = None,
        noise_dbfs: float = -70.0,
        realtime: bool = False,
        reference: ReferenceTimeline | None = None,
    ) -> None:
        """A room that lasts `duration_s` of microphone audio.

        `reference`: the timeline its speaker records into (put on the room's clock; default
        a new one).
        """
        self.rate = rate
        self.echo = echo or EchoPath()
        self.realtime = realtime
        self.total = round(duration_s * rate)
        self.voice: Float64Array = np.zeros(self.total)
        self._noise_rms = 32768 * 10 ** (noise_dbfs / 20)
        self._rng = np.random.default_rng(7)
        self._rir = self.echo.impulse_response(rate)
        self.block = rate // 100
        self._fft_n = 1 << int(np.ceil(np.log2(len(self._rir) + self.block)))
        self._rir_fft = np.fft.rfft(self._rir, self._fft_n)
        self._history: Float64Array = np.zeros(len(self._rir) - 1)
        # What the speaker plays, on the microphone's sample clock.
        self.played: Float64Array = np.zeros(self.total + rate)
        self.play_end = 0
        self.delivered = 0
        self.cond = threading.Condition()
        self.echo_track: Float64Array = np.zeros(self.total)  # echo alone at the mic
        self.abort_times: list[float] = []  # clock() of each sink abort (barge-in, stop)
        self.abort_wall: list[float] = []  # time.perf_counter() of each abort
        if reference is None:
            reference = ReferenceTimeline(self.clock, history_s=duration_s + 1.0)
        else:
            reference.reset_clock(self.clock)
        self.reference = reference
        self.closed = False  # the microphone ended: the speaker no longer waits for it
        self._t0 = 0.0

    def clock(self) -> float:
        """Seconds of microphone audio delivered."""
        return self.delivered / self.rate

    def add_voice(
        self, clip: npt.NDArray[np.generic], *, at_s: float, rate: int, level_dbfs: float
    ) -> tuple[float, float]:
        """Mix the user's `clip` in at `at_s`, scaled to `level_dbfs` RMS; its (start, end) s."""
        floats = to_rate(clip, rate, self.rate)
        active = floats[np.abs(floats) > 0.05 * np.max(np.abs(floats))] if len(floats) else floats
        level = rms_dbfs(active) if len(active) else -100.0
        floats = floats * 10 ** ((level_dbfs - level) / 20)
        start = round(at_s * self.rate)
        end = min(self.total, start + len(floats))
        self.voice[start:end] += floats[: end - start]
        return start / self.rate, end / self.rate

    def speaker_write(self, samples: Float64Array, buffer_s: float | None) -> None:
        """Queue speaker samples (played from max(end of queue, now))."""
        with self.cond:
            start = max(self.play_end, self.delivered)
            end = min(len(self.played), start + len(samples))
            self.played[start:end] = samples[: end - start]
            self.play_end = start + len(samples)
            if buffer_s is not None:
                limit = round(buffer_s * self.rate)
                while (
                    self.play_end - self.delivered > limit
                    and self.delivered < self.total
                    and not self.closed
                ):
                    self.cond.wait(0.5)

    def speaker_abort(self) -> None:
        """Drop what the speaker has queued and not played."""
        with self.cond:
            now = self.delivered
            if self.play_end > now:
                self.played[now : self.play_end] = 0.0
                self.play_end = now
            self.abort_times.append(self.clock())
            self.abort_wall.append(time.perf_counter())
            self.cond.notify_all()

    def next_block(self, voice: Float64Array | None = None) -> Int16Array | None:
        """The microphone's next 10 ms, or None at the end.

        `voice`: the user's voice for these samples (live, e.g. from a pipe), added to
        what `add_voice` placed; its length sets the block's.
        """
        if self.delivered >= self.total:
            return None
        if voice is not None:
            end = min(self.total, self.delivered + len(voice))
            self.voice[self.delivered : end] += voice[: end - self.delivered]
        if self.realtime:
            if self.delivered == 0:
                self._t0 = time.monotonic()
            due = self._t0 + self.delivered / self.rate - time.monotonic()
            if due > 0:
                time.sleep(due)
        with self.cond:
            start = self.delivered
            n = min(self.block if voice is None else len(voice), self.total - start)
            speaker = self.played[start : start + n]
            if self.echo.drive > 0:
                # Soft clipping near full scale: the small speaker's distortion.
                d = self.echo.drive
                speaker = np.tanh(d * speaker / 32768) / np.tanh(d) * 32768
            x = np.concatenate([self._history, speaker])
            y = np.fft.irfft(np.fft.rfft(x, self._fft_n) * self._rir_fft, self._fft_n)
            echo = y[len(self._history) : len(self._history) + n]
            self._history = x[n:]
            self.echo_track[start : start + n] = echo
            noise = self._rng.standard_normal(n) * self._noise_rms
            mic = echo + self.voice[start : start + n] + noise
            self.delivered = start + n
            self.cond.notify_all()
        out: Int16Array = np.clip(np.rint(mic), -32768, 32767).astype(np.int16)
        return out


class RoomSource(AudioSource):
    """The room's microphone."""

    def __init__(self, room: Room) -> None:
        """Delivers 10 ms blocks at the room's rate."""
        self.room = room
        self.sample_rate = room.rate

    def open(self) -> None:
        """Nothing to open."""

    def read(self, timeout: float) -> Int16Array | None:
        """The next 10 ms."""
        return self.room.next_block()

    @property
    def ended(self) -> bool:
        """The room's duration has been delivered."""
        return self.room.delivered >= self.room.total

    def close(self) -> None:
        """Wake a writer waiting for room in the speaker."""
        with self.room.cond:
            self.room.cond.notify_all()


class RoomPipeSource(AudioSource):
    """The room's microphone with the user's voice read live from a pipe (raw s16le mono).

    The room's clock advances as the voice arrives: whoever writes the pipe paces the room.
    The end of the pipe ends the microphone.
    """

    def __init__(self, room: Room, stream: BinaryIO) -> None:
        """Reads 10 ms blocks of voice at the room's rate from `stream`."""
        self.room = room
        self.stream = stream
        self.sample_rate = room.rate
        self._ended = False
        self._rest = b""

    def open(self) -> None:
        """Nothing to open."""

    def read(self, timeout: float) -> Int16Array | None:
        """The next block: the voice from the pipe plus the room (blocks until it arrives)."""
        want = self.room.block * 2
        data = self._rest
        while len(data) < want and not self._ended:
            more = self.stream.read(want - len(data))
            if not more:
                self._ended = True
            data += more
        if len(data) < 2:
            self._ended = True
            self.close()
            return None
        usable = min(want, len(data) - len(data) % 2)
        self._rest = data[usable:]
        voice = np.frombuffer(data[:usable], dtype="<i2").astype(np.float64)
        block = self.room.next_block(voice)
        if block is None:
            self._ended = True
            self.close()
        return block

    @property
    def ended(self) -> bool:
        """The pipe was closed (or the room's duration delivered)."""
        return self._ended

    def close(self) -> None:
        """The speaker no longer waits for the microphone."""
        with self.room.cond:
            self.room.closed = True
            self.room.cond.notify_all()


class RoomSink(AudioSink):
    """The room's speaker; records what it is given into `room.reference`."""

    drives_speaker = True

    def __init__(self, room: Room, *, buffer_s: float | None = 0.1) -> None:
        """`buffer_s`: how far ahead writes may queue (a sound card's buffer); None: no limit."""
        self.room = room
        self.sample_rate = room.rate
        self.channels = 1
        self.buffer_s = buffer_s
        self.reference = room.reference

    def open(self) -> None:
        """Nothing to open."""

    def _write(self, samples: Int16Array) -> None:
        floats = samples.astype(np.float64)
        if floats.ndim == 2:
            floats = floats.mean(axis=1)
        self.room.speaker_write(floats, self.buffer_s)

    def _abort(self) -> None:
        self.room.speaker_abort()

    def _close(self) -> None:
        """Nothing to release."""


def synthetic_music(
    seconds: float, rate: int, *, seed: int = 0, level_dbfs: float = -20.0
) -> Int16Array:
    """Music-like test audio: chords of decaying harmonic notes, a bass line and hi-hats."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    out = np.zeros(n)
    beat = 60 / rng.uniform(90, 130)
    t_note = np.arange(round(beat * 2 * rate)) / rate
    roots = rng.choice([0, 3, 5, 7, 8, 10], size=max(1, int(seconds / (beat * 2)) + 1))
    for i, root in enumerate(roots):
        start = round(i * beat * 2 * rate)
        if start >= n:
            break
        chord = np.zeros(len(t_note))
        for step in (0, 4, 7, 12):
            f = 220 * 2 ** ((root + step) / 12)
            for h in range(1, 5):
                chord += np.sin(2 * np.pi * f * h * t_note + rng.uniform(0, 6.3)) / h**1.5
        bass_f = 55 * 2 ** (root / 12)
        chord += 1.5 * np.sin(2 * np.pi * bass_f * t_note)
        chord *= np.exp(-t_note / (beat * 1.2))
        end = min(n, start + len(chord))
        out[start:end] += chord[: end - start]
    # A melody of random notes on eighths, with vibrato.
    step_n = round(beat / 2 * rate)
    t_step = np.arange(step_n) / rate
    for k in range(n // step_n + 1):
        start = k * step_n
        if start >= n or rng.random() < 0.25:
            continue
        f = 440 * 2 ** (rng.integers(-5, 12) / 12)
        phase = 2 * np.pi * f * t_step + 0.02 * f / 5 * np.sin(2 * np.pi * 5 * t_step)
        note = sum(np.sin(h * phase) * rng.uniform(0.1, 1.0) / h for h in range(1, 7))
        note = note * np.exp(-t_step / (beat * 0.4)) * 0.8
        end = min(n, start + step_n)
        out[start:end] += note[: end - start]
    snare = rng.standard_normal(round(0.12 * rate)) * np.exp(
        -np.arange(round(0.12 * rate)) / (0.03 * rate)
    )
    for k in range(1, int(seconds / beat), 2):
        s0 = round(k * beat * rate)
        e0 = min(n, s0 + len(snare))
        out[s0:e0] += 1.2 * snare[: e0 - s0]
    hat = rng.standard_normal(round(0.03 * rate)) * np.exp(
        -np.arange(round(0.03 * rate)) / (0.008 * rate)
    )
    for k in range(int(seconds / (beat / 2))):
        s = round(k * beat / 2 * rate)
        e = min(n, s + len(hat))
        out[s:e] += 0.6 * hat[: e - s]
    out *= 32768 * 10 ** (level_dbfs / 20) / max(1e-9, float(np.sqrt(np.mean(out**2))))
    music: Int16Array = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return music


def save_record(room: Room, folder: Path) -> None:
    """What the room heard and played, for the tests and the bench to check afterwards.

    `played.wav`: the speaker's output on the microphone's clock (48 kHz s16 mono unless the
    room's rate differs); `echo.wav`: the echo alone at the microphone; `room.json`: the
    sink's aborts (barge-in cuts, microphone seconds) and the seconds delivered.
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = room.delivered
    for name, track in (("played", room.played[:n]), ("echo", room.echo_track[:n])):
        with wave.open(str(folder / f"{name}.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(room.rate)
            wav.writeframes(np.clip(np.rint(track), -32768, 32767).astype("<i2").tobytes())
    info = {"aborts_s": room.abort_times, "delivered_s": room.clock()}
    (folder / "room.json").write_text(json.dumps(info))


def main(argv: list[str] | None = None) -> int:
    """`python -m satellite.audio.room [room options] [satellite options]`: a test/bench backend.

    Runs the whole satellite (`python -m satellite run ...`) with the simulated room as its
    sound card: the microphone hears the user's voice, read as raw 48 kHz s16le mono from
    stdin (pacing the room's clock), plus the echo of everything the satellite's speaker
    plays (replies, chimes, media), which the speaker's reference timeline records. The
    satellite's own `--mic-*`/`--speaker-*` options are ignored (pass `--mic-file -` so
    that the end of stdin does not stop the satellite). On exit, `--room-record DIR` gets
    `save_record`'s files.
    """
    parser = argparse.ArgumentParser(
        prog="python -m satellite.audio.room", description=main.__doc__, add_help=False
    )
    parser.add_argument("--room-seconds", type=float, default=60.0)
    parser.add_argument("--room-delay-ms", type=float, default=40.0)
    parser.add_argument("--room-rt60", type=float, default=0.3)
    parser.add_argument("--room-gain-db", type=float, default=-6.0)
    parser.add_argument("--room-drive", type=float, default=0.5)
    parser.add_argument("--room-buffer-ms", type=float, default=100.0)
    parser.add_argument("--room-record", type=Path)
    args, rest = parser.parse_known_args(argv)

    from satellite.__main__ import main as satellite_main
    from satellite.server import build

    from .reference import speaker_reference

    echo = EchoPath(
        delay_s=args.room_delay_ms / 1000,
        rt60_s=args.room_rt60,
        gain_db=args.room_gain_db,
        drive=args.room_drive,
    )
    room = Room(duration_s=args.room_seconds, echo=echo, reference=speaker_reference())
    build.make_source = lambda config: RoomPipeSource(room, sys.stdin.buffer)
    build.make_sink = lambda config: RoomSink(room, buffer_s=args.room_buffer_ms / 1000)
    try:
        return satellite_main(rest)
    finally:
        if args.room_record is not None:
            save_record(room, args.room_record)


if __name__ == "__main__":
    sys.exit(main())
