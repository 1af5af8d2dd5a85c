"""The `info` answer to `describe`: a satellite with its wake words, mic and speaker."""

from __future__ import annotations

from wyoming.audio import AudioFormat
from wyoming.info import (
    Attribution,
    Info,
    MicProgram,
    Satellite as SatelliteInfo,
    SndProgram,
    WakeModel,
    WakeProgram,
)

from satellite.config import SatelliteConfig

MIC_FORMAT = AudioFormat(rate=16000, width=2, channels=1)
SND_FORMAT = AudioFormat(rate=22050, width=2, channels=1)
_ATTRIBUTION = Attribution(name="Jarvis", url="https://github.com/jarvis-voice/jarvis")

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        VERSION: str | None = version("jarvis-voice")
    except PackageNotFoundError:
        VERSION = None
except ImportError:  # pragma: no cover - stdlib on 3.11+
    VERSION = None


def wake_phrase(model: str) -> str:
    """Spoken phrase of a wake word model name: "hey_jarvis" -> "hey jarvis"."""
    stem = model.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".tflite")
    stem = stem.removesuffix(".onnx")
    for suffix in ("_v0.1", "_v0.2", "_v1", "_v2"):
        stem = stem.removesuffix(suffix)
    return stem.replace("_", " ").strip()


def build_info(config: SatelliteConfig, wake_word: str | None = None) -> Info:
    """Describe this satellite the way Home Assistant's wyoming integration reads it.

    `wake_word`: the one listened for now, when it was changed at run time.
    """
    wake_name = wake_word or config.wake.word
    wake: list[WakeProgram] = []
    if config.wake.local:
        wake.append(
            WakeProgram(
                name=config.wake.engine,
                attribution=_ATTRIBUTION,
                installed=True,
                description="Local wake word detection",
                version=VERSION,
                models=[
                    WakeModel(
                        name=wake_name,
                        attribution=_ATTRIBUTION,
                        installed=True,
                        description=wake_phrase(wake_name),
                        version=VERSION,
                        languages=[],
                        phrase=wake_phrase(wake_name),
                    )
                ],
            )
        )
    return Info(
        wake=wake,
        mic=[
            MicProgram(
                name="mic",
                attribution=_ATTRIBUTION,
                installed=True,
                description=f"Capture at {config.mic.rate} Hz, streamed at 16 kHz",
                version=VERSION,
                mic_format=MIC_FORMAT,
            )
        ],
        snd=[
            SndProgram(
                name="snd",
                attribution=_ATTRIBUTION,
                installed=True,
                description=f"Playback at {config.speaker.rate} Hz",
                version=VERSION,
                snd_format=SND_FORMAT,
            )
        ],
        satellite=SatelliteInfo(
            name=config.name,
            attribution=_ATTRIBUTION,
            installed=True,
            description="Jarvis satellite",
            version=VERSION,
            area=config.area or None,
            has_vad=True,
            active_wake_words=[wake_name] if config.wake.local else None,
            max_active_wake_words=1,
            supports_trigger=True,
        ),
    )
