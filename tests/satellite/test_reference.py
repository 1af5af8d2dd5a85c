"""The echo reference timeline: what the speaker played lands where it was played."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from satellite.audio.reference import REFERENCE_RATE, ReferenceTimeline
from satellite.audio.room import Room, RoomSink, synthetic_music

RATE = 48000


def play_music(
    *, card_ms: int, block_ms: int, cut_at_s: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], Room]:
    """Music written to the room's speaker in `block_ms` blocks, the writer kept `card_ms`
    ahead of the microphone (a sound card's buffer), an abort (barge-in) at `cut_at_s`.

    Returns (what the speaker played, resampled to 16 kHz; the reference timeline; the room).
    """
    room = Room(rate=RATE, duration_s=5.0)
    sink = RoomSink(room, buffer_s=None)
    music = synthetic_music(4.5, RATE, seed=3)
    block = block_ms * RATE // 1000
    pos = 0
    while pos < len(music) and room.delivered < room.total - RATE // 10:
        sink.write(music[pos : pos + block].reshape(-1, 1))
        pos += block
        while room.play_end - room.delivered > card_ms * RATE // 1000:
            room.next_block()  # the card plays; the writer waits for room
        if cut_at_s is not None and room.delivered >= cut_at_s * RATE:
            sink.abort()
            cut_at_s = None
            pos += RATE // 5  # the next sound starts elsewhere
    played = soxr.resample(room.played[: room.total], RATE, REFERENCE_RATE)
    reference = room.reference.read(0, len(played)).astype(np.float64)
    return played, reference, room


def lag(reference: npt.NDArray[np.float64], played: npt.NDArray[np.float64], at_s: float) -> int:
    """Samples by which the reference's half second at `at_s` is off what was played."""
    start, n = round(at_s * REFERENCE_RATE), REFERENCE_RATE // 2
    segment = reference[start : start + n]
    lags = range(-800, 801)
    return max(lags, key=lambda k: float(np.dot(segment, played[start + k : start + k + n])))


@pytest.mark.parametrize(
    ("card_ms", "block_ms", "cut_at_s"),
    [(100, 20, None), (20, 20, None), (10, 10, None), (100, 20, 2.0), (40, 10, 2.0)],
)
def test_reference_lands_where_the_speaker_played(
    card_ms: int, block_ms: int, cut_at_s: float | None
) -> None:
    """Small card buffers and barge-in cuts leave no shift (the resampler holds back ~16 ms)."""
    played, reference, _ = play_music(card_ms=card_ms, block_ms=block_ms, cut_at_s=cut_at_s)
    for at_s in (0.5, 1.5, 2.5, 3.5):
        assert abs(lag(reference, played, at_s)) <= REFERENCE_RATE // 1000, at_s
        start, n = round(at_s * REFERENCE_RATE), REFERENCE_RATE // 2
        error = reference[start : start + n] - played[start : start + n]
        # Sample for sample the same audio (the resampler's edges aside): > 30 dB below it.
        assert np.sum(error**2) < 1e-3 * np.sum(played[start : start + n] ** 2), at_s


def test_cut_leaves_silence_and_the_next_sound_starts_clean() -> None:
    """After an abort nothing queued is in the reference, and no held-back audio leaks on."""
    played, reference, room = play_music(card_ms=100, block_ms=20, cut_at_s=2.0)
    cut = round(room.abort_times[0] * REFERENCE_RATE)
    # The 200 ms skipped at the cut never played: the reference matches across it.
    window = reference[cut - 800 : cut + 800] - played[cut - 800 : cut + 800]
    assert np.sum(window**2) < 1e-3 * np.sum(played[cut - 800 : cut + 800] ** 2)


def test_idle_speaker_then_a_new_sound_at_16k() -> None:
    """A 16 kHz sink: a block after the speaker idled starts at the clock's present."""
    now = [0.0]
    timeline = ReferenceTimeline(lambda: now[0], history_s=2.0)
    tone = (8000 * np.sin(np.arange(1600) / 5)).astype(np.int16).reshape(-1, 1)
    timeline.record(tone, REFERENCE_RATE)
    now[0] = 0.5
    timeline.record(tone, REFERENCE_RATE)
    got = timeline.read(0, REFERENCE_RATE)
    assert np.array_equal(got[:1600], tone[:, 0].astype(np.float32))
    assert not np.any(got[1600:8000])
    assert np.array_equal(got[8000:9600], tone[:, 0].astype(np.float32))
    assert timeline.end_index == 9600


def test_timeline_counts_the_open_sinks() -> None:
    """A closed sink no longer counts as a speaker; written again, it counts again."""
    room = Room(rate=RATE, duration_s=1.0)
    first, second = RoomSink(room), RoomSink(room)
    assert room.reference.sinks == 2
    first.close()
    first.close()
    assert room.reference.sinks == 1
    first.write(np.zeros((480, 1), np.int16))
    assert room.reference.sinks == 2
    first.close()
    second.close()
    assert room.reference.sinks == 0
