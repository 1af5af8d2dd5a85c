"""Piper voices: find them by name or path, describe them, load each once, synthesize raw audio."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import json
import logging
from pathlib import Path
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from wyoming_servers.models import JOE_VOICE, bundled_joe_voice, model_dir

_LOGGER = logging.getLogger(__name__)

FloatAudio = npt.NDArray[np.float32]
_CALIBRATION_TEXT = "Hello, this is a quick voice check."
_TARGET_PEAK = 0.8

MAX_CHUNK_PHONEMES = 180
"""Most phonemes synthesized in one call at normal speed: about 10 s of audio, 1 s of work here.

Cost follows phonemes, not characters (an emoji or a long number is read as many words), and
the model's memory grows with the audio of one call (about 20 MB a second); slower speech gets
proportionally fewer phonemes per call.
"""


class VoiceError(LookupError):
    """A voice or speaker that is not installed."""

    code = "unknown-voice"


@dataclass(frozen=True)
class VoiceEntry:
    """An installed voice: its files and what `info` says about it."""

    name: str
    model: Path
    config: Path
    languages: list[str]
    speakers: list[str]
    sample_rate: int
    version: str | None = None
    speaker_ids: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def from_files(model: Path, name: str | None = None) -> VoiceEntry:
        """Read a voice's JSON config (ONNX path + `.json`)."""
        config = Path(f"{model}.json")
        if not config.exists():
            config = model.with_suffix(".json")
        with config.open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        language = data.get("language", {}).get("code") or data.get("espeak", {}).get("voice", "")
        speaker_ids = {str(k): int(v) for k, v in (data.get("speaker_id_map") or {}).items()}
        return VoiceEntry(
            name=name or model.name.removesuffix(".onnx"),
            model=model,
            config=config,
            languages=[language] if language else [],
            speakers=sorted(speaker_ids, key=speaker_ids.__getitem__),
            sample_rate=int(data.get("audio", {}).get("sample_rate", 22050)),
            version=data.get("piper_version") or data.get("dataset"),
            speaker_ids=speaker_ids,
        )

    def speaker_id(self, speaker: str | None) -> int | None:
        """Speaker id from a speaker name or number; None for single-speaker voices."""
        if not speaker:
            return None
        if speaker in self.speaker_ids:
            return self.speaker_ids[speaker]
        if speaker.isdigit() and int(speaker) in self.speaker_ids.values():
            return int(speaker)
        raise VoiceError(f"voice {self.name} has no speaker {speaker!r}")


def default_data_dirs() -> list[Path]:
    """Where voices downloaded by the user's setup live."""
    return [model_dir() / "piper"]


def find_voices(voice: str, data_dirs: Sequence[Path]) -> dict[str, VoiceEntry]:
    """The default voice (name or path) plus every `*.onnx` voice in `data_dirs`, by name."""
    found: dict[str, VoiceEntry] = {}
    default = resolve_voice(voice, data_dirs)
    found[default.name] = default
    for folder in data_dirs:
        if not folder.is_dir():
            continue
        for model in sorted(folder.rglob("*.onnx")):
            name = model.name.removesuffix(".onnx")
            if name in found:
                continue
            try:
                found[name] = VoiceEntry.from_files(model)
            except (OSError, ValueError) as err:
                _LOGGER.warning("Skipping voice %s: %s", model, err)
    return found


def resolve_voice(name_or_path: str, data_dirs: Iterable[Path]) -> VoiceEntry:
    """A voice from an `.onnx` path, the bundled default's name, or a name found in `data_dirs`."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".onnx" and path.exists():
        return VoiceEntry.from_files(path)
    if name_or_path == JOE_VOICE and (bundled := bundled_joe_voice()) is not None:
        return VoiceEntry.from_files(bundled)
    for folder in data_dirs:
        for candidate in (folder / f"{name_or_path}.onnx", *folder.rglob(f"{name_or_path}.onnx")):
            if candidate.exists():
                return VoiceEntry.from_files(candidate)
    raise VoiceError(f"voice {name_or_path!r} not found (give a name or a path to an .onnx file)")


@dataclass(frozen=True)
class Phonemes:
    """One chunk of phonemes to synthesize in one call."""

    symbols: list[str]
    starts_sentence: bool
    """True for a sentence's first chunk; later ones continue a split sentence."""


