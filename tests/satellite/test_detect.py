"""`jarvis-satellite detect FILE.wav`: JSON lines a user can script."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from satellite.detect import add_detect_arguments, run_detect

from .listening_clips import LAMP, ROOT, WAKEWORD, clip_48k, write_wav


@pytest.fixture(scope="module")
def session_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 48 kHz room recording: hey jarvis, a command, a pause, hey jarvis again, snowboy."""
    gap = np.zeros(48000)
    parts = [
        gap,
        clip_48k(WAKEWORD / "pmw_hey_jarvis_1.wav"),
        clip_48k(LAMP),
        gap,
        clip_48k(WAKEWORD / "wow_hey_jarvis.wav"),
        clip_48k(WAKEWORD / "NEG_wow_snowboy.wav"),
    ]
    return write_wav(tmp_path_factory.mktemp("detect") / "room.wav", np.concatenate(parts))


def detect(*argv: str) -> tuple[int, list[dict]]:
    parser = argparse.ArgumentParser()
    add_detect_arguments(parser)
    out = io.StringIO()
    code = run_detect(parser.parse_args(list(argv)), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_detect_reports_wakes_speech_and_summary(session_recording: Path) -> None:
    code, records = detect(str(session_recording))
    assert code == 0
    wakes = [r for r in records if r["event"] == "wake"]
    speech = [r for r in records if r["event"] == "speech"]
    summary = records[-1]
    assert summary["event"] == "summary"
    assert [w["name"] for w in wakes] == ["hey_jarvis", "hey_jarvis"]
    # First clip spans 1-3 s, the second 7-9 s of the recording.
    assert 1.5 < wakes[0]["t"] < 3.0
    assert 7.0 < wakes[1]["t"] < 9.0
    assert all(w["score"] > summary["threshold"] == 0.97 for w in wakes)
    assert len(speech) >= 2
    assert all(0 <= s["start"] < s["end"] <= summary["duration"] for s in speech)
    # Each wake word lies inside a speech segment.
    for wake in wakes:
        assert any(s["start"] - 0.2 <= wake["t"] <= s["end"] + 0.5 for s in speech)
    assert summary["wake_count"] == 2
    assert summary["speech_segments"] == len(speech)
    assert summary["duration"] == pytest.approx(11.0, abs=0.01)
    assert summary["sample_rate"] == 48000
    assert summary["max_score"] >= max(w["score"] for w in wakes)
    assert summary["chain_ms_per_10ms_frame"] > 0


def test_detect_other_wake_word_and_threshold(session_recording: Path) -> None:
    _, records = detect(str(session_recording), "--wake-word", "alexa")
    assert [r for r in records if r["event"] == "wake"] == []
    assert records[-1]["wake_word"] == "alexa"
    _, records = detect(str(session_recording), "--threshold", "0.5", "--noise", "off")
    assert records[-1]["threshold"] == 0.5
    assert records[-1]["wake_count"] == 2


def test_detect_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.wav").write_text("not audio")
    assert detect(str(tmp_path / "x.wav"))[0] == 2
    assert "Cannot read WAV" in capsys.readouterr().err
    wav = write_wav(tmp_path / "ok.wav", np.zeros(4800))
    assert detect(str(wav), "--wake-word", "hey_computer")[0] == 2
    assert "Unknown wake word" in capsys.readouterr().err


def test_jarvis_satellite_detect_command_line(session_recording: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "satellite",
            "detect",
            str(session_recording),
            "--wake-word",
            "hey_jarvis",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["event"] for r in records if r["event"] != "speech"] == ["wake", "wake", "summary"]
    assert {"event", "name", "t", "score"} == set(records[0])
