"""Acoustic echo cancellation: what the speaker played is removed from the microphone.

`EchoCanceller(timeline, engine=...)` runs on 10 ms 16 kHz chunks, right after resampling and
before the high-pass, noise/gain, wake word, VAD and the command stream. Engines:

- "speex": Speex's linear MDF filter (`libspeexdsp1`, ctypes), which alone removes 11-23 dB
  of echo but leaves the user's voice intact, followed (`suppress`, on by default) by the
  `ResidualEchoSuppressor`: 26-38 dB removed once converged on the bench's rooms, the voice
  let through while the user speaks (bench/echo.py). The default ("auto") when the library
  is installed.
- "webrtc": WebRTC's AEC3 (`aec-audio-processing`; its noise suppression and gain off): removes
  25-55 dB but its residual echo suppressor also cuts the user's voice while both sound,
  which cost wake words in the bench.

Alignment: the reference is the speaker's `ReferenceTimeline`. The first chunk anchors the
microphone's sample count to the timeline's clock; each chunk then reads the reference at
the same index (the speaker's latency and the flight time make the echo arrive later, which
AEC3's own delay estimator finds, up to several hundred ms). If the microphone drifts from
the clock by more than `RESYNC_S` (the listener fell behind, samples were dropped) the anchor
is taken again.

Until the speaker first plays, chunks pass through untouched (no cost on a satellite without
a speaker); from then on every chunk goes through the canceller, so its echo path estimate
stays valid across pauses (a wake chime after a silence is cancelled at once).
Counters: chunks processed, time spent, ERLE (echo return loss enhancement: the energy
removed while the speaker played and the microphone held mostly echo).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from .audio.reference import REFERENCE_RATE, MicCursor, ReferenceTimeline

_LOGGER = logging.getLogger(__name__)

CHUNK = 160  # 10 ms at 16 kHz
RESYNC_S = 0.15


def load_apm() -> Any:
    """WebRTC's audio processing module with only the echo canceller on (ImportError if absent)."""
    from aec_audio_processing import AudioProcessor

    apm = AudioProcessor(enable_aec=True, enable_ns=False, enable_agc=False, enable_vad=False)
    apm.set_stream_format(REFERENCE_RATE, 1, REFERENCE_RATE, 1)
    apm.set_reverse_stream_format(REFERENCE_RATE, 1)
    return apm


def _quantile_step(estimate: Any, ratio: Any, active: Any, quantile: float) -> Any:
    """One step of a per-bin tracker of the `quantile` of `ratio` (0.1 dB up per frame)."""
    up = 10**0.01
    down = 10 ** (-0.01 * (1 - quantile) / quantile)
    return np.where(active, estimate * np.where(ratio > estimate, up, down), estimate)


