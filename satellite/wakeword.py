"""Wake word detection on 10 ms chunks of 16 kHz int16 audio.

`load_wake_word(name_or_path, engine="micro", threshold=None)` returns a
`WakeWordDetector`:

- engine "micro" (pymicro-wakeword, default): a bundled model name (`hey_jarvis`,
  `okay_nabu`, `alexa`, `hey_mycroft`) or the path of a microWakeWord JSON config
  (its .tflite beside it). Default threshold: the model's `probability_cutoff`.
- engine "openwakeword" (pyopen-wakeword): a bundled name (adds `hey_rhasspy`) or a
  .tflite path. Default threshold 0.5.

`detector.process_10ms(chunk)` returns the highest score produced by that chunk (0 when
the model produced none); a detection is `score > detector.threshold`. The refractory
period is applied by the listener.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import json
from pathlib import Path
from typing import Any

WAKE_ENGINES = ("micro", "openwakeword")
DEFAULT_OWW_THRESHOLD = 0.5


class WakeWordDetector(ABC):
    """One loaded wake word model."""

    name: str
    threshold: float
    engine: str

    @abstractmethod
    def process_10ms(self, chunk: bytes) -> float:
        """Highest wake probability computed on this chunk (0.0 if none)."""

    @abstractmethod
    def close(self) -> None:
        """Release the model."""


def _micro_models_dir() -> Path:
    import pymicro_wakeword

    return Path(pymicro_wakeword.__file__).parent / "models"


def _oww_models_dir() -> Path:
    import pyopen_wakeword

    return Path(pyopen_wakeword.__file__).parent / "models"


def builtin_wake_words(engine: str = "micro") -> list[str]:
    """Names of the models bundled with the engine's package."""
    if engine == "micro":
        return sorted(p.stem for p in _micro_models_dir().glob("*.json"))
    if engine == "openwakeword":
        skip = {"melspectrogram", "embedding_model"}
        return sorted(p.stem for p in _oww_models_dir().glob("*.tflite") if p.stem not in skip)
    raise ValueError(f"Unknown wake word engine {engine!r}; choose from {WAKE_ENGINES}")


class MicroWakeWordDetector(WakeWordDetector):
    """pymicro-wakeword model plus its feature frontend."""

    engine = "micro"

    def __init__(self, config_path: Path, threshold: float | None) -> None:
        """Load the model described by a microWakeWord JSON config."""
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        try:
            config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
            cutoff = float(config["micro"]["probability_cutoff"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"Not a microWakeWord config: {config_path} ({err})") from err
        self._model = MicroWakeWord.from_config(config_path)
        self._features = MicroWakeWordFeatures()
        self.name = str(self._model.id)
        self.threshold = cutoff if threshold is None else threshold

    def process_10ms(self, chunk: bytes) -> float:
        """Run the frontend and, every stride, the model."""
        best = 0.0
        for features in self._features.process_streaming(chunk):
            prob = self._model.process_streaming_prob(features)
            if prob is not None and prob > best:
                best = float(prob)
        return best

    def close(self) -> None:
        """Free the interpreter."""
        self._model.close()


class OpenWakeWordDetector(WakeWordDetector):
    """pyopen-wakeword model (mel + embedding + classifier)."""

    engine = "openwakeword"

    def __init__(self, model_path: Path, threshold: float | None) -> None:
        """Load the classifier and the shared feature models."""
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        self._model = OpenWakeWord.from_model(model_path)
        self._features = OpenWakeWordFeatures.from_builtin()
        self.name = model_path.stem
        self.threshold = DEFAULT_OWW_THRESHOLD if threshold is None else threshold

    def process_10ms(self, chunk: bytes) -> float:
        """Features arrive every 80 ms; most chunks only buffer audio."""
        best = 0.0
        for embedding in self._features.process_streaming(chunk):
            for prob in self._model.process_streaming(embedding):
                best = max(best, float(prob))
        return best

    def close(self) -> None:
        """Free the interpreters."""
        self._model.close()
        self._features.close()


def resolve_model_path(name_or_path: str, engine: str = "micro") -> Path:
    """Bundled model name or user file -> the file to load."""
    if engine not in WAKE_ENGINES:
        raise ValueError(f"Unknown wake word engine {engine!r}; choose from {WAKE_ENGINES}")
    path = Path(name_or_path).expanduser()
    if path.suffix in (".json", ".tflite"):
        if not path.is_file():
            raise ValueError(f"Wake word model file not found: {path}")
        if engine == "micro" and path.suffix != ".json":
            raise ValueError("microWakeWord models are given by their JSON config file")
        if engine == "openwakeword" and path.suffix != ".tflite":
            raise ValueError("openWakeWord models are given by their .tflite file")
        return path
    names = builtin_wake_words(engine)
    if name_or_path not in names:
        raise ValueError(
            f"Unknown wake word {name_or_path!r} for engine {engine}; "
            f"bundled: {', '.join(names)} (or give a model file path)"
        )
    if engine == "micro":
        return _micro_models_dir() / f"{name_or_path}.json"
    return _oww_models_dir() / f"{name_or_path}.tflite"


def load_wake_word(
    name_or_path: str = "hey_jarvis", engine: str = "micro", threshold: float | None = None
) -> WakeWordDetector:
    """Load a wake word model by bundled name or file path."""
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ValueError("wake word threshold must be between 0 and 1")
    path = resolve_model_path(name_or_path, engine)
    if engine == "micro":
        return MicroWakeWordDetector(path, threshold)
    return OpenWakeWordDetector(path, threshold)
