"""faster-whisper model loading (once per process) and one blocking decode call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
from pathlib import Path
import threading
import time

from faster_whisper import WhisperModel
import numpy as np
from numpy.typing import NDArray
import tqdm  # type: ignore[import-untyped]

from wyoming_servers.models import resolve_whisper_model

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"
SAMPLE_RATE = 16000

# faster-whisper makes a (disabled) tqdm bar per decode; keep tqdm from starting a monitor thread.
tqdm.tqdm.monitor_interval = 0


class LanguageError(ValueError):
    """The requested language is not one the model knows."""


@dataclass(frozen=True)
class EngineOptions:
    """How the model is loaded and decoded."""

    model: str = DEFAULT_MODEL
    """Bundled name (tiny.en, base), a faster-whisper model name, or a local CTranslate2 folder."""
    device: str = "cpu"
    compute_type: str = "auto"
    """int8, int8_float32, float16, float32...; auto = int8 on CPU, float16 on CUDA."""
    beam_size: int = 5
    cpu_threads: int = 0
    """CTranslate2 threads per decode (0: its default)."""
    workers: int = 1
    """Decodes that may run at the same time."""
    language: str | None = None
    """Default language when a request names none; None auto-detects (multilingual models)."""
    download: bool = False
    """Let faster-whisper download a named model missing from its cache (else: error)."""

    def resolved_compute_type(self) -> str:
        """The compute type actually used."""
        if self.compute_type != "auto":
            return self.compute_type
        return "int8" if self.device == "cpu" else "float16"


@dataclass
class Decoded:
    """One transcription."""

    text: str
    language: str
    segments: list[str] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the decode."""


_MODELS: dict[tuple[str, str, str, int, int], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(options: EngineOptions) -> WhisperModel:
    """The model for these options; loaded once per process, shared by every server in it.

    Raises FileNotFoundError for a missing folder, or a named model not in faster-whisper's cache
    (unless `options.download`).
    """
    path = resolve_whisper_model(options.model)
    local = Path(path).expanduser().exists()
    if options.model.startswith(("/", ".", "~")) and not local:
        raise FileNotFoundError(f"Whisper model folder {options.model} not found")
    compute_type = options.resolved_compute_type()
    workers = max(1, options.workers)
    key = (path, options.device, compute_type, options.cpu_threads, workers)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        started = time.monotonic()
        try:
            model = WhisperModel(
                path,
                device=options.device,
                compute_type=compute_type,
                cpu_threads=options.cpu_threads,
                num_workers=workers,
                local_files_only=local or not options.download,
            )
        except Exception as err:
            if local or options.download:
                raise
            raise FileNotFoundError(
                f"Whisper model {options.model!r} is not bundled, not a folder, and not in "
                f"faster-whisper's cache; download it first or pass --download ({err})"
            ) from err
        _LOGGER.info(
            "Loaded Whisper model %s (%s) in %.2f s",
            options.model,
            compute_type,
            time.monotonic() - started,
            extra={"model": options.model, "path": path},
        )
        _MODELS[key] = model
        return model


def normalise_language(language: object) -> str | None:
    """`en-US`, `EN`, `fr_FR` -> `en`, `en`, `fr`; empty -> None."""
    if not language:
        return None
    if not isinstance(language, str):
        raise LanguageError(f"language must be a string, got {language!r}")
    return language.replace("_", "-").split("-")[0].strip().lower() or None


class WhisperEngine:
    """A loaded model plus decode settings. `decode` blocks: call it from a worker thread."""

    def __init__(self, options: EngineOptions) -> None:
        """Load (or reuse) the model."""
        self.options = options
        self.model = load_model(options)
        self.multilingual = bool(self.model.model.is_multilingual)
        self.languages: list[str] = (
            sorted(self.model.supported_languages) if self.multilingual else ["en"]
        )
        self.on_decoded: Callable[[float, float], None] | None = None
        """Metrics: told (seconds of audio, seconds of decoding) after each decode, on its thread."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for the decoder (the model's own tokenizer; well under 1 ms a name)."""
        return len(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def pick_language(self, requested: str | None) -> str | None:
        """Language to decode with: the request's, else the default; None means auto-detect."""
        language = normalise_language(requested) or normalise_language(self.options.language)
        if not self.multilingual:
            if language not in (None, "en"):
                raise LanguageError(f"language {language!r} is not supported by this English model")
            return "en"
        if language is not None and language not in self.languages:
            raise LanguageError(f"language {language!r} is not supported by the model")
        return language

    def decode(
        self, audio: NDArray[np.float32], language: str | None, prompt: str | None = None
    ) -> Decoded:
        """Transcribe 16 kHz mono float audio (blocking)."""
        started = time.monotonic()
        segments, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.options.beam_size,
            initial_prompt=prompt or None,
        )
        texts = [segment.text for segment in segments]
        seconds = time.monotonic() - started
        if self.on_decoded is not None and len(audio):
            self.on_decoded(len(audio) / SAMPLE_RATE, seconds)
        return Decoded(
            text="".join(texts).strip(),
            language=info.language,
            segments=[text for text in texts if text.strip()],
            seconds=seconds,
        )