class ResidualEchoSuppressor:
    """Removes what the linear canceller left of the echo, per frequency, sparing the voice.

    A linear filter leaves two kinds of residual: a fraction of the echo it models (its
    misadjustment) and the echo at frequencies it has not learnt yet (a new note of the music:
    Speex alone removes only 14 dB of music). Per 10 ms frame and 50 Hz bin (320-point STFT,
    sqrt-Hann, 50 % overlap: 10 ms of latency), the expected residual is
    `beta * |Y|^2 + max(0, G * |X|^2 - |Y|^2)`: Y is the filter's echo estimate (microphone
    minus its output, held with a 0.85 decay per frame), X the reference (held with a 0.9
    decay: the echo's delay and reverberation), `beta` the 80th percentile of |E|^2/|Y|^2 and
    `G` the 85th of the echo path's gain |D|^2/|X|^2, tracked per bin while the speaker plays
    (quantiles: the user's voice is an outlier that moves them little). The gain is
    `1 - 1.5 * residual / |E|^2`, at least -15 dB (-30 dB removed more echo and more of the
    voice). The user's voice: when over 10 % of the 250-4000 Hz bins hold 4x the expected
    residual, nothing is suppressed for the next 0.5 s (the whole wake word), so the voice
    reaches the wake word model as the linear filter left it.
    """

    FLOOR = 10 ** (-15 / 20)
    OVER = 1.5
    TALK_RATIO = 4.0
    TALK_BINS = 0.1
    TALK_HANG = 50  # frames

    def __init__(self) -> None:
        """Fresh estimates (a second or two of playback to settle)."""
        size = 2 * CHUNK
        self._window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size))
        bins = CHUNK + 1
        self._speech = slice(5, 81)  # 250-4000 Hz
        self._prev = np.zeros((3, CHUNK))  # last chunk of: output, microphone, reference
        self._tail = np.zeros(CHUNK)
        self._out_power = np.zeros(bins)
        self._echo_power = np.zeros(bins)
        self._mic_power = np.zeros(bins)
        self._echo_held = np.zeros(bins)
        self._ref_held = np.zeros(bins)
        self._beta = np.full(bins, 0.1)
        self._path = np.full(bins, 0.1)
        self._hang = 0
        self.talk_frames = 0  # frames left untouched: the user spoke

    def process(self, out: Any, mic: Any, reference: Any) -> Any:
        """The linear output `out` (float) with its residual echo suppressed, 10 ms late."""
        frames = np.concatenate([self._prev, np.stack([out, mic, reference])], axis=1)
        self._prev = frames[:, CHUNK:]
        spectra = np.fft.rfft(frames * self._window, axis=1)
        cleaned = spectra[0]
        power = spectra.real**2 + spectra.imag**2
        echo = np.abs(spectra[1] - cleaned) ** 2  # the filter's echo estimate
        self._out_power = 0.8 * self._out_power + 0.2 * power[0]
        self._echo_power = 0.8 * self._echo_power + 0.2 * echo
        self._mic_power = 0.8 * self._mic_power + 0.2 * power[1]
        self._echo_held = np.maximum(self._echo_power, 0.85 * self._echo_held)
        self._ref_held = np.maximum(power[2], 0.9 * self._ref_held)
        ratio = self._out_power / (self._echo_power + 1e-9)
        self._beta = _quantile_step(self._beta, ratio, self._echo_power > 1e3 * CHUNK, 0.8)
        np.clip(self._beta, 1e-4, 1.0, out=self._beta)
        ratio = self._mic_power / (self._ref_held + 1e-9)
        self._path = _quantile_step(self._path, ratio, self._ref_held > 1e4 * CHUNK, 0.85)
        np.clip(self._path, 1e-5, 10.0, out=self._path)
        residual = self._beta * self._echo_held + np.maximum(
            0.0, self._path * self._ref_held - self._echo_held
        )
        strong = self._out_power[self._speech] > self.TALK_RATIO * residual[self._speech]
        if float(np.mean(strong)) > self.TALK_BINS:
            self._hang = self.TALK_HANG
        if self._hang > 0:
            self._hang -= 1
            self.talk_frames += 1
            gain: Any = 1.0
        else:
            gain = np.clip(1.0 - self.OVER * residual / (self._out_power + 1e-9), self.FLOOR, 1.0)
        frame = np.fft.irfft(cleaned * gain) * self._window
        result = self._tail + frame[:CHUNK]
        self._tail = frame[CHUNK:]
        return result


class SpeexEcho:
    """Speex's MDF echo canceller (Debian/Raspberry Pi OS `libspeexdsp1`) through ctypes.

    Its linear filter leaves the user's voice untouched while both talk but removes only
    11-23 dB of echo; `suppress` adds the `ResidualEchoSuppressor` after it.
    """

    def __init__(self, tail_s: float = 0.3, *, suppress: bool = True) -> None:
        """Load the library (OSError if absent) and make the state."""
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
        lib = ctypes.CDLL(name)
        lib.speex_echo_state_init.restype = ctypes.c_void_p
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] + [ctypes.c_char_p] * 3
        lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._state = lib.speex_echo_state_init(CHUNK, round(tail_s * REFERENCE_RATE))
        rate = ctypes.c_int(REFERENCE_RATE)
        lib.speex_echo_ctl(self._state, 24, ctypes.byref(rate))  # SPEEX_ECHO_SET_SAMPLING_RATE
        self._out = ctypes.create_string_buffer(CHUNK * 2)
        self._reference = bytes(CHUNK * 2)
        self.suppressor = ResidualEchoSuppressor() if suppress else None

    def set_stream_delay(self, delay_ms: int) -> None:
        """Speex has no delay hint."""

    def process_reverse_stream(self, reference: bytes) -> None:
        """Keep the reference for the next capture chunk."""
        self._reference = reference

    def process_stream(self, chunk: bytes) -> bytes:
        """The chunk without the echo of the last reference."""
        self._lib.speex_echo_cancellation(self._state, chunk, self._reference, self._out)
        if self.suppressor is None:
            return bytes(self._out.raw)
        samples = self.suppressor.process(
            np.frombuffer(self._out.raw, dtype=np.int16).astype(np.float64),
            np.frombuffer(chunk, dtype=np.int16).astype(np.float64),
            np.frombuffer(self._reference, dtype=np.int16).astype(np.float64),
        )
        pcm: bytes = np.clip(np.rint(samples), -32768, 32767).astype(np.int16).tobytes()
        return pcm

    def __del__(self) -> None:
        """Free the state."""
        state = getattr(self, "_state", None)
        if state:
            self._lib.speex_echo_state_destroy(state)


