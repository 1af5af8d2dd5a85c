"""Join synthesized pieces into one seamless PCM stream at the requested sample rate.

Each piece's own leading/trailing silence is trimmed (keeping a short margin), its edges get a
few milliseconds of raised-cosine fade (no clicks), and the pause the text calls for is put back
in front of the next piece. One soxr stream per request resamples the whole utterance, so there
is no filter edge at the joins either.
"""

from __future__ import annotations

import numpy as np
import soxr

from wyoming_servers.piper.voices import FloatAudio

SILENCE_LEVEL = 0.004
"""Below this (about -48 dBFS) a 5 ms frame counts as silence."""
MARGIN_S = 0.02
FADE_S = 0.005
TAIL_S = 0.05


def trim(audio: FloatAudio, rate: int) -> FloatAudio:
    """Drop leading/trailing silence, keeping `MARGIN_S` on each side."""
    frame = max(1, int(rate * 0.005))
    usable = len(audio) // frame * frame
    if usable == 0:
        return audio
    levels = np.abs(audio[:usable]).reshape(-1, frame).max(axis=1)
    loud = np.flatnonzero(levels > SILENCE_LEVEL)
    if loud.size == 0:
        return audio[:0]
    margin = int(rate * MARGIN_S)
    start = max(0, int(loud[0]) * frame - margin)
    end = min(len(audio), (int(loud[-1]) + 1) * frame + margin)
    return audio[start:end]


def fade_edges(audio: FloatAudio, rate: int) -> FloatAudio:
    """Raised-cosine fade-in and fade-out of `FADE_S`."""
    n = min(int(rate * FADE_S), len(audio) // 2)
    if n < 2:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def to_pcm16(audio: FloatAudio) -> bytes:
    """Float [-1, 1] to little-endian signed 16-bit."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Joiner:
    """Turns pieces of float audio at `in_rate` into 16-bit PCM at `out_rate`."""

    def __init__(self, in_rate: int, out_rate: int | None = None) -> None:
        """Prepare one request's stream; `out_rate` None keeps the voice's rate."""
        self.in_rate = in_rate
        self.out_rate = out_rate or in_rate
        self._resampler = (
            soxr.ResampleStream(in_rate, self.out_rate, 1, dtype="float32", quality="HQ")
            if self.out_rate != in_rate
            else None
        )
        self._started = False
        self.seconds = 0.0
        """Seconds of audio produced so far."""

    def add(self, audio: FloatAudio, pause_before: float) -> bytes:
        """PCM for the next piece, preceded by `pause_before` seconds of silence (none at start)."""
        piece = fade_edges(trim(audio, self.in_rate), self.in_rate)
        if piece.size == 0:
            return b""
        if self._started and pause_before > 0:
            gap = np.zeros(int(self.in_rate * pause_before), dtype=np.float32)
            piece = np.concatenate([gap, piece])
        self._started = True
        return self._emit(piece, last=False)

    def finish(self) -> bytes:
        """The rest of the stream: resampler tail plus a short silence."""
        tail = np.zeros(int(self.in_rate * TAIL_S) if self._started else 0, dtype=np.float32)
        return self._emit(tail, last=True)

    def _emit(self, audio: FloatAudio, last: bool) -> bytes:
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio, last=last)
        self.seconds += len(audio) / self.out_rate
        return to_pcm16(audio)
