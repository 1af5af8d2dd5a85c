"""WAV helpers for the listening-chain tests: real clips, resampled like a 48 kHz mic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
import wave

import numpy as np
import soxr

import audio_clips
from satellite.audio import WavFileSource
from satellite.listening import CommandAudio, FrameInfo, Listener, ListenEvent, ListenSettings

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
WAKEWORD = audio_clips.WAKEWORD
NOISE = audio_clips.NOISE
COMMANDS = audio_clips.ENGLISH_COMMANDS
POSITIVES = ["pmw_hey_jarvis_1.wav", "pmw_hey_jarvis_2.wav", "wow_hey_jarvis.wav"]
NEGATIVES = [
    "NEG_pmw_hey_peppa_pig.wav",
    "NEG_wow_snowboy.wav",
    "pmw_alexa_1.wav",
    "pmw_okay_nabu_1.wav",
]
NOISES = [
    "leopard_empty.wav",
    "pymicro_vad_silence.wav",
    "pyspeex_noise.wav",
    "stp_background_noise.wav",
    "wyoming_satellite_awake.wav",
]
LAMP = COMMANDS / "wfw_turn_on_the_living_room_lamp.wav"


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """First channel of a 16-bit WAV as float32 and its rate."""
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        data = data.reshape(-1, wav.getnchannels())[:, 0]
        return data.astype(np.float32), wav.getframerate()


def at_rate(samples: np.ndarray, rate: int, target: int = 48000) -> np.ndarray:
    """Resample (float32) to `target` Hz."""
    if rate == target:
        return samples
    return soxr.resample(samples, rate, target, quality="VHQ")


def clip_48k(path: Path) -> np.ndarray:
    """A recorded clip as 48 kHz float32 samples."""
    samples, rate = read_mono(path)
    return at_rate(samples, rate)


def write_wav(path: Path, samples: np.ndarray, rate: int = 48000, channels: int = 1) -> Path:
    """Save float or int samples as 16-bit PCM (shape (n,) or (n, channels))."""
    pcm = np.clip(np.rint(samples), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return path


@dataclass
class ChainRun:
    """What one pass of the listening chain over a file produced."""

    events: list[ListenEvent]
    max_score: float
    metrics: dict[str, float]

    def of_type(self, kind: type[T]) -> list[T]:
        return [event for event in self.events if isinstance(event, kind)]

    def command_pcm(self) -> bytes:
        return b"".join(event.pcm for event in self.of_type(CommandAudio))


def run_chain(
    path: Path,
    settings: ListenSettings | None = None,
    *,
    tail_silence_s: float = 1.0,
    on_event: Callable[[Listener, ListenEvent], None] | None = None,
) -> ChainRun:
    """Run a Listener over a WAV file (as fast as possible) and collect everything."""
    events: list[ListenEvent] = []
    best = [0.0]
    holder: list[Listener] = []

    def collect(event: ListenEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(holder[0], event)

    def frame(info: FrameInfo) -> None:
        best[0] = max(best[0], info.wake_score)

    listener = Listener(
        WavFileSource(path, tail_silence_s=tail_silence_s),
        settings or ListenSettings(),
        collect,
        on_frame=frame,
    )
    holder.append(listener)
    listener.start()
    try:
        assert listener.wait_finished(60)
    finally:
        listener.stop()
    return ChainRun(events, best[0], listener.metrics())