ECHO_ENGINES = ("auto", "webrtc", "speex")


def speex_available() -> bool:
    """The Speex DSP library (libspeexdsp) can be loaded."""
    import ctypes.util

    return ctypes.util.find_library("speexdsp") is not None


def available() -> bool:
    """The echo canceller's package is installed."""
    try:
        import aec_audio_processing  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


class EchoCanceller:
    """Removes the speaker's echo from 10 ms 16 kHz int16 chunks."""

    def __init__(
        self,
        timeline: ReferenceTimeline,
        *,
        delay_ms: int = 0,
        engine: str = "auto",
        suppress: bool = True,
    ) -> None:
        """`engine`: "auto" = speex if libspeexdsp is installed, else webrtc.

        `delay_ms`: a hint of the speaker-to-microphone delay for AEC3 (0: it estimates it).
        `suppress`: Speex's linear filter is followed by the residual echo suppressor.
        """
        if engine not in ECHO_ENGINES:
            raise ValueError(f"Unknown echo engine {engine!r}; choose from {ECHO_ENGINES}")
        if engine == "auto":
            engine = "speex" if speex_available() else "webrtc"
        self.engine = engine
        self.timeline = timeline
        self._apm: Any = load_apm() if engine == "webrtc" else SpeexEcho(suppress=suppress)
        if delay_ms:
            self._apm.set_stream_delay(delay_ms)
        self._cursor = MicCursor(timeline, CHUNK, RESYNC_S)
        self.chunks = 0  # chunks that went through the canceller
        self.passed = 0  # chunks passed through while the speaker was idle
        self.ns = 0
        self._in_energy = 0.0
        self._out_energy = 0.0

    def process(self, chunk: bytes) -> bytes:
        """One 10 ms chunk of the microphone in, the chunk without the speaker's echo out."""
        t0 = time.perf_counter_ns()
        start = self._cursor.next_index()
        if self.timeline.last_write_index < 0:
            self.passed += 1
            self.ns += time.perf_counter_ns() - t0
            return chunk
        reference = self.timeline.read(start, CHUNK)
        ref_pcm = np.clip(np.rint(reference), -32768, 32767).astype(np.int16).tobytes()
        self._apm.process_reverse_stream(ref_pcm)
        out: bytes = self._apm.process_stream(chunk)
        self.chunks += 1
        if float(np.mean(reference**2)) > 1e4:  # the speaker plays (above -50 dBFS)
            mic = np.frombuffer(chunk, dtype=np.int16).astype(np.float64)
            cleaned = np.frombuffer(out, dtype=np.int16).astype(np.float64)
            self._in_energy += float(np.sum(mic**2))
            self._out_energy += float(np.sum(cleaned**2))
        self.ns += time.perf_counter_ns() - t0
        return out

    @property
    def erle_db(self) -> float:
        """Energy in / out over every chunk played so far, in dB (0 before any)."""
        if self._in_energy <= 0:
            return 0.0
        return 10 * math.log10(self._in_energy / max(self._out_energy, 1.0))

    def metrics(self) -> dict[str, float]:
        """Counters for the listener's metrics."""
        suppressor = getattr(self._apm, "suppressor", None)
        return {
            "echo_chunks": float(self.chunks),
            "echo_idle_chunks": float(self.passed),
            "echo_resyncs": float(self._cursor.resyncs),
            "echo_erle_db": round(self.erle_db, 2),
            "echo_speex": float(self.engine == "speex"),
            "echo_talk_frames": float(suppressor.talk_frames if suppressor else 0),
        }


