"""Wake word through the whole chain: real clips, resampled to 48 kHz like a USB mic."""

from __future__ import annotations

from pathlib import Path
import shutil

import numpy as np
import pytest

from satellite.listening import ListenSettings, WakeDetected
from satellite.wakeword import builtin_wake_words, load_wake_word, resolve_model_path

from .listening_clips import (
    NEGATIVES,
    NOISE,
    NOISES,
    POSITIVES,
    WAKEWORD,
    clip_48k,
    run_chain,
    write_wav,
)


@pytest.fixture(scope="module")
def clips_48k(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every wake word and noise clip as a 48 kHz WAV, with 0.5 s of silence before."""
    folder = tmp_path_factory.mktemp("clips48k")
    lead = np.zeros(24000)
    paths = {}
    for name in POSITIVES + NEGATIVES:
        paths[name] = write_wav(folder / name, np.concatenate([lead, clip_48k(WAKEWORD / name)]))
    for name in NOISES:
        paths[name] = write_wav(folder / name, np.concatenate([lead, clip_48k(NOISE / name)]))
    return paths


@pytest.mark.parametrize("noise", ["webrtc", "speex", "off"])
@pytest.mark.parametrize("clip", POSITIVES)
def test_hey_jarvis_detected_on_positive_clips(
    clips_48k: dict[str, Path], clip: str, noise: str
) -> None:
    run = run_chain(clips_48k[clip], ListenSettings(noise=noise))
    wakes = run.of_type(WakeDetected)
    assert len(wakes) == 1
    assert wakes[0].name == "hey_jarvis"
    assert wakes[0].score > 0.97
    # Detected at the end of the phrase, inside the clip (0.5 s lead + 2 s clip).
    assert 0.9 < wakes[0].t < 2.6


@pytest.mark.parametrize("clip", NEGATIVES + NOISES)
def test_no_wake_on_negatives_other_wake_words_and_noise(
    clips_48k: dict[str, Path], clip: str
) -> None:
    run = run_chain(clips_48k[clip])
    assert run.of_type(WakeDetected) == []
    assert run.max_score < 0.5


@pytest.mark.parametrize("clip", ["pmw_alexa_1.wav", "pmw_okay_nabu_1.wav"])
def test_other_bundled_models_fire_on_their_own_word(clips_48k: dict[str, Path], clip: str) -> None:
    name = clip.removeprefix("pmw_").removesuffix("_1.wav")
    run = run_chain(clips_48k[clip], ListenSettings(wake_word=name))
    assert [w.name for w in run.of_type(WakeDetected)] == [name]
    assert (
        run_chain(clips_48k["wow_hey_jarvis.wav"], ListenSettings(wake_word=name)).of_type(
            WakeDetected
        )
        == []
    )


@pytest.mark.parametrize("clip", ["pmw_hey_jarvis_2.wav", "wow_hey_jarvis.wav"])
def test_openwakeword_engine_detects_hey_jarvis(clips_48k: dict[str, Path], clip: str) -> None:
    settings = ListenSettings(wake_engine="openwakeword")
    wakes = run_chain(clips_48k[clip], settings, tail_silence_s=1.5).of_type(WakeDetected)
    assert [w.name for w in wakes] == ["hey_jarvis"]
    assert wakes[0].score > 0.5


@pytest.mark.parametrize("clip", ["NEG_wow_snowboy.wav", "pmw_alexa_1.wav", "pyspeex_noise.wav"])
def test_openwakeword_engine_rejects_negatives(clips_48k: dict[str, Path], clip: str) -> None:
    settings = ListenSettings(wake_engine="openwakeword")
    assert run_chain(clips_48k[clip], settings, tail_silence_s=1.5).of_type(WakeDetected) == []


def test_user_model_file_is_loaded(tmp_path: Path, clips_48k: dict[str, Path]) -> None:
    # A user's own microWakeWord model: JSON config with its .tflite beside it.
    bundled = resolve_model_path("hey_jarvis")
    shutil.copy(bundled.with_suffix(".tflite"), tmp_path / "my_word.tflite")
    config = bundled.read_text().replace('"hey_jarvis.tflite"', '"my_word.tflite"')
    (tmp_path / "my_word.json").write_text(config)
    settings = ListenSettings(wake_word=str(tmp_path / "my_word.json"))
    wakes = run_chain(clips_48k["pmw_hey_jarvis_1.wav"], settings).of_type(WakeDetected)
    assert [w.name for w in wakes] == ["my_word"]


def test_threshold_controls_sensitivity(clips_48k: dict[str, Path]) -> None:
    strict = ListenSettings(wake_threshold=0.999)
    assert run_chain(clips_48k["pmw_hey_jarvis_1.wav"], strict).of_type(WakeDetected) == []
    assert load_wake_word("hey_jarvis").threshold == pytest.approx(0.97)
    assert load_wake_word("hey_jarvis", threshold=0.8).threshold == 0.8


def test_refractory_period(tmp_path: Path) -> None:
    # Two "hey jarvis" 1.6 s apart: one detection with a 3 s refractory period, two with 0.5 s.
    first = clip_48k(WAKEWORD / "wow_hey_jarvis.wav")
    second = clip_48k(WAKEWORD / "pmw_hey_jarvis_2.wav")
    path = write_wav(tmp_path / "twice.wav", np.concatenate([first, second]))

    def restart(listener, event) -> None:
        if isinstance(event, WakeDetected):
            listener.cancel_command()

    long_pause = ListenSettings(refractory_s=3.0)
    short_pause = ListenSettings(refractory_s=0.5)
    assert len(run_chain(path, long_pause, on_event=restart).of_type(WakeDetected)) == 1
    assert len(run_chain(path, short_pause, on_event=restart).of_type(WakeDetected)) == 2


def test_bad_wake_word_settings_raise_clear_errors(tmp_path: Path) -> None:
    assert {"hey_jarvis", "okay_nabu", "alexa", "hey_mycroft"} <= set(builtin_wake_words())
    assert "hey_rhasspy" in builtin_wake_words("openwakeword")
    with pytest.raises(ValueError, match="Unknown wake word 'hey_siri'"):
        load_wake_word("hey_siri")
    with pytest.raises(ValueError, match="not found"):
        load_wake_word(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="engine"):
        load_wake_word("hey_jarvis", engine="porcupine")
    with pytest.raises(ValueError, match="threshold"):
        load_wake_word("hey_jarvis", threshold=1.5)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="Not a microWakeWord config"):
        load_wake_word(str(tmp_path / "broken.json"))
