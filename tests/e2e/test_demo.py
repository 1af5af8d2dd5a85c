"""The main job as a user runs it: `python -m jarvis_demo --out DIR` (what `script/demo` runs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import uuid
import wave

from tests.conftest import ROOT


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries `marker` (the demo's children inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_demo_turns_off_the_kitchen_light_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = tmp_path / "out"
    marker = f"JARVIS_DEMO_TEST={uuid.uuid4().hex}"
    result = subprocess.run(
        [sys.executable, "-m", "jarvis_demo", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, marker.split("=", maxsplit=1)[0]: marker.split("=")[1]},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[6/6] Playing utterance.wav" in result.stderr
    assert "Kitchen light (light.kitchen_light) on -> off" in result.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert "kitchen light" in summary["transcript"].lower()
    assert summary["reply"] == "Turned off the light"
    assert summary["state_changes"] == [
        {"entity_id": "light.kitchen_light", "name": "Kitchen light", "old": "on", "new": "off"}
    ]
    times = summary["stage_times_s"]
    assert list(times) == [
        "wake",
        "end_of_speech",
        "transcript",
        "intent",
        "first_tts_audio",
        "last_tts_audio",
    ]
    assert list(times.values()) == sorted(times.values())
    with wave.open(str(out / "reply.wav")) as reply:
        assert reply.getframerate() == 48000
        assert reply.getnframes() > 0.5 * 48000  # "Turned off the light" is about a second
    # Nothing it started (HA, speech servers, satellite) is left running.
    assert _processes_with(marker) == []
