"""A room that gets louder during the utterance: its noise is not a sound once it stays on.

The whisper server decodes speculatively once the speaker has been quiet (by energy) for
`--trigger-ms`. Quiet was judged against the whole utterance's room tone, so when a fan, a
dishwasher or a TV starts during a command the new, louder room tone counted as sound, no decode
started in the silence after the last word, and the transcript waited for a decode after
`audio-stop`. `bench.stt`'s pair "turn on the living room lamp" + "what time is it" is such an
utterance: the second recording's room tone is about 24 dB louder than the first's.
"""

from __future__ import annotations

from collections.abc import Iterator
import re

import numpy as np
import pytest

from wyoming_servers.whisper.levels import SoundLevels, frame_levels, loud_frames

from .whisper_client import (
    ENGLISH,
    Client,
    Clip,
    ServerProcess,
    load_clip,
    normalise,
    whisper_process,
)

TAIL_S = 0.7
LAMP = "end07_wfw_turn_on_the_living_room_lamp.wav"
WHAT_TIME = "end07_stp_en_what_time_is_it.wav"


def _pcm(name: str) -> bytes:
    clip = load_clip(ENGLISH / name)
    assert (clip.rate, clip.channels, clip.width) == (16000, 1, 2)
    return clip.audio


def _pair(first: str, second: str) -> bytes:
    """As `bench.stt` builds it: the first cut at its last word, then the second whole."""
    return _pcm(first)[: -int(TAIL_S * 16000) * 2] + _pcm(second)


def _levels(seconds_and_db: list[tuple[float, float]]) -> list[float]:
    """Synthetic frame levels: (seconds, dB) stretches; speech alternates 70/52 dB syllables."""
    out: list[float] = []
    for seconds, db in seconds_and_db:
        frames = round(seconds * 100)
        if db < 0:  # speech: 150 ms syllables at |db|, 50 ms dips 18 dB lower
            out += [(-db if i % 20 < 15 else -db - 18) for i in range(frames)]
        else:
            rng = np.random.default_rng(frames)
            out += (db + rng.uniform(-1.5, 1.5, frames)).tolist()
    return out


def test_noise_that_starts_mid_utterance_stops_being_a_sound() -> None:
    """Quiet room (20 dB), a command, a fan at 50 dB, a second command over it, 0.7 s of fan:
    the last sound is the second command's last syllable, not the fan."""
    levels = _levels([(0.5, 20), (1.5, -70), (0.3, 20), (0.5, 50), (1.5, -80), (0.7, 50)])
    loud = loud_frames(levels)
    assert 0 < loud[0] < 60  # the first command is a sound
    last_word = 50 + 150 + 30 + 50 + 150
    assert last_word - 20 <= loud[-1] < last_word + 5, loud[-1]
    assert not np.isin(np.arange(last_word + 10, len(levels)), loud).any()


def test_a_steady_room_keeps_its_tone() -> None:
    """No change of room tone: the trailing 20 dB frames are quiet, the speech loud, as before."""
    levels = _levels([(0.5, 20), (2.0, -70), (0.7, 20)])
    loud = loud_frames(levels)
    assert 45 <= loud[0] < 60 and 240 <= loud[-1] < 255, (loud[0], loud[-1])
    # dips inside the speech (18 dB under the syllables, 32 dB over the room) stay sounds
    assert len(loud) > 0.95 * 200


def test_followed_frame_by_frame_it_agrees_with_the_whole() -> None:
    """The stream's tracker, fed 20 ms at a time, finds the same last sound as the batch."""
    pcm = np.frombuffer(_pair(LAMP, WHAT_TIME), np.int16)
    levels = frame_levels(pcm)
    sound = SoundLevels()
    for start in range(0, len(levels), 2):
        sound.extend(levels[start : start + 2])
        whole = loud_frames(levels[: start + 2])
        assert sound.last_sound() == (int(whole[-1]) if len(whole) else -1), start
    assert len(sound) == len(levels)


def test_followed_chunk_by_chunk_it_agrees_on_rooms_that_change() -> None:
    """Random stretches of steady tone and of speech-like levels, fed in chunks of 1 to 6
    frames: the tracker's last sound (settled frames kept, recent ones judged anew) is the
    batch's at every step, long quiet stretches included."""
    rng = np.random.default_rng(14)
    for _ in range(12):
        parts = []
        for _ in range(int(rng.integers(2, 8))):
            frames, base = int(rng.integers(20, 400)), rng.uniform(10, 60)
            spread = (-3, 3) if rng.integers(3) else (0, 35)
            parts.append(base + rng.uniform(*spread, frames))
        levels = np.concatenate(parts)
        sound, step = SoundLevels(), int(rng.integers(1, 7))
        for start in range(0, len(levels), step):
            sound.extend(levels[start : start + step])
            whole = loud_frames(levels[: start + step])
            assert sound.last_sound() == (int(whole[-1]) if len(whole) else -1), start


def test_recorded_pair_has_quiet_after_its_last_word() -> None:
    """In the recorded pair the louder room tone of "what time is it" is quiet after its words,
    not sound to the end (it was: the 10th percentile was the lamp recording's tone)."""
    pcm = np.frombuffer(_pair(LAMP, WHAT_TIME), np.int16)
    levels = frame_levels(pcm)
    assert len(levels) - (int(loud_frames(levels)[-1]) + 1) >= 30  # >= 0.3 s of quiet


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with whisper_process("--model", "tiny.en") as proc:
        yield proc


_TRANSCRIBED = re.compile(r"Transcribed [\d.]+ s in [\d.]+ s \((speculative|at stop),")


@pytest.mark.slow
async def test_decode_starts_in_the_silence_when_the_room_got_louder(
    server: ServerProcess,
) -> None:
    """Streamed as a satellite sends it (20 ms every 20 ms), the answer to `audio-stop` is the
    decode started in the trailing silence (logged "speculative"), with both commands.

    Before, no decode started in that silence ("at stop", 3 of 3 runs, with the same clips).
    """
    before = len(_TRANSCRIBED.findall(server.log_text()))
    client = await Client.connect(server.port)
    try:
        events = await client.stream(
            Clip(_pair(LAMP, WHAT_TIME), 16000, 2, 1), language="en", realtime=True
        )
    finally:
        await client.close()
    assert events[-1].type == "transcript", events[-1]
    text = normalise(str(events[-1].data["text"]))
    assert "what time is it" in text, text
    assert "turn on the living room" in text, text
    hows = _TRANSCRIBED.findall(server.log_text())
    assert len(hows) == before + 1, server.log_text()
    assert hows[-1] == "speculative", server.log_text()
    assert server.proc.poll() is None
