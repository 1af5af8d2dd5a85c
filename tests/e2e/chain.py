"""Helpers of the end-to-end tests: recorded utterances and hearing what the satellite played."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient

from jarvis_demo.stack import HOST, SPEAKER_RATE
from jarvis_demo.utterance import read_wav_mono16k, write_utterance
from tests.conftest import SHARED_AUDIO


def utterance(tmp_path: Path, command_clip: str) -> Path:
    """A real "hey jarvis" recording followed by a real recorded command from shared/audio."""
    path = tmp_path / f"hey_jarvis_{Path(command_clip).stem}.wav"
    write_utterance(path, read_wav_mono16k(SHARED_AUDIO / command_clip))
    return path


def normalize(text: str | None) -> str:
    """Lower case, no punctuation, single spaces."""
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", (text or "").lower()).split())


def words_heard(heard: str | None, said: str | None) -> float:
    """Share of the words of `said` that are in `heard` (tiny.en mishears a word or two)."""
    said_words = normalize(said).split()
    heard_words = set(normalize(heard).split())
    return sum(word in heard_words for word in said_words) / max(len(said_words), 1)


async def transcribe(stt_port: int, pcm: bytes, rate: int = SPEAKER_RATE) -> str:
    """What our STT server hears in 16-bit mono PCM (e.g. the satellite's speaker output)."""
    assert len(pcm) > rate // 5, "no audio to transcribe"
    async with AsyncTcpClient(HOST, stt_port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        step = rate // 10 * 2
        for offset in range(0, len(pcm), step):
            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm[offset : offset + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text
    raise AssertionError("the STT server closed without a transcript")


def loudness_db(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dBFS."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return float(20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-12))