class _Notch:
    """A biquad notch run a whole chunk at a time (state-space form, no per-sample loop)."""

    def __init__(self, freq: float, bandwidth: float, rate: int = REFERENCE_RATE) -> None:
        w = 2 * math.pi * freq / rate
        alpha = math.sin(w) * math.sinh(math.log(2) / 2 * (bandwidth / freq) * w / math.sin(w))
        a0 = 1 + alpha
        b0, b1, b2 = 1 / a0, -2 * math.cos(w) / a0, 1 / a0
        a1, a2 = -2 * math.cos(w) / a0, (1 - alpha) / a0
        self._a = np.array([[-a1, 1.0], [-a2, 0.0]])
        self._b = np.array([b1 - a1 * b0, b2 - a2 * b0])
        self._d = b0
        self.state = np.zeros(2)
        self._blocks: dict[int, tuple[Any, Any, Any, Any]] = {}

    def _block(self, n: int) -> tuple[Any, Any, Any, Any]:
        if n not in self._blocks:
            powers = [np.eye(2)]
            for _ in range(n):
                powers.append(self._a @ powers[-1])
            free = np.array([p[0] for p in powers[:n]])  # y[k] from the state: C A^k
            impulse = np.array([self._d] + [(p @ self._b)[0] for p in powers[: n - 1]])
            into = np.array([powers[n - 1 - k] @ self._b for k in range(n)]).T  # 2 x n
            self._blocks[n] = (free, impulse, powers[n], into)
        return self._blocks[n]

    def __call__(self, x: Any) -> Any:
        free, impulse, a_n, into = self._block(len(x))
        y = free @ self.state + np.convolve(x, impulse)[: len(x)]
        self.state = a_n @ self.state + into @ x
        return y


def chime_notes(samples: Any, rate: int, max_notes: int = 8) -> tuple[float, ...]:
    """The notes of a chime (Hz).

    Its strongest spectral peaks, 100 Hz apart at least, down to 30 dB under the strongest
    (a chime or an alarm tone is a few pure tones).
    """
    floats = np.asarray(samples, dtype=np.float64)
    size = 1 << int(np.ceil(np.log2(max(len(floats), 2))))
    power = np.abs(np.fft.rfft(floats * np.hanning(len(floats)), size)) ** 2
    hz_per_bin = rate / size
    apart = max(1, round(100 / hz_per_bin))
    strongest = float(np.max(power)) if len(power) else 0.0
    notes: list[float] = []
    for _ in range(max_notes):
        peak = int(np.argmax(power))
        if strongest <= 0 or power[peak] < 1e-3 * strongest:
            break
        power[max(0, peak - apart) : peak + apart + 1] = 0.0
        if 100 < peak * hz_per_bin < min(7800, rate / 2):
            notes.append(round(peak * hz_per_bin, 1))
    return tuple(sorted(notes))


class ResidualEchoGate:
    """Notches out what is left of a chime's echo in the command audio sent to the driver.

    A linear canceller leaves part of a chime in the command stream (Speex: 3-8 dB removed on
    the simulated room; nothing with AEC off). The satellite knows when it plays a chime and
    what it is: the chime is marked on the speaker's reference timeline with its notes
    (`ReferenceTimeline.mark_chime`, from `satellite.server.chimes`). From `lead_s` before it
    sounds until `hold_s` after its end (the echo's tail), each chunk goes through narrow
    notches (two in cascade, `bandwidth_hz` wide) at its notes: the chime's residual goes,
    the user's first word said over the chime keeps all but a few narrow bands (160 Hz: with
    200 Hz whisper heard "we'll set it timer" for "set a timer" said over the chime; with 120
    Hz the chime's bands kept -48 dBFS). Outside a chime the audio passes untouched.
    """

    def __init__(
        self,
        timeline: ReferenceTimeline,
        *,
        bandwidth_hz: float = 160.0,
        lead_s: float = 0.05,
        hold_s: float = 0.5,
    ) -> None:
        """Reads the speaker's `timeline`."""
        self.timeline = timeline
        self.bandwidth = bandwidth_hz
        self.lead = round(lead_s * REFERENCE_RATE)
        self.hold = round(hold_s * REFERENCE_RATE)
        self._chime: tuple[int, int, tuple[float, ...]] | None = None
        self._notches: list[tuple[_Notch, _Notch]] = []
        self.gated_chunks = 0  # chunks that went through the notches

    def process(self, pcm: bytes) -> bytes:
        """One chunk of 16 kHz int16 command audio, the chime's residual notched out."""
        chime = self.timeline.chime
        now = self.timeline.now_index()
        if chime is None or not chime[0] - self.lead <= now <= chime[1] + self.hold:
            self._notches = []
            return pcm
        if chime is not self._chime:  # a new chime: fresh notches
            self._chime = chime
            self._notches = [
                (_Notch(note, self.bandwidth), _Notch(note, self.bandwidth)) for note in chime[2]
            ]
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
        for first, second in self._notches:
            samples = second(first(samples))
        self.gated_chunks += 1
        return np.clip(np.rint(samples), -32768, 32767).astype(np.int16).tobytes()
