"""The text-to-speech service shared by all connections: voices, options, and the executor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import SynthesizeVoice

from wyoming_servers.piper.joiner import Joiner
from wyoming_servers.piper.segmenter import Piece
from wyoming_servers.piper.voices import (
    LoadedVoice,
    VoiceCache,
    VoiceEntry,
    VoiceError,
    find_voices,
)
from wyoming_wire import RequestError

_LOGGER = logging.getLogger(__name__)

OUTPUT_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
MAX_TEXT_CHARS = 20_000
_PIPER_ATTRIBUTION = Attribution(name="rhasspy", url="https://github.com/OHF-Voice/piper1-gpl")


@dataclass(frozen=True)
class RequestOptions:
    """What one synthesis request asked for, checked."""

    voice: VoiceEntry
    speaker_id: int | None
    length_scale: float | None
    output_rate: int | None
    sentences_only: bool = False
    """Plain sentence-level streaming (`"chunking": "sentence"`), the baseline to compare with."""


class TtsService:
    """Voices, defaults and one executor for every client of a Piper server."""

    def __init__(
        self,
        voice: str,
        data_dirs: list[Path],
        *,
        speaker: str | None = None,
        length_scale: float | None = None,
        output_rate: int | None = None,
        threads: int = 1,
    ) -> None:
        """Find the voices (blocking file reads, done once at startup)."""
        self.voices = find_voices(voice, data_dirs)
        self.default = next(iter(self.voices.values()))
        self.default_speaker = speaker
        self.default.speaker_id(speaker)  # fail at startup on a bad default speaker
        self.length_scale = length_scale
        self.output_rate = output_rate
        self.cache = VoiceCache()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="piper")

    def close(self) -> None:
        """Stop the executor threads."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def preload(self) -> None:
        """Load the default voice before the first client comes."""
        await self.voice(self.default)

    async def voice(self, entry: VoiceEntry) -> LoadedVoice:
        """The loaded voice, loading it in the executor on first use."""
        if (loaded := self.cache.peek(entry)) is not None:
            return loaded
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.cache.get, entry)

    def info(self, version: str) -> Info:
        """The `info` event: one TTS program listing every voice with languages and speakers."""
        voices = [
            TtsVoice(
                name=entry.name,
                description=f"{entry.name} ({entry.sample_rate} Hz)",
                attribution=_PIPER_ATTRIBUTION,
                installed=True,
                version=entry.version,
                languages=entry.languages,
                speakers=[TtsVoiceSpeaker(name=s) for s in entry.speakers] or None,
            )
            for entry in self.voices.values()
        ]
        program = TtsProgram(
            name="jarvis-piper",
            description="Piper text to speech with early, seamless streaming (Jarvis)",
            attribution=Attribution(name="Jarvis", url="https://github.com/OHF-Voice/piper1-gpl"),
            installed=True,
            version=version,
            voices=voices,
            supports_synthesize_streaming=True,
        )
        return Info(tts=[program])

    def options(self, voice: SynthesizeVoice | None, data: dict[str, Any]) -> RequestOptions:
        """Check a request: voice, speaker, and the extra fields below.

        Extra `synthesize`/`synthesize-start` data fields (Jarvis extensions): `speed` (2.0 = twice
        as fast) or `length_scale`, `sample_rate` (native or one of `OUTPUT_RATES`) and
        `chunking` ("early", the default, or "sentence").
        """
        entry = self.default
        speaker = self.default_speaker
        if voice is not None and voice.name:
            found = self.voices.get(voice.name)
            if found is None:
                raise VoiceError(f"voice {voice.name!r} is not installed")
            entry, speaker = found, voice.speaker
        elif voice is not None and voice.language:
            entry = self._by_language(voice.language)
        try:
            speaker_id = entry.speaker_id(speaker)
        except VoiceError as err:
            raise RequestError(str(err), "unknown-speaker") from err
        length_scale = self.length_scale
        if data.get("length_scale") is not None:
            length_scale = _number(data["length_scale"], "length_scale", 0.25, 4.0)
        if data.get("speed") is not None:
            length_scale = (length_scale or 1.0) / _number(data["speed"], "speed", 0.25, 4.0)
        rate = data.get("sample_rate", self.output_rate)
        if rate in (None, 0, "native"):
            rate = None
        elif rate not in OUTPUT_RATES:
            raise RequestError(f"sample_rate must be one of {OUTPUT_RATES} or 'native'", "bad-rate")
        chunking = data.get("chunking", "early")
        if chunking not in ("early", "sentence"):
            raise RequestError("chunking must be 'early' or 'sentence'", "bad-option")
        return RequestOptions(entry, speaker_id, length_scale, rate, chunking == "sentence")

    def _by_language(self, language: str) -> VoiceEntry:
        want = language.replace("-", "_").lower()
        for entry in self.voices.values():
            if any(lang.lower() == want for lang in entry.languages):
                return entry
        for entry in self.voices.values():
            if any(lang.lower().split("_")[0] == want.split("_")[0] for lang in entry.languages):
                return entry
        raise VoiceError(f"no installed voice speaks {language!r}")

    async def speak(
        self, options: RequestOptions, pieces: AsyncIterator[Piece]
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Yield (rate, PCM) as each piece is synthesized; the last item flushes the stream."""
        voice = await self.voice(options.voice)
        joiner = Joiner(voice.sample_rate, options.output_rate)
        loop = asyncio.get_running_loop()
        pause = 0.0
        async for piece in pieces:
            # Synthesis, trimming and resampling all run on the executor, never on the loop.
            pcm = await loop.run_in_executor(
                self.executor, _render, voice, joiner, piece, pause, options
            )
            yield joiner.out_rate, pcm
            pause = piece.pause_after
        yield joiner.out_rate, await loop.run_in_executor(self.executor, joiner.finish)


def _render(
    voice: LoadedVoice, joiner: Joiner, piece: Piece, pause: float, options: RequestOptions
) -> bytes:
    audio = voice.synthesize(piece.synth_text, options.speaker_id, options.length_scale)
    return joiner.add(audio, pause)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError(f"{name} must be a number from {low} to {high}", "bad-option")
    return float(value)
