"""Capture-side DSP: 10 ms frames at the capture rate in, clean 16 kHz 10 ms chunks out.

Order (chosen by measurement, see bench/satellite.py):

1. streaming soxr resampling capture rate -> 16 kHz (linear, so doing it first is
   equivalent to filtering at 48 kHz, and every later stage touches 3x fewer samples);
1b. echo cancellation (`satellite.echo`, when the satellite has a speaker): before anything
   nonlinear (auto gain) so the echo path stays linear for the canceller;
2. DC removal / high-pass: a 2nd-order Butterworth applied per 10 ms block as one
   matrix product (exact IIR output, no Python per-sample loop);
3. noise suppression + auto gain: webrtc-noise-gain or pyspeex-noise (both work on
   10 ms int16 frames at 16 kHz), or off. pyspeex-noise 1.x (`Process10ms`, the version
   Home Assistant pins) and 2.x (`process_10ms`, returning bytes) both work.

`CaptureDsp.process(frame)` returns zero or more 320-byte chunks (soxr emits in
bursts); `flush()` returns the resampler's tail so no sample is lost at the end of
a file. Per-stage cost is accumulated in `CaptureDsp.timings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import math
import struct
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import soxr

from .audio.base import Int16Array

if TYPE_CHECKING:
    from .echo import EchoCanceller

OUTPUT_RATE = 16000
CHUNK_SAMPLES = 160  # 10 ms at 16 kHz
CHUNK_BYTES = CHUNK_SAMPLES * 2
NOISE_ENGINES = ("webrtc", "speex", "off")

Float64Array = npt.NDArray[np.float64]


@dataclass
class DspSettings:
    """What the DSP chain does.

    auto_gain: 0 = off, else the target speech level in dB below full scale (1-31).
    speex normalises to it (measured: output RMS ~= target whatever the input level);
    webrtc takes it as its AGC target but its fixed-digital gain is capped (measured
    +8..+12 dB on quiet speech, whatever the value). noise_suppression: 0 = off ..
    4 = strongest (speex: x -15 dB). highpass_hz: 0 disables the high-pass / DC filter.

    Defaults (webrtc auto gain, no noise suppression) come from bench/satellite.py: never
    worse than the raw signal for the wake word. Noise suppression made quiet speech worse
    (speex badly); speex auto gain alone detects quiet / noisy "hey jarvis" best but lifts
    a quiet room's hiss by up to +22 dB between words, which cost an "okay nabu" detection.
    """

    noise: str = "webrtc"
    auto_gain: int = 20
    noise_suppression: int = 0
    highpass_hz: float = 80.0
    resample_quality: str = "HQ"


@dataclass
class StageTimings:
    """Accumulated processing time per stage, in nanoseconds."""

    frames: int = 0
    resample_ns: int = 0
    highpass_ns: int = 0
    noise_ns: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def per_frame_ms(self) -> dict[str, float]:
        """Average cost per input frame of each stage, in milliseconds."""
        n = max(1, self.frames)
        out = {
            "resample": self.resample_ns / n / 1e6,
            "highpass": self.highpass_ns / n / 1e6,
            "noise": self.noise_ns / n / 1e6,
        }
        out.update({k: v / n / 1e6 for k, v in self.extra.items()})
        return out


class BlockBiquad:
    """A biquad run on fixed-size blocks as one (L+2)x(L+2) matrix product.

    The state-space block form [y; s'] = M @ [x; s] gives exactly the sample-by-sample
    IIR output (direct form II transposed) without a Python loop per sample.
    """

    def __init__(self, b: tuple[float, float, float], a: tuple[float, float], block: int) -> None:
        """Precompute the block matrix for coefficients b0..b2, a1..a2."""
        b0, b1, b2 = b
        a1, a2 = a
        size = block + 2
        # Simulate all unit inputs (block samples, then 2 state values) at once.
        inputs = np.zeros((block, size))
        inputs[:, :block] = np.eye(block)
        s1 = np.zeros(size)
        s2 = np.zeros(size)
        s1[block] = 1.0
        s2[block + 1] = 1.0
        outputs = np.zeros((block, size))
        for n in range(block):
            x = inputs[n]
            y = b0 * x + s1
            s1 = b1 * x - a1 * y + s2
            s2 = b2 * x - a2 * y
            outputs[n] = y
        self.coefficients = (b, a)
        self._matrix: Float64Array = np.vstack([outputs, s1, s2])
        self._state: Float64Array = np.zeros(2)
        self._block = block

    def process(self, x: Float64Array) -> Float64Array:
        """Filter one block of exactly `block` samples."""
        result: Float64Array = self._matrix @ np.concatenate([x, self._state])
        self._state = result[self._block :]
        return result[: self._block]

    def reset(self) -> None:
        """Clear the filter state."""
        self._state[:] = 0.0


def highpass_biquad(cutoff_hz: float, rate: int, block: int) -> BlockBiquad:
    """2nd-order Butterworth high-pass (RBJ cookbook, Q = 1/sqrt 2)."""
    w0 = 2 * math.pi * cutoff_hz / rate
    alpha = math.sin(w0) / (2 * (1 / math.sqrt(2)))
    cos_w0 = math.cos(w0)
    a0 = 1 + alpha
    b = ((1 + cos_w0) / 2 / a0, -(1 + cos_w0) / a0, (1 + cos_w0) / 2 / a0)
    a = (-2 * cos_w0 / a0, (1 - alpha) / a0)
    return BlockBiquad(b, a, block)


NoiseProcessor = Callable[[bytes], bytes]
"""One 10 ms 16 kHz int16 frame in, the cleaned frame out."""


def noise_processor(engine: Any) -> NoiseProcessor:
    """An engine's 10 ms method, whichever API it has.

    webrtc-noise-gain and pyspeex-noise 1.x: `Process10ms(audio).audio`;
    pyspeex-noise 2.x: `process_10ms(audio)` returns the bytes.
    """
    process: NoiseProcessor | None = getattr(engine, "process_10ms", None)
    if process is not None:
        return process
    legacy: Callable[[bytes], Any] | None = getattr(engine, "Process10ms", None)
    if legacy is None:
        raise TypeError(f"{type(engine).__name__} has no process_10ms/Process10ms")
    return lambda audio: legacy(audio).audio


def speex_agc_level(level: int) -> float:
    """`level` (+ < 1 ppm) as a double whose low 32 bits are also `level` as a float32.

    pyspeex-noise 2.0.x hands its double to speex as a `float *`, which reads the low 32 bits
    (0.0 for a whole number: silent output). This value reads as `level` either way (1.x too).
    """
    if level <= 0:
        return 0.0
    (high,) = struct.unpack("<Q", struct.pack("<d", float(level)))
    (low,) = struct.unpack("<I", struct.pack("<f", float(level)))
    (value,) = struct.unpack("<d", struct.pack("<Q", (high & ~0xFFFFFFFF) | low))
    return float(value)


def make_noise_processor(settings: DspSettings) -> NoiseProcessor | None:
    """Build the selected noise suppression / auto gain engine (None when off)."""
    if settings.noise not in NOISE_ENGINES:
        raise ValueError(f"Unknown noise engine {settings.noise!r}; choose from {NOISE_ENGINES}")
    if not 0 <= settings.auto_gain <= 31:
        raise ValueError("auto_gain must be within 0..31")
    if not 0 <= settings.noise_suppression <= 4:
        raise ValueError("noise_suppression must be within 0..4")
    if settings.noise == "off" or (settings.auto_gain == 0 and settings.noise_suppression == 0):
        return None
    if settings.noise == "webrtc":
        from webrtc_noise_gain import AudioProcessor as WebRtcProcessor

        return noise_processor(WebRtcProcessor(settings.auto_gain, settings.noise_suppression))
    from pyspeex_noise import AudioProcessor as SpeexProcessor

    # speex output RMS measured ~14 dB below its "level" expressed in dBFS.
    level = (
        0
        if settings.auto_gain == 0
        else min(32767, round(32768 * 10 ** ((14 - settings.auto_gain) / 20)))
    )
    engine = SpeexProcessor(speex_agc_level(level), settings.noise_suppression * -15)
    return noise_processor(engine)


class CaptureDsp:
    """The capture chain for one stream at `input_rate`."""

    def __init__(
        self,
        input_rate: int,
        settings: DspSettings | None = None,
        *,
        echo: EchoCanceller | None = None,
    ) -> None:
        """Set up the resampler, the echo canceller, the high-pass filter and the noise engine."""
        if input_rate < 8000 or input_rate % 100:
            raise ValueError(f"Unsupported capture rate {input_rate} Hz")
        self.settings = settings or DspSettings()
        self.input_rate = input_rate
        self.frame_samples = input_rate // 100
        self._resampler: soxr.ResampleStream | None = None
        if input_rate != OUTPUT_RATE:
            self._resampler = soxr.ResampleStream(
                input_rate, OUTPUT_RATE, 1, dtype="float32", quality=self.settings.resample_quality
            )
        self._highpass: BlockBiquad | None = None
        if self.settings.highpass_hz > 0:
            self._highpass = highpass_biquad(self.settings.highpass_hz, OUTPUT_RATE, CHUNK_SAMPLES)
        self._noise = make_noise_processor(self.settings)
        self.echo = echo
        self._pending: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.timings = StageTimings()
        self.samples_in = 0
        self.samples_out = 0

    def process(self, frame: Int16Array) -> list[bytes]:
        """Process one block of capture-rate int16 samples (normally 10 ms)."""
        self.timings.frames += 1
        self.samples_in += len(frame)
        t0 = time.perf_counter_ns()
        floats = frame.astype(np.float32)
        if self._resampler is not None:
            floats = self._resampler.resample_chunk(floats)
        self.timings.resample_ns += time.perf_counter_ns() - t0
        return self._chunks(floats)

    def flush(self) -> list[bytes]:
        """Drain the resampler at end of stream; a partial last chunk is zero-padded."""
        tail = np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(tail, last=True)
        chunks = self._chunks(tail)
        if len(self._pending):
            pad = CHUNK_SAMPLES - len(self._pending)
            chunks += self._chunks(np.zeros(pad, dtype=np.float32))
            self.samples_out -= pad
        return chunks

    def _chunks(self, floats: npt.NDArray[np.float32]) -> list[bytes]:
        if len(self._pending):
            floats = np.concatenate([self._pending, floats])
        count = len(floats) // CHUNK_SAMPLES
        self._pending = floats[count * CHUNK_SAMPLES :]
        out: list[bytes] = []
        for i in range(count):
            block = floats[i * CHUNK_SAMPLES : (i + 1) * CHUNK_SAMPLES]
            if self.echo is not None:
                t_echo = time.perf_counter_ns()
                raw = np.clip(np.rint(block), -32768, 32767).astype(np.int16).tobytes()
                cleaned = np.frombuffer(self.echo.process(raw), dtype=np.int16)
                block = cleaned.astype(np.float32)
                spent = time.perf_counter_ns() - t_echo
                self.timings.extra["echo"] = self.timings.extra.get("echo", 0) + spent
            t0 = time.perf_counter_ns()
            if self._highpass is not None:
                filtered = self._highpass.process(block.astype(np.float64))
            else:
                filtered = block.astype(np.float64)
            pcm = np.clip(np.rint(filtered), -32768, 32767).astype(np.int16).tobytes()
            t1 = time.perf_counter_ns()
            if self._noise is not None:
                pcm = self._noise(pcm)
            self.timings.highpass_ns += t1 - t0
            self.timings.noise_ns += time.perf_counter_ns() - t1
            out.append(pcm)
        self.samples_out += count * CHUNK_SAMPLES
        return out