class LoadedVoice:
    """A Piper voice in memory, with a fixed loudness gain so pieces join at the same level."""

    def __init__(self, entry: VoiceEntry, *, spin: bool = False) -> None:
        """Load the ONNX model and calibrate the output gain (blocking: call in an executor).

        `spin`: ONNX Runtime's default busy-waiting threads (bench.tts compares).
        """
        import onnxruntime  # type: ignore[import-untyped]
        from piper import PiperVoice
        from piper.config import PiperConfig

        self.entry = entry
        options = onnxruntime.SessionOptions()
        # No memory arena: tensors of a long sentence go back to the system after each piece
        # instead of staying reserved (keeps STT + TTS together under 500 MB).
        options.enable_cpu_mem_arena = False
        # Threads wait on the OS instead of spinning: on a busy machine (other servers, HA)
        # spinning threads fight for the cores and a short phrase takes 1.6x as long.
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        with entry.config.open(encoding="utf-8") as fh:
            config = PiperConfig.from_dict(json.load(fh))
        session = onnxruntime.InferenceSession(
            str(entry.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._voice = PiperVoice(session=session, config=config)
        self.sample_rate = int(self._voice.config.sample_rate)
        self._known = frozenset(self._voice.config.phoneme_id_map)
        self._length_scale = float(self._voice.config.length_scale or 1.0)
        self.gain = 1.0
        peak = float(np.max(np.abs(self.synthesize(_CALIBRATION_TEXT)), initial=0.0))
        self.gain = _TARGET_PEAK / peak if peak > 1e-3 else 1.0

    def phonemes(self, text: str, length_scale: float | None = None) -> list[Phonemes]:
        """Text as chunks of phonemes, each cheap to synthesize (blocking: call in an executor).

        Phonemes the voice does not know are dropped here (Piper would log each one, quoting
        the request); a sentence longer than a chunk is split at a word gap.
        """
        scale = max(1.0, length_scale or self._length_scale)
        limit = max(20, int(MAX_CHUNK_PHONEMES / scale))
        chunks: list[Phonemes] = []
        for sentence in self._voice.phonemize(text):
            known = [p for p in sentence if p in self._known]
            first = True
            while known:
                cut = len(known)
                if cut > limit:
                    gap = max((i for i in range(limit // 2, limit) if known[i] == " "), default=0)
                    cut = gap + 1 if gap else limit
                chunk, known = known[:cut], known[cut:]
                if any(p != " " for p in chunk):
                    chunks.append(Phonemes(chunk, first))
                    first = False
        return chunks

    def audio(
        self, phonemes: Phonemes, speaker_id: int | None = None, length_scale: float | None = None
    ) -> FloatAudio:
        """Raw float32 audio in [-1, 1] at `sample_rate` (blocking: call in an executor)."""
        from piper import SynthesisConfig

        config = SynthesisConfig(
            speaker_id=speaker_id, length_scale=length_scale, normalize_audio=False
        )
        ids = self._voice.phonemes_to_ids(phonemes.symbols)
        result = self._voice.phoneme_ids_to_audio(ids, config)
        raw = result[0] if isinstance(result, tuple) else result
        audio: FloatAudio = np.asarray(raw, dtype=np.float32) * np.float32(self.gain)
        np.clip(audio, -1.0, 1.0, out=audio)
        return audio

    def synthesize(
        self, text: str, speaker_id: int | None = None, length_scale: float | None = None
    ) -> FloatAudio:
        """All of `text` as one array (blocking; the server goes chunk by chunk instead)."""
        parts = [
            self.audio(chunk, speaker_id, length_scale)
            for chunk in self.phonemes(text, length_scale)
        ]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts)


class VoiceCache:
    """Each voice is loaded once, on first use, and kept (thread-safe)."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._voices: dict[Path, LoadedVoice] = {}

    def peek(self, entry: VoiceEntry) -> LoadedVoice | None:
        """The voice if it is already loaded (never blocks)."""
        return self._voices.get(entry.model)

    def get(self, entry: VoiceEntry) -> LoadedVoice:
        """The loaded voice for `entry` (blocking on first use)."""
        with self._lock:
            voice = self._voices.get(entry.model)
            if voice is None:
                _LOGGER.info("Loading voice %s from %s", entry.name, entry.model)
                voice = self._voices[entry.model] = LoadedVoice(entry)
            return voice
