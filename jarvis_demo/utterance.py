"""The demo's microphone input: a real "hey jarvis" recording followed by the spoken command."""

from __future__ import annotations

from pathlib import Path
import wave

import numpy as np
import soxr
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize

WAKE_WAV = Path(__file__).resolve().parent / "audio" / "hey_jarvis.wav"
RATE = 16000


def read_wav_mono16k(path: Path) -> np.ndarray:
    """Read a 16-bit WAV as float32 mono at 16 kHz."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV files are supported")
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32)
        audio = audio.reshape(-1, wav.getnchannels()).mean(axis=1) / 32768.0
        rate = wav.getframerate()
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE, quality="HQ")
    return np.asarray(audio, dtype=np.float32)


async def async_speak(host: str, port: int, text: str) -> np.ndarray:
    """Have the Jarvis TTS server speak `text`; float32 mono at 16 kHz."""
    chunks: list[np.ndarray] = []
    rate = RATE
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Synthesize(text=text).event())
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                rate = chunk.rate
                samples = np.frombuffer(chunk.audio, dtype="<i2").astype(np.float32) / 32768.0
                chunks.append(samples.reshape(-1, chunk.channels).mean(axis=1))
            elif AudioStop.is_type(event.type):
                break
    if not chunks:
        raise RuntimeError(f"the TTS server at {host}:{port} returned no audio")
    audio = np.concatenate(chunks)
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE, quality="HQ")
    return np.asarray(audio, dtype=np.float32)


def write_utterance(path: Path, command: np.ndarray, *, gap_s: float = 0.25) -> None:
    """Write "hey jarvis" + a short pause + `command` + trailing silence as a 16 kHz WAV."""
    wake = read_wav_mono16k(WAKE_WAV)
    # Low room noise under the synthetic parts, like the recording's own noise floor.
    rng = np.random.default_rng(0)

    def room(seconds: float) -> np.ndarray:
        return (rng.standard_normal(int(seconds * RATE)) * 0.0015).astype(np.float32)

    command = command + room(len(command) / RATE)
    audio = np.concatenate([room(0.5), wake, room(gap_s), command, room(2.0)])
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())
