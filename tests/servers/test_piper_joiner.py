"""Joining synthesized pieces: trimmed, faded, paused, resampled without artefacts."""

from __future__ import annotations

import numpy as np
import pytest

from wyoming_servers.piper.joiner import FADE_S, MARGIN_S, TAIL_S, Joiner, trim

RATE = 22050


def _tone(seconds: float, freq: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _padded(audio: np.ndarray, lead: float, trail: float) -> np.ndarray:
    return np.concatenate(
        [np.zeros(int(RATE * lead), np.float32), audio, np.zeros(int(RATE * trail), np.float32)]
    )


def _pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0


def test_trim_keeps_a_margin_around_the_sound() -> None:
    tone = _tone(0.5)
    trimmed = trim(_padded(tone, 0.3, 0.4), RATE)
    margin = int(RATE * MARGIN_S)
    assert abs(len(trimmed) - (len(tone) + 2 * margin)) <= int(RATE * 0.005) * 2
    assert trim(np.zeros(RATE, np.float32), RATE).size == 0


def test_pieces_are_joined_with_the_pause_and_soft_edges() -> None:
    joiner = Joiner(RATE)
    first = _pcm(joiner.add(_padded(_tone(0.4), 0.2, 0.3), pause_before=0.5))
    second = _pcm(joiner.add(_padded(_tone(0.3), 0.2, 0.3), pause_before=0.25))
    tail = _pcm(joiner.finish())
    # No pause before the very first piece; the requested pause before the next one.
    assert abs(len(first) / RATE - (0.4 + 2 * MARGIN_S)) < 0.011
    leading_zeros = int(np.argmax(np.abs(second) > 0))
    assert abs(leading_zeros / RATE - (0.25 + MARGIN_S)) < 0.011
    assert len(tail) == int(RATE * TAIL_S) and not tail.any()
    # Faded edges: each piece starts and ends at silence and ramps over FADE_S.
    body = first[int(RATE * MARGIN_S) :]
    assert abs(first[0]) < 1e-3 and abs(first[-1]) < 1e-3
    ramp = int(RATE * FADE_S)
    assert np.max(np.abs(body[:ramp])) <= 0.5 and np.max(np.abs(body[ramp : 4 * ramp])) > 0.45
    assert joiner.seconds == pytest.approx((len(first) + len(second) + len(tail)) / RATE)


@pytest.mark.parametrize("out_rate", [16000, 48000])
def test_resampling_keeps_duration_and_pitch(out_rate: int) -> None:
    joiner = Joiner(RATE, out_rate)
    pieces = [joiner.add(_tone(0.5, 1000.0), 0.0), joiner.add(_tone(0.5, 1000.0), 0.2)]
    audio = _pcm(b"".join(pieces) + joiner.finish())
    native = Joiner(RATE)
    ref = _pcm(
        native.add(_tone(0.5, 1000.0), 0.0) + native.add(_tone(0.5, 1000.0), 0.2) + native.finish()
    )
    assert len(audio) / out_rate == pytest.approx(len(ref) / RATE, abs=0.002)
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * out_rate / len(audio)
    assert peak_hz == pytest.approx(1000.0, abs=5)
    # A real low-pass resampler: nothing folds back as an alias tone.
    assert spectrum[np.fft.rfftfreq(len(audio), 1 / out_rate) > 1100].max() < 0.01 * spectrum.max()


def test_silent_piece_adds_nothing() -> None:
    joiner = Joiner(RATE)
    assert joiner.add(np.zeros(RATE, np.float32), 0.3) == b""
    assert joiner.finish() == b""
