"""WAV helpers for the listening-chain tests: real clips, resampled like a 48 kHz mic."""

from __future__ import annotations

from pathlib import Path
import wave

import numpy as np
import soxr

SHARED_AUDIO = Path(__file__).resolve().parents[3] / "shared" / "audio"
WAKEWORD = SHARED_AUDIO / "wakeword"
NOISE = SHARED_AUDIO / "noise"
COMMANDS = SHARED_AUDIO / "english_commands"
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
    """A shared clip as 48 kHz float32 samples."""
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
