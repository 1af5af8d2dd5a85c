"""Helpers of the end-to-end tests: recorded utterances and hearing what the satellite played."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_clips import clip
from jarvis_demo.stack import SPEAKER_RATE
from jarvis_demo.utterance import read_wav_mono16k, write_utterance
from tests.servers.whisper_client import normalise as normalize, transcribe_pcm


def utterance(tmp_path: Path, command_clip: str) -> Path:
    """A real "hey jarvis" recording followed by a real recorded command (audio_clips)."""
    path = tmp_path / f"hey_jarvis_{Path(command_clip).stem}.wav"
    write_utterance(path, read_wav_mono16k(clip(command_clip)))
    return path


def words_heard(heard: str | None, said: str | None) -> float:
    """Share of the words of `said` that are in `heard` (tiny.en mishears a word or two)."""
    said_words = normalize(said or "").split()
    heard_words = set(normalize(heard or "").split())
    return sum(word in heard_words for word in said_words) / max(len(said_words), 1)


async def transcribe(stt_port: int, pcm: bytes, rate: int = SPEAKER_RATE) -> str:
    """What our STT server hears in 16-bit mono PCM (e.g. the satellite's speaker output)."""
    assert len(pcm) > rate // 5, "no audio to transcribe"
    return await transcribe_pcm(stt_port, pcm, rate)


def loudness_db(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dBFS."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return float(20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-12))
